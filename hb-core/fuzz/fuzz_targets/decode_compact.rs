//! Any bytes, as one frame and as a stream: no panic; a frame that decodes re-encodes to a frame
//! that decodes to the same fields.
#![no_main]

use hb_core::msg::compact::{self, Deframer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let keys = hb_core_fuzz::keys();

    let mut stream: Deframer<512> = Deframer::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (used, _frame) = stream.feed(rest);
        if used == 0 {
            break;
        }
        rest = &rest[used..];
    }

    let mut wire = data.to_vec();
    let mut scratch = vec![0u8; 64 * data.len() + 64];
    let Ok(p) = compact::decode::<64>(&mut wire, &mut scratch) else {
        return;
    };
    let _ = p.verify(&keys);
    let mut out = vec![0u8; 4 * data.len() + 256];
    let n = compact::encode(p.msg.fields(), Some(&keys), &mut out)
        .expect("a decoded message re-encodes");
    let mut scratch2 = vec![0u8; 64 * n + 64];
    let again =
        compact::decode::<64>(&mut out[..n], &mut scratch2).expect("a re-encoded frame decodes");
    assert_eq!(again.msg.fields(), p.msg.fields());
    assert_eq!(again.verify(&keys), Ok(1));
});
