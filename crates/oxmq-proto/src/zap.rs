//! ZAP, the ZeroMQ Authentication Protocol (RFC 27): the request a server-side mechanism asks
//! its socket to send to the handler at `inproc://zeromq.zap.01`, and the handler's reply.
//!
//! A [`Session`](crate::Session) that needs a verdict emits
//! [`Event::ZapRequest`](crate::Event::ZapRequest); the engine turns it into frames with
//! [`ZapRequest::frames`], carries them to the handler, parses the answer with
//! [`ZapReply::parse`] and hands the outcome back with
//! [`Session::handle_zap`](crate::Session::handle_zap). The frames are exactly libzmq's: an
//! empty delimiter (the handler is a REP or ROUTER socket), version `1.0`, request id `1`, the
//! socket's ZAP domain, the peer's address, the socket's own routing id, the mechanism name and
//! the mechanism's credentials.

use bytes::Bytes;

use crate::command;
use crate::error::codes;
use crate::{Mechanism, ProtocolError};

/// The inproc endpoint name a ZAP handler binds to (without the `inproc://` scheme).
pub const ZAP_ENDPOINT: &str = "zeromq.zap.01";

/// What a server-side mechanism wants authenticated.
#[derive(Clone, PartialEq, Eq)]
pub struct ZapRequest {
    /// The mechanism of the handshake.
    pub mechanism: Mechanism,
    /// The socket's `ZMQ_ZAP_DOMAIN`.
    pub domain: Bytes,
    /// The socket's own routing id (`ZMQ_ROUTING_ID`), as libzmq sends it.
    pub routing_id: Bytes,
    /// The mechanism's credentials: none for NULL, username and password for PLAIN, the
    /// client's 32-byte long-term public key for CURVE.
    pub credentials: Vec<Bytes>,
}

impl std::fmt::Debug for ZapRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials may hold a password: show how many there are, not what they say.
        f.debug_struct("ZapRequest")
            .field("mechanism", &self.mechanism)
            .field("domain", &self.domain)
            .field("routing_id", &self.routing_id)
            .field("credentials", &self.credentials.len())
            .finish()
    }
}

impl ZapRequest {
    /// The request's frames, the peer's `address` (libzmq's Peer-Address: the IP address for
    /// tcp, `localhost:uid:gid:pid` for ipc) included. Every frame but the last has MORE set.
    pub fn frames(&self, address: &str) -> Vec<Bytes> {
        let mut frames = Vec::with_capacity(7 + self.credentials.len());
        frames.push(Bytes::new());
        frames.push(Bytes::from_static(ZAP_VERSION));
        frames.push(Bytes::from_static(REQUEST_ID));
        frames.push(self.domain.clone());
        frames.push(Bytes::copy_from_slice(address.as_bytes()));
        frames.push(self.routing_id.clone());
        frames.push(Bytes::from_static(self.mechanism.name().as_bytes()));
        frames.extend(self.credentials.iter().cloned());
        frames
    }
}

/// A ZAP handler's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZapReply {
    /// 200 (accepted), 300 (temporary failure), 400 (refused) or 500 (internal error).
    pub status: u16,
    /// The handler's status text.
    pub status_text: Bytes,
    /// The authenticated identity, the `User-Id` property of every message from the peer.
    pub user_id: Bytes,
    /// Further properties for the peer's messages.
    pub metadata: Vec<(String, Bytes)>,
}

impl ZapReply {
    /// A 200 reply with the given user id and no metadata.
    pub fn ok(user_id: impl Into<Bytes>) -> ZapReply {
        ZapReply {
            status: 200,
            status_text: Bytes::from_static(b"OK"),
            user_id: user_id.into(),
            metadata: Vec::new(),
        }
    }

    /// Parses a handler's reply, as received by the requester (delimiter first), checking
    /// what libzmq checks: seven frames, version `1.0`, request id `1`, a status code of 200,
    /// 300, 400 or 500, and well-formed metadata. A failure is
    /// [`ProtocolError::ZapMalformedReply`] with libzmq's `ZMQ_PROTOCOL_ERROR_ZAP_*` code.
    pub fn parse(frames: &[Bytes]) -> Result<ZapReply, ProtocolError> {
        let malformed = |code, reason| ProtocolError::ZapMalformedReply { code, reason };
        let [delimiter, version, request_id, status, status_text, user_id, metadata] = frames
        else {
            return Err(malformed(
                codes::ZAP_MALFORMED_REPLY,
                "a reply has exactly seven frames",
            ));
        };
        if !delimiter.is_empty() {
            return Err(malformed(
                codes::ZAP_MALFORMED_REPLY,
                "the first frame must be an empty delimiter",
            ));
        }
        if version.as_ref() != ZAP_VERSION {
            return Err(malformed(codes::ZAP_BAD_VERSION, "version is not 1.0"));
        }
        if request_id.as_ref() != REQUEST_ID {
            return Err(malformed(codes::ZAP_BAD_REQUEST_ID, "unknown request id"));
        }
        let status = match status.as_ref() {
            b"200" => 200,
            b"300" => 300,
            b"400" => 400,
            b"500" => 500,
            _ => {
                return Err(malformed(
                    codes::ZAP_INVALID_STATUS_CODE,
                    "status is not 200, 300, 400 or 500",
                ))
            }
        };
        let mut properties = Vec::new();
        for property in command::properties(metadata) {
            let (name, value) = property
                .map_err(|_| malformed(codes::ZAP_INVALID_METADATA, "malformed metadata"))?;
            properties.push((
                String::from_utf8_lossy(name).into_owned(),
                Bytes::copy_from_slice(value),
            ));
        }
        Ok(ZapReply {
            status,
            status_text: status_text.clone(),
            user_id: user_id.clone(),
            metadata: properties,
        })
    }
}

/// What became of a [`ZapRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZapOutcome {
    /// The handler answered.
    Reply(ZapReply),
    /// No handler is bound at `inproc://zeromq.zap.01`.
    NoHandler,
}

const ZAP_VERSION: &[u8] = b"1.0";
const REQUEST_ID: &[u8] = b"1";

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: &'static [u8], metadata: &[u8]) -> Vec<Bytes> {
        [
            b"".as_slice(),
            b"1.0",
            b"1",
            status,
            b"OK",
            b"alice",
            metadata,
        ]
        .iter()
        .map(|f| Bytes::copy_from_slice(f))
        .collect()
    }

    #[test]
    fn request_frames_follow_rfc_27() {
        let r = ZapRequest {
            mechanism: Mechanism::Plain,
            domain: Bytes::from_static(b"global"),
            routing_id: Bytes::new(),
            credentials: vec![Bytes::from_static(b"admin"), Bytes::from_static(b"pw")],
        };
        let frames = r.frames("127.0.0.1");
        let want: [&[u8]; 9] = [
            b"",
            b"1.0",
            b"1",
            b"global",
            b"127.0.0.1",
            b"",
            b"PLAIN",
            b"admin",
            b"pw",
        ];
        assert_eq!(frames, want.map(Bytes::copy_from_slice).to_vec());
        assert!(
            !format!("{r:?}").contains("pw"),
            "credentials stay out of logs"
        );
    }

    #[test]
    fn replies_parse_with_metadata() {
        let mut md = Vec::new();
        command::encode_property(&mut md, b"X-Role", b"admin").unwrap();
        let r = ZapReply::parse(&reply(b"200", &md)).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.user_id, Bytes::from_static(b"alice"));
        assert_eq!(
            r.metadata,
            vec![("X-Role".to_owned(), Bytes::from_static(b"admin"))]
        );
        for s in [b"300", b"400", b"500"] {
            assert!(ZapReply::parse(&reply(s, b"")).is_ok());
        }
    }

    #[test]
    fn malformed_replies_carry_libzmq_codes() {
        let code = |frames: &[Bytes]| match ZapReply::parse(frames) {
            Err(ProtocolError::ZapMalformedReply { code, .. }) => code,
            other => panic!("expected a malformed reply, got {other:?}"),
        };
        let good = reply(b"200", b"");
        assert_eq!(code(&good[..6]), codes::ZAP_MALFORMED_REPLY);
        let mut f = good.clone();
        f[0] = Bytes::from_static(b"x");
        assert_eq!(code(&f), codes::ZAP_MALFORMED_REPLY);
        let mut f = good.clone();
        f[1] = Bytes::from_static(b"2.0");
        assert_eq!(code(&f), codes::ZAP_BAD_VERSION);
        let mut f = good.clone();
        f[2] = Bytes::from_static(b"7");
        assert_eq!(code(&f), codes::ZAP_BAD_REQUEST_ID);
        assert_eq!(code(&reply(b"201", b"")), codes::ZAP_INVALID_STATUS_CODE);
        assert_eq!(code(&reply(b"200", b"\x05X")), codes::ZAP_INVALID_METADATA);
    }
}
