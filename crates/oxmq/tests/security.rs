//! PLAIN, NULL-with-ZAP and the ZAP handler, oxmq to oxmq over tcp and ipc.
//!
//! Every blocking call is bounded by the sockets' time-outs; a refused handshake is awaited
//! through the monitor, never by sleeping.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::{socket, IO_TIMEOUT_MS};
use oxmq::auth::Authenticator;
use oxmq::monitor::events;
use oxmq::{Context, ErrorKind, Monitor, Socket, SocketType};

static MONITORS: AtomicUsize = AtomicUsize::new(0);

/// Monitors `s` for `mask` events.
fn monitor(ctx: &Context, s: &mut Socket, mask: u32) -> Monitor {
    let ep = format!(
        "inproc://security-monitor-{}",
        MONITORS.fetch_add(1, Ordering::Relaxed)
    );
    s.monitor(Some(&ep), mask).expect("monitor");
    let mut m = Monitor::connect(ctx, &ep).expect("monitor connect");
    m.socket().set_rcvtimeo(IO_TIMEOUT_MS).expect("rcvtimeo");
    m
}

/// The first event among `wanted` (others are skipped), panicking on timeout.
fn next_event(m: &mut Monitor, wanted: &[u32]) -> (u32, u32) {
    loop {
        let e = m.recv().expect("a monitor event in time");
        if wanted.contains(&e.event) {
            return (e.event, e.value);
        }
    }
}

fn endpoints() -> Vec<String> {
    let dir = std::env::temp_dir();
    let n = MONITORS.fetch_add(1, Ordering::Relaxed);
    vec![
        "tcp://127.0.0.1:*".to_owned(),
        format!(
            "ipc://{}/oxmq-sec-{}-{n}",
            dir.display(),
            std::process::id()
        ),
    ]
}

fn bind(s: &mut Socket, ep: &str) -> String {
    s.bind(ep).expect("bind");
    s.last_endpoint()
}

fn plain_pair(ctx: &Context, ep: &str, user: &[u8], pass: &[u8]) -> (Socket, Socket, String) {
    let mut server = socket(ctx, SocketType::Rep);
    server.set_plain_server(true).expect("plain server");
    let addr = bind(&mut server, ep);
    let mut client = socket(ctx, SocketType::Req);
    client.set_plain_credentials(user, pass).expect("creds");
    (server, client, addr)
}

#[test]
fn plain_with_the_built_in_authenticator() {
    for ep in endpoints() {
        let ctx = Context::new();
        let auth = Authenticator::start(&ctx).expect("authenticator");
        auth.configure_plain("*", [("admin", "secret")]);
        let (mut server, mut client, addr) = plain_pair(&ctx, &ep, b"admin", b"secret");
        assert_eq!(server.mechanism(), oxmq::Mechanism::Plain);
        client.connect(&addr).expect("connect");
        client.send("ping").expect("send");
        let msg = server.recv().expect("request arrives");
        assert_eq!(msg.data(), b"ping");
        assert_eq!(msg.property("User-Id"), Some(&b"admin"[..]), "{ep}");
        server.send("pong").expect("reply");
        assert_eq!(client.recv().expect("reply").data(), b"pong");
    }
}

#[test]
fn plain_wrong_password_fails_with_auth_events_on_both_sides() {
    for ep in endpoints() {
        let ctx = Context::new();
        let auth = Authenticator::start(&ctx).expect("authenticator");
        auth.configure_plain("*", [("admin", "secret")]);
        let (mut server, mut client, addr) = plain_pair(&ctx, &ep, b"admin", b"wrong");
        let mut server_events = monitor(&ctx, &mut server, events::ALL);
        let mut client_events = monitor(&ctx, &mut client, events::ALL);
        client.connect(&addr).expect("connect");
        let wanted = [events::HANDSHAKE_FAILED_AUTH, events::HANDSHAKE_SUCCEEDED];
        assert_eq!(
            next_event(&mut server_events, &wanted),
            (events::HANDSHAKE_FAILED_AUTH, 400),
            "{ep}"
        );
        assert_eq!(
            next_event(&mut client_events, &wanted),
            (events::HANDSHAKE_FAILED_AUTH, 400),
            "{ep}"
        );
        assert_eq!(server.counters().handshake_failed_auth, 1);
        client.set_rcvtimeo(0).expect("rcvtimeo");
        server.set_rcvtimeo(0).expect("rcvtimeo");
        assert_eq!(
            server
                .recv()
                .map(|_| ())
                .expect_err("nothing gets through")
                .kind(),
            ErrorKind::WouldBlock
        );
    }
}

/// A hand-written ZAP handler answering every request with `status`, a user id and metadata;
/// returns the request it saw.
fn one_shot_handler(ctx: &Context, status: &'static str) -> std::thread::JoinHandle<Vec<Vec<u8>>> {
    let mut rep = socket(ctx, SocketType::Rep);
    rep.bind("inproc://zeromq.zap.01").expect("bind zap");
    std::thread::spawn(move || {
        let req: Vec<Vec<u8>> = rep
            .recv_multipart()
            .expect("zap request")
            .iter()
            .map(|m| m.data().to_vec())
            .collect();
        let mut md = Vec::new();
        md.push(6u8);
        md.extend_from_slice(b"X-Role");
        md.extend_from_slice(&3u32.to_be_bytes());
        md.extend_from_slice(b"ops");
        let reply: Vec<Vec<u8>> = vec![
            b"1.0".to_vec(),
            req[1].clone(),
            status.as_bytes().to_vec(),
            b"text".to_vec(),
            b"carol".to_vec(),
            md,
        ];
        rep.send_multipart(reply).expect("zap reply");
        req
    })
}

#[test]
fn zap_request_frames_and_reply_metadata() {
    let ctx = Context::new();
    let handler = one_shot_handler(&ctx, "200");
    let mut server = socket(&ctx, SocketType::Rep);
    server.set_plain_server(true).expect("plain server");
    // Options apply to later binds, as in libzmq.
    server.set_zap_domain(b"realm").expect("domain");
    let addr = bind(&mut server, "tcp://127.0.0.1:*");
    let mut client = socket(&ctx, SocketType::Req);
    client
        .set_plain_credentials(b"admin", b"pw")
        .expect("creds");
    client.connect(&addr).expect("connect");
    client.send("x").expect("send");
    let msg = server.recv().expect("request");
    assert_eq!(msg.property("User-Id"), Some(&b"carol"[..]));
    assert_eq!(msg.property("X-Role"), Some(&b"ops"[..]));
    let req = handler.join().expect("handler");
    let want: Vec<&[u8]> = vec![
        b"1.0",
        b"1",
        b"realm",
        b"127.0.0.1",
        b"",
        b"PLAIN",
        b"admin",
        b"pw",
    ];
    assert_eq!(req, want.iter().map(|f| f.to_vec()).collect::<Vec<_>>());
}

#[test]
fn zap_300_closes_without_error_and_500_sends_one() {
    for (status, code) in [("300", 300), ("500", 500)] {
        let ctx = Context::new();
        let _handler = one_shot_handler(&ctx, status);
        let (mut server, mut client, addr) = plain_pair(&ctx, "tcp://127.0.0.1:*", b"u", b"p");
        let mut server_events = monitor(&ctx, &mut server, events::ALL);
        let mut client_events = monitor(&ctx, &mut client, events::ALL);
        client.connect(&addr).expect("connect");
        let wanted = [
            events::HANDSHAKE_FAILED_AUTH,
            events::HANDSHAKE_FAILED_NO_DETAIL,
            events::HANDSHAKE_SUCCEEDED,
        ];
        assert_eq!(
            next_event(&mut server_events, &wanted),
            (events::HANDSHAKE_FAILED_AUTH, code)
        );
        let client_saw = next_event(&mut client_events, &wanted);
        if code == 300 {
            // No ERROR: the client only sees the connection close mid-handshake.
            assert_eq!(client_saw.0, events::HANDSHAKE_FAILED_NO_DETAIL);
        } else {
            assert_eq!(client_saw, (events::HANDSHAKE_FAILED_AUTH, 500));
        }
    }
}

#[test]
fn null_asks_zap_only_with_a_domain() {
    let ctx = Context::new();
    let auth = Authenticator::start(&ctx).expect("authenticator");
    auth.deny("127.0.0.1");
    // Without a domain, NULL never asks: the deny list does not apply.
    let mut server = socket(&ctx, SocketType::Pull);
    let addr = bind(&mut server, "tcp://127.0.0.1:*");
    let mut client = socket(&ctx, SocketType::Push);
    client.connect(&addr).expect("connect");
    client.send("open").expect("send");
    assert_eq!(server.recv().expect("recv").data(), b"open");

    // With one, the authenticator refuses 127.0.0.1.
    let mut guarded = socket(&ctx, SocketType::Pull);
    guarded.set_zap_domain(b"global").expect("domain");
    let mut events_ = monitor(&ctx, &mut guarded, events::ALL);
    let addr = bind(&mut guarded, "tcp://127.0.0.1:*");
    let mut client = socket(&ctx, SocketType::Push);
    client.connect(&addr).expect("connect");
    let wanted = [events::HANDSHAKE_FAILED_AUTH, events::HANDSHAKE_SUCCEEDED];
    assert_eq!(
        next_event(&mut events_, &wanted),
        (events::HANDSHAKE_FAILED_AUTH, 400)
    );
}

/// Waits for `s`'s first handshake outcome.
fn handshake_outcome(m: &mut Monitor) -> (u32, u32) {
    let wanted = [
        events::HANDSHAKE_FAILED_NO_DETAIL,
        events::HANDSHAKE_FAILED_AUTH,
        events::HANDSHAKE_SUCCEEDED,
    ];
    next_event(m, &wanted)
}

#[test]
fn without_a_handler_plain_refuses_and_curve_accepts_unless_enforced() {
    let ctx = Context::new();
    // libzmq's PLAIN server refuses everyone when no handler is bound, enforced or not.
    for enforce in [false, true] {
        let mut server = socket(&ctx, SocketType::Rep);
        server.set_plain_server(true).expect("server");
        server.set_zap_enforce_domain(enforce).expect("enforce");
        let mut ev = monitor(&ctx, &mut server, events::ALL);
        let addr = bind(&mut server, "tcp://127.0.0.1:*");
        let mut client = socket(&ctx, SocketType::Req);
        client.set_plain_credentials(b"u", b"p").expect("creds");
        client.connect(&addr).expect("connect");
        assert_eq!(
            handshake_outcome(&mut ev),
            (events::HANDSHAKE_FAILED_NO_DETAIL, libc_efault())
        );
    }
    // CURVE without a handler: encrypted, unauthenticated, unless the domain is enforced.
    for enforce in [false, true] {
        let keys = KeyPair::generate();
        let mut server = socket(&ctx, SocketType::Rep);
        server.set_curve_server(true).expect("server");
        server.set_curve_secret_key(&keys.secret).expect("secret");
        server.set_zap_enforce_domain(enforce).expect("enforce");
        let mut ev = monitor(&ctx, &mut server, events::ALL);
        let addr = bind(&mut server, "tcp://127.0.0.1:*");
        let mut client = curve_client(&ctx, SocketType::Req, &keys, &KeyPair::generate());
        client.connect(&addr).expect("connect");
        let want = if enforce {
            (events::HANDSHAKE_FAILED_NO_DETAIL, libc_efault())
        } else {
            (events::HANDSHAKE_SUCCEEDED, 0)
        };
        assert_eq!(handshake_outcome(&mut ev), want);
    }
}

fn libc_efault() -> u32 {
    14
}

#[test]
fn security_options_read_back_like_libzmq() {
    use oxmq::opt;
    let ctx = Context::new();
    let mut s = socket(&ctx, SocketType::Dealer);
    let int = |s: &mut Socket, o| {
        let v = s.sockopt(o).expect("getsockopt");
        i32::from_ne_bytes(v.try_into().expect("an int option"))
    };
    assert_eq!(int(&mut s, opt::MECHANISM), opt::NULL);
    s.set_plain_credentials(b"user", b"pw").expect("option");
    assert_eq!(int(&mut s, opt::MECHANISM), opt::PLAIN);
    assert_eq!(int(&mut s, opt::PLAIN_SERVER), 0);
    assert_eq!(s.sockopt(opt::PLAIN_USERNAME).expect("option"), b"user\0");
    s.set_plain_server(true).expect("option");
    assert_eq!(int(&mut s, opt::PLAIN_SERVER), 1);
    s.set_sockopt(opt::PLAIN_USERNAME, b"").expect("option");
    assert_eq!(int(&mut s, opt::MECHANISM), opt::NULL);
    assert!(s.set_sockopt(opt::MECHANISM, &1i32.to_ne_bytes()).is_err());
    assert!(s.set_sockopt(opt::ZAP_DOMAIN, &[b'a'; 256]).is_err());
    s.set_zap_domain(b"d").expect("option");
    assert_eq!(s.sockopt(opt::ZAP_DOMAIN).expect("option"), b"d\0");
}

#[test]
fn cve_2020_15166_a_flood_of_half_open_handshakes_does_not_starve_a_real_client() {
    use std::io::Write;
    let ctx = Context::new();
    let mut server = socket(&ctx, SocketType::Rep);
    let addr = bind(&mut server, "tcp://127.0.0.1:*");
    let target = common::tcp_addr(&addr);
    // More half-open handshakes from 127.0.0.1 than one address may hold: each sends the first
    // bytes of a greeting and then nothing.
    let flood: Vec<std::net::TcpStream> = (0..80)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(target).expect("flood connect");
            s.write_all(&[0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F])
                .expect("flood write");
            s
        })
        .collect();
    let mut client = socket(&ctx, SocketType::Req);
    client.connect(&addr).expect("connect");
    client.send("still served").expect("send");
    assert_eq!(server.recv().expect("recv").data(), b"still served");
    server.send("yes").expect("reply");
    assert_eq!(client.recv().expect("reply").data(), b"yes");
    // 64 may be in progress from one address: the other 16 were refused at once, or pushed
    // out once older than the grace (as was one more, to make room for the client).
    let c = server.counters();
    assert!(
        c.handshakes_evicted + c.handshakes_refused >= 16,
        "80 half-open handshakes, 64 allowed: {} evicted, {} refused",
        c.handshakes_evicted,
        c.handshakes_refused
    );
    drop(flood);
}

#[test]
fn cve_2019_6250_long_frame_sizes_drop_only_that_connection() {
    let ctx = Context::new();
    let mut server = socket(&ctx, SocketType::Pull);
    let addr = bind(&mut server, "tcp://127.0.0.1:*");
    // libzmq 4.3.0 added the announced size to a pointer and wrapped around.
    for size in [u64::MAX, u64::MAX - 7, 1 << 63] {
        common::assert_dropped(
            common::tcp_addr(&addr),
            common::Hostile::OversizedFrame(size),
            std::time::Duration::from_secs(10),
        );
    }
    let mut client = socket(&ctx, SocketType::Push);
    client.connect(&addr).expect("connect");
    client.send("after").expect("send");
    assert_eq!(server.recv().expect("recv").data(), b"after");
}

#[test]
fn ghsa_qq65_x72m_9wr8_long_topics_subscribe_and_unsubscribe_without_recursion() {
    let ctx = Context::new();
    let mut publisher = socket(&ctx, SocketType::XPub);
    let addr = bind(&mut publisher, "tcp://127.0.0.1:*");
    let mut sub = socket(&ctx, SocketType::Sub);
    sub.connect(&addr).expect("connect");
    // A topic long enough to overflow any stack a per-byte recursion would use.
    let long = vec![b'a'; 4 << 20];
    sub.subscribe(&long).expect("subscribe");
    let seen = publisher.recv().expect("subscription");
    assert_eq!(seen.len(), long.len() + 1);
    sub.unsubscribe(&long).expect("unsubscribe");
    let seen = publisher.recv().expect("unsubscription");
    assert_eq!((seen.data()[0], seen.len()), (0, long.len() + 1));
    // The publisher still serves a subscriber.
    sub.subscribe(b"t").expect("subscribe");
    assert_eq!(publisher.recv().expect("subscription").data(), b"\x01t");
    publisher.send("t.1").expect("publish");
    assert_eq!(sub.recv().expect("message").data(), b"t.1");
}

// ---- CURVE -------------------------------------------------------------------------------------

use oxmq::curve::KeyPair;

fn curve_server(ctx: &Context, ty: SocketType, keys: &KeyPair, ep: &str) -> (Socket, String) {
    let mut s = socket(ctx, ty);
    s.set_curve_server(true).expect("curve server");
    s.set_curve_secret_key(&keys.secret).expect("secret");
    let addr = bind(&mut s, ep);
    (s, addr)
}

fn curve_client(ctx: &Context, ty: SocketType, server: &KeyPair, me: &KeyPair) -> Socket {
    let mut s = socket(ctx, ty);
    s.set_curve_keypair(me).expect("keypair");
    s.set_curve_server_key(&server.public).expect("server key");
    s
}

#[test]
fn curve_with_allowed_keys_over_tcp_and_ipc() {
    for ep in endpoints() {
        let ctx = Context::new();
        let auth = Authenticator::start(&ctx).expect("authenticator");
        let server_keys = KeyPair::generate();
        let alice = KeyPair::generate();
        auth.configure_curve("*", [&alice.public]);
        let (mut server, addr) = curve_server(&ctx, SocketType::Rep, &server_keys, &ep);
        assert_eq!(server.mechanism(), oxmq::Mechanism::Curve);
        let mut client = curve_client(&ctx, SocketType::Req, &server_keys, &alice);
        client.connect(&addr).expect("connect");
        client.send_multipart(["two", "parts"]).expect("send");
        let got = server.recv_multipart().expect("request");
        assert_eq!(got.len(), 2, "{ep}");
        assert_eq!(got[1].data(), b"parts");
        let user = alice.public.to_z85();
        assert_eq!(got[0].property("User-Id"), Some(user.as_bytes()));
        server.send("ok").expect("reply");
        assert_eq!(client.recv().expect("reply").data(), b"ok");

        // A key the authenticator does not know is refused with 400.
        let mallory = KeyPair::generate();
        let mut intruder = curve_client(&ctx, SocketType::Req, &server_keys, &mallory);
        let mut ev = monitor(&ctx, &mut intruder, events::ALL);
        intruder.connect(&addr).expect("connect");
        let wanted = [events::HANDSHAKE_FAILED_AUTH, events::HANDSHAKE_SUCCEEDED];
        assert_eq!(
            next_event(&mut ev, &wanted),
            (events::HANDSHAKE_FAILED_AUTH, 400)
        );
    }
}

#[test]
fn curve_wrong_server_key_is_a_cryptographic_failure_on_the_server() {
    let ctx = Context::new();
    let server_keys = KeyPair::generate();
    let (mut server, addr) =
        curve_server(&ctx, SocketType::Pull, &server_keys, "tcp://127.0.0.1:*");
    let mut ev = monitor(&ctx, &mut server, events::ALL);
    let not_the_server = KeyPair::generate();
    let mut client = curve_client(
        &ctx,
        SocketType::Push,
        &not_the_server,
        &KeyPair::generate(),
    );
    client.connect(&addr).expect("connect");
    let wanted = [
        events::HANDSHAKE_FAILED_PROTOCOL,
        events::HANDSHAKE_SUCCEEDED,
    ];
    assert_eq!(
        next_event(&mut ev, &wanted),
        (events::HANDSHAKE_FAILED_PROTOCOL, 0x1100_0001),
        "ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC"
    );
}

#[test]
fn curve_pub_sub_without_authenticator_filters_encrypted_subscriptions() {
    let ctx = Context::new();
    let keys = KeyPair::generate();
    let (mut publisher, addr) = curve_server(&ctx, SocketType::XPub, &keys, "tcp://127.0.0.1:*");
    let mut sub = curve_client(&ctx, SocketType::Sub, &keys, &KeyPair::generate());
    sub.set_sockopt(oxmq::opt::HEARTBEAT_IVL, &50i32.to_ne_bytes())
        .expect("heartbeats");
    sub.subscribe(b"A").expect("subscribe");
    sub.connect(&addr).expect("connect");
    assert_eq!(publisher.recv().expect("subscription").data(), b"\x01A");
    publisher.send("B.skip").expect("publish");
    publisher.send("A.take").expect("publish");
    assert_eq!(sub.recv().expect("message").data(), b"A.take");
}

#[test]
fn curve_options_take_z85_and_binary_keys() {
    use oxmq::opt;
    let ctx = Context::new();
    let keys = KeyPair::generate();
    let mut s = socket(&ctx, SocketType::Dealer);
    s.set_sockopt(opt::CURVE_SERVERKEY, keys.public.to_z85().as_bytes())
        .expect("z85 key");
    assert_eq!(
        s.sockopt(opt::CURVE_SERVERKEY).expect("get"),
        keys.public.as_bytes()
    );
    let mut z = keys.secret.to_z85().into_bytes();
    z.push(0);
    s.set_sockopt(opt::CURVE_SECRETKEY, &z)
        .expect("z85 with NUL");
    assert_eq!(
        s.sockopt(opt::CURVE_SECRETKEY).expect("get"),
        keys.secret.as_bytes()
    );
    assert!(s.set_sockopt(opt::CURVE_PUBLICKEY, &[0; 31]).is_err());
    assert!(s.set_sockopt(opt::CURVE_PUBLICKEY, &[b'#'; 40]).is_err());
    assert_eq!(s.mechanism(), oxmq::Mechanism::Curve);
    s.set_curve_server(false).expect("back to NULL");
    assert_eq!(s.mechanism(), oxmq::Mechanism::Null);
}
