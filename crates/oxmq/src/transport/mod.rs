//! Transports: the only code, with the engine, that touches operating-system sockets.
//!
//! A transport says how to listen, accept, connect and configure a stream; the loops that
//! accept connections and keep a connection up (reconnecting after RECONNECT_IVL, with back-off
//! up to RECONNECT_IVL_MAX, until the socket disconnects or closes within LINGER) are written
//! once here for every stream transport.

use std::future::Future;
use std::io::{self, IoSlice};
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tracing::debug;

use crate::context::IoPool;
use crate::engine::{self, Exit};
use crate::monitor::events;
use crate::opt;
use crate::options::Options;
use crate::socket::{EngineConfig, EngineEnds};

pub(crate) mod inproc;
pub(crate) mod ipc;
pub(crate) mod tcp;

/// A connected, non-blocking byte stream an engine can drive.
pub(crate) trait Stream: Send + 'static {
    /// Registers for, or reports, read readiness.
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Reads what is available into `buf`'s spare capacity.
    fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize>;
    /// Registers for, or reports, write readiness.
    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Writes as much of `bufs` as the kernel takes.
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// The descriptor, for monitor events.
    fn raw_fd(&self) -> std::os::fd::RawFd;
    /// Caps the bytes the kernel holds unsent before the stream reports itself writable
    /// (`TCP_NOTSENT_LOWAT`); a no-op where there is no such limit.
    fn cap_unsent(&self, bytes: usize);
    /// The Peer-Address message property, as libzmq forms it: the peer's IP address (no
    /// port) over tcp, `localhost:uid:gid:pid` of the peer process over ipc (glibc's
    /// `getnameinfo` gives libzmq "localhost" for a unix socket).
    fn peer_address(&self) -> String;
}

macro_rules! impl_stream {
    ($t:ty, $peer_address:expr) => {
        impl_stream!($t, $peer_address, |_: &$t, _: usize| {});
    };
    ($t:ty, $peer_address:expr, $cap_unsent:expr) => {
        impl Stream for $t {
            fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                <$t>::poll_read_ready(self, cx)
            }
            fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
                // A read that leaves room in the buffer emptied the socket: tell tokio so (by
                // ending the `try_io` with WouldBlock), instead of letting the next round find
                // out with a read(2) that fails with EAGAIN. Safe for the same reason as any
                // WouldBlock: tokio clears only the readiness it saw before the read, so data
                // that arrives after it raises readiness again.
                let mut got = 0;
                let r = self.try_io(tokio::io::Interest::READABLE, || {
                    let spare = buf.capacity() - buf.len();
                    got = <$t>::try_read_buf(self, buf)?;
                    if got > 0 && got < spare {
                        Err(io::ErrorKind::WouldBlock.into())
                    } else {
                        Ok(got)
                    }
                });
                match r {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
                    r => r,
                }
            }
            fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                <$t>::poll_write_ready(self, cx)
            }
            fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                <$t>::try_write_vectored(self, bufs)
            }
            fn raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(self)
            }
            fn peer_address(&self) -> String {
                $peer_address(self)
            }
            fn cap_unsent(&self, bytes: usize) {
                $cap_unsent(self, bytes)
            }
        }
    };
}

impl_stream!(
    tokio::net::TcpStream,
    |s: &tokio::net::TcpStream| s
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default(),
    |s: &tokio::net::TcpStream, bytes: usize| tcp::cap_unsent(s, bytes)
);
impl_stream!(tokio::net::UnixStream, |s: &tokio::net::UnixStream| s
    .peer_cred()
    .map(|c| format!("localhost:{}:{}:{}", c.uid(), c.gid(), c.pid().unwrap_or(0)))
    .unwrap_or_default());

/// How one stream transport listens, accepts, connects and configures connections.
pub(crate) trait Transport: Send + Sync + 'static {
    /// The runtime's stream type.
    type Stream: Stream;
    /// The stream as the standard library has it, to move between I/O threads.
    type StdStream: Send + 'static;
    /// The runtime's listener type.
    type Listener: Send + 'static;
    /// The listener as the standard library has it (bound on the caller's thread).
    type StdListener: Send + 'static;

    /// Registers a bound listener with the current I/O runtime.
    fn listener_from_std(l: Self::StdListener) -> io::Result<Self::Listener>;
    /// Waits for the next connection; returns it with a printable peer address.
    fn accept(
        l: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Stream, String)>> + Send;
    /// Connects to this endpoint; returns the stream with a printable peer address.
    fn connect(
        &self,
        options: &Options,
    ) -> impl Future<Output = io::Result<(Self::Stream, String)>> + Send;
    /// Detaches a stream from its runtime.
    fn stream_to_std(s: Self::Stream) -> io::Result<Self::StdStream>;
    /// Registers a stream with the current runtime.
    fn stream_from_std(s: Self::StdStream) -> io::Result<Self::Stream>;
    /// Whether the accept filters (ZMQ_TCP_ACCEPT_FILTER, ZMQ_IPC_FILTER_*) let this accepted
    /// peer in.
    fn admits(s: &Self::Stream, options: &Options) -> bool;
    /// Applies per-connection socket options.
    fn configure(s: &Self::Stream, options: &Options);
    /// Whether a connect completes asynchronously (libzmq then reports CONNECT_DELAYED).
    const CONNECT_IS_DELAYED: bool;
}

/// ZMQ_USE_FD: takes ownership of the application's listening descriptor `fd` for a bind
/// (`None` when the option is -1, the default). The descriptor must be a listening stream
/// socket of the endpoint's family (an IP one for tcp, a Unix one for ipc); anything else is
/// refused with EINVAL and left open.
pub(crate) fn adopt_listener(fd: i32, ip: bool) -> crate::error::Result<Option<OwnedFd>> {
    use crate::error::{Error, ErrorKind};
    if fd < 0 {
        return Ok(None);
    }
    let refuse =
        |why: &str| Error::with_source(ErrorKind::InvalidInput, format!("ZMQ_USE_FD: {why}"));
    // SAFETY: the descriptor is only borrowed for the checks below, during which nothing
    // closes it; an fd that is not open makes the getsockopt calls fail with EBADF.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let sock = socket2::SockRef::from(&borrowed);
    let listening = sock.is_listener().map_err(|_| refuse("not a socket"))?;
    let domain = sock.domain().map_err(|_| refuse("not a socket"))?;
    let family_ok = if ip {
        domain == socket2::Domain::IPV4 || domain == socket2::Domain::IPV6
    } else {
        domain == socket2::Domain::UNIX
    };
    if !listening || !family_ok || sock.r#type().ok() != Some(socket2::Type::STREAM) {
        return Err(refuse("not a listening stream socket of this transport"));
    }
    sock.set_nonblocking(true)?;
    // SAFETY: ZMQ_USE_FD hands the descriptor to the socket, as in libzmq: from here on it is
    // ours and is closed when the endpoint is unbound or the socket closed.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Accepts connections on `listener` until the returned task is aborted; each connection
/// gets its own engine on the next I/O thread.
pub(crate) fn spawn_listener<T: Transport>(
    pool: &Arc<IoPool>,
    listener: T::StdListener,
    cfg: Arc<EngineConfig>,
    endpoint: String,
) -> tokio::task::JoinHandle<()> {
    let engines = Arc::clone(pool);
    pool.handle().spawn(async move {
        let listener = match T::listener_from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                debug!(%endpoint, error = %e, "cannot register listener");
                return;
            }
        };
        loop {
            let (stream, peer) = match T::accept(&listener).await {
                Ok(s) => s,
                Err(e) => {
                    // Usually EMFILE or ECONNABORTED: keep serving the others.
                    debug!(%endpoint, error = %e, "accept failed");
                    cfg.socket.monitor.emit(
                        events::ACCEPT_FAILED,
                        e.raw_os_error().unwrap_or(0) as u32,
                        &endpoint,
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            if cfg.socket.is_closed() {
                return;
            }
            if !T::admits(&stream, &cfg.options) {
                // libzmq closes a filtered peer at once and reports a failed accept.
                debug!(%endpoint, %peer, "connection refused by an accept filter");
                cfg.socket
                    .monitor
                    .emit(events::ACCEPT_FAILED, EACCES, &endpoint);
                continue;
            }
            cfg.socket
                .monitor
                .emit(events::ACCEPTED, stream.raw_fd() as u32, &endpoint);
            let engine_cfg = Arc::new(EngineConfig {
                socket: Arc::clone(&cfg.socket),
                options: cfg.options.clone(),
                stream_notify: cfg.stream_notify,
                waker: Arc::default(),
            });
            // STREAM connections have no handshake to bound.
            let ticket = if cfg.options.raw {
                None
            } else {
                let source = stream.peer_address();
                let admitted = cfg.socket.admission.admit(
                    &source,
                    Arc::clone(&engine_cfg.waker),
                    cfg.socket.next_pipe_id().0,
                );
                let Some((ticket, evicted)) = admitted else {
                    // Closed as an evicted handshake is, and reported the same way.
                    debug!(%endpoint, %source, "too many young handshakes in progress: refusing a connection");
                    let stats = &cfg.socket.stats;
                    stats.handshake_refused();
                    stats.handshake_failed(crate::counters::HandshakeFailure::NoDetail);
                    let monitor = &cfg.socket.monitor;
                    monitor.emit(events::HANDSHAKE_FAILED_NO_DETAIL, 0, &endpoint);
                    monitor.emit(events::DISCONNECTED, stream.raw_fd() as u32, &endpoint);
                    continue;
                };
                if evicted > 0 {
                    debug!(%endpoint, %source, evicted, "too many handshakes in progress: evicting the oldest");
                    cfg.socket.stats.handshakes_evicted(evicted);
                }
                Some(ticket)
            };
            let Ok(stream) = T::stream_to_std(stream) else {
                continue;
            };
            let endpoint = endpoint.clone();
            engines.spawn_counted(cfg.options.affinity, async move {
                let Ok(stream) = T::stream_from_std(stream) else {
                    return;
                };
                T::configure(&stream, &engine_cfg.options);
                debug!(%endpoint, %peer, "accepted");
                engine::run(stream, engine_cfg, None, None, endpoint, ticket).await;
            });
        }
    })
}

/// Connects to `target` and keeps the connection up: reconnects after RECONNECT_IVL (with
/// exponential back-off up to RECONNECT_IVL_MAX) until the socket disconnects or closes.
pub(crate) fn spawn_connecter<T: Transport>(
    pool: &Arc<IoPool>,
    target: T,
    endpoint: String,
    cfg: Arc<EngineConfig>,
    mut ends: Option<EngineEnds>,
    routing_id: Option<bytes::Bytes>,
) -> tokio::task::JoinHandle<()> {
    pool.spawn_counted(cfg.options.affinity, async move {
        let base = cfg.options.reconnect_ivl;
        let max = cfg.options.reconnect_ivl_max;
        let mut ivl = base;
        loop {
            if cfg.socket.is_closed() && !has_pending(&mut ends, &cfg) {
                return;
            }
            let linger_deadline = cfg.socket.linger_deadline();
            let monitor = &cfg.socket.monitor;
            if T::CONNECT_IS_DELAYED {
                monitor.emit(events::CONNECT_DELAYED, EINPROGRESS, &endpoint);
            }
            let stop = cfg.options.reconnect_stop;
            match target.connect(&cfg.options).await {
                Ok((stream, peer)) => {
                    ivl = base;
                    T::configure(&stream, &cfg.options);
                    monitor.emit(events::CONNECTED, stream.raw_fd() as u32, &endpoint);
                    debug!(%endpoint, %peer, "connected");
                    let ended = engine::run(
                        stream,
                        Arc::clone(&cfg),
                        ends,
                        routing_id.clone(),
                        endpoint.clone(),
                        None,
                    )
                    .await;
                    ends = ended.ends;
                    if matches!(ended.exit, Exit::SocketClosed) {
                        return;
                    }
                    // RECONNECT_STOP_AFTER_DISCONNECT needs nothing here: `disconnect` always
                    // ends this task.
                    if !ended.handshaken && stop & opt::RECONNECT_STOP_HANDSHAKE_FAILED != 0 {
                        debug!(%endpoint, "not reconnecting (ZMQ_RECONNECT_STOP)");
                        return;
                    }
                }
                Err(e) => {
                    debug!(%endpoint, error = %e, "connect failed");
                    // libzmq closes the failed descriptor and says so; tokio has already
                    // closed ours, so there is no number to give.
                    monitor.emit(events::CLOSED, u32::MAX, &endpoint);
                    if stop & opt::RECONNECT_STOP_CONN_REFUSED != 0
                        && e.kind() == io::ErrorKind::ConnectionRefused
                    {
                        debug!(%endpoint, "not reconnecting (ZMQ_RECONNECT_STOP)");
                        return;
                    }
                }
            }
            if ivl < 0 {
                // RECONNECT_IVL -1: never reconnect.
                return;
            }
            monitor.emit(events::CONNECT_RETRIED, ivl as u32, &endpoint);
            cfg.socket.stats.reconnected();
            let delay = Duration::from_millis(ivl as u64 + jitter(ivl));
            // A closed socket retries only until its LINGER runs out.
            let wake = linger_deadline.map_or(tokio::time::Instant::now() + delay, |d| {
                (tokio::time::Instant::now() + delay).min(d.into())
            });
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = cfg.socket.close_notify.notified() => {}
            }
            if max > ivl {
                ivl = (ivl.saturating_mul(2)).min(max);
            }
        }
    })
}

/// Whether a closed socket still has messages queued for this connection that its LINGER
/// allows delivering.
fn has_pending(ends: &mut Option<EngineEnds>, cfg: &EngineConfig) -> bool {
    let expired = cfg
        .socket
        .linger_deadline()
        .is_some_and(|d| d <= std::time::Instant::now());
    !expired && ends.as_mut().is_some_and(|e| e.reader.has_data())
}

/// The errno reported with ACCEPT_FAILED for a peer an accept filter refused.
const EACCES: u32 = 13;

/// The errno libzmq reports with CONNECT_DELAYED.
const EINPROGRESS: u32 = 115;

/// libzmq spreads reconnects of many sockets with a random part of up to one interval.
fn jitter(ivl: i32) -> u64 {
    if ivl <= 0 {
        return 0;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    u64::from(nanos) % (ivl as u64)
}
