extern crate std;

use super::body::{unzigzag, varint_len, zigzag};
use super::frame::CRC32C;
use super::tables::{DEC, DELTA, HEX, HEX32, RAW, WORD};
use super::*;
use crate::auth::Method;
use crate::msg::FieldType;
use std::println;
use std::vec::Vec;

const UUID_BYTES: [u8; 16] = [
    0x9a, 0xb7, 0x14, 0xae, 0x5f, 0x52, 0x4c, 0x19, 0x82, 0x61, 0xad, 0x2d, 0xba, 0x38, 0x60, 0x38,
];

fn status() -> [Field<'static>; 10] {
    [
        Field::string("t", "status"),
        Field::string("st", "active"),
        Field::string("dt", "7530"),
        Field::string("protocol", "1"),
        Field::string("src", "node1"),
        Field::binary("srcuuid", &UUID_BYTES),
        Field::string("seq", "1f"),
        Field::string("hg", "6b0214a9"),
        Field::string("ts", "6b0214a8"),
        Field::string("ttl", "3"),
    ]
}

fn keys(method: Method) -> Keyring {
    let mut k = Keyring::new();
    let key: &[u8] = if method == Method::Crc {
        b""
    } else {
        b"mysecret"
    };
    k.insert(1, method, key).unwrap();
    k.set_active(1).unwrap();
    k
}

fn round_trip(fields: &[Field<'_>], keys: Option<&Keyring>) -> usize {
    let mut wire = [0u8; 1024];
    let n = encode(fields, keys, &mut wire).unwrap();
    assert_eq!(wire[n - 1], 0);
    assert!(!wire[..n - 1].contains(&0));
    assert!(looks_like_frame(&wire[..n]));
    let mut scratch = [0u8; 512];
    let p: CompactPacket<'_, 32> = decode(&mut wire[..n], &mut scratch).unwrap();
    assert_eq!(p.msg.fields(), fields);
    if let Some(k) = keys {
        assert_eq!(p.verify(k), Ok(1));
    } else {
        assert_eq!(p.verify(&Keyring::new()), Err(AuthError::Missing));
    }
    n
}

#[test]
fn status_heartbeat_fits_in_64_bytes() {
    let fields = status();
    let unsigned = round_trip(&fields, None);
    println!("compact status, unsigned: {unsigned} bytes");
    let mut sizes = [0; 4];
    for (i, m) in [Method::Crc, Method::Md5, Method::Sha1, Method::Sha256]
        .into_iter()
        .enumerate()
    {
        sizes[i] = round_trip(&fields, Some(&keys(m)));
        println!(
            "compact status, {}: {} bytes on the wire",
            m.name(),
            sizes[i]
        );
    }
    assert_eq!(unsigned, 47);
    assert_eq!(sizes, [51, 59, 59, 63]);
    assert!(sizes[2] <= 64, "sha1 status is {} bytes", sizes[2]);
    // What heartbeat makes of the same message with the same key (module docs).
    let mut out = [0u8; 512];
    let sha1 = keys(Method::Sha1);
    let classic = super::super::encode(
        &fields,
        super::super::Format::Classic,
        Some(&sha1),
        &mut out,
    );
    let netstring = super::super::encode(
        &fields,
        super::super::Format::Netstring,
        Some(&sha1),
        &mut out,
    );
    println!("the same status as heartbeat sends it: classic {classic:?}, netstring {netstring:?}");
    assert_eq!((classic, netstring), (Ok(177), Ok(276)));
}

#[test]
fn status_bytes_match_the_documented_example() {
    let mut wire = [0u8; 128];
    let n = encode(&status(), Some(&keys(Method::Sha1)), &mut wire).unwrap();
    let frame = Frame::unstuff(&mut wire[..n]).unwrap();
    let c = frame.content();
    assert_eq!(c.len(), 53);
    let mut expected: Vec<u8> = Vec::new();
    expected.extend([0x31, 0xe0, 0xf0, 0x42, 0xea, 0x3a, 0xf2]);
    expected.extend([0x04, 0x28]);
    expected.extend(b"node1");
    expected.push(0xa5);
    expected.extend(UUID_BYTES);
    expected.extend([0x26, 0x1f, 0x67, 0xa9, 0x14, 0x02, 0x6b, 0x88, 0x01, 0xf4]);
    assert_eq!(&c[..41], &expected[..]);
    let auth = frame.auth().unwrap().unwrap();
    assert_eq!(
        (auth.method, auth.index, auth.mac.len()),
        (Method::Sha1, 1, 12)
    );
    // The MAC is the first 12 bytes of the full HMAC-SHA1 over header and body.
    let full = keys(Method::Sha1).digest(1, &c[..41]).unwrap();
    let hex: std::string::String = auth.mac.iter().map(|b| std::format!("{b:02x}")).collect();
    assert_eq!(hex, full.as_str()[..24]);
    assert_eq!(&c[41..], auth.mac);
}

#[test]
fn the_mac_is_the_digest_heartbeat_prints_truncated() {
    for method in [Method::Crc, Method::Md5, Method::Sha1, Method::Sha256] {
        let k = keys(method);
        let mut wire = [0u8; 256];
        let n = encode(&status(), Some(&k), &mut wire).unwrap();
        let frame = Frame::unstuff(&mut wire[..n]).unwrap();
        let auth = frame.auth().unwrap().unwrap();
        let text = k.digest(1, auth.signed).unwrap();
        let want: Vec<u8> = if method == Method::Crc {
            // `%lx` text of the CRC-32/CKSUM value, sent as 4 bytes little-endian.
            let v = u32::from_str_radix(text.as_str(), 16).unwrap();
            v.to_le_bytes().to_vec()
        } else {
            (0..mac_len(method))
                .map(|i| u8::from_str_radix(&text.as_str()[2 * i..2 * i + 2], 16).unwrap())
                .collect()
        };
        assert_eq!(auth.mac, &want[..], "{method:?}");
        assert_eq!(auth.verify(&k), Ok(1));
    }
}

#[test]
fn crc_is_castagnoli() {
    assert_eq!(CRC32C.checksum(b"123456789"), 0xe306_9283);
}

#[test]
fn numbers_use_short_forms_only_when_they_print_back_exactly() {
    let cases: &[(&str, u8)] = &[
        ("0", HEX),
        ("1f", HEX),
        ("1F", RAW),
        ("01f", RAW),
        ("", RAW),
        ("0x1", RAW),
        ("ffffffffffffffff", DELTA), // −1 from the start value 0
        ("fffffffffffffff", HEX),
        ("10000000000000000", DEC),
        ("1000000000000000a", RAW),
        ("18446744073709551615", DEC),
        ("18446744073709551616", RAW),
        ("6b0214a9", HEX32),
        ("dead", WORD),
        ("007", RAW),
        ("-1", RAW),
    ];
    for &(text, kind) in cases {
        let f = [Field::string("x-num", text)];
        let mut wire = [0u8; 128];
        let n = encode(&f, None, &mut wire).unwrap();
        let frame = Frame::unstuff(&mut wire[..n]).unwrap();
        assert_eq!(frame.content()[1] >> 5, kind, "{text:?}");
        round_trip(&f, None);
    }
    // Deltas follow the previous number, forwards and backwards, across the 64-bit wrap.
    let f = [
        Field::string("seq", "ffffffffffffffff"),
        Field::string("ackseq", "1"),
        Field::string("hg", "fffffffffffffff0"),
        Field::string("ts", "ffffffffffffffe0"),
        Field::string("ttl", "12"),
        Field::string("x", "13"),
    ];
    round_trip(&f, None);
}

#[test]
fn every_table_entry_round_trips_and_the_docs_list_it() {
    let doc = include_str!("mod.rs");
    for (i, name) in NAMES.iter().enumerate() {
        assert!(doc.contains(&std::format!("| {i} | `{name}` |")), "{name}");
        round_trip(&[Field::string(name, "v")], None);
    }
    for (i, (n, v)) in PAIRS.iter().enumerate() {
        assert!(
            doc.contains(&std::format!("| {i} | `{n}={v}` |")),
            "{n}={v}"
        );
        let mut wire = [0u8; 64];
        let len = encode(&[Field::string(n, v)], None, &mut wire).unwrap();
        // header, pair byte, CRC, COBS code, delimiter
        assert_eq!(len, 1 + 1 + 4 + 1 + 1);
    }
    for (i, w) in WORDS.iter().enumerate() {
        assert!(doc.contains(&std::format!("| {i} | `{w}` |")), "{w}");
        assert!(!WORDS[..i].contains(w), "{w} twice");
        round_trip(&[Field::string("x", w)], None);
    }
}

#[test]
fn any_field_round_trips() {
    let nested = b"###\n8:(0)k=v 1,%%%\n";
    let long = [0x55u8; 700];
    let fields = [
        Field::string("x", "a\nb=c"),
        Field {
            name: b"lst",
            ty: FieldType::List,
            value: b"3:abc,1:d,",
        },
        Field {
            name: b"nest",
            ty: FieldType::Struct,
            value: nested,
        },
        Field {
            name: b"u",
            ty: FieldType::Uncompress,
            value: nested,
        },
        Field {
            name: b"z",
            ty: FieldType::Compress,
            value: &[0, 1, 2, 0, 0],
        },
        Field::binary("srcuuid", &[0; 15]),
        Field::binary("destuuid", &[0; 16]),
        Field::binary("big", &long[..254]),
        Field::binary("big", &long[..508]),
        Field::string("t", "status"),
        Field::string("t", "status"),
        Field::string("", "x").with_name(b"\xffname"),
    ];
    round_trip(&fields, Some(&keys(Method::Sha256)));
    round_trip(&[], None);
    round_trip(&[], Some(&keys(Method::Md5)));
    // Lengths around the 254-byte COBS block.
    for len in 240..520 {
        round_trip(&[Field::binary("b", &long[..len])], None);
    }
}

trait WithName<'a> {
    fn with_name(self, name: &'a [u8]) -> Self;
}
impl<'a> WithName<'a> for Field<'a> {
    fn with_name(mut self, name: &'a [u8]) -> Self {
        self.name = name;
        self
    }
}

#[test]
fn what_heartbeat_cannot_carry_is_refused() {
    let mut out = [0u8; 256];
    for bad in [&b""[..], b"a=b", b"(x", b"a\nb", b"a\0"] {
        let f = [Field::string("x", "v").with_name(bad)];
        assert_eq!(encode(&f, None, &mut out), Err(EncodeError::BadName));
    }
    let list = [Field {
        name: b"l",
        ty: FieldType::List,
        value: b"0:,",
    }];
    assert_eq!(encode(&list, None, &mut out), Err(EncodeError::BadValue));
    let nest = [Field {
        name: b"n",
        ty: FieldType::Struct,
        value: b">>>\nk=v\n<<<\n",
    }];
    assert_eq!(encode(&nest, None, &mut out), Err(EncodeError::BadValue));
    assert_eq!(
        encode(&status(), Some(&Keyring::new()), &mut out),
        Err(EncodeError::NoKey)
    );
    // Every buffer too small is reported, never a panic.
    let full = encode(&status(), Some(&keys(Method::Sha1)), &mut out).unwrap();
    for len in 0..full {
        assert_eq!(
            encode(&status(), Some(&keys(Method::Sha1)), &mut out[..len]),
            Err(EncodeError::BufferFull),
            "{len}"
        );
    }
}

#[test]
fn decoded_literal_names_and_values_are_checked() {
    // header, literal string field "a=b" = "v", no auth
    for (body, err) in [
        (
            &[0x1f, 3, b'a', b'=', b'b', 1 << 3, b'v'][..],
            CompactError::BadName { at: 2 },
        ),
        (&[0x1f, 0, 1 << 3, b'v'], CompactError::BadName { at: 2 }),
        (
            &[0x00, 3 << 3 | 3, b'0', b':', b','],
            CompactError::BadValue { at: 2 },
        ),
        (&[0x00, 6], CompactError::BadCode { at: 2 }),
        (&[0xc0, 200], CompactError::BadCode { at: 2 }),
        (&[0x00, 5 << 3], CompactError::Truncated { at: 3 }),
        (&[0xa5, 1, 2], CompactError::Truncated { at: 2 }),
        (&[0x20, 0x80], CompactError::Truncated { at: 2 }),
        (
            &[
                0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
            ],
            CompactError::BadCode { at: 2 },
        ),
    ] {
        let wire = &mut [0u8; 64];
        let n = frame_of(0, body, wire);
        let mut scratch = [0u8; 64];
        let r: Result<CompactPacket<'_, 4>, _> = decode(&mut wire[..n], &mut scratch);
        assert_eq!(r.unwrap_err(), err, "{body:x?}");
    }
    // Capacity and scratch limits.
    let wire = &mut [0u8; 64];
    let n = frame_of(0, &[0xe0, 0xe0, 0xe0], wire);
    let r: Result<CompactPacket<'_, 2>, _> = decode(&mut wire[..n], &mut []);
    assert_eq!(r.unwrap_err(), CompactError::TooManyFields);
    let n = frame_of(0, &[0x26, 0x1f], wire);
    let mut one = [0u8; 1];
    let r: Result<CompactPacket<'_, 2>, _> = decode(&mut wire[..n], &mut one);
    assert_eq!(r.unwrap_err(), CompactError::ScratchFull);
    // Headers from the future, unknown methods, a key index without a method.
    for header in [0x80, 0x50, 0x70, 0x05] {
        let n = frame_of(header, &[0xe0; 20], wire);
        let r: Result<CompactPacket<'_, 32>, _> = decode(&mut wire[..n], &mut []);
        assert_eq!(r.unwrap_err(), CompactError::Unsupported, "{header:x}");
    }
    let n = frame_of(0x31, &[0xe0; 3], wire);
    let r: Result<CompactPacket<'_, 32>, _> = decode(&mut wire[..n], &mut []);
    assert_eq!(r.unwrap_err(), CompactError::Truncated { at: 1 });
}

/// A frame with any header and body, CRC and stuffing done right.
fn frame_of(header: u8, body: &[u8], out: &mut [u8]) -> usize {
    let mut content = Vec::from([header]);
    content.extend_from_slice(body);
    content.extend_from_slice(&CRC32C.checksum(&content).to_le_bytes());
    let n = cobs::try_encode(&content, out).unwrap();
    out[n] = 0;
    n + 1
}

#[test]
fn any_flipped_bit_is_caught_by_the_crc_or_the_mac() {
    let k = keys(Method::Sha1);
    let mut good = [0u8; 128];
    let n = encode(&status(), Some(&k), &mut good).unwrap();
    let mut by_crc = 0;
    for i in 0..n {
        for bit in 0..8 {
            let mut wire = good;
            wire[i] ^= 1 << bit;
            let mut scratch = [0u8; 256];
            match decode::<32>(&mut wire[..n], &mut scratch) {
                Err(_) => by_crc += 1,
                Ok(p) => assert!(p.verify(&k).is_err(), "byte {i} bit {bit}"),
            }
        }
    }
    println!("{by_crc} of {} bit flips stopped before the MAC", n * 8);
}

#[test]
fn a_forged_frame_with_a_good_crc_fails_the_mac() {
    let k = keys(Method::Sha1);
    let mut wire = [0u8; 128];
    let n = encode(&status(), Some(&k), &mut wire).unwrap();
    let mut content = Vec::from(Frame::unstuff(&mut wire[..n]).unwrap().content());
    content[5] ^= 1; // inside dt
    let mut forged = [0u8; 128];
    let m = frame_of(content[0], &content[1..], &mut forged);
    let mut scratch = [0u8; 256];
    let p: CompactPacket<'_, 32> = decode(&mut forged[..m], &mut scratch).unwrap();
    assert_eq!(p.verify(&k), Err(AuthError::Mismatch { index: 1 }));
}

#[test]
fn wrong_keys_are_refused() {
    let mut wire = [0u8; 128];
    let n = encode(&status(), Some(&keys(Method::Sha1)), &mut wire).unwrap();
    let mut scratch = [0u8; 256];
    let p: CompactPacket<'_, 32> = decode(&mut wire[..n], &mut scratch).unwrap();
    let mut other = Keyring::new();
    other.insert(1, Method::Sha1, b"not-my-secret").unwrap();
    assert_eq!(p.verify(&other), Err(AuthError::Mismatch { index: 1 }));
    let mut md5 = Keyring::new();
    md5.insert(1, Method::Md5, b"mysecret").unwrap();
    assert_eq!(p.verify(&md5), Err(AuthError::Mismatch { index: 1 }));
    let mut crc = Keyring::new();
    crc.insert(1, Method::Crc, b"").unwrap();
    assert_eq!(p.verify(&crc), Err(AuthError::Mismatch { index: 1 }));
    let mut elsewhere = Keyring::new();
    elsewhere.insert(2, Method::Sha1, b"mysecret").unwrap();
    assert_eq!(
        p.verify(&elsewhere),
        Err(AuthError::UnknownKey { index: 1 })
    );
    // Key rotation: every listed key verifies.
    let mut both = keys(Method::Sha1);
    both.insert(2, Method::Sha256, b"new").unwrap();
    both.set_active(2).unwrap();
    assert_eq!(p.verify(&both), Ok(1));
}

#[test]
fn deframer_resynchronises_after_garbage_and_counts() {
    let k = keys(Method::Sha1);
    let mut frame = [0u8; 128];
    let n = encode(&status(), Some(&k), &mut frame).unwrap();
    let frame = &frame[..n];
    let mut stream: Vec<u8> = Vec::new();
    stream.extend([0x13, 0x37, 0xff]); // the tail of something missed
    stream.push(0);
    stream.extend(frame);
    stream.extend([0, 0]); // flushes: ignored
    stream.extend([1, 2, 3, 4, 5, 6, 7]); // noise, then the frame glued on: both lost
    stream.extend(frame);
    stream.extend([0xaa; 300]); // oversize
    stream.push(0);
    stream.extend(frame);
    let mut d: Deframer<128> = Deframer::new();
    let mut got = 0;
    let mut rest = &stream[..];
    while !rest.is_empty() {
        let (used, event) = d.feed(rest);
        rest = &rest[used..];
        if let Some(Ok(f)) = event {
            let mut scratch = [0u8; 128];
            let p: CompactPacket<'_, 16> = f.decode(&mut scratch).unwrap();
            assert_eq!(p.msg.fields(), &status());
            assert_eq!(p.verify(&k), Ok(1));
            got += 1;
        }
    }
    assert_eq!(got, 2);
    assert_eq!(
        d.stats(),
        DeframerStats {
            frames: 2,
            bad: 2,
            oversize: 1
        }
    );
    // Byte by byte, the same.
    let mut d: Deframer<128> = Deframer::new();
    let mut frames = 0;
    for &b in &stream {
        if let Some(Ok(_)) = d.push(b) {
            frames += 1;
        }
    }
    assert_eq!(frames, 2);
    assert_eq!(d.stats().bad, 2);
}

#[test]
fn deframer_limits_are_exact() {
    let mut frame = [0u8; 128];
    let n = encode(&status(), None, &mut frame).unwrap();
    // Exactly the stuffed length fits; one byte less is oversize.
    let mut fits: Deframer<46> = Deframer::new();
    assert_eq!(n - 1, 46);
    assert!(matches!(fits.feed(&frame[..n]), (_, Some(Ok(_)))));
    let mut short: Deframer<45> = Deframer::new();
    assert_eq!(
        short.feed(&frame[..n]).1.map(|r| r.map(|_| ())),
        Some(Err(CompactError::Oversize))
    );
    let mut none: Deframer<0> = Deframer::new();
    assert_eq!(
        none.feed(&frame[..n]).1.map(|r| r.map(|_| ())),
        Some(Err(CompactError::Oversize))
    );
    assert_eq!(none.push(0).map(|r| r.map(|_| ())), None);
}

#[test]
fn heartbeat_packets_do_not_look_like_frames() {
    let classic = b">>>\nt=status\nst=active\n<<<\n";
    let netstring = b"###\n11:(0)t=status,%%%\n";
    assert!(!looks_like_frame(classic));
    assert!(!looks_like_frame(b">>>\nt=status\nst=active\n<<<\n\0"));
    assert!(!looks_like_frame(netstring));
    assert!(!looks_like_frame(b""));
    assert!(!looks_like_frame(b"\0"));
    let mut wire = [0u8; 128];
    let n = encode(&status(), None, &mut wire).unwrap();
    assert!(looks_like_frame(&wire[..n]));
    assert!(looks_like_frame(&wire[..n - 1]));
    wire[3] ^= 4;
    assert!(!looks_like_frame(&wire[..n]));
}

#[test]
fn garbage_never_panics() {
    // A cheap deterministic generator; the fuzz target does the real work.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut d: Deframer<64> = Deframer::new();
    for _ in 0..20_000 {
        let len = (next() % 48) as usize;
        let mut wire = [0u8; 48];
        for b in &mut wire[..len] {
            *b = next() as u8;
        }
        let _ = looks_like_frame(&wire[..len]);
        for &b in &wire[..len] {
            if let Some(Ok(f)) = d.push(b) {
                let _ = f.decode::<8>(&mut [0u8; 64]);
            }
        }
        // Frames with a valid CRC and random content reach the field decoder.
        let body_len = len.min(40);
        let mut framed = [0u8; 64];
        let m = frame_of(wire[0] & 0x7f, &wire[1..body_len.max(1)], &mut framed);
        let mut scratch = [0u8; 64];
        if let Ok(p) = decode::<8>(&mut framed[..m], &mut scratch) {
            let _ = p.verify(&keys(Method::Sha1));
        }
        let _ = decode::<8>(&mut wire[..len], &mut [0u8; 16]);
    }
}

#[test]
fn varint_len_matches_postcard() {
    for v in [0, 1, 127, 128, 16383, 16384, u64::from(u32::MAX), u64::MAX] {
        let mut buf = [0u8; 10];
        assert_eq!(
            postcard::to_slice(&v, &mut buf).unwrap().len(),
            varint_len(v)
        );
    }
    for d in [0u64, 1, u64::MAX, 5, 5u64.wrapping_neg(), 1 << 63] {
        assert_eq!(unzigzag(zigzag(d)), d);
    }
    assert_eq!(zigzag(1u64.wrapping_neg()), 1);
    assert_eq!(zigzag(1), 2);
}

#[test]
fn collector_keeps_stuffed_bytes_and_drops_oversize_frames_whole() {
    let mut l: FrameCollector<4> = FrameCollector::new();
    // 0x00 0x00: a sender's flush, no frame.
    assert_eq!(l.push(0), None);
    for b in [1, 2, 3] {
        assert_eq!(l.push(b), None);
    }
    assert_eq!(l.push(0), Some(Collected::Frame(3)));
    assert_eq!(l.frame(3), [1, 2, 3]);
    // Exactly the capacity still fits.
    for b in [4, 5, 6, 7] {
        assert_eq!(l.push(b), None);
    }
    assert_eq!(l.push(0), Some(Collected::Frame(4)));
    assert_eq!(l.frame_mut(4), [4, 5, 6, 7]);
    // One more is dropped whole, up to its delimiter; the next frame is whole again.
    for b in [9; 5] {
        assert_eq!(l.push(b), None);
    }
    assert_eq!(l.push(0), Some(Collected::Oversize));
    l.push(7);
    assert_eq!(l.push(0), Some(Collected::Frame(1)));
    assert_eq!(l.frame(1), [7]);
    assert_eq!(l.frame(9), [] as [u8; 0]);
    // A reset forgets a partial frame, and an overflowing one.
    l.push(1);
    l.reset();
    assert_eq!(l.push(0), None);
    for b in [9; 6] {
        l.push(b);
    }
    l.reset();
    l.push(2);
    assert_eq!(l.push(0), Some(Collected::Frame(1)));
    assert_eq!(l.frame(1), [2]);
}
