//! The tcp transport (`tcp://host:port`), IPv4 and IPv6.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockRef, Socket as RawSocket, Type};
use tokio::net::{TcpListener, TcpStream};

use crate::endpoint::TcpEndpoint;
use crate::error::Result;
use crate::options::Options;
use crate::transport::Transport;

/// Binds and listens on `addr` (on the caller's thread, so that errors such as `EADDRINUSE`
/// are reported by `bind` itself, as in libzmq).
pub(crate) fn listen(addr: SocketAddr, options: &Options) -> Result<std::net::TcpListener> {
    let socket = RawSocket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // libzmq sets SO_REUSEADDR on listening sockets so that a restarted program can rebind.
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    apply_socket_options(&SockRef::from(&socket), options)?;
    socket.bind(&addr.into())?;
    socket.listen(options.backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

impl Transport for TcpEndpoint {
    type Stream = TcpStream;
    type StdStream = std::net::TcpStream;
    type Listener = TcpListener;
    type StdListener = std::net::TcpListener;
    const CONNECT_IS_DELAYED: bool = true;

    fn listener_from_std(l: std::net::TcpListener) -> io::Result<TcpListener> {
        TcpListener::from_std(l)
    }

    async fn accept(l: &TcpListener) -> io::Result<(TcpStream, String)> {
        let (s, peer) = l.accept().await?;
        Ok((s, peer.to_string()))
    }

    async fn connect(&self, options: &Options) -> io::Result<(TcpStream, String)> {
        let port = self.port.unwrap_or(0);
        let addrs: Vec<SocketAddr> = match self.host.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((self.host.as_str(), port))
                .await?
                .filter(|a| options.ipv6 || a.is_ipv4())
                .collect(),
        };
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no usable address");
        for addr in addrs {
            if addr.is_ipv6() && !options.ipv6 {
                continue;
            }
            match connect_one(addr, options).await {
                Ok(s) => return Ok((s, addr.to_string())),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn stream_to_std(s: TcpStream) -> io::Result<std::net::TcpStream> {
        s.into_std()
    }

    fn stream_from_std(s: std::net::TcpStream) -> io::Result<TcpStream> {
        TcpStream::from_std(s)
    }

    fn admits(stream: &TcpStream, options: &Options) -> bool {
        if options.tcp_accept_filters.is_empty() {
            return true;
        }
        stream.peer_addr().is_ok_and(|peer| {
            options
                .tcp_accept_filters
                .iter()
                .any(|f| f.admits(peer.ip()))
        })
    }

    fn configure(stream: &TcpStream, options: &Options) {
        // Latency matters more than packet count: the engine batches writes itself.
        let _ = stream.set_nodelay(true);
        // Accepted connections inherit most options from the listener; set them again so
        // that both sides of oxmq behave the same whatever the kernel copies.
        let _ = apply_socket_options(&SockRef::from(stream), options);
    }
}

/// Sets `TCP_NOTSENT_LOWAT` on `stream` to `bytes` (at most `c_int::MAX`): the socket then
/// reports itself writable only while fewer bytes than that wait unsent in the kernel. A
/// failure (an old kernel) leaves the kernel's default, no limit.
pub(crate) fn cap_unsent(stream: &TcpStream, bytes: usize) {
    let v = bytes.min(libc::c_int::MAX as usize) as u32;
    let _ = SockRef::from(stream).set_tcp_notsent_lowat(v);
}

/// One ZMQ_TCP_ACCEPT_FILTER entry: an address, or a network in CIDR form (`10.0.0.0/8`,
/// `::1/128`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AcceptFilter {
    net: std::net::IpAddr,
    prefix: u8,
}

impl AcceptFilter {
    /// Parses `address[/prefix]`; EINVAL for anything else, as libzmq.
    pub(crate) fn parse(text: &[u8]) -> Result<AcceptFilter> {
        let bad = || crate::Error::with_source(crate::ErrorKind::InvalidInput, "bad accept filter");
        let text = std::str::from_utf8(text).map_err(|_| bad())?;
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (text, None),
        };
        let net: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
        let bits = if net.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        if prefix > bits {
            return Err(bad());
        }
        Ok(AcceptFilter { net, prefix })
    }

    /// Whether `peer` is inside this network (an IPv4 peer reaching an IPv6 listener as
    /// `::ffff:a.b.c.d` counts as IPv4).
    pub(crate) fn admits(&self, peer: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        let (net, peer, bits) = match (self.net, peer) {
            (IpAddr::V4(n), IpAddr::V4(p)) => {
                (u128::from(u32::from(n)), u128::from(u32::from(p)), 32)
            }
            (IpAddr::V6(n), IpAddr::V6(p)) => (u128::from(n), u128::from(p), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= bits || (net >> shift) == (peer >> shift)
    }
}

/// Connects one address, applying the options that must be set before connecting
/// (BINDTODEVICE, buffer sizes, TOS) and CONNECT_TIMEOUT.
async fn connect_one(addr: SocketAddr, options: &Options) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv6() {
        tokio::net::TcpSocket::new_v6()?
    } else {
        tokio::net::TcpSocket::new_v4()?
    };
    apply_socket_options(&SockRef::from(&socket), options)?;
    let connecting = socket.connect(addr);
    match u64::try_from(options.connect_timeout)
        .ok()
        .filter(|&ms| ms > 0)
    {
        None => connecting.await,
        Some(ms) => tokio::time::timeout(std::time::Duration::from_millis(ms), connecting)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "ZMQ_CONNECT_TIMEOUT"))?,
    }
}

/// The kernel-level options of libzmq's tcp transport.
fn apply_socket_options(raw: &SockRef<'_>, options: &Options) -> io::Result<()> {
    if options.sndbuf > 0 {
        raw.set_send_buffer_size(options.sndbuf as usize)?;
    }
    if options.rcvbuf > 0 {
        raw.set_recv_buffer_size(options.rcvbuf as usize)?;
    }
    if options.tos > 0 {
        raw.set_tos_v4(options.tos as u32)?;
    }
    if let Some(dev) = &options.bindtodevice {
        raw.bind_device(Some(dev.as_bytes()))?;
    }
    if options.tcp_maxrt > 0 {
        raw.set_tcp_user_timeout(Some(std::time::Duration::from_millis(
            options.tcp_maxrt as u64,
        )))?;
    }
    match options.tcp_keepalive {
        0 => raw.set_keepalive(false)?,
        1 => {
            let mut ka = socket2::TcpKeepalive::new();
            if options.tcp_keepalive_idle > 0 {
                ka = ka.with_time(std::time::Duration::from_secs(
                    options.tcp_keepalive_idle as u64,
                ));
            }
            if options.tcp_keepalive_intvl > 0 {
                ka = ka.with_interval(std::time::Duration::from_secs(
                    options.tcp_keepalive_intvl as u64,
                ));
            }
            if options.tcp_keepalive_cnt > 0 {
                ka = ka.with_retries(options.tcp_keepalive_cnt as u32);
            }
            raw.set_tcp_keepalive(&ka)?;
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::fd::BorrowedFd;
    use std::time::Duration;

    use crate::monitor::{events, Monitor};
    use crate::{opt, Context, SocketType};

    use super::*;

    #[test]
    fn kernel_options_reach_the_connection() {
        let ctx = Context::new();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
        let port = listener.local_addr().expect("addr").port();
        let mut push = ctx.socket(SocketType::Push).expect("socket");
        push.set_linger(0).expect("linger");
        for (o, v) in [
            (opt::TCP_KEEPALIVE, 1),
            (opt::TCP_KEEPALIVE_IDLE, 30),
            (opt::TCP_KEEPALIVE_INTVL, 5),
            (opt::TCP_KEEPALIVE_CNT, 4),
            (opt::TOS, 0x10),
            (opt::TCP_MAXRT, 5000),
            (opt::SNDBUF, 65536),
        ] {
            push.set_sockopt(o, &i32::to_ne_bytes(v))
                .expect("set option");
        }
        push.monitor(Some("inproc://tcp-opts"), events::CONNECTED)
            .expect("monitor");
        let mut mon = Monitor::connect(&ctx, "inproc://tcp-opts").expect("monitor");
        mon.socket().set_rcvtimeo(5000).expect("rcvtimeo");
        push.connect(&format!("tcp://127.0.0.1:{port}"))
            .expect("connect");
        let connected = mon.recv().expect("CONNECTED");
        let _peer = listener.accept().expect("accept");
        // SAFETY: the descriptor stays open while the connection is up (the peer holds it),
        // and is only read here.
        let fd = unsafe { BorrowedFd::borrow_raw(connected.value as i32) };
        let raw = SockRef::from(&fd);
        assert!(raw.keepalive().expect("SO_KEEPALIVE"));
        assert_eq!(
            raw.tcp_keepalive_time().expect("idle"),
            Duration::from_secs(30)
        );
        assert_eq!(
            raw.tcp_keepalive_interval().expect("intvl"),
            Duration::from_secs(5)
        );
        assert_eq!(raw.tcp_keepalive_retries().expect("cnt"), 4);
        assert_eq!(raw.tos_v4().expect("tos"), 0x10);
        assert_eq!(
            raw.tcp_user_timeout().expect("maxrt"),
            Some(Duration::from_millis(5000))
        );
        // Linux doubles the requested buffer size for bookkeeping.
        assert!(raw.send_buffer_size().expect("sndbuf") >= 65536);
    }

    #[test]
    fn accept_filters_match_addresses_and_networks() {
        let f = |s: &str| AcceptFilter::parse(s.as_bytes()).expect(s);
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect(s);
        assert!(f("127.0.0.1").admits(ip("127.0.0.1")));
        assert!(!f("127.0.0.1").admits(ip("127.0.0.2")));
        assert!(f("10.0.0.0/8").admits(ip("10.200.1.1")));
        assert!(!f("10.0.0.0/8").admits(ip("11.0.0.1")));
        assert!(f("0.0.0.0/0").admits(ip("192.168.1.1")));
        assert!(f("127.0.0.1").admits(ip("::ffff:127.0.0.1")));
        assert!(f("::1").admits(ip("::1")));
        assert!(!f("::1").admits(ip("127.0.0.1")));
        assert!(f("fe80::/10").admits(ip("fe80::1")));
        for bad in ["", "localhost", "10.0.0.0/33", "::1/129", "1.2.3.4/x"] {
            assert!(AcceptFilter::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn connect_timeout_and_keepalive_values_are_checked() {
        let ctx = Context::new();
        let mut s = ctx.socket(SocketType::Push).expect("socket");
        assert!(s
            .set_sockopt(opt::TCP_KEEPALIVE, &2i32.to_ne_bytes())
            .is_err());
        assert!(s
            .set_sockopt(opt::CONNECT_TIMEOUT, &(-1i32).to_ne_bytes())
            .is_err());
        s.set_sockopt(opt::CONNECT_TIMEOUT, &100i32.to_ne_bytes())
            .expect("connect timeout");
        assert_eq!(
            s.sockopt(opt::CONNECT_TIMEOUT).expect("get"),
            100i32.to_ne_bytes()
        );
    }
}
