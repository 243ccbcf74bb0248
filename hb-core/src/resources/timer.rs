//! The resource manager's timers: a [`TimerTable`](crate::time::TimerTable) indexed by
//! [`Timer`], as the engine keeps its own.

use super::log::LogMsg;
use super::msg::RscSet;
use super::types::NodeId;
use super::types::{RscState, StandbyState};
use super::{Fence, Resources};
use crate::time::TimerId;
use crate::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// `RQSTDELAY`: a starting node takes its local groups anyway (counts only while
    /// `RscRcvd`; 3.0.6 arms it once and never clears it).
    RqstDelay = 0,
    /// The standby exchange: the reply to our request, or the whole exchange.
    Standby = 1,
    /// `PerformAutoFailback` again, while the cluster is not stable.
    FailbackRetry = 2,
    /// Multi-node: `starting` again, while a live peer has not answered it.
    StartingAgain = 3,
    /// Give everything up and restart, after a partition healed.
    Restart = 4,
    /// After a partition healed (two nodes): the peer's heal report is due.
    HealReport = 5,
    /// After a heal with a 3.0.6 peer: it should have begun to give up by now.
    ClassicGiveUp = 6,
}

impl Timer {
    pub(super) const COUNT: usize = 7;
}

impl TimerId for Timer {
    fn index(self) -> usize {
        self as usize
    }
}

pub(super) type TimerTable = crate::time::TimerTable<Timer, { Timer::COUNT }>;

impl<const NODES: usize, const GROUPS: usize> Resources<NODES, GROUPS> {
    /// Timers: call at [`poll_timeout`](Self::poll_timeout) or later; early or repeated calls
    /// are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.halted {
            return;
        }
        self.check_standby_timer();
        // RQSTDELAY: take our local groups anyway.
        // The timer stays armed: 3.0.6 sets it once, and it counts only while RscRcvd.
        if self.timers.is_due(Timer::RqstDelay, now) && self.rstate == RscState::RscRcvd {
            if self.multi {
                self.rstate = RscState::Stable;
                self.log(LogMsg::LocalTransitionCompleted);
            } else if self.nice_failback() {
                self.rstate = RscState::Stable;
                self.req_our_resources(false);
                self.log(LogMsg::LocalTransitionCompleted);
                self.send_resources_held(true, None);
                self.audit();
            }
        }
        for i in 0..self.table.nodes.len() {
            if let Fence::RetryAt(t) = self.peers[i].fence {
                if now >= t {
                    let held = self.fence_held_for();
                    if held > Duration::ZERO {
                        // The peer announced its reset of us since (see `peer_fences_us`).
                        self.peers[i].fence = Fence::RetryAt(now + held);
                    } else {
                        self.fence_now(NodeId(i as u8));
                    }
                }
            }
        }
        if self.fence_notice_due.is_some_and(|t| now >= t) {
            self.fence_notice_now();
        }
        // ResourceManager's background `hb_standby local|foreign` for groups that failed to
        // start. Two due at once go as one request; while a standby exchange runs (or could
        // not be accepted) the request waits, since 3.0.6's would be ignored and its group
        // left stopped for good.
        let mut handover = RscSet::NONE;
        let busy = self.nice_failback()
            && (self.going != StandbyState::Not
                || self.timers.is_armed(Timer::Standby)
                || !self.other_is_stable
                || self.local_in_flux()
                || !self.peers[..self.table.nodes.len()]
                    .iter()
                    .enumerate()
                    .any(|(i, p)| i != self.table.local.ix() && p.alive()));
        for i in 0..self.table.groups.len() {
            if let Some(t) = self.groups[i].failed_at {
                if now >= t {
                    if self.multi {
                        self.groups[i].failed_at = None;
                    } else if busy {
                        self.groups[i].failed_at = Some(now + self.timing.auto_failback_retry);
                    } else {
                        self.groups[i].failed_at = None;
                        handover = handover.union(self.groups[i].failed_set);
                    }
                }
            }
        }
        if !handover.is_none() {
            self.hb_standby(handover);
        }
        self.ask_again(now);
        if self.timers.expire(Timer::StartingAgain, now) {
            self.multi_starting_again();
        }
        if self.timers.expire(Timer::FailbackRetry, now) {
            self.perform_auto_failback();
        }
        if self.timers.expire(Timer::Restart, now) {
            self.giveup_after_partition();
        }
        if self.timers.expire(Timer::HealReport, now) {
            self.heal_no_report();
        }
        if self.timers.expire(Timer::ClassicGiveUp, now) {
            self.heal_classic_overdue();
        }
        self.settle();
    }

    /// The next deadline, if any timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.halted {
            return None;
        }
        let mut next: Option<Instant> = self.timers.next_timeout_without(Timer::RqstDelay);
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        if self.rstate == RscState::RscRcvd {
            consider(self.timers.get(Timer::RqstDelay));
        }
        consider(self.monitor_deadline());
        for p in &self.peers[..self.table.nodes.len()] {
            if let Fence::RetryAt(t) = p.fence {
                consider(Some(t));
            }
        }
        consider(self.fence_notice_due);
        for g in &self.groups[..self.table.groups.len()] {
            consider(g.failed_at);
            consider(g.asked_until);
        }
        next
    }

    /// Legacy: an `ip-request` that got no answer within `RQSTDELAY` is sent again (hb's own;
    /// 3.0.6 asks once). The request or its answer can be lost for good: a message from a
    /// node we have not yet heard a status from is not asked for again when it goes missing
    /// (3.0.6's rule, hbsim seed 42352), and the group then stays stopped on both nodes.
    fn ask_again(&mut self, now: Instant) {
        let peer_active = (0..self.table.nodes.len())
            .any(|i| i != self.table.local.ix() && self.peers[i].status == super::Status::Active);
        for g in 0..self.table.groups.len() {
            let Some(t) = self.groups[g].asked_until else {
                continue;
            };
            if now < t {
                continue;
            }
            let id = super::types::GroupId(g as u8);
            let waiting = self.groups[g].state == super::types::GroupState::Stopped
                && !self.queued_take(id)
                && !self.shutdown_in_progress;
            if waiting && peer_active {
                self.emit(super::Out::IpRequest(id));
                self.groups[g].asked_until = Some(now + self.timing.rqstdelay);
            } else {
                self.groups[g].asked_until = None;
            }
        }
    }
}
