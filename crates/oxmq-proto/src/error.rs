//! [`ProtocolError`]: every way a ZMTP peer (or a misuse of the [`Session`](crate::Session)) can
//! break the protocol.
//!
//! Each variant names the violation. Once a [`Session`](crate::Session) has returned an error it
//! stays failed and returns the same error from every later call; the engine should flush what
//! [`Session::poll_transmit`](crate::Session::poll_transmit) still has (for example an ERROR
//! command) and close the connection.

use crate::SocketType;

/// A violation of ZMTP by the peer, or a call the session cannot accept in its current state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The peer's greeting does not start with a ZMTP 2.0+ signature (first byte 0xFF, bit 0 of the
    /// tenth byte set). libzmq takes such a peer for an unversioned ZMTP 1.0 peer; oxmq does not
    /// speak ZMTP 1.0, and this is also what a non-ZeroMQ client (HTTP, TLS...) looks like.
    #[error("peer greeting has no ZMTP signature (ZMTP 1.0 peer or not ZeroMQ)")]
    BadGreeting,

    /// The peer speaks a ZMTP version this crate does not implement (1 for ZMTP 1.0, 2 for 2.0).
    #[error("peer speaks ZMTP {major}.0, which is not supported")]
    UnsupportedVersion {
        /// The peer's ZMTP major version.
        major: u8,
    },

    /// The peer's greeting names a different security mechanism than ours.
    #[error("security mechanism mismatch: we use {local}, peer uses {peer:?}")]
    MechanismMismatch {
        /// Our mechanism's wire name.
        local: &'static str,
        /// The peer's mechanism name as received (NUL padding removed, lossy UTF-8).
        peer: String,
    },

    /// A frame is longer than the configured maximum message size (`ZMQ_MAXMSGSIZE`) or than
    /// anything this machine could hold in memory.
    #[error("frame of {size} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// The size announced in the frame header.
        size: u64,
        /// The limit it exceeds.
        max: u64,
    },

    /// A command frame received before the handshake completed is longer than
    /// [`MAX_HANDSHAKE_COMMAND_SIZE`](crate::MAX_HANDSHAKE_COMMAND_SIZE).
    #[error("handshake command of {size} bytes exceeds the limit of {max} bytes")]
    CommandTooLarge {
        /// The size announced in the frame header.
        size: u64,
        /// The limit it exceeds.
        max: u64,
    },

    /// A command's body does not have the layout its name requires.
    #[error("malformed {command} command: {reason}")]
    MalformedCommand {
        /// The command's name (lossy UTF-8), or empty when even the name could not be read.
        command: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The metadata (properties) of a READY command are truncated or inconsistent.
    #[error("malformed metadata: {reason}")]
    MalformedMetadata {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The peer sent a command that is not valid at this point of the handshake.
    #[error("unexpected command {name:?}")]
    UnexpectedCommand {
        /// The command's name (lossy UTF-8), empty when unreadable.
        name: String,
    },

    /// The peer's READY has no `Socket-Type` property.
    #[error("peer READY has no Socket-Type property")]
    MissingSocketType,

    /// The peer's `Socket-Type` property does not name a ZeroMQ socket type.
    #[error("peer announced unknown socket type {name:?}")]
    InvalidSocketType {
        /// The value received (lossy UTF-8).
        name: String,
    },

    /// The peer's socket type cannot talk to ours (e.g. PUB to PUSH).
    #[error("socket type {peer} cannot talk to {local}")]
    IncompatibleSocketType {
        /// Our socket type.
        local: SocketType,
        /// The peer's socket type.
        peer: SocketType,
    },

    /// The peer sent an ERROR command during the handshake.
    #[error("peer reported error: {reason:?}")]
    PeerError {
        /// The reason text it gave (lossy UTF-8).
        reason: String,
    },

    /// [`Session::send`](crate::Session::send) was called before the handshake completed.
    #[error("the ZMTP handshake has not completed")]
    NotReady,

    /// The handshake did not complete within `ZMQ_HANDSHAKE_IVL`.
    #[error("handshake did not complete in time")]
    HandshakeTimeout,

    /// No traffic arrived within the heartbeat timeout after a PING, or within the TTL the peer
    /// announced in its last PING.
    #[error("peer heartbeat timed out")]
    HeartbeatTimeout,

    /// A CURVE box did not open: the peer used the wrong key, or the bytes were altered.
    #[error("{command} box failed to open (wrong key or altered data)")]
    Cryptographic {
        /// The command whose box failed ("HELLO", "WELCOME", "INITIATE", "READY", "MESSAGE", or
        /// "COOKIE" / "VOUCH" for the boxes inside INITIATE).
        command: &'static str,
    },

    /// A CURVE nonce did not strictly increase: a replayed or reordered command.
    #[error("{command} nonce {nonce} does not follow {last}")]
    InvalidNonce {
        /// The command that carried it.
        command: &'static str,
        /// The nonce received.
        nonce: u64,
        /// The last nonce accepted from the peer.
        last: u64,
    },

    /// The CURVE key exchange is inconsistent: INITIATE names a different short-term key than
    /// the cookie, or the vouch names other keys than the handshake used.
    #[error("CURVE key exchange failed: {reason}")]
    KeyExchange {
        /// What did not match.
        reason: &'static str,
    },

    /// The ZAP handler refused the peer (status 300, 400 or 500; RFC 27).
    #[error("ZAP handler refused the peer with status {status}")]
    AuthFailed {
        /// The ZAP status code.
        status: u16,
    },

    /// The ZAP handler's reply broke RFC 27.
    #[error("malformed ZAP reply: {reason}")]
    ZapMalformedReply {
        /// libzmq's `ZMQ_PROTOCOL_ERROR_ZAP_*` code for the fault.
        code: u32,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// Authentication is required but no ZAP handler is bound (`ZMQ_ZAP_ENFORCE_DOMAIN`).
    #[error("no ZAP handler is bound at inproc://zeromq.zap.01")]
    NoZapHandler,
}

impl ProtocolError {
    /// The value libzmq would attach to a `ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL` monitor event
    /// for this error (one of `ZMQ_PROTOCOL_ERROR_ZMTP_*` from `zmq.h`).
    ///
    /// libzmq itself only raises that event for some of these conditions (mechanism mismatch,
    /// unexpected and malformed handshake commands); oversized frames, bad greetings and bad
    /// socket types make it drop the connection with a plain `ZMQ_EVENT_DISCONNECTED`. Those map
    /// to [`ZMTP_UNSPECIFIED`](codes::ZMTP_UNSPECIFIED) or the closest specific code here.
    pub fn zmq_protocol_error_code(&self) -> u32 {
        use codes::*;
        match self {
            ProtocolError::BadGreeting
            | ProtocolError::UnsupportedVersion { .. }
            | ProtocolError::FrameTooLarge { .. }
            | ProtocolError::PeerError { .. }
            | ProtocolError::NotReady
            | ProtocolError::HandshakeTimeout
            | ProtocolError::HeartbeatTimeout
            | ProtocolError::AuthFailed { .. }
            | ProtocolError::NoZapHandler => ZMTP_UNSPECIFIED,
            ProtocolError::ZapMalformedReply { code, .. } => *code,
            ProtocolError::Cryptographic { .. } => ZMTP_CRYPTOGRAPHIC,
            ProtocolError::InvalidNonce { .. } => ZMTP_INVALID_SEQUENCE,
            ProtocolError::KeyExchange { .. } => ZMTP_KEY_EXCHANGE,
            ProtocolError::MechanismMismatch { .. } => ZMTP_MECHANISM_MISMATCH,
            ProtocolError::CommandTooLarge { .. } => ZMTP_MALFORMED_COMMAND_UNSPECIFIED,
            ProtocolError::MalformedCommand { command, .. } => match command.as_str() {
                "READY" => ZMTP_MALFORMED_COMMAND_READY,
                "ERROR" => ZMTP_MALFORMED_COMMAND_ERROR,
                "HELLO" => ZMTP_MALFORMED_COMMAND_HELLO,
                "WELCOME" => ZMTP_MALFORMED_COMMAND_WELCOME,
                "INITIATE" => ZMTP_MALFORMED_COMMAND_INITIATE,
                "MESSAGE" => ZMTP_MALFORMED_COMMAND_MESSAGE,
                _ => ZMTP_MALFORMED_COMMAND_UNSPECIFIED,
            },
            ProtocolError::UnexpectedCommand { .. } => ZMTP_UNEXPECTED_COMMAND,
            ProtocolError::MalformedMetadata { .. }
            | ProtocolError::MissingSocketType
            | ProtocolError::InvalidSocketType { .. }
            | ProtocolError::IncompatibleSocketType { .. } => ZMTP_INVALID_METADATA,
        }
    }

    /// For a [`PeerError`](ProtocolError::PeerError) whose reason is a ZAP status code ("300",
    /// "400" or "500"), that code: libzmq reports such a failure as
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_AUTH` with this value instead of a protocol error.
    ///
    /// [`AuthFailed`](ProtocolError::AuthFailed), our own ZAP handler's refusal, gives its
    /// status too.
    pub fn zap_status_code(&self) -> Option<u16> {
        match self {
            ProtocolError::AuthFailed { status } => Some(*status),
            ProtocolError::PeerError { reason } => match reason.as_bytes() {
                [d @ b'3'..=b'5', b'0', b'0'] => Some(u16::from(d - b'0') * 100),
                _ => None,
            },
            _ => None,
        }
    }
}

/// libzmq's `ZMQ_PROTOCOL_ERROR_ZMTP_*` values (`zmq.h`), the payload of a
/// `ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL` monitor event.
pub mod codes {
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED`
    pub const ZMTP_UNSPECIFIED: u32 = 0x1000_0000;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND`
    pub const ZMTP_UNEXPECTED_COMMAND: u32 = 0x1000_0001;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE`
    pub const ZMTP_INVALID_SEQUENCE: u32 = 0x1000_0002;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE`
    pub const ZMTP_KEY_EXCHANGE: u32 = 0x1000_0003;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_UNSPECIFIED`
    pub const ZMTP_MALFORMED_COMMAND_UNSPECIFIED: u32 = 0x1000_0011;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_MESSAGE`
    pub const ZMTP_MALFORMED_COMMAND_MESSAGE: u32 = 0x1000_0012;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO`
    pub const ZMTP_MALFORMED_COMMAND_HELLO: u32 = 0x1000_0013;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_INITIATE`
    pub const ZMTP_MALFORMED_COMMAND_INITIATE: u32 = 0x1000_0014;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_ERROR`
    pub const ZMTP_MALFORMED_COMMAND_ERROR: u32 = 0x1000_0015;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_READY`
    pub const ZMTP_MALFORMED_COMMAND_READY: u32 = 0x1000_0016;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME`
    pub const ZMTP_MALFORMED_COMMAND_WELCOME: u32 = 0x1000_0017;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_METADATA`
    pub const ZMTP_INVALID_METADATA: u32 = 0x1000_0018;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC`
    pub const ZMTP_CRYPTOGRAPHIC: u32 = 0x1100_0001;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH`
    pub const ZMTP_MECHANISM_MISMATCH: u32 = 0x1100_0002;
    /// `ZMQ_PROTOCOL_ERROR_ZAP_UNSPECIFIED`
    pub const ZAP_UNSPECIFIED: u32 = 0x2000_0000;
    /// `ZMQ_PROTOCOL_ERROR_ZAP_MALFORMED_REPLY`
    pub const ZAP_MALFORMED_REPLY: u32 = 0x2000_0001;
    /// `ZMQ_PROTOCOL_ERROR_ZAP_BAD_REQUEST_ID`
    pub const ZAP_BAD_REQUEST_ID: u32 = 0x2000_0002;
    /// `ZMQ_PROTOCOL_ERROR_ZAP_BAD_VERSION`
    pub const ZAP_BAD_VERSION: u32 = 0x2000_0003;
    /// `ZMQ_PROTOCOL_ERROR_ZAP_INVALID_STATUS_CODE`
    pub const ZAP_INVALID_STATUS_CODE: u32 = 0x2000_0004;
    /// `ZMQ_PROTOCOL_ERROR_ZAP_INVALID_METADATA`
    pub const ZAP_INVALID_METADATA: u32 = 0x2000_0005;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_zmq_h() {
        assert_eq!(
            ProtocolError::UnexpectedCommand { name: "X".into() }.zmq_protocol_error_code(),
            0x1000_0001
        );
        assert_eq!(
            ProtocolError::MechanismMismatch {
                local: "NULL",
                peer: "PLAIN".into()
            }
            .zmq_protocol_error_code(),
            0x1100_0002
        );
        let ready = ProtocolError::MalformedCommand {
            command: "READY".into(),
            reason: "x",
        };
        assert_eq!(ready.zmq_protocol_error_code(), 0x1000_0016);
        let error = ProtocolError::MalformedCommand {
            command: "ERROR".into(),
            reason: "x",
        };
        assert_eq!(error.zmq_protocol_error_code(), 0x1000_0015);
        assert_eq!(
            ProtocolError::MissingSocketType.zmq_protocol_error_code(),
            0x1000_0018
        );
    }

    #[test]
    fn zap_status_codes_are_recognised() {
        let e = |r: &str| ProtocolError::PeerError { reason: r.into() };
        assert_eq!(e("400").zap_status_code(), Some(400));
        assert_eq!(e("300").zap_status_code(), Some(300));
        assert_eq!(e("500").zap_status_code(), Some(500));
        assert_eq!(e("200").zap_status_code(), None);
        assert_eq!(e("401").zap_status_code(), None);
        assert_eq!(e("bad").zap_status_code(), None);
        assert_eq!(ProtocolError::NotReady.zap_status_code(), None);
    }
}
