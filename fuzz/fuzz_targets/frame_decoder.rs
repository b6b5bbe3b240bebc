//! Decodes arbitrary bytes as a run of ZMTP frames (headers, then bodies, then command bodies);
//! every header that decodes must re-encode to exactly the bytes it was decoded from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxmq_proto::command::{self, Command};
use oxmq_proto::frame;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((header, used))) = frame::decode(rest) {
        let mut out = [0u8; frame::MAX_HEADER_SIZE];
        let n = frame::encode_header(&header, &mut out);
        assert_eq!(&out[..n], &rest[..used]);
        let Ok(size) = usize::try_from(header.size()) else {
            break;
        };
        let Some(body) = rest.get(used..).and_then(|r| r.get(..size)) else {
            break;
        };
        if header.is_command() {
            if let Ok(Command::Ready { metadata }) = Command::parse(body) {
                for property in command::properties(metadata) {
                    if property.is_err() {
                        break;
                    }
                }
            }
        }
        rest = &rest[used + size..];
    }
});
