//! What the engine tells its caller, and the small types that name things in it.

use heapless::Vec;

use crate::msg::{Field, FieldType, Message, TooManyFields};
use crate::time::Duration;

use super::config::Encoding;

/// A node: an index in the engine's node table (cluster nodes in `ha.cf` order, then ping
/// nodes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NodeId(pub u8);

impl NodeId {
    pub const fn index(self) -> usize {
        self.0 as usize
    }
    pub(crate) const fn ix(self) -> usize {
        self.0 as usize
    }
}

/// A medium: an index in [`MembershipConfig::media`](super::MembershipConfig::media).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MediumId(pub u8);

impl MediumId {
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A set of media (at most 64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MediaSet(pub u64);

impl MediaSet {
    pub const EMPTY: MediaSet = MediaSet(0);

    pub const fn contains(self, m: MediumId) -> bool {
        m.0 < 64 && self.0 & (1 << m.0) != 0
    }
    pub const fn with(self, m: MediumId) -> MediaSet {
        MediaSet(self.0 | (1 << m.0))
    }
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = MediumId> {
        (0..64u8).map(MediumId).filter(move |&m| self.contains(m))
    }
}

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NodeKind {
    /// A cluster member (`node` line).
    Normal,
    /// A ping node (`ping`, `ping6`, `ping_group`): a router or host whose answers count as
    /// its heartbeats.
    Ping,
}

/// A node's status, heartbeat's words (`init`, `up`, `active`, `dead`, `ping`). A cluster
/// node's status is what it says in its status messages, except `dead`, which only we decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NodeStatus {
    /// Not heard from yet (or, for us, starting).
    Init,
    /// Listening, comm not up yet.
    Up,
    /// Comm up: member of the cluster.
    Active,
    /// Declared dead by us.
    Dead,
    /// A ping node that answers.
    Ping,
    /// A word heartbeat does not define; [`Node::status_text`](super::Node::status_text) has it.
    Other,
}

impl NodeStatus {
    /// The wire word (`other` for [`NodeStatus::Other`]).
    pub const fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Init => "init",
            NodeStatus::Up => "up",
            NodeStatus::Active => "active",
            NodeStatus::Dead => "dead",
            NodeStatus::Ping => "ping",
            NodeStatus::Other => "other",
        }
    }

    pub fn from_wire(s: &str) -> NodeStatus {
        match s {
            "init" => NodeStatus::Init,
            "up" => NodeStatus::Up,
            "active" => NodeStatus::Active,
            "dead" => NodeStatus::Dead,
            "ping" => NodeStatus::Ping,
            _ => NodeStatus::Other,
        }
    }

    /// Whether a node in this status has been heard and not declared dead since.
    pub const fn is_alive(self) -> bool {
        !matches!(self, NodeStatus::Init | NodeStatus::Dead)
    }
}

/// The message types the resource logic handles (wire spec §5.2), and the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MessageKind {
    Starting,
    Resource,
    AskResources,
    IpRequest,
    IpRequestResp,
    HbTakeover,
    Shutdone,
    Stonith,
    /// Any other type heartbeat passes to its clients (the `t` field says which).
    Other,
}

impl MessageKind {
    pub fn from_type(t: &str) -> MessageKind {
        match t {
            "starting" => MessageKind::Starting,
            "resource" => MessageKind::Resource,
            "ask_resources" => MessageKind::AskResources,
            "ip-request" => MessageKind::IpRequest,
            "ip-request-resp" => MessageKind::IpRequestResp,
            "hb_takeover" => MessageKind::HbTakeover,
            "shutdone" => MessageKind::Shutdone,
            "stonith" => MessageKind::Stonith,
            _ => MessageKind::Other,
        }
    }
}

/// Room for a received message's own fields in a [`ClusterMessage`]. The largest v1 message,
/// `resource` with `info=req_our_resources()`, needs about 80 bytes.
#[cfg(not(feature = "client-messages"))]
pub const CLUSTER_MESSAGE_BYTES: usize = 192;
/// With API clients (the `client-messages` feature, the Linux daemon's): their messages to
/// each other ride in [`ClusterMessage`]s too, and ccm's membership messages need several
/// hundred bytes.
#[cfg(feature = "client-messages")]
pub const CLUSTER_MESSAGE_BYTES: usize = 2048;

/// Fields the engine adds to every message and takes away again on delivery.
pub(crate) const CONTROL_FIELDS: [&str; 9] = [
    "src", "srcuuid", "seq", "hg", "ts", "ld", "ttl", "auth", "destuuid",
];

/// A message for the resource logic (or any other client): its type, who sent it, and its
/// own fields (`t`, `dest` and whatever the sender put in) in their order. Control fields
/// (`src`, `srcuuid`, `seq`, `hg`, `ts`, `ld`, `ttl`, `auth`, `destuuid`) are left out: the
/// engine has dealt with them.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterMessage {
    pub from: NodeId,
    pub kind: MessageKind,
    /// The sender's `seq`.
    pub seq: u64,
    /// Fields packed as `type, name length, value length (2 bytes), name, value`.
    packed: Vec<u8, CLUSTER_MESSAGE_BYTES>,
}

impl ClusterMessage {
    /// Copies `msg`'s own fields; `None` if they do not fit.
    pub(crate) fn copy_from<const N: usize>(
        from: NodeId,
        kind: MessageKind,
        seq: u64,
        msg: &Message<'_, N>,
    ) -> Option<ClusterMessage> {
        let mut packed = Vec::new();
        for f in msg.fields() {
            if CONTROL_FIELDS.iter().any(|c| c.as_bytes() == f.name) {
                continue;
            }
            let name_len = u8::try_from(f.name.len()).ok()?;
            let value_len = u16::try_from(f.value.len()).ok()?;
            packed.push(f.ty as u8).ok()?;
            packed.push(name_len).ok()?;
            packed.extend_from_slice(&value_len.to_le_bytes()).ok()?;
            packed.extend_from_slice(f.name).ok()?;
            packed.extend_from_slice(f.value).ok()?;
        }
        Some(ClusterMessage {
            from,
            kind,
            seq,
            packed,
        })
    }

    /// The fields, in order.
    pub fn fields(&self) -> impl Iterator<Item = Field<'_>> {
        let mut rest: &[u8] = &self.packed;
        core::iter::from_fn(move || {
            let [ty, name_len, l0, l1, tail @ ..] = rest else {
                return None;
            };
            let (name_len, value_len) = (
                usize::from(*name_len),
                usize::from(u16::from_le_bytes([*l0, *l1])),
            );
            let name = tail.get(..name_len)?;
            let value = tail.get(name_len..name_len + value_len)?;
            rest = &tail[name_len + value_len..];
            Some(Field {
                name,
                ty: FieldType::from_digit(b'0' + ty)?,
                value,
            })
        })
    }

    /// The first field with this name.
    pub fn get(&self, name: &str) -> Option<Field<'_>> {
        self.fields().find(|f| f.name == name.as_bytes())
    }

    /// The value of the first string field with this name.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name)
            .filter(|f| f.ty == FieldType::String)
            .and_then(|f| core::str::from_utf8(f.value).ok())
    }

    /// The message type (`t`).
    pub fn msg_type(&self) -> &str {
        self.get_str("t").unwrap_or("")
    }

    /// The fields as a [`Message`], for parsers that read one (the resource messages).
    pub fn message<const N: usize>(&self) -> Result<Message<'_, N>, TooManyFields> {
        let mut m = Message::new();
        for f in self.fields() {
            m.push(f)?;
        }
        Ok(m)
    }
}

impl core::fmt::Debug for ClusterMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut d = f.debug_struct("ClusterMessage");
        d.field("from", &self.from).field("seq", &self.seq);
        for field in self.fields() {
            match core::str::from_utf8(field.value) {
                Ok(v) if field.ty == FieldType::String => {
                    d.field(core::str::from_utf8(field.name).unwrap_or("?"), &v)
                }
                _ => d.field(
                    core::str::from_utf8(field.name).unwrap_or("?"),
                    &field.value,
                ),
            };
        }
        d.finish()
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for ClusterMessage {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "ClusterMessage {{ from: {}, kind: {}, seq: {} }}",
            self.from,
            self.kind,
            self.seq
        )
    }
}

/// Something that happened, for the caller to log (heartbeat's message in each variant's
/// documentation) and act on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
// No alloc in the core: a message stays inline in the fixed event queue (large with the
// `client-messages` feature), boxing it is not an option.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// `Local status now set to: '<status>'`.
    LocalStatus { status: NodeStatus },
    /// `Status update for node <node>: status <status>`: a node's status message says
    /// something new (`up`, `active`, …; `ping` for a ping node's first answer).
    NodeStatus { node: NodeId, status: NodeStatus },
    /// `node <node>: is dead`: no heartbeat from it for its dead time. `heard_from`: any packet
    /// came from it since we started or since it last died (3.0.6's `anypacketsyet`, which
    /// decides whether STONITH is needed).
    NodeDead { node: NodeId, heard_from: bool },
    /// `Link <node>:<link> up.` (`medium` is the first medium of that link name).
    LinkUp { node: NodeId, medium: MediumId },
    /// `Link <node>:<link> dead.`
    LinkDead { node: NodeId, medium: MediumId },
    /// `Late heartbeat: Node <node>: interval <gap> ms` (WARN), or with `beyond_deadtime`
    /// `… ms (> deadtime)` (CRIT). 3.0.6 then declares the node dead and, with the same
    /// status, alive again, which its resource logic takes for a death it recovers from while
    /// the node still runs everything. Here a node whose own dead time (`dt`) ran out before
    /// the status was looked at is dead first ([`Event::NodeDead`]), and the status is its
    /// return ([`Event::ReturnedAfterPartition`]); a gap between `deadtime` and a longer `dt`
    /// (a node in its first 5 s asks for deadtime + 2 s) is only reported.
    LateHeartbeat {
        node: NodeId,
        gap: Duration,
        beyond_deadtime: bool,
    },
    /// `Heartbeat restart on node <node>`: its status carries a newer generation.
    /// `announced`: before it went, its `dt` grew by [`RESTART_DEADTIME_BUMP`](super::RESTART_DEADTIME_BUMP)
    /// (heartbeat's restart exec, a reload: it keeps what it runs).
    Restarted {
        node: NodeId,
        generation: u64,
        announced: bool,
    },
    /// `Cluster node <node> returning after partition.` (CRIT): a node we declared dead is
    /// back with the same generation, or (our extension) back `active` with a newer one or
    /// heard for the first time `active`: it ran on its own meanwhile (then instead of
    /// [`Event::Restarted`]). With resources managed, heartbeat gives up all resources
    /// and restarts itself two seconds later; that is the caller's (resource side's) move.
    ReturnedAfterPartition { node: NodeId },
    /// `Comm_now_up(): updating status to active`: every node has been heard or declared dead
    /// and the node list is agreed. Resource messages are delivered from now on.
    CommUp,
    /// `should_drop_message: attempted replay attack [<node>]? [gen = <generation>, curgen =
    /// <current>]`: a message from an older generation.
    ReplayRejected {
        node: NodeId,
        generation: u64,
        current: u64,
    },
    /// `<count> lost packet(s) for [<node>] [<last>:<seq>]`.
    LostPackets {
        node: NodeId,
        count: u64,
        last: u64,
        seq: u64,
    },
    /// `lost a lot of packets!`: a gap above `FLOWCONTROL_LIMIT`; tracking starts over.
    LostManyPackets { node: NodeId },
    /// `No pkts missing from <node>!`: the last missing message arrived.
    NoPacketsMissing { node: NodeId },
    /// `node <node> changed its uuid`: a known name with a new UUID (we adopt it).
    UuidChanged { node: NodeId },
    /// `flow control disabled due to different version heartbeat`: `node`'s status lacks
    /// `protocol`; no ACKs, no `protocol` field, no node-list request from now on.
    FlowControlDisabled { node: NodeId },
    /// `No local heartbeat. Forcing restart.` (ERROR): our own status did not come round for a
    /// dead time (the caller stalled). heartbeat gives up its resources and restarts.
    NoLocalHeartbeat,
    /// A message for the resource logic or other clients: the resource types after comm-up
    /// (as 3.0.6 registers them), `shutdone` always. Our own messages come back too, as they
    /// do in heartbeat (`from` is then the local node).
    Message(ClusterMessage),
    /// A message for the resource logic whose own fields exceed [`CLUSTER_MESSAGE_BYTES`].
    MessageTooLarge { from: NodeId, kind: MessageKind },
    /// `Shutdown delayed until Communication is up.`
    ShutdownDelayed,
    /// Shutdown may proceed: the resource side gives its resources up and ends with
    /// `shutdone` ([`Membership::send_shutdone`](super::Membership::send_shutdone)).
    ShutdownStarted,
    /// Our own `shutdone` went out: heartbeat stops its clients and exits a second later.
    ShutdownComplete,
    /// A queued packet could not be encoded (the caller's buffer is too small) and was
    /// skipped.
    TransmitFailed { encoding: Encoding },
    /// Events were lost because the caller did not drain them (queue capacity
    /// `EVENT_QUEUE`); `count` is how many.
    EventsDropped { count: u32 },
}

/// Why a received packet was not taken. Nothing in the engine changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RxError {
    /// Not a message, or one without `t`, `src`, a non-zero hex `ts`, or (sequenced types) a
    /// hex `seq` above zero.
    Malformed,
    /// Authentication failed (`node [X] failed authentication`).
    BadAuth,
    /// `src` (and `srcuuid`) name no configured node (`bad node [X] in message`).
    UnknownNode,
    /// No such medium.
    UnknownMedium,
    /// A generation older than the one we know for the sender: a replay.
    Replay,
    /// A status older than the last one from a node we declared dead.
    Stale,
}

impl core::fmt::Display for RxError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            RxError::Malformed => "malformed message",
            RxError::BadAuth => "failed authentication",
            RxError::UnknownNode => "bad node in message",
            RxError::UnknownMedium => "no such medium",
            RxError::Replay => "attempted replay attack (older generation)",
            RxError::Stale => "stale status from a dead node",
        })
    }
}

/// Why a message could not be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SendError {
    /// No `t` field (heartbeat discards such a message).
    NoType,
    /// `NS_` types are the engine's own unsequenced messages.
    Unsequenced,
    /// Too many fields or bytes to keep in the send history.
    TooLarge,
    /// The transmit queue is full: the caller is not draining `poll_transmit`.
    QueueFull,
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SendError::NoType => "message without a type",
            SendError::Unsequenced => "NS_ messages are the engine's own",
            SendError::TooLarge => "message too large for the send history",
            SendError::QueueFull => "transmit queue full",
        })
    }
}

/// Packets to send: `buf[..len]` of the buffer given to
/// [`Membership::poll_transmit`](super::Membership::poll_transmit), for every medium in `media`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transmit {
    pub media: MediaSet,
    pub len: usize,
    pub encoding: Encoding,
}
