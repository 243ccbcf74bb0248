//! Resource ownership: who runs which haresources group (behaviour spec §4, §7; wire spec §5).
//!
//! [`Resources`] is heartbeat 3.0.6's `hb_resource.c` (with the shell helpers it relies on:
//! `req_resource`, `mach_down`, `rc.d/ip-request`, `rc.d/ip-request-resp`, `rc.d/hb_takeover`,
//! `hb_standby`) as a sans-IO state machine. It is a sub-machine of the joined node
//! ([`crate::heartbeat::Heartbeat`], beside the membership [`Engine`](crate::engine::Engine)):
//! it never reads a clock or touches a resource. The joined node (or a test) drives it:
//!
//! * **node events** from membership — [`Resources::node_event`] with [`NodeEvent`]s, and
//!   [`Resources::comm_up`] once, when 3.0.6 would call `comm_up_resource_action`;
//! * **messages** from peers — [`Resources::handle_message`] with the [`ResourceMsg`] parsed
//!   from every authenticated, in-order-or-recovered, addressed-to-us packet whose type
//!   [`ResourceMsg::is_resource_type`] accepts;
//! * **commands** — [`Resources::handle_command`]: `hb_standby`, `hb_takeover`, shutdown;
//! * **action results** — [`Resources::handle_action_done`];
//! * **time** — [`Resources::handle_timeout`] at (or after) [`Resources::poll_timeout`];
//!
//! and after each call drains [`Resources::poll_message`] (to broadcast, control fields added by
//! the engine), [`Resources::poll_action`] (start/stop a group, fence a node, reboot, exit) and
//! [`Resources::poll_log`] (heartbeat's log lines). Actions run in the daemon, concurrently with
//! everything else; their results come back through `handle_action_done`, and the machine keeps
//! answering messages meanwhile.
//!
//! # Loopback
//! 3.0.6 feeds every message it sends through its own receive path first, and its resource logic
//! reacts to its own `resource`, `ask_resources`, `ip-request-resp` and `shutdone` messages.
//! **This machine does that internally**: every message it emits is processed by itself (as
//! "from us") before it is handed out by `poll_message`, in emission order, after the handler
//! that emitted it has finished (a queue, not recursion). The engine must therefore **not**
//! deliver our own messages back to `handle_message` (messages whose origin is the local node
//! are ignored there).
//!
//! Work that 3.0.6 does in forked children (acquiring or releasing groups, `req_our_resources`,
//! the standby give-up/acquire) is modelled as *jobs* that run after the handler that started
//! them returns, like a child that is scheduled after its parent; jobs started by messages
//! (`mach_down`, `ip-request`, `ip-request-resp`, `hb_takeover`, 3.0.6's `QueueRemoteRscReq`)
//! wait in a queue and run one at a time when no other job runs (§4.10). A job walks its groups
//! in haresources order, one action at a time.
//!
//! # Driving it from the engine
//! Node ids are the same as the engine's for cluster nodes (`ha.cf` order; the engine's ping
//! nodes come after them and are ignored here). Build both from the same files
//! ([`ResourcesConfig::from_config`]). Then, per engine [`Event`](crate::engine::Event):
//!
//! | engine event | here |
//! |---|---|
//! | `NodeStatus { node, status: Up }` (first heard, or heard again) | `node_event(NodeEvent::Up(node))` |
//! | `NodeStatus { node, status: Active }` | `node_event(NodeEvent::Active(node))` |
//! | `Restarted { node, .. }` | `node_event(NodeEvent::Restarted(node))` |
//! | `NodeDead { node, heard_from }` | `node_event(NodeEvent::Dead { node, heard_from })` |
//! | `ReturnedAfterPartition { node }` | `node_event(NodeEvent::ReturnedAfterPartition(node))` (we wait the 2 s) |
//! | `CommUp` | `comm_up()` (after the `NodeDead`s of `initdead`, which the engine reports first) |
//! | `NoLocalHeartbeat` | `handle_command(Command::Restart)` |
//! | `Message(m)` from another node, `m.kind` a resource type | [`ResourceMsg::parse`] its fields, `handle_message(now, m.from, &msg)` |
//! | `Message(m)` from ourselves (the engine's loopback) | nothing: already processed |
//!
//! SIGTERM: `handle_command(Command::Shutdown)` (it waits for comm-up and for resource work
//! itself, logging as 3.0.6 does). Every [`poll_message`](Resources::poll_message) result is
//! written with [`ResourceMsg::write`] and sent with the engine's `send_cluster_message`
//! (which adds `destuuid` for `dest` and the control fields, and loops it back — to be
//! ignored here); our `shutdone` is one of them, and [`Action::Exit`] follows it. Merge
//! [`poll_timeout`](Resources::poll_timeout) with the engine's.
//!
//! Resource messages should reach `handle_message` in the sender's sequence order. 3.0.6
//! processes a packet that arrives after a gap at once and the missing one when it is
//! retransmitted; in that order a stale `isstable=0` can overtake the `isstable=1` that
//! followed it, after which the peer looks unstable until its next stable report (standby is
//! refused meanwhile), and with three or more nodes a withdrawn claim can look current (and
//! its group stay stopped). The engine delivers as 3.0.6 does; [`crate::heartbeat`] holds a
//! message that overtook a missing one until the gap is filled.
//!
//! # Two nodes: 3.0.6 exactly
//! With two nodes in `ha.cf` the machine follows 3.0.6's state (`i_hold_resources`,
//! `other_holds_resources`, `other_is_stable`, `resourcestate` INIT → STARTING →
//! (BOTHSTARTING) → RSCRCVD → STABLE → SHUTDOWN, `going_standby`) and decision table (§4.9) for
//! `auto_failback` `legacy`, `off` and `on`, and sends the same messages in the same order with
//! the same fields (checked against the captures in the tests).
//!
//! # More than two nodes: our extension
//! 3.0.6's resource logic only knows "me" and "the other" (all its other-node state is one
//! variable) and its `local`/`foreign` sets cannot say which of several other nodes' groups a
//! node holds. With three or more nodes (all of them hb; a 3.0.6 node cannot take part) the
//! machine runs a per-group *claims* protocol built from the same messages:
//!
//! * `resource` messages carry `hb_groups=<hex mask>`: the groups the sender claims (runs, or is
//!   starting or stopping). A node announces a claim before it starts a group and withdraws it
//!   only after the group is stopped. `isstable=1` means "started up, nothing in flight".
//! * The **responsible node** of a group is its preferred node if that node is live, otherwise
//!   the first live node in `ha.cf` node order ("live": not dead, not shutting down, and
//!   heard from since it (re)started). A node starts an unclaimed group only if it is the
//!   responsible node, is itself stable (startup negotiation as in two-node mode: `starting`,
//!   the peers' answers or `RQSTDELAY`), knows what every live node claims, and no dead node
//!   that might hold the group is still waiting for STONITH. Two connected nodes agree on
//!   liveness, so at most one of them is responsible: one owner per group while connected.
//! * Knowing what a node claims: a node answers a peer's `starting` with a report naming it
//!   (`hb_reply=<node>`). A peer's reports count once it has answered our `starting`, or once
//!   we have seen its own (it starts from nothing, and its later reports follow it in order);
//!   before that a report may be an old one, sent again for another node that missed it. A
//!   starting node says `starting` again every `RQSTDELAY` while a live peer has not answered
//!   and it runs nothing; its claims also go out again whenever a peer becomes `active`.
//! * `auto_failback on` (and `legacy`, which always fails back): a node holding another node's
//!   group stops it once the preferred node is live and stable; the preferred node then starts
//!   it when it sees the claim withdrawn. `off`: groups stay where they are.
//! * Death: as with two nodes (with a STONITH device: reset unless the dead node sent
//!   `shutdone`, and until then no one starts any group; without one: no reset, and a warning
//!   unless it had claimed nothing or sent `shutdone`); after that its claims are void and the
//!   responsible nodes take its groups.
//!   Graceful shutdown: `resource … isstable=0 info=shutdown` with the claims still set (the
//!   node is no longer live but still owns what it runs), release in file order, `shutdone`.
//! * `hb_standby`/`hb_takeover` are refused ([`CommandError::NotSupported`]); a failed start is
//!   retried by the same node after the 30 s delay instead of being handed over.
//!
//! # Deviations from 3.0.6 (two nodes)
//! * A standby request is refused (`… local resources in flux.`) while resource work runs or
//!   is queued here, not only outside STABLE, and auto-failback waits for the same: 3.0.6
//!   accepts a standby while its initial `takegroup`s are still queued, and the group one of
//!   them starts afterwards then runs on both nodes.
//! * A cancelled standby exchange (the peer died or restarted, or the timer ran out) stops its
//!   give-up/acquire job after the action in flight, without `done`; 3.0.6's forked child
//!   carries on and can release groups that the takeover then needs.
//! * The 10 s standby reply timer fires at its deadline ([`Resources::poll_timeout`]); 3.0.6
//!   only notices it when the next cluster message (usually a status) is processed.
//! * A pending STONITH retry loop is dropped when the node is heard from again (restarted or
//!   returned); 3.0.6 keeps resetting it every 5 s until a reset succeeds and then takes its
//!   groups, even from a node that has restarted meanwhile.
//! * Our own `resource` messages do not overwrite `i_hold_resources` when they loop back: in
//!   3.0.6 their content is `i_hold_resources` itself (shared memory), here the machine's own
//!   state is the source of truth, so only their other effects (state RSCRCVD, `mach_down`,
//!   `shutdown`) are applied.
//! * A group is not requested twice: `req_our_resources` skips a group that is running, being
//!   started, or already queued to be taken; 3.0.6 asks `ResourceManager status`, which can
//!   race with a queued `takegroup`. A group being stopped (a standby cancelled by the peer's
//!   death) is requested again, where 3.0.6's status check may call it running and lose it.
//! * A peer that restarts without having been declared dead ([`NodeEvent::Restarted`] while
//!   it was up) is handled as the death we missed, without STONITH (the old incarnation is
//!   demonstrably gone; our daemon stops every group at start): a standby exchange with it is
//!   cancelled and we take its groups and ours as after a death (`Resources being acquired
//!   from …`, `mach_down`); the new incarnation then negotiates as a returning node (it gets
//!   its groups back with `auto_failback on`). 3.0.6 does nothing, and groups the old
//!   incarnation held (or was being handed) stay unowned. In `legacy` mode none of its groups
//!   is taken: the new incarnation asks for them as it comes up (a takeover would race with
//!   those `ip-request`s); ours we ask for again, as at comm-up.
//! * `ip-request` for a key that is not in our haresources is ignored (3.0.6 answers
//!   `weown=no`); the files must be identical anyway.
//! * A standby request our own side ignores (cluster in flux, an exchange running, our comm not
//!   up yet) is not sent: 3.0.6 sends it and ignores it itself, the peer accepts it, answers
//!   `other` and then waits an hour for a `done` that never comes, refusing every other
//!   standby meanwhile.
//! * The start-failure hand-over waits while a standby exchange runs, the cluster is in flux or
//!   no peer is up, hand-overs due together go as one request, and one that gets no answer (or
//!   is cancelled by the peer's death) is made again. 3.0.6 sends each at once, once: one that
//!   comes during another exchange, or while the peer is down, is lost, and its group stays
//!   stopped for good.
//! * The start-failure hand-over (`hb_standby local|foreign` 30 s later) says `local` when the
//!   group is ours and has a single resource, `foreign` otherwise (3.0.6's `ResourceManager`
//!   compares the failed resource with whole lines: the same result for single-resource groups,
//!   "almost always foreign" otherwise).
//! * With a STONITH device, nothing of ours is taken while a dead peer awaits its reset (it
//!   may run our groups): 3.0.6 takes its local groups at comm-up (legacy) or after
//!   `RQSTDELAY` regardless. A peer that restarts while its reset is pending is taken over
//!   from as if the reset had succeeded; in `legacy` mode its groups are left to the
//!   `ip-request`s of its new incarnation (a takeover would race with them) and ours are
//!   asked for. Likewise in `legacy` mode a takeover of a dead peer's groups that still waits
//!   (behind other resource work) when the peer restarts is dropped.
//! * With a STONITH device, a dead peer is reset unless it sent `shutdone`. 3.0.6 (`auto_failback
//!   on|off`) also spares a peer whose last `resource` message said `rsc_hold=none`; but a node
//!   sends that announcement as it starts acquiring (`req_our_resources`, `mach_down`), so a
//!   peer cut off at that moment dies holding groups it never got to announce, and both nodes
//!   run them. (Without a device nothing is reset either way and 3.0.6's choice stands.) With
//!   three or more nodes, likewise: claims are announced, not acknowledged, so a dead node
//!   that still awaits its reset blocks every group, not only those it claimed.
//! * The give-up 2 s after a return from a partition does not wait for the cluster to look
//!   stable (3.0.6's does, and two nodes that took each other's groups can each wait for the
//!   other for good, both running them): acquisitions not yet started and a standby exchange
//!   are dropped, actions in flight finish, and everything is released.
//! * A takeover decided before our comm-up (a peer's death during `initdead`, its `shutdone`, its
//!   reset) is carried out at comm-up only if the peer is still gone: one that restarted
//!   meanwhile negotiates as any starting peer (3.0.6 queues the takeover and runs it at
//!   comm-up regardless, taking groups the new incarnation may have started).
//! * ipfail (ping-node counting) is not part of this module: in 3.0.6 it is a separate API
//!   client whose only resource effect is `hb_standby all|foreign`. It is built in as
//!   [`crate::ipfail`], which the joined node hands to [`Resources::handle_ipfail_giveup`]
//!   (the standby of [`Command::Standby`] without the script's log line).

mod log;
mod msg;
mod multi;
mod timer;

pub use log::{Level, LogLine, LogMsg, Origin as LogOrigin, RESOURCE_MANAGER};
pub use msg::{
    GroupMask, ParseError, ResourceHeld, ResourceInfo, ResourceMsg, RscSet, StandbyInfo,
    StandbySet, StonithResult, F_GROUPS, T_ASKRESOURCES, T_IPREQUEST, T_IPREQUEST_RESP,
    T_RESOURCES, T_SHUTDONE, T_STARTING, T_STONITH, T_TAKEOVER,
};

use heapless::{Deque, String, Vec};

use crate::config::{AutoFailback, HaCf, HaResources, NodeName, ResourceGroup};
use crate::time::{Duration, Instant};

use log::Names;
use timer::{Timer, TimerTable};

// ---------------------------------------------------------------------------------------------
// Timing defaults (heartbeat's constants).

/// `RQSTDELAY`: how long a starting node waits for the other side to become stable before it
/// takes its local groups anyway.
pub const RQSTDELAY: Duration = Duration::from_secs(10);
/// `STANDBY_INIT_TO_MS`: how long a standby requester waits for the `other` reply.
pub const STANDBY_REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// `HB_STANDBY_RSC_TO_MS`: how long a running standby exchange may take.
pub const STANDBY_RESOURCE_TIMEOUT: Duration = Duration::from_secs(3600);
/// A failed STONITH is retried this often, forever.
pub const STONITH_RETRY: Duration = Duration::from_secs(5);
/// `ResourceManager` runs `hb_standby` this long after a group failed to start.
pub const FAILED_START_STANDBY_DELAY: Duration = Duration::from_secs(30);
/// `PerformAutoFailback` retries this often while the cluster is not stable.
pub const AUTO_FAILBACK_RETRY: Duration = Duration::from_secs(1);
/// A node returning after a partition makes us give up everything and restart this much later.
pub const PARTITION_RESTART_DELAY: Duration = Duration::from_secs(2);

/// Queue capacities. One input produces at most a few messages per group.
const OUT_CAP: usize = 128;
const LOG_CAP: usize = 128;
const JOB_CAP: usize = 8;
const REMOTE_CAP: usize = 16;
/// The longest group key kept (haresources' whole-group text limit).
pub const KEY_LEN: usize = crate::config::haresources::GROUP_TEXT_LEN;

// ---------------------------------------------------------------------------------------------
// Identifiers and small types.

/// A cluster node: its index among the `node` lines of `ha.cf`, in file order. The same type
/// as the engine's [`NodeId`], which numbers cluster nodes the same way
/// (its ping nodes come after them and are ignored here; [`Resources::node_id`] looks names up).
pub use crate::engine::NodeId;

/// A resource group: its index among the haresources lines, in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GroupId(pub u8);

impl GroupId {
    const fn ix(self) -> usize {
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
    const fn is_active(self) -> bool {
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
    /// The node was declared dead. `heard_from`: any packet from it arrived since we started
    /// (3.0.6's `anypacketsyet`).
    Dead { node: NodeId, heard_from: bool },
    /// The node is heard again with the same generation after we declared it dead
    /// (`Cluster node … returning after partition.`): 2 s later we give everything up and
    /// ask the daemon to restart ([`Action::Exit`] with `restart`).
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
            timing: Timing::default(),
        }
    }
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
    /// A group key longer than [`KEY_LEN`].
    KeyTooLong(GroupId),
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

// ---------------------------------------------------------------------------------------------
// Internal state.

#[derive(Clone, Debug)]
struct GroupInfo {
    key: String<KEY_LEN>,
    node: NodeId,
    single_resource: bool,
}

#[derive(Clone, Copy, Debug)]
struct Group {
    state: GroupState,
    /// When to run `hb_standby` after a failed start (multi-node: when to retry).
    failed_at: Option<Instant>,
    failed_set: RscSet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fence {
    None,
    InFlight,
    RetryAt(Instant),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// Not heard from yet.
    Unknown,
    Up,
    Active,
    Dead,
}

#[derive(Clone, Copy, Debug)]
struct Peer {
    status: Status,
    /// 3.0.6's `anypacketsyet`.
    heard: bool,
    /// 3.0.6's `has_resources` (legacy STONITH decision): cleared by `shutdone`.
    has_resources: bool,
    fence: Fence,
    // Multi-node extension.
    /// The groups it claims (`hb_groups`).
    claims: u32,
    /// Its last `isstable`.
    stable: bool,
    /// A `resource` message arrived since it (re)started.
    reported: bool,
    /// It announced its shutdown.
    leaving: bool,
    /// Dead, and its claims stand until STONITH succeeds.
    unresolved: bool,
    /// A takeover from it was decided before our comm-up.
    takeover_due: bool,
    /// Multi-node: its reports tell what it runs now: it answered our `starting`, or we saw
    /// its own (everything it sends after that is current). Until then a report of it may be
    /// an old one, sent again for another node that missed it.
    current: bool,
}

impl Peer {
    const NEW: Peer = Peer {
        status: Status::Unknown,
        heard: false,
        has_resources: true,
        fence: Fence::None,
        claims: 0,
        stable: false,
        reported: false,
        leaving: false,
        unresolved: false,
        takeover_due: false,
        current: false,
    };
    const fn alive(&self) -> bool {
        matches!(self.status, Status::Up | Status::Active)
    }
}

/// `info=` values we send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Info {
    ReqOur,
    Standby,
    Shutdown,
}

/// A message we emitted, by ids (turned into a [`ResourceMsg`] by `poll_message`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Out {
    Starting,
    Held {
        hold: RscSet,
        stable: bool,
        info: Option<Info>,
        groups: Option<u32>,
        /// Multi-node: the node whose `starting` this answers.
        reply: Option<NodeId>,
    },
    MachDown,
    Ask {
        set: RscSet,
        info: StandbyInfo,
    },
    IpRequest(GroupId),
    /// `hb_standby`'s `ask_resources <set> me`, before our own side has taken it: it goes out
    /// as an [`Out::Ask`] only if it does (loopback only).
    StandbyRequest(RscSet),
    IpResp {
        dest: NodeId,
        group: GroupId,
        weown: bool,
    },
    Takeover(StandbySet),
    Shutdone,
    Stonith {
        node: NodeId,
        result: StonithResult,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JobKind {
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
}

impl JobKind {
    /// Whether the job may start groups.
    fn acquires(self) -> bool {
        match self {
            JobKind::ReqOur { .. }
            | JobKind::MachDown(_)
            | JobKind::TakeGroup(_)
            | JobKind::Takeover(_) => true,
            JobKind::Standby { acquire, .. } => acquire,
            JobKind::Giveup | JobKind::GiveGroup { .. } => false,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Job {
    kind: JobKind,
    started: bool,
    cursor: u8,
    /// The group this job started an action on, while it waits for it.
    issued: Option<GroupId>,
    /// MachDown: groups logged so far; GiveGroup: whether we owned it.
    mark: u8,
    flag: bool,
}

impl Job {
    const fn new(kind: JobKind) -> Job {
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
enum Target {
    Acquire,
    Release,
}

enum Step {
    Blocked { progressed: bool },
    Done,
}

/// Names for log lines and message text.
#[derive(Clone, Debug)]
struct Table<const NODES: usize, const GROUPS: usize> {
    nodes: Vec<NodeName, NODES>,
    groups: Vec<GroupInfo, GROUPS>,
    local: NodeId,
}

impl<const NODES: usize, const GROUPS: usize> Names for Table<NODES, GROUPS> {
    fn node_name(&self, id: NodeId) -> &str {
        self.nodes.get(id.ix()).map_or("?", |n| n.as_str())
    }
    fn group_key(&self, id: GroupId) -> &str {
        self.groups.get(id.ix()).map_or("?", |g| g.key.as_str())
    }
    fn local_name(&self) -> &str {
        self.node_name(self.local)
    }
}

/// The resource-ownership machine of one node; see the [module documentation](self).
///
/// `NODES` bounds the `ha.cf` node lines, `GROUPS` the haresources lines (at most 32).
#[derive(Debug)]
pub struct Resources<const NODES: usize, const GROUPS: usize> {
    table: Table<NODES, GROUPS>,
    mode: AutoFailback,
    stonith: bool,
    timing: Timing,
    multi: bool,

    // 3.0.6's hb_resource.c state.
    rstate: RscState,
    /// RQSTDELAY, the standby exchange, the auto-failback retry, multi-node `starting` again,
    /// the restart after a partition. (A peer's STONITH retry and a group's failed-start
    /// hand-over stay with the peer and the group they belong to.)
    timers: TimerTable,
    i_hold: RscSet,
    other_holds: RscSet,
    other_is_stable: bool,
    going: StandbyState,
    standby_set: RscSet,
    needs_failback: bool,
    takeover_in_progress: bool,
    local_work_done: bool,
    foreign_work_done: bool,
    announced: bool,

    comm_up: bool,
    shutdown_before_comm: Option<bool>,
    rsc_needs_shutdown: bool,
    shutdown_in_progress: bool,
    giveup_started: bool,
    restart: bool,
    exited: bool,
    /// A group could not be stopped: we asked for a reboot and do nothing more.
    halted: bool,

    peers: [Peer; NODES],
    groups: [Group; GROUPS],
    jobs: Vec<Job, JOB_CAP>,
    remote: Deque<JobKind, REMOTE_CAP>,

    // Multi-node: what we last announced.
    sent_claims: Option<(u32, bool)>,
    /// Multi-node: nodes whose `starting` we have yet to answer.
    owed_replies: u32,
    /// Multi-node: when to send `starting` again (a live peer has not answered it yet).
    loopback: Deque<Out, OUT_CAP>,
    out: Deque<Out, OUT_CAP>,
    actions: Deque<Action, OUT_CAP>,
    logs: Deque<LogMsg, LOG_CAP>,
    dropped: u32,
    now: Instant,
}

const GROUP_NEW: Group = Group {
    state: GroupState::Stopped,
    failed_at: None,
    failed_set: RscSet::NONE,
};

impl<const NODES: usize, const GROUPS: usize> Resources<NODES, GROUPS> {
    pub fn new(cfg: &ResourcesConfig<'_>) -> Result<Self, ResourcesError> {
        let mut nodes = Vec::new();
        for n in cfg.nodes {
            nodes
                .push(n.clone())
                .map_err(|_| ResourcesError::TooManyNodes)?;
        }
        if nodes.len() > usize::from(u8::MAX) {
            return Err(ResourcesError::TooManyNodes);
        }
        let find = |name: &str| {
            nodes
                .iter()
                .position(|n: &NodeName| n.eq_ignore_ascii_case(name))
                .map(|i| NodeId(i as u8))
        };
        let local = find(cfg.local_node).ok_or(ResourcesError::UnknownLocalNode)?;
        let mut groups = Vec::new();
        if cfg.groups.len() > GroupMask::CAPACITY {
            return Err(ResourcesError::TooManyGroups);
        }
        for (i, g) in cfg.groups.iter().enumerate() {
            let id = GroupId(i as u8);
            let node = find(g.node()).ok_or(ResourcesError::UnknownGroupNode(id))?;
            let key = String::try_from(g.key()).map_err(|_| ResourcesError::KeyTooLong(id))?;
            groups
                .push(GroupInfo {
                    key,
                    node,
                    single_resource: g.len() == 1,
                })
                .map_err(|_| ResourcesError::TooManyGroups)?;
        }
        let multi = nodes.len() > 2;
        Ok(Resources {
            table: Table {
                nodes,
                groups,
                local,
            },
            mode: cfg.auto_failback,
            stonith: cfg.stonith,
            timing: cfg.timing,
            multi,
            rstate: RscState::Init,
            timers: TimerTable::default(),
            i_hold: RscSet::NONE,
            other_holds: RscSet::NONE,
            other_is_stable: false,
            going: StandbyState::Not,
            standby_set: RscSet::ALL,
            needs_failback: false,
            takeover_in_progress: false,
            local_work_done: false,
            foreign_work_done: false,
            announced: false,
            comm_up: false,
            shutdown_before_comm: None,
            rsc_needs_shutdown: false,
            shutdown_in_progress: false,
            giveup_started: false,
            restart: false,
            exited: false,
            halted: false,
            peers: [Peer::NEW; NODES],
            groups: [GROUP_NEW; GROUPS],
            jobs: Vec::new(),
            remote: Deque::new(),
            sent_claims: None,
            owed_replies: 0,
            loopback: Deque::new(),
            out: Deque::new(),
            actions: Deque::new(),
            logs: Deque::new(),
            dropped: 0,
            now: Instant::ZERO,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Inputs.

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
            self.rstate = RscState::Starting;
        } else {
            self.req_our_resources(false);
        }
        if let Some(restart) = self.shutdown_before_comm.take() {
            self.giveup_resources(restart);
        }
        self.settle();
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
            NodeEvent::Restarted(_) => {
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
                    self.recover_dead_resources(node);
                }
            }
            NodeEvent::ReturnedAfterPartition(_) => {
                p.status = Status::Up;
                p.heard = true;
                p.fence = Fence::None;
                p.unresolved = false;
                if !self.timers.is_armed(Timer::Restart) && !self.shutdown_in_progress {
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
                if p.fence != Fence::InFlight {
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
                    self.peers[node.ix()].fence = Fence::RetryAt(now + self.timing.stonith_retry);
                }
            }
        }
        self.settle();
    }

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
                    self.start_fence(NodeId(i as u8));
                }
            }
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
        if self.timers.expire(Timer::StartingAgain, now) {
            self.multi_starting_again();
        }
        if self.timers.expire(Timer::FailbackRetry, now) {
            self.perform_auto_failback();
        }
        if self.timers.expire(Timer::Restart, now) {
            self.giveup_after_partition();
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
        for p in &self.peers[..self.table.nodes.len()] {
            if let Fence::RetryAt(t) = p.fence {
                consider(Some(t));
            }
        }
        for g in &self.groups[..self.table.groups.len()] {
            consider(g.failed_at);
        }
        next
    }

    // -----------------------------------------------------------------------------------------
    // Outputs.

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
        Some(LogLine {
            msg,
            names: &self.table,
        })
    }

    /// A log line for `msg` (one taken from [`poll_log`](Self::poll_log) earlier, or kept by a
    /// caller that moved it on), with this machine's names.
    pub fn log_line(&self, msg: LogMsg) -> LogLine<'_> {
        LogLine {
            msg,
            names: &self.table,
        }
    }

    /// Outputs lost because a queue was full (the caller did not poll between inputs).
    pub fn dropped_outputs(&self) -> u32 {
        self.dropped
    }

    // -----------------------------------------------------------------------------------------
    // Status.

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

    // -----------------------------------------------------------------------------------------
    // Plumbing.

    fn nice_failback(&self) -> bool {
        self.mode != AutoFailback::Legacy
    }
    fn auto_failback(&self) -> bool {
        self.mode == AutoFailback::On
    }
    fn is_local_group(&self, g: usize) -> bool {
        self.table.groups[g].node == self.table.local
    }
    /// 3.0.6's `countbystatus(DEADSTATUS)`.
    fn dead_count(&self) -> usize {
        self.peers[..self.table.nodes.len()]
            .iter()
            .filter(|p| p.status == Status::Dead)
            .count()
    }
    /// 3.0.6's `countbystatus(ACTIVESTATUS)` plus ourselves.
    fn up_count(&self) -> usize {
        1 + (0..self.table.nodes.len())
            .filter(|&i| i != self.table.local.ix() && self.peers[i].status == Status::Active)
            .count()
    }

    fn log(&mut self, m: LogMsg) {
        if self.logs.push_back(m).is_err() {
            self.dropped = self.dropped.saturating_add(1);
        }
    }
    fn action(&mut self, a: Action) {
        if self.actions.push_back(a).is_err() {
            self.dropped = self.dropped.saturating_add(1);
        }
    }
    /// Sends a message: it loops back to us first, then goes out.
    fn emit(&mut self, m: Out) {
        if self.loopback.push_back(m).is_err() || self.out.push_back(m).is_err() {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    fn render(&self, out: Out) -> ResourceMsg<'_> {
        match out {
            Out::Starting => ResourceMsg::Starting,
            Out::Held {
                hold,
                stable,
                info,
                groups,
                reply,
            } => ResourceMsg::Resource(ResourceHeld {
                rsc_hold: hold,
                rtype_full: true,
                isstable: Some(stable),
                info: info.map(|i| match i {
                    Info::ReqOur => ResourceInfo::ReqOurResources,
                    Info::Standby => ResourceInfo::Standby,
                    Info::Shutdown => ResourceInfo::Shutdown,
                }),
                groups: groups.map(GroupMask::new),
                reply_to: reply.map(|n| self.table.node_name(n)),
            }),
            Out::MachDown => ResourceMsg::Resource(ResourceHeld {
                rsc_hold: RscSet::FOREIGN,
                rtype_full: false,
                isstable: None,
                info: Some(ResourceInfo::MachDown),
                groups: None,
                reply_to: None,
            }),
            Out::Ask { set, info } => ResourceMsg::AskResources {
                rsc_hold: set,
                info,
            },
            // (Loopback only; what it becomes.)
            Out::StandbyRequest(set) => ResourceMsg::AskResources {
                rsc_hold: set,
                info: StandbyInfo::Me,
            },
            Out::IpRequest(g) => ResourceMsg::IpRequest {
                ipaddr: self.table.group_key(g),
            },
            Out::IpResp { dest, group, weown } => ResourceMsg::IpRequestResp {
                dest: self.table.node_name(dest),
                ipaddr: self.table.group_key(group),
                weown,
                ok: "OK",
            },
            Out::Takeover(s) => ResourceMsg::HbTakeover { rsc_hold: s },
            Out::Shutdone => ResourceMsg::Shutdone,
            Out::Stonith { node, result } => ResourceMsg::Stonith {
                node: self.table.node_name(node),
                result,
            },
        }
    }

    /// After every input: process our own messages, let jobs run, until nothing moves.
    fn settle(&mut self) {
        // Bounded: every round either consumes a loopback message or advances a job.
        for _ in 0..10_000 {
            if let Some(m) = self.loopback.pop_front() {
                self.local_message(m);
                continue;
            }
            if self.pump_jobs() {
                continue;
            }
            if self.multi && self.multi_reconcile() {
                continue;
            }
            break;
        }
        self.shutdown_if_needed();
        if self.multi {
            self.multi_announce();
        }
    }

    fn check_standby_timer(&mut self) {
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
    fn rearm_failed_handovers(&mut self) {
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

    // -----------------------------------------------------------------------------------------
    // Messages (two-node mode).

    fn peer_message(&mut self, from: NodeId, msg: &ResourceMsg<'_>) {
        match *msg {
            ResourceMsg::Shutdone => {
                if self.comm_up {
                    self.process_resources_shutdone_peer();
                }
                let p = &mut self.peers[from.ix()];
                p.has_resources = false;
                self.other_is_stable = false;
                self.other_holds = RscSet::NONE;
                self.log(LogMsg::ReceivedShutdownNotice(from));
                self.takeover_from_node(from);
            }
            _ if !self.comm_up => {}
            ResourceMsg::Starting => self.process_starting(),
            ResourceMsg::Resource(ref r) => self.process_resource_peer(r),
            ResourceMsg::AskResources { rsc_hold, info } => {
                self.ask_for_resources(from, false, rsc_hold, info)
            }
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
                        self.queue_remote(JobKind::TakeGroup(group));
                    }
                }
            }
            ResourceMsg::HbTakeover { rsc_hold } => self.queue_remote(JobKind::Takeover(rsc_hold)),
            ResourceMsg::Stonith { .. } => {}
        }
    }

    /// Our own message, looped back.
    fn local_message(&mut self, m: Out) {
        let me = self.table.local;
        if self.multi {
            if m == Out::Shutdone {
                self.own_shutdone();
            }
            return;
        }
        match m {
            Out::Starting | Out::Stonith { .. } | Out::IpRequest(_) | Out::Takeover(_) => {}
            Out::Held { info, .. } => {
                self.process_resource_local(info == Some(Info::Shutdown), false)
            }
            Out::MachDown => self.process_resource_local(false, true),
            Out::Ask { set, info } => {
                if self.comm_up {
                    self.ask_for_resources(me, true, set, info);
                }
            }
            Out::StandbyRequest(set) => {
                let ask = Out::Ask {
                    set,
                    info: StandbyInfo::Me,
                };
                // 3.0.6 sends `me` and then takes it like the peer's. If our own side ignores
                // it (in flux, or an exchange running), the peer must not see it: it would
                // accept it, answer `other` and wait an hour for a `done` that never comes,
                // refusing every other standby meanwhile.
                let send = if self.comm_up && self.nice_failback() {
                    self.ask_for_resources(me, true, set, StandbyInfo::Me);
                    self.going == StandbyState::Me
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
                        self.ask_for_resources(me, true, set, StandbyInfo::Me);
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

    fn own_shutdone(&mut self) {
        if !self.exited {
            self.exited = true;
            self.action(Action::Exit {
                restart: self.restart,
            });
        }
    }

    /// `process_resources` for `t=starting` from the other node.
    fn process_starting(&mut self) {
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
    fn resource_newstate(&mut self) -> Option<RscState> {
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
    fn process_resource_peer(&mut self, r: &ResourceHeld<'_>) {
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
    fn process_resource_local(&mut self, shutdown: bool, mach_down: bool) {
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
    fn process_resources_shutdone_peer(&mut self) {
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

    fn finish_process_resources(&mut self, newstate: RscState) {
        self.rstate = newstate;
        if self.rstate == RscState::RscRcvd && !self.timers.is_armed(Timer::RqstDelay) {
            self.timers
                .set(Timer::RqstDelay, self.now + self.timing.rqstdelay);
        }
        self.audit();
        self.shutdown_if_needed();
    }

    fn audit(&mut self) {
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

    fn announce(&mut self, reason: &'static str) {
        if self.announced || !self.local_work_done || !self.foreign_work_done {
            return;
        }
        self.log(LogMsg::InitialAcquisitionComplete(reason));
        self.announced = true;
    }

    /// `hb_send_resources_held`.
    fn send_resources_held(&mut self, stable: bool, info: Option<Info>) {
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

    /// `hb_standby <set>`: the script logs and sends `ask_resources <set> me`.
    fn hb_standby(&mut self, set: RscSet) {
        self.log(LogMsg::GoingStandby(set));
        self.request_standby(set);
    }

    /// `ask_resources <set> me`, as `hb_standby` and ipfail send it.
    fn request_standby(&mut self, set: RscSet) {
        // Goes out only once our own side has taken it (see `local_message`).
        if self.loopback.push_back(Out::StandbyRequest(set)).is_err() {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    fn perform_auto_failback(&mut self) {
        if self.shutdown_in_progress
            || !self.i_hold.intersects(RscSet::FOREIGN)
            || !self.needs_failback
            || !self.auto_failback()
        {
            self.needs_failback = false;
            self.shutdown_if_needed();
            return;
        }
        if self.going != StandbyState::Not || !self.other_is_stable || self.local_in_flux() {
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
        self.emit(Out::Ask {
            set: RscSet::FOREIGN,
            info: StandbyInfo::Me,
        });
        self.needs_failback = false;
    }

    /// Not STABLE, or resource work running or queued. (3.0.6 only checks STABLE, and
    /// accepts a standby while its initial `takegroup`s are still queued: the give-up then
    /// misses a group that the queued take starts afterwards, on both nodes.)
    fn local_in_flux(&self) -> bool {
        self.rstate != RscState::Stable || !self.jobs.is_empty() || !self.remote.is_empty()
    }

    /// `ask_for_resources`: the standby protocol (wire spec §5.5).
    fn ask_for_resources(&mut self, from: NodeId, fromme: bool, rtype: RscSet, info: StandbyInfo) {
        if !self.nice_failback() {
            self.log(LogMsg::StandbyOnlyNiceFailback);
            return;
        }
        if self.rstate == RscState::Shutdown {
            return;
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

    /// `go_standby`: `release` our `set`, or acquire the mirror of the other node's `set`.
    fn go_standby(&mut self, release: bool, set: RscSet) {
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

    // -----------------------------------------------------------------------------------------
    // Death, STONITH, takeover (two-node mode).

    /// `hb_rsc_recover_dead_resources`.
    fn recover_dead_resources(&mut self, node: NodeId) {
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
    fn peer_restarted_unnoticed(&mut self, node: NodeId) {
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

    /// A standby exchange is cancelled: its give-up or acquire job stops after the action in
    /// flight and sends no `done` (3.0.6's forked child would carry on and release groups we
    /// are about to need again).
    fn cancel_standby(&mut self) {
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

    fn start_fence(&mut self, node: NodeId) {
        self.peers[node.ix()].fence = Fence::InFlight;
        self.action(Action::Fence(node));
    }

    /// `takeover_from_node`.
    fn takeover_from_node(&mut self, node: NodeId) {
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

    /// `req_our_resources`.
    fn req_our_resources(&mut self, getthemanyway: bool) {
        if self.shutdown_in_progress {
            return;
        }
        if self.reset_pending() {
            // A dead peer awaiting its reset may run our groups (it took them when we were
            // gone): nothing is taken until the reset, after which `takeover_from_node` asks
            // again. (3.0.6 takes its own groups at comm-up, legacy mode, or after `RQSTDELAY`
            // while the reset is still on its way.)
            return;
        }
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

    // -----------------------------------------------------------------------------------------
    // Shutdown.

    /// A dead peer is being reset, or will be again.
    fn reset_pending(&self) -> bool {
        self.peers[..self.table.nodes.len()]
            .iter()
            .any(|p| p.fence != Fence::None)
    }

    /// `hb_shutdown_if_needed`.
    fn shutdown_if_needed(&mut self) {
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
    fn giveup_after_partition(&mut self) {
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
    fn giveup_resources(&mut self, restart: bool) {
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

    fn give_up_now(&mut self) {
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

    // -----------------------------------------------------------------------------------------
    // Jobs.

    fn start_job(&mut self, kind: JobKind) {
        if self.jobs.push(Job::new(kind)).is_err() {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    /// `QueueRemoteRscReq`: run when no other job runs.
    fn queue_remote(&mut self, kind: JobKind) {
        if self.shutdown_in_progress && kind.acquires() {
            // Nothing is taken any more once the give-up has begun.
            return;
        }
        if self.remote.push_back(kind).is_err() {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    fn queued_take(&self, g: GroupId) -> bool {
        self.remote.iter().any(|k| *k == JobKind::TakeGroup(g))
            || self.jobs.iter().any(|j| j.kind == JobKind::TakeGroup(g))
    }

    /// Advances the first job that can move by one step (its messages then loop back before
    /// any other job moves); starts the next queued one when none runs. Jobs wait for
    /// comm-up: 3.0.6's children report only after the parent's comm-up.
    fn pump_jobs(&mut self) -> bool {
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
    fn job_target(&self, kind: JobKind, g: usize) -> Option<Target> {
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
            _ => None,
        }
    }

    fn step_job(&mut self, job: &mut Job) -> Step {
        let mut progressed = false;
        if !job.started {
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
                JobKind::MachDown(_) | JobKind::TakeGroup(_) => {}
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
            JobKind::TakeGroup(_) | JobKind::ReqOur { .. } | JobKind::Takeover(_) => {}
        }
        Step::Done
    }

    /// The body of the `req_our_resources` child.
    fn run_req_our(&mut self, ask: bool) {
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
    fn job_finished(&mut self, kind: JobKind) {
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
            _ => {}
        }
        self.shutdown_if_needed();
    }
}

#[cfg(test)]
mod tests;
