//! What relay frames say: their bodies and the values in them, and the errors of the codec.

use super::*;
use crate::auth::{AuthError, Method};
use crate::msg::compact::CompactError;

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
    /// Refused, with nothing done: the requester lost a fence race. The relay reset the
    /// requester on another host's request less than [`super::FENCE_WINDOW`] ago (or is
    /// resetting it now), so it may not reset another host ([`super::FenceArbiter`]).
    LostRace = 6,
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
            6 => Some(FenceOutcome::LostRace),
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
            FenceOutcome::LostRace => "lost the fence race",
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
    pub(super) ports: Ports<'a>,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Ports<'a> {
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
    /// Host → relay: keep this key and verify and sign with it from now on (issue 17). A relay
    /// without a key takes it on link 0, counter 0, signed with the key itself (first
    /// provisioning); a keyed relay only on a fresh link, signed with its current key
    /// (re-keying). `session` is where the answer goes on link 0.
    Key {
        session: u64,
        index: u8,
        method: Method,
        secret: &'a [u8],
    },
    /// Host → relay: asks for a [`Body::Info`]; link 0, counter 0, answered whatever the MAC.
    InfoRequest { session: u64 },
    /// Relay → host: answers a key request; `outcome` is one of the `KEY_*` outcomes.
    KeyResult { outcome: u8, index: u8 },
    /// Relay → host: what the board is. Unsigned (method `crc`, key 0) when it has no key.
    Info(Info<'a>),
}

/// The answer to an info request: enough to tell what a board runs and how it is keyed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info<'a> {
    /// The protocol version, [`VERSION`].
    pub version: u8,
    /// The firmware's version (the `hb-firmware` crate's), printable ASCII.
    pub firmware: &'a [u8],
    /// One of the `BOOT_*` causes.
    pub boot_cause: u8,
    /// Where the key comes from: one of the `KEY_SOURCE_*` values.
    pub key_source: u8,
    /// The key's `authkeys` index and method; meaningless when `key_source` is
    /// [`KEY_SOURCE_NONE`].
    pub key_index: u8,
    pub key_method: Option<Method>,
    pub ports: u8,
    pub uptime_s: u32,
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
            Body::Key { .. } => KEY,
            Body::InfoRequest { .. } => INFO_REQUEST,
            Body::KeyResult { .. } => KEY_RESULT,
            Body::Info(_) => INFO,
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
            Body::Key { .. } => "key",
            Body::InfoRequest { .. } => "info request",
            Body::KeyResult { .. } => "key result",
            Body::Info(_) => "info",
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

pub(super) fn read_report<'a>(r: &mut Reader<'a>) -> Result<PortReport<'a>, RelayError> {
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
pub(super) struct Reader<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
    /// Added to `pos` in error offsets.
    pub(super) base: usize,
}

impl<'a> Reader<'a> {
    /// A key secret: a length byte, then up to [`MAX_SECRET_LEN`] bytes of any value.
    pub(super) fn secret(&mut self) -> Result<&'a [u8], RelayError> {
        let at = self.at();
        let n = self.u8()?;
        if usize::from(n) > MAX_SECRET_LEN {
            return Err(RelayError::Malformed { at });
        }
        self.take(usize::from(n))
    }

    /// A method code of the compact header (1 `crc` … 4 `sha256`); 0 is none.
    pub(super) fn method(&mut self) -> Result<Option<Method>, RelayError> {
        let at = self.at();
        match self.u8()? {
            0 => Ok(None),
            c => method_from_code(c)
                .map(Some)
                .ok_or(RelayError::Malformed { at }),
        }
    }

    pub(super) fn at(&self) -> usize {
        self.pos + self.base
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], RelayError> {
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

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], RelayError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub(super) fn u8(&mut self) -> Result<u8, RelayError> {
        Ok(self.array::<1>()?[0])
    }

    pub(super) fn u32(&mut self) -> Result<u32, RelayError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(super) fn u64(&mut self) -> Result<u64, RelayError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(super) fn name(&mut self) -> Result<&'a [u8], RelayError> {
        let at = self.at();
        let len = self.u8()?;
        let name = self.take(usize::from(len))?;
        if name_is_valid(name) {
            Ok(name)
        } else {
            Err(RelayError::Malformed { at })
        }
    }

    pub(super) fn action(&mut self) -> Result<FenceAction, RelayError> {
        let at = self.at();
        FenceAction::from_code(self.u8()?).ok_or(RelayError::Malformed { at })
    }
}
