//! A peer's death, STONITH and takeover; our own shutdown and give-up.

use super::jobs::JobKind;
use super::log::LogMsg;
use super::msg::{RscSet, StonithResult};
use super::timer::Timer;
use super::types::NodeId;
use super::types::{Action, RscState, StandbyState};
use super::{Fence, Info, Out, Resources};
use crate::time::Duration;

/// How often a node waiting to reset its peer says so again (`hb_fence`): a lost one is not
/// sent again by the peer's NAK, which may not reach us.
const FENCE_NOTICE_EVERY: Duration = Duration::from_millis(1000);

impl<const NODES: usize, const GROUPS: usize> Resources<NODES, GROUPS> {
    /// `hb_rsc_recover_dead_resources`.
    pub(super) fn recover_dead_resources(&mut self, node: NodeId) {
        if self.going != StandbyState::Not {
            self.cancel_standby();
            self.shutdown_if_needed();
        }
        if self.shutdown_in_progress {
            match self.rstate {
                RscState::Shutdown | RscState::Stable => return,
                _ => {
                    self.giveup_resources(self.restart);
                    return;
                }
            }
        }
        self.needs_failback = true;
        let p = self.peers[node.ix()];
        let mut need_stonith = true;
        if p.heard {
            if self.nice_failback() && !self.stonith {
                if self.other_holds.is_none() {
                    need_stonith = false;
                }
            } else if !p.has_resources {
                // With a STONITH device only `shutdone` spares the reset: a peer announces what
                // it holds as it starts acquiring, so a `none` we heard last may already be
                // stale (see the deviations in the module documentation).
                need_stonith = false;
            }
        }
        if need_stonith {
            if self.stonith {
                self.start_fence(node);
            } else {
                self.emit(Out::Stonith {
                    node,
                    result: StonithResult::NotConfigured,
                });
                self.log(LogMsg::NoStonithDevice);
                self.log(LogMsg::SharedDisksNotProtected);
                self.takeover_from_node(node);
            }
        } else {
            self.log(LogMsg::DeadNodeGaveUp(node));
            self.emit(Out::Stonith {
                node,
                result: StonithResult::Unneeded,
            });
            if self.nice_failback() {
                if self.i_hold == RscSet::ALL {
                    self.other_is_stable = true;
                    return;
                }
                if !self.i_hold.intersects(RscSet::LOCAL) {
                    self.req_our_resources(true);
                }
                if !self.i_hold.intersects(RscSet::FOREIGN) {
                    self.takeover_from_node(node);
                }
            } else {
                self.takeover_from_node(node);
            }
        }
    }

    /// The other node restarted before we declared it dead: handled as the death we missed,
    /// minus STONITH (the old incarnation is demonstrably gone, and our daemon stops every
    /// group when it starts). 3.0.6 does nothing here, so a group the old incarnation held,
    /// or was being handed in a standby exchange, stays unowned.
    pub(super) fn peer_restarted_unnoticed(&mut self, node: NodeId) {
        if self.going != StandbyState::Not {
            self.cancel_standby();
        }
        if self.shutdown_in_progress {
            return;
        }
        self.needs_failback = true;
        if !self.nice_failback() {
            // Legacy: the new incarnation asks for its own groups with `ip-request` as it
            // comes up, so we take none of them (that would race with those requests, and with
            // our answers to its predecessor's). Ours we ask for again: what we asked of the
            // old incarnation died with it. Before our comm-up nothing was asked yet, and
            // comm-up asks.
            if self.comm_up {
                self.req_our_resources(false);
            }
            return;
        }
        if self.i_hold == RscSet::ALL {
            self.other_holds = RscSet::NONE;
            self.other_is_stable = true;
            return;
        }
        if !self.i_hold.intersects(RscSet::LOCAL) {
            self.req_our_resources(true);
        }
        if !self.i_hold.intersects(RscSet::FOREIGN) {
            self.takeover_from_node(node);
        }
        self.other_holds = RscSet::NONE;
    }

    /// The decision to reset `node`: at once, or after `HB_FENCE_DELAY` (see
    /// [`Timing::fence_delay`](super::Timing::fence_delay)).
    ///
    /// The delays alone order the two resets only if both nodes see the split at about the
    /// same time. A cut that is one-way at first (we stopped hearing the peer, it still hears
    /// us) and complete seconds later makes us decide long before the peer, and the peer's
    /// shorter delay may then run out while ours still does: both reset (hbsim seeds 18723
    /// and 60518). So whoever waits to reset says so (`hb_fence`, on every medium, again
    /// every [`FENCE_NOTICE_EVERY`] while it waits), and a node that heard it holds its own
    /// reset of that peer back (see `peer_fences_us`).
    pub(super) fn start_fence(&mut self, node: NodeId) {
        let delay = self.fence_delay();
        let held = self.fence_held_for();
        if held > delay {
            self.log(LogMsg::FenceYielding {
                node,
                ms: held.as_millis() as u32,
            });
            self.peers[node.ix()].fence = Fence::RetryAt(self.now + held);
        } else if delay > Duration::ZERO {
            self.log(LogMsg::FenceDelayed {
                node,
                ms: delay.as_millis() as u32,
                idle: self.running_mask() == 0,
            });
            self.peers[node.ix()].fence = Fence::RetryAt(self.now + delay);
        } else {
            self.fence_now(node);
            return;
        }
        self.fence_notice_now();
    }

    /// How much longer a reset of the peer must wait for the one it announced of us.
    pub(super) fn fence_held_for(&self) -> Duration {
        self.fence_hold
            .map_or(Duration::ZERO, |t| t.saturating_since(self.now))
    }

    pub(super) fn fence_now(&mut self, node: NodeId) {
        self.peers[node.ix()].fence = Fence::InFlight;
        self.peers[node.ix()].reset_issued = true;
        self.action(Action::Fence(node));
        self.fence_notice_now();
    }

    /// Two nodes with `HB_FENCE_DELAY`: says which resets of ours wait and for how long (0:
    /// under way), and when to say it again; nothing when none does.
    pub(super) fn fence_notice_now(&mut self) {
        self.fence_notice_due = None;
        if self.multi || self.timing.fence_delay == Duration::ZERO {
            return;
        }
        for i in 0..self.table.nodes.len() {
            let in_ms = match self.peers[i].fence {
                Fence::None => continue,
                Fence::InFlight => 0,
                Fence::RetryAt(t) => t.saturating_since(self.now).as_millis(),
            };
            self.emit(Out::FenceNotice {
                node: NodeId(i as u8),
                in_ms: u32::try_from(in_ms).unwrap_or(u32::MAX),
            });
            self.fence_notice_due = Some(self.now + FENCE_NOTICE_EVERY);
        }
    }

    /// The peer's `hb_fence`: it will reset `target` in `in_ms` ms. If that is us, a reset of
    /// it that we decide (or retry) meanwhile waits until half `HB_FENCE_DELAY` after that
    /// time. The delay exceeds three times a reset's duration (see `fence_delay`), so by then
    /// the peer's reset is over if it worked, and if it failed, the peer's retry (the whole
    /// delay later) comes after ours is over: either way one reset, never both.
    pub(super) fn peer_fences_us(&mut self, target: &str, in_ms: u32) {
        if self.multi
            || self.timing.fence_delay == Duration::ZERO
            || target != self.table.local_name()
        {
            return;
        }
        let fd = self.timing.fence_delay.as_millis();
        let hold = self.now + Duration::from_millis(u64::from(in_ms) + fd / 2);
        self.fence_hold = Some(hold);
        for i in 0..self.table.nodes.len() {
            if let Fence::RetryAt(t) = self.peers[i].fence {
                if t < hold {
                    self.peers[i].fence = Fence::RetryAt(hold);
                }
            }
        }
    }

    /// hb's own, in the spirit of Pacemaker's `priority-fencing-delay`: when both nodes of a
    /// split decide to reset each other, the one that runs groups goes first, so it resets the
    /// other before the other's reset leaves, and nobody resets the survivor. The wait is
    /// `HB_FENCE_DELAY` × rank / 3, rank = 2 if we run no group (+1 if we are not the first
    /// node of `ha.cf`): runs groups and first 0, runs groups 1/3, runs nothing and first
    /// 2/3, runs nothing 3/3. Any two nodes differ by a third at least, so the delay must
    /// exceed three times (a reset's duration + the difference in when the two notice the
    /// split: up to deadtime + 2 s, as a node advertises a longer dead time around client
    /// starts). A reset that failed waits the whole delay before it is tried again (see
    /// `handle_action_done`), so the order holds for the retries too.
    fn fence_delay(&self) -> Duration {
        let d = self.timing.fence_delay.as_millis();
        let rank = 2 * u64::from(self.running_mask() == 0) + u64::from(self.table.local.ix() != 0);
        Duration::from_millis(d * rank / 3)
    }

    /// `takeover_from_node`.
    pub(super) fn takeover_from_node(&mut self, node: NodeId) {
        if self.shutdown_in_progress {
            self.log(LogMsg::TakeoverCancelled);
            self.shutdown_if_needed();
            return;
        }
        if !self.comm_up {
            // Nothing runs before comm-up, and by then the node may be back (restarted: its
            // new incarnation negotiates like any starting peer): decided at comm-up.
            self.peers[node.ix()].takeover_due = true;
            return;
        }
        self.log(LogMsg::ResourcesBeingAcquired(node));
        self.queue_remote(JobKind::MachDown(node));
        if self.nice_failback() {
            self.i_hold = self.i_hold.union(RscSet::FOREIGN);
            self.other_holds = RscSet::NONE;
            self.other_is_stable = true;
            self.takeover_in_progress = true;
        }
        self.req_our_resources(true);
        self.peers[node.ix()].heard = true;
    }

    /// Our reset of `node` succeeded after it had come back (restarted, or returned from a
    /// split): whatever its current incarnation ran is gone, as after the death we would
    /// have seen had it not come back first.
    pub(super) fn reset_overtook_return(&mut self, node: NodeId) {
        if self.going != StandbyState::Not {
            self.cancel_standby();
        }
        self.needs_failback = true;
        self.takeover_from_node(node);
    }

    /// `req_our_resources`.
    pub(super) fn req_our_resources(&mut self, getthemanyway: bool) {
        if self.shutdown_in_progress {
            return;
        }
        if self.reset_pending() {
            // A dead peer awaiting its reset may run our groups (it took them when we were
            // gone): nothing is taken until the reset, after which `takeover_from_node` asks
            // again. (3.0.6 takes its own groups at comm-up, legacy mode, or after `RQSTDELAY`
            // while the reset is still on its way.) Legacy asks only here, so the request is
            // owed until the reset is over, however it ends (a heal, a restart of the peer).
            self.req_owed = self.comm_up && !self.multi && !self.nice_failback();
            return;
        }
        self.req_owed = false;
        if self.nice_failback() {
            if (self.other_holds.intersects(RscSet::FOREIGN)
                || self.i_hold.intersects(RscSet::LOCAL))
                && !getthemanyway
                && self.going == StandbyState::Not
            {
                self.log(LogMsg::LocalAcquisitionNone);
                return;
            }
            self.i_hold = self.i_hold.union(RscSet::LOCAL);
        }
        let up = self.up_count();
        self.start_job(JobKind::ReqOur {
            ask: up >= 2,
            announce: up < 2,
        });
    }

    /// Legacy, two nodes: a live peer whose last word is `up` (heard, not yet `active`).
    ///
    /// 3.0.6's `req_resource` takes our groups without asking when no other node is `active`.
    /// But `up` is only what the peer said when it last spoke: a peer that started before us
    /// may have declared us dead at the end of its `initdead` (it never heard us) and be taking
    /// our groups, while its `up` — sent just before, and overtaking the `active` that followed
    /// it, or the only one that reached us — still looks current. Both nodes then run the same
    /// groups (hbsim seeds 48211 and 84445). So the decision waits until the peer is `active`
    /// (then we ask, and it gives them back after its takeover) or dead (then no one else runs
    /// them). The wait is bounded: a starting peer turns `active` at its comm-up, within its
    /// `initdead`; a gone one is declared dead within its dead time.
    pub(super) fn peer_status_unsettled(&self) -> bool {
        !self.multi
            && !self.nice_failback()
            && (0..self.table.nodes.len())
                .any(|i| i != self.table.local.ix() && self.peers[i].status == super::Status::Up)
    }

    /// A dead peer is being reset, or will be again.
    pub(super) fn reset_pending(&self) -> bool {
        self.peers[..self.table.nodes.len()]
            .iter()
            .any(|p| p.fence != Fence::None)
    }

    /// `hb_shutdown_if_needed`.
    pub(super) fn shutdown_if_needed(&mut self) {
        if self.rsc_needs_shutdown {
            self.giveup_resources(self.restart);
        }
    }

    /// The restart 2 s after a node returned from a partition. Both sides ran what they took
    /// from each other, and each may wait for the other to look stable: waiting would keep
    /// both running it (3.0.6's `hb_giveup_resources` does wait, and can for good). So no more
    /// taking: acquisitions not yet started and a standby exchange are dropped, and the
    /// give-up starts at once (it lets an action in flight finish before it releases that
    /// group).
    pub(super) fn giveup_after_partition(&mut self) {
        if self.going != StandbyState::Not {
            self.cancel_standby();
        }
        self.jobs
            .retain(|j| !j.kind.acquires() || j.issued.is_some());
        self.remote.retain(|k| !k.acquires());
        self.restart = true;
        self.give_up_now();
    }

    /// `hb_giveup_resources` (and `cause_shutdown_restart` with `restart`).
    pub(super) fn giveup_resources(&mut self, restart: bool) {
        self.restart |= restart;
        if !self.is_stable() {
            if !self.rsc_needs_shutdown {
                self.log(LogMsg::ShutdownDelayed);
                self.rsc_needs_shutdown = true;
            }
            return;
        }
        self.give_up_now();
    }

    pub(super) fn give_up_now(&mut self) {
        self.rsc_needs_shutdown = false;
        self.shutdown_in_progress = true;
        if self.giveup_started {
            self.log(LogMsg::ShutdownUnderway);
            return;
        }
        self.giveup_started = true;
        self.timers.stop(Timer::Restart);
        // A take queued before the give-up (our own `ip-request-resp`, looped back while the
        // shutdown waited for stability) would start a group after `shutdone`: drop it.
        self.remote.retain(|k| !k.acquires());
        if self.multi {
            self.multi_begin_shutdown();
        } else {
            self.i_hold = RscSet::NONE;
            self.rstate = RscState::Shutdown;
            self.send_resources_held(false, Some(Info::Shutdown));
        }
        self.start_job(JobKind::Giveup);
    }
}
