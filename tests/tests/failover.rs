//! Failover for real (issue 5): the guide's test procedure with a client probing the service IP
//! every 10 ms, resource scripts that hang or fail, and STONITH gating the takeover. Two
//! daemons in namespaces (hb_linux::lab), a LAN with a client, a crossover cable and a serial
//! line. Root; fails, never skips, without it.

mod common;

use common::*;
use std::time::{Duration, Instant};

const GROUP: &str = "node1 198.51.100.80 hbsvc::198.51.100.80\n";

fn guide(auto_failback: &str) -> Setup {
    Setup {
        serial: true,
        lan: true,
        media: ["bcast eth1".into(), "bcast eth1".into()],
        extra: [
            format!("auto_failback {auto_failback}"),
            format!("auto_failback {auto_failback}"),
        ],
        haresources: GROUP.into(),
        scripts: vec![("hbsvc".into(), service_script())],
        timing: (100, 300, 500),
        ..Setup::default()
    }
}

/// The guide's procedure with `auto_failback on`: power-off failover, a pulled link that
/// moves nothing, hb_standby, and the preferred node's return moving the service back.
#[test]
fn guide_procedure_auto_failback_on() {
    let mut c = Cluster::new("guide-on", &guide("on"));
    let p = Prober::start(&c);
    let t0 = Instant::now();
    p.wait_for("node1", t0, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("node1 never served:\n{}", c.nodes[0].log()));

    // Power off node1 at a random phase of its heartbeat.
    std::thread::sleep(Duration::from_millis(300 + jitter(100)));
    let cut = c.lab.power_off("a", &["eth0", "eth1"]).unwrap();
    c.serial.as_ref().unwrap().set(false);
    let back = p
        .wait_for("node2", cut, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("node2 never took over:\n{}", c.nodes[1].log()));
    let gap = back.duration_since(cut).as_millis();
    // Reported, not bounded: how soon is a benchmark's question (BENCHMARKS.md), and a bound
    // here is one a loaded 2-core machine breaks; that node2 took over at all is the test.
    eprintln!("power-off failover: {gap} ms (deadtime 500 ms)");

    // node1 comes back (links up, daemon started): auto_failback on moves the service home.
    c.lab.power_on("a", &["eth0", "eth1"]).unwrap();
    c.serial.as_ref().unwrap().set(true);
    c.start(0);
    let returned = Instant::now();
    p.wait_for("node1", returned, Duration::from_secs(40))
        .unwrap_or_else(|| panic!("never failed back:\n{}", c.nodes[0].log()));
    eprintln!(
        "failback: {:?} after node1's restart; client saw {:?}",
        Instant::now().duration_since(returned),
        p.answers(returned, Instant::now())
    );

    // The private link pulled with the serial line up: nothing moves.
    let pulled = Instant::now();
    c.lab.link("a", "eth1", false).unwrap();
    c.wait_log(0, "Link node2:eth1 dead.", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(1000));
    let seen = p.answers(pulled, Instant::now());
    // A probe may go unanswered on a loaded machine ("-"); the service must not move.
    assert!(
        !seen.iter().any(|a| a == "node2"),
        "the service moved on a link failure: {seen:?}"
    );
    c.lab.link("a", "eth1", true).unwrap();

    // hb_standby on node1: node2 takes it.
    let out = c.hbctl(0, "hb_standby", &[]);
    assert!(out.status.success(), "{out:?}");
    let asked = Instant::now();
    p.wait_for("node2", asked, Duration::from_secs(15))
        .unwrap_or_else(|| panic!("hb_standby moved nothing:\n{}", c.nodes[0].log()));
    eprintln!(
        "hb_standby: service on node2 after {:?}",
        Instant::now().duration_since(asked)
    );
    c.wait_log(0, "Going standby [all].", Duration::from_secs(1));
}

/// `auto_failback off`: after its return the preferred node leaves the service where it is.
#[test]
fn returning_node_with_auto_failback_off_leaves_the_service() {
    let mut c = Cluster::new("guide-off", &guide("off"));
    let p = Prober::start(&c);
    p.wait_for("node1", Instant::now(), Duration::from_secs(30))
        .unwrap_or_else(|| panic!("node1 never served:\n{}", c.nodes[0].log()));
    let cut = c.lab.power_off("a", &["eth0", "eth1"]).unwrap();
    c.serial.as_ref().unwrap().set(false);
    p.wait_for("node2", cut, Duration::from_secs(10))
        .expect("node2 took over");
    c.lab.power_on("a", &["eth0", "eth1"]).unwrap();
    c.serial.as_ref().unwrap().set(true);
    c.start(0);
    let back = Instant::now();
    c.wait_status(0, "in the cluster again", Duration::from_secs(20), |v| {
        peer_state(v, "node2") == "active" && v["stable"] == true
    });
    std::thread::sleep(Duration::from_secs(2));
    let seen = p.answers(back, Instant::now());
    // A probe may go unanswered on a loaded machine ("-"); the service must stay on node2.
    assert!(
        !seen.iter().any(|a| a == "node1"),
        "the service moved back with auto_failback off: {seen:?}"
    );
    assert_eq!(c.owner(0).as_deref(), Some("node2"));
}

/// The nodes holding the service address now.
fn vip_holders(c: &Cluster) -> Vec<&'static str> {
    let mut out = Vec::new();
    for (i, name) in [(0, "node1"), (1, "node2")] {
        let o = c.nodes[i]
            .exec(&["ip", "-o", "-4", "addr", "show"])
            .unwrap();
        if String::from_utf8_lossy(&o.stdout).contains(&format!("{VIP}/")) {
            out.push(name);
        }
    }
    out
}

/// Issue 12: the only heartbeat medium pulled for 3 s, then put back. Both nodes take the
/// service during the split; once it heals, one node keeps it without stopping it (node1: it
/// is the preferred node, and it ran it before the split), the other stops its copy, and the
/// keeper announces the address again, so the client is served again at once.
fn split_of_the_only_medium_heals(auto_failback: &str) {
    let setup = Setup {
        serial: false,
        lan: true,
        media: ["bcast eth1".into(), "bcast eth1".into()],
        extra: [
            format!("auto_failback {auto_failback}"),
            format!("auto_failback {auto_failback}"),
        ],
        haresources: GROUP.into(),
        scripts: vec![("hbsvc".into(), service_script())],
        timing: (100, 300, 500),
        ..Setup::default()
    };
    let c = Cluster::new(&format!("heal-{auto_failback}"), &setup);
    let p = Prober::start(&c);
    p.wait_for("node1", Instant::now(), Duration::from_secs(40))
        .unwrap_or_else(|| panic!("node1 never served:\n{}", c.nodes[0].log()));
    c.wait_status(1, "node2 sees node1", Duration::from_secs(20), |v| {
        peer_state(v, "node1") == "active" && v["stable"] == true
    });

    let pulled = Instant::now();
    c.lab.link("a", "eth1", false).unwrap();
    // The split: node2 declares node1 dead and starts the service too.
    let both = Instant::now();
    while vip_holders(&c).len() < 2 {
        assert!(
            both.elapsed() < Duration::from_secs(10),
            "node2 never took over during the split:\n{}",
            c.nodes[1].log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(3).saturating_sub(pulled.elapsed()));
    c.lab.link("a", "eth1", true).unwrap();
    let healed = Instant::now();
    eprintln!(
        "during the split the client saw {:?}",
        p.answers(pulled, healed)
    );

    // One owner again within 2 s (polled; the bound is the issue's).
    let one = loop {
        let h = vip_holders(&c);
        if h == ["node1"] {
            break Instant::now();
        }
        assert!(
            healed.elapsed() < Duration::from_secs(10),
            "still held by {h:?} 10 s after the heal:\n{}\n{}",
            c.nodes[0].log(),
            c.nodes[1].log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_secs(5));
    let end = Instant::now();
    let owner_after = one.duration_since(healed);
    let gap = p.longest_silence(healed, end);
    eprintln!(
        "auto_failback {auto_failback}: one owner {owner_after:?} after the heal, longest \
         client gap after it {gap:?}; client saw {:?}",
        p.answers(healed, end)
    );
    assert!(
        owner_after <= Duration::from_secs(2),
        "one owner only after {owner_after:?}"
    );
    assert!(
        gap <= Duration::from_secs(1),
        "the client went unanswered for {gap:?} after the heal: {:?}\n{}\n{}",
        p.answers(healed, end),
        c.nodes[0].log(),
        c.nodes[1].log()
    );
    assert_eq!(vip_holders(&c), ["node1"]);
    // A probe may go unanswered on a loaded machine ("-"); only node1 answers.
    let last = p.answers(end - Duration::from_secs(1), end);
    assert!(
        last.contains(&"node1".to_string()) && !last.contains(&"node2".to_string()),
        "{last:?}"
    );
    // Settled without a restart (3.0.6 restarts both daemons).
    c.wait_log(
        1,
        "Partition healed: node1 keeps resource group",
        Duration::from_secs(1),
    );
    assert!(!c.nodes[0].log().contains("Heartbeat restart"));
}

#[test]
fn a_healed_split_keeps_the_service_up_auto_failback_on() {
    split_of_the_only_medium_heals("on");
}

#[test]
fn a_healed_split_keeps_the_service_up_auto_failback_off() {
    split_of_the_only_medium_heals("off");
}

fn script_setup(scripts: Vec<(String, String)>, haresources: &str) -> Setup {
    Setup {
        haresources: haresources.into(),
        scripts,
        ..Setup::default()
    }
}

/// A start that fails: the group is stopped again (right to left) and nobody holds it half
/// started; the log says which resource failed.
#[test]
fn a_failing_start_leaves_nothing_half_started() {
    let rec = "/run/calls";
    let ok = format!(
        "#!/bin/sh\necho \"ok $1 $2\" >> {rec}\n[ \"$2\" = status ] && echo stopped\nexit 0\n"
    );
    let bad = format!(
        "#!/bin/sh\necho \"bad $1 $2\" >> {rec}\ncase \"$2\" in start) exit 1;; status) echo stopped;; esac\nexit 0\n"
    );
    let c = Cluster::new(
        "failstart",
        &script_setup(
            vec![("okrsc".into(), ok), ("badrsc".into(), bad)],
            "node1 okrsc::a badrsc::b okrsc::c\n",
        ),
    );
    c.wait_log(
        0,
        "Giving up resources due to failure of badrsc::b",
        Duration::from_secs(30),
    );
    c.wait_log(0, "Releasing resource group:", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(500));
    let out = c.nodes[0].exec(&["cat", rec]).unwrap();
    let calls = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = calls.lines().filter(|l| !l.ends_with("status")).collect();
    assert_eq!(
        &lines[..5],
        &[
            "ok a start",
            "bad b start",
            "ok c stop",
            "bad b stop",
            "ok a stop"
        ],
        "{calls}"
    );
    let v = c.status(0);
    assert_ne!(v["groups"][0]["state"], "running", "{v:#}");
}

/// A start that hangs is killed after its timeout; meanwhile heartbeats keep leaving on time
/// (the peer sees no late heartbeat).
#[test]
fn a_hung_script_is_killed_and_heartbeats_go_on() {
    // Called as `hang OP` (no arguments in haresources).
    let hang = "#!/bin/sh\n[ \"$1\" = status ] && { echo stopped; exit 0; }\n[ \"$1\" = start ] && exec sleep 1000\nexit 0\n".to_string();
    let mut setup = script_setup(vec![("hang".into(), hang)], "node1 hang\n");
    // The start timeout, shortened for the test through the daemon's environment.
    setup.extra[0] = "env HB_START_TIMEOUT=3".into();
    setup.extra[1] = "env HB_START_TIMEOUT=3".into();
    let c = Cluster::new("hang", &setup);
    c.wait_log(
        0,
        "Acquiring resource group: node1 hang",
        Duration::from_secs(30),
    );
    let hung = Instant::now();
    c.wait_log(
        0,
        "Giving up resources due to failure of hang",
        Duration::from_secs(20),
    );
    let took = hung.elapsed();
    eprintln!("hung start ended after {took:?}");
    // SIGTERM ends it at the 3 s timeout (the daemon's blocked signals must not reach it).
    assert!(took < Duration::from_millis(4500), "took {took:?}");
    for n in &c.nodes {
        assert!(
            !n.log().contains("Late heartbeat"),
            "{}:\n{}",
            n.name,
            n.log()
        );
    }
    assert_eq!(peer_state(&c.status(1), "node1"), "active");
}

/// With `stonith_host * null node1` on node2 (it can reset node1) and no device able to
/// reset it on a second try… the survivor takes the group only after a fence succeeded; with
/// a device that cannot reset the dead node, it never takes it.
#[test]
fn stonith_gates_the_takeover() {
    let svc = service_script();
    // node2 may reset node1 with the null device; the group must wait for that.
    let mut ok = Setup {
        lan: true,
        haresources: GROUP.into(),
        scripts: vec![("hbsvc".into(), svc.clone())],
        timing: (100, 300, 500),
        ..Setup::default()
    };
    ok.extra[1] = "stonith_host * null node1".into();
    ok.extra[0] = "stonith_host * null node2".into();
    let c = Cluster::new("stonith-ok", &ok);
    let p = Prober::start(&c);
    p.wait_for("node1", Instant::now(), Duration::from_secs(30))
        .expect("node1 served");
    let cut = c.lab.power_off("a", &["eth0", "eth1"]).unwrap();
    p.wait_for("node2", cut, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no takeover after a good fence:\n{}", c.nodes[1].log()));
    let log = c.nodes[1].log();
    let fenced = log.find("node node1 now reset.").expect("fence logged");
    let taken = log
        .find("Taking over resource group")
        .expect("takeover logged");
    assert!(fenced < taken, "took over before the fence:\n{log}");
    drop(p);
    drop(c);

    // The device can reset only a node that does not exist: every fence fails, and the
    // group stays down however long we wait.
    let mut bad = Setup {
        lan: true,
        haresources: GROUP.into(),
        scripts: vec![("hbsvc".into(), svc)],
        timing: (100, 300, 500),
        ..Setup::default()
    };
    bad.extra[1] = "stonith_host * null node9".into();
    bad.extra[0] = "stonith_host * null node9".into();
    let c = Cluster::new("stonith-bad", &bad);
    let p = Prober::start(&c);
    p.wait_for("node1", Instant::now(), Duration::from_secs(30))
        .expect("node1 served");
    let cut = c.lab.power_off("a", &["eth0", "eth1"]).unwrap();
    c.wait_log(1, "node node1: is dead", Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(3));
    let seen = p.answers(cut, Instant::now());
    assert!(
        !seen.iter().any(|a| a == "node2"),
        "took over without a fence: {seen:?}\n{}",
        c.nodes[1].log()
    );
    assert!(
        c.nodes[1].log().contains("not reset"),
        "{}",
        c.nodes[1].log()
    );
}

/// Ping nodes and ipfail (built in, enabled by 3.0.6's `respawn … ipfail` line): node1 loses
/// its way to the router while the heartbeat link stays up; it sees fewer ping nodes than
/// node2 and gives the service away.
#[test]
fn ipfail_moves_the_service_to_the_better_connected_node() {
    let line =
        "ping 198.51.100.254\nrespawn root /usr/lib/heartbeat/ipfail\ndeadping 1".to_string();
    let setup = Setup {
        lan: true,
        haresources: GROUP.into(),
        scripts: vec![("hbsvc".into(), service_script())],
        timing: (100, 300, 500),
        extra: [line.clone(), line],
        ..Setup::default()
    };
    let c = Cluster::new("ipfail", &setup);
    let p = Prober::start(&c);
    p.wait_for("node1", Instant::now(), Duration::from_secs(30))
        .unwrap_or_else(|| panic!("node1 never served:\n{}", c.nodes[0].log()));
    for i in 0..2 {
        c.wait_status(i, "seeing the router", Duration::from_secs(10), |v| {
            peer_state(v, "198.51.100.254") == "ping"
        });
    }
    // node1's LAN port goes down: no router, no clients; the crossover keeps the heartbeat.
    let cut = Instant::now();
    c.lab.link("lan", "p1", false).unwrap();
    let moved = p
        .wait_for("node2", cut, Duration::from_secs(20))
        .unwrap_or_else(|| {
            panic!(
                "ipfail moved nothing:\n{}\n---\n{}",
                c.nodes[0].log(),
                c.nodes[1].log()
            )
        });
    eprintln!(
        "ipfail: service on node2 {} ms after node1 lost the router",
        moved.duration_since(cut).as_millis()
    );
    assert_eq!(
        peer_state(&c.status(1), "node1"),
        "active",
        "node1 must stay a member"
    );
    let log = c.nodes[0].log();
    assert!(
        log.contains("less visible ping nodes") || log.contains("less ping nodes"),
        "{log}"
    );
}

/// Resource monitoring (hb's addition, off by default): a service that dies is restarted in
/// place after its failed checks, and after the allowed restarts the group goes to the peer.
#[test]
fn monitoring_restarts_a_dead_service_then_moves_it() {
    let knobs =
        "env HB_MONITOR_INTERVAL=300ms\nenv HB_MONITOR_FAILURES=2\nenv HB_MONITOR_RESTARTS=1"
            .to_string();
    let setup = Setup {
        lan: true,
        haresources: GROUP.into(),
        scripts: vec![("hbsvc".into(), service_script())],
        timing: (100, 300, 500),
        extra: [knobs.clone(), knobs],
        ..Setup::default()
    };
    let c = Cluster::new("monitor", &setup);
    let p = Prober::start(&c);
    p.wait_for("node1", Instant::now(), Duration::from_secs(30))
        .unwrap_or_else(|| panic!("node1 never served:\n{}", c.nodes[0].log()));
    let kill_service = || {
        let out = c.nodes[0]
            .exec(&["sh", "-c", "kill $(cat /run/hbsvc.pid)"])
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        Instant::now()
    };

    let killed = kill_service();
    c.wait_log(
        0,
        "Restarting resource group 198.51.100.80 in place (restart 1/1).",
        Duration::from_secs(5),
    );
    let back = p
        .wait_for(
            "node1",
            killed + Duration::from_millis(50),
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("not restarted:\n{}", c.nodes[0].log()));
    eprintln!(
        "service restarted in place {} ms after it died",
        back.duration_since(killed).as_millis()
    );
    assert!(p.answers(killed, back).iter().all(|a| a != "node2"));

    let killed = kill_service();
    let moved = p
        .wait_for("node2", killed, Duration::from_secs(15))
        .unwrap_or_else(|| panic!("not moved:\n{}", c.nodes[0].log()));
    eprintln!(
        "service moved to node2 {} ms after it died again",
        moved.duration_since(killed).as_millis()
    );
    assert!(c.nodes[0]
        .log()
        .contains("still fails after 1 restarts: giving it to the other node."));
}

/// A stop that fails (spec-behaviour §2.5): retried; if the resource then says it stopped,
/// the release goes on with heartbeat's warnings; if it still runs, the node reboots — here
/// its PID namespace, which the lab gives every daemon — and the peer takes over.
#[test]
fn a_failing_stop_is_retried_then_reboots_the_node() {
    // `stuck OP`: start works; stop always fails; status says what /run/stuck-state says.
    let stuck = "#!/bin/sh\ncase \"$1\" in\nstart) echo running > /run/stuck-state; exit 0;;\n\
                 stop) exit 1;;\nstatus) cat /run/stuck-state 2>/dev/null || echo stopped; exit 0;;\nesac\n"
        .to_string();
    let knobs = "env STOPRETRYMAX=1".to_string();
    let setup = Setup {
        haresources: "node1 stuck\n".into(),
        scripts: vec![("stuck".into(), stuck)],
        extra: [knobs.clone(), knobs],
        ..Setup::default()
    };
    let c = Cluster::new("failstop", &setup);
    c.wait_status(0, "running its group", Duration::from_secs(30), |v| {
        v["groups"][0]["state"] == "running" && v["groups"][0]["owner"] == "node1"
    });
    // Before anything can reboot: the daemon must be in a PID namespace of its own, so that a
    // reboot ends that namespace and never the machine running the tests.
    let pid = c.nodes[0].pid.unwrap();
    let ours = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let its = std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    assert_ne!(
        ours, its,
        "the daemon shares our PID namespace: not rebooting it"
    );

    let out = c.hbctl(0, "hb_standby", &[]);
    assert!(out.status.success(), "{out:?}");
    c.wait_log(
        0,
        "Retrying failed stop operation [stuck]",
        Duration::from_secs(15),
    );
    c.wait_log(
        0,
        "Resource STOP failure. Reboot required!",
        Duration::from_secs(10),
    );
    let start = Instant::now();
    while !c.nodes[0].exited() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "node1 did not reboot"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = c.nodes[0].log();
    assert_eq!(log.matches("Reboot required!").count(), 1, "{log}");
    assert!(log.contains("Killing heartbeat ungracefully!"), "{log}");
    assert!(!log.contains("Unable to force reboot"), "{log}");
    c.wait_log(1, "node node1: is dead", Duration::from_secs(5));
    c.wait_status(1, "holding the group", Duration::from_secs(15), |v| {
        v["groups"][0]["owner"] == "node2" && v["groups"][0]["state"] == "running"
    });
}

/// Keepalives leave on time while a resource script runs for a whole minute (the worker runs
/// it; the heartbeat loop never waits), and the group then runs.
#[test]
fn a_minute_long_start_costs_no_heartbeat() {
    // `slow OP`: start takes 60 s, then the resource runs.
    let slow = "#!/bin/sh\ncase \"$1\" in\nstart) sleep 60; echo running > /run/slow-state;;\n\
                status) cat /run/slow-state 2>/dev/null || echo stopped;;\nesac\nexit 0\n"
        .to_string();
    let knobs = "env HB_START_TIMEOUT=120".to_string();
    let setup = Setup {
        haresources: "node1 slow\n".into(),
        scripts: vec![("slow".into(), slow)],
        extra: [knobs.clone(), knobs],
        timing: (100, 400, 800),
        ..Setup::default()
    };
    let c = Cluster::new("slow", &setup);
    c.wait_log(
        0,
        "Running /etc/ha.d/resource.d/slow start",
        Duration::from_secs(30),
    );
    let started = Instant::now();
    // Meanwhile both nodes stay members and see each other's heartbeats on time.
    while started.elapsed() < Duration::from_secs(55) {
        for i in 0..2 {
            let peer = ["node2", "node1"][i];
            let v = c.status(i);
            assert_eq!(peer_state(&v, peer), "active", "{v:#}");
            // warntime is 400 ms: every gap between heartbeats stayed below it.
            let worst = v["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["name"] == peer)
                .and_then(|n| n["worst_gap_ms"].as_u64())
                .unwrap();
            assert!(worst < 400, "{peer}'s worst gap {worst} ms");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    c.wait_status(0, "running the slow group", Duration::from_secs(20), |v| {
        v["groups"][0]["state"] == "running" && v["groups"][0]["owner"] == "node1"
    });
    eprintln!("slow start done after {:?}", started.elapsed());
    for n in &c.nodes {
        assert!(
            !n.log().contains("Late heartbeat"),
            "{}:\n{}",
            n.name,
            n.log()
        );
    }
}
