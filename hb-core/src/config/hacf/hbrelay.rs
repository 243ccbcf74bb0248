//! hb's relay board in `ha.cf`, beyond its `relay` medium line: the board as the watchdog
//! (`watchdog relay:<tty>`) and as the `hbrelay` STONITH device
//! (`stonith_host <from> hbrelay <tty> [node=port ...]`).
//!
//! The STONITH parameters are parsed when asked for ([`StonithHost::hbrelay`]), not when the
//! file is read: heartbeat looks at a `stonith_host` line only on the node it names, so a
//! line for another node must not make the file invalid, and keeping the parsed form of every
//! line in [`HaCf`] would cost each node several kilobytes for devices it never uses. The same
//! parser reads the `ttydev` parameter of `stonith -t hbrelay` ([`HbRelayParams::parse`]).

use core::fmt;

use heapless::{String, Vec};

use super::types::{Path, ARGS_LEN, PATH_LEN};
use super::{HaCf, StonithHost};
use crate::config::{lowercase, NodeName};
use crate::relay::{name_is_valid, MAX_PORTS};

/// The `stonith_host` type name of the relay board's STONITH device.
pub const HBRELAY: &str = "hbrelay";

/// The prefix of `watchdog relay:<tty>`. heartbeat's `watchdog` takes a device path, and no
/// device path begins with `relay:`, so the prefix cannot be mistaken for one.
pub const RELAY_WATCHDOG_PREFIX: &str = "relay:";

/// `node=port` pairs one `hbrelay` device may list: as many as a parameter string of
/// [`ARGS_LEN`] bytes can hold (`a=0,` is four bytes), so no `ha.cf` line is refused for it.
pub const MAX_HBRELAY_PINS: usize = ARGS_LEN / 4;

/// The parameters of an `hbrelay` STONITH device: `<tty> [node=port ...]`, cluster-glue style
/// (its one parameter, `ttydev`, takes the rest of the line; words are split on blanks and
/// commas).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HbRelayParams {
    /// The relay's tty, a full path.
    pub device: Path,
    /// Hosts pinned to relay ports, for a host that has not said hello since the relay booted
    /// (without a pin the relay's status names the ports).
    pub pinned: Vec<PinnedPort, MAX_HBRELAY_PINS>,
}

/// One `node=port` word of an `hbrelay` device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinnedPort {
    /// Lowercased, as heartbeat compares node names.
    pub node: NodeName,
    /// Below [`MAX_PORTS`].
    pub port: u8,
}

/// Why an `hbrelay` parameter string was refused. `Display` is the message the daemon logs
/// after the file and line (`/etc/ha.d/ha.cf:12: hbrelay: ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HbRelayError {
    /// No word at all.
    NoDevice,
    /// The first word is not a full path (or is longer than [`PATH_LEN`]).
    NotADevicePath(String<ARGS_LEN>),
    /// A later word without `=`.
    NotNodePort(String<ARGS_LEN>),
    /// The part after `=` is not a port number below [`MAX_PORTS`].
    BadPort(String<ARGS_LEN>),
    /// The part before `=` is empty or cannot travel in a relay frame.
    BadHost(String<ARGS_LEN>),
    /// More than [`MAX_HBRELAY_PINS`] pairs (only a `stonith -t hbrelay` command line can
    /// write that many).
    TooManyPins,
}

impl HbRelayParams {
    /// Parses `<tty> [node=port ...]`.
    #[allow(clippy::result_large_err)] // no allocator to box it; read once at start-up
    pub fn parse(value: &str) -> Result<HbRelayParams, HbRelayError> {
        let mut words = value
            .split(|c: char| c.is_ascii_whitespace() || c == ',')
            .filter(|w| !w.is_empty());
        let first = words.next().ok_or(HbRelayError::NoDevice)?;
        let device =
            device_path(first).ok_or_else(|| HbRelayError::NotADevicePath(shown(first)))?;
        let mut pinned = Vec::new();
        for w in words {
            let (node, port) = w
                .split_once('=')
                .ok_or_else(|| HbRelayError::NotNodePort(shown(w)))?;
            let port_no = port
                .parse::<u8>()
                .ok()
                .filter(|&p| usize::from(p) < MAX_PORTS)
                .ok_or_else(|| HbRelayError::BadPort(shown(port)))?;
            if node.is_empty() || !name_is_valid(node.as_bytes()) {
                return Err(HbRelayError::BadHost(shown(node)));
            }
            // A valid relay name is at most NODE_NAME_LEN bytes, so it always fits.
            let node = lowercase(node).ok_or_else(|| HbRelayError::BadHost(shown(node)))?;
            pinned
                .push(PinnedPort {
                    node,
                    port: port_no,
                })
                .map_err(|_| HbRelayError::TooManyPins)?;
        }
        Ok(HbRelayParams { device, pinned })
    }

    /// The port pinned to `node` (compared lowercased), the first one listed if several.
    pub fn port_of(&self, node: &str) -> Option<u8> {
        self.pinned
            .iter()
            .find(|p| p.node.eq_ignore_ascii_case(node))
            .map(|p| p.port)
    }
}

impl StonithHost {
    /// The parameters of an `hbrelay` device, parsed; `None` for any other STONITH type.
    #[allow(clippy::result_large_err)] // no allocator to box it; read once at start-up
    pub fn hbrelay(&self) -> Option<Result<HbRelayParams, HbRelayError>> {
        (self.kind.as_str() == HBRELAY).then(|| HbRelayParams::parse(&self.params))
    }
}

impl HaCf {
    /// The relay's tty of `watchdog relay:<tty>`, or `None` when the watchdog is an ordinary
    /// device (or there is none). The parser has checked that the tty is a full path.
    pub fn relay_watchdog(&self) -> Option<&str> {
        self.watchdog
            .as_deref()
            .and_then(|w| w.strip_prefix(RELAY_WATCHDOG_PREFIX))
    }

    /// The `hbrelay` devices that apply on node `local` (`stonith_host *` or its name), each
    /// with its line, parsed, in file order.
    pub fn hbrelays_for<'s>(
        &'s self,
        local: &'s str,
    ) -> impl Iterator<Item = (crate::config::Pos, Result<HbRelayParams, HbRelayError>)> + 's {
        self.stonith_hosts_for(local)
            .filter_map(|s| s.value.hbrelay().map(|p| (s.at, p)))
    }
}

/// A device path as heartbeat's serial media want it: absolute, no blanks (the split above
/// leaves none), and short enough to keep.
fn device_path(word: &str) -> Option<Path> {
    if !word.starts_with('/') || word.len() > PATH_LEN {
        return None;
    }
    let mut p = Path::new();
    p.push_str(word).ok()?;
    Some(p)
}

/// The offending word, for the message. Parameters from ha.cf are at most [`ARGS_LEN`] bytes;
/// a longer word from a command line is cut on a character boundary.
fn shown(word: &str) -> String<ARGS_LEN> {
    let mut s = String::new();
    for c in word.chars() {
        if s.push(c).is_err() {
            break;
        }
    }
    s
}

impl fmt::Display for HbRelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HbRelayError::NoDevice => f.write_str("hbrelay: needs the relay's tty"),
            HbRelayError::NotADevicePath(d) => {
                write!(f, "`{d}` is not a device path (/dev/ttyUSB0)")
            }
            HbRelayError::NotNodePort(w) => write!(f, "hbrelay: `{w}` is not node=port"),
            HbRelayError::BadPort(p) => write!(
                f,
                "hbrelay: `{p}` is not a relay port (0-{})",
                MAX_PORTS - 1
            ),
            HbRelayError::BadHost(n) => write!(f, "hbrelay: `{n}` is not a host name"),
            HbRelayError::TooManyPins => {
                write!(f, "hbrelay: more than {MAX_HBRELAY_PINS} node=port pairs")
            }
        }
    }
}
