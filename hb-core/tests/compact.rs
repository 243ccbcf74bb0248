//! The compact encoding against real heartbeat 3.0.6 traffic and random messages: every message
//! comes back field for field, signed frames verify, mangled ones do not, and the stream
//! deframer finds its way back after noise.

mod support;

use hb_core::auth::{Keyring, Method};
use hb_core::msg::compact::{self, CompactError, CompactPacket, Deframer};
use hb_core::msg::netstring::{self, Signing};
use hb_core::msg::{self, Field, FieldType, Message};
use proptest::prelude::*;

/// Re-encodes a decoded message compact, decodes it again and compares; returns the frame size.
fn compact_round_trip(fields: &[Field<'_>], keys: Option<&Keyring>) -> usize {
    let mut wire = vec![0u8; 4096];
    let n = compact::encode(fields, keys, &mut wire).unwrap();
    let mut scratch = vec![0u8; 20 * fields.len()];
    let p: CompactPacket<'_, 64> = compact::decode(&mut wire[..n], &mut scratch).unwrap();
    assert_eq!(p.msg.fields(), fields);
    if let Some(k) = keys {
        assert_eq!(p.verify(k), Ok(k.active().unwrap()));
    }
    n
}

#[test]
fn every_captured_packet_round_trips() {
    let keys = support::vector_keys();
    let (mut packets, mut original, mut compact) = (0, 0, 0);
    for pcap in support::all_pcaps() {
        for d in support::heartbeat_datagrams(&support::read_vector(&pcap)) {
            let mut scratch = vec![0u8; d.len()];
            let p: msg::Packet<'_, 64> = msg::decode(&d, &mut scratch).unwrap();
            compact += compact_round_trip(p.msg.fields(), Some(&keys));
            original += d.len();
            packets += 1;
        }
    }
    let (a, b) = support::serial_streams();
    for stream in [a, b] {
        for m in support::classic_messages(&stream) {
            let mut scratch = vec![0u8; m.len()];
            let p: msg::Packet<'_, 64> = msg::decode(&m, &mut scratch).unwrap();
            compact += compact_round_trip(p.msg.fields(), Some(&keys));
            original += m.len();
            packets += 1;
        }
    }
    assert!(packets > 900, "{packets} packets");
    println!(
        "{packets} captured packets: {original} bytes as sent by heartbeat, {compact} bytes compact \
         (with their embedded auth and ld fields)"
    );
}

#[test]
fn a_captured_status_without_heartbeats_auth_field_fits_a_serial_budget() {
    // What our daemon sends on a serial line: the captured fields minus `ld` and the classic
    // `auth` field, signed by the frame.
    let keys = support::vector_keys();
    let pcap = support::read_vector("02-steady.eth0.pcap");
    let d = &support::heartbeat_datagrams(&pcap)[0];
    let mut scratch = vec![0u8; d.len()];
    let p: msg::Packet<'_, 32> = msg::decode(d, &mut scratch).unwrap();
    let mut m: Message<'_, 32> = p.msg;
    m.remove("ld");
    m.remove("auth");
    assert_eq!(m.get_str("t"), Some("status"));
    let n = compact_round_trip(m.fields(), Some(&keys));
    println!("captured status as a compact sha1 frame: {n} bytes");
    assert!(n <= 64);
}

/// A field that owns its bytes, for the strategies.
#[derive(Clone, Debug)]
struct Owned {
    name: Vec<u8>,
    ty: FieldType,
    value: Vec<u8>,
}

fn borrow(fields: &[Owned]) -> Vec<Field<'_>> {
    fields
        .iter()
        .map(|f| Field {
            name: &f.name,
            ty: f.ty,
            value: &f.value,
        })
        .collect()
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    let known = compact::NAMES
        .iter()
        .copied()
        .chain(["x", "_compression_algorithm", "HA_x", "a b"])
        .map(|n| n.as_bytes().to_vec())
        .collect::<Vec<_>>();
    prop_oneof![
        prop::sample::select(known),
        prop::collection::vec(any::<u8>(), 1..12).prop_map(|mut n| {
            for c in &mut n {
                if matches!(*c, b'=' | b'\n' | 0) {
                    *c = b'_';
                }
            }
            if n[0] == b'(' {
                n[0] = b')';
            }
            n
        }),
    ]
}

fn string_value() -> impl Strategy<Value = Vec<u8>> {
    let words = compact::WORDS
        .iter()
        .chain(compact::PAIRS.iter().map(|(_, v)| v))
        .map(|w| w.as_bytes().to_vec())
        .collect::<Vec<_>>();
    prop_oneof![
        prop::sample::select(words),
        any::<u64>().prop_map(|v| format!("{v:x}").into_bytes()),
        any::<u32>().prop_map(|v| format!("{v:x}").into_bytes()),
        (0u64..300).prop_map(|v| format!("{v:x}").into_bytes()),
        any::<u64>().prop_map(|v| v.to_string().into_bytes()),
        (0u64..300).prop_map(|v| v.to_string().into_bytes()),
        // Not canonical: must travel verbatim.
        any::<u32>().prop_map(|v| format!("{v:X}").into_bytes()),
        any::<u16>().prop_map(|v| format!("0{v:x}").into_bytes()),
        any::<u16>().prop_map(|v| format!("00{v}").into_bytes()),
        Just(b"18446744073709551616".to_vec()),
        Just(b"10000000000000000".to_vec()),
        Just(Vec::new()),
        prop::collection::vec(any::<u8>(), 0..40),
    ]
}

fn flat_field() -> impl Strategy<Value = Owned> {
    let value = prop_oneof![
        4 => string_value().prop_map(|v| (FieldType::String, v)),
        1 => prop::collection::vec(any::<u8>(), 16..=16).prop_map(|v| (FieldType::Binary, v)),
        1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(|v| (FieldType::Binary, v)),
        1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(|v| (FieldType::Compress, v)),
        1 => prop::collection::vec(prop::collection::vec(any::<u8>(), 1..12), 0..5)
            .prop_map(|items| (FieldType::List, pack(&items))),
    ];
    (name(), value).prop_map(|(name, (ty, value))| Owned { name, ty, value })
}

fn pack(items: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for i in items {
        out.extend(format!("{}:", i.len()).into_bytes());
        out.extend(i);
        out.push(b',');
    }
    out
}

/// A field that may hold a nested message, `depth` levels deep at most.
fn field(depth: u32) -> BoxedStrategy<Owned> {
    if depth == 0 {
        return flat_field().boxed();
    }
    let nested = (
        name(),
        prop::sample::select(vec![FieldType::Struct, FieldType::Uncompress]),
        prop::collection::vec(field(depth - 1), 0..5),
    )
        .prop_map(|(name, ty, inner)| {
            let mut buf = vec![0u8; 8192];
            let n = netstring::encode(&borrow(&inner), Signing::Unsigned, &mut buf).unwrap();
            buf.truncate(n);
            Owned {
                name,
                ty,
                value: buf,
            }
        });
    prop_oneof![4 => flat_field(), 1 => nested].boxed()
}

fn keyring() -> impl Strategy<Value = Option<Keyring>> {
    let method = prop::sample::select(vec![Method::Crc, Method::Md5, Method::Sha1, Method::Sha256]);
    prop::option::of((method, 0u8..16, prop::collection::vec(any::<u8>(), 1..80))).prop_map(|k| {
        k.map(|(method, index, key)| {
            let mut ring = Keyring::new();
            let key: &[u8] = if method == Method::Crc { b"" } else { &key };
            ring.insert(index, method, key).unwrap();
            ring.set_active(index).unwrap();
            ring
        })
    })
}

fn signed_frame() -> impl Strategy<Value = (Vec<u8>, Keyring)> {
    (prop::collection::vec(field(1), 0..12), keyring()).prop_map(|(fields, keys)| {
        let keys = keys.unwrap_or_else(|| {
            let mut k = Keyring::new();
            k.insert(3, Method::Sha1, b"k").unwrap();
            k.set_active(3).unwrap();
            k
        });
        let mut wire = vec![0u8; 8192];
        let n = compact::encode(&borrow(&fields), Some(&keys), &mut wire).unwrap();
        wire.truncate(n);
        (wire, keys)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_message_round_trips(fields in prop::collection::vec(field(2), 0..24), keys in keyring()) {
        let fields = borrow(&fields);
        compact_round_trip(&fields, keys.as_ref());
        // The decoded message is one heartbeat's own formats can carry.
        let mut buf = vec![0u8; 65536];
        prop_assert!(netstring::encode(&fields, Signing::Unsigned, &mut buf).is_ok());
    }

    #[test]
    fn a_changed_byte_is_caught((wire, keys) in signed_frame(), at in any::<prop::sample::Index>(), xor in 1u8..) {
        let mut bad = wire.clone();
        let i = at.index(bad.len());
        bad[i] ^= xor;
        let mut scratch = vec![0u8; 4096];
        if let Ok(p) = compact::decode::<64>(&mut bad, &mut scratch) {
            prop_assert!(p.verify(&keys).is_err(), "byte {} ^ {:#x} accepted", i, xor);
        }
    }

    #[test]
    fn the_deframer_finds_every_frame_after_noise(
        frames in prop::collection::vec(signed_frame(), 1..5),
        noise in prop::collection::vec(any::<u8>(), 0..300),
        chunk in 1usize..64,
    ) {
        // Noise, a delimiter, then the frames back to back: each run of noise between 0x00s is
        // one counted bad (or oversize) frame, and every real frame arrives, in order.
        let mut stream = noise.clone();
        stream.push(0);
        for (w, _) in &frames {
            stream.extend(w);
        }
        let mut d: Deframer<1024> = Deframer::new();
        let mut got = Vec::new();
        for piece in stream.chunks(chunk) {
            let mut rest = piece;
            while !rest.is_empty() {
                let (used, event) = d.feed(rest);
                rest = &rest[used..];
                if let Some(Ok(f)) = event {
                    got.push(f.content().to_vec());
                }
            }
        }
        let s = d.stats();
        let runs = noise.split(|&b| b == 0).filter(|r| !r.is_empty()).count();
        // Noise that happens to be a valid frame is possible in principle, not at 2^-32.
        prop_assert_eq!((s.bad + s.oversize) as usize, runs, "{:?}", s);
        prop_assert_eq!(s.frames as usize, frames.len());
        prop_assert_eq!(got.len(), frames.len());
        for (content, (w, keys)) in got.iter().zip(&frames) {
            let mut w = w.clone();
            let f = compact::Frame::unstuff(&mut w).unwrap();
            prop_assert_eq!(&content[..], f.content());
            let mut scratch = vec![0u8; 4096];
            let p = f.decode::<64>(&mut scratch).unwrap();
            prop_assert!(p.verify(keys).is_ok());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = compact::looks_like_frame(&bytes);
        let mut copy = bytes.clone();
        let mut scratch = vec![0u8; 256];
        let _ = compact::decode::<8>(&mut copy, &mut scratch);
        let mut d: Deframer<128> = Deframer::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let (used, event) = d.feed(rest);
            rest = &rest[used..];
            if let Some(Ok(f)) = event {
                let mut scratch = [0u8; 64];
                let _ = f.decode::<4>(&mut scratch);
            }
        }
    }

    #[test]
    fn valid_crc_and_random_content_never_panics(content in prop::collection::vec(any::<u8>(), 1..200)) {
        // Past the CRC: the header, field and MAC parsers see arbitrary bytes.
        let mut c = content.clone();
        c.extend(crc_of(&content).to_le_bytes());
        let mut wire = vec![0u8; c.len() + c.len() / 254 + 3];
        let n = cobs_encode(&c, &mut wire);
        let mut scratch = vec![0u8; 512];
        match compact::decode::<16>(&mut wire[..n], &mut scratch) {
            Ok(p) => {
                let _ = p.verify(&Keyring::new());
            }
            Err(e) => prop_assert!(!matches!(e, CompactError::Crc | CompactError::Cobs | CompactError::Short)),
        }
    }
}

fn crc_of(bytes: &[u8]) -> u32 {
    crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(bytes)
}

/// Plain COBS, written out here so the test does not lean on the encoder under test.
fn cobs_encode(data: &[u8], out: &mut [u8]) -> usize {
    let mut code_at = 0;
    let mut w = 1;
    let mut code = 1u8;
    for &b in data {
        if b == 0 {
            out[code_at] = code;
            code_at = w;
            w += 1;
            code = 1;
        } else {
            out[w] = b;
            w += 1;
            code += 1;
            if code == 0xff {
                out[code_at] = code;
                code_at = w;
                w += 1;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    out[w] = 0;
    w + 1
}
