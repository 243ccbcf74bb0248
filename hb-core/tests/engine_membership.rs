//! Membership: two engines on one virtual clock see each other, come up through the node-list
//! exchange, and notice silence, slowness, cut links, restarts, partitions and forgeries as
//! heartbeat 3.0.6 does.

mod engine_harness;

use engine_harness::*;
use hb_core::engine::{Event, MediumId, NodeId, NodeStatus, RxError};
use hb_core::time::{Duration, Instant};

const N1: usize = 0;
const N2: usize = 1;

fn up_pair() -> Cluster {
    let mut c = Cluster::new(&["node1", "node2"]);
    c.run_for(Duration::from_millis(2000));
    assert!(c.engine(N1).is_comm_up() && c.engine(N2).is_comm_up());
    c
}

#[test]
fn two_nodes_see_each_other_and_become_active() {
    let mut c = Cluster::new(&["node1", "node2"]);
    c.run_for(Duration::from_millis(2000));
    for (me, peer) in [(N1, N2), (N2, N1)] {
        let e = c.engine(me);
        assert!(e.is_comm_up(), "{me}");
        assert_eq!(e.local_status(), NodeStatus::Active);
        assert_eq!(c.status_of(me, peer), NodeStatus::Active);
        assert!(e.flow_control());
        assert!(
            c.members[me].rx_errors.is_empty(),
            "{:?}",
            c.members[me].rx_errors
        );
        // The log 3.0.6 writes: local status up, the peer up, comm up, local status active,
        // the peer active.
        let order: Vec<&Event> = c.events(me).iter().map(|(_, e)| e).collect();
        let pos = |f: &dyn Fn(&Event) -> bool| order.iter().position(|e| f(e)).unwrap();
        let local_up = pos(&|e| {
            *e == Event::LocalStatus {
                status: NodeStatus::Up,
            }
        });
        let peer_up = pos(&|e| {
            *e == Event::NodeStatus {
                node: NodeId(peer as u8),
                status: NodeStatus::Up,
            }
        });
        let comm_up = pos(&|e| *e == Event::CommUp);
        let local_active = pos(&|e| {
            *e == Event::LocalStatus {
                status: NodeStatus::Active,
            }
        });
        let peer_active = pos(&|e| {
            *e == Event::NodeStatus {
                node: NodeId(peer as u8),
                status: NodeStatus::Active,
            }
        });
        assert!(local_up < peer_up && peer_up < comm_up && comm_up < local_active);
        assert!(peer_up < peer_active);
        for m in [BCAST, UCAST] {
            assert!(e.link_up(NodeId(peer as u8), m));
        }
        // Our own link: bcast comes back to us.
        assert!(e.link_up(NodeId(me as u8), BCAST));
    }
    // Each asked the other for the node list and answered the other's request.
    for (me, peer) in [(N1, N2), (N2, N1)] {
        let sent = c.sent_fields(me);
        let req = sent.iter().find(|(_, f)| f.t() == "reqnodes").unwrap();
        assert_eq!(req.1.get("dest"), Some(c.names[peer].as_str()));
        let rep = sent.iter().find(|(_, f)| f.t() == "repnodes").unwrap();
        assert_eq!(rep.1.get("nodelist"), Some("node1 node2 "));
        assert_eq!(rep.1.get("delnodelist"), Some(" "));
    }
}

#[test]
fn the_start_sends_init_up_up_then_active_and_drops_the_deadtime_bump_after_5s() {
    let mut c = Cluster::new(&["node1", "node2"]);
    c.run_for(Duration::from_millis(6000));
    let statuses: Vec<(Instant, String, String, Option<u64>)> = c
        .sent_fields(N1)
        .into_iter()
        .filter(|(_, f)| f.t() == "status")
        .map(|(t, f)| {
            (
                t,
                f.get("st").unwrap().to_string(),
                f.get("dt").unwrap().to_string(),
                f.seq(),
            )
        })
        .collect();
    let start = statuses[0].0;
    assert_eq!(
        statuses[..3]
            .iter()
            .map(|s| (s.1.as_str(), s.2.as_str(), s.3))
            .collect::<Vec<_>>(),
        [
            ("init", "bb8", Some(1)),
            ("up", "bb8", Some(2)),
            ("up", "bb8", Some(3))
        ]
    );
    // After comm-up: active. Until 5 s: dt=bb8 (deadtime + 2 s); then 3e8, with one status
    // sent the moment the bump goes.
    assert!(statuses.iter().any(|s| s.1 == "active"));
    let pop = start + Duration::from_millis(5000);
    for s in &statuses {
        if s.0 != pop {
            let expect = if s.0 < pop { "bb8" } else { "3e8" };
            assert_eq!(s.2, expect, "{s:?}");
        }
    }
    // At 5 s the beat goes out first, still bumped, then the status of the pop (as in
    // 01-startup: #77, #78).
    let at_pop: Vec<_> = statuses.iter().filter(|s| s.0 == pop).collect();
    assert_eq!(at_pop.len(), 2, "keepalive and the pop: {at_pop:?}");
    assert_eq!((at_pop[0].2.as_str(), at_pop[1].2.as_str()), ("bb8", "3e8"));
    // Sequence numbers: +1 per sequenced message, whatever its type.
    let seqs: Vec<u64> = c
        .sent_fields(N1)
        .iter()
        .filter_map(|(_, f)| f.seq())
        .collect();
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0] + 1);
    }
}

#[test]
fn status_cadence_is_keepalive() {
    let mut c = up_pair();
    let from = c.now;
    c.run_for(Duration::from_millis(4000));
    let times: Vec<Instant> = c
        .sent_fields(N1)
        .into_iter()
        .filter(|(t, f)| *t >= from && f.t() == "status")
        .map(|(t, _)| t)
        .collect();
    assert!(times.len() >= 19, "{}", times.len());
    let mut gaps: Vec<u64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    // One extra status at the deadtime pop (5 s after start) lands between two beats.
    gaps.retain(|&g| g != 0);
    assert!(gaps.iter().all(|&g| g == 200), "{gaps:?}");
    // The beats stay on the start's grid (node1's: node2 follows it, see
    // `a_pair_beats_in_step_and_a_follower_keeps_time_alone`).
    let start = c.members[N1].sent[0].at;
    for t in &times {
        assert_eq!((*t - start).as_millis() % 200, 0);
    }
}

#[test]
fn death_is_declared_after_deadtime_and_no_later_than_one_keepalive_more() {
    let mut c = up_pair();
    c.run_for(Duration::from_millis(4000)); // past the deadtime bump: dt=3e8
    c.crash(N2);
    c.run_for(Duration::from_millis(3000));
    let last_status = c
        .delivered_from(N2, N1)
        .into_iter()
        .filter(|(_, f)| f.t() == "status")
        .map(|(t, _)| t)
        .next_back()
        .unwrap();
    let dead = c
        .first_event(N1, |e| {
            *e == Event::NodeDead {
                node: NodeId(1),
                heard_from: true,
            }
        })
        .unwrap();
    assert!(dead >= last_status + DEADTIME, "{dead:?} {last_status:?}");
    assert!(dead <= last_status + DEADTIME + KEEPALIVE);
    assert_eq!(c.status_of(N1, N2), NodeStatus::Dead);
    // The links die with it (same dead time) and our own link stays.
    for m in [BCAST, UCAST] {
        let t = c
            .first_event(N1, |e| {
                *e == Event::LinkDead {
                    node: NodeId(1),
                    medium: m,
                }
            })
            .unwrap();
        assert!(t <= last_status + DEADTIME + KEEPALIVE);
    }
    assert!(c.engine(N1).link_up(NodeId(0), BCAST));
    // Only one death is reported.
    assert_eq!(
        c.count_events(N1, |e| matches!(e, Event::NodeDead { .. })),
        1
    );
}

#[test]
fn a_silent_peer_is_dead_after_initdead_and_comm_comes_up_alone() {
    let mut c = Cluster::new(&["node1", "node2"]);
    c.crash(N2);
    let start = c.now;
    c.run_for(Duration::from_millis(5000));
    // Never heard from: heard_from is false (STONITH would be needed before a takeover).
    let dead = c
        .first_event(N1, |e| {
            *e == Event::NodeDead {
                node: NodeId(1),
                heard_from: false,
            }
        })
        .unwrap();
    assert_eq!((dead - start).as_millis(), INITDEAD.as_millis() + 1);
    // Nobody to ask for the node list: comm up at once.
    let up = c.first_event(N1, |e| *e == Event::CommUp).unwrap();
    assert_eq!(up, dead);
    assert!(!c.sent_fields(N1).iter().any(|(_, f)| f.t() == "reqnodes"));
}

#[test]
fn a_late_heartbeat_is_reported_with_its_interval() {
    let mut c = up_pair();
    c.run_for(Duration::from_millis(4000));
    // node2 stalls for 700 ms (timers and reads: it would otherwise answer node1's status
    // with its own): its next status comes ~800 ms after the previous one.
    c.members[N2].stalled_until = Some(c.now + Duration::from_millis(700));
    c.members[N2].stall_reads = true;
    c.run_for(Duration::from_millis(2000));
    let late: Vec<&Event> = c
        .events(N1)
        .iter()
        .map(|(_, e)| e)
        .filter(|e| matches!(e, Event::LateHeartbeat { .. }))
        .collect();
    assert_eq!(late.len(), 1, "{late:?}");
    let Event::LateHeartbeat {
        node,
        gap,
        beyond_deadtime,
    } = late[0]
    else {
        unreachable!()
    };
    assert_eq!(*node, NodeId(1));
    assert!(!beyond_deadtime);
    assert!(*gap > WARNTIME && *gap < DEADTIME, "{gap:?}");
    assert_eq!(c.status_of(N1, N2), NodeStatus::Active);
    assert_eq!(
        c.count_events(N1, |e| matches!(e, Event::NodeDead { .. })),
        0
    );
}

#[test]
fn a_heartbeat_later_than_deadtime_kills_the_node_at_once() {
    let mut c = up_pair();
    c.run_for(Duration::from_millis(4000));
    // node1's own timers stall for 1.5 s, so it cannot time node2 out; node2 goes silent for
    // the same time. When node2's next status arrives, the gap alone is enough (3.0.6).
    let t0 = c.now;
    c.members[N1].stalled_until = Some(t0 + Duration::from_millis(1500));
    c.members[N2].stalled_until = Some(t0 + Duration::from_millis(1200));
    c.run_for(Duration::from_millis(1300));
    let late = c.events(N1).iter().find(|(_, e)| {
        matches!(
            e,
            Event::LateHeartbeat {
                beyond_deadtime: true,
                ..
            }
        )
    });
    assert!(late.is_some(), "{:?}", c.events(N1));
    // Declared dead, then alive again with the same status message.
    let dead = c.first_event(N1, |e| {
        matches!(
            e,
            Event::NodeDead {
                node: NodeId(1),
                ..
            }
        )
    });
    assert!(dead.is_some());
    assert_eq!(c.status_of(N1, N2), NodeStatus::Active);
}

#[test]
fn one_cut_medium_kills_its_link_but_not_the_node() {
    let mut c = up_pair();
    c.run_for(Duration::from_millis(4000));
    c.cut_medium(UCAST);
    let cut_at = c.now;
    c.run_for(Duration::from_millis(3000));
    for (me, peer) in [(N1, N2), (N2, N1)] {
        let t = c
            .first_event(me, |e| {
                *e == Event::LinkDead {
                    node: NodeId(peer as u8),
                    medium: UCAST,
                }
            })
            .expect("the ucast link dies");
        assert!(t + KEEPALIVE > cut_at + DEADTIME && t <= cut_at + DEADTIME + KEEPALIVE);
        assert!(!c.engine(me).link_up(NodeId(peer as u8), UCAST));
        assert!(c.engine(me).link_up(NodeId(peer as u8), BCAST));
        assert_eq!(c.status_of(me, peer), NodeStatus::Active);
        assert_eq!(
            c.count_events(me, |e| matches!(e, Event::NodeDead { .. })),
            0
        );
    }
    c.heal();
    c.run_for(Duration::from_millis(500));
    assert_eq!(
        c.count_events(N1, |e| *e
            == Event::LinkUp {
                node: NodeId(1),
                medium: UCAST
            }),
        2
    );
    assert!(c.engine(N1).link_up(NodeId(1), UCAST));
}

#[test]
fn a_restart_with_a_higher_generation_is_a_restart() {
    let mut c = up_pair();
    c.run_for(Duration::from_millis(4000));
    c.crash(N2);
    c.run_for(Duration::from_millis(2000));
    assert_eq!(c.status_of(N1, N2), NodeStatus::Dead);
    c.restart(N2, 1001);
    c.run_for(Duration::from_millis(3000));
    let restarted = c
        .first_event(N1, |e| {
            *e == Event::Restarted {
                node: NodeId(1),
                generation: 1001,
                announced: false,
            }
        })
        .expect("restart reported");
    // As in node2's log of the capture: restart, init, up, active.
    let after: Vec<&Event> = c
        .events(N1)
        .iter()
        .filter(|(t, _)| *t >= restarted)
        .map(|(_, e)| e)
        .filter(|e| matches!(e, Event::NodeStatus { .. }))
        .collect();
    assert_eq!(
        after,
        [NodeStatus::Init, NodeStatus::Up, NodeStatus::Active]
            .iter()
            .map(|&status| Event::NodeStatus {
                node: NodeId(1),
                status
            })
            .collect::<Vec<_>>()
            .iter()
            .collect::<Vec<_>>()
    );
    assert!(c.engine(N2).is_comm_up());
    assert_eq!(c.engine(N1).node(NodeId(1)).unwrap().generation(), 1001);
    assert_eq!(
        c.count_events(N1, |e| matches!(e, Event::ReturnedAfterPartition { .. })),
        0
    );
    assert!(
        c.members[N1].rx_errors.is_empty(),
        "{:?}",
        c.members[N1].rx_errors
    );
}

#[test]
fn a_quick_restart_is_noticed_before_the_node_is_declared_dead() {
    let mut c = up_pair();
    c.run_for(Duration::from_millis(4000));
    c.crash(N2);
    c.run_for(Duration::from_millis(300));
    c.restart(N2, 1001);
    c.run_for(Duration::from_millis(3000));
    assert!(c
        .first_event(N1, |e| matches!(e, Event::Restarted { .. }))
        .is_some());
    assert_eq!(
        c.count_events(N1, |e| matches!(e, Event::NodeDead { .. })),
        0
    );
    assert_eq!(c.status_of(N1, N2), NodeStatus::Active);
}

#[test]
fn a_partition_healed_with_the_same_generation_is_a_return_after_partition() {
    let mut c = up_pair();
    c.run_for(Duration::from_millis(4000));
    c.partition();
    c.run_for(Duration::from_millis(2000));
    assert_eq!(c.status_of(N1, N2), NodeStatus::Dead);
    assert_eq!(c.status_of(N2, N1), NodeStatus::Dead);
    let healed = c.now;
    c.heal();
    c.run_for(Duration::from_millis(1000));
    for (me, peer) in [(N1, N2), (N2, N1)] {
        let node = NodeId(peer as u8);
        let t = c
            .first_event(me, |e| *e == Event::ReturnedAfterPartition { node })
            .expect("returning after partition");
        assert!(t >= healed && t <= healed + KEEPALIVE + Duration::from_millis(2));
        assert_eq!(c.status_of(me, peer), NodeStatus::Active);
        assert_eq!(
            c.count_events(me, |e| matches!(e, Event::Restarted { .. })),
            0
        );
        // Death is reported once, not again by the late status that ends the partition.
        assert_eq!(
            c.count_events(me, |e| *e
                == Event::NodeDead {
                    node,
                    heard_from: true
                }),
            1
        );
    }
}

#[test]
fn a_replayed_packet_of_an_older_generation_is_rejected_and_changes_nothing() {
    let mut c = up_pair();
    c.run_for(Duration::from_millis(1000));
    let old = c
        .delivered
        .iter()
        .rev()
        .find(|w| w.from == N2 && w.to == N1 && w.fields().t() == "status")
        .unwrap()
        .clone();
    c.crash(N2);
    c.run_for(Duration::from_millis(300));
    c.restart(N2, 1001);
    c.run_for(Duration::from_millis(3000));
    let before = c.engine(N1).node(NodeId(1)).unwrap().clone();
    let next_seq = c.engine(N1).next_seq();
    let events_before = c.events(N1).len();
    assert_eq!(c.inject(N1, BCAST, &old.bytes), Err(RxError::Replay));
    let after = c.engine(N1).node(NodeId(1)).unwrap();
    assert_eq!(after.generation(), 1001);
    assert_eq!(after.last_seq(), before.last_seq());
    assert_eq!(after.status(), before.status());
    assert_eq!(c.engine(N1).next_seq(), next_seq);
    let new: Vec<&Event> = c.events(N1)[events_before..]
        .iter()
        .map(|(_, e)| e)
        .collect();
    assert_eq!(
        new,
        [&Event::ReplayRejected {
            node: NodeId(1),
            generation: 1000,
            current: 1001
        }]
    );
}

#[test]
fn a_packet_signed_with_another_key_is_rejected() {
    let mut c = up_pair();
    let forged = forge(
        "node2",
        N2,
        1000,
        Some(10_000),
        WALL_START + 5,
        &[
            ("t", "status"),
            ("st", "active"),
            ("dt", "3e8"),
            ("protocol", "1"),
        ],
        &keys_with(b"not-the-key"),
    );
    let events_before = c.events(N1).len();
    assert_eq!(c.inject(N1, BCAST, &forged), Err(RxError::BadAuth));
    assert_eq!(c.events(N1).len(), events_before);
    // The same packet with the right key goes through (and shows a gap).
    let good = forge(
        "node2",
        N2,
        1000,
        Some(10_000),
        WALL_START + 5,
        &[
            ("t", "status"),
            ("st", "active"),
            ("dt", "3e8"),
            ("protocol", "1"),
        ],
        &keys(),
    );
    assert_eq!(c.inject(N1, BCAST, &good), Ok(()));
    assert!(c.events(N1).len() > events_before);
}

#[test]
fn unknown_nodes_and_broken_packets_are_refused() {
    let mut c = up_pair();
    let stranger = forge(
        "node9",
        7,
        1,
        Some(1),
        WALL_START,
        &[("t", "status"), ("st", "up")],
        &keys(),
    );
    assert_eq!(c.inject(N1, BCAST, &stranger), Err(RxError::UnknownNode));
    let no_ts = forge(
        "node2",
        N2,
        1000,
        Some(1),
        0,
        &[("t", "status"), ("st", "up")],
        &keys(),
    );
    assert_eq!(c.inject(N1, BCAST, &no_ts), Err(RxError::Malformed));
    assert_eq!(c.inject(N1, BCAST, b"hello"), Err(RxError::Malformed));
    assert_eq!(
        c.inject(N1, MediumId(9), &stranger),
        Err(RxError::UnknownMedium)
    );
}

#[test]
fn messages_for_another_node_are_tracked_but_not_taken() {
    let mut c = up_pair();
    c.run_for(Duration::from_millis(500));
    let last = c.engine(N1).node(NodeId(1)).unwrap().last_seq().unwrap();
    let for_node3 = forge(
        "node2",
        N2,
        1000,
        Some(last + 1),
        WALL_START + 2,
        &[("t", "resource"), ("dest", "node3"), ("rsc_hold", "all")],
        &keys(),
    );
    let before = c.count_events(N1, |e| matches!(e, Event::Message(_)));
    assert_eq!(c.inject(N1, BCAST, &for_node3), Ok(()));
    assert_eq!(
        c.engine(N1).node(NodeId(1)).unwrap().last_seq(),
        Some(last + 1)
    );
    assert_eq!(
        c.count_events(N1, |e| matches!(e, Event::Message(_))),
        before
    );
}

#[test]
fn a_uuid_is_learnt_and_a_new_one_adopted() {
    let mut c = up_pair();
    assert_eq!(
        c.engine(N1).node(NodeId(1)).unwrap().uuid(),
        Some(uuid_of(N2))
    );
    // node2 as another machine (new uuid) with a newer generation.
    let mut other = uuid_of(N2);
    other[15] ^= 0xff;
    let fields = [
        hb_core::msg::Field::string("t", "status"),
        hb_core::msg::Field::string("st", "up"),
        hb_core::msg::Field::string("dt", "3e8"),
        hb_core::msg::Field::string("protocol", "1"),
        hb_core::msg::Field::string("src", "node2"),
        hb_core::msg::Field::binary("srcuuid", &other),
        hb_core::msg::Field::string("seq", "1"),
        hb_core::msg::Field::string("hg", "5000"),
        hb_core::msg::Field::string("ts", "6b0214b0"),
        hb_core::msg::Field::string("ld", "x"),
        hb_core::msg::Field::string("ttl", "3"),
    ];
    assert_eq!(c.inject(N1, BCAST, &sign(&fields, &keys())), Ok(()));
    assert_eq!(c.engine(N1).node(NodeId(1)).unwrap().uuid(), Some(other));
    assert!(c
        .first_event(N1, |e| *e == Event::UuidChanged { node: NodeId(1) })
        .is_some());
}

/// 3.0.6's restart exec (a reload): the node asks for `deadtime` + 30 s first; its peer uses
/// that dead time for it and reports the new generation as an announced restart. A node that
/// just restarted (an unannounced restart) is reported as such.
#[test]
fn an_announced_restart_is_told_apart() {
    let mut c = up_pair();
    c.run_for(Duration::from_millis(6000));
    let (now, wall) = (c.now, c.wall());
    c.engine_mut(N2).announce_restart(now, wall);
    c.flush(N2);
    c.run_for(Duration::from_millis(500));
    assert_eq!(
        c.engine(N1).node(NodeId(1)).unwrap().dead_interval(),
        DEADTIME + Duration::from_millis(30_000)
    );
    c.crash(N2);
    // Longer than its usual dead time: it asked for more.
    c.run_for(Duration::from_millis(3000));
    assert_eq!(c.status_of(N1, N2), NodeStatus::Active);
    c.restart(N2, 1001);
    c.run_for(Duration::from_millis(3000));
    assert!(c
        .first_event(N1, |e| *e
            == Event::Restarted {
                node: NodeId(1),
                generation: 1001,
                announced: true,
            })
        .is_some());
    assert_eq!(
        c.count_events(N1, |e| matches!(e, Event::NodeDead { .. })),
        0
    );
    // Its next restart, unannounced, is not.
    c.crash(N2);
    c.run_for(Duration::from_millis(300));
    c.restart(N2, 1002);
    c.run_for(Duration::from_millis(3000));
    assert!(c
        .first_event(N1, |e| *e
            == Event::Restarted {
                node: NodeId(1),
                generation: 1002,
                announced: false,
            })
        .is_some());
}

/// hbsim seed 17459: the restarted node's `reqnodes` overtook its first status (`up`). That
/// status, coming next, belongs to the same plain restart: taken for a return after a
/// partition, it made the resource layer heal with a node that had just started, dropping the
/// takeover the restart had queued, and a group stayed down for good.
#[test]
fn a_restart_seen_first_by_its_reqnodes_is_no_return_after_a_partition() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let mut c = up_pair();
    c.run_for(Duration::from_millis(4000));
    c.crash(N2);
    c.run_for(Duration::from_millis(2000));
    assert_eq!(c.status_of(N1, N2), NodeStatus::Dead);
    let crashed = c.now;
    // Its first statuses are held back, to be delivered after its `reqnodes`.
    type Held = Rc<RefCell<Vec<(MediumId, Vec<u8>)>>>;
    let held: Held = Rc::default();
    let h = held.clone();
    let until = c.now + Duration::from_millis(2);
    c.loss = Some(Box::new(move |w| {
        let hold = w.from == N2 && w.at < until && Fields::decode(&w.bytes).t() == "status";
        if hold {
            h.borrow_mut().push((w.medium, w.bytes.clone()));
        }
        hold
    }));
    c.restart(N2, 1001);
    c.run_for(Duration::from_millis(2));
    let overtaken = held.borrow().clone();
    assert!(!overtaken.is_empty(), "its first status was held back");
    for (medium, bytes) in overtaken {
        let _ = c.inject(N1, medium, &bytes);
    }
    c.loss = None;
    c.run_for(Duration::from_millis(3000));
    let after: Vec<&Event> = c
        .events(N1)
        .iter()
        .filter(|(t, _)| *t >= crashed)
        .map(|(_, e)| e)
        .collect();
    let restarted = after
        .iter()
        .position(|e| matches!(e, Event::Restarted { .. }))
        .expect("restart reported");
    let first_status = after
        .iter()
        .position(|e| matches!(e, Event::NodeStatus { node, .. } if *node == NodeId(1)))
        .expect("its status seen");
    assert!(restarted < first_status, "the reqnodes came first");
    assert_eq!(
        c.count_events(N1, |e| matches!(e, Event::ReturnedAfterPartition { .. })),
        0
    );
    assert_eq!(c.status_of(N1, N2), NodeStatus::Active);
}

/// With `HB_BEAT_IN_STEP`, at rest the two nodes beat in step: one sends on its timer, the other answers each of its
/// statuses at once with its own, so its loop wakes once a period. Each still sends one status
/// a keepalive; when the leader falls silent the follower's own timer takes over, a margin
/// after the keepalive.
#[test]
fn a_pair_beats_in_step_and_a_follower_keeps_time_alone() {
    let mut c = Cluster::in_step(&["node1", "node2"]);
    c.run_for(Duration::from_millis(2000));
    assert!(c.engine(N1).is_comm_up() && c.engine(N2).is_comm_up());
    c.run_for(Duration::from_millis(4000));
    let from = c.now;
    c.run_for(Duration::from_millis(4000));
    let statuses = |c: &Cluster, i: usize, after: Instant| -> Vec<Instant> {
        c.sent_fields(i)
            .into_iter()
            .filter(|(at, f)| *at > after && f.t() == "status")
            .map(|(at, _)| at)
            .collect()
    };
    // From the start, stepping in line included: never a status later than a keepalive, the
    // peer's travel time and a margin (1/16 keepalive) after the one before.
    for i in [N1, N2] {
        let all = statuses(&c, i, Instant::ZERO);
        for w in all.windows(2) {
            assert!(
                w[1] - w[0] <= KEEPALIVE + Duration::from_millis(2 + 12),
                "{all:?}"
            );
        }
    }
    let (s1, s2) = (statuses(&c, N1, from), statuses(&c, N2, from));
    for s in [&s1, &s2] {
        // 4 s at 200 ms: 20 statuses each, evenly spaced.
        assert!((19..=21).contains(&s.len()), "{s:?}");
        for w in s.windows(2) {
            assert_eq!(w[1] - w[0], KEEPALIVE, "{s:?}");
        }
    }
    // One of them sends exactly when the other's status reaches it.
    let follows = |me: usize, peer: usize, mine: &[Instant]| {
        let arrivals: Vec<Instant> = c
            .delivered_from(peer, me)
            .into_iter()
            .filter(|(_, f)| f.t() == "status")
            .map(|(at, _)| at)
            .collect();
        mine.iter().all(|t| arrivals.contains(t))
    };
    assert!(
        follows(N2, N1, &s2) ^ follows(N1, N2, &s1),
        "node1 {s1:?}\nnode2 {s2:?}"
    );
    let (leader, follower) = if follows(N2, N1, &s2) {
        (N1, N2)
    } else {
        (N2, N1)
    };
    // The leader goes silent: the follower's own timer, 1/16 keepalive late.
    c.crash(leader);
    let crashed = c.now;
    c.run_for(Duration::from_millis(800));
    let alone = statuses(&c, follower, crashed);
    assert!(alone.len() >= 3, "{alone:?}");
    for w in alone.windows(2) {
        assert_eq!(w[1] - w[0], KEEPALIVE, "{alone:?}");
    }
    assert!(
        alone[0] - crashed <= KEEPALIVE + Duration::from_millis(12 + 2),
        "{alone:?}"
    );
}
