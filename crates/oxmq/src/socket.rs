//! [`Socket`]: one ZeroMQ socket, usable blocking or async on the same value.
//!
//! The socket does no I/O. Its messages go into and come out of pipes that engines on the
//! context's I/O threads drain and fill; which pipe is decided by the socket type's pattern
//! (`oxmq-pattern`). Every operation is built on a non-blocking core (`try_send_msg`,
//! `try_recv_msg`) that first processes the commands engines queued on the socket's signal
//! (one atomic load when there are none). The blocking calls wait on that signal with the
//! calling thread parked (SNDTIMEO / RCVTIMEO bound the wait); the async calls register the
//! task's waker on the same signal, so they run under any executor and are cancel-safe: a
//! dropped future leaves the socket unchanged and, for sends, loses only the message it owned.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use bytes::Bytes;
use oxmq_pattern::{
    ByteFrame, PatternError, PatternOption, PeerInfo, PipeId, PipeMap, Pipes, SendError,
    SocketPattern,
};
use oxmq_proto::{Copies, Msg, SocketType};

use crate::context::ContextInner;
use crate::endpoint::TcpEndpoint;
use crate::endpoint::{tcp_endpoint_string, Endpoint};
use crate::error::{Error, ErrorKind, Result};
use crate::monitor::{events, MonitorSlot};
use crate::opt;
use crate::options::{self, Options};
use crate::pipe::{pipe_with, Notifier, PipeReader, PipeWriter, TaskWaker};
use crate::security::Security;
use crate::signal::{
    thread_waker, Attachment, Command, FdSleeper, PeerLink, SignalsHeld, SocketSignal, Spinner,
};
use crate::transport::ipc::{self, IpcCleanup, IpcEndpoint};
use crate::transport::{self, inproc, tcp, Transport};

/// `ZMQ_POLLIN`: a message can be received without blocking.
pub const POLLIN: u32 = 1;
/// `ZMQ_POLLOUT`: a message can be sent without blocking.
pub const POLLOUT: u32 = 2;

/// A ZeroMQ socket.
///
/// Created by [`crate::Context::socket`]. A socket belongs to one thread or task at a time
/// (it is `Send`, not `Sync`), like a libzmq socket. Dropping it closes it: pending outbound
/// messages are still delivered for up to LINGER milliseconds (forever by default, as in
/// libzmq), and the context waits for that when it terminates.
///
/// Blocking face:
/// ```
/// use oxmq::{Context, SocketType};
/// let ctx = Context::new();
/// let mut rep = ctx.socket(SocketType::Rep)?;
/// rep.bind("tcp://127.0.0.1:*")?;
/// let mut req = ctx.socket(SocketType::Req)?;
/// req.connect(&rep.last_endpoint())?;
/// req.send("ping")?;
/// assert_eq!(rep.recv()?.data(), b"ping");
/// rep.send("pong")?;
/// assert_eq!(req.recv()?.data(), b"pong");
/// # Ok::<(), oxmq::Error>(())
/// ```
///
/// Async face (any executor; tokio here):
/// ```
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// # rt.block_on(async {
/// use oxmq::{Context, SocketType};
/// let ctx = Context::new();
/// let mut pull = ctx.socket(SocketType::Pull)?;
/// pull.bind("tcp://127.0.0.1:*")?;
/// let mut push = ctx.socket(SocketType::Push)?;
/// push.connect(&pull.last_endpoint())?;
/// push.send_multipart_async(["a", "b"]).await?;
/// let parts = pull.recv_multipart_async().await?;
/// assert_eq!(parts.len(), 2);
/// # Ok::<(), oxmq::Error>(())
/// # }).unwrap();
/// ```
pub struct Socket {
    ctx: Arc<ContextInner>,
    shared: Arc<SocketShared>,
    pattern: SocketPattern,
    pipes: PipeTable,
    pub(crate) options: Options,
    commands: Vec<Command>,
    endpoints: Vec<EndpointEntry>,
    last_endpoint: String,
    rcvmore: bool,
    /// ZMQ_STREAM_NOTIFY (STREAM only): engines queue connect and disconnect notifications.
    stream_notify: bool,
    waker: Option<(ThreadId, Waker)>,
    /// Blocking calls wait in poll(2) and end with `EINTR` on a signal (see
    /// [`Socket::set_interruptible`]).
    interruptible: bool,
    /// Watches the signal a little before a blocking call sleeps.
    spinner: Spinner,
    /// Frames the blocking receive returned since it last waited (see `Spinner::busy_batched`).
    received: u32,
    /// Held while the socket lives; [`crate::Context::term`] waits for all of them.
    alive: Option<Arc<()>>,
}

impl Socket {
    pub(crate) fn new(ctx: Arc<ContextInner>, socket_type: SocketType) -> Result<Socket> {
        let pattern = SocketPattern::new(socket_type).map_err(pattern_error)?;
        let defaults = ctx.socket_defaults()?;
        let signal = Arc::new(SocketSignal::default());
        let alive = Arc::new(());
        ctx.register_socket(&signal, &alive);
        Ok(Socket {
            shared: Arc::new(SocketShared {
                ctx: Arc::downgrade(&ctx),
                signal,
                socket_type,
                next_pipe: AtomicU64::new(1),
                closed: AtomicBool::new(false),
                linger: AtomicI32::new(defaults.linger),
                closed_at: std::sync::OnceLock::new(),
                close_notify: tokio::sync::Notify::new(),
                monitor: MonitorSlot::default(),
                stats: Arc::default(),
                admission: Arc::default(),
                engines: std::sync::Mutex::default(),
            }),
            ctx,
            pattern,
            pipes: PipeTable::default(),
            options: Options {
                raw: socket_type == SocketType::Stream,
                ipv6: defaults.ipv6,
                linger: defaults.linger,
                ctx_max_msgsz: defaults.max_msgsz,
                ..Options::default()
            },
            commands: Vec::new(),
            endpoints: Vec::new(),
            last_endpoint: String::new(),
            rcvmore: false,
            stream_notify: true,
            waker: None,
            interruptible: false,
            spinner: if defaults.busy_wait {
                Spinner::default()
            } else {
                Spinner::off()
            },
            received: 0,
            alive: Some(alive),
        })
    }

    /// The socket's type.
    pub fn socket_type(&self) -> SocketType {
        self.shared.socket_type
    }

    /// Accepts connections on `endpoint`: `tcp://interface:port` (`*` for every interface or
    /// for an ephemeral port, which [`Socket::last_endpoint`] then reports), `ipc://path`,
    /// `ipc://@abstract-name` or `ipc://*` (a new private path).
    pub fn bind(&mut self, endpoint: &str) -> Result<()> {
        if self.ctx.is_terminated() {
            return Err(ErrorKind::Terminated.into());
        }
        let r = self.bind_inner(endpoint);
        match &r {
            Ok(()) => {
                if let Some(e) = self.endpoints.last() {
                    let fd = e.fd.map_or(0, |fd| fd as u32);
                    if e.task.is_some() {
                        self.shared.monitor.emit(events::LISTENING, fd, &e.resolved);
                    }
                }
            }
            Err(e) => {
                self.shared
                    .monitor
                    .emit(events::BIND_FAILED, e.errno() as u32, endpoint);
            }
        }
        r
    }

    fn bind_inner(&mut self, endpoint: &str) -> Result<()> {
        let cfg = self.engine_config();
        let pool = Arc::clone(self.ctx.pool());
        let (resolved, task, cleanup, fd) = match Endpoint::parse(endpoint)? {
            Endpoint::Tcp(t) => {
                let listener = match transport::adopt_listener(self.options.use_fd, true)? {
                    Some(fd) => std::net::TcpListener::from(fd),
                    None => tcp::listen(t.bind_addr(self.options.ipv6)?, &self.options)?,
                };
                let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
                let resolved = tcp_endpoint_string(listener.local_addr()?);
                let task = transport::spawn_listener::<TcpEndpoint>(
                    &pool,
                    listener,
                    cfg,
                    resolved.clone(),
                );
                (resolved, Some(task), None, Some(fd))
            }
            Endpoint::Ipc(i) => {
                let (listener, resolved, cleanup) =
                    match transport::adopt_listener(self.options.use_fd, false)? {
                        Some(fd) => ipc::adopt(fd)?,
                        None => i.listen()?,
                    };
                let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
                let task = transport::spawn_listener::<IpcEndpoint>(
                    &pool,
                    listener,
                    cfg,
                    resolved.clone(),
                );
                (resolved, Some(task), Some(cleanup), Some(fd))
            }
            Endpoint::Inproc(name) => {
                let side = inproc::Side::new(&self.shared, &self.options);
                for waiting in self.ctx.inproc().bind(&name, side)? {
                    self.attach(waiting);
                }
                (endpoint.to_owned(), None, None, None)
            }
        };
        self.last_endpoint.clone_from(&resolved);
        self.endpoints.push(EndpointEntry {
            given: endpoint.to_owned(),
            resolved,
            task,
            pipe: None,
            bound: true,
            _cleanup: cleanup,
            fd,
        });
        Ok(())
    }

    /// Connects to `endpoint`. Returns at once; the connection is made (and remade after a
    /// failure, every RECONNECT_IVL) in the background. As in libzmq, the peer's queue exists
    /// from now on (except on ROUTER): messages sent before the connection is up wait in it.
    pub fn connect(&mut self, endpoint: &str) -> Result<()> {
        if self.ctx.is_terminated() {
            return Err(ErrorKind::Terminated.into());
        }
        match Endpoint::parse(endpoint)? {
            Endpoint::Tcp(t) => {
                if t.port.is_none() || t.host == "*" {
                    return Err(Error::with_source(
                        ErrorKind::InvalidInput,
                        "connect needs a host and a port",
                    ));
                }
                self.start_connecter(endpoint, t);
            }
            Endpoint::Ipc(i) => {
                if i.address == "*" {
                    return Err(Error::with_source(
                        ErrorKind::InvalidInput,
                        "cannot connect to a wildcard",
                    ));
                }
                self.start_connecter(endpoint, i);
            }
            Endpoint::Inproc(name) => {
                let side = inproc::Side::new(&self.shared, &self.options);
                let routing_id = self.options.connect_routing_id.take();
                let ends = self.ctx.inproc().connect(&name, &side, routing_id);
                let pipe = Some(ends.id);
                self.attach(ends);
                self.last_endpoint = endpoint.to_owned();
                self.endpoints.push(EndpointEntry {
                    given: endpoint.to_owned(),
                    resolved: endpoint.to_owned(),
                    task: None,
                    pipe,
                    bound: false,
                    _cleanup: None,
                    fd: None,
                });
            }
        }
        Ok(())
    }

    /// Stops accepting connections on an endpoint given to [`Socket::bind`] (by the string
    /// given, or the one [`Socket::last_endpoint`] reported). `ENOENT` if it is not bound.
    pub fn unbind(&mut self, endpoint: &str) -> Result<()> {
        self.remove_endpoint(endpoint, true)
    }

    /// Drops the connection made by [`Socket::connect`] to `endpoint` and stops reconnecting.
    /// `ENOENT` if it is not connected.
    pub fn disconnect(&mut self, endpoint: &str) -> Result<()> {
        self.remove_endpoint(endpoint, false)
    }

    /// The endpoint last bound or connected, with a wildcard port resolved
    /// (`ZMQ_LAST_ENDPOINT`); empty before the first bind or connect.
    pub fn last_endpoint(&self) -> String {
        self.last_endpoint.clone()
    }

    /// Sends one frame, blocking while the socket cannot send (up to SNDTIMEO). The frame's
    /// MORE flag says whether more frames of the same message follow.
    pub fn send(&mut self, msg: impl Into<Msg>) -> Result<()> {
        self.send_or_keep(msg.into(), false).map_err(|(e, _)| e)
    }

    /// Sends one frame as [`send`](Socket::send) does, or with `dontwait` as
    /// [`try_send`](Socket::try_send) does, but hands the frame back with the error when it was
    /// not sent, as `zmq_msg_send` leaves a message it could not send to its caller.
    pub fn send_or_keep(
        &mut self,
        mut msg: Msg,
        dontwait: bool,
    ) -> std::result::Result<(), (Error, Msg)> {
        let mut deadline = Deadline::new(self.options.sndtimeo);
        loop {
            match self.try_send_msg(msg) {
                Ok(()) => return Ok(()),
                Err((kind, m)) => {
                    msg = m;
                    if let Err(e) = self.send_wait(kind, dontwait, &mut deadline) {
                        return Err((e, msg));
                    }
                }
            }
        }
    }

    /// Sends one frame holding a copy of `data`, with MORE set when `more` (more frames of the
    /// same message follow), blocking while the socket cannot send (up to SNDTIMEO): what
    /// `zmq_send` does. The same as [`send`](Socket::send) of `Msg::from(data)`, but faster
    /// for short bodies (up to [`Msg::INLINE_CAPACITY`] bytes) on PUSH, DEALER and PAIR, which
    /// copy the bytes straight into the slot of the pipe where the frame waits for its reader,
    /// instead of building the frame apart and moving it there (a move that has to wait for
    /// the copy's stores: `thr inproc 16 B`, 363 against 281 instructions per message in the
    /// sending thread, docs/BENCHMARKS.md).
    pub fn send_copy(&mut self, data: &[u8], more: bool) -> Result<()> {
        self.send_copy_or_fail(data, more, false)
    }

    /// [`send_copy`](Socket::send_copy) without blocking (`ZMQ_DONTWAIT`): `EAGAIN` when the
    /// socket cannot send now.
    pub fn try_send_copy(&mut self, data: &[u8], more: bool) -> Result<()> {
        self.send_copy_or_fail(data, more, true)
    }

    #[inline(always)]
    fn send_copy_or_fail(&mut self, data: &[u8], more: bool, dontwait: bool) -> Result<()> {
        if data.len() > Msg::INLINE_CAPACITY {
            // A longer body goes into a block of the pool and its frame is moved whichever way
            // it is made. Made first, as `send` makes it, the copy overlaps a wait for room in
            // the pipe rather than following it (the bytes taken to the slot measured 0.92x
            // and 0.96x at thr tcp 64 KiB, five rounds each: not shown to cost, nor to gain).
            let msg = Msg::copy_from_slice(data).with_more(more);
            return self.send_or_keep(msg, dontwait).map_err(|(e, _)| e);
        }
        let frame = ByteFrame { data, more };
        let mut deadline = Deadline::new(self.options.sndtimeo);
        while let Err(kind) = self.try_send_bytes(frame) {
            self.send_wait(kind, dontwait, &mut deadline)?;
        }
        Ok(())
    }

    /// After a send failed with `kind`: waits for the socket to be able to send and returns
    /// `Ok` to try again, or the error the send ends with (`kind` itself unless it is
    /// `WouldBlock` on a blocking send, `WouldBlock` once SNDTIMEO passed).
    #[inline(always)]
    fn send_wait(
        &mut self,
        kind: ErrorKind,
        dontwait: bool,
        deadline: &mut Deadline,
    ) -> Result<()> {
        if kind != ErrorKind::WouldBlock || dontwait {
            return Err(kind.into());
        }
        match self.wait(deadline.get()) {
            Ok(true) => Ok(()),
            Ok(false) => Err(ErrorKind::WouldBlock.into()),
            Err(e) => Err(e),
        }
    }

    /// Makes the blocking calls ([`send`](Socket::send), [`recv`](Socket::recv) and the
    /// multipart forms) end with [`ErrorKind::Interrupted`] (`EINTR`) when a signal is delivered
    /// to the waiting thread, as libzmq's do: a program can then see Ctrl-C while it waits (its
    /// handler must be installed without `SA_RESTART`, as Python's are). The C ABI turns this on
    /// for every socket. Off by default: the wait is then a thread park, a little cheaper than
    /// the poll(2) on the socket's descriptor ([`Socket::fd`]) that an interruptible wait uses.
    ///
    /// A signal is seen from the wait's first system call on: one that comes in the first few
    /// microseconds of a wait, while it looks for work without leaving user space, is handled
    /// but does not end the call, as libzmq handles one that comes while its blocking call is
    /// outside poll(2). Watching that briefly with signals held would cost two system calls
    /// per wait.
    pub fn set_interruptible(&mut self, on: bool) {
        self.interruptible = on;
    }

    /// Sends one frame with MORE set: more frames of the same message follow.
    pub fn send_more(&mut self, msg: impl Into<Msg>) -> Result<()> {
        self.send(msg.into().with_more(true))
    }

    /// Sends one frame without blocking (`ZMQ_DONTWAIT`): `EAGAIN` if the socket cannot send
    /// now, and the frame is dropped, as in libzmq.
    pub fn try_send(&mut self, msg: impl Into<Msg>) -> Result<()> {
        self.try_send_msg(msg.into())
            .map_err(|(kind, _)| Error::new(kind))
    }

    /// Sends a whole message, one frame per item (MORE is set on all but the last).
    pub fn send_multipart<I, M>(&mut self, parts: I) -> Result<()>
    where
        I: IntoIterator<Item = M>,
        M: Into<Msg>,
    {
        for frame in frames(parts) {
            self.send(frame)?;
        }
        Ok(())
    }

    /// Receives one frame, blocking until one arrives (up to RCVTIMEO). [`Msg::more`] tells
    /// whether more frames of the same message follow.
    pub fn recv(&mut self) -> Result<Msg> {
        let mut out = None;
        self.recv_frame(&mut out)?;
        // The frame's one move after the pipe's: into the caller's result.
        out.ok_or_else(|| ErrorKind::WouldBlock.into())
    }

    /// [`recv`](Socket::recv) into `msg`, whose old content is released; after an error `msg`
    /// is as it was. The frame is moved once after its pipe, into `msg`, as `zmq_msg_recv`
    /// puts it into the caller's `zmq_msg_t`.
    pub fn recv_into(&mut self, msg: &mut Msg) -> Result<()> {
        let mut out = None;
        self.recv_frame(&mut out)?;
        *msg = out.ok_or_else(|| Error::new(ErrorKind::WouldBlock))?;
        Ok(())
    }

    /// The blocking receive: a frame into `out` (which holds one after `Ok`).
    #[inline(always)]
    fn recv_frame(&mut self, out: &mut Option<Msg>) -> Result<()> {
        let mut deadline = Deadline::new(self.options.rcvtimeo);
        // Pipes found empty are watched here, not armed, until this call sleeps or returns.
        self.pipes.defer_arming = true;
        loop {
            let r = self.try_recv_into(out);
            let waited = match r {
                Err(ErrorKind::WouldBlock) => self.wait_watching(deadline.get(), true),
                _ => Ok(false),
            };
            if let Ok(true) = waited {
                continue;
            }
            self.pipes.defer_arming = false;
            self.arm_pipes();
            waited?;
            r.map_err(Error::new)?;
            self.received = self.received.saturating_add(1);
            return Ok(());
        }
    }

    /// Receives one frame without blocking (`ZMQ_DONTWAIT`): `EAGAIN` if none is available.
    pub fn try_recv(&mut self) -> Result<Msg> {
        self.try_recv_msg().map_err(Error::new)
    }

    /// Receives a whole message.
    pub fn recv_multipart(&mut self) -> Result<Vec<Msg>> {
        let mut parts = Vec::new();
        while collect(&mut parts, self.recv()?) {}
        Ok(parts)
    }

    /// Sends one frame, waiting asynchronously while the socket cannot send. Cancel-safe: if
    /// the future is dropped before completion, the frame was not sent.
    pub async fn send_async(&mut self, msg: impl Into<Msg>) -> Result<()> {
        let mut slot = Some(msg.into());
        poll_fn(|cx| self.poll_send(cx, &mut slot)).await
    }

    /// Receives one frame, waiting asynchronously. Cancel-safe: a dropped future received
    /// nothing.
    pub async fn recv_async(&mut self) -> Result<Msg> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Sends a whole message asynchronously (MORE on all frames but the last).
    pub async fn send_multipart_async<I, M>(&mut self, parts: I) -> Result<()>
    where
        I: IntoIterator<Item = M>,
        M: Into<Msg>,
    {
        for frame in frames(parts) {
            self.send_async(frame).await?;
        }
        Ok(())
    }

    /// Receives a whole message asynchronously.
    pub async fn recv_multipart_async(&mut self) -> Result<Vec<Msg>> {
        let mut parts = Vec::new();
        while collect(&mut parts, self.recv_async().await?) {}
        Ok(parts)
    }

    /// Tries to send `slot`'s frame; registers the task's waker when the socket cannot send.
    /// Idempotent: after `Ready(Ok)` the slot is empty and further polls return `Ready(Ok)`.
    pub fn poll_send(
        &mut self,
        cx: &mut TaskContext<'_>,
        slot: &mut Option<Msg>,
    ) -> Poll<Result<()>> {
        loop {
            let Some(msg) = slot.take() else {
                return Poll::Ready(Ok(()));
            };
            match self.try_send_msg(msg) {
                Ok(()) => return Poll::Ready(Ok(())),
                Err((ErrorKind::WouldBlock, m)) => {
                    *slot = Some(m);
                    if self.shared.signal.register(cx.waker()) {
                        return Poll::Pending;
                    }
                }
                Err((kind, _)) => return Poll::Ready(Err(kind.into())),
            }
        }
    }

    /// Tries to receive a frame; registers the task's waker when none is available.
    pub fn poll_recv(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<Msg>> {
        loop {
            match self.try_recv_msg() {
                Err(ErrorKind::WouldBlock) => {
                    if self.shared.signal.register(cx.waker()) {
                        return Poll::Pending;
                    }
                }
                r => return Poll::Ready(r.map_err(Error::new)),
            }
        }
    }

    /// `ZMQ_FD`: a file descriptor that becomes readable whenever the socket's [`events`]
    /// may have changed. Edge-triggered, as libzmq's: after it fires, call
    /// [`Socket::events`] (which re-arms it) and handle every event it reports before waiting
    /// on the descriptor again. Owned by the socket; valid until the socket is dropped.
    ///
    /// [`events`]: Socket::events
    pub fn fd(&self) -> Result<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        Ok(self.shared.signal.export_fd()?.as_raw_fd())
    }

    /// The readiness descriptor for oxmq's own poll, which waits on it only under an
    /// [`FdSleeper`] (see [`Socket::fd_sleeper`]).
    pub(crate) fn poll_fd(&self) -> Result<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        Ok(self.shared.signal.fd()?.as_raw_fd())
    }

    /// Counts a wait on [`Socket::poll_fd`] until dropped: made before looking at the
    /// socket's events, so that a command after the look signals the descriptor.
    pub(crate) fn fd_sleeper(&self) -> FdSleeper<Arc<SocketSignal>> {
        FdSleeper::new(Arc::clone(&self.shared.signal))
    }

    /// `zmq_socket_monitor`: publishes this socket's connection events matching `events`
    /// (see [`crate::monitor::events`]) on a PAIR socket bound to `endpoint`, which must be
    /// `inproc://`; `None` stops monitoring (the monitor gets MONITOR_STOPPED). Read them with
    /// [`crate::Monitor`] or any PAIR connected to the endpoint.
    pub fn monitor(&mut self, endpoint: Option<&str>, events: u32) -> Result<()> {
        let Some(endpoint) = endpoint else {
            drop(self.shared.monitor.stop());
            return Ok(());
        };
        if !endpoint.starts_with("inproc://") {
            return Err(Error::with_source(
                ErrorKind::ProtocolNotSupported,
                "monitor endpoints are inproc",
            ));
        }
        let mut pair = Socket::new(Arc::clone(&self.ctx), SocketType::Pair)?;
        pair.set_linger(0)?;
        pair.bind(endpoint)?;
        drop(self.shared.monitor.start(pair, events));
        Ok(())
    }

    /// Whether the socket's context was shut down (`ETERM` for every call but close).
    pub(crate) fn is_terminated(&self) -> bool {
        self.ctx.is_terminated()
    }

    /// The async form of [`Socket::events`]: `Ready` with the events of `interest` that hold
    /// now, or `Pending` with the task's waker registered until the socket's state changes.
    /// [`crate::poll_async`] is built on it.
    pub fn poll_events(&mut self, cx: &mut TaskContext<'_>, interest: u32) -> Poll<u32> {
        loop {
            let ev = self.events() & interest;
            if ev != 0 || self.is_terminated() {
                return Poll::Ready(ev);
            }
            if self.shared.signal.register(cx.waker()) {
                return Poll::Pending;
            }
        }
    }

    /// A snapshot of the socket's counters, beyond what libzmq offers: messages and bytes in
    /// and out (in total and for each live connection), messages dropped on send by cause,
    /// reconnects, and failed handshakes by cause. Engines publish their counts each time they
    /// finish a batch of work, so a snapshot may trail the traffic by one batch.
    pub fn counters(&self) -> crate::Counters {
        let mut c = self.shared.stats.snapshot();
        let d = self.pattern.drop_counts();
        c.dropped_hwm = d.hwm;
        c.dropped_unroutable = d.unroutable;
        c.dropped_no_subscribers = d.no_subscribers;
        c
    }

    /// Publishes the socket's counters ([`Socket::counters`]) in its monitor stream, if
    /// [`events::COUNTERS`](crate::monitor::events::COUNTERS) is monitored: one event for the
    /// socket's totals, then one per live connection (oxmq's own event; libzmq has none).
    pub fn monitor_counters(&self) {
        use crate::monitor::MonitorEvent;
        let c = self.counters();
        let mut values = c.traffic.values().to_vec();
        values.extend([
            c.dropped_hwm,
            c.dropped_unroutable,
            c.dropped_no_subscribers,
            c.reconnects,
            c.handshake_failed_protocol,
            c.handshake_failed_auth,
            c.handshake_failed_no_detail,
        ]);
        let monitor = &self.shared.monitor;
        monitor.emit_event(&MonitorEvent {
            event: events::COUNTERS,
            value: 0,
            endpoint: String::new(),
            values,
        });
        for p in &c.peers {
            monitor.emit_event(&MonitorEvent {
                event: events::COUNTERS,
                value: 1,
                endpoint: p.endpoint.clone(),
                values: p.traffic.values().to_vec(),
            });
        }
    }

    /// Whether the last frame received had MORE set (`ZMQ_RCVMORE`).
    pub fn rcvmore(&self) -> bool {
        self.rcvmore
    }

    /// `ZMQ_EVENTS`: [`POLLIN`] if a message can be received now, [`POLLOUT`] if one can be
    /// sent now.
    pub fn events(&mut self) -> u32 {
        // Drain first: a command arriving after this signals the descriptor again.
        self.shared.signal.clear_fd();
        self.process_commands();
        let mut ev = 0;
        if self.pattern.has_in(&mut self.pipes) {
            ev |= POLLIN;
        }
        if self.pattern.has_out(&mut self.pipes) {
            ev |= POLLOUT;
        }
        self.reap_pipes();
        ev
    }

    /// Sets `ZMQ_SNDHWM`: the most messages queued per peer for sending (0: no limit).
    pub fn set_sndhwm(&mut self, v: i32) -> Result<()> {
        self.set_sockopt(opt::SNDHWM, &v.to_ne_bytes())
    }

    /// `ZMQ_SNDHWM`.
    pub fn sndhwm(&self) -> i32 {
        self.options.sndhwm
    }

    /// Sets `ZMQ_RCVHWM`: the most messages queued per peer on receipt (0: no limit).
    pub fn set_rcvhwm(&mut self, v: i32) -> Result<()> {
        self.set_sockopt(opt::RCVHWM, &v.to_ne_bytes())
    }

    /// `ZMQ_RCVHWM`.
    pub fn rcvhwm(&self) -> i32 {
        self.options.rcvhwm
    }

    /// Sets `ZMQ_LINGER` in ms: how long pending messages are delivered after close (-1:
    /// forever, 0: drop them).
    pub fn set_linger(&mut self, ms: i32) -> Result<()> {
        self.set_sockopt(opt::LINGER, &ms.to_ne_bytes())
    }

    /// `ZMQ_LINGER` in ms.
    pub fn linger(&self) -> i32 {
        self.options.linger
    }

    /// Sets `ZMQ_SNDTIMEO` in ms: how long a blocking send waits (-1: forever).
    pub fn set_sndtimeo(&mut self, ms: i32) -> Result<()> {
        self.set_sockopt(opt::SNDTIMEO, &ms.to_ne_bytes())
    }

    /// `ZMQ_SNDTIMEO` in ms.
    pub fn sndtimeo(&self) -> i32 {
        self.options.sndtimeo
    }

    /// Sets `ZMQ_RCVTIMEO` in ms: how long a blocking receive waits (-1: forever).
    pub fn set_rcvtimeo(&mut self, ms: i32) -> Result<()> {
        self.set_sockopt(opt::RCVTIMEO, &ms.to_ne_bytes())
    }

    /// `ZMQ_RCVTIMEO` in ms.
    pub fn rcvtimeo(&self) -> i32 {
        self.options.rcvtimeo
    }

    /// Sets `ZMQ_RECONNECT_IVL` in ms (-1: never reconnect).
    pub fn set_reconnect_ivl(&mut self, ms: i32) -> Result<()> {
        self.set_sockopt(opt::RECONNECT_IVL, &ms.to_ne_bytes())
    }

    /// Sets `ZMQ_RECONNECT_IVL_MAX` in ms (0: no exponential back-off).
    pub fn set_reconnect_ivl_max(&mut self, ms: i32) -> Result<()> {
        self.set_sockopt(opt::RECONNECT_IVL_MAX, &ms.to_ne_bytes())
    }

    /// Sets `ZMQ_MAXMSGSIZE`: the largest inbound frame accepted (-1: no limit); a peer that
    /// sends a larger one is disconnected.
    pub fn set_maxmsgsize(&mut self, bytes: i64) -> Result<()> {
        self.set_sockopt(opt::MAXMSGSIZE, &bytes.to_ne_bytes())
    }

    /// Sets `ZMQ_IPV6`: allow IPv6 addresses (and bind `*` dual-stack).
    pub fn set_ipv6(&mut self, on: bool) -> Result<()> {
        self.set_sockopt(opt::IPV6, &i32::from(on).to_ne_bytes())
    }

    /// Sets `ZMQ_ROUTING_ID`: the name this socket gives itself to ROUTER peers (1–255 bytes).
    pub fn set_routing_id(&mut self, id: &[u8]) -> Result<()> {
        self.set_sockopt(opt::ROUTING_ID, id)
    }

    /// `ZMQ_ROUTING_ID`.
    pub fn routing_id(&self) -> Vec<u8> {
        self.options.routing_id.to_vec()
    }

    /// Sets `ZMQ_CONNECT_ROUTING_ID`: the routing id this ROUTER gives the peer of the next
    /// [`Socket::connect`].
    pub fn set_connect_routing_id(&mut self, id: &[u8]) -> Result<()> {
        self.set_sockopt(opt::CONNECT_ROUTING_ID, id)
    }

    /// Sets `ZMQ_STREAM_NOTIFY` (STREAM only, `EINVAL` elsewhere): whether the application
    /// receives `[routing id, empty frame]` when a peer connects and when it disconnects
    /// (default on). Applies to later binds and connects.
    pub fn set_stream_notify(&mut self, on: bool) -> Result<()> {
        self.set_sockopt(opt::STREAM_NOTIFY, &i32::from(on).to_ne_bytes())
    }

    /// Sets `ZMQ_ROUTER_MANDATORY`: report unroutable messages (`EHOSTUNREACH`) and full
    /// peers (`EAGAIN`) instead of dropping silently.
    pub fn set_router_mandatory(&mut self, on: bool) -> Result<()> {
        self.set_sockopt(opt::ROUTER_MANDATORY, &i32::from(on).to_ne_bytes())
    }

    /// Sets `ZMQ_XPUB_VERBOSE`: pass every subscription to the application.
    pub fn set_xpub_verbose(&mut self, on: bool) -> Result<()> {
        self.set_sockopt(opt::XPUB_VERBOSE, &i32::from(on).to_ne_bytes())
    }

    /// `ZMQ_SUBSCRIBE`: receive messages starting with `topic` (SUB, XSUB).
    pub fn subscribe(&mut self, topic: &[u8]) -> Result<()> {
        self.set_sockopt(opt::SUBSCRIBE, topic)
    }

    /// `ZMQ_UNSUBSCRIBE`: undo one [`Socket::subscribe`] of `topic`.
    pub fn unsubscribe(&mut self, topic: &[u8]) -> Result<()> {
        self.set_sockopt(opt::UNSUBSCRIBE, topic)
    }

    /// Sets an option by libzmq number, with the value encoded as `zmq_setsockopt` takes it
    /// (integers native-endian). Options oxmq does not implement yet fail with `EINVAL`.
    pub fn set_sockopt(&mut self, option: i32, value: &[u8]) -> Result<()> {
        self.process_commands();
        let o = &mut self.options;
        match option {
            opt::SNDHWM => o.sndhwm = non_negative(options::int_value(value)?)?,
            opt::RCVHWM => o.rcvhwm = non_negative(options::int_value(value)?)?,
            opt::LINGER => {
                o.linger = at_least(options::int_value(value)?, -1)?;
                self.shared.linger.store(o.linger, Ordering::Relaxed);
            }
            opt::SNDTIMEO => o.sndtimeo = at_least(options::int_value(value)?, -1)?,
            opt::RCVTIMEO => o.rcvtimeo = at_least(options::int_value(value)?, -1)?,
            opt::RECONNECT_IVL => o.reconnect_ivl = at_least(options::int_value(value)?, -1)?,
            opt::RECONNECT_IVL_MAX => {
                o.reconnect_ivl_max = non_negative(options::int_value(value)?)?;
            }
            opt::MAXMSGSIZE => o.maxmsgsize = options::i64_value(value)?.max(-1),
            opt::IPV6 => o.ipv6 = options::bool_value(value)?,
            opt::BACKLOG => o.backlog = non_negative(options::int_value(value)?)?,
            opt::HANDSHAKE_IVL => o.handshake_ivl = non_negative(options::int_value(value)?)?,
            opt::HEARTBEAT_IVL => o.heartbeat_ivl = non_negative(options::int_value(value)?)?,
            opt::HEARTBEAT_TTL => {
                // libzmq: 0 to 6553599 ms (the wire field is 16 bits of deciseconds).
                let v = non_negative(options::int_value(value)?)?;
                if v > 6_553_599 {
                    return Err(ErrorKind::InvalidInput.into());
                }
                o.heartbeat_ttl = v;
            }
            opt::HEARTBEAT_TIMEOUT => {
                o.heartbeat_timeout = at_least(options::int_value(value)?, -1)?;
            }
            opt::IMMEDIATE => o.immediate = options::bool_value(value)?,
            opt::TCP_KEEPALIVE => {
                let v = options::int_value(value)?;
                if !(-1..=1).contains(&v) {
                    return Err(ErrorKind::InvalidInput.into());
                }
                o.tcp_keepalive = v;
            }
            opt::TCP_KEEPALIVE_CNT => {
                o.tcp_keepalive_cnt = at_least(options::int_value(value)?, -1)?
            }
            opt::TCP_KEEPALIVE_IDLE => {
                o.tcp_keepalive_idle = at_least(options::int_value(value)?, -1)?;
            }
            opt::TCP_KEEPALIVE_INTVL => {
                o.tcp_keepalive_intvl = at_least(options::int_value(value)?, -1)?;
            }
            opt::TOS => o.tos = non_negative(options::int_value(value)?)?,
            opt::TCP_MAXRT => o.tcp_maxrt = non_negative(options::int_value(value)?)?,
            opt::CONNECT_TIMEOUT => o.connect_timeout = non_negative(options::int_value(value)?)?,
            opt::BINDTODEVICE => {
                let name = value.strip_suffix(&[0]).unwrap_or(value);
                if name.len() > 15 {
                    return Err(ErrorKind::InvalidInput.into());
                }
                o.bindtodevice =
                    (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned());
            }
            opt::SNDBUF => o.sndbuf = at_least(options::int_value(value)?, -1)?,
            opt::RCVBUF => o.rcvbuf = at_least(options::int_value(value)?, -1)?,
            opt::ROUTING_ID => {
                if value.is_empty() || value.len() > 255 {
                    return Err(ErrorKind::InvalidInput.into());
                }
                o.routing_id = Bytes::copy_from_slice(value);
            }
            opt::CONNECT_ROUTING_ID => {
                if value.is_empty() || value.len() > 255 {
                    return Err(ErrorKind::InvalidInput.into());
                }
                o.connect_routing_id = Some(Bytes::copy_from_slice(value));
            }
            opt::SUBSCRIBE => {
                return self.pattern_option(PatternOption::Subscribe(Bytes::copy_from_slice(value)))
            }
            opt::UNSUBSCRIBE => {
                return self
                    .pattern_option(PatternOption::Unsubscribe(Bytes::copy_from_slice(value)))
            }
            opt::ROUTER_MANDATORY => {
                return self.pattern_option(PatternOption::RouterMandatory(
                    options::int_value(value)? != 0,
                ))
            }
            opt::XPUB_VERBOSE
            | opt::ROUTER_HANDOVER
            | opt::PROBE_ROUTER
            | opt::REQ_CORRELATE
            | opt::REQ_RELAXED
            | opt::XPUB_VERBOSER
            | opt::XPUB_NODROP
            | opt::XPUB_MANUAL
            | opt::XPUB_MANUAL_LAST_VALUE
            | opt::ONLY_FIRST_SUBSCRIBE
            | opt::INVERT_MATCHING => {
                let on = options::int_value(value)? != 0;
                let o = match option {
                    opt::XPUB_VERBOSE => PatternOption::XpubVerbose(on),
                    opt::ROUTER_HANDOVER => PatternOption::RouterHandover(on),
                    opt::PROBE_ROUTER => PatternOption::ProbeRouter(on),
                    opt::REQ_CORRELATE => PatternOption::ReqCorrelate(on),
                    opt::REQ_RELAXED => PatternOption::ReqRelaxed(on),
                    opt::XPUB_VERBOSER => PatternOption::XpubVerboser(on),
                    opt::XPUB_NODROP => PatternOption::XpubNoDrop(on),
                    opt::XPUB_MANUAL => PatternOption::XpubManual(on),
                    opt::XPUB_MANUAL_LAST_VALUE => PatternOption::XpubManualLastValue(on),
                    opt::ONLY_FIRST_SUBSCRIBE => PatternOption::OnlyFirstSubscribe(on),
                    _ => PatternOption::InvertMatching(on),
                };
                self.pattern_option(o)?;
                if option == opt::INVERT_MATCHING {
                    self.options.invert_matching = on;
                }
                return Ok(());
            }
            opt::XPUB_WELCOME_MSG => {
                return self
                    .pattern_option(PatternOption::XpubWelcomeMsg(Bytes::copy_from_slice(value)))
            }
            opt::STREAM_NOTIFY if o.raw => {
                self.stream_notify = options::bool_value(value)?;
            }
            opt::XSUB_VERBOSE_UNSUBSCRIBE => {
                let on = options::int_value(value)? != 0;
                return self.pattern_option(PatternOption::XsubVerboseUnsubscribe(on));
            }
            opt::IPV4ONLY => o.ipv6 = !options::bool_value(value)?,
            opt::AFFINITY => o.affinity = options::u64_value(value)?,
            opt::CONFLATE => {
                use SocketType as T;
                let on = options::bool_value(value)?;
                if on {
                    let types = [T::Push, T::Pull, T::Pub, T::Sub, T::Dealer];
                    self.check_type(&types, "ZMQ_CONFLATE")?;
                }
                self.options.conflate = on;
            }
            opt::RECONNECT_STOP => o.reconnect_stop = non_negative(options::int_value(value)?)?,
            opt::METADATA => {
                let (name, v) = options::metadata_value(value)?;
                o.metadata.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
                o.metadata.push((name, v));
            }
            opt::USE_FD => o.use_fd = at_least(options::int_value(value)?, -1)?,
            opt::IN_BATCH_SIZE => o.in_batch_size = positive(options::int_value(value)?)?,
            opt::OUT_BATCH_SIZE => o.out_batch_size = positive(options::int_value(value)?)?,
            opt::HELLO_MSG => {
                self.check_type(&[SocketType::Dealer, SocketType::Router], "ZMQ_HELLO_MSG")?;
                self.options.hello_msg = options::optional_bytes(value);
            }
            opt::DISCONNECT_MSG => {
                self.check_type(&[SocketType::Router], "ZMQ_DISCONNECT_MSG")?;
                self.options.disconnect_msg = options::optional_bytes(value);
            }
            opt::HICCUP_MSG => {
                self.check_type(&[SocketType::Dealer], "ZMQ_HICCUP_MSG")?;
                self.options.hiccup_msg = options::optional_bytes(value);
            }
            opt::TCP_ACCEPT_FILTER => {
                let value = value.strip_suffix(&[0]).unwrap_or(value);
                if value.is_empty() {
                    o.tcp_accept_filters.clear();
                } else {
                    o.tcp_accept_filters.push(tcp::AcceptFilter::parse(value)?);
                }
            }
            opt::IPC_FILTER_PID | opt::IPC_FILTER_UID | opt::IPC_FILTER_GID => {
                let id = if value.is_empty() {
                    None
                } else {
                    Some(options::int_value(value)?)
                };
                o.ipc_filters.set(option, id)?;
            }
            opt::ROUTER_RAW if self.shared.socket_type == SocketType::Router => {
                if options::bool_value(value)? {
                    self.make_raw()?;
                }
            }
            option if Security::handles(option) => o
                .security
                .get_or_insert_with(Box::default)
                .set(option, value)?,
            _ => {
                return Err(Error::with_source(
                    ErrorKind::InvalidInput,
                    format!("socket option {option} is not supported"),
                ))
            }
        }
        Ok(())
    }

    /// Reads an option by libzmq number, encoded as `zmq_getsockopt` returns it.
    pub fn sockopt(&mut self, option: i32) -> Result<Vec<u8>> {
        let o = &self.options;
        let int = |v: i32| Ok(v.to_ne_bytes().to_vec());
        match option {
            opt::SNDHWM => int(o.sndhwm),
            opt::RCVHWM => int(o.rcvhwm),
            opt::LINGER => int(o.linger),
            opt::SNDTIMEO => int(o.sndtimeo),
            opt::RCVTIMEO => int(o.rcvtimeo),
            opt::RECONNECT_IVL => int(o.reconnect_ivl),
            opt::RECONNECT_IVL_MAX => int(o.reconnect_ivl_max),
            opt::MAXMSGSIZE => Ok(o.maxmsgsize.to_ne_bytes().to_vec()),
            opt::IPV6 => int(i32::from(o.ipv6)),
            opt::BACKLOG => int(o.backlog),
            opt::HANDSHAKE_IVL => int(o.handshake_ivl),
            opt::HEARTBEAT_IVL => int(o.heartbeat_ivl),
            opt::HEARTBEAT_TTL => int(o.heartbeat_ttl),
            opt::HEARTBEAT_TIMEOUT => int(o.heartbeat_timeout),
            opt::IMMEDIATE => int(i32::from(o.immediate)),
            opt::TCP_KEEPALIVE => int(o.tcp_keepalive),
            opt::TCP_KEEPALIVE_CNT => int(o.tcp_keepalive_cnt),
            opt::TCP_KEEPALIVE_IDLE => int(o.tcp_keepalive_idle),
            opt::TCP_KEEPALIVE_INTVL => int(o.tcp_keepalive_intvl),
            opt::TOS => int(o.tos),
            opt::TCP_MAXRT => int(o.tcp_maxrt),
            opt::CONNECT_TIMEOUT => int(o.connect_timeout),
            opt::BINDTODEVICE => {
                let mut v = o.bindtodevice.clone().unwrap_or_default().into_bytes();
                v.push(0);
                Ok(v)
            }
            opt::SNDBUF => int(o.sndbuf),
            opt::RCVBUF => int(o.rcvbuf),
            opt::ROUTING_ID => Ok(o.routing_id.to_vec()),
            opt::TYPE => int(self.shared.socket_type.to_raw()),
            opt::RCVMORE => int(i32::from(self.rcvmore)),
            opt::FD => int(self.fd()?),
            opt::EVENTS => int(self.events() as i32),
            opt::TOPICS_COUNT => match self.pattern.topics_count() {
                Some(n) => int(i32::try_from(n).unwrap_or(i32::MAX)),
                None => Err(ErrorKind::InvalidInput.into()),
            },
            opt::IPV4ONLY => int(i32::from(!o.ipv6)),
            opt::AFFINITY => Ok(o.affinity.to_ne_bytes().to_vec()),
            opt::CONFLATE => int(i32::from(o.conflate)),
            opt::RECONNECT_STOP => int(o.reconnect_stop),
            opt::USE_FD => int(o.use_fd),
            opt::IN_BATCH_SIZE => int(o.in_batch_size),
            opt::OUT_BATCH_SIZE => int(o.out_batch_size),
            opt::LAST_ENDPOINT => {
                // libzmq returns the string with its terminating NUL.
                let mut v = self.last_endpoint.clone().into_bytes();
                v.push(0);
                Ok(v)
            }
            option if Security::handles(option) => match o.security.as_deref() {
                Some(security) => security.get(option),
                None => Security::default().get(option),
            },
            opt::INVERT_MATCHING => int(i32::from(o.invert_matching)),
            // Read-only facts: sockets are not thread-safe; the multicast options (no pgm/norm
            // transport here, so they cannot be set) read as libzmq's defaults.
            opt::THREAD_SAFE | opt::LOOPBACK_FASTPATH => int(0),
            opt::RATE => int(100),
            opt::RECOVERY_IVL => int(10_000),
            opt::MULTICAST_HOPS | opt::MULTICAST_LOOP => int(1),
            opt::MULTICAST_MAXTPDU => int(1500),
            _ => Err(Error::with_source(
                ErrorKind::InvalidInput,
                format!("socket option {option} is not supported"),
            )),
        }
    }

    /// What every non-blocking send and receive does first: `Terminated` once the context is,
    /// else the commands the engines sent are taken in.
    #[inline(always)]
    fn begin_op(&mut self) -> std::result::Result<(), ErrorKind> {
        if self.ctx.is_terminated() {
            return Err(ErrorKind::Terminated);
        }
        self.process_commands();
        Ok(())
    }

    /// The non-blocking core of every send.
    fn try_send_msg(&mut self, msg: Msg) -> std::result::Result<(), (ErrorKind, Msg)> {
        if let Err(kind) = self.begin_op() {
            return Err((kind, msg));
        }
        let r = self.pattern.send(&mut self.pipes, msg);
        self.reap_pipes();
        r.map_err(|SendError { kind, msg }| (pattern_kind(&kind), msg))
    }

    /// [`Socket::try_send_msg`] of a frame given as bytes ([`Socket::send_copy`]).
    fn try_send_bytes(&mut self, frame: ByteFrame) -> std::result::Result<(), ErrorKind> {
        self.begin_op()?;
        let r = self.pattern.send_bytes(&mut self.pipes, frame);
        self.reap_pipes();
        r.map_err(|e| pattern_kind(&e))
    }

    /// The non-blocking core of every receive.
    fn try_recv_msg(&mut self) -> std::result::Result<Msg, ErrorKind> {
        let mut out = None;
        self.try_recv_into(&mut out)?;
        out.ok_or(ErrorKind::WouldBlock)
    }

    /// [`Socket::try_recv_msg`] into `out`, which holds the frame after `Ok`: the frame is
    /// moved once, from its pipe into `out` (see `Pipes::read_into`).
    #[inline]
    fn try_recv_into(&mut self, out: &mut Option<Msg>) -> std::result::Result<(), ErrorKind> {
        self.begin_op()?;
        let r = self.pattern.recv_into(&mut self.pipes, out);
        self.reap_pipes();
        r.map_err(|e| pattern_kind(&e))?;
        if let Some(m) = out {
            self.rcvmore = m.more();
        }
        Ok(())
    }

    /// Parks the calling thread until the socket's signal fires (`Ok(true)`) or `deadline`
    /// passes (`Ok(false)`); when the socket is interruptible, a signal delivered to the thread
    /// ends the wait with [`ErrorKind::Interrupted`].
    fn wait(&mut self, deadline: Option<Instant>) -> Result<bool> {
        self.wait_watching(deadline, false)
    }

    /// [`Socket::wait`]; with `unarmed`, a frame arriving in a pipe left unarmed by the receive
    /// (`PipeTable::defer_arming`) ends the wait too, and those pipes are armed before it
    /// sleeps.
    fn wait_watching(&mut self, deadline: Option<Instant>, unarmed: bool) -> Result<bool> {
        let started = Instant::now();
        if deadline.is_some_and(|d| d <= started) {
            return Ok(false);
        }
        // An interruptible wait holds signals from its first system call (a yield, or the
        // ppoll) to the end of its ppoll, so that a signal arriving then ends the wait with
        // EINTR instead of being handled unseen. Not during the busy phase before it (a few
        // microseconds of looking, no system call): holding costs two system calls, which
        // doubled the C ABI's inproc round trip when every wait paid them, and a signal that
        // comes there is handled as libzmq handles one that comes outside its poll.
        let mut held = None;
        let interruptible = self.interruptible;
        let hold = || {
            if interruptible {
                held = Some(SignalsHeld::new());
            }
        };
        let signal = &self.shared.signal;
        let pipes = &mut self.pipes;
        let mut arrived = None;
        let watch = || {
            if signal.has_commands() {
                return true;
            }
            if unarmed {
                arrived = pipes.ready_unarmed();
            }
            arrived.is_some()
        };
        let batch = unarmed.then(|| std::mem::take(&mut self.received));
        let ready = self.spinner.spin(batch, watch, hold);
        if let Some(id) = arrived {
            self.read_activated(id);
        }
        if ready || (unarmed && self.arm_pipes()) {
            return Ok(true);
        }
        let r = self.sleep(deadline, held.as_ref());
        self.spinner.slept(started.elapsed());
        r
    }

    /// The sleeping half of [`Socket::wait`].
    fn sleep(&mut self, deadline: Option<Instant>, held: Option<&SignalsHeld>) -> Result<bool> {
        if let Some(held) = held {
            return self.shared.signal.wait_interruptible(deadline, held);
        }
        let me = std::thread::current().id();
        let waker = match &self.waker {
            Some((id, w)) if *id == me => w.clone(),
            _ => {
                let w = thread_waker();
                self.waker = Some((me, w.clone()));
                w
            }
        };
        Ok(self.shared.signal.wait(&waker, deadline))
    }

    /// Applies what engines told the socket since the last call.
    #[inline]
    fn process_commands(&mut self) {
        if self.shared.signal.has_commands() {
            self.apply_commands();
        }
    }

    /// Arms the pipes a receive left unarmed (see `PipeTable::defer_arming`), and activates
    /// those that got a frame meanwhile, which will get no notification. Returns whether there
    /// were any.
    #[inline]
    fn arm_pipes(&mut self) -> bool {
        if self.pipes.unarmed.is_empty() {
            return false;
        }
        self.arm_unarmed()
    }

    fn arm_unarmed(&mut self) -> bool {
        let mut ready = Vec::new();
        self.pipes.arm_all(&mut ready);
        for &id in &ready {
            self.read_activated(id);
        }
        !ready.is_empty()
    }

    /// `id` has frames to read again.
    fn read_activated(&mut self, id: PipeId) {
        if let Some(e) = self.pipes.map.get_mut(&id) {
            if !e.in_active {
                e.in_active = true;
                self.pattern.read_activated(id);
            }
        }
    }

    fn apply_commands(&mut self) {
        self.shared.signal.drain_into(&mut self.commands);
        let mut commands = std::mem::take(&mut self.commands);
        for cmd in commands.drain(..) {
            match cmd {
                Command::ReadActivated(id) => self.read_activated(id),
                Command::WriteActivated(id) => {
                    if let Some(e) = self.pipes.map.get_mut(&id) {
                        if !e.out_active {
                            e.out_active = true;
                            self.pattern.write_activated(id);
                        }
                    }
                }
                Command::Attach(a) => self.attach(*a),
                Command::Terminated(id) => self.pipes.terminating(id),
                Command::Wake => {}
                Command::Properties(id, p) => {
                    if let Some(e) = self.pipes.map.get_mut(&id) {
                        e.properties = Some(p);
                    }
                }
                Command::Hiccup(id) => {
                    if self.pipes.map.contains_key(&id) {
                        self.pattern.hiccuped(&mut self.pipes, id);
                    }
                }
            }
        }
        self.commands = commands;
        self.reap_pipes();
    }

    /// Tells the pattern about pipes that are gone (terminated and drained).
    #[inline]
    fn reap_pipes(&mut self) {
        if self.pipes.dead.is_empty() {
            return;
        }
        self.reap_dead_pipes();
    }

    #[cold]
    fn reap_dead_pipes(&mut self) {
        while let Some(id) = self.pipes.dead.pop() {
            self.pipes.map.remove(&id);
            self.pattern.pipe_terminated(id);
        }
    }

    fn attach(&mut self, a: Attachment) {
        self.pipes.map.insert(
            a.id,
            PipeEntry {
                reader: a.reader,
                writer: a.writer,
                in_active: true,
                unarmed: false,
                out_active: true,
                terminating: false,
                peer: a.peer,
                properties: a.properties,
            },
        );
        let generated = a.routing_id.is_none();
        let peer = match a.routing_id {
            Some(id) => PeerInfo::new().with_routing_id(id),
            None => PeerInfo::new(),
        };
        self.pattern.attach(&mut self.pipes, a.id, &peer);
        if generated {
            // libzmq's STREAM makes each generated id its ZMQ_ROUTING_ID, so a program that
            // just connected can read the id to send to.
            if let Some(id) = self.pattern.stream_routing_id(a.id) {
                self.options.routing_id = id.clone();
            }
        }
    }

    /// EINVAL unless the socket is one of `types` (for options that only they implement).
    fn check_type(&self, types: &[SocketType], what: &str) -> Result<()> {
        if types.contains(&self.shared.socket_type) {
            Ok(())
        } else {
            Err(Error::with_source(
                ErrorKind::InvalidInput,
                format!(
                    "{what} does not apply to {:?} sockets",
                    self.shared.socket_type
                ),
            ))
        }
    }

    /// ZMQ_ROUTER_RAW: from now on the ROUTER speaks raw TCP with STREAM's behaviour, as in
    /// libzmq. Only before the first bind or connect.
    fn make_raw(&mut self) -> Result<()> {
        if !self.endpoints.is_empty() || !self.pipes.map.is_empty() {
            return Err(Error::with_source(
                ErrorKind::InvalidInput,
                "ZMQ_ROUTER_RAW must be set before bind and connect",
            ));
        }
        self.pattern = SocketPattern::new(SocketType::Stream).map_err(pattern_error)?;
        self.options.raw = true;
        Ok(())
    }

    fn pattern_option(&mut self, o: PatternOption) -> Result<()> {
        let r = self.pattern.set_option(&mut self.pipes, o);
        self.reap_pipes();
        r.map_err(pattern_error)
    }

    /// Whether the per-peer queue exists from `connect` on, as libzmq creates the pipe at
    /// connect time unless ZMQ_IMMEDIATE is set: messages sent before the connection is up wait
    /// in it, and SUB sends its subscriptions into it at once. ROUTER needs the peer's routing
    /// id first, so its pipes are made when the handshake completes. STREAM names its peers
    /// itself: as in libzmq, the id exists from `connect` on and survives reconnects.
    fn queues_before_connect(&self) -> bool {
        !self.options.immediate
            && (self.shared.socket_type != SocketType::Router || self.options.raw)
    }

    fn start_connecter<T: Transport>(&mut self, endpoint: &str, target: T) {
        let cfg = self.engine_config();
        let routing_id = self.options.connect_routing_id.take();
        let ends = if self.queues_before_connect() {
            let (id, socket_ends, engine_ends) = self.new_pipe_pair(&cfg.waker);
            self.attach(Attachment {
                id,
                reader: socket_ends.0,
                writer: socket_ends.1,
                routing_id: routing_id.clone(),
                peer: None,
                properties: None,
            });
            Some(engine_ends)
        } else {
            None
        };
        let pipe = ends.as_ref().map(|e| e.id);
        let task = transport::spawn_connecter(
            self.ctx.pool(),
            target,
            endpoint.to_owned(),
            cfg,
            ends,
            routing_id,
        );
        self.last_endpoint = endpoint.to_owned();
        self.endpoints.push(EndpointEntry {
            given: endpoint.to_owned(),
            resolved: endpoint.to_owned(),
            task: Some(task),
            pipe,
            bound: false,
            _cleanup: None,
            fd: None,
        });
    }

    fn new_pipe_pair(&self, waker: &Arc<TaskWaker>) -> (PipeId, SocketEnds, EngineEnds) {
        new_pipe_pair(&self.shared, &self.options, waker)
    }

    fn engine_config(&self) -> Arc<EngineConfig> {
        Arc::new(EngineConfig {
            socket: Arc::clone(&self.shared),
            options: self.options.clone(),
            stream_notify: self.stream_notify,
            waker: Arc::new(TaskWaker::default()),
        })
    }

    fn remove_endpoint(&mut self, endpoint: &str, bound: bool) -> Result<()> {
        let pos = self
            .endpoints
            .iter()
            .position(|e| (e.given == endpoint || e.resolved == endpoint) && e.is_bound() == bound);
        let Some(pos) = pos else {
            return Err(ErrorKind::NotFound.into());
        };
        let e = self.endpoints.remove(pos);
        e.close(&self.ctx, &self.shared);
        if let Some(id) = e.pipe {
            if self.pipes.map.remove(&id).is_some() {
                self.pattern.pipe_terminated(id);
            }
        }
        Ok(())
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let _ = self.shared.closed_at.set(Instant::now());
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.close_notify.notify_waiters();
        for e in std::mem::take(&mut self.endpoints) {
            if e.is_bound() || self.options.linger == 0 {
                e.close(&self.ctx, &self.shared);
            }
        }
        // The monitor's PAIR is dropped here, on the application's thread, after the
        // listeners' CLOSED events.
        drop(self.shared.monitor.stop());
        // Dropping the pipe ends tells each engine that the socket is gone: it delivers what
        // is queued within LINGER, then closes the connection. Peers that attached but were
        // never processed are in the command queue: their ends go too.
        self.pipes.map.clear();
        self.shared.signal.drain_into(&mut self.commands);
        self.commands.clear();
        self.shared.wake_engines();
        drop(self.alive.take());
        self.ctx.socket_dropped();
    }
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("type", &self.shared.socket_type)
            .field("last_endpoint", &self.last_endpoint)
            .field("peers", &self.pipes.map.len())
            .finish()
    }
}

/// What engines share with their socket.
pub(crate) struct SocketShared {
    /// The socket's context, for engines that reach other sockets of it (the ZAP handler).
    /// Weak, so that engines outliving their socket do not keep the context alive.
    pub(crate) ctx: std::sync::Weak<ContextInner>,
    pub(crate) signal: Arc<SocketSignal>,
    pub(crate) socket_type: SocketType,
    next_pipe: AtomicU64,
    /// Set when the socket is dropped.
    pub(crate) closed: AtomicBool,
    /// The socket's LINGER at any time, for engines of a closed socket.
    pub(crate) linger: AtomicI32,
    /// When the socket was closed.
    closed_at: std::sync::OnceLock<Instant>,
    /// Woken when the socket closes, for connecters waiting to retry.
    pub(crate) close_notify: tokio::sync::Notify,
    /// Where connection events go (`zmq_socket_monitor`).
    pub(crate) monitor: MonitorSlot,
    /// Traffic, reconnect and handshake counters ([`Socket::counters`]).
    pub(crate) stats: Arc<crate::counters::SocketStats>,
    /// The accepted connections still in their handshake.
    pub(crate) admission: Arc<crate::admission::Admission>,
    /// The engines serving this socket, woken when it closes (even those whose pipes the
    /// socket never saw, such as one still in its handshake).
    engines: std::sync::Mutex<Vec<std::sync::Weak<TaskWaker>>>,
}

impl SocketShared {
    pub(crate) fn next_pipe_id(&self) -> PipeId {
        PipeId(self.next_pipe.fetch_add(1, Ordering::Relaxed))
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Registers an engine's waker, to be woken when the socket closes.
    pub(crate) fn register_engine(&self, waker: &Arc<TaskWaker>) {
        let mut engines = self.engines.lock().unwrap_or_else(|e| e.into_inner());
        engines.retain(|w| w.strong_count() > 0);
        // A connecter registers the same waker at every reconnect.
        if !engines
            .iter()
            .any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(waker)))
        {
            engines.push(Arc::downgrade(waker));
        }
    }

    /// Wakes every engine (the socket closed).
    fn wake_engines(&self) {
        let engines = std::mem::take(&mut *self.engines.lock().unwrap_or_else(|e| e.into_inner()));
        for w in engines.iter().filter_map(std::sync::Weak::upgrade) {
            w.wake();
        }
    }

    /// What a closed socket's LINGER allows: `None` before close or with LINGER -1 (deliver
    /// for ever), else the instant after which pending messages are dropped.
    pub(crate) fn linger_deadline(&self) -> Option<Instant> {
        let closed_at = *self.closed_at.get()?;
        let linger = u64::try_from(self.linger.load(Ordering::Relaxed)).ok()?;
        Some(closed_at + Duration::from_millis(linger))
    }
}

/// Everything an engine needs from its socket, fixed at bind/connect time.
pub(crate) struct EngineConfig {
    pub(crate) socket: Arc<SocketShared>,
    pub(crate) options: Options,
    /// STREAM: queue an empty message when a connection starts and when the peer ends it.
    pub(crate) stream_notify: bool,
    /// The waker of the task serving this endpoint (a connecter's engine, across reconnects).
    pub(crate) waker: Arc<TaskWaker>,
}

/// The socket's ends of a peer's pipes: (in-pipe reader, out-pipe writer).
pub(crate) type SocketEnds = (PipeReader, PipeWriter);

/// The engine's ends of a peer's pipes.
pub(crate) struct EngineEnds {
    pub(crate) id: PipeId,
    /// Inbound messages, towards the socket.
    pub(crate) writer: PipeWriter,
    /// Outbound messages, from the socket.
    pub(crate) reader: PipeReader,
    /// A previous connection stopped in the middle of an outbound message: skip its rest.
    pub(crate) skip_partial: bool,
    /// These pipes already served a connection (a new handshake is a reconnect).
    pub(crate) connected_before: bool,
}

/// Creates the two pipes of one peer. The out-pipe holds SNDHWM messages, the in-pipe RCVHWM.
pub(crate) fn new_pipe_pair(
    socket: &Arc<SocketShared>,
    options: &Options,
    waker: &Arc<TaskWaker>,
) -> (PipeId, SocketEnds, EngineEnds) {
    let id = socket.next_pipe_id();
    let to_socket = Notifier::Socket(Arc::clone(&socket.signal), id);
    let to_engine = Notifier::Task(Arc::clone(waker));
    let c = options.conflate;
    let (out_w, out_r) = pipe_with(c, hwm(options.sndhwm), to_engine.clone(), to_socket.clone());
    let (in_w, in_r) = pipe_with(c, hwm(options.rcvhwm), to_socket, to_engine);
    (
        id,
        (in_r, out_w),
        EngineEnds {
            id,
            writer: in_w,
            reader: out_r,
            skip_partial: false,
            connected_before: false,
        },
    )
}

struct EndpointEntry {
    given: String,
    resolved: String,
    /// The listener or connecter task (none for inproc).
    task: Option<tokio::task::JoinHandle<()>>,
    /// The queue created at connect time, if any.
    pipe: Option<PipeId>,
    /// Made by `bind` (else by `connect`).
    bound: bool,
    /// Removes an ipc socket file when the endpoint goes away.
    _cleanup: Option<IpcCleanup>,
    /// The listening descriptor, for monitor events.
    fd: Option<std::os::fd::RawFd>,
}

impl EndpointEntry {
    fn is_bound(&self) -> bool {
        self.bound
    }

    /// Stops the endpoint's listener or connecter, or releases its inproc name.
    fn close(&self, ctx: &ContextInner, socket: &Arc<SocketShared>) {
        if let Some(t) = &self.task {
            t.abort();
            if self.bound {
                let fd = self.fd.map_or(0, |fd| fd as u32);
                socket.monitor.emit(events::CLOSED, fd, &self.resolved);
            }
        }
        if self.bound {
            if let Some(name) = self.given.strip_prefix("inproc://") {
                ctx.inproc().unbind(name, socket);
            }
        }
    }
}

#[derive(Default)]
struct PipeTable {
    map: PipeEntries<PipeEntry>,
    /// While set (inside a blocking receive), a read that finds a pipe empty leaves it unarmed
    /// (`PipeReader::read_into` without arming) and notes it in `unarmed`: the receive watches
    /// those pipes itself, and arms them before it sleeps or returns ([`PipeTable::arm_all`]).
    defer_arming: bool,
    unarmed: Vec<PipeId>,
    /// Pipes whose engine is gone and whose last message was read.
    dead: Vec<PipeId>,
}

struct PipeEntry {
    reader: PipeReader,
    writer: PipeWriter,
    in_active: bool,
    out_active: bool,
    /// In `PipeTable::unarmed`.
    unarmed: bool,
    terminating: bool,
    /// inproc: the socket at the other end, told when this end goes away.
    peer: Option<PeerLink>,
    /// Attached to every frame read (message properties).
    properties: Option<Arc<oxmq_proto::Properties>>,
}

/// A socket's pipes by id, the first one inline.
///
/// Why: most sockets have one pipe (a SUB on its PUB, a PULL, a DEALER or a REQ connected to
/// one peer), and an application that reads many of them in turn finds each socket's state out
/// of its cache. Through a hash map, a read then missed on the map's control bytes and on the
/// entry's key before it reached the pipe (perf on `fanout inproc 16 B x100`: a fifth of the
/// receiving threads' time in `XSubCore::recv_into` waited there). Inline, the pipe is found
/// by comparing one id, on the lines of the socket's own state.
struct PipeEntries<V> {
    /// The first pipe attached while none was inline; after it goes, the next attached.
    first: Option<(PipeId, V)>,
    rest: PipeMap<V>,
}

impl<V> Default for PipeEntries<V> {
    fn default() -> Self {
        PipeEntries {
            first: None,
            rest: PipeMap::default(),
        }
    }
}

impl<V> PipeEntries<V> {
    #[inline(always)]
    fn get_mut(&mut self, id: &PipeId) -> Option<&mut V> {
        if let Some((first, e)) = &mut self.first {
            if first == id {
                return Some(e);
            }
        }
        if self.rest.is_empty() {
            return None;
        }
        self.rest.get_mut(id)
    }

    fn contains_key(&self, id: &PipeId) -> bool {
        self.first.as_ref().is_some_and(|(first, _)| first == id) || self.rest.contains_key(id)
    }

    /// Adds (or replaces) the pipe `id`; returns the entry it replaced.
    fn insert(&mut self, id: PipeId, entry: V) -> Option<V> {
        match &mut self.first {
            Some((first, e)) if *first == id => Some(std::mem::replace(e, entry)),
            None if !self.rest.contains_key(&id) => {
                self.first = Some((id, entry));
                None
            }
            _ => self.rest.insert(id, entry),
        }
    }

    fn remove(&mut self, id: &PipeId) -> Option<V> {
        if self.first.as_ref().is_some_and(|(first, _)| first == id) {
            return self.first.take().map(|(_, e)| e);
        }
        self.rest.remove(id)
    }

    fn is_empty(&self) -> bool {
        self.first.is_none() && self.rest.is_empty()
    }

    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    fn clear(&mut self) {
        self.first = None;
        self.rest.clear();
    }
}

impl Drop for PipeEntry {
    fn drop(&mut self) {
        if let Some(p) = &self.peer {
            p.signal.push(Command::Terminated(p.id));
        }
    }
}

impl PipeTable {
    /// The first unarmed pipe (see `defer_arming`) that has a frame now, taken off the list.
    fn ready_unarmed(&mut self) -> Option<PipeId> {
        let i = self
            .unarmed
            .iter()
            .position(|id| self.map.get_mut(id).is_some_and(|e| e.reader.has_data()))?;
        let id = self.unarmed.swap_remove(i);
        if let Some(e) = self.map.get_mut(&id) {
            e.unarmed = false;
        }
        Some(id)
    }

    /// Arms every unarmed pipe (see `defer_arming`); returns those that had a frame meanwhile,
    /// which will get no notification.
    fn arm_all(&mut self, ready: &mut Vec<PipeId>) {
        for id in self.unarmed.drain(..) {
            if let Some(e) = self.map.get_mut(&id) {
                e.unarmed = false;
                if e.reader.arm() {
                    ready.push(id);
                }
            }
        }
    }

    /// [`Pipes::write`], and with `publish` the flush of a frame that ends its message, with
    /// one lookup of the pipe.
    #[inline]
    fn write_to<F: Outgoing>(
        &mut self,
        pipe: PipeId,
        frame: F,
        publish: bool,
    ) -> std::result::Result<(), F> {
        let Some(e) = self.map.get_mut(&pipe) else {
            return Err(frame);
        };
        let last = !frame.more();
        frame
            .write(&mut e.writer)
            .inspect_err(|_| e.out_active = false)?;
        if publish && last {
            e.writer.flush();
        }
        Ok(())
    }

    /// The engine of `id` is gone: the pipe dies once its last message was read.
    fn terminating(&mut self, id: PipeId) {
        if let Some(e) = self.map.get_mut(&id) {
            e.terminating = true;
            if !e.reader.has_data() {
                self.dead.push(id);
            }
        }
    }
}

impl Pipes for PipeTable {
    #[inline]
    fn write(&mut self, pipe: PipeId, msg: Msg) -> std::result::Result<(), Msg> {
        self.write_to(pipe, msg, false)
    }

    #[inline]
    fn write_and_publish(&mut self, pipe: PipeId, msg: Msg) -> std::result::Result<(), Msg> {
        self.write_to(pipe, msg, true)
    }

    #[inline]
    fn write_copy_and_publish(&mut self, pipe: PipeId, copies: &mut Copies) -> bool {
        self.write_to(pipe, copies, true).is_ok()
    }

    #[inline]
    fn write_bytes_and_publish(&mut self, pipe: PipeId, data: &[u8], more: bool) -> bool {
        self.write_to(pipe, ByteFrame { data, more }, true).is_ok()
    }

    fn check_write(&mut self, pipe: PipeId) -> bool {
        match self.map.get_mut(&pipe) {
            Some(e) => {
                let ok = e.writer.check_write();
                e.out_active = ok;
                ok
            }
            None => false,
        }
    }

    #[inline]
    fn flush(&mut self, pipe: PipeId) {
        if let Some(e) = self.map.get_mut(&pipe) {
            e.writer.flush();
        }
    }

    fn rollback(&mut self, pipe: PipeId) {
        if let Some(e) = self.map.get_mut(&pipe) {
            e.writer.rollback();
        }
    }

    #[inline]
    fn read(&mut self, pipe: PipeId) -> Option<Msg> {
        let mut out = None;
        self.read_into(pipe, &mut out);
        out
    }

    #[inline(always)]
    fn read_into(&mut self, pipe: PipeId, out: &mut Option<Msg>) {
        let Some(e) = self.map.get_mut(&pipe) else {
            *out = None;
            return;
        };
        e.reader.read_into(out, !self.defer_arming);
        if let Some(msg) = out {
            if let Some(p) = &e.properties {
                msg.set_properties(Some(Arc::clone(p)));
            }
            // A pipe whose peer left dies with its last message, as libzmq's does when it reads
            // the delimiter behind it; only such pipes pay for the check.
            if e.terminating && !msg.more() && !e.reader.has_data() && !self.dead.contains(&pipe) {
                self.dead.push(pipe);
            }
        } else {
            if self.defer_arming && !e.unarmed {
                e.unarmed = true;
                self.unarmed.push(pipe);
            }
            e.in_active = false;
            if (e.terminating || e.reader.is_writer_closed()) && !self.dead.contains(&pipe) {
                self.dead.push(pipe);
            }
        }
    }

    fn terminate(&mut self, pipe: PipeId) {
        if self.map.contains_key(&pipe) && !self.dead.contains(&pipe) {
            self.dead.push(pipe);
        }
    }
}

/// What [`PipeTable::write_to`] writes: a frame, or a copy of a fan-out's made in the pipe.
trait Outgoing: Sized {
    fn more(&self) -> bool;
    /// Writes to `writer`, or gives itself back when the pipe is at its high-water mark.
    fn write(self, writer: &mut PipeWriter) -> std::result::Result<(), Self>;
}

impl Outgoing for Msg {
    #[inline]
    fn more(&self) -> bool {
        Msg::more(self)
    }

    #[inline]
    fn write(self, writer: &mut PipeWriter) -> std::result::Result<(), Msg> {
        writer.write(self)
    }
}

impl Outgoing for &mut Copies {
    #[inline]
    fn more(&self) -> bool {
        Copies::more(self)
    }

    #[inline]
    fn write(self, writer: &mut PipeWriter) -> std::result::Result<(), Self> {
        if writer.write_copy(self) {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl Outgoing for ByteFrame<'_> {
    #[inline]
    fn more(&self) -> bool {
        self.more
    }

    #[inline]
    fn write(self, writer: &mut PipeWriter) -> std::result::Result<(), Self> {
        if writer.write_bytes(self.data, self.more) {
            Ok(())
        } else {
            Err(self)
        }
    }
}

/// The frames of a multipart message: MORE on every frame but the last.
fn frames<I, M>(parts: I) -> impl Iterator<Item = Msg>
where
    I: IntoIterator<Item = M>,
    M: Into<Msg>,
{
    let mut parts = parts.into_iter().peekable();
    std::iter::from_fn(move || {
        let part = parts.next()?;
        Some(part.into().with_more(parts.peek().is_some()))
    })
}

/// Adds a received frame to a multipart message; returns whether more frames follow.
fn collect(parts: &mut Vec<Msg>, frame: Msg) -> bool {
    let more = frame.more();
    parts.push(frame);
    more
}

fn hwm(v: i32) -> usize {
    usize::try_from(v).unwrap_or(0)
}

/// A blocking call's time limit (SNDTIMEO or RCVTIMEO, -1 for none), read from the clock only
/// when the call first has to wait: a call that succeeds at once, as most do under load, pays
/// no clock read (one per message was 5 % of `thr inproc 16 B`).
struct Deadline {
    timeout_ms: i32,
    at: Option<Option<Instant>>,
}

impl Deadline {
    fn new(timeout_ms: i32) -> Deadline {
        Deadline {
            timeout_ms,
            at: None,
        }
    }

    fn get(&mut self) -> Option<Instant> {
        let ms = self.timeout_ms;
        *self.at.get_or_insert_with(|| {
            u64::try_from(ms)
                .ok()
                .map(|ms| Instant::now() + Duration::from_millis(ms))
        })
    }
}

fn positive(v: i32) -> Result<i32> {
    if v > 0 {
        Ok(v)
    } else {
        Err(ErrorKind::InvalidInput.into())
    }
}

fn non_negative(v: i32) -> Result<i32> {
    at_least(v, 0)
}

fn at_least(v: i32, min: i32) -> Result<i32> {
    if v < min {
        Err(ErrorKind::InvalidInput.into())
    } else {
        Ok(v)
    }
}

fn pattern_kind(e: &PatternError) -> ErrorKind {
    match e {
        PatternError::WouldBlock => ErrorKind::WouldBlock,
        PatternError::Fsm => ErrorKind::Fsm,
        PatternError::HostUnreachable => ErrorKind::HostUnreachable,
        PatternError::NotSupported => ErrorKind::NotSupported,
        PatternError::InvalidArgument => ErrorKind::InvalidInput,
        _ => ErrorKind::InvalidInput,
    }
}

fn pattern_error(e: PatternError) -> Error {
    Error::with_source(pattern_kind(&e), e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Context;

    fn pair(ctx: &Context, a: SocketType, b: SocketType) -> (Socket, Socket) {
        let mut s = ctx.socket(a).expect("socket");
        s.set_linger(0).expect("linger");
        s.set_rcvtimeo(5000).expect("rcvtimeo");
        s.set_sndtimeo(5000).expect("sndtimeo");
        s.bind("tcp://127.0.0.1:*").expect("bind");
        let mut c = ctx.socket(b).expect("socket");
        c.set_linger(0).expect("linger");
        c.set_rcvtimeo(5000).expect("rcvtimeo");
        c.set_sndtimeo(5000).expect("sndtimeo");
        c.connect(&s.last_endpoint()).expect("connect");
        (s, c)
    }

    #[test]
    fn pipe_entries_find_every_pipe_inline_or_hashed() {
        let mut pipes = PipeEntries::<&str>::default();
        assert!(pipes.is_empty());
        assert_eq!(pipes.insert(PipeId(1), "a"), None);
        assert_eq!(pipes.insert(PipeId(2), "b"), None);
        assert_eq!(pipes.insert(PipeId(3), "c"), None);
        assert_eq!(pipes.len(), 3);
        // Replacing returns the old entry, inline or hashed, and adds nothing.
        assert_eq!(pipes.insert(PipeId(1), "A"), Some("a"));
        assert_eq!(pipes.insert(PipeId(3), "C"), Some("c"));
        assert_eq!(pipes.len(), 3);
        assert_eq!(pipes.get_mut(&PipeId(1)).copied(), Some("A"));
        assert_eq!(pipes.get_mut(&PipeId(2)).copied(), Some("b"));
        assert_eq!(pipes.get_mut(&PipeId(4)), None);
        // The inline pipe goes; a pipe already hashed is not duplicated inline when replaced,
        // and the next new one takes the free place.
        assert_eq!(pipes.remove(&PipeId(1)), Some("A"));
        assert!(!pipes.contains_key(&PipeId(1)));
        assert_eq!(pipes.insert(PipeId(2), "B"), Some("b"));
        assert_eq!(pipes.len(), 2);
        assert_eq!(pipes.insert(PipeId(5), "e"), None);
        assert_eq!(pipes.len(), 3);
        for (id, v) in [(2, "B"), (3, "C"), (5, "e")] {
            assert!(pipes.contains_key(&PipeId(id)));
            assert_eq!(pipes.get_mut(&PipeId(id)).copied(), Some(v));
        }
        assert_eq!(pipes.remove(&PipeId(3)), Some("C"));
        assert_eq!(pipes.remove(&PipeId(3)), None);
        assert_eq!(pipes.len(), 2);
        pipes.clear();
        assert!(pipes.is_empty());
        assert_eq!(pipes.get_mut(&PipeId(5)), None);
    }

    #[test]
    fn push_pull_keeps_order_and_frames() {
        let ctx = Context::new();
        let (mut pull, mut push) = pair(&ctx, SocketType::Pull, SocketType::Push);
        for i in 0..10_000u32 {
            push.send_multipart([&i.to_be_bytes()[..], b"", &[7u8; 100][..]])
                .expect("send");
        }
        for i in 0..10_000u32 {
            let parts = pull.recv_multipart().expect("recv");
            assert_eq!(parts.len(), 3);
            assert_eq!(parts[0].data(), i.to_be_bytes());
            assert!(parts[1].is_empty());
            assert_eq!(parts[2].len(), 100);
        }
    }

    #[test]
    fn req_rep_round_trips_and_enforces_alternation() {
        let ctx = Context::new();
        let (mut rep, mut req) = pair(&ctx, SocketType::Rep, SocketType::Req);
        for i in 0..100u32 {
            req.send(&i.to_be_bytes()).expect("send");
            assert_eq!(req.send("again").map_err(|e| e.kind()), Err(ErrorKind::Fsm));
            let m = rep.recv().expect("recv");
            rep.send(m).expect("reply");
            assert_eq!(req.recv().expect("reply").data(), i.to_be_bytes());
        }
    }

    #[test]
    fn a_blocking_recv_arms_the_pipes_it_found_empty_before_it_returns() {
        let ctx = Context::new();
        let mut pull = ctx.socket(SocketType::Pull).expect("socket");
        pull.set_rcvtimeo(5000).expect("rcvtimeo");
        pull.bind("inproc://armed").expect("bind");
        let mut pushes: Vec<Socket> = (0..2)
            .map(|_| {
                let mut push = ctx.socket(SocketType::Push).expect("socket");
                push.connect("inproc://armed").expect("connect");
                push.send("hello").expect("send");
                push
            })
            .collect();
        // One frame from each pipe in turn: the fair queue looks at the first pipe next.
        for _ in 0..2 {
            assert_eq!(pull.recv().expect("hello").data(), b"hello");
        }
        // The receive finds the first pipe empty (and leaves it unarmed while it looks on) and
        // takes the second pipe's frame.
        pushes[1].send("second").expect("send");
        assert_eq!(pull.recv().expect("second").data(), b"second");
        assert!(!pull.pipes.defer_arming && pull.pipes.unarmed.is_empty());
        // The first pipe was armed on the way out, so a frame written to it now wakes a poll.
        pushes[0].send("first").expect("send");
        let mut items = [crate::PollItem::socket(&mut pull, crate::POLLIN)];
        assert_eq!(crate::poll(&mut items, 5000).expect("poll"), 1);
        assert_eq!(pull.try_recv().expect("first").data(), b"first");
    }

    #[test]
    fn recv_times_out_with_eagain() {
        let ctx = Context::new();
        let (mut pull, _push) = pair(&ctx, SocketType::Pull, SocketType::Push);
        pull.set_rcvtimeo(50).expect("rcvtimeo");
        let t = Instant::now();
        assert_eq!(
            pull.recv().map_err(|e| e.kind()),
            Err(ErrorKind::WouldBlock)
        );
        assert!(t.elapsed() >= Duration::from_millis(50));
        assert_eq!(
            pull.try_recv().map_err(|e| e.kind()),
            Err(ErrorKind::WouldBlock)
        );
    }

    #[test]
    fn large_message_crosses_intact() {
        let ctx = Context::new();
        let (mut pull, mut push) = pair(&ctx, SocketType::Pull, SocketType::Push);
        let big: Vec<u8> = (0..(4usize << 20)).map(|i| i as u8).collect();
        push.send(big.clone()).expect("send");
        assert_eq!(pull.recv().expect("recv").data(), &big[..]);
    }

    #[test]
    fn xpub_sees_each_new_subscription_in_order() {
        let ctx = Context::new();
        let (mut xpub, mut sub) = pair(&ctx, SocketType::XPub, SocketType::Sub);
        let topics: [&[u8]; 4] = [b"A.", b"B", b"sync", b"END"];
        for t in topics {
            sub.subscribe(t).expect("subscribe");
        }
        for t in topics {
            let m = xpub.recv().expect("subscription");
            assert_eq!(m.data()[0], 1);
            assert_eq!(&m.data()[1..], t);
        }
    }

    #[test]
    fn linger_bounds_reconnecting_after_close() {
        // A closed socket with an undeliverable message and no peer keeps trying only for
        // LINGER; then the context can terminate.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
            l.local_addr().expect("addr").port()
        };
        let t = Instant::now();
        {
            let ctx = Context::new();
            let mut push = ctx.socket(SocketType::Push).expect("socket");
            push.set_linger(200).expect("linger");
            push.set_reconnect_ivl(20).expect("ivl");
            push.connect(&format!("tcp://127.0.0.1:{port}"))
                .expect("connect");
            push.send("never delivered").expect("queued");
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "took {:?}",
            t.elapsed()
        );
        assert!(
            t.elapsed() >= Duration::from_millis(200),
            "took {:?}",
            t.elapsed()
        );
    }

    #[test]
    fn silent_client_is_dropped_after_handshake_ivl() {
        use std::io::Read;
        let ctx = Context::new();
        let mut rep = ctx.socket(SocketType::Rep).expect("socket");
        rep.set_linger(0).expect("linger");
        rep.set_sockopt(opt::HANDSHAKE_IVL, &100i32.to_ne_bytes())
            .expect("handshake_ivl");
        rep.bind("tcp://127.0.0.1:*").expect("bind");
        let addr = rep.last_endpoint().trim_start_matches("tcp://").to_owned();
        let mut raw = std::net::TcpStream::connect(addr).expect("connect");
        raw.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        // The server sends its signature, then closes when the handshake limit passes.
        let mut buf = [0u8; 64];
        let mut total = 0;
        loop {
            match raw.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("connection still open after 5 s: {e}"),
            }
        }
        assert_eq!(total, 10, "only the greeting signature was sent");
    }

    fn ipc_round_trip(ctx: &Context, endpoint: &str) -> String {
        let mut rep = ctx.socket(SocketType::Rep).expect("socket");
        rep.set_linger(0).expect("linger");
        rep.set_rcvtimeo(5000).expect("rcvtimeo");
        rep.bind(endpoint).expect("bind");
        let bound = rep.last_endpoint();
        let mut req = ctx.socket(SocketType::Req).expect("socket");
        req.set_linger(0).expect("linger");
        req.set_rcvtimeo(5000).expect("rcvtimeo");
        req.connect(&bound).expect("connect");
        req.send("over ipc").expect("send");
        let m = rep.recv().expect("recv");
        rep.send(m).expect("reply");
        assert_eq!(req.recv().expect("reply").data(), b"over ipc");
        bound
    }

    #[test]
    fn ipc_wildcard_reports_its_path_and_removes_it_on_close() {
        let ctx = Context::new();
        let bound = ipc_round_trip(&ctx, "ipc://*");
        let path = bound
            .strip_prefix("ipc://")
            .expect("ipc endpoint")
            .to_owned();
        assert!(path.ends_with("/socket"), "{bound}");
        // Both sockets of the round trip are closed: the file and its directory are gone.
        assert!(!std::path::Path::new(&path).exists(), "{path} left behind");
        let dir = std::path::Path::new(&path).parent().expect("dir");
        assert!(!dir.exists(), "{} left behind", dir.display());
    }

    #[test]
    fn ipc_unbind_removes_the_file_and_rebinding_replaces_a_stale_one() {
        let ctx = Context::new();
        let dir = std::env::temp_dir().join(format!("oxmq-ipc-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("stale.sock");
        std::fs::write(&path, b"stale").expect("stale file");
        let endpoint = format!("ipc://{}", path.display());
        assert_eq!(ipc_round_trip(&ctx, &endpoint), endpoint);
        let mut pull = ctx.socket(SocketType::Pull).expect("socket");
        pull.bind(&endpoint).expect("bind");
        assert!(path.exists());
        pull.unbind(&endpoint).expect("unbind");
        assert!(!path.exists());
        let _ = std::fs::remove_dir(&dir);
    }

    #[test]
    fn ipc_abstract_names_work() {
        let ctx = Context::new();
        let name = format!("ipc://@oxmq-test-{}", std::process::id());
        assert_eq!(ipc_round_trip(&ctx, &name), name);
    }

    fn inproc_socket(ctx: &Context, t: SocketType) -> Socket {
        let mut s = ctx.socket(t).expect("socket");
        s.set_linger(0).expect("linger");
        s.set_rcvtimeo(5000).expect("rcvtimeo");
        s.set_sndtimeo(5000).expect("sndtimeo");
        s
    }

    #[test]
    fn inproc_works_bound_first_and_connected_first() {
        let ctx = Context::new();
        let mut pull = inproc_socket(&ctx, SocketType::Pull);
        pull.bind("inproc://first").expect("bind");
        let mut push = inproc_socket(&ctx, SocketType::Push);
        push.connect("inproc://first").expect("connect");
        push.send_multipart(["a", "", "b"]).expect("send");
        let parts = pull.recv_multipart().expect("recv");
        assert_eq!(parts.len(), 3);

        // Connect before bind: messages queue and arrive once the name is bound.
        let mut early = inproc_socket(&ctx, SocketType::Push);
        early.connect("inproc://later").expect("connect");
        early.send("queued").expect("queued before bind");
        let mut late = inproc_socket(&ctx, SocketType::Pull);
        late.bind("inproc://later").expect("bind");
        assert_eq!(late.recv().expect("recv").data(), b"queued");

        let mut dup = inproc_socket(&ctx, SocketType::Pull);
        assert_eq!(
            dup.bind("inproc://later").map_err(|e| e.kind()),
            Err(ErrorKind::AddrInUse)
        );
    }

    #[test]
    fn inproc_carries_routing_ids_and_subscriptions() {
        let ctx = Context::new();
        let mut router = inproc_socket(&ctx, SocketType::Router);
        router.bind("inproc://router").expect("bind");
        let mut dealer = inproc_socket(&ctx, SocketType::Dealer);
        dealer.set_routing_id(b"dealer-1").expect("routing id");
        dealer.connect("inproc://router").expect("connect");
        dealer.send("hi").expect("send");
        let parts = router.recv_multipart().expect("recv");
        assert_eq!(parts[0].data(), b"dealer-1");
        router.send_multipart(["dealer-1", "back"]).expect("reply");
        assert_eq!(dealer.recv().expect("reply").data(), b"back");

        let mut xpub = inproc_socket(&ctx, SocketType::XPub);
        xpub.bind("inproc://pub").expect("bind");
        let mut sub = inproc_socket(&ctx, SocketType::Sub);
        sub.connect("inproc://pub").expect("connect");
        sub.subscribe(b"t").expect("subscribe");
        assert_eq!(xpub.recv().expect("subscription").data(), b"\x01t");
        xpub.send("nope").expect("send");
        xpub.send("t1").expect("send");
        assert_eq!(sub.recv().expect("recv").data(), b"t1");
    }

    #[test]
    fn inproc_hwm_is_the_sum_of_both_sides() {
        let ctx = Context::new();
        let mut pull = inproc_socket(&ctx, SocketType::Pull);
        pull.set_rcvhwm(3).expect("rcvhwm");
        pull.bind("inproc://hwm").expect("bind");
        let mut push = inproc_socket(&ctx, SocketType::Push);
        push.set_sndhwm(2).expect("sndhwm");
        push.connect("inproc://hwm").expect("connect");
        for i in 0..5 {
            push.try_send(format!("m{i}"))
                .expect("within the summed HWM");
        }
        assert_eq!(
            push.try_send("one too many").map_err(|e| e.kind()),
            Err(ErrorKind::WouldBlock)
        );
        assert_eq!(pull.recv().expect("recv").data(), b"m0");
    }

    #[test]
    fn inproc_peer_close_delivers_then_terminates() {
        let ctx = Context::new();
        let mut pair = inproc_socket(&ctx, SocketType::Pair);
        pair.bind("inproc://pair").expect("bind");
        {
            let mut other = inproc_socket(&ctx, SocketType::Pair);
            other.connect("inproc://pair").expect("connect");
            other.send("last words").expect("send");
        }
        assert_eq!(pair.recv().expect("recv").data(), b"last words");
        // The first peer is gone: PAIR accepts a new one.
        let mut next = inproc_socket(&ctx, SocketType::Pair);
        next.connect("inproc://pair").expect("connect");
        next.send("again").expect("send");
        assert_eq!(pair.recv().expect("recv").data(), b"again");
    }

    #[test]
    fn term_fails_blocked_calls_with_eterm_and_waits_for_the_sockets() {
        let ctx = Context::new();
        let mut pull = ctx.socket(SocketType::Pull).expect("socket");
        pull.bind("inproc://term").expect("bind");
        let blocked = std::thread::spawn(move || {
            let r = pull.recv().map_err(|e| e.kind());
            // The socket is dropped here, after the call failed: that lets term() return.
            r
        });
        let handle = ctx.clone();
        let t = Instant::now();
        // term() must first make the blocked recv fail, then wait for its socket.
        ctx.term();
        assert_eq!(
            blocked.join().expect("thread").map(|m| m.len()),
            Err(ErrorKind::Terminated)
        );
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(
            handle
                .socket(SocketType::Push)
                .map(|_| ())
                .map_err(|e| e.kind()),
            Err(ErrorKind::Terminated)
        );
    }

    #[test]
    fn shutdown_makes_async_calls_fail_too() {
        let ctx = Context::new();
        let mut sub = ctx.socket(SocketType::Sub).expect("socket");
        sub.bind("inproc://shutdown").expect("bind");
        let waiter = std::thread::spawn(move || {
            futures_lite_block_on(sub.recv_async())
                .map(|_| ())
                .map_err(|e| e.kind())
        });
        ctx.shutdown();
        assert_eq!(waiter.join().expect("thread"), Err(ErrorKind::Terminated));
    }

    /// A minimal executor: polls a future on this thread, parking between wake-ups.
    fn futures_lite_block_on<F: std::future::Future>(fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        let waker = thread_waker();
        let mut cx = TaskContext::from_waker(&waker);
        loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park_timeout(Duration::from_millis(100));
        }
    }

    #[test]
    fn zmq_fd_is_readable_through_getsockopt() {
        let ctx = Context::new();
        let mut s = ctx.socket(SocketType::Pull).expect("socket");
        let raw = s.sockopt(opt::FD).expect("ZMQ_FD");
        let fd = i32::from_ne_bytes(raw.as_slice().try_into().expect("an int"));
        assert_eq!(fd, s.fd().expect("fd"));
    }
}
