//! Standby and failback: `hb_standby`, the `ask_resources` exchange, auto-failback, and the
//! hand-over of groups that failed to start.

use super::jobs::JobKind;
use super::log::LogMsg;
use super::msg::{RscSet, StandbyInfo};
use super::timer::Timer;
use super::types::NodeId;
use super::types::{GroupState, RscState, StandbyState};
use super::{Info, Out, Resources};
use crate::time::Duration;

impl<const NODES: usize, const GROUPS: usize> Resources<NODES, GROUPS> {
    pub(super) fn check_standby_timer(&mut self) {
        if self.timers.expire(Timer::Standby, self.now) {
            self.other_is_stable = true;
            self.going = StandbyState::Not;
            self.jobs
                .retain(|j| !matches!(j.kind, JobKind::Standby { .. }));
            self.log(LogMsg::NoStandbyReply);
            // A failed group whose hand-over went unanswered is offered again.
            self.rearm_failed_handovers();
            self.shutdown_if_needed();
        }
    }

    /// Groups that failed to start here and that we still announce as ours get their
    /// hand-over again, a retry interval from now.
    pub(super) fn rearm_failed_handovers(&mut self) {
        if self.multi || !self.nice_failback() {
            return;
        }
        // Both nodes' hand-overs may have gone unanswered because they crossed (each ignores
        // the other's `me` while its own runs): offered again after the same interval they
        // would cross again, for good. The second node in `ha.cf` waits one interval more.
        let retry = Duration::from_millis(
            self.timing.auto_failback_retry.as_millis() * (1 + self.table.local.ix() as u64),
        );
        for g in 0..self.table.groups.len() {
            let set = if self.is_local_group(g) {
                RscSet::LOCAL
            } else {
                RscSet::FOREIGN
            };
            let grp = &mut self.groups[g];
            if grp.state == GroupState::Failed
                && grp.failed_at.is_none()
                && self.i_hold.intersects(set)
            {
                grp.failed_at = Some(self.now + retry);
            }
        }
    }

    /// `hb_standby <set>`: the script logs and sends `ask_resources <set> me`.
    pub(super) fn hb_standby(&mut self, set: RscSet) {
        self.log(LogMsg::GoingStandby(set));
        self.request_standby(set);
    }

    /// `ask_resources <set> me`, as `hb_standby` and ipfail send it.
    pub(super) fn request_standby(&mut self, set: RscSet) {
        // Goes out only once our own side has taken it (see `local_message`).
        if self.loopback.push_back(Out::StandbyRequest(set)).is_err() {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    pub(super) fn perform_auto_failback(&mut self) {
        if self.shutdown_in_progress
            || !self.i_hold.intersects(RscSet::FOREIGN)
            || !self.needs_failback
            || !self.auto_failback()
        {
            self.needs_failback = false;
            self.shutdown_if_needed();
            return;
        }
        if self.going != StandbyState::Not
            || !self.other_is_stable
            || self.local_in_flux()
            || self.heal_undecided()
        {
            // "Auto failback delayed."
            if !self.timers.is_armed(Timer::FailbackRetry) {
                self.timers.set(
                    Timer::FailbackRetry,
                    self.now + self.timing.auto_failback_retry,
                );
            }
            return;
        }
        self.standby_set = RscSet::FOREIGN;
        let xid = self.next_standby_xid();
        self.emit(Out::Ask {
            set: RscSet::FOREIGN,
            info: StandbyInfo::Me,
            xid: Some(xid),
        });
        self.needs_failback = false;
    }

    /// Not STABLE, or resource work running or queued. (3.0.6 only checks STABLE, and
    /// accepts a standby while its initial `takegroup`s are still queued: the give-up then
    /// misses a group that the queued take starts afterwards, on both nodes.)
    pub(super) fn local_in_flux(&self) -> bool {
        self.rstate != RscState::Stable || !self.jobs.is_empty() || !self.remote.is_empty()
    }

    /// `ask_for_resources`: the standby protocol (wire spec §5.5).
    pub(super) fn ask_for_resources(
        &mut self,
        from: NodeId,
        fromme: bool,
        rtype: RscSet,
        info: StandbyInfo,
        xid: Option<u32>,
    ) {
        if !self.nice_failback() {
            self.log(LogMsg::StandbyOnlyNiceFailback);
            return;
        }
        if self.rstate == RscState::Shutdown {
            return;
        }
        if !fromme && info == StandbyInfo::Other && xid.is_some() {
            let stale = match self.going {
                StandbyState::Not => true,
                StandbyState::Me => self.standby_xid.is_some() && xid != self.standby_xid,
                _ => false,
            };
            if let (true, Some(x)) = (stale, xid) {
                // The peer took a request of ours that we have dropped since (a heal or the
                // reply timeout cancelled it, perhaps before it even left): it now waits an
                // hour for our `done`, refusing every standby meanwhile, our failed groups'
                // hand-overs too. It numbered its answer, so it understands the cancel.
                self.log(LogMsg::StandbyIgnored {
                    info,
                    from,
                    state: self.going,
                });
                self.emit(Out::StandbyCancel(x));
                return;
            }
        }
        let now = self.now;
        if let Some(t) = self.timers.get(Timer::Standby) {
            if now < t && info == StandbyInfo::Me {
                let ms = t.saturating_since(now).as_millis();
                self.log(LogMsg::StandbyInProgress {
                    from,
                    secs_left: ms.div_ceil(1000),
                });
                return;
            }
        }
        let orig = self.going;
        let mut ignored = false;
        match self.going {
            StandbyState::Not => {
                if !self.other_is_stable {
                    self.log(LogMsg::StandbyIgnoredOtherInFlux { info, from });
                    return;
                }
                if self.local_in_flux() {
                    self.log(LogMsg::StandbyIgnoredLocalInFlux { info, from });
                    return;
                }
                self.standby_set = rtype;
                if info == StandbyInfo::Me {
                    self.standby_xid = xid;
                    self.other_is_stable = false;
                    self.log(LogMsg::WantsToGoStandby { from, set: rtype });
                    if fromme {
                        self.timers
                            .set(Timer::Standby, now + self.timing.standby_reply);
                        self.going = StandbyState::Me;
                    } else {
                        self.going = StandbyState::Other;
                        self.emit(Out::Ask {
                            set: self.standby_set,
                            info: StandbyInfo::Other,
                            xid,
                        });
                        self.timers
                            .set(Timer::Standby, now + self.timing.standby_resource);
                    }
                } else {
                    ignored = true;
                }
            }
            StandbyState::Me => {
                if !fromme {
                    self.standby_set = rtype;
                    self.timers
                        .set(Timer::Standby, now + self.timing.standby_resource);
                    if info == StandbyInfo::Other {
                        self.log(LogMsg::StandbyCanTake { from, set: rtype });
                        self.go_standby(true, rtype);
                    } else {
                        ignored = true;
                    }
                } else if info == StandbyInfo::Done {
                    self.log(LogMsg::LocalStandbyCompleted(rtype));
                    self.going = StandbyState::Done;
                    self.i_hold = self.i_hold.minus(self.standby_set);
                    self.timers
                        .set(Timer::Standby, now + self.timing.standby_resource);
                } else {
                    ignored = true;
                }
            }
            StandbyState::Other => {
                self.standby_set = rtype;
                if info == StandbyInfo::Done {
                    self.timers
                        .set(Timer::Standby, now + self.timing.standby_resource);
                    if !fromme {
                        self.log(LogMsg::StandbyAcquireFrom { from, set: rtype });
                        self.go_standby(false, self.standby_set);
                        self.going = StandbyState::Done;
                    } else {
                        ignored = true;
                    }
                } else if !fromme || info != StandbyInfo::Other {
                    ignored = true;
                }
            }
            StandbyState::Done => {
                self.standby_set = rtype;
                if info == StandbyInfo::Done {
                    self.timers.stop(Timer::Standby);
                    self.going = StandbyState::Not;
                    if fromme {
                        self.log(LogMsg::StandbyAcquisitionDone(rtype));
                        if self.auto_failback() {
                            self.local_work_done = true;
                            self.announce("auto_failback");
                        }
                        self.i_hold = self.i_hold.union(rtype.mirror());
                    } else {
                        self.log(LogMsg::OtherCompletedStandby(rtype));
                    }
                    self.send_resources_held(true, None);
                } else {
                    ignored = true;
                }
            }
        }
        if ignored {
            self.log(LogMsg::StandbyIgnored {
                info,
                from,
                state: orig,
            });
        }
        self.shutdown_if_needed();
    }

    /// A number for our next standby request (`hb_sbid`).
    pub(super) fn next_standby_xid(&mut self) -> u32 {
        self.standby_seq = self.standby_seq.wrapping_add(1);
        self.standby_seq
    }

    /// The peer's `hb_standby_cancel`: it dropped its request `xid`. If that is the one we
    /// answered and wait on, its `done` will not come.
    pub(super) fn standby_cancelled(&mut self, from: NodeId, xid: u32) {
        if self.going != StandbyState::Other || self.standby_xid != Some(xid) {
            return;
        }
        self.log(LogMsg::StandbyDroppedByPeer(from));
        self.cancel_standby();
        // We took it as in flux when we accepted its request; it had to be stable for us to
        // accept, and it runs nothing of the exchange.
        self.other_is_stable = true;
        self.shutdown_if_needed();
    }

    /// `go_standby`: `release` our `set`, or acquire the mirror of the other node's `set`.
    pub(super) fn go_standby(&mut self, release: bool, set: RscSet) {
        if release {
            self.other_is_stable = false;
            self.i_hold = self.i_hold.minus(set);
            self.send_resources_held(false, Some(Info::Standby));
        }
        let act = match set {
            RscSet::ALL => RscSet::ALL,
            RscSet::NONE => return, // "no resources to …": the child exits, no `done`.
            s if release => s,
            s => s.mirror(),
        };
        self.start_job(JobKind::Standby {
            acquire: !release,
            act,
            set: self.standby_set,
        });
    }

    /// A standby exchange is cancelled: its give-up or acquire job stops after the action in
    /// flight and sends no `done` (3.0.6's forked child would carry on and release groups we
    /// are about to need again).
    pub(super) fn cancel_standby(&mut self) {
        self.log(LogMsg::CancellingStandby);
        self.going = StandbyState::Not;
        self.timers.stop(Timer::Standby);
        if !self.other_is_stable && self.i_hold == RscSet::ALL {
            self.other_is_stable = true;
        }
        self.jobs
            .retain(|j| !matches!(j.kind, JobKind::Standby { .. }));
        // A failed group's hand-over that was under way is offered again.
        self.rearm_failed_handovers();
    }
}
