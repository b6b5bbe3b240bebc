//! Decodes arbitrary text as Z85: a refusal is fine, a panic is not, and whatever decodes must
//! encode back to exactly the text it came from (Z85 has one spelling per value).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxmq_proto::z85;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(bytes) = z85::decode(text) {
        assert_eq!(bytes.len(), text.len() / 5 * 4);
        assert_eq!(z85::encode(&bytes).as_deref(), Ok(text));
    }
});
