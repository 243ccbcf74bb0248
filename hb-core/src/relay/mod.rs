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
const KEY: u8 = 0x05;
const INFO_REQUEST: u8 = 0x06;
const KEY_RESULT: u8 = 0x85;
const INFO: u8 = 0x86;

/// Longest key secret a [`Body::Key`] carries. HMAC replaces a key longer than its block (64
/// bytes for md5, sha1 and sha256) by the key's hash, so a host sends such a key hashed: every
/// `authkeys` key fits.
pub const MAX_SECRET_LEN: usize = 64;

/// Key result: the key is kept in flash and in use.
pub const KEY_STORED: u8 = 0;
/// Key result: the flash would not take it; the board keeps the key it had.
pub const KEY_FLASH_FAILED: u8 = 1;
/// Key result: the board's key is compiled into its image and cannot change.
pub const KEY_IN_IMAGE: u8 = 2;
/// Key result: the board cannot hold that key (method and secret disagree, index past 15).
pub const KEY_UNUSABLE: u8 = 3;

/// Info: the board has no key — it forwards nothing and fences nothing.
pub const KEY_SOURCE_NONE: u8 = 0;
/// Info: the key is compiled into the image (`HB_RELAY_AUTHKEYS`).
pub const KEY_SOURCE_IMAGE: u8 = 1;
/// Info: the key was provisioned over a serial line and is kept in flash.
pub const KEY_SOURCE_FLASH: u8 = 2;

/// Boot causes in an info answer, as far as the chip can tell.
pub const BOOT_UNKNOWN: u8 = 0;
pub const BOOT_POWER_ON: u8 = 1;
pub const BOOT_WATCHDOG: u8 = 2;
pub const BOOT_RESET_PIN: u8 = 3;
pub const BOOT_SOFTWARE: u8 = 4;

/// A boot cause's word, for logs and `hbctl relay status`.
pub const fn boot_cause_name(cause: u8) -> &'static str {
    match cause {
        BOOT_POWER_ON => "power-on",
        BOOT_WATCHDOG => "watchdog",
        BOOT_RESET_PIN => "reset pin",
        BOOT_SOFTWARE => "software",
        _ => "unknown",
    }
}

/// The compact header's code of an authentication method (PROTOCOL.md §1).
pub const fn method_code(m: crate::auth::Method) -> u8 {
    use crate::auth::Method;
    match m {
        Method::Crc => 1,
        Method::Md5 => 2,
        Method::Sha1 => 3,
        Method::Sha256 => 4,
    }
}

/// The method of a compact header code.
pub const fn method_from_code(code: u8) -> Option<crate::auth::Method> {
    use crate::auth::Method;
    Some(match code {
        1 => Method::Crc,
        2 => Method::Md5,
        3 => Method::Sha1,
        4 => Method::Sha256,
        _ => return None,
    })
}

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

mod arbiter;
mod codec;
mod frames;
mod link;
#[cfg(test)]
mod tests;

pub use arbiter::{
    allows as arbiter_allows, marks as arbiter_marks, FenceArbiter, FencedAt, FENCE_WINDOW,
};
pub use codec::{decode, encode, is_relay_frame, name_is_valid, open, Sealed};
pub use frames::{
    Body, FenceAction, FenceOutcome, Info, PortFlags, PortReport, PortReports, RelayError,
    RelayFrame, Status,
};
pub use link::{link_id, Counter, ReplayGuard};
