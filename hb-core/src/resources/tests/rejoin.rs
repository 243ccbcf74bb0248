//! A peer that comes back while something it started still runs: a reset on its way, a heal
//! not yet decided, a heal's releases, a failed group's hand-over (hbsim seeds).

use super::*;

const SINGLE: &str = "node1 10.0.0.1\nnode2 10.0.0.2\n";

fn single_machine(local: &str, mode: AutoFailback) -> Resources<4, 4> {
    let nodes = names(&["node1", "node2"]);
    let r = res(SINGLE);
    Resources::new(&ResourcesConfig {
        local_node: local,
        nodes: &nodes,
        groups: r.groups(),
        auto_failback: mode,
        stonith: false,
        timing: Timing::default(),
    })
    .unwrap()
}

fn dead(m: &mut Resources<4, 4>, ms: u64, node: NodeId) {
    m.node_event(
        at(ms),
        NodeEvent::Dead {
            node,
            heard_from: true,
        },
    );
}

fn heal(kind: HealKind, groups: u32, kept: u32) -> ResourceMsg<'static> {
    ResourceMsg::Heal {
        groups: GroupMask::new(groups),
        kept: GroupMask::new(kept),
        kind,
    }
}

fn ask(set: RscSet, info: StandbyInfo) -> ResourceMsg<'static> {
    ResourceMsg::AskResources {
        rsc_hold: set,
        info,
        xid: None,
    }
}

/// hbsim seed 43736: node1's group failed to start, and its hand-over (a standby of `local`)
/// had released it when node2 lost node1; node2 cancelled the exchange, node1 only learnt of
/// it from node2's heal report. The heal announces the failed group as node1's again: its
/// hand-over must be offered again, or nobody ever starts it.
#[test]
fn a_failed_group_whose_hand_over_a_split_cancelled_is_offered_again() {
    let mut m = single_machine("node1", AutoFailback::On);
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
    m.handle_timeout(at(30_002));
    let offer = "t=ask_resources rsc_hold=local info=me hb_sbid=1";
    assert_eq!(messages(&mut m), [offer]);
    m.handle_message(at(30_010), NODE2, &ask(RscSet::LOCAL, StandbyInfo::Other));
    // Nothing runs to release: `done` goes at once; node2 never hears it (the split).
    assert!(messages(&mut m)
        .iter()
        .any(|s| s.starts_with("t=ask_resources rsc_hold=local info=done")));
    assert!(actions(&mut m).is_empty());
    // node2 saw the split and heals it: it runs G2 only.
    m.handle_message(at(40_000), NODE2, &heal(HealKind::Report, 0b10, 0b10));
    messages(&mut m);
    m.handle_message(at(40_010), NODE2, &heal(HealKind::Released, 0b10, 0b10));
    messages(&mut m);
    assert_eq!(m.group_state(G1), GroupState::Failed);
    m.handle_timeout(at(45_000));
    // Offered again, as a request of its own.
    assert_eq!(
        messages(&mut m),
        ["t=ask_resources rsc_hold=local info=me hb_sbid=2"]
    );
}

/// hbsim seed 29132: node1's reset of node2 was on its way when node2 came back (restarted,
/// and seen returning from the split); the two settled, node2 started its group, and the
/// reset then took that incarnation down. Its group has no owner unless the reset's success
/// is acted on.
#[test]
fn a_reset_that_lands_after_the_peer_came_back_is_a_takeover() {
    let nodes = names(&["node1", "node2"]);
    let r = res(SINGLE);
    let mut m = Resources::<4, 4>::new(&ResourcesConfig {
        local_node: "node1",
        nodes: &nodes,
        groups: r.groups(),
        auto_failback: AutoFailback::On,
        stonith: true,
        timing: Timing::default(),
    })
    .unwrap();
    m.node_event(at(0), NodeEvent::Up(NODE2));
    m.node_event(at(0), NodeEvent::Active(NODE2));
    m.comm_up(at(0));
    m.handle_message(at(1), NODE2, &held(RscSet::LOCAL, true));
    assert_eq!(actions(&mut m), [Action::Acquire(G1)]);
    m.handle_action_done(
        at(2),
        ActionDone::Acquired {
            group: G1,
            ok: true,
        },
    );
    dead(&mut m, 10_000, NODE2);
    assert_eq!(actions(&mut m), [Action::Fence(NODE2)]);
    // Back before the reset is done: the heal settles (node2 runs G2, we G1).
    m.node_event(at(10_500), NodeEvent::ReturnedAfterPartition(NODE2));
    m.handle_message(at(10_510), NODE2, &heal(HealKind::Reply, 0b10, 0b10));
    messages(&mut m);
    assert!(actions(&mut m).is_empty());
    m.handle_action_done(
        at(11_000),
        ActionDone::Fenced {
            node: NODE2,
            result: FenceResult::Ok,
        },
    );
    assert_eq!(actions(&mut m), [Action::Acquire(G2)]);
    assert!(logs(&mut m)
        .iter()
        .any(|l| l.contains("node node2 now reset")));
}

/// hbsim seed 35583: node1 ran node2's group when the split healed, and asked to give it
/// back (auto-failback) before the heal reports had crossed. node2 had decided already and
/// took the request; node1's decision then cancelled it on node1's side only, leaving node2
/// waiting an hour for the `done`, with the hand-over of a group that failed there blocked
/// meanwhile. The failback waits for the decision.
#[test]
fn auto_failback_waits_for_the_heal_decision() {
    // node1 ran its group; during the split it took node2's too.
    let mut m = stable_node1(AutoFailback::On);
    dead(&mut m, 10, NODE2);
    for a in actions(&mut m) {
        if let Action::Acquire(group) = a {
            m.handle_action_done(at(20), ActionDone::Acquired { group, ok: true });
        }
    }
    assert_eq!(m.group_state(G2), GroupState::Running);
    messages(&mut m);
    m.node_event(at(1_000), NodeEvent::ReturnedAfterPartition(NODE2));
    messages(&mut m);
    // node2 restarted meanwhile: unstable, then stable, holding nothing.
    m.handle_message(at(1_010), NODE2, &held(RscSet::NONE, false));
    m.handle_message(at(1_020), NODE2, &held(RscSet::NONE, true));
    assert!(!messages(&mut m)
        .iter()
        .any(|s| s.starts_with("t=ask_resources")));
    // Its heal report (it runs nothing): we keep both, then give node2's group back.
    m.handle_message(at(1_030), NODE2, &heal(HealKind::Reply, 0, 0));
    messages(&mut m);
    m.handle_timeout(at(2_030));
    assert_eq!(
        messages(&mut m),
        ["t=ask_resources rsc_hold=foreign info=me hb_sbid=1"]
    );
}

/// hbsim seed 92079: node2 ran both groups when the split healed and yields them to node1;
/// node1 was lost again while the first stop ran. The takeover that followed found the
/// second group running, and the heal's release, left to go on, stopped it for good.
#[test]
fn a_heal_release_stops_when_the_keeper_dies() {
    let mut m = single_machine("node2", AutoFailback::Off);
    m.node_event(at(0), NodeEvent::Up(NODE1));
    m.node_event(at(0), NodeEvent::Active(NODE1));
    m.comm_up(at(0));
    m.handle_message(at(1), NODE1, &held(RscSet::ALL, true));
    actions(&mut m);
    dead(&mut m, 10_000, NODE1);
    for ms in [10_100, 10_200] {
        for a in actions(&mut m) {
            if let Action::Acquire(group) = a {
                m.handle_action_done(at(ms), ActionDone::Acquired { group, ok: true });
            }
        }
    }
    assert_eq!(m.group_state(G1), GroupState::Running);
    assert_eq!(m.group_state(G2), GroupState::Running);
    // node1 ran both before the split: it keeps both.
    m.node_event(at(20_000), NodeEvent::ReturnedAfterPartition(NODE1));
    m.handle_message(at(20_010), NODE1, &heal(HealKind::Reply, 0b11, 0b11));
    let first = actions(&mut m);
    assert_eq!(first.len(), 1);
    let Action::Release(g) = first[0] else {
        panic!("{first:?}");
    };
    dead(&mut m, 21_000, NODE1);
    m.handle_action_done(at(22_000), ActionDone::Released { group: g, ok: true });
    // The other group keeps running; the stopped one is started again.
    assert_eq!(actions(&mut m), [Action::Acquire(g)]);
    let other = if g == G1 { G2 } else { G1 };
    assert_eq!(m.group_state(other), GroupState::Running);
}

/// hbsim seed 92459: node1 took over from node2, its own group's start still queued, when
/// node2 came back; the heal report drops waiting starts (the decision says who runs what).
/// node2, giving everything up, never reported and died again: node1's group, which node1
/// announces as held, was started by nobody.
#[test]
fn starts_a_heal_dropped_are_made_when_the_peer_dies_undecided() {
    let mut m = single_machine("node1", AutoFailback::Off);
    m.node_event(at(0), NodeEvent::Up(NODE2));
    m.node_event(at(0), NodeEvent::Active(NODE2));
    m.comm_up(at(0));
    m.handle_message(at(1), NODE2, &held(RscSet::ALL, true));
    assert!(actions(&mut m).is_empty());
    dead(&mut m, 10_000, NODE2);
    // The takeover takes node2's group first; ours waits behind it.
    assert_eq!(actions(&mut m), [Action::Acquire(G2)]);
    m.node_event(at(10_050), NodeEvent::ReturnedAfterPartition(NODE2));
    m.handle_action_done(
        at(10_100),
        ActionDone::Acquired {
            group: G2,
            ok: true,
        },
    );
    assert!(actions(&mut m).is_empty());
    // node2 gives everything up (no report) and is lost again.
    m.handle_message(
        at(10_200),
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
    m.handle_timeout(at(11_050));
    dead(&mut m, 12_000, NODE2);
    assert_eq!(actions(&mut m), [Action::Acquire(G1)]);
}
