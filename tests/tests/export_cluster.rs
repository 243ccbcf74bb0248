//! The exported files run a real cluster (issue 15): two nodes in namespaces, with heartbeat's
//! configuration as the other namespace tests write it, go through `hbctl export pacemaker`;
//! Debian's `corosync` and `pacemakerd` then run from the exported corosync.conf, authkey and
//! cib.xml alone (started directly, no systemd), the group starts on its preferred node
//! (`crm_mon -1`), and when that node loses power (every process killed, links down) a client
//! probing the service address every 10 ms sees the other node answer.
//!
//! Root, corosync and pacemaker are needed; without them the test fails, never skips.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// heartbeat's timing for the export: deadtime 500 ms, hb's own failover figure's setting.
const TIMING: (u64, u64, u64) = (100, 300, 500);
/// Bounds the cluster's start: corosync's membership, Pacemaker's DC election (dc-deadtime
/// comes from initdead, 3 s in these ha.cf files) and the resources' start, on a loaded machine.
const START_WITHIN: Duration = Duration::from_secs(120);
/// Bounds the takeover (a loaded machine; Pacemaker's own recovery is well below this).
const FAILOVER_WITHIN: Duration = Duration::from_secs(60);

/// An LSB init script (exit codes as Pacemaker's lsb: class requires: `status` 0 running,
/// 3 stopped): the service on the VIP answering with the node's name.
fn init_script() -> String {
    format!(
        r#"#!/bin/sh
PIDF=/run/hbsvc.pid
running() {{ [ -f $PIDF ] && kill -0 "$(cat $PIDF)" 2>/dev/null; }}
case "$1" in
start)
    running && exit 0
    setsid '{hbctl}' demo-http --name "$(uname -n)" --listen "{VIP}:80" </dev/null >/dev/null 2>&1 &
    echo $! > $PIDF
    sleep 0.2
    running || exit 1 ;;
stop)
    running && kill "$(cat $PIDF)"
    rm -f $PIDF ;;
status)
    running || exit 3 ;;
*) exit 3 ;;
esac
exit 0
"#,
        hbctl = bin("hbctl").display()
    )
}

fn crm_mon(c: &Cluster, i: usize) -> String {
    let o = c.nodes[i].exec(&["crm_mon", "-1"]).unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn logs(c: &Cluster) -> String {
    let mut s = String::new();
    for n in &c.nodes {
        for f in ["log/pacemaker/pacemaker.log", "log/corosync.log"] {
            let text = std::fs::read_to_string(n.var().join(f)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            s.push_str(&format!("--- {} {f} (last lines, newest first)\n", n.name));
            s.push_str(&tail.join("\n"));
            s.push('\n');
        }
        s.push_str(&format!("--- {} stderr\n{}\n", n.name, n.stderr()));
    }
    s
}

#[test]
fn exported_files_run_a_pacemaker_cluster_that_fails_over() {
    let setup = Setup {
        media: [
            "ucast eth1 203.0.113.2\nucast eth0 198.51.100.2\nlogfile /var/log/ha-log".into(),
            "ucast eth1 203.0.113.1\nucast eth0 198.51.100.1".into(),
        ],
        lan: true,
        timing: TIMING,
        haresources: format!("node1 {VIP}/24/eth0 hbsvc\n"),
        ..Setup::default()
    };
    let mut c = Cluster::build("pcmk", &setup);

    // node1's own ha.cf names node2's addresses; node1's come from --node-addr.
    let out = c.lab.dir().join("export");
    let o = std::process::Command::new(bin("hbctl"))
        .args(["export", "pacemaker", "-c"])
        .arg(c.nodes[0].etc().join("ha.d"))
        .arg("--out")
        .arg(&out)
        .args(["--node-addr", "node1=203.0.113.1"])
        .args(["--node-addr", "node1=198.51.100.1"])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "export: {}{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
        std::fs::read_to_string(out.join("REPORT.txt")).unwrap_or_default()
    );

    // Each node gets the exported files and nothing else of the cluster: corosync's two
    // files, and the CIB where Pacemaker keeps it (owned by its user, as it writes it).
    for n in &c.nodes {
        let etc = n.etc().join("corosync");
        std::fs::create_dir_all(&etc).unwrap();
        for f in ["corosync.conf", "authkey"] {
            std::fs::copy(out.join(f), etc.join(f)).unwrap();
        }
        let init = n.etc().join("init.d");
        std::fs::create_dir_all(&init).unwrap();
        std::fs::write(init.join("hbsvc"), init_script()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(init.join("hbsvc"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let cib = n.var().join("lib/pacemaker/cib");
        std::fs::create_dir_all(&cib).unwrap();
        std::fs::copy(out.join("cib.xml"), cib.join("cib.xml")).unwrap();
    }
    // Both nodes' daemons have the same pids inside their PID namespaces, and libqb names its
    // shared-memory IPC files by pid: each node needs its own /dev/shm (and /tmp).
    let prelude = "mount -t tmpfs tmpfs /dev/shm; mount -t tmpfs tmpfs /tmp; mkdir -p /run/crm /var/log/pacemaker /var/lib/pacemaker/pengine \
                   /var/lib/pacemaker/blackbox /var/lib/pacemaker/cores; \
                   chown -R hacluster:haclient /var/lib/pacemaker /var/log/pacemaker /run/crm";
    for i in 0..2 {
        let mut n = std::mem::replace(&mut c.nodes[i], c.lab.node("spare", "a").unwrap());
        let r = c.lab.start_foreign(
            &mut n,
            prelude,
            &["sh", "-c", "corosync -f & exec pacemakerd -f"],
            "corosync",
            Duration::from_secs(30),
            |_| true,
        );
        c.nodes[i] = n;
        r.unwrap_or_else(|e| panic!("{e}"));
    }

    // The group starts on its preferred node.
    let started = Instant::now();
    loop {
        let mon = crm_mon(&c, 0);
        if mon.contains("lsb_hbsvc")
            && mon
                .lines()
                .any(|l| l.contains("lsb_hbsvc") && l.contains("Started node1"))
        {
            eprintln!(
                "cluster up, group on node1 after {:?}:\n{mon}",
                started.elapsed()
            );
            break;
        }
        assert!(
            started.elapsed() < START_WITHIN,
            "the group did not start on node1 within {START_WITHIN:?}; crm_mon -1:\n{mon}\n{}",
            logs(&c)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let p = Prober::start(&c);
    p.wait_for(
        "node1",
        Instant::now() - Duration::from_secs(1),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|| panic!("node1 does not answer on {VIP}\n{}", logs(&c)));

    // node1 loses power: its corosync (and all else) killed, its links cut.
    let fault = c.lab.power_off("a", &["eth0", "eth1"]).unwrap();
    let moved = p
        .wait_for("node2", fault, FAILOVER_WITHIN)
        .unwrap_or_else(|| {
            panic!(
                "node2 never answered on {VIP}; crm_mon -1 on node2:\n{}\n{}",
                crm_mon(&c, 1),
                logs(&c)
            )
        });
    // Pacemaker, too, sees the group started on node2 (its start may still be running when
    // the first answer comes).
    let since = Instant::now();
    loop {
        let mon = crm_mon(&c, 1);
        if mon
            .lines()
            .any(|l| l.contains("lsb_hbsvc") && l.contains("Started node2"))
        {
            break;
        }
        assert!(
            since.elapsed() < FAILOVER_WITHIN,
            "crm_mon -1 on node2:\n{mon}\n{}",
            logs(&c)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "failover (power-off of node1 → first answer from node2): {} ms; answers: {:?}",
        (moved - fault).as_millis(),
        p.answers(fault - Duration::from_millis(100), moved)
    );
}
