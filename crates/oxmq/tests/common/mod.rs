//! Shared support for oxmq's integration tests: the pyzmq peer launcher, the message sets that
//! tests/interop/peer.py also knows, the test's side of each peer scenario, and a raw TCP client
//! that misbehaves on purpose.
//!
//! Everything here is bounded in time: oxmq sockets get RCVTIMEO/SNDTIMEO, every wait for a line
//! from a peer has a deadline, the peer kills itself after its own watchdog, and dropping a
//! [`Peer`] kills the process.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::{BufRead, BufReader, ErrorKind as IoErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use oxmq::{Context, Msg, Socket, SocketType};

/// RCVTIMEO and SNDTIMEO of every test socket: a test that waits longer than this has failed.
pub(crate) const IO_TIMEOUT_MS: i32 = 10_000;
/// How long to wait for one line from a peer.
pub(crate) const LINE_TIMEOUT: Duration = Duration::from_secs(20);
/// The size of the "large message" cases.
pub(crate) const BIG: usize = 16 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Sockets

/// A socket of type `ty` whose blocking calls give up after [`IO_TIMEOUT_MS`].
pub(crate) fn socket(ctx: &Context, ty: SocketType) -> Socket {
    let mut s = ctx
        .socket(ty)
        .unwrap_or_else(|e| panic!("socket({ty:?}): {e:?}"));
    s.set_rcvtimeo(IO_TIMEOUT_MS).expect("set_rcvtimeo");
    s.set_sndtimeo(IO_TIMEOUT_MS).expect("set_sndtimeo");
    s.set_linger(1000).expect("set_linger");
    s.set_reconnect_ivl(50).expect("set_reconnect_ivl");
    s
}

/// A message as a list of frames, for comparisons and printing.
pub(crate) type Frames = Vec<Vec<u8>>;

/// Receives one whole message, panicking with `what` on timeout or error.
pub(crate) fn recv(sock: &mut Socket, what: &str) -> Frames {
    match sock.recv_multipart() {
        Ok(parts) => parts.iter().map(|m| m.data().to_vec()).collect(),
        Err(e) => panic!("{:?}: receiving {what}: {e:?}", sock.socket_type()),
    }
}

/// Sends one whole message, panicking with `what` on timeout or error.
pub(crate) fn send(sock: &mut Socket, frames: &[Vec<u8>], what: &str) {
    let parts: Vec<Msg> = frames.iter().map(|f| Msg::from(f.as_slice())).collect();
    if let Err(e) = sock.send_multipart(parts) {
        panic!("{:?}: sending {what}: {e:?}", sock.socket_type());
    }
}

/// Builds a message from string-ish frames: `msg(&["A", "", "b"])`.
pub(crate) fn msg<T: AsRef<[u8]>>(frames: &[T]) -> Frames {
    frames.iter().map(|f| f.as_ref().to_vec()).collect()
}

/// A short printable form of a message for assertion messages (large frames abbreviated).
pub(crate) fn show(frames: &[Vec<u8>]) -> String {
    let parts: Vec<String> = frames
        .iter()
        .map(|f| {
            if f.len() <= 40 {
                format!("{:?}", String::from_utf8_lossy(f))
            } else {
                format!("<{} bytes {:?}...>", f.len(), &f[..16])
            }
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Panics unless `got == want`, printing both compactly (a 16 MiB diff helps no one).
pub(crate) fn assert_msg(got: &[Vec<u8>], want: &[Vec<u8>], what: &str) {
    if got != want {
        panic!("{what}: expected {}, got {}", show(want), show(got));
    }
}

// ---------------------------------------------------------------------------------------------
// The message sets; tests/interop/peer.py has the same definitions.

/// Message number `i` of a source/sink run: `b"%08d" % i`, or `size` bytes where byte j is
/// `(i + j) % 251`.
pub(crate) fn payload(i: usize, size: Option<usize>) -> Vec<u8> {
    match size {
        None => format!("{i:08}").into_bytes(),
        Some(size) => (0..size).map(|j| ((i + j) % 251) as u8).collect(),
    }
}

/// What a `client` sends, each expected back unchanged; the last one is `[END]`.
pub(crate) fn standard_messages(size: Option<usize>) -> Vec<Frames> {
    let mut msgs = vec![
        msg(&["hello"]),
        msg(&["", "a", "", ""]),
        msg(&[""]),
        msg(&["multi", "part", "message"]),
        vec![(0..=255u8).collect()],
        // 300 frames of 0 to 299 bytes: short and long frame headers, empty frames, mixed.
        (0..300usize)
            .map(|i| vec![(i % 256) as u8; i * 7 % 300])
            .collect(),
    ];
    if let Some(size) = size {
        msgs.push(vec![payload(0, Some(size))]);
    }
    msgs.extend((0..10).map(|i| vec![format!("msg-{i}").into_bytes()]));
    msgs.push(msg(&["END"]));
    msgs
}

/// What a `pub` peer publishes after GO.
pub(crate) fn topic_set() -> Vec<Frames> {
    vec![
        msg(&["A.1"]),
        msg(&["C.1"]),
        msg(&["B"]),
        msg(&["A.multi", "", "part"]),
        msg(&["A"]),
        msg(&[""]),
        msg(&["Bx"]),
        msg(&["A.2"]),
        msg(&["END"]),
    ]
}

/// The topics a `sub` peer subscribes to by default.
pub(crate) const SUBSCRIBER_TOPICS: [&str; 4] = ["A.", "B", "sync", "END"];

/// What a subscriber to [`SUBSCRIBER_TOPICS`] receives of [`topic_set`].
pub(crate) fn expected_for_subscriber() -> Vec<Frames> {
    vec![
        msg(&["A.1"]),
        msg(&["B"]),
        msg(&["A.multi", "", "part"]),
        msg(&["Bx"]),
        msg(&["A.2"]),
        msg(&["END"]),
    ]
}

// ---------------------------------------------------------------------------------------------
// The oxmq side of each scenario

/// Echoes every message back until one whose last frame is `END` (echoed too). Returns the
/// messages received.
pub(crate) fn echo_until_end(sock: &mut Socket) -> Vec<Frames> {
    let mut seen = Vec::new();
    loop {
        let frames = recv(sock, &format!("message {} to echo", seen.len()));
        send(sock, &frames, "an echo");
        let end = frames.last().map(|f| f.as_slice()) == Some(b"END");
        seen.push(frames);
        if end {
            return seen;
        }
    }
}

/// Sends every standard message (prefixed by `prefix`) and expects each back unchanged.
pub(crate) fn client(sock: &mut Socket, prefix: &[Vec<u8>], size: Option<usize>) {
    for (i, m) in standard_messages(size).into_iter().enumerate() {
        let mut frames = prefix.to_vec();
        frames.extend(m);
        send(sock, &frames, &format!("message {i}"));
        let reply = recv(sock, &format!("the reply to message {i}"));
        assert_msg(&reply, &frames, &format!("reply to message {i}"));
    }
}

/// Sends `count` numbered messages, then `END`.
pub(crate) fn source(sock: &mut Socket, count: usize, size: Option<usize>) {
    for i in 0..count {
        send(sock, &[payload(i, size)], &format!("message {i}"));
    }
    send(sock, &msg(&["END"]), "END");
}

/// Receives `count` numbered messages in order, then `END`.
pub(crate) fn sink(sock: &mut Socket, count: usize, size: Option<usize>) {
    for i in 0..count {
        let got = recv(sock, &format!("message {i} of {count}"));
        if got.len() != 1 || got[0] != payload(i, size) {
            panic!(
                "message {i} of {count}: expected {}, got {}",
                show(&[payload(i, size)]),
                show(&got)
            );
        }
    }
    assert_msg(
        &recv(sock, "END"),
        &msg(&["END"]),
        "after the numbered messages",
    );
}

// ---------------------------------------------------------------------------------------------
// The pyzmq peer

/// Which side binds; the other connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    /// oxmq binds, pyzmq connects.
    OxmqBinds,
    /// pyzmq binds, oxmq connects.
    PyzmqBinds,
}

/// The transport (and, for tcp, the loopback address) to test on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// tcp on 127.0.0.1
    V4,
    /// tcp on [::1]
    V6,
    /// ipc (Unix domain sockets)
    Ipc,
    /// inproc (oxmq to oxmq only, same context)
    Inproc,
}

impl Family {
    /// An endpoint to bind: the wildcard-port or wildcard-path form, or a fresh inproc name.
    pub(crate) fn wildcard(self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        match self {
            Family::V4 => "tcp://127.0.0.1:*".into(),
            Family::V6 => "tcp://[::1]:*".into(),
            Family::Ipc => "ipc://*".into(),
            Family::Inproc => format!(
                "inproc://oxmq-test-{}",
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }
}

/// Connects `sock` and a new pyzmq peer running `args` (a peer.py command line without
/// `--bind`/`--connect`) over IPv4 loopback, binding on the side `dir` says.
pub(crate) fn link(sock: &mut Socket, dir: Dir, args: &[&str]) -> Peer {
    link_on(sock, dir, Family::V4, args)
}

/// [`link`] on a given address family.
pub(crate) fn link_on(sock: &mut Socket, dir: Dir, family: Family, args: &[&str]) -> Peer {
    let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    if family == Family::V6 {
        args.push("--ipv6".into());
        sock.set_ipv6(true).expect("set_ipv6");
    }
    assert!(
        family != Family::Inproc,
        "pyzmq cannot join an oxmq inproc endpoint"
    );
    let wildcard = family.wildcard();
    match dir {
        Dir::OxmqBinds => {
            sock.bind(&wildcard)
                .unwrap_or_else(|e| panic!("bind {wildcard}: {e:?}"));
            let ep = sock.last_endpoint();
            args.extend(["--connect".to_string(), ep]);
            let mut peer = Peer::spawn(&args);
            peer.expect("READY ");
            peer
        }
        Dir::PyzmqBinds => {
            args.extend(["--bind".to_string(), wildcard]);
            let mut peer = Peer::spawn(&args);
            let ep = peer.expect_ready();
            sock.connect(&ep)
                .unwrap_or_else(|e| panic!("connect {ep}: {e:?}"));
            peer
        }
    }
}

/// A running tests/interop/peer.py process. Killed when dropped; if the test is failing, what
/// the peer printed goes to stderr, which the test harness shows.
pub(crate) struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    args: Vec<String>,
}

impl Peer {
    /// Starts `python peer.py ARGS`.
    pub(crate) fn spawn<S: AsRef<str>>(args: &[S]) -> Peer {
        let args: Vec<String> = args.iter().map(|s| s.as_ref().to_string()).collect();
        let mut child = Command::new(python())
            .arg("-u")
            .arg(repo_root().join("tests/interop/peer.py"))
            .args(&args)
            // libzmq makes `ipc://*` paths under TMPDIR, or in the working directory without it.
            .env("TMPDIR", std::env::temp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python().display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut text = String::new();
            let mut reader = BufReader::new(stderr_pipe);
            loop {
                text.clear();
                match reader.read_line(&mut text) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => sink.lock().map(|mut s| s.push_str(&text)).unwrap_or(()),
                }
            }
        });
        Peer {
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
            stderr,
            args,
        }
    }

    /// Waits for `READY <endpoint>` and returns the endpoint.
    pub(crate) fn expect_ready(&mut self) -> String {
        let line = self.expect("READY ");
        line["READY ".len()..].to_string()
    }

    /// The next line, or None on timeout or end of output.
    pub(crate) fn next_line(&mut self, timeout: Duration) -> Option<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                self.seen.push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Reads lines until one starts with `prefix` and returns it; panics on a FAIL line, on
    /// the end of the peer's output, or after [`LINE_TIMEOUT`].
    pub(crate) fn expect(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + LINE_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                    if line.starts_with("FAIL") {
                        panic!("pyzmq peer failed while we waited for {prefix:?}: {line}");
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("pyzmq peer: no {prefix:?} line within {LINE_TIMEOUT:?}")
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.wait_exit(Duration::from_secs(5));
                    panic!("pyzmq peer exited ({status:?}) before printing {prefix:?}");
                }
            }
        }
    }

    /// Writes one line to the peer's stdin.
    pub(crate) fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("peer stdin");
        writeln!(stdin, "{line}")
            .and_then(|_| stdin.flush())
            .unwrap_or_else(|e| panic!("writing {line:?} to the peer: {e}"));
    }

    /// Waits for `OK` and a successful exit; returns every line the peer printed.
    pub(crate) fn finish(mut self) -> Vec<String> {
        self.expect("OK");
        let status = self.wait_exit(LINE_TIMEOUT);
        match status {
            Some(s) if s.success() => {}
            other => panic!("pyzmq peer said OK but exited with {other:?}"),
        }
        std::mem::take(&mut self.seen)
    }

    /// Every line seen so far that starts with `prefix`, without the prefix.
    pub(crate) fn lines_with(&self, prefix: &str) -> Vec<String> {
        self.seen
            .iter()
            .filter_map(|l| l.strip_prefix(prefix).map(str::to_string))
            .collect()
    }

    /// Kills the process (SIGKILL) and waits for it.
    /// The peer's process id (to freeze it with SIGSTOP, say).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                _ => return None,
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            while let Ok(line) = self.lines.try_recv() {
                self.seen.push(line);
            }
            let stderr = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
            eprintln!(
                "---- pyzmq peer `peer.py {}`\nstdout:\n  {}\nstderr:\n{}----",
                self.args.join(" "),
                self.seen.join("\n  "),
                stderr
            );
        }
    }
}

/// The repository root.
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python interpreter that has pyzmq: `$OXMQ_PYTHON`, else `.venv/bin/python` at the
/// repository root. Panics with instructions if there is none: the interop tests never skip.
pub(crate) fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let candidate = match std::env::var_os("OXMQ_PYTHON") {
            Some(p) => PathBuf::from(p),
            None => repo_root().join(".venv/bin/python"),
        };
        let probe = Command::new(&candidate)
            .args(["-c", "import zmq; print(zmq.zmq_version())"])
            .output();
        match probe {
            Ok(out) if out.status.success() => candidate,
            _ => panic!(
                "\n\nThe interop tests need a Python with pyzmq, and {} is not one.\n\
                 Run `scripts/test` (it creates .venv), or:\n    \
                 python3 -m venv .venv && .venv/bin/pip install -r tests/interop/requirements.txt\n\
                 or point OXMQ_PYTHON at a python that can `import zmq`.\n",
                candidate.display()
            ),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// A raw TCP client that misbehaves

/// One way of misbehaving at a ZMTP server.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Hostile {
    /// A ZMTP 3.0 greeting that names a mechanism that does not exist.
    UnknownMechanism,
    /// 64 bytes of 0xFF: a signature followed by nonsense.
    GarbageGreeting,
    /// A good handshake, then half a frame and end of stream.
    TruncatedFrame,
    /// A good handshake, then the header of a frame of this many bytes (more than MAXMSGSIZE).
    OversizedFrame(u64),
    /// A good greeting, then READY announcing a socket type the server cannot talk to.
    IncompatibleSocketType,
}

/// A 64-byte ZMTP 3.0 greeting.
pub(crate) fn greeting(mechanism: &[u8], as_server: bool) -> Vec<u8> {
    let mut g = vec![0u8; 64];
    g[0] = 0xFF;
    g[8] = 0x01; // libzmq sends a padding of 1 (the length of its identity, in ZMTP 1.0 terms)
    g[9] = 0x7F;
    g[10] = 3;
    g[11] = 0;
    g[12..12 + mechanism.len()].copy_from_slice(mechanism);
    g[32] = as_server as u8;
    g
}

/// A READY command frame announcing `socket_type`.
pub(crate) fn ready(socket_type: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.push(5);
    body.extend_from_slice(b"READY");
    body.push(11);
    body.extend_from_slice(b"Socket-Type");
    body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    body.extend_from_slice(socket_type.as_bytes());
    let mut frame = vec![0x04, body.len() as u8];
    frame.extend(body);
    frame
}

/// Connects to `addr`, misbehaves as `how` (as a PUSH peer), and panics unless the server
/// drops the connection (end of stream or reset) within `within`.
pub(crate) fn assert_dropped(addr: SocketAddr, how: Hostile, within: Duration) {
    let start = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, within)
        .unwrap_or_else(|e| panic!("{how:?}: connect {addr}: {e}"));
    s.set_nodelay(true).ok();
    let handshake = |s: &mut TcpStream| {
        s.write_all(&greeting(b"NULL", false))?;
        s.write_all(&ready("PUSH"))
    };
    let sent = match how {
        Hostile::UnknownMechanism => s.write_all(&greeting(b"BOGUS", false)),
        Hostile::GarbageGreeting => s.write_all(&[0xFF; 64]),
        Hostile::TruncatedFrame => handshake(&mut s).and_then(|_| {
            let mut f = vec![0x02];
            f.extend_from_slice(&1000u64.to_be_bytes());
            f.extend_from_slice(&[b'x'; 10]);
            s.write_all(&f)?;
            s.shutdown(Shutdown::Write)
        }),
        Hostile::OversizedFrame(size) => handshake(&mut s).and_then(|_| {
            let mut f = vec![0x02];
            f.extend_from_slice(&size.to_be_bytes());
            f.extend_from_slice(&[b'x'; 100]);
            s.write_all(&f)
        }),
        Hostile::IncompatibleSocketType => s
            .write_all(&greeting(b"NULL", false))
            .and_then(|_| s.write_all(&ready("PUB"))),
    };
    // The server may already have hung up on us while we were still writing.
    if let Err(e) = sent {
        if is_hangup(&e) {
            return;
        }
        panic!("{how:?}: write: {e}");
    }
    let mut buf = [0u8; 4096];
    loop {
        let left = within.saturating_sub(start.elapsed());
        if left.is_zero() {
            panic!("{how:?}: the server did not drop the connection within {within:?}");
        }
        s.set_read_timeout(Some(left)).expect("set_read_timeout");
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue, // the server's greeting, READY or ERROR: keep reading
            Err(e) if is_hangup(&e) => return,
            Err(e) if matches!(e.kind(), IoErrorKind::WouldBlock | IoErrorKind::TimedOut) => {
                panic!("{how:?}: the server did not drop the connection within {within:?}")
            }
            Err(e) if e.kind() == IoErrorKind::Interrupted => continue,
            Err(e) => panic!("{how:?}: read: {e}"),
        }
    }
}

fn is_hangup(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        IoErrorKind::ConnectionReset | IoErrorKind::BrokenPipe | IoErrorKind::ConnectionAborted
    )
}

/// The socket address of a `tcp://host:port` endpoint.
pub(crate) fn tcp_addr(endpoint: &str) -> SocketAddr {
    let rest = endpoint
        .strip_prefix("tcp://")
        .unwrap_or_else(|| panic!("not a tcp endpoint: {endpoint}"));
    rest.parse()
        .unwrap_or_else(|e| panic!("cannot parse {rest}: {e}"))
}

/// Whether this machine has an IPv6 loopback address to test on.
pub(crate) fn have_ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

// ---------------------------------------------------------------------------------------------
// Shared test bodies

/// Defines, for each `name => case`, a module of tests running `case(dir, family)` with each
/// side binding over IPv4 tcp, and over ipc too when `ipc` follows.
#[allow(unused_macros)] // each test binary uses its own subset
macro_rules! both_ways {
    ($($name:ident => $case:path $(, $extra:ident)*;)*) => {$(
        mod $name {
            use super::{Dir, Family};
            #[test]
            fn oxmq_binds() {
                $case(Dir::OxmqBinds, Family::V4)
            }
            #[test]
            fn pyzmq_binds() {
                $case(Dir::PyzmqBinds, Family::V4)
            }
            $($crate::common::both_ways!(@$extra $case);)*
        }
    )*};
    (@ipc $case:path) => {
        #[test]
        fn ipc_oxmq_binds() {
            $case(Dir::OxmqBinds, Family::Ipc)
        }
        #[test]
        fn ipc_pyzmq_binds() {
            $case(Dir::PyzmqBinds, Family::Ipc)
        }
    };
}
#[allow(unused_imports)]
pub(crate) use both_ways;

/// Publishes [sync] until the pyzmq subscriber reports one (the slow-joiner effect: until its
/// subscriptions arrive, a PUB drops everything), bounded.
pub(crate) fn publish_until_subscribed(s: &mut Socket, peer: &mut Peer) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let sync = frames_text(&msg(&["sync"]));
    loop {
        send(s, &msg(&["sync"]), "sync");
        while let Some(line) = peer.next_line(Duration::from_millis(20)) {
            if line.strip_prefix("GOT ") == Some(sync.as_str()) {
                return;
            }
            assert!(!line.starts_with("FAIL"), "pyzmq subscriber: {line}");
        }
        assert!(
            Instant::now() < deadline,
            "the pyzmq subscriber never received a sync message"
        );
    }
}

pub(crate) fn check_subscriber_lines(lines: Vec<String>) {
    let sync = frames_text(&msg(&["sync"]));
    let got: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("GOT "))
        .filter(|g| *g != sync)
        .collect();
    let want: Vec<String> = expected_for_subscriber()
        .iter()
        .map(|m| frames_text(m))
        .collect();
    assert_eq!(got, want, "what the pyzmq subscriber received");
}

pub(crate) fn frames_text(frames: &[Vec<u8>]) -> String {
    frames
        .iter()
        .map(|f| format!("x{}", hex(f)))
        .collect::<Vec<_>>()
        .join(",")
}

/// `bytes` in lower-case hex, as peer.py prints them.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `s`, a PUB, publishes the topic set to a pyzmq SUB (peer.py `sub`, with `extra` arguments)
/// subscribed to A., B, sync and END, which must receive exactly `expected_for_subscriber()`.
pub(crate) fn publish_to_pyzmq_sub(s: &mut Socket, dir: Dir, family: Family, extra: &[&str]) {
    let mut args = vec!["sub", "--type", "SUB"];
    args.extend_from_slice(extra);
    let mut peer = link_on(s, dir, family, &args);
    publish_until_subscribed(s, &mut peer);
    for m in topic_set() {
        send(s, &m, "a topic message");
    }
    check_subscriber_lines(peer.finish());
}
