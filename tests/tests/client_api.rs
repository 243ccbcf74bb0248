//! heartbeat's client API against the programs Debian's `heartbeat` 3.0.6 package installs,
//! unchanged: `/usr/bin/cl_status` side by side against a 3.0.6 pair and an hb pair in the same
//! cluster states (every subcommand's output and exit code equal), `api_test`, `apiauth`
//! refusals with 3.0.6's log lines, and a hostile client that costs no heartbeat. Root and the
//! package are needed; the tests fail, never skip, without them.

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

const CL_STATUS: &str = "/usr/bin/cl_status";
const API_TEST: &str = "/usr/libexec/heartbeat/api_test";
const ROUTER: &str = "198.51.100.254";

/// The real daemon's path; panics naming the package when it is missing.
fn real_heartbeat() -> &'static str {
    const PATHS: [&str; 2] = [
        "/usr/libexec/heartbeat/heartbeat",
        "/usr/lib/heartbeat/heartbeat",
    ];
    let found = PATHS.into_iter().find(|p| Path::new(p).exists());
    let missing: Vec<&str> = [CL_STATUS, API_TEST, "/etc/ha.d/shellfuncs"]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    match found {
        Some(p) if missing.is_empty() => p,
        _ => panic!(
            "heartbeat 3.0.6 is not installed (missing {missing:?} or the daemon): \
             apt-get install heartbeat"
        ),
    }
}

/// What 3.0.6 expects under its private /run (the package's tmpfiles.d).
const PRELUDE: &str = "mkdir -p /run/heartbeat/ccm /run/heartbeat/crm /run/heartbeat/dopd \
     /run/heartbeat/rsctmp /run/resource-agents /run/crm \
     /var/lib/heartbeat/cores/root /var/lib/heartbeat/cores/hacluster \
     /var/lib/heartbeat/cores/nobody; \
     chown -R hacluster:haclient /run/heartbeat /run/crm /var/lib/heartbeat/cores/hacluster; \
     chmod 750 /run/heartbeat; chmod 1777 /run/heartbeat/rsctmp; ";

/// A resource that only records itself (no address: the states are about the API).
const SERVICE: &str = "#!/bin/sh\ncase \"$1\" in\nstart) touch /run/apisvc ;;\nstop) rm -f \
     /run/apisvc ;;\nstatus) if [ -f /run/apisvc ]; then echo running; else echo stopped; fi ;;\n\
     esac\nexit 0\n";

fn copy_missing(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_missing(&src, &dst);
        } else if !dst.exists() {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A two-node pair, each node 3.0.6 (`real[i]`) or hb: a bcast link and a serial line, the
/// LAN with its router as a ping node, one resource group preferring node1.
fn pair(tag: &str, real: [bool; 2], extra: &str) -> Cluster {
    let hb306 = real_heartbeat();
    let lines = format!("logfile /var/log/ha-log\nping {ROUTER}\n{extra}");
    let setup = Setup {
        serial: true,
        lan: true,
        extra: [lines.clone(), lines],
        haresources: "node1 apisvc\n".into(),
        scripts: vec![("apisvc".into(), SERVICE.into())],
        timing: (100, 300, 1000),
        ..Setup::default()
    };
    let mut c = Cluster::build(tag, &setup);
    for (i, real) in real.into_iter().enumerate() {
        if real {
            copy_missing(Path::new("/etc/ha.d"), &c.nodes[i].etc().join("ha.d"));
            let mut n = std::mem::replace(&mut c.nodes[i], c.lab.node("spare", "a").unwrap());
            let r = c.lab.start_foreign(
                &mut n,
                PRELUDE,
                &[hb306],
                "heartbeat",
                Duration::from_secs(20),
                |_| true,
            );
            c.nodes[i] = n;
            r.unwrap_or_else(|e| panic!("3.0.6 on node{}: {e}", i + 1));
        } else {
            c.start(i);
        }
    }
    c
}

/// `cl_status ARGS…` on node `i`: (standard output, exit code).
fn cl_status(c: &Cluster, i: usize, args: &[&str]) -> (String, i32) {
    let mut argv = vec![CL_STATUS];
    argv.extend_from_slice(args);
    let out = c.nodes[i].exec(&argv).unwrap();
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        out.status.code().unwrap_or(-1),
    )
}

/// Waits until `cl_status ARGS` on node1 prints one of `want` (`|`-separated, trimmed).
fn wait_cl(c: &Cluster, args: &[&str], want: &str, within: Duration) {
    let start = Instant::now();
    loop {
        let (out, _) = cl_status(c, 0, args);
        if want.split('|').any(|w| w == out.trim()) {
            return;
        }
        assert!(
            start.elapsed() < within,
            "cl_status {args:?} on node1: {out:?}, not {want:?} within {within:?}\nlog:\n{}",
            c.nodes[0].log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What `cl_status` said: (command line, standard output, exit code) per subcommand.
type Snapshot = Vec<(String, String, i32)>;

/// Every subcommand, as an admin's script would call them, on node1.
fn snapshot(c: &Cluster) -> Snapshot {
    let serial = c.serial.as_ref().unwrap().paths[0].clone();
    let cmds: Vec<Vec<&str>> = vec![
        vec!["hbstatus"],
        vec!["hbstatus", "-v"],
        vec!["listnodes"],
        vec!["listnodes", "-p"],
        vec!["listnodes", "-n"],
        vec!["listnodes", "-v"],
        vec!["nodestatus", "node1"],
        vec!["nodestatus", "node2"],
        vec!["nodestatus", ROUTER],
        vec!["nodestatus", "nosuchnode"],
        vec!["nodetype", "node2"],
        vec!["nodetype", ROUTER],
        vec!["nodeweight", "node2"],
        vec!["nodesite", "node2"],
        vec!["listhblinks", "node1"],
        vec!["listhblinks", "node2"],
        vec!["listhblinks", "-v", "node2"],
        vec!["listhblinks", ROUTER],
        vec!["hblinkstatus", "node2", "eth1"],
        vec!["hblinkstatus", "node2", &serial],
        vec!["hblinkstatus", "node2", "eth9"],
        vec!["hblinkstatus", ROUTER, ROUTER],
        vec!["clientstatus", "node1", "nosuchclient"],
        vec!["clientstatus", "node2", "nosuchclient", "2000"],
        vec!["rscstatus"],
        vec!["rscstatus", "-m"],
        vec!["hbparameter", "-p", "keepalive"],
        vec!["hbparameter", "-p", "deadtime"],
        vec!["hbparameter", "-p", "warntime"],
        vec!["hbparameter", "-p", "initdead"],
        vec!["hbparameter", "-p", "deadping"],
        vec!["hbparameter", "-p", "udpport"],
        vec!["hbparameter", "-p", "auto_failback"],
        vec!["hbparameter", "-p", "logfile"],
        vec!["hbparameter", "-p", "pacemaker"],
        vec!["hbparameter", "-p", "nosuchparameter"],
        vec!["nosuchsubcommand"],
    ];
    cmds.iter()
        .map(|args| {
            let (out, code) = cl_status(c, 0, args);
            let cmd = args.join(" ").replace(&serial, "SERIAL");
            (cmd, out.replace(&serial, "SERIAL"), code)
        })
        .collect()
}

/// The states, in order, and a snapshot of each once it is reached and settled.
fn walk(real: bool) -> Vec<(&'static str, Snapshot)> {
    let tag = if real { "api-306" } else { "api-hb" };
    let c = pair(tag, [real; 2], "");
    let serial = c.serial.as_ref().unwrap().paths[0].clone();
    let long = Duration::from_secs(60);
    let settle = || std::thread::sleep(Duration::from_secs(2));
    let mut out = Vec::new();

    wait_cl(&c, &["nodestatus", "node2"], "active", long);
    wait_cl(&c, &["hblinkstatus", "node2", &serial], "up", long);
    wait_cl(&c, &["rscstatus"], "local", long);
    settle();
    out.push(("both up", snapshot(&c)));

    let standby = if real {
        c.nodes[0]
            .exec(&["/usr/share/heartbeat/hb_standby"])
            .unwrap()
    } else {
        c.hbctl(0, "hb_standby", &[])
    };
    assert!(standby.status.success(), "hb_standby: {standby:?}");
    wait_cl(&c, &["rscstatus"], "none", long);
    settle();
    out.push(("standby", snapshot(&c)));

    // Back to node1 before the faults (3.0.6 stays in `transition` when it must take back a
    // group from a peer that dies holding it).
    let takeover = if real {
        c.nodes[0]
            .exec(&["/usr/share/heartbeat/hb_takeover"])
            .unwrap()
    } else {
        c.hbctl(0, "hb_takeover", &[])
    };
    assert!(takeover.status.success(), "hb_takeover: {takeover:?}");
    wait_cl(&c, &["rscstatus"], "local|all", long);
    settle();

    c.lab.link("router", "eth0", false).unwrap();
    wait_cl(&c, &["nodestatus", ROUTER], "dead", long);
    settle();
    out.push(("ping node down", snapshot(&c)));

    c.serial.as_ref().unwrap().set(false);
    wait_cl(&c, &["hblinkstatus", "node2", &serial], "dead", long);
    settle();
    out.push(("a link down", snapshot(&c)));

    c.lab.power_off("b", &["eth0", "eth1"]).unwrap();
    wait_cl(&c, &["nodestatus", "node2"], "dead", long);
    std::thread::sleep(Duration::from_secs(3));
    wait_cl(&c, &["rscstatus"], "local|all", long);
    settle();
    out.push(("peer dead", snapshot(&c)));
    out
}

#[test]
fn cl_status_says_the_same_of_hb_as_of_heartbeat_306() {
    real_heartbeat();
    let real = walk(true);
    let ours = walk(false);
    let mut differ = Vec::new();
    for ((state, a), (_, b)) in real.iter().zip(&ours) {
        for (x, y) in a.iter().zip(b) {
            eprintln!("[{state}] cl_status {}: exit {} {:?}", x.0, x.2, x.1);
            if x != y {
                differ.push(format!(
                    "[{state}] cl_status {}:\n  3.0.6: exit {} {:?}\n  hb:    exit {} {:?}",
                    x.0, x.2, x.1, y.2, y.1
                ));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// Three hostile clients at once, inside node1: 10 000 framed garbage messages; a signed-on
/// client that floods requests and never reads an answer; half a message, then close.
const HOSTILE: &str = r#"
import os, socket, struct, sys, time
PATH = "/var/run/heartbeat/register"
def frame(body):
    return struct.pack("=iI", len(body), 0xabcd) + body
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(PATH)
    return s
def send_all(s, data):
    try:
        s.sendall(data)
        return True
    except OSError:
        return False
pid = os.getpid()
signon = (">>>\nt=hbapi-req\nreqtype=signon\ndest=node1\npid=%d\nfrom_id=%d\nuid=0\ngid=0\n<<<\n\0" % (pid, pid)).encode()
ask = (">>>\nt=hbapi-req\nreqtype=nodelist\ndest=node1\npid=%d\nfrom_id=%d\n<<<\n\0" % (pid, pid)).encode()
f = conn()
h = conn()
# 10 000 garbage messages: each connection is dropped at its first, so connect again.
sent = 0
conns = 0
while sent < 10000:
    g = conn()
    conns += 1
    while sent < 10000 and send_all(g, frame(os.urandom(64))):
        sent += 1
    g.close()
    time.sleep(0.01)
send_all(f, frame(signon))
flood = 0
for i in range(10000):
    if not send_all(f, frame(ask)):
        break
    flood += 1
whole = frame(signon)
send_all(h, whole[: len(whole) // 2])
h.close()
time.sleep(1)
print("%d %d %d" % (sent, conns, flood))
"#;

#[test]
fn a_hostile_api_client_changes_nothing_and_costs_no_heartbeat() {
    real_heartbeat();
    let c = pair("api-hostile", [false; 2], "");
    c.both_up();
    wait_cl(&c, &["rscstatus"], "local", Duration::from_secs(60));
    let before: Vec<_> = (0..2).map(|i| c.nodes[i].log().len()).collect();
    let out = c.nodes[0].exec(&["python3", "-c", HOSTILE]).unwrap();
    assert!(out.status.success(), "the hostile client: {out:?}");
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    let n: Vec<usize> = said
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let [garbage, garbage_conns, flood] = n[..] else {
        panic!("the hostile client said {said:?}")
    };
    eprintln!(
        "{garbage} garbage messages over {garbage_conns} connections; {flood} requests sent \
         by a client that never reads"
    );
    assert_eq!(garbage, 10_000);
    // Still serving, the same answers.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        cl_status(&c, 0, &["nodestatus", "node2"]).0.trim(),
        "active"
    );
    assert_eq!(cl_status(&c, 0, &["rscstatus"]).0.trim(), "local");
    let (_, code) = cl_status(&c, 0, &["hbstatus"]);
    assert_eq!(code, 0);
    let after: Vec<String> = (0..2)
        .map(|i| c.nodes[i].log()[before[i]..].to_string())
        .collect();
    eprintln!("node1 during the attack:\n{}", after[0]);
    for (i, log) in after.iter().enumerate() {
        assert!(
            !log.contains("Late heartbeat") && !log.contains("dead"),
            "node{} during the attack:\n{log}",
            i + 1
        );
    }
    // One line per dropped client, naming why.
    let dropped: Vec<&str> = after[0]
        .lines()
        .filter(|l| l.contains("API: dropped"))
        .collect();
    assert_eq!(dropped.len(), garbage_conns + 2, "{}", after[0]);
    let garbage_lines = dropped
        .iter()
        .filter(|l| l.contains("not an IPC message") || l.contains("not an ha_msg"))
        .count();
    assert_eq!(garbage_lines, garbage_conns, "{}", after[0]);
    assert!(dropped
        .iter()
        .any(|l| l.contains("not reading its messages")));
    assert!(dropped
        .iter()
        .any(|l| l.contains("EOF in the middle of a message")));
    // Nothing changed for the peer either.
    c.wait_status(1, "seeing node1 active", Duration::from_secs(5), |v| {
        peer_state(v, "node1") == "active" && links(v, "node1").iter().all(|(_, s)| s == "up")
    });
}

/// `api_test ping` on both nodes (it signs on as `ping`, allowed to group haclient): it walks
/// the nodes and links, asks for parameters and the resource state, then sends a `ping` to the
/// cluster and answers the other's with `pingreply`s: client-to-client messages across the
/// cluster, here between 3.0.6's node1 and hb's node2.
#[test]
fn api_test_passes_against_hb_and_talks_to_a_306_peer() {
    real_heartbeat();
    let c = pair("api-test", [true, false], "");
    wait_cl(
        &c,
        &["nodestatus", "node2"],
        "active",
        Duration::from_secs(60),
    );
    c.wait_status(1, "seeing node1 active", Duration::from_secs(30), |v| {
        peer_state(v, "node1") == "active"
    });
    // api_test's node walk is a snapshot, and node1 can be active (heard on the serial line)
    // before its first broadcast reaches us: a loaded CI machine showed `eth1 ifstatus: dead`
    // in a walk made then, and `up` a moment later.
    let active = Instant::now();
    let v = c.wait_status(1, "seeing node1's eth1 up", Duration::from_secs(30), |v| {
        links(v, "node1")
            .iter()
            .any(|(m, s)| m == "eth1" && s == "up")
    });
    eprintln!(
        "hb sees node1's links {:?}, {} ms after it saw node1 active",
        links(&v, "node1"),
        active.elapsed().as_millis()
    );
    let text = |i: usize| {
        let o = c.nodes[i].exec(&["cat", "/run/api_test.out"]).unwrap();
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    // 3.0.6's own client library has a race: api_test gives a remote client-status query
    // 100 ms, and a reply later than that is taken for the answer to the next request, so
    // the walk of the following node fails ("Cannot start if walk", no reason) and that
    // api_test stops before its pings. Between two 3.0.6 nodes the reply misses the 100 ms
    // as well (seen here, one run in three), so this is no fault of hb's. When
    // 3.0.6's side shows that signature, both run again (three tries at most).
    let (mut on306, mut onhb) = (String::new(), String::new());
    for attempt in 1..=3 {
        if attempt > 1 {
            // The last try's api_tests must be gone, and signed off: a second client named
            // `ping` is refused ("duplicate add request", as 3.0.6 refuses it).
            for n in &c.nodes {
                let start = std::time::Instant::now();
                while !n
                    .exec(&["sh", "-c", "! pgrep -x api_test"])
                    .unwrap()
                    .status
                    .success()
                {
                    assert!(
                        start.elapsed() < Duration::from_secs(15),
                        "{}: api_test still running",
                        n.name
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        // Both at once, in the background of each node (they run about 12 s: a node walk,
        // 5 s of sleep, then they answer each other's ping).
        for n in &c.nodes {
            let script = format!(
                "timeout -s INT 14 setpriv --regid=haclient --clear-groups {API_TEST} \
                 >/run/api_test.out 2>&1 &"
            );
            let out = n.exec(&["sh", "-c", &script]).unwrap();
            assert!(out.status.success(), "{out:?}");
        }
        std::thread::sleep(Duration::from_secs(16));
        (on306, onhb) = (text(0), text(1));
        let raced =
            on306.contains("api_test status: [timeout]") && on306.contains("Cannot start if walk");
        if !raced {
            break;
        }
        eprintln!(
            "--- try {attempt}: 3.0.6's api_test lost its late client-status reply:\n{on306}"
        );
    }
    eprintln!("--- api_test on 3.0.6's node1:\n{on306}\n--- api_test on hb's node2:\n{onhb}");
    for want in [
        "Cluster node: node1: status: active",
        "Cluster node: node2: status: active",
        "node node1: intf: eth1 ifstatus: up",
        "Current resource status:",
        "Parameter keepalive is [100ms]",
        "Sent ping request to cluster",
        "of type [ping] from [node1]",
        "of type [pingreply] from [node1]",
    ] {
        assert!(
            onhb.contains(want),
            "api_test against hb lacks {want:?}:\n{onhb}"
        );
    }
    // 3.0.6's api_test heard hb's.
    for want in [
        "of type [ping] from [node2]",
        "of type [pingreply] from [node2]",
    ] {
        assert!(
            on306.contains(want),
            "api_test against 3.0.6 lacks {want:?}:\n{on306}"
        );
    }
}

/// The daemon's log lines after `from`, with every number made `N` (pids differ).
fn lines_after(log: &str, from: usize, marker: &str) -> Vec<String> {
    log[from.min(log.len())..]
        .lines()
        .filter_map(|l| {
            l.split_once(marker)
                .map(|(_, rest)| format!("{marker}{rest}"))
        })
        .map(|l| {
            let mut out = String::new();
            let mut in_num = false;
            for ch in l.chars() {
                if ch.is_ascii_digit() {
                    if !in_num {
                        out.push('N');
                    }
                    in_num = true;
                } else {
                    in_num = false;
                    out.push(ch);
                }
            }
            out
        })
        .collect()
}

/// `apiauth` refusals, on 3.0.6's node1 and hb's node2 alike: a casual client of the wrong
/// user (`apiauth anon uid=root`: `cl_status` as nobody), a client of the wrong group
/// (`api_test` signs on as `ping`, allowed to group haclient only, run as root:root), and a
/// client with no `apiauth` line and no `default` (`dopd`). Each is refused with 3.0.6's log
/// lines and told so.
#[test]
fn apiauth_refusals_log_what_306_logs() {
    real_heartbeat();
    let c = pair("api-auth", [true, false], "apiauth anon uid=root\n");
    wait_cl(
        &c,
        &["nodestatus", "node2"],
        "active",
        Duration::from_secs(60),
    );
    c.wait_status(1, "seeing node1 active", Duration::from_secs(30), |v| {
        peer_state(v, "node1") == "active"
    });
    // The registration socket opens at comm-up: wait until root's cl_status gets in.
    for i in 0..2 {
        let start = Instant::now();
        while cl_status(&c, i, &["hbstatus"]).1 != 0 {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "node{} API",
                i + 1
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let from: Vec<usize> = (0..2).map(|i| c.nodes[i].log().len()).collect();
    let mut told = Vec::new();
    for i in 0..2 {
        let n = &c.nodes[i];
        let nobody = n
            .exec(&[
                "setpriv",
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                CL_STATUS,
                "hbstatus",
            ])
            .unwrap();
        let root_group = n
            .exec(&[
                "setpriv",
                "--regid=root",
                "--clear-groups",
                "timeout",
                "10",
                API_TEST,
            ])
            .unwrap();
        let dopd = n
            .exec(&["timeout", "10", "/usr/libexec/heartbeat/dopd"])
            .unwrap();
        told.push((
            String::from_utf8_lossy(&nobody.stdout).to_string(),
            nobody.status.code(),
            root_group.status.code(),
            dopd.status.code(),
        ));
    }
    std::thread::sleep(Duration::from_secs(1));
    let logs: Vec<Vec<String>> = (0..2)
        .map(|i| lines_after(&c.nodes[i].log(), from[i], "WARN: Client ["))
        .collect();
    let errors: Vec<Vec<String>> = (0..2)
        .map(|i| {
            lines_after(
                &c.nodes[i].log(),
                from[i],
                "ERROR: api_process_registration_msg",
            )
        })
        .collect();
    eprintln!(
        "3.0.6: {:?} {:?}\nhb: {:?} {:?}",
        logs[0], errors[0], logs[1], errors[1]
    );
    for want in [
        "WARN: Client [N] pid N failed authorization [client failed authorization]",
        "WARN: Client [ping] pid N failed authorization [client failed authorization]",
        "WARN: Client [dopd] pid N failed authorization [no default client auth]",
    ] {
        assert!(
            logs[0].iter().any(|l| l == want),
            "3.0.6 did not log {want:?}: {:?}",
            logs[0]
        );
        assert!(
            logs[1].iter().any(|l| l == want),
            "hb did not log {want:?}: {:?}",
            logs[1]
        );
    }
    assert_eq!(errors[0], errors[1], "the registration errors");
    assert_eq!(
        told[0], told[1],
        "what the refused programs said and their exit codes"
    );
    assert!(
        told[1].0.contains("refuses my connection"),
        "cl_status as nobody: {:?}",
        told[1]
    );
}

/// ipfail on an hb pair, built in (the default for a `respawn … ipfail` line) or the
/// package's program as an API client (`env HB_IPFAIL=external`): node1 holds the group and
/// loses its ping node; ipfail hands the group to node2, which still sees it.
fn ipfail_moves_the_group(external: bool) {
    real_heartbeat();
    let knob = if external {
        "env HB_IPFAIL=external\n"
    } else {
        ""
    };
    let extra = format!("respawn hacluster /usr/libexec/heartbeat/ipfail\n{knob}");
    let tag = if external { "api-ipf-x" } else { "api-ipf-b" };
    let c = pair(tag, [false; 2], &extra);
    c.both_up();
    let long = Duration::from_secs(60);
    wait_cl(&c, &["rscstatus"], "local", long);
    // ipfail is an online client on both nodes, the real one signed on or the built-in.
    for node in ["node1", "node2"] {
        wait_cl(&c, &["clientstatus", node, "ipfail"], "online", long);
    }
    let built_in = c.nodes[0].log().contains("ipfail runs built into hb");
    assert_eq!(built_in, !external, "{}", c.nodes[0].log());
    // Let ipfail settle (it waits for a stable cluster and counts the ping nodes).
    std::thread::sleep(Duration::from_secs(5));
    c.lab.link("a", "eth0", false).unwrap();
    let start = Instant::now();
    while cl_status(&c, 0, &["rscstatus"]).0.trim() != "none" {
        assert!(
            start.elapsed() < long,
            "node1 kept the group:\n{}\nnode2:\n{}",
            c.nodes[0].log(),
            c.nodes[1].log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    c.wait_status(1, "owning the group", long, |v| {
        v["groups"][0]["owner"] == "node2" && v["groups"][0]["state"] == "running"
    });
    let log = c.nodes[0].log();
    eprintln!("node1:\n{log}");
    if external {
        assert!(log.contains("API client ipfail asks to give up"), "{log}");
    }
}

#[test]
fn real_ipfail_as_an_api_client_moves_the_group_on_ping_loss() {
    ipfail_moves_the_group(true);
}

#[test]
fn built_in_ipfail_moves_the_group_on_ping_loss() {
    ipfail_moves_the_group(false);
}

/// `drbdadm` that only records its call (in the node's /etc/ha.d, which dopd, running as
/// hacluster, may write to).
const DRBDADM: &str = "#!/bin/sh\necho \"$@\" >> /etc/ha.d/drbdadm.calls\nexit 0\n";

/// A pair for DRBD's outdate-peer fencing: `respawn hacluster …/dopd` and its `apiauth` line
/// on both nodes, the stub `drbdadm` first on the daemons' PATH; node N is 3.0.6 if `real[N-1]`.
fn dopd_pair(tag: &str, real: [bool; 2]) -> Cluster {
    let lines = "logfile /var/log/ha-log\nrespawn hacluster /usr/libexec/heartbeat/dopd\n\
                 apiauth dopd gid=haclient uid=hacluster\n";
    wrapped_pair(tag, real, lines)
}

/// A pair whose daemons start after 3.0.6's /run preparation (the package's tmpfiles.d:
/// `/run/heartbeat/dopd`, `…/ccm`), with the stub `drbdadm` first on their PATH.
fn wrapped_pair(tag: &str, real306: [bool; 2], lines: &str) -> Cluster {
    let hb306 = real_heartbeat();
    let setup = Setup {
        extra: [lines.into(), lines.into()],
        timing: (100, 300, 1000),
        ..Setup::default()
    };
    let mut c = Cluster::build(tag, &setup);
    let path = "/etc/ha.d/stub-bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (i, &real) in real306.iter().enumerate() {
        let ha_d = c.nodes[i].etc().join("ha.d");
        std::fs::create_dir_all(ha_d.join("stub-bin")).unwrap();
        c.nodes[i]
            .write_config("stub-bin/drbdadm", DRBDADM, 0o755)
            .unwrap();
        c.nodes[i].write_config("drbdadm.calls", "", 0o666).unwrap();
        // dopd's socket directory, as the package's tmpfiles.d makes it; then the daemon.
        let hb = if real {
            copy_missing(Path::new("/etc/ha.d"), &ha_d);
            hb306.to_string()
        } else {
            bin("heartbeat").display().to_string()
        };
        let wrapper = format!("#!/bin/sh\n{PRELUDE}\nexport PATH={path}\nexec {hb} \"$@\"\n");
        std::fs::create_dir_all(ha_d.join("wrap")).unwrap();
        c.nodes[i]
            .write_config("wrap/heartbeat", &wrapper, 0o755)
            .unwrap();
        let script = ha_d.join("wrap/heartbeat");
        let mut n = std::mem::replace(&mut c.nodes[i], c.lab.node("spare", "a").unwrap());
        let r = if real {
            let s = script.display().to_string();
            c.lab
                .start_foreign(
                    &mut n,
                    "",
                    &[&s],
                    "heartbeat",
                    Duration::from_secs(20),
                    |_| true,
                )
                .map(|_| ())
        } else {
            c.lab.start(&mut n, &script, &[]).map(|_| ())
        };
        c.nodes[i] = n;
        r.unwrap_or_else(|e| panic!("node{}: {e}", i + 1));
    }
    c
}

/// node1's fence-peer handler asks node1's dopd, which asks node2's dopd through the cluster;
/// node2's runs `drbdadm outdate r0` and answers; the handler exits 4 ("peer outdated").
fn dopd_round_trip(tag: &str, real: [bool; 2]) {
    let c = dopd_pair(tag, real);
    let long = Duration::from_secs(60);
    wait_cl(&c, &["nodestatus", "node2"], "active", long);
    for node in ["node1", "node2"] {
        wait_cl(&c, &["clientstatus", node, "dopd"], "online", long);
    }
    let out = c.nodes[0]
        .exec(&[
            "/usr/libexec/heartbeat/drbd-peer-outdater",
            "-p",
            "node2",
            "-r",
            "r0",
            "-t",
            "8",
        ])
        .unwrap();
    let calls = std::fs::read_to_string(c.nodes[1].etc().join("ha.d/drbdadm.calls")).unwrap();
    eprintln!(
        "drbd-peer-outdater: {out:?}\nnode2's drbdadm calls: {calls:?}\nnode1:\n{}\nnode2:\n{}",
        c.nodes[0].log(),
        c.nodes[1].log()
    );
    assert_eq!(calls.trim(), "outdate r0");
    assert_eq!(out.status.code(), Some(4), "drbd-peer-outdater: {out:?}");
}

#[test]
fn dopd_outdates_the_peer_on_two_hb_nodes() {
    dopd_round_trip("api-dopd-hb", [false, false]);
}

#[test]
fn dopd_outdates_the_peer_from_a_306_node_through_hb() {
    dopd_round_trip("api-dopd-mx", [true, false]);
}

#[test]
fn dopd_on_hb_outdates_a_306_peer() {
    dopd_round_trip("api-dopd-xm", [false, true]);
}

/// The package's `ccm` as a respawned API client on both nodes (its built-in `apiauth ccm
/// uid=hacluster`), and `ccm_testclient` on node1 (hb) seeing both nodes in the membership;
/// node2 is 3.0.6 if `real2` (its ccm and hb's exchange membership messages through the cluster).
fn ccm_membership(tag: &str, real2: bool) {
    let lines = "logfile /var/log/ha-log\nrespawn hacluster /usr/libexec/heartbeat/ccm\n";
    let c = wrapped_pair(tag, [false, real2], lines);
    let long = Duration::from_secs(60);
    wait_cl(&c, &["nodestatus", "node2"], "active", long);
    for node in ["node1", "node2"] {
        wait_cl(&c, &["clientstatus", node, "ccm"], "online", long);
    }
    let script = "timeout -s INT 10 /usr/libexec/heartbeat/ccm_testclient >/run/ccm.out 2>&1 &";
    c.nodes[0].exec(&["sh", "-c", script]).unwrap();
    std::thread::sleep(Duration::from_secs(12));
    let out = c.nodes[0].exec(&["cat", "/run/ccm.out"]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!(
        "ccm_testclient:\n{text}\nnode1:\n{}\nnode2:\n{}",
        c.nodes[0].log(),
        c.nodes[1].log()
    );
    assert!(
        text.contains("nodes=2") && text.contains("uname=node2") && text.contains("uname=node1"),
        "{text}"
    );
}

#[test]
fn ccm_testclient_sees_the_membership_through_hb() {
    ccm_membership("api-ccm", false);
}

#[test]
fn ccm_testclient_sees_a_mixed_membership() {
    ccm_membership("api-ccm-mx", true);
}
