//! How many sha1-authenticated status messages one core decodes and verifies per second: the
//! receive path every heartbeat packet takes. Reports; asserts nothing about speed.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hb_core::auth::{Keyring, Method};
use hb_core::msg::{self, Field, Format, Message};
use std::hint::black_box;

fn status_packet(format: Format, keys: &Keyring) -> Vec<u8> {
    let uuid = [
        0x9a, 0xb7, 0x14, 0xae, 0x5f, 0x52, 0x4c, 0x19, 0x82, 0x61, 0xad, 0x2d, 0xba, 0x38, 0x60,
        0x38,
    ];
    let mut m: Message = Message::new();
    for (n, v) in [
        ("t", "status"),
        ("st", "active"),
        ("dt", "3e8"),
        ("protocol", "1"),
        ("src", "node1"),
    ] {
        m.push_str(n, v).unwrap();
    }
    m.push(Field::binary("srcuuid", &uuid)).unwrap();
    for (n, v) in [
        ("seq", "5f"),
        ("hg", "6b0214a9"),
        ("ts", "6b0214ab"),
        ("ld", "0.20 0.12 0.10 2/104 14116"),
        ("ttl", "3"),
    ] {
        m.push_str(n, v).unwrap();
    }
    let mut out = vec![0u8; 1024];
    let n = msg::encode(m.fields(), format, Some(keys), &mut out).unwrap();
    out.truncate(n);
    out
}

fn decode_verify(c: &mut Criterion) {
    let mut keys = Keyring::new();
    keys.insert(1, Method::Sha1, b"hbh-test-key-not-secret")
        .unwrap();
    keys.set_active(1).unwrap();
    let mut group = c.benchmark_group("sha1 status decode+verify");
    group.throughput(Throughput::Elements(1));
    for format in [Format::Netstring, Format::Classic] {
        let packet = status_packet(format, &keys);
        let mut scratch = [0u8; 512];
        group.bench_function(format!("{format:?} ({} bytes)", packet.len()), |b| {
            b.iter(|| {
                let p: msg::Packet = msg::decode(black_box(&packet), &mut scratch).unwrap();
                assert_eq!(p.verify(&keys), Ok(1));
                black_box(p.msg.get_hex("seq"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decode_verify);
criterion_main!(benches);
