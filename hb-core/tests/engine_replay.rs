//! Captured traffic replayed: an engine set up as node2 of the captured cluster is fed node1's
//! packets of `01-startup`, `02-steady` and `03-death-takeover` (both media, in capture time
//! order, capture times as `now`) and must go where the real node2 went (its `ha-log`):
//! `Link node1:eth1 up.`, `Link node1:eth0 up.`, `Status update for node node1: status up`,
//! comm up after node1's `repnodes`, `status active`, then node1 killed and `node node1: is
//! dead` one deadtime after its last status.
//!
//! The captures are not continuous: between `01-startup` and `02-steady` 1.2 s (more than the
//! deadtime) and node1's messages 44–48 were not recorded, between `02-steady` and
//! `03-death-takeover` 0.6 s and messages 58–59. The phases after the first are moved 1 s
//! earlier so that the recording gap is not taken for a death; the missing messages show up as
//! gaps (`lost packet(s)`), which the engine asks for again, as node2 would have.

mod support;

use std::net::Ipv4Addr;

use hb_core::config::HaCf;
use hb_core::engine::{
    Event, MediumId, Membership, MembershipConfig, MessageKind, NodeId, NodeStatus,
};
use hb_core::time::{Duration, Instant};
use support::{heartbeat_datagrams_timed, read_vector, vector_keys, Datagram};

type Eng = Membership<2, 4>;

const NODE1: [Ipv4Addr; 2] = [
    Ipv4Addr::new(203, 0, 113, 1),
    Ipv4Addr::new(198, 51, 100, 11),
];
const NODE2_ETH1: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
/// bcast eth1 and ucast eth0, in ha.cf.node2's order.
const ETH1: MediumId = MediumId(0);
const ETH0: MediumId = MediumId(1);
const N1: NodeId = NodeId(0);
const WALL: u64 = 0x6b02_14a8;
const PHASE_SHIFT_US: u64 = 1_000_000;

struct Packet {
    time_us: u64,
    medium: MediumId,
    payload: Vec<u8>,
    phase: usize,
}

fn node1_packets() -> (Vec<Packet>, u64) {
    let mut out = Vec::new();
    let mut node2_start = None;
    for (phase, name) in ["01-startup", "02-steady", "03-death-takeover"]
        .iter()
        .enumerate()
    {
        let shift = if phase == 0 { 0 } else { PHASE_SHIFT_US };
        for (medium, iface) in [(ETH1, "eth1"), (ETH0, "eth0")] {
            for d in heartbeat_datagrams_timed(&read_vector(&format!("{name}.{iface}.pcap"))) {
                let Datagram {
                    time_us,
                    src,
                    payload,
                    ..
                } = d;
                if phase == 0 && src == NODE2_ETH1 && node2_start.is_none() {
                    node2_start = Some(time_us);
                }
                if NODE1.contains(&src) {
                    out.push(Packet {
                        time_us: time_us - shift,
                        medium,
                        payload,
                        phase,
                    });
                }
            }
        }
    }
    out.sort_by_key(|p| p.time_us);
    (out, node2_start.unwrap())
}

fn node2() -> MembershipConfig {
    let text = String::from_utf8(read_vector("ha.cf.node2")).unwrap();
    let cf = HaCf::parse(&text, &mut |_| {}).unwrap();
    let uuid: [u8; 16] = read_vector("hb_uuid.node2").try_into().unwrap();
    let mut cfg =
        MembershipConfig::from_hacf(&cf, "node2", uuid, 0x6b02_14a9, vector_keys(), 42).unwrap();
    cfg.load_average = "0.26 0.12 0.10 2/103 11978".try_into().unwrap();
    cfg
}

struct Run {
    engine: Box<Eng>,
    t0: u64,
    events: Vec<(Instant, Event)>,
    sent: usize,
}

impl Run {
    fn now(&self, time_us: u64) -> Instant {
        Instant::from_millis(time_us.saturating_sub(self.t0) / 1000)
    }
    fn wall(&self, now: Instant) -> u64 {
        WALL + now.as_millis() / 1000
    }
    fn timers_until(&mut self, until: Instant) {
        while let Some(t) = self.engine.poll_timeout().filter(|&t| t <= until) {
            let wall = self.wall(t);
            self.engine.handle_timeout(t, wall);
            self.drain(t);
        }
    }
    fn drain(&mut self, now: Instant) {
        let mut buf = [0u8; 2048];
        while self.engine.poll_transmit(now, &mut buf).is_some() {
            self.sent += 1;
        }
        while let Some(e) = self.engine.poll_event() {
            self.events.push((now, e));
        }
    }
    fn first(&self, f: impl Fn(&Event) -> bool) -> Option<Instant> {
        self.events.iter().find(|(_, e)| f(e)).map(|(t, _)| *t)
    }
}

#[test]
fn node2_replayed_from_the_captures_goes_where_the_real_node2_went() {
    let (packets, start_us) = node1_packets();
    let t0 = start_us;
    let mut run = Run {
        engine: Box::new(Eng::new(&node2(), Instant::ZERO, WALL).unwrap()),
        t0,
        events: Vec::new(),
        sent: 0,
    };
    run.drain(Instant::ZERO);
    let mut repnodes_at = None;
    let mut phase_end = [Instant::ZERO; 3];
    let mut last_status = Instant::ZERO;
    for p in &packets {
        let now = run.now(p.time_us);
        run.timers_until(now);
        let wall = run.wall(now);
        let r = run.engine.handle_packet(now, wall, p.medium, &p.payload);
        assert_eq!(r, Ok(()), "packet at {now:?}");
        let s = String::from_utf8_lossy(&p.payload);
        if repnodes_at.is_none() && s.contains("t=repnodes") {
            repnodes_at = Some(now);
        }
        if s.contains("(0)t=status,") {
            last_status = now;
        }
        phase_end[p.phase] = now;
        run.drain(now);
        if p.phase < 2 {
            assert_ne!(
                run.engine.node(N1).unwrap().status(),
                NodeStatus::Dead,
                "node1 alive during {}",
                p.phase
            );
        }
    }
    run.timers_until(phase_end[2] + Duration::from_millis(3000));

    // Links, status up, comm up at node1's repnodes, status active: node2's log.
    let link1 = run
        .first(|e| {
            *e == Event::LinkUp {
                node: N1,
                medium: ETH1,
            }
        })
        .unwrap();
    let link0 = run
        .first(|e| {
            *e == Event::LinkUp {
                node: N1,
                medium: ETH0,
            }
        })
        .unwrap();
    let up = run
        .first(|e| {
            *e == Event::NodeStatus {
                node: N1,
                status: NodeStatus::Up,
            }
        })
        .unwrap();
    let comm_up = run.first(|e| *e == Event::CommUp).unwrap();
    let active = run
        .first(|e| {
            *e == Event::NodeStatus {
                node: N1,
                status: NodeStatus::Active,
            }
        })
        .unwrap();
    assert!(link1 <= link0 && link0 <= up && up <= comm_up && comm_up <= active);
    assert_eq!(Some(comm_up), repnodes_at);
    let ours_up = run
        .first(|e| {
            *e == Event::LocalStatus {
                status: NodeStatus::Active,
            }
        })
        .unwrap();
    assert_eq!(ours_up, comm_up);
    // Our own link comes up only from our own packets, which are not replayed.
    assert!(!run.engine.link_up(NodeId(1), ETH1));

    // Resource messages after comm-up: node1's starting and its resource announcements.
    let from_node1: Vec<MessageKind> = run
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Message(m) if m.from == N1 => Some(m.kind),
            _ => None,
        })
        .collect();
    assert_eq!(from_node1[0], MessageKind::Starting);
    assert!(from_node1.contains(&MessageKind::Resource));

    // Nothing rejected, no restart, no partition, and only the recording gaps missed.
    for (_, e) in &run.events {
        assert!(
            !matches!(
                e,
                Event::ReplayRejected { .. }
                    | Event::Restarted { .. }
                    | Event::ReturnedAfterPartition { .. }
                    | Event::LateHeartbeat { .. }
                    | Event::FlowControlDisabled { .. }
            ),
            "{e:?}"
        );
    }
    let gaps: Vec<(u64, u64)> = run
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::LostPackets { last, seq, .. } => Some((*last, *seq)),
            _ => None,
        })
        .collect();
    assert_eq!(gaps, [(0x43, 0x49), (0x57, 0x5a)]);

    // node1 killed in 03: dead one dt (3e8 = 1000 ms) after its last status, as node2 said
    // (its `stonith` message, sent right after, came 1.1 s after node1's last status).
    let dead_events: Vec<Instant> = run
        .events
        .iter()
        .filter(|(_, e)| {
            *e == Event::NodeDead {
                node: N1,
                heard_from: true,
            }
        })
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(dead_events.len(), 1);
    let dead = dead_events[0];
    assert!(dead > phase_end[1], "not before 03");
    assert_eq!(dead, last_status + Duration::from_millis(1001));
    let real_node2_stonith = heartbeat_datagrams_timed(&read_vector("03-death-takeover.eth1.pcap"))
        .into_iter()
        .find(|d| String::from_utf8_lossy(&d.payload).contains("t=stonith"))
        .unwrap();
    assert!(dead <= run.now(real_node2_stonith.time_us - PHASE_SHIFT_US));
    for medium in [ETH1, ETH0] {
        let t = run
            .first(|e| *e == Event::LinkDead { node: N1, medium })
            .unwrap();
        assert_eq!(t, dead);
    }
    assert_eq!(run.engine.node(N1).unwrap().status(), NodeStatus::Dead);
    assert!(run.sent > 50);
}
