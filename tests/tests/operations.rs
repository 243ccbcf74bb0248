//! Operations (issue 16) on two real daemons in namespaces (hb_linux::lab): Debian's
//! `fence_dummy` (package fence-agents) as the STONITH device gating a takeover. Root; fails,
//! never skips, without it or without the package.

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

const GROUP: &str = "node1 198.51.100.80 hbsvc::198.51.100.80\n";

fn fenced_setup(node2_line: String) -> Setup {
    assert!(
        Path::new("/usr/sbin/fence_dummy").exists(),
        "/usr/sbin/fence_dummy missing: apt-get install fence-agents"
    );
    let mut s = Setup {
        lan: true,
        haresources: GROUP.into(),
        scripts: vec![("hbsvc".into(), service_script())],
        timing: (100, 300, 500),
        ..Setup::default()
    };
    s.extra[1] = node2_line;
    s
}

/// node2's device is fence_dummy: with a working one the group moves only after the agent
/// said the dead node is reset (its power file is `on` again after off); with one that never
/// sees the power go off (`type=fail`, bounded by pcmk_reboot_timeout) it never moves.
#[test]
fn fence_dummy_gates_the_takeover() {
    let dir = tempfile::tempdir().unwrap();
    let power = dir.path().join("node1.power");
    let line = format!(
        "stonith_host node2 fence_dummy status_file={} pcmk_host_list=node1",
        power.display()
    );
    let c = Cluster::new("fence-ok", &fenced_setup(line));
    let p = Prober::start(&c);
    p.wait_for("node1", Instant::now(), Duration::from_secs(30))
        .expect("node1 served");
    assert!(!power.exists(), "fenced before anything died");
    let cut = c.lab.power_off("a", &["eth0", "eth1"]).unwrap();
    p.wait_for("node2", cut, Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no takeover after a good fence:\n{}", c.nodes[1].log()));
    let log = c.nodes[1].log();
    let fenced = log
        .find("Resetting node node1 with [fence_dummy]")
        .unwrap_or_else(|| panic!("fence not logged:\n{log}"));
    let reset = log.find("node node1 now reset.").expect("reset logged");
    let taken = log
        .find("Taking over resource group")
        .expect("takeover logged");
    assert!(
        fenced < reset && reset < taken,
        "took over before the fence:\n{log}"
    );
    assert_eq!(std::fs::read_to_string(&power).unwrap(), "on");
    drop(p);
    drop(c);

    let line = "stonith_host node2 fence_dummy type=fail pcmk_reboot_timeout=1".to_string();
    let c = Cluster::new("fence-bad", &fenced_setup(line));
    let p = Prober::start(&c);
    p.wait_for("node1", Instant::now(), Duration::from_secs(30))
        .expect("node1 served");
    let cut = c.lab.power_off("a", &["eth0", "eth1"]).unwrap();
    c.wait_log(1, "node node1: is dead", Duration::from_secs(5));
    // Two failed tries and their retry at least.
    c.wait_log(
        1,
        "STONITH of node1 failed.  Retrying...",
        Duration::from_secs(15),
    );
    std::thread::sleep(Duration::from_secs(3));
    let seen = p.answers(cut, Instant::now());
    let log = c.nodes[1].log();
    assert!(
        !seen.iter().any(|a| a == "node2"),
        "took over without a fence: {seen:?}\n{log}"
    );
    assert!(log.contains("timed out after 1000 ms"), "{log}");
    assert!(log.contains("Host node1 not reset!"), "{log}");
}
