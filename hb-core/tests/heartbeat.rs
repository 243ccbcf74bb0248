//! The joined node ([`Heartbeat`]): two of them over an in-memory network, a fake daemon that
//! runs their actions, one virtual clock.

use std::collections::BTreeSet;

use hb_core::auth::{Keyring, Method};
use hb_core::config::{HaCf, HaResources};
use hb_core::engine::{Event as EngineEvent, MediumId, NodeId, NodeStatus};
use hb_core::heartbeat::{Command, CommandError, Event, Heartbeat, HeartbeatConfig};
use hb_core::resources::{ActionDone, FenceResult, GroupId, Holder, StandbySet};
use hb_core::time::Instant;

type Hb = Heartbeat<2, 2, 4>;

const N1: usize = 0;
const N2: usize = 1;
/// node1's group and node2's.
const G1: GroupId = GroupId(0);
const G2: GroupId = GroupId(1);
const KEEPALIVE: u64 = 200;
const DEADTIME: u64 = 1000;
const WALL: u64 = 0x6b02_14a8;
const LATENCY: u64 = 2;

/// An action waiting to be reported done.
struct Pending {
    at: u64,
    node: usize,
    epoch: u32,
    done: ActionDone,
}

struct Member {
    hb: Option<Box<Hb>>,
    generation: u64,
    epoch: u32,
    /// What the fake daemon runs here (from the start of an acquisition to the end of a
    /// release).
    holds: BTreeSet<u8>,
    events: Vec<(u64, Event)>,
    exited: Option<bool>,
    /// Groups the node asked to announce again (time, group).
    announced: Vec<(u64, u8)>,
}

struct Net {
    hacf: HaCf,
    hares: HaResources,
    now: u64,
    members: Vec<Member>,
    inflight: Vec<(u64, usize, Vec<u8>)>,
    pending: Vec<Pending>,
    cut: bool,
    action_ms: u64,
    fence_ms: u64,
    /// Fence results handed out in order, then `Ok`.
    fence_results: Vec<FenceResult>,
    /// Actions are reported done only when this is false.
    hold_actions: bool,
    /// Both nodes ran a group at the same time (checked at every step).
    overlap: Option<(u64, u8)>,
}

fn keys() -> Keyring {
    let mut k = Keyring::new();
    k.insert(1, Method::Sha1, b"joined").unwrap();
    k.set_active(1).unwrap();
    k
}

impl Net {
    fn new(auto_failback: &str, stonith: bool) -> Net {
        let text = format!(
            "keepalive {KEEPALIVE}ms\nwarntime 750ms\ndeadtime {DEADTIME}ms\ninitdead 3000ms\n\
             udpport 694\nbcast eth0\nauto_failback {auto_failback}\n{}node node1 node2\n\
             crm off\n",
            if stonith {
                "stonith null /etc/ha.d/stonith.cfg\n"
            } else {
                ""
            }
        );
        let hacf = HaCf::parse(&text, &mut |e| {
            assert!(e.to_string().contains("warning"), "{e}")
        })
        .unwrap();
        let hares =
            HaResources::parse("node1 10.0.0.1\nnode2 10.0.0.2\n", &mut |e| panic!("{e}")).unwrap();
        let member = || Member {
            hb: None,
            generation: 10,
            epoch: 0,
            holds: BTreeSet::new(),
            events: Vec::new(),
            exited: None,
            announced: Vec::new(),
        };
        Net {
            hacf,
            hares,
            now: 0,
            members: vec![member(), member()],
            inflight: Vec::new(),
            pending: Vec::new(),
            cut: false,
            action_ms: 50,
            fence_ms: 300,
            fence_results: Vec::new(),
            hold_actions: false,
            overlap: None,
        }
    }

    fn start(&mut self, i: usize) {
        let m = &mut self.members[i];
        m.generation += 1;
        m.epoch += 1;
        m.holds.clear();
        m.exited = None;
        let name = format!("node{}", i + 1);
        let mut uuid = [7; 16];
        uuid[0] = i as u8;
        let cfg = HeartbeatConfig::from_files(
            &self.hacf,
            &self.hares,
            &name,
            uuid,
            m.generation,
            keys(),
            i as u64 + m.generation,
        )
        .unwrap();
        let hb = Hb::new(&cfg, Instant::from_millis(self.now), WALL).unwrap();
        self.members[i].hb = Some(Box::new(hb));
        self.flush(i);
    }

    fn crash(&mut self, i: usize) {
        let m = &mut self.members[i];
        m.hb = None;
        m.epoch += 1;
        m.holds.clear();
    }

    fn hb(&self, i: usize) -> &Hb {
        self.members[i].hb.as_deref().unwrap()
    }

    fn wall(&self) -> u64 {
        WALL + self.now / 1000
    }

    fn command(&mut self, i: usize, cmd: Command) -> Result<(), CommandError> {
        let (now, wall) = (Instant::from_millis(self.now), self.wall());
        let r = self.members[i]
            .hb
            .as_mut()
            .unwrap()
            .handle_command(now, wall, cmd);
        self.flush(i);
        r
    }

    /// Sends member `i`'s packets and acts on its events.
    fn flush(&mut self, i: usize) {
        let now = Instant::from_millis(self.now);
        let mut buf = [0u8; 2048];
        let Some(hb) = self.members[i].hb.as_mut() else {
            return;
        };
        while let Some(tx) = hb.poll_transmit(now, &mut buf) {
            if !self.cut {
                self.inflight
                    .push((self.now + LATENCY, 1 - i, buf[..tx.len].to_vec()));
            }
        }
        let events: Vec<Event> = std::iter::from_fn(|| hb.poll_event()).collect();
        let announced: Vec<u8> = std::iter::from_fn(|| hb.poll_announce())
            .map(|g| g.0)
            .collect();
        let at = self.now;
        self.members[i]
            .announced
            .extend(announced.into_iter().map(|g| (at, g)));
        let mut exit = None;
        let epoch = self.members[i].epoch;
        for e in events {
            match e {
                Event::Acquire(g) => {
                    self.members[i].holds.insert(g.0);
                    self.pending.push(Pending {
                        at: self.now + self.action_ms,
                        node: i,
                        epoch,
                        done: ActionDone::Acquired { group: g, ok: true },
                    });
                }
                Event::Release(g) => self.pending.push(Pending {
                    at: self.now + self.action_ms,
                    node: i,
                    epoch,
                    done: ActionDone::Released { group: g, ok: true },
                }),
                Event::Fence(node) => {
                    let result = if self.fence_results.is_empty() {
                        FenceResult::Ok
                    } else {
                        self.fence_results.remove(0)
                    };
                    self.pending.push(Pending {
                        at: self.now + self.fence_ms,
                        node: i,
                        epoch,
                        done: ActionDone::Fenced { node, result },
                    });
                }
                Event::Exit { restart } => exit = Some(restart),
                _ => {}
            }
            self.members[i].events.push((self.now, e));
        }
        if let Some(restart) = exit {
            assert!(self.members[i].holds.is_empty(), "exits holding groups");
            self.members[i].exited = Some(restart);
            self.crash(i);
        }
    }

    fn run_for(&mut self, ms: u64) {
        let until = self.now + ms;
        loop {
            let timer = (0..2)
                .filter_map(|i| {
                    let t = self.members[i].hb.as_ref()?.poll_timeout()?;
                    Some((t.as_millis(), i))
                })
                .min();
            let packet = self.inflight.iter().map(|p| p.0).min();
            let action = (!self.hold_actions)
                .then(|| self.pending.iter().map(|p| p.at).min())
                .flatten();
            let next = [timer.map(|t| t.0), packet, action]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next.filter(|&t| t <= until) else {
                self.now = until;
                return;
            };
            self.now = self.now.max(next);
            let (now, wall) = (Instant::from_millis(self.now), self.wall());
            if let Some(k) = self.inflight.iter().position(|p| p.0 <= self.now) {
                let (_, to, bytes) = self.inflight.remove(k);
                if let Some(hb) = self.members[to].hb.as_mut() {
                    hb.handle_packet(now, wall, MediumId(0), &bytes).unwrap();
                    self.flush(to);
                }
            } else if let Some(k) = (!self.hold_actions)
                .then(|| self.pending.iter().position(|p| p.at <= self.now))
                .flatten()
            {
                let p = self.pending.remove(k);
                if let ActionDone::Fenced {
                    node,
                    result: FenceResult::Ok,
                } = p.done
                {
                    self.crash(node.index());
                }
                if let ActionDone::Released { group, .. } = p.done {
                    if self.members[p.node].epoch == p.epoch {
                        self.members[p.node].holds.remove(&group.0);
                    }
                }
                if self.members[p.node].epoch == p.epoch {
                    if let Some(hb) = self.members[p.node].hb.as_mut() {
                        hb.handle_action_done(now, p.done);
                        self.flush(p.node);
                    }
                }
            } else if let Some((_, i)) = timer {
                self.members[i]
                    .hb
                    .as_mut()
                    .unwrap()
                    .handle_timeout(now, wall);
                self.flush(i);
            }
            let both: Vec<&u8> = self.members[0]
                .holds
                .intersection(&self.members[1].holds)
                .collect();
            if let (None, Some(g)) = (self.overlap, both.first()) {
                self.overlap = Some((self.now, **g));
            }
        }
    }

    fn holds(&self, i: usize) -> Vec<u8> {
        self.members[i].holds.iter().copied().collect()
    }

    /// When member `i` was first told to do `what` after `from`.
    fn first(&self, i: usize, from: u64, what: impl Fn(&Event) -> bool) -> Option<u64> {
        self.members[i]
            .events
            .iter()
            .find(|(t, e)| *t >= from && what(e))
            .map(|(t, _)| *t)
    }

    fn started_pair(mode: &str, stonith: bool) -> Net {
        let mut n = Net::new(mode, stonith);
        n.start(N1);
        n.start(N2);
        // Both start together: the 10 s RQSTDELAY, then each takes its own group.
        n.run_for(15_000);
        n
    }
}

#[test]
fn startup_gives_each_group_one_owner() {
    for mode in ["on", "off", "legacy"] {
        let n = Net::started_pair(mode, false);
        assert_eq!(n.holds(N1), [G1.0], "{mode}");
        assert_eq!(n.holds(N2), [G2.0], "{mode}");
        assert_eq!(n.overlap, None, "{mode}");
        for i in [N1, N2] {
            assert!(n.hb(i).is_comm_up());
            assert_eq!(n.hb(i).local_status(), NodeStatus::Active);
            assert!(n.hb(i).is_stable(), "{mode}");
        }
        assert_eq!(n.hb(N1).holder(G1), Holder::Local);
        if mode != "legacy" {
            assert_eq!(n.hb(N1).holder(G2), Holder::Peer(NodeId(1)));
            assert_eq!(n.hb(N1).rscstatus(), "local");
        }
        assert!(n.hb(N1).link_up(NodeId(1), MediumId(0)));
    }
}

#[test]
fn a_dead_node_is_taken_over_from_after_deadtime() {
    let mut n = Net::started_pair("on", false);
    let t = n.now;
    n.crash(N2);
    n.run_for(5000);
    let dead = n
        .first(N1, t, |e| {
            matches!(
                e,
                Event::Membership(EngineEvent::NodeDead {
                    node: NodeId(1),
                    ..
                })
            )
        })
        .unwrap();
    // node2's last status left at most a keepalive before it died.
    assert!(dead >= t + DEADTIME - KEEPALIVE && dead <= t + DEADTIME + KEEPALIVE + 10);
    let acquired = n.first(N1, t, |e| *e == Event::Acquire(G2)).unwrap();
    assert_eq!(acquired, dead, "taken at once without STONITH");
    assert_eq!(n.holds(N1), [G1.0, G2.0]);
}

#[test]
fn with_stonith_a_dead_node_is_taken_over_from_only_after_its_reset() {
    let mut n = Net::started_pair("on", true);
    n.fence_results = vec![FenceResult::Failed];
    let t = n.now;
    n.crash(N2);
    n.run_for(3000);
    let fence = n
        .first(N1, t, |e| *e == Event::Fence(NodeId(1)))
        .expect("fenced");
    assert_eq!(n.holds(N1), [G1.0], "nothing taken while the reset failed");
    n.run_for(5000);
    // Retried 5 s after the failure; the group follows the successful reset.
    let fences: Vec<u64> = n.members[N1]
        .events
        .iter()
        .filter(|(at, e)| *at >= t && *e == Event::Fence(NodeId(1)))
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(fences.len(), 2);
    assert!(fences[1] >= fence + n.fence_ms + 5000);
    let acquired = n.first(N1, t, |e| *e == Event::Acquire(G2)).unwrap();
    assert_eq!(acquired, fences[1] + n.fence_ms);
    assert_eq!(n.holds(N1), [G1.0, G2.0]);
}

#[test]
fn shutdown_hands_everything_over_before_the_deadtime() {
    for mode in ["on", "off", "legacy"] {
        let mut n = Net::started_pair(mode, false);
        let t = n.now;
        n.command(N2, Command::Shutdown).unwrap();
        assert_eq!(
            n.command(N2, Command::Shutdown),
            Err(CommandError::AlreadyShuttingDown)
        );
        n.run_for(500);
        assert_eq!(n.members[N2].exited, Some(false), "{mode}");
        assert_eq!(n.holds(N1), [G1.0, G2.0], "{mode}");
        assert_eq!(n.overlap, None, "{mode}");
        let acquired = n.first(N1, t, |e| *e == Event::Acquire(G2)).unwrap();
        assert!(acquired < t + DEADTIME, "{mode}: on shutdone, not on death");
    }
}

#[test]
fn standby_moves_the_groups_without_overlap() {
    for mode in ["on", "off"] {
        let mut n = Net::started_pair(mode, false);
        n.action_ms = 400;
        n.command(N1, Command::Standby(StandbySet::All)).unwrap();
        n.run_for(5000);
        assert_eq!(n.holds(N1), Vec::<u8>::new(), "{mode}");
        assert_eq!(n.holds(N2), [G1.0, G2.0], "{mode}");
        assert_eq!(n.overlap, None, "{mode}");
        assert_eq!(n.hb(N1).rscstatus(), "none");
        assert_eq!(n.hb(N2).rscstatus(), "all");
    }
    // Standby is refused with more than two nodes only; legacy logs that it cannot.
    let mut n = Net::started_pair("legacy", false);
    n.command(N1, Command::Standby(StandbySet::All)).unwrap();
    n.run_for(5000);
    assert_eq!(n.holds(N1), [G1.0]);
}

#[test]
fn auto_failback_on_brings_a_returning_nodes_groups_back() {
    for (mode, back) in [("on", true), ("off", false), ("legacy", true)] {
        let mut n = Net::started_pair(mode, false);
        n.crash(N1);
        n.run_for(5000);
        assert_eq!(n.holds(N2), [G1.0, G2.0], "{mode}");
        n.start(N1);
        n.run_for(20_000);
        if back {
            assert_eq!(n.holds(N1), [G1.0], "{mode}");
            assert_eq!(n.holds(N2), [G2.0], "{mode}");
        } else {
            assert_eq!(n.holds(N1), Vec::<u8>::new(), "{mode}");
            assert_eq!(n.holds(N2), [G1.0, G2.0], "{mode}");
        }
        assert_eq!(n.overlap, None, "{mode}");
    }
}

#[test]
fn keepalives_go_on_while_actions_are_outstanding() {
    let mut n = Net::new("on", false);
    n.hold_actions = true;
    n.start(N1);
    n.start(N2);
    n.run_for(30_000);
    // Both started their group and were never told it is done...
    assert_eq!(n.holds(N1), [G1.0]);
    assert!(!n.hb(N1).is_stable());
    // ...and neither took the other for dead meanwhile.
    for i in [N1, N2] {
        assert!(!n.members[i]
            .events
            .iter()
            .any(|(_, e)| matches!(e, Event::Membership(EngineEvent::NodeDead { .. }))));
    }
    n.hold_actions = false;
    n.run_for(1000);
    assert!(n.hb(N1).is_stable());
}

#[test]
fn a_partition_without_stonith_heals_into_one_owner_per_group() {
    let mut n = Net::started_pair("on", false);
    n.cut = true;
    n.run_for(5000);
    // Split brain: each runs both groups.
    assert_eq!(n.holds(N1), [G1.0, G2.0]);
    let healed = n.now;
    n.cut = false;
    n.run_for(30_000);
    // Healed without a restart (3.0.6 gives everything up and restarts both): each keeps
    // the group it prefers (auto_failback on), the other copy is stopped, and each announces
    // the address it kept, at once and again once the other copy is gone.
    assert_eq!(n.members[N1].exited, None);
    assert_eq!(n.members[N2].exited, None);
    assert_eq!(n.holds(N1), [G1.0]);
    assert_eq!(n.holds(N2), [G2.0]);
    for (m, g) in [(N1, G1.0), (N2, G2.0)] {
        let times: Vec<u64> = n.members[m]
            .announced
            .iter()
            .filter(|(_, x)| *x == g)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(times.len(), 2, "{:?}", n.members[m].announced);
        assert!(times[0] >= healed && times[0] < healed + 2_000, "{times:?}");
        assert!(n.members[m].announced.iter().all(|(_, x)| *x == g));
    }
    // Nothing left to settle: a standby still works afterwards, as in a settled cluster.
    assert!(n.hb(N1).is_stable() && n.hb(N2).is_stable());
}

#[test]
fn log_lines_have_heartbeats_text() {
    let mut n = Net::started_pair("on", false);
    n.crash(N2);
    n.run_for(3000);
    let lines: Vec<String> = n.members[N1]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Log(l) => Some(n.hb(N1).log_line(*l).to_string()),
            _ => None,
        })
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l == "Resources being acquired from node2."),
        "{lines:?}"
    );
}
