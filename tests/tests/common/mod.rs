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
}

pub struct Cluster {
    pub lab: Lab,
    pub nodes: Vec<Node>,
    pub serial: Option<SerialLine>,
}

impl Cluster {
    pub fn new(tag: &str, setup: &Setup) -> Cluster {
        let mut lab = Lab::new(tag).unwrap_or_else(|e| panic!("{e}"));
        lab.add_ns("a").unwrap();
        lab.add_ns("b").unwrap();
        lab.veth("a", "eth1", "b", "eth1").unwrap();
        lab.addr("a", "eth1", "203.0.113.1/24").unwrap();
        lab.addr("b", "eth1", "203.0.113.2/24").unwrap();
        let serial = setup.serial.then(SerialLine::new);
        let mut nodes = Vec::new();
        for (i, (name, ns)) in [("node1", "a"), ("node2", "b")].into_iter().enumerate() {
            let node = lab.node(name, ns).unwrap();
            let mut cf = format!(
                "keepalive {KEEPALIVE_MS}ms\nwarntime 600ms\ndeadtime {DEADTIME_MS}ms\n\
                 initdead 3\nudpport 694\nauto_failback on\nrealtime off\n{}\n",
                setup.media[i]
            );
            if let Some(s) = &serial {
                cf.push_str(&format!("baud 115200\nserial {}\n", s.paths[i]));
            }
            cf.push_str("node node1\nnode node2\n");
            node.write_config("ha.cf", &cf, 0o644).unwrap();
            node.write_config("authkeys", setup.auth, 0o600).unwrap();
            node.write_config("haresources", "", 0o644).unwrap();
            nodes.push(node);
        }
        let mut c = Cluster { lab, nodes, serial };
        let hb = bin("heartbeat");
        for i in 0..2 {
            let mut n = std::mem::replace(&mut c.nodes[i], c.lab.node("x", "a").unwrap());
            c.lab
                .start(&mut n, &hb, &[])
                .unwrap_or_else(|e| panic!("{e}"));
            c.nodes[i] = n;
        }
        c
    }

    pub fn status(&self, i: usize) -> Value {
        let hbctl = bin("hbctl");
        let out = self.nodes[i]
            .exec(&[hbctl.to_str().unwrap(), "status", "--json"])
            .unwrap();
        assert!(
            out.status.success(),
            "hbctl status on {}: {}",
            self.nodes[i].name,
            String::from_utf8_lossy(&out.stderr)
        );
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
        media: ["bcast eth1".into(), "bcast eth1".into()],
        auth: SHA1,
        serial: true,
    }
}
