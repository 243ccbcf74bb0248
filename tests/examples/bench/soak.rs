//! Soak (issue 12): hb and heartbeat 3.0.6 side by side at keepalive 10 ms / warntime 20 ms /
//! deadtime 30 ms while `stress-ng` loads both cores, for a long while: how many times a node
//! declared its (perfectly alive) peer dead, and the worst silence each node saw.
//!
//! Both clusters run at once under the same load, each node's log counted from the moment the
//! clusters are up. hb's worst gap is its own measure (`hbctl status --json`: per peer, the
//! longest time between two packets as its loop took them in, so a stall of the receiving
//! daemon counts too); 3.0.6 tells only the gaps above warntime, in its `Late heartbeat`
//! warnings, so its figure is the largest of those, or "under warntime".

use crate::cluster::{self, Cluster, Kind, Timing};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What `stress-ng` runs beside the clusters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// Both cores busy with CPU work (issue 12's load).
    Cpu,
    /// The same plus memory churn (one worker mapping, touching and freeing 128 MiB: page
    /// faults and reclaim) and I/O churn (one worker calling sync(2): writeback of every
    /// dirty page on the machine): work that runs in the kernel, where a kernel built
    /// without full preemption does not give the CPU to a real-time task until it is done.
    Mix,
}

impl Load {
    pub fn parse(s: &str) -> Option<Load> {
        match s {
            "cpu" => Some(Load::Cpu),
            "mix" => Some(Load::Mix),
            _ => None,
        }
    }

    pub fn args(self) -> &'static [&'static str] {
        match self {
            Load::Cpu => &["--cpu", "2"],
            Load::Mix => &["--cpu", "2", "--vm", "1", "--vm-bytes", "128M", "--io", "1"],
        }
    }
}

/// The soak's timings (ms).
pub const TIMING: Timing = Timing {
    keepalive: 10,
    warntime: 20,
    deadtime: 30,
    advert_cs: 1,
};

/// What one node's log and status say about its peer over the soak.
#[derive(Debug, Default)]
pub struct NodeResult {
    pub node: String,
    /// `node X: is dead` lines: a false death (both nodes live all along).
    pub node_deaths: usize,
    /// `Link X:Y dead.` lines.
    pub link_deaths: usize,
    /// `Late heartbeat` warnings, and the largest interval they give (ms).
    pub late: usize,
    pub late_max_ms: u64,
    /// hb only: `hbctl status` worst gap for the peer (ms) when the soak began and at its
    /// end: if it grew, the end value is the soak's worst; if not, the soak's is at most it.
    pub worst_gap_ms: Option<(u64, u64)>,
    /// The daemon restarted itself (`No local heartbeat`) or is gone.
    pub restarts: usize,
    pub alive_at_end: bool,
}

impl NodeResult {
    pub fn false_deaths(&self) -> usize {
        self.node_deaths + self.restarts + usize::from(!self.alive_at_end)
    }
}

/// The part of each node's log written after `from` (a byte offset).
fn log_since(c: &Cluster, i: usize, from: usize) -> String {
    let log = c.nodes[i].log();
    log.get(from..).unwrap_or("").to_string()
}

/// Counts what `log` (a node's log since the soak began) says about deaths and late beats.
pub fn count(log: &str) -> NodeResult {
    let mut r = NodeResult::default();
    for line in log.lines() {
        if line.contains(": is dead") {
            r.node_deaths += 1;
        } else if line.contains("Link ") && line.ends_with(" dead.") {
            r.link_deaths += 1;
        } else if line.contains("No local heartbeat") {
            r.restarts += 1;
        } else if let Some(rest) = line.split("Late heartbeat").nth(1) {
            r.late += 1;
            // `…: interval 2510 ms` (the same words in hb and 3.0.6).
            if let Some(ms) = rest
                .split("interval ")
                .nth(1)
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
            {
                r.late_max_ms = r.late_max_ms.max(ms);
            }
        }
    }
    r
}

/// Where the runs keep each node's log (the lab's directory goes with the cluster).
pub const LOGS: &str = "target/bench/logs";

/// Copies each node's log to `LOGS/<what>-<daemon>-<node>.log`; returns the directory.
pub fn save_logs(c: &Cluster, what: &str) -> Result<String, String> {
    std::fs::create_dir_all(LOGS).map_err(|e| format!("{LOGS}: {e}"))?;
    let daemon = if matches!(c.kind, Kind::Hb306) {
        "306"
    } else {
        "hb"
    };
    for n in &c.nodes {
        let p = format!("{LOGS}/{what}-{daemon}-{}.log", n.name);
        std::fs::write(&p, n.log()).map_err(|e| format!("{p}: {e}"))?;
    }
    Ok(LOGS.into())
}

/// `hbctl status --json` on node `i` of an hb cluster.
pub fn hb_status(c: &Cluster, i: usize) -> Result<serde_json::Value, String> {
    let hbctl = c.lab.dir().join("bin/hbctl");
    let out = c.nodes[i].exec(&[hbctl.to_str().ok_or("lab path")?, "status", "--json"])?;
    if !out.status.success() {
        return Err(format!(
            "hbctl status on {}: {}",
            c.nodes[i].name,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("hbctl status --json: {e}"))
}

/// The peer's entry in a status answer.
pub fn peer_entry(status: &serde_json::Value) -> Option<&serde_json::Value> {
    status["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["local"] == false)
}

/// `stress-ng` with `load` for `secs`, in a process group of its own (so that it and its
/// workers end together, by that group's id).
pub struct Stress(Child);

impl Stress {
    pub fn start(load: Load, secs: u64) -> Result<Stress, String> {
        let child = Command::new("stress-ng")
            .args(load.args())
            .args(["--timeout", &format!("{secs}s"), "--quiet"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("stress-ng: {e} (apt-get install stress-ng)"))?;
        // Its workers start after a moment; a soak that began before them would be easier.
        std::thread::sleep(Duration::from_secs(2));
        Ok(Stress(child))
    }
}

impl Drop for Stress {
    fn drop(&mut self) {
        let pg = nix::unistd::Pid::from_raw(-(self.0.id() as i32));
        let _ = nix::sys::signal::kill(pg, nix::sys::signal::Signal::SIGTERM);
        let _ = self.0.wait();
    }
}

/// One daemon's figures: per node.
pub struct Outcome {
    pub label: String,
    pub nodes: Vec<NodeResult>,
}

/// Runs the soak for `secs` with each of `kinds`, all at once; prints the figures.
pub fn run(kinds: &[Kind], secs: u64, stress: Option<Load>) -> Result<Vec<Outcome>, String> {
    let _load = match stress {
        Some(load) => Some(Stress::start(load, secs + 120)?),
        None => None,
    };
    let mut clusters = Vec::new();
    for (i, k) in kinds.iter().enumerate() {
        clusters.push(cluster::start(k, TIMING, 1, &format!("soak{i}"))?);
    }
    let from: Vec<[usize; 2]> = clusters
        .iter()
        .map(|c| [c.nodes[0].log().len(), c.nodes[1].log().len()])
        .collect();
    let worst_before = |c: &Cluster, n: usize| -> Result<Option<u64>, String> {
        if !matches!(c.kind, Kind::Hb { .. }) {
            return Ok(None);
        }
        Ok(peer_entry(&hb_status(c, n)?).and_then(|p| p["worst_gap_ms"].as_u64()))
    };
    let before: Vec<[Option<u64>; 2]> = clusters
        .iter()
        .map(|c| Ok([worst_before(c, 0)?, worst_before(c, 1)?]))
        .collect::<Result<_, String>>()?;
    eprintln!(
        "soak: {} up at {}/{}/{} ms{}; {secs} s",
        kinds
            .iter()
            .map(Kind::label)
            .collect::<Vec<_>>()
            .join(" and "),
        TIMING.keepalive,
        TIMING.warntime,
        TIMING.deadtime,
        match stress {
            Some(load) => format!(", under stress-ng {}", load.args().join(" ")),
            None => String::new(),
        }
    );
    let start = Instant::now();
    let mut gone = vec![[false; 2]; clusters.len()];
    while start.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_secs(1));
        for (c, g) in clusters.iter().zip(gone.iter_mut()) {
            for (n, g) in g.iter_mut().enumerate() {
                *g |= c.pids(n).is_empty();
            }
        }
        let done = start.elapsed().as_secs();
        if done % 60 == 0 {
            eprintln!("soak: {done} s");
        }
    }
    let mut out = Vec::new();
    for (ci, c) in clusters.iter().enumerate() {
        let mut nodes = Vec::new();
        for n in 0..2 {
            let mut r = count(&log_since(c, n, from[ci][n]));
            r.node = c.nodes[n].name.clone();
            r.alive_at_end = !gone[ci][n] && !c.pids(n).is_empty();
            if matches!(c.kind, Kind::Hb { .. }) && r.alive_at_end {
                let st = hb_status(c, n)?;
                let end = peer_entry(&st).and_then(|p| p["worst_gap_ms"].as_u64());
                r.worst_gap_ms = before[ci][n].zip(end);
            }
            nodes.push(r);
        }
        out.push(Outcome {
            label: c.kind.label(),
            nodes,
        });
        save_logs(c, "soak")?;
    }
    Ok(out)
}

/// The soak's figures as lines (one per node).
pub fn print(out: &[Outcome], secs: u64) {
    println!(
        "soak {secs} s at {}/{}/{} ms: false deaths, late heartbeats (> warntime), worst gap",
        TIMING.keepalive, TIMING.warntime, TIMING.deadtime
    );
    for o in out {
        for r in &o.nodes {
            let worst = match r.worst_gap_ms {
                Some((before, end)) if end > before => {
                    format!("worst gap {end} ms (hbctl status)")
                }
                Some((before, _)) => {
                    format!("worst gap at most {before} ms (hbctl status: no longer gap than at the start)")
                }
                None if r.late > 0 => format!("worst gap {} ms (its log)", r.late_max_ms),
                None => format!("worst gap under warntime {} ms (its log)", TIMING.warntime),
            };
            println!(
                "{}: {} about its peer: {} false deaths ({} node dead, {} link dead, {} restarts{}), {} late heartbeats (largest {} ms), {worst}",
                o.label,
                r.node,
                r.false_deaths(),
                r.node_deaths,
                r.link_deaths,
                r.restarts,
                if r.alive_at_end { "" } else { ", daemon gone" },
                r.late,
                r.late_max_ms,
            );
        }
    }
}
