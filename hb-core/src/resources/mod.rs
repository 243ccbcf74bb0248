//! Resource ownership: who runs which haresources group (behaviour spec §4, §7; wire spec §5).
//!
//! [`Resources`] is heartbeat 3.0.6's `hb_resource.c` (with the shell helpers it relies on:
//! `req_resource`, `mach_down`, `rc.d/ip-request`, `rc.d/ip-request-resp`, `rc.d/hb_takeover`,
//! `hb_standby`) as a sans-IO state machine. It is a sub-machine of the joined node
//! ([`crate::heartbeat::Heartbeat`], beside the membership [`Membership`](crate::engine::Membership)):
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
//!   it was up), unless it announced the restart (a reload: [`NodeEvent::RestartedKeeping`],
//!   handled as 3.0.6 does, taking nothing), is handled as the death we missed, without STONITH (the old incarnation is
//!   demonstrably gone; our daemon stops every group at start): a standby exchange with it is
//!   cancelled and we take its groups and ours as after a death (`Resources being acquired
//!   from …`, `mach_down`); the new incarnation then negotiates as a returning node (it gets
//!   its groups back with `auto_failback on`). 3.0.6 does nothing, and groups the old
//!   incarnation held (or was being handed) stay unowned. In `legacy` mode none of its groups
//!   is taken: the new incarnation asks for them as it comes up (a takeover would race with
//!   those `ip-request`s); ours we ask for again, as at comm-up.
//! * Legacy: our groups are neither taken nor asked for while the peer's last word is `up`
//!   (heard, not `active`): the request waits until it says `active` (then we ask) or is
//!   declared dead (then we take). 3.0.6's `req_resource` takes them at once when no other node
//!   is `active`, but an `up` can be stale — a peer that started first and never heard us
//!   declares us dead at the end of its `initdead` and takes our groups, while its `up`, sent
//!   just before and overtaking (or outliving) its `active`, still looks current to us: both
//!   nodes then run our groups. The wait lasts at most the peer's `initdead` (a starting peer
//!   turns `active` at its comm-up) or its dead time; see `peer_status_unsettled`.
//! * Legacy: an `ip-request` that got no answer within `RQSTDELAY` is sent again (3.0.6 asks
//!   once). A lost request or answer otherwise leaves the group stopped on both nodes for
//!   good: a message from a peer we have no status of yet is not asked for again when it goes
//!   missing (3.0.6's rule).
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
//! * A peer returning after a partition (two nodes) does not make us give everything up and
//!   restart (3.0.6 does, on both nodes: the service is down for the restart, `initdead` and
//!   the negotiation, and the address is not announced again afterwards). The two nodes
//!   exchange `hb_heal` reports and each group both run stays on one of them, the other
//!   stopping its copy; the keeper announces the group's addresses again
//!   ([`Resources::poll_announce`]). A 3.0.6 peer sends no report: we keep what we run while
//!   it gives up and restarts on its own. The rule is in `heal.rs`.
//! * With three or more nodes, the give-up 2 s after a return from a partition does not wait
//!   for the cluster to look stable (3.0.6's does, and two nodes that took each other's groups
//!   can each wait for the other for good, both running them): acquisitions not yet started and a standby exchange
//!   are dropped, actions in flight finish, and everything is released.
//! * A takeover decided before our comm-up (a peer's death during `initdead`, its `shutdone`, its
//!   reset) is carried out at comm-up only if the peer is still gone: one that restarted
//!   meanwhile negotiates as any starting peer (3.0.6 queues the takeover and runs it at
//!   comm-up regardless, taking groups the new incarnation may have started).
//! * ipfail (ping-node counting) is not part of this module: in 3.0.6 it is a separate API
//!   client whose only resource effect is `hb_standby all|foreign`. It is built in as
//!   [`crate::ipfail`], which the joined node hands to [`Resources::handle_ipfail_giveup`]
//!   (the standby of [`Command::Standby`] without the script's log line).
//! * Resource monitoring (`env HB_MONITOR_*`, hb's own) is decided here too ([`MonitorConfig`]):
//!   checks and restarts go out through [`Resources::poll_monitor`], their outcome comes back
//!   through [`Resources::handle_monitor_result`].
//!
//! # Rooms
//!
//! This file holds the machine's state and its plumbing (queues, `settle`); each other file
//! one part of its `impl`: `types` (the public types), `receive` (inputs, and the two-node
//! protocol's messages), `standby` (`hb_standby`, `ask_resources`, auto-failback, the hand-over
//! of failed groups), `takeover` (a peer's death, STONITH, takeover; our shutdown and
//! give-up), `jobs` (the background scripts, as actions out and results in), `timer` (the
//! timer table, `handle_timeout`, `poll_timeout`), `queries` (outputs and status), `monitor`,
//! `multi` (three or more nodes), `heal` (a healed split: who keeps what), `msg` (the
//! messages), `log` (heartbeat's log texts).

mod heal;
mod jobs;
mod log;
mod monitor;
mod msg;
mod multi;
mod queries;
mod receive;
mod standby;
mod takeover;
mod timer;
mod types;

pub use heal::keeps_group;
pub use log::{Level, LogLine, LogMsg, Origin as LogOrigin, RESOURCE_MANAGER};
pub use monitor::{
    MonitorConfig, MonitorRequest, MonitorResult, DEFAULT_MONITOR_FAILURES,
    DEFAULT_MONITOR_RESTARTS,
};
pub use msg::{
    GroupMask, HealKind, Millis, ParseError, ResourceHeld, ResourceInfo, ResourceMsg, RscSet,
    StandbyInfo, StandbySet, StonithResult, F_GROUPS, T_ASKRESOURCES, T_FENCE, T_IPREQUEST,
    T_IPREQUEST_RESP, T_RESOURCES, T_SHUTDONE, T_STARTING, T_STONITH, T_TAKEOVER,
};
pub use types::*;

use heapless::{Deque, String, Vec};

use crate::config::{AutoFailback, NodeName};
use crate::time::{Duration, Instant};

use jobs::{Job, JobKind};
use monitor::{MonitorQueue, Watch};
use timer::TimerTable;

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
/// hb's own: a peer returning after a partition that has not sent its heal report this much
/// later is heartbeat 3.0.6. An hb peer answers within a round trip (it sees the return at
/// the first status that crosses the healed link, as we do); 3.0.6 starts giving up
/// [`PARTITION_RESTART_DELAY`] after it sees the return, and our addresses must be announced
/// before its copies stop.
pub const HEAL_REPORT_TIMEOUT: Duration = Duration::from_secs(1);
/// hb's own: a 3.0.6 peer (no heal report) that has not begun to give up this much after the
/// report deadline is reported as stuck. It begins [`PARTITION_RESTART_DELAY`] after it sees
/// the return, saying so at once (`t=resource info=shutdown`), unless a resource action of its
/// own still runs — and for ever when it lost one of its own messages (its FIFO reader drops
/// a message written in pieces a second apart, as `ha_clustermsg` does on a loaded machine).
pub const CLASSIC_GIVEUP_WAIT: Duration = Duration::from_secs(10);

/// Queue capacities. One input produces at most a few messages per group.
const OUT_CAP: usize = 128;
const LOG_CAP: usize = 128;
const JOB_CAP: usize = 8;
const REMOTE_CAP: usize = 16;
const ANNOUNCE_CAP: usize = 64;
/// The longest group key kept (haresources' whole-group text limit).
pub const KEY_LEN: usize = crate::config::haresources::GROUP_TEXT_LEN;

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
    /// Legacy: we asked the peer for it (`ip-request`); when to ask again if no answer came.
    asked_until: Option<Instant>,
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
    /// A reset of it was issued and has not finished, even if `fence` was cleared since (it
    /// came back meanwhile): the reset still lands, on whatever incarnation runs then.
    reset_issued: bool,
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
        reset_issued: false,
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
        /// The request's number (`hb_sbid`), if its asker gave it one.
        xid: Option<u32>,
    },
    /// We no longer run our standby request of this number (`hb_standby_cancel`).
    StandbyCancel(u32),
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
    /// hb's heal report (two nodes): what we run, what we ran before the split.
    Heal {
        held: u32,
        kept: u32,
        kind: HealKind,
    },
    /// hb's `hb_fence` (two nodes, `HB_FENCE_DELAY`): we will reset `node` in `in_ms` ms.
    FenceNotice {
        node: NodeId,
        in_ms: u32,
    },
}

/// Names for log lines and message text.
#[derive(Clone, Debug)]
struct Table<const NODES: usize, const GROUPS: usize> {
    nodes: Vec<NodeName, NODES>,
    groups: Vec<GroupInfo, GROUPS>,
    local: NodeId,
}

impl<const NODES: usize, const GROUPS: usize> Table<NODES, GROUPS> {
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
    /// The number of the standby request under way (ours or the peer's), as its asker gave
    /// it; none from 3.0.6.
    standby_xid: Option<u32>,
    /// The number our last standby request had.
    standby_seq: u32,
    needs_failback: bool,
    takeover_in_progress: bool,
    local_work_done: bool,
    foreign_work_done: bool,
    announced: bool,

    comm_up: bool,
    /// Legacy, two nodes: the request for our groups that comm-up makes (`req_our_resources`)
    /// has not gone out yet: a pending reset held it back, or a heal dropped it before it
    /// ran. Made as soon as neither stands in the way (see `settle`), or nobody would ever
    /// start our groups (hbsim seeds 61759, 91844 and 93560 with HB_FENCE_DELAY).
    req_owed: bool,
    /// Two nodes with `HB_FENCE_DELAY`: the peer said it resets us (`hb_fence`); our own
    /// reset of it waits until then (see `start_fence`).
    fence_hold: Option<Instant>,
    /// When our next `hb_fence` is due, while a reset of ours waits.
    fence_notice_due: Option<Instant>,
    /// Re-executed keeping our groups ([`Resources::resume`]).
    resumed: bool,
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
    /// Resource monitoring: the settings, each group's watch, the requests out.
    monitor: Option<MonitorConfig>,
    watches: [Watch; GROUPS],
    monitor_out: MonitorQueue,
    /// After a split: who keeps what, and the groups to announce again.
    heal: heal::Heal,
    announce: Deque<GroupId, ANNOUNCE_CAP>,
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
    asked_until: None,
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
            standby_xid: None,
            standby_seq: 0,
            needs_failback: false,
            takeover_in_progress: false,
            local_work_done: false,
            foreign_work_done: false,
            announced: false,
            comm_up: false,
            req_owed: false,
            fence_hold: None,
            fence_notice_due: None,
            resumed: false,
            shutdown_before_comm: None,
            rsc_needs_shutdown: false,
            shutdown_in_progress: false,
            giveup_started: false,
            restart: false,
            exited: false,
            halted: false,
            peers: [Peer::NEW; NODES],
            groups: [GROUP_NEW; GROUPS],
            monitor: None,
            watches: [Watch::NEW; GROUPS],
            monitor_out: MonitorQueue::new(),
            heal: heal::Heal::default(),
            announce: Deque::new(),
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
            Out::Ask { set, info, xid } => ResourceMsg::AskResources {
                rsc_hold: set,
                info,
                xid: xid.map(GroupMask::new),
            },
            Out::StandbyCancel(xid) => ResourceMsg::StandbyCancel {
                xid: GroupMask::new(xid),
            },
            // (Loopback only; what it becomes.)
            Out::StandbyRequest(set) => ResourceMsg::AskResources {
                rsc_hold: set,
                info: StandbyInfo::Me,
                xid: None,
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
            Out::Heal { held, kept, kind } => ResourceMsg::Heal {
                groups: GroupMask::new(held),
                kept: GroupMask::new(kept),
                kind,
            },
            Out::FenceNotice { node, in_ms } => ResourceMsg::FenceNotice {
                node: self.table.node_name(node),
                in_ms: Millis::new(in_ms),
            },
        }
    }

    /// After every input: process our own messages, let jobs run, until nothing moves.
    fn settle(&mut self) {
        if self.req_owed && !self.reset_pending() {
            self.req_owed = false;
            self.req_our_resources(false);
        }
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
        self.service_monitor();
    }
}

#[cfg(test)]
mod tests;
