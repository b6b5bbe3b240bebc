//! Decodes arbitrary bytes as a ZMTP greeting; whatever decodes must re-encode to exactly the
//! bytes it was decoded from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxmq_proto::greeting::{self, Greeting};

fuzz_target!(|data: &[u8]| {
    // Every prefix must be judged consistently with the whole.
    let prefix_ok = greeting::check_prefix(data).is_ok();
    match Greeting::decode(data) {
        Ok(Some((g, used))) => {
            assert!(prefix_ok);
            assert_eq!(used, greeting::GREETING_SIZE);
            assert_eq!(&g.encode()[..], &data[..used]);
            let _ = g.version();
        }
        Ok(None) => assert!(prefix_ok && data.len() < greeting::GREETING_SIZE),
        Err(_) => assert!(!prefix_ok),
    }
});
