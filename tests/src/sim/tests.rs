//! Hand-made scenarios for ipfail, stalls and key rotation, and the checks that catch them
//! going wrong.

use hb_core::auth::Method;
use hb_core::config::AutoFailback;

use super::{run_with, Options, Outcome, Sabotage};
use crate::scenario::{Fault, LinkParams, MediumKind, Scenario};

/// A quiet two-node cluster with a ping node and ipfail (clean network, quick actions, no
/// random failures), and the given faults.
fn pair_with_ping(auto_failback: AutoFailback, faults: Vec<(u64, Fault)>) -> Scenario {
    let mut sc = Scenario::generate(1);
    sc.nodes = 2;
    sc.media = vec![MediumKind::Bcast];
    sc.auto_failback = auto_failback;
    sc.stonith = false;
    sc.groups = vec![0, 1];
    sc.keepalive = 200;
    sc.deadtime = 1000;
    sc.warntime = 750;
    sc.initdead = 2000;
    sc.key_rotation = None;
    sc.ping_nodes = 1;
    sc.ipfail = true;
    sc.links = vec![
        LinkParams {
            loss: 0,
            delay: 2,
            jitter: 1,
            dup: 0,
            corrupt: 0
        };
        4
    ];
    sc.start_at = vec![0, 100];
    sc.faults = faults;
    sc.fault_end = 50_000;
    sc.end = 70_000;
    sc.action_delay = vec![50, 50];
    sc.action_jitter = 10;
    sc.slow_permille = 0;
    sc.acquire_fail = 0;
    sc.release_fail = 0;
    sc.fence_delay = 300;
    sc.fence_fail = 0;
    sc.monitoring = None;
    sc
}

fn run_it(sc: &Scenario, sabotage: Option<Sabotage>) -> Outcome {
    run_with(
        sc,
        Options {
            timeline: true,
            statuses: false,
            sabotage,
        },
    )
}

#[test]
fn the_node_that_loses_its_ping_node_hands_over_and_gets_its_group_back() {
    let loss = Fault::PingLoss {
        node: 0,
        ping: 0,
        restore_after: 10_000,
    };
    let out = run_it(
        &pair_with_ping(AutoFailback::On, vec![(20_000, loss)]),
        None,
    );
    assert!(out.passed(), "{:?}", out.violations);
    // node1 gives everything away, node2 gives node1's group back when the ping returns.
    assert_eq!(out.stats.ipfail_giveups, 2, "{:#?}", out.timeline);
    let lines = |pat: &str| out.timeline.iter().filter(|l| l.contains(pat)).count();
    assert_eq!(
        lines("node1: ipfail: Giving up because we were told that we have less ping nodes."),
        1
    );
    assert_eq!(
        lines("node2: ipfail: Giving up foreign resources (auto_failback)."),
        1
    );
    // With auto_failback off the group stays where ipfail put it.
    let out = run_it(
        &pair_with_ping(AutoFailback::Off, vec![(20_000, loss)]),
        None,
    );
    assert!(out.passed(), "{:?}", out.violations);
    assert_eq!(out.stats.ipfail_giveups, 1);
}

#[test]
fn when_the_ping_node_dies_for_both_nothing_moves() {
    let quiet = run_it(&pair_with_ping(AutoFailback::On, vec![]), None);
    let down = Fault::PingDown {
        ping: 0,
        restore_after: 10_000,
    };
    let out = run_it(
        &pair_with_ping(AutoFailback::On, vec![(20_000, down)]),
        None,
    );
    assert!(out.passed(), "{:?}", out.violations);
    assert_eq!(out.stats.moves, quiet.stats.moves, "{:#?}", out.timeline);
    assert!(out
        .timeline
        .iter()
        .any(|l| l.contains("ipfail: Ping node count is balanced.")));
}

#[test]
fn ipfail_acting_on_a_difference_that_is_not_there_is_caught() {
    let out = run_it(
        &pair_with_ping(AutoFailback::On, vec![]),
        Some(Sabotage::PingNodesIgnoreNode1),
    );
    assert!(
        out.violations
            .iter()
            .any(|v| v.contains("ipfail gives everything away")),
        "{:?}",
        out.violations
    );
}

#[test]
fn a_stalled_daemon_is_seen_dead_notices_and_comes_back() {
    for stonith in [false, true] {
        let mut sc = pair_with_ping(
            AutoFailback::On,
            vec![(20_000, Fault::Stall { node: 0, ms: 4000 })],
        );
        sc.stonith = stonith;
        let out = run_it(&sc, None);
        assert!(out.passed(), "stonith {stonith}: {:?}", out.violations);
        assert_eq!(out.stats.stalls, 1);
        let seen = |pat: &str| out.timeline.iter().any(|l| l.contains(pat));
        assert!(
            seen("node2: NodeDead { node: NodeId(0)"),
            "stonith {stonith}"
        );
        if stonith {
            assert!(seen("node1: reset by STONITH"));
        } else {
            assert!(seen("node1: NoLocalHeartbeat"), "{:#?}", out.timeline);
        }
    }
}

#[test]
fn a_key_rotation_kills_nobody() {
    let mut sc = pair_with_ping(AutoFailback::On, vec![]);
    sc.key_rotation = Some((15_000, 3000, Method::Sha256));
    let out = run_it(&sc, None);
    assert!(out.passed(), "{:?}", out.violations);
    assert_eq!(out.stats.deaths, 0, "{:#?}", out.timeline);
    assert!(out.timeline.iter().any(|l| l.contains("signs with key 2")));
}
