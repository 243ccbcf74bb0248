//! `hbctl demo`: a two-node cluster and a client on this machine, in network namespaces
//! ([`crate::lab`]), showing what hb is for: the service IP and its service move to the
//! surviving node when the active one loses power, and the client sees how long it waited.
//!
//! The LAN is a bridge in its own namespace with node1 (198.51.100.1), node2 (.2) and the
//! client (.10); the nodes also share a crossover cable (203.0.113.1/.2). Both heartbeat over
//! both. The resource group is `node1 198.51.100.80 hbdemo-http::198.51.100.80`: the service
//! IP (native IPaddr, with gratuitous ARP) and a tiny HTTP service that answers with its
//! node's name. The client asks every 10 ms.

use crate::lab::{Lab, Node};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const SERVICE_IP: &str = "198.51.100.80";
const PROBE_EVERY: Duration = Duration::from_millis(10);

/// The cluster's timing; by default the slowest of the published 3.0.6 measurements
/// (keepalive 100 ms, warntime 300 ms, deadtime 500 ms), to compare like with like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub keepalive: u64,
    pub warntime: u64,
    pub deadtime: u64,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            keepalive: 100,
            warntime: 300,
            deadtime: 500,
        }
    }
}

impl std::str::FromStr for Timing {
    type Err = String;
    /// `KEEPALIVE/WARNTIME/DEADTIME` in ms, e.g. `100/300/500`.
    fn from_str(s: &str) -> Result<Timing, String> {
        let v: Vec<u64> = s
            .split('/')
            .map(|x| x.trim().parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("{s}: expected KEEPALIVE/WARNTIME/DEADTIME in ms"))?;
        match v[..] {
            [keepalive, warntime, deadtime]
                if keepalive > 0 && keepalive < warntime && warntime < deadtime =>
            {
                Ok(Timing {
                    keepalive,
                    warntime,
                    deadtime,
                })
            }
            _ => Err(format!(
                "{s}: expected KEEPALIVE/WARNTIME/DEADTIME in ms, each longer than the one before"
            )),
        }
    }
}

impl Timing {
    /// heartbeat 3.0.6's power-off failover with these timings, measured the same way
    /// (notes/netns-testing.md), where known.
    fn heartbeat_306_ms(&self) -> Option<u64> {
        match (self.keepalive, self.warntime, self.deadtime) {
            (100, 300, 500) => Some(976),
            (10, 20, 30) => Some(175),
            _ => None,
        }
    }
}

/// How the service address is managed (`--address`), to compare the costs of the paths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Address {
    /// The IP shorthand (`198.51.100.80`, IPaddr), native.
    #[default]
    Native,
    /// `IPaddr2::198.51.100.80/24/eth0`, native (nothing in resource.d).
    Ipaddr2,
    /// `IPaddr2::…` with heartbeat 3.0.6's stock `resource.d/IPaddr2` wrapper installed
    /// (recognised, so still native).
    StockWrapper,
    /// `IPaddr2::…` with that wrapper edited by an admin: the wrapper and resource-agents'
    /// OCF IPaddr2 run as scripts.
    EditedWrapper,
}

impl std::str::FromStr for Address {
    type Err = String;
    fn from_str(s: &str) -> Result<Address, String> {
        match s {
            "native" => Ok(Address::Native),
            "ipaddr2" => Ok(Address::Ipaddr2),
            "stock-wrapper" => Ok(Address::StockWrapper),
            "edited-wrapper" => Ok(Address::EditedWrapper),
            _ => Err(format!(
                "{s}: expected native, ipaddr2, stock-wrapper or edited-wrapper"
            )),
        }
    }
}

impl Address {
    fn resource(self) -> String {
        match self {
            Address::Native => SERVICE_IP.to_string(),
            _ => format!("IPaddr2::{SERVICE_IP}/24/eth0"),
        }
    }
}

/// Options of `hbctl demo`.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub timing: Timing,
    /// Failovers to measure, each in a new cluster.
    pub runs: u32,
    /// Only the measurements, not the tour.
    pub quiet: bool,
    pub address: Address,
    /// Also measure an `hb_standby` hand-over (node1 to node2 and back) before the failure.
    pub handover: bool,
}

fn ha_cf(t: Timing) -> String {
    format!(
        "keepalive {}ms\nwarntime {}ms\ndeadtime {}ms\n{HA_CF_REST}",
        t.keepalive, t.warntime, t.deadtime
    )
}

const HA_CF_REST: &str = "\
initdead 5
udpport 694
bcast eth1
mcast eth0 239.0.0.80 694 1 0
auto_failback on
node node1
node node2
";

const HTTP_SCRIPT: &str = r#"#!/bin/sh
# hbdemo-http IP start|stop|status: a tiny HTTP service on IP:80 that answers with this
# node's name (hb's demo).
PIDF=/run/hbdemo-http.pid
case "$2" in
start)
    setsid "$HBCTL" demo-http --name "$(uname -n)" --listen "$1:80" </dev/null >/dev/null 2>&1 &
    echo $! > $PIDF ;;
stop)
    [ -f $PIDF ] && kill "$(cat $PIDF)" 2>/dev/null
    rm -f $PIDF ;;
status)
    if [ -f $PIDF ] && kill -0 "$(cat $PIDF)" 2>/dev/null; then echo running; else echo stopped; fi ;;
esac
exit 0
"#;

/// One answer (or failure) the client saw.
#[derive(Clone, Debug)]
pub struct Probe {
    pub at: Instant,
    pub answer: Option<String>,
}

/// Runs the demo, printing as it goes; the exit code.
pub fn run(out: &mut dyn Write, opts: Options) -> u8 {
    let mut times = Vec::new();
    let mut handovers = Vec::new();
    for run in 1..=opts.runs.max(1) {
        let mut sink = std::io::sink();
        let tour: &mut dyn Write = if opts.quiet { &mut sink } else { out };
        match demo(tour, &opts) {
            Ok((ms, handover)) => {
                if opts.runs > 1 || opts.quiet {
                    let h = handover
                        .map(|h| format!(", hand-over {h} ms"))
                        .unwrap_or_default();
                    let _ = writeln!(out, "run {run}: failover {ms} ms{h}");
                }
                times.push(ms);
                handovers.extend(handover);
            }
            Err(e) => {
                let _ = writeln!(out, "hbctl demo: {e}");
                return 1;
            }
        }
    }
    if handovers.len() > 1 {
        handovers.sort_unstable();
        let _ = writeln!(
            out,
            "hand-over (hb_standby) over {} runs: median {} ms, min {} ms, max {} ms",
            handovers.len(),
            handovers[handovers.len() / 2],
            handovers[0],
            handovers[handovers.len() - 1]
        );
    }
    if times.len() > 1 {
        times.sort_unstable();
        let median = times[times.len() / 2];
        let t = opts.timing;
        let _ = writeln!(
            out,
            "failover at {}/{}/{} ms over {} runs: median {median} ms, min {} ms, max {} ms{}",
            t.keepalive,
            t.warntime,
            t.deadtime,
            times.len(),
            times[0],
            times[times.len() - 1],
            t.heartbeat_306_ms()
                .map(|h| format!(" (heartbeat 3.0.6: {h} ms median)"))
                .unwrap_or_default()
        );
    }
    0
}

fn say(out: &mut dyn Write, text: impl AsRef<str>) {
    let _ = writeln!(out, "{}", text.as_ref());
    let _ = out.flush();
}

/// One cluster: the failover's time and, with `--handover`, the hand-over's (ms).
fn demo(out: &mut dyn Write, opts: &Options) -> Result<(u64, Option<u64>), String> {
    let timing = opts.timing;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
    let mut lab = Lab::new("demo")?;
    // One binary: hbctl is also `heartbeat` when called by that name.
    let bin = lab.dir().join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    let heartbeat = bin.join("heartbeat");
    let hbctl = bin.join("hbctl");
    for p in [&heartbeat, &hbctl] {
        std::os::unix::fs::symlink(&exe, p).map_err(|e| format!("{}: {e}", p.display()))?;
    }

    say(
        out,
        "== building the network: node1, node2, a client, a LAN bridge, a crossover cable",
    );
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
    for name in ["node1", "node2"] {
        let node = lab.node(name, name)?;
        node.write_config("ha.cf", &ha_cf(timing), 0o644)?;
        node.write_config("authkeys", "auth 1\n1 sha1 hb-demo-cluster\n", 0o600)?;
        node.write_config(
            "haresources",
            &format!(
                "node1 {} hbdemo-http::{SERVICE_IP}\n",
                opts.address.resource()
            ),
            0o644,
        )?;
        std::fs::create_dir_all(node.etc().join("ha.d/resource.d")).map_err(|e| e.to_string())?;
        install_wrapper(&node, opts.address)?;
        node.write_config(
            "resource.d/hbdemo-http",
            &HTTP_SCRIPT.replace("\"$HBCTL\"", &format!("'{}'", hbctl.display())),
            0o755,
        )?;
        nodes.push(node);
    }
    say(
        out,
        format!(
            "== starting heartbeat on both nodes (keepalive {} ms, deadtime {} ms)",
            timing.keepalive, timing.deadtime
        ),
    );
    for n in &mut nodes {
        lab.start(n, &heartbeat, &[])?;
        if opts.address == Address::EditedWrapper {
            // Where the OCF agent keeps its state (the package's tmpfiles.d makes them).
            n.exec(&[
                "mkdir",
                "-p",
                "/run/resource-agents",
                "/run/heartbeat/rsctmp",
            ])?;
        }
    }

    let probes = Arc::new(Mutex::new(Vec::<Probe>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let client = spawn_client(lab.ns("client"), probes.clone(), stop.clone());
    let handover = if opts.handover {
        handover(out, &nodes, &hbctl, &probes).map(Some)
    } else {
        Ok(None)
    };
    let result =
        handover.and_then(|h| show(out, &lab, &nodes, &hbctl, &probes, timing).map(|f| (f, h)));
    if result.is_err() {
        for n in &nodes {
            say(out, format!("-- the end of {}'s log:", n.name));
            let log = n.log();
            let lines: Vec<&str> = log.lines().collect();
            for l in &lines[lines.len().saturating_sub(25)..] {
                say(out, format!("  {l}"));
            }
            let err = n.stderr();
            if !err.trim().is_empty() {
                say(out, format!("-- {}'s standard error:\n{err}", n.name));
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = client.join();
    say(out, "== cleaning up: namespaces and processes removed");
    drop(lab);
    result
}

fn show(
    out: &mut dyn Write,
    lab: &Lab,
    nodes: &[Node],
    hbctl: &Path,
    probes: &Mutex<Vec<Probe>>,
    timing: Timing,
) -> Result<u64, String> {
    say(
        out,
        "== waiting for node1 to take the service (heartbeat negotiates for ~10 s, as 3.0.6 does)",
    );
    let first = wait_for(probes, Duration::from_secs(40), |p| {
        p.answer.as_deref() == Some("node1")
    })
    .ok_or("node1 never served the client")?;
    say(out, "client: the service answers \"node1\"");
    if let Some(page) = http_get(&lab.ns("client")) {
        say(
            out,
            format!("$ curl http://{SERVICE_IP}/      (from the client)"),
        );
        say(out, page.split("\r\n\r\n").nth(1).unwrap_or("").trim_end());
    }
    say(out, "");
    say(out, "$ hbctl status            (on node1)");
    say(out, status_table(&nodes[0], hbctl));

    // Let the client see a steady service for a moment, then pull node1's plug at a random
    // point between two heartbeats (start-up otherwise fixes the phase).
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::thread::sleep(Duration::from_millis(
        500 + u64::from(nanos) % timing.keepalive,
    ));
    say(
        out,
        "== power failure on node1: every process killed, its network links down",
    );
    let cut = lab.power_off("node1", &["eth0", "eth1"])?;
    let back = wait_for(probes, Duration::from_secs(20), |p| {
        p.at > cut && p.answer.as_deref() == Some("node2")
    })
    .ok_or("node2 never took the service over")?;
    let took = back.at.duration_since(cut);
    let last_node1 = probes
        .lock()
        .map_err(|_| "probe log poisoned")?
        .iter()
        .filter(|p| p.answer.as_deref() == Some("node1"))
        .map(|p| p.at)
        .max()
        .unwrap_or(first.at);
    let failed = probes
        .lock()
        .map_err(|_| "probe log poisoned")?
        .iter()
        .filter(|p| p.at > cut && p.at < back.at && p.answer.is_none())
        .count();
    say(out, "");
    say(
        out,
        format!(
            "client: last answer from node1 {} ms before the power failure; {failed} probes unanswered; \
             first answer from node2 {} ms after it",
            cut.saturating_duration_since(last_node1).as_millis(),
            took.as_millis()
        ),
    );
    say(
        out,
        format!(
            "FAILOVER: {} ms from power failure to service restored on node2{}",
            took.as_millis(),
            timing
                .heartbeat_306_ms()
                .map(|h| format!(
                    " (heartbeat 3.0.6 with the same timings, measured the same way: {h} ms median)"
                ))
                .unwrap_or_default()
        ),
    );
    if let Some(page) = http_get(&lab.ns("client")) {
        say(
            out,
            format!("$ curl http://{SERVICE_IP}/      (from the client)"),
        );
        say(out, page.split("\r\n\r\n").nth(1).unwrap_or("").trim_end());
    }
    say(out, "");
    say(out, "$ hbctl status            (on node2)");
    say(out, status_table(&nodes[1], hbctl));
    let log = nodes[1].log();
    say(out, "node2's log, from the death on:");
    let mut on = false;
    for line in log.lines() {
        on |= line.contains("is dead");
        if on {
            say(out, format!("  {line}"));
        }
    }
    Ok(took.as_millis() as u64)
}

/// Puts heartbeat 3.0.6's stock `resource.d/IPaddr2` wrapper (from the installed `heartbeat`
/// package) in the node's resource.d, unchanged or with an admin's one-line edit.
fn install_wrapper(node: &Node, address: Address) -> Result<(), String> {
    if !matches!(address, Address::StockWrapper | Address::EditedWrapper) {
        return Ok(());
    }
    let read = |f: &str| {
        let p = Path::new("/etc/ha.d").join(f);
        std::fs::read_to_string(&p).map_err(|e| {
            format!(
                "{}: {e} (the wrapper comes from Debian's heartbeat package: apt-get install \
                 heartbeat resource-agents)",
                p.display()
            )
        })
    };
    let mut wrapper = read("resource.d/IPaddr2")?;
    if address == Address::EditedWrapper {
        wrapper = wrapper.replacen("\nusage()", "\n: edited by the admin\nusage()", 1);
    }
    node.write_config("resource.d/IPaddr2", &wrapper, 0o755)?;
    node.write_config(
        "resource.d/hto-mapfuncs",
        &read("resource.d/hto-mapfuncs")?,
        0o755,
    )?;
    node.write_config("shellfuncs", &read("shellfuncs")?, 0o644)
}

/// Waits for node1 to serve, then `hbctl standby` on node1: the time until node2 answers;
/// then `hbctl takeover` on node1 and waits until node1 answers again.
fn handover(
    out: &mut dyn Write,
    nodes: &[Node],
    hbctl: &Path,
    probes: &Mutex<Vec<Probe>>,
) -> Result<u64, String> {
    let hbctl = hbctl.to_string_lossy();
    wait_for(probes, Duration::from_secs(40), |p| {
        p.answer.as_deref() == Some("node1")
    })
    .ok_or("node1 never served the client")?;
    say(out, "== hb_standby on node1: the service moves to node2");
    let asked = Instant::now();
    nodes[0].exec(&[&hbctl, "standby"])?;
    let moved = wait_for(probes, Duration::from_secs(30), |p| {
        p.at > asked && p.answer.as_deref() == Some("node2")
    })
    .ok_or("hb_standby: node2 never served the client")?;
    let took = moved.at.duration_since(asked);
    say(
        out,
        format!(
            "HAND-OVER: node2 answers {} ms after hb_standby",
            took.as_millis()
        ),
    );
    let back = Instant::now();
    nodes[0].exec(&[&hbctl, "takeover"])?;
    wait_for(probes, Duration::from_secs(30), |p| {
        p.at > back && p.answer.as_deref() == Some("node1")
    })
    .ok_or("hb_takeover: node1 never served the client again")?;
    Ok(took.as_millis() as u64)
}

fn status_table(node: &Node, hbctl: &Path) -> String {
    match node.exec(&[&hbctl.to_string_lossy(), "status"]) {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(e) => format!("(hbctl status failed: {e})"),
    }
}

/// The first probe within `within` that `pred` holds of (the benchmarks use it too).
pub fn wait_for(
    probes: &Mutex<Vec<Probe>>,
    within: Duration,
    pred: impl Fn(&Probe) -> bool,
) -> Option<Probe> {
    let start = Instant::now();
    while start.elapsed() < within {
        if let Some(p) = probes.lock().ok()?.iter().find(|p| pred(p)).cloned() {
            return Some(p);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// The client: from inside its namespace, a UDP probe every 10 ms (as the published 3.0.6
/// and keepalived figures were measured: a probe never waits for a lost one, so the gap is
/// seen to within one interval), and an HTTP GET now and then to show the service itself.
pub fn spawn_client(
    ns: String,
    probes: Arc<Mutex<Vec<Probe>>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let entered = std::fs::File::open(format!("/run/netns/{ns}"))
            .map_err(|e| e.to_string())
            .and_then(|f| {
                nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| e.to_string())
            });
        if entered.is_err() {
            return;
        }
        let addr: SocketAddr = format!("{SERVICE_IP}:80")
            .parse()
            .expect("a literal address");
        let Ok(sock) = UdpSocket::bind("0.0.0.0:0") else {
            return;
        };
        let _ = sock.set_nonblocking(true);
        let mut buf = [0u8; 256];
        while !stop.load(Ordering::Relaxed) {
            let sent = Instant::now();
            let _ = sock.send_to(b"who", addr);
            let mut answer = None;
            let mut at = None;
            // Collect answers until the next probe is due; an answer counts from when it
            // arrived.
            while sent.elapsed() < PROBE_EVERY {
                match sock.recv(&mut buf) {
                    Ok(n) => {
                        at.get_or_insert_with(Instant::now);
                        answer = Some(String::from_utf8_lossy(&buf[..n]).trim().to_string());
                    }
                    Err(_) => std::thread::sleep(Duration::from_micros(200)),
                }
            }
            if let Ok(mut p) = probes.lock() {
                p.push(Probe {
                    at: at.unwrap_or_else(Instant::now),
                    answer,
                });
            }
        }
    })
}

/// One HTTP GET of the service from the client's namespace.
fn http_get(ns: &str) -> Option<String> {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/run/netns/{ns}")).ok()?;
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).ok()?;
        let addr: SocketAddr = format!("{SERVICE_IP}:80").parse().ok()?;
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        Some(body)
    })
    .join()
    .ok()
    .flatten()
}

/// `hbctl demo-http --name NAME --listen ADDR:PORT`: the demo's service.
pub fn http(name: &str, listen: &str) -> u8 {
    let l = match TcpListener::bind(listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hbctl demo-http: cannot listen on {listen}: {e}");
            return 1;
        }
    };
    // The same answer over UDP, for the client's fine-grained probes.
    match UdpSocket::bind(listen) {
        Ok(u) => {
            let name = name.to_string();
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                while let Ok((_, from)) = u.recv_from(&mut buf) {
                    let _ = u.send_to(name.as_bytes(), from);
                }
            });
        }
        Err(e) => {
            eprintln!("hbctl demo-http: cannot listen on udp {listen}: {e}");
            return 1;
        }
    }
    for conn in l.incoming() {
        let Ok(mut c) = conn else { continue };
        let _ = c.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 1024];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") && got.len() < 8192 {
            match c.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let body = format!("{name}\n");
        let _ = write!(
            c,
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
    }
    0
}
