//! The UDP media between two network namespaces this test makes itself (`hb_linux::lab`):
//!
//! ```text
//!   <lab>-a                                     <lab>-b
//!   a1 198.51.100.1/24 ──── veth ──── b1 198.51.100.2/24
//!   a2 203.0.113.1/24  ──── veth ──── b2 203.0.113.2/24
//! ```
//!
//! Only documentation addresses (and the documentation multicast group 233.252.0.1, RFC 5771
//! MCAST-TEST-NET, with TTL 1) are used, every address is added with `brd +`, and nothing is
//! done in the host's namespace: each medium is opened by a short-lived thread that first
//! `setns`es into its namespace (a socket stays in the namespace it was made in; the test's
//! own threads never move). The lab deletes the namespaces when the test ends, failed or not,
//! and leftovers of killed runs when the next run starts.
//!
//! Needs root and iproute2's `ip`: without them the tests fail saying so (CI runs as root).

use hb_core::config;
use hb_linux::lab::{ip, Lab};
use hb_linux::media::{Bcast, Mcast, Medium, OpenOptions, Ucast};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant, SystemTime};

/// The longest any wait for a packet or a command may take.
const WAIT: Duration = Duration::from_secs(3);
/// How long a medium must stay silent to pass a "nothing arrives" check (after the packet it
/// must not see has already been delivered elsewhere, so this only guards against a late
/// copy).
const QUIET: Duration = Duration::from_millis(150);
const PORT: u16 = 694;
const A1: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const B1: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const A2: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const B2: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
/// MCAST-TEST-NET (RFC 5771), the documentation multicast range.
const GROUP: Ipv4Addr = Ipv4Addr::new(233, 252, 0, 1);

/// Two namespaces, `a` and `b`, joined by two veth pairs ([`Lab`]: removed on drop, and
/// leftovers of killed runs removed when the next starts).
struct Pair {
    lab: Lab,
}

impl Pair {
    fn new(test: &str) -> Pair {
        let mut lab = Lab::new(test).unwrap_or_else(|e| panic!("{e}"));
        lab.add_ns("a").unwrap();
        lab.add_ns("b").unwrap();
        lab.veth("a", "a1", "b", "b1").unwrap();
        lab.veth("a", "a2", "b", "b2").unwrap();
        for (ns, iface, cidr) in [
            ("a", "a1", "198.51.100.1/24"),
            ("a", "a2", "203.0.113.1/24"),
            ("b", "b1", "198.51.100.2/24"),
            ("b", "b2", "203.0.113.2/24"),
        ] {
            lab.addr(ns, iface, cidr).unwrap();
        }
        Pair { lab }
    }

    /// The full name of namespace `short` (`a` or `b`), for `ip -n`.
    fn ns(&self, short: &str) -> String {
        self.lab.ns(short)
    }

    /// Runs `f` on a thread that has entered namespace `short`.
    fn within<T: Send>(&self, short: &str, f: impl FnOnce() -> T + Send) -> T {
        self.lab.within(short, f).unwrap_or_else(|e| panic!("{e}"))
    }

    fn open(&self, short: &str, cfg: config::Medium) -> Medium {
        self.open_with(short, cfg, true)
    }

    fn open_with(&self, short: &str, cfg: config::Medium, defer_status: bool) -> Medium {
        let opts = OpenOptions {
            defer_status,
            ..OpenOptions::default()
        };
        self.within(short, || {
            Medium::open(&cfg, &opts).unwrap_or_else(|e| panic!("{e}"))
        })
        .0
    }
}

fn bcast(iface: &str) -> config::Medium {
    config::Medium::Bcast {
        iface: iface.try_into().unwrap(),
        port: PORT,
    }
}

fn mcast(iface: &str, loopback: bool) -> config::Medium {
    config::Medium::Mcast {
        iface: iface.try_into().unwrap(),
        group: GROUP.octets(),
        port: PORT,
        ttl: 1,
        loopback,
    }
}

fn ucast(iface: &str, peer: Ipv4Addr) -> config::Medium {
    config::Medium::Ucast {
        iface: iface.try_into().unwrap(),
        peer: peer.to_string().as_str().try_into().unwrap(),
        port: PORT,
    }
}

fn ucast6(iface: &str, peer: &str) -> config::Medium {
    config::Medium::Ucast6 {
        iface: iface.try_into().unwrap(),
        peer: peer.try_into().unwrap(),
        port: PORT,
    }
}

/// A link-local-scope group (3.0.6's example's), loop off.
fn mcast6(iface: &str) -> config::Medium {
    let group: std::net::Ipv6Addr = "ff12::1:2:3:4".parse().unwrap();
    config::Medium::Mcast6 {
        iface: iface.try_into().unwrap(),
        group: group.octets(),
        port: PORT,
        hops: 1,
        loopback: false,
    }
}

/// The next datagram on `m` and its sender, waiting at most `timeout`.
fn recv_within(m: &mut Medium, timeout: Duration) -> Option<(Vec<u8>, SocketAddrV4)> {
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 65536];
    loop {
        let got = match &*m {
            Medium::Bcast(x) => x.recv_from(&mut buf),
            Medium::Mcast(x) => x.recv_from(&mut buf),
            Medium::Ucast(x) => x.recv_from(&mut buf),
            // The IPv6 media say no sender: the unspecified address stands for it.
            Medium::Mcast6(x) | Medium::Ucast6(x) => x
                .recv(&mut buf)
                .map(|n| n.map(|n| (n, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)))),
            Medium::Serial(_) | Medium::Relay(_) => unreachable!(),
        };
        match got.unwrap_or_else(|e| panic!("{e}")) {
            Some((n, from)) => return Some((buf[..n].to_vec(), from)),
            None => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return None;
                }
                let mut fds = [PollFd::new(m.as_fd(), PollFlags::POLLIN)];
                let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
                poll(&mut fds, PollTimeout::from(ms)).unwrap();
            }
        }
    }
}

/// Sends `payload` on `tx` until it arrives on `rx` (a veth may still be coming up), at
/// most [`WAIT`]; returns the sender's address as `rx` saw it. Extra copies are drained.
fn deliver(tx: &mut Medium, rx: &mut Medium, payload: &[u8]) -> SocketAddrV4 {
    let deadline = Instant::now() + WAIT;
    loop {
        tx.send(payload).unwrap_or_else(|e| panic!("{e}"));
        while let Some((got, from)) = recv_within(rx, Duration::from_millis(100)) {
            if got == payload {
                while recv_within(rx, Duration::from_millis(20)).is_some() {}
                return from;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} {} never received {:?}",
            rx.kind(),
            rx.link_name(),
            String::from_utf8_lossy(payload)
        );
    }
}

/// Drains `m` and fails if `payload` is among what arrives within [`QUIET`].
fn assert_never_sees(m: &mut Medium, payload: &[u8]) {
    while let Some((got, from)) = recv_within(m, QUIET) {
        assert_ne!(
            got,
            payload,
            "{} {} received {:?} from {from}",
            m.kind(),
            m.link_name(),
            String::from_utf8_lossy(payload)
        );
    }
}

fn local_port(m: &Medium) -> u16 {
    let addr: nix::sys::socket::SockaddrIn =
        nix::sys::socket::getsockname(m.as_raw_fd()).expect("getsockname");
    addr.port()
}

#[test]
fn bcast_reaches_the_peer_and_the_sender_and_stays_on_its_interface() {
    let net = Pair::new("bcast");
    let mut a1 = net.open("a", bcast("a1"));
    let mut a2 = net.open("a", bcast("a2"));
    let mut b1 = net.open("b", bcast("b1"));
    let mut b2 = net.open("b", bcast("b2"));
    let Medium::Bcast(inner) = &a1 else {
        unreachable!()
    };
    assert_eq!(
        inner.destination(),
        SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 255), PORT)
    );
    assert_eq!((a1.link_name(), b2.link_name()), ("a1", "b2"));
    assert_eq!(local_port(&b1), PORT);

    // A's broadcast on a1 reaches B on b1, from an unbound (ephemeral) port.
    let hello = b"bcast on a1";
    let from = deliver(&mut a1, &mut b1, hello);
    assert_eq!(*from.ip(), A1);
    assert_ne!(from.port(), PORT, "the send socket is never bound");
    // Linux hands the sender a copy of its own broadcast.
    let own = recv_within(&mut a1, WAIT).expect("A's own copy of its broadcast");
    assert_eq!((own.0.as_slice(), *own.1.ip()), (&hello[..], A1));
    // SO_BINDTODEVICE: the other interfaces' media never see it.
    assert_never_sees(&mut b2, hello);
    assert_never_sees(&mut a2, hello);

    // And the other way round on the second link.
    let second = b"bcast on a2";
    assert_eq!(*deliver(&mut a2, &mut b2, second).ip(), A2);
    assert_never_sees(&mut b1, second);
    let back = b"bcast from b1";
    assert_eq!(*deliver(&mut b1, &mut a1, back).ip(), B1);
}

#[test]
fn mcast_reaches_members_on_the_right_interface_only() {
    let net = Pair::new("mcast");
    let mut a1 = net.open("a", mcast("a1", true));
    let mut a2 = net.open("a", mcast("a2", false));
    let mut b1 = net.open("b", mcast("b1", false));
    let mut b2 = net.open("b", mcast("b2", false));
    assert_eq!(local_port(&b1), PORT);

    let hello = b"mcast on a1";
    let from = deliver(&mut a1, &mut b1, hello);
    assert_eq!(*from.ip(), A1);
    assert_ne!(from.port(), PORT);
    // loop 1: the sender's own medium gets a copy.
    let own = recv_within(&mut a1, WAIT).expect("A's own copy with loop 1");
    assert_eq!(own.0, hello);
    // b2 joined the same group and port on the other interface, yet sees nothing of a1's.
    assert_never_sees(&mut b2, hello);

    let second = b"mcast on a2";
    assert_eq!(*deliver(&mut a2, &mut b2, second).ip(), A2);
    assert_never_sees(&mut b1, second);
    // loop 0: no copy for the sender.
    assert_never_sees(&mut a2, second);
}

#[test]
fn ucast_reaches_its_peer_on_its_interface_only() {
    let net = Pair::new("ucast");
    let (a1, log) = net.within("a", || {
        Ucast::open("a1", "198.51.100.2", PORT, true).unwrap()
    });
    assert_eq!(
        log.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
        [
            "glib: ucast: write socket priority set to IPTOS_LOWDELAY on a1",
            "glib: ucast: bound send socket to device: a1",
            "glib: ucast: set SO_REUSEPORT(w)",
            "glib: ucast: set SO_REUSEADDR",
            "glib: ucast: bound receive socket to device: a1",
            "glib: ucast: set SO_REUSEPORT",
            "glib: ucast: started on port 694 interface a1 to 198.51.100.2",
        ]
    );
    assert_eq!(a1.destination(), SocketAddrV4::new(B1, PORT));
    let mut a1 = Medium::Ucast(a1);
    let mut a2 = net.open("a", ucast("a2", B2));
    let mut b1 = net.open("b", ucast("b1", A1));
    let mut b2 = net.open("b", ucast("b2", A2));
    assert_eq!(local_port(&b1), PORT);
    assert_eq!(local_port(&b2), PORT);

    let hello = b"ucast on a1";
    let from = deliver(&mut a1, &mut b1, hello);
    assert_eq!(*from.ip(), A1);
    assert_ne!(from.port(), PORT);
    // Both B media listen on 0.0.0.0:694; SO_BINDTODEVICE keeps a1's packet off b2's.
    assert_never_sees(&mut b2, hello);

    let second = b"ucast on a2";
    assert_eq!(*deliver(&mut a2, &mut b2, second).ip(), A2);
    assert_never_sees(&mut b1, second);

    let back = b"ucast from b1";
    assert_eq!(*deliver(&mut b1, &mut a1, back).ip(), B1);
    assert_never_sees(&mut a2, back);
}

/// Everything `m`'s steady socket holds now, each with its arrival stamp.
fn steady_now(m: &mut Medium) -> Vec<(Vec<u8>, Option<SystemTime>)> {
    let mut out = Vec::new();
    loop {
        let n = match m.recv_steady().unwrap_or_else(|e| panic!("{e}")) {
            Some(b) => b.len(),
            None => return out,
        };
        let b = m.steady_batch().expect("a steady socket");
        out.extend(
            (0..n)
                .filter_map(|k| b.get(k))
                .map(|(p, at)| (p.to_vec(), at)),
        );
        if n == 0 {
            return out;
        }
    }
}

/// Steady statuses and ACKs (`media::steady`): every one lands on the medium's second socket,
/// stamped with its arrival, and nothing else does; with the switch off, the first socket
/// gets everything as before. For each kind of medium, since `ucast` steers otherwise than
/// the others.
#[test]
fn steady_statuses_wait_on_their_own_socket_stamped_on_arrival() {
    let net = Pair::new("steady");
    for (ns, addr) in [("a", "2001:db8:1::1/64"), ("b", "2001:db8:1::2/64")] {
        let iface = format!("{ns}1");
        ip(&[
            "-n",
            &net.ns(ns),
            "addr",
            "add",
            addr,
            "dev",
            &iface,
            "nodad",
        ])
        .unwrap();
    }
    let status = b">>>\nt=status\nst=active\ndt=7530\nsrc=a\n<<<\n";
    let ack = b"###\n14:(0)t=NS_ackmsg,13:(0)dest=b,%%%\n";
    let starting = b">>>\nt=status\nst=up\ndt=7530\nsrc=a\n<<<\n";
    let request = b">>>\nt=ip-request\nipaddr=198.51.100.10\n<<<\n";
    for (kind, tx_cfg, rx_cfg) in [
        ("bcast", bcast("a1"), bcast("b1")),
        ("mcast", mcast("a1", false), mcast("b1", false)),
        ("ucast", ucast("a1", B1), ucast("b1", A1)),
        // A peer that sends unicast to a `bcast` medium (3.0.6 takes it; so must the steering).
        ("ucast to bcast", ucast("a1", B1), bcast("b1")),
        (
            "ucast6",
            ucast6("a1", "2001:db8:1::2"),
            ucast6("b1", "2001:db8:1::1"),
        ),
        ("mcast6", mcast6("a1"), mcast6("b1")),
        (
            "ucast6 to mcast6",
            ucast6("a1", "2001:db8:1::2"),
            mcast6("b1"),
        ),
    ] {
        let mut tx = net.open("a", tx_cfg.clone());
        let mut rx = net.open("b", rx_cfg.clone());
        // The link works (a veth may still be coming up), and the marker came the usual way.
        deliver(&mut tx, &mut rx, b"marker");
        steady_now(&mut rx);
        let before = SystemTime::now();
        for _ in 0..10 {
            for p in [&status[..], ack, starting, request] {
                tx.send(p).unwrap_or_else(|e| panic!("{e}"));
            }
        }
        let mut others = Vec::new();
        while let Some((got, _)) = recv_within(&mut rx, QUIET) {
            others.push(got);
        }
        let after = SystemTime::now();
        let steady = steady_now(&mut rx);
        assert_eq!(others.len(), 20, "{kind}: {others:?}");
        assert!(
            others.iter().all(|p| p == starting || p == request),
            "{kind}: a steady datagram on the first socket"
        );
        assert_eq!(steady.len(), 20, "{kind}");
        for (p, at) in &steady {
            assert!(
                p == status || p == ack,
                "{kind}: {p:?} on the steady socket"
            );
            let at = at.unwrap_or_else(|| panic!("{kind}: no arrival stamp"));
            assert!(before <= at && at <= after, "{kind}: stamped {at:?}");
        }

        // Switched off: one socket, everything on it.
        drop((tx, rx));
        let mut tx = net.open_with("a", tx_cfg, false);
        let mut rx = net.open_with("b", rx_cfg, false);
        assert!(rx.steady_fd().is_none(), "{kind}");
        deliver(&mut tx, &mut rx, b"marker");
        for p in [&status[..], ack, request] {
            tx.send(p).unwrap_or_else(|e| panic!("{e}"));
        }
        let mut all = Vec::new();
        while let Some((got, _)) = recv_within(&mut rx, QUIET) {
            all.push(got);
        }
        assert_eq!(
            all,
            [&status[..], ack, request],
            "{kind} with the switch off"
        );
    }
}

#[test]
fn open_errors_name_the_medium() {
    let net = Pair::new("errors");
    // An address added without `brd +` has no broadcast address.
    // (veth pairs inside one namespace: this kernel has no `dummy` driver.)
    ip(&[
        "-n",
        &net.ns("a"),
        "link",
        "add",
        "nobrd",
        "type",
        "veth",
        "peer",
        "name",
        "nobrd-p",
    ])
    .unwrap();
    ip(&[
        "-n",
        &net.ns("a"),
        "addr",
        "add",
        "198.51.100.77/24",
        "dev",
        "nobrd",
    ])
    .unwrap();
    let e = net.within("a", || {
        Bcast::open("nobrd", PORT, true).unwrap_err().to_string()
    });
    assert_eq!(
        e,
        "bcast nobrd: interface has no IPv4 broadcast address (an address added without \
         `brd +`?)"
    );
    let e = net.within("b", || {
        Bcast::open("a1", PORT, true).unwrap_err().to_string()
    });
    assert_eq!(e, "bcast a1: interface does not exist");
    ip(&[
        "-n",
        &net.ns("b"),
        "link",
        "add",
        "noaddr",
        "type",
        "veth",
        "peer",
        "name",
        "noaddr-p",
    ])
    .unwrap();
    let e = net.within("b", || {
        Mcast::open("noaddr", GROUP, PORT, 1, false, true)
            .unwrap_err()
            .to_string()
    });
    assert_eq!(
        e,
        "mcast noaddr 233.252.0.1 694: interface has no IPv4 address"
    );
    let (m, log) = net.within("b", || {
        Mcast::open("b1", GROUP, 700, 1, false, true).unwrap()
    });
    assert_eq!(
        log[0].text,
        "glib: UDP multicast heartbeat started for group 233.252.0.1 port 700 interface b1 \
         (ttl=1 loop=0)"
    );
    drop(m);
    let (_, log) = net.within("b", || Bcast::open("b1", PORT, true).unwrap());
    assert_eq!(
        log[0].text,
        "glib: UDP Broadcast heartbeat started on port 694 (694) interface b1"
    );
}
