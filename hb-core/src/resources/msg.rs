//! The release-1 resource messages (wire spec §5.2) as typed values.
//!
//! [`ResourceMsg::parse`] reads the fields a message carries besides the control fields;
//! [`ResourceMsg::write`] appends them to a [`Message`] with exactly heartbeat 3.0.6's names,
//! values and order. Control fields (`src`, `srcuuid`, `seq`, `hg`, `ts`, `ld`, `ttl`, `auth`,
//! `destuuid`) belong to the engine, which adds them after these.
//!
//! | `t=` | fields, in the order 3.0.6 writes them |
//! |---|---|
//! | `starting` | — |
//! | `resource` | `rsc_hold`, `rtype=full`, `isstable`, [`info`] (the `mach_down` script form: `rsc_hold`, `info` only) |
//! | `ask_resources` | `rsc_hold`, `info=me\|other\|done` |
//! | `ip-request` | `ipaddr` |
//! | `ip-request-resp` | `dest`, `ipaddr`, `weown=yes\|no`, `ok=OK` |
//! | `hb_takeover` | `rsc_hold=all\|local\|foreign\|failback` |
//! | `shutdone` | `st=dead` |
//! | `stonith` | `node`, `result=OK\|badhost\|bad\|n_stnth\|unneeded` |
//!
//! `t=hb_heal info=report|released hb_groups=<hex> hb_kept=<hex>` is ours too, sent in a
//! two-node cluster after a partition heals (see [`super::heal`]); 3.0.6 passes a type it does
//! not know to its `rc.d` scripts, and has none by that name.
//!
//! `t=hb_fence node=<name> hb_in=<ms>` is ours as well (two nodes with `HB_FENCE_DELAY`): the
//! sender has declared `node` dead and will reset it in `hb_in` ms (0: now), sent again while
//! it waits, so that the other node, if it still hears us, holds its own reset back (see
//! `Resources::start_fence`). 3.0.6 passes it to its `rc.d` scripts too, and has none by
//! that name.
//!
//! Two fields are ours and never sent in a two-node cluster: `hb_groups=<hex bitmask>` at the
//! end of `resource` messages, the exact groups the sender claims, and after it
//! `hb_reply=<node>` on the report that answers that node's `starting`; both are used by the
//! multi-node extension (see the [module documentation](super)). 3.0.6 ignores fields it does
//! not know.
//!
//! `hb_sbid=<hex>` at the end of `ask_resources` is ours too: the number the node that asked
//! to go standby gave its request, echoed in `other` and `done`, so that an answer to a
//! request its sender has since dropped is recognised. A node that gets an `other` for such
//! a request sends `t=hb_standby_cancel hb_sbid=<hex>` (only ever to a peer that numbered
//! its `other`, never to 3.0.6, which neither numbers nor knows the type): the peer, waiting
//! in that exchange for a `done` that will not come, drops it instead of waiting an hour.

use core::fmt;

use crate::msg::{parse_hex, Field, Message, TooManyFields};

/// A resource set as heartbeat names it on the wire, relative to the node that sends it:
/// its `local` groups (haresources lines naming it), its `foreign` groups (all others).
///
/// A bit set, like 3.0.6's `HB_LOCAL_RSC | HB_FOREIGN_RSC`: a node may announce `local` even
/// when it has no local groups (3.0.6 does exactly that).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RscSet(u8);

impl RscSet {
    pub const NONE: RscSet = RscSet(0);
    pub const LOCAL: RscSet = RscSet(1);
    pub const FOREIGN: RscSet = RscSet(2);
    pub const ALL: RscSet = RscSet(3);

    /// The wire word: `none`, `local`, `foreign` or `all`.
    pub const fn as_str(self) -> &'static str {
        match self.0 {
            0 => "none",
            1 => "local",
            2 => "foreign",
            _ => "all",
        }
    }

    /// Reads a wire word (case-sensitive, as `encode_resources` compares).
    pub fn from_wire(s: &str) -> Option<RscSet> {
        Some(match s {
            "none" => RscSet::NONE,
            "local" => RscSet::LOCAL,
            "foreign" => RscSet::FOREIGN,
            "all" => RscSet::ALL,
            _ => return None,
        })
    }

    pub const fn bits(self) -> u8 {
        self.0
    }
    pub const fn is_none(self) -> bool {
        self.0 == 0
    }
    /// Whether any bit of `other` is in `self` (`self & other != 0`).
    pub const fn intersects(self, other: RscSet) -> bool {
        self.0 & other.0 != 0
    }
    pub const fn union(self, other: RscSet) -> RscSet {
        RscSet(self.0 | other.0)
    }
    pub const fn minus(self, other: RscSet) -> RscSet {
        RscSet(self.0 & !other.0)
    }
    /// The same groups seen from the other node of a pair: local ↔ foreign, all and none stay.
    pub const fn mirror(self) -> RscSet {
        RscSet(((self.0 & 1) << 1) | ((self.0 & 2) >> 1))
    }
}

impl fmt::Display for RscSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The argument of `hb_standby` and `hb_takeover` (and `hb_takeover`'s `rsc_hold`):
/// `failback` is a fourth word next to the three sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StandbySet {
    All,
    Local,
    Foreign,
    Failback,
}

impl StandbySet {
    pub const fn as_str(self) -> &'static str {
        match self {
            StandbySet::All => "all",
            StandbySet::Local => "local",
            StandbySet::Foreign => "foreign",
            StandbySet::Failback => "failback",
        }
    }
    pub fn from_wire(s: &str) -> Option<StandbySet> {
        Some(match s {
            "all" => StandbySet::All,
            "local" => StandbySet::Local,
            "foreign" => StandbySet::Foreign,
            "failback" => StandbySet::Failback,
            _ => return None,
        })
    }
    /// What `hb_standby <self>` asks to give up: `failback` means `foreign`.
    pub const fn standby_set(self) -> RscSet {
        match self {
            StandbySet::All => RscSet::ALL,
            StandbySet::Local => RscSet::LOCAL,
            StandbySet::Foreign | StandbySet::Failback => RscSet::FOREIGN,
        }
    }
    /// What the peer's `rc.d/hb_takeover` hands to `hb_standby` when it receives
    /// `hb_takeover rsc_hold=<self>`: all→all, local→foreign, foreign→local, and (quirk: the
    /// script has no case for it and calls `hb_standby` without an argument) failback→all.
    pub const fn takeover_mirror(self) -> RscSet {
        match self {
            StandbySet::All | StandbySet::Failback => RscSet::ALL,
            StandbySet::Local => RscSet::FOREIGN,
            StandbySet::Foreign => RscSet::LOCAL,
        }
    }
}

impl fmt::Display for StandbySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `info=` of an `ask_resources` message: the three phases of the standby protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StandbyInfo {
    /// "I want to go standby" (from `hb_standby`).
    Me,
    /// "You may": the peer's answer.
    Other,
    /// Resources released (from the requester) or acquired (from the peer).
    Done,
}

impl StandbyInfo {
    pub const fn as_str(self) -> &'static str {
        match self {
            StandbyInfo::Me => "me",
            StandbyInfo::Other => "other",
            StandbyInfo::Done => "done",
        }
    }
    /// 3.0.6 compares these case-insensitively.
    pub fn from_wire(s: &str) -> Option<StandbyInfo> {
        [StandbyInfo::Me, StandbyInfo::Other, StandbyInfo::Done]
            .into_iter()
            .find(|i| s.eq_ignore_ascii_case(i.as_str()))
    }
}

/// `info=` of a `resource` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ResourceInfo<'a> {
    /// `req_our_resources()`: the local acquisition child finished.
    ReqOurResources,
    /// `standby`: giving up resources for the standby protocol.
    Standby,
    /// `shutdown`: giving up everything before `shutdone`.
    Shutdown,
    /// `mach_down`: a dead node's groups were taken over (script form, no `rtype`).
    MachDown,
    /// Anything else, kept as written.
    Other(&'a str),
}

impl<'a> ResourceInfo<'a> {
    pub fn as_str(&self) -> &'a str {
        match *self {
            ResourceInfo::ReqOurResources => "req_our_resources()",
            ResourceInfo::Standby => "standby",
            ResourceInfo::Shutdown => "shutdown",
            ResourceInfo::MachDown => "mach_down",
            ResourceInfo::Other(s) => s,
        }
    }
    pub fn from_wire(s: &'a str) -> ResourceInfo<'a> {
        match s {
            "req_our_resources()" => ResourceInfo::ReqOurResources,
            "standby" => ResourceInfo::Standby,
            "shutdown" => ResourceInfo::Shutdown,
            "mach_down" => ResourceInfo::MachDown,
            other => ResourceInfo::Other(other),
        }
    }
}

/// `result=` of a `stonith` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StonithResult {
    /// `OK`: the node was reset.
    Ok,
    /// `badhost`: the device cannot reset this node.
    BadHost,
    /// `bad`: the reset failed.
    Bad,
    /// `n_stnth`: fencing was needed but no device is configured.
    NotConfigured,
    /// `unneeded`: the node had given up its resources.
    Unneeded,
}

impl StonithResult {
    pub const fn as_str(self) -> &'static str {
        match self {
            StonithResult::Ok => "OK",
            StonithResult::BadHost => "badhost",
            StonithResult::Bad => "bad",
            StonithResult::NotConfigured => "n_stnth",
            StonithResult::Unneeded => "unneeded",
        }
    }
    pub fn from_wire(s: &str) -> Option<StonithResult> {
        [
            StonithResult::Ok,
            StonithResult::BadHost,
            StonithResult::Bad,
            StonithResult::NotConfigured,
            StonithResult::Unneeded,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// A count of milliseconds with its decimal wire text kept beside it (for `hb_in`), so
/// [`ResourceMsg::write`] can borrow it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Millis {
    ms: u32,
    text: [u8; 10],
    len: u8,
}

impl Millis {
    pub fn new(ms: u32) -> Millis {
        let mut buf = [0u8; 20];
        let digits = crate::text::format_decimal(u64::from(ms), &mut buf).as_bytes();
        let mut text = [0u8; 10];
        // A u32 has at most 10 decimal digits.
        text[..digits.len()].copy_from_slice(digits);
        Millis {
            ms,
            text,
            len: digits.len() as u8,
        }
    }
    pub const fn get(&self) -> u32 {
        self.ms
    }
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.text[..usize::from(self.len)]).unwrap_or("0")
    }
}

impl fmt::Debug for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Millis({})", self.ms)
    }
}

/// A set of haresources groups by index (bit `i` = the `i`th line), with its wire text
/// (lowercase hex, no leading zeros) kept beside it so [`ResourceMsg::write`] can borrow it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupMask {
    bits: u32,
    text: [u8; 8],
    len: u8,
}

impl GroupMask {
    /// Most groups a mask can name.
    pub const CAPACITY: usize = 32;
    pub const EMPTY: GroupMask = GroupMask {
        bits: 0,
        text: *b"0\0\0\0\0\0\0\0",
        len: 1,
    };

    pub const fn new(bits: u32) -> GroupMask {
        let mut text = [0u8; 8];
        let digits = if bits == 0 {
            1
        } else {
            (32 - bits.leading_zeros() as usize).div_ceil(4)
        };
        let mut i = 0;
        while i < digits {
            let shift = 4 * (digits - 1 - i);
            text[i] = b"0123456789abcdef"[((bits >> shift) & 0xf) as usize];
            i += 1;
        }
        GroupMask {
            bits,
            text,
            len: digits as u8,
        }
    }
    pub const fn bits(&self) -> u32 {
        self.bits
    }
    pub const fn contains(&self, index: usize) -> bool {
        index < 32 && self.bits & (1 << index) != 0
    }
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.text[..usize::from(self.len)]).unwrap_or("0")
    }
}

impl fmt::Debug for GroupMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupMask({:#x})", self.bits)
    }
}

/// `t=resource`: what the sender holds (3.0.6's `hb_send_resources_held`, or the `mach_down`
/// script's partial update).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ResourceHeld<'a> {
    /// `rsc_hold`, relative to the sender.
    pub rsc_hold: RscSet,
    /// `rtype=full`: the set replaces the previous one; without it (the `mach_down` form) it
    /// is OR-ed into it.
    pub rtype_full: bool,
    /// `isstable=0|1`; absent in the `mach_down` form.
    pub isstable: Option<bool>,
    pub info: Option<ResourceInfo<'a>>,
    /// `hb_groups`: ours, multi-node clusters only.
    pub groups: Option<GroupMask>,
    /// `hb_reply`: ours, multi-node clusters only: the node whose `starting` this answers.
    pub reply_to: Option<&'a str>,
}

/// The resource messages of heartbeat's release-1 (haresources) mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceMsg<'a> {
    /// `t=starting`: "I have just come up; what do you hold?"
    Starting,
    /// `t=resource`.
    Resource(ResourceHeld<'a>),
    /// `t=ask_resources`: the standby protocol. `rsc_hold` is relative to the node that asked
    /// to go standby, in all three phases.
    AskResources {
        rsc_hold: RscSet,
        info: StandbyInfo,
        /// `hb_sbid` (ours): the request's number (a [`GroupMask`] only for its hex text);
        /// none from 3.0.6.
        xid: Option<GroupMask>,
    },
    /// `t=hb_standby_cancel hb_sbid=<hex>` (ours): the sender no longer runs the standby
    /// request of that number.
    StandbyCancel { xid: GroupMask },
    /// `t=ip-request ipaddr=<group key>` (legacy mode: "give me this group").
    IpRequest { ipaddr: &'a str },
    /// `t=ip-request-resp`: the answer, addressed to `dest`, who then takes the group.
    IpRequestResp {
        dest: &'a str,
        ipaddr: &'a str,
        weown: bool,
        /// `ok=`; 3.0.6 always sends `OK`, and the receiver only acts on `OK`.
        ok: &'a str,
    },
    /// `t=hb_takeover rsc_hold=<set>`: "peer, go standby with the mirror of this".
    HbTakeover { rsc_hold: StandbySet },
    /// `t=shutdone st=dead`: all resources released, the sender is leaving.
    Shutdone,
    /// `t=stonith node=<n> result=<r>`: the outcome of fencing a dead node.
    Stonith {
        node: &'a str,
        result: StonithResult,
    },
    /// `t=hb_heal` (ours): after a partition, the groups the sender runs and those it ran
    /// before the split; `released`: sent after it stopped the groups the other node keeps.
    Heal {
        groups: GroupMask,
        kept: GroupMask,
        kind: HealKind,
    },
    /// `t=hb_fence` (ours): the sender will reset `node` in `in_ms` ms.
    FenceNotice { node: &'a str, in_ms: Millis },
}

/// `info=` of `t=hb_heal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HealKind {
    /// The sender's report; it has not seen ours: answer with a [`HealKind::Reply`].
    Report,
    /// The sender's report, answering ours.
    Reply,
    /// The sender stopped the groups the other node keeps (`hb_groups`: what it still runs).
    Released,
}

impl HealKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            HealKind::Report => "report",
            HealKind::Reply => "reply",
            HealKind::Released => "released",
        }
    }
}

/// Why a message is not a resource message we understand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ParseError {
    /// No `t` field.
    MissingType,
    /// `t` names a message this module does not handle (status, reqnodes, …).
    NotResource,
    /// A required field is missing (or is not a UTF-8 string field).
    Missing(&'static str),
    /// A field holds a value 3.0.6 never sends.
    BadValue(&'static str),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::MissingType => f.write_str("message without a type (t) field"),
            ParseError::NotResource => f.write_str("not a resource message"),
            ParseError::Missing(n) => write!(f, "resource message without a {n} field"),
            ParseError::BadValue(n) => write!(f, "resource message with a bad {n} field"),
        }
    }
}

/// The `t=` values of [`ResourceMsg`].
pub const T_STARTING: &str = "starting";
pub const T_RESOURCES: &str = "resource";
pub const T_ASKRESOURCES: &str = "ask_resources";
pub const T_IPREQUEST: &str = "ip-request";
pub const T_IPREQUEST_RESP: &str = "ip-request-resp";
pub const T_TAKEOVER: &str = "hb_takeover";
pub const T_SHUTDONE: &str = "shutdone";
pub const T_STONITH: &str = "stonith";
/// Ours: the heal report.
pub const T_HEAL: &str = "hb_heal";
/// Ours, in `hb_heal`: the groups the sender ran before the split.
pub const F_KEPT: &str = "hb_kept";
/// Ours: dropping a standby request.
pub const T_STANDBY_CANCEL: &str = "hb_standby_cancel";
/// Ours, in `ask_resources` and `hb_standby_cancel`: the standby request's number.
pub const F_STANDBY_ID: &str = "hb_sbid";
/// Ours: "I will reset this node".
pub const T_FENCE: &str = "hb_fence";
/// Ours, in `hb_fence`: in how many ms.
pub const F_IN: &str = "hb_in";

/// Our multi-node extension field: the groups the sender claims.
pub const F_GROUPS: &str = "hb_groups";
/// Our multi-node extension field: the node whose `starting` this report answers.
pub const F_REPLY: &str = "hb_reply";

/// `hb_sbid`: a standby request's number.
fn standby_id(s: &str) -> Result<GroupMask, ParseError> {
    parse_hex(s.as_bytes())
        .and_then(|b| u32::try_from(b).ok())
        .map(GroupMask::new)
        .ok_or(ParseError::BadValue(F_STANDBY_ID))
}

impl<'a> ResourceMsg<'a> {
    /// Whether `t` is one of the types this module handles.
    pub fn is_resource_type(t: &str) -> bool {
        [
            T_STARTING,
            T_RESOURCES,
            T_ASKRESOURCES,
            T_IPREQUEST,
            T_IPREQUEST_RESP,
            T_TAKEOVER,
            T_SHUTDONE,
            T_STONITH,
            T_HEAL,
            T_STANDBY_CANCEL,
            T_FENCE,
        ]
        .contains(&t)
    }

    /// The message's `t=` value.
    pub const fn msg_type(&self) -> &'static str {
        match self {
            ResourceMsg::Starting => T_STARTING,
            ResourceMsg::Resource(_) => T_RESOURCES,
            ResourceMsg::AskResources { .. } => T_ASKRESOURCES,
            ResourceMsg::IpRequest { .. } => T_IPREQUEST,
            ResourceMsg::IpRequestResp { .. } => T_IPREQUEST_RESP,
            ResourceMsg::HbTakeover { .. } => T_TAKEOVER,
            ResourceMsg::Shutdone => T_SHUTDONE,
            ResourceMsg::Stonith { .. } => T_STONITH,
            ResourceMsg::Heal { .. } => T_HEAL,
            ResourceMsg::StandbyCancel { .. } => T_STANDBY_CANCEL,
            ResourceMsg::FenceNotice { .. } => T_FENCE,
        }
    }

    /// The node the message is addressed to (`dest`), if any: the engine adds `destuuid`
    /// for it and other nodes drop it.
    pub const fn dest(&self) -> Option<&'a str> {
        match *self {
            ResourceMsg::IpRequestResp { dest, .. } => Some(dest),
            _ => None,
        }
    }

    /// Reads a resource message out of a decoded `ha_msg`. Fields are looked up by name (the
    /// first of a name, as `ha_msg_value` does); fields this module does not know are ignored.
    pub fn parse<const N: usize>(msg: &Message<'a, N>) -> Result<ResourceMsg<'a>, ParseError> {
        let t = msg.get_str("t").ok_or(ParseError::MissingType)?;
        let need = |name: &'static str| msg.get_str(name).ok_or(ParseError::Missing(name));
        Ok(match t {
            T_STARTING => ResourceMsg::Starting,
            T_RESOURCES => {
                let rsc_hold =
                    RscSet::from_wire(need("rsc_hold")?).ok_or(ParseError::BadValue("rsc_hold"))?;
                let rtype_full = match msg.get_str("rtype") {
                    None => false,
                    Some("full") => true,
                    Some(_) => return Err(ParseError::BadValue("rtype")),
                };
                let isstable = match msg.get_str("isstable") {
                    None => None,
                    Some("1") => Some(true),
                    Some("0") => Some(false),
                    Some(_) => return Err(ParseError::BadValue("isstable")),
                };
                let info = msg.get_str("info").map(ResourceInfo::from_wire);
                let groups = match msg.get_str(F_GROUPS) {
                    None => None,
                    Some(s) => Some(
                        parse_hex(s.as_bytes())
                            .and_then(|b| u32::try_from(b).ok())
                            .map(GroupMask::new)
                            .ok_or(ParseError::BadValue(F_GROUPS))?,
                    ),
                };
                ResourceMsg::Resource(ResourceHeld {
                    rsc_hold,
                    rtype_full,
                    isstable,
                    info,
                    groups,
                    reply_to: msg.get_str(F_REPLY),
                })
            }
            T_ASKRESOURCES => ResourceMsg::AskResources {
                // ask_for_resources: a missing rsc_hold means all.
                rsc_hold: match msg.get_str("rsc_hold") {
                    None => RscSet::ALL,
                    Some(s) => RscSet::from_wire(s).ok_or(ParseError::BadValue("rsc_hold"))?,
                },
                info: StandbyInfo::from_wire(need("info")?).ok_or(ParseError::BadValue("info"))?,
                xid: match msg.get_str(F_STANDBY_ID) {
                    None => None,
                    Some(s) => Some(standby_id(s)?),
                },
            },
            T_STANDBY_CANCEL => ResourceMsg::StandbyCancel {
                xid: standby_id(need(F_STANDBY_ID)?)?,
            },
            T_IPREQUEST => ResourceMsg::IpRequest {
                ipaddr: need("ipaddr")?,
            },
            T_IPREQUEST_RESP => ResourceMsg::IpRequestResp {
                dest: need("dest")?,
                ipaddr: need("ipaddr")?,
                weown: match need("weown")? {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(ParseError::BadValue("weown")),
                },
                ok: need("ok")?,
            },
            T_TAKEOVER => ResourceMsg::HbTakeover {
                rsc_hold: StandbySet::from_wire(need("rsc_hold")?)
                    .ok_or(ParseError::BadValue("rsc_hold"))?,
            },
            T_SHUTDONE => ResourceMsg::Shutdone,
            T_STONITH => ResourceMsg::Stonith {
                node: need("node")?,
                result: StonithResult::from_wire(need("result")?)
                    .ok_or(ParseError::BadValue("result"))?,
            },
            T_HEAL => {
                let mask = |name: &'static str| {
                    parse_hex(need(name)?.as_bytes())
                        .and_then(|b| u32::try_from(b).ok())
                        .map(GroupMask::new)
                        .ok_or(ParseError::BadValue(name))
                };
                ResourceMsg::Heal {
                    groups: mask(F_GROUPS)?,
                    kept: mask(F_KEPT)?,
                    kind: match need("info")? {
                        "report" => HealKind::Report,
                        "reply" => HealKind::Reply,
                        "released" => HealKind::Released,
                        _ => return Err(ParseError::BadValue("info")),
                    },
                }
            }
            T_FENCE => ResourceMsg::FenceNotice {
                node: need("node")?,
                in_ms: need(F_IN)?
                    .parse()
                    .map(Millis::new)
                    .map_err(|_| ParseError::BadValue(F_IN))?,
            },
            _ => return Err(ParseError::NotResource),
        })
    }

    /// Appends the message's fields, `t` first, in 3.0.6's order. The engine then adds the
    /// control fields.
    pub fn write<'m, const N: usize>(
        &'m self,
        msg: &mut Message<'m, N>,
    ) -> Result<(), TooManyFields>
    where
        'a: 'm,
    {
        msg.push(Field::string("t", self.msg_type()))?;
        match self {
            ResourceMsg::Starting => {}
            ResourceMsg::Resource(r) => {
                msg.push(Field::string("rsc_hold", r.rsc_hold.as_str()))?;
                if r.rtype_full {
                    msg.push(Field::string("rtype", "full"))?;
                }
                if let Some(s) = r.isstable {
                    msg.push(Field::string("isstable", if s { "1" } else { "0" }))?;
                }
                if let Some(i) = &r.info {
                    msg.push(Field::string("info", i.as_str()))?;
                }
                if let Some(g) = &r.groups {
                    msg.push(Field::string(F_GROUPS, g.as_str()))?;
                }
                if let Some(to) = r.reply_to {
                    msg.push(Field::string(F_REPLY, to))?;
                }
            }
            ResourceMsg::AskResources {
                rsc_hold,
                info,
                xid,
            } => {
                msg.push(Field::string("rsc_hold", rsc_hold.as_str()))?;
                msg.push(Field::string("info", info.as_str()))?;
                if let Some(x) = xid {
                    msg.push(Field::string(F_STANDBY_ID, x.as_str()))?;
                }
            }
            ResourceMsg::StandbyCancel { xid } => {
                msg.push(Field::string(F_STANDBY_ID, xid.as_str()))?
            }
            ResourceMsg::IpRequest { ipaddr } => msg.push(Field::string("ipaddr", ipaddr))?,
            ResourceMsg::IpRequestResp {
                dest,
                ipaddr,
                weown,
                ok,
            } => {
                msg.push(Field::string("dest", dest))?;
                msg.push(Field::string("ipaddr", ipaddr))?;
                msg.push(Field::string("weown", if *weown { "yes" } else { "no" }))?;
                msg.push(Field::string("ok", ok))?;
            }
            ResourceMsg::HbTakeover { rsc_hold } => {
                msg.push(Field::string("rsc_hold", rsc_hold.as_str()))?;
            }
            ResourceMsg::Shutdone => msg.push(Field::string("st", "dead"))?,
            ResourceMsg::Stonith { node, result } => {
                msg.push(Field::string("node", node))?;
                msg.push(Field::string("result", result.as_str()))?;
            }
            ResourceMsg::Heal { groups, kept, kind } => {
                msg.push(Field::string("info", kind.as_str()))?;
                msg.push(Field::string(F_GROUPS, groups.as_str()))?;
                msg.push(Field::string(F_KEPT, kept.as_str()))?;
            }
            ResourceMsg::FenceNotice { node, in_ms } => {
                msg.push(Field::string("node", node))?;
                msg.push(Field::string(F_IN, in_ms.as_str()))?;
            }
        }
        Ok(())
    }
}

/// One line per message, heartbeat's field syntax without control fields:
/// `t=resource rsc_hold=all rtype=full isstable=1`.
impl fmt::Display for ResourceMsg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m: Message<'_, 8> = Message::new();
        if self.write(&mut m).is_err() {
            return f.write_str("t=?");
        }
        for (i, field) in m.fields().iter().enumerate() {
            let name = core::str::from_utf8(field.name).unwrap_or("?");
            let value = core::str::from_utf8(field.value).unwrap_or("?");
            write!(f, "{}{name}={value}", if i == 0 { "" } else { " " })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(m: ResourceMsg<'_>) {
        let mut out: Message<'_, 16> = Message::new();
        m.write(&mut out).unwrap();
        assert_eq!(ResourceMsg::parse(&out), Ok(m));
    }

    #[test]
    fn sets_and_mirrors() {
        assert_eq!(RscSet::LOCAL.mirror(), RscSet::FOREIGN);
        assert_eq!(RscSet::FOREIGN.mirror(), RscSet::LOCAL);
        assert_eq!(RscSet::ALL.mirror(), RscSet::ALL);
        assert_eq!(RscSet::NONE.mirror(), RscSet::NONE);
        assert_eq!(RscSet::ALL.minus(RscSet::FOREIGN), RscSet::LOCAL);
        for s in [RscSet::NONE, RscSet::LOCAL, RscSet::FOREIGN, RscSet::ALL] {
            assert_eq!(RscSet::from_wire(s.as_str()), Some(s));
        }
        assert_eq!(StandbySet::Failback.standby_set(), RscSet::FOREIGN);
        assert_eq!(StandbySet::Failback.takeover_mirror(), RscSet::ALL);
        assert_eq!(StandbySet::Local.takeover_mirror(), RscSet::FOREIGN);
    }

    #[test]
    fn every_variant_round_trips() {
        roundtrip(ResourceMsg::Starting);
        roundtrip(ResourceMsg::Resource(ResourceHeld {
            rsc_hold: RscSet::ALL,
            rtype_full: true,
            isstable: Some(true),
            info: Some(ResourceInfo::ReqOurResources),
            groups: None,
            reply_to: None,
        }));
        roundtrip(ResourceMsg::Resource(ResourceHeld {
            rsc_hold: RscSet::FOREIGN,
            rtype_full: false,
            isstable: None,
            info: Some(ResourceInfo::MachDown),
            groups: Some(GroupMask::new(0x1f5)),
            reply_to: None,
        }));
        roundtrip(ResourceMsg::Resource(ResourceHeld {
            rsc_hold: RscSet::LOCAL,
            rtype_full: true,
            isstable: Some(true),
            info: None,
            groups: Some(GroupMask::new(0x3)),
            reply_to: Some("node3"),
        }));
        roundtrip(ResourceMsg::AskResources {
            rsc_hold: RscSet::FOREIGN,
            info: StandbyInfo::Done,
            xid: None,
        });
        roundtrip(ResourceMsg::AskResources {
            rsc_hold: RscSet::LOCAL,
            info: StandbyInfo::Other,
            xid: Some(GroupMask::new(0x1f)),
        });
        roundtrip(ResourceMsg::StandbyCancel {
            xid: GroupMask::new(7),
        });
        roundtrip(ResourceMsg::IpRequest { ipaddr: "10.0.0.1" });
        roundtrip(ResourceMsg::IpRequestResp {
            dest: "node1",
            ipaddr: "10.0.0.1",
            weown: false,
            ok: "OK",
        });
        for ms in [0, 7, 4_500, u32::MAX] {
            roundtrip(ResourceMsg::FenceNotice {
                node: "node2",
                in_ms: Millis::new(ms),
            });
        }
        roundtrip(ResourceMsg::Heal {
            groups: GroupMask::new(0x5),
            kept: GroupMask::new(0x1),
            kind: HealKind::Report,
        });
        roundtrip(ResourceMsg::Heal {
            groups: GroupMask::new(0x5),
            kept: GroupMask::new(0x1),
            kind: HealKind::Reply,
        });
        roundtrip(ResourceMsg::Heal {
            groups: GroupMask::new(0),
            kept: GroupMask::new(0),
            kind: HealKind::Released,
        });
        roundtrip(ResourceMsg::HbTakeover {
            rsc_hold: StandbySet::Failback,
        });
        roundtrip(ResourceMsg::Shutdone);
        roundtrip(ResourceMsg::Stonith {
            node: "node2",
            result: StonithResult::NotConfigured,
        });
    }

    #[test]
    fn field_order_is_3_0_6s() {
        let m = ResourceMsg::Resource(ResourceHeld {
            rsc_hold: RscSet::NONE,
            rtype_full: true,
            isstable: Some(false),
            info: Some(ResourceInfo::Shutdown),
            groups: None,
            reply_to: None,
        });
        let mut s = heapless::String::<128>::new();
        core::fmt::write(&mut s, format_args!("{m}")).unwrap();
        assert_eq!(
            s.as_str(),
            "t=resource rsc_hold=none rtype=full isstable=0 info=shutdown"
        );
    }

    #[test]
    fn group_mask_text() {
        assert_eq!(GroupMask::EMPTY.as_str(), "0");
        assert_eq!(GroupMask::new(0).as_str(), "0");
        assert_eq!(GroupMask::new(0xa).as_str(), "a");
        assert_eq!(GroupMask::new(u32::MAX).as_str(), "ffffffff");
        assert!(GroupMask::new(4).contains(2));
    }

    #[test]
    fn refuses_what_3_0_6_never_sends() {
        let mut m: Message<'_, 8> = Message::new();
        m.push_str("t", "resource").unwrap();
        assert_eq!(ResourceMsg::parse(&m), Err(ParseError::Missing("rsc_hold")));
        m.push_str("rsc_hold", "some").unwrap();
        assert_eq!(
            ResourceMsg::parse(&m),
            Err(ParseError::BadValue("rsc_hold"))
        );
        let mut s: Message<'_, 8> = Message::new();
        s.push_str("t", "status").unwrap();
        assert_eq!(ResourceMsg::parse(&s), Err(ParseError::NotResource));
        // ask_for_resources treats a missing rsc_hold as all.
        let mut a: Message<'_, 8> = Message::new();
        a.push_str("t", "ask_resources").unwrap();
        a.push_str("info", "ME").unwrap();
        assert_eq!(
            ResourceMsg::parse(&a),
            Ok(ResourceMsg::AskResources {
                rsc_hold: RscSet::ALL,
                info: StandbyInfo::Me,
                xid: None,
            })
        );
    }
}
