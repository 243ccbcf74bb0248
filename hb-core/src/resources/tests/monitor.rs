//! Resource monitoring: checks on the group's timer, restarts in place, the give-away.

use super::*;
use crate::config::HaCf;

fn cf(extra: &str) -> HaCf {
    let text = std::format!("node node1 node2\nbcast eth0\nauto_failback on\nlogfile /l\n{extra}");
    HaCf::parse(&text, &mut |e| {
        if e.severity() == crate::config::Severity::Error {
            panic!("{e}")
        }
    })
    .unwrap()
}

const EVERY_5S: MonitorConfig = MonitorConfig {
    interval: Duration::from_secs(5),
    failures: 2,
    restarts: 1,
};

fn monitored(cfg: MonitorConfig) -> Resources<4, 4> {
    let mut m = stable_node1(AutoFailback::On);
    m.set_monitor(Some(cfg));
    // The watch of a running group starts at the next input.
    m.handle_timeout(at(10));
    m
}

fn requests(m: &mut Resources<4, 4>) -> Vec<MonitorRequest> {
    let mut out = Vec::new();
    while let Some(r) = m.poll_monitor() {
        out.push(r);
    }
    out
}

fn fail_check(m: &mut Resources<4, 4>, now: u64) {
    m.handle_timeout(at(now));
    assert_eq!(requests(m), [MonitorRequest::Check(G1)]);
    m.handle_monitor_result(
        at(now),
        MonitorResult::Checked {
            group: G1,
            running: false,
        },
    );
}

#[test]
fn settings_come_from_ha_cf_env_lines() {
    assert_eq!(MonitorConfig::from_hacf(&cf("")), None);
    let on = MonitorConfig::from_hacf(&cf("env HB_MONITOR_INTERVAL=5\n")).unwrap();
    assert_eq!(
        on,
        MonitorConfig {
            interval: Duration::from_secs(5),
            failures: DEFAULT_MONITOR_FAILURES,
            restarts: DEFAULT_MONITOR_RESTARTS,
        }
    );
    assert_eq!(
        on.to_string(),
        "Resource monitoring: every 5000 ms; restart after 3 failed checks, at most 2 restarts before standby"
    );
    let ms = MonitorConfig::from_hacf(&cf(
        "env HB_MONITOR_INTERVAL=250ms\nenv HB_MONITOR_FAILURES=0\nenv HB_MONITOR_RESTARTS=5\n",
    ))
    .unwrap();
    assert_eq!(ms.interval, Duration::from_millis(250));
    // At least one failed check before a restart.
    assert_eq!((ms.failures, ms.restarts), (1, 5));
    // Counts that do not parse are their defaults; an interval that does not, or 0, is off.
    let bad = MonitorConfig::from_hacf(&cf(
        "env HB_MONITOR_INTERVAL=1\nenv HB_MONITOR_FAILURES=x\nenv HB_MONITOR_RESTARTS=-1\n",
    ))
    .unwrap();
    assert_eq!((bad.failures, bad.restarts), (3, 2));
    for off in ["0", "0ms", "soon", "5s", "-1"] {
        let line = std::format!("env HB_MONITOR_INTERVAL={off}\n");
        assert_eq!(MonitorConfig::from_hacf(&cf(&line)), None, "{off}");
    }
}

#[test]
fn off_unless_configured() {
    let mut m = stable_node1(AutoFailback::On);
    m.handle_timeout(at(1_000_000));
    assert_eq!(m.monitor(), None);
    assert_eq!(requests(&mut m), []);
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn a_running_group_is_checked_on_its_timer() {
    let mut m = monitored(EVERY_5S);
    // Only the group running here (node2's group runs there).
    assert_eq!(m.poll_timeout(), Some(at(5_010)));
    m.handle_timeout(at(5_009));
    assert_eq!(requests(&mut m), []);
    m.handle_timeout(at(5_010));
    assert_eq!(requests(&mut m), [MonitorRequest::Check(G1)]);
    // One check at a time: while it is out, its group has no deadline and asks nothing.
    assert_eq!(m.poll_timeout(), None);
    m.handle_timeout(at(5_500));
    assert_eq!(requests(&mut m), []);
    m.handle_monitor_result(
        at(6_000),
        MonitorResult::Checked {
            group: G1,
            running: true,
        },
    );
    assert_eq!(logs(&mut m), [] as [String; 0]);
    // The interval counts from the start of the last check.
    assert_eq!(m.poll_timeout(), Some(at(10_010)));
    assert!(messages(&mut m).is_empty() && actions(&mut m).is_empty());
    // A check that came due while the last one was out is asked for as soon as it reports.
    m.handle_timeout(at(10_010));
    assert_eq!(requests(&mut m), [MonitorRequest::Check(G1)]);
    m.handle_timeout(at(30_000));
    m.handle_monitor_result(
        at(30_000),
        MonitorResult::Checked {
            group: G1,
            running: true,
        },
    );
    assert_eq!(requests(&mut m), [MonitorRequest::Check(G1)]);
}

#[test]
fn failed_checks_restart_in_place_then_give_the_group_away() {
    let mut m = monitored(EVERY_5S);
    fail_check(&mut m, 5_010);
    assert_eq!(
        logs(&mut m),
        ["WARN: Resource group IPaddr2::10.0.0.1/24/eth0 failed its status check (1/2)."]
    );
    assert_eq!(requests(&mut m), []);
    fail_check(&mut m, 10_010);
    assert_eq!(
        logs(&mut m),
        [
            "WARN: Resource group IPaddr2::10.0.0.1/24/eth0 failed its status check (2/2).",
            "WARN: Restarting resource group IPaddr2::10.0.0.1/24/eth0 in place (restart 1/1)."
        ]
    );
    assert_eq!(requests(&mut m), [MonitorRequest::Restart(G1)]);
    // No check while the restart is out.
    m.handle_timeout(at(30_000));
    assert_eq!(requests(&mut m), []);
    m.handle_monitor_result(
        at(30_000),
        MonitorResult::Restarted {
            group: G1,
            running: true,
        },
    );
    assert_eq!(
        logs(&mut m),
        ["info: Resource group IPaddr2::10.0.0.1/24/eth0 restarted in place."]
    );
    // The restart counts for good: the next two failures give the group away.
    fail_check(&mut m, 30_000);
    fail_check(&mut m, 35_000);
    assert_eq!(
        logs(&mut m),
        [
            "WARN: Resource group IPaddr2::10.0.0.1/24/eth0 failed its status check (1/2).",
            "WARN: Resource group IPaddr2::10.0.0.1/24/eth0 failed its status check (2/2).",
            "CRIT: Resource group IPaddr2::10.0.0.1/24/eth0 still fails after 1 restarts: giving it to the other node.",
            "info: Going standby [local].",
            "info: node1 wants to go standby [local]",
        ]
    );
    // hb_standby of the set the group belongs to (node1's own: local), from our side.
    assert_eq!(
        messages(&mut m),
        ["t=ask_resources rsc_hold=local info=me hb_sbid=1"]
    );
    assert_eq!(m.standby_state(), StandbyState::Me);
    assert!(actions(&mut m).is_empty());
}

#[test]
fn a_failed_restart_counts_as_failed_checks() {
    let mut m = monitored(MonitorConfig {
        failures: 3,
        restarts: 2,
        ..EVERY_5S
    });
    for t in [5_010, 10_010, 15_010] {
        fail_check(&mut m, t);
    }
    assert_eq!(requests(&mut m), [MonitorRequest::Restart(G1)]);
    logs(&mut m);
    m.handle_monitor_result(
        at(16_000),
        MonitorResult::Restarted {
            group: G1,
            running: false,
        },
    );
    assert_eq!(
        logs(&mut m),
        ["ERROR: Restart of resource group IPaddr2::10.0.0.1/24/eth0 failed."]
    );
    // One more failed check is the third in a row: the second restart.
    fail_check(&mut m, 20_010);
    assert_eq!(requests(&mut m), [MonitorRequest::Restart(G1)]);
    assert_eq!(
        logs(&mut m)[1],
        "WARN: Restarting resource group IPaddr2::10.0.0.1/24/eth0 in place (restart 2/2)."
    );
}

#[test]
fn a_passing_check_clears_the_failures() {
    let mut m = monitored(EVERY_5S);
    fail_check(&mut m, 5_010);
    m.handle_timeout(at(10_010));
    assert_eq!(requests(&mut m), [MonitorRequest::Check(G1)]);
    m.handle_monitor_result(
        at(10_010),
        MonitorResult::Checked {
            group: G1,
            running: true,
        },
    );
    fail_check(&mut m, 15_010);
    assert_eq!(
        logs(&mut m).last().map(String::as_str),
        Some("WARN: Resource group IPaddr2::10.0.0.1/24/eth0 failed its status check (1/2).")
    );
    assert_eq!(requests(&mut m), []);
}

#[test]
fn checks_wait_while_the_cluster_is_unstable() {
    let mut m = monitored(EVERY_5S);
    // The peer is in transition: nothing is checked, and the check is no deadline.
    m.handle_message(at(1_000), NODE2, &held(RscSet::LOCAL, false));
    assert!(!m.is_stable());
    assert_eq!(m.poll_timeout(), None);
    m.handle_timeout(at(9_000));
    assert_eq!(requests(&mut m), []);
    // Stable again: the check that came due meanwhile is asked for at once.
    m.handle_message(at(9_500), NODE2, &held(RscSet::LOCAL, true));
    assert!(m.is_stable());
    assert_eq!(requests(&mut m), [MonitorRequest::Check(G1)]);
}

#[test]
fn a_check_of_a_group_that_no_longer_runs_here_is_no_failure() {
    let mut m = monitored(EVERY_5S);
    m.handle_timeout(at(5_010));
    assert_eq!(requests(&mut m), [MonitorRequest::Check(G1)]);
    // Shut down meanwhile: the group is released before the check reports.
    m.handle_command(at(5_100), Command::Shutdown).unwrap();
    for a in actions(&mut m) {
        if let Action::Release(group) = a {
            m.handle_action_done(at(5_200), ActionDone::Released { group, ok: true });
        }
    }
    assert_ne!(m.group_state(G1), GroupState::Running);
    logs(&mut m);
    m.handle_monitor_result(
        at(5_300),
        MonitorResult::Checked {
            group: G1,
            running: false,
        },
    );
    assert_eq!(logs(&mut m), [] as [String; 0]);
    assert_eq!(requests(&mut m), []);
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn monitoring_log_texts() {
    let m = machine("node1", AutoFailback::On, false);
    let line = |msg| {
        let l = m.log_line(msg);
        std::format!("{}: {}", l.level().as_str(), l)
    };
    assert_eq!(
        line(LogMsg::MonitorStandbyRefused(G2)),
        "ERROR: standby for resource group 10.0.0.2 refused: standby and takeover are only \
         implemented for two-node clusters"
    );
    assert_eq!(
        line(LogMsg::MonitorGivingAway {
            group: G2,
            restarts: 2
        }),
        "CRIT: Resource group 10.0.0.2 still fails after 2 restarts: giving it to the other node."
    );
}

#[test]
fn a_check_out_keeps_monitoring_busy_until_its_result() {
    let mut m = monitored(EVERY_5S);
    assert!(!m.monitor_busy());
    m.handle_timeout(at(5010));
    // Asked for, not yet taken by the daemon: busy already.
    assert!(m.monitor_busy());
    assert_eq!(requests(&mut m), [MonitorRequest::Check(G1)]);
    assert!(m.monitor_busy());
    m.handle_monitor_result(
        at(5020),
        MonitorResult::Checked {
            group: G1,
            running: true,
        },
    );
    assert!(!m.monitor_busy());
}
