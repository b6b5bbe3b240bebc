//! ZMQ_STREAM: raw TCP peers behind routing ids, against plain `std::net` programs and against
//! libzmq's STREAM (pyzmq, `tests/interop/stream_peer.py`).
//!
//! The behaviour pinned here is libzmq 4.3.5's, checked with pyzmq: a connect and a disconnect
//! notification (`[id, ""]`) per connection unless STREAM_NOTIFY is 0; `[id, ""]` sent closes
//! the connection after what was queued before it, without a notification; a connecting
//! STREAM's id exists from `connect` on (readable as ZMQ_ROUTING_ID), so a request can be
//! queued before the connection is up, and it survives reconnects. Every wait is bounded
//! (RCVTIMEO, socket read time-outs, the peer's watchdog); nothing sleeps to synchronise.

#[path = "common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{python, recv, repo_root, send, socket, Frames};
use oxmq::monitor::events;
use oxmq::{Context, ErrorKind, Monitor, Socket, SocketType};

const READ_TIMEOUT: Duration = Duration::from_secs(10);

fn stream_bound(ctx: &Context) -> (Socket, u16) {
    let mut s = socket(ctx, SocketType::Stream);
    s.bind("tcp://127.0.0.1:*").expect("bind");
    let port = s
        .last_endpoint()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    (s, port)
}

fn client(port: u16) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
    c
}

/// Receives a connect or disconnect notification and returns its routing id.
fn notification(s: &mut Socket, what: &str) -> Vec<u8> {
    let m = recv(s, what);
    assert_eq!(m.len(), 2, "{what}: {m:?}");
    assert!(
        m[1].is_empty(),
        "{what}: expected a notification, got {m:?}"
    );
    m[0].clone()
}

/// Collects `[id, data]` messages from `id` until `len` bytes arrived (reads split and merge).
fn data(s: &mut Socket, id: &[u8], len: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < len {
        let m: Frames = recv(s, "data");
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(m[0], id, "data from another peer");
        assert!(
            !m[1].is_empty(),
            "peer left after {} of {len} bytes",
            got.len()
        );
        got.extend_from_slice(&m[1]);
    }
    got
}

#[test]
fn bound_stream_serves_a_plain_tcp_client() {
    let ctx = Context::new();
    let (mut s, port) = stream_bound(&ctx);

    let mut c = client(port);
    let id = notification(&mut s, "connect notification");
    assert_eq!(id.len(), 5, "libzmq's generated id: {id:?}");
    assert_eq!(id[0], 0);
    assert_eq!(
        s.routing_id(),
        id,
        "libzmq makes the last generated id ZMQ_ROUTING_ID"
    );

    c.write_all(b"hello").expect("write");
    assert_eq!(data(&mut s, &id, 5), b"hello");
    send(&mut s, &[id.clone(), b"world".to_vec()], "reply");
    let mut buf = [0u8; 5];
    c.read_exact(&mut buf).expect("read reply");
    assert_eq!(&buf, b"world");

    // The client leaves: the application hears of it.
    c.shutdown(Shutdown::Both).expect("shutdown");
    drop(c);
    // (Whether the id is already unknown right after this depends, in libzmq too, on whether
    // the pipe's end was processed yet.)
    assert_eq!(notification(&mut s, "disconnect notification"), id);
}

#[test]
fn empty_body_closes_the_peer_after_what_was_queued() {
    let ctx = Context::new();
    let (mut s, port) = stream_bound(&ctx);
    let mut c = client(port);
    let id = notification(&mut s, "connect notification");

    let body = vec![b'x'; 1 << 20];
    send(&mut s, &[id.clone(), b"bye ".to_vec()], "data");
    send(&mut s, &[id.clone(), body.clone()], "large data");
    send(&mut s, &[id.clone(), Vec::new()], "close");
    let mut got = Vec::new();
    c.read_to_end(&mut got)
        .expect("read until the server closes");
    assert_eq!(got.len(), 4 + body.len());
    assert_eq!(&got[..4], b"bye ");

    // No disconnect notification for a close the application asked for: the next message is
    // the next client's connect notification.
    let _c2 = client(port);
    let id2 = notification(&mut s, "second connect notification");
    assert_ne!(id2, id);
    let e = s
        .send_multipart([id.clone(), b"late".to_vec()])
        .expect_err("closed");
    assert_eq!(e.kind(), ErrorKind::HostUnreachable);
}

#[test]
fn large_inbound_data_arrives_in_reads_and_each_client_has_its_id() {
    let ctx = Context::new();
    let (mut s, port) = stream_bound(&ctx);
    let mut a = client(port);
    let ida = notification(&mut s, "a connects");
    let mut b = client(port);
    let idb = notification(&mut s, "b connects");
    assert_ne!(ida, idb);

    let big: Vec<u8> = (0..(1 << 20)).map(|i| (i % 251) as u8).collect();
    let writer = {
        let big = big.clone();
        std::thread::spawn(move || {
            a.write_all(&big).expect("write");
            a
        })
    };
    assert_eq!(data(&mut s, &ida, big.len()), big);
    let _a = writer.join().expect("writer");

    b.write_all(b"from b").expect("write");
    assert_eq!(data(&mut s, &idb, 6), b"from b");
    send(&mut s, &[idb.clone(), b"to b".to_vec()], "to b");
    let mut buf = [0u8; 4];
    b.read_exact(&mut buf).expect("read");
    assert_eq!(&buf, b"to b");
}

#[test]
fn connecting_stream_talks_to_a_plain_listener_like_an_http_client() {
    let ctx = Context::new();
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let mut s = socket(&ctx, SocketType::Stream);
    s.connect(&format!("tcp://127.0.0.1:{port}"))
        .expect("connect");
    // The id exists from connect on, and the request can be queued before the connection is.
    let id = s.routing_id();
    assert_eq!(id.len(), 5);
    let request = b"GET / HTTP/1.0\r\n\r\n";
    send(&mut s, &[id.clone(), request.to_vec()], "request");

    let (mut conn, _) = listener.accept().expect("accept");
    conn.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
    let mut got = vec![0u8; request.len()];
    conn.read_exact(&mut got).expect("read request");
    assert_eq!(got, request);
    let response = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    conn.write_all(response).expect("write response");
    drop(conn);

    assert_eq!(notification(&mut s, "connect notification"), id);
    assert_eq!(data(&mut s, &id, response.len()), response);
    assert_eq!(notification(&mut s, "disconnect notification"), id);

    // The connecter reconnects, and the peer keeps its id, as in libzmq.
    let (mut conn, _) = listener.accept().expect("accept the reconnect");
    conn.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
    assert_eq!(notification(&mut s, "reconnect notification"), id);

    // Closing it from the application ends the connection for good: no reconnect follows.
    send(&mut s, &[id.clone(), b"last".to_vec()], "last");
    send(&mut s, &[id.clone(), Vec::new()], "close");
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).expect("read until closed");
    assert_eq!(rest, b"last");
    let e = s
        .send_multipart([id.clone(), b"late".to_vec()])
        .expect_err("closed");
    assert_eq!(e.kind(), ErrorKind::HostUnreachable);
}

#[test]
fn connect_routing_id_names_the_peer() {
    let ctx = Context::new();
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let mut s = socket(&ctx, SocketType::Stream);
    s.set_connect_routing_id(b"web")
        .expect("connect routing id");
    s.connect(&format!("tcp://127.0.0.1:{port}"))
        .expect("connect");
    let (mut conn, _) = listener.accept().expect("accept");
    conn.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
    assert_eq!(notification(&mut s, "connect notification"), b"web");
    send(&mut s, &[b"web".to_vec(), b"ping".to_vec()], "ping");
    let mut buf = [0u8; 4];
    conn.read_exact(&mut buf).expect("read");
    assert_eq!(&buf, b"ping");
}

#[test]
fn stream_notify_off_suppresses_both_notifications() {
    let ctx = Context::new();
    let mut s = socket(&ctx, SocketType::Stream);
    s.set_stream_notify(false).expect("notify off");
    s.bind("tcp://127.0.0.1:*").expect("bind");
    let port: u16 = s
        .last_endpoint()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");

    let mut a = client(port);
    a.write_all(b"a").expect("write");
    let m = recv(&mut s, "first data");
    assert_eq!(m[1], b"a", "no connect notification: {m:?}");
    let ida = m[0].clone();
    drop(a);
    // No disconnect notification either: the next message is the next client's data.
    let mut b = client(port);
    b.write_all(b"b").expect("write");
    let m = recv(&mut s, "second data");
    assert_ne!(m[0], ida);
    assert_eq!(m[1], b"b", "no disconnect notification: {m:?}");
}

#[test]
fn stream_works_over_ipc() {
    let ctx = Context::new();
    let mut s = socket(&ctx, SocketType::Stream);
    s.bind("ipc://*").expect("bind");
    let path = s.last_endpoint()["ipc://".len()..].to_owned();
    let mut c = std::os::unix::net::UnixStream::connect(&path).expect("connect");
    c.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
    let id = notification(&mut s, "connect notification");
    c.write_all(b"hi").expect("write");
    assert_eq!(data(&mut s, &id, 2), b"hi");
    send(&mut s, &[id.clone(), b"ho".to_vec()], "reply");
    send(&mut s, &[id.clone(), Vec::new()], "close");
    let mut got = Vec::new();
    c.read_to_end(&mut got).expect("read until closed");
    assert_eq!(got, b"ho");
}

#[test]
fn monitor_events_are_libzmqs_for_a_raw_peer() {
    // libzmq 4.3.5 (pyzmq) reports LISTENING, ACCEPTED, HANDSHAKE_FAILED_NO_DETAIL and
    // DISCONNECTED for a plain client that connects and leaves: its raw engine has no
    // mechanism, so the disconnect takes the "handshake failed" path, and it never reports
    // HANDSHAKE_SUCCEEDED.
    let ctx = Context::new();
    let mut s = socket(&ctx, SocketType::Stream);
    s.monitor(Some("inproc://stream-monitor"), events::ALL)
        .expect("monitor");
    let mut monitor = Monitor::connect(&ctx, "inproc://stream-monitor").expect("connect");
    monitor
        .socket()
        .set_rcvtimeo(common::IO_TIMEOUT_MS)
        .expect("rcvtimeo");
    s.bind("tcp://127.0.0.1:*").expect("bind");
    let port: u16 = s
        .last_endpoint()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let c = client(port);
    notification(&mut s, "connect notification");
    drop(c);
    notification(&mut s, "disconnect notification");
    let mut seen = Vec::new();
    while seen.last() != Some(&events::DISCONNECTED) {
        seen.push(monitor.recv().expect("event").event);
    }
    assert_eq!(
        seen,
        [
            events::LISTENING,
            events::ACCEPTED,
            events::HANDSHAKE_FAILED_NO_DETAIL,
            events::DISCONNECTED
        ]
    );
}

#[test]
fn a_zmtp_peer_is_just_bytes_to_stream() {
    // STREAM speaks no ZMTP: a DEALER's greeting arrives as data (its 10-byte signature, after
    // which a ZMTP 3 peer waits for ours, which never comes).
    let ctx = Context::new();
    let (mut s, port) = stream_bound(&ctx);
    let mut d = socket(&ctx, SocketType::Dealer);
    d.connect(&format!("tcp://127.0.0.1:{port}"))
        .expect("connect");
    let id = notification(&mut s, "connect notification");
    let sig = data(&mut s, &id, 10);
    assert_eq!(sig[0], 0xff, "{sig:?}");
    assert_eq!(sig[9], 0x7f, "{sig:?}");
}

#[test]
fn stream_options_and_errors_match_libzmq() {
    let ctx = Context::new();
    let mut s = socket(&ctx, SocketType::Stream);
    // STREAM_NOTIFY (73) is 0 or 1, STREAM only, and write-only.
    assert!(s.set_sockopt(73, &1i32.to_ne_bytes()).is_ok());
    let e = s.set_sockopt(73, &2i32.to_ne_bytes()).expect_err("2");
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        s.sockopt(73).expect_err("write-only").kind(),
        ErrorKind::InvalidInput
    );
    let mut d = socket(&ctx, SocketType::Dealer);
    let e = d.set_stream_notify(false).expect_err("dealer");
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    // ROUTER's options are not STREAM's.
    assert_eq!(
        s.set_router_mandatory(true).expect_err("mandatory").kind(),
        ErrorKind::InvalidInput
    );
    // STREAM is always "mandatory": an unknown id fails at once.
    let e = s.send_more("nobody").expect_err("unknown id");
    assert_eq!(e.kind(), ErrorKind::HostUnreachable);
    assert_eq!(s.routing_id(), b"", "no id before the first peer");
}

// ---------------------------------------------------------------------------------------------
// Against libzmq's STREAM

struct PyPeer {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl PyPeer {
    fn spawn(role: &str, endpoint: &str) -> PyPeer {
        let script = repo_root().join("tests/interop/stream_peer.py");
        let mut child = Command::new(python())
            .arg(script)
            .args([role, endpoint])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("start stream_peer.py");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        PyPeer { child, lines }
    }

    /// The next line starting with `READY `, `OK` or `FAIL`, skipping `GOT` lines.
    fn expect(&mut self, prefix: &str) -> String {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(l) if l.starts_with("GOT ") => seen.push(l),
                Ok(l) if l.starts_with(prefix) => return l,
                Ok(l) => panic!("expected {prefix}, got {l:?} after {seen:?}"),
                Err(_) => panic!("no {prefix} from stream_peer.py after {seen:?}"),
            }
        }
    }
}

impl Drop for PyPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn interop_oxmq_connects_to_libzmq_stream() {
    let mut peer = PyPeer::spawn("server", "tcp://127.0.0.1:*");
    let endpoint = peer.expect("READY ")["READY ".len()..].to_owned();
    let ctx = Context::new();
    let mut s = socket(&ctx, SocketType::Stream);
    s.connect(&endpoint).expect("connect");
    let id = notification(&mut s, "connect notification");
    send(&mut s, &[id.clone(), b"ping".to_vec()], "ping");
    assert_eq!(data(&mut s, &id, 4), b"pong");
    assert_eq!(notification(&mut s, "closed by libzmq"), id);
    peer.expect("OK");
}

#[test]
fn interop_libzmq_connects_to_oxmq_stream() {
    let ctx = Context::new();
    let (mut s, port) = stream_bound(&ctx);
    let mut peer = PyPeer::spawn("client", &format!("tcp://127.0.0.1:{port}"));
    peer.expect("READY ");
    let id = notification(&mut s, "connect notification");
    assert_eq!(data(&mut s, &id, 5), b"hello");
    send(&mut s, &[id.clone(), b"world".to_vec()], "world");
    send(&mut s, &[id.clone(), Vec::new()], "close");
    peer.expect("OK");
}
