//! Membership and delivery cases the simulator (`hbsim`, tests/) found, each pinned down
//! here on two engines.

mod engine_harness;

use engine_harness::*;
use hb_core::engine::{Event, NodeId, NodeStatus, RxError};
use hb_core::time::Duration;

const N1: usize = 0;
const N2: usize = 1;

fn up_pair() -> Cluster {
    let mut c = Cluster::new(&["node1", "node2"]);
    c.run_for(Duration::from_millis(2000));
    assert!(c.engine(N1).is_comm_up() && c.engine(N2).is_comm_up());
    c
}

fn since(c: &Cluster, i: usize, from: usize) -> Vec<Event> {
    c.events(i)[from..].iter().map(|(_, e)| e.clone()).collect()
}

/// A starting node asks for deadtime + 2 s (`dt`) for its first 5 s. A status later than
/// `deadtime` but within that is late, not a death: 3.0.6 (and we, before) declared it dead and
/// alive again with the same status, and the resource side took over from a running node with
/// no partition recovery to undo it.
#[test]
fn a_status_later_than_deadtime_but_within_the_nodes_dt_is_only_late() {
    let mut c = up_pair();
    assert!(c.engine(N1).node(NodeId(1)).unwrap().dead_interval() > DEADTIME);
    let from = c.events(N1).len();
    c.members[N2].stalled_until = Some(c.now + Duration::from_millis(1400));
    c.members[N2].stall_reads = true;
    c.run_for(Duration::from_millis(2000));
    let events = since(&c, N1, from);
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::LateHeartbeat {
                beyond_deadtime: true,
                ..
            }
        )),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| matches!(e, Event::NodeDead { .. })));
    assert_eq!(c.status_of(N1, N2), NodeStatus::Active);
}

/// Past its own dead time (the caller did not run the timer: stalled) the node is dead before
/// its status is looked at, and the status is its return after a partition, which the resource
/// side recovers from.
#[test]
fn a_status_after_the_nodes_dead_time_finds_it_dead_and_returning() {
    let mut c = up_pair();
    c.run_for(Duration::from_millis(4000));
    let from = c.events(N1).len();
    let t0 = c.now;
    c.members[N1].stalled_until = Some(t0 + Duration::from_millis(1500));
    c.members[N2].stalled_until = Some(t0 + Duration::from_millis(1200));
    c.run_for(Duration::from_millis(1300));
    let events = since(&c, N1, from);
    let pos = |f: &dyn Fn(&Event) -> bool| events.iter().position(f);
    let dead = pos(&|e| {
        matches!(
            e,
            Event::NodeDead {
                node: NodeId(1),
                ..
            }
        )
    })
    .expect("dead");
    let back = pos(&|e| matches!(e, Event::ReturnedAfterPartition { node: NodeId(1) }))
        .expect("returning");
    assert!(dead < back, "{events:?}");
    assert_eq!(c.status_of(N1, N2), NodeStatus::Active);
}

/// An `NS_ackmsg` of an older generation is a replay like any other message: taken, it would
/// stop us sending the restarted node what it asks for.
#[test]
fn an_old_generation_ack_is_a_replay() {
    let mut c = up_pair();
    let acked = c.engine(N1).node(NodeId(1)).unwrap().acked();
    let newest = c.engine(N1).next_seq() - 1;
    let ack = forge(
        "node2",
        N2,
        999,
        None,
        c.wall(),
        &[
            ("t", "NS_ackmsg"),
            ("dest", "node1"),
            ("ackseq", &format!("{newest:x}")),
        ],
        &keys(),
    );
    assert_eq!(c.inject(N1, BCAST, &ack), Err(RxError::Replay));
    assert_eq!(c.engine(N1).node(NodeId(1)).unwrap().acked(), acked);
    assert!(c.events(N1).iter().any(|(_, e)| matches!(
        e,
        Event::ReplayRejected {
            node: NodeId(1),
            generation: 999,
            ..
        }
    )));
}

/// Comm comes up once every node's status is known (or it is dead), not on any packet: the
/// resource side starts there and asks who is `active`.
#[test]
fn comm_up_waits_for_a_status_of_every_node() {
    let mut c = Cluster::new(&["node1", "node2"]);
    // node2 starts over with its statuses to node1 lost: node1 hears only its other packets.
    c.crash(N2);
    c.loss = Some(Box::new(|w: &Wire| {
        w.from == N2 && w.to == N1 && w.fields().t() == "status"
    }));
    c.restart(N2, 1000);
    c.run_for(Duration::from_millis(1500));
    assert!(
        c.engine(N1).node(NodeId(1)).unwrap().last_seq().is_some(),
        "heard"
    );
    assert!(!c.engine(N1).is_comm_up());
    c.loss = None;
    c.run_for(Duration::from_millis(1500));
    assert!(c.engine(N1).is_comm_up());
    assert_eq!(c.status_of(N1, N2), NodeStatus::Active);
}

/// A node we declared dead that comes back `active` with a new generation restarted during
/// the partition and ran on its own: a return after partition, not a restart. Back in `init`
/// (a plain restart) it is a restart.
#[test]
fn a_dead_node_back_active_under_a_new_generation_returns_after_partition() {
    let mut c = up_pair();
    c.partition();
    // (node2 started 2 s ago: it asks for deadtime + 2 s.)
    c.run_for(Duration::from_millis(3500));
    assert_eq!(c.status_of(N1, N2), NodeStatus::Dead);
    c.restart(N2, 1001);
    c.run_for(Duration::from_millis(4000));
    assert!(c.engine(N2).is_comm_up(), "node2 came up alone");
    let from = c.events(N1).len();
    c.heal();
    c.run_for(Duration::from_millis(1000));
    let events = since(&c, N1, from);
    assert!(
        events
            .iter()
            .any(|e| *e == Event::ReturnedAfterPartition { node: NodeId(1) }),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| matches!(e, Event::Restarted { .. })));

    let mut c = up_pair();
    c.crash(N2);
    c.run_for(Duration::from_millis(3500));
    assert_eq!(c.status_of(N1, N2), NodeStatus::Dead);
    let from = c.events(N1).len();
    c.restart(N2, 1001);
    c.run_for(Duration::from_millis(1000));
    let events = since(&c, N1, from);
    assert!(events.contains(&Event::Restarted {
        node: NodeId(1),
        generation: 1001,
        announced: false,
    }));
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::ReturnedAfterPartition { .. })));
}

/// A status overtaken by a newer one within the same second (ts is whole seconds) must not
/// undo the newer one's `dt`: 3.0.6 drops an older status only if its `ts` is older too.
#[test]
fn a_status_overtaken_in_the_same_second_changes_nothing() {
    let mut c = up_pair();
    c.crash(N2);
    let last = c.engine(N1).node(NodeId(1)).unwrap().last_seq().unwrap();
    let ts = c.wall();
    let status = |seq: u64, dt: &str| {
        forge(
            "node2",
            N2,
            1000,
            Some(seq),
            ts,
            &[
                ("t", "status"),
                ("st", "active"),
                ("dt", dt),
                ("protocol", "1"),
            ],
            &keys(),
        )
    };
    c.inject(N1, BCAST, &status(last + 2, "3e8")).unwrap();
    assert_eq!(
        c.engine(N1).node(NodeId(1)).unwrap().dead_interval(),
        Duration::from_millis(1000)
    );
    c.inject(N1, BCAST, &status(last + 1, "bb8")).unwrap();
    assert_eq!(
        c.engine(N1).node(NodeId(1)).unwrap().dead_interval(),
        Duration::from_millis(1000)
    );
}

/// The generation is learnt from the first sequenced message, whatever its type: tracking
/// (and what we ACKed) is kept when the first status comes, and a status older than the
/// message the tracking started with still counts as news of the node's life.
#[test]
fn tracking_started_before_the_first_status_is_kept() {
    let mut c = Cluster::new(&["node1", "node2"]);
    c.crash(N2);
    let ts = c.wall();
    let resource = forge(
        "node2",
        N2,
        1000,
        Some(10),
        ts,
        &[("t", "hb_takeover"), ("rsc_hold", "all")],
        &keys(),
    );
    c.inject(N1, BCAST, &resource).unwrap();
    assert_eq!(c.engine(N1).node(NodeId(1)).unwrap().generation(), 1000);
    assert_eq!(c.engine(N1).node(NodeId(1)).unwrap().last_seq(), Some(10));
    let status = forge(
        "node2",
        N2,
        1000,
        Some(9),
        ts,
        &[
            ("t", "status"),
            ("st", "up"),
            ("dt", "3e8"),
            ("protocol", "1"),
        ],
        &keys(),
    );
    c.inject(N1, BCAST, &status).unwrap();
    let n = c.engine(N1).node(NodeId(1)).unwrap();
    assert_eq!(n.last_seq(), Some(10), "tracking kept");
    assert_eq!(n.status(), NodeStatus::Up, "the older status still counts");
}

/// A restarted node's predecessor's ACKs are forgotten: its requests for our messages are
/// served again from the start.
#[test]
fn a_restarted_nodes_acks_are_forgotten() {
    let mut c = up_pair();
    c.run_for(Duration::from_millis(3000));
    assert!(c.engine(N1).node(NodeId(1)).unwrap().acked() > 0);
    c.crash(N2);
    let restart_seq = c.engine(N1).next_seq();
    c.restart(N2, 1001);
    c.run_for(Duration::from_millis(500));
    assert_eq!(c.engine(N1).node(NodeId(1)).unwrap().generation(), 1001);
    // Nothing, or only what the new incarnation itself ACKed.
    let acked = c.engine(N1).node(NodeId(1)).unwrap().acked();
    assert!(
        acked == 0 || acked >= restart_seq,
        "{acked} < {restart_seq}"
    );
}

/// A node's first status is reported even when it says `init` (which is also what we call a
/// node not heard yet): the resource side must know it is there before its next status, or
/// it counts it out (with three or more nodes it then takes groups that node will take too).
#[test]
fn the_first_status_is_reported_even_when_it_says_init() {
    let mut c = Cluster::new(&["node1", "node2"]);
    c.crash(N2);
    let ts = c.wall();
    let init = forge(
        "node2",
        N2,
        1000,
        Some(1),
        ts,
        &[
            ("t", "status"),
            ("st", "init"),
            ("dt", "bb8"),
            ("protocol", "1"),
        ],
        &keys(),
    );
    let from = c.events(N1).len();
    c.inject(N1, BCAST, &init).unwrap();
    assert!(since(&c, N1, from).contains(&Event::NodeStatus {
        node: NodeId(1),
        status: NodeStatus::Init
    }));
}

/// A new incarnation is reported with its first message, whatever its type, before anything
/// it says is delivered (its `starting` must not reach the resource side as the old one's);
/// and a dead node's messages other than its status wait for that status (its return).
#[test]
fn a_new_incarnation_is_reported_before_its_messages() {
    let mut c = up_pair();
    c.run_for(Duration::from_millis(4000));
    c.crash(N2);
    let ts = c.wall();
    let from = c.events(N1).len();
    let takeover = forge(
        "node2",
        N2,
        1001,
        Some(7),
        ts,
        &[("t", "hb_takeover"), ("rsc_hold", "all")],
        &keys(),
    );
    c.inject(N1, BCAST, &takeover).unwrap();
    let events = since(&c, N1, from);
    let restarted = events
        .iter()
        .position(|e| {
            matches!(
                e,
                Event::Restarted {
                    node: NodeId(1),
                    ..
                }
            )
        })
        .expect("restart reported");
    let message = events
        .iter()
        .position(|e| matches!(e, Event::Message(m) if m.from == NodeId(1)))
        .expect("message delivered");
    assert!(restarted < message, "{events:?}");

    // Now dead (same generation): its messages wait for its status.
    c.run_for(Duration::from_millis(3500));
    assert_eq!(c.status_of(N1, N2), NodeStatus::Dead);
    let from = c.events(N1).len();
    let again = forge(
        "node2",
        N2,
        1001,
        Some(8),
        c.wall(),
        &[("t", "hb_takeover"), ("rsc_hold", "all")],
        &keys(),
    );
    c.inject(N1, BCAST, &again).unwrap();
    assert!(!since(&c, N1, from)
        .iter()
        .any(|e| matches!(e, Event::Message(_) | Event::ReturnedAfterPartition { .. })));
}
