//! Inputs (comm-up, node events, messages, commands, finished actions) and what the
//! two-node protocol does with each message, ours (looped back) and the peer's.

use super::jobs::JobKind;
use super::log::LogMsg;
use super::msg::{ResourceHeld, ResourceMsg, RscSet, StandbyInfo, StandbySet, StonithResult};
use super::timer::Timer;
use super::types::NodeId;
use super::types::{
    Action, ActionDone, Command, CommandError, FenceResult, GroupState, NodeEvent, ResourcesError,
    RscState, StandbyState,
};
use super::{Fence, Info, Out, Resources, Status};
use crate::time::Instant;

impl<const NODES: usize, const GROUPS: usize> Resources<NODES, GROUPS> {
    /// Communication is up (3.0.6's `comm_up_resource_action`): send `starting`
    /// (`auto_failback on|off`) or request our groups (`legacy`). Call it once, after the node
    /// events that led to it (a peer declared dead during `initdead` comes first).
    pub fn comm_up(&mut self, now: Instant) {
        self.now = now;
        if self.halted {
            return;
        }
        if self.comm_up {
            return;
        }
        self.comm_up = true;
        if self.dead_count() == 0 {
            self.foreign_work_done = true;
        }
        // Takeovers decided before comm-up, from nodes still gone (dead, or gave up with
        // `shutdone` and not restarted since).
        for i in 0..self.table.nodes.len() {
            let p = &mut self.peers[i];
            if core::mem::take(&mut p.takeover_due)
                && (p.status == Status::Dead || !p.has_resources)
            {
                self.takeover_from_node(NodeId(i as u8));
            }
        }
        if self.multi {
            self.multi_comm_up();
        } else if self.nice_failback() {
            self.emit(Out::Starting);
            // Re-executed keeping our groups (3.0.6's `-R`): stable from the start.
            if !self.resumed {
                self.rstate = RscState::Starting;
            }
        } else if !self.resumed {
            self.req_our_resources(false);
        }
        if let Some(restart) = self.shutdown_before_comm.take() {
            self.giveup_resources(restart);
        }
        self.settle();
    }

    /// The daemon re-executed itself keeping its groups (a reload, 3.0.6's `heartbeat -R -C`):
    /// `running` (a mask of haresources indexes) runs here already. Call it before
    /// [`Resources::comm_up`], once. Nothing is started: the groups are ours and the machine
    /// is stable at once; at comm-up it says `starting` (`auto_failback on|off`) and reports
    /// them when the peer answers, or asks for nothing (`legacy`), as 3.0.6 does. Two nodes
    /// only: `Err` with three or more (the claims protocol has no resumption).
    pub fn resume(&mut self, running: u32) -> Result<(), ResourcesError> {
        if self.multi {
            return Err(ResourcesError::ResumeNeedsTwoNodes);
        }
        let mut hold = RscSet::NONE;
        for g in 0..self.table.groups.len() {
            if running & (1 << g) != 0 {
                self.groups[g].state = GroupState::Running;
                hold = hold.union(if self.is_local_group(g) {
                    RscSet::LOCAL
                } else {
                    RscSet::FOREIGN
                });
            }
        }
        self.i_hold = hold;
        self.rstate = RscState::Stable;
        self.resumed = true;
        Ok(())
    }

    /// A membership change of another node.
    pub fn node_event(&mut self, now: Instant, ev: NodeEvent) {
        self.now = now;
        if self.halted {
            return;
        }
        self.check_standby_timer();
        let node = match ev {
            NodeEvent::Up(n)
            | NodeEvent::Active(n)
            | NodeEvent::Restarted(n)
            | NodeEvent::RestartedKeeping(n)
            | NodeEvent::ReturnedAfterPartition(n)
            | NodeEvent::Dead { node: n, .. } => n,
        };
        if node == self.table.local || node.ix() >= self.table.nodes.len() {
            return;
        }
        let p = &mut self.peers[node.ix()];
        match ev {
            NodeEvent::Up(_) | NodeEvent::Active(_) => {
                let mut resume = false;
                if p.status == Status::Dead {
                    // Heard again: a pending STONITH retry loop is dropped (see the docs).
                    resume = p.fence != Fence::None;
                    p.fence = Fence::None;
                    p.unresolved = false;
                }
                let became_active =
                    matches!(ev, NodeEvent::Active(_)) && p.status != Status::Active;
                p.status = if matches!(ev, NodeEvent::Active(_)) || p.status == Status::Active {
                    Status::Active
                } else {
                    Status::Up
                };
                p.heard = true;
                if became_active && self.multi {
                    // Its comm is up: it takes resource messages from now on. Our claims go
                    // to it again, in case its `starting` (which we answer) never reached us.
                    self.sent_claims = None;
                }
                if resume && self.comm_up && !self.multi && !self.nice_failback() {
                    // Back without a restart or a return (so it is only starting and runs
                    // nothing): the groups we held back while its reset was pending are
                    // asked for now (legacy asks at comm-up only).
                    self.req_our_resources(false);
                }
            }
            NodeEvent::RestartedKeeping(_) if p.status != Status::Dead && p.has_resources => {
                // A reload (3.0.6's restart exec, or ours): the new incarnation runs what the
                // old one did and says so when it negotiates (`starting`, then its report). As
                // in 3.0.6 nothing is taken; what it holds stands until it reports.
                if self.going != StandbyState::Not {
                    self.cancel_standby();
                }
                let p = &mut self.peers[node.ix()];
                p.status = Status::Up;
                p.heard = true;
                p.fence = Fence::None;
                p.unresolved = false;
                p.stable = false;
                p.reported = false;
                p.current = false;
                self.other_is_stable = false;
            }
            NodeEvent::Restarted(_) | NodeEvent::RestartedKeeping(_) => {
                self.heal_peer_leaving();
                if !self.nice_failback() && !self.multi {
                    // Legacy: a takeover of its groups still queued (its death came while
                    // other resource work ran) would race with the new incarnation's own
                    // `ip-request`s for them, and with our answers: it asks, we answer.
                    self.remote
                        .retain(|k| !matches!(k, JobKind::MachDown(n) if *n == node));
                }
                let p = &mut self.peers[node.ix()];
                let was_alive = p.status != Status::Dead && p.status != Status::Unknown;
                let awaited_reset = p.fence != Fence::None;
                // A new incarnation resets nobody its predecessor announced.
                self.fence_hold = None;
                p.status = Status::Up;
                p.heard = true;
                p.has_resources = true;
                p.fence = Fence::None;
                p.unresolved = false;
                p.claims = 0;
                p.stable = false;
                p.reported = false;
                p.leaving = false;
                p.current = false;
                if was_alive && !self.multi {
                    self.peer_restarted_unnoticed(node);
                } else if awaited_reset && !self.multi && !self.nice_failback() {
                    // Legacy: the new incarnation asks for its groups with `ip-request` as it
                    // comes up; taking them now would race with those requests (and with our
                    // answers to its predecessor's, which it may take for its own). Ours,
                    // held back while the reset was pending, we ask for now.
                    if self.comm_up {
                        self.req_our_resources(false);
                    }
                } else if awaited_reset && !self.multi {
                    // Dead and awaiting its reset, it restarted instead: the incarnation that
                    // may have run groups is gone as surely as a reset would have made it (our
                    // daemon stops every group at start), so we take over as after the reset.
                    self.log(LogMsg::ResourcesBeingAcquired(node));
                    self.takeover_from_node(node);
                }
            }
            NodeEvent::Dead { heard_from, .. } => {
                if p.status == Status::Dead {
                    return;
                }
                p.status = Status::Dead;
                p.heard |= heard_from;
                if self.multi {
                    self.multi_node_dead(node);
                } else {
                    let abandoned = self.heal_note_death();
                    self.recover_dead_resources(node);
                    if abandoned {
                        self.heal_retake_dropped();
                    }
                }
            }
            NodeEvent::ReturnedAfterPartition(_) => {
                p.status = Status::Up;
                p.heard = true;
                // It runs its resource logic (the engine says so for a new incarnation too,
                // one that started while we were cut off): a `shutdone` of an earlier one
                // no longer spares its reset (hbsim seed 8230 with HB_FENCE_DELAY).
                p.has_resources = true;
                p.fence = Fence::None;
                p.unresolved = false;
                if !self.multi {
                    // Two nodes: settled group by group, without a restart (see `heal`).
                    self.heal_returned(node);
                } else if !self.timers.is_armed(Timer::Restart) && !self.shutdown_in_progress {
                    self.timers
                        .set(Timer::Restart, now + self.timing.partition_restart);
                }
            }
        }
        self.settle();
    }

    /// A resource message from another node (see the module docs: never our own).
    pub fn handle_message(&mut self, now: Instant, from: NodeId, msg: &ResourceMsg<'_>) {
        self.now = now;
        if self.halted {
            return;
        }
        self.check_standby_timer();
        if from == self.table.local || from.ix() >= self.table.nodes.len() {
            return;
        }
        self.peers[from.ix()].heard = true;
        if self.multi {
            self.multi_message(from, msg);
        } else {
            self.peer_message(from, msg);
        }
        self.settle();
    }

    /// An operator command.
    pub fn handle_command(&mut self, now: Instant, cmd: Command) -> Result<(), CommandError> {
        self.now = now;
        if self.halted {
            return Ok(());
        }
        self.check_standby_timer();
        match cmd {
            Command::Standby(set) => {
                if self.multi {
                    return Err(CommandError::NotSupported);
                }
                self.hb_standby(set.standby_set());
            }
            Command::Takeover(set) => {
                if self.multi {
                    return Err(CommandError::NotSupported);
                }
                self.emit(Out::Takeover(set));
            }
            Command::Shutdown | Command::Restart => {
                let restart = cmd == Command::Restart;
                if !self.comm_up {
                    self.log(LogMsg::ShutdownDelayedComm);
                    self.shutdown_before_comm = Some(restart);
                } else {
                    self.giveup_resources(restart);
                }
            }
        }
        self.settle();
        Ok(())
    }

    /// ipfail's give-up ([`crate::ipfail`]): what `hb_standby <set>` does, without the
    /// script's `Going standby` line (3.0.6's ipfail sends `ask_resources` itself).
    pub fn handle_ipfail_giveup(
        &mut self,
        now: Instant,
        set: StandbySet,
    ) -> Result<(), CommandError> {
        self.now = now;
        if self.halted {
            return Ok(());
        }
        if self.multi {
            return Err(CommandError::NotSupported);
        }
        self.check_standby_timer();
        self.request_standby(set.standby_set());
        self.settle();
        Ok(())
    }

    /// The result of an [`Action`].
    pub fn handle_action_done(&mut self, now: Instant, done: ActionDone) {
        self.now = now;
        if self.halted {
            return;
        }
        self.check_standby_timer();
        match done {
            ActionDone::Acquired { group, ok } => {
                let Some(g) = self.groups.get_mut(group.ix()) else {
                    return;
                };
                if g.state != GroupState::Starting {
                    return;
                }
                if ok {
                    g.state = GroupState::Running;
                } else {
                    g.state = GroupState::Failed;
                    let info = &self.table.groups[group.ix()];
                    let set = if info.node == self.table.local && info.single_resource {
                        RscSet::LOCAL
                    } else {
                        RscSet::FOREIGN
                    };
                    let g = &mut self.groups[group.ix()];
                    g.failed_at = Some(now + self.timing.failed_start_standby);
                    g.failed_set = set;
                    self.log(LogMsg::AcquireFailed(group));
                }
            }
            ActionDone::Released { group, ok } => {
                let Some(g) = self.groups.get_mut(group.ix()) else {
                    return;
                };
                if g.state != GroupState::Stopping {
                    return;
                }
                if ok {
                    g.state = GroupState::Stopped;
                    self.heal_poll_released();
                } else {
                    // ResourceManager: "Resource STOP failure. Reboot required!", kills
                    // heartbeat with -9 and reboots. Nothing more is said or done here: the
                    // other node will find us dead.
                    g.state = GroupState::Running;
                    self.log(LogMsg::ReleaseFailed(group));
                    self.action(Action::Reboot);
                    self.halted = true;
                    self.jobs.clear();
                    self.remote.clear();
                    self.loopback.clear();
                    return;
                }
            }
            ActionDone::Fenced { node, result } => {
                let Some(p) = self.peers.get_mut(node.ix()) else {
                    return;
                };
                let issued = core::mem::take(&mut p.reset_issued);
                if p.fence != Fence::InFlight {
                    if issued && result == FenceResult::Ok && !self.multi {
                        // It came back (restarted, or returned from a split) while the reset
                        // was on its way, and we settled with the incarnation the reset has
                        // just taken down, with whatever it started since (hbsim seed
                        // 29132: its group left down for good). Taken over as after any
                        // reset; its next incarnation negotiates as any restart.
                        self.log(LogMsg::NodeNowReset(node));
                        self.reset_overtook_return(node);
                        self.settle();
                    }
                    return;
                }
                let wire = match result {
                    FenceResult::Ok => StonithResult::Ok,
                    FenceResult::BadHost => StonithResult::BadHost,
                    FenceResult::Failed => StonithResult::Bad,
                };
                self.emit(Out::Stonith { node, result: wire });
                if result == FenceResult::Ok {
                    self.peers[node.ix()].fence = Fence::None;
                    self.log(LogMsg::NodeNowReset(node));
                    if self.multi {
                        self.multi_fenced(node);
                    } else {
                        self.takeover_from_node(node);
                    }
                } else {
                    if result == FenceResult::Failed {
                        self.log(LogMsg::HostNotReset(node));
                    }
                    self.log(LogMsg::StonithFailedRetrying(node));
                    // With HB_FENCE_DELAY a failed reset waits the whole delay before it is
                    // tried again, as a node that runs nothing would: a peer that decided to
                    // reset us meanwhile (its own delay ran out while ours failed) goes first,
                    // and we never reset each other (hbsim seed 4129).
                    let retry = self.timing.stonith_retry.max(self.timing.fence_delay);
                    self.peers[node.ix()].fence = Fence::RetryAt(now + retry);
                    self.fence_notice_now();
                }
            }
        }
        self.settle();
    }

    pub(super) fn peer_message(&mut self, from: NodeId, msg: &ResourceMsg<'_>) {
        match *msg {
            ResourceMsg::Shutdone => {
                if self.comm_up {
                    self.process_resources_shutdone_peer();
                }
                self.heal_peer_gone();
                let p = &mut self.peers[from.ix()];
                p.has_resources = false;
                self.other_is_stable = false;
                self.other_holds = RscSet::NONE;
                self.log(LogMsg::ReceivedShutdownNotice(from));
                self.takeover_from_node(from);
            }
            ResourceMsg::FenceNotice { node, in_ms } => self.peer_fences_us(node, in_ms.get()),
            _ if !self.comm_up => {}
            ResourceMsg::Starting => self.process_starting(),
            ResourceMsg::Resource(ref r) => self.process_resource_peer(r),
            ResourceMsg::AskResources {
                rsc_hold,
                info,
                xid,
            } => self.ask_for_resources(from, false, rsc_hold, info, xid.map(|x| x.bits())),
            ResourceMsg::StandbyCancel { xid } => self.standby_cancelled(from, xid.bits()),
            ResourceMsg::IpRequest { ipaddr } => {
                if let Some(group) = self.group_id(ipaddr) {
                    self.queue_remote(JobKind::GiveGroup { group, to: from });
                }
            }
            ResourceMsg::IpRequestResp {
                dest, ipaddr, ok, ..
            } => {
                // rc.d/ip-request-resp acts only on answers to us, and only on OK.
                if self.table.local_name() == dest && ok == "OK" {
                    if let Some(group) = self.group_id(ipaddr) {
                        self.groups[group.ix()].asked_until = None;
                        self.queue_remote(JobKind::TakeGroup(group));
                    }
                }
            }
            ResourceMsg::HbTakeover { rsc_hold } => self.queue_remote(JobKind::Takeover(rsc_hold)),
            ResourceMsg::Stonith { .. } => {}
            ResourceMsg::Heal { groups, kept, kind } => {
                self.heal_message(from, groups.bits(), kept.bits(), kind)
            }
        }
    }

    /// Our own message, looped back.
    pub(super) fn local_message(&mut self, m: Out) {
        let me = self.table.local;
        if self.multi {
            if m == Out::Shutdone {
                self.own_shutdone();
            }
            return;
        }
        match m {
            Out::Starting
            | Out::Stonith { .. }
            | Out::IpRequest(_)
            | Out::Takeover(_)
            | Out::Heal { .. }
            | Out::StandbyCancel(_)
            | Out::FenceNotice { .. } => {}
            Out::Held { info, .. } => {
                self.process_resource_local(info == Some(Info::Shutdown), false)
            }
            Out::MachDown => self.process_resource_local(false, true),
            Out::Ask { set, info, xid } => {
                if self.comm_up {
                    self.ask_for_resources(me, true, set, info, xid);
                }
            }
            Out::StandbyRequest(set) => {
                let xid = self.next_standby_xid();
                let ask = Out::Ask {
                    set,
                    info: StandbyInfo::Me,
                    xid: Some(xid),
                };
                // 3.0.6 sends `me` and then takes it like the peer's. If our own side ignores
                // it (in flux, or an exchange running), the peer must not see it: it would
                // accept it, answer `other` and wait an hour for a `done` that never comes,
                // refusing every other standby meanwhile.
                let send = if self.comm_up && self.nice_failback() {
                    self.ask_for_resources(me, true, set, StandbyInfo::Me, Some(xid));
                    // (Not an earlier request of ours still running: this one was refused.)
                    self.going == StandbyState::Me && self.standby_xid == Some(xid)
                } else if self.nice_failback() {
                    // Before our comm-up our side cannot take it (3.0.6 registers the handler
                    // at comm-up and sends it all the same): the same hour-long wait.
                    self.log(LogMsg::StandbyIgnoredLocalInFlux {
                        info: StandbyInfo::Me,
                        from: me,
                    });
                    false
                } else {
                    if self.comm_up {
                        self.ask_for_resources(me, true, set, StandbyInfo::Me, Some(xid));
                    }
                    true
                };
                if send && self.out.push_back(ask).is_err() {
                    self.dropped = self.dropped.saturating_add(1);
                }
            }
            Out::IpResp { dest, group, .. } => {
                // (Always after comm-up in 3.0.6: it comes from a child.)
                if dest == me {
                    self.queue_remote(JobKind::TakeGroup(group));
                }
            }
            Out::Shutdone => {
                if self.comm_up && self.nice_failback() {
                    self.rstate = RscState::Shutdown;
                    self.i_hold = RscSet::NONE;
                    self.audit();
                }
                self.own_shutdone();
            }
        }
    }

    pub(super) fn own_shutdone(&mut self) {
        if !self.exited {
            self.exited = true;
            self.action(Action::Exit {
                restart: self.restart,
            });
        }
    }

    /// `process_resources` for `t=starting` from the other node.
    pub(super) fn process_starting(&mut self) {
        self.shutdown_if_needed();
        if !self.nice_failback() {
            return;
        }
        let mut newstate = self.rstate;
        match self.rstate {
            RscState::RscRcvd | RscState::Stable | RscState::Shutdown => {}
            RscState::Starting => {
                newstate = RscState::BothStarting;
                self.foreign_work_done = true;
                self.announce("HB_R_BOTHSTARTING");
            }
            RscState::Init | RscState::BothStarting => {
                self.log(LogMsg::StartingInState(self.rstate));
                return;
            }
        }
        self.other_is_stable = false;
        if self.takeover_in_progress {
            self.log(LogMsg::StartingDuringTakeover);
        }
        self.send_resources_held(self.rstate == RscState::Stable, None);
        self.finish_process_resources(newstate);
    }

    /// The common start of `process_resources` for `t=resource`: the state transition into
    /// RSCRCVD. `None`: the message is refused in this state.
    pub(super) fn resource_newstate(&mut self) -> Option<RscState> {
        match self.rstate {
            RscState::Starting | RscState::BothStarting => {
                if !self.auto_failback() {
                    self.foreign_work_done = true;
                    self.announce("T_RESOURCES");
                }
                Some(RscState::RscRcvd)
            }
            RscState::RscRcvd | RscState::Stable | RscState::Shutdown => Some(self.rstate),
            RscState::Init => {
                self.log(LogMsg::ResourceInState(self.rstate));
                None
            }
        }
    }

    /// `process_resources` for `t=resource` from the other node.
    pub(super) fn process_resource_peer(&mut self, r: &ResourceHeld<'_>) {
        if r.info == Some(super::msg::ResourceInfo::Shutdown) {
            // Its `shutdone` follows its stops.
            self.heal_peer_leaving();
        }
        self.heal.peer_holds = Some(if r.rtype_full {
            r.rsc_hold
        } else {
            r.rsc_hold
                .union(self.heal.peer_holds.unwrap_or(RscSet::NONE))
        });
        self.shutdown_if_needed();
        if !self.nice_failback() {
            return;
        }
        let Some(mut newstate) = self.resource_newstate() else {
            return;
        };
        self.other_holds = if r.rtype_full || r.rsc_hold.is_none() {
            r.rsc_hold
        } else {
            r.rsc_hold.union(self.other_holds)
        };
        match r.isstable {
            Some(true) if !self.other_is_stable => {
                self.log(LogMsg::RemoteTransitionCompleted);
                self.other_is_stable = true;
                self.send_resources_held(self.rstate == RscState::Stable, None);
                self.perform_auto_failback();
            }
            Some(true) => {}
            Some(false) => self.other_is_stable = false,
            None => {}
        }
        if !matches!(self.rstate, RscState::Stable | RscState::Shutdown) && self.other_is_stable {
            self.log(LogMsg::RemoteTransitionCompleted);
            self.req_our_resources(false);
            newstate = RscState::Stable;
            self.send_resources_held(true, None);
            self.perform_auto_failback();
            self.foreign_work_done = true;
            if !self.auto_failback() && self.other_holds.intersects(RscSet::FOREIGN) {
                self.local_work_done = true;
            }
            self.announce("T_RESOURCES(them)");
        }
        self.finish_process_resources(newstate);
    }

    /// `process_resources` for our own `t=resource` (looped back).
    pub(super) fn process_resource_local(&mut self, shutdown: bool, mach_down: bool) {
        self.shutdown_if_needed();
        if !self.nice_failback() || !self.comm_up {
            return;
        }
        let Some(mut newstate) = self.resource_newstate() else {
            return;
        };
        if self.i_hold.intersects(RscSet::LOCAL) {
            self.local_work_done = true;
            self.announce("T_RESOURCES(us)");
        }
        if mach_down {
            self.log(LogMsg::MachDownComplete);
            self.takeover_in_progress = false;
            self.i_hold = self.i_hold.union(RscSet::FOREIGN);
            self.needs_failback = true;
            self.other_is_stable = true;
            self.foreign_work_done = true;
            self.announce("mach_down");
        } else if shutdown {
            self.rstate = RscState::Shutdown;
            newstate = RscState::Shutdown;
        }
        self.finish_process_resources(newstate);
    }

    /// `process_resources` for `t=shutdone` from the other node (before `HBDoMsg_T_SHUTDONE`
    /// does the rest).
    pub(super) fn process_resources_shutdone_peer(&mut self) {
        self.shutdown_if_needed();
        if !self.nice_failback() {
            return;
        }
        let newstate = self.rstate;
        self.other_is_stable = true;
        self.other_holds = RscSet::NONE;
        if self.i_hold != RscSet::ALL && !self.shutdown_in_progress {
            // Take over at once through the standby "acquire" path.
            let rtype = match self.i_hold {
                RscSet::FOREIGN => RscSet::LOCAL,
                RscSet::LOCAL => RscSet::FOREIGN,
                _ => RscSet::ALL,
            };
            self.going = StandbyState::Done;
            self.go_standby(false, rtype);
        }
        self.finish_process_resources(newstate);
    }

    pub(super) fn finish_process_resources(&mut self, newstate: RscState) {
        self.rstate = newstate;
        if self.rstate == RscState::RscRcvd && !self.timers.is_armed(Timer::RqstDelay) {
            self.timers
                .set(Timer::RqstDelay, self.now + self.timing.rqstdelay);
        }
        self.audit();
        self.shutdown_if_needed();
    }

    pub(super) fn audit(&mut self) {
        if !self.nice_failback() || self.multi {
            return;
        }
        if self.i_hold.intersects(RscSet::LOCAL) && self.other_holds.intersects(RscSet::FOREIGN) {
            self.log(LogMsg::BothOwnOurs);
        }
        if self.other_holds.intersects(RscSet::LOCAL) && self.i_hold.intersects(RscSet::FOREIGN) {
            self.log(LogMsg::BothOwnForeign);
        }
        if self.is_stable() && !self.shutdown_in_progress && self.rstate != RscState::Shutdown {
            if !self.i_hold.intersects(RscSet::LOCAL)
                && !self.other_holds.intersects(RscSet::FOREIGN)
            {
                self.log(LogMsg::NoOneOwnsLocal);
            }
            if !self.other_holds.intersects(RscSet::LOCAL)
                && !self.i_hold.intersects(RscSet::FOREIGN)
            {
                self.log(LogMsg::NoOneOwnsForeign);
            }
        }
    }

    pub(super) fn announce(&mut self, reason: &'static str) {
        if self.announced || !self.local_work_done || !self.foreign_work_done {
            return;
        }
        self.log(LogMsg::InitialAcquisitionComplete(reason));
        self.announced = true;
    }

    /// `hb_send_resources_held`.
    pub(super) fn send_resources_held(&mut self, stable: bool, info: Option<Info>) {
        if !self.nice_failback() {
            return;
        }
        self.emit(Out::Held {
            hold: self.i_hold,
            stable,
            info,
            groups: None,
            reply: None,
        });
    }
}
