//! A node's life (start, stop, reboot, exit) and what follows every input to it: its
//! packets go to the network, its events to the fake daemon (actions, fences) and the checks.

use std::rc::Rc;

use hb_core::engine::{self, Encoding, NodeId, NodeStatus};
use hb_core::heartbeat::{Event, HeartbeatConfig};
use hb_core::ipfail;
use hb_core::relay::{FenceAction, FENCE_WINDOW, RESET_PULSE};
use hb_core::resources::{ActionDone, FenceResult, GroupId};

use crate::scenario::{MediumKind, Scenario, MAX_MEDIA};

use super::world::{
    Captured, Ev, Hb, Pending, Rx, Sabotage, SimNames, World, IPFAIL_MESSAGES, OLD_PACKETS,
    PARTITION_RESTART, PING_RTT,
};

/// From a node's fence request to the relay board acting on it: the plugin's call and a frame
/// of about 50 bytes on a 115 200-baud line.
const RELAY_LATENCY: u64 = 5;

impl World<'_> {
    pub(super) fn schedule_start(&mut self, node: usize, at: u64) {
        if !self.nodes[node].start_pending {
            self.nodes[node].start_pending = true;
            self.schedule(at, Ev::Start { node });
        }
    }

    // -----------------------------------------------------------------------------------------
    // Node life.

    pub(super) fn start(&mut self, i: usize) {
        let sc = self.sc;
        let n = &mut self.nodes[i];
        n.generation += 1;
        n.epoch += 1;
        n.started_at = self.now;
        n.held = 0;
        n.busy = 0;
        n.rx = vec![Rx::default(); sc.nodes];
        n.comm_up_at = None;
        n.considers_dead = 0;
        n.ipfail_giveup = None;
        n.no_local_heartbeat = false;
        n.owes_no_local_heartbeat = false;
        self.monitor_stop(i);
        let n = &mut self.nodes[i];
        let old: Vec<Captured> = n.recent.drain(..).collect();
        for c in old {
            if n.old.len() == OLD_PACKETS {
                n.old.pop_front();
            }
            n.old.push_back(c);
        }
        let name = Scenario::node_name(i);
        let mut uuid = [0x5a; 16];
        uuid[0] = i as u8 + 1;
        let generation = n.generation;
        let seed = sc.seed ^ ((i as u64) << 56) ^ generation;
        let mut cfg = HeartbeatConfig::from_files(
            &self.hacf,
            &self.hares,
            &name,
            uuid,
            generation,
            self.keys_for(i),
            seed,
        )
        .expect("configuration");
        for (m, kind) in sc.media.iter().enumerate() {
            if *kind == MediumKind::Compact {
                cfg.membership.media[m].encoding = Encoding::Compact;
            }
        }
        let hb = Hb::new(&cfg, self.instant(), self.wall()).expect("node starts");
        self.nodes[i].hb = Some(Box::new(hb));
        self.log(Some(i), || format!("starts, generation {generation}"));
        self.cause(self.settle_window(), "start");
        // A node coming back is heard again: deaths pending for it are moot.
        self.pending.retain(|p| p.dead != i);
        self.after(i);
    }

    /// The relay board takes `node`'s request to reset `target` (issue 12): it resets the
    /// target at once, unless its arbitration refuses (`node` lost a fence race), and answers
    /// when the pulse is over, or at once with the refusal. The check of "never both reset":
    /// the relay never resets a node on the request of a peer that it reset on that node's
    /// request less than `FENCE_WINDOW` before.
    pub(super) fn relay_fence(&mut self, node: usize, epoch: u32, target: usize) {
        let now = self.instant();
        let arbitrates = self.opts.sabotage != Some(Sabotage::NoRelayArbitration);
        let allowed = !arbitrates || self.relay.allows(node, target, FenceAction::Reset, now);
        let result = if allowed {
            self.relay.fenced(node, target, FenceAction::Reset, now);
            let window = FENCE_WINDOW.as_millis();
            let fenced_back = self.reset_by[node] == Some((target, epoch))
                && self.relay_reset_at[node].is_some_and(|t| self.now < t + window);
            if self.sc.nodes == 2 && node != target && fenced_back {
                self.violation(format!(
                    "{} and {} both reset, each on the other's request, {} ms apart (a fence \
                     race the relay board let through)",
                    Scenario::node_name(node),
                    Scenario::node_name(target),
                    self.now - self.relay_reset_at[node].unwrap_or(0)
                ));
            }
            // The reset line holds the machine down for the pulse, then it boots: a daemon
            // that was due to start meanwhile (hbsim --fence-race seed 47: the target was
            // still booting when its peer's initdead ran out) starts only after that.
            let up_at = self.now + RESET_PULSE.as_millis() + self.sc.restart_delay;
            self.nodes[target].down_until = self.nodes[target].down_until.max(up_at);
            if self.nodes[target].hb.is_some() {
                self.reset_by[target] = Some((node, self.nodes[target].epoch));
                self.relay_reset_at[target] = Some(self.now);
                self.log(Some(target), || {
                    format!(
                        "reset by STONITH (the relay, for {})",
                        Scenario::node_name(node)
                    )
                });
                self.stop(target);
                self.schedule_start(target, up_at);
            }
            FenceResult::Ok
        } else {
            self.log(Some(node), || {
                format!(
                    "the relay refuses its reset of {}: lost the fence race",
                    Scenario::node_name(target)
                )
            });
            FenceResult::Failed
        };
        let answer = if allowed {
            RESET_PULSE.as_millis()
        } else {
            RELAY_LATENCY
        };
        self.schedule(
            self.now + answer,
            Ev::FenceDone {
                node,
                epoch,
                target,
                result,
            },
        );
    }

    /// The node stops at once (crash, reset, reboot, exit): it holds nothing from now on.
    pub(super) fn stop(&mut self, i: usize) {
        if self.nodes[i].hb.is_none() {
            return;
        }
        self.nodes[i].hb = None;
        self.nodes[i].epoch += 1;
        self.nodes[i].held = 0;
        self.nodes[i].busy = 0;
        self.nodes[i].next_timeout = None;
        self.nodes[i].stalled_until = None;
        self.monitor_stop(i);
        self.cause(self.settle_window(), "stop");
        self.pending.retain(|p| p.peer != i);
        self.expect_death(i);
    }

    /// Every live peer that has node `i` alive must notice that it went silent, in time.
    pub(super) fn expect_death(&mut self, i: usize) {
        self.pending.retain(|p| p.dead != i);
        for p in 0..self.sc.nodes {
            let Some(hb) = self.nodes[p].hb.as_ref() else {
                continue;
            };
            if p == i {
                continue;
            }
            let status = hb.node(NodeId(i as u8)).map(|n| n.status());
            if status != Some(NodeStatus::Dead) {
                self.pending.push(Pending {
                    peer: p,
                    peer_epoch: self.nodes[p].epoch,
                    dead: i,
                    crash_at: self.now,
                    peer_comm_up: hb.is_comm_up(),
                });
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // After every input to a node: its packets, its events.

    pub(super) fn after(&mut self, i: usize) {
        let now = self.instant();
        loop {
            let Some(hb) = self.nodes[i].hb.as_mut() else {
                return;
            };
            let Some(tx) = hb.poll_transmit(now, &mut self.buf) else {
                break;
            };
            let bytes: Rc<[u8]> = Rc::from(&self.buf[..tx.len]);
            self.transmit(
                i,
                tx.media.iter().map(|m| m.index()).collect(),
                bytes,
                tx.encoding,
            );
        }
        // Echoes to the ping nodes this node reaches are answered.
        let epoch = self.nodes[i].epoch;
        while let Some(id) = self.nodes[i].hb.as_mut().and_then(|hb| hb.poll_ping()) {
            let ping = id.index() - self.sc.nodes;
            let ignored = self.opts.sabotage == Some(Sabotage::PingNodesIgnoreNode1)
                && i == 0
                && self.now >= 20_000;
            if self.reaches_ping(i, ping) && !ignored {
                self.schedule(
                    self.now + PING_RTT,
                    Ev::PingReply {
                        node: i,
                        epoch,
                        ping,
                    },
                );
            }
        }
        let mut reboot = false;
        let mut exit = None;
        loop {
            let Some(hb) = self.nodes[i].hb.as_mut() else {
                return;
            };
            let Some(e) = hb.poll_event() else {
                break;
            };
            self.record_event(i, &e);
            match e {
                Event::Membership(m) => self.membership(i, m),
                Event::Acquire(g) => self.acquire(i, g),
                Event::Release(g) => self.release(i, g),
                Event::Fence(t) if self.sc.relay_fence => {
                    let target = t.index();
                    self.log(Some(i), || {
                        format!("asks the relay to reset {}", Scenario::node_name(target))
                    });
                    let epoch = self.nodes[i].epoch;
                    self.schedule(
                        self.now + RELAY_LATENCY,
                        Ev::RelayFence {
                            node: i,
                            epoch,
                            target,
                        },
                    );
                }
                Event::Fence(t) => {
                    let target = t.index();
                    let delay = self.sc.fence_delay + self.rng.below(self.sc.fence_delay + 1);
                    let fails = !self.faults_over && self.rng.chance(self.sc.fence_fail);
                    let result = if !fails {
                        FenceResult::Ok
                    } else if self.rng.chance(300) {
                        FenceResult::BadHost
                    } else {
                        FenceResult::Failed
                    };
                    self.log(Some(i), || {
                        format!("fences {}", Scenario::node_name(target))
                    });
                    let epoch = self.nodes[i].epoch;
                    self.schedule(
                        self.now + delay,
                        Ev::FenceDone {
                            node: i,
                            epoch,
                            target,
                            result,
                        },
                    );
                }
                Event::Reboot => reboot = true,
                Event::Exit { restart } => exit = Some(restart),
                Event::Log(l) => {
                    self.monitor_log(i, l);
                    if self.verbose {
                        let text = self.nodes[i].hb.as_ref().unwrap().log_line(l).to_string();
                        self.log(Some(i), || format!("log: {text}"));
                    }
                }
                Event::BadResourceMessage { from, error } => self.violation(format!(
                    "{} got a resource message from {} it cannot parse: {error:?}",
                    Scenario::node_name(i),
                    Scenario::node_name(from.index())
                )),
                Event::OutOfOrder { .. } => self.out.stats.out_of_order += 1,
                Event::Ipfail(l) => self.ipfail(i, l),
                Event::IpfailMessageNotSent { error } => self.violation(format!(
                    "{} could not send an ipfail message: {error:?}",
                    Scenario::node_name(i)
                )),
                Event::ResourceMessageNotSent { error } => self.violation(format!(
                    "{} could not send a resource message: {error:?}",
                    Scenario::node_name(i)
                )),
            }
        }
        let n = &mut self.nodes[i];
        if let Some(hb) = n.hb.as_ref() {
            n.next_timeout = hb.poll_timeout().map(|t| t.as_millis());
            // Who it has as dead, for the split rule.
            let mut dead = 0;
            for p in 0..self.sc.nodes {
                if hb.node(NodeId(p as u8)).map(|n| n.status()) == Some(NodeStatus::Dead) {
                    dead |= 1 << p;
                }
            }
            n.considers_dead = dead;
        }
        if reboot {
            self.log(Some(i), || "reboots (a stop failed)".into());
            self.stop(i);
            self.schedule_start(i, self.now + self.sc.restart_delay);
        } else if let Some(restart) = exit {
            if self.nodes[i].held != 0 {
                self.violation(format!(
                    "{} exits while it holds groups {:#b}",
                    Scenario::node_name(i),
                    self.nodes[i].held
                ));
            }
            self.log(Some(i), || format!("exits (restart: {restart})"));
            self.stop(i);
            // Once the faults are over, whatever stops comes back.
            if restart || self.faults_over {
                self.schedule_start(i, self.now + self.sc.restart_delay);
            }
        }
        self.check_give_away(i);
        self.drain_monitor(i);
    }

    pub(super) fn membership(&mut self, i: usize, e: engine::Event) {
        use engine::Event as E;
        match &e {
            E::CommUp => self.nodes[i].comm_up_at = Some(self.now),
            E::NoLocalHeartbeat => {
                self.nodes[i].no_local_heartbeat = true;
                self.nodes[i].owes_no_local_heartbeat = false;
            }
            // A ping node's death moves nothing by itself (ipfail's give-up is its own cause).
            E::NodeDead { node, .. } if node.index() >= self.sc.nodes => {}
            E::NodeDead { node, .. } => {
                self.out.stats.deaths += 1;
                self.cause(self.settle_window(), "death");
                self.check_detection(i, node.index());
            }
            E::Restarted { .. } | E::ReturnedAfterPartition { .. } => {
                self.cause(self.settle_window() + PARTITION_RESTART, "membership");
            }
            E::EventsDropped { count } => {
                self.violation(format!("{} dropped {count} events", Scenario::node_name(i)))
            }
            _ => {}
        }
        if self.verbose
            && !matches!(
                e,
                E::LinkUp { .. } | E::LostPackets { .. } | E::NoPacketsMissing { .. }
            )
        {
            self.log(Some(i), || format!("{e:?}"));
        }
    }

    /// ipfail's log: a give-up is a cause of moves, and gives everything away only for a
    /// difference in ping nodes (or a stall or ping change recent enough to explain a stale
    /// count).
    pub(super) fn ipfail(&mut self, i: usize, l: ipfail::LogMsg) {
        use ipfail::LogMsg as L;
        if self.verbose {
            let line = l.line(&SimNames::new(self.sc)).to_string();
            self.log(Some(i), || format!("ipfail: {line}"));
        }
        match l {
            L::GivingUpFewer | L::GivingUpTold => {
                self.nodes[i].ipfail_giveup = Some(true);
                self.check_ipfail_giveup(i);
            }
            L::GivingUpForeign => self.nodes[i].ipfail_giveup = Some(false),
            L::AbortedGiveup { .. } => self.nodes[i].ipfail_giveup = None,
            L::GiveupCalled => {
                let decided = self.nodes[i].ipfail_giveup.take();
                if decided.is_some() {
                    self.out.stats.ipfail_giveups += 1;
                    self.cause(self.settle_window(), "ipfail");
                }
            }
            _ => {}
        }
    }

    /// ipfail decided to give everything away: its node must see fewer ping nodes than the
    /// peer, unless reachability changed or a daemon stalled recently (counts lag by up to
    /// `deadping` and the messages carrying them).
    pub(super) fn check_ipfail_giveup(&mut self, i: usize) {
        let peer = 1 - i.min(1);
        let recent_window = self.sc.deadtime + 2 * self.sc.keepalive + IPFAIL_MESSAGES;
        let recent = |t: Option<u64>| t.is_some_and(|t| self.now <= t + recent_window);
        if recent(self.ping_changed_at) || recent(self.stalled_at) {
            return;
        }
        let (ours, theirs) = (self.ping_count(i), self.ping_count(peer));
        if ours >= theirs {
            self.violation(format!(
                "{}'s ipfail gives everything away while it sees {ours} ping node(s) and {}                  sees {theirs}",
                Scenario::node_name(i),
                Scenario::node_name(peer)
            ));
        }
    }

    pub(super) fn acquire(&mut self, i: usize, g: GroupId) {
        let bit = 1u32 << g.0;
        let n = &mut self.nodes[i];
        n.held |= bit;
        n.busy |= bit;
        let fails =
            n.fail_start & bit != 0 || (!self.faults_over && self.rng.chance(self.sc.acquire_fail));
        n.fail_start &= !bit;
        // The daemon's one worker runs a restart of the group in flight first.
        let delay = self.action_delay(i) + self.restart_wait(i, g);
        self.monitor_action(i, g);
        self.log(Some(i), || format!("acquires group {}", g.0));
        let epoch = self.nodes[i].epoch;
        self.schedule(
            self.now + delay,
            Ev::ActionDone {
                node: i,
                epoch,
                done: ActionDone::Acquired {
                    group: g,
                    ok: !fails,
                },
            },
        );
    }

    pub(super) fn release(&mut self, i: usize, g: GroupId) {
        let bit = 1u32 << g.0;
        let n = &mut self.nodes[i];
        n.busy |= bit;
        let fails =
            n.fail_stop & bit != 0 || (!self.faults_over && self.rng.chance(self.sc.release_fail));
        n.fail_stop &= !bit;
        let delay = self.action_delay(i) + self.restart_wait(i, g);
        self.monitor_action(i, g);
        self.log(Some(i), || format!("releases group {}", g.0));
        let epoch = self.nodes[i].epoch;
        self.schedule(
            self.now + delay,
            Ev::ActionDone {
                node: i,
                epoch,
                done: ActionDone::Released {
                    group: g,
                    ok: !fails,
                },
            },
        );
    }

    pub(super) fn action_delay(&mut self, i: usize) -> u64 {
        let sc = self.sc;
        let mut d = sc.action_delay[i] + self.rng.below(sc.action_jitter + 1);
        if self.rng.chance(sc.slow_permille) {
            d += sc.slow_delay;
        }
        d
    }
}

/// What a node's state looks like from outside: everything its accessors tell.
pub(super) fn fingerprint(hb: &Hb) -> Vec<u64> {
    let mut f = vec![
        hb.local_status() as u64,
        hb.is_comm_up() as u64,
        hb.membership().next_seq(),
        hb.poll_timeout().map_or(0, |t| t.as_millis()),
        hb.resource_state() as u64,
        hb.i_hold().bits() as u64,
        hb.resources().other_holds().bits() as u64,
        hb.is_stable() as u64,
        hb.resources().standby_state() as u64,
        hb.membership().flow_control() as u64,
    ];
    for (id, n) in hb.nodes() {
        f.extend([
            id.0 as u64,
            n.status() as u64,
            n.generation(),
            n.last_seq().map_or(u64::MAX, |s| s),
            n.missing_count() as u64,
            n.acked(),
            n.dead_interval().as_millis(),
            (0..MAX_MEDIA).fold(0, |m, l| m | (n.link_up(l) as u64) << l),
            n.uuid()
                .map_or(0, |u| u64::from_le_bytes(u[..8].try_into().unwrap())),
        ]);
    }
    for (g, h) in hb.holdings() {
        f.push(g.0 as u64);
        f.push(match h {
            hb_core::resources::Holder::Local => 1000,
            hb_core::resources::Holder::Peer(n) => n.0 as u64,
            hb_core::resources::Holder::Nobody => 2000,
        });
    }
    f
}
