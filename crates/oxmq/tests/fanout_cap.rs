//! A PUB's tcp connections share a cap on what the kernel keeps unsent for them
//! (`TCP_NOTSENT_LOWAT`), 1 MiB divided among the live connections, and follow their number.
//!
//! A test binary of its own: it reads the option off every TCP socket of the process, which
//! other tests' sockets would muddle.

mod common;

use std::os::raw::c_void;
use std::time::{Duration, Instant};

use oxmq::{Context, Socket, SocketType};

/// The `TCP_NOTSENT_LOWAT` of every TCP socket of this process that has one set, in order.
fn unsent_caps() -> Vec<u32> {
    let mut caps = Vec::new();
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return caps;
    };
    for entry in fds.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `value`, which lives on this
        // stack frame; on a descriptor that is not a TCP socket (or no longer open) it fails
        // and writes nothing.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NOTSENT_LOWAT,
                std::ptr::from_mut(&mut value).cast::<c_void>(),
                &mut len,
            )
        };
        if rc == 0 && value != 0 {
            caps.push(value as u32);
        }
    }
    caps.sort_unstable();
    caps
}

/// Publishes until every subscriber in `subs` has received a message and the caps read
/// `want`, or fails after ten seconds.
fn publish_until(publisher: &mut Socket, subs: &mut [Socket], want: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut heard = vec![false; subs.len()];
    loop {
        publisher.send(&b"tick"[..]).expect("publish");
        for (sub, heard) in subs.iter_mut().zip(heard.iter_mut()) {
            while sub.try_recv().is_ok() {
                *heard = true;
            }
        }
        let caps = unsent_caps();
        if heard.iter().all(|&h| h) && caps == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "caps {caps:?}, wanted {want:?}; subscribers heard: {heard:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One test, so that nothing else runs beside it: a PUSH's connections keep the kernel's
/// default, then a PUB's share the cap.
#[test]
fn a_pubs_connections_share_a_cap_on_unsent_bytes_and_follow_their_number() {
    let ctx = Context::new();
    {
        let mut push = common::socket(&ctx, SocketType::Push);
        push.bind("tcp://127.0.0.1:*").expect("bind");
        let mut pull = common::socket(&ctx, SocketType::Pull);
        pull.connect(&push.last_endpoint()).expect("connect");
        for _ in 0..100 {
            push.send(&[7u8; 1024][..]).expect("send");
        }
        for _ in 0..100 {
            pull.recv().expect("receive");
        }
        assert_eq!(unsent_caps(), Vec::<u32>::new(), "a PUSH sets no cap");
    }
    let mut publisher = common::socket(&ctx, SocketType::Pub);
    publisher.bind("tcp://127.0.0.1:*").expect("bind");
    let endpoint = publisher.last_endpoint();
    let mut subs: Vec<Socket> = (0..4)
        .map(|_| {
            let mut sub = common::socket(&ctx, SocketType::Sub);
            sub.subscribe(b"").expect("subscribe");
            sub.connect(&endpoint).expect("connect");
            sub
        })
        .collect();
    // Four connections: 256 KiB each, on the PUB's side only.
    publish_until(&mut publisher, &mut subs, &[256 << 10; 4]);
    // Two go away: the other two get 512 KiB each when they next write.
    subs.truncate(2);
    publish_until(&mut publisher, &mut subs, &[512 << 10; 2]);
}
