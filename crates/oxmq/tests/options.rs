//! The socket options that change what a socket does beyond its pattern: CONFLATE, ROUTER_RAW,
//! RECONNECT_STOP, USE_FD, AFFINITY, HELLO_MSG, DISCONNECT_MSG, HICCUP_MSG, the batch sizes,
//! the accept filters and the deprecated aliases, each observed on real connections.
//!
//! A test that asserts something does *not* happen (no reconnect, a refused peer) waits a
//! bounded time for it, many reconnect intervals long, and fails if it shows up.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::IntoRawFd;
use std::time::Duration;

use common::*;
use oxmq::monitor::{events, Monitor, MonitorEvent};
use oxmq::{opt, Context, ErrorKind, Msg, Socket, SocketType};

use SocketType::*;

fn set_int(s: &mut Socket, option: i32, v: i32) {
    s.set_sockopt(option, &v.to_ne_bytes())
        .unwrap_or_else(|e| panic!("option {option} = {v}: {e:?}"));
}

fn get_int(s: &mut Socket, option: i32) -> i32 {
    let v = s.sockopt(option).expect("getsockopt");
    i32::from_ne_bytes(v.try_into().expect("an int"))
}

/// A monitor on `s` for `mask`.
fn monitor(ctx: &Context, s: &mut Socket, mask: u32) -> Monitor {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let ep = format!(
        "inproc://options-mon-{}",
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    s.monitor(Some(&ep), mask).expect("monitor");
    Monitor::connect(ctx, &ep).expect("monitor socket")
}

/// How long to wait for an event that must come.
const EVENT_MS: i32 = 10_000;
/// How long to wait for an event that must not come: many reconnect intervals.
const SILENCE_MS: i32 = 500;

/// The next event of `m`, or `None` when none came within `ms`.
fn next_event(m: &mut Monitor, ms: i32) -> Option<MonitorEvent> {
    m.socket().set_rcvtimeo(ms).expect("rcvtimeo");
    match m.recv() {
        Ok(e) => Some(e),
        Err(e) if e.kind() == ErrorKind::WouldBlock => None,
        Err(e) => panic!("monitor: {e:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// CONFLATE

#[test]
fn conflate_keeps_only_the_newest_message_over_inproc() {
    let ctx = Context::new();
    let mut pull = socket(&ctx, Pull);
    set_int(&mut pull, opt::CONFLATE, 1);
    pull.bind("inproc://conflate").expect("bind");
    let mut push = socket(&ctx, Push);
    set_int(&mut push, opt::SNDHWM, 1);
    push.connect("inproc://conflate").expect("connect");
    // Far beyond any HWM: a conflating queue never makes the sender wait.
    for i in 0..100 {
        push.try_send(format!("{i}")).expect("never blocks");
    }
    assert_eq!(recv(&mut pull, "newest"), msg(&["99"]));
    assert_eq!(
        pull.try_recv().map(|_| ()).map_err(|e| e.kind()),
        Err(ErrorKind::WouldBlock)
    );
    assert_eq!(get_int(&mut pull, opt::CONFLATE), 1);
}

#[test]
fn conflate_receiver_over_tcp_skips_to_the_newest() {
    let ctx = Context::new();
    let mut pull = socket(&ctx, Pull);
    set_int(&mut pull, opt::CONFLATE, 1);
    pull.bind("tcp://127.0.0.1:*").expect("bind");
    let mut push = socket(&ctx, Push);
    push.connect(&pull.last_endpoint()).expect("connect");
    push.send("first").expect("send");
    assert_eq!(recv(&mut pull, "first"), msg(&["first"]));
    const N: usize = 1000;
    for i in 0..N {
        push.send(format!("{i}")).expect("send");
    }
    let mut received = 0;
    loop {
        let m = recv(&mut pull, "a conflated message");
        received += 1;
        if m == msg(&[format!("{}", N - 1)]) {
            break;
        }
    }
    assert!(
        received < N,
        "all {N} messages were queued: nothing conflated"
    );
}

#[test]
fn conflate_is_refused_where_libzmq_ignores_it() {
    let ctx = Context::new();
    for t in [Req, Rep, Router, Pair, XPub, XSub] {
        let mut s = ctx.socket(t).expect("socket");
        let e = s
            .set_sockopt(opt::CONFLATE, &1i32.to_ne_bytes())
            .expect_err("not a conflating type");
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{t:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// HELLO_MSG, DISCONNECT_MSG, HICCUP_MSG

#[test]
fn hello_msg_is_the_first_message_of_every_new_peer() {
    let ctx = Context::new();
    let mut router = socket(&ctx, Router);
    router
        .set_sockopt(opt::HELLO_MSG, b"welcome")
        .expect("hello");
    router.bind("tcp://127.0.0.1:*").expect("bind");
    let ep = router.last_endpoint();
    for _ in 0..2 {
        let mut dealer = socket(&ctx, Dealer);
        dealer.set_sockopt(opt::HELLO_MSG, b"hi").expect("hello");
        dealer.connect(&ep).expect("connect");
        assert_eq!(recv(&mut dealer, "router's hello"), msg(&["welcome"]));
        let m = recv(&mut router, "dealer's hello");
        assert_eq!(m.len(), 2);
        assert_eq!(m[1], b"hi");
    }
    let mut push = ctx.socket(Push).expect("socket");
    assert_eq!(
        push.set_sockopt(opt::HELLO_MSG, b"x").map_err(|e| e.kind()),
        Err(ErrorKind::InvalidInput)
    );
}

#[test]
fn disconnect_msg_arrives_from_a_peer_that_left() {
    let ctx = Context::new();
    let mut router = socket(&ctx, Router);
    router
        .set_sockopt(opt::DISCONNECT_MSG, b"gone")
        .expect("option");
    router.bind("tcp://127.0.0.1:*").expect("bind");
    let mut dealer = socket(&ctx, Dealer);
    dealer.set_routing_id(b"d1").expect("id");
    dealer.connect(&router.last_endpoint()).expect("connect");
    dealer.send("here").expect("send");
    assert_eq!(recv(&mut router, "message"), msg(&["d1", "here"]));
    drop(dealer);
    assert_eq!(
        recv(&mut router, "disconnect message"),
        msg(&["d1", "gone"])
    );
}

#[test]
fn hiccup_msg_tells_a_dealer_its_connection_dropped() {
    let ctx = Context::new();
    let mut router = socket(&ctx, Router);
    router.bind("tcp://127.0.0.1:*").expect("bind");
    let ep = router.last_endpoint();
    let mut dealer = socket(&ctx, Dealer);
    dealer
        .set_sockopt(opt::HICCUP_MSG, b"hiccup")
        .expect("option");
    dealer.connect(&ep).expect("connect");
    dealer.send("ping").expect("send");
    let m = recv(&mut router, "ping");
    assert_eq!(m[1], b"ping");
    drop(router);
    assert_eq!(recv(&mut dealer, "hiccup"), msg(&["hiccup"]));
}

// ---------------------------------------------------------------------------------------------
// RECONNECT_STOP

#[test]
fn reconnect_stop_conn_refused_gives_up_after_the_first_refusal() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").port()
    };
    let ctx = Context::new();
    for stop in [false, true] {
        let mut dealer = socket(&ctx, Dealer);
        set_int(&mut dealer, opt::RECONNECT_IVL, 10);
        if stop {
            set_int(
                &mut dealer,
                opt::RECONNECT_STOP,
                opt::RECONNECT_STOP_CONN_REFUSED,
            );
        }
        let mut mon = monitor(&ctx, &mut dealer, events::CLOSED | events::CONNECT_RETRIED);
        dealer
            .connect(&format!("tcp://127.0.0.1:{port}"))
            .expect("connect");
        let closed = next_event(&mut mon, EVENT_MS).map(|e| e.event);
        assert_eq!(closed, Some(events::CLOSED));
        if stop {
            let retried = next_event(&mut mon, SILENCE_MS).map(|e| e.event);
            assert_eq!(retried, None, "retried despite RECONNECT_STOP");
        } else {
            let retried = next_event(&mut mon, EVENT_MS).map(|e| e.event);
            assert_eq!(retried, Some(events::CONNECT_RETRIED));
        }
    }
}

#[test]
fn reconnect_stop_handshake_failed_gives_up_when_a_non_zmtp_peer_hangs_up() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(false).expect("blocking listener");
    let addr = listener.local_addr().expect("addr");
    let ctx = Context::new();
    let mut dealer = socket(&ctx, Dealer);
    set_int(&mut dealer, opt::RECONNECT_IVL, 10);
    set_int(
        &mut dealer,
        opt::RECONNECT_STOP,
        opt::RECONNECT_STOP_HANDSHAKE_FAILED,
    );
    let mut mon = monitor(
        &ctx,
        &mut dealer,
        events::HANDSHAKE_FAILED_PROTOCOL
            | events::HANDSHAKE_FAILED_NO_DETAIL
            | events::CONNECT_RETRIED,
    );
    dealer.connect(&format!("tcp://{addr}")).expect("connect");
    // The case libzmq's manual names: a process that is not ZMTP and drops the connection.
    let (s, _) = listener.accept().expect("accept");
    drop(s);
    let failed = next_event(&mut mon, EVENT_MS).expect("a handshake failure");
    assert_eq!(failed.event, events::HANDSHAKE_FAILED_NO_DETAIL);
    let retried = next_event(&mut mon, SILENCE_MS).map(|e| e.event);
    assert_eq!(retried, None, "retried despite RECONNECT_STOP");
}

// ---------------------------------------------------------------------------------------------
// USE_FD

#[test]
fn use_fd_binds_on_the_applications_tcp_listener() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("addr").port();
    let ctx = Context::new();
    let mut pull = socket(&ctx, Pull);
    set_int(&mut pull, opt::USE_FD, listener.into_raw_fd());
    // libzmq still wants an endpoint of the right transport; the descriptor decides.
    pull.bind("tcp://127.0.0.1:*").expect("bind");
    assert_eq!(pull.last_endpoint(), format!("tcp://127.0.0.1:{port}"));
    let mut push = socket(&ctx, Push);
    push.connect(&format!("tcp://127.0.0.1:{port}"))
        .expect("connect");
    push.send("through the adopted fd").expect("send");
    assert_eq!(recv(&mut pull, "message"), msg(&["through the adopted fd"]));
}

#[test]
fn use_fd_binds_on_the_applications_ipc_listener() {
    let dir = std::env::temp_dir().join(format!("oxmq-usefd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("sock");
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("listener");
    let ctx = Context::new();
    let mut pull = socket(&ctx, Pull);
    set_int(&mut pull, opt::USE_FD, listener.into_raw_fd());
    pull.bind("ipc://*").expect("bind");
    let ep = format!("ipc://{}", path.display());
    assert_eq!(pull.last_endpoint(), ep);
    let mut push = socket(&ctx, Push);
    push.connect(&ep).expect("connect");
    push.send("ipc").expect("send");
    assert_eq!(recv(&mut pull, "message"), msg(&["ipc"]));
    drop(pull);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir(&dir);
}

#[test]
fn use_fd_refuses_a_descriptor_that_is_not_a_listener_of_the_transport() {
    let ctx = Context::new();
    let mut pull = socket(&ctx, Pull);
    let connected = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let stream = TcpStream::connect(connected.local_addr().expect("addr")).expect("connect");
    let (unix_a, _unix_b) = std::os::unix::net::UnixStream::pair().expect("pair");
    for (fd, ep) in [
        (
            std::os::fd::AsRawFd::as_raw_fd(&stream),
            "tcp://127.0.0.1:*",
        ),
        (std::os::fd::AsRawFd::as_raw_fd(&unix_a), "ipc://*"),
        (std::os::fd::AsRawFd::as_raw_fd(&connected), "ipc://*"),
    ] {
        set_int(&mut pull, opt::USE_FD, fd);
        let e = pull.bind(ep).expect_err("not a usable listener");
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{ep}");
    }
    // The refused descriptors were left open: they still work.
    let mut stream = stream;
    stream.write_all(b"x").expect("still open");
}

// ---------------------------------------------------------------------------------------------
// Accept filters

#[test]
fn tcp_accept_filter_refuses_addresses_outside_it() {
    let ctx = Context::new();
    for (filter, admitted) in [("10.1.2.3", false), ("127.0.0.0/8", true)] {
        let mut pull = socket(&ctx, Pull);
        pull.set_sockopt(opt::TCP_ACCEPT_FILTER, filter.as_bytes())
            .expect("filter");
        let mut mon = monitor(&ctx, &mut pull, events::ACCEPTED | events::ACCEPT_FAILED);
        pull.bind("tcp://127.0.0.1:*").expect("bind");
        let mut push = socket(&ctx, Push);
        push.connect(&pull.last_endpoint()).expect("connect");
        let ev = next_event(&mut mon, EVENT_MS)
            .expect("an accept event")
            .event;
        if admitted {
            assert_eq!(ev, events::ACCEPTED, "{filter}");
            push.send("in").expect("send");
            assert_eq!(recv(&mut pull, "admitted"), msg(&["in"]));
        } else {
            assert_eq!(ev, events::ACCEPT_FAILED, "{filter}");
        }
    }
    let mut s = ctx.socket(Pull).expect("socket");
    assert!(s
        .set_sockopt(opt::TCP_ACCEPT_FILTER, b"not an address")
        .is_err());
    s.set_sockopt(opt::TCP_ACCEPT_FILTER, b"").expect("clears");
}

#[test]
fn ipc_filters_match_the_peers_credentials() {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let ctx = Context::new();
    let cases: [(i32, i32, bool); 3] = [
        (opt::IPC_FILTER_UID, uid as i32, true),
        (opt::IPC_FILTER_UID, uid as i32 + 1, false),
        (opt::IPC_FILTER_PID, std::process::id() as i32, true),
    ];
    for (option, id, admitted) in cases {
        let mut pull = socket(&ctx, Pull);
        set_int(&mut pull, option, id);
        let mut mon = monitor(&ctx, &mut pull, events::ACCEPTED | events::ACCEPT_FAILED);
        pull.bind("ipc://*").expect("bind");
        let mut push = socket(&ctx, Push);
        push.connect(&pull.last_endpoint()).expect("connect");
        let ev = next_event(&mut mon, EVENT_MS)
            .expect("an accept event")
            .event;
        let want = if admitted {
            events::ACCEPTED
        } else {
            events::ACCEPT_FAILED
        };
        assert_eq!(ev, want, "option {option} = {id}");
    }
}

// ---------------------------------------------------------------------------------------------
// ROUTER_RAW

#[test]
fn router_raw_speaks_plain_tcp_like_stream() {
    let ctx = Context::new();
    let mut router = socket(&ctx, Router);
    set_int(&mut router, opt::ROUTER_RAW, 1);
    router.bind("tcp://127.0.0.1:*").expect("bind");
    assert_eq!(get_int(&mut router, opt::TYPE), 6, "still a ROUTER");
    let mut client = TcpStream::connect(tcp_addr(&router.last_endpoint())).expect("connect");
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let hello = recv(&mut router, "connect notification");
    assert_eq!(hello.len(), 2);
    assert!(hello[1].is_empty());
    let id = hello[0].clone();
    client.write_all(b"raw bytes").expect("write");
    assert_eq!(
        recv(&mut router, "data"),
        vec![id.clone(), b"raw bytes".to_vec()]
    );
    send(&mut router, &[id, b"reply".to_vec()], "reply");
    let mut buf = [0u8; 5];
    client.read_exact(&mut buf).expect("reply");
    assert_eq!(&buf, b"reply");

    let mut bound = socket(&ctx, Router);
    bound.bind("tcp://127.0.0.1:*").expect("bind");
    assert!(bound
        .set_sockopt(opt::ROUTER_RAW, &1i32.to_ne_bytes())
        .is_err());
}

// ---------------------------------------------------------------------------------------------
// Batch sizes, affinity, aliases

#[test]
fn tiny_batch_sizes_still_carry_large_and_many_messages() {
    let ctx = Context::new();
    let mut pull = socket(&ctx, Pull);
    set_int(&mut pull, opt::IN_BATCH_SIZE, 100);
    pull.bind("tcp://127.0.0.1:*").expect("bind");
    let mut push = socket(&ctx, Push);
    set_int(&mut push, opt::OUT_BATCH_SIZE, 100);
    push.connect(&pull.last_endpoint()).expect("connect");
    let big = vec![7u8; 1 << 20];
    push.send(big.as_slice()).expect("send");
    for i in 0..1000 {
        push.send(format!("{i}")).expect("send");
    }
    assert_eq!(recv(&mut pull, "big")[0], big);
    for i in 0..1000 {
        assert_eq!(recv(&mut pull, "small"), msg(&[format!("{i}")]));
    }
    assert_eq!(get_int(&mut pull, opt::IN_BATCH_SIZE), 100);
    assert_eq!(get_int(&mut push, opt::OUT_BATCH_SIZE), 100);
    assert!(push
        .set_sockopt(opt::OUT_BATCH_SIZE, &0i32.to_ne_bytes())
        .is_err());
}

#[test]
fn affinity_and_deprecated_aliases_read_back() {
    let ctx = Context::with_io_threads(2).expect("context");
    let mut s = socket(&ctx, Dealer);
    s.set_sockopt(opt::AFFINITY, &2u64.to_ne_bytes())
        .expect("affinity");
    assert_eq!(s.sockopt(opt::AFFINITY).expect("get"), 2u64.to_ne_bytes());
    assert!(s.set_sockopt(opt::AFFINITY, &2i32.to_ne_bytes()).is_err());
    // Connections made under an affinity work like any other.
    let mut r = socket(&ctx, Router);
    r.bind("tcp://127.0.0.1:*").expect("bind");
    s.connect(&r.last_endpoint()).expect("connect");
    s.send("x").expect("send");
    assert_eq!(recv(&mut r, "x")[1], b"x");

    assert_eq!(get_int(&mut s, opt::IPV4ONLY), 1);
    set_int(&mut s, opt::IPV4ONLY, 0);
    assert_eq!(get_int(&mut s, opt::IPV6), 1);
    set_int(&mut s, opt::DELAY_ATTACH_ON_CONNECT, 1);
    assert_eq!(get_int(&mut s, opt::IMMEDIATE), 1);
    assert_eq!(opt::FAIL_UNROUTABLE, opt::ROUTER_MANDATORY);
    assert_eq!(opt::ROUTER_BEHAVIOR, opt::ROUTER_MANDATORY);
    assert_eq!(opt::CONNECT_RID, opt::CONNECT_ROUTING_ID);

    let mut x = socket(&ctx, XSub);
    set_int(&mut x, opt::XSUB_VERBOSE_UNSUBSCRIBE, 1);
    let mut sub = ctx.socket(Sub).expect("socket");
    assert!(sub
        .set_sockopt(opt::XSUB_VERBOSE_UNSUBSCRIBE, &1i32.to_ne_bytes())
        .is_err());
}

#[test]
fn metadata_values_must_be_x_properties() {
    let ctx = Context::new();
    let mut s = ctx.socket(Dealer).expect("socket");
    s.set_sockopt(opt::METADATA, b"X-Color:blue").expect("ok");
    s.set_sockopt(opt::METADATA, b"X-Empty:")
        .expect("an empty value is fine");
    for bad in [&b"Color:blue"[..], b"X-:v", b"X-NoColon", b""] {
        assert_eq!(
            s.set_sockopt(opt::METADATA, bad).map_err(|e| e.kind()),
            Err(ErrorKind::InvalidInput),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn received_frames_carry_the_connections_properties() {
    let ctx = Context::new();
    for ep in ["tcp://127.0.0.1:*", "ipc://*"] {
        let mut router = socket(&ctx, Router);
        router
            .set_sockopt(opt::METADATA, b"X-Side:server")
            .expect("metadata");
        router.bind(ep).expect("bind");
        let mut dealer = socket(&ctx, Dealer);
        dealer.set_routing_id(b"d-7").expect("id");
        dealer
            .set_sockopt(opt::METADATA, b"X-Color:blue")
            .expect("metadata");
        dealer.connect(&router.last_endpoint()).expect("connect");
        dealer.send_multipart(["a", "b"]).expect("send");
        let frames = router.recv_multipart().expect("recv");
        // The routing id frame is the router's own making; the peer's frames carry properties.
        for f in &frames[1..] {
            assert_eq!(f.property(oxmq::PROPERTY_SOCKET_TYPE), Some(&b"DEALER"[..]));
            assert_eq!(f.property(oxmq::PROPERTY_ROUTING_ID), Some(&b"d-7"[..]));
            assert_eq!(f.property("x-color"), Some(&b"blue"[..]), "any case");
            assert!(f.property(oxmq::PROPERTY_PEER_ADDRESS).is_some());
            assert_eq!(f.property(oxmq::PROPERTY_USER_ID), None);
        }
        router
            .send_multipart([frames[0].data(), b"back"])
            .expect("reply");
        let back = dealer.recv().expect("reply");
        assert_eq!(back.property("Socket-Type"), Some(&b"ROUTER"[..]));
        assert_eq!(back.property("X-Side"), Some(&b"server"[..]));
        assert_eq!(Msg::from("mine").property("Socket-Type"), None);
    }
}

#[test]
fn context_max_msgsz_drops_a_peer_sending_more() {
    let ctx = Context::new();
    ctx.set(opt::ctx::MAX_MSGSZ, 100).expect("max msgsz");
    let mut pull = socket(&ctx, Pull);
    let mut mon = monitor(&ctx, &mut pull, events::DISCONNECTED);
    pull.bind("tcp://127.0.0.1:*").expect("bind");
    let other = Context::new();
    let mut push = socket(&other, Push);
    push.connect(&pull.last_endpoint()).expect("connect");
    push.send(vec![1u8; 100]).expect("send");
    assert_eq!(recv(&mut pull, "at the limit")[0].len(), 100);
    push.send(vec![1u8; 101]).expect("send");
    let ev = next_event(&mut mon, EVENT_MS).expect("the peer is dropped");
    assert_eq!(ev.event, events::DISCONNECTED);
}

// ---------------------------------------------------------------------------------------------
// Counters (beyond libzmq)

/// Polls `f` until it holds or 10 s pass (engines publish their counts after each batch).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::yield_now();
    }
}

#[test]
fn counters_follow_traffic_drops_reconnects_and_failed_handshakes() {
    let ctx = Context::new();
    let mut router = socket(&ctx, Router);
    router.bind("tcp://127.0.0.1:*").expect("bind");
    let ep = router.last_endpoint();
    let mut dealer = socket(&ctx, Dealer);
    dealer.set_routing_id(b"d").expect("id");
    dealer.connect(&ep).expect("connect");
    for _ in 0..10 {
        dealer.send_multipart(["ab", "cde"]).expect("send");
    }
    for _ in 0..10 {
        recv(&mut router, "message");
    }
    router.send_multipart(["d", "reply"]).expect("reply");
    router.send_multipart(["nobody", "x"]).expect("dropped");
    assert_eq!(recv(&mut dealer, "reply"), msg(&["reply"]));

    // Engines publish after each batch of work: what a peer already received may take a
    // moment to show.
    eventually("the dealer's traffic is counted", || {
        let t = dealer.counters().traffic;
        (t.msgs_out, t.bytes_out, t.msgs_in, t.bytes_in) == (10, 50, 1, 5)
    });
    let d = dealer.counters();
    assert_eq!(d.peers.len(), 1);
    assert_eq!(d.peers[0].endpoint, ep);
    assert_eq!(d.peers[0].peer_address, "127.0.0.1");
    assert_eq!(d.peers[0].traffic, d.traffic);
    eventually("the router's traffic is counted", || {
        let t = router.counters().traffic;
        (t.msgs_in, t.bytes_in, t.msgs_out, t.bytes_out) == (10, 50, 1, 5)
    });
    assert_eq!(router.counters().dropped_unroutable, 1);

    // The connection ends: its traffic stays in the totals, and it leaves the peer list.
    drop(dealer);
    eventually("the ended connection leaves the peer list", || {
        router.counters().peers.is_empty()
    });
    assert_eq!(router.counters().traffic.msgs_in, 10);

    // Reconnects, and a handshake that fails: a peer that hangs up before its greeting.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let mut d2 = socket(&ctx, Dealer);
    set_int(&mut d2, opt::RECONNECT_IVL, 10);
    d2.connect(&format!("tcp://{}", listener.local_addr().expect("addr")))
        .expect("connect");
    drop(listener.accept().expect("accept"));
    eventually("a failed handshake and a reconnect are counted", || {
        let c = d2.counters();
        c.handshake_failed_no_detail >= 1 && c.reconnects >= 1
    });

    let mut publisher = socket(&ctx, Pub);
    publisher.send("unheard").expect("send");
    assert_eq!(publisher.counters().dropped_no_subscribers, 1);
}

#[test]
fn counters_reach_the_monitor_stream_on_request() {
    let ctx = Context::new();
    let mut pull = socket(&ctx, Pull);
    let mut mon = monitor(&ctx, &mut pull, events::COUNTERS);
    pull.bind("tcp://127.0.0.1:*").expect("bind");
    let ep = pull.last_endpoint();
    let mut push = socket(&ctx, Push);
    push.connect(&ep).expect("connect");
    push.send("hello").expect("send");
    assert_eq!(recv(&mut pull, "hello"), msg(&["hello"]));
    eventually("the message is counted", || {
        pull.counters().traffic.msgs_in == 1
    });
    pull.monitor_counters();
    let total = next_event(&mut mon, EVENT_MS).expect("the socket's counters");
    assert_eq!((total.event, total.value), (events::COUNTERS, 0));
    assert_eq!(total.values.len(), 11);
    assert_eq!(&total.values[..4], &[1, 5, 0, 0]);
    let peer = next_event(&mut mon, EVENT_MS).expect("the connection's counters");
    assert_eq!((peer.event, peer.value), (events::COUNTERS, 1));
    assert_eq!(peer.endpoint, ep);
    assert_eq!(peer.values, [1, 5, 0, 0]);
    // The frames are libzmq's two plus one: a round trip keeps everything.
    let frames = peer.to_frames();
    assert_eq!(frames.len(), 3);
    assert_eq!(MonitorEvent::from_frames(&frames).expect("decodes"), peer);
    let mut two = total.to_frames();
    two.truncate(2);
    assert!(
        MonitorEvent::from_frames(&two).is_err(),
        "COUNTERS needs its values"
    );
}

/// What pyzmq's test_int_sockopts reads: INVERT_MATCHING as set, THREAD_SAFE 0, and libzmq's
/// defaults for the multicast options, which cannot be set without a pgm transport.
#[test]
fn read_only_and_multicast_options_read_as_libzmq() {
    let ctx = Context::new();
    let mut sub = ctx.socket(SocketType::Sub).expect("socket");
    assert_eq!(get_int(&mut sub, opt::INVERT_MATCHING), 0);
    sub.set_sockopt(opt::INVERT_MATCHING, &1i32.to_ne_bytes())
        .expect("INVERT_MATCHING");
    assert_eq!(get_int(&mut sub, opt::INVERT_MATCHING), 1);
    for (o, v) in [
        (opt::THREAD_SAFE, 0),
        (opt::RATE, 100),
        (opt::RECOVERY_IVL, 10_000),
        (opt::MULTICAST_HOPS, 1),
        (opt::MULTICAST_MAXTPDU, 1500),
        (opt::LOOPBACK_FASTPATH, 0),
        (opt::MULTICAST_LOOP, 1),
    ] {
        assert_eq!(get_int(&mut sub, o), v, "option {o}");
        assert!(
            sub.set_sockopt(o, &v.to_ne_bytes()).is_err(),
            "option {o} is read only"
        );
    }
}

/// An ipc path longer than a Unix socket address holds fails as libzmq's does, with
/// ENAMETOOLONG (pyzmq turns that errno into a message naming the limit).
#[test]
fn ipc_paths_over_107_bytes_are_enametoolong() {
    let ctx = Context::new();
    let mut s = ctx.socket(SocketType::Pull).expect("socket");
    let long = format!("ipc:///tmp/{}", "a".repeat(120));
    let e = s.bind(&long).expect_err("too long");
    assert_eq!(e.errno(), libc::ENAMETOOLONG);
    let fits = format!("ipc:///tmp/{}", "b".repeat(107 - "/tmp/".len()));
    s.bind(&fits).expect("107 bytes fit");
}
