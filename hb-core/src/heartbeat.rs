//! One cluster node, whole: membership and reliable delivery ([`Membership`]) joined with resource
//! ownership ([`Resources`]) and, when `ha.cf` respawns it, ipfail ([`Ipfail`]). This is the
//! sans-IO engine of design §2, which calls it `Membership<NODES, MEDIA, GROUPS>`: the daemon (or
//! the simulator) feeds it packets, time, operator commands and the results of resource
//! actions, and takes out packets, [`Event`]s (membership, `Acquire`, `Release`, `Fence`,
//! `Reboot`, `Exit`, log lines) and the next deadline.
//!
//! # How the two machines are joined
//! Every input goes to the machine it concerns, and then everything that follows from it is
//! carried across at once, until neither machine has anything more to say:
//!
//! | engine [`engine::Event`] | resources input |
//! |---|---|
//! | `CommUp` | [`Resources::comm_up`] (the `initdead` deaths come before it) |
//! | `NodeStatus { init \| up }` | [`NodeEvent::Up`] |
//! | `NodeStatus { active }` | [`NodeEvent::Active`] |
//! | `Restarted` | [`NodeEvent::Restarted`] (the engine reports it before the status) |
//! | `NodeDead { heard_from }` | [`NodeEvent::Dead`] |
//! | `ReturnedAfterPartition` | [`NodeEvent::ReturnedAfterPartition`] |
//! | `NoLocalHeartbeat` | [`Command::Restart`] |
//! | `Message` of a resource type from a peer | [`ResourceMsg::parse`], [`Resources::handle_message`] |
//! | `Message` of a resource type from us | nothing: [`Resources`] loops its own back |
//!
//! ipfail ([`crate::ipfail`]) is a client started at comm-up, after the resource machine has
//! taken it. It sees status changes (`NodeStatus`, `NodeDead` as `dead`), link changes (`LinkUp`,
//! `LinkDead`, and a ping node's death as its link's), the peer's `resource` reports (as they
//! reach [`Resources`]) and the messages of its own types, which it consumes while it runs.
//! Its messages go to [`Membership::send_cluster_message`], its give-up to
//! [`Resources::handle_ipfail_giveup`], its log lines out as [`Event::Ipfail`]. What it counts
//! is [`Heartbeat::ping_count`]; what it knows, [`Heartbeat::ipfail`].
//!
//! Every message [`Resources::poll_message`] hands out goes to
//! [`Membership::send_cluster_message`] (our `shutdone` among them). The engine never waits for a
//! resource action: its status messages go out every `keepalive` whatever runs.
//!
//! Resource messages reach [`Resources`] in their sender's order, as it requires. The engine
//! delivers a message that arrives after a gap at once (3.0.6 does); here such a message is
//! held (up to [`HELD_MESSAGES`]) until the gap is filled, or until the engine stops asking for
//! it (the sender NAKed it, or restarted, returned or died: what is held from it is then
//! handed on first). A stale report overtaking a newer one would otherwise leave a peer's
//! holdings or stability wrong until its next report (with three or more nodes: a withdrawn
//! claim that looks current, and a group nobody starts).
//!
//! # Events
//! [`Heartbeat::poll_event`] gives the engine's events as they happened (resource messages
//! excepted: they are consumed here) with ours among them, then the log lines of the resource
//! logic, then its actions. Drain it after every input. Each [`Event::Acquire`],
//! [`Event::Release`] and [`Event::Fence`] is answered, whenever it is done, with
//! [`Heartbeat::handle_action_done`].
//!
//! # Memory
//! On a 64-bit host `Heartbeat<2, 4, 8>` (two nodes, four media, eight groups) is 68 512
//! bytes: the engine 50 832 (most of it the send history, see [`engine`]), the resource
//! machine 12 504, ipfail 360, the held messages [`HELD_MESSAGES`] × 216, and 32 × 40 for
//! events of our own. The engine's events are not copied: they wait in the engine's queue
//! for the caller, the consumed ones marked, so that queue (`EVENT_QUEUE`) also bounds what
//! the caller can leave unpolled; before each input all but the newest half of what it left
//! is dropped (and counted in `EventsDropped`), so that the resource machine never misses
//! one. `cargo test -p hb-core --lib heartbeat::tests::memory_size -- --nocapture` prints it.

use heapless::{Deque, Vec};

use crate::auth::Keyring;
use crate::config::{HaCf, HaResources};
use crate::engine::{
    self, ClusterMessage, MediumId, Membership, MembershipConfig, Node, NodeKind, NodeStatus,
    RxError, SendError, Transmit, DEFAULT_HISTORY_BYTES, EVENT_QUEUE, MAXMSGHIST,
};
use crate::ipfail::{self, Ipfail, IpfailConfig, IpfailMsg};
use crate::msg::Message;
use crate::resources::{
    self, Action, ActionDone, GroupId, Holder, LogLine, LogMsg, MonitorConfig, MonitorRequest,
    MonitorResult, NodeEvent, ParseError, ResourceMsg, Resources, ResourcesConfig, ResourcesError,
    RscSet, RscState,
};
use crate::time::{Duration, Instant};

pub use crate::engine::NodeId;
pub use crate::resources::Command;

/// Fields a resource message has at most (`ip-request-resp`: five).
const RESOURCE_FIELDS: usize = 8;

/// Peers' resource messages held back until the gap before them is filled, by default (the
/// `HELD` parameter of [`Heartbeat`]). When more come, the oldest goes on out of order
/// ([`Event::OutOfOrder`]). Enough for four nodes on lossy media; in hbsim eight nodes on a
/// medium losing 30 % need 64.
pub const HELD_MESSAGES: usize = 16;

/// What [`Heartbeat::new`] needs: the engine's configuration and the resource machine's.
/// [`HeartbeatConfig::from_files`] makes both from the same files.
#[derive(Clone, Debug)]
pub struct HeartbeatConfig<'a> {
    pub membership: MembershipConfig,
    pub resources: ResourcesConfig<'a>,
    /// Run ipfail built in ([`crate::ipfail`]): `ha.cf` has a `respawn` line for it
    /// ([`ipfail::configured`]), which the daemon then does not spawn.
    pub ipfail: bool,
    /// Resource monitoring (`env HB_MONITOR_*`, [`MonitorConfig::from_hacf`]); `None`: off.
    pub monitor: Option<MonitorConfig>,
    /// The daemon re-executed itself keeping these groups (a mask of haresources indexes),
    /// which run here already: [`Resources::resume`]. `None`: a plain start.
    pub resume: Option<u32>,
}

impl<'a> HeartbeatConfig<'a> {
    /// Both configurations from `ha.cf` and `haresources`, for the node `local_node`; the
    /// rest as [`MembershipConfig::from_hacf`] takes it. Resource timers are heartbeat's
    /// ([`resources::Timing::default`]); change `resources.timing` to shorten them.
    pub fn from_files(
        hacf: &'a HaCf,
        haresources: &'a HaResources,
        local_node: &'a str,
        uuid: [u8; 16],
        generation: u64,
        keys: Keyring,
        seed: u64,
    ) -> Result<HeartbeatConfig<'a>, SetupError> {
        let engine = MembershipConfig::from_hacf(hacf, local_node, uuid, generation, keys, seed)
            .map_err(SetupError::Membership)?;
        let resources = ResourcesConfig::from_config(local_node, hacf, haresources);
        Ok(HeartbeatConfig {
            membership: engine,
            resources,
            ipfail: ipfail::configured(hacf),
            monitor: MonitorConfig::from_hacf(hacf),
            resume: None,
        })
    }
}

/// Why a node could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SetupError {
    Membership(engine::SetupError),
    Resources(ResourcesError),
    /// The two configurations list different nodes (or in another order).
    NodesDiffer,
}

impl core::fmt::Display for SetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SetupError::Membership(e) => e.fmt(f),
            SetupError::Resources(e) => e.fmt(f),
            SetupError::NodesDiffer => {
                f.write_str("membership and resources were configured with different nodes")
            }
        }
    }
}

/// Why a command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CommandError {
    /// Standby and takeover exist only for two-node clusters.
    NotSupported,
    /// A shutdown was asked for already.
    AlreadyShuttingDown,
}

impl core::fmt::Display for CommandError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CommandError::NotSupported => resources::CommandError::NotSupported.fmt(f),
            CommandError::AlreadyShuttingDown => f.write_str("shutdown already in progress"),
        }
    }
}

/// Something for the caller to log or do.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
// No alloc in the core: a message stays inline in the fixed event queue (large with the
// `client-messages` feature), boxing it is not an option.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// Membership, delivery and shutdown, as the engine reports them (never a resource
    /// message: those are handled here; messages of other types are passed on).
    Membership(engine::Event),
    /// Start a group ([`Action::Acquire`]); answer with [`ActionDone::Acquired`].
    Acquire(GroupId),
    /// Stop a group ([`Action::Release`]); answer with [`ActionDone::Released`].
    Release(GroupId),
    /// Reset a node with the STONITH device; answer with [`ActionDone::Fenced`].
    Fence(NodeId),
    /// A group could not be stopped: reboot now. The node does nothing more.
    Reboot,
    /// Our `shutdone` is out: stop (or, with `restart`, restart) the daemon.
    Exit { restart: bool },
    /// A line of the resource logic's log ([`Heartbeat::log_line`] gives its text).
    Log(LogMsg),
    /// A peer's resource message that does not parse; it was ignored.
    BadResourceMessage { from: NodeId, error: ParseError },
    /// One of our resource messages could not be sent (the caller is not draining
    /// [`Heartbeat::poll_transmit`]).
    ResourceMessageNotSent { error: SendError },
    /// More peers' messages overtook missing ones than can be held ([`HELD_MESSAGES`]): the
    /// oldest held one, from `from`, was handled before the messages it overtook.
    OutOfOrder { from: NodeId },
    /// A line of ipfail's log ([`ipfail::LogMsg::line`] gives its text).
    Ipfail(ipfail::LogMsg),
    /// One of ipfail's messages could not be sent.
    IpfailMessageNotSent { error: SendError },
}

/// The events [`Heartbeat`] adds of its own, as it keeps them (small: the engine's, with their
/// messages, stay in the engine's queue).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Own {
    BadResourceMessage { from: NodeId, error: ParseError },
    ResourceMessageNotSent { error: SendError },
    OutOfOrder { from: NodeId },
    Ipfail(ipfail::LogMsg),
    IpfailMessageNotSent { error: SendError },
}

impl From<Own> for Event {
    fn from(o: Own) -> Event {
        match o {
            Own::BadResourceMessage { from, error } => Event::BadResourceMessage { from, error },
            Own::ResourceMessageNotSent { error } => Event::ResourceMessageNotSent { error },
            Own::OutOfOrder { from } => Event::OutOfOrder { from },
            Own::Ipfail(l) => Event::Ipfail(l),
            Own::IpfailMessageNotSent { error } => Event::IpfailMessageNotSent { error },
        }
    }
}

impl From<Action> for Event {
    fn from(a: Action) -> Event {
        match a {
            Action::Acquire(g) => Event::Acquire(g),
            Action::Release(g) => Event::Release(g),
            Action::Fence(n) => Event::Fence(n),
            Action::Reboot => Event::Reboot,
            Action::Exit { restart } => Event::Exit { restart },
        }
    }
}

/// One cluster node: see the [module documentation](self). `NODES`: cluster plus ping nodes;
/// `MEDIA`: media; `GROUPS`: haresources lines (at most 32); `HIST`, `HIST_BYTES`: the send
/// history ([`engine::History`]); `HELD`: resource messages held for order
/// ([`HELD_MESSAGES`]); `EVENTS` (at most 64): the engine's event queue
/// ([`engine::EVENT_QUEUE`]; room for `nodes × (links + 2) + 8`, or setup fails).
#[derive(Debug)]
pub struct Heartbeat<
    const NODES: usize,
    const MEDIA: usize,
    const GROUPS: usize,
    const HIST: usize = MAXMSGHIST,
    const HIST_BYTES: usize = DEFAULT_HISTORY_BYTES,
    const HELD: usize = HELD_MESSAGES,
    const EVENTS: usize = EVENT_QUEUE,
> {
    engine: Membership<NODES, MEDIA, HIST, HIST_BYTES, EVENTS>,
    resources: Resources<NODES, GROUPS>,
    ipfail: Ipfail,
    /// The caller's engine events stay in the engine's own queue until polled: the first
    /// `routed` of them have been carried across, and bit `k` of `hidden` says the `k`-th was
    /// consumed here (a resource message) and is not the caller's.
    routed: usize,
    hidden: u64,
    /// Membership events handed out (or skipped) so far, wrapping: the clock of `own`.
    popped: u32,
    /// How many of the routed engine events precede the events pushed now.
    before: usize,
    /// Our own events, each after the engine events counted by its tag.
    own: Deque<(u32, Own), EVENTS>,
    events_dropped: u32,
    /// Resource messages that overtook a missing message of their sender.
    held: Vec<ClusterMessage, HELD>,
    /// The last wall clock we were given and when: inputs without one count on from it.
    wall: (Instant, u64),
}

impl<
        const NODES: usize,
        const MEDIA: usize,
        const GROUPS: usize,
        const HIST: usize,
        const HIST_BYTES: usize,
        const HELD: usize,
        const EVENTS: usize,
    > Heartbeat<NODES, MEDIA, GROUPS, HIST, HIST_BYTES, HELD, EVENTS>
{
    /// Starts the node at `now`: the first status messages go out, and a single-node cluster
    /// comes up (and asks for its groups) at once.
    pub fn new(
        cfg: &HeartbeatConfig<'_>,
        now: Instant,
        wall_secs: u64,
    ) -> Result<Self, SetupError> {
        const { assert!(EVENTS <= 64, "consumed events are marked in a u64") };
        if cfg.membership.nodes.as_slice() != cfg.resources.nodes {
            return Err(SetupError::NodesDiffer);
        }
        let mut resources = Resources::new(&cfg.resources).map_err(SetupError::Resources)?;
        resources.set_monitor(cfg.monitor);
        if let Some(running) = cfg.resume {
            resources.resume(running).map_err(SetupError::Resources)?;
        }
        let engine =
            Membership::new(&cfg.membership, now, wall_secs).map_err(SetupError::Membership)?;
        let ipfail = Ipfail::new(&IpfailConfig {
            enabled: cfg.ipfail,
            local: engine.local_node(),
            nodes: cfg.resources.nodes.len(),
            keepalive: cfg.membership.keepalive,
            auto_failback: cfg.resources.auto_failback,
            groups: cfg.resources.groups.len(),
        });
        let mut hb = Heartbeat {
            engine,
            resources,
            ipfail,
            routed: 0,
            hidden: 0,
            popped: 0,
            before: 0,
            own: Deque::new(),
            events_dropped: 0,
            held: Vec::new(),
            wall: (now, wall_secs),
        };
        hb.pump(now);
        Ok(hb)
    }

    // -----------------------------------------------------------------------------------------
    // Inputs.

    /// A packet read from `medium` (see [`Membership::handle_packet`]). On `Err` nothing changed.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        wall_secs: u64,
        medium: MediumId,
        bytes: &[u8],
    ) -> Result<(), RxError> {
        self.wall = (now, wall_secs);
        self.make_room();
        let r = self.engine.handle_packet(now, wall_secs, medium, bytes);
        self.pump(now);
        r
    }

    /// Runs what is due; early or repeated calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant, wall_secs: u64) {
        self.wall = (now, wall_secs);
        self.make_room();
        self.engine.handle_timeout(now, wall_secs);
        self.pump(now);
        self.resources.handle_timeout(now);
        self.pump(now);
        let view = self.ipfail_view();
        self.ipfail.handle_timeout(now, view);
        self.pump(now);
    }

    /// An operator command: `hb_standby`, `hb_takeover` (two-node clusters), shutdown
    /// (SIGTERM: it waits for comm-up and for resource work in flight, then hands everything
    /// over and ends in [`Event::Exit`]), restart.
    pub fn handle_command(
        &mut self,
        now: Instant,
        wall_secs: u64,
        cmd: Command,
    ) -> Result<(), CommandError> {
        self.wall = (now, wall_secs);
        self.make_room();
        if cmd == Command::Shutdown {
            self.engine
                .handle_command(now, wall_secs, engine::Command::Shutdown)
                .map_err(|_| CommandError::AlreadyShuttingDown)?;
        }
        let r = self
            .resources
            .handle_command(now, cmd)
            .map_err(|resources::CommandError::NotSupported| CommandError::NotSupported);
        self.pump(now);
        r
    }

    /// We are about to re-execute ourselves keeping our resources (a reload): peers are asked
    /// for a longer dead time from now on ([`Membership::announce_restart`]).
    pub fn announce_restart(&mut self, now: Instant, wall_secs: u64) {
        self.wall = (now, wall_secs);
        self.make_room();
        self.engine.announce_restart(now, wall_secs);
        self.pump(now);
    }

    /// A resource action finished.
    pub fn handle_action_done(&mut self, now: Instant, done: ActionDone) {
        self.make_room();
        self.resources.handle_action_done(now, done);
        self.pump(now);
    }

    /// A resource-monitoring request ([`poll_monitor`](Self::poll_monitor)) is done
    /// ([`Resources::handle_monitor_result`]).
    pub fn handle_monitor_result(&mut self, now: Instant, result: MonitorResult) {
        self.make_room();
        self.resources.handle_monitor_result(now, result);
        self.pump(now);
    }

    /// The next resource-monitoring request: check a group, or restart it in place; answer
    /// with [`handle_monitor_result`](Self::handle_monitor_result). Kept apart from
    /// [`poll_event`](Self::poll_event) so that [`Event`] keeps its variants; poll both after
    /// every input.
    pub fn poll_monitor(&mut self) -> Option<MonitorRequest> {
        self.resources.poll_monitor()
    }

    /// The next group whose addresses to announce again (gratuitous ARP, unsolicited
    /// neighbour advertisements) after a split healed ([`Resources::poll_announce`]). Kept
    /// apart from [`poll_event`](Self::poll_event) like [`poll_monitor`](Self::poll_monitor);
    /// nothing to answer.
    pub fn poll_announce(&mut self) -> Option<GroupId> {
        self.resources.poll_announce()
    }

    /// A ping node answered (see [`Membership::handle_ping_reply`]).
    pub fn handle_ping_reply(
        &mut self,
        now: Instant,
        node: NodeId,
    ) -> Result<(), engine::NotPingNode> {
        self.make_room();
        let r = self.engine.handle_ping_reply(now, node);
        self.pump(now);
        r
    }

    /// A message from a local API client to the cluster (heartbeat's `send_cluster_msg` for
    /// `hb_api`): the caller has added `from_id`/`to_id`/`client_gen` as 3.0.6 does. See
    /// [`Membership::send_cluster_message`].
    pub fn send_client_message(
        &mut self,
        now: Instant,
        wall_secs: u64,
        fields: &[crate::msg::Field<'_>],
    ) -> Result<u64, SendError> {
        self.wall = (now, wall_secs);
        self.make_room();
        let r = self.engine.send_cluster_message(now, wall_secs, fields);
        self.pump(now);
        r
    }

    /// See [`Membership::set_keys`].
    pub fn set_keys(&mut self, keys: Keyring) -> Result<(), engine::SetupError> {
        self.engine.set_keys(keys)
    }

    /// See [`Membership::set_load_average`].
    pub fn set_load_average(&mut self, ld: &str) {
        self.engine.set_load_average(ld);
    }

    // -----------------------------------------------------------------------------------------
    // Outputs.

    /// The next packet to send (see [`Membership::poll_transmit`]). Call until `None`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.engine.poll_transmit(now, buf)
    }

    /// A ping node to send an echo to now (see [`Membership::poll_ping`]).
    pub fn poll_ping(&mut self) -> Option<NodeId> {
        self.engine.poll_ping()
    }

    /// The next event: the engine's (in order), then log lines, then actions.
    pub fn poll_event(&mut self) -> Option<Event> {
        loop {
            if let Some(&(tag, _)) = self.own.front() {
                // Tags never run ahead of the routed events; compare on the wrapping clock.
                if tag.wrapping_sub(self.popped) as i32 <= 0 || self.routed == 0 {
                    return self.own.pop_front().map(|(_, e)| e.into());
                }
            }
            if self.routed == 0 {
                break;
            }
            if let Some(e) = self.pop_routed() {
                return Some(Event::Membership(e));
            }
        }
        // What the engine could not queue (only counted once all it queued is out).
        if let Some(e) = self.engine.poll_event() {
            return Some(Event::Membership(e));
        }
        if self.events_dropped > 0 {
            let count = core::mem::take(&mut self.events_dropped);
            return Some(Event::Membership(engine::Event::EventsDropped { count }));
        }
        if let Some(line) = self.resources.poll_log() {
            return Some(Event::Log(line.msg));
        }
        self.resources.poll_action().map(Event::from)
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.engine.poll_timeout(),
            self.resources.poll_timeout(),
            self.ipfail.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // -----------------------------------------------------------------------------------------
    // Status.

    pub fn local_node(&self) -> NodeId {
        self.engine.local_node()
    }

    /// Our status: `init`, `up`, then `active` after comm-up.
    pub fn local_status(&self) -> NodeStatus {
        self.engine.local_status()
    }

    /// What membership knows of a node (status, links, generation, …).
    pub fn node(&self, id: NodeId) -> Option<&Node<MEDIA>> {
        self.engine.node(id)
    }

    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &Node<MEDIA>)> {
        self.engine.nodes()
    }

    /// Whether the link of `medium` to `node` is up.
    pub fn link_up(&self, node: NodeId, medium: MediumId) -> bool {
        self.engine.link_up(node, medium)
    }

    pub fn is_comm_up(&self) -> bool {
        self.engine.is_comm_up()
    }

    /// Who holds the group, as far as this node knows.
    pub fn holder(&self, group: GroupId) -> Holder {
        self.resources.holder(group)
    }

    /// [`holder`](Self::holder) of every group, in haresources order.
    pub fn holdings(&self) -> impl Iterator<Item = (GroupId, Holder)> + '_ {
        self.resources.holdings()
    }

    /// Our role as `cl_status rscstatus` says it: `none` (legacy `auto_failback`),
    /// `transition`, or the set we hold (`all`, `local`, `foreign`).
    pub fn rscstatus(&self) -> &'static str {
        self.resources.rscstatus()
    }

    /// The set we announce we hold.
    pub fn i_hold(&self) -> RscSet {
        self.resources.i_hold()
    }

    /// 3.0.6's `resourcestate`.
    pub fn resource_state(&self) -> RscState {
        self.resources.resource_state()
    }

    /// No resource work in flight or expected.
    pub fn is_stable(&self) -> bool {
        self.resources.is_stable()
    }

    /// The text of a log line from [`Event::Log`].
    pub fn log_line(&self, msg: LogMsg) -> LogLine<'_> {
        self.resources.log_line(msg)
    }

    /// The membership machine, for everything else it can tell.
    pub fn membership(&self) -> &Membership<NODES, MEDIA, HIST, HIST_BYTES, EVENTS> {
        &self.engine
    }

    /// The resource machine, for everything else it can tell.
    pub fn resources(&self) -> &Resources<NODES, GROUPS> {
        &self.resources
    }

    /// ipfail: whether it runs (or why not), our count and the peer's, a pending give-up.
    pub fn ipfail(&self) -> &Ipfail {
        &self.ipfail
    }

    /// Ping nodes whose status is `ping` (what ipfail counts).
    pub fn ping_count(&self) -> u32 {
        self.engine
            .nodes()
            .filter(|(_, n)| n.kind() == NodeKind::Ping && n.status() == NodeStatus::Ping)
            .count() as u32
    }

    // -----------------------------------------------------------------------------------------
    // The join.

    /// The wall clock at `now`, counted on from the last one given.
    fn wall_at(&self, now: Instant) -> u64 {
        let (at, wall) = self.wall;
        wall + now.saturating_since(at).as_millis() / Duration::from_secs(1).as_millis()
    }

    /// The oldest routed engine event, out of the engine's queue; `None` if it was consumed
    /// here.
    fn pop_routed(&mut self) -> Option<engine::Event> {
        let e = self.engine.poll_event();
        self.routed -= 1;
        self.popped = self.popped.wrapping_add(1);
        let hidden = self.hidden & 1 != 0;
        self.hidden >>= 1;
        e.filter(|_| !hidden)
    }

    /// Before an input: a caller that did not drain the events of earlier inputs loses the
    /// oldest of them (counted in `EventsDropped`) rather than the engine's room for new
    /// ones, which must all reach the resource machine.
    fn make_room(&mut self) {
        while self.routed > EVENTS / 2 {
            if self.pop_routed().is_some() {
                self.events_dropped = self.events_dropped.saturating_add(1);
            }
        }
    }

    /// Carries events and messages across until both machines are quiet.
    fn pump(&mut self, now: Instant) {
        let wall = self.wall_at(now);
        self.before = self.routed;
        loop {
            let mut moved = false;
            while let Some(e) = self.engine.event(self.routed).cloned() {
                moved = true;
                let k = self.routed;
                self.before = k;
                self.routed += 1;
                if !self.route(now, e) {
                    self.hidden |= 1 << k;
                }
                self.before = self.routed;
            }
            while let Some(msg) = self.resources.poll_message() {
                moved = true;
                let mut m: Message<'_, RESOURCE_FIELDS> = Message::new();
                let sent = match msg.write(&mut m) {
                    Ok(()) => self
                        .engine
                        .send_cluster_message(now, wall, m.fields())
                        .map(|_| ()),
                    Err(_) => Err(SendError::TooLarge),
                };
                if let Err(error) = sent {
                    self.push(Own::ResourceMessageNotSent { error });
                }
            }
            while let Some(out) = self.ipfail.poll_output() {
                moved = true;
                match out {
                    ipfail::Output::Send(msg) => self.send_ipfail(now, wall, msg),
                    ipfail::Output::GiveUp(set) => {
                        let _ = self.resources.handle_ipfail_giveup(now, set);
                    }
                    ipfail::Output::Log(line) => self.push(Own::Ipfail(line)),
                }
            }
            if !moved && !self.release_held(now) {
                break;
            }
        }
    }

    fn send_ipfail(&mut self, now: Instant, wall: u64, msg: IpfailMsg) {
        let local = self.engine.local_node();
        let peer = self.ipfail.peer().unwrap_or(local);
        let (Some(me), Some(them)) = (self.engine.node(local), self.engine.node(peer)) else {
            return;
        };
        let (me, them) = (me.name.clone(), them.name.clone());
        let mut num = [0u8; 20];
        let mut m: Message<'_, RESOURCE_FIELDS> = Message::new();
        let sent = match msg.write(&me, &them, &mut num, &mut m) {
            Ok(()) => self
                .engine
                .send_cluster_message(now, wall, m.fields())
                .map(|_| ()),
            Err(_) => Err(SendError::TooLarge),
        };
        if let Err(error) = sent {
            self.push(Own::IpfailMessageNotSent { error });
        }
    }

    /// What ipfail sees of the cluster now.
    fn ipfail_view(&self) -> ipfail::View {
        ipfail::View {
            ping_count: self.ping_count(),
            stable: self.resources.is_stable(),
        }
    }

    /// Hands on the held messages no longer waiting for a gap, in their senders' order.
    /// Whether any was.
    fn release_held(&mut self, now: Instant) -> bool {
        let mut any = false;
        while let Some(i) = self.next_held(None, |e, m| {
            e.node(m.from).is_none_or(|n| !n.is_missing_below(m.seq))
        }) {
            let m = self.held.swap_remove(i);
            self.handle_resource_message(now, &m);
            any = true;
        }
        any
    }

    /// Hands on everything held from `node` (it restarted, returned, died, or its gap was
    /// given up on), in order.
    fn flush_held(&mut self, now: Instant, node: NodeId) {
        while let Some(i) = self.next_held(Some(node), |_, _| true) {
            let m = self.held.swap_remove(i);
            self.handle_resource_message(now, &m);
        }
    }

    /// The held message with the lowest `seq` from its sender (from `node` only, if given)
    /// that `ready` accepts. Only the lowest of each sender is ever a candidate.
    fn next_held(
        &self,
        node: Option<NodeId>,
        ready: impl Fn(&Membership<NODES, MEDIA, HIST, HIST_BYTES, EVENTS>, &ClusterMessage) -> bool,
    ) -> Option<usize> {
        self.held
            .iter()
            .enumerate()
            .filter(|(_, m)| node.is_none_or(|n| m.from == n))
            .filter(|(_, m)| !self.held.iter().any(|o| o.from == m.from && o.seq < m.seq))
            .find(|(_, m)| ready(&self.engine, m))
            .map(|(i, _)| i)
    }

    fn handle_resource_message(&mut self, now: Instant, m: &ClusterMessage) {
        let parsed = m
            .message::<RESOURCE_FIELDS>()
            .map_err(|_| ParseError::NotResource)
            .and_then(|msg| {
                ResourceMsg::parse(&msg).map(|rm| {
                    if let ResourceMsg::Resource(r) = &rm {
                        self.ipfail
                            .resource_report(now, m.from, r.isstable, r.info.is_some());
                    }
                    self.resources.handle_message(now, m.from, &rm);
                })
            });
        if let Err(error) = parsed {
            self.push(Own::BadResourceMessage {
                from: m.from,
                error,
            });
        }
    }

    /// Carries an engine event across; whether the caller is to see it.
    fn route(&mut self, now: Instant, e: engine::Event) -> bool {
        use engine::Event as E;
        if self.route_to_ipfail(now, &e) {
            return false;
        }
        match &e {
            E::Restarted { node, .. }
            | E::ReturnedAfterPartition { node }
            | E::NodeDead { node, .. }
            | E::LostManyPackets { node } => self.flush_held(now, *node),
            _ => {}
        }
        let r = &mut self.resources;
        match &e {
            E::CommUp => r.comm_up(now),
            E::NodeStatus { node, status } => match status {
                NodeStatus::Init | NodeStatus::Up => r.node_event(now, NodeEvent::Up(*node)),
                NodeStatus::Active => r.node_event(now, NodeEvent::Active(*node)),
                _ => {}
            },
            E::Restarted {
                node, announced, ..
            } => r.node_event(
                now,
                if *announced {
                    NodeEvent::RestartedKeeping(*node)
                } else {
                    NodeEvent::Restarted(*node)
                },
            ),
            E::NodeDead { node, heard_from } => r.node_event(
                now,
                NodeEvent::Dead {
                    node: *node,
                    heard_from: *heard_from,
                },
            ),
            E::ReturnedAfterPartition { node } => {
                r.node_event(now, NodeEvent::ReturnedAfterPartition(*node))
            }
            E::NoLocalHeartbeat => {
                let _ = r.handle_command(now, Command::Restart);
            }
            E::Message(m) if ResourceMsg::is_resource_type(m.msg_type()) => {
                if m.from == self.engine.local_node() {
                    return false;
                }
                let behind = self.held.iter().any(|h| h.from == m.from)
                    || self
                        .engine
                        .node(m.from)
                        .is_some_and(|n| n.is_missing_below(m.seq));
                if !behind {
                    self.handle_resource_message(now, m);
                    return false;
                }
                if self.held.is_full() {
                    // Out of room: the oldest goes on, out of order.
                    if let Some(i) = self.next_held(None, |_, _| true) {
                        let oldest = self.held.swap_remove(i);
                        self.push(Own::OutOfOrder { from: oldest.from });
                        self.handle_resource_message(now, &oldest);
                    }
                }
                let E::Message(m) = e else { unreachable!() };
                let _ = self.held.push(m);
                return false;
            }
            _ => {}
        }
        if e == E::CommUp {
            // ipfail is a client started at comm-up, after the resource logic's turn.
            let view = self.ipfail_view();
            self.ipfail.comm_up(view);
        }
        true
    }

    /// ipfail's share of an engine event (after the resource machine has had it, for comm-up:
    /// ipfail starts after it). Whether ipfail consumed it.
    fn route_to_ipfail(&mut self, now: Instant, e: &engine::Event) -> bool {
        use engine::Event as E;
        if !self.ipfail.is_running() {
            return false;
        }
        let view = self.ipfail_view();
        let is_ping = |hb: &Self, n: NodeId| {
            hb.engine
                .node(n)
                .is_some_and(|n| n.kind() == NodeKind::Ping)
        };
        match e {
            E::NodeStatus { node, status } => self.ipfail.node_status(view, *node, *status),
            E::NodeDead { node, .. } => {
                self.ipfail.node_status(view, *node, NodeStatus::Dead);
                if is_ping(self, *node) {
                    // A ping node's single link dies with it.
                    self.ipfail
                        .link_status(view, *node, ipfail::Link::PingNode, false);
                }
            }
            E::LinkUp { node, medium } => {
                self.ipfail
                    .link_status(view, *node, ipfail::Link::Medium(*medium), true)
            }
            E::LinkDead { node, medium } => {
                self.ipfail
                    .link_status(view, *node, ipfail::Link::Medium(*medium), false)
            }
            E::Message(m) if Ipfail::wants(m.msg_type()) => {
                return self.ipfail.handle_message(now, view, m.from, m);
            }
            _ => {}
        }
        false
    }

    fn push(&mut self, e: Own) {
        let tag = self.popped.wrapping_add(self.before as u32);
        if self.own.push_back((tag, e)).is_err() {
            self.events_dropped = self.events_dropped.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    #[test]
    fn memory_size() {
        let joined = core::mem::size_of::<Heartbeat<2, 4, 8>>();
        let engine = core::mem::size_of::<Membership<2, 4>>();
        let resources = core::mem::size_of::<Resources<2, 8>>();
        let own = core::mem::size_of::<(u32, Own)>();
        let held = core::mem::size_of::<ClusterMessage>();
        let ipfail = core::mem::size_of::<Ipfail>();
        std::println!(
            "Heartbeat<2, 4, 8> = {joined} bytes: Membership<2, 4> = {engine}, \
             Resources<2, 8> = {resources}, Ipfail = {ipfail}, own events {EVENT_QUEUE} × \
             {own}, held messages {HELD_MESSAGES} × {held}"
        );
        // The engine's events are not copied: the joined node adds little to its parts.
        let parts = engine + resources + ipfail + HELD_MESSAGES * held;
        assert!(
            joined < parts + EVENT_QUEUE * own + 256,
            "{joined} vs {parts}"
        );
        let budget = if cfg!(feature = "client-messages") {
            200 * 1024
        } else {
            72 * 1024
        };
        assert!(joined < budget, "{joined}");
    }

    /// Node `a` of `a b` (`b` never comes), a ping node answering late: every answer is a
    /// `Late heartbeat` event.
    fn lone_node() -> (HaCf, HaResources) {
        lone_node_with("")
    }

    fn lone_node_with(extra: &str) -> (HaCf, HaResources) {
        let text = std::format!(
            "keepalive 100ms\nwarntime 300ms\ndeadtime 500ms\ninitdead 1000ms\n\
             deadping 5000ms\nbcast eth0\nping 10.9.9.9\nauto_failback on\nnode a b\ncrm off\n{extra}"
        );
        let hacf = HaCf::parse(&text, &mut |_| {}).unwrap();
        let hares = HaResources::parse("a 10.0.0.1\n", &mut |_| {}).unwrap();
        (hacf, hares)
    }

    fn keys() -> Keyring {
        let mut k = Keyring::new();
        k.insert(1, crate::auth::Method::Sha1, b"k").unwrap();
        k.set_active(1).unwrap();
        k
    }

    #[test]
    fn events_come_out_in_order_and_an_undrained_caller_loses_only_old_ones() {
        let (hacf, hares) = lone_node();
        let mut cfg =
            HeartbeatConfig::from_files(&hacf, &hares, "a", [1; 16], 3, keys(), 1).unwrap();
        cfg.resources.timing.rqstdelay = Duration::from_millis(500);
        let mut hb: Heartbeat<3, 1, 1> = Heartbeat::new(&cfg, Instant::ZERO, 1000).unwrap();
        let ping = hb.membership().node_id("10.9.9.9").unwrap();
        // Run 30 s without ever looking at the events, the ping node answering every 400 ms.
        let mut t = Instant::ZERO;
        let mut answer = Instant::ZERO;
        while t < Instant::from_millis(30_000) {
            t = hb.poll_timeout().unwrap().min(answer);
            if t == answer {
                hb.handle_ping_reply(t, ping).unwrap();
                answer = t + Duration::from_millis(400);
            } else {
                hb.handle_timeout(t, 1000 + t.as_millis() / 1000);
            }
            let mut buf = [0u8; 2048];
            while hb.poll_transmit(t, &mut buf).is_some() {}
            while hb.poll_ping().is_some() {}
        }
        // The node went on regardless: b buried, comm up, its group asked for.
        assert!(hb.is_comm_up());
        assert_eq!(hb.holder(GroupId(0)), Holder::Local);
        let events: std::vec::Vec<Event> = core::iter::from_fn(|| hb.poll_event()).collect();
        let dropped = events.iter().find_map(|e| match e {
            Event::Membership(engine::Event::EventsDropped { count }) => Some(*count),
            _ => None,
        });
        assert!(dropped.is_some_and(|c| c > 0), "{events:?}");
        assert!(events.len() <= EVENT_QUEUE + 4, "{}", events.len());
        assert!(events.contains(&Event::Acquire(GroupId(0))), "{events:?}");
        // The newest are kept, in order: a status change of ours after its comm-up's, none
        // of the resource messages (ours come back to the engine; they are not the caller's).
        assert!(!events.iter().any(|e| matches!(
            e,
            Event::Membership(engine::Event::Message(m)) if ResourceMsg::is_resource_type(m.msg_type())
        )));
        // Drained, the next input's events all come out.
        hb.handle_command(t, 1030, Command::Standby(resources::StandbySet::All))
            .unwrap();
        let events: std::vec::Vec<Event> = core::iter::from_fn(|| hb.poll_event()).collect();
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, Event::Membership(engine::Event::EventsDropped { .. }))),
            "{events:?}"
        );
    }

    #[test]
    fn our_own_events_keep_their_place_among_the_engines() {
        let (hacf, hares) = lone_node();
        let cfg = HeartbeatConfig::from_files(&hacf, &hares, "a", [1; 16], 3, keys(), 1).unwrap();
        let mut hb: Heartbeat<3, 1, 1> = Heartbeat::new(&cfg, Instant::ZERO, 1000).unwrap();
        for _ in core::iter::from_fn(|| hb.poll_event()) {}
        // Two own events around an engine event, as if pushed while it was routed and after.
        hb.before = 0;
        hb.push(Own::OutOfOrder { from: NodeId(1) });
        hb.engine.handle_timeout(Instant::from_millis(1001), 1001);
        hb.pump(Instant::from_millis(1001));
        hb.before = hb.routed;
        hb.push(Own::OutOfOrder { from: NodeId(0) });
        let events: std::vec::Vec<Event> = core::iter::from_fn(|| hb.poll_event()).collect();
        let first = events
            .iter()
            .position(|e| *e == Event::OutOfOrder { from: NodeId(1) });
        let dead = events
            .iter()
            .position(|e| matches!(e, Event::Membership(engine::Event::NodeDead { .. })));
        let last = events
            .iter()
            .position(|e| *e == Event::OutOfOrder { from: NodeId(0) });
        assert_eq!(first, Some(0), "{events:?}");
        assert!(dead.is_some() && last > dead, "{events:?}");
        assert_eq!(
            last,
            Some(events.len() - 1 - count_tail(&events)),
            "{events:?}"
        );
    }

    /// Resource monitoring from ha.cf's env lines: the check comes due on the joined node's
    /// timeout, goes out through `poll_monitor`, and a failed one is logged as an event.
    #[test]
    fn monitoring_runs_on_the_joined_nodes_timers() {
        let (hacf, hares) = lone_node_with(
            "env HB_MONITOR_INTERVAL=2\nenv HB_MONITOR_FAILURES=1\nenv HB_MONITOR_RESTARTS=0\n",
        );
        let cfg = HeartbeatConfig::from_files(&hacf, &hares, "a", [1; 16], 3, keys(), 1).unwrap();
        assert_eq!(
            cfg.monitor.map(|m| (m.interval, m.failures, m.restarts)),
            Some((Duration::from_secs(2), 1, 0))
        );
        let mut hb: Heartbeat<3, 1, 1> = Heartbeat::new(&cfg, Instant::ZERO, 1000).unwrap();
        let mut t = Instant::ZERO;
        let mut lines = std::vec::Vec::new();
        let check = loop {
            assert!(t < Instant::from_millis(60_000), "no check asked for");
            t = hb.poll_timeout().unwrap();
            hb.handle_timeout(t, 1000 + t.as_millis() / 1000);
            let mut buf = [0u8; 2048];
            while hb.poll_transmit(t, &mut buf).is_some() {}
            while hb.poll_ping().is_some() {}
            while let Some(e) = hb.poll_event() {
                if let Event::Acquire(group) = e {
                    hb.handle_action_done(t, ActionDone::Acquired { group, ok: true });
                }
            }
            if let Some(r) = hb.poll_monitor() {
                break (r, t);
            }
        };
        assert_eq!(check.0, MonitorRequest::Check(GroupId(0)));
        hb.handle_monitor_result(
            check.1,
            MonitorResult::Checked {
                group: GroupId(0),
                running: false,
            },
        );
        while let Some(e) = hb.poll_event() {
            if let Event::Log(m) = e {
                lines.push(std::format!("{}", hb.log_line(m)));
            }
        }
        assert_eq!(
            lines[..2],
            [
                "Resource group 10.0.0.1 failed its status check (1/1).",
                "Resource group 10.0.0.1 still fails after 0 restarts: giving it to the other node."
            ]
        );
    }

    /// Resource log lines and actions come after all queued events.
    fn count_tail(events: &[Event]) -> usize {
        events
            .iter()
            .rev()
            .take_while(|e| matches!(e, Event::Log(_) | Event::Acquire(_)))
            .count()
    }
}
