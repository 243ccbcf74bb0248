//! Jobs: the scripts 3.0.6 runs in the background (`req_our_resources`, `hb_standby`,
//! `mach_down`, `ip-request`, …), run one group at a time as actions out and results in.

use super::log::LogMsg;
use super::msg::{RscSet, StandbyInfo, StandbySet};
use super::types::NodeId;
use super::types::{Action, GroupId, GroupState};
use super::{Info, Out, Resources};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum JobKind {
    /// `req_our_resources`: ask for (or grant ourselves) our local groups.
    ReqOur { ask: bool, announce: bool },
    /// `go_standby`: release (`acquire == false`) or acquire `act`, then send `done` for `set`.
    Standby {
        acquire: bool,
        act: RscSet,
        set: RscSet,
    },
    /// `hb_giveup_resources`: release every group, then `shutdone`.
    Giveup,
    /// `mach_down <node>`: take the node's groups.
    MachDown(NodeId),
    /// `rc.d/ip-request-resp`: take one group.
    TakeGroup(GroupId),
    /// `rc.d/ip-request`: give one group up if we run it, answer the asker.
    GiveGroup { group: GroupId, to: NodeId },
    /// `rc.d/hb_takeover`: run `hb_standby` with the mirror set.
    Takeover(StandbySet),
    /// After a split (hb's own): release the groups the peer keeps, then report.
    HealRelease(u32),
}

impl JobKind {
    /// Whether the job may start groups.
    pub(super) fn acquires(self) -> bool {
        match self {
            JobKind::ReqOur { .. }
            | JobKind::MachDown(_)
            | JobKind::TakeGroup(_)
            | JobKind::Takeover(_) => true,
            JobKind::Standby { acquire, .. } => acquire,
            JobKind::Giveup | JobKind::GiveGroup { .. } | JobKind::HealRelease(_) => false,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Job {
    pub(super) kind: JobKind,
    pub(super) started: bool,
    pub(super) cursor: u8,
    /// The group this job started an action on, while it waits for it.
    pub(super) issued: Option<GroupId>,
    /// MachDown: groups logged so far; GiveGroup: whether we owned it.
    pub(super) mark: u8,
    pub(super) flag: bool,
}

impl Job {
    pub(super) const fn new(kind: JobKind) -> Job {
        Job {
            kind,
            started: false,
            cursor: 0,
            issued: None,
            mark: 0,
            flag: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Target {
    Acquire,
    Release,
}

pub(super) enum Step {
    Blocked { progressed: bool },
    Done,
}

impl<const NODES: usize, const GROUPS: usize> Resources<NODES, GROUPS> {
    pub(super) fn start_job(&mut self, kind: JobKind) {
        if self.jobs.push(Job::new(kind)).is_err() {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    /// `QueueRemoteRscReq`: run when no other job runs.
    pub(super) fn queue_remote(&mut self, kind: JobKind) {
        if self.shutdown_in_progress && kind.acquires() {
            // Nothing is taken any more once the give-up has begun.
            return;
        }
        if self.remote.push_back(kind).is_err() {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    pub(super) fn queued_take(&self, g: GroupId) -> bool {
        self.remote.iter().any(|k| *k == JobKind::TakeGroup(g))
            || self.jobs.iter().any(|j| j.kind == JobKind::TakeGroup(g))
    }

    /// Advances the first job that can move by one step (its messages then loop back before
    /// any other job moves); starts the next queued one when none runs. Jobs wait for
    /// comm-up: 3.0.6's children report only after the parent's comm-up.
    pub(super) fn pump_jobs(&mut self) -> bool {
        if !self.comm_up {
            return false;
        }
        let mut i = 0;
        while i < self.jobs.len() {
            let mut job = self.jobs[i];
            match self.step_job(&mut job) {
                Step::Done => {
                    self.jobs.remove(i);
                    self.job_finished(job.kind);
                    return true;
                }
                Step::Blocked { progressed } => {
                    if let Some(slot) = self.jobs.get_mut(i) {
                        *slot = job;
                    }
                    if progressed {
                        return true;
                    }
                    i += 1;
                }
            }
        }
        if self.jobs.is_empty() {
            if let Some(kind) = self.remote.pop_front() {
                self.start_job(kind);
                return true;
            }
        }
        false
    }

    /// Which groups a job works on, and what it does with them.
    pub(super) fn job_target(&self, kind: JobKind, g: usize) -> Option<Target> {
        let local = self.is_local_group(g);
        let in_set = |set: RscSet| {
            set == RscSet::ALL
                || (set == RscSet::LOCAL && local)
                || (set == RscSet::FOREIGN && !local)
        };
        match kind {
            JobKind::Standby { acquire, act, .. } if in_set(act) => Some(if acquire {
                Target::Acquire
            } else {
                Target::Release
            }),
            JobKind::Giveup => Some(Target::Release),
            JobKind::MachDown(n) if self.table.groups[g].node == n => Some(Target::Acquire),
            JobKind::TakeGroup(x) if x.ix() == g => Some(Target::Acquire),
            JobKind::GiveGroup { group, .. } if group.ix() == g => Some(Target::Release),
            JobKind::HealRelease(mask) if mask & (1 << g) != 0 => Some(Target::Release),
            _ => None,
        }
    }

    pub(super) fn step_job(&mut self, job: &mut Job) -> Step {
        let mut progressed = false;
        if !job.started {
            if matches!(job.kind, JobKind::ReqOur { .. }) && self.peer_status_unsettled() {
                // Legacy: whether to ask the peer or grant ourselves depends on whether it is
                // active, and `up` may be stale (its `active` lost or overtaken, or it declared
                // us dead at its initdead and is taking our groups): wait until it says
                // `active` or is declared dead (see `peer_status_unsettled`).
                return Step::Blocked { progressed: false };
            }
            job.started = true;
            progressed = true;
            match job.kind {
                JobKind::ReqOur { .. } => {
                    // Whether another node is active is the script's question when it runs
                    // (3.0.6's `req_resource`), not when it was queued: a peer that became
                    // active meanwhile may run our groups, and must be asked for them.
                    let up = self.up_count();
                    job.kind = JobKind::ReqOur {
                        ask: up >= 2,
                        announce: up < 2,
                    };
                    self.run_req_our(up >= 2);
                    return Step::Done;
                }
                JobKind::Takeover(set) => {
                    // rc.d/hb_takeover: run hb_standby with the mirror set.
                    self.hb_standby(set.takeover_mirror());
                    return Step::Done;
                }
                JobKind::Standby { acquire, act, .. } => {
                    self.log(LogMsg::GoStandbyBegin { acquire, set: act });
                }
                JobKind::Giveup => self.log(LogMsg::GivingUpAll),
                JobKind::GiveGroup { group, .. } => {
                    job.flag = self.groups[group.ix()].state.is_active();
                }
                JobKind::MachDown(_) | JobKind::TakeGroup(_) | JobKind::HealRelease(_) => {}
            }
        }
        let n = self.table.groups.len();
        while usize::from(job.cursor) < n {
            let g = usize::from(job.cursor);
            let Some(target) = self.job_target(job.kind, g) else {
                job.cursor += 1;
                continue;
            };
            if let JobKind::MachDown(_) = job.kind {
                if usize::from(job.mark) <= g {
                    job.mark = job.cursor + 1;
                    self.log(LogMsg::TakingOverGroup(GroupId(g as u8)));
                    progressed = true;
                }
            }
            let id = GroupId(g as u8);
            let mine = job.issued == Some(id);
            match (target, self.groups[g].state) {
                (_, GroupState::Starting | GroupState::Stopping) => {
                    return Step::Blocked { progressed };
                }
                (Target::Acquire, GroupState::Running)
                | (Target::Release, GroupState::Stopped | GroupState::Failed) => {}
                (Target::Acquire, GroupState::Failed) if mine => {}
                (Target::Release, GroupState::Running) if mine => {}
                (Target::Acquire, _) => {
                    self.groups[g].state = GroupState::Starting;
                    job.issued = Some(id);
                    self.action(Action::Acquire(id));
                    return Step::Blocked { progressed: true };
                }
                (Target::Release, _) => {
                    if matches!(job.kind, JobKind::Standby { .. })
                        && self.heal.ours.is_some()
                        && !self.heal.decided
                    {
                        self.heal.standby_stops |= 1 << g;
                    }
                    self.groups[g].state = GroupState::Stopping;
                    job.issued = Some(id);
                    self.action(Action::Release(id));
                    return Step::Blocked { progressed: true };
                }
            }
            job.issued = None;
            job.cursor += 1;
        }
        // All groups handled: the job's last words.
        match job.kind {
            JobKind::Standby { acquire, act, set } => {
                self.log(LogMsg::GoStandbyEnd { acquire, set: act });
                self.emit(Out::Ask {
                    set,
                    info: StandbyInfo::Done,
                    xid: self.standby_xid,
                });
            }
            JobKind::Giveup => {
                self.log(LogMsg::AllRelinquished);
                self.emit(Out::Shutdone);
            }
            JobKind::MachDown(node) => {
                if self.nice_failback() {
                    self.log(LogMsg::MachDownForeignAcquired);
                    self.emit(Out::MachDown);
                }
                self.log(LogMsg::MachDownCompleteFor(node));
            }
            JobKind::GiveGroup { group, to } => self.emit(Out::IpResp {
                dest: to,
                group,
                weown: job.flag,
            }),
            // Sent once the job is gone from the list (`job_finished`).
            JobKind::HealRelease(_)
            | JobKind::TakeGroup(_)
            | JobKind::ReqOur { .. }
            | JobKind::Takeover(_) => {}
        }
        Step::Done
    }

    /// The body of the `req_our_resources` child.
    pub(super) fn run_req_our(&mut self, ask: bool) {
        let me = self.table.local;
        let mut count = 0;
        for g in 0..self.table.groups.len() {
            if !self.is_local_group(g) {
                continue;
            }
            count += 1;
            let id = GroupId(g as u8);
            // req_resource: `ResourceManager status KEY && exit 0`. A group being stopped
            // (by a standby that was cancelled) is not ours for long: ask for it again.
            if matches!(
                self.groups[g].state,
                GroupState::Running | GroupState::Starting
            ) || self.queued_take(id)
            {
                continue;
            }
            if self.nice_failback() || !ask {
                self.emit(Out::IpResp {
                    dest: me,
                    group: id,
                    weown: true,
                });
            } else {
                self.emit(Out::IpRequest(id));
                self.groups[g].asked_until = Some(self.now + self.timing.rqstdelay);
            }
        }
        if count == 0 {
            self.log(LogMsg::NoLocalResources);
        } else {
            self.log(LogMsg::LocalAcquisitionCompleted);
        }
        self.send_resources_held(true, Some(Info::ReqOur));
    }

    /// `RscMgmtProcessDied`.
    pub(super) fn job_finished(&mut self, kind: JobKind) {
        match kind {
            JobKind::ReqOur { announce: true, .. } | JobKind::TakeGroup(_) => {
                self.local_work_done = true;
                self.announce(match kind {
                    JobKind::TakeGroup(_) => "ip-request-resp",
                    _ => "req_our_resources",
                });
            }
            JobKind::MachDown(_) if !self.nice_failback() && self.dead_count() > 0 => {
                self.foreign_work_done = true;
                self.announce("status");
            }
            JobKind::HealRelease(_) => {
                // Owed even if a new round began meanwhile: the keeper waits for it.
                self.heal.release_due = true;
                self.heal_poll_released();
            }
            _ => {}
        }
        self.shutdown_if_needed();
    }
}
