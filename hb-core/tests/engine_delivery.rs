//! Reliable delivery: gaps asked for again with `NS_rexmit`, requests served from the history
//! or NAKed, ACKs every tenth message, flow control switched off by an old peer.

mod engine_harness;

use std::cell::Cell;
use std::rc::Rc;

use engine_harness::*;
use hb_core::engine::{Event, MessageKind, NodeId, NodeStatus, FLOWCONTROL_LIMIT, MAXMSGHIST};
use hb_core::msg::Field;
use hb_core::time::{Duration, Instant};

const N1: usize = 0;
const N2: usize = 1;

fn up_pair() -> Cluster {
    let mut c = Cluster::new(&["node1", "node2"]);
    c.run_for(Duration::from_millis(2000));
    assert!(c.engine(N1).is_comm_up() && c.engine(N2).is_comm_up());
    c
}

/// node2 sends a `resource` message; returns its seq.
fn send_resource(c: &mut Cluster) -> u64 {
    let (now, wall) = (c.now, c.wall());
    let seq = c
        .engine_mut(N2)
        .send_cluster_message(
            now,
            wall,
            &[
                Field::string("t", "resource"),
                Field::string("rsc_hold", "local"),
                Field::string("rtype", "full"),
                Field::string("isstable", "1"),
            ],
        )
        .unwrap();
    c.flush(N2);
    seq
}

/// Loses the first `copies` packets node2 sends node1 with this `seq`.
fn lose_seq(c: &mut Cluster, seq: u64, copies: usize) -> Rc<Cell<usize>> {
    let lost = Rc::new(Cell::new(0));
    let l = lost.clone();
    c.loss = Some(Box::new(move |w: &Wire| {
        if w.from == N2 && w.to == N1 && w.fields().seq() == Some(seq) && l.get() < copies {
            l.set(l.get() + 1);
            true
        } else {
            false
        }
    }));
    lost
}

#[test]
fn a_lost_message_is_asked_for_again_and_the_gap_is_filled() {
    let mut c = up_pair();
    c.run_for(Duration::from_millis(1000));
    // The message after node2's next one is lost on both media.
    let seq = c.engine(N2).next_seq();
    assert!(seq > 10, "decimal and hex differ: {seq}");
    lose_seq(&mut c, seq, 2);
    assert_eq!(send_resource(&mut c), seq);
    let sent_at = c.now;
    c.run_for(Duration::from_millis(1000));

    let gap_seen = c
        .first_event(N1, |e| {
            *e == Event::LostPackets {
                node: NodeId(1),
                count: 1,
                last: seq - 1,
                seq: seq + 1,
            }
        })
        .expect("the gap is noticed");
    // One NS_rexmit per missing message, decimal numbers, 50..250 ms after the gap.
    let requests: Vec<(Instant, Fields)> = c
        .sent_fields(N1)
        .into_iter()
        .filter(|(_, f)| f.t() == "NS_rexmit")
        .collect();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let (asked_at, req) = &requests[0];
    assert_eq!(
        req.names(),
        [
            "t", "dest", "firstseq", "lastseq", "destuuid", "src", "srcuuid", "hg", "ts", "ttl",
            "auth"
        ]
    );
    assert_eq!(req.get("dest"), Some("node2"));
    assert_eq!(req.get("firstseq"), Some(seq.to_string().as_str()));
    assert_eq!(req.get("lastseq"), Some(seq.to_string().as_str()));
    let delay = *asked_at - gap_seen;
    assert!(
        delay >= Duration::from_millis(50) && delay <= Duration::from_millis(250),
        "{delay:?}"
    );

    // node2 sent it again, byte for byte (same seq, same ts, same ld, same signatures).
    let copies: Vec<&Sent> = c.members[N2]
        .sent
        .iter()
        .filter(|s| Fields::decode(&s.bytes).seq() == Some(seq))
        .collect();
    assert_eq!(copies.len(), 2);
    assert_eq!(copies[0].bytes, copies[1].bytes);
    assert!(copies[1].at > *asked_at);

    // node1 got it: nothing missing, and the resource message delivered once.
    assert!(c
        .first_event(N1, |e| *e == Event::NoPacketsMissing { node: NodeId(1) })
        .is_some());
    let got: Vec<&Event> = c
        .events(N1)
        .iter()
        .map(|(_, e)| e)
        .filter(|e| matches!(e, Event::Message(m) if m.kind == MessageKind::Resource && m.from == NodeId(1)))
        .collect();
    assert_eq!(got.len(), 1);
    let Event::Message(m) = got[0] else {
        unreachable!()
    };
    assert_eq!(m.seq, seq);
    assert_eq!(m.get_str("rsc_hold"), Some("local"));
    assert_eq!(m.get_str("src"), None, "control fields are the engine's");
    assert_eq!(c.engine(N1).node(NodeId(1)).unwrap().missing_count(), 0);
    assert!(sent_at < gap_seen);
}

#[test]
fn requests_repeat_every_max_rexmit_delay_until_the_message_comes() {
    let mut c = up_pair();
    let seq = c.engine(N2).next_seq();
    // The original and its first two retransmissions are lost (two media each).
    lose_seq(&mut c, seq, 6);
    send_resource(&mut c);
    c.run_for(Duration::from_millis(2000));
    let asked: Vec<Instant> = c
        .sent_fields(N1)
        .into_iter()
        .filter(|(_, f)| f.t() == "NS_rexmit" && f.get("firstseq") == Some(&seq.to_string()))
        .map(|(t, _)| t)
        .collect();
    assert_eq!(asked.len(), 3, "{asked:?}");
    for w in asked.windows(2) {
        assert_eq!(w[1] - w[0], Duration::from_millis(250));
    }
    assert_eq!(c.engine(N1).node(NodeId(1)).unwrap().missing_count(), 0);
}

/// node1 and node2 up; node3 (index 2) never started, so it has ACKed nothing: requests
/// forged as node3's are served from the whole history.
fn up_trio() -> Cluster {
    let mut c = Cluster::new(&["node1", "node2", "node3"]);
    c.crash(2);
    c.run_for(Duration::from_millis(4000));
    assert!(c.engine(N1).is_comm_up() && c.engine(N2).is_comm_up());
    c
}

fn rexmit_from_node3(first: u64, last: u64, ts: u64) -> Vec<u8> {
    forge(
        "node3",
        2,
        1000,
        None,
        ts,
        &[
            ("t", "NS_rexmit"),
            ("dest", "node2"),
            ("firstseq", &first.to_string()),
            ("lastseq", &last.to_string()),
        ],
        &keys(),
    )
}

#[test]
fn a_message_is_sent_again_at_most_every_240_ms() {
    let mut c = up_trio();
    let seq = c.engine(N2).next_seq() - 1;
    let count = |c: &Cluster| {
        c.members[N2]
            .sent
            .iter()
            .filter(|s| Fields::decode(&s.bytes).seq() == Some(seq))
            .count()
    };
    let before = count(&c);
    c.inject(N2, BCAST, &rexmit_from_node3(seq, seq, WALL_START + 3))
        .unwrap();
    assert_eq!(count(&c), before + 1);
    c.run_for(Duration::from_millis(100));
    c.inject(N2, UCAST, &rexmit_from_node3(seq, seq, WALL_START + 3))
        .unwrap();
    assert_eq!(count(&c), before + 1, "within 240 ms: not again");
    c.run_for(Duration::from_millis(150));
    c.inject(N2, BCAST, &rexmit_from_node3(seq, seq, WALL_START + 4))
        .unwrap();
    assert_eq!(count(&c), before + 2);
}

#[test]
fn at_most_50_messages_are_sent_again_per_request() {
    let mut c = up_pair();
    c.run_for(Duration::from_millis(20_000));
    let newest = c.engine(N2).next_seq() - 1;
    let first = newest - 99;
    let req = forge(
        "node1",
        N1,
        1000,
        None,
        WALL_START + 30,
        &[
            ("t", "NS_rexmit"),
            ("dest", "node2"),
            ("firstseq", &first.to_string()),
            ("lastseq", &newest.to_string()),
        ],
        &keys(),
    );
    let before = c.members[N2].sent.len();
    c.inject(N2, BCAST, &req).unwrap();
    let resent: Vec<u64> = c.members[N2].sent[before..]
        .iter()
        .filter_map(|s| Fields::decode(&s.bytes).seq())
        .collect();
    // node1 has ACKed some of them already: those are skipped, the rest counted up to 50.
    let acked = c.engine(N2).node(NodeId(0)).unwrap().acked();
    assert!(acked >= first, "node1 ACKs: {acked}");
    assert_eq!(resent.len(), 50.min((newest - acked) as usize));
    assert_eq!(resent[0], acked + 1);
}

#[test]
fn a_request_for_a_message_no_longer_kept_gets_a_nak() {
    let mut c = up_trio();
    // Keep node2 busy long enough to forget its first messages.
    while c.engine(N2).next_seq() <= MAXMSGHIST as u64 + 20 {
        c.run_for(Duration::from_millis(5000));
    }
    let oldest = c.engine(N2).history().oldest().unwrap();
    assert!(oldest > 21);
    let before = c.members[N2].sent.len();
    c.inject(N2, BCAST, &rexmit_from_node3(20, 21, WALL_START + 200))
        .unwrap();
    let naks: Vec<Fields> = c.members[N2].sent[before..]
        .iter()
        .map(|s| Fields::decode(&s.bytes))
        .collect();
    assert_eq!(naks.len(), 2, "one NAK per message");
    let nak = &naks[0];
    assert_eq!(
        nak.names(),
        [
            "t", "firstseq", "dest", "info", "destuuid", "src", "srcuuid", "hg", "ts", "ttl",
            "auth"
        ]
    );
    assert_eq!(nak.t(), "NS_nak_rexmit");
    assert_eq!(nak.get("firstseq"), Some("14"), "hex");
    assert_eq!(naks[1].get("firstseq"), Some("15"));
    assert_eq!(nak.get("dest"), Some("node3"));
    assert_eq!(nak.get("info"), Some("seqno too low"));
}

#[test]
fn a_nak_stops_the_requests() {
    let mut c = up_pair();
    c.crash(N2);
    let last = c.engine(N1).node(NodeId(1)).unwrap().last_seq().unwrap();
    let status = |seq: u64| {
        forge(
            "node2",
            N2,
            1000,
            Some(seq),
            WALL_START + 2,
            &[
                ("t", "status"),
                ("st", "active"),
                ("dt", "3e8"),
                ("protocol", "1"),
            ],
            &keys(),
        )
    };
    c.inject(N1, BCAST, &status(last + 2)).unwrap();
    assert_eq!(c.engine(N1).node(NodeId(1)).unwrap().missing_count(), 1);
    let nak = forge(
        "node2",
        N2,
        1000,
        None,
        WALL_START + 2,
        &[
            ("t", "NS_nak_rexmit"),
            ("firstseq", &format!("{:x}", last + 1)),
            ("dest", "node1"),
            ("info", "seqno too low"),
        ],
        &keys(),
    );
    c.inject(N1, BCAST, &nak).unwrap();
    assert_eq!(c.engine(N1).node(NodeId(1)).unwrap().missing_count(), 0);
    let before = c.sent_fields(N1).len();
    c.run_for(Duration::from_millis(600));
    assert!(!c.sent_fields(N1)[before..]
        .iter()
        .any(|(_, f)| f.t() == "NS_rexmit"));
}

#[test]
fn a_gap_above_the_flow_control_limit_starts_tracking_over() {
    let mut c = up_pair();
    c.crash(N2);
    let last = c.engine(N1).node(NodeId(1)).unwrap().last_seq().unwrap();
    let jump = last + FLOWCONTROL_LIMIT + 2;
    let pkt = forge(
        "node2",
        N2,
        1000,
        Some(jump),
        WALL_START + 2,
        &[
            ("t", "status"),
            ("st", "active"),
            ("dt", "3e8"),
            ("protocol", "1"),
        ],
        &keys(),
    );
    c.inject(N1, BCAST, &pkt).unwrap();
    let n = c.engine(N1).node(NodeId(1)).unwrap();
    assert_eq!(n.missing_count(), 0);
    assert_eq!(n.last_seq(), Some(jump));
    assert!(c
        .first_event(N1, |e| *e == Event::LostManyPackets { node: NodeId(1) })
        .is_some());
}

#[test]
fn every_tenth_message_is_acked_when_the_protocol_is_1() {
    let mut c = up_pair();
    let from = c.now;
    c.run_for(Duration::from_millis(10_000));
    for (me, peer) in [(N1, N2), (N2, N1)] {
        let trigger = u64::from(c.engine(me).node(NodeId(peer as u8)).unwrap().ack_trigger());
        let own_trigger = u64::from(c.engine(me).node(NodeId(me as u8)).unwrap().ack_trigger());
        let received: Vec<u64> = c
            .delivered_from(peer, me)
            .into_iter()
            .filter(|(t, _)| *t > from)
            .filter_map(|(_, f)| f.seq())
            .collect();
        let acks: Vec<(String, u64)> = c
            .sent_fields(me)
            .into_iter()
            .filter(|(t, f)| *t > from && f.t() == "NS_ackmsg")
            .map(|(_, f)| {
                assert_eq!(
                    f.names(),
                    [
                        "t", "dest", "ackseq", "destuuid", "src", "srcuuid", "hg", "ts", "ttl",
                        "auth"
                    ]
                );
                (
                    f.get("dest").unwrap().to_string(),
                    u64::from_str_radix(f.get("ackseq").unwrap(), 16).unwrap(),
                )
            })
            .collect();
        let to_peer: Vec<u64> = acks
            .iter()
            .filter(|(d, _)| *d == c.names[peer])
            .map(|(_, s)| *s)
            .collect();
        let mut expected: Vec<u64> = received
            .iter()
            .copied()
            .filter(|s| s % 10 == trigger)
            .collect();
        expected.dedup();
        assert_eq!(to_peer, expected, "{me} acks {peer}");
        assert!(to_peer.len() >= 4);
        // ...and its own messages, as 3.0.6 does.
        let to_self: Vec<u64> = acks
            .iter()
            .filter(|(d, _)| *d == c.names[me])
            .map(|(_, s)| *s)
            .collect();
        assert!(!to_self.is_empty());
        assert!(to_self.iter().all(|s| s % 10 == own_trigger));
        // The peer learns how far we got.
        let acked = c.engine(peer).node(NodeId(me as u8)).unwrap().acked();
        assert_eq!(acked, *to_peer.last().unwrap());
    }
}

#[test]
fn a_peer_without_protocol_switches_flow_control_off_for_good() {
    let mut c = Cluster::new(&["node1", "node2"]);
    c.crash(N2);
    // node2 is an old heartbeat: no `protocol` in its status messages.
    let status = |seq: u64, st: &str| {
        forge(
            "node2",
            N2,
            77,
            Some(seq),
            WALL_START,
            &[("t", "status"), ("st", st), ("dt", "3e8")],
            &keys(),
        )
    };
    c.run_for(Duration::from_millis(100));
    c.inject(N1, BCAST, &status(1, "up")).unwrap();
    assert!(c
        .first_event(N1, |e| *e == Event::FlowControlDisabled { node: NodeId(1) })
        .is_some());
    assert!(!c.engine(N1).flow_control());
    // Everyone heard, flow control off: comm up at once, without reqnodes.
    assert!(c.engine(N1).is_comm_up());
    let from = c.now;
    for seq in 2..40 {
        c.inject(N1, BCAST, &status(seq, "active")).unwrap();
        c.run_for(Duration::from_millis(200));
    }
    let sent: Vec<(Instant, Fields)> = c.sent_fields(N1);
    assert!(!sent.iter().any(|(_, f)| f.t() == "reqnodes"));
    assert!(!sent.iter().any(|(t, f)| *t >= from && f.t() == "NS_ackmsg"));
    let statuses: Vec<&Fields> = sent
        .iter()
        .filter(|(t, f)| *t > from && f.t() == "status")
        .map(|(_, f)| f)
        .collect();
    assert!(statuses.len() > 30);
    for f in statuses {
        assert_eq!(
            f.names(),
            ["t", "st", "dt", "src", "srcuuid", "seq", "hg", "ts", "ld", "ttl", "auth"]
        );
    }
    assert_eq!(c.status_of(N1, N2), NodeStatus::Active);
}

#[test]
fn resource_messages_wait_for_comm_up_but_shutdone_does_not() {
    let mut c = Cluster::new(&["node1", "node2"]);
    c.crash(N2);
    c.run_for(Duration::from_millis(100));
    let msg = |seq: u64, body: &[(&str, &str)]| {
        forge("node2", N2, 5, Some(seq), WALL_START, body, &keys())
    };
    c.inject(N1, BCAST, &msg(1, &[("t", "starting")])).unwrap();
    c.inject(N1, BCAST, &msg(2, &[("t", "shutdone"), ("st", "dead")]))
        .unwrap();
    let kinds: Vec<MessageKind> = c
        .events(N1)
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Message(m) => Some(m.kind),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, [MessageKind::Shutdone]);
}

#[test]
fn our_own_messages_come_back_and_shutdone_completes_the_shutdown() {
    let mut c = up_pair();
    let (now, wall) = (c.now, c.wall());
    c.engine_mut(N1)
        .handle_command(now, wall, hb_core::engine::Command::Shutdown)
        .unwrap();
    c.engine_mut(N1).send_shutdone(now, wall).unwrap();
    c.flush(N1);
    let tail: Vec<&Event> = c.events(N1).iter().rev().take(3).map(|(_, e)| e).collect();
    assert!(matches!(tail[0], Event::ShutdownComplete));
    assert!(
        matches!(tail[1], Event::Message(m) if m.kind == MessageKind::Shutdone && m.from == NodeId(0))
    );
    c.run_for(Duration::from_millis(10));
    assert!(c
        .events(N2)
        .iter()
        .any(|(_, e)| matches!(e, Event::Message(m) if m.kind == MessageKind::Shutdone && m.from == NodeId(0) && m.get_str("st") == Some("dead"))));
}

#[test]
fn under_random_loss_every_message_arrives_exactly_once_and_nobody_dies() {
    let mut c = Cluster::new(&["node1", "node2"]);
    // A quarter of all packets lost, on every medium, both ways (seeded: reproducible).
    let mut state = 0x2545_f491_4f6c_dd1du64;
    c.loss = Some(Box::new(move |_w: &Wire| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % 4 == 0
    }));
    c.run_for(Duration::from_millis(5000));
    assert!(c.engine(N1).is_comm_up() && c.engine(N2).is_comm_up());
    let mut sent = Vec::new();
    for n in 0..100 {
        let (now, wall) = (c.now, c.wall());
        let info = format!("msg-{n}");
        c.engine_mut(N2)
            .send_cluster_message(
                now,
                wall,
                &[
                    Field::string("t", "hb_takeover"),
                    Field::string("info", &info),
                ],
            )
            .unwrap();
        c.flush(N2);
        sent.push(info);
        c.run_for(Duration::from_millis(300));
    }
    c.loss = None;
    c.run_for(Duration::from_millis(3000));
    let got: Vec<String> = c
        .events(N1)
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Message(m) if m.from == NodeId(1) && m.kind == MessageKind::HbTakeover => {
                Some(m.get_str("info").unwrap().to_string())
            }
            _ => None,
        })
        .collect();
    let mut sorted = got.clone();
    sorted.sort();
    let mut expected = sent.clone();
    expected.sort();
    assert_eq!(sorted, expected, "each message exactly once");
    assert!(c.sent_fields(N1).iter().any(|(_, f)| f.t() == "NS_rexmit"));
    for me in [N1, N2] {
        assert_eq!(
            c.count_events(me, |e| matches!(e, Event::NodeDead { .. })),
            0
        );
        assert_eq!(
            c.engine(me)
                .node(NodeId(1 - me as u8))
                .unwrap()
                .missing_count(),
            0
        );
    }
}
