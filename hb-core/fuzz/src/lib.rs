//! What the wire fuzz targets share.

use hb_core::auth::{Keyring, Method};
use hb_core::msg::{self, Format};

pub fn keys() -> Keyring {
    let mut keys = Keyring::new();
    keys.insert(1, Method::Sha1, b"fuzz").unwrap();
    keys.set_active(1).unwrap();
    keys
}

/// Any bytes: no panic; a message that decodes re-encodes, and decodes again to the same fields.
pub fn wire_round_trip(format: Format, data: &[u8]) {
    let marker: &[u8] = match format {
        Format::Classic => b">>>\n",
        Format::Netstring => b"###\n",
    };
    // Most inputs should reach the field parser, so the marker comes for free unless present.
    let mut input = if data.starts_with(marker) {
        Vec::new()
    } else {
        marker.to_vec()
    };
    input.extend_from_slice(data);
    let mut scratch = vec![0u8; input.len()];
    let Ok(p) = msg::decode::<64>(&input, &mut scratch) else {
        return;
    };
    let _ = p.verify(&keys());
    let mut out = vec![0u8; 2 * input.len() + 256];
    let n =
        msg::encode(p.msg.fields(), format, None, &mut out).expect("a decoded message re-encodes");
    let mut scratch2 = vec![0u8; n];
    let again = msg::decode::<64>(&out[..n], &mut scratch2).expect("a re-encoded message decodes");
    assert_eq!(again.msg.fields(), p.msg.fields());
}
