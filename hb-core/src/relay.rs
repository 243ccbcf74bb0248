//! The relay board's frames (design §4): hosts talk to the relay over their serial lines in the
//! compact framing (COBS, CRC-32C, truncated-MAC trailer, see [`crate::msg::compact`]), with
//! header bit 7 set to tell the relay's own frames from the hosts' heartbeat messages, which the
//! relay forwards unchanged to every other port.
//!
//! `hb-firmware/PROTOCOL.md` is the full specification, with byte dumps; in short:
//!
//! ```text
//! content = header ‖ type ‖ link ‖ counter ‖ payload ‖ mac
//! header  = 0x80 | method << 4 | key index          (always signed: method 1–4)
//! type    = u8                 0x01–0x7f host → relay, 0x81–0xff relay → host
//! link    = u64 little-endian  the receiver's id for this link (0 in a hello)
//! counter = u32 little-endian  the sender's frame number on this link, strictly increasing
//! ```
//!
//! Replay protection is one rule applied by each side to what it receives: a frame counts only
//! if its `link` is the id the *receiver* chose for this link and its `counter` is above the
//! last one accepted there ([`ReplayGuard`]). The host chooses a fresh 64-bit session for each
//! [`Body::Hello`]; the relay answers with [`Body::Identify`] carrying a link id it never used
//! before (its boot id in the high half, a count of hellos in the low half), so frames
//! recorded on an earlier link, before a reboot of either side, or before a new hello, are
//! refused.
//!
//! Everything here is a pure codec: the relay's state machine lives in `hb-firmware`, the host
//! side in the `watchdog` crate.

use crate::auth::{AuthError, Keyring};
use crate::msg::compact::{self, CompactError, Frame, FrameAuth, RELAY_CLASS};
use crate::msg::{EncodeError, Sink};
use crate::time::Duration;

/// The protocol version this code speaks, carried in [`Body::Hello`] and [`Body::Identify`].
pub const VERSION: u8 = 1;

/// Serial ports (hosts) one relay serves. Four covers the usual two- and three-node clusters
/// plus a spare, and keeps a status frame well under [`MAX_FRAME_LEN`].
pub const MAX_PORTS: usize = 4;

/// Longest host name in a hello or a fence request: Linux's `HOST_NAME_MAX`, 64.
pub const MAX_NAME_LEN: usize = 64;

/// Longest frame the relay takes or forwards, in bytes on the wire (stuffed, with the
/// delimiter). A signed status heartbeat is 59; heartbeat itself writes serial frames in
/// 512-byte fragments. Longer frames are dropped and counted, never truncated.
pub const MAX_FRAME_LEN: usize = 512;

/// How long a reset line is held asserted for one reset. Supervisors that drive a CPU's reset
/// input assert it for 140–280 ms (TPS3823 and kin), a motherboard's reset header is debounced
/// over tens of milliseconds, and a mechanical relay in series takes 5–15 ms to close: half a
/// second covers all of them with margin, and is still short next to any host's boot.
pub const RESET_PULSE: Duration = Duration::from_millis(500);

/// Shortest pet timeout a relay accepts; shorter requests are raised to it. heartbeat's own
/// `/dev/watchdog` timeout is whole seconds (⌈deadtime + 10 ms⌉), and a second is still ten
/// times what a 59-byte heartbeat takes at heartbeat's slowest serial speed (9600 baud, 61 ms),
/// so a pet queued behind forwarded traffic does not miss it.
pub const MIN_PET_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest pet timeout a relay accepts; longer requests are lowered to it. An hour is beyond
/// any sensible `deadtime` (heartbeat's default is 30 s) and bounds how long a hung host can go
/// unnoticed by a misconfiguration.
pub const MAX_PET_TIMEOUT: Duration = Duration::from_secs(3600);

/// Pets a host sends without an acknowledgement before it assumes the relay lost the link (it
/// rebooted, or a hello of ours was lost) and says hello again. Three tolerates one lost ack
/// and one lost pet.
pub const MAX_UNACKED_PETS: u8 = 3;

// Frame types. Bit 7 tells the direction: clear from a host, set from the relay.
const HELLO: u8 = 0x01;
const PET: u8 = 0x02;
const FENCE: u8 = 0x03;
const STATUS_REQUEST: u8 = 0x04;
const HANG: u8 = 0x7f;
const IDENTIFY: u8 = 0x81;
const PET_ACK: u8 = 0x82;
const FENCE_RESULT: u8 = 0x83;
const STATUS: u8 = 0x84;

/// The longest body [`encode`] writes (type, link, counter and fields, without header, MAC
/// and CRC): a status of [`MAX_PORTS`] reports with the longest names.
const MAX_BODY: usize = 1 + 8 + 4 + 4 + 1 + MAX_PORTS * (1 + 6 * 4 + 1 + MAX_NAME_LEN);

// Every body `encode` can write makes a frame of at most `MAX_FRAME_LEN`: header, body, the
// longest MAC (16) and the CRC (4), one COBS code byte per 254 bytes and one more, and the
// delimiter. So `encode` needs no body length check of its own.
const _: () = {
    let content = 1 + MAX_BODY + 16 + 4;
    let wire = content + content / 254 + 1 + 1;
    assert!(wire <= MAX_FRAME_LEN);
};

/// The value of a status report's last-pet age that means "never petted".
const NEVER: u32 = u32::MAX;

/// What a fence request asks the relay to do with the target's reset line, named as
/// heartbeat's STONITH operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FenceAction {
    /// Assert the line for [`RESET_PULSE`], then release it: the host restarts.
    Reset = 1,
    /// Assert the line and keep it asserted: the host stays down.
    Off = 2,
    /// Release a line held by [`FenceAction::Off`].
    On = 3,
}

impl FenceAction {
    pub const fn code(self) -> u8 {
        self as u8
    }

    pub const fn from_code(code: u8) -> Option<FenceAction> {
        match code {
            1 => Some(FenceAction::Reset),
            2 => Some(FenceAction::Off),
            3 => Some(FenceAction::On),
            _ => None,
        }
    }

    /// heartbeat's word for the operation (`stonith -T reset|off|on`).
    pub const fn name(self) -> &'static str {
        match self {
            FenceAction::Reset => "reset",
            FenceAction::Off => "off",
            FenceAction::On => "on",
        }
    }
}

/// How a fence request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FenceOutcome {
    /// The line did what was asked: pulsed, held or released.
    Done = 0,
    /// No such port on this relay.
    BadTarget = 1,
    /// The request named a host, and the host that said hello on the target port has
    /// another name: the cabling or the request is wrong, so nothing was done.
    NameMismatch = 2,
    /// The requester already has a fence request under way.
    Busy = 3,
    /// A later request for the same target changed the outcome before this one finished
    /// (an `off` followed by a `reset` or `on`, or the other way round).
    Superseded = 4,
    /// The relay could not drive the line: nothing may have happened to the target.
    PinFault = 5,
}

impl FenceOutcome {
    pub const fn code(self) -> u8 {
        self as u8
    }

    pub const fn from_code(code: u8) -> Option<FenceOutcome> {
        match code {
            0 => Some(FenceOutcome::Done),
            1 => Some(FenceOutcome::BadTarget),
            2 => Some(FenceOutcome::NameMismatch),
            3 => Some(FenceOutcome::Busy),
            4 => Some(FenceOutcome::Superseded),
            5 => Some(FenceOutcome::PinFault),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            FenceOutcome::Done => "done",
            FenceOutcome::BadTarget => "bad target",
            FenceOutcome::NameMismatch => "name mismatch",
            FenceOutcome::Busy => "busy",
            FenceOutcome::Superseded => "superseded",
            FenceOutcome::PinFault => "pin fault",
        }
    }
}

/// A port's state bits in a status frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PortFlags(pub u8);

impl PortFlags {
    /// A host completed a hello on this port.
    pub const LINKED: u8 = 1 << 0;
    /// The port's watchdog is armed.
    pub const ARMED: u8 = 1 << 1;
    /// The reset line is asserted now (a pulse, or held off).
    pub const ASSERTED: u8 = 1 << 2;
    /// The reset line is held by a fence `off`.
    pub const HELD: u8 = 1 << 3;
    /// The watchdog reset this host and it has not linked again since.
    pub const WATCHDOG_FIRED: u8 = 1 << 4;

    pub const fn contains(self, bit: u8) -> bool {
        self.0 & bit == bit
    }
}

/// One port in a status frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortReport<'a> {
    pub flags: PortFlags,
    /// The pet timeout in force; 0 when disarmed.
    pub timeout_ms: u32,
    /// Milliseconds since the last accepted pet, `None` if never petted (saturates just below
    /// 49.7 days).
    pub last_pet_age_ms: Option<u32>,
    /// Reset pulses the watchdog gave this host.
    pub resets: u32,
    /// Fence actions executed on this port's line.
    pub fences: u32,
    /// Relay frames from this port that failed authentication or replay checks.
    pub rejected: u32,
    /// Bytes lost to noise on this port: frames with bad stuffing or CRC, or oversize.
    pub garbage: u32,
    /// The name from the host's hello; empty before one.
    pub name: &'a [u8],
}

/// The body of a status frame: the relay's uptime and one report per port.
#[derive(Clone, Copy, Debug)]
pub struct Status<'a> {
    pub uptime_s: u32,
    ports: Ports<'a>,
}

#[derive(Clone, Copy, Debug)]
enum Ports<'a> {
    Reports(&'a [PortReport<'a>]),
    /// Checked wire bytes of `count` reports.
    Wire {
        bytes: &'a [u8],
        count: u8,
    },
}

impl<'a> Status<'a> {
    /// A status to encode. Reports past [`MAX_PORTS`] are left out.
    pub fn new(uptime_s: u32, reports: &'a [PortReport<'a>]) -> Self {
        let reports = reports.get(..MAX_PORTS).unwrap_or(reports);
        Status {
            uptime_s,
            ports: Ports::Reports(reports),
        }
    }

    pub fn len(&self) -> usize {
        match self.ports {
            Ports::Reports(r) => r.len(),
            Ports::Wire { count, .. } => usize::from(count),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The per-port reports, port 0 first.
    pub fn ports(&self) -> PortReports<'a> {
        PortReports {
            ports: self.ports,
            index: 0,
            at: 0,
        }
    }
}

impl PartialEq for Status<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.uptime_s == other.uptime_s
            && self.len() == other.len()
            && self.ports().eq(other.ports())
    }
}

impl Eq for Status<'_> {}

/// The reports of a [`Status`].
#[derive(Clone, Debug)]
pub struct PortReports<'a> {
    ports: Ports<'a>,
    index: usize,
    at: usize,
}

impl<'a> Iterator for PortReports<'a> {
    type Item = PortReport<'a>;

    fn next(&mut self) -> Option<PortReport<'a>> {
        match self.ports {
            Ports::Reports(r) => {
                let item = r.get(self.index).copied();
                self.index += 1;
                item
            }
            Ports::Wire { bytes, count } => {
                if self.index >= usize::from(count) {
                    return None;
                }
                let mut r = Reader {
                    bytes,
                    pos: self.at,
                    base: 0,
                };
                // Checked when the frame was decoded; a failure here ends the list.
                let item = read_report(&mut r).ok()?;
                self.at = r.pos;
                self.index += 1;
                Some(item)
            }
        }
    }
}

/// What a relay frame says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// Host → relay: opens a link. `session` is the host's fresh id for it: the relay puts it
    /// in the `link` field of every frame it sends on the link. The frame's own `link` and
    /// `counter` are 0.
    Hello {
        version: u8,
        session: u64,
        name: &'a [u8],
    },
    /// Host → relay: "I am alive; reset me if you hear nothing for `timeout_ms`". 0 disarms
    /// the port's watchdog (a clean shutdown, like the magic close of `/dev/watchdog`).
    Pet { timeout_ms: u32 },
    /// Host → relay: act on port `target`'s reset line. A non-empty `name` must match the
    /// name the host on that port said hello with, if it did.
    Fence {
        target: u8,
        action: FenceAction,
        name: &'a [u8],
    },
    /// Host → relay: asks for a [`Body::Status`].
    StatusRequest,
    /// Host → relay, test builds of the firmware only: stop feeding the chip's watchdog, to
    /// prove that it reboots the relay. Other builds refuse it.
    Hang,
    /// Relay → host: answers a hello. `link` is the id the host must put in the `link` field
    /// of its frames from now on; `port` is the port the host is on, of `ports`.
    Identify {
        version: u8,
        link: u64,
        port: u8,
        ports: u8,
        pulse_ms: u32,
        min_timeout_ms: u32,
        max_timeout_ms: u32,
    },
    /// Relay → host: the pet with counter `counter` was accepted; the watchdog now runs with
    /// `timeout_ms` (after clamping), or is disarmed (0).
    PetAck { counter: u32, timeout_ms: u32 },
    /// Relay → host: the fence request with counter `counter` is finished.
    FenceResult {
        counter: u32,
        target: u8,
        action: FenceAction,
        outcome: FenceOutcome,
    },
    /// Relay → host: answers a status request.
    Status(Status<'a>),
}

impl Body<'_> {
    /// The type byte.
    pub const fn code(&self) -> u8 {
        match self {
            Body::Hello { .. } => HELLO,
            Body::Pet { .. } => PET,
            Body::Fence { .. } => FENCE,
            Body::StatusRequest => STATUS_REQUEST,
            Body::Hang => HANG,
            Body::Identify { .. } => IDENTIFY,
            Body::PetAck { .. } => PET_ACK,
            Body::FenceResult { .. } => FENCE_RESULT,
            Body::Status(_) => STATUS,
        }
    }

    /// Whether the relay sends this type (else a host does).
    pub const fn from_relay(&self) -> bool {
        self.code() & 0x80 != 0
    }

    pub const fn name(&self) -> &'static str {
        match self {
            Body::Hello { .. } => "hello",
            Body::Pet { .. } => "pet",
            Body::Fence { .. } => "fence",
            Body::StatusRequest => "status request",
            Body::Hang => "hang",
            Body::Identify { .. } => "identify",
            Body::PetAck { .. } => "pet ack",
            Body::FenceResult { .. } => "fence result",
            Body::Status(_) => "status",
        }
    }
}

/// A relay frame: the link it belongs to, its number there, and what it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayFrame<'a> {
    /// The receiver's id of the link (0 in a hello).
    pub link: u64,
    /// The sender's frame number on the link.
    pub counter: u32,
    pub body: Body<'a>,
}

/// Why a frame was not taken as a relay frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RelayError {
    /// Bad stuffing, CRC or header: line noise.
    Frame(CompactError),
    /// Header bit 7 is clear: a heartbeat message, not a relay frame.
    NotRelay,
    /// No MAC: relay frames are always signed.
    Unsigned,
    /// The MAC does not verify with our keys.
    Auth(AuthError),
    /// Fields that do not fit the type (too short, too long, a bad name or code); `at` is the
    /// offset in the frame content.
    Malformed { at: usize },
    /// A type byte this version does not know.
    UnknownType(u8),
    /// The frame belongs to a link that is not the receiver's current one (an old session,
    /// another boot of the relay, a replayed hello's link).
    StaleLink,
    /// The counter is not above the last one accepted on the link.
    Replay,
}

impl core::fmt::Display for RelayError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            RelayError::Frame(e) => write!(f, "relay frame: {e}"),
            RelayError::NotRelay => f.write_str("not a relay frame (a heartbeat message)"),
            RelayError::Unsigned => f.write_str("relay frame: not signed"),
            RelayError::Auth(e) => write!(f, "relay frame: {e}"),
            RelayError::Malformed { at } => write!(f, "relay frame: malformed at byte {at}"),
            RelayError::UnknownType(t) => write!(f, "relay frame: unknown type 0x{t:02x}"),
            RelayError::StaleLink => f.write_str("relay frame: not on the current link"),
            RelayError::Replay => f.write_str("relay frame: counter not above the last (replay)"),
        }
    }
}

impl From<CompactError> for RelayError {
    fn from(e: CompactError) -> Self {
        RelayError::Frame(e)
    }
}

impl From<AuthError> for RelayError {
    fn from(e: AuthError) -> Self {
        RelayError::Auth(e)
    }
}

/// Encodes `frame` as one complete wire frame (COBS, trailing 0x00), signed with the active key
/// of `keys`; returns its length. At most [`MAX_FRAME_LEN`] bytes.
pub fn encode<const K: usize>(
    frame: &RelayFrame<'_>,
    keys: &Keyring<K>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    // A bad name is refused before the key is looked for or anything is written, as when
    // the body was built apart first.
    let names_ok = match frame.body {
        Body::Hello { name, .. } | Body::Fence { name, .. } => name_is_valid(name),
        Body::Status(s) => s.ports().all(|p| name_is_valid(p.name)),
        _ => true,
    };
    if !names_ok {
        return Err(EncodeError::BadValue);
    }
    let cap = out.len().min(MAX_FRAME_LEN);
    let out = out.get_mut(..cap).unwrap_or_default();
    // The body is written straight into the framing (MAC, CRC, stuffing): a body buffer would
    // be 378 bytes of a relay board's stack.
    compact::seal(RELAY_CLASS, keys, out, |w| put_body(frame, w))
}

fn put_body<S: Sink>(frame: &RelayFrame<'_>, w: &mut S) -> Result<(), EncodeError> {
    w.put(&[frame.body.code()])?;
    w.put(&frame.link.to_le_bytes())?;
    w.put(&frame.counter.to_le_bytes())?;
    match frame.body {
        Body::Hello {
            version,
            session,
            name,
        } => {
            w.put(&[version])?;
            w.put(&session.to_le_bytes())?;
            put_name(w, name)?;
        }
        Body::Pet { timeout_ms } => w.put(&timeout_ms.to_le_bytes())?,
        Body::Fence {
            target,
            action,
            name,
        } => {
            w.put(&[target, action.code()])?;
            put_name(w, name)?;
        }
        Body::StatusRequest | Body::Hang => {}
        Body::Identify {
            version,
            link,
            port,
            ports,
            pulse_ms,
            min_timeout_ms,
            max_timeout_ms,
        } => {
            w.put(&[version])?;
            w.put(&link.to_le_bytes())?;
            w.put(&[port, ports])?;
            for v in [pulse_ms, min_timeout_ms, max_timeout_ms] {
                w.put(&v.to_le_bytes())?;
            }
        }
        Body::PetAck {
            counter,
            timeout_ms,
        } => {
            w.put(&counter.to_le_bytes())?;
            w.put(&timeout_ms.to_le_bytes())?;
        }
        Body::FenceResult {
            counter,
            target,
            action,
            outcome,
        } => {
            w.put(&counter.to_le_bytes())?;
            w.put(&[target, action.code(), outcome.code()])?;
        }
        Body::Status(s) => {
            w.put(&s.uptime_s.to_le_bytes())?;
            let count = u8::try_from(s.len()).map_err(|_| EncodeError::BufferFull)?;
            w.put(&[count])?;
            for p in s.ports() {
                w.put(&[p.flags.0])?;
                let age = p.last_pet_age_ms.map_or(NEVER, |a| a.min(NEVER - 1));
                for v in [p.timeout_ms, age, p.resets, p.fences, p.rejected, p.garbage] {
                    w.put(&v.to_le_bytes())?;
                }
                put_name(w, p.name)?;
            }
        }
    }
    Ok(())
}

/// Writes a name [`encode`] has checked.
fn put_name<S: Sink>(w: &mut S, name: &[u8]) -> Result<(), EncodeError> {
    w.put(&[name.len() as u8])?;
    w.put(name)
}

/// Whether a host name can travel in a relay frame: at most [`MAX_NAME_LEN`] printable ASCII
/// characters without spaces (what `uname -n` gives; empty is allowed).
pub fn name_is_valid(name: &[u8]) -> bool {
    name.len() <= MAX_NAME_LEN && name.iter().all(|c| c.is_ascii_graphic())
}

/// Whether a checked frame is a relay frame (header bit 7) rather than a heartbeat message.
pub fn is_relay_frame(frame: &Frame<'_>) -> bool {
    frame
        .content()
        .first()
        .is_some_and(|h| h & RELAY_CLASS != 0)
}

/// Takes a checked frame as a relay frame: its class and signature header, not yet verified.
pub fn open<'a>(frame: &Frame<'a>) -> Result<Sealed<'a>, RelayError> {
    if !is_relay_frame(frame) {
        return Err(RelayError::NotRelay);
    }
    let auth = frame.class_auth(RELAY_CLASS)?.ok_or(RelayError::Unsigned)?;
    let body = auth.signed.get(1..).unwrap_or_default();
    Ok(Sealed { auth, body })
}

/// Verifies and parses a checked frame: [`open`] then [`Sealed::verify`].
pub fn decode<'a, const K: usize>(
    frame: &Frame<'a>,
    keys: &Keyring<K>,
) -> Result<RelayFrame<'a>, RelayError> {
    open(frame)?.verify(keys)
}

/// A relay frame whose signature has not been checked yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sealed<'a> {
    pub auth: FrameAuth<'a>,
    body: &'a [u8],
}

impl<'a> Sealed<'a> {
    /// Checks the MAC with `keys` (see [`FrameAuth::verify`]), then parses the fields.
    pub fn verify<const K: usize>(&self, keys: &Keyring<K>) -> Result<RelayFrame<'a>, RelayError> {
        self.auth.verify(keys)?;
        self.parse_unverified()
    }

    /// Parses the fields without checking the MAC: for tools that show frames, never for
    /// acting on them.
    pub fn parse_unverified(&self) -> Result<RelayFrame<'a>, RelayError> {
        parse(self.body)
    }
}

fn parse(bytes: &[u8]) -> Result<RelayFrame<'_>, RelayError> {
    // Offsets in errors count from the start of the content: the header byte is 1 before.
    let mut r = Reader {
        bytes,
        pos: 0,
        base: 1,
    };
    let code = r.u8()?;
    let link = r.u64()?;
    let counter = r.u32()?;
    let body = match code {
        HELLO => Body::Hello {
            version: r.u8()?,
            session: r.u64()?,
            name: r.name()?,
        },
        PET => Body::Pet {
            timeout_ms: r.u32()?,
        },
        FENCE => Body::Fence {
            target: r.u8()?,
            action: r.action()?,
            name: r.name()?,
        },
        STATUS_REQUEST => Body::StatusRequest,
        HANG => Body::Hang,
        IDENTIFY => Body::Identify {
            version: r.u8()?,
            link: r.u64()?,
            port: r.u8()?,
            ports: r.u8()?,
            pulse_ms: r.u32()?,
            min_timeout_ms: r.u32()?,
            max_timeout_ms: r.u32()?,
        },
        PET_ACK => Body::PetAck {
            counter: r.u32()?,
            timeout_ms: r.u32()?,
        },
        FENCE_RESULT => Body::FenceResult {
            counter: r.u32()?,
            target: r.u8()?,
            action: r.action()?,
            outcome: {
                let at = r.at();
                FenceOutcome::from_code(r.u8()?).ok_or(RelayError::Malformed { at })?
            },
        },
        STATUS => {
            let uptime_s = r.u32()?;
            let count_at = r.at();
            let count = r.u8()?;
            if usize::from(count) > MAX_PORTS {
                return Err(RelayError::Malformed { at: count_at });
            }
            let start = r.pos;
            for _ in 0..count {
                read_report(&mut r)?;
            }
            let reports = bytes.get(start..r.pos).unwrap_or_default();
            Body::Status(Status {
                uptime_s,
                ports: Ports::Wire {
                    bytes: reports,
                    count,
                },
            })
        }
        other => return Err(RelayError::UnknownType(other)),
    };
    if r.pos != bytes.len() {
        return Err(RelayError::Malformed { at: r.at() });
    }
    Ok(RelayFrame {
        link,
        counter,
        body,
    })
}

fn read_report<'a>(r: &mut Reader<'a>) -> Result<PortReport<'a>, RelayError> {
    let flags = PortFlags(r.u8()?);
    let timeout_ms = r.u32()?;
    let age = r.u32()?;
    let resets = r.u32()?;
    let fences = r.u32()?;
    let rejected = r.u32()?;
    let garbage = r.u32()?;
    let name = r.name()?;
    Ok(PortReport {
        flags,
        timeout_ms,
        last_pet_age_ms: (age != NEVER).then_some(age),
        resets,
        fences,
        rejected,
        garbage,
        name,
    })
}

/// A cursor over a frame body; every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Added to `pos` in error offsets.
    base: usize,
}

impl<'a> Reader<'a> {
    fn at(&self) -> usize {
        self.pos + self.base
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], RelayError> {
        let at = self.at();
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(RelayError::Malformed { at })?;
        let out = self.bytes.get(self.pos..end).unwrap_or_default();
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RelayError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, RelayError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, RelayError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, RelayError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn name(&mut self) -> Result<&'a [u8], RelayError> {
        let at = self.at();
        let len = self.u8()?;
        let name = self.take(usize::from(len))?;
        if name_is_valid(name) {
            Ok(name)
        } else {
            Err(RelayError::Malformed { at })
        }
    }

    fn action(&mut self) -> Result<FenceAction, RelayError> {
        let at = self.at();
        FenceAction::from_code(self.u8()?).ok_or(RelayError::Malformed { at })
    }
}

/// The receiving end of one link: its id (chosen by the receiver) and the last counter
/// accepted. A frame is fresh only if it carries this link id and a higher counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReplayGuard {
    link: u64,
    last: u32,
}

impl ReplayGuard {
    /// A new link: nothing accepted yet, so any counter from 1 up is fresh.
    pub const fn new(link: u64) -> Self {
        ReplayGuard { link, last: 0 }
    }

    pub const fn link(&self) -> u64 {
        self.link
    }

    /// The last counter accepted (0 before any).
    pub const fn last(&self) -> u32 {
        self.last
    }

    /// Whether a frame with `link` and `counter` would be fresh, without taking it.
    pub fn check(&self, link: u64, counter: u32) -> Result<(), RelayError> {
        if link != self.link {
            Err(RelayError::StaleLink)
        } else if counter <= self.last {
            Err(RelayError::Replay)
        } else {
            Ok(())
        }
    }

    /// Takes a fresh frame: later frames must carry a higher counter.
    pub fn accept(&mut self, link: u64, counter: u32) -> Result<(), RelayError> {
        self.check(link, counter)?;
        self.last = counter;
        Ok(())
    }
}

/// The sending end of one link: numbers frames 1, 2, 3, … . After `u32::MAX` frames it is
/// spent and the link must be opened again with a hello.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Counter(u32);

impl Counter {
    pub const fn new() -> Self {
        Counter(0)
    }

    /// The counter of the next frame, or `None` once spent.
    pub fn advance(&mut self) -> Option<u32> {
        self.0 = self.0.checked_add(1)?;
        Some(self.0)
    }

    /// The counter of the last frame sent (0 before any).
    pub const fn last(&self) -> u32 {
        self.0
    }
}

/// The link id a relay hands out for its `hello`-th hello since boot `boot_id`: unique as long
/// as boot ids do not repeat.
pub const fn link_id(boot_id: u32, hello: u32) -> u64 {
    (boot_id as u64) << 32 | hello as u64
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::auth::Method;
    use std::vec::Vec;

    fn keys() -> Keyring {
        let mut k = Keyring::new();
        k.insert(1, Method::Sha1, b"mysecret").unwrap();
        k.set_active(1).unwrap();
        k
    }

    fn round_trip(f: &RelayFrame<'_>) -> usize {
        let k = keys();
        let mut wire = [0u8; MAX_FRAME_LEN];
        let n = encode(f, &k, &mut wire).unwrap();
        assert_eq!(wire[n - 1], 0);
        assert!(!wire[..n - 1].contains(&0));
        let frame = Frame::unstuff(&mut wire[..n]).unwrap();
        assert!(is_relay_frame(&frame));
        // A heartbeat decoder refuses it instead of misreading it.
        assert_eq!(frame.auth(), Err(CompactError::Unsupported));
        let got = decode(&frame, &k).unwrap();
        assert_eq!(&got, f);
        n
    }

    fn reports() -> [PortReport<'static>; 3] {
        [
            PortReport {
                flags: PortFlags(PortFlags::LINKED | PortFlags::ARMED),
                timeout_ms: 30_000,
                last_pet_age_ms: Some(812),
                resets: 0,
                fences: 1,
                rejected: 2,
                garbage: 3,
                name: b"node1",
            },
            PortReport {
                flags: PortFlags(PortFlags::WATCHDOG_FIRED),
                timeout_ms: 0,
                last_pet_age_ms: None,
                resets: 1,
                name: b"node2",
                ..PortReport::default()
            },
            PortReport::default(),
        ]
    }

    #[test]
    fn every_type_round_trips() {
        let name = [b'n'; MAX_NAME_LEN];
        let r = reports();
        let bodies = [
            Body::Hello {
                version: VERSION,
                session: 0x0123_4567_89ab_cdef,
                name: b"node1",
            },
            Body::Hello {
                version: 9,
                session: 0,
                name: &name,
            },
            Body::Pet { timeout_ms: 30_000 },
            Body::Fence {
                target: 2,
                action: FenceAction::Reset,
                name: b"node2",
            },
            Body::Fence {
                target: 255,
                action: FenceAction::On,
                name: b"",
            },
            Body::StatusRequest,
            Body::Hang,
            Body::Identify {
                version: VERSION,
                link: link_id(7, 1),
                port: 0,
                ports: 4,
                pulse_ms: 500,
                min_timeout_ms: 1000,
                max_timeout_ms: 3_600_000,
            },
            Body::PetAck {
                counter: 5,
                timeout_ms: 0,
            },
            Body::FenceResult {
                counter: 9,
                target: 1,
                action: FenceAction::Off,
                outcome: FenceOutcome::Superseded,
            },
            Body::Status(Status::new(77, &r)),
            Body::Status(Status::new(0, &[])),
        ];
        for body in bodies {
            round_trip(&RelayFrame {
                link: 42,
                counter: 3,
                body,
            });
        }
        // The biggest frame there is: four ports with the longest names.
        let big = [PortReport {
            name: &name,
            last_pet_age_ms: Some(u32::MAX - 1),
            ..PortReport::default()
        }; MAX_PORTS];
        let n = round_trip(&RelayFrame {
            link: u64::MAX,
            counter: u32::MAX,
            body: Body::Status(Status::new(u32::MAX, &big)),
        });
        assert!(n <= MAX_FRAME_LEN, "{n}");
        // Its body is the longest: header, body, a sha1 MAC (12), the CRC, at least one COBS
        // code byte, the delimiter.
        let least = 1 + MAX_BODY + 12 + 4 + 1 + 1;
        assert!(n >= least, "{n}");
        // An age of u32::MAX would read as "never": it saturates one below.
        let aged = [PortReport {
            last_pet_age_ms: Some(u32::MAX),
            ..PortReport::default()
        }];
        let mut wire = [0u8; 128];
        let k = keys();
        let f = RelayFrame {
            link: 1,
            counter: 1,
            body: Body::Status(Status::new(1, &aged)),
        };
        let n = encode(&f, &k, &mut wire).unwrap();
        let frame = Frame::unstuff(&mut wire[..n]).unwrap();
        let Body::Status(s) = decode(&frame, &k).unwrap().body else {
            panic!("not a status");
        };
        let age = s.ports().next().unwrap().last_pet_age_ms;
        assert_eq!(age, Some(u32::MAX - 1));
    }

    #[test]
    fn unsigned_heartbeat_and_forged_frames_are_refused() {
        let k = keys();
        let f = RelayFrame {
            link: 1,
            counter: 1,
            body: Body::Pet { timeout_ms: 1000 },
        };
        let mut wire = [0u8; 128];
        let n = encode(&f, &k, &mut wire).unwrap();
        let good = wire;
        // A heartbeat message is not a relay frame.
        let mut hb = [0u8; 64];
        let m =
            compact::encode(&[crate::msg::Field::string("t", "status")], None, &mut hb).unwrap();
        let frame = Frame::unstuff(&mut hb[..m]).unwrap();
        assert!(!is_relay_frame(&frame));
        assert_eq!(decode(&frame, &k), Err(RelayError::NotRelay));
        // The same body without a MAC.
        let content = Vec::from(Frame::unstuff(&mut wire[..n]).unwrap().content());
        let body = &content[1..content.len() - 12];
        let mut unsigned = [0u8; 128];
        let m = reframe(0x80, body, &mut unsigned);
        let frame = Frame::unstuff(&mut unsigned[..m]).unwrap();
        assert_eq!(decode(&frame, &k), Err(RelayError::Unsigned));
        // A flipped body bit with a good CRC: the MAC catches it.
        let mut forged = content.clone();
        forged[3] ^= 1;
        let mut out = [0u8; 128];
        let m = reframe(forged[0], &forged[1..], &mut out);
        let frame = Frame::unstuff(&mut out[..m]).unwrap();
        assert_eq!(
            decode(&frame, &k),
            Err(RelayError::Auth(AuthError::Mismatch { index: 1 }))
        );
        // The right frame with someone else's key.
        let mut other = Keyring::new();
        other.insert(1, Method::Sha1, b"not-mine").unwrap();
        let mut w = good;
        let frame = Frame::unstuff(&mut w[..n]).unwrap();
        assert_eq!(
            decode(&frame, &other),
            Err(RelayError::Auth(AuthError::Mismatch { index: 1 }))
        );
        let mut w = good;
        let frame = Frame::unstuff(&mut w[..n]).unwrap();
        assert_eq!(decode(&frame, &k), Ok(f));
    }

    /// Frames `header ‖ body` with a good CRC and stuffing and no MAC of its own.
    fn reframe(header: u8, body: &[u8], out: &mut [u8]) -> usize {
        let mut content = Vec::from([header]);
        content.extend_from_slice(body);
        let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(&content);
        content.extend_from_slice(&crc.to_le_bytes());
        let n = cobs::try_encode(&content, out).unwrap();
        out[n] = 0;
        n + 1
    }

    #[test]
    fn malformed_bodies_are_refused_with_their_offset() {
        let k = keys();
        let sign = |body: &[u8]| {
            let mut out = [0u8; 256];
            let n = compact::seal(RELAY_CLASS, &k, &mut out, |w| w.put(body)).unwrap();
            let mut frame = Vec::from(&out[..n]);
            let f = Frame::unstuff(&mut frame).unwrap();
            decode(&f, &k).map(|_| ())
        };
        let prefix = |t: u8| {
            let mut v = Vec::from([t]);
            v.extend([0u8; 12]);
            v
        };
        assert_eq!(sign(&[]), Err(RelayError::Malformed { at: 1 }));
        assert_eq!(sign(&prefix(0x55)), Err(RelayError::UnknownType(0x55)));
        let mut pet = prefix(PET);
        assert_eq!(sign(&pet), Err(RelayError::Malformed { at: 14 }));
        pet.extend([1, 0, 0, 0, 9]);
        assert_eq!(sign(&pet), Err(RelayError::Malformed { at: 18 }));
        let mut fence = prefix(FENCE);
        fence.extend([0, 7, 0]);
        assert_eq!(sign(&fence), Err(RelayError::Malformed { at: 15 }));
        let mut fence = prefix(FENCE);
        fence.extend([0, 1, 3, b'a', b' ', b'b']);
        assert_eq!(sign(&fence), Err(RelayError::Malformed { at: 16 }));
        let mut status = prefix(STATUS);
        status.extend([0, 0, 0, 0, 5]);
        assert_eq!(sign(&status), Err(RelayError::Malformed { at: 18 }));
        let mut hello = prefix(HELLO);
        hello.extend([1; 9]);
        hello.push(65);
        hello.extend([b'a'; 65]);
        assert_eq!(sign(&hello), Err(RelayError::Malformed { at: 23 }));
    }

    #[test]
    fn names_must_be_printable_and_short() {
        assert!(name_is_valid(b""));
        assert!(name_is_valid(b"node-1.example"));
        assert!(!name_is_valid(b"a b"));
        assert!(!name_is_valid(b"\xff"));
        assert!(!name_is_valid(&[b'a'; MAX_NAME_LEN + 1]));
        let f = RelayFrame {
            link: 0,
            counter: 0,
            body: Body::Hello {
                version: 1,
                session: 1,
                name: b"bad name",
            },
        };
        assert_eq!(
            encode(&f, &keys(), &mut [0u8; 128]),
            Err(EncodeError::BadValue)
        );
        assert_eq!(
            encode(&f, &Keyring::new(), &mut [0u8; 128]),
            Err(EncodeError::BadValue)
        );
    }

    #[test]
    fn replay_guard_takes_each_counter_once_and_only_on_its_link() {
        let mut g = ReplayGuard::new(link_id(3, 1));
        assert_eq!(g.accept(link_id(3, 1), 1), Ok(()));
        assert_eq!(g.accept(link_id(3, 1), 1), Err(RelayError::Replay));
        assert_eq!(g.accept(link_id(3, 1), 0), Err(RelayError::Replay));
        assert_eq!(g.accept(link_id(3, 1), 5), Ok(()));
        assert_eq!(g.accept(link_id(3, 1), 4), Err(RelayError::Replay));
        assert_eq!(g.accept(link_id(3, 2), 6), Err(RelayError::StaleLink));
        assert_eq!(g.accept(link_id(2, 1), 6), Err(RelayError::StaleLink));
        assert_eq!(g.check(link_id(3, 1), 6), Ok(()));
        assert_eq!(g.last(), 5);
        let mut c = Counter::new();
        assert_eq!((c.advance(), c.advance(), c.last()), (Some(1), Some(2), 2));
        let mut spent = Counter(u32::MAX - 1);
        assert_eq!((spent.advance(), spent.advance()), (Some(u32::MAX), None));
    }

    #[test]
    fn buffers_too_small_are_errors() {
        let f = RelayFrame {
            link: 1,
            counter: 1,
            body: Body::Pet { timeout_ms: 1 },
        };
        let k = keys();
        let full = encode(&f, &k, &mut [0u8; 128]).unwrap();
        for len in 0..full {
            assert_eq!(
                encode(&f, &k, &mut vec_of(len)),
                Err(EncodeError::BufferFull)
            );
        }
        assert_eq!(
            encode(&f, &Keyring::new(), &mut [0u8; 128]),
            Err(EncodeError::NoKey)
        );
    }

    fn vec_of(len: usize) -> Vec<u8> {
        std::vec![0u8; len]
    }

    #[test]
    fn garbage_never_panics() {
        let k = keys();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let len = (next() % 120) as usize;
            let mut body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Mostly well-typed prefixes, so the payload parsers are reached.
            if let Some(t) = body.first_mut() {
                let types = [
                    HELLO,
                    PET,
                    FENCE,
                    STATUS_REQUEST,
                    HANG,
                    IDENTIFY,
                    PET_ACK,
                    FENCE_RESULT,
                    STATUS,
                ];
                if *t & 1 == 0 {
                    *t = types[usize::from(*t >> 1) % types.len()];
                }
            }
            let _ = parse(&body);
            let mut out = [0u8; 512];
            let n = compact::seal(RELAY_CLASS, &k, &mut out, |w| w.put(&body)).unwrap();
            let f = Frame::unstuff(&mut out[..n]).unwrap();
            if let Ok(RelayFrame {
                body: Body::Status(s),
                ..
            }) = decode(&f, &k)
            {
                assert_eq!(s.ports().count(), s.len());
            }
        }
    }
}
