//! A peer that comes back while something it started still runs: a reset on its way (hbsim
//! seeds).

use super::*;

const SINGLE: &str = "node1 10.0.0.1\nnode2 10.0.0.2\n";

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
