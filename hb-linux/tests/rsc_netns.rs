//! Native IPaddr / IPaddr2 in network namespaces this test makes itself:
//!
//! ```text
//!   hblab-<pid>-rsc-<test>-a                  hblab-<pid>-rsc-<test>-b
//!   ra0 198.51.100.1/24 ──── veth ──── rb0 198.51.100.2/24
//! ```
//!
//! The runner acquires a service address in `a` (its calls run on a thread that has entered
//! `a`), `ip -o addr` in `a` shows it with its label, and a packet socket in `b` counts the
//! gratuitous ARPs that arrive. Then it is released and must be gone. Only 198.51.100.0/24 is
//! used; nothing is done in the host's namespace; the namespaces are deleted when the test
//! ends, failed or not (a drop guard), and leftovers of killed runs when the next run starts.
//!
//! Needs root and iproute2's `ip`: without them the tests fail saying so (CI runs as root).

use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use hb_core::config::haresources::{HaResources, ResourceGroup};
use hb_linux::lab::{self, Lab};
use hb_linux::log::LogLine;
use hb_linux::rsc::{
    ArpBurst, GroupOutcome, Runner, RunnerOptions, IPADDR2_ARP, IPADDR_ARP, IPV6ADDR_NA,
};
use socket2::{Domain, Protocol, Socket, Type};

const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IPV6: u16 = 0x86dd;

/// `ip ARGS…` (bounded, hb_linux::lab): its standard output, or what went wrong.
fn ip(args: &[&str]) -> Result<String, String> {
    lab::check(Command::new("ip").args(args))
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Two namespaces joined by a veth pair (hb_linux::lab: root, removed on drop).
struct Pair {
    lab: Lab,
    /// The namespaces' full names.
    a: String,
    b: String,
}

impl Pair {
    fn new(test: &str) -> Pair {
        let mut lab = Lab::new(&format!("rsc-{test}")).unwrap_or_else(|e| panic!("{e}"));
        let a = lab.add_ns("a").unwrap();
        let b = lab.add_ns("b").unwrap();
        lab.veth("a", "ra0", "b", "rb0").unwrap();
        lab.addr("a", "ra0", "198.51.100.1/24").unwrap();
        lab.addr("b", "rb0", "198.51.100.2/24").unwrap();
        for (ns, dev, addr) in [(&a, "ra0", "2001:db8::1/64"), (&b, "rb0", "2001:db8::2/64")] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev, "nodad"]).unwrap();
        }
        Pair { lab, a, b }
    }

    /// Runs `f` on a thread that has entered namespace `ns` (a full name).
    fn within<T: Send>(&self, ns: &str, f: impl FnOnce() -> T + Send) -> T {
        let short = if ns == self.a { "a" } else { "b" };
        self.lab.within(short, f).unwrap()
    }

    /// The IPv4 addresses of `dev` in `ns`, one `ip -o` line each.
    fn addrs(&self, ns: &str, dev: &str) -> Vec<String> {
        ip(&["-n", ns, "-o", "-4", "addr", "show", "dev", dev])
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn enter(path: &str) {
    let file = std::fs::File::open(path).unwrap();
    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)
        .expect("setns into the test namespace");
}

/// A gratuitous ARP seen on the wire: when, and its operation (1 request, 2 reply).
#[derive(Clone, Copy, Debug)]
struct Seen {
    at: Instant,
    op: u16,
}

/// How long the capture waits, after the frames it expects, for one too many.
const QUIET: Duration = Duration::from_millis(400);
/// The longest any wait for frames may take.
const WAIT: Duration = Duration::from_secs(10);

/// Frames collected by a thread in the peer namespace; stopped and joined on drop.
struct Capture {
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Capture {
    /// Gratuitous ARPs for `vip` arriving in namespace `ns`.
    fn arp(ns: &str, vip: Ipv4Addr) -> Capture {
        Capture::frames(ns, ETH_P_ARP, move |f| {
            (f.len() >= 42
                && f[12..14] == ETH_P_ARP.to_be_bytes()
                && f[28..32] == vip.octets()
                && f[38..42] == vip.octets())
            .then(|| u16::from_be_bytes([f[20], f[21]]))
        })
    }

    /// Unsolicited neighbour advertisements for `vip` to ff02::1 with hop limit 255 (the kind
    /// is the flags byte: 0x20 is Override).
    fn na(ns: &str, vip: Ipv6Addr) -> Capture {
        let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1).octets();
        Capture::frames(ns, ETH_P_IPV6, move |f| {
            (f.len() >= 86
                && f[12..14] == ETH_P_IPV6.to_be_bytes()
                && f[20] == 58
                && f[21] == 255
                && f[22..38] == vip.octets()
                && f[38..54] == all_nodes
                && f[54] == 136
                && f[62..78] == vip.octets())
            .then(|| u16::from(f[58]))
        })
    }

    /// Frames of ethertype `proto` arriving in `ns` that `pick` recognises, with what it
    /// says; the socket is open when this returns.
    fn frames(
        ns: &str,
        proto: u16,
        pick: impl Fn(&[u8]) -> Option<u16> + Send + 'static,
    ) -> Capture {
        let path = format!("/run/netns/{ns}");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                enter(&path);
                let proto = Protocol::from(i32::from(proto.to_be()));
                let sock = Socket::new(Domain::PACKET, Type::RAW, Some(proto)).unwrap();
                sock.set_read_timeout(Some(Duration::from_millis(10)))
                    .unwrap();
                ready_tx.send(()).unwrap();
                let mut buf = [0u8; 1600];
                let give_up = Instant::now() + Duration::from_secs(60);
                while !stop.load(Ordering::SeqCst) && Instant::now() < give_up {
                    let Ok(n) = (&sock).read(&mut buf) else {
                        continue;
                    };
                    if let Some(op) = pick(&buf[..n]) {
                        let at = Instant::now();
                        seen.lock().unwrap().push(Seen { at, op });
                    }
                }
            })
        };
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the capture socket opens");
        Capture {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn snapshot(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `n` frames have arrived (at most [`WAIT`]) and then [`QUIET`] more, so that
    /// one too many would be counted too; returns all seen.
    fn wait_for(&self, n: usize) -> Vec<Seen> {
        let deadline = Instant::now() + WAIT;
        while self.snapshot().len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(QUIET);
        self.snapshot()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn group(line: &str) -> ResourceGroup {
    let res = HaResources::parse(line, &mut |e| panic!("{e:?}")).unwrap();
    res.groups()[0].clone()
}

fn runner(dir: &tempfile::TempDir, ipaddr: ArpBurst, ipaddr2: ArpBurst) -> Runner {
    std::fs::create_dir_all(dir.path().join("resource.d")).unwrap();
    let mut o = RunnerOptions::new(dir.path());
    o.init_dirs = vec![dir.path().join("no-init-d")];
    o.ipaddr_arp = ipaddr;
    o.ipaddr2_arp = ipaddr2;
    Runner::new(o)
}

fn print(lines: &[LogLine]) {
    for l in lines {
        println!("{}: {}", l.priority.name(), l.text);
    }
}

fn count(seen: &[Seen], op: u16) -> usize {
    seen.iter().filter(|s| s.op == op).count()
}

#[test]
fn ipaddr_shorthand_acquire_arp_and_release() {
    let pair = Pair::new("rsc1");
    let dir = tempfile::tempdir().unwrap();
    // heartbeat's count (10 request/reply pairs), a shorter spacing to keep the test short.
    let burst = ArpBurst {
        repeat: IPADDR_ARP.repeat,
        interval: Duration::from_millis(20),
    };
    let runner = runner(&dir, burst, IPADDR2_ARP);
    let vip = Ipv4Addr::new(198, 51, 100, 80);
    let g = group("node1 198.51.100.80\n");
    let res = g.resources().next().unwrap();

    let cap = Capture::arp(&pair.b, vip);
    let mut lines = Vec::new();
    let (before, t0, outcome, took, after) = pair.within(&pair.a, || {
        let before = runner.resource_status(&res, &mut |l| lines.push(l));
        let t0 = Instant::now();
        let outcome = runner.acquire_group(&g, &mut |l| lines.push(l));
        let took = t0.elapsed();
        let after = runner.resource_status(&res, &mut |l| lines.push(l));
        (before, t0, outcome, took, after)
    });
    print(&lines);
    assert!(!before, "status said running before the start");
    assert_eq!(outcome, GroupOutcome::Done);
    assert!(after, "status says stopped after the start");
    let addrs = pair.addrs(&pair.a, "ra0");
    assert!(
        addrs.iter().any(
            |l| l.contains("inet 198.51.100.80/24 brd 198.51.100.255 ") && l.contains(" ra0:0")
        ),
        "198.51.100.80/24 labelled ra0:0 not in {addrs:#?}"
    );
    let seen = cap.wait_for(20);
    assert_eq!(
        (count(&seen, 1), count(&seen, 2)),
        (10, 10),
        "gratuitous ARP requests and replies seen: {seen:?}"
    );
    let first = seen[0].at.duration_since(t0);
    println!(
        "IPaddr shorthand: acquire returned after {:.2} ms, first gratuitous ARP seen after {:.2} ms, burst of {} frames over {:.0} ms",
        took.as_secs_f64() * 1e3,
        first.as_secs_f64() * 1e3,
        seen.len(),
        seen[seen.len() - 1].at.duration_since(seen[0].at).as_secs_f64() * 1e3
    );

    let mut lines = Vec::new();
    let (outcome, after) = pair.within(&pair.a, || {
        let outcome = runner.release_group(&g, &mut |l| lines.push(l));
        let after = runner.resource_status(&res, &mut |l| lines.push(l));
        (outcome, after)
    });
    print(&lines);
    assert_eq!(outcome, GroupOutcome::Done);
    assert!(!after, "status says running after the stop");
    let addrs = pair.addrs(&pair.a, "ra0");
    assert!(
        !addrs.iter().any(|l| l.contains("198.51.100.80")),
        "198.51.100.80 still configured: {addrs:#?}"
    );
    assert!(
        addrs.iter().any(|l| l.contains("198.51.100.1/24")),
        "the interface's own address went too: {addrs:#?}"
    );
    // A second release finds nothing to remove and still succeeds.
    let outcome = pair.within(&pair.a, || runner.release_group(&g, &mut |_| {}));
    assert_eq!(outcome, GroupOutcome::Done);
}

#[test]
fn ipaddr2_with_label_and_heartbeats_default_burst() {
    let pair = Pair::new("rsc2");
    let dir = tempfile::tempdir().unwrap();
    let runner = runner(&dir, IPADDR_ARP, IPADDR2_ARP);
    let vip = Ipv4Addr::new(198, 51, 100, 81);
    let g = group("node1 IPaddr2::198.51.100.81/24/ra0:web\n");
    let res = g.resources().next().unwrap();

    let cap = Capture::arp(&pair.b, vip);
    let mut lines = Vec::new();
    let (t0, outcome, took, after) = pair.within(&pair.a, || {
        let t0 = Instant::now();
        let outcome = runner.acquire_group(&g, &mut |l| lines.push(l));
        let took = t0.elapsed();
        (t0, outcome, took, runner.resource_status(&res, &mut |_| {}))
    });
    print(&lines);
    assert_eq!(outcome, GroupOutcome::Done);
    assert!(after);
    let addrs = pair.addrs(&pair.a, "ra0");
    assert!(
        addrs
            .iter()
            .any(|l| l.contains("inet 198.51.100.81/24 brd 198.51.100.255 ")
                && l.contains(" ra0:web")),
        "198.51.100.81/24 labelled ra0:web not in {addrs:#?}"
    );
    // 5 pairs 200 ms apart: the last reply about 0.9 s after the first request.
    let seen = cap.wait_for(10);
    assert_eq!(
        (count(&seen, 1), count(&seen, 2)),
        (5, 5),
        "gratuitous ARP requests and replies seen: {seen:?}"
    );
    let span = seen[seen.len() - 1].at.duration_since(seen[0].at);
    // Bounded above loosely: a loaded CI machine may wake the sender late.
    assert!(
        span >= Duration::from_millis(850) && span < Duration::from_millis(3000),
        "burst took {span:?}"
    );
    println!(
        "IPaddr2: acquire returned after {:.2} ms, first gratuitous ARP seen after {:.2} ms, burst of {} frames over {:.0} ms",
        took.as_secs_f64() * 1e3,
        seen[0].at.duration_since(t0).as_secs_f64() * 1e3,
        seen.len(),
        span.as_secs_f64() * 1e3
    );

    let (outcome, after) = pair.within(&pair.a, || {
        (
            runner.release_group(&g, &mut |_| {}),
            runner.resource_status(&res, &mut |_| {}),
        )
    });
    assert_eq!(outcome, GroupOutcome::Done);
    assert!(!after);
    let addrs = pair.addrs(&pair.a, "ra0");
    assert!(
        !addrs.iter().any(|l| l.contains("198.51.100.81")),
        "198.51.100.81 still configured: {addrs:#?}"
    );
}

/// A release in the middle of IPaddr's 5-second burst ends it: no ARP for an address we no
/// longer hold.
#[test]
fn release_ends_the_arp_burst() {
    let pair = Pair::new("rsc3");
    let dir = tempfile::tempdir().unwrap();
    let runner = runner(&dir, IPADDR_ARP, IPADDR2_ARP);
    let vip = Ipv4Addr::new(198, 51, 100, 82);
    let g = group("node1 198.51.100.82/24/ra0\n");
    let cap = Capture::arp(&pair.b, vip);
    pair.within(&pair.a, || {
        assert_eq!(runner.acquire_group(&g, &mut |_| {}), GroupOutcome::Done);
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(runner.release_group(&g, &mut |_| {}), GroupOutcome::Done);
    });
    // Frames still in flight at the release have arrived after QUIET; an unbroken burst
    // would then add one every 250 ms.
    std::thread::sleep(QUIET);
    let at_release = cap.snapshot().len();
    std::thread::sleep(Duration::from_millis(1000));
    let seen = cap.snapshot();
    assert!(at_release >= 3, "frames before the release: {seen:?}");
    assert_eq!(seen.len(), at_release, "ARP after the release: {seen:?}");
    assert!(seen.len() < 20, "the burst was not cut short: {seen:?}");
}

#[test]
fn ipv6addr_acquire_advertise_and_release() {
    let pair = Pair::new("rsc4");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("resource.d")).unwrap();
    let mut opts = RunnerOptions::new(dir.path());
    opts.init_dirs = vec![dir.path().join("no-init-d")];
    // IPv6addr.c's count (5), a shorter spacing than its 1 s to keep the test short.
    opts.ipv6addr_na = ArpBurst {
        repeat: IPV6ADDR_NA.repeat,
        interval: Duration::from_millis(50),
    };
    let runner = Runner::new(opts);
    let vip: Ipv6Addr = "2001:db8::80".parse().unwrap();
    // No interface named: found through 2001:db8::1/64 on ra0, as IPv6addr.c's find_if does.
    let g = group("node1 IPv6addr::2001:db8::80/64\n");
    let res = g.resources().next().unwrap();

    let cap = Capture::na(&pair.b, vip);
    let mut lines = Vec::new();
    let (t0, outcome, took, after) = pair.within(&pair.a, || {
        let t0 = Instant::now();
        let outcome = runner.acquire_group(&g, &mut |l| lines.push(l));
        let took = t0.elapsed();
        (t0, outcome, took, runner.resource_status(&res, &mut |_| {}))
    });
    print(&lines);
    assert_eq!(outcome, GroupOutcome::Done);
    assert!(after);
    let addrs = ip(&["-n", &pair.a, "-o", "-6", "addr", "show", "dev", "ra0"]).unwrap();
    assert!(
        addrs.contains("inet6 2001:db8::80/64 scope global"),
        "2001:db8::80/64 not in {addrs}"
    );
    let seen = cap.wait_for(5);
    assert_eq!(seen.len(), 5, "advertisements seen: {seen:?}");
    assert!(seen.iter().all(|s| s.op == 0x20), "Override flag: {seen:?}");
    println!(
        "IPv6addr: acquire returned after {:.2} ms, first advertisement seen after {:.2} ms",
        took.as_secs_f64() * 1e3,
        seen[0].at.duration_since(t0).as_secs_f64() * 1e3
    );

    let (outcome, after) = pair.within(&pair.a, || {
        (
            runner.release_group(&g, &mut |_| {}),
            runner.resource_status(&res, &mut |_| {}),
        )
    });
    assert_eq!(outcome, GroupOutcome::Done);
    assert!(!after);
    let addrs = ip(&["-n", &pair.a, "-o", "-6", "addr", "show", "dev", "ra0"]).unwrap();
    assert!(!addrs.contains("2001:db8::80/"), "still there: {addrs}");
    assert!(
        addrs.contains("2001:db8::1/64"),
        "own address gone: {addrs}"
    );
}

/// A group of an address and a script whose start fails: the address is taken, the script
/// fails, and the whole group is released, so the address is gone again.
#[test]
fn a_failed_start_after_the_address_releases_the_address_too() {
    use std::os::unix::fs::PermissionsExt;
    let pair = Pair::new("rsc5");
    let dir = tempfile::tempdir().unwrap();
    let runner = runner(
        &dir,
        ArpBurst {
            repeat: 1,
            interval: Duration::ZERO,
        },
        IPADDR2_ARP,
    );
    let script = dir.path().join("resource.d/broken");
    std::fs::write(
        &script,
        "#!/bin/sh\nfor op; do :; done\n[ \"$op\" = start ] && exit 1\nexit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let g = group("node1 198.51.100.83 broken\n");
    let mut lines = Vec::new();
    let outcome = pair.within(&pair.a, || runner.acquire_group(&g, &mut |l| lines.push(l)));
    print(&lines);
    assert_eq!(
        outcome,
        GroupOutcome::Failed {
            resource: "broken".into()
        }
    );
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    let at = |t: &str| {
        texts
            .iter()
            .position(|x| x.starts_with(t))
            .unwrap_or_else(|| panic!("{t} not logged: {texts:#?}"))
    };
    assert!(
        at("IPaddr: added 198.51.100.83/24") < at("Giving up resources due to failure of broken")
    );
    assert!(at("Releasing resource group") < at("IPaddr: removed 198.51.100.83/24 from ra0"));
    let addrs = pair.addrs(&pair.a, "ra0");
    assert!(
        !addrs.iter().any(|l| l.contains("198.51.100.83")),
        "198.51.100.83 left behind: {addrs:#?}"
    );
}
