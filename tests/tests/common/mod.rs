//! What the daemon tests share: the daemon binaries, a two-node cluster in a lab, a serial
//! line between two ptys, and readers of `hbctl status --json`.
#![allow(dead_code)]

use hb_linux::lab::{Lab, Node};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const KEEPALIVE_MS: u64 = 200;
pub const DEADTIME_MS: u64 = 1000;
/// Slack for scheduling on a loaded 2-core CI machine, on top of the spec's bounds.
pub const SLACK_MS: u64 = 400;

pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} not built: run `cargo build -p hb-linux --bins` (cargo test --workspace does)",
        p.display()
    );
    p
}

/// Two ptys whose masters this test joins, so that two daemons have a serial line between
/// them; `cut` stops the bytes both ways.
pub struct SerialLine {
    pub paths: [String; 2],
    connected: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    _slaves: [OwnedFd; 2],
}

impl SerialLine {
    fn new() -> SerialLine {
        let a = nix::pty::openpty(None, None).expect("openpty");
        let b = nix::pty::openpty(None, None).expect("openpty");
        // Raw from the start, as a null-modem line is: a pty's default echo would send a
        // node's first packets back to it before its daemon sets the line raw, and whether a
        // node has heard itself on its serial link (what 3.0.6's API shows) would be a race.
        for slave in [&a.slave, &b.slave] {
            use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
            let mut t = tcgetattr(slave).expect("tcgetattr");
            cfmakeraw(&mut t);
            tcsetattr(slave, SetArg::TCSANOW, &t).expect("tcsetattr");
        }
        let path = |fd: &OwnedFd| {
            nix::unistd::ttyname(fd)
                .expect("ttyname")
                .to_string_lossy()
                .into_owned()
        };
        let paths = [path(&a.slave), path(&b.slave)];
        let connected = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (connected.clone(), stop.clone());
        let mut ma = std::fs::File::from(a.master);
        let mut mb = std::fs::File::from(b.master);
        let thread = std::thread::spawn(move || {
            use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
            let mut buf = [0u8; 4096];
            while !s.load(Ordering::Relaxed) {
                let (ra, rb) = {
                    let mut fds = [
                        PollFd::new(ma.as_fd(), PollFlags::POLLIN),
                        PollFd::new(mb.as_fd(), PollFlags::POLLIN),
                    ];
                    if poll(&mut fds, PollTimeout::from(50u16)).is_err() {
                        continue;
                    }
                    let r = |f: &PollFd| f.revents().is_some_and(|e| !e.is_empty());
                    (r(&fds[0]), r(&fds[1]))
                };
                let on = c.load(Ordering::Relaxed);
                if ra {
                    if let Ok(n) = ma.read(&mut buf) {
                        if on {
                            let _ = mb.write_all(&buf[..n]);
                        }
                    }
                }
                if rb {
                    if let Ok(n) = mb.read(&mut buf) {
                        if on {
                            let _ = ma.write_all(&buf[..n]);
                        }
                    }
                }
                if !ra && !rb {
                    continue;
                }
            }
        });
        SerialLine {
            paths,
            connected,
            stop,
            thread: Some(thread),
            _slaves: [a.slave, b.slave],
        }
    }

    pub fn set(&self, on: bool) {
        self.connected.store(on, Ordering::Relaxed);
    }
}

impl Drop for SerialLine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What the two nodes' ha.cf say besides their media.
pub struct Setup {
    pub media: [String; 2],
    pub auth: &'static str,
    pub serial: bool,
    /// More ha.cf lines, per node (before the `node` lines).
    pub extra: [String; 2],
    /// haresources, the same on both nodes.
    pub haresources: String,
    /// Scripts for /etc/ha.d/resource.d (name, text), on both nodes.
    pub scripts: Vec<(String, String)>,
    /// A LAN: a bridge with node1 (198.51.100.1), node2 (.2), a client (.10) and a router
    /// (.254, a ping node to use), each on its `eth0`.
    pub lan: bool,
    /// keepalive, warntime, deadtime in ms.
    pub timing: (u64, u64, u64),
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            media: ["bcast eth1".into(), "bcast eth1".into()],
            auth: SHA1,
            serial: false,
            extra: [String::new(), String::new()],
            haresources: String::new(),
            scripts: Vec::new(),
            lan: false,
            timing: (KEEPALIVE_MS, 600, DEADTIME_MS),
        }
    }
}

pub struct Cluster {
    pub lab: Lab,
    pub nodes: Vec<Node>,
    pub serial: Option<SerialLine>,
}

impl Cluster {
    pub fn new(tag: &str, setup: &Setup) -> Cluster {
        let c = Cluster::build(tag, setup);
        let mut c = c;
        for i in 0..2 {
            c.start(i);
        }
        c
    }

    /// The lab and the nodes' files, no daemon started.
    pub fn build(tag: &str, setup: &Setup) -> Cluster {
        let mut lab = Lab::new(tag).unwrap_or_else(|e| panic!("{e}"));
        lab.add_ns("a").unwrap();
        lab.add_ns("b").unwrap();
        lab.veth("a", "eth1", "b", "eth1").unwrap();
        lab.addr("a", "eth1", "203.0.113.1/24").unwrap();
        lab.addr("b", "eth1", "203.0.113.2/24").unwrap();
        if setup.lan {
            lab.add_ns("lan").unwrap();
            lab.add_ns("client").unwrap();
            lab.bridge("lan", "br0").unwrap();
            lab.add_ns("router").unwrap();
            for (ns, port, addr) in [
                ("a", "p1", "198.51.100.1/24"),
                ("b", "p2", "198.51.100.2/24"),
                ("client", "p3", "198.51.100.10/24"),
                ("router", "p4", "198.51.100.254/24"),
            ] {
                lab.veth(ns, "eth0", "lan", port).unwrap();
                lab.enslave("lan", port, "br0").unwrap();
                lab.addr(ns, "eth0", addr).unwrap();
            }
        }
        let serial = setup.serial.then(SerialLine::new);
        let mut nodes = Vec::new();
        let (ka, wt, dt) = setup.timing;
        for (i, (name, ns)) in [("node1", "a"), ("node2", "b")].into_iter().enumerate() {
            let node = lab.node(name, ns).unwrap();
            let mut cf = format!(
                "keepalive {ka}ms\nwarntime {wt}ms\ndeadtime {dt}ms\n\
                 initdead 3\nudpport 694\nrealtime off\n{}\n{}",
                setup.media[i], setup.extra[i]
            );
            if !setup.extra[i].contains("auto_failback") {
                cf.push_str("\nauto_failback on\n");
            }
            if let Some(s) = &serial {
                cf.push_str(&format!("\nbaud 115200\nserial {}\n", s.paths[i]));
            }
            cf.push_str("\nnode node1\nnode node2\n");
            node.write_config("ha.cf", &cf, 0o644).unwrap();
            node.write_config("authkeys", setup.auth, 0o600).unwrap();
            node.write_config("haresources", &setup.haresources, 0o644)
                .unwrap();
            if !setup.scripts.is_empty() {
                std::fs::create_dir_all(node.etc().join("ha.d/resource.d")).unwrap();
            }
            for (name, text) in &setup.scripts {
                node.write_config(&format!("resource.d/{name}"), text, 0o755)
                    .unwrap();
            }
            nodes.push(node);
        }
        Cluster { lab, nodes, serial }
    }

    /// Starts (or starts again) node `i`'s daemon.
    pub fn start(&mut self, i: usize) {
        let hb = bin("heartbeat");
        let mut n = std::mem::replace(&mut self.nodes[i], self.lab.node("spare", "a").unwrap());
        let r = self.lab.start(&mut n, &hb, &[]);
        self.nodes[i] = n;
        r.unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn status(&self, i: usize) -> Value {
        let hbctl = bin("hbctl");
        let out = self.nodes[i]
            .exec(&[hbctl.to_str().unwrap(), "status", "--json"])
            .unwrap();
        if !out.status.success() {
            let log = self.nodes[i].log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            panic!(
                "hbctl status on {}: {}\nthe last lines of its log:\n{}",
                self.nodes[i].name,
                String::from_utf8_lossy(&out.stderr),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        serde_json::from_slice(&out.stdout).expect("hbctl status --json is JSON")
    }

    /// Waits until `pred` holds of node `i`'s status.
    pub fn wait_status(
        &self,
        i: usize,
        what: &str,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let v = self.status(i);
            if pred(&v) {
                return v;
            }
            if start.elapsed() > within {
                panic!(
                    "{}: not {what} within {within:?}; status {v:#}\nlog:\n{}",
                    self.nodes[i].name,
                    self.nodes[i].log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until node `i`'s log has a line containing `text`; returns when it was seen.
    pub fn wait_log(&self, i: usize, text: &str, within: Duration) -> Instant {
        let start = Instant::now();
        loop {
            if self.nodes[i].log().contains(text) {
                return Instant::now();
            }
            if start.elapsed() > within {
                panic!(
                    "{}: no log line {text:?} within {within:?}; log:\n{}",
                    self.nodes[i].name,
                    self.nodes[i].log()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn both_up(&self) {
        for i in 0..2 {
            let peer = ["node2", "node1"][i];
            self.wait_status(
                i,
                "seeing its peer on every medium",
                Duration::from_secs(10),
                |v| {
                    peer_state(v, peer) == "active"
                        && links(v, peer).iter().all(|(_, s)| s == "up")
                        && !links(v, peer).is_empty()
                },
            );
        }
    }
}

pub fn peer_state(v: &Value, name: &str) -> String {
    v["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["name"] == name)
        .and_then(|n| n["state"].as_str())
        .unwrap_or("")
        .to_string()
}

pub fn links(v: &Value, name: &str) -> Vec<(String, String)> {
    v["links"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["node"] == name)
        .map(|l| {
            (
                l["medium"].as_str().unwrap_or("").to_string(),
                l["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

pub const SHA1: &str = "auth 1\n1 sha1 hb-namespace-test\n";

pub fn bcast_serial() -> Setup {
    Setup {
        serial: true,
        ..Setup::default()
    }
}

/// A pseudo-random number of milliseconds below `below`, from the clock (to put a fault at a
/// random phase of the heartbeat, which start-up otherwise fixes).
pub fn jitter(below: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    u64::from(nanos) % below.max(1)
}

/// The service IP of the failover tests.
pub const VIP: &str = "198.51.100.80";

/// `resource.d/hbsvc IP start|stop|status`: a service on IP:80 answering UDP and HTTP with
/// its node's name (hbctl demo-http), as the demo's.
pub fn service_script() -> String {
    format!(
        r#"#!/bin/sh
PIDF=/run/hbsvc.pid
case "$2" in
start)
    setsid '{hbctl}' demo-http --name "$(uname -n)" --listen "$1:80" </dev/null >/dev/null 2>&1 &
    echo $! > $PIDF ;;
stop)
    [ -f $PIDF ] && kill "$(cat $PIDF)" 2>/dev/null
    rm -f $PIDF ;;
status)
    if [ -f $PIDF ] && kill -0 "$(cat $PIDF)" 2>/dev/null; then echo running; else echo stopped; fi ;;
esac
exit 0
"#,
        hbctl = bin("hbctl").display()
    )
}

/// A client in namespace `client` asking the VIP who it is every 10 ms (UDP), recording
/// every answer.
/// When each probe's window closed, and who answered in it.
type ProbeLog = std::sync::Arc<std::sync::Mutex<Vec<(Instant, Option<String>)>>>;

pub struct Prober {
    log: ProbeLog,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Prober {
    pub fn start(c: &Cluster) -> Prober {
        let ns = format!("/run/netns/{}", c.lab.ns("client"));
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let f = std::fs::File::open(&ns).unwrap();
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let sock = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
            sock.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 128];
            while !s.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let _ = sock.send_to(b"who", (VIP, 80));
                let mut answer = None;
                let mut at = None;
                while sent.elapsed() < Duration::from_millis(10) {
                    match sock.recv(&mut buf) {
                        Ok(n) => {
                            at.get_or_insert_with(Instant::now);
                            answer = Some(String::from_utf8_lossy(&buf[..n]).into_owned());
                        }
                        Err(_) => std::thread::sleep(Duration::from_micros(200)),
                    }
                }
                l.lock()
                    .unwrap()
                    .push((at.unwrap_or_else(Instant::now), answer));
            }
        });
        Prober {
            log,
            stop,
            thread: Some(thread),
        }
    }

    /// Waits until `name` answers after `after`; when it first did.
    pub fn wait_for(&self, name: &str, after: Instant, within: Duration) -> Option<Instant> {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Some(t) = self
                .log
                .lock()
                .unwrap()
                .iter()
                .find(|(t, a)| *t > after && a.as_deref() == Some(name))
                .map(|(t, _)| *t)
            {
                return Some(t);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// The longest time between answers from `from` to `to` (from `from` to the first answer,
    /// and from the last answer to `to`, count too).
    pub fn longest_silence(&self, from: Instant, to: Instant) -> Duration {
        let mut last = from;
        let mut worst = Duration::ZERO;
        for (t, a) in self.log.lock().unwrap().iter() {
            if *t < from || *t > to || a.is_none() {
                continue;
            }
            worst = worst.max(t.duration_since(last));
            last = *t;
        }
        worst.max(to.saturating_duration_since(last))
    }

    /// Who answered in the window, as runs: (ms after `from` the run began, who, probes).
    pub fn runs(&self, from: Instant, to: Instant) -> Vec<(u128, String, usize)> {
        let mut out: Vec<(u128, String, usize)> = Vec::new();
        for (t, a) in self.log.lock().unwrap().iter() {
            if *t < from || *t > to {
                continue;
            }
            let a = a.clone().unwrap_or_else(|| "-".into());
            match out.last_mut() {
                Some(last) if last.1 == a => last.2 += 1,
                _ => out.push((t.duration_since(from).as_millis(), a, 1)),
            }
        }
        out
    }

    /// Who answered in the window (in order, repeats collapsed; `-` for silence).
    pub fn answers(&self, from: Instant, to: Instant) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (t, a) in self.log.lock().unwrap().iter() {
            if *t < from || *t > to {
                continue;
            }
            let a = a.clone().unwrap_or_else(|| "-".into());
            if out.last() != Some(&a) {
                out.push(a);
            }
        }
        out
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Cluster {
    /// Runs `hbctl ARGS` (or a classic name of it) on node `i`.
    pub fn hbctl(&self, i: usize, name: &str, args: &[&str]) -> std::process::Output {
        let path = if name == "hbctl" {
            bin("hbctl")
        } else {
            let link = self.lab.dir().join(name);
            if !link.exists() {
                std::os::unix::fs::symlink(bin("hbctl"), &link).unwrap();
            }
            link
        };
        let mut argv = vec![path.to_str().unwrap()];
        argv.extend_from_slice(args);
        self.nodes[i].exec(&argv).unwrap()
    }

    /// The owner of the first group as node `i` sees it, once its state is `running`.
    pub fn owner(&self, i: usize) -> Option<String> {
        let v = self.status(i);
        let g = &v["groups"][0];
        (g["state"] == "running")
            .then(|| g["owner"].as_str().map(str::to_string))
            .flatten()
    }
}
