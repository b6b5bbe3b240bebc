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
            match TcpStream::connect(addr).await {
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
}
