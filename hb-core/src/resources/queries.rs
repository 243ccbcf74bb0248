//! Outputs (messages, actions, log lines) and the status queries.

use super::log::{LogLine, LogMsg};
use super::msg::{ResourceMsg, RscSet};
use super::timer::Timer;
use super::types::NodeId;
use super::types::{Action, GroupId, GroupState, Holder, RscState, StandbyState};
use super::{Resources, Table};
use crate::log::Names;

/// The machine's names for its log lines ([`crate::log`]).
impl<const NODES: usize, const GROUPS: usize> Names for Table<NODES, GROUPS> {
    fn node(&self, id: NodeId) -> &str {
        self.node_name(id)
    }
    fn group(&self, id: GroupId) -> &str {
        self.group_key(id)
    }
    fn local(&self) -> &str {
        self.local_name()
    }
}

impl<const NODES: usize, const GROUPS: usize> Resources<NODES, GROUPS> {
    /// The next message to broadcast (add control fields, send on every medium). Already
    /// processed by this machine as its own loopback.
    pub fn poll_message(&mut self) -> Option<ResourceMsg<'_>> {
        let out = self.out.pop_front()?;
        Some(self.render(out))
    }

    /// The next action for the daemon.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next log line.
    pub fn poll_log(&mut self) -> Option<LogLine<'_>> {
        let msg = self.logs.pop_front()?;
        Some(LogLine::new(msg, &self.table))
    }

    /// A log line for `msg` (one taken from [`poll_log`](Self::poll_log) earlier, or kept by a
    /// caller that moved it on), with this machine's names.
    pub fn log_line(&self, msg: LogMsg) -> LogLine<'_> {
        LogLine::new(msg, &self.table)
    }

    /// Outputs lost because a queue was full (the caller did not poll between inputs).
    pub fn dropped_outputs(&self) -> u32 {
        self.dropped
    }

    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.table
            .nodes
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .map(|i| NodeId(i as u8))
    }

    pub fn node_name(&self, id: NodeId) -> &str {
        self.table.node_name(id)
    }

    pub fn local_node(&self) -> NodeId {
        self.table.local
    }

    pub fn group_id(&self, key: &str) -> Option<GroupId> {
        self.table
            .groups
            .iter()
            .position(|g| g.key == key)
            .map(|i| GroupId(i as u8))
    }

    pub fn group_key(&self, id: GroupId) -> &str {
        self.table.group_key(id)
    }

    /// The preferred node of a group (the first word of its haresources line).
    pub fn group_node(&self, id: GroupId) -> Option<NodeId> {
        self.table.groups.get(id.ix()).map(|g| g.node)
    }

    pub fn group_count(&self) -> usize {
        self.table.groups.len()
    }

    pub fn group_state(&self, id: GroupId) -> GroupState {
        self.groups
            .get(id.ix())
            .map_or(GroupState::Stopped, |g| g.state)
    }

    /// Who holds the group, as far as this node knows: the local resource state, else the
    /// peers' reports (in legacy mode, where nothing is reported, a live peer is assumed to
    /// run the groups we do not).
    pub fn holder(&self, id: GroupId) -> Holder {
        if self.group_state(id).is_active() {
            return Holder::Local;
        }
        let Some(info) = self.table.groups.get(id.ix()) else {
            return Holder::Nobody;
        };
        for (i, p) in self.peers[..self.table.nodes.len()].iter().enumerate() {
            let node = NodeId(i as u8);
            if node == self.table.local || !p.alive() {
                continue;
            }
            let holds = if self.multi {
                p.claims & (1 << id.ix()) != 0
            } else if self.nice_failback() {
                let set = if info.node == node {
                    RscSet::LOCAL
                } else {
                    RscSet::FOREIGN
                };
                self.other_holds.intersects(set)
            } else {
                true
            };
            if holds {
                return Holder::Peer(node);
            }
        }
        Holder::Nobody
    }

    /// [`holder`](Self::holder) of every group, in haresources order (for status displays).
    pub fn holdings(&self) -> impl Iterator<Item = (GroupId, Holder)> + '_ {
        (0..self.table.groups.len()).map(|g| {
            let id = GroupId(g as u8);
            (id, self.holder(id))
        })
    }

    /// 3.0.6's `resourcestate`.
    pub fn resource_state(&self) -> RscState {
        self.rstate
    }

    /// 3.0.6's `going_standby`.
    pub fn standby_state(&self) -> StandbyState {
        self.going
    }

    /// What we announce we hold (`i_hold_resources`).
    pub fn i_hold(&self) -> RscSet {
        self.i_hold
    }

    /// What the other node last said it holds (two-node mode).
    pub fn other_holds(&self) -> RscSet {
        self.other_holds
    }

    pub fn other_is_stable(&self) -> bool {
        self.other_is_stable
    }

    /// 3.0.6's `hb_rsc_isstable`: no resource work in flight or expected.
    pub fn is_stable(&self) -> bool {
        if self.multi {
            return self.multi_is_stable();
        }
        if !self.nice_failback() {
            return self.jobs.is_empty();
        }
        if self.shutdown_in_progress && self.rstate == RscState::Init {
            return true;
        }
        self.other_is_stable
            && !self.takeover_in_progress
            && self.going == StandbyState::Not
            && !self.timers.is_armed(Timer::Standby)
            && self.jobs.is_empty()
            && matches!(
                self.rstate,
                RscState::Stable | RscState::Shutdown | RscState::Init
            )
    }

    /// `cl_status rscstatus`: `none` in legacy mode, `transition` while unstable, else what we
    /// hold.
    pub fn rscstatus(&self) -> &'static str {
        if !self.nice_failback() {
            "none"
        } else if !self.is_stable() {
            "transition"
        } else {
            self.i_hold.as_str()
        }
    }

    /// Whether we are giving everything up (or have).
    pub fn shutting_down(&self) -> bool {
        self.shutdown_in_progress || self.rsc_needs_shutdown
    }

    /// Whether our `shutdone` has gone out.
    pub fn exited(&self) -> bool {
        self.exited
    }

    /// Whether a failed stop made us ask for a reboot (the machine then ignores everything).
    pub fn halted(&self) -> bool {
        self.halted
    }
}
