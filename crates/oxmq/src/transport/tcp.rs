//! The tcp transport: listeners, connecters with reconnection, and socket options.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket as RawSocket, Type};
use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

use crate::context::IoPool;
use crate::endpoint::TcpEndpoint;
use crate::engine::{self, Exit};
use crate::error::Result;
use crate::options::Options;
use crate::socket::{EngineConfig, EngineEnds};

/// Binds and listens on `addr` (blocking call on the caller's thread, so that errors such as
/// `EADDRINUSE` are reported by `bind` itself, as in libzmq).
pub(crate) fn listen(addr: SocketAddr, options: &Options) -> Result<std::net::TcpListener> {
    let socket = RawSocket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // libzmq sets SO_REUSEADDR on listening sockets so that a restarted program can rebind.
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(options.backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Accepts connections on `listener` until the returned task is aborted; each connection
/// gets its own engine on the next I/O thread.
pub(crate) fn spawn_listener(
    pool: &Arc<IoPool>,
    listener: std::net::TcpListener,
    cfg: Arc<EngineConfig>,
    endpoint: String,
) -> tokio::task::JoinHandle<()> {
    let pool2 = Arc::clone(pool);
    pool.handle().spawn(async move {
        let listener = match TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                debug!(%endpoint, error = %e, "cannot register listener");
                return;
            }
        };
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    // Usually EMFILE or ECONNABORTED: keep serving the others.
                    debug!(%endpoint, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            if cfg.socket.is_closed() {
                return;
            }
            let engine_cfg = Arc::new(EngineConfig {
                socket: Arc::clone(&cfg.socket),
                options: cfg.options.clone(),
                waker: Arc::default(),
            });
            let stream = match stream.into_std() {
                Ok(s) => s,
                Err(_) => continue,
            };
            pool2.spawn_counted(async move {
                let Ok(stream) = TcpStream::from_std(stream) else {
                    return;
                };
                configure(&stream, &engine_cfg.options);
                engine::run(stream, engine_cfg, None, None, peer.to_string()).await;
            });
        }
    })
}

/// Connects to `target` and keeps the connection up: reconnects after RECONNECT_IVL (with
/// exponential back-off up to RECONNECT_IVL_MAX) until the socket disconnects or closes.
pub(crate) fn spawn_connecter(
    pool: &Arc<IoPool>,
    target: TcpEndpoint,
    cfg: Arc<EngineConfig>,
    mut ends: Option<EngineEnds>,
    routing_id: Option<bytes::Bytes>,
) -> tokio::task::JoinHandle<()> {
    pool.spawn_counted(async move {
        let base = cfg.options.reconnect_ivl;
        let max = cfg.options.reconnect_ivl_max;
        let mut ivl = base;
        loop {
            if cfg.socket.is_closed() && !has_pending(&mut ends, &cfg) {
                return;
            }
            let linger_deadline = cfg.socket.linger_deadline();
            match connect(&target, cfg.options.ipv6).await {
                Ok((stream, peer)) => {
                    ivl = base;
                    configure(&stream, &cfg.options);
                    let (exit, back) =
                        engine::run(stream, Arc::clone(&cfg), ends, routing_id.clone(), peer).await;
                    ends = back;
                    if matches!(exit, Exit::SocketClosed) {
                        return;
                    }
                }
                Err(e) => debug!(host = %target.host, error = %e, "connect failed"),
            }
            if ivl < 0 {
                // RECONNECT_IVL -1: never reconnect.
                return;
            }
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

async fn connect(target: &TcpEndpoint, ipv6: bool) -> std::io::Result<(TcpStream, String)> {
    let port = target.port.unwrap_or(0);
    let addrs: Vec<SocketAddr> = match target.host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((target.host.as_str(), port))
            .await?
            .filter(|a| ipv6 || a.is_ipv4())
            .collect(),
    };
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no usable address");
    for addr in addrs {
        if addr.is_ipv6() && !ipv6 {
            continue;
        }
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok((s, addr.to_string())),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Per-connection socket options, as libzmq sets them.
fn configure(stream: &TcpStream, options: &Options) {
    // Latency matters more than packet count: the engine batches writes itself.
    let _ = stream.set_nodelay(true);
    let raw = SockRef::from(stream);
    if options.sndbuf > 0 {
        let _ = raw.set_send_buffer_size(options.sndbuf as usize);
    }
    if options.rcvbuf > 0 {
        let _ = raw.set_recv_buffer_size(options.rcvbuf as usize);
    }
}

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
