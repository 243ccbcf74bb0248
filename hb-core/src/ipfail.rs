//! ipfail, built in: when the two nodes see different numbers of ping nodes, the one that sees
//! fewer gives its resource groups to the other (behaviour spec §6, wire spec §5.6).
//!
//! In 3.0.6 ipfail is a separate program, respawned by heartbeat (`respawn hacluster
//! /usr/lib/heartbeat/ipfail`) and talking to it through the API. Here it is a sans-IO
//! sub-machine of [`Heartbeat`](crate::heartbeat::Heartbeat), switched on by that same
//! `respawn` line ([`configured`]): the daemon then runs it built in instead of spawning the
//! program. It speaks the program's messages, with the fields the 3.0.6 API adds, so a 3.0.6
//! peer running the real ipfail understands ours and ours understands it.
//!
//! # What it does (3.0.6's `contrib/ipfail/ipfail.c`)
//! * It starts at comm-up (3.0.6 starts respawned clients in `comm_now_up`) and announces itself
//!   with `t=hbapi-clstat st=join` (what the daemon sends when an API client signs on). It does
//!   nothing when heartbeat manages no resources (`No managed resources`) or `auto_failback` is
//!   `legacy` (`auto_failback set to incompatible legacy option.`), where the program exits 100.
//! * The peer is the other `node` of `ha.cf`; a count is the number of ping nodes (`ping`,
//!   `ping_group`) whose status is `ping`.
//! * It asks the peer for its count (`t=num_ping_nodes num_ping=<ours>`, to the peer only) when
//!   a link of any node goes dead (a ping node's single link dies with it), when a ping node
//!   comes back (`A ping node just came up.`), and when the peer's ipfail joins.
//! * Asked, it compares: more than the peer → `t=you_are_dead` to the peer; fewer → give up
//!   `all` after a delay; equal → `t=abort_giveup` to the peer and cancel a pending give-up, or
//!   (none pending, `auto_failback on`, resources stable) give up `foreign` after the delay.
//!   Told `you_are_dead`: give up `all` after the delay. Told `abort_giveup`: cancel.
//! * The delayed give-up fires after 2 × `keepalive`. With our resources stable it is
//!   `hb_standby <set>` ([`Output::GiveUp`], which the joined node hands to the resource
//!   machine); otherwise it waits for the peer's next stable report (`t=resource isstable=1`
//!   without `info`), then [`STABLE_REASK_DELAY`] more, and asks for the counts again.
//!
//! # On the wire
//! Fields in the order a 3.0.6 node puts them on the wire: the program's own fields, then what
//! the API library and the daemon add (`dest` for a message to one node, `from_id=ipfail`,
//! `to_id=ipfail`, `client_gen`), then the engine's `destuuid` and control fields (`src`
//! replaced where the program put it):
//!
//! ```text
//! t=hbapi-clstat st=join from_id=ipfail to_id=ipfail src=<us> client_gen=0
//! t=num_ping_nodes src=<us> num_ping=<n> dest=<peer> from_id=ipfail to_id=ipfail client_gen=0
//! t=you_are_dead dest=<peer> from_id=ipfail to_id=ipfail client_gen=0
//! t=abort_giveup src=<us> dest=<peer> from_id=ipfail to_id=ipfail client_gen=0
//! ```
//!
//! A 3.0.6 daemon hands a message carrying `to_id` only to the API client of that name, so only
//! its ipfail sees these; we take a message of these types only when its `to_id` is `ipfail`
//! or absent, and a `join` only when its `from_id` is `ipfail`.
//!
//! # Deviations from 3.0.6
//! * Messages that arrive before our comm-up are not seen (the engine delivers nothing but
//!   `shutdone` before it); 3.0.6 shows them to API clients, but its ipfail only starts at
//!   comm-up too, so only a peer's `join` racing our comm-up is missed (our own `join` then
//!   makes the peer ask us).
//! * With more than two nodes it does nothing (our resource machine has no standby there);
//!   3.0.6's talks to the last node of `ha.cf`.
//! * The wait for stability after a give-up is a timer, not `sleep(10)` in the only thread.
//! * Debug-level lines are not reproduced, and the give-up's `ask_resources` carries no
//!   `from_id`/`to_id` (it goes the way `hb_standby` sends it; the peer's resource logic,
//!   which handles it, ignores both).

use heapless::Deque;

use crate::config::{AutoFailback, HaCf};
use crate::engine::{ClusterMessage, MediumId, NodeId, NodeStatus};
use crate::log::Level;
use crate::msg::{format_decimal, Message, TooManyFields};
use crate::resources::StandbySet;
use crate::time::{Duration, Instant};

/// The API client name ipfail signs on with (`from_id`, `to_id`).
pub const CLIENT_ID: &str = "ipfail";
/// `t=num_ping_nodes`: "I can see `num_ping` ping nodes; how many do you?"
pub const T_NUM_PING_NODES: &str = "num_ping_nodes";
/// `t=you_are_dead`: "I see more ping nodes than you."
pub const T_YOU_ARE_DEAD: &str = "you_are_dead";
/// `t=abort_giveup`: "Our counts are equal: do not give up."
pub const T_ABORT_GIVEUP: &str = "abort_giveup";
/// `t=hbapi-clstat` (`T_APICLISTAT`): an API client signed on (`st=join`) or off.
pub const T_APICLISTAT: &str = "hbapi-clstat";
/// `num_ping` (`F_NUMPING`).
pub const F_NUMPING: &str = "num_ping";
/// The client generation we announce: the daemon's counter of API sign-ons, which in a v1
/// cluster starts at ipfail (0). Receivers use it only to order messages that also carry an
/// order sequence, which ipfail's never do.
pub const CLIENT_GEN: &str = "0";
/// After the peer turned stable while a give-up waited for it, ipfail sleeps this long
/// (`sleep(10)`) before it asks for the counts again.
pub const STABLE_REASK_DELAY: Duration = Duration::from_millis(10_000);

/// Outputs waiting to be polled.
const OUTPUTS: usize = 16;

/// Whether `ha.cf` asks for ipfail: a `respawn` (or `failfast`) line whose program's basename
/// is `ipfail`. The daemon runs it built in and does not spawn that line.
pub fn configured(hacf: &HaCf) -> bool {
    hacf.client_children
        .iter()
        .any(|c| is_ipfail_program(c.value.path()))
}

/// Whether a `respawn` program path names ipfail (`/usr/lib/heartbeat/ipfail`, `ipfail`, …).
pub fn is_ipfail_program(path: &str) -> bool {
    path.rsplit('/').next() == Some(CLIENT_ID)
}

/// Why ipfail does nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Disabled {
    /// No `respawn … ipfail` line.
    NotConfigured,
    /// No haresources groups (`No managed resources`; the program exits 100).
    NoManagedResources,
    /// `auto_failback legacy` (the program exits 100).
    LegacyAutoFailback,
    /// Not a two-node cluster (our restriction; see the module documentation).
    NotTwoNodes,
}

/// What [`Ipfail::new`] needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpfailConfig {
    /// A `respawn … ipfail` line is there ([`configured`]).
    pub enabled: bool,
    pub local: NodeId,
    /// Cluster nodes (`node` lines); ipfail works with exactly two.
    pub nodes: usize,
    pub keepalive: Duration,
    pub auto_failback: AutoFailback,
    /// haresources groups.
    pub groups: usize,
}

/// A link whose status changed: a medium to a cluster node, or a ping node's own link (named
/// after the ping node, as 3.0.6 names it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Link {
    Medium(MediumId),
    PingNode,
}

/// What the joined node tells ipfail about the cluster with every input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    /// Ping nodes whose status is `ping`.
    pub ping_count: u32,
    /// Our resources are stable (`cl_status rscstatus` is not `transition`).
    pub stable: bool,
}

/// An ipfail message, before the engine adds `destuuid` and the control fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IpfailMsg {
    /// `t=hbapi-clstat st=join`: our ipfail signed on (broadcast).
    Join,
    /// `t=num_ping_nodes num_ping=<n>` to the peer.
    NumPingNodes(u32),
    /// `t=you_are_dead` to the peer.
    YouAreDead,
    /// `t=abort_giveup` to the peer.
    AbortGiveup,
}

impl IpfailMsg {
    /// The message's fields as a 3.0.6 node would hand them to its engine (see the module
    /// documentation); `num` is room for the count's digits.
    pub fn write<'a, const N: usize>(
        &self,
        local: &'a str,
        peer: &'a str,
        num: &'a mut [u8; 20],
        m: &mut Message<'a, N>,
    ) -> Result<(), TooManyFields> {
        let api = |m: &mut Message<'a, N>| -> Result<(), TooManyFields> {
            m.push_str("from_id", CLIENT_ID)?;
            m.push_str("to_id", CLIENT_ID)?;
            m.push_str("client_gen", CLIENT_GEN)
        };
        match *self {
            IpfailMsg::Join => {
                m.push_str("t", T_APICLISTAT)?;
                m.push_str("st", "join")?;
                m.push_str("from_id", CLIENT_ID)?;
                m.push_str("to_id", CLIENT_ID)?;
                m.push_str("src", local)?;
                m.push_str("client_gen", CLIENT_GEN)?;
            }
            IpfailMsg::NumPingNodes(n) => {
                m.push_str("t", T_NUM_PING_NODES)?;
                m.push_str("src", local)?;
                m.push_str(F_NUMPING, format_decimal(u64::from(n), num))?;
                m.push_str("dest", peer)?;
                api(m)?;
            }
            IpfailMsg::YouAreDead => {
                m.push_str("t", T_YOU_ARE_DEAD)?;
                m.push_str("dest", peer)?;
                api(m)?;
            }
            IpfailMsg::AbortGiveup => {
                m.push_str("t", T_ABORT_GIVEUP)?;
                m.push_str("src", local)?;
                m.push_str("dest", peer)?;
                api(m)?;
            }
        }
        Ok(())
    }
}

/// What ipfail asks of the joined node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Output {
    /// Send this message (to the peer, or to all for [`IpfailMsg::Join`]).
    Send(IpfailMsg),
    /// `hb_standby <set>`: give our `set` (`all` or `foreign`) to the peer.
    GiveUp(StandbySet),
    /// A line for the log.
    Log(LogMsg),
}

/// ipfail's log lines, 3.0.6's words (`Display` through [`LogMsg::line`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LogMsg {
    /// `No managed resources` (ERROR).
    NoManagedResources,
    /// `auto_failback set to incompatible legacy option.` (ERROR).
    LegacyAutoFailback,
    /// Ours (WARN): `ipfail supports two-node clusters only (<n> nodes); not started.`
    NotTwoNodes { nodes: u8 },
    /// `Status update: Node <node> now has status <status>`.
    StatusUpdate { node: NodeId, status: NodeStatus },
    /// `NS: We are still alive!`
    StillAlive,
    /// `NS: We are dead. :<`
    NsWeAreDead,
    /// `A ping node just came up.`
    PingNodeCameUp,
    /// `Link Status update: Link <node>/<link> now has status up|dead`.
    LinkStatus { node: NodeId, link: Link, up: bool },
    /// `Checking remote count of ping nodes.`
    CheckingRemoteCount,
    /// `We are dead. :<`
    WeAreDead,
    /// `Asking other side for ping node count.`
    AskingPingCount,
    /// `Telling other node that we have more visible ping nodes.`
    TellingWeHaveMore,
    /// `Giving up because we have less visible ping nodes.`
    GivingUpFewer,
    /// `Ping node count is balanced.`
    Balanced,
    /// `Giving up foreign resources (auto_failback).`
    GivingUpForeign,
    /// `Giving up because we were told that we have less ping nodes.`
    GivingUpTold,
    /// `Delayed giveup in <secs> seconds.`
    DelayedGiveup { secs: u64 },
    /// `giveup() called (timeout worked)`
    GiveupCalled,
    /// `Aborted delayed giveup (<tag>)` (the number is the timer's id).
    AbortedGiveup { tag: u32 },
    /// `No giveup timer to abort.`
    NoGiveupTimer,
}

/// Names for the ids in a log line: every node's (ping nodes too) and every medium's link name
/// (interface or serial device). The one trait of [`crate::log`].
pub use crate::log::Names;

impl LogMsg {
    pub const fn level(&self) -> Level {
        match self {
            LogMsg::NoManagedResources | LogMsg::LegacyAutoFailback => Level::Err,
            LogMsg::NotTwoNodes { .. } => Level::Warn,
            _ => Level::Info,
        }
    }

    /// The line's text (without the priority), names filled in.
    pub fn line<'a>(&self, names: &'a dyn Names) -> LogLine<'a> {
        LogLine::new(*self, names)
    }
}

/// A [`LogMsg`] with its names: `Display` is the text ([`crate::log`] has the words).
pub type LogLine<'a> = crate::log::Line<'a, LogMsg>;

/// A give-up waiting for its delay (3.0.6's `delay_giveup_tag`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingGiveUp {
    pub at: Instant,
    pub set: StandbySet,
    /// The timer's id, as `Aborted delayed giveup (<tag>)` prints it.
    pub tag: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Configured and usable; starts at comm-up.
    Waiting,
    Running,
    Off(Disabled),
}

/// The ipfail machine: see the [module documentation](self).
#[derive(Debug)]
pub struct Ipfail {
    state: State,
    local: NodeId,
    /// Cluster nodes (for the log line that says why ipfail does not run).
    nodes: u8,
    peer: Option<NodeId>,
    keepalive: Duration,
    auto_failback: bool,
    giveup: Option<PendingGiveUp>,
    next_tag: u32,
    /// A give-up found our resources unstable: wait for the peer's stable report
    /// (`need_standby`).
    need_standby: bool,
    /// What the peer's last resource report said (`node_stable`).
    peer_stable: bool,
    /// When to ask for the counts again, after the peer became stable.
    reask_at: Option<Instant>,
    our_count: Option<u32>,
    peer_count: Option<i64>,
    out: Deque<Output, OUTPUTS>,
    dropped: u32,
}

impl Ipfail {
    pub fn new(cfg: &IpfailConfig) -> Ipfail {
        let state = if !cfg.enabled {
            State::Off(Disabled::NotConfigured)
        } else if cfg.groups == 0 {
            State::Off(Disabled::NoManagedResources)
        } else if cfg.auto_failback == AutoFailback::Legacy {
            State::Off(Disabled::LegacyAutoFailback)
        } else if cfg.nodes != 2 {
            State::Off(Disabled::NotTwoNodes)
        } else {
            State::Waiting
        };
        // The last `node` that is not us.
        let peer = (0..cfg.nodes.min(usize::from(u8::MAX)))
            .rev()
            .map(|i| NodeId(i as u8))
            .find(|&n| n != cfg.local);
        Ipfail {
            state,
            local: cfg.local,
            nodes: u8::try_from(cfg.nodes).unwrap_or(u8::MAX),
            peer: if cfg.nodes == 2 { peer } else { None },
            keepalive: cfg.keepalive,
            auto_failback: cfg.auto_failback == AutoFailback::On,
            giveup: None,
            next_tag: 1,
            need_standby: false,
            peer_stable: false,
            reask_at: None,
            our_count: None,
            peer_count: None,
            out: Deque::new(),
            dropped: 0,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Inputs.

    /// Our comm is up: ipfail starts (and says so), or says why it will not.
    pub fn comm_up(&mut self, view: View) {
        match self.state {
            State::Waiting => {
                self.state = State::Running;
                self.peer_stable = view.stable;
                self.our_count = Some(view.ping_count);
                self.emit(Output::Send(IpfailMsg::Join));
            }
            State::Off(Disabled::NoManagedResources) => self.log(LogMsg::NoManagedResources),
            State::Off(Disabled::LegacyAutoFailback) => self.log(LogMsg::LegacyAutoFailback),
            State::Off(Disabled::NotTwoNodes) => {
                let nodes = self.nodes;
                self.log(LogMsg::NotTwoNodes { nodes });
            }
            State::Off(Disabled::NotConfigured) | State::Running => {}
        }
    }

    /// A node's status changed (ping nodes included; `dead` for a death).
    pub fn node_status(&mut self, view: View, node: NodeId, status: NodeStatus) {
        if !self.running() {
            return;
        }
        self.our_count = Some(view.ping_count);
        self.log(LogMsg::StatusUpdate { node, status });
        match status {
            NodeStatus::Dead => self.log(if view.ping_count > 0 {
                LogMsg::StillAlive
            } else {
                LogMsg::NsWeAreDead
            }),
            NodeStatus::Ping => {
                self.log(LogMsg::PingNodeCameUp);
                self.ask(view.ping_count);
            }
            _ => {}
        }
    }

    /// A link's status changed.
    pub fn link_status(&mut self, view: View, node: NodeId, link: Link, up: bool) {
        if !self.running() {
            return;
        }
        self.our_count = Some(view.ping_count);
        self.log(LogMsg::LinkStatus { node, link, up });
        if up {
            return;
        }
        if view.ping_count > 0 {
            self.ask(view.ping_count);
            self.log(LogMsg::CheckingRemoteCount);
        } else {
            self.log(LogMsg::WeAreDead);
            self.ask(view.ping_count);
        }
    }

    /// A message from `from` of a type ipfail may care for (see [`Ipfail::wants`]). Whether
    /// it was ipfail's (then nobody else needs it).
    pub fn handle_message(
        &mut self,
        now: Instant,
        view: View,
        from: NodeId,
        msg: &ClusterMessage,
    ) -> bool {
        if !self.running() || !Self::wants(msg.msg_type()) {
            return false;
        }
        let to_ipfail = msg.get_str("to_id").is_none_or(|t| t == CLIENT_ID);
        if !to_ipfail {
            return false;
        }
        self.our_count = Some(view.ping_count);
        if from == self.local {
            // Our own join, looped back (the others go to the peer only).
            return true;
        }
        match msg.msg_type() {
            T_APICLISTAT
                if msg.get_str("st") == Some("join")
                    && msg.get_str("from_id") == Some(CLIENT_ID) =>
            {
                self.ask(view.ping_count);
            }
            T_NUM_PING_NODES => {
                // 3.0.6 reads it with atoi: anything unreadable counts as 0.
                let theirs = msg.get_str(F_NUMPING).map_or(0, atoi);
                self.peer_count = Some(theirs);
                self.compare(now, view, theirs);
            }
            T_YOU_ARE_DEAD => {
                self.log(LogMsg::GivingUpTold);
                self.delay_giveup(now, StandbySet::All);
            }
            T_ABORT_GIVEUP => self.abort_giveup(),
            _ => {}
        }
        true
    }

    /// The types [`handle_message`](Self::handle_message) takes.
    pub fn wants(t: &str) -> bool {
        matches!(
            t,
            T_APICLISTAT | T_NUM_PING_NODES | T_YOU_ARE_DEAD | T_ABORT_GIVEUP
        )
    }

    /// A `t=resource` report from `from` (`isstable`, and whether it has `info`).
    pub fn resource_report(
        &mut self,
        now: Instant,
        from: NodeId,
        isstable: Option<bool>,
        info: bool,
    ) {
        if !self.running() || Some(from) != self.peer {
            return;
        }
        match isstable {
            Some(true) if !info => {
                self.peer_stable = true;
                if self.need_standby {
                    // Ask again once its groups have had time to settle.
                    self.need_standby = false;
                    self.reask_at = Some(now + STABLE_REASK_DELAY);
                }
            }
            Some(false) => self.peer_stable = false,
            _ => {}
        }
    }

    /// Runs what is due.
    pub fn handle_timeout(&mut self, now: Instant, view: View) {
        if !self.running() {
            return;
        }
        if let Some(g) = self.giveup.filter(|g| g.at <= now) {
            self.giveup = None;
            self.log(LogMsg::GiveupCalled);
            if view.stable {
                self.need_standby = false;
                self.emit(Output::GiveUp(g.set));
            } else {
                self.need_standby = true;
            }
        }
        if self.reask_at.is_some_and(|t| t <= now) {
            self.reask_at = None;
            self.ask(view.ping_count);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Outputs and state.

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.giveup.map(|g| g.at), self.reask_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether ipfail runs (configured, usable, comm up).
    pub fn is_running(&self) -> bool {
        self.running()
    }

    /// Why it does not run, if it will not.
    pub fn disabled(&self) -> Option<Disabled> {
        match self.state {
            State::Off(d) => Some(d),
            _ => None,
        }
    }

    /// The peer it talks to.
    pub fn peer(&self) -> Option<NodeId> {
        self.peer
    }

    /// Our count when ipfail last looked.
    pub fn our_count(&self) -> Option<u32> {
        self.our_count
    }

    /// The count the peer last told us (as C's `atoi` read it).
    pub fn peer_count(&self) -> Option<i64> {
        self.peer_count
    }

    /// The give-up waiting for its delay.
    pub fn pending_giveup(&self) -> Option<PendingGiveUp> {
        self.giveup
    }

    /// A give-up found our resources unstable and waits for the peer's stable report.
    pub fn waiting_for_stable(&self) -> bool {
        self.need_standby || self.reask_at.is_some()
    }

    /// Outputs lost because they were not polled.
    pub fn dropped_outputs(&self) -> u32 {
        self.dropped
    }

    // -----------------------------------------------------------------------------------------
    // ipfail.c.

    fn running(&self) -> bool {
        self.state == State::Running
    }

    /// `msg_ping_nodes`.
    fn compare(&mut self, now: Instant, view: View, theirs: i64) {
        let ours = i64::from(view.ping_count);
        if ours > theirs {
            self.log(LogMsg::TellingWeHaveMore);
            self.emit(Output::Send(IpfailMsg::YouAreDead));
        } else if ours < theirs {
            self.log(LogMsg::GivingUpFewer);
            self.delay_giveup(now, StandbySet::All);
        } else {
            self.log(LogMsg::Balanced);
            self.emit(Output::Send(IpfailMsg::AbortGiveup));
            if self.giveup.is_some() {
                self.abort_giveup();
            } else if self.auto_failback && view.stable {
                self.log(LogMsg::GivingUpForeign);
                self.delay_giveup(now, StandbySet::Foreign);
            }
        }
    }

    /// `ask_ping_nodes`.
    fn ask(&mut self, count: u32) {
        self.log(LogMsg::AskingPingCount);
        self.emit(Output::Send(IpfailMsg::NumPingNodes(count)));
    }

    /// `delay_giveup`: a new one replaces a pending one.
    fn delay_giveup(&mut self, now: Instant, set: StandbySet) {
        let delay = Duration::from_millis(2 * self.keepalive.as_millis());
        self.log(LogMsg::DelayedGiveup {
            secs: delay.as_millis() / 1000,
        });
        let tag = self.next_tag;
        self.next_tag = self.next_tag.wrapping_add(1).max(1);
        self.giveup = Some(PendingGiveUp {
            at: now + delay,
            set,
            tag,
        });
    }

    /// `abort_giveup`.
    fn abort_giveup(&mut self) {
        match self.giveup.take() {
            Some(g) => self.log(LogMsg::AbortedGiveup { tag: g.tag }),
            None => self.log(LogMsg::NoGiveupTimer),
        }
    }

    fn log(&mut self, msg: LogMsg) {
        self.emit(Output::Log(msg));
    }

    fn emit(&mut self, o: Output) {
        if self.out.push_back(o).is_err() {
            self.dropped = self.dropped.saturating_add(1);
        }
    }
}

/// C's `atoi`: leading blanks, an optional sign, digits; anything else ends it (kept within
/// an `int`).
fn atoi(s: &str) -> i64 {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        v = (v * 10 + i64::from(b - b'0')).min(i64::from(i32::MAX) + 1);
    }
    if neg {
        -v.min(i64::from(i32::MAX) + 1)
    } else {
        v.min(i64::from(i32::MAX))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use super::*;
    use crate::msg::Field;

    const ME: NodeId = NodeId(0);
    const PEER: NodeId = NodeId(1);

    fn running(auto_failback: AutoFailback) -> Ipfail {
        let mut ip = Ipfail::new(&IpfailConfig {
            enabled: true,
            local: ME,
            nodes: 2,
            keepalive: Duration::from_millis(1000),
            auto_failback,
            groups: 2,
        });
        ip.comm_up(View {
            ping_count: 1,
            stable: true,
        });
        assert_eq!(outputs(&mut ip), [Output::Send(IpfailMsg::Join)]);
        ip
    }

    fn outputs(ip: &mut Ipfail) -> Vec<Output> {
        core::iter::from_fn(|| ip.poll_output()).collect()
    }

    fn message(fields: &[(&str, &str)]) -> ClusterMessage {
        let mut m: Message<'_, 8> = Message::new();
        for (n, v) in fields {
            m.push(Field::string(n, v)).unwrap();
        }
        ClusterMessage::copy_from(PEER, crate::engine::MessageKind::Other, 1, &m).unwrap()
    }

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    const STABLE: View = View {
        ping_count: 1,
        stable: true,
    };
    const UNSTABLE: View = View {
        ping_count: 1,
        stable: false,
    };

    #[test]
    fn a_give_up_while_unstable_waits_for_the_peers_stable_report_then_asks_again() {
        let mut ip = running(AutoFailback::On);
        let told = message(&[("t", "you_are_dead"), ("to_id", "ipfail")]);
        assert!(ip.handle_message(at(0), STABLE, PEER, &told));
        assert_eq!(
            outputs(&mut ip),
            [
                Output::Log(LogMsg::GivingUpTold),
                Output::Log(LogMsg::DelayedGiveup { secs: 2 })
            ]
        );
        assert_eq!(ip.poll_timeout(), Some(at(2000)));
        // Early calls do nothing; on time, unstable: no give-up, a wait.
        ip.handle_timeout(at(1999), UNSTABLE);
        assert!(outputs(&mut ip).is_empty());
        ip.handle_timeout(at(2000), UNSTABLE);
        assert_eq!(outputs(&mut ip), [Output::Log(LogMsg::GiveupCalled)]);
        assert!(ip.waiting_for_stable());
        assert_eq!(ip.poll_timeout(), None);
        // A report with `info` or from someone else is not the one it waits for.
        ip.resource_report(at(3000), PEER, Some(true), true);
        ip.resource_report(at(3000), ME, Some(true), false);
        assert_eq!(ip.poll_timeout(), None);
        ip.resource_report(at(3000), PEER, Some(true), false);
        assert_eq!(ip.poll_timeout(), Some(at(13_000)));
        ip.handle_timeout(at(13_000), STABLE);
        assert_eq!(
            outputs(&mut ip),
            [
                Output::Log(LogMsg::AskingPingCount),
                Output::Send(IpfailMsg::NumPingNodes(1))
            ]
        );
        assert!(!ip.waiting_for_stable());
    }

    #[test]
    fn a_new_give_up_replaces_the_pending_one_and_balance_aborts_it() {
        let mut ip = running(AutoFailback::On);
        let more = message(&[("t", "num_ping_nodes"), ("num_ping", "3")]);
        ip.handle_message(at(0), STABLE, PEER, &more);
        ip.handle_message(at(500), STABLE, PEER, &more);
        let g = ip.pending_giveup().unwrap();
        assert_eq!((g.at, g.set, g.tag), (at(2500), StandbySet::All, 2));
        outputs(&mut ip);
        let equal = message(&[("t", "num_ping_nodes"), ("num_ping", "1")]);
        ip.handle_message(at(600), STABLE, PEER, &equal);
        assert_eq!(
            outputs(&mut ip),
            [
                Output::Log(LogMsg::Balanced),
                Output::Send(IpfailMsg::AbortGiveup),
                Output::Log(LogMsg::AbortedGiveup { tag: 2 })
            ]
        );
        assert_eq!(ip.pending_giveup(), None);
        assert_eq!(ip.peer_count(), Some(1));
        // Balanced with nothing pending: auto_failback on gives foreign resources back…
        ip.handle_message(at(700), STABLE, PEER, &equal);
        let out = outputs(&mut ip);
        assert!(
            out.contains(&Output::Log(LogMsg::GivingUpForeign)),
            "{out:?}"
        );
        ip.handle_timeout(at(2700), STABLE);
        assert!(outputs(&mut ip).contains(&Output::GiveUp(StandbySet::Foreign)));
        // …auto_failback off does not.
        let mut ip = running(AutoFailback::Off);
        ip.handle_message(at(0), STABLE, PEER, &equal);
        assert_eq!(
            outputs(&mut ip),
            [
                Output::Log(LogMsg::Balanced),
                Output::Send(IpfailMsg::AbortGiveup)
            ]
        );
        assert_eq!(ip.poll_timeout(), None);
    }

    #[test]
    fn messages_for_other_clients_and_our_own_are_not_acted_on() {
        let mut ip = running(AutoFailback::On);
        let other = message(&[("t", "you_are_dead"), ("to_id", "ccm")]);
        assert!(!ip.handle_message(at(0), STABLE, PEER, &other));
        let leave = message(&[
            ("t", "hbapi-clstat"),
            ("st", "leave"),
            ("from_id", "ipfail"),
        ]);
        assert!(ip.handle_message(at(0), STABLE, PEER, &leave));
        let not_ipfail = message(&[("t", "hbapi-clstat"), ("st", "join"), ("from_id", "x")]);
        ip.handle_message(at(0), STABLE, PEER, &not_ipfail);
        let mine = message(&[("t", "you_are_dead")]);
        assert!(ip.handle_message(at(0), STABLE, ME, &mine));
        assert!(outputs(&mut ip).is_empty());
        assert_eq!(ip.poll_timeout(), None);
        let join = message(&[("t", "hbapi-clstat"), ("st", "join"), ("from_id", "ipfail")]);
        ip.handle_message(at(0), STABLE, PEER, &join);
        assert_eq!(
            outputs(&mut ip),
            [
                Output::Log(LogMsg::AskingPingCount),
                Output::Send(IpfailMsg::NumPingNodes(1))
            ]
        );
    }

    #[test]
    fn a_disabled_ipfail_says_why_once_and_then_nothing() {
        for (cfg_groups, af, nodes, why) in [
            (0, AutoFailback::On, 2, Disabled::NoManagedResources),
            (2, AutoFailback::Legacy, 2, Disabled::LegacyAutoFailback),
            (2, AutoFailback::On, 3, Disabled::NotTwoNodes),
        ] {
            let mut ip = Ipfail::new(&IpfailConfig {
                enabled: true,
                local: ME,
                nodes,
                keepalive: Duration::from_millis(1000),
                auto_failback: af,
                groups: cfg_groups,
            });
            assert_eq!(ip.disabled(), Some(why));
            ip.comm_up(STABLE);
            assert_eq!(outputs(&mut ip).len(), 1, "{why:?}");
            ip.link_status(STABLE, PEER, Link::PingNode, false);
            let told = message(&[("t", "you_are_dead")]);
            assert!(!ip.handle_message(at(0), STABLE, PEER, &told));
            assert!(outputs(&mut ip).is_empty(), "{why:?}");
            assert!(!ip.is_running());
        }
    }

    #[test]
    fn atoi_reads_what_c_reads() {
        assert_eq!(atoi("3"), 3);
        assert_eq!(atoi(" 12abc"), 12);
        assert_eq!(atoi("x"), 0);
        assert_eq!(atoi("-4"), -4);
        assert_eq!(atoi("99999999999"), i64::from(i32::MAX));
    }

    #[test]
    fn the_program_is_recognised_by_its_basename() {
        assert!(is_ipfail_program("/usr/lib/heartbeat/ipfail"));
        assert!(is_ipfail_program("/usr/lib64/heartbeat/ipfail"));
        assert!(is_ipfail_program("ipfail"));
        assert!(!is_ipfail_program("/usr/lib/heartbeat/ipfail2"));
        assert!(!is_ipfail_program("/usr/lib/heartbeat/ccm"));
    }
}
