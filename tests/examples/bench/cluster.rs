//! The benchmarks' two-node service-IP cluster, the same for each daemon: a LAN bridge with
//! node1 (198.51.100.1), node2 (.2) and a client (.10) on `eth0`, a crossover cable
//! (203.0.113.1/.2) on `eth1`, the service IP 198.51.100.80 preferred on node1, and on each
//! node a UDP responder bound to the service IP with `IP_FREEBIND` (it answers only while its
//! node really holds the address), which `hbctl demo`'s client probes every 10 ms.

use hb_linux::lab::{Lab, Node};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const SERVICE_IP: &str = hb_linux::hbctl::demo::SERVICE_IP;

/// Which daemon a cluster runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// hb, from this binary (`hbctl`, which is `heartbeat` by argv0); the label names the build.
    Hb { bin: PathBuf, label: String },
    /// Debian's heartbeat 3.0.6, resource-agents' IPaddr2 for the address.
    Hb306,
    /// keepalived, VRRPv3 with unicast peers; the advertisement interval in centiseconds.
    Keepalived,
    /// hb's frames and nothing else ([`crate::floor`]): no service, no protocol.
    Floor,
}

impl Kind {
    pub fn label(&self) -> String {
        match self {
            Kind::Hb { label, .. } => label.clone(),
            Kind::Hb306 => "heartbeat 3.0.6".into(),
            Kind::Keepalived => "keepalived".into(),
            Kind::Floor => "floor (hb's frames alone)".into(),
        }
    }

    /// The command name of the daemon's processes.
    pub fn comm(&self) -> &'static str {
        match self {
            Kind::Keepalived => "keepalived",
            Kind::Floor => crate::floor::COMM,
            _ => "heartbeat",
        }
    }
}

/// keepalive / warntime / deadtime in ms, and keepalived's advertisement interval in
/// centiseconds (VRRPv3's unit).
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct Timing {
    pub keepalive: u64,
    pub warntime: u64,
    pub deadtime: u64,
    pub advert_cs: u64,
}

impl Timing {
    /// For a failover comparison: keepalived's advertisement interval chosen so that its
    /// backup declares the master down after about `deadtime` (VRRPv3: 3 × advert + skew,
    /// skew = (256 − priority) / 256 × advert; the backup has priority 100), at least 0.01 s.
    pub fn failover(keepalive: u64, warntime: u64, deadtime: u64) -> Timing {
        let factor = 3.0 + (256.0 - 100.0) / 256.0;
        let cs = ((deadtime as f64 / factor) / 10.0).round().max(1.0) as u64;
        Timing {
            keepalive,
            warntime,
            deadtime,
            advert_cs: cs,
        }
    }

    /// For an idle comparison: every daemon sends at the same interval. The dead times are
    /// generous (they cost nothing at rest): at 10/20/30 ms a machine as loaded as the one
    /// these figures come from stalls a daemon past its deadtime now and then, and hb, like
    /// 3.0.6, then restarts for "No local heartbeat".
    pub fn idle(keepalive: u64) -> Timing {
        Timing {
            keepalive,
            warntime: (2 * keepalive).max(1000),
            deadtime: (3 * keepalive).max(2000),
            advert_cs: (keepalive / 10).max(1),
        }
    }

    /// When keepalived's backup declares its master down, in ms.
    pub fn keepalived_detect_ms(&self) -> f64 {
        let advert = (self.advert_cs * 10) as f64;
        3.0 * advert + (256.0 - 100.0) / 256.0 * advert
    }
}

pub struct Cluster {
    pub lab: Lab,
    pub nodes: Vec<Node>,
    pub kind: Kind,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn ha_cf(t: Timing, media: usize) -> String {
    // 3.0.6 wants initdead at least twice the deadtime.
    let initdead = (2 * t.deadtime).max(5000);
    let mut s = format!(
        "keepalive {}ms\nwarntime {}ms\ndeadtime {}ms\ninitdead {initdead}ms\n\
         logfile /var/log/ha-log\nudpport 694\nbcast eth1\n",
        t.keepalive, t.warntime, t.deadtime
    );
    if media > 1 {
        s.push_str("bcast eth0\n");
    }
    s.push_str("auto_failback on\nnode node1\nnode node2\n");
    s
}

/// What 3.0.6 expects under its private /run and /var/lib/heartbeat (the package's
/// tmpfiles.d and directories), as tests/tests/interop.rs prepares it.
const PRELUDE_306: &str = "mkdir -p /run/heartbeat/ccm /run/heartbeat/crm /run/heartbeat/dopd \
     /run/heartbeat/rsctmp /run/resource-agents /run/crm \
     /var/lib/heartbeat/cores/root /var/lib/heartbeat/cores/hacluster \
     /var/lib/heartbeat/cores/nobody; \
     chown -R hacluster:haclient /run/heartbeat /run/crm /var/lib/heartbeat/cores/hacluster; \
     chmod 750 /run/heartbeat; chmod 1777 /run/heartbeat/rsctmp; ";

/// The real daemon's path (Debian 12 installs it in /usr/libexec, older ones in /usr/lib).
pub fn heartbeat_306() -> Result<&'static str, String> {
    [
        "/usr/libexec/heartbeat/heartbeat",
        "/usr/lib/heartbeat/heartbeat",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .ok_or_else(|| {
        "heartbeat 3.0.6 is not installed (apt-get install heartbeat resource-agents)".into()
    })
}

fn copy_missing(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for e in std::fs::read_dir(from)
        .map_err(|e| format!("{}: {e}", from.display()))?
        .flatten()
    {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_missing(&src, &dst)?;
        } else if !dst.exists() {
            std::fs::copy(&src, &dst).map_err(|err| format!("{}: {err}", src.display()))?;
        }
    }
    Ok(())
}

fn keepalived_conf(node: usize, t: Timing) -> String {
    // On the LAN, not the crossover cable: a crossover link loses its carrier when the peer
    // loses power, and keepalived puts an instance whose interface is down in FAULT (it would
    // never take over after a power-off).
    let (me, peer) = if node == 0 {
        ("198.51.100.1", "198.51.100.2")
    } else {
        ("198.51.100.2", "198.51.100.1")
    };
    let prio = if node == 0 { 200 } else { 100 };
    format!(
        "global_defs {{\n  router_id node{n}\n  vrrp_version 3\n}}\n\
         vrrp_instance hb {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 80\n  \
         priority {prio}\n  advert_int {adv}\n  unicast_src_ip {me}\n  unicast_peer {{\n    \
         {peer}\n  }}\n  virtual_ipaddress {{\n    {SERVICE_IP}/24 dev eth0\n  }}\n}}\n",
        n = node + 1,
        adv = format_args!("{}.{:02}", t.advert_cs / 100, t.advert_cs % 100),
    )
}

/// Builds the network and starts the daemons on both nodes; returns once node1 holds the
/// service IP (bounded).
pub fn start(kind: &Kind, t: Timing, media: usize, tag: &str) -> Result<Cluster, String> {
    let mut lab = Lab::new(tag)?;
    for ns in ["lan", "node1", "node2", "client"] {
        lab.add_ns(ns)?;
    }
    lab.bridge("lan", "br0")?;
    for (ns, port, addr) in [
        ("node1", "p1", "198.51.100.1/24"),
        ("node2", "p2", "198.51.100.2/24"),
        ("client", "p3", "198.51.100.10/24"),
    ] {
        lab.veth(ns, "eth0", "lan", port)?;
        lab.enslave("lan", port, "br0")?;
        lab.addr(ns, "eth0", addr)?;
    }
    lab.veth("node1", "eth1", "node2", "eth1")?;
    lab.addr("node1", "eth1", "203.0.113.1/24")?;
    lab.addr("node2", "eth1", "203.0.113.2/24")?;

    let mut nodes = Vec::new();
    for (i, name) in ["node1", "node2"].into_iter().enumerate() {
        let node = lab.node(name, name)?;
        match kind {
            Kind::Hb { .. } | Kind::Hb306 => {
                node.write_config("ha.cf", &ha_cf(t, media), 0o644)?;
                node.write_config("authkeys", "auth 1\n1 sha1 hb-bench-cluster\n", 0o600)?;
                let group = if *kind == Kind::Hb306 {
                    format!("node1 IPaddr2::{SERVICE_IP}/24/eth0\n")
                } else {
                    format!("node1 {SERVICE_IP}\n")
                };
                node.write_config("haresources", &group, 0o644)?;
                if *kind == Kind::Hb306 {
                    copy_missing(Path::new("/etc/ha.d"), &node.etc().join("ha.d"))?;
                }
            }
            Kind::Keepalived => {
                let dir = node.etc().join("keepalived");
                std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                std::fs::write(dir.join("keepalived.conf"), keepalived_conf(i, t))
                    .map_err(|e| e.to_string())?;
            }
            Kind::Floor => {}
        }
        nodes.push(node);
    }
    for n in &mut nodes {
        match kind {
            Kind::Hb { bin, .. } => {
                let dir = lab.dir().join("bin");
                std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                let hb = dir.join("heartbeat");
                if !hb.exists() {
                    std::os::unix::fs::symlink(bin, &hb).map_err(|e| e.to_string())?;
                    std::os::unix::fs::symlink(bin, dir.join("hbctl"))
                        .map_err(|e| e.to_string())?;
                }
                lab.start(n, &hb, &[])?;
            }
            Kind::Hb306 => {
                let hb306 = heartbeat_306()?;
                lab.start_foreign(
                    n,
                    PRELUDE_306,
                    &[hb306],
                    "heartbeat",
                    Duration::from_secs(20),
                    |_| true,
                )?;
            }
            Kind::Keepalived => {
                lab.start_foreign(
                    n,
                    "",
                    &[
                        "keepalived",
                        "--vrrp",
                        "--log-console",
                        "-f",
                        "/etc/keepalived/keepalived.conf",
                    ],
                    "keepalived",
                    Duration::from_secs(20),
                    |_| true,
                )?;
            }
            Kind::Floor => {
                let bin = lab.dir().join("bin").join(crate::floor::COMM);
                if !bin.exists() {
                    std::fs::create_dir_all(lab.dir().join("bin")).map_err(|e| e.to_string())?;
                    let me = std::env::current_exe().map_err(|e| e.to_string())?;
                    std::os::unix::fs::symlink(me, &bin).map_err(|e| e.to_string())?;
                }
                let (ka, m) = (t.keepalive.to_string(), media.to_string());
                lab.start_foreign(
                    n,
                    "",
                    &[bin.to_str().ok_or("lab path")?, "--floor-node", &ka, &m],
                    crate::floor::COMM,
                    Duration::from_secs(20),
                    |_| true,
                )?;
            }
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for name in ["node1", "node2"] {
        threads.push(responder(lab.ns(name), name, stop.clone())?);
    }
    let c = Cluster {
        lab,
        nodes,
        kind: kind.clone(),
        stop,
        threads,
    };
    if *kind != Kind::Floor {
        c.wait_holder(0, Duration::from_secs(60))
            .map_err(|e| format!("{}: {e}", kind.label()))?;
    }
    Ok(c)
}

impl Cluster {
    /// Waits until node `i` holds the service IP.
    pub fn wait_holder(&self, i: usize, within: Duration) -> Result<(), String> {
        let start = Instant::now();
        let ns = self.lab.ns(&self.nodes[i].name);
        while start.elapsed() < within {
            let out = hb_linux::lab::run(
                std::process::Command::new("ip")
                    .args(["-n", &ns, "-4", "addr", "show", "dev", "eth0"]),
            )?;
            if String::from_utf8_lossy(&out.stdout).contains(&format!("{SERVICE_IP}/")) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "{} never took the service IP; its log ends:\n{}",
            self.nodes[i].name,
            tail(&self.nodes[i].log(), 15)
        ))
    }

    /// The daemon's processes on node `i` (pids on the host): every process in the node's
    /// network namespace with the daemon's command name.
    pub fn pids(&self, i: usize) -> Vec<i32> {
        pids_in(&self.lab.ns(&self.nodes[i].name), self.kind.comm())
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Processes named `comm` whose network namespace is `ns` (and not zombies).
pub fn pids_in(ns: &str, comm: &str) -> Vec<i32> {
    use std::os::unix::fs::MetadataExt;
    let Ok(want) = std::fs::metadata(format!("/run/netns/{ns}")).map(|m| m.ino()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let same = std::fs::metadata(format!("/proc/{pid}/ns/net")).is_ok_and(|m| m.ino() == want);
        let named =
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm);
        if same && named && !hb_linux::lab::is_zombie(pid) {
            out.push(pid);
        }
    }
    out.sort_unstable();
    out
}

/// A UDP responder on the service IP in namespace `ns`, answering with `name`.
fn responder(
    ns: String,
    name: &str,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, String> {
    let name = name.to_string();
    let (tx, rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let h = std::thread::spawn(move || {
        let sock = (|| -> Result<socket2::Socket, String> {
            let f = std::fs::File::open(format!("/run/netns/{ns}")).map_err(|e| e.to_string())?;
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| e.to_string())?;
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
                .map_err(|e| e.to_string())?;
            s.set_freebind_v4(true).map_err(|e| e.to_string())?;
            let addr: std::net::SocketAddr = format!("{SERVICE_IP}:80").parse().expect("literal");
            s.bind(&addr.into()).map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_millis(100)))
                .map_err(|e| e.to_string())?;
            Ok(s)
        })();
        let sock = match sock {
            Ok(s) => {
                let _ = tx.send(Ok(()));
                std::net::UdpSocket::from(s)
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let mut buf = [0u8; 64];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((_, from)) = sock.recv_from(&mut buf) {
                let _ = sock.send_to(name.as_bytes(), from);
            }
        }
    });
    rx.recv()
        .map_err(|_| "responder thread died".to_string())?
        .map(|_| h)
}
