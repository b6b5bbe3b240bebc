//! The ZMTP 3.x frame header codec (RFC 23 §"Framing").
//!
//! ```text
//! flags  bit 0 MORE, bit 1 LONG, bit 2 COMMAND, bits 3-7 reserved
//! size   1 byte (short) or 8 bytes big-endian (LONG)
//! body   size bytes
//! ```
//!
//! Like libzmq's `v2_decoder`, the decoder ignores the reserved bits and does not reject MORE on
//! a command frame, and it accepts a LONG header for any size (senders use it only above 255
//! bytes). [`FrameHeader`] keeps the flags byte exactly as received, so encoding a decoded
//! header gives back the same bytes.

use crate::ProtocolError;

/// A decoded (or to-be-encoded) frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    flags: u8,
    size: u64,
}

impl FrameHeader {
    /// The header a sender writes: short for bodies up to 255 bytes, LONG above.
    #[inline]
    pub fn new(size: u64, more: bool, command: bool) -> FrameHeader {
        let mut flags = 0;
        if more {
            flags |= MORE;
        }
        if command {
            flags |= COMMAND;
        }
        if size > MAX_SHORT_SIZE {
            flags |= LONG;
        }
        FrameHeader { flags, size }
    }

    /// A header with the given raw flags byte. If `size` does not fit a short header the LONG
    /// bit is set.
    pub fn from_raw(flags: u8, size: u64) -> FrameHeader {
        let flags = if size > MAX_SHORT_SIZE {
            flags | LONG
        } else {
            flags
        };
        FrameHeader { flags, size }
    }

    /// The body length in bytes.
    #[inline]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The raw flags byte, reserved bits included.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether more frames of the same message follow.
    #[inline]
    pub fn more(&self) -> bool {
        self.flags & MORE != 0
    }

    /// Whether the size is encoded in 8 bytes.
    #[inline]
    pub fn is_long(&self) -> bool {
        self.flags & LONG != 0
    }

    /// Whether this is a command frame.
    #[inline]
    pub fn is_command(&self) -> bool {
        self.flags & COMMAND != 0
    }

    /// The reserved bits (3 to 7) of the flags byte; zero from any conforming sender.
    #[inline]
    pub fn reserved_bits(&self) -> u8 {
        self.flags & RESERVED
    }

    /// The length of the encoded header: 2 or 9 bytes.
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.is_long() {
            LONG_HEADER_SIZE
        } else {
            SHORT_HEADER_SIZE
        }
    }
}

/// Decodes a frame header from the start of `buf`.
///
/// Returns `Ok(None)` if `buf` holds less than a full header, otherwise the header and the number
/// of header bytes consumed (2 or 9); the body follows. Fails with
/// [`ProtocolError::FrameTooLarge`] when the size could not be held in memory on this machine
/// (more than `isize::MAX` bytes, the most a Rust allocation can hold; this is the u64-overflow
/// check of CVE-2019-6250). Limits such as `ZMQ_MAXMSGSIZE` are the caller's to check, before it
/// reserves memory for the body.
#[inline]
pub fn decode(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
    let Some(&flags) = buf.first() else {
        return Ok(None);
    };
    let (size, len) = if flags & LONG == 0 {
        match buf.get(1) {
            Some(&s) => (u64::from(s), SHORT_HEADER_SIZE),
            None => return Ok(None),
        }
    } else {
        match buf.get(1..LONG_HEADER_SIZE) {
            Some(s) => {
                let mut be = [0u8; 8];
                be.copy_from_slice(s);
                (u64::from_be_bytes(be), LONG_HEADER_SIZE)
            }
            None => return Ok(None),
        }
    };
    if size > MAX_FRAME_SIZE {
        return Err(ProtocolError::FrameTooLarge {
            size,
            max: MAX_FRAME_SIZE,
        });
    }
    Ok(Some((FrameHeader { flags, size }, len)))
}

/// Encodes `header` into `out`, returning the number of bytes written (2 or 9).
#[inline]
pub fn encode_header(header: &FrameHeader, out: &mut [u8; MAX_HEADER_SIZE]) -> usize {
    out[0] = header.flags;
    if header.is_long() {
        out[1..LONG_HEADER_SIZE].copy_from_slice(&header.size.to_be_bytes());
        LONG_HEADER_SIZE
    } else {
        // A short header is only built for sizes up to 255 (see `new`/`from_raw`/`decode`).
        out[1] = header.size as u8;
        SHORT_HEADER_SIZE
    }
}

/// MORE flag bit: more frames of this message follow.
pub const MORE: u8 = 0x01;
/// LONG flag bit: the size takes 8 bytes.
pub const LONG: u8 = 0x02;
/// COMMAND flag bit: the frame is a command.
pub const COMMAND: u8 = 0x04;
/// The reserved flag bits.
pub const RESERVED: u8 = 0xF8;
/// The largest header (flags + 8-byte size).
pub const MAX_HEADER_SIZE: usize = LONG_HEADER_SIZE;
/// The largest size a short header can carry.
pub const MAX_SHORT_SIZE: u64 = 255;
/// The largest frame size [`decode`] accepts: `isize::MAX`, the largest allocation Rust allows.
pub const MAX_FRAME_SIZE: u64 = isize::MAX as u64;

const SHORT_HEADER_SIZE: usize = 2;
const LONG_HEADER_SIZE: usize = 9;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn enc(h: &FrameHeader) -> Vec<u8> {
        let mut out = [0u8; MAX_HEADER_SIZE];
        let n = encode_header(h, &mut out);
        out[..n].to_vec()
    }

    #[test]
    fn sender_uses_short_frames_up_to_255() {
        assert_eq!(enc(&FrameHeader::new(255, true, false)), vec![0x01, 255]);
        assert_eq!(
            enc(&FrameHeader::new(256, false, true)),
            vec![0x06, 0, 0, 0, 0, 0, 0, 1, 0]
        );
        assert_eq!(enc(&FrameHeader::new(0, false, false)), vec![0, 0]);
    }

    #[test]
    fn truncated_headers_are_pending() {
        assert_eq!(decode(&[]), Ok(None));
        assert_eq!(decode(&[0x00]), Ok(None));
        assert_eq!(decode(&[0x02, 0, 0, 0, 0, 0, 0, 0]), Ok(None));
    }

    #[test]
    fn long_header_for_small_size_is_accepted_and_kept() {
        let bytes = [0x02, 0, 0, 0, 0, 0, 0, 0, 3];
        let (h, n) = decode(&bytes).unwrap().unwrap();
        assert_eq!((h.size(), n, h.is_long()), (3, 9, true));
        assert_eq!(enc(&h), bytes.to_vec());
    }

    #[test]
    fn reserved_bits_are_ignored_like_libzmq() {
        let (h, _) = decode(&[0xF9, 1]).unwrap().unwrap();
        assert!(h.more() && !h.is_command() && !h.is_long());
        assert_eq!(h.reserved_bits(), 0xF8);
        assert_eq!(enc(&h), vec![0xF9, 1]);
    }

    #[test]
    fn huge_sizes_are_a_typed_error() {
        let mut bytes = [0xFFu8; 9];
        bytes[0] = LONG;
        assert_eq!(
            decode(&bytes),
            Err(ProtocolError::FrameTooLarge {
                size: u64::MAX,
                max: MAX_FRAME_SIZE
            })
        );
        let mut just_over = [0u8; 9];
        just_over[0] = LONG;
        just_over[1..].copy_from_slice(&(MAX_FRAME_SIZE + 1).to_be_bytes());
        assert!(decode(&just_over).is_err());
    }

    proptest! {
        #[test]
        fn decode_never_panics_and_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..20)) {
            if let Ok(Some((h, n))) = decode(&bytes) {
                prop_assert_eq!(enc(&h), bytes[..n].to_vec());
            }
        }

        #[test]
        fn encode_then_decode(size in 0u64..=MAX_FRAME_SIZE, more: bool, command: bool) {
            let h = FrameHeader::new(size, more, command);
            let bytes = enc(&h);
            let (d, n) = decode(&bytes).unwrap().unwrap();
            prop_assert_eq!(d, h);
            prop_assert_eq!(n, bytes.len());
            prop_assert_eq!((d.more(), d.is_command()), (more, command));
        }
    }
}
