//! Healing a split on one machine driven by hand: the keeper rule, and a peer that sends no
//! report (heartbeat 3.0.6).

use super::*;

#[test]
fn the_keeper_rule() {
    use AutoFailback::{Legacy, Off, On};
    // auto_failback on: always the preferred node.
    for (mine, theirs) in [(false, false), (true, false), (false, true), (true, true)] {
        assert!(keeps_group(On, mine, theirs, true));
        assert!(!keeps_group(On, mine, theirs, false));
    }
    for mode in [Off, Legacy] {
        // The node that ran it before the split keeps it, preferred or not.
        assert!(keeps_group(mode, true, false, false));
        assert!(!keeps_group(mode, false, true, true));
        // Both or neither: the preferred node.
        assert!(keeps_group(mode, true, true, true));
        assert!(!keeps_group(mode, true, true, false));
        assert!(keeps_group(mode, false, false, true));
        assert!(!keeps_group(mode, false, false, false));
    }
    // Both nodes, computing from the same two reports, never both keep or both give up.
    for mode in [On, Off, Legacy] {
        for a in [false, true] {
            for b in [false, true] {
                for pref_a in [false, true] {
                    assert_ne!(
                        keeps_group(mode, a, b, pref_a),
                        keeps_group(mode, b, a, !pref_a),
                        "{mode:?} {a} {b} {pref_a}"
                    );
                }
            }
        }
    }
}

fn announced(m: &mut Resources<4, 4>) -> Vec<GroupId> {
    core::iter::from_fn(|| m.poll_announce()).collect()
}

/// node1 ran its group; during the split it took node2's too.
fn split_node1(mode: AutoFailback) -> Resources<4, 4> {
    let mut m = stable_node1(mode);
    m.node_event(
        at(10),
        NodeEvent::Dead {
            node: NODE2,
            heard_from: true,
        },
    );
    for a in actions(&mut m) {
        if let Action::Acquire(group) = a {
            m.handle_action_done(at(20), ActionDone::Acquired { group, ok: true });
        }
    }
    assert_eq!(m.group_state(G2), GroupState::Running);
    messages(&mut m);
    logs(&mut m);
    m
}

#[test]
fn a_peer_without_a_report_is_left_to_give_up_and_restart() {
    let mut m = split_node1(AutoFailback::On);
    m.node_event(at(1_000), NodeEvent::ReturnedAfterPartition(NODE2));
    assert_eq!(
        messages(&mut m),
        ["t=hb_heal info=report hb_groups=3 hb_kept=1"]
    );
    // An hb peer answers within a round trip; 3.0.6 gives everything up 2 s after it heard us
    // again. Nothing changes for 1 s.
    m.handle_timeout(at(1_999));
    assert!(announced(&mut m).is_empty());
    m.handle_timeout(at(2_000));
    // No report: it is heartbeat 3.0.6. We keep everything (no restart), and announce it.
    assert_eq!(announced(&mut m), [G1, G2]);
    assert!(actions(&mut m).is_empty());
    assert!(logs(&mut m)
        .iter()
        .any(|l| l.contains("no heal report from node2")));
    // Its give-up: `resource none shutdown`, then `shutdone` once its copies are stopped.
    m.handle_message(
        at(3_100),
        NODE2,
        &ResourceMsg::Resource(ResourceHeld {
            rsc_hold: RscSet::NONE,
            rtype_full: true,
            isstable: Some(false),
            info: Some(ResourceInfo::Shutdown),
            groups: None,
            reply_to: None,
        }),
    );
    m.handle_message(at(3_500), NODE2, &ResourceMsg::Shutdone);
    // Announced again the moment its copies are gone; ours never stopped.
    assert_eq!(announced(&mut m), [G1, G2]);
    assert!(!actions(&mut m)
        .iter()
        .any(|a| matches!(a, Action::Release(_) | Action::Exit { .. })));
    assert_eq!(m.group_state(G1), GroupState::Running);
    assert_eq!(m.group_state(G2), GroupState::Running);
    // It gave up in time: nothing to report later.
    logs(&mut m);
    m.handle_timeout(at(30_000));
    assert_eq!(logs(&mut m), Vec::<String>::new());
}

/// 3.0.6 delays its give-up while a resource action of its own runs, for ever when it lost
/// one of its own messages (interop: its FIFO reader dropped `mach_down`'s). Both nodes then
/// run the groups until an admin restarts it: said once, as an error, naming it.
#[test]
fn a_classic_peer_that_never_gives_up_is_reported() {
    let stuck = "Partition healed 11 s ago and node2 has not begun to give up its resource \
                 groups: both nodes may run them. heartbeat 3.0.6 waits for its own resource \
                 actions to end first, for ever if it lost one of its messages (its log: \
                 \"Shutdown delayed until current resource activity finishes.\"), and cannot \
                 be stopped then: reboot node2, or stop its resources by hand and kill its \
                 heartbeat.";
    for mode in [AutoFailback::On, AutoFailback::Off] {
        let mut m = split_node1(mode);
        m.node_event(at(1_000), NodeEvent::ReturnedAfterPartition(NODE2));
        m.handle_timeout(at(2_000));
        messages(&mut m);
        logs(&mut m);
        m.handle_timeout(at(11_999));
        assert_eq!(logs(&mut m), Vec::<String>::new(), "{mode:?}");
        m.handle_timeout(at(12_000));
        m.handle_timeout(at(60_000));
        assert_eq!(logs(&mut m), [std::format!("ERROR: {stuck}")], "{mode:?}");
        // hb keeps its copies all the same.
        assert_eq!(m.group_state(G1), GroupState::Running);
        assert_eq!(m.group_state(G2), GroupState::Running);
    }
    // Not when it said since the return that it runs none of them (it came up during the
    // split: hbsim seed 1806), nor when it restarted.
    let none = ResourceMsg::Resource(ResourceHeld {
        rsc_hold: RscSet::NONE,
        rtype_full: true,
        isstable: Some(true),
        info: None,
        groups: None,
        reply_to: None,
    });
    let mut m = split_node1(AutoFailback::Off);
    m.node_event(at(1_000), NodeEvent::ReturnedAfterPartition(NODE2));
    m.handle_message(at(1_500), NODE2, &none);
    m.handle_timeout(at(2_000));
    logs(&mut m);
    m.handle_timeout(at(60_000));
    assert_eq!(logs(&mut m), Vec::<String>::new());
    let mut m = split_node1(AutoFailback::Off);
    m.node_event(at(1_000), NodeEvent::ReturnedAfterPartition(NODE2));
    m.handle_timeout(at(2_000));
    m.node_event(at(4_000), NodeEvent::Restarted(NODE2));
    logs(&mut m);
    m.handle_timeout(at(60_000));
    assert!(!logs(&mut m).iter().any(|l| l.contains("has not begun")));
}

#[test]
fn a_report_that_crossed_ours_is_answered_and_the_release_announced() {
    let mut m = split_node1(AutoFailback::On);
    m.node_event(at(1_000), NodeEvent::ReturnedAfterPartition(NODE2));
    messages(&mut m);
    // node2's report: it ran its group before the split, and took ours.
    m.handle_message(
        at(1_010),
        NODE2,
        &ResourceMsg::Heal {
            groups: GroupMask::new(0b11),
            kept: GroupMask::new(0b10),
            kind: HealKind::Report,
        },
    );
    // It had not seen ours: answered. We keep G1 (ours, preferred), give G2 back.
    assert_eq!(
        messages(&mut m),
        ["t=hb_heal info=reply hb_groups=3 hb_kept=1"]
    );
    assert_eq!(actions(&mut m), [Action::Release(G2)]);
    assert_eq!(announced(&mut m), [G1]);
    m.handle_action_done(
        at(1_200),
        ActionDone::Released {
            group: G2,
            ok: true,
        },
    );
    // Released, and settled: said as after a start (the peer may have seen us unstable).
    assert_eq!(
        messages(&mut m),
        [
            "t=hb_heal info=released hb_groups=1 hb_kept=1",
            "t=resource rsc_hold=local rtype=full isstable=1"
        ]
    );
    // Its release of G1: announced again.
    m.handle_message(
        at(1_300),
        NODE2,
        &ResourceMsg::Heal {
            groups: GroupMask::new(0b10),
            kept: GroupMask::new(0b10),
            kind: HealKind::Released,
        },
    );
    assert_eq!(announced(&mut m), [G1]);
    // Its answer to our report changes nothing (decided), and the deadline passes quietly.
    m.handle_message(
        at(1_310),
        NODE2,
        &ResourceMsg::Heal {
            groups: GroupMask::new(0b11),
            kept: GroupMask::new(0b10),
            kind: HealKind::Reply,
        },
    );
    m.handle_timeout(at(5_000));
    assert!(messages(&mut m).is_empty());
    assert!(actions(&mut m).is_empty());
    assert!(announced(&mut m).is_empty());
    assert!(m.is_stable());
    assert_eq!(m.i_hold(), RscSet::LOCAL);
}

fn fencing_machine(local: &str, delay_ms: u64) -> Resources<4, 4> {
    fencing_machine_in(local, delay_ms, AutoFailback::On)
}

fn fencing_machine_in(local: &str, delay_ms: u64, mode: AutoFailback) -> Resources<4, 4> {
    let nodes = names(&["node1", "node2"]);
    let r = res(RES);
    Resources::new(&ResourcesConfig {
        local_node: local,
        nodes: &nodes,
        groups: r.groups(),
        auto_failback: mode,
        stonith: true,
        timing: Timing {
            fence_delay: Duration::from_millis(delay_ms),
            ..Timing::default()
        },
    })
    .unwrap()
}

/// `HB_FENCE_DELAY`: in a split both nodes decide to reset each other; the one that runs
/// nothing waits the delay, the one that runs the service goes at once and wins.
#[test]
fn the_node_without_resources_delays_its_fence() {
    // node2 runs nothing (node1 runs both groups).
    let mut m = fencing_machine("node2", 4_500);
    m.node_event(at(0), NodeEvent::Up(NODE1));
    m.node_event(at(0), NodeEvent::Active(NODE1));
    m.comm_up(at(0));
    m.handle_message(at(1), NODE1, &held(RscSet::ALL, true));
    messages(&mut m);
    actions(&mut m);
    logs(&mut m);
    m.node_event(
        at(10_000),
        NodeEvent::Dead {
            node: NODE1,
            heard_from: true,
        },
    );
    assert!(actions(&mut m).is_empty());
    assert!(logs(&mut m).iter().any(|l| l
        .ends_with("Delaying STONITH of node1 by 4500 ms (HB_FENCE_DELAY: we run no resources).")));
    // (Woken every second meanwhile to say so: see `a_node_waiting_to_reset_its_peer_keeps_saying_so`.)
    for t in [11_000, 12_000, 13_000, 14_000] {
        assert_eq!(m.poll_timeout(), Some(at(t)));
        m.handle_timeout(at(t));
    }
    assert_eq!(m.poll_timeout(), Some(at(14_500)));
    m.handle_timeout(at(14_499));
    assert!(actions(&mut m).is_empty());
    m.handle_timeout(at(14_500));
    assert_eq!(actions(&mut m), [Action::Fence(NODE1)]);

    // node1 runs its group: it resets at once.
    let mut m = fencing_machine("node1", 4_500);
    m.node_event(at(0), NodeEvent::Up(NODE2));
    m.node_event(at(0), NodeEvent::Active(NODE2));
    m.comm_up(at(0));
    m.handle_message(at(1), NODE2, &held(RscSet::LOCAL, true));
    for a in actions(&mut m) {
        if let Action::Acquire(group) = a {
            m.handle_action_done(at(2), ActionDone::Acquired { group, ok: true });
        }
    }
    m.node_event(
        at(10_000),
        NodeEvent::Dead {
            node: NODE2,
            heard_from: true,
        },
    );
    assert_eq!(actions(&mut m), [Action::Fence(NODE2)]);

    // Without HB_FENCE_DELAY nobody waits (3.0.6).
    let mut m = fencing_machine("node2", 0);
    m.node_event(
        at(0),
        NodeEvent::Dead {
            node: NODE1,
            heard_from: false,
        },
    );
    m.comm_up(at(0));
    assert_eq!(actions(&mut m), [Action::Fence(NODE1)]);
}

#[test]
fn hb_fence_delay_is_read_from_ha_cf_env() {
    let cf = |extra: &str| {
        let text = std::format!("node node1 node2\nbcast eth0\n{extra}");
        crate::config::HaCf::parse(&text, &mut |_| {}).unwrap()
    };
    assert_eq!(fence_delay_of(&cf("")), Duration::ZERO);
    assert_eq!(
        fence_delay_of(&cf("env HB_FENCE_DELAY=5\n")),
        Duration::from_secs(5)
    );
    assert_eq!(
        fence_delay_of(&cf("env HB_FENCE_DELAY=2500ms\n")),
        Duration::from_millis(2500)
    );
    assert_eq!(
        fence_delay_of(&cf("env HB_FENCE_DELAY=soon\n")),
        Duration::ZERO
    );
}

/// hbsim seed 16183: node1 was giving node2's group back (a standby) when the split began, and
/// the heal cancelled that exchange with the release of G2 still running. node1's report
/// leaves G2 out, so neither report names it: node2, its preferred node, starts it only once
/// node1 says `released` (its stop is over), never while node1's copy still runs.
#[test]
fn a_group_nobody_reports_waits_for_the_peers_stops() {
    let mut m = machine("node2", AutoFailback::On, true);
    m.node_event(at(0), NodeEvent::Up(NODE1));
    m.node_event(at(0), NodeEvent::Active(NODE1));
    m.comm_up(at(0));
    m.handle_message(at(1), NODE1, &held(RscSet::ALL, true));
    m.node_event(
        at(10_000),
        NodeEvent::Dead {
            node: NODE1,
            heard_from: true,
        },
    );
    // With STONITH it takes nothing before the reset, which is still under way at the heal.
    assert_eq!(actions(&mut m), [Action::Fence(NODE1)]);
    messages(&mut m);
    m.node_event(at(10_500), NodeEvent::ReturnedAfterPartition(NODE1));
    assert_eq!(
        messages(&mut m),
        ["t=hb_heal info=report hb_groups=0 hb_kept=0"]
    );
    // node1 runs G1; G2 is stopping there, so its report leaves it out.
    m.handle_message(
        at(10_510),
        NODE1,
        &ResourceMsg::Heal {
            groups: GroupMask::new(0b01),
            kept: GroupMask::new(0b01),
            kind: HealKind::Reply,
        },
    );
    // Nothing to release here: said at once, and G2 is not started yet.
    assert_eq!(
        messages(&mut m),
        [
            "t=hb_heal info=released hb_groups=0 hb_kept=0",
            "t=resource rsc_hold=none rtype=full isstable=1"
        ]
    );
    assert!(actions(&mut m).is_empty());
    m.handle_timeout(at(12_000));
    assert!(actions(&mut m).is_empty());
    // node1's stop of G2 is done.
    m.handle_message(
        at(13_000),
        NODE1,
        &ResourceMsg::Heal {
            groups: GroupMask::new(0b01),
            kept: GroupMask::new(0b01),
            kind: HealKind::Released,
        },
    );
    assert_eq!(actions(&mut m), [Action::Acquire(G2)]);
    // And says it holds it: node1's bookkeeping has it holding nothing, and would take
    // nothing over if it died (hbsim seed 49029).
    assert_eq!(
        messages(&mut m),
        ["t=resource rsc_hold=local rtype=full isstable=1"]
    );
}

/// hbsim seed 4129 with HB_FENCE_DELAY: node1 (runs groups) resets node2 at once, but the
/// reset fails; retried 5 s later it collided with node2's own, delayed reset of node1 and
/// each reset the other. With the delay, a failed reset waits the whole delay (at least the
/// usual 5 s) before it is tried again, so the peer's goes first.
#[test]
fn a_failed_reset_waits_the_whole_fence_delay() {
    let mut m = fencing_machine("node1", 9_000);
    m.node_event(at(0), NodeEvent::Up(NODE2));
    m.node_event(at(0), NodeEvent::Active(NODE2));
    m.comm_up(at(0));
    m.handle_message(at(1), NODE2, &held(RscSet::LOCAL, true));
    for a in actions(&mut m) {
        if let Action::Acquire(group) = a {
            m.handle_action_done(at(2), ActionDone::Acquired { group, ok: true });
        }
    }
    m.node_event(
        at(10_000),
        NodeEvent::Dead {
            node: NODE2,
            heard_from: true,
        },
    );
    assert_eq!(actions(&mut m), [Action::Fence(NODE2)]);
    m.handle_action_done(
        at(11_000),
        ActionDone::Fenced {
            node: NODE2,
            result: FenceResult::Failed,
        },
    );
    m.handle_timeout(at(16_000));
    assert!(actions(&mut m).is_empty());
    m.handle_timeout(at(19_999));
    assert!(actions(&mut m).is_empty());
    m.handle_timeout(at(20_000));
    assert_eq!(actions(&mut m), [Action::Fence(NODE2)]);

    // Without the delay: 5 s, as 3.0.6.
    let mut m = fencing_machine("node1", 0);
    m.node_event(
        at(0),
        NodeEvent::Dead {
            node: NODE2,
            heard_from: false,
        },
    );
    m.comm_up(at(0));
    assert_eq!(actions(&mut m), [Action::Fence(NODE2)]);
    m.handle_action_done(
        at(1_000),
        ActionDone::Fenced {
            node: NODE2,
            result: FenceResult::Failed,
        },
    );
    m.handle_timeout(at(6_000));
    assert_eq!(actions(&mut m), [Action::Fence(NODE2)]);
}

/// hbsim seed 8230 with HB_FENCE_DELAY: node1 gave everything up (`shutdone`) and restarted
/// while cut off; its new incarnation came back as a return after the partition, took a group
/// over, and died. Its old `shutdone` spared it the reset, and node2 took the group while it
/// still ran there. A return makes the peer one that may run groups again.
#[test]
fn a_return_after_a_shutdone_is_reset_when_it_dies() {
    let mut m = fencing_machine("node2", 0);
    m.node_event(at(0), NodeEvent::Up(NODE1));
    m.node_event(at(0), NodeEvent::Active(NODE1));
    m.comm_up(at(0));
    m.handle_message(at(1), NODE1, &held(RscSet::ALL, true));
    m.handle_message(at(5_000), NODE1, &ResourceMsg::Shutdone);
    m.node_event(
        at(6_000),
        NodeEvent::Dead {
            node: NODE1,
            heard_from: true,
        },
    );
    // Gone after its shutdone: no reset.
    assert!(!actions(&mut m).contains(&Action::Fence(NODE1)));
    m.node_event(at(20_000), NodeEvent::ReturnedAfterPartition(NODE1));
    m.node_event(
        at(30_000),
        NodeEvent::Dead {
            node: NODE1,
            heard_from: true,
        },
    );
    assert!(actions(&mut m).contains(&Action::Fence(NODE1)));
}

/// hbsim seed 6700 with HB_FENCE_DELAY: node1's group failed to start; a split healed before
/// its hand-over, whose first offer then crossed node2's and went unanswered. The heal had
/// left it out of what node1 announces, so it was never offered again and stayed down.
#[test]
fn a_failed_group_is_still_handed_over_after_a_heal() {
    // With STONITH, and a delay: node1 runs nothing, so it waits and takes nothing.
    let mut m = fencing_machine("node1", 20_000);
    m.node_event(at(0), NodeEvent::Up(NODE2));
    m.node_event(at(0), NodeEvent::Active(NODE2));
    m.comm_up(at(0));
    m.handle_message(at(1), NODE2, &held(RscSet::LOCAL, true));
    assert_eq!(actions(&mut m), [Action::Acquire(G1)]);
    m.handle_action_done(
        at(2),
        ActionDone::Acquired {
            group: G1,
            ok: false,
        },
    );
    messages(&mut m);
    m.node_event(
        at(10_000),
        NodeEvent::Dead {
            node: NODE2,
            heard_from: true,
        },
    );
    assert!(actions(&mut m).is_empty());
    m.node_event(at(12_000), NodeEvent::ReturnedAfterPartition(NODE2));
    m.handle_message(
        at(12_010),
        NODE2,
        &ResourceMsg::Heal {
            groups: GroupMask::new(0b10),
            kept: GroupMask::new(0b10),
            kind: HealKind::Reply,
        },
    );
    assert!(actions(&mut m).is_empty());
    // Still announced as ours: its hand-over is due.
    assert_eq!(m.i_hold(), RscSet::LOCAL);
    messages(&mut m);
    m.handle_timeout(at(30_002));
    // (`foreign`: G1 has two resources, see the deviations on the start-failure hand-over.)
    let ask = "t=ask_resources rsc_hold=foreign info=me hb_sbid=";
    assert_eq!(messages(&mut m), [std::format!("{ask}1")]);
    // Unanswered (it crossed the peer's own): offered again once the reply timer runs out.
    m.handle_timeout(at(40_002));
    m.handle_timeout(at(41_002));
    assert_eq!(messages(&mut m), [std::format!("{ask}2")]);
}

/// hbsim seeds 61759 and 91844 (legacy, HB_FENCE_DELAY): node1 declared node2 dead at its
/// `initdead` and came up with node2's reset pending, so its comm-up asked for nothing; the
/// split then healed, which ends the pending reset. Nobody asked again, and node1's group
/// stayed down on both nodes for good. The request is owed until the reset is over.
#[test]
fn legacy_asks_for_its_groups_once_a_pending_reset_ends_with_a_heal() {
    let mut m = fencing_machine_in("node1", 9_000, AutoFailback::Legacy);
    m.node_event(
        at(8_000),
        NodeEvent::Dead {
            node: NODE2,
            heard_from: true,
        },
    );
    m.comm_up(at(9_000));
    assert!(actions(&mut m).is_empty());
    assert!(!messages(&mut m)
        .iter()
        .any(|s| s.starts_with("t=ip-request")));
    m.node_event(at(9_100), NodeEvent::ReturnedAfterPartition(NODE2));
    m.node_event(at(10_000), NodeEvent::Active(NODE2));
    let out = messages(&mut m);
    assert!(
        out.iter()
            .any(|s| s == "t=ip-request ipaddr=IPaddr2::10.0.0.1/24/eth0"),
        "{out:?}"
    );
    // No reset of the peer that came back.
    m.handle_timeout(at(30_000));
    assert!(!actions(&mut m)
        .iter()
        .any(|a| matches!(a, Action::Fence(_))));
}

/// hbsim seed 93560 (legacy, HB_FENCE_DELAY): node2 came up with node1's reset pending and
/// asked for nothing; node1 restarted instead, and its new incarnation came back as a return
/// after the partition. The request made at the restart (waiting for node1 to say `active`)
/// was dropped by the heal that followed, and node2's group stayed down.
#[test]
fn legacy_asks_again_for_its_groups_when_a_heal_drops_the_request() {
    let mut m = fencing_machine_in("node2", 9_000, AutoFailback::Legacy);
    m.node_event(
        at(8_000),
        NodeEvent::Dead {
            node: NODE1,
            heard_from: false,
        },
    );
    m.comm_up(at(8_000));
    assert!(!messages(&mut m)
        .iter()
        .any(|s| s.starts_with("t=ip-request")));
    m.node_event(at(20_000), NodeEvent::Restarted(NODE1));
    m.node_event(at(20_005), NodeEvent::ReturnedAfterPartition(NODE1));
    m.node_event(at(20_005), NodeEvent::Up(NODE1));
    assert!(!messages(&mut m)
        .iter()
        .any(|s| s.starts_with("t=ip-request")));
    m.node_event(at(20_050), NodeEvent::Active(NODE1));
    let out = messages(&mut m);
    assert_eq!(
        out.iter()
            .filter(|s| *s == "t=ip-request ipaddr=10.0.0.2")
            .count(),
        1,
        "{out:?}"
    );
}

/// hbsim seeds 18723 and 60518 (HB_FENCE_DELAY): a cut one-way at first (node2 no longer
/// heard node1, node1 still heard node2) and complete 6.5 s later. node2 declared node1 dead
/// first and waited its delay; node1, which runs groups and so waits nothing, declared node2
/// dead only when the cut was complete and reset it while node2's own reset was on its way:
/// each reset the other. node2 said that it would (`hb_fence`), and node1 heard it.
#[test]
fn a_node_told_that_its_peer_resets_it_holds_its_own_reset_back() {
    let mut m = fencing_machine("node1", 9_000);
    m.node_event(at(0), NodeEvent::Up(NODE2));
    m.node_event(at(0), NodeEvent::Active(NODE2));
    m.comm_up(at(0));
    m.handle_message(at(1), NODE2, &held(RscSet::LOCAL, true));
    for a in actions(&mut m) {
        if let Action::Acquire(group) = a {
            m.handle_action_done(at(2), ActionDone::Acquired { group, ok: true });
        }
    }
    logs(&mut m);
    messages(&mut m);
    let notice = |ms| ResourceMsg::FenceNotice {
        node: "node1",
        in_ms: Millis::new(ms),
    };
    // A notice about another node changes nothing.
    m.handle_message(
        at(9_000),
        NODE2,
        &ResourceMsg::FenceNotice {
            node: "node2",
            in_ms: Millis::new(2_000),
        },
    );
    m.handle_message(at(10_000), NODE2, &notice(3_000));
    m.handle_message(at(11_000), NODE2, &notice(2_000));
    m.node_event(
        at(12_000),
        NodeEvent::Dead {
            node: NODE2,
            heard_from: true,
        },
    );
    // node2 resets us at 13 s; ours waits half the delay more.
    assert!(actions(&mut m).is_empty());
    assert!(logs(&mut m).iter().any(|l| l.ends_with(
        "Delaying STONITH of node2 by 5500 ms: it announced that it resets us (HB_FENCE_DELAY)."
    )));
    assert_eq!(
        messages(&mut m),
        ["t=hb_fence node=node2 hb_in=5500"],
        "we say so too"
    );
    m.handle_timeout(at(17_499));
    assert!(actions(&mut m).is_empty());
    // Its reset did not come (it failed, say): ours goes, before its retry (9 s after).
    m.handle_timeout(at(17_500));
    assert_eq!(actions(&mut m), [Action::Fence(NODE2)]);

    // Without the notice (3.0.6's peer, or one that never decided): at once.
    let mut m = fencing_machine("node1", 9_000);
    m.node_event(at(0), NodeEvent::Up(NODE2));
    m.node_event(at(0), NodeEvent::Active(NODE2));
    m.comm_up(at(0));
    m.handle_message(at(1), NODE2, &held(RscSet::LOCAL, true));
    for a in actions(&mut m) {
        if let Action::Acquire(group) = a {
            m.handle_action_done(at(2), ActionDone::Acquired { group, ok: true });
        }
    }
    m.node_event(
        at(12_000),
        NodeEvent::Dead {
            node: NODE2,
            heard_from: true,
        },
    );
    assert_eq!(actions(&mut m), [Action::Fence(NODE2)]);
}

/// The other half: a node waiting to reset its peer says so, on every medium and again every
/// second (the peer's NAK of a lost one may not reach us), until the reset is done.
#[test]
fn a_node_waiting_to_reset_its_peer_keeps_saying_so() {
    let mut m = fencing_machine("node2", 4_500);
    m.node_event(at(0), NodeEvent::Up(NODE1));
    m.node_event(at(0), NodeEvent::Active(NODE1));
    m.comm_up(at(0));
    m.handle_message(at(1), NODE1, &held(RscSet::ALL, true));
    messages(&mut m);
    actions(&mut m);
    m.node_event(
        at(10_000),
        NodeEvent::Dead {
            node: NODE1,
            heard_from: true,
        },
    );
    assert_eq!(messages(&mut m), ["t=hb_fence node=node1 hb_in=4500"]);
    assert_eq!(m.poll_timeout(), Some(at(11_000)));
    m.handle_timeout(at(11_000));
    assert_eq!(messages(&mut m), ["t=hb_fence node=node1 hb_in=3500"]);
    m.handle_timeout(at(14_500));
    assert_eq!(actions(&mut m), [Action::Fence(NODE1)]);
    assert_eq!(messages(&mut m), ["t=hb_fence node=node1 hb_in=0"]);
    m.handle_action_done(
        at(15_000),
        ActionDone::Fenced {
            node: NODE1,
            result: FenceResult::Ok,
        },
    );
    messages(&mut m);
    m.handle_timeout(at(20_000));
    assert!(!messages(&mut m).iter().any(|s| s.starts_with("t=hb_fence")));

    // Without HB_FENCE_DELAY nothing is said (3.0.6's messages only).
    let mut m = fencing_machine("node2", 0);
    m.node_event(
        at(0),
        NodeEvent::Dead {
            node: NODE1,
            heard_from: false,
        },
    );
    m.comm_up(at(0));
    assert_eq!(actions(&mut m), [Action::Fence(NODE1)]);
    assert!(!messages(&mut m).iter().any(|s| s.starts_with("t=hb_fence")));
}

/// hbsim seed 4295 with beating in step: node1 asked for a standby during the split; its
/// request reached node2 after the heal reports had crossed, and node2's answer came just
/// before node2's report. node1 began to stop its group, then the decision — from the
/// reports, which both name G1 as node1's — cancelled the exchange. node2 counts on node1
/// for G1, so node1 starts it again once its stop is over, and says it holds it.
#[test]
fn a_standby_stop_the_heal_cancelled_is_started_again() {
    let mut m = split_node1(AutoFailback::Off);
    m.handle_command(at(500), Command::Standby(StandbySet::Local))
        .unwrap();
    messages(&mut m);
    m.node_event(at(1_000), NodeEvent::ReturnedAfterPartition(NODE2));
    assert_eq!(
        messages(&mut m),
        ["t=hb_heal info=report hb_groups=3 hb_kept=1"]
    );
    // node2 took the request (it had not decided yet): our give-up of G1 begins.
    m.handle_message(
        at(1_010),
        NODE2,
        &ResourceMsg::AskResources {
            rsc_hold: RscSet::LOCAL,
            info: StandbyInfo::Other,
            xid: Some(GroupMask::new(1)),
        },
    );
    assert_eq!(actions(&mut m), [Action::Release(G1)]);
    messages(&mut m);
    // Its reply: it runs nothing. We keep both; the exchange is over.
    m.handle_message(
        at(1_020),
        NODE2,
        &ResourceMsg::Heal {
            groups: GroupMask::new(0),
            kept: GroupMask::new(0),
            kind: HealKind::Reply,
        },
    );
    assert_eq!(m.standby_state(), StandbyState::Not);
    assert!(actions(&mut m).is_empty(), "nothing while G1 still stops");
    m.handle_action_done(
        at(1_200),
        ActionDone::Released {
            group: G1,
            ok: true,
        },
    );
    assert_eq!(actions(&mut m), [Action::Acquire(G1)]);
    m.handle_action_done(
        at(1_400),
        ActionDone::Acquired {
            group: G1,
            ok: true,
        },
    );
    assert_eq!(m.group_state(G1), GroupState::Running);
    assert_eq!(m.group_state(G2), GroupState::Running);
    assert_eq!(m.i_hold(), RscSet::ALL);
    assert!(messages(&mut m)
        .iter()
        .any(|l| l.starts_with("t=resource rsc_hold=all")));
}
