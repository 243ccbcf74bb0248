//! Any bytes, as a serial line of frames and as the body of a relay frame that reaches the
//! parser: no panic; a body that parses re-encodes (signed for real) to a frame that decodes
//! to the same.
#![no_main]

use hb_core::auth::{Keyring, Method};
use hb_core::msg::compact::{Deframer, Frame};
use hb_core::relay;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let keys = hb_core_fuzz::keys();

    // As a line: every frame that survives COBS and the CRC goes through open and verify.
    let mut line: Deframer<{ relay::MAX_FRAME_LEN }> = Deframer::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (used, frame) = line.feed(rest);
        if let Some(Ok(f)) = frame {
            if let Ok(sealed) = relay::open(&f) {
                let _ = sealed.parse_unverified();
                let _ = sealed.verify(&keys);
            }
        }
        if used == 0 {
            break;
        }
        rest = &rest[used..];
    }

    // As a body: signed with the keyless `crc` method so the MAC passes and the parser runs.
    let mut crc_keys = Keyring::new();
    crc_keys.insert(1, Method::Crc, b"").unwrap();
    let mut content = vec![0x80 | 1 << 4 | 1];
    content.extend_from_slice(data);
    let digest = crc_keys.digest(1, &content).unwrap();
    let mac = hb_core::msg::parse_hex(digest.as_bytes()).unwrap_or(0) as u32;
    content.extend_from_slice(&mac.to_le_bytes());
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(&content);
    content.extend_from_slice(&crc.to_le_bytes());
    let mut wire = vec![0u8; content.len() + content.len() / 254 + 2];
    let n = cobs::try_encode(&content, &mut wire).unwrap();
    wire.truncate(n);
    let frame = Frame::unstuff(&mut wire).expect("a frame we stuffed");
    let Ok(parsed) = relay::decode(&frame, &crc_keys) else {
        return;
    };
    let mut out = [0u8; relay::MAX_FRAME_LEN];
    let n = match relay::encode(&parsed, &keys, &mut out) {
        Ok(n) => n,
        // The sha1 MAC is 8 bytes longer than crc's: a body near the limit may not fit.
        Err(e) => {
            assert_eq!(e, hb_core::msg::EncodeError::BufferFull);
            assert!(data.len() + 40 > relay::MAX_FRAME_LEN);
            return;
        }
    };
    let again = Frame::unstuff(&mut out[..n]).expect("re-encoded frame");
    assert_eq!(relay::decode(&again, &keys), Ok(parsed));
});
