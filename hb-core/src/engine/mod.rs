//! The sans-IO engine: cluster membership and reliable delivery, as heartbeat 3.0.6's master
//! control process does them (wire spec §3, behaviour spec §4.2–§4.5).
//!
//! The engine is driven, never drives (design §2; the whole node of design §2, which the design
//! calls `Engine<NODES, MEDIA, GROUPS>`, is [`crate::heartbeat::Heartbeat`]: this engine
//! joined with resource ownership and ipfail). The caller
//! - feeds it every packet read from a medium ([`Membership::handle_packet`]),
//! - calls [`Membership::handle_timeout`] when [`Membership::poll_timeout`] says (early or repeated
//!   calls are harmless),
//! - sends what [`Membership::poll_transmit`] hands out until it returns `None`, on the media it
//!   names (one [`Transmit`] per encoding: netstring for UDP, classic for serial, compact for
//!   our own links),
//! - acts on what [`Membership::poll_event`] reports (logging heartbeat's message for each),
//! - answers [`Membership::poll_ping`] with ICMP echoes and reports answers with
//!   [`Membership::handle_ping_reply`].
//!
//! Every call takes the monotonic time (`now`); calls that may create messages also take the
//! wall clock in seconds (`wall_secs`, for the `ts` field). The load average for `ld` is set with
//! [`Membership::set_load_average`]. Randomness comes from [`MembershipConfig::seed`].
//!
//! # What it does
//! - Status messages every `keepalive` on every medium (`t st dt [protocol] src srcuuid seq hg
//!   ts ld ttl`), starting as 3.0.6 starts: `st=init` with `dt` = deadtime + 2 s, then `up`,
//!   `up`; the bump taken back after 5 s (with a status at once); `st=active` after comm-up.
//!   With one peer and `beat_in_step` on, the two beat in step (hb's own, opt-in:
//!   `answer_status` in `receive.rs`).
//! - Node states `init`/`up`/`active`/`dead` (`ping` for ping nodes), the remote ones copied
//!   from their status messages; links per (node, link name) `up`/`dead`, refreshed by every
//!   packet kept or duplicate; `Late heartbeat` warnings; death after the node's dead time
//!   (`initdead` until every node's status was heard or it was declared dead, then the `dt` the node
//!   advertises); a packet from a node whose dead time ran out before the caller ran the
//!   timer finds it dead (its status is then a return, see [`Event::LateHeartbeat`]).
//! - Generation (`hg`) and sequence rules: replays rejected, restarts and returns after a
//!   partition reported (a replay is any message, sequenced or not, of an older generation),
//!   duplicates and our own packets coming back dropped, `dest`/`destuuid`
//!   addressing, UUIDs learnt.
//! - Reliable delivery: the last sent messages kept ([`History`]), gaps asked for again with
//!   `NS_rexmit` (one request per missing message, first after a random 50 ms..max_rexmit_delay,
//!   then every max_rexmit_delay), requests served (same `seq` and `ts`, at most
//!   [`MAX_REXMIT_BATCH`] per request, one message at most every [`REXMIT_GUARD`]) or NAKed,
//!   `NS_ackmsg` for every tenth message while flow control is on, flow control switched off for
//!   good by a peer whose status has no `protocol`.
//! - The comm-up handshake (`reqnodes` every second until `repnodes`; `repnodes` for every
//!   `reqnodes`).
//! - Ping nodes as pseudo-members.
//!
//! # The resource sub-machine boundary
//! The resource logic (`starting`, `resource`, `ask_resources`, standby, takeover, STONITH
//! gating) is not here. It talks to the engine through four things only:
//! 1. **Comm-up**: [`Event::CommUp`]. 3.0.6 starts its resource logic there
//!    (`comm_up_resource_action`), and so should the sub-machine (its `starting`).
//! 2. **Node events**: [`Event::NodeStatus`] (up, active, …), [`Event::NodeDead`],
//!    [`Event::Restarted`], [`Event::ReturnedAfterPartition`], and the `shutdone` message.
//! 3. **Received resource messages**: [`Event::Message`], raised exactly where 3.0.6 calls its
//!    resource handlers: `starting`, `resource`, `ask_resources`, `ip-request`,
//!    `ip-request-resp` and every other client type only after our comm-up; `shutdone` always.
//!    Our own messages come back too (heartbeat's loopback), with `from` = the local node.
//!    [`ClusterMessage::message`] gives a [`Message`] for a typed parser.
//! 4. **Sending**: [`Membership::send_cluster_message`] adds the control fields, keeps the message
//!    for retransmission, loops it back and queues it on every medium;
//!    [`Membership::send_shutdone`] is the last act of a graceful hand-over, which
//!    [`Command::Shutdown`] starts ([`Event::ShutdownStarted`]).
//!
//! [`crate::heartbeat::Heartbeat`] plugs the sub-machine in: it carries these events to
//! [`crate::resources::Resources`] after every input and its messages back through
//! [`Membership::send_cluster_message`].
//!
//! # Memory
//! Everything is in the struct; nothing is allocated. On a 64-bit host `Membership<2, 4>` (two
//! nodes, four media, the default history of [`MAXMSGHIST`] messages in
//! [`DEFAULT_HISTORY_BYTES`]) is 51 856 bytes: the send history 32 024 (a 500-slot index of
//! 16 bytes each and a 24 000-byte arena), each node 4 280 (4 000 of it the list of missing
//! messages, [`MAX_MISSING`] × 16), the event queue 6 912 ([`EVENT_QUEUE`] × 216), the
//! keyring 2 440. The history is what a small target shrinks: `Membership<2, 4, 64, 4096>` keeps
//! the last 64 messages (up to 4 KiB of them) in 24 968 bytes; see [`History`].
//!
//! # Not done (and why)
//! - `autojoin`, `addnode`/`delnode`, `setweight`/`setsite`: the node table is fixed by
//!   `ha.cf`; a `repnodes` listing other nodes changes nothing.
//! - Pausing API clients when more than `FLOWCONTROL_LIMIT` messages are un-ACKed: there are
//!   no API clients in the core; [`Node::acked`] shows how far each peer is.
//! - Traditional compression (only for messages larger than v1 clusters send).
//! - A known UUID under a new name renames a node in 3.0.6; here the configured name stays.

mod config;
mod event;
mod history;
mod liveness;
mod node;
mod receive;
mod rng;
mod send;
mod timer;
mod wire;

pub use config::{
    Encoding, MediumConfig, MembershipConfig, SetupError, LOAD_AVERAGE_LEN, LOAD_AVERAGE_UNKNOWN,
};
pub use event::{
    ClusterMessage, Event, MediaSet, MediumId, MessageKind, NodeId, NodeKind, NodeStatus, RxError,
    SendError, Transmit, CLUSTER_MESSAGE_BYTES,
};
pub use history::{History, DEFAULT_HISTORY_BYTES, MAXMSGHIST};
pub use node::{Node, FLOWCONTROL_LIMIT, MAX_MISSING, STATUS_TEXT_LEN};
pub use wire::PROTOCOL_VERSION;

use heapless::{Deque, String, Vec};

use crate::auth::Keyring;
use crate::config::hacf::MAX_NODES;
use crate::config::NODE_NAME_LEN;
use crate::msg::{self, compact, netstring, Field, FieldType, Format, Message, DEFAULT_FIELDS};
use crate::time::{Duration, Instant};

use history::{BodyView, Lookup, RecordBody, StatusBody};
use rng::Rng;
use send::Unsendable;
use timer::{Timer, TimerTable};
use wire::{BodyRef, Identity, NakReason, Texts};

/// heartbeat advertises `deadtime` + this at start (`hb_add_deadtime(2000)`), so that a peer
/// gives a starting node some slack.
pub const STARTUP_DEADTIME_BUMP: Duration = Duration::from_millis(2000);

/// …and takes the bump back this long after start (`hb_pop_deadtime`, 5 s).
pub const STARTUP_DEADTIME_HOLD: Duration = Duration::from_millis(5000);

/// heartbeat advertises `deadtime` + this as it goes down to re-execute itself
/// (`hb_add_deadtime(30000)` in `hb_mcp_final_shutdown` when a restart follows), so that its
/// peers wait for the new incarnation instead of declaring it dead.
pub const RESTART_DEADTIME_BUMP: Duration = Duration::from_millis(30_000);

/// A peer whose `dt` grows by at least this in one status has announced a restart: the
/// restart bump less the start-up bump it may still carry (a reload within 5 s of a start).
pub const RESTART_ANNOUNCED_GROWTH: Duration =
    Duration::from_millis(RESTART_DEADTIME_BUMP.as_millis() - STARTUP_DEADTIME_BUMP.as_millis());

/// `dt` goes through clock ticks (`_SC_CLK_TCK`, 100 Hz) before it is sent: whole 10 ms.
pub const CLOCK_TICK: Duration = Duration::from_millis(10);

/// `reqnodes` is sent again this often until `repnodes` arrives (`send_reqnodes_msg`, 1 s).
pub const REQNODES_INTERVAL: Duration = Duration::from_millis(1000);

/// The first request for a missing message waits at least this long (`hb_rexmit.c`), unless
/// `max_rexmit_delay` is below [`REXMIT_SMALL_MAX`].
pub const MIN_REXMIT_DELAY: Duration = Duration::from_millis(50);

/// Below this `max_rexmit_delay`, the first request waits 0..max_rexmit_delay.
pub const REXMIT_SMALL_MAX: Duration = Duration::from_millis(100);

/// A message is not sent again sooner than this after its last retransmission
/// (`process_rexmit`, 240 ms).
pub const REXMIT_GUARD: Duration = Duration::from_millis(240);

/// At most this many messages are sent again (or NAKed) per request (`MAX_REXMIT_BATCH`).
pub const MAX_REXMIT_BATCH: usize = 50;

/// Every `ACK_MSG_DIV`-th message of a node is ACKed (`ACK_MSG_DIV`, 10).
pub const ACK_MSG_DIV: u64 = 10;

/// Packets waiting for [`Membership::poll_transmit`].
pub const TRANSMIT_QUEUE: usize = 64;

/// Events waiting for [`Membership::poll_event`], by default (the `EVENTS` parameter of
/// [`Membership`]). One call can report a death and every link of every node at once: a cluster
/// needs room for `nodes × (links + 2) + 8` ([`Membership::new`] refuses less).
pub const EVENT_QUEUE: usize = 32;

/// Scratch for decoding a classic packet (base64 UUIDs, escaped text).
const RX_SCRATCH: usize = 1024;

/// Largest compact frame accepted (it is decoded in a copy).
const MAX_COMPACT_FRAME: usize = 1024;

/// Largest frame of ours kept to recognise its copy coming back ([`Echo`]): a status with
/// the longest node names, UUID and a SHA-256 trailer fits.
const ECHO_BYTES: usize = 512;

/// Our newest sequenced frame in netstring form. A broadcast medium hands every frame we send
/// straight back to us, once a keepalive; that copy only marks our own link up (it is the
/// `Duplicate` of what we just sent). Recognised by its bytes, it skips the decoding and the
/// HMAC check that would only prove what we already know: we wrote it. An attacker gains
/// nothing: a byte-identical replay would pass the check anyway, and the verdict is the one
/// the check would lead to (see [`Membership::handle_packet`]).
#[derive(Clone, Default)]
struct Echo {
    seq: u64,
    frame: Vec<u8, ECHO_BYTES>,
}

impl Echo {
    fn keep(&mut self, seq: u64, frame: &[u8]) {
        // A retransmission of an older message must not push out the newest: only the newest
        // one's copy counts as a duplicate.
        if seq < self.seq {
            return;
        }
        self.frame.clear();
        if self.frame.extend_from_slice(frame).is_ok() {
            self.seq = seq;
        } else {
            self.seq = 0;
        }
    }
}

impl core::fmt::Debug for Echo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Echo {{ seq: {}, len: {} }}", self.seq, self.frame.len())
    }
}

/// `repnodes`' node list: every name and a space.
const NODELIST_LEN: usize = MAX_NODES * (NODE_NAME_LEN + 1);

/// heartbeat's comm state (`heartbeat_comm_state`), with the node-list exchange split out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CommState {
    /// Waiting to hear from (or bury) every node.
    Starting,
    /// Everyone heard or dead; asking for the node list (`COMM_LINKSUP`).
    LinksUp,
    /// `comm_now_up()` done.
    Up,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shutdown {
    No,
    /// Asked for before comm-up.
    Delayed,
    Started,
}

/// A packet waiting to be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    /// A sequenced message, sent or sent again from the history.
    Sequenced {
        seq: u64,
    },
    Ack {
        dest: NodeId,
        ackseq: u64,
        ts: u64,
    },
    Rexmit {
        dest: NodeId,
        seq: u64,
        ts: u64,
    },
    Nak {
        dest: NodeId,
        seq: u64,
        reason: NakReason,
        ts: u64,
    },
}

/// `should_drop_message`'s answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Keep,
    /// The last message again: refreshes the link, nothing more.
    Duplicate,
    Drop,
}

/// Commands that concern membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Command {
    /// `heartbeat -k` / SIGTERM: hand everything over, then `shutdone`. Delayed until comm-up.
    Shutdown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CommandError {
    AlreadyShuttingDown,
}

/// [`Membership::handle_ping_reply`] for a node that is not a ping node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NotPingNode;

const ENCODINGS: [Encoding; 3] = [Encoding::Netstring, Encoding::Classic, Encoding::Compact];

/// One node's membership and reliable-delivery engine. `NODES`: capacity for cluster plus ping
/// nodes; `MEDIA`: capacity for media (≤ 64); `HIST`, `HIST_BYTES`: the send history;
/// `EVENTS`: events waiting for the caller ([`EVENT_QUEUE`]).
#[derive(Clone, Debug)]
pub struct Membership<
    const NODES: usize,
    const MEDIA: usize,
    const HIST: usize = MAXMSGHIST,
    const HIST_BYTES: usize = DEFAULT_HISTORY_BYTES,
    const EVENTS: usize = EVENT_QUEUE,
> {
    keys: Keyring,
    local: NodeId,
    uuid: [u8; 16],
    generation: u64,
    nodes: Vec<Node<MEDIA>, NODES>,
    media: Vec<MediumConfig, MEDIA>,
    /// The first medium of each link, for events.
    link_medium: [MediumId; MEDIA],
    link_count: usize,
    keepalive: Duration,
    deadtime: Duration,
    warntime: Duration,
    initdead: Duration,
    max_rexmit_delay: Duration,
    ttl: u64,
    auth_field: bool,
    started: Instant,
    local_status: NodeStatus,
    deadtime_bumped: bool,
    /// We are about to re-execute ourselves: [`RESTART_DEADTIME_BUMP`] is advertised.
    restart_bumped: bool,
    /// The start-up status messages are out; comm may come up.
    started_up: bool,
    comm: CommState,
    flow_control: bool,
    shutdown: Shutdown,
    no_local_heartbeat_told: bool,
    /// When our last status went out (see `answer_status`).
    status_sent_at: Instant,
    /// [`MembershipConfig::beat_in_step`].
    beat_in_step: bool,
    next_seq: u64,
    history: History<HIST, HIST_BYTES>,
    pending: Deque<Pending, TRANSMIT_QUEUE>,
    /// Which encoding of the front pending packet goes next (an index into [`ENCODINGS`]).
    stage: usize,
    events: Deque<Event, EVENTS>,
    events_dropped: u32,
    timers: TimerTable,
    rng: Rng,
    ld: String<LOAD_AVERAGE_LEN>,
    echo: Echo,
}

impl<
        const NODES: usize,
        const MEDIA: usize,
        const HIST: usize,
        const HIST_BYTES: usize,
        const EVENTS: usize,
    > Membership<NODES, MEDIA, HIST, HIST_BYTES, EVENTS>
{
    /// Starts the engine at `now`: sends the first three status messages (`init`, `up`, `up`)
    /// and reports the local status `up`.
    pub fn new(cfg: &MembershipConfig, now: Instant, wall_secs: u64) -> Result<Self, SetupError> {
        const { assert!(MEDIA <= 64, "MediaSet holds 64 media") };
        if cfg.keepalive == Duration::ZERO || cfg.deadtime <= cfg.keepalive {
            return Err(SetupError::BadTiming);
        }
        if cfg.keys.active().is_none() {
            return Err(SetupError::NoSigningKey);
        }
        if cfg.nodes.len() + cfg.ping_nodes.len() > NODES.min(usize::from(u8::MAX)) {
            return Err(SetupError::TooManyNodes);
        }
        if cfg.media.len() > MEDIA {
            return Err(SetupError::TooManyMedia);
        }
        let mut rng = Rng::new(cfg.seed);
        let mut nodes = Vec::new();
        for name in &cfg.nodes {
            let mut n = Node::new(name.clone(), NodeKind::Normal, cfg.deadtime);
            n.ack_trigger = rng.up_to(ACK_MSG_DIV - 1) as u8;
            nodes.push(n).map_err(|_| SetupError::TooManyNodes)?;
        }
        for name in &cfg.ping_nodes {
            nodes
                .push(Node::new(name.clone(), NodeKind::Ping, cfg.deadping))
                .map_err(|_| SetupError::TooManyNodes)?;
        }
        let local = cfg
            .nodes
            .iter()
            .position(|n| *n == cfg.local_node)
            .ok_or(SetupError::LocalNodeMissing)?;
        nodes[local].uuid = Some(cfg.uuid);
        let mut media = Vec::new();
        let mut link_medium = [MediumId(0); MEDIA];
        let mut link_count = 0;
        for (i, m) in cfg.media.iter().enumerate() {
            let link = usize::from(m.link);
            if link >= MEDIA {
                return Err(SetupError::TooManyMedia);
            }
            if link >= link_count {
                link_medium[link] = MediumId(i as u8);
                link_count = link + 1;
            }
            media.push(*m).map_err(|_| SetupError::TooManyMedia)?;
        }
        // What one call may report (every node dead, every link with it) must fit: an event
        // lost is a death the resource side never hears of.
        let burst = (cfg.nodes.len() + cfg.ping_nodes.len()) * (link_count + 2) + 8;
        if burst > EVENTS {
            return Err(SetupError::TooManyNodes);
        }
        let mut ld = String::new();
        let _ = ld.push_str(&cfg.load_average);
        let mut e = Membership {
            keys: cfg.keys.clone(),
            local: NodeId(local as u8),
            uuid: cfg.uuid,
            generation: cfg.generation,
            nodes,
            media,
            link_medium,
            link_count,
            keepalive: cfg.keepalive,
            deadtime: cfg.deadtime,
            warntime: cfg.warntime,
            initdead: cfg.initdead,
            max_rexmit_delay: cfg.max_rexmit_delay,
            ttl: u64::from(cfg.hopfudge) + (cfg.nodes.len() + cfg.ping_nodes.len()) as u64,
            auth_field: cfg.auth_field,
            started: now,
            local_status: NodeStatus::Init,
            deadtime_bumped: true,
            restart_bumped: false,
            started_up: false,
            comm: CommState::Starting,
            flow_control: true,
            shutdown: Shutdown::No,
            no_local_heartbeat_told: false,
            status_sent_at: now,
            beat_in_step: cfg.beat_in_step,
            next_seq: 1,
            history: History::new(),
            pending: Deque::new(),
            stage: 0,
            events: Deque::new(),
            events_dropped: 0,
            timers: TimerTable::default(),
            rng,
            ld,
            echo: Echo::default(),
        };
        // master_control_process: hb_add_deadtime(2000) sends the first status (st=init),
        // set_local_status("up") the second, and the keepalive timer fires at once.
        e.send_status(now, wall_secs);
        e.set_local_status(now, wall_secs, NodeStatus::Up);
        e.send_status(now, wall_secs);
        e.timers.set(Timer::Keepalive, now + e.keepalive);
        e.timers
            .set(Timer::DeadtimePop, now + STARTUP_DEADTIME_HOLD);
        e.started_up = true;
        e.check_comm_isup(now, wall_secs);
        e.update_timers();
        Ok(e)
    }

    // -----------------------------------------------------------------------------------------
    // Driving the engine.

    /// Takes a packet read from `medium`. Netstring and classic packets are accepted on every
    /// medium, compact frames on compact media. On `Err` nothing changed (a replay is also
    /// reported as [`Event::ReplayRejected`]).
    pub fn handle_packet(
        &mut self,
        now: Instant,
        wall_secs: u64,
        medium: MediumId,
        bytes: &[u8],
    ) -> Result<(), RxError> {
        let m = *self
            .media
            .get(medium.index())
            .ok_or(RxError::UnknownMedium)?;
        if self.is_own_echo(bytes) {
            // What `receive` does with it: our node heard, our link up, nothing else.
            let local = self.local;
            self.nodes[local.index()].heard = true;
            self.refresh_link(now, local, medium);
            self.check_comm_isup(now, wall_secs);
            self.update_timers();
            return Ok(());
        }
        if Format::detect(bytes).is_some() {
            let mut scratch = [0u8; RX_SCRATCH];
            let pkt = msg::decode::<DEFAULT_FIELDS>(bytes, &mut scratch)
                .map_err(|_| RxError::Malformed)?;
            pkt.verify(&self.keys).map_err(|_| RxError::BadAuth)?;
            self.receive(now, wall_secs, Some(medium), &pkt.msg)
        } else if m.encoding == Encoding::Compact {
            let mut wire = [0u8; MAX_COMPACT_FRAME];
            let frame = wire.get_mut(..bytes.len()).ok_or(RxError::Malformed)?;
            frame.copy_from_slice(bytes);
            let mut scratch = [0u8; 20 * DEFAULT_FIELDS];
            let pkt = compact::decode::<DEFAULT_FIELDS>(frame, &mut scratch)
                .map_err(|_| RxError::Malformed)?;
            pkt.verify(&self.keys).map_err(|_| RxError::BadAuth)?;
            self.receive(now, wall_secs, Some(medium), &pkt.msg)
        } else {
            Err(RxError::Malformed)
        }
    }

    /// `bytes` are the copy of our newest sequenced message, which `should_drop` would call a
    /// `Duplicate` (same generation, the last sequence number we numbered).
    fn is_own_echo(&self, bytes: &[u8]) -> bool {
        let local = &self.nodes[self.local.index()];
        self.echo.seq != 0
            && local.generation == self.generation
            && local.track.last_seq == Some(self.echo.seq)
            && bytes == self.echo.frame.as_slice()
    }

    /// Runs the timers that are due: status messages, deaths, retransmission requests, the
    /// node-list request.
    pub fn handle_timeout(&mut self, now: Instant, wall_secs: u64) {
        self.check_for_timeouts(now);
        if self.timers.is_due(Timer::Keepalive, now) {
            let due = self.timers.get(Timer::Keepalive).unwrap_or(now);
            self.send_status(now, wall_secs);
            // Keep the beat on its grid; a caller that stalled gets one status, not a burst.
            let mut next = due + self.keepalive;
            if next <= now {
                next = now + self.keepalive;
            }
            self.timers.set(Timer::Keepalive, next);
        }
        if self.timers.is_due(Timer::DeadtimePop, now) {
            self.timers.stop(Timer::DeadtimePop);
            self.deadtime_bumped = false;
            self.send_status(now, wall_secs);
        }
        if self.timers.is_due(Timer::ReqNodes, now) {
            self.timers.stop(Timer::ReqNodes);
            if self.comm == CommState::LinksUp {
                self.request_node_list(now, wall_secs);
            }
        }
        self.request_missing(now, wall_secs);
        self.check_comm_isup(now, wall_secs);
        self.update_timers();
    }

    /// When [`Membership::handle_timeout`] wants to be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout()
    }

    /// The next packet to send, encoded into `buf` (2 KiB holds every message the engine and a
    /// v1 resource manager send). Call until `None`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let _ = now;
        loop {
            let item = *self.pending.front()?;
            let next = (self.stage..ENCODINGS.len())
                .map(|s| (s, self.media_using(ENCODINGS[s])))
                .find(|(_, set)| !set.is_empty());
            let Some((stage, media)) = next else {
                self.pending.pop_front();
                self.stage = 0;
                continue;
            };
            self.stage = stage + 1;
            let encoding = ENCODINGS[stage];
            match self.encode_pending(item, encoding, buf) {
                Ok(len) => {
                    if let (Pending::Sequenced { seq }, Encoding::Netstring) = (item, encoding) {
                        self.echo.keep(seq, &buf[..len]);
                    }
                    return Some(Transmit {
                        media,
                        len,
                        encoding,
                    });
                }
                Err(Unsendable::Gone) => {
                    self.pending.pop_front();
                    self.stage = 0;
                }
                Err(Unsendable::Encode) => self.push_event(Event::TransmitFailed { encoding }),
            }
        }
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        if self.events_dropped > 0 {
            let count = core::mem::take(&mut self.events_dropped);
            return Some(Event::EventsDropped { count });
        }
        None
    }

    /// The `i`-th event waiting in the queue, without taking it ([`crate::heartbeat`] acts
    /// on events as they come and leaves them here for its caller).
    pub(crate) fn event(&self, i: usize) -> Option<&Event> {
        self.events.iter().nth(i)
    }

    /// A ping node (or, for a `ping_group`, any of its hosts) answered.
    pub fn handle_ping_reply(&mut self, now: Instant, node: NodeId) -> Result<(), NotPingNode> {
        let n = self.nodes.get(node.index()).ok_or(NotPingNode)?;
        if n.kind != NodeKind::Ping {
            return Err(NotPingNode);
        }
        // A ping answer is the ping node's status message (`NS_st st=ping`).
        if let Some(prev) = n.last_status_at {
            let gap = now.saturating_since(prev);
            if gap > self.warntime {
                // 3.0.6 would also declare it dead when gap > deadtime, and alive again the
                // same instant; ping nodes live by `deadping`, so we only warn.
                self.push_event(Event::LateHeartbeat {
                    node,
                    gap,
                    beyond_deadtime: gap > self.deadtime,
                });
            }
        }
        let n = &mut self.nodes[node.index()];
        n.heard = true;
        n.last_status_at = Some(now);
        if n.status != NodeStatus::Ping {
            n.status = NodeStatus::Ping;
            self.push_event(Event::NodeStatus {
                node,
                status: NodeStatus::Ping,
            });
        }
        self.update_timers();
        Ok(())
    }

    /// A ping node to send an echo to now (one per status message we send, as heartbeat's
    /// ping media write one per status). Call until `None`.
    pub fn poll_ping(&mut self) -> Option<NodeId> {
        let i = self.nodes.iter().position(|n| n.ping_due)?;
        self.nodes[i].ping_due = false;
        Some(NodeId(i as u8))
    }

    /// Commands that concern membership.
    pub fn handle_command(
        &mut self,
        now: Instant,
        wall_secs: u64,
        cmd: Command,
    ) -> Result<(), CommandError> {
        let _ = (now, wall_secs);
        match cmd {
            Command::Shutdown => {
                if self.shutdown != Shutdown::No {
                    return Err(CommandError::AlreadyShuttingDown);
                }
                if self.comm == CommState::Up {
                    self.shutdown = Shutdown::Started;
                    self.push_event(Event::ShutdownStarted);
                } else {
                    self.shutdown = Shutdown::Delayed;
                    self.push_event(Event::ShutdownDelayed);
                }
                Ok(())
            }
        }
    }

    /// Sends a cluster message of any sequenced type (`t` must not start with `NS_`): adds
    /// `destuuid` and the control fields, keeps it for retransmission, passes it through our
    /// own receive path (heartbeat's loopback) and queues it on every medium. Returns its `seq`.
    pub fn send_cluster_message(
        &mut self,
        now: Instant,
        wall_secs: u64,
        fields: &[Field<'_>],
    ) -> Result<u64, SendError> {
        let t = fields
            .iter()
            .find(|f| f.name == b"t" && f.ty == FieldType::String)
            .ok_or(SendError::NoType)?;
        if wire::is_unsequenced_type(t.value) {
            return Err(SendError::Unsequenced);
        }
        self.send_sequenced(now, wall_secs, RecordBody::Fields(fields))
    }

    /// `t=shutdone st=dead`: the end of a graceful shutdown. When it has gone round,
    /// [`Event::ShutdownComplete`] follows.
    pub fn send_shutdone(&mut self, now: Instant, wall_secs: u64) -> Result<u64, SendError> {
        self.send_cluster_message(
            now,
            wall_secs,
            &[Field::string("t", "shutdone"), Field::string("st", "dead")],
        )
    }

    /// We are going to re-execute ourselves keeping our resources (a reload): from now on
    /// every status asks peers for `deadtime` + [`RESTART_DEADTIME_BUMP`], starting with one
    /// sent now, as 3.0.6 does before its restart exec. Peers then wait for the new
    /// incarnation, and take its new generation as an announced restart
    /// ([`Event::Restarted`] with `announced`).
    pub fn announce_restart(&mut self, now: Instant, wall_secs: u64) {
        if self.restart_bumped {
            return;
        }
        self.restart_bumped = true;
        self.send_status(now, wall_secs);
    }

    /// New keys (authkeys re-read, e.g. for a key rotation): packets are verified with every
    /// key listed and signed with the active one from now on, retransmissions included. On
    /// `Err` (no active key) nothing changed.
    pub fn set_keys(&mut self, keys: Keyring) -> Result<(), SetupError> {
        if keys.active().is_none() {
            return Err(SetupError::NoSigningKey);
        }
        self.keys = keys;
        // Its copy is now checked with the new keys, as any packet.
        self.echo = Echo::default();
        Ok(())
    }

    /// The `ld` text of the messages sent from now on: the first line of `/proc/loadavg`
    /// without its newline, or [`LOAD_AVERAGE_UNKNOWN`]. Longer text is cut.
    pub fn set_load_average(&mut self, ld: &str) {
        let line = ld.split('\n').next().unwrap_or("");
        let mut end = line.len().min(LOAD_AVERAGE_LEN);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        self.ld.clear();
        let _ = self.ld.push_str(&line[..end]);
    }

    // -----------------------------------------------------------------------------------------
    // Looking at the state.

    pub fn local_node(&self) -> NodeId {
        self.local
    }

    /// Our own UUID (what API clients get for our name in `getuuid`).
    pub fn local_uuid(&self) -> [u8; 16] {
        self.uuid
    }

    /// Our own status: `init` while starting, `up`, then `active` after comm-up.
    pub fn local_status(&self) -> NodeStatus {
        self.local_status
    }

    pub fn node(&self, id: NodeId) -> Option<&Node<MEDIA>> {
        self.nodes.get(id.index())
    }

    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &Node<MEDIA>)> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (NodeId(i as u8), n))
    }

    /// The node with this name (exact, as the wire compares).
    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .map(|i| NodeId(i as u8))
    }

    /// Whether the link of `medium` to `node` is up.
    pub fn link_up(&self, node: NodeId, medium: MediumId) -> bool {
        match (self.nodes.get(node.index()), self.media.get(medium.index())) {
            (Some(n), Some(m)) => n.link_up(usize::from(m.link)),
            _ => false,
        }
    }

    /// Whether comm is up (`Comm_now_up()` done).
    pub fn is_comm_up(&self) -> bool {
        self.comm == CommState::Up
    }

    /// Whether flow control (ACKs, `protocol=1`, the node-list request) is still on.
    pub fn flow_control(&self) -> bool {
        self.flow_control
    }

    /// Our generation (`hg`).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The sequence number the next sequenced message gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The messages kept for retransmission.
    pub fn history(&self) -> &History<HIST, HIST_BYTES> {
        &self.history
    }

    fn push_event(&mut self, e: Event) {
        if self.events.push_back(e).is_err() {
            self.events_dropped = self.events_dropped.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::auth::Method;
    use crate::config::NodeName;

    const KEEPALIVE: Duration = Duration::from_millis(200);

    fn name(s: &str) -> NodeName {
        NodeName::try_from(s).unwrap()
    }

    fn config(local: &str, nodes: &[&str], pings: &[&str]) -> MembershipConfig {
        let mut keys = Keyring::new();
        keys.insert(1, Method::Sha1, b"k").unwrap();
        keys.set_active(1).unwrap();
        MembershipConfig {
            local_node: name(local),
            uuid: [9; 16],
            generation: 3,
            keys,
            nodes: nodes.iter().map(|n| name(n)).collect(),
            ping_nodes: pings.iter().map(|n| name(n)).collect(),
            media: [MediumConfig {
                encoding: Encoding::Netstring,
                link: 0,
                hacf_index: 0,
            }]
            .into_iter()
            .collect(),
            keepalive: KEEPALIVE,
            deadtime: Duration::from_millis(1000),
            warntime: Duration::from_millis(600),
            initdead: Duration::from_millis(3000),
            deadping: Duration::from_millis(2000),
            max_rexmit_delay: Duration::from_millis(250),
            hopfudge: 1,
            auth_field: true,
            seed: 1,
            load_average: String::try_from(LOAD_AVERAGE_UNKNOWN).unwrap(),
            beat_in_step: false,
        }
    }

    fn drain<const N: usize, const M: usize>(e: &mut Membership<N, M>) -> std::vec::Vec<Event> {
        let mut buf = [0u8; 2048];
        while e.poll_transmit(Instant::ZERO, &mut buf).is_some() {}
        core::iter::from_fn(|| e.poll_event()).collect()
    }

    /// Runs the engine's timers alone up to `until`.
    fn run<const N: usize, const M: usize>(
        e: &mut Membership<N, M>,
        until: Instant,
    ) -> std::vec::Vec<Event> {
        let mut events = drain(e);
        while let Some(t) = e.poll_timeout().filter(|&t| t <= until) {
            e.handle_timeout(t, 1000 + t.as_millis() / 1000);
            events.extend(drain(e));
        }
        events
    }

    #[test]
    fn memory_size() {
        let two = core::mem::size_of::<Membership<2, 4>>();
        let small = core::mem::size_of::<Membership<2, 4, 64, 4096>>();
        let history = core::mem::size_of::<History<MAXMSGHIST, DEFAULT_HISTORY_BYTES>>();
        let node = core::mem::size_of::<Node<4>>();
        let event = core::mem::size_of::<Event>();
        std::println!(
            "Membership<2, 4> = {two} bytes; Membership<2, 4, 64, 4096> = {small} bytes; \
             History<500, 24000> = {history}; Node<4> = {node}; Event = {event}; \
             Keyring = {}",
            core::mem::size_of::<Keyring>()
        );
        // The firmware's budget; the daemon's larger client messages (2 KiB per queued
        // event) get their own.
        let budget = if cfg!(feature = "client-messages") {
            160 * 1024
        } else {
            64 * 1024
        };
        assert!(two < budget, "{two}");
        assert!(small < two);
    }

    #[test]
    fn early_and_repeated_timeouts_change_nothing() {
        let mut e: Membership<2, 1> =
            Membership::new(&config("a", &["a", "b"], &[]), Instant::ZERO, 1000).unwrap();
        drain(&mut e);
        let seq = e.next_seq();
        let next = e.poll_timeout().unwrap();
        assert!(next > Instant::ZERO);
        for t in [0, 1, 50, 100, 199] {
            e.handle_timeout(Instant::from_millis(t), 1000);
            e.handle_timeout(Instant::from_millis(t), 1000);
        }
        assert_eq!(e.next_seq(), seq);
        assert_eq!(e.poll_timeout(), Some(next));
        assert!(drain(&mut e).is_empty());
        // Called on time, twice: one status.
        e.handle_timeout(next, 1000);
        e.handle_timeout(next, 1000);
        assert_eq!(e.next_seq(), seq + 1);
        assert!(e.poll_timeout().unwrap() > next);
    }

    #[test]
    fn msgfmt_netstring_sends_the_trailer_without_the_auth_field() {
        let mut cfg = config("a", &["a", "b"], &[]);
        cfg.auth_field = false;
        let mut e: Membership<2, 1> = Membership::new(&cfg, Instant::ZERO, 1000).unwrap();
        let mut buf = [0u8; 2048];
        let tx = e.poll_transmit(Instant::ZERO, &mut buf).unwrap();
        let bytes = &buf[..tx.len];
        let mut scratch = [0u8; 256];
        let p = msg::decode::<DEFAULT_FIELDS>(bytes, &mut scratch).unwrap();
        assert!(p.msg.get("auth").is_none());
        assert!(p.trailer.is_some());
        p.verify(&cfg.keys).unwrap();
        assert!(std::format!("{e:?}").len() < 20_000, "Debug stays readable");
    }

    #[test]
    fn our_own_copy_is_known_by_its_bytes_and_leads_where_the_full_check_would() {
        let cfg = config("a", &["a", "b"], &[]);
        let mut e: Membership<2, 1> = Membership::new(&cfg, Instant::ZERO, 1000).unwrap();
        let mut buf = [0u8; 2048];
        let mut frames = std::vec::Vec::new();
        while let Some(tx) = e.poll_transmit(Instant::ZERO, &mut buf) {
            frames.push(buf[..tx.len].to_vec());
        }
        drain(&mut e);
        let (oldest, newest) = (&frames[0], frames.last().unwrap());
        assert!(e.is_own_echo(newest));
        assert!(!e.is_own_echo(oldest));
        let at = Instant::from_millis(5);
        let local_link_up = Event::LinkUp {
            node: e.local,
            medium: MediumId(0),
        };

        // A copy with one byte of its digest changed is not ours: refused as before.
        let mut forged = newest.clone();
        let last_hex = forged.len() - 2;
        forged[last_hex] = if forged[last_hex] == b'0' { b'1' } else { b'0' };
        assert!(!e.is_own_echo(&forged));
        assert_eq!(
            e.handle_packet(at, 1000, MediumId(0), &forged),
            Err(RxError::BadAuth)
        );
        // An older one of ours is stale: no link comes up.
        assert_eq!(e.handle_packet(at, 1000, MediumId(0), oldest), Ok(()));
        assert!(!drain(&mut e).contains(&local_link_up));

        // The newest, recognised by its bytes, and the same bytes decoded and verified by a
        // twin that has forgotten them (new keys, the same ones) leave equal engines.
        let mut twin = e.clone();
        twin.set_keys(cfg.keys.clone()).unwrap();
        assert!(!twin.is_own_echo(newest));
        assert_eq!(e.handle_packet(at, 1000, MediumId(0), newest), Ok(()));
        assert_eq!(twin.handle_packet(at, 1000, MediumId(0), newest), Ok(()));
        let events = drain(&mut e);
        assert!(events.contains(&local_link_up), "{events:?}");
        assert_eq!(events, drain(&mut twin));
        e.set_keys(cfg.keys.clone()).unwrap();
        assert_eq!(std::format!("{e:?}"), std::format!("{twin:?}"));

        // Once a newer message is numbered, the kept copy is stale (even before the new one
        // is out), and the new one takes its place.
        let next = e.poll_timeout().unwrap();
        e.handle_timeout(next, 1000);
        assert!(!e.is_own_echo(newest));
        let tx = e.poll_transmit(next, &mut buf).unwrap();
        assert!(e.is_own_echo(&buf[..tx.len]));
    }

    #[test]
    fn a_single_node_comes_up_alone_at_once() {
        let mut e: Membership<1, 1> =
            Membership::new(&config("solo", &["solo"], &[]), Instant::ZERO, 1000).unwrap();
        let events = drain(&mut e);
        assert!(events.contains(&Event::CommUp));
        assert_eq!(e.local_status(), NodeStatus::Active);
        assert_eq!(e.next_seq(), 5, "init, up, up, active");
    }

    #[test]
    fn ping_nodes_are_pinged_with_every_status_and_live_by_their_answers() {
        let mut e: Membership<3, 1> =
            Membership::new(&config("a", &["a"], &["10.0.0.1"]), Instant::ZERO, 1000).unwrap();
        drain(&mut e);
        let ping = e.node_id("10.0.0.1").unwrap();
        assert_eq!(e.node(ping).unwrap().kind(), NodeKind::Ping);
        assert_eq!(e.poll_ping(), Some(ping));
        assert_eq!(e.poll_ping(), None);
        // Until it answers, comm waits for it (or its initdead).
        assert!(!e.is_comm_up());
        e.handle_ping_reply(Instant::from_millis(10), ping).unwrap();
        let events = drain(&mut e);
        assert!(events.contains(&Event::NodeStatus {
            node: ping,
            status: NodeStatus::Ping
        }));
        let events = run(&mut e, Instant::from_millis(200));
        assert!(events.contains(&Event::CommUp), "{events:?}");
        assert_eq!(
            e.poll_ping(),
            Some(ping),
            "pinged again with the next status"
        );
        // Answers every keepalive keep it alive; silence kills it after deadping.
        let mut t = Instant::from_millis(200);
        while t < Instant::from_millis(3000) {
            e.handle_ping_reply(t, ping).unwrap();
            t += KEEPALIVE;
            assert!(!run(&mut e, t)
                .iter()
                .any(|e| matches!(e, Event::NodeDead { node, .. } if *node == ping)));
        }
        let last = Instant::from_millis(t.as_millis() - KEEPALIVE.as_millis());
        let events = run(&mut e, last + Duration::from_millis(2001));
        assert!(
            events.contains(&Event::NodeDead {
                node: ping,
                heard_from: true
            }),
            "{events:?}"
        );
        assert_eq!(e.handle_ping_reply(t, e.local_node()), Err(NotPingNode));
        // ttl counts ping nodes: hopfudge 1 + 2 nodes.
        assert_eq!(e.ttl, 3);
    }

    #[test]
    fn shutdown_waits_for_comm_up() {
        let mut e: Membership<2, 1> =
            Membership::new(&config("a", &["a", "b"], &[]), Instant::ZERO, 1000).unwrap();
        drain(&mut e);
        e.handle_command(Instant::ZERO, 1000, Command::Shutdown)
            .unwrap();
        assert_eq!(drain(&mut e), [Event::ShutdownDelayed]);
        assert_eq!(
            e.handle_command(Instant::ZERO, 1000, Command::Shutdown),
            Err(CommandError::AlreadyShuttingDown)
        );
        // b never shows up: dead after initdead, comm up, shutdown goes ahead.
        let events = run(&mut e, Instant::from_millis(3001));
        let pos = |x: &Event| events.iter().position(|e| e == x).unwrap();
        assert!(pos(&Event::CommUp) < pos(&Event::ShutdownStarted));
    }

    #[test]
    fn a_stalled_caller_hears_no_local_heartbeat_once() {
        let mut e: Membership<2, 1> =
            Membership::new(&config("a", &["a", "b"], &[]), Instant::ZERO, 1000).unwrap();
        drain(&mut e);
        e.handle_timeout(Instant::from_millis(3500), 1003);
        let events = drain(&mut e);
        assert!(events.contains(&Event::NoLocalHeartbeat), "{events:?}");
        let events = run(&mut e, Instant::from_millis(10_000));
        assert!(!events.contains(&Event::NoLocalHeartbeat));
    }

    #[test]
    fn a_buffer_too_small_skips_the_packet_and_says_so() {
        let mut e: Membership<2, 1> =
            Membership::new(&config("a", &["a", "b"], &[]), Instant::ZERO, 1000).unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(e.poll_transmit(Instant::ZERO, &mut buf), None);
        let events: std::vec::Vec<Event> = core::iter::from_fn(|| e.poll_event()).collect();
        assert!(events.contains(&Event::TransmitFailed {
            encoding: Encoding::Netstring
        }));
    }

    #[test]
    fn events_beyond_the_queue_are_counted() {
        let mut e: Membership<2, 1> =
            Membership::new(&config("a", &["a", "b"], &[]), Instant::ZERO, 1000).unwrap();
        for _ in 0..EVENT_QUEUE + 5 {
            e.push_event(Event::CommUp);
        }
        let events: std::vec::Vec<Event> = core::iter::from_fn(|| e.poll_event()).collect();
        assert_eq!(events.len(), EVENT_QUEUE + 1);
        assert!(matches!(events.last(), Some(Event::EventsDropped { count }) if *count > 0));
    }

    #[test]
    fn load_average_text_is_one_line_and_bounded() {
        let mut e: Membership<2, 1> =
            Membership::new(&config("a", &["a", "b"], &[]), Instant::ZERO, 1000).unwrap();
        e.set_load_average("0.1 0.2 0.3 1/2 3\nsecond line");
        assert_eq!(e.ld.as_str(), "0.1 0.2 0.3 1/2 3");
        e.set_load_average(&"x".repeat(200));
        assert_eq!(e.ld.len(), LOAD_AVERAGE_LEN);
    }

    #[test]
    fn setup_errors() {
        let cfg = config("z", &["a", "b"], &[]);
        assert_eq!(
            Membership::<2, 1>::new(&cfg, Instant::ZERO, 1).err(),
            Some(SetupError::LocalNodeMissing)
        );
        let cfg = config("a", &["a", "b", "c"], &[]);
        assert_eq!(
            Membership::<2, 1>::new(&cfg, Instant::ZERO, 1).err(),
            Some(SetupError::TooManyNodes)
        );
        let mut cfg = config("a", &["a", "b"], &[]);
        cfg.deadtime = cfg.keepalive;
        assert_eq!(
            Membership::<2, 1>::new(&cfg, Instant::ZERO, 1).err(),
            Some(SetupError::BadTiming)
        );
        let cfg = config("a", &["a", "b"], &[]);
        assert_eq!(
            Membership::<2, 0>::new(&cfg, Instant::ZERO, 1).err(),
            Some(SetupError::TooManyMedia)
        );
        // Too small an event queue to report both nodes dead with their link at once.
        assert_eq!(
            Membership::<2, 1, 64, 4096, 13>::new(&cfg, Instant::ZERO, 1).err(),
            Some(SetupError::TooManyNodes)
        );
        assert!(Membership::<2, 1, 64, 4096, 14>::new(&cfg, Instant::ZERO, 1).is_ok());
    }

    #[test]
    fn send_errors() {
        let mut e: Membership<2, 1> =
            Membership::new(&config("a", &["a", "b"], &[]), Instant::ZERO, 1000).unwrap();
        drain(&mut e);
        assert_eq!(
            e.send_cluster_message(Instant::ZERO, 1000, &[Field::string("x", "y")]),
            Err(SendError::NoType)
        );
        assert_eq!(
            e.send_cluster_message(Instant::ZERO, 1000, &[Field::string("t", "NS_ackmsg")]),
            Err(SendError::Unsequenced)
        );
        let big = "x".repeat(DEFAULT_HISTORY_BYTES);
        assert_eq!(
            e.send_cluster_message(
                Instant::ZERO,
                1000,
                &[Field::string("t", "resource"), Field::string("info", &big)]
            ),
            Err(SendError::TooLarge)
        );
        for _ in 0..TRANSMIT_QUEUE {
            let _ = e.send_cluster_message(Instant::ZERO, 1000, &[Field::string("t", "x")]);
        }
        assert_eq!(
            e.send_cluster_message(Instant::ZERO, 1000, &[Field::string("t", "x")]),
            Err(SendError::QueueFull)
        );
    }
}
