//! ICMP echo to ping nodes between two network namespaces this test makes itself:
//!
//! ```text
//!   hbping-<pid>-<test>-a                 hbping-<pid>-<test>-b
//!   a1 198.51.100.1/24 ──── veth ──── b1 198.51.100.2/24
//! ```
//!
//! Only the documentation range 198.51.100.0/24 is used, addresses are added with `brd +`, and
//! nothing is done in the host's namespace: the pinger is opened by a short-lived thread that
//! first `setns`es into namespace a (a socket stays in the namespace it was made in). The
//! namespaces are deleted when the test ends, failed or not (a drop guard), and leftovers of
//! killed runs when the next run starts.
//!
//! Needs root and iproute2's `ip`: without them the tests fail saying so (CI runs as root).
//! Both socket kinds are exercised: raw (root), and the unprivileged datagram socket after
//! widening `net.ipv4.ping_group_range` inside namespace a only.

use hb_linux::ping::{PingTarget, Pinger, SocketKind};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long to wait for an echo reply that must come.
const WAIT: Duration = Duration::from_secs(3);
/// How long to listen for a reply that must not come.
const QUIET: Duration = Duration::from_millis(500);
const PEER: &str = "198.51.100.2";
/// Nobody has this address.
const NOBODY: &str = "198.51.100.3";

fn prerequisites() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the ping namespace tests must run as root (they create namespaces and veth pairs); \
         CI runs them as root"
    );
    let ip = Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        matches!(ip, Ok(s) if s.success()),
        "the ping namespace tests need iproute2's `ip` (apt-get install iproute2)"
    );
}

/// Runs `ip` with a bounded wait; returns its stderr on failure.
fn ip(args: &[&str]) -> Result<(), String> {
    let mut child = Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut s, &mut err);
            }
            return if status.success() {
                Ok(())
            } else {
                Err(format!("ip {}: {}", args.join(" "), err.trim()))
            };
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("ip {}: still running after 10 s", args.join(" ")));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn remove_stale_namespaces() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("hbping-")
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", &name]);
        }
    }
}

/// Two namespaces joined by one veth pair, deleted on drop.
struct Pair {
    a: String,
    b: String,
    made: Vec<String>,
}

impl Pair {
    fn new(test: &str) -> Pair {
        prerequisites();
        remove_stale_namespaces();
        let pid = std::process::id();
        let mut pair = Pair {
            a: format!("hbping-{pid}-{test}-a"),
            b: format!("hbping-{pid}-{test}-b"),
            made: Vec::new(),
        };
        for ns in [pair.a.clone(), pair.b.clone()] {
            ip(&["netns", "add", &ns]).unwrap();
            pair.made.push(ns);
        }
        let (a, b) = (pair.a.as_str(), pair.b.as_str());
        let steps: [&[&str]; 7] = [
            &[
                "-n", a, "link", "add", "a1", "type", "veth", "peer", "name", "b1", "netns", b,
            ],
            &[
                "-n",
                a,
                "addr",
                "add",
                "198.51.100.1/24",
                "brd",
                "+",
                "dev",
                "a1",
            ],
            &[
                "-n",
                b,
                "addr",
                "add",
                "198.51.100.2/24",
                "brd",
                "+",
                "dev",
                "b1",
            ],
            &["-n", a, "link", "set", "lo", "up"],
            &["-n", b, "link", "set", "lo", "up"],
            &["-n", a, "link", "set", "a1", "up"],
            &["-n", b, "link", "set", "b1", "up"],
        ];
        for step in steps {
            ip(step).unwrap();
        }
        pair
    }

    /// Runs `f` on a thread that has entered namespace `ns`.
    fn within<T: Send>(&self, ns: &str, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{ns}");
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).unwrap();
                nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)
                    .expect("setns into the test namespace");
                f()
            })
            .join()
            .expect("the namespace thread panicked")
        })
    }

    fn pinger(&self, targets: Vec<PingTarget>, kind: SocketKind) -> Pinger {
        self.within(&self.a, || {
            Pinger::open_with(targets, kind).unwrap_or_else(|e| panic!("{e}"))
        })
    }

    /// Allows unprivileged ICMP datagram sockets in namespace a (a per-namespace sysctl).
    fn allow_datagram_ping(&self) {
        self.within(&self.a, || {
            std::fs::write("/proc/sys/net/ipv4/ping_group_range", "0 2147483647")
                .expect("set ping_group_range inside the test namespace")
        });
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for ns in &self.made {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

fn target(name: &str, addrs: &[&str]) -> PingTarget {
    PingTarget {
        name: name.into(),
        addrs: addrs.iter().map(|a| a.parse::<IpAddr>().unwrap()).collect(),
    }
}

/// Every target index answered within `timeout`, in arrival order.
fn replies_within(p: &mut Pinger, timeout: Duration, want: usize) -> Vec<usize> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    while got.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let mut fds: Vec<PollFd> = p
            .fds()
            .into_iter()
            .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
            .collect();
        let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
        let _ = poll(&mut fds, PollTimeout::from(ms));
        drop(fds);
        while let Some(i) = p.recv() {
            got.push(i);
        }
    }
    got
}

fn ping_peer_then_take_it_down(kind: SocketKind, test: &str) {
    let pair = Pair::new(test);
    if kind == SocketKind::Datagram {
        pair.allow_datagram_ping();
    }
    let mut p = pair.pinger(
        vec![
            target(PEER, &[PEER]),
            target("grp", &[NOBODY, PEER]),
            target(NOBODY, &[NOBODY]),
        ],
        kind,
    );
    assert_eq!(p.is_raw(), kind == SocketKind::Raw);
    // ARP for the peer may take a moment the first time: several rounds are allowed.
    let mut seen = Vec::new();
    for _ in 0..3 {
        for i in 0..3 {
            let _ = p.send(i);
        }
        seen.extend(replies_within(&mut p, WAIT, 2));
        if seen.contains(&0) && seen.contains(&1) {
            break;
        }
    }
    assert!(seen.contains(&0), "the peer answers: {seen:?}");
    assert!(
        seen.contains(&1),
        "a group with one live member answers: {seen:?}"
    );
    assert!(
        !seen.contains(&2),
        "nobody answers for an unused address: {seen:?}"
    );

    // Steady state: one request, one answer, nothing stray.
    let _ = replies_within(&mut p, QUIET, usize::MAX);
    p.send(0).unwrap();
    assert_eq!(replies_within(&mut p, WAIT, 1), [0]);
    assert_eq!(replies_within(&mut p, QUIET, 1), Vec::<usize>::new());

    // Another pinger of the same process pinging the same peer: its replies are not ours.
    let mut other = pair.pinger(vec![target(PEER, &[PEER])], kind);
    other.send(0).unwrap();
    assert_eq!(replies_within(&mut other, WAIT, 1), [0]);
    assert_eq!(replies_within(&mut p, QUIET, 1), Vec::<usize>::new());

    // The peer goes away: no answers (sending may fail or not; either way none come).
    ip(&["-n", &pair.b, "link", "set", "b1", "down"]).unwrap();
    for i in 0..2 {
        let _ = p.send(i);
    }
    assert_eq!(replies_within(&mut p, QUIET, 1), Vec::<usize>::new());

    // And comes back.
    ip(&["-n", &pair.b, "link", "set", "b1", "up"]).unwrap();
    let mut back = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !back.contains(&0) && Instant::now() < deadline {
        let _ = p.send(0);
        back.extend(replies_within(&mut p, Duration::from_millis(300), 1));
    }
    assert!(
        back.contains(&0),
        "the peer answers again once its link is up"
    );
}

#[test]
fn raw_socket_sees_the_peer_and_then_nothing() {
    ping_peer_then_take_it_down(SocketKind::Raw, "raw");
}

#[test]
fn datagram_socket_sees_the_peer_and_then_nothing() {
    ping_peer_then_take_it_down(SocketKind::Datagram, "dgram");
}

#[test]
fn auto_falls_back_to_raw_when_datagram_ping_is_not_allowed() {
    let pair = Pair::new("auto");
    // A fresh namespace's ping_group_range is "1 0": nobody may use datagram ICMP sockets,
    // and not even root may (the range is checked for every user).
    let p = pair.pinger(vec![target(PEER, &[PEER])], SocketKind::Auto);
    assert!(p.is_raw());
}
