//! The multi-node (three or more `ha.cf` nodes) extension: per-group claims and a
//! deterministic responsible node. See the [module documentation](super) for the rules.

use super::timer::Timer;
use super::{
    Action, AutoFailback, GroupState, Info, LogMsg, NodeId, Out, ResourceMsg, Resources, RscSet,
    RscState, Status, StonithResult,
};

impl<const NODES: usize, const GROUPS: usize> Resources<NODES, GROUPS> {
    pub(super) fn multi_comm_up(&mut self) {
        self.emit(Out::Starting);
        self.rstate = RscState::RscRcvd;
        self.timers
            .set(Timer::RqstDelay, self.now + self.timing.rqstdelay);
        self.timers
            .set(Timer::StartingAgain, self.now + self.timing.rqstdelay);
        self.sent_claims = None;
    }

    /// `starting` again while a live peer has not answered it (it may have missed it, and
    /// until it answers we do not know what it runs), as long as we run nothing: a node that
    /// says `starting` claims nothing.
    pub(super) fn multi_starting_again(&mut self) {
        if !self.multi || self.exited || self.shutdown_in_progress || self.rsc_needs_shutdown {
            return;
        }
        let waiting = self.peers[..self.table.nodes.len()]
            .iter()
            .enumerate()
            .any(|(i, p)| i != self.table.local.ix() && p.alive() && !p.current);
        if !waiting {
            return;
        }
        if self.my_claims() == 0 {
            self.emit(Out::Starting);
        }
        self.timers
            .set(Timer::StartingAgain, self.now + self.timing.rqstdelay);
    }

    /// The groups we claim: running, or being started or stopped.
    fn my_claims(&self) -> u32 {
        self.groups[..self.table.groups.len()]
            .iter()
            .enumerate()
            .filter(|(_, g)| g.state.is_active())
            .fold(0, |m, (i, _)| m | (1 << i))
    }

    /// Live: may be responsible for groups (alive and not leaving; us: not shutting down).
    fn is_live(&self, node: NodeId) -> bool {
        if node == self.table.local {
            return !self.shutdown_in_progress && !self.rsc_needs_shutdown;
        }
        let p = &self.peers[node.ix()];
        p.alive() && !p.leaving
    }

    /// The node that should start an unclaimed group: its preferred node if live, else the
    /// first live node in `ha.cf` order.
    fn responsible(&self, g: usize) -> Option<NodeId> {
        let pref = self.table.groups[g].node;
        if self.is_live(pref) {
            return Some(pref);
        }
        (0..self.table.nodes.len())
            .map(|i| NodeId(i as u8))
            .find(|&n| self.is_live(n))
    }

    /// Groups no one may start: claimed by a peer that is alive or leaving, or possibly held
    /// by a dead node still waiting for STONITH.
    fn blocked(&self) -> u32 {
        let all = if self.table.groups.len() >= 32 {
            u32::MAX
        } else {
            (1u32 << self.table.groups.len()) - 1
        };
        let mut mask = 0;
        for (i, p) in self.peers[..self.table.nodes.len()].iter().enumerate() {
            if i == self.table.local.ix() {
                continue;
            }
            if p.unresolved {
                // Its last claims may be missing one still in flight when it died.
                mask |= all;
            } else if p.alive() && !p.reported {
                // Alive, and we do not know what it runs (our `starting` has not reached it,
                // or its answer has not reached us): it may run anything.
                mask |= all;
            } else if p.status != Status::Dead {
                mask |= p.claims;
            }
        }
        mask
    }

    pub(super) fn multi_is_stable(&self) -> bool {
        self.jobs.is_empty()
            && !self.groups[..self.table.groups.len()]
                .iter()
                .any(|g| matches!(g.state, GroupState::Starting | GroupState::Stopping))
            && matches!(
                self.rstate,
                RscState::Stable | RscState::Shutdown | RscState::Init
            )
    }

    pub(super) fn multi_node_dead(&mut self, node: NodeId) {
        if self.shutdown_in_progress {
            return;
        }
        let p = self.peers[node.ix()];
        // With a device, only `shutdone` spares the reset: a claim is announced as the group
        // starts, so one that has not reached us yet may be in flight (see the module docs).
        let need_stonith = if self.stonith {
            !p.heard || p.has_resources
        } else {
            !(p.heard && (p.claims == 0 || !p.has_resources))
        };
        if need_stonith {
            if self.stonith {
                self.peers[node.ix()].unresolved = true;
                self.start_fence(node);
                return;
            }
            self.emit(Out::Stonith {
                node,
                result: StonithResult::NotConfigured,
            });
            self.log(LogMsg::NoStonithDevice);
            self.log(LogMsg::SharedDisksNotProtected);
            self.log(LogMsg::ResourcesBeingAcquired(node));
        } else {
            self.log(LogMsg::DeadNodeGaveUp(node));
            self.emit(Out::Stonith {
                node,
                result: StonithResult::Unneeded,
            });
        }
        let p = &mut self.peers[node.ix()];
        p.claims = 0;
        p.stable = false;
        p.reported = false;
        p.current = false;
    }

    pub(super) fn multi_fenced(&mut self, node: NodeId) {
        let p = &mut self.peers[node.ix()];
        p.unresolved = false;
        p.claims = 0;
        p.reported = false;
        p.current = false;
        if p.status == Status::Dead {
            self.log(LogMsg::ResourcesBeingAcquired(node));
        }
    }

    pub(super) fn multi_message(&mut self, from: NodeId, msg: &ResourceMsg<'_>) {
        if let ResourceMsg::Shutdone = msg {
            let p = &mut self.peers[from.ix()];
            p.claims = 0;
            p.leaving = true;
            p.has_resources = false;
            p.stable = true;
            self.log(LogMsg::ReceivedShutdownNotice(from));
            return;
        }
        if !self.comm_up {
            return;
        }
        match msg {
            ResourceMsg::Starting => {
                let p = &mut self.peers[from.ix()];
                p.claims = 0;
                p.reported = false;
                p.stable = false;
                p.leaving = false;
                // It starts from nothing: what it says from now on is current.
                p.current = true;
                // Answer with what we claim, naming it. (`ha.cf` lists at most 16 nodes.)
                self.owed_replies |= 1u32.checked_shl(from.ix() as u32).unwrap_or(0);
            }
            ResourceMsg::Resource(r) => {
                let me = self.table.local;
                let answers_us = r.reply_to.is_some_and(|to| self.node_id(to) == Some(me));
                let p = &mut self.peers[from.ix()];
                if answers_us {
                    p.current = true;
                }
                if let Some(mask) = r.groups {
                    if r.rtype_full {
                        p.claims = mask.bits();
                    } else {
                        p.claims |= mask.bits();
                    }
                }
                p.reported |= p.current;
                if let Some(s) = r.isstable {
                    p.stable = s;
                }
                if r.info == Some(super::ResourceInfo::Shutdown) {
                    p.leaving = true;
                }
            }
            // Standby, takeover and the legacy pull do not exist with more than two nodes.
            _ => {}
        }
    }

    pub(super) fn multi_begin_shutdown(&mut self) {
        self.rstate = RscState::Shutdown;
        self.sent_claims = None;
    }

    /// Starts or stops groups as the rules say. Returns whether anything changed.
    pub(super) fn multi_reconcile(&mut self) -> bool {
        if !self.comm_up || self.exited {
            return false;
        }
        let mut progress = false;
        if self.rstate == RscState::RscRcvd {
            let all_reported = self.peers[..self.table.nodes.len()]
                .iter()
                .enumerate()
                .all(|(i, p)| i == self.table.local.ix() || !p.alive() || p.reported);
            if all_reported {
                self.rstate = RscState::Stable;
                self.log(LogMsg::RemoteTransitionCompleted);
                progress = true;
            }
        }
        if self.rstate != RscState::Stable
            || self.shutdown_in_progress
            || self.rsc_needs_shutdown
            || !self.jobs.is_empty()
        {
            return progress;
        }
        let me = self.table.local;
        let blocked = self.blocked();
        let fails_back = self.mode != AutoFailback::Off;
        for g in 0..self.table.groups.len() {
            let bit = 1u32 << g;
            let pref = self.table.groups[g].node;
            match self.groups[g].state {
                GroupState::Starting | GroupState::Stopping => {}
                GroupState::Running => {
                    // Safety net: two claims on one group (only after a partition, which
                    // restarts both anyway): the node later in ha.cf order yields.
                    let conflict = self.peers[..self.table.nodes.len()]
                        .iter()
                        .enumerate()
                        .any(|(i, p)| i < me.ix() && p.alive() && p.claims & bit != 0);
                    let hand_back = fails_back && pref != me && self.is_live(pref) && {
                        let p = &self.peers[pref.ix()];
                        p.reported && p.stable
                    };
                    if conflict || hand_back {
                        self.groups[g].state = GroupState::Stopping;
                        self.action(Action::Release(super::GroupId(g as u8)));
                        progress = true;
                    }
                }
                GroupState::Stopped | GroupState::Failed => {
                    if blocked & bit != 0 || self.groups[g].failed_at.is_some() {
                        continue;
                    }
                    if self.responsible(g) == Some(me) {
                        self.groups[g].state = GroupState::Starting;
                        self.action(Action::Acquire(super::GroupId(g as u8)));
                        progress = true;
                    }
                }
            }
        }
        progress
    }

    /// Sends our claims when they (or our stability) changed.
    pub(super) fn multi_announce(&mut self) {
        if !self.comm_up || self.exited {
            return;
        }
        let claims = self.my_claims();
        let stable = self.multi_is_stable() && self.rstate == RscState::Stable;
        let owed = core::mem::take(&mut self.owed_replies);
        if self.sent_claims == Some((claims, stable)) && owed == 0 {
            return;
        }
        self.sent_claims = Some((claims, stable));
        let mut hold = RscSet::NONE;
        for g in 0..self.table.groups.len() {
            if claims & (1 << g) != 0 {
                hold = hold.union(if self.is_local_group(g) {
                    RscSet::LOCAL
                } else {
                    RscSet::FOREIGN
                });
            }
        }
        self.i_hold = hold;
        let info = self.shutdown_in_progress.then_some(Info::Shutdown);
        // Straight out: our own claims need no loopback processing. One report per node
        // whose `starting` it answers (a plain one when there is none).
        let mut send = |reply| {
            let m = Out::Held {
                hold,
                stable,
                info,
                groups: Some(claims),
                reply,
            };
            if self.out.push_back(m).is_err() {
                self.dropped = self.dropped.saturating_add(1);
            }
        };
        if owed == 0 {
            send(None);
        }
        for i in 0..32 {
            if owed & (1 << i) != 0 {
                send(Some(NodeId(i as u8)));
            }
        }
    }
}
