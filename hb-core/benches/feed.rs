//! How many sha1-authenticated status messages from a peer one core takes in per second, the
//! whole receive path: decoded, verified and fed to the node's engine (`handle_packet`, then
//! its events drained). The packets are the peer engine's own, one per keepalive with rising
//! sequence numbers (a replayed packet would be refused early, flattering the figure). For
//! BENCHMARKS.md (goal: at least 1 M/s); reports, asserts nothing about speed.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hb_core::auth::{Keyring, Method};
use hb_core::config::HaCf;
use hb_core::engine::{MediumId, Membership, MembershipConfig};
use hb_core::time::Instant;
use std::hint::black_box;
use std::time::Duration;

type Eng = Membership<4, 4>;
const WALL: u64 = 1_764_800_000;
const KEEPALIVE_MS: u64 = 10;

fn config(node: &str) -> MembershipConfig {
    let text = "keepalive 10ms\nwarntime 20ms\ndeadtime 30ms\ninitdead 1\nudpport 694\n\
                bcast eth1\nnode node1 node2\n";
    let cf = HaCf::parse(text, &mut |_| {}).expect("ha.cf");
    let mut keys = Keyring::new();
    keys.insert(1, Method::Sha1, b"hb-bench-cluster")
        .expect("key");
    keys.set_active(1).expect("active key");
    let uuid = [node.len() as u8 + node.as_bytes()[4]; 16];
    let mut c = MembershipConfig::from_hacf(&cf, node, uuid, WALL, keys, 7).expect("config");
    c.load_average = "0.26 0.12 0.10 6/102 11977".try_into().expect("short");
    c
}

/// `n` status packets node1 sends, one per keepalive.
fn packets(n: u64) -> Vec<(Instant, Vec<u8>)> {
    let mut e: Eng =
        Membership::new(&config("node1"), Instant::from_millis(0), WALL).expect("engine");
    let mut buf = [0u8; 2048];
    let mut out = Vec::with_capacity(n as usize);
    let mut ms = 0;
    while (out.len() as u64) < n {
        ms += KEEPALIVE_MS;
        let now = Instant::from_millis(ms);
        e.handle_timeout(now, WALL);
        while e.poll_event().is_some() {}
        while let Some(t) = e.poll_transmit(now, &mut buf) {
            let p = &buf[..t.len];
            if is_status(p) {
                out.push((now, p.to_vec()));
            }
        }
    }
    out
}

fn is_status(p: &[u8]) -> bool {
    p.windows(6).any(|w| w == b"status")
}

fn feed(c: &mut Criterion) {
    let mut group = c.benchmark_group("status from a peer: decode+verify+feed");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sha1 netstring, Membership::handle_packet", |b| {
        b.iter_custom(|iters| {
            let pkts = packets(iters);
            let mut e: Eng =
                Membership::new(&config("node2"), Instant::from_millis(0), WALL).expect("engine");
            let mut refused = 0u64;
            let start = std::time::Instant::now();
            for (at, p) in &pkts {
                refused += u64::from(
                    black_box(e.handle_packet(*at, WALL, MediumId(0), black_box(p))).is_err(),
                );
                while black_box(e.poll_event()).is_some() {}
            }
            let took = start.elapsed().max(Duration::from_nanos(1));
            // Every packet must have gone the whole way: a refused one is cheaper.
            assert_eq!(refused, 0, "the engine refused packets");
            took
        })
    });
    group.finish();
}

criterion_group!(benches, feed);
criterion_main!(benches);
