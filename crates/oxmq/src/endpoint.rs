//! Endpoint strings (`transport://address`) as libzmq parses them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::{Error, ErrorKind, Result};
use crate::transport::ipc::IpcEndpoint;

/// A parsed endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `tcp://host:port`.
    Tcp(TcpEndpoint),
    /// `ipc://path`, `ipc://@name` or `ipc://*`.
    Ipc(IpcEndpoint),
    /// `inproc://name`.
    Inproc(String),
}

/// The address part of a `tcp://` endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TcpEndpoint {
    /// Host name, IP literal (without brackets) or `*`.
    pub(crate) host: String,
    /// `None` for the `*` (or `0`) wildcard port.
    pub(crate) port: Option<u16>,
}

impl Endpoint {
    /// Parses `s`. Unknown transports are `EPROTONOSUPPORT`; malformed addresses `EINVAL`.
    pub(crate) fn parse(s: &str) -> Result<Endpoint> {
        let (transport, address) = s
            .split_once("://")
            .ok_or_else(|| invalid(format!("endpoint {s:?} has no transport")))?;
        match transport {
            "tcp" => Ok(Endpoint::Tcp(TcpEndpoint::parse(address)?)),
            "ipc" => Ok(Endpoint::Ipc(IpcEndpoint::parse(address)?)),
            "inproc" => {
                if address.is_empty() {
                    return Err(invalid("empty inproc name"));
                }
                Ok(Endpoint::Inproc(address.to_owned()))
            }
            "pgm" | "epgm" | "tipc" | "vmci" | "udp" | "ws" | "wss" => Err(Error::with_source(
                ErrorKind::ProtocolNotSupported,
                format!("transport {transport:?} is not implemented yet"),
            )),
            _ => Err(Error::with_source(
                ErrorKind::ProtocolNotSupported,
                format!("unknown transport {transport:?}"),
            )),
        }
    }
}

impl TcpEndpoint {
    fn parse(address: &str) -> Result<TcpEndpoint> {
        // libzmq accepts "source;destination" on connect; the source part is not supported yet.
        if address.contains(';') {
            return Err(invalid("tcp source addresses are not supported yet"));
        }
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| invalid(format!("tcp address {address:?} has no port")))?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(invalid("tcp address has an empty host"));
        }
        let port = match port {
            "*" | "0" => None,
            p => Some(
                p.parse::<u16>()
                    .map_err(|_| invalid(format!("bad tcp port {p:?}")))?,
            ),
        };
        Ok(TcpEndpoint {
            host: host.to_owned(),
            port,
        })
    }

    /// The address to bind: `*` is every interface (IPv6's `::` when `ipv6` is on, which also
    /// accepts IPv4 as libzmq's dual-stack socket does); host names are not accepted for bind
    /// except `localhost`.
    pub(crate) fn bind_addr(&self, ipv6: bool) -> Result<SocketAddr> {
        let port = self.port.unwrap_or(0);
        let ip = if self.host == "*" {
            if ipv6 {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            }
        } else if self.host == "localhost" {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            self.host
                .parse::<IpAddr>()
                .map_err(|_| invalid(format!("cannot bind to {:?}", self.host)))?
        };
        if ip.is_ipv6() && !ipv6 {
            return Err(invalid("IPv6 address while ZMQ_IPV6 is off"));
        }
        Ok(SocketAddr::new(ip, port))
    }
}

/// Formats a bound address the way libzmq reports `ZMQ_LAST_ENDPOINT`.
pub(crate) fn tcp_endpoint_string(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("tcp://{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("tcp://[{}]:{}", a.ip(), a.port()),
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::with_source(ErrorKind::InvalidInput, msg.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(s: &str) -> TcpEndpoint {
        match Endpoint::parse(s) {
            Ok(Endpoint::Tcp(t)) => t,
            Ok(other) => panic!("{s}: {other:?}"),
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn parses_tcp_forms() {
        assert_eq!(tcp("tcp://127.0.0.1:5555").port, Some(5555));
        assert_eq!(tcp("tcp://*:*").port, None);
        assert_eq!(tcp("tcp://[::1]:7").host, "::1");
        assert_eq!(tcp("tcp://example.org:80").host, "example.org");
    }

    #[test]
    fn rejects_bad_endpoints_with_libzmq_errors() {
        let kind = |s: &str| Endpoint::parse(s).map(|_| ()).map_err(|e| e.kind());
        assert_eq!(kind("tcp://127.0.0.1"), Err(ErrorKind::InvalidInput));
        assert_eq!(kind("tcp://:5"), Err(ErrorKind::InvalidInput));
        assert_eq!(kind("tcp://h:99999"), Err(ErrorKind::InvalidInput));
        assert_eq!(kind("nope"), Err(ErrorKind::InvalidInput));
        assert_eq!(kind("foo://x"), Err(ErrorKind::ProtocolNotSupported));
        assert_eq!(kind("ipc://"), Err(ErrorKind::InvalidInput));
        assert_eq!(kind("ipc://@x"), Ok(()));
    }

    #[test]
    fn bind_addresses() {
        let any = tcp("tcp://*:0").bind_addr(false).map_err(|e| e.kind());
        assert_eq!(any, Ok(SocketAddr::from(([0, 0, 0, 0], 0))));
        assert!(tcp("tcp://[::1]:0").bind_addr(false).is_err());
        assert!(tcp("tcp://[::1]:0").bind_addr(true).is_ok());
        assert_eq!(
            tcp_endpoint_string("[::1]:9".parse().expect("literal")),
            "tcp://[::1]:9"
        );
    }
}
