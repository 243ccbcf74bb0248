//! Flood (issue 12): a host on the LAN sends node1's heartbeat port a steady stream of bad
//! packets — a third each of garbage, wrong-key (real heartbeats whose digest no longer
//! matches) and replayed (real heartbeats captured from the LAN a moment before) — while the
//! cluster runs at keepalive 100 ms. What matters: no heartbeat later than warntime, no
//! death, what the flooded daemon spends, and that its log does not grow with the flood.
//!
//! The cluster has two media (`bcast eth1` on the crossover cable, `bcast eth0` on the LAN)
//! and the flood comes in on eth0, so hb's per-link worst gap on eth0 shows what the flood
//! did to that medium, not hidden by the quiet one.

use crate::cluster::{self, Cluster, Kind, Timing};
use crate::idle::cpu_ns;
use crate::soak::{count, hb_status, peer_entry};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const TIMING: Timing = Timing {
    keepalive: 100,
    warntime: 300,
    deadtime: 500,
    advert_cs: 10,
};

const NODE1_LAN: &str = "198.51.100.1:694";

/// Real heartbeats as they go by on the LAN (broadcasts to port 694), for up to `within`.
fn capture(c: &Cluster, within: Duration) -> Result<Vec<Vec<u8>>, String> {
    c.lab.within("client", || -> Result<Vec<Vec<u8>>, String> {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
            .map_err(|e| e.to_string())?;
        s.set_reuse_address(true).map_err(|e| e.to_string())?;
        s.set_broadcast(true).map_err(|e| e.to_string())?;
        let any: SocketAddr = "0.0.0.0:694".parse().expect("literal");
        s.bind(&any.into())
            .map_err(|e| format!("bind {any}: {e}"))?;
        let sock = UdpSocket::from(s);
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| e.to_string())?;
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        let start = Instant::now();
        while start.elapsed() < within && got.len() < 64 {
            if let Ok(n) = sock.recv(&mut buf) {
                got.push(buf[..n].to_vec());
            }
        }
        Ok(got)
    })?
}

/// The same heartbeat with one hex digit of its `auth` digest changed: well formed, signed
/// with a key nobody has.
fn wrong_key(p: &[u8]) -> Option<Vec<u8>> {
    let at = p.windows(5).rposition(|w| w == b"auth=")?;
    let space = at + p[at..].iter().position(|&b| b == b' ')?;
    let digit = space + 1;
    let mut out = p.to_vec();
    let d = out.get_mut(digit)?;
    *d = if *d == b'0' { b'1' } else { b'0' };
    Some(out)
}

/// xorshift64*: enough for garbage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// What the flooder did.
#[derive(Debug, Default)]
pub struct Sent {
    pub packets: u64,
    pub errors: u64,
    pub secs: f64,
}

/// Sends `rate` packets a second for `secs` from the client to node1's port, cycling through
/// garbage, wrong-key and replayed packets.
fn flood(
    c: &Cluster,
    captured: &[Vec<u8>],
    rate: u64,
    secs: u64,
    stop: Arc<AtomicBool>,
) -> Result<Sent, String> {
    let wrong: Vec<Vec<u8>> = captured.iter().filter_map(|p| wrong_key(p)).collect();
    if wrong.is_empty() {
        return Err("no captured heartbeat has an auth field to spoil".into());
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let garbage: Vec<Vec<u8>> = (0..256)
        .map(|_| {
            let n = 1 + (rng.next() % 1400) as usize;
            (0..n).map(|_| rng.next() as u8).collect()
        })
        .collect();
    // Two senders at half the rate each: one thread alone does not keep up on two loaded
    // cores (each send also runs the receiving side's softirq work in the sender's context).
    const SENDERS: u64 = 2;
    let (garbage, wrong) = (&garbage, &wrong);
    c.lab.within("client", || -> Result<Sent, String> {
        let started = Instant::now();
        let parts: Vec<Result<Sent, String>> = std::thread::scope(|scope| {
            let hs: Vec<_> = (0..SENDERS)
                .map(|who| {
                    let stop = stop.clone();
                    scope.spawn(move || {
                        send(who, rate / SENDERS, secs, &stop, [garbage, wrong, captured])
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("a sender panicked".into())))
                .collect()
        });
        let mut s = Sent::default();
        for p in parts {
            let p = p?;
            s.packets += p.packets;
            s.errors += p.errors;
        }
        s.secs = started.elapsed().as_secs_f64();
        Ok(s)
    })?
}

/// One sender (`who` picks its share of the packets): `rate` a second for `secs`, paced by the
/// clock in bursts every millisecond, so a sender that falls behind catches up rather than
/// drifting.
fn send(
    who: u64,
    rate: u64,
    secs: u64,
    stop: &AtomicBool,
    kinds: [&[Vec<u8>]; 3],
) -> Result<Sent, String> {
    let sock = UdpSocket::bind("198.51.100.10:0").map_err(|e| e.to_string())?;
    let to: SocketAddr = NODE1_LAN.parse().expect("literal");
    let mut s = Sent::default();
    let start = Instant::now();
    let total = Duration::from_secs(secs);
    while start.elapsed() < total && !stop.load(Ordering::Relaxed) {
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        // A sender far behind (its CPU taken by others) stops at the end all the same.
        while s.packets + s.errors < due && start.elapsed() < total {
            let k = s.packets + s.errors + who;
            let set = kinds[(k % 3) as usize];
            let p = &set[(k / 3) as usize % set.len()];
            match sock.send_to(p, to) {
                Ok(_) => s.packets += 1,
                Err(_) => s.errors += 1,
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(s)
}

/// One daemon's flood figures.
pub struct Outcome {
    pub label: String,
    pub sent: Sent,
    /// node1's daemon CPU over the flood, percent of one core; and before it, at rest.
    pub cpu: f64,
    pub cpu_rest: f64,
    /// Log lines node1 wrote during the flood (all of them; bad-packet lines among them).
    pub log_lines: usize,
    pub bad_lines: usize,
    /// Per node: late heartbeats and deaths in its log during the flood and just after.
    pub late: [usize; 2],
    pub late_max_ms: [u64; 2],
    pub deaths: [usize; 2],
    pub alive: [bool; 2],
    /// hb only: `hbctl status` worst gaps (ms, whole run): per node, for its peer on each
    /// link (eth1, eth0), and the flooded node's `rx_errors`.
    pub link_worst_ms: Option<[[u64; 2]; 2]>,
    pub rx_errors: Option<u64>,
}

/// Whether a log line is about a bad packet (hb's and 3.0.6's words).
fn about_bad_packet(line: &str) -> bool {
    const WORDS: &[&str] = &[
        "ignored a packet",
        "authentication",
        "bad node",
        "replay",
        "string2msg",
        "malformed",
        "Cannot get message",
        "NV failure",
        "no MSG_START",
        "bad packet",
        "Invalid",
    ];
    WORDS.iter().any(|w| line.contains(w))
}

fn cpu_of(c: &Cluster, i: usize) -> u64 {
    c.pids(i).iter().map(|&p| cpu_ns(p)).sum()
}

/// Floods one cluster of each kind in turn; returns the figures.
pub fn run(kinds: &[Kind], secs: u64, rate: u64) -> Result<Vec<Outcome>, String> {
    let mut out = Vec::new();
    for (ki, k) in kinds.iter().enumerate() {
        let c = cluster::start(k, TIMING, 2, &format!("flood{ki}"))?;
        // Both nodes up and talking on both media before anything is measured.
        std::thread::sleep(Duration::from_secs(2));
        let captured = capture(&c, Duration::from_secs(3))?;
        if captured.is_empty() {
            return Err(format!("{}: no heartbeat seen on the LAN", k.label()));
        }
        let rest0 = (Instant::now(), cpu_of(&c, 0));
        std::thread::sleep(Duration::from_secs(2));
        let cpu_rest =
            (cpu_of(&c, 0) - rest0.1) as f64 / 1e9 / rest0.0.elapsed().as_secs_f64() * 100.0;
        let from = [c.nodes[0].log().len(), c.nodes[1].log().len()];
        let (t0, c0) = (Instant::now(), cpu_of(&c, 0));
        let stop = Arc::new(AtomicBool::new(false));
        eprintln!(
            "flood: {} at {}/{}/{} ms, {rate} packets/s for {secs} s ({} captured heartbeats)",
            k.label(),
            TIMING.keepalive,
            TIMING.warntime,
            TIMING.deadtime,
            captured.len()
        );
        let sent = flood(&c, &captured, rate, secs, stop)?;
        let cpu =
            (cpu_of(&c, 0).saturating_sub(c0)) as f64 / 1e9 / t0.elapsed().as_secs_f64() * 100.0;
        let during = c.nodes[0].log().get(from[0]..).unwrap_or("").to_string();
        // A death the flood caused can come up to a deadtime after it.
        std::thread::sleep(Duration::from_millis(2 * TIMING.deadtime));
        let mut late = [0; 2];
        let mut late_max_ms = [0; 2];
        let mut deaths = [0; 2];
        let mut alive = [false; 2];
        for n in 0..2 {
            let r = count(c.nodes[n].log().get(from[n]..).unwrap_or(""));
            late[n] = r.late;
            late_max_ms[n] = r.late_max_ms;
            deaths[n] = r.node_deaths + r.link_deaths + r.restarts;
            alive[n] = !c.pids(n).is_empty();
        }
        let (mut link_worst_ms, mut rx_errors) = (None, None);
        if matches!(k, Kind::Hb { .. }) && alive == [true, true] {
            let mut w = [[0u64; 2]; 2];
            for (n, row) in w.iter_mut().enumerate() {
                let st = hb_status(&c, n)?;
                for l in st["links"].as_array().into_iter().flatten() {
                    let col = match l["medium"].as_str() {
                        Some("eth1") => 0,
                        Some("eth0") => 1,
                        _ => continue,
                    };
                    row[col] = l["worst_gap_ms"].as_u64().unwrap_or(0);
                }
                if n == 0 {
                    rx_errors = st["rx_errors"].as_u64();
                    // The node's own count agrees with the log's.
                    if let Some(p) = peer_entry(&st) {
                        late[0] = late[0].max(p["late_heartbeats"].as_u64().unwrap_or(0) as usize);
                    }
                }
            }
            link_worst_ms = Some(w);
        }
        crate::soak::save_logs(&c, "flood")?;
        out.push(Outcome {
            label: k.label(),
            sent,
            cpu,
            cpu_rest,
            log_lines: during.lines().count(),
            bad_lines: during.lines().filter(|l| about_bad_packet(l)).count(),
            late,
            late_max_ms,
            deaths,
            alive,
            link_worst_ms,
            rx_errors,
        });
    }
    Ok(out)
}

pub fn print(out: &[Outcome]) {
    for o in out {
        println!(
            "{}: flood {} packets in {:.1} s ({:.0}/s, {} send errors); node1's daemon CPU {:.1} % of a core (at rest {:.2} %); node1 logged {} lines during the flood, {} about bad packets",
            o.label,
            o.sent.packets,
            o.sent.secs,
            o.sent.packets as f64 / o.sent.secs.max(1e-9),
            o.sent.errors,
            o.cpu,
            o.cpu_rest,
            o.log_lines,
            o.bad_lines
        );
        for n in 0..2 {
            let gaps = match o.link_worst_ms {
                Some(w) => format!(
                    ", worst gap for its peer eth1 {} ms, eth0 {} ms (hbctl status, whole run)",
                    w[n][0], w[n][1]
                ),
                None => String::new(),
            };
            println!(
                "{}: node{}: {} late heartbeats (largest {} ms), {} deaths, {}{gaps}",
                o.label,
                n + 1,
                o.late[n],
                o.late_max_ms[n],
                o.deaths[n],
                if o.alive[n] { "alive" } else { "DAEMON GONE" },
            );
        }
        if let Some(e) = o.rx_errors {
            println!("{}: node1 counted {e} ignored packets (rx_errors)", o.label);
        }
    }
}
