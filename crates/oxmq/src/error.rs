//! The public error type: one opaque [`Error`] whose [`ErrorKind`] maps one-to-one to libzmq's
//! errno values.

use std::fmt;
use std::io;

/// The result type of every fallible oxmq call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, with the libzmq errno each kind corresponds to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u32)]
pub enum ErrorKind {
    /// The operation would block (`EAGAIN`): non-blocking call, or SNDTIMEO/RCVTIMEO expired.
    WouldBlock,
    /// The operation is not allowed in the socket's current state (`EFSM`), e.g. REQ sending twice.
    Fsm,
    /// A ROUTER_MANDATORY socket was asked to route to an unknown peer (`EHOSTUNREACH`).
    HostUnreachable,
    /// The context was terminated (`ETERM`).
    Terminated,
    /// An argument or option value is invalid (`EINVAL`).
    InvalidInput,
    /// The transport named in the endpoint is not supported (`EPROTONOSUPPORT`).
    ProtocolNotSupported,
    /// The requested protocol is not compatible with the socket type (`ENOCOMPATPROTO`).
    NoCompatibleProtocol,
    /// The address is already in use (`EADDRINUSE`).
    AddrInUse,
    /// The address is not local or cannot be bound (`EADDRNOTAVAIL`).
    AddrNotAvailable,
    /// The endpoint was not bound or connected (`ENOENT`), e.g. unbind of an unknown endpoint.
    NotFound,
    /// The operation is not supported by this socket type (`ENOTSUP`).
    NotSupported,
    /// The message is too large (`EMSGSIZE`).
    MessageTooLarge,
    /// A system call was interrupted (`EINTR`).
    Interrupted,
    /// The context has too many sockets (`EMFILE`).
    TooManySockets,
    /// Any other operating system error; [`Error::errno`] gives the OS error number.
    Io,
}

/// An oxmq error. Opaque: inspect it with [`Error::kind`], [`Error::errno`] and
/// [`std::error::Error::source`].
pub struct Error {
    kind: ErrorKind,
    errno: i32,
    source: Option<Box<Source>>,
}

/// An error's cause, behind one thin pointer.
///
/// Why: `Error` is then 16 bytes with no padding (the kind is `repr(u32)` for that), and a
/// `Result<Msg, Error>` moved out of `recv` is copied in whole 16-byte pieces where the frame
/// was stored in them. At 32 bytes, with a fat pointer and a one-byte kind, the frame's bytes
/// after the error's were moved from an odd offset, in loads that straddled `recv`'s stores
/// and waited for them to reach the cache (perf on `fanout inproc 16 B x100`: two fifths of
/// the receiving loop's time, around `socket.recv()?`).
struct Source(Box<dyn std::error::Error + Send + Sync + 'static>);

const _: () = assert!(std::mem::size_of::<Error>() == 16);

impl Error {
    /// An error of `kind`, with libzmq's errno for it.
    pub fn new(kind: ErrorKind) -> Error {
        Error {
            kind,
            errno: kind.errno(),
            source: None,
        }
    }

    /// An error of `kind` caused by `source`.
    pub fn with_source(
        kind: ErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Error {
        Error {
            kind,
            errno: kind.errno(),
            source: Some(Box::new(Source(source.into()))),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The errno value libzmq would report for this error (Linux numbering; the
    /// ZeroMQ-specific ones such as `EFSM` and `ETERM` use libzmq's `ZMQ_HAUSNUMERO` values).
    pub fn errno(&self) -> i32 {
        self.errno
    }
}

impl ErrorKind {
    /// libzmq's errno for this kind (Linux numbering).
    pub fn errno(self) -> i32 {
        match self {
            ErrorKind::WouldBlock => errno::EAGAIN,
            ErrorKind::Fsm => errno::EFSM,
            ErrorKind::HostUnreachable => errno::EHOSTUNREACH,
            ErrorKind::Terminated => errno::ETERM,
            ErrorKind::InvalidInput => errno::EINVAL,
            ErrorKind::ProtocolNotSupported => errno::EPROTONOSUPPORT,
            ErrorKind::NoCompatibleProtocol => errno::ENOCOMPATPROTO,
            ErrorKind::AddrInUse => errno::EADDRINUSE,
            ErrorKind::AddrNotAvailable => errno::EADDRNOTAVAIL,
            ErrorKind::NotFound => errno::ENOENT,
            ErrorKind::NotSupported => errno::ENOTSUP,
            ErrorKind::MessageTooLarge => errno::EMSGSIZE,
            ErrorKind::Interrupted => errno::EINTR,
            ErrorKind::TooManySockets => errno::EMFILE,
            ErrorKind::Io => errno::EIO,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ErrorKind::WouldBlock => "resource temporarily unavailable",
            ErrorKind::Fsm => "operation cannot be accomplished in current state",
            ErrorKind::HostUnreachable => "host unreachable",
            ErrorKind::Terminated => "context was terminated",
            ErrorKind::InvalidInput => "invalid argument",
            ErrorKind::ProtocolNotSupported => "protocol not supported",
            ErrorKind::NoCompatibleProtocol => {
                "the protocol is not compatible with the socket type"
            }
            ErrorKind::AddrInUse => "address already in use",
            ErrorKind::AddrNotAvailable => "cannot assign requested address",
            ErrorKind::NotFound => "no such file or directory",
            ErrorKind::NotSupported => "operation not supported",
            ErrorKind::MessageTooLarge => "message too long",
            ErrorKind::Interrupted => "interrupted system call",
            ErrorKind::TooManySockets => "too many open files",
            ErrorKind::Io => "input/output error",
        }
    }
}

/// errno values as libzmq reports them on Linux.
pub mod errno {
    /// Resource temporarily unavailable.
    pub const EAGAIN: i32 = 11;
    /// Invalid argument.
    pub const EINVAL: i32 = 22;
    /// No such file or directory.
    pub const ENOENT: i32 = 2;
    /// Interrupted system call.
    pub const EINTR: i32 = 4;
    /// Input/output error.
    pub const EIO: i32 = 5;
    /// Too many open files.
    pub const EMFILE: i32 = 24;
    /// Operation not supported.
    pub const ENOTSUP: i32 = 95;
    /// Protocol not supported.
    pub const EPROTONOSUPPORT: i32 = 93;
    /// Message too long.
    pub const EMSGSIZE: i32 = 90;
    /// Address already in use.
    pub const EADDRINUSE: i32 = 98;
    /// Cannot assign requested address.
    pub const EADDRNOTAVAIL: i32 = 99;
    /// Host unreachable.
    pub const EHOSTUNREACH: i32 = 113;
    /// Base of libzmq's own error numbers.
    pub const ZMQ_HAUSNUMERO: i32 = 156_384_712;
    /// Operation cannot be accomplished in current state.
    pub const EFSM: i32 = ZMQ_HAUSNUMERO + 51;
    /// The protocol is not compatible with the socket type.
    pub const ENOCOMPATPROTO: i32 = ZMQ_HAUSNUMERO + 52;
    /// Context was terminated.
    pub const ETERM: i32 = ZMQ_HAUSNUMERO + 53;
    /// No I/O thread available.
    pub const EMTHREAD: i32 = ZMQ_HAUSNUMERO + 54;
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error::new(kind)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        let kind = match e.kind() {
            io::ErrorKind::WouldBlock => ErrorKind::WouldBlock,
            io::ErrorKind::AddrInUse => ErrorKind::AddrInUse,
            io::ErrorKind::AddrNotAvailable => ErrorKind::AddrNotAvailable,
            io::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
            io::ErrorKind::Interrupted => ErrorKind::Interrupted,
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            _ => ErrorKind::Io,
        };
        let errno = e.raw_os_error().unwrap_or_else(|| kind.errno());
        Error {
            kind,
            errno,
            source: Some(Box::new(Source(Box::new(e)))),
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e.kind {
            ErrorKind::WouldBlock => io::ErrorKind::WouldBlock,
            ErrorKind::InvalidInput => io::ErrorKind::InvalidInput,
            ErrorKind::AddrInUse => io::ErrorKind::AddrInUse,
            ErrorKind::AddrNotAvailable => io::ErrorKind::AddrNotAvailable,
            ErrorKind::NotFound => io::ErrorKind::NotFound,
            ErrorKind::Interrupted => io::ErrorKind::Interrupted,
            ErrorKind::NotSupported => io::ErrorKind::Unsupported,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.describe())?;
        if let Some(s) = &self.source {
            write!(f, ": {}", s.0)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("errno", &self.errno);
        if let Some(s) = &self.source {
            d.field("source", &s.0);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| &*s.0 as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn an_errors_cause_is_kept_shown_and_reachable() {
        let e = Error::from(io::Error::from_raw_os_error(errno::EADDRINUSE));
        assert_eq!(
            (e.kind(), e.errno()),
            (ErrorKind::AddrInUse, errno::EADDRINUSE)
        );
        let io_cause = e
            .source()
            .and_then(|s| s.downcast_ref::<io::Error>())
            .expect("the io::Error is the source");
        assert_eq!(io_cause.raw_os_error(), Some(errno::EADDRINUSE));
        let shown = e.to_string();
        assert!(
            shown.starts_with("address already in use: ") && shown.len() > 24,
            "{shown}"
        );
        assert!(format!("{e:?}").contains("source"));

        let e = Error::with_source(ErrorKind::InvalidInput, "bad endpoint");
        assert_eq!(e.errno(), errno::EINVAL);
        assert_eq!(e.to_string(), "invalid argument: bad endpoint");
        assert_eq!(
            e.source().map(|s| s.to_string()).as_deref(),
            Some("bad endpoint")
        );

        let e = Error::new(ErrorKind::WouldBlock);
        assert!(e.source().is_none());
        assert_eq!(e.to_string(), "resource temporarily unavailable");
        assert!(!format!("{e:?}").contains("source"));
    }
}
