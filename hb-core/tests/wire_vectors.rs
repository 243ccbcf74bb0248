//! The wire codecs and digests against real heartbeat 3.0.6 traffic and the worked examples of
//! the wire spec (§2.6).

mod support;

use hb_core::auth::{AuthError, Keyring, Method};
use hb_core::msg::{self, classic, netstring, Field, Format, Message, SliceSink};

const UUID: [u8; 16] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
];

fn spec_status() -> Message<'static> {
    let mut m = Message::new();
    for (n, v) in [
        ("t", "status"),
        ("st", "active"),
        ("dt", "7530"),
        ("protocol", "1"),
        ("src", "node1"),
    ] {
        m.push_str(n, v).unwrap();
    }
    m.push(Field::binary("srcuuid", &UUID)).unwrap();
    for (n, v) in [
        ("seq", "1f"),
        ("hg", "3"),
        ("ts", "6553f100"),
        ("ld", "0.00 0.01 0.05 1/123 4567"),
        ("ttl", "3"),
    ] {
        m.push_str(n, v).unwrap();
    }
    m
}

fn keys(method: Method) -> Keyring {
    let mut k = Keyring::new();
    k.insert(
        1,
        method,
        if method == Method::Crc {
            b""
        } else {
            b"mysecret"
        },
    )
    .unwrap();
    k.set_active(1).unwrap();
    k
}

#[test]
fn spec_classic_digest_input_and_digests() {
    let m = spec_status();
    let mut buf = [0u8; 512];
    let mut sink = SliceSink::new(&mut buf);
    classic::write_digest_input(m.fields(), &mut sink).unwrap();
    let expected = b"t=status\nst=active\ndt=7530\nprotocol=1\nsrc=node1\n(1)srcuuid=ABEiM0RVZneImaq7zN3u/w==\nseq=1f\nhg=3\nts=6553f100\nld=0.00 0.01 0.05 1/123 4567\nttl=3\n";
    assert_eq!(sink.written(), &expected[..]);
    assert_eq!(expected.len(), 143);
    for (method, digest) in [
        (Method::Crc, "f17ee1d7"),
        (Method::Md5, "794a96d61587e16cc104edaf670c5e1b"),
        (Method::Sha1, "384347745fae8a890f11318baeecb05d31106d15"),
    ] {
        assert_eq!(
            keys(method).digest(1, expected).unwrap().as_str(),
            digest,
            "{method:?}"
        );
    }
}

#[test]
fn spec_classic_wire_form() {
    let m = spec_status();
    let mut out = [0u8; 512];
    for (method, len) in [(Method::Crc, 167), (Method::Md5, 191), (Method::Sha1, 199)] {
        let n = msg::encode(m.fields(), Format::Classic, Some(&keys(method)), &mut out).unwrap();
        assert_eq!(n, len, "{method:?}");
    }
    let n = msg::encode(
        m.fields(),
        Format::Classic,
        Some(&keys(Method::Sha1)),
        &mut out,
    )
    .unwrap();
    let text = b">>>\nt=status\nst=active\ndt=7530\nprotocol=1\nsrc=node1\n(1)srcuuid=ABEiM0RVZneImaq7zN3u/w==\nseq=1f\nhg=3\nts=6553f100\nld=0.00 0.01 0.05 1/123 4567\nttl=3\nauth=1 384347745fae8a890f11318baeecb05d31106d15\n<<<\n";
    assert_eq!(&out[..n], &text[..]);
    let mut scratch = [0u8; 512];
    let p: msg::Packet = msg::decode(&out[..n], &mut scratch).unwrap();
    assert_eq!(p.verify(&keys(Method::Sha1)), Ok(1));
    assert_eq!(p.msg.get_bytes("srcuuid"), Some(&UUID[..]));
}

#[test]
fn spec_netstring_wire_forms() {
    let m = spec_status();
    let fields = b"###\n11:(0)t=status,12:(0)st=active,10:(0)dt=7530,13:(0)protocol=1,12:(0)src=node1,27:(1)srcuuid=\x00\x11\x223DUfw\x88\x99\xaa\xbb\xcc\xdd\xee\xff,9:(0)seq=1f,7:(0)hg=3,14:(0)ts=6553f100,31:(0)ld=0.00 0.01 0.05 1/123 4567,8:(0)ttl=3,";
    let cases: [(Method, &[u8], usize, &[u8]); 3] = [
        (Method::Crc, b"18:(0)auth=1 f17ee1d7,%%%\n10:1 649deb9c,", 239, b"649deb9c"),
        (
            Method::Md5,
            b"42:(0)auth=1 794a96d61587e16cc104edaf670c5e1b,%%%\n34:1 0d210c1aace4fc798acd3a1172444c32,",
            287,
            b"0d210c1aace4fc798acd3a1172444c32",
        ),
        (
            Method::Sha1,
            b"50:(0)auth=1 384347745fae8a890f11318baeecb05d31106d15,%%%\n42:1 c0ed5c31dca634ad3bfdd51bc2223e6ff7ae94a6,",
            303,
            b"c0ed5c31dca634ad3bfdd51bc2223e6ff7ae94a6",
        ),
    ];
    for (method, tail, len, trailer_digest) in cases {
        let mut out = [0u8; 512];
        let n = msg::encode(m.fields(), Format::Netstring, Some(&keys(method)), &mut out).unwrap();
        let mut expected = fields.to_vec();
        expected.extend_from_slice(tail);
        assert_eq!(n, len, "{method:?}");
        assert_eq!(&out[..n], &expected[..], "{method:?}");
        let mut scratch = [0u8; 0];
        let p: msg::Packet = msg::decode(&out[..n], &mut scratch).unwrap();
        assert_eq!(p.verify(&keys(method)), Ok(1));
        assert!(p.trailer.unwrap().auth.ends_with(trailer_digest));
        // One flipped payload bit must be rejected (the spec's own check).
        let mut bad = out;
        bad[30] ^= 0x01;
        let p: msg::Packet = msg::decode(&bad[..n], &mut scratch).unwrap();
        assert_eq!(
            p.verify(&keys(method)),
            Err(AuthError::Mismatch { index: 1 })
        );
    }
}

#[test]
fn every_captured_udp_packet_decodes_verifies_and_reencodes_byte_exact() {
    let keys = support::vector_keys();
    let mut total = 0;
    let mut types = std::collections::BTreeSet::new();
    for name in support::all_pcaps() {
        for dgram in support::heartbeat_datagrams(&support::read_vector(&name)) {
            let mut scratch = [0u8; 0];
            let p: msg::Packet = msg::decode(&dgram, &mut scratch)
                .unwrap_or_else(|e| panic!("{name}: {e:?}: {}", String::from_utf8_lossy(&dgram)));
            assert_eq!(p.format, Format::Netstring);
            assert_eq!(p.verify(&keys), Ok(1), "{name}");
            types.insert(p.msg.get_str("t").unwrap().to_string());
            // The embedded classic auth field is valid too (what a serial write would carry).
            let auth = p.msg.get("auth").unwrap().value;
            assert_eq!(
                keys.verify_with(auth, |h| classic::write_digest_input(p.msg.fields(), h)),
                Ok(1)
            );
            let mut out = vec![0u8; dgram.len() + 64];
            let n = msg::encode(p.msg.fields(), Format::Netstring, Some(&keys), &mut out).unwrap();
            assert_eq!(&out[..n], &dgram[..], "{name}: re-encoding differs");
            total += 1;
        }
    }
    let expected = support::decoded_block_count();
    assert_eq!(
        total, expected,
        "packets in the pcaps vs blocks in the .decoded.txt files"
    );
    for t in [
        "status",
        "NS_ackmsg",
        "resource",
        "ask_resources",
        "starting",
        "reqnodes",
        "repnodes",
        "stonith",
        "shutdone",
        "hb_takeover",
        "ip-request-resp",
    ] {
        assert!(types.contains(t), "no {t} packet in the captures");
    }
}

#[test]
fn every_captured_serial_message_decodes_verifies_and_reencodes_byte_exact() {
    let keys = support::vector_keys();
    let (a, b) = support::serial_streams();
    let mut total = 0;
    for stream in [a, b] {
        for m in support::classic_messages(&stream) {
            let mut scratch = [0u8; 1024];
            let p: msg::Packet = msg::decode(&m, &mut scratch).unwrap();
            assert_eq!(p.format, Format::Classic);
            assert_eq!(p.verify(&keys), Ok(1), "{}", String::from_utf8_lossy(&m));
            assert_eq!(p.msg.get_bytes("srcuuid").map(<[u8]>::len), Some(16));
            let mut out = vec![0u8; m.len() + 64];
            let n = msg::encode(p.msg.fields(), Format::Classic, Some(&keys), &mut out).unwrap();
            assert_eq!(&out[..n], &m[..]);
            total += 1;
        }
    }
    assert!(total > 100, "only {total} serial messages");
}

#[test]
fn wrong_key_and_tampering_are_rejected() {
    let keys = support::vector_keys();
    let mut other = Keyring::new();
    other.insert(1, Method::Sha1, b"not-the-key").unwrap();
    other.set_active(1).unwrap();
    let dgram = &support::heartbeat_datagrams(&support::read_vector("02-steady.eth1.pcap"))[0];
    let mut scratch = [0u8; 0];
    let p: msg::Packet = msg::decode(dgram, &mut scratch).unwrap();
    assert_eq!(p.verify(&other), Err(AuthError::Mismatch { index: 1 }));
    let mut two = Keyring::new();
    two.insert(2, Method::Sha1, b"hbh-test-key-not-secret")
        .unwrap();
    two.set_active(2).unwrap();
    assert_eq!(p.verify(&two), Err(AuthError::UnknownKey { index: 1 }));
    // Without its trailer the packet is not authentic, whatever its auth field says.
    let end = dgram.windows(4).position(|w| w == b"%%%\n").unwrap() + 4;
    let p: msg::Packet = msg::decode(&dgram[..end], &mut scratch).unwrap();
    assert_eq!(p.verify(&keys), Err(AuthError::Missing));
}

#[test]
fn nested_messages_use_depth_symbols_in_classic_text() {
    // The spec's harness example: t=x, info="a\nb", child{ n=1, inner{k=v} }.
    let mut inner = [0u8; 64];
    let n_inner = netstring::encode(
        &[Field::string("k", "v")],
        netstring::Signing::Unsigned,
        &mut inner,
    )
    .unwrap();
    let mut child = [0u8; 128];
    let child_fields = [
        Field::string("n", "1"),
        Field {
            name: b"inner",
            ty: msg::FieldType::Struct,
            value: &inner[..n_inner],
        },
    ];
    let n_child =
        netstring::encode(&child_fields, netstring::Signing::Unsigned, &mut child).unwrap();
    let top = [
        Field::string("t", "x"),
        Field::string("info", "a\nb"),
        Field {
            name: b"child",
            ty: msg::FieldType::Struct,
            value: &child[..n_child],
        },
    ];
    let mut out = [0u8; 256];
    let n = msg::encode(&top, Format::Classic, None, &mut out).unwrap();
    let expected = b">>>\nt=x\ninfo=a\x13b\n(2)child=>>>\x14n=1\x14(2)inner=>>>\x15k=v\x15<<<\x15\x14<<<\x14\n<<<\n";
    assert_eq!(&out[..n], &expected[..]);
    let mut scratch = [0u8; 256];
    let p: msg::Packet = msg::decode(&out[..n], &mut scratch).unwrap();
    assert_eq!(p.msg.fields(), &top[..]);
}

/// hb-linux sets routine datagrams aside by their first bytes (`msg::STEADY_PREFIXES`): 3.0.6's
/// own steady statuses and ACKs begin so, in both formats, and nothing else it sends does.
#[test]
fn steady_prefixes_match_3_0_6s_routine_traffic_and_nothing_else() {
    let keys = support::vector_keys();
    let (mut steady, mut other) = (0, 0);
    for name in support::all_pcaps() {
        for dgram in support::heartbeat_datagrams(&support::read_vector(&name)) {
            let mut scratch = [0u8; 0];
            let p: msg::Packet = msg::decode(&dgram, &mut scratch).unwrap();
            let t = p.msg.get_str("t").unwrap();
            let want = t == "NS_ackmsg" || (t == "status" && p.msg.get_str("st") == Some("active"));
            let mut classic = vec![0u8; dgram.len() + 64];
            let n =
                msg::encode(p.msg.fields(), Format::Classic, Some(&keys), &mut classic).unwrap();
            for (form, bytes) in [("netstring", &dgram[..]), ("classic", &classic[..n])] {
                assert_eq!(
                    msg::is_steady(bytes),
                    want,
                    "{name}, {form}: {}",
                    String::from_utf8_lossy(bytes)
                );
            }
            if want {
                steady += 1;
            } else {
                other += 1;
            }
        }
    }
    assert!(steady > 0 && other > 0, "{steady} steady, {other} other");
}
