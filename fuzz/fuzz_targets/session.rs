//! Feeds arbitrary bytes, in arbitrary splits, into live sessions: one fresh (greeting and
//! handshake paths) and one that has completed a handshake (traffic path). Must never panic.
#![no_main]

use std::time::Instant;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use oxmq_proto::greeting::Greeting;
use oxmq_proto::{Mechanism, Session, SessionConfig, SocketType, WriteBuf};

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let now = Instant::now();

    let mut fresh = Session::new(SessionConfig::new(SocketType::Dealer), now);
    run(&mut fresh, data, split);

    let mut ready = Session::new(SessionConfig::new(SocketType::XPub), now);
    let mut hello = BytesMut::from(&Greeting::new(Mechanism::Null, false, 0).encode()[..]);
    hello.extend_from_slice(b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03SUB");
    if ready.handle_input(&mut hello, now).is_ok() && ready.is_ready() {
        run(&mut ready, data, split);
    }
});

fn run(session: &mut Session, data: &[u8], split: u8) {
    let now = Instant::now();
    let cut = usize::from(split).min(data.len());
    let mut buf = BytesMut::from(&data[..cut]);
    if session.handle_input(&mut buf, now).is_ok() {
        buf.extend_from_slice(&data[cut..]);
        let _ = session.handle_input(&mut buf, now);
    }
    while session.poll_event().is_some() {}
    let mut out = WriteBuf::new();
    session.poll_transmit(&mut out);
}
