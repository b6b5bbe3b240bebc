//! Z85 (ZeroMQ RFC 32): binary data as printable text, five characters for every four bytes.
//!
//! Used for CURVE keys in text form (40 characters for a 32-byte key) and by `zmq_z85_encode` /
//! `zmq_z85_decode`. Each group of four bytes is read as a big-endian 32-bit number and written
//! as five base-85 digits, most significant first. Decoding refuses what the RFC does not
//! define: a length that is not a multiple of five, a character outside the alphabet, and a
//! group whose value does not fit in 32 bits.

/// The 85 digits, in order of value.
const ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Why Z85 input was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Z85Error {
    /// Binary input must be a multiple of 4 bytes, text a multiple of 5 characters.
    #[error("Z85 needs a multiple of {multiple} {unit}, got {len}")]
    Length {
        /// The length given.
        len: usize,
        /// What it must be a multiple of.
        multiple: usize,
        /// `bytes` or `characters`.
        unit: &'static str,
    },
    /// A character that is not a Z85 digit.
    #[error("invalid Z85 character {byte:#04x} at {position}")]
    Character {
        /// Its byte value.
        byte: u8,
        /// Its index in the text.
        position: usize,
    },
    /// Five digits whose value is 2^32 or more.
    #[error("the Z85 group at {position} exceeds 32 bits")]
    Overflow {
        /// The index of the group's first character.
        position: usize,
    },
}

/// Encodes `data` (a multiple of 4 bytes long).
pub fn encode(data: &[u8]) -> Result<String, Z85Error> {
    if data.len() % 4 != 0 {
        return Err(Z85Error::Length {
            len: data.len(),
            multiple: 4,
            unit: "bytes",
        });
    }
    let mut out = String::with_capacity(data.len() / 4 * 5);
    for group in data.chunks_exact(4) {
        let mut value = u32::from_be_bytes([group[0], group[1], group[2], group[3]]);
        let mut digits = [0u8; 5];
        for d in digits.iter_mut().rev() {
            *d = ALPHABET[(value % 85) as usize];
            value /= 85;
        }
        // Every digit comes from the ASCII alphabet.
        out.extend(digits.iter().map(|&b| char::from(b)));
    }
    Ok(out)
}

/// Decodes `text` (a multiple of 5 characters long).
pub fn decode(text: &str) -> Result<Vec<u8>, Z85Error> {
    let bytes = text.as_bytes();
    if bytes.len() % 5 != 0 {
        return Err(Z85Error::Length {
            len: bytes.len(),
            multiple: 5,
            unit: "characters",
        });
    }
    let mut out = Vec::with_capacity(bytes.len() / 5 * 4);
    for (g, group) in bytes.chunks_exact(5).enumerate() {
        let mut value: u64 = 0;
        for (i, &b) in group.iter().enumerate() {
            let digit = digit_value(b).ok_or(Z85Error::Character {
                byte: b,
                position: g * 5 + i,
            })?;
            value = value * 85 + u64::from(digit);
        }
        let value = u32::try_from(value).map_err(|_| Z85Error::Overflow { position: g * 5 })?;
        out.extend_from_slice(&value.to_be_bytes());
    }
    Ok(out)
}

/// The value of a Z85 digit.
fn digit_value(b: u8) -> Option<u8> {
    ALPHABET.iter().position(|&a| a == b).map(|p| p as u8)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn rfc_32_example() {
        let data = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(encode(&data).as_deref(), Ok("HelloWorld"));
        assert_eq!(decode("HelloWorld"), Ok(data.to_vec()));
    }

    #[test]
    fn a_curve_key_is_forty_characters() {
        let key = [0xABu8; 32];
        let text = encode(&key).expect("encodes");
        assert_eq!(text.len(), 40);
        assert_eq!(decode(&text), Ok(key.to_vec()));
    }

    #[test]
    fn bad_input_is_refused_with_its_reason() {
        assert!(matches!(
            encode(&[1, 2, 3]),
            Err(Z85Error::Length { len: 3, .. })
        ));
        assert!(matches!(
            decode("abcd"),
            Err(Z85Error::Length { len: 4, .. })
        ));
        assert_eq!(
            decode("Hello Worl"),
            Err(Z85Error::Character {
                byte: b' ',
                position: 5
            })
        );
        // "%nSc1" is 2^32 exactly; "%nSc0" is 2^32 - 1, the largest group.
        assert_eq!(decode("%nSc1"), Err(Z85Error::Overflow { position: 0 }));
        assert_eq!(decode("%nSc0"), Ok(vec![0xFF; 4]));
        assert_eq!(decode("#####"), Err(Z85Error::Overflow { position: 0 }));
        assert_eq!(encode(&[]).as_deref(), Ok(""));
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(words in proptest::collection::vec(any::<u32>(), 0..16)) {
            let data: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
            let text = encode(&data).expect("a multiple of 4");
            prop_assert_eq!(text.len(), data.len() / 4 * 5);
            prop_assert!(text.bytes().all(|b| ALPHABET.contains(&b)));
            prop_assert_eq!(decode(&text).expect("valid"), data);
        }
    }
}
