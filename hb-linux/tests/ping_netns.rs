//! ICMP echo to ping nodes between two network namespaces this test makes itself:
//!
//! ```text
//!   hblab-<pid>-ping-<test>-a             hblab-<pid>-ping-<test>-b
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

use hb_linux::lab::{ip, Lab};
use hb_linux::ping::{PingTarget, Pinger, SocketKind};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long to wait for an echo reply that must come.
const WAIT: Duration = Duration::from_secs(3);
/// How long to listen for a reply that must not come.
const QUIET: Duration = Duration::from_millis(500);
const PEER: &str = "198.51.100.2";
/// Nobody has this address.
const NOBODY: &str = "198.51.100.3";

/// Two namespaces joined by one veth pair (hb_linux::lab: root, bounded, removed on drop).
struct Pair {
    lab: Lab,
    /// Namespace b's full name.
    b: String,
}

impl Pair {
    fn new(test: &str) -> Pair {
        let mut lab = Lab::new(&format!("ping-{test}")).unwrap_or_else(|e| panic!("{e}"));
        lab.add_ns("a").unwrap();
        let b = lab.add_ns("b").unwrap();
        lab.veth("a", "a1", "b", "b1").unwrap();
        lab.addr("a", "a1", "198.51.100.1/24").unwrap();
        lab.addr("b", "b1", "198.51.100.2/24").unwrap();
        Pair { lab, b }
    }

    fn pinger(&self, targets: Vec<PingTarget>, kind: SocketKind) -> Pinger {
        self.lab
            .within("a", || {
                Pinger::open_with(targets, kind).unwrap_or_else(|e| panic!("{e}"))
            })
            .unwrap()
    }

    /// Allows unprivileged ICMP datagram sockets in namespace a (a per-namespace sysctl).
    fn allow_datagram_ping(&self) {
        self.lab
            .within("a", || {
                std::fs::write("/proc/sys/net/ipv4/ping_group_range", "0 2147483647")
                    .expect("set ping_group_range inside the test namespace")
            })
            .unwrap();
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
