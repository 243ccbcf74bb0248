//! The resource manager's public types: identifiers, states, events, commands, actions and
//! configuration.

use super::msg::StandbySet;
use super::{
    AUTO_FAILBACK_RETRY, CLASSIC_GIVEUP_WAIT, FAILED_START_STANDBY_DELAY, HEAL_REPORT_TIMEOUT,
    PARTITION_RESTART_DELAY, RQSTDELAY, STANDBY_REPLY_TIMEOUT, STANDBY_RESOURCE_TIMEOUT,
    STONITH_RETRY,
};
use crate::config::{AutoFailback, HaCf, HaResources, NodeName, ResourceGroup};
use crate::time::Duration;

/// A cluster node: its index among the `node` lines of `ha.cf`, in file order. The same type
/// as the engine's [`NodeId`], which numbers cluster nodes the same way
/// (its ping nodes come after them and are ignored here; [`Resources::node_id`](super::Resources::node_id) looks names up).
pub use crate::engine::NodeId;

/// A resource group: its index among the haresources lines, in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GroupId(pub u8);

impl GroupId {
    pub(super) const fn ix(self) -> usize {
        self.0 as usize
    }
}

/// 3.0.6's `resourcestate` (numbered as in `hb_resource.h`, which log lines print).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum RscState {
    /// Communication not up yet.
    Init = 0,
    /// `starting` sent.
    Starting = 1,
    /// The other node's `starting` arrived while we were starting.
    BothStarting = 2,
    /// A `resource` message arrived (ours included); `RQSTDELAY` runs.
    RscRcvd = 3,
    /// Our local resources are settled.
    Stable = 4,
    /// Giving everything up.
    Shutdown = 5,
}

/// 3.0.6's `going_standby`: where this node is in the standby protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum StandbyState {
    Not = 0,
    /// We asked to go standby.
    Me = 1,
    /// The other node asked; we answered `other`.
    Other = 2,
    /// Our part is done; waiting for the last `done`.
    Done = 3,
}

/// What this node knows of one group's resources here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum GroupState {
    Stopped,
    /// [`Action::Acquire`] issued, not finished.
    Starting,
    Running,
    /// [`Action::Release`] issued, not finished.
    Stopping,
    /// The last start failed (the daemon stopped the group again).
    Failed,
}

impl GroupState {
    /// Whether `ResourceManager status` would call it running (or it is on its way).
    pub(super) const fn is_active(self) -> bool {
        matches!(
            self,
            GroupState::Starting | GroupState::Running | GroupState::Stopping
        )
    }
}

/// What membership tells the resource logic about another node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NodeEvent {
    /// The node is heard from (status `init`/`up`) while it was unknown or dead.
    Up(NodeId),
    /// The node reported status `active` (its communication is up).
    Active(NodeId),
    /// The node restarted (a higher generation; `Heartbeat restart on node`). Send it before
    /// the [`Up`](NodeEvent::Up) that follows a death.
    Restarted(NodeId),
    /// The node restarted after announcing it (its `dt` grew by a restart's bump before its
    /// generation changed): heartbeat's restart exec on a reload, which keeps what it runs.
    /// Send it instead of [`Restarted`](NodeEvent::Restarted).
    RestartedKeeping(NodeId),
    /// The node was declared dead. `heard_from`: any packet from it arrived since we started
    /// (3.0.6's `anypacketsyet`).
    Dead { node: NodeId, heard_from: bool },
    /// The node is heard again with the same generation after we declared it dead
    /// (`Cluster node … returning after partition.`). Two nodes: the groups both run are
    /// settled with `hb_heal` reports (see the `heal` room). Three or more: 2 s later we give
    /// everything up and ask the daemon to restart ([`Action::Exit`] with `restart`).
    ReturnedAfterPartition(NodeId),
}

/// Operator commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Command {
    /// `hb_standby <set>`: give our `set` to the other node.
    Standby(StandbySet),
    /// `hb_takeover <set>`: ask the other node to give us the mirror of `set`.
    Takeover(StandbySet),
    /// Graceful shutdown (SIGTERM): release everything, send `shutdone`, then
    /// [`Action::Exit`].
    Shutdown,
    /// Give everything up and restart (`No local heartbeat. Forcing restart.`, or any reason
    /// the daemon has): like `Shutdown`, ending in `Exit { restart: true }`.
    Restart,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CommandError {
    /// Standby and takeover exist only for two-node clusters.
    NotSupported,
}

impl core::fmt::Display for CommandError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CommandError::NotSupported => {
                "standby and takeover are only implemented for two-node clusters"
            }
        })
    }
}

/// Something for the daemon to do. Each `Acquire`, `Release` and `Fence` is answered with one
/// [`ActionDone`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Action {
    /// `ResourceManager takegroup`: start the group's resources left to right (skipping those
    /// whose `status` says running). On a failed start, stop the whole group again and report
    /// `ok: false`.
    Acquire(GroupId),
    /// `ResourceManager givegroup`: stop the group's resources right to left (with its stop
    /// retries). Report `ok: false` only if the group is still running afterwards.
    Release(GroupId),
    /// Reset this node with the configured STONITH device.
    Fence(NodeId),
    /// A group could not be stopped: reboot now (`Resource STOP failure. Reboot required!`).
    Reboot,
    /// Our `shutdone` is out: stop the daemon (after its final shutdown steps), or restart it.
    Exit { restart: bool },
}

/// Outcome of a fence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FenceResult {
    /// `S_OK`: the node is reset.
    Ok,
    /// `S_BADHOST`: the device cannot reset this node.
    BadHost,
    /// Any other failure.
    Failed,
}

/// The result of an [`Action`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ActionDone {
    Acquired { group: GroupId, ok: bool },
    Released { group: GroupId, ok: bool },
    Fenced { node: NodeId, result: FenceResult },
}

/// Timers, heartbeat's defaults unless a test shortens them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub rqstdelay: Duration,
    pub standby_reply: Duration,
    pub standby_resource: Duration,
    pub stonith_retry: Duration,
    pub failed_start_standby: Duration,
    pub auto_failback_retry: Duration,
    pub partition_restart: Duration,
    /// How long a peer returning after a partition has to send its heal report.
    pub heal_report: Duration,
    /// How long after [`heal_report`](Self::heal_report) a 3.0.6 peer may take to begin
    /// giving up before we report it stuck.
    pub classic_giveup: Duration,
    /// `env HB_FENCE_DELAY=<s>|<n>ms` (hb's own; 0, the default: none): the longest a node
    /// waits before it resets its peer (by rank: none to all of it, see
    /// `Resources::fence_delay`), and the least a failed reset waits before it is tried
    /// again, so that the two nodes of a split do not reset each other.
    pub fence_delay: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            rqstdelay: RQSTDELAY,
            standby_reply: STANDBY_REPLY_TIMEOUT,
            standby_resource: STANDBY_RESOURCE_TIMEOUT,
            stonith_retry: STONITH_RETRY,
            failed_start_standby: FAILED_START_STANDBY_DELAY,
            auto_failback_retry: AUTO_FAILBACK_RETRY,
            partition_restart: PARTITION_RESTART_DELAY,
            heal_report: HEAL_REPORT_TIMEOUT,
            classic_giveup: CLASSIC_GIVEUP_WAIT,
            fence_delay: Duration::ZERO,
        }
    }
}

/// What the machine needs from `ha.cf` and `haresources`.
#[derive(Clone, Copy, Debug)]
pub struct ResourcesConfig<'a> {
    /// Our node name (lowercase, as in `ha.cf`).
    pub local_node: &'a str,
    /// `ha.cf` `node` names in file order ([`HaCf::nodes`]).
    pub nodes: &'a [NodeName],
    /// haresources groups in file order ([`HaResources::groups`]).
    pub groups: &'a [ResourceGroup],
    pub auto_failback: AutoFailback,
    /// A STONITH device is configured (`stonith` or a `stonith_host` line for us).
    pub stonith: bool,
    pub timing: Timing,
}

impl<'a> ResourcesConfig<'a> {
    pub fn from_config(local_node: &'a str, hacf: &'a HaCf, haresources: &'a HaResources) -> Self {
        ResourcesConfig {
            local_node,
            nodes: &hacf.nodes,
            groups: haresources.groups(),
            auto_failback: hacf.auto_failback,
            stonith: hacf.stonith.is_some() || hacf.stonith_hosts_for(local_node).next().is_some(),
            timing: Timing {
                fence_delay: fence_delay_of(hacf),
                ..Timing::default()
            },
        }
    }
}

/// `env HB_FENCE_DELAY=<s>` or `<n>ms`; none is no delay. A value that does not parse is no
/// delay too, but the daemon refuses such an ha.cf (hb-linux's config checks).
pub fn fence_delay_of(hacf: &HaCf) -> Duration {
    hacf.env
        .iter()
        .find(|v| v.name.as_str() == "HB_FENCE_DELAY")
        .and_then(|v| crate::config::env_duration(&v.value))
        .unwrap_or(Duration::ZERO)
}

/// Why a configuration cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ResourcesError {
    /// More `node` lines than `NODES`.
    TooManyNodes,
    /// More haresources lines than `GROUPS` (or than 32).
    TooManyGroups,
    /// The local node is not among the `node` lines.
    UnknownLocalNode,
    /// A group's preferred node is not among the `node` lines.
    UnknownGroupNode(GroupId),
    /// A group key longer than [`KEY_LEN`](super::KEY_LEN).
    KeyTooLong(GroupId),
    /// Groups kept across a re-exec ([`Resources::resume`](super::Resources::resume)) with
    /// three or more nodes.
    ResumeNeedsTwoNodes,
}

impl core::fmt::Display for ResourcesError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ResourcesError::TooManyNodes => f.write_str("too many nodes in ha.cf"),
            ResourcesError::TooManyGroups => f.write_str("too many resource groups"),
            ResourcesError::UnknownLocalNode => f.write_str("this node is not listed in ha.cf"),
            ResourcesError::UnknownGroupNode(g) => {
                write!(f, "resource group {} names a node not in ha.cf", g.0 + 1)
            }
            ResourcesError::KeyTooLong(g) => write!(f, "resource group {} key too long", g.0 + 1),
            ResourcesError::ResumeNeedsTwoNodes => {
                f.write_str("resources are kept across a reload with two nodes only")
            }
        }
    }
}

/// Who holds a group, as far as this node knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Holder {
    /// This node (running, or being started or stopped).
    Local,
    /// Another node, by its last report.
    Peer(NodeId),
    /// Nobody we know of.
    Nobody,
}
