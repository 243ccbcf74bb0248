//! Property tests: any message the model can hold survives classic and netstring round trips,
//! signed messages verify, and arbitrary bytes never make a decoder panic.

use hb_core::auth::{Keyring, Method};
use hb_core::msg::{self, netstring, Field, FieldType, Format};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct OwnedField {
    name: String,
    ty: FieldType,
    value: Vec<u8>,
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_. -]{0,12}"
}

/// Strings may hold anything but NUL and 0x13, the byte classic text uses for LF.
fn string_value() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        any::<u8>().prop_filter("no NUL/0x13", |b| *b != 0 && *b != 0x13),
        0..40,
    )
}

fn list_value() -> impl Strategy<Value = Vec<u8>> {
    let item = proptest::collection::vec(
        any::<u8>().prop_filter("no LF/NUL", |b| *b != 0 && *b != b'\n'),
        1..10,
    );
    proptest::collection::vec(item, 0..4).prop_map(|items| {
        let mut packed = Vec::new();
        for i in items {
            packed.extend_from_slice(format!("{}:", i.len()).as_bytes());
            packed.extend_from_slice(&i);
            packed.push(b',');
        }
        packed
    })
}

/// Inside a nested message classic text also reserves 0x14 (its LF symbol).
fn nested_string_value() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        any::<u8>().prop_filter("no NUL/0x13/0x14", |b| ![0, 0x13, 0x14].contains(b)),
        0..40,
    )
}

fn nested_value() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec((name(), nested_string_value()), 0..4).prop_map(|fs| {
        let fields: Vec<Field<'_>> = fs
            .iter()
            .map(|(n, v)| Field {
                name: n.as_bytes(),
                ty: FieldType::String,
                value: v,
            })
            .collect();
        let mut out = vec![0u8; 4096];
        let n = netstring::encode(&fields, netstring::Signing::Unsigned, &mut out).unwrap();
        out.truncate(n);
        out
    })
}

fn field() -> impl Strategy<Value = OwnedField> {
    let value = prop_oneof![
        4 => string_value().prop_map(|v| (FieldType::String, v)),
        2 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(|v| (FieldType::Binary, v)),
        1 => proptest::collection::vec(any::<u8>(), 0..20).prop_map(|v| (FieldType::Compress, v)),
        1 => list_value().prop_map(|v| (FieldType::List, v)),
        1 => nested_value().prop_map(|v| (FieldType::Struct, v)),
    ];
    (name(), value).prop_map(|(name, (ty, value))| OwnedField { name, ty, value })
}

fn borrow(fields: &[OwnedField]) -> Vec<Field<'_>> {
    fields
        .iter()
        .map(|f| Field {
            name: f.name.as_bytes(),
            ty: f.ty,
            value: &f.value,
        })
        .collect()
}

fn keys() -> Keyring {
    let mut k = Keyring::new();
    k.insert(3, Method::Sha256, b"rotation-key").unwrap();
    k.set_active(3).unwrap();
    k
}

proptest! {
    #[test]
    fn messages_round_trip_in_both_formats(owned in proptest::collection::vec(field(), 0..12)) {
        let fields = borrow(&owned);
        for format in [Format::Classic, Format::Netstring] {
            let mut out = vec![0u8; 16384];
            let n = msg::encode(&fields, format, None, &mut out).unwrap();
            let mut scratch = vec![0u8; 16384];
            let p: msg::Packet = msg::decode(&out[..n], &mut scratch).unwrap();
            prop_assert_eq!(p.format, format);
            prop_assert_eq!(p.msg.fields(), &fields[..]);
        }
    }

    #[test]
    fn signed_messages_verify_and_keep_their_fields(owned in proptest::collection::vec(field(), 1..8)) {
        let fields = borrow(&owned);
        let k = keys();
        for format in [Format::Classic, Format::Netstring] {
            let mut out = vec![0u8; 16384];
            let n = msg::encode(&fields, format, Some(&k), &mut out).unwrap();
            let mut scratch = vec![0u8; 16384];
            let p: msg::Packet = msg::decode(&out[..n], &mut scratch).unwrap();
            prop_assert_eq!(p.verify(&k), Ok(3));
            let without_auth: Vec<_> = p.msg.fields().iter().filter(|f| f.name != b"auth").copied().collect();
            let expected: Vec<_> = fields.iter().filter(|f| f.name != b"auth").copied().collect();
            prop_assert_eq!(without_auth, expected);
        }
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), classic in any::<bool>()) {
        let mut input = if classic { b">>>\n".to_vec() } else { b"###\n".to_vec() };
        input.extend_from_slice(&bytes);
        let mut scratch = vec![0u8; 512];
        if let Ok(p) = msg::decode::<32>(&input, &mut scratch) {
            let _ = p.verify(&keys());
        }
    }
}

/// Names the encoders refuse are refused when decoding too, so every decoded message can be
/// re-sent (found by fuzzing).
#[test]
fn unusable_names_are_refused_on_decode() {
    let mut scratch = [0u8; 64];
    for input in [
        &b">>>\n(3)(x=1:a,\n<<<\n"[..],
        b"###\n7:(0)(x=1,%%%\n",
        b"###\n8:(0)a\nb=1,%%%\n",
    ] {
        let err = msg::decode::<8>(input, &mut scratch).unwrap_err();
        assert!(matches!(err, msg::DecodeError::BadName { .. }), "{err:?}");
    }
}
