//! The ZMTP greeting (RFC 23 §"Greeting"): 64 bytes each side sends before anything else.
//!
//! ```text
//! signature  0xFF, 8 padding bytes, 0x7F     (10 bytes)
//! version    major, minor                    (2 bytes)
//! mechanism  name, NUL-padded                (20 bytes)
//! as-server  0 or 1                          (1 byte)
//! filler     zeros                           (31 bytes)
//! ```
//!
//! Version detection follows libzmq (`zmtp_engine.cpp`): if the first byte is not 0xFF, or bit 0
//! of the tenth byte is clear, the peer is an unversioned ZMTP 1.0 peer; otherwise the eleventh
//! byte (the "revision") says 0 = ZMTP 1.0, 1 = ZMTP 2.0, 3 = ZMTP 3.x (the twelfth byte is then the
//! minor version), and any other value is treated like ZMTP 3.1. This module decodes the ZMTP
//! 3.x greeting and reports older peers as [`ProtocolError::UnsupportedVersion`] or
//! [`ProtocolError::BadGreeting`]; the [`Session`](crate::Session) also serves ZMTP 2.0 peers,
//! whose greeting ends after the revision byte and a socket-type byte.
//!
//! libzmq validates nothing else: the padding, the rest of the tenth byte, the as-server byte and
//! the filler are ignored on receipt, so [`Greeting`] keeps them verbatim and [`Greeting::encode`]
//! reproduces a decoded greeting byte for byte.

use crate::{Mechanism, ProtocolError};

/// A complete 64-byte ZMTP 3.x greeting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Greeting {
    padding: [u8; 8],
    signature_end: u8,
    major: u8,
    minor: u8,
    mechanism: [u8; MECHANISM_NAME_SIZE],
    as_server: u8,
    filler: [u8; FILLER_SIZE],
}

/// The ZMTP version a peer announced, as libzmq interprets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZmtpVersion {
    /// ZMTP 1.0, with or without a signature.
    V1,
    /// ZMTP 2.0 (revision byte 1).
    V2,
    /// ZMTP 3.x with this effective minor version: the peer's minor for major 3, and 1 for any
    /// other unknown major (libzmq talks ZMTP 3.1 to those).
    V3 {
        /// 0 = ZMTP 3.0 (subscriptions travel as messages), 1 = ZMTP 3.1.
        minor: u8,
    },
}

impl Greeting {
    /// The greeting oxmq sends, laid out exactly as libzmq 4.3.5 lays out its own: the padding
    /// holds the big-endian `routing_id_len + 1` (a leftover of ZMTP 1.0 compatibility, where
    /// these bytes are the length of an identity frame), major 3, minor 1, then the mechanism
    /// name and the as-server byte. libzmq 4.3.5 always sends 0 there, whatever its role; the
    /// [`Session`](crate::Session) passes `false` for NULL.
    pub fn new(mechanism: Mechanism, as_server: bool, routing_id_len: usize) -> Greeting {
        let padding = (routing_id_len as u64).saturating_add(1).to_be_bytes();
        Greeting {
            padding,
            signature_end: SIGNATURE_END,
            major: 3,
            minor: 1,
            mechanism: mechanism.wire_name(),
            as_server: u8::from(as_server),
            filler: [0; FILLER_SIZE],
        }
    }

    /// Decodes a greeting from the start of `buf`.
    ///
    /// Returns `Ok(None)` while `buf` is a valid but incomplete prefix, `Ok(Some((greeting,
    /// GREETING_SIZE)))` once all 64 bytes are there, and an error as soon as the bytes seen so
    /// far show a non-ZMTP-3 peer (see [`check_prefix`]).
    pub fn decode(buf: &[u8]) -> Result<Option<(Greeting, usize)>, ProtocolError> {
        check_prefix(buf)?;
        let Some(g) = buf.get(..GREETING_SIZE) else {
            return Ok(None);
        };
        let mut padding = [0u8; 8];
        padding.copy_from_slice(&g[1..9]);
        let mut mechanism = [0u8; MECHANISM_NAME_SIZE];
        mechanism.copy_from_slice(&g[MECHANISM_POS..MECHANISM_POS + MECHANISM_NAME_SIZE]);
        let mut filler = [0u8; FILLER_SIZE];
        filler.copy_from_slice(&g[AS_SERVER_POS + 1..]);
        let greeting = Greeting {
            padding,
            signature_end: g[9],
            major: g[MAJOR_POS],
            minor: g[MINOR_POS],
            mechanism,
            as_server: g[AS_SERVER_POS],
            filler,
        };
        Ok(Some((greeting, GREETING_SIZE)))
    }

    /// The 64 wire bytes of this greeting.
    pub fn encode(&self) -> [u8; GREETING_SIZE] {
        let mut out = [0u8; GREETING_SIZE];
        out[0] = SIGNATURE_START;
        out[1..9].copy_from_slice(&self.padding);
        out[9] = self.signature_end;
        out[MAJOR_POS] = self.major;
        out[MINOR_POS] = self.minor;
        out[MECHANISM_POS..MECHANISM_POS + MECHANISM_NAME_SIZE].copy_from_slice(&self.mechanism);
        out[AS_SERVER_POS] = self.as_server;
        out[AS_SERVER_POS + 1..].copy_from_slice(&self.filler);
        out
    }

    /// The major version byte (libzmq's "revision").
    pub fn major(&self) -> u8 {
        self.major
    }

    /// The minor version byte.
    pub fn minor(&self) -> u8 {
        self.minor
    }

    /// The version libzmq would speak with the sender of this greeting.
    pub fn version(&self) -> ZmtpVersion {
        version_of(self.major, self.minor)
    }

    /// The 20-byte, NUL-padded mechanism field as received.
    pub fn mechanism_field(&self) -> &[u8; MECHANISM_NAME_SIZE] {
        &self.mechanism
    }

    /// The mechanism name without its NUL padding.
    pub fn mechanism_name(&self) -> &[u8] {
        let end = self
            .mechanism
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(MECHANISM_NAME_SIZE);
        &self.mechanism[..end]
    }

    /// Whether the as-server byte is non-zero.
    pub fn as_server(&self) -> bool {
        self.as_server != 0
    }
}

/// Checks the bytes received so far of a peer's greeting (any prefix, possibly empty) the way
/// libzmq does, failing as early as libzmq would decide the peer is not speaking ZMTP 3.x:
/// first byte not 0xFF or tenth byte without bit 0 → [`ProtocolError::BadGreeting`] (ZMTP 1.0
/// unversioned), revision 0 or 1 → [`ProtocolError::UnsupportedVersion`] 1 or 2.
pub fn check_prefix(buf: &[u8]) -> Result<(), ProtocolError> {
    if let Some(&b) = buf.first() {
        if b != SIGNATURE_START {
            return Err(ProtocolError::BadGreeting);
        }
    }
    if let Some(&b) = buf.get(SIGNATURE_SIZE - 1) {
        if b & 0x01 == 0 {
            return Err(ProtocolError::BadGreeting);
        }
    }
    if let Some(&rev) = buf.get(MAJOR_POS) {
        match version_of(rev, 0) {
            ZmtpVersion::V1 => return Err(ProtocolError::UnsupportedVersion { major: 1 }),
            ZmtpVersion::V2 => return Err(ProtocolError::UnsupportedVersion { major: 2 }),
            ZmtpVersion::V3 { .. } => {}
        }
    }
    Ok(())
}

/// The version libzmq speaks with a peer announcing `major`/`minor` (`select_handshake_fun`).
pub fn version_of(major: u8, minor: u8) -> ZmtpVersion {
    match major {
        REVISION_ZMTP_1_0 => ZmtpVersion::V1,
        REVISION_ZMTP_2_0 => ZmtpVersion::V2,
        3 => ZmtpVersion::V3 {
            minor: minor.min(1),
        },
        _ => ZmtpVersion::V3 { minor: 1 },
    }
}

/// Size of the complete ZMTP 3.x greeting.
pub const GREETING_SIZE: usize = 64;
/// Size of the signature: the part each side sends before waiting for the peer.
pub const SIGNATURE_SIZE: usize = 10;
/// Offset of the major version byte; libzmq sends it once the peer's signature has arrived.
pub const MAJOR_POS: usize = 10;
/// Offset of the minor version byte; libzmq sends it and everything after it once the peer's
/// major version has arrived.
pub const MINOR_POS: usize = 11;
/// Size of the NUL-padded mechanism name field.
pub const MECHANISM_NAME_SIZE: usize = 20;

const SIGNATURE_START: u8 = 0xFF;
const SIGNATURE_END: u8 = 0x7F;
const MECHANISM_POS: usize = 12;
const AS_SERVER_POS: usize = 32;
const FILLER_SIZE: usize = 31;
const REVISION_ZMTP_1_0: u8 = 0;
const REVISION_ZMTP_2_0: u8 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    /// What libzmq 4.3.5 sends for the NULL mechanism with an empty routing id
    /// (zmtp_engine.cpp: plug_internal + receive_greeting_versioned).
    const LIBZMQ_NULL_GREETING: [u8; 64] = [
        0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, // signature, padding = routing id size + 1
        3, 1, // version 3.1
        b'N', b'U', b'L', b'L', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // mechanism
        0, // as-server
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, // filler
    ];

    #[test]
    fn null_greeting_matches_libzmq_bytes() {
        assert_eq!(
            Greeting::new(Mechanism::Null, false, 0).encode(),
            LIBZMQ_NULL_GREETING
        );
    }

    #[test]
    fn padding_carries_routing_id_size_plus_one() {
        let g = Greeting::new(Mechanism::Null, false, 5).encode();
        assert_eq!(&g[1..9], &[0, 0, 0, 0, 0, 0, 0, 6]);
    }

    #[test]
    fn decode_round_trips_and_reports_fields() {
        let (g, n) = Greeting::decode(&LIBZMQ_NULL_GREETING).unwrap().unwrap();
        assert_eq!(n, 64);
        assert_eq!(g.mechanism_name(), b"NULL");
        assert_eq!(g.version(), ZmtpVersion::V3 { minor: 1 });
        assert!(!g.as_server());
        assert_eq!(g.encode(), LIBZMQ_NULL_GREETING);
    }

    #[test]
    fn every_prefix_is_pending() {
        for len in 0..64 {
            assert_eq!(
                Greeting::decode(&LIBZMQ_NULL_GREETING[..len]),
                Ok(None),
                "len {len}"
            );
        }
    }

    #[test]
    fn first_byte_not_ff_is_rejected_immediately() {
        assert_eq!(Greeting::decode(b"G"), Err(ProtocolError::BadGreeting));
    }

    #[test]
    fn tenth_byte_without_bit_zero_is_zmtp_1_0() {
        let mut g = LIBZMQ_NULL_GREETING;
        g[9] = 0x7E;
        assert_eq!(Greeting::decode(&g[..10]), Err(ProtocolError::BadGreeting));
    }

    #[test]
    fn only_bit_zero_of_tenth_byte_matters() {
        let mut g = LIBZMQ_NULL_GREETING;
        g[9] = 0x01;
        g[1] = 0xAA;
        let (d, _) = Greeting::decode(&g).unwrap().unwrap();
        assert_eq!(d.encode(), g);
    }

    #[test]
    fn old_revisions_are_unsupported() {
        let mut g = LIBZMQ_NULL_GREETING;
        g[10] = 0;
        assert_eq!(
            Greeting::decode(&g[..11]),
            Err(ProtocolError::UnsupportedVersion { major: 1 })
        );
        g[10] = 1;
        assert_eq!(
            Greeting::decode(&g[..11]),
            Err(ProtocolError::UnsupportedVersion { major: 2 })
        );
    }

    #[test]
    fn versions_follow_libzmq() {
        assert_eq!(version_of(3, 0), ZmtpVersion::V3 { minor: 0 });
        assert_eq!(version_of(3, 1), ZmtpVersion::V3 { minor: 1 });
        assert_eq!(version_of(3, 7), ZmtpVersion::V3 { minor: 1 });
        assert_eq!(version_of(2, 0), ZmtpVersion::V3 { minor: 1 });
        assert_eq!(version_of(4, 0), ZmtpVersion::V3 { minor: 1 });
        assert_eq!(version_of(0, 0), ZmtpVersion::V1);
        assert_eq!(version_of(1, 0), ZmtpVersion::V2);
    }
}
