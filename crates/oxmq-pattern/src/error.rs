//! Errors of the pattern layer, one variant per libzmq errno a socket operation can report.

use oxmq_proto::{Msg, SocketType};

/// Why a pattern operation failed. Each variant maps to one libzmq errno value, see
/// [`PatternError::errno_name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// Nothing to receive, or no peer can take the message now (`EAGAIN`).
    #[error("resource temporarily unavailable")]
    WouldBlock,
    /// The operation is not allowed in the socket's current state, e.g. REQ sending twice
    /// (`EFSM`).
    #[error("operation cannot be accomplished in current state")]
    Fsm,
    /// ROUTER with ROUTER_MANDATORY: no peer has this routing id (`EHOSTUNREACH`).
    #[error("host unreachable")]
    HostUnreachable,
    /// The socket type does not support this direction, e.g. recv on PUB (`ENOTSUP`).
    #[error("operation not supported by this socket type")]
    NotSupported,
    /// The option does not apply to this socket type (`EINVAL`).
    #[error("invalid argument")]
    InvalidArgument,
    /// The socket type has no pattern implementation here (`EINVAL`, as `zmq_socket` with an
    /// unknown type).
    #[error("socket type {0:?} is not supported by the pattern layer")]
    UnsupportedSocketType(SocketType),
}

impl PatternError {
    /// The name of the libzmq errno value this error stands for (`"EAGAIN"`, `"EFSM"`,
    /// `"EHOSTUNREACH"`, `"ENOTSUP"`, `"EINVAL"`). The C ABI turns it into the number.
    pub fn errno_name(&self) -> &'static str {
        match self {
            PatternError::WouldBlock => "EAGAIN",
            PatternError::Fsm => "EFSM",
            PatternError::HostUnreachable => "EHOSTUNREACH",
            PatternError::NotSupported => "ENOTSUP",
            PatternError::InvalidArgument | PatternError::UnsupportedSocketType(_) => "EINVAL",
        }
    }
}

/// A failed send: the reason, and the frame, given back untouched so the caller can retry it
/// (for example after waiting for `POLLOUT` on [`PatternError::WouldBlock`]).
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct SendError {
    /// Why the frame was not sent.
    pub kind: PatternError,
    /// The frame that was not sent.
    pub msg: Msg,
}

impl SendError {
    /// A send error of `kind` returning `msg`.
    pub fn new(kind: PatternError, msg: Msg) -> SendError {
        SendError { kind, msg }
    }
}
