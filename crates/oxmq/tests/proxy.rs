//! `proxy` and `proxy_steerable`: every socket pair libzmq's manual names (ROUTER/DEALER broker,
//! PULL/PUSH streamer, XSUB/XPUB forwarder), capture, steering (PAUSE, RESUME, STATISTICS,
//! TERMINATE), backpressure, errors, and a forwarder between pyzmq peers.
//!
//! Every wait is bounded: test sockets have RCVTIMEO/SNDTIMEO (common::IO_TIMEOUT_MS), joins of
//! proxy threads happen only after TERMINATE was acknowledged, and the only timed waits are the
//! short negative checks that a paused or blocked proxy moved nothing.

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};

use oxmq::{
    poll, proxy, proxy_steerable, Context, ErrorKind, Msg, PollItem, ProxyCounters,
    ProxyStatistics, Result, Socket, SocketType, POLLIN,
};

use common::{assert_msg, expected_for_subscriber, msg, recv, send, socket, Frames, Peer};

/// How long a negative check ("nothing arrives") waits.
const QUIET_MS: i64 = 200;

// ---------------------------------------------------------------------------------------------
// ROUTER/DEALER broker

#[test]
fn broker_router_dealer_between_req_clients_and_rep_workers_inproc() {
    broker("inproc://broker-front", "inproc://broker-back", true);
}

#[test]
fn broker_router_dealer_between_req_clients_and_rep_workers_tcp() {
    broker("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", false);
}

/// Three REQ clients, two REP workers, a ROUTER/DEALER proxy between them. Every request gets
/// its own reply; over inproc (where connects complete at once) both workers share the load.
fn broker(front_ep: &str, back_ep: &str, both_workers: bool) {
    const CLIENTS: usize = 3;
    const REQUESTS: usize = 20;
    let ctx = Context::new();
    let mut frontend = socket(&ctx, SocketType::Router);
    frontend.bind(front_ep).expect("bind frontend");
    let mut backend = socket(&ctx, SocketType::Dealer);
    backend.bind(back_ep).expect("bind backend");
    let (front_ep, back_ep) = (frontend.last_endpoint(), backend.last_endpoint());

    for w in 0..2 {
        let mut rep = socket(&ctx, SocketType::Rep);
        rep.connect(&back_ep).expect("worker connect");
        // Detached: a worker ends when its RCVTIMEO expires after the test.
        thread::spawn(move || {
            while let Ok(parts) = rep.recv_multipart() {
                let mut reply = parts[0].data().to_vec();
                reply.extend_from_slice(format!("@worker{w}").as_bytes());
                if rep.send(reply).is_err() {
                    break;
                }
            }
        });
    }
    let proxy = Steered::start(&ctx, frontend, backend, None);

    let clients: Vec<JoinHandle<BTreeSet<String>>> = (0..CLIENTS)
        .map(|c| {
            let mut req = socket(&ctx, SocketType::Req);
            req.connect(&front_ep).expect("client connect");
            thread::spawn(move || {
                let mut workers = BTreeSet::new();
                for i in 0..REQUESTS {
                    let request = format!("client{c}-request{i}");
                    send(&mut req, &msg(&[&request]), "a request");
                    let reply = recv(&mut req, "a reply");
                    assert_eq!(reply.len(), 1, "reply to {request}");
                    let text = String::from_utf8(reply[0].clone()).expect("utf-8 reply");
                    let worker = text
                        .strip_prefix(&format!("{request}@"))
                        .unwrap_or_else(|| panic!("reply {text:?} to {request:?}"));
                    workers.insert(worker.to_string());
                }
                workers
            })
        })
        .collect();
    let mut workers = BTreeSet::new();
    for c in clients {
        workers.extend(c.join().expect("client thread"));
    }
    if both_workers {
        assert_eq!(
            workers.len(),
            2,
            "load balanced over both workers: {workers:?}"
        );
    }
    let stats = proxy.terminate();
    // Each request is [routing id, "", body] on the ROUTER and each reply the same.
    let frames = (CLIENTS * REQUESTS * 3) as u64;
    assert_eq!(stats.frontend.msgs_in, frames);
    assert_eq!(stats.frontend.msgs_out, frames);
    assert_eq!(stats.backend.msgs_in, frames);
    assert_eq!(stats.backend.msgs_out, frames);
    assert_eq!(stats.frontend.bytes_in, stats.backend.bytes_out);
    assert_eq!(stats.backend.bytes_in, stats.frontend.bytes_out);
}

// ---------------------------------------------------------------------------------------------
// PULL/PUSH streamer, capture, plain `proxy`

#[test]
fn streamer_pull_push_keeps_order_and_multipart_with_plain_proxy() {
    let ctx = Context::new();
    let mut frontend = socket(&ctx, SocketType::Pull);
    frontend.bind("inproc://streamer-in").expect("bind");
    let mut backend = socket(&ctx, SocketType::Push);
    backend.bind("tcp://127.0.0.1:*").expect("bind");
    let back_ep = backend.last_endpoint();
    // `proxy` only returns on an error, so its thread outlives the test body.
    thread::spawn(move || proxy(&mut frontend, &mut backend, None));

    let mut producer = socket(&ctx, SocketType::Push);
    producer.connect("inproc://streamer-in").expect("connect");
    let mut consumer = socket(&ctx, SocketType::Pull);
    consumer.connect(&back_ep).expect("connect");
    let messages = numbered(500);
    for m in &messages {
        send(&mut producer, m, "a job");
    }
    for (i, m) in messages.iter().enumerate() {
        assert_msg(&recv(&mut consumer, "a job"), m, &format!("job {i}"));
    }
}

#[test]
fn streamer_with_tiny_hwms_waits_for_room_and_loses_nothing() {
    const N: usize = 5000;
    let ctx = Context::new();
    let mut frontend = socket(&ctx, SocketType::Pull);
    let mut backend = socket(&ctx, SocketType::Push);
    let mut producer = socket(&ctx, SocketType::Push);
    let mut consumer = socket(&ctx, SocketType::Pull);
    for s in [&mut frontend, &mut backend, &mut producer, &mut consumer] {
        s.set_sndhwm(5).expect("sndhwm");
        s.set_rcvhwm(5).expect("rcvhwm");
    }
    frontend.bind("tcp://127.0.0.1:*").expect("bind");
    backend.bind("tcp://127.0.0.1:*").expect("bind");
    producer
        .connect(&frontend.last_endpoint())
        .expect("connect");
    consumer.connect(&backend.last_endpoint()).expect("connect");
    let proxy = Steered::start(&ctx, frontend, backend, None);
    let sender = thread::spawn(move || {
        for i in 0..N {
            send(&mut producer, &[common::payload(i, None)], "a message");
        }
        producer
    });
    for i in 0..N {
        let got = recv(&mut consumer, "a message");
        assert_msg(&got, &[common::payload(i, None)], &format!("message {i}"));
    }
    drop(sender.join().expect("sender"));
    let stats = proxy.terminate();
    assert_eq!(
        (stats.frontend.msgs_in, stats.backend.msgs_out),
        (N as u64, N as u64)
    );
}

#[test]
fn both_directions_flow_at_once_through_a_router_dealer_proxy() {
    const N: usize = 2000;
    const WINDOW: usize = 50;
    let ctx = Context::new();
    let mut frontend = socket(&ctx, SocketType::Router);
    frontend.bind("tcp://127.0.0.1:*").expect("bind");
    let mut backend = socket(&ctx, SocketType::Dealer);
    backend.bind("ipc://*").expect("bind");
    let mut client = socket(&ctx, SocketType::Dealer);
    client.connect(&frontend.last_endpoint()).expect("connect");
    let mut worker = socket(&ctx, SocketType::Dealer);
    worker.connect(&backend.last_endpoint()).expect("connect");
    let proxy = Steered::start(&ctx, frontend, backend, None);
    // The worker echoes [client id, body] as it came.
    let echo = thread::spawn(move || {
        for _ in 0..N {
            let m = recv(&mut worker, "a request");
            send(&mut worker, &m, "an echo");
        }
    });
    // WINDOW requests in flight: requests and replies cross the proxy at the same time.
    for start in (0..N).step_by(WINDOW) {
        for i in start..start + WINDOW {
            send(&mut client, &[common::payload(i, None)], "a request");
        }
        for i in start..start + WINDOW {
            assert_msg(
                &recv(&mut client, "a reply"),
                &[common::payload(i, None)],
                "reply",
            );
        }
    }
    echo.join().expect("worker");
    let stats = proxy.terminate();
    let frames = 2 * N as u64;
    assert_eq!(
        (stats.frontend.msgs_in, stats.backend.msgs_in),
        (frames, frames)
    );
}

#[test]
fn capture_gets_a_copy_of_every_frame_in_both_directions() {
    let ctx = Context::new();
    let mut frontend = socket(&ctx, SocketType::Router);
    frontend.bind("inproc://capture-front").expect("bind");
    let mut backend = socket(&ctx, SocketType::Dealer);
    backend.bind("inproc://capture-back").expect("bind");
    let mut capture = socket(&ctx, SocketType::Push);
    capture.bind("inproc://capture").expect("bind");
    let mut tap = socket(&ctx, SocketType::Pull);
    tap.connect("inproc://capture").expect("connect");
    let mut worker = socket(&ctx, SocketType::Rep);
    worker.connect("inproc://capture-back").expect("connect");
    let mut client = socket(&ctx, SocketType::Req);
    client.set_routing_id(b"C").expect("routing id");
    client.connect("inproc://capture-front").expect("connect");
    let proxy = Steered::start(&ctx, frontend, backend, Some(capture));

    send(&mut client, &msg(&["question", "part 2"]), "request");
    let request = recv(&mut worker, "request");
    assert_msg(&request, &msg(&["question", "part 2"]), "at the worker");
    send(&mut worker, &msg(&["answer"]), "reply");
    assert_msg(
        &recv(&mut client, "reply"),
        &msg(&["answer"]),
        "at the client",
    );

    // The capture sees what the ROUTER and DEALER saw, envelope included, MORE preserved.
    assert_msg(
        &recv(&mut tap, "captured request"),
        &msg(&["C", "", "question", "part 2"]),
        "captured request",
    );
    assert_msg(
        &recv(&mut tap, "captured reply"),
        &msg(&["C", "", "answer"]),
        "captured reply",
    );
    let stats = proxy.terminate();
    assert_eq!(
        stats.frontend,
        ProxyCounters {
            msgs_in: 4,
            bytes_in: 1 + 8 + 6,
            msgs_out: 3,
            bytes_out: 1 + 6,
        }
    );
    assert_eq!(
        stats.backend,
        ProxyCounters {
            msgs_in: 3,
            bytes_in: 1 + 6,
            msgs_out: 4,
            bytes_out: 1 + 8 + 6,
        }
    );
    assert!(
        !readable(&mut tap, QUIET_MS),
        "control frames are not captured"
    );
}

// ---------------------------------------------------------------------------------------------
// XSUB/XPUB forwarder

#[test]
fn forwarder_xsub_xpub_carries_subscriptions_up_and_messages_down() {
    let ctx = Context::new();
    let mut frontend = socket(&ctx, SocketType::XSub);
    frontend.bind("tcp://127.0.0.1:*").expect("bind");
    let mut backend = socket(&ctx, SocketType::XPub);
    backend.bind("inproc://forwarder-out").expect("bind");
    let front_ep = frontend.last_endpoint();
    let proxy = Steered::start(&ctx, frontend, backend, None);

    // An XPUB publisher, so the test can see subscriptions arrive upstream.
    let mut publisher = socket(&ctx, SocketType::XPub);
    publisher.connect(&front_ep).expect("connect");
    let mut sub_a = socket(&ctx, SocketType::Sub);
    sub_a.subscribe(b"A").expect("subscribe");
    sub_a.connect("inproc://forwarder-out").expect("connect");
    let mut sub_b = socket(&ctx, SocketType::Sub);
    sub_b.subscribe(b"B").expect("subscribe");
    sub_b.connect("inproc://forwarder-out").expect("connect");

    let mut subs = BTreeSet::new();
    while subs.len() < 2 {
        subs.insert(recv(&mut publisher, "a forwarded subscription"));
    }
    assert_eq!(
        subs,
        BTreeSet::from([vec![b"\x01A".to_vec()], vec![b"\x01B".to_vec()]])
    );

    for m in [
        msg(&["A.1"]),
        msg(&["B.1", "x"]),
        msg(&["C.1"]),
        msg(&["A.2", "", "y"]),
        msg(&["B.END"]),
        msg(&["A.END"]),
    ] {
        send(&mut publisher, &m, "a publication");
    }
    let got_a: Vec<Frames> = (0..3).map(|_| recv(&mut sub_a, "for A")).collect();
    assert_eq!(
        got_a,
        [msg(&["A.1"]), msg(&["A.2", "", "y"]), msg(&["A.END"])]
    );
    let got_b: Vec<Frames> = (0..2).map(|_| recv(&mut sub_b, "for B")).collect();
    assert_eq!(got_b, [msg(&["B.1", "x"]), msg(&["B.END"])]);

    sub_a.unsubscribe(b"A").expect("unsubscribe");
    assert_msg(
        &recv(&mut publisher, "the forwarded unsubscription"),
        &[b"\x00A".to_vec()],
        "upstream",
    );
    let stats = proxy.terminate();
    // Down: the 5 messages (8 frames) the publisher did not filter out; up: 3 subscription frames.
    assert_eq!((stats.frontend.msgs_in, stats.backend.msgs_out), (8, 8));
    assert_eq!((stats.backend.msgs_in, stats.frontend.msgs_out), (3, 3));
}

#[test]
fn forwarder_between_a_pyzmq_pub_and_two_pyzmq_subs_tcp() {
    forwarder_between_pyzmq_peers("tcp://127.0.0.1:*");
}

#[test]
fn forwarder_between_a_pyzmq_pub_and_two_pyzmq_subs_ipc() {
    forwarder_between_pyzmq_peers("ipc://*");
}

/// An oxmq XSUB/XPUB proxy between a pyzmq PUB and two pyzmq SUBs with different topics: each
/// subscriber gets exactly what it subscribed to, in order.
fn forwarder_between_pyzmq_peers(wildcard: &str) {
    let ctx = Context::new();
    let mut frontend = socket(&ctx, SocketType::XSub);
    frontend.bind(wildcard).expect("bind");
    let mut backend = socket(&ctx, SocketType::XPub);
    backend.bind(wildcard).expect("bind");
    let (front_ep, back_ep) = (frontend.last_endpoint(), backend.last_endpoint());
    let proxy = Steered::start(&ctx, frontend, backend, None);

    let mut sub_all = Peer::spawn(&["sub", "--type", "SUB", "--connect", &back_ep]);
    let b_topics = ["B", "sync", "END"];
    let mut sub_b_args = vec!["sub", "--type", "SUB", "--connect", &back_ep];
    for t in b_topics {
        sub_b_args.extend(["--subscribe", t]);
    }
    let mut sub_b = Peer::spawn(&sub_b_args);
    let mut publisher = Peer::spawn(&["pub", "--type", "PUB", "--connect", &front_ep]);
    for p in [&mut sub_all, &mut sub_b, &mut publisher] {
        p.expect("READY ");
    }
    // The publisher repeats [sync] until GO: once both subscribers got one, their
    // subscriptions have crossed the proxy to the publisher.
    let sync = format!("GOT {}", hex(&msg(&["sync"])));
    sub_all.expect(&sync);
    sub_b.expect(&sync);
    publisher.send_line("GO");
    publisher.finish();

    let want_all = expected_for_subscriber();
    let want_b: Vec<Frames> = want_all
        .iter()
        .filter(|m| b_topics.iter().any(|t| m[0].starts_with(t.as_bytes())))
        .cloned()
        .collect();
    assert_eq!(want_b, [msg(&["B"]), msg(&["Bx"]), msg(&["END"])]);
    for (peer, want) in [(sub_all, want_all), (sub_b, want_b)] {
        let got: Vec<String> = peer
            .finish()
            .iter()
            .filter_map(|l| l.strip_prefix("GOT ").map(str::to_string))
            .filter(|g| *g != sync["GOT ".len()..])
            .collect();
        let want: Vec<String> = want.iter().map(|m| hex(m)).collect();
        assert_eq!(
            got, want,
            "what a pyzmq subscriber received through the proxy"
        );
    }
    let stats = proxy.terminate();
    // The 8 frames after GO, and at least one [sync] before it.
    assert!(stats.backend.msgs_out >= 9, "{stats:?}");
}

// ---------------------------------------------------------------------------------------------
// Steering

#[test]
fn pause_holds_messages_resume_releases_them_statistics_count_them() {
    let ctx = Context::new();
    let mut frontend = socket(&ctx, SocketType::Pull);
    frontend.bind("inproc://steer-in").expect("bind");
    let mut backend = socket(&ctx, SocketType::Push);
    backend.bind("inproc://steer-out").expect("bind");
    let mut producer = socket(&ctx, SocketType::Push);
    producer.connect("inproc://steer-in").expect("connect");
    let mut consumer = socket(&ctx, SocketType::Pull);
    consumer.connect("inproc://steer-out").expect("connect");
    let mut proxy = Steered::start(&ctx, frontend, backend, None);

    send(&mut producer, &msg(&["before", "pause"]), "first");
    assert_msg(
        &recv(&mut consumer, "first"),
        &msg(&["before", "pause"]),
        "first",
    );
    proxy.command("PAUSE");
    for m in numbered(10) {
        send(&mut producer, &m, "while paused");
    }
    assert!(
        !readable(&mut consumer, QUIET_MS),
        "a paused proxy forwarded a message"
    );
    let paused = proxy.statistics();
    assert_eq!(
        paused.frontend,
        ProxyCounters {
            msgs_in: 2,
            bytes_in: 11,
            msgs_out: 0,
            bytes_out: 0
        }
    );
    assert_eq!(paused.backend.msgs_out, 2);
    // Unknown commands change nothing (and the REP control socket still answers).
    proxy.command("NONSENSE");
    assert!(!readable(&mut consumer, QUIET_MS));
    proxy.command("RESUME");
    for (i, m) in numbered(10).iter().enumerate() {
        assert_msg(
            &recv(&mut consumer, "after resume"),
            m,
            &format!("message {i}"),
        );
    }
    let stats = proxy.terminate();
    let frames = numbered(10).iter().flatten().count() as u64;
    let bytes: u64 = numbered(10).iter().flatten().map(|f| f.len() as u64).sum();
    assert_eq!(stats.frontend.msgs_in, 2 + frames);
    assert_eq!(stats.frontend.bytes_in, 11 + bytes);
    assert_eq!(stats.backend.msgs_out, 2 + frames);
    assert_eq!(stats.backend.bytes_out, 11 + bytes);
    assert_eq!((stats.backend.msgs_in, stats.frontend.msgs_out), (0, 0));
}

#[test]
fn pair_control_gets_no_reply_but_statistics_and_terminate_work() {
    let ctx = Context::new();
    let mut frontend = socket(&ctx, SocketType::Pull);
    frontend.bind("inproc://pair-in").expect("bind");
    let mut backend = socket(&ctx, SocketType::Push);
    backend.bind("inproc://pair-out").expect("bind");
    let mut control = socket(&ctx, SocketType::Pair);
    control.bind("inproc://pair-control").expect("bind");
    let mut steer = socket(&ctx, SocketType::Pair);
    steer.connect("inproc://pair-control").expect("connect");
    let proxy =
        thread::spawn(move || proxy_steerable(&mut frontend, &mut backend, None, &mut control));
    send(&mut steer, &msg(&["PAUSE"]), "PAUSE");
    send(&mut steer, &msg(&["RESUME"]), "RESUME");
    send(&mut steer, &msg(&["STATISTICS"]), "STATISTICS");
    let reply: Vec<Msg> = steer.recv_multipart().expect("statistics");
    assert_eq!(
        reply.len(),
        8,
        "STATISTICS is the first reply: PAUSE and RESUME get none"
    );
    assert_eq!(
        ProxyStatistics::from_reply(&reply).expect("parse"),
        ProxyStatistics::default()
    );
    send(&mut steer, &msg(&["TERMINATE"]), "TERMINATE");
    proxy
        .join()
        .expect("proxy thread")
        .expect("TERMINATE returns Ok");
    assert!(!readable(&mut steer, 0), "no reply to TERMINATE on PAIR");
}

#[test]
fn a_blocked_direction_starves_neither_the_other_direction_nor_control() {
    let ctx = Context::new();
    let mut frontend = socket(&ctx, SocketType::Router);
    frontend.bind("inproc://blocked-front").expect("bind");
    let mut backend = socket(&ctx, SocketType::Dealer);
    backend.bind("inproc://blocked-back").expect("bind");
    let mut client = socket(&ctx, SocketType::Req);
    client.connect("inproc://blocked-front").expect("connect");
    let mut proxy = Steered::start(&ctx, frontend, backend, None);

    // No worker yet: the DEALER cannot send, so the request waits in the ROUTER...
    send(&mut client, &msg(&["request"]), "request");
    // ...while the proxy keeps answering its control socket.
    assert_eq!(proxy.statistics(), ProxyStatistics::default());
    let mut worker = socket(&ctx, SocketType::Rep);
    worker.connect("inproc://blocked-back").expect("connect");
    assert_msg(
        &recv(&mut worker, "request"),
        &msg(&["request"]),
        "late worker",
    );
    send(&mut worker, &msg(&["reply"]), "reply");
    assert_msg(&recv(&mut client, "reply"), &msg(&["reply"]), "client");
    let stats = proxy.terminate();
    assert_eq!((stats.frontend.msgs_in, stats.frontend.msgs_out), (3, 3));
}

#[test]
fn proxy_returns_the_error_of_a_failing_destination() {
    let ctx = Context::new();
    let mut frontend = socket(&ctx, SocketType::Pull);
    frontend.bind("inproc://fail-in").expect("bind");
    let mut backend = socket(&ctx, SocketType::Router);
    backend.set_router_mandatory(true).expect("mandatory");
    backend.bind("inproc://fail-out").expect("bind");
    let mut peer = socket(&ctx, SocketType::Dealer);
    peer.set_routing_id(b"known").expect("routing id");
    peer.connect("inproc://fail-out").expect("connect");
    let mut producer = socket(&ctx, SocketType::Push);
    producer.connect("inproc://fail-in").expect("connect");
    let proxy = thread::spawn(move || proxy(&mut frontend, &mut backend, None));

    send(&mut producer, &msg(&["known", "routed"]), "routable");
    assert_msg(&recv(&mut peer, "routed"), &msg(&["routed"]), "at the peer");
    send(&mut producer, &msg(&["unknown", "lost"]), "unroutable");
    let err = proxy
        .join()
        .expect("proxy thread")
        .expect_err("proxy never returns Ok");
    assert_eq!(err.kind(), ErrorKind::HostUnreachable);
}

#[test]
fn an_idle_proxy_returns_eterm_when_the_context_shuts_down() {
    let ctx = Context::new();
    let mut frontend = socket(&ctx, SocketType::Pull);
    frontend.bind("inproc://eterm-in").expect("bind");
    let mut backend = socket(&ctx, SocketType::Push);
    backend.bind("inproc://eterm-out").expect("bind");
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let r = proxy(&mut frontend, &mut backend, None);
        let _ = done_tx.send(r.map_err(|e| e.kind()));
    });
    ctx.shutdown();
    let result = done_rx
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("proxy still running 5 s after Context::shutdown");
    assert_eq!(result, Err(ErrorKind::Terminated));
}

#[test]
fn statistics_reply_must_be_eight_frames_of_eight_bytes() {
    let good: Vec<Msg> = (0..8u64)
        .map(|v| Msg::from(v.to_ne_bytes().to_vec()))
        .collect();
    let stats = ProxyStatistics::from_reply(&good).expect("8 x u64");
    assert_eq!(stats.backend.bytes_out, 7);
    assert!(ProxyStatistics::from_reply(&good[..7]).is_err());
    let mut bad = good.clone();
    bad[3] = Msg::from(&b"short"[..]);
    let err = ProxyStatistics::from_reply(&bad).expect_err("a 5-byte counter");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// A `proxy_steerable` on its own thread, steered through a REQ/REP control pair.
struct Steered {
    steer: Socket,
    thread: Option<JoinHandle<Result<()>>>,
}

impl Steered {
    fn start(
        ctx: &Context,
        mut frontend: Socket,
        mut backend: Socket,
        capture: Option<Socket>,
    ) -> Steered {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let endpoint = format!("inproc://control-{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let mut control = socket(ctx, SocketType::Rep);
        control.bind(&endpoint).expect("bind control");
        let mut steer = socket(ctx, SocketType::Req);
        steer.connect(&endpoint).expect("connect control");
        let thread = thread::spawn(move || {
            let mut capture = capture;
            proxy_steerable(&mut frontend, &mut backend, capture.as_mut(), &mut control)
        });
        Steered {
            steer,
            thread: Some(thread),
        }
    }

    /// Sends a command other than STATISTICS and waits for the REP's empty acknowledgement.
    fn command(&mut self, command: &str) {
        send(&mut self.steer, &msg(&[command]), command);
        assert_msg(&recv(&mut self.steer, command), &msg(&[""]), command);
    }

    fn statistics(&mut self) -> ProxyStatistics {
        self.steer.send("STATISTICS").expect("send STATISTICS");
        let reply = self.steer.recv_multipart().expect("STATISTICS reply");
        ProxyStatistics::from_reply(&reply).expect("8 frames of u64")
    }

    /// Reads the final statistics, sends TERMINATE and joins the proxy, which must return Ok.
    fn terminate(mut self) -> ProxyStatistics {
        let stats = self.statistics();
        self.command("TERMINATE");
        let thread = self.thread.take().expect("joined once");
        thread
            .join()
            .expect("proxy thread")
            .expect("proxy_steerable returns Ok on TERMINATE");
        stats
    }
}

/// `n` messages of one to three frames.
fn numbered(n: usize) -> Vec<Frames> {
    (0..n)
        .map(|i| {
            (0..=i % 3)
                .map(|part| format!("m{i}.{part}").into_bytes())
                .collect()
        })
        .collect()
}

/// Whether `sock` becomes readable within `ms`.
fn readable(sock: &mut Socket, ms: i64) -> bool {
    let mut items = [PollItem::socket(sock, POLLIN)];
    poll(&mut items, ms).expect("poll") > 0
}

/// A message as peer.py prints it: frames as "x" + hex, joined by ",".
fn hex(frames: &[Vec<u8>]) -> String {
    frames
        .iter()
        .map(|f| {
            let digits: String = f.iter().map(|b| format!("{b:02x}")).collect();
            format!("x{digits}")
        })
        .collect::<Vec<_>>()
        .join(",")
}
