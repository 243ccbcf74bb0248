//! Failover and hand-over times: a fresh cluster per run, the runs of hb, 3.0.6 and keepalived
//! alternating (A B C A B C …) so that the machine's changing load falls on all alike; the
//! time from the fault to the client's first answer from node2.

use crate::cluster::{self, Cluster, Kind, Timing};
use hb_linux::hbctl::demo::{spawn_client, wait_for, Probe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Fault {
    /// SIGKILL of every process of the daemon on node1.
    Kill,
    /// Every process on node1 killed and its links pulled.
    PowerOff,
    /// SIGTERM to the daemon (a clean stop).
    Stop,
    /// hb_standby on node1 (keepalived has none).
    Standby,
}

impl Fault {
    pub const ALL: [Fault; 4] = [Fault::Kill, Fault::PowerOff, Fault::Stop, Fault::Standby];

    /// Its name on the command line.
    pub fn short(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::PowerOff => "poweroff",
            Fault::Stop => "stop",
            Fault::Standby => "standby",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Fault::Kill => "daemon SIGKILL",
            Fault::PowerOff => "power-off (kill + links down)",
            Fault::Stop => "graceful stop (SIGTERM)",
            Fault::Standby => "hb_standby",
        }
    }
}

/// All the runs of one daemon, one timing, one fault (ms).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Series {
    pub kind: String,
    pub timing: Timing,
    pub fault: Fault,
    pub ms: Vec<f64>,
    pub failed: u32,
}

/// The timings compared: 3.0.6's published ones.
pub fn timings() -> [Timing; 2] {
    [
        Timing::failover(100, 300, 500),
        Timing::failover(10, 20, 30),
    ]
}

pub fn measure(
    hb: &Kind,
    runs: u32,
    timings: &[Timing],
    faults: &[Fault],
) -> Result<Vec<Series>, String> {
    let kinds = [hb.clone(), Kind::Hb306, Kind::Keepalived];
    let mut all: Vec<Series> = Vec::new();
    for &t in timings {
        for &fault in faults {
            for k in &kinds {
                if fault == Fault::Standby && *k == Kind::Keepalived {
                    continue;
                }
                all.push(Series {
                    kind: k.label(),
                    timing: t,
                    fault,
                    ms: Vec::new(),
                    failed: 0,
                });
            }
        }
    }
    for run in 1..=runs {
        for &t in timings {
            for &fault in faults {
                for k in &kinds {
                    let Some(s) = all.iter_mut().find(|s| {
                        s.kind == k.label() && s.timing.deadtime == t.deadtime && s.fault == fault
                    }) else {
                        continue;
                    };
                    match once(k, t, fault, run) {
                        Ok(ms) => {
                            eprintln!(
                                "run {run} {}/{}/{} {} {}: {ms:.0} ms",
                                t.keepalive,
                                t.warntime,
                                t.deadtime,
                                k.label(),
                                fault.label()
                            );
                            s.ms.push(ms);
                        }
                        Err(e) => {
                            eprintln!("run {run} {} {}: FAILED: {e}", k.label(), fault.label());
                            s.failed += 1;
                        }
                    }
                }
            }
        }
    }
    Ok(all)
}

/// One cluster, one fault: ms from the fault to node2's first answer.
fn once(kind: &Kind, t: Timing, fault: Fault, run: u32) -> Result<f64, String> {
    let c = cluster::start(kind, t, 2, &format!("fo{run}"))?;
    let probes = Arc::new(Mutex::new(Vec::<Probe>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let client = spawn_client(c.lab.ns("client"), probes.clone(), stop.clone());
    let r = fault_and_wait(&c, kind, t, fault, &probes);
    stop.store(true, Ordering::Relaxed);
    let _ = client.join();
    r
}

fn fault_and_wait(
    c: &Cluster,
    kind: &Kind,
    t: Timing,
    fault: Fault,
    probes: &Mutex<Vec<Probe>>,
) -> Result<f64, String> {
    wait_for(probes, Duration::from_secs(20), |p| {
        p.answer.as_deref() == Some("node1")
    })
    .ok_or("the client never reached node1")?;
    // A random phase against the heartbeats (start-up otherwise fixes it).
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let period = match kind {
        Kind::Keepalived => t.advert_cs * 10,
        _ => t.keepalive,
    };
    std::thread::sleep(Duration::from_millis(
        500 + u64::from(nanos) % period.max(1),
    ));
    let node1 = &c.nodes[0];
    let cut = match fault {
        Fault::PowerOff => c.lab.power_off("node1", &["eth0", "eth1"])?,
        Fault::Kill => {
            // Stopped first, all of them, then killed: a daemon of several processes
            // (keepalived's parent and VRRP child, 3.0.6's master and media children) must not
            // see one of its own die and shut down cleanly in the gap — that would be a clean
            // stop, not a crash.
            let pids = c.pids(0);
            let at = Instant::now();
            for sig in [
                nix::sys::signal::Signal::SIGSTOP,
                nix::sys::signal::Signal::SIGKILL,
            ] {
                for &p in &pids {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), sig);
                }
            }
            at
        }
        Fault::Stop => {
            // The daemon proper: the oldest of its processes.
            let pid = node1.pid.or_else(|| c.pids(0).first().copied());
            let pid = pid.ok_or("no daemon on node1")?;
            let at = Instant::now();
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            )
            .map_err(|e| format!("kill: {e}"))?;
            at
        }
        Fault::Standby => {
            let argv: Vec<String> = match kind {
                Kind::Hb { .. } => vec![
                    c.lab.dir().join("bin/hbctl").display().to_string(),
                    "standby".into(),
                ],
                _ => vec!["/usr/share/heartbeat/hb_standby".into()],
            };
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let at = Instant::now();
            let out = node1.exec(&argv)?;
            if !out.status.success() {
                return Err(format!(
                    "{argv:?}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            at
        }
    };
    let back = wait_for(probes, Duration::from_secs(30), |p| {
        p.at > cut && p.answer.as_deref() == Some("node2")
    })
    .ok_or("node2 never took the service over")?;
    Ok(back.at.duration_since(cut).as_secs_f64() * 1000.0)
}
