//! The exported files run a real cluster (issue 15): two nodes in namespaces, with heartbeat's
//! configuration as the other namespace tests write it, go through `hbctl export pacemaker`;
//! Debian's `corosync` and `pacemakerd` then run from the exported corosync.conf, authkey and
//! cib.xml alone (started directly, no systemd), the group starts on its preferred node
//! (`crm_mon -1`), and when that node loses power (every process killed, links down) a client
//! probing the service address every 10 ms sees the other node answer. With the relay board
//! as the STONITH device (`stonith_host * hbrelay`), Pacemaker first fences the lost node
//! through `fence_hbrelay`, and the relay (under QEMU) pulses that node's reset line.
//!
//! Root, corosync, pacemaker and (for the fencing test) QEMU are needed; without them the
//! tests fail, never skip.

mod common;
mod pcmk;

use common::*;
use pcmk::*;
use std::time::{Duration, Instant};

/// heartbeat's timing for the export: deadtime 500 ms, hb's own failover figure's setting.
const TIMING: (u64, u64, u64) = (100, 300, 500);

fn setup(extra: &str, auth: &'static str) -> Setup {
    Setup {
        media: [
            "ucast eth1 203.0.113.2\nucast eth0 198.51.100.2\nlogfile /var/log/ha-log".into(),
            "ucast eth1 203.0.113.1\nucast eth0 198.51.100.1\nlogfile /var/log/ha-log".into(),
        ],
        extra: [extra.to_string(), extra.to_string()],
        auth,
        lan: true,
        timing: TIMING,
        haresources: format!("node1 {VIP}/24/eth0 hbsvc\n"),
        ..Setup::default()
    }
}

/// node1's own ha.cf names node2's addresses; node1's come from --node-addr.
const NODE1_ADDRS: [&str; 4] = [
    "--node-addr",
    "node1=203.0.113.1",
    "--node-addr",
    "node1=198.51.100.1",
];

#[test]
fn exported_files_run_a_pacemaker_cluster_that_fails_over() {
    let mut c = Cluster::build("pcmk", &setup("", SHA1));
    let out = export(&c, &NODE1_ADDRS);
    let cib = std::fs::read_to_string(out.join("cib.xml")).unwrap();
    assert!(
        cib.contains("name=\"stonith-enabled\" value=\"false\""),
        "{cib}"
    );
    install(&c, &out);
    start(&mut c, "");

    let took = wait_started(&c, 0, "node1", START_WITHIN);
    eprintln!(
        "cluster up, group on node1 after {took:?}:\n{}",
        crm_mon(&c, 0)
    );
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
    wait_started(&c, 1, "node2", FAILOVER_WITHIN);
    eprintln!(
        "failover (power-off of node1 → first answer from node2): {} ms; answers: {:?}",
        (moved - fault).as_millis(),
        p.answers(fault - Duration::from_millis(100), moved)
    );
}

#[test]
fn pacemaker_fences_the_lost_node_through_the_relay_before_the_takeover() {
    let board = Board::start();
    // The relay's key is the cluster's key; each node's line is at the same path in its own
    // /etc (a symlink to its pty), as a udev name would be.
    let mut c = Cluster::build(
        "pcmkfence",
        &setup(
            // dc-deadtime 10 s: a node whose corosync starts late on a loaded machine is
            // still awaited, not fenced as never seen (Pacemaker's start-up fencing).
            "stonith_host * hbrelay /etc/hbrelay-tty node1=0 node2=1\ninitdead 10",
            relay_authkeys(),
        ),
    );
    for (n, tty) in c.nodes.iter().zip(&board.ttys) {
        std::os::unix::fs::symlink(tty, n.etc().join("hbrelay-tty")).unwrap();
    }
    let out = export(&c, &NODE1_ADDRS);
    let cib = std::fs::read_to_string(out.join("cib.xml")).unwrap();
    assert!(
        cib.contains("name=\"stonith-enabled\" value=\"true\""),
        "{cib}"
    );
    assert!(cib.contains("type=\"fence_hbrelay\""), "{cib}");
    install(&c, &out);
    // fence_hbrelay where Pacemaker looks for fence agents, in each node's own /usr/sbin.
    let lab = c.lab.dir().display().to_string();
    let agent = bin("fence_hbrelay").display().to_string();
    let prelude = format!(
        "u={lab}/usr-sbin-$(hostname); mkdir -p $u/upper $u/work; cp '{agent}' $u/upper/; \
         mount -t overlay overlay -o lowerdir=/usr/sbin,upperdir=$u/upper,workdir=$u/work /usr/sbin"
    );
    let booted = Instant::now();
    start(&mut c, &prelude);

    let took = wait_started(&c, 0, "node1", START_WITHIN);
    eprintln!(
        "cluster up, group on node1 after {took:?}:\n{}",
        crm_mon(&c, 0)
    );
    assert!(
        !board.seen(booted, |l| l.starts_with("RESET")),
        "a node was fenced at start-up:\n{}\n{}",
        board.log_text(),
        logs(&c)
    );
    let p = Prober::start(&c);
    p.wait_for(
        "node1",
        Instant::now() - Duration::from_secs(1),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|| panic!("node1 does not answer on {VIP}\n{}", logs(&c)));

    let fault = c.lab.power_off("a", &["eth0", "eth1"]).unwrap();
    let (fenced, _) = board
        .wait_log(fault, FAILOVER_WITHIN, |l| l.starts_with("RESET 0 ASSERT"))
        .unwrap_or_else(|| {
            panic!(
                "node1's reset line was never pulsed; relay log:\n{}\ncrm_mon -1 on node2:\n{}\n{}",
                board.log_text(),
                crm_mon(&c, 1),
                logs(&c)
            )
        });
    let moved = p
        .wait_for("node2", fault, FAILOVER_WITHIN)
        .unwrap_or_else(|| {
            panic!(
                "node2 never answered on {VIP}; crm_mon -1 on node2:\n{}\n{}",
                crm_mon(&c, 1),
                logs(&c)
            )
        });
    assert!(
        fenced < moved,
        "node2 took the service before node1 was fenced"
    );
    assert!(
        !board.seen(booted, |l| l.starts_with("RESET 1")),
        "{}",
        board.log_text()
    );
    wait_started(&c, 1, "node2", FAILOVER_WITHIN);
    eprintln!(
        "fenced after {} ms, failover (power-off of node1 → first answer from node2): {} ms",
        (fenced - fault).as_millis(),
        (moved - fault).as_millis()
    );
}
