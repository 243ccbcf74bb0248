//! Idle cost: CPU time and memory of each node's daemon processes over the same windows for
//! every daemon (the clusters run side by side, so the machine's load is the same for all).

use crate::cluster::{self, Cluster, Kind, Timing};
use std::time::{Duration, Instant};

/// CPU time so far of process `pid` in ns: the scheduler's own count over all its threads
/// (`/proc/PID/task/*/schedstat`, ns resolution; `utime + stime` counts in 10 ms ticks, too
/// coarse for a daemon that runs a few µs per second).
pub fn cpu_ns(pid: i32) -> u64 {
    let mut sum = 0;
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
            sum += s
                .split_whitespace()
                .next()
                .and_then(|x| x.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    sum
}

/// `utime + stime` of `pid` in clock ticks (all threads).
pub fn ticks(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let (_, rest) = s.rsplit_once(')')?;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

/// Frames sent so far on the interfaces of the network namespace of `pid` (`lo` aside; the
/// TX packets of `/proc/PID/net/dev`): every node has a namespace of its own, and at rest only
/// its daemon sends. Not `Ip: OutRequests` of `/proc/PID/net/snmp`, which misses what a raw
/// socket sends with `IP_HDRINCL`, as keepalived sends VRRP.
pub fn tx_frames(pid: i32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.trim() != "lo")
        // Receive has 8 columns (bytes, packets, errs, drop, fifo, frame, compressed,
        // multicast), then transmit's bytes and packets.
        .filter_map(|(_, cols)| cols.split_whitespace().nth(9)?.parse::<u64>().ok())
        .sum()
}

/// A field of `/proc/PID/smaps_rollup` in KiB.
pub fn rollup_kib(pid: i32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

pub fn threads(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// One node's daemon over one window.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    pub kind: String,
    pub keepalive: u64,
    pub media: usize,
    /// Percent of one core.
    pub cpu: f64,
    /// Percent of one core by utime + stime (tick resolution).
    pub cpu_ticks: f64,
    pub rss_kib: u64,
    pub pss_kib: u64,
    pub procs: usize,
    pub threads: u64,
    /// Frames the node sent per keepalive ([`tx_frames`]).
    #[serde(default)]
    pub sent: f64,
}

/// Starts one cluster of each kind at keepalive `ka` with `media` media, lets them settle,
/// and measures `windows` windows of `window` each, all kinds over the same windows.
pub fn measure(
    kinds: &[Kind],
    ka: u64,
    media: usize,
    window: Duration,
    windows: usize,
) -> Result<Vec<Sample>, String> {
    let t = Timing::idle(ka);
    let mut clusters: Vec<Cluster> = Vec::new();
    for (i, k) in kinds.iter().enumerate() {
        clusters.push(cluster::start(k, t, media, &format!("idle{i}"))?);
    }
    // Resource start-up and the first status exchanges are over; let everything settle.
    std::thread::sleep(Duration::from_secs(3));
    let mut out = Vec::new();
    for _ in 0..windows {
        let pids: Vec<[Vec<i32>; 2]> = clusters.iter().map(|c| [c.pids(0), c.pids(1)]).collect();
        let t0 = Instant::now();
        let start: Vec<[(u64, u64, u64); 2]> = pids
            .iter()
            .map(|p| {
                [0, 1].map(|n| {
                    (
                        p[n].iter().map(|&x| cpu_ns(x)).sum(),
                        p[n].iter().map(|&x| ticks(x)).sum(),
                        p[n].first().map_or(0, |&x| tx_frames(x)),
                    )
                })
            })
            .collect();
        std::thread::sleep(window);
        let secs = t0.elapsed().as_secs_f64();
        let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .unwrap_or(100) as f64;
        for (ci, c) in clusters.iter().enumerate() {
            for n in 0..2 {
                let p = &pids[ci][n];
                if p.is_empty() {
                    return Err(format!("{}: no daemon on node{}", c.kind.label(), n + 1));
                }
                let ns: u64 = p.iter().map(|&x| cpu_ns(x)).sum();
                let tk: u64 = p.iter().map(|&x| ticks(x)).sum();
                let sent = tx_frames(p[0]).saturating_sub(start[ci][n].2);
                out.push(Sample {
                    kind: c.kind.label(),
                    keepalive: ka,
                    media: if c.kind == Kind::Keepalived { 1 } else { media },
                    cpu: (ns - start[ci][n].0) as f64 / 1e9 / secs * 100.0,
                    cpu_ticks: (tk - start[ci][n].1) as f64 / hz / secs * 100.0,
                    rss_kib: p.iter().map(|&x| rollup_kib(x, "Rss")).sum(),
                    pss_kib: p.iter().map(|&x| rollup_kib(x, "Pss")).sum(),
                    procs: p.len(),
                    threads: p.iter().map(|&x| threads(x)).sum(),
                    sent: sent as f64 / (secs * 1000.0 / ka as f64),
                });
            }
        }
    }
    Ok(out)
}

/// Each build's label and its [`breakdown`].
pub type Breakdowns = Vec<(String, Vec<(String, u64)>)>;

/// Where hb's resident memory is: the KiB of each kind of mapping in `/proc/PID/smaps`.
pub fn breakdown(pid: i32) -> Vec<(String, u64)> {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/smaps")) else {
        return Vec::new();
    };
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut by: std::collections::BTreeMap<String, u64> = Default::default();
    let mut what = String::new();
    for line in s.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.first()
            .is_some_and(|a| a.contains('-') && !a.ends_with(':'))
        {
            let perms = f.get(1).copied().unwrap_or("");
            let path = f.get(5..).map(|p| p.join(" ")).unwrap_or_default();
            what = if !exe.is_empty() && path.starts_with(exe.trim_end_matches(" (deleted)")) {
                if perms.contains('x') {
                    "program text".into()
                } else {
                    "program data".into()
                }
            } else if path == "[heap]" {
                "heap".into()
            } else if path == "[stack]" {
                "main stack".into()
            } else if path.is_empty() {
                "anonymous (heap arenas, thread stacks)".into()
            } else if path.starts_with('[') {
                path
            } else {
                "shared libraries".into()
            };
        } else if let Some(v) = line.strip_prefix("Rss:") {
            let kib: u64 = v
                .split_whitespace()
                .next()
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
            *by.entry(what.clone()).or_default() += kib;
        }
    }
    by.into_iter().filter(|(_, v)| *v > 0).collect()
}
