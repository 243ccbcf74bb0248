//! Faults and operators: crashes, shutdowns, partitions and their heals, ping losses,
//! stalled daemons, key rotation, `hb_standby`/`hb_takeover`.

use hb_core::heartbeat::Command;

use crate::scenario::{Fault, Scenario};

use super::invariants::detection_deadline;
use super::world::{Ev, World, PARTITION_RESTART};

impl World<'_> {
    pub(super) fn fault(&mut self, f: Fault) {
        if self.faults_over {
            return;
        }
        self.log(None, || format!("fault: {f:?}"));
        match f {
            Fault::Crash {
                node,
                restart_after,
            } => {
                if self.nodes[node].hb.is_some() {
                    self.log(Some(node), || "crashes".into());
                    self.stop(node);
                    if let Some(d) = restart_after {
                        self.schedule_start(node, self.now + d);
                    }
                }
            }
            Fault::Shutdown {
                node,
                restart_after,
            } => {
                if self.command(node, Command::Shutdown) {
                    if let Some(d) = restart_after {
                        // Started again once it has exited (if it has by then).
                        self.schedule(self.now + d, Ev::Start { node });
                    }
                }
            }
            Fault::Partition {
                side,
                media,
                one_way,
                heal_after,
            } => {
                let id = self.seq as usize;
                self.partitions.push((id, side, media, one_way));
                self.recompute_cuts();
                self.schedule(self.now + heal_after, Ev::Heal { id });
            }
            Fault::Standby { node, set } => {
                self.command(node, Command::Standby(set));
            }
            Fault::Takeover { node, set } => {
                self.command(node, Command::Takeover(set));
            }
            Fault::FailNext { node, group, stop } => {
                if stop {
                    self.nodes[node].fail_stop |= 1 << group;
                } else {
                    self.nodes[node].fail_start |= 1 << group;
                }
            }
            Fault::InjectWrongKey { to } => self.inject_wrong_key(to),
            Fault::InjectReplay { to } => self.inject_replay(to),
            Fault::PingLoss {
                node,
                ping,
                restore_after,
            } => {
                self.nodes[node].ping_lost |= 1 << ping;
                self.ping_changed_at = Some(self.now);
                let node = Some(node);
                self.schedule(self.now + restore_after, Ev::PingRestore { node, ping });
            }
            Fault::PingDown {
                ping,
                restore_after,
            } => {
                self.ping_down |= 1 << ping;
                self.ping_changed_at = Some(self.now);
                let node = None;
                self.schedule(self.now + restore_after, Ev::PingRestore { node, ping });
            }
            Fault::Stall { node, ms } => self.stall(node, ms),
            Fault::Service(f) => self.service_fault(f),
        }
    }

    /// Node `i`'s daemon stops running for `ms`: every live peer must see it dead in time.
    pub(super) fn stall(&mut self, i: usize, ms: u64) {
        if self.nodes[i].hb.is_none() || self.nodes[i].stalled_until.is_some() {
            return;
        }
        self.log(Some(i), || format!("stalls for {ms} ms"));
        self.out.stats.stalls += 1;
        self.nodes[i].stalled_until = Some(self.now + ms);
        // Its own status must look dead to it afterwards if its comm was up (before, the
        // dead time is `initdead`) and the stall outlasts the longest dead time it advertises
        // (deadtime + 2 s in its first 5 s).
        self.nodes[i].stall_must_show =
            self.nodes[i].comm_up_at.is_some() && ms > self.sc.deadtime + 2000 + self.sc.keepalive;
        self.stalled_at = Some(self.now);
        self.cause(ms + self.settle_window() + PARTITION_RESTART, "stall");
        self.expect_death(i);
        let until = self.now + ms;
        self.schedule(until, Ev::StallEnd { node: i, until });
    }

    pub(super) fn stall_end(&mut self, i: usize) {
        if self.nodes[i].stalled_until.take().is_none() {
            return;
        }
        self.log(Some(i), || "runs again".into());
        self.stalled_at = Some(self.now);
        self.nodes[i].resumed_at = self.now;
        // Its own status did not come round for longer than a dead time: it must notice
        // (unless it said so before, or is on its way out already).
        let n = &mut self.nodes[i];
        let leaving =
            n.hb.as_ref()
                .is_some_and(|hb| hb.resources().shutting_down());
        n.owes_no_local_heartbeat = n.stall_must_show && !n.no_local_heartbeat && !leaving;
        // Peers whose time to notice has not run out yet need not have: it speaks again.
        let now = self.now;
        let sc = self.sc;
        let nodes = &self.nodes;
        self.pending
            .retain(|p| p.dead != i || detection_deadline(sc, &nodes[p.peer], p) < now);
        self.after(i);
    }

    /// Node `i`'s keys changed (authkeys re-read).
    pub(super) fn reload_keys(&mut self, i: usize) {
        let keys = self.keys_for(i);
        if let Some(hb) = self.nodes[i].hb.as_mut() {
            if let Err(e) = hb.set_keys(keys) {
                self.violation(format!(
                    "{} refused its new keys: {e:?}",
                    Scenario::node_name(i)
                ));
            }
        }
    }

    pub(super) fn command(&mut self, node: usize, cmd: Command) -> bool {
        let (now, wall) = (self.instant(), self.wall());
        let Some(hb) = self.nodes[node].hb.as_mut() else {
            return false;
        };
        let r = hb.handle_command(now, wall, cmd);
        self.record_command(node, r.is_ok());
        self.log(Some(node), || format!("command {cmd:?}: {r:?}"));
        self.cause(self.settle_window() + 10_000, "command");
        self.after(node);
        r.is_ok()
    }

    pub(super) fn recompute_cuts(&mut self) {
        let n = self.sc.nodes;
        for row in &mut self.cut {
            row.iter_mut().for_each(|c| *c = 0);
        }
        for &(_, side, media, one_way) in &self.partitions {
            for a in 0..n {
                for b in 0..n {
                    let (sa, sb) = (side & (1 << a) != 0, side & (1 << b) != 0);
                    if sa && !sb {
                        self.cut[a][b] |= media;
                        if !one_way {
                            self.cut[b][a] |= media;
                        }
                    }
                }
            }
        }
        self.cause(self.settle_window(), "connectivity");
    }
}
