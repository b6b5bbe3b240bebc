//! ZMTP commands (RFC 23 §"Commands", RFC 37): the body of a frame with the COMMAND flag.
//!
//! ```text
//! body      = name-size (1 byte) name data
//! READY     data = property*          property = name-size name value-size (u32 BE) value
//! ERROR     data = reason-size (1 byte) reason
//! SUBSCRIBE data = topic              CANCEL data = topic       (ZMTP 3.1)
//! PING      data = ttl (u16 BE, deciseconds) context (0..=16 bytes)
//! PONG      data = context
//! ```
//!
//! Command names are compared byte for byte (libzmq uses `memcmp`); property names are
//! compared ASCII-case-insensitively as RFC 37 asks, and sent in libzmq's spelling
//! ([`PROPERTY_SOCKET_TYPE`], [`PROPERTY_IDENTITY`]).

use crate::frame::{self, FrameHeader};
use crate::wbuf::WriteBuf;
use crate::ProtocolError;

/// A parsed command, borrowing from the frame body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// READY: the sender's metadata, to be read with [`properties`].
    Ready {
        /// The raw property list.
        metadata: &'a [u8],
    },
    /// ERROR: the handshake failed on the sender's side.
    Error {
        /// The reason text (at most 255 bytes).
        reason: &'a [u8],
    },
    /// SUBSCRIBE (ZMTP 3.1).
    Subscribe {
        /// The topic prefix.
        topic: &'a [u8],
    },
    /// CANCEL (ZMTP 3.1).
    Cancel {
        /// The topic prefix.
        topic: &'a [u8],
    },
    /// PING (ZMTP 3.1 heartbeat).
    Ping {
        /// How long the sender waits for traffic before closing, in tenths of a second.
        ttl: u16,
        /// Context to echo in the PONG (libzmq echoes at most [`MAX_PING_CONTEXT`] bytes).
        context: &'a [u8],
    },
    /// PONG (ZMTP 3.1 heartbeat reply).
    Pong {
        /// The context of the PING it answers.
        context: &'a [u8],
    },
    /// Any other command (e.g. a mechanism's HELLO, or one from a newer protocol version).
    Other {
        /// The command name.
        name: &'a [u8],
        /// Everything after the name.
        data: &'a [u8],
    },
}

impl<'a> Command<'a> {
    /// Parses a command body.
    ///
    /// Fails with [`ProtocolError::MalformedCommand`] when the body is empty or shorter than its
    /// name, when an ERROR's reason overruns the body, or when a PING has no TTL. Trailing bytes
    /// after an ERROR's reason are ignored, as libzmq does.
    pub fn parse(body: &'a [u8]) -> Result<Command<'a>, ProtocolError> {
        let Some((&name_len, rest)) = body.split_first() else {
            return Err(malformed(b"", "empty command body"));
        };
        let name_len = usize::from(name_len);
        let (Some(name), Some(data)) = (rest.get(..name_len), rest.get(name_len..)) else {
            return Err(malformed(b"", "command name overruns the frame"));
        };
        Ok(match name {
            READY => Command::Ready { metadata: data },
            ERROR => {
                let Some((&len, rest)) = data.split_first() else {
                    return Err(malformed(name, "no reason length"));
                };
                let Some(reason) = rest.get(..usize::from(len)) else {
                    return Err(malformed(name, "reason overruns the frame"));
                };
                Command::Error { reason }
            }
            SUBSCRIBE => Command::Subscribe { topic: data },
            CANCEL => Command::Cancel { topic: data },
            PING => {
                let (Some(ttl), Some(context)) = (data.get(..2), data.get(2..)) else {
                    return Err(malformed(name, "no TTL"));
                };
                Command::Ping {
                    ttl: u16::from_be_bytes([ttl[0], ttl[1]]),
                    context,
                }
            }
            PONG => Command::Pong { context: data },
            _ => Command::Other { name, data },
        })
    }

    /// The command name.
    pub fn name(&self) -> &'a [u8] {
        match self {
            Command::Ready { .. } => READY,
            Command::Error { .. } => ERROR,
            Command::Subscribe { .. } => SUBSCRIBE,
            Command::Cancel { .. } => CANCEL,
            Command::Ping { .. } => PING,
            Command::Pong { .. } => PONG,
            Command::Other { name, .. } => &name[..name.len().min(255)],
        }
    }

    /// Writes this command as a complete frame (header and body) into `out`.
    ///
    /// An ERROR reason is cut to 255 bytes, the most its length byte can say.
    pub fn write_frame(&self, out: &mut WriteBuf) {
        self.with_parts(|name_len, name, prefix, data| {
            let body_len = 1 + name.len() + prefix.len() + data.len();
            let header = FrameHeader::new(body_len as u64, false, true);
            let mut hdr = [0u8; frame::MAX_HEADER_SIZE];
            let n = frame::encode_header(&header, &mut hdr);
            out.put_slice(&hdr[..n]);
            out.put_slice(name_len);
            out.put_slice(name);
            out.put_slice(prefix);
            out.put_slice(data);
        });
    }

    /// The command's body (what follows the frame header), as [`write_frame`] writes it.
    ///
    /// [`write_frame`]: Command::write_frame
    pub fn to_body(&self) -> Vec<u8> {
        self.with_parts(|name_len, name, prefix, data| [name_len, name, prefix, data].concat())
    }

    /// Calls `f` with the body's four parts: name length byte, name, fixed fields, data.
    fn with_parts<R>(&self, f: impl FnOnce(&[u8], &[u8], &[u8], &[u8]) -> R) -> R {
        let name = self.name();
        let mut tmp = [0u8; 3];
        let (prefix, data): (&[u8], &[u8]) = match *self {
            Command::Ready { metadata } => (&[], metadata),
            Command::Error { reason } => {
                let reason = &reason[..reason.len().min(255)];
                tmp[0] = reason.len() as u8;
                (&tmp[..1], reason)
            }
            Command::Subscribe { topic } | Command::Cancel { topic } => (&[], topic),
            Command::Ping { ttl, context } => {
                tmp[..2].copy_from_slice(&ttl.to_be_bytes());
                (&tmp[..2], context)
            }
            Command::Pong { context } => (&[], context),
            Command::Other { data, .. } => (&[], data),
        };
        // `name()` never returns more than 255 bytes.
        f(&[name.len() as u8], name, prefix, data)
    }
}

/// Iterates over the properties of a READY (or INITIATE) metadata block.
///
/// Yields `(name, value)` pairs; on a truncated or inconsistent property it yields one
/// [`ProtocolError::MalformedMetadata`] and stops. This accepts exactly what libzmq's
/// `parse_metadata` accepts (an empty name is allowed; a single trailing byte is not).
pub fn properties(metadata: &[u8]) -> Properties<'_> {
    Properties {
        rest: metadata,
        failed: false,
    }
}

/// Iterator returned by [`properties`].
#[derive(Clone, Debug)]
pub struct Properties<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Iterator for Properties<'a> {
    type Item = Result<(&'a [u8], &'a [u8]), ProtocolError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match split_property(self.rest) {
            Ok((name, value, rest)) => {
                self.rest = rest;
                Some(Ok((name, value)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Appends one property (name-size, name, value-size, value) to a metadata block.
///
/// Fails with [`ProtocolError::MalformedMetadata`] if the name is longer than 255 bytes or the
/// value longer than `u32::MAX` bytes, which the wire format cannot express.
pub fn encode_property(out: &mut Vec<u8>, name: &[u8], value: &[u8]) -> Result<(), ProtocolError> {
    let Ok(name_len) = u8::try_from(name.len()) else {
        return Err(ProtocolError::MalformedMetadata {
            reason: "property name longer than 255 bytes",
        });
    };
    let Ok(value_len) = u32::try_from(value.len()) else {
        return Err(ProtocolError::MalformedMetadata {
            reason: "property value longer than 4 GiB",
        });
    };
    out.reserve(1 + name.len() + 4 + value.len());
    out.push(name_len);
    out.extend_from_slice(name);
    out.extend_from_slice(&value_len.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

/// Whether two property names are equal, ignoring ASCII case (RFC 37).
pub fn property_name_eq(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Name of the READY property that carries the sender's socket type.
pub const PROPERTY_SOCKET_TYPE: &str = "Socket-Type";
/// Name of the READY property that carries the sender's routing id.
pub const PROPERTY_IDENTITY: &str = "Identity";
/// The most PING context bytes libzmq echoes back in a PONG.
pub const MAX_PING_CONTEXT: usize = 16;

const READY: &[u8] = b"READY";
const ERROR: &[u8] = b"ERROR";
const SUBSCRIBE: &[u8] = b"SUBSCRIBE";
const CANCEL: &[u8] = b"CANCEL";
const PING: &[u8] = b"PING";
const PONG: &[u8] = b"PONG";

/// A property's name and value, and what follows it.
type Split<'a> = (&'a [u8], &'a [u8], &'a [u8]);

fn split_property(buf: &[u8]) -> Result<Split<'_>, ProtocolError> {
    let truncated = || ProtocolError::MalformedMetadata {
        reason: "property overruns the command",
    };
    let (&name_len, rest) = buf.split_first().ok_or_else(truncated)?;
    let name_len = usize::from(name_len);
    let name = rest.get(..name_len).ok_or_else(truncated)?;
    let rest = rest.get(name_len..).ok_or_else(truncated)?;
    let len_bytes = rest.get(..4).ok_or_else(truncated)?;
    let value_len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
    let rest = rest.get(4..).ok_or_else(truncated)?;
    // Compared against what is left of the body before anything is copied or reserved.
    let value_len = usize::try_from(value_len).map_err(|_| truncated())?;
    let value = rest.get(..value_len).ok_or_else(truncated)?;
    let rest = rest.get(value_len..).ok_or_else(truncated)?;
    Ok((name, value, rest))
}

fn malformed(name: &[u8], reason: &'static str) -> ProtocolError {
    ProtocolError::MalformedCommand {
        command: String::from_utf8_lossy(name).into_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn frame_bytes(cmd: &Command<'_>) -> Vec<u8> {
        let mut w = WriteBuf::new();
        cmd.write_frame(&mut w);
        w.to_vec()
    }

    /// Splits a frame written by `write_frame` into its body, checking the header.
    fn body(frame: &[u8]) -> Vec<u8> {
        let (h, n) = frame::decode(frame).unwrap().unwrap();
        assert!(h.is_command() && !h.more());
        assert_eq!(frame.len() - n, h.size() as usize);
        frame[n..].to_vec()
    }

    #[test]
    fn parses_each_command() {
        assert_eq!(
            Command::parse(b"\x05READY\x01a\x00\x00\x00\x01b"),
            Ok(Command::Ready {
                metadata: b"\x01a\x00\x00\x00\x01b"
            })
        );
        assert_eq!(
            Command::parse(b"\x05ERROR\x03abcxx"),
            Ok(Command::Error { reason: b"abc" })
        );
        assert_eq!(
            Command::parse(b"\x09SUBSCRIBEtopic"),
            Ok(Command::Subscribe { topic: b"topic" })
        );
        assert_eq!(
            Command::parse(b"\x06CANCEL"),
            Ok(Command::Cancel { topic: b"" })
        );
        assert_eq!(
            Command::parse(b"\x04PING\x00\x0actx"),
            Ok(Command::Ping {
                ttl: 10,
                context: b"ctx"
            })
        );
        assert_eq!(
            Command::parse(b"\x04PONGctx"),
            Ok(Command::Pong { context: b"ctx" })
        );
        assert_eq!(
            Command::parse(b"\x05HELLOxyz"),
            Ok(Command::Other {
                name: b"HELLO",
                data: b"xyz"
            })
        );
        assert_eq!(
            Command::parse(b"\x05ready"),
            Ok(Command::Other {
                name: b"ready",
                data: b""
            })
        );
    }

    #[test]
    fn malformed_commands_are_typed_errors() {
        for body in [
            &b""[..],
            b"\x05READ",
            b"\x05ERROR",
            b"\x05ERROR\x04abc",
            b"\x04PING\x00",
        ] {
            assert!(
                matches!(
                    Command::parse(body),
                    Err(ProtocolError::MalformedCommand { .. })
                ),
                "{body:?}"
            );
        }
        let e = Command::parse(b"\x05ERROR").unwrap_err();
        assert_eq!(
            e.zmq_protocol_error_code(),
            crate::error::codes::ZMTP_MALFORMED_COMMAND_ERROR
        );
    }

    #[test]
    fn properties_parse_like_libzmq() {
        let mut md = Vec::new();
        encode_property(&mut md, b"Socket-Type", b"DEALER").unwrap();
        encode_property(&mut md, b"", b"").unwrap();
        encode_property(&mut md, b"X-Big", &[7; 300]).unwrap();
        let props: Vec<_> = properties(&md).collect::<Result<_, _>>().unwrap();
        assert_eq!(props.len(), 3);
        assert_eq!(props[0], (&b"Socket-Type"[..], &b"DEALER"[..]));
        assert_eq!(props[2].1.len(), 300);

        // One trailing byte, a name overrunning the body, a value length beyond the body.
        for bad in [
            &b"\x00"[..],
            b"\x05ab",
            b"\x01a\x00\x00\x00",
            b"\x01a\x00\x00\x00\x05abc",
            b"\x01a\xff\xff\xff\xffabc",
        ] {
            let r: Result<Vec<_>, _> = properties(bad).collect();
            assert!(
                matches!(r, Err(ProtocolError::MalformedMetadata { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn property_names_compare_case_insensitively() {
        assert!(property_name_eq(
            b"socket-type",
            PROPERTY_SOCKET_TYPE.as_bytes()
        ));
        assert!(!property_name_eq(
            b"Socket-Typ",
            PROPERTY_SOCKET_TYPE.as_bytes()
        ));
    }

    #[test]
    fn encode_property_rejects_long_names() {
        let mut md = Vec::new();
        assert!(encode_property(&mut md, &[b'a'; 256], b"").is_err());
        assert!(md.is_empty());
    }

    #[test]
    fn frames_have_libzmq_layout() {
        assert_eq!(
            frame_bytes(&Command::Subscribe { topic: b"ab" }),
            b"\x04\x0c\x09SUBSCRIBEab".to_vec()
        );
        assert_eq!(
            frame_bytes(&Command::Error { reason: b"no" }),
            b"\x04\x09\x05ERROR\x02no".to_vec()
        );
        assert_eq!(
            frame_bytes(&Command::Ping {
                ttl: 0x0102,
                context: b"c"
            }),
            b"\x04\x08\x04PING\x01\x02c".to_vec()
        );
    }

    fn arb_command() -> impl Strategy<Value = (u8, Vec<u8>, u16, Vec<u8>)> {
        (
            0u8..7,
            proptest::collection::vec(any::<u8>(), 0..300),
            any::<u16>(),
            proptest::collection::vec(any::<u8>(), 1..20),
        )
    }

    proptest! {
        #[test]
        fn command_round_trip((kind, data, ttl, name) in arb_command()) {
            let cmd = match kind {
                0 => Command::Ready { metadata: &data },
                1 => Command::Error { reason: &data[..data.len().min(255)] },
                2 => Command::Subscribe { topic: &data },
                3 => Command::Cancel { topic: &data },
                4 => Command::Ping { ttl, context: &data },
                5 => Command::Pong { context: &data },
                _ => {
                    let known = [READY, ERROR, SUBSCRIBE, CANCEL, PING, PONG];
                    prop_assume!(!known.contains(&name.as_slice()));
                    Command::Other { name: &name, data: &data }
                }
            };
            let b = body(&frame_bytes(&cmd));
            prop_assert_eq!(Command::parse(&b), Ok(cmd));
        }

        #[test]
        fn properties_round_trip(props in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..=255), proptest::collection::vec(any::<u8>(), 0..100)), 0..8)) {
            let mut md = Vec::new();
            for (n, v) in &props {
                encode_property(&mut md, n, v).unwrap();
            }
            let parsed: Vec<(Vec<u8>, Vec<u8>)> = properties(&md)
                .map(|r| r.map(|(n, v)| (n.to_vec(), v.to_vec())))
                .collect::<Result<_, _>>()
                .unwrap();
            prop_assert_eq!(parsed, props);
        }

        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Command::parse(&bytes);
            let _ = properties(&bytes).count();
        }
    }
}
