//! Drives live client and server sessions of every mechanism (NULL with and without ZAP,
//! PLAIN, CURVE) with arbitrary bytes after a well-formed greeting, answering ZAP requests
//! with a verdict chosen by the input. Under `cargo fuzz` the CURVE boxes are the identity with
//! a zero tag (cfg `fuzzing` in oxmq-proto), so every command can be forged. Must never panic.
#![no_main]

use std::sync::OnceLock;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use oxmq_proto::curve::KeyPair;
use oxmq_proto::greeting::Greeting;
use oxmq_proto::zap::{ZapOutcome, ZapReply};
use oxmq_proto::{Credentials, Event, Mechanism, Session, SessionConfig, SocketType, WriteBuf};

fuzz_target!(|data: &[u8]| {
    let Some((&[setup, verdict, split], data)) = data.split_first_chunk::<3>() else {
        return;
    };
    let mechanism = match setup & 3 {
        0 => Mechanism::Null,
        1 => Mechanism::Plain,
        _ => Mechanism::Curve,
    };
    let as_server = setup & 4 != 0;
    // One key pair for every run: generating one costs more than the rest of a run.
    static KEYS: OnceLock<KeyPair> = OnceLock::new();
    let keys = KEYS.get_or_init(KeyPair::generate);
    let config = SessionConfig {
        mechanism,
        as_server,
        zap_domain: if setup & 8 != 0 { Bytes::from_static(b"d") } else { Bytes::new() },
        credentials: Credentials {
            plain_username: Bytes::from_static(b"user"),
            plain_password: Bytes::from_static(b"pass"),
            curve_public: Some(keys.public),
            curve_secret: Some(keys.secret.clone()),
            curve_server: Some(keys.public),
        },
        ..SessionConfig::new(SocketType::Dealer)
    };
    let now = Instant::now();
    let mut session = Session::new(config, now);
    let mut input = BytesMut::new();
    if setup & 16 == 0 {
        // A greeting the session accepts, so that the input reaches the mechanism.
        input.extend_from_slice(&Greeting::new(mechanism, !as_server, 0).encode());
    }
    let cut = usize::from(split).min(data.len());
    input.extend_from_slice(&data[..cut]);
    let mut rest = &data[cut..];
    loop {
        if session.handle_input(&mut input, now).is_err() {
            break;
        }
        while let Some(event) = session.poll_event() {
            if let Event::ZapRequest(request) = event {
                let _ = request.frames("127.0.0.1");
                let outcome = match verdict % 5 {
                    0 => ZapOutcome::NoHandler,
                    n => ZapOutcome::Reply(ZapReply {
                        status: [200, 300, 400, 500][usize::from(n - 1)],
                        ..ZapReply::ok("u")
                    }),
                };
                let _ = session.handle_zap(outcome, now);
            }
        }
        let mut out = WriteBuf::new();
        session.poll_transmit(&mut out);
        if rest.is_empty() {
            break;
        }
        let take = rest.len().min(usize::from(split).max(1));
        input.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
    }
    let _ = session.handle_timeout(now + std::time::Duration::from_secs(60));
});
