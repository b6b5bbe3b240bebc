//! PLAIN, CURVE and ZAP against pyzmq (libzmq 4.3.5), each side binding, over tcp and ipc.
//!
//! The pyzmq peer is tests/interop/peer.py with its security options: `--zap SPEC` runs a ZAP
//! handler in the pyzmq process that prints each request as a `ZAP ...` line, `--monitor` prints
//! its monitor events as `EVENT <name> <value>` lines, and `expect_fail` waits for the handshake
//! to fail. Roles follow as-server, not who binds: in every case the server may be either side
//! of the bind.

mod common;

use std::time::Duration;

use common::*;
use oxmq::auth::Authenticator;
use oxmq::curve::{KeyPair, PublicKey};
use oxmq::monitor::events;
use oxmq::{Context, Monitor, Socket, SocketType};

both_ways! {
    plain_client_pyzmq_zap => super::plain_client_pyzmq_zap, ipc;
    plain_client_wrong_password_pyzmq_zap => super::plain_client_wrong_password_pyzmq_zap, ipc;
    plain_server_oxmq_zap => super::plain_server_oxmq_zap, ipc;
    plain_server_wrong_password_oxmq_zap => super::plain_server_wrong_password_oxmq_zap, ipc;
    curve_oxmq_server => super::curve_oxmq_server, ipc;
    curve_pyzmq_server => super::curve_pyzmq_server, ipc;
    curve_wrong_server_key_at_oxmq_client => super::curve_wrong_server_key_at_oxmq_client, ipc;
    curve_wrong_server_key_at_pyzmq_client => super::curve_wrong_server_key_at_pyzmq_client, ipc;
    curve_heartbeats => super::curve_heartbeats, ipc;
    curve_pub_oxmq_sub_pyzmq => super::curve_pub_oxmq_sub_pyzmq, ipc;
    curve_pub_pyzmq_sub_oxmq => super::curve_pub_pyzmq_sub_oxmq, ipc;
}

/// Monitors every event of `s` on a fresh inproc endpoint.
fn monitor(ctx: &Context, s: &mut Socket) -> Monitor {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ep = format!("inproc://interop-security-monitor-{n}");
    s.monitor(Some(&ep), events::ALL).expect("monitor");
    let mut m = Monitor::connect(ctx, &ep).expect("monitor connect");
    m.socket().set_rcvtimeo(IO_TIMEOUT_MS).expect("rcvtimeo");
    m
}

/// The first handshake outcome the monitor reports: (event, value).
fn handshake_outcome(m: &mut Monitor) -> (u32, u32) {
    loop {
        let e = m.recv().expect("a handshake event in time");
        if [
            events::HANDSHAKE_SUCCEEDED,
            events::HANDSHAKE_FAILED_AUTH,
            events::HANDSHAKE_FAILED_PROTOCOL,
            events::HANDSHAKE_FAILED_NO_DETAIL,
        ]
        .contains(&e.event)
        {
            return (e.event, e.value);
        }
    }
}

/// A public key in Z85. Keys go to peer.py as `--option=KEY`: Z85 has `-`, and a key starting
/// with it would read as an option.
/// Our side's handshake must end as `ours` (event, value); the pyzmq peer must print a line
/// starting with `theirs`, then pass.
fn failed_on_both_sides(m: &mut Monitor, mut peer: Peer, ours: (u32, u32), theirs: &str) {
    assert_eq!(handshake_outcome(m), ours);
    peer.expect(theirs);
    peer.finish();
}

/// A PLAIN server socket (REP) and the built-in authenticator knowing admin/secret.
fn plain_server_with_authenticator(ctx: &Context) -> (Authenticator, Socket) {
    let auth = Authenticator::start(ctx).expect("authenticator");
    auth.configure_plain("*", [("admin", "secret")]);
    let mut s = socket(ctx, SocketType::Rep);
    s.set_plain_server(true).expect("server");
    (auth, s)
}

fn z85(k: &oxmq::curve::PublicKey) -> String {
    k.to_z85()
}

// ---- PLAIN -----------------------------------------------------------------------------------

/// oxmq's PLAIN client against a pyzmq PLAIN server whose ZAP handler runs in pyzmq.
fn plain_client_pyzmq_zap(dir: Dir, family: Family) {
    let ctx = Context::new();
    let mut s = socket(&ctx, SocketType::Req);
    s.set_plain_credentials(b"admin", b"secret").expect("creds");
    let peer = link_on(
        &mut s,
        dir,
        family,
        &[
            "echo",
            "--type",
            "REP",
            "--plain-server",
            "--zap",
            "plain:admin:secret",
            "--zap-domain",
            "global",
        ],
    );
    for m in [msg(&["hello"]), msg(&["END"])] {
        send(&mut s, &m, "request");
        assert_msg(&recv(&mut s, "echo"), &m, "echo");
    }
    let lines = peer.finish();
    let zap: Vec<&String> = lines.iter().filter(|l| l.starts_with("ZAP ")).collect();
    assert_eq!(zap.len(), 1, "{lines:?}");
    let creds = frames_text(&msg(&["admin", "secret"]));
    assert!(zap[0].starts_with("ZAP PLAIN global "), "{}", zap[0]);
    assert!(zap[0].ends_with(&format!(" {creds}")), "{}", zap[0]);
}

/// A wrong password: pyzmq's handler says 400; both sides report HANDSHAKE_FAILED_AUTH 400.
fn plain_client_wrong_password_pyzmq_zap(dir: Dir, family: Family) {
    let ctx = Context::new();
    let mut s = socket(&ctx, SocketType::Req);
    s.set_plain_credentials(b"admin", b"wrong").expect("creds");
    let mut m = monitor(&ctx, &mut s);
    let peer = link_on(
        &mut s,
        dir,
        family,
        &[
            "expect_fail",
            "--type",
            "REP",
            "--plain-server",
            "--zap",
            "plain:admin:secret",
        ],
    );
    failed_on_both_sides(
        &mut m,
        peer,
        (events::HANDSHAKE_FAILED_AUTH, 400),
        "EVENT HANDSHAKE_FAILED_AUTH 400",
    );
}

/// A pyzmq PLAIN client against oxmq's PLAIN server and its built-in authenticator.
fn plain_server_oxmq_zap(dir: Dir, family: Family) {
    let ctx = Context::new();
    let (_auth, mut s) = plain_server_with_authenticator(&ctx);
    let peer = link_on(
        &mut s,
        dir,
        family,
        &[
            "client",
            "--type",
            "REQ",
            "--plain-username",
            "admin",
            "--plain-password",
            "secret",
        ],
    );
    let first = s.recv().expect("first request");
    assert_eq!(first.property("User-Id"), Some(&b"admin"[..]));
    let mut frames = vec![first.data().to_vec()];
    let mut more = first.more();
    while more {
        let m = s.recv().expect("rest of the request");
        more = m.more();
        frames.push(m.data().to_vec());
    }
    send(&mut s, &frames, "echo");
    let seen = echo_until_end(&mut s);
    assert_eq!(seen.len() + 1, standard_messages(None).len());
    peer.finish();
}

/// A pyzmq client with a wrong password: oxmq sends libzmq's form of ERROR, so that pyzmq
/// reports HANDSHAKE_FAILED_AUTH 400 (not a protocol error).
fn plain_server_wrong_password_oxmq_zap(dir: Dir, family: Family) {
    let ctx = Context::new();
    let (_auth, mut s) = plain_server_with_authenticator(&ctx);
    let mut m = monitor(&ctx, &mut s);
    let peer = link_on(
        &mut s,
        dir,
        family,
        &[
            "expect_fail",
            "--type",
            "REQ",
            "--plain-username",
            "admin",
            "--plain-password",
            "guess",
        ],
    );
    failed_on_both_sides(
        &mut m,
        peer,
        (events::HANDSHAKE_FAILED_AUTH, 400),
        "EVENT HANDSHAKE_FAILED_AUTH 400",
    );
}

// ---- CURVE -----------------------------------------------------------------------------------

/// A CURVE server socket with `keys`.
fn curve_server(ctx: &Context, ty: SocketType, keys: &KeyPair) -> Socket {
    let mut s = socket(ctx, ty);
    s.set_curve_server(true).expect("server");
    s.set_curve_secret_key(&keys.secret).expect("secret");
    s
}

/// A CURVE client socket with key pair `me`, for the server whose public key is `server`.
fn curve_client(ctx: &Context, ty: SocketType, me: &KeyPair, server: &PublicKey) -> Socket {
    let mut s = socket(ctx, ty);
    s.set_curve_keypair(me).expect("keypair");
    s.set_curve_server_key(server).expect("server key");
    s
}

/// oxmq's CURVE server (with its authenticator allowing the client's key) and a pyzmq client.
fn curve_oxmq_server(dir: Dir, family: Family) {
    let ctx = Context::new();
    let server = KeyPair::generate();
    let client = KeyPair::generate();
    let auth = Authenticator::start(&ctx).expect("authenticator");
    auth.configure_curve("*", [&client.public]);
    let mut s = curve_server(&ctx, SocketType::Pair, &server);
    let peer = link_on(
        &mut s,
        dir,
        family,
        &[
            "client",
            "--type",
            "PAIR",
            &format!("--curve-serverkey={}", z85(&server.public)),
            &format!("--curve-secret={}", client.secret.to_z85()),
        ],
    );
    let seen = echo_until_end(&mut s);
    assert_eq!(seen, standard_messages(None), "what the pyzmq client sent");
    peer.finish();
}

/// oxmq's CURVE client and a pyzmq CURVE server whose handler checks oxmq's key.
fn curve_pyzmq_server(dir: Dir, family: Family) {
    let ctx = Context::new();
    let server = KeyPair::generate();
    let me = KeyPair::generate();
    let mut s = curve_client(&ctx, SocketType::Pair, &me, &server.public);
    let rule = format!("curve:{}", z85(&me.public));
    let peer = link_on(
        &mut s,
        dir,
        family,
        &[
            "echo",
            "--type",
            "PAIR",
            "--curve-server",
            &format!("--curve-secret={}", server.secret.to_z85()),
            "--zap",
            &rule,
        ],
    );
    client(&mut s, &[], None);
    let lines = peer.finish();
    let key = frames_text(&[me.public.as_bytes().to_vec()]);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ZAP CURVE ") && l.ends_with(&key)),
        "{lines:?}"
    );
}

/// oxmq's client has the wrong server key: pyzmq's server cannot open HELLO and reports a
/// cryptographic protocol error.
fn curve_wrong_server_key_at_oxmq_client(dir: Dir, family: Family) {
    let ctx = Context::new();
    let server = KeyPair::generate();
    let wrong = KeyPair::generate().public;
    let mut s = curve_client(&ctx, SocketType::Pair, &KeyPair::generate(), &wrong);
    let mut peer = link_on(
        &mut s,
        dir,
        family,
        &[
            "expect_fail",
            "--type",
            "PAIR",
            "--curve-server",
            &format!("--curve-secret={}", server.secret.to_z85()),
        ],
    );
    peer.expect(&format!(
        "EVENT HANDSHAKE_FAILED_PROTOCOL {}",
        0x1100_0001u32
    ));
    peer.finish();
}

/// pyzmq's client has the wrong server key: oxmq's server reports the same error libzmq does.
fn curve_wrong_server_key_at_pyzmq_client(dir: Dir, family: Family) {
    let ctx = Context::new();
    let server = KeyPair::generate();
    let mut s = curve_server(&ctx, SocketType::Pair, &server);
    let mut m = monitor(&ctx, &mut s);
    let peer = link_on(
        &mut s,
        dir,
        family,
        &[
            "expect_fail",
            "--type",
            "PAIR",
            &format!("--curve-serverkey={}", z85(&KeyPair::generate().public)),
        ],
    );
    failed_on_both_sides(
        &mut m,
        peer,
        (events::HANDSHAKE_FAILED_PROTOCOL, 0x1100_0001),
        "EVENT HANDSHAKE_FAILED_NO_DETAIL",
    );
}

/// Heartbeats inside CURVE boxes keep an idle connection up in both directions.
fn curve_heartbeats(dir: Dir, family: Family) {
    let ctx = Context::new();
    let server = KeyPair::generate();
    let mut s = curve_server(&ctx, SocketType::Pair, &server);
    s.set_sockopt(oxmq::opt::HEARTBEAT_IVL, &100i32.to_ne_bytes())
        .expect("HEARTBEAT_IVL");
    s.set_sockopt(oxmq::opt::HEARTBEAT_TIMEOUT, &1000i32.to_ne_bytes())
        .expect("HEARTBEAT_TIMEOUT");
    let mut m = monitor(&ctx, &mut s);
    let peer = link_on(
        &mut s,
        dir,
        family,
        &[
            "client",
            "--type",
            "PAIR",
            &format!("--curve-serverkey={}", z85(&server.public)),
            "--heartbeat",
            "100",
        ],
    );
    let first = recv(&mut s, "first message");
    // Not synchronisation: the idle time is what this test is about (10 heartbeat intervals).
    std::thread::sleep(Duration::from_millis(1000));
    send(&mut s, &first, "echo of the first message");
    let rest = echo_until_end(&mut s);
    assert_eq!(rest.len() + 1, standard_messages(None).len());
    let lines = peer.finish();
    assert!(lines.contains(&"DISCONNECTS 0".to_string()), "{lines:?}");
    // One handshake on our side: the connection never dropped and came back (the DISCONNECTED
    // after the peer exits is expected).
    assert_eq!(handshake_outcome(&mut m), (events::HANDSHAKE_SUCCEEDED, 0));
    m.socket().set_rcvtimeo(0).expect("rcvtimeo");
    while let Ok(e) = m.recv() {
        assert_ne!(e.event, events::HANDSHAKE_SUCCEEDED, "a second handshake");
    }
}

/// oxmq's CURVE PUB and pyzmq's CURVE SUB: encrypted subscriptions filter as without CURVE.
fn curve_pub_oxmq_sub_pyzmq(dir: Dir, family: Family) {
    let ctx = Context::new();
    let server = KeyPair::generate();
    let mut s = curve_server(&ctx, SocketType::Pub, &server);
    let key = format!("--curve-serverkey={}", z85(&server.public));
    publish_to_pyzmq_sub(&mut s, dir, family, &[&key]);
}

/// pyzmq's CURVE PUB (the server) and oxmq's CURVE SUB.
fn curve_pub_pyzmq_sub_oxmq(dir: Dir, family: Family) {
    let ctx = Context::new();
    let server = KeyPair::generate();
    let mut s = curve_client(&ctx, SocketType::Sub, &KeyPair::generate(), &server.public);
    for t in ["A.", "B", "sync", "END"] {
        s.subscribe(t.as_bytes()).expect("subscribe");
    }
    let mut peer = link_on(
        &mut s,
        dir,
        family,
        &[
            "pub",
            "--type",
            "PUB",
            "--curve-server",
            &format!("--curve-secret={}", server.secret.to_z85()),
        ],
    );
    // [sync] arrives once the subscriptions are in; then the topic set follows.
    loop {
        let m = recv(&mut s, "sync");
        if m == msg(&["sync"]) {
            break;
        }
    }
    peer.send_line("GO");
    let mut got = Vec::new();
    loop {
        let m = recv(&mut s, "a topic message");
        if m == msg(&["sync"]) {
            continue;
        }
        let end = m == msg(&["END"]);
        got.push(m);
        if end {
            break;
        }
    }
    assert_eq!(got, expected_for_subscriber());
    peer.finish();
}

// ---- Flood -----------------------------------------------------------------------------------

/// 100 half-open CURVE handshakes from pyzmq's flood scenario, then a real pyzmq CURVE client:
/// it is served while the flood holds.
#[test]
fn curve_server_under_a_half_open_flood_serves_a_real_client() {
    let ctx = Context::new();
    let server = KeyPair::generate();
    let mut s = curve_server(&ctx, SocketType::Pair, &server);
    s.bind("tcp://127.0.0.1:*").expect("bind");
    let ep = s.last_endpoint();
    let mut flood = Peer::spawn(&[
        "flood",
        "--connect",
        &ep,
        "--count",
        "100",
        "--flood-greeting",
        "CURVE",
    ]);
    flood.expect("READY flood");
    let client = Peer::spawn(&[
        "client",
        "--type",
        "PAIR",
        "--connect",
        &ep,
        &format!("--curve-serverkey={}", z85(&server.public)),
    ]);
    let seen = echo_until_end(&mut s);
    assert_eq!(seen, standard_messages(None));
    client.finish();
    let c = s.counters();
    assert!(
        c.handshakes_evicted + c.handshakes_refused >= 36,
        "100 half-open handshakes from one address, 64 allowed: {} evicted, {} refused",
        c.handshakes_evicted,
        c.handshakes_refused
    );
    flood.send_line("END");
    flood.finish();
}
