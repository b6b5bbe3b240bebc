//! [`proxy`] and [`proxy_steerable`]: the built-in device that shuttles messages between a
//! frontend and a backend socket, as `zmq_proxy` and `zmq_proxy_steerable` do.
//!
//! Contract:
//! - Both calls run on the calling thread until they stop: [`proxy`] only on an error (as
//!   `zmq_proxy`, it never returns `Ok`), [`proxy_steerable`] with `Ok(())` when `TERMINATE`
//!   arrives on its control socket, or on an error.
//! - Messages move whole, frame by frame with MORE preserved, from frontend to backend and, when
//!   the socket types allow it, from backend to frontend. A direction moves only while its
//!   destination reports [`POLLOUT`] (checked before each message), so a destination at its
//!   high-water mark holds back that direction alone, never the other one or the control socket.
//! - While nothing can move, the proxy sleeps in [`poll`] on exactly what would let something
//!   move: [`POLLIN`] on a source whose destination is writable, [`POLLOUT`] on a destination
//!   whose source has a message waiting, [`POLLIN`] on the control socket. It never spins.
//! - Each direction moves at most [`BURST`] messages before the proxy looks at the other
//!   direction and the control socket again, so every pass of the loop is bounded.
//! - The capture socket, if any, gets a copy of every frame that moves, in either direction,
//!   with its MORE flag, before the frame is forwarded. It should be a socket that does not block
//!   (PUB, or a PUSH/DEALER/PAIR whose reader keeps up): a capture send blocks the proxy.
//!
//! Typical pairs (libzmq's): ROUTER/DEALER (shared queue between REQ clients and REP workers),
//! XSUB/XPUB (forwarder: messages flow down, subscriptions up), PULL/PUSH (streamer).

use oxmq_proto::{Msg, SocketType};

use crate::error::{Error, ErrorKind, Result};
use crate::poll::{poll, PollItem};
use crate::socket::{Socket, POLLIN, POLLOUT};

/// Runs a proxy between `frontend` and `backend` on the calling thread, copying every frame to
/// `capture` if given (`zmq_proxy`).
///
/// Returns only when a socket operation fails (for example `ETERM` once the context is
/// terminated, or EHOSTUNREACH from a ROUTER_MANDATORY destination); it never returns `Ok`.
/// Use [`proxy_steerable`] for a proxy that can be paused and stopped.
///
/// A PULL/PUSH streamer:
/// ```
/// use oxmq::{proxy, Context, SocketType};
///
/// let ctx = Context::new();
/// let mut frontend = ctx.socket(SocketType::Pull)?;
/// frontend.bind("inproc://proxy-doc-in")?;
/// let mut backend = ctx.socket(SocketType::Push)?;
/// backend.bind("inproc://proxy-doc-out")?;
/// // The proxy runs for the rest of the program's life.
/// std::thread::spawn(move || proxy(&mut frontend, &mut backend, None));
///
/// let mut producer = ctx.socket(SocketType::Push)?;
/// producer.connect("inproc://proxy-doc-in")?;
/// let mut consumer = ctx.socket(SocketType::Pull)?;
/// consumer.connect("inproc://proxy-doc-out")?;
/// producer.send_multipart(["job", "42"])?;
/// let parts = consumer.recv_multipart()?;
/// assert_eq!(parts[0].data(), b"job");
/// assert_eq!(parts[1].data(), b"42");
/// # Ok::<(), oxmq::Error>(())
/// ```
pub fn proxy(
    frontend: &mut Socket,
    backend: &mut Socket,
    capture: Option<&mut Socket>,
) -> Result<()> {
    Proxy::new(frontend, backend, capture, None).run()
}

/// Runs a proxy like [`proxy`], steered by commands received on `control`
/// (`zmq_proxy_steerable`). Returns `Ok(())` when `TERMINATE` arrives.
///
/// Each frame received on `control` is one command:
/// - `PAUSE`: stop moving messages (they wait in the sockets' queues, up to their HWM).
/// - `RESUME`: move messages again.
/// - `TERMINATE`: return `Ok(())`. Messages not yet moved stay where they are.
/// - `STATISTICS`: reply on `control` with 8 frames, each a native-endian `u64` (see
///   [`ProxyStatistics`]); the state does not change.
///
/// Anything else is ignored. A REP control socket gets an empty reply to every command but
/// `STATISTICS`, so that it can take the next one; other types get no reply. Control frames are
/// not copied to `capture`. Errors sending a reply (a SUB control socket asked for
/// `STATISTICS`, a REP asked with a multipart message) end the proxy with that error.
///
/// Where libzmq 4.3.5 differs, oxmq follows the manual page and libzmq's later fix (zeromq/libzmq
/// pull request 4600): 4.3.5 swaps PAUSE and RESUME and replies to every command on any control
/// socket type.
///
/// ```
/// use oxmq::{proxy_steerable, Context, ProxyStatistics, SocketType};
///
/// let ctx = Context::new();
/// let mut frontend = ctx.socket(SocketType::Pull)?;
/// frontend.bind("inproc://steer-doc-in")?;
/// let mut backend = ctx.socket(SocketType::Push)?;
/// backend.bind("inproc://steer-doc-out")?;
/// let mut control = ctx.socket(SocketType::Pair)?;
/// control.bind("inproc://steer-doc-control")?;
/// let proxy = std::thread::spawn(move || {
///     proxy_steerable(&mut frontend, &mut backend, None, &mut control)
/// });
///
/// let mut producer = ctx.socket(SocketType::Push)?;
/// producer.connect("inproc://steer-doc-in")?;
/// let mut consumer = ctx.socket(SocketType::Pull)?;
/// consumer.connect("inproc://steer-doc-out")?;
/// let mut steer = ctx.socket(SocketType::Pair)?;
/// steer.connect("inproc://steer-doc-control")?;
///
/// producer.send_multipart(["two", "frames"])?;
/// assert_eq!(consumer.recv_multipart()?.len(), 2);
/// steer.send("STATISTICS")?;
/// let stats = ProxyStatistics::from_reply(&steer.recv_multipart()?)?;
/// assert_eq!(stats.frontend.msgs_in, 2); // frames, not messages
/// assert_eq!(stats.backend.bytes_out, 9);
/// steer.send("TERMINATE")?;
/// proxy.join().expect("proxy thread")?;
/// # Ok::<(), oxmq::Error>(())
/// ```
pub fn proxy_steerable(
    frontend: &mut Socket,
    backend: &mut Socket,
    capture: Option<&mut Socket>,
    control: &mut Socket,
) -> Result<()> {
    Proxy::new(frontend, backend, capture, Some(control)).run()
}

/// What a steerable proxy counted, as its reply to `STATISTICS` carries it.
///
/// As in libzmq, every frame counts as one message, and bytes are frame body bytes.
///
/// ```
/// use oxmq::{Msg, ProxyCounters, ProxyStatistics};
///
/// let reply: Vec<Msg> = (1..=8u64).map(|v| Msg::from(v.to_ne_bytes().to_vec())).collect();
/// let stats = ProxyStatistics::from_reply(&reply)?;
/// assert_eq!(stats.frontend, ProxyCounters { msgs_in: 1, bytes_in: 2, msgs_out: 3, bytes_out: 4 });
/// assert_eq!(stats.backend.bytes_out, 8);
/// # Ok::<(), oxmq::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStatistics {
    /// The frontend socket's counters.
    pub frontend: ProxyCounters,
    /// The backend socket's counters.
    pub backend: ProxyCounters,
}

/// One proxied socket's counters (see [`ProxyStatistics`]).
///
/// ```
/// let c = oxmq::ProxyCounters::default();
/// assert_eq!(c.msgs_in + c.msgs_out, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyCounters {
    /// Frames received on this socket.
    pub msgs_in: u64,
    /// Bytes received on this socket.
    pub bytes_in: u64,
    /// Frames sent on this socket.
    pub msgs_out: u64,
    /// Bytes sent on this socket.
    pub bytes_out: u64,
}

impl ProxyStatistics {
    /// Parses a proxy's reply to `STATISTICS`: 8 frames of 8 bytes, native-endian, in the order
    /// frontend (msgs in, bytes in, msgs out, bytes out), then backend the same.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] if `frames` is not 8 frames of 8 bytes.
    ///
    /// ```
    /// use oxmq::{Msg, ProxyStatistics};
    /// let short = [Msg::from("not statistics")];
    /// assert!(ProxyStatistics::from_reply(&short).is_err());
    /// ```
    pub fn from_reply(frames: &[Msg]) -> Result<ProxyStatistics> {
        if frames.len() != 8 {
            return Err(Error::new(ErrorKind::InvalidInput));
        }
        let mut v = [0u64; 8];
        for (slot, frame) in v.iter_mut().zip(frames) {
            let bytes: [u8; 8] = frame
                .data()
                .try_into()
                .map_err(|_| Error::new(ErrorKind::InvalidInput))?;
            *slot = u64::from_ne_bytes(bytes);
        }
        Ok(ProxyStatistics {
            frontend: ProxyCounters {
                msgs_in: v[0],
                bytes_in: v[1],
                msgs_out: v[2],
                bytes_out: v[3],
            },
            backend: ProxyCounters {
                msgs_in: v[4],
                bytes_in: v[5],
                msgs_out: v[6],
                bytes_out: v[7],
            },
        })
    }

    fn values(&self) -> [u64; 8] {
        let (f, b) = (&self.frontend, &self.backend);
        [
            f.msgs_in,
            f.bytes_in,
            f.msgs_out,
            f.bytes_out,
            b.msgs_in,
            b.bytes_in,
            b.msgs_out,
            b.bytes_out,
        ]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Active,
    Paused,
    Terminated,
}

struct Proxy<'a> {
    frontend: &'a mut Socket,
    backend: &'a mut Socket,
    capture: Option<&'a mut Socket>,
    control: Option<&'a mut Socket>,
    state: State,
    stats: ProxyStatistics,
}

impl<'a> Proxy<'a> {
    fn new(
        frontend: &'a mut Socket,
        backend: &'a mut Socket,
        capture: Option<&'a mut Socket>,
        control: Option<&'a mut Socket>,
    ) -> Proxy<'a> {
        Proxy {
            frontend,
            backend,
            capture,
            control,
            state: State::Active,
            stats: ProxyStatistics::default(),
        }
    }

    fn run(mut self) -> Result<()> {
        loop {
            // Look at everything without blocking, then move what can move.
            let front = self.frontend.events();
            let back = self.backend.events();
            let mut moved = false;
            if let Some(control) = self.control.as_deref_mut() {
                if control.events() & POLLIN != 0 {
                    self.state = handle_control(control, self.state, &self.stats)?;
                    if self.state == State::Terminated {
                        return Ok(());
                    }
                    moved = true;
                }
            }
            if self.state == State::Active {
                let s = &mut self.stats;
                if front & POLLIN != 0 && back & POLLOUT != 0 {
                    let (from, to) = (&mut s.frontend, &mut s.backend);
                    let cap = self.capture.as_deref_mut();
                    moved |= forward(self.frontend, self.backend, cap, from, to)? > 0;
                }
                if back & POLLIN != 0 && front & POLLOUT != 0 {
                    let (from, to) = (&mut s.backend, &mut s.frontend);
                    let cap = self.capture.as_deref_mut();
                    moved |= forward(self.backend, self.frontend, cap, from, to)? > 0;
                }
            }
            if !moved {
                self.wait(front, back)?;
            }
        }
    }

    /// Sleeps until something that is stuck now could move: the source of a direction becomes
    /// readable, or, if it already is, its destination becomes writable; or a command arrives.
    fn wait(&mut self, front: u32, back: u32) -> Result<()> {
        let (mut want_front, mut want_back) = (0, 0);
        if self.state == State::Active {
            if front & POLLIN == 0 {
                want_front |= POLLIN;
            } else {
                want_back |= POLLOUT;
            }
            if back & POLLIN == 0 {
                want_back |= POLLIN;
            } else {
                want_front |= POLLOUT;
            }
        }
        let mut items = Vec::with_capacity(3);
        if want_front != 0 {
            items.push(PollItem::socket(self.frontend, want_front));
        }
        if want_back != 0 {
            items.push(PollItem::socket(self.backend, want_back));
        }
        if let Some(control) = self.control.as_deref_mut() {
            items.push(PollItem::socket(control, POLLIN));
        }
        poll(&mut items, -1).map(drop)
    }
}

/// Moves up to [`BURST`] whole messages from `from` to `to` while `to` can take them, copying
/// each frame to `capture`. Returns how many messages moved.
fn forward(
    from: &mut Socket,
    to: &mut Socket,
    mut capture: Option<&mut Socket>,
    from_stats: &mut ProxyCounters,
    to_stats: &mut ProxyCounters,
) -> Result<usize> {
    // These types accept every send at once (they drop rather than block), so asking them
    // for POLLOUT before each message would only cost a system call.
    let always_writable = matches!(
        to.socket_type(),
        SocketType::Pub | SocketType::XPub | SocketType::XSub
    );
    for n in 0..BURST {
        if !always_writable && to.events() & POLLOUT == 0 {
            return Ok(n);
        }
        let mut frame = match from.try_recv() {
            Ok(frame) => frame,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(n),
            Err(e) => return Err(e),
        };
        loop {
            let more = frame.more();
            let len = frame.len() as u64;
            from_stats.msgs_in += 1;
            from_stats.bytes_in += len;
            if let Some(cap) = capture.as_deref_mut() {
                cap.send(frame.clone())?;
            }
            // Once the first frame is in, the rest of the message is accepted without waiting.
            to.send(frame)?;
            to_stats.msgs_out += 1;
            to_stats.bytes_out += len;
            if !more {
                break;
            }
            // The rest of a message arrives with its first frame, so this does not wait.
            frame = from.recv()?;
        }
    }
    Ok(BURST)
}

/// Handles one command frame from `control`; returns the proxy's new state.
fn handle_control(control: &mut Socket, state: State, stats: &ProxyStatistics) -> Result<State> {
    let command = match control.try_recv() {
        Ok(frame) => frame,
        Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(state),
        Err(e) => return Err(e),
    };
    let next = match command.data() {
        b"STATISTICS" => {
            let values = stats.values();
            let last = values.len() - 1;
            for (i, v) in values.into_iter().enumerate() {
                control.send(Msg::from(&v.to_ne_bytes()).with_more(i < last))?;
            }
            return Ok(state);
        }
        b"PAUSE" => State::Paused,
        b"RESUME" => State::Active,
        b"TERMINATE" => State::Terminated,
        _ => state,
    };
    if control.socket_type() == SocketType::Rep {
        // A REP must answer before it can receive the next command.
        control.send(Msg::new())?;
    }
    Ok(next)
}

/// How many messages one direction moves before the proxy looks at the other direction and at
/// the control socket again. libzmq's `proxy_burst_size`: large enough that the per-pass
/// `events()` calls are amortised, small enough that a command waits at most one burst.
const BURST: usize = 1000;
