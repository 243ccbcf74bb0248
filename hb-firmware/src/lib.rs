//! The relay board's firmware logic (design §4), as a sans-IO state machine that runs the same
//! on the board and in host tests.
//!
//! A [`Relay`] owns up to [`MAX_PORTS`] serial ports (one per host, any
//! [`embedded_io`] port with readiness) and as many reset outputs
//! ([`embedded_hal::digital::OutputPin`]). The board's main loop calls [`Relay::poll`] with the
//! time; each call reads what the ports have without blocking, acts, and writes what the ports
//! take:
//!
//! - **Star**: every heartbeat message (a compact frame, header bit 7 clear) that arrives on a
//!   port goes out unchanged on every other port. The relay holds no key for this and checks
//!   only the CRC: the hosts authenticate each other's heartbeats end to end.
//! - **External watchdog**: a host that opened a link ([`hb_core::relay::Body::Hello`]) and
//!   armed its channel with a pet is reset — one pulse of [`RESET_PULSE`] on its line — when
//!   no pet arrives for its timeout. The port is marked and stays disarmed until the host pets
//!   again.
//! - **Fencing**: a signed, fresh fence request pulses, holds or releases a line and is
//!   answered when the line has settled. Fence races are settled
//!   ([`hb_core::relay::FenceArbiter`]): a host the relay fenced on another's request less
//!   than [`hb_core::relay::FENCE_WINDOW`] ago cannot fence another host (`LostRace`).
//! - **Self-watchdog**: [`Relay::healthy`] says whether the chip's watchdog may be fed.
//!
//! **Memory.** Everything the relay keeps besides its ports and pins — receive buffers, send
//! queues, host state, keys, events — is a [`Storage`]: 6 KiB for four ports and one key on a
//! Cortex-M (`boards/README.md` has the breakdown). A board puts it in a `static` `MaybeUninit`, builds
//! it in place with [`Storage::init`], loads the keys into [`Storage::keys_mut`] and hands it
//! to [`Relay::with_storage`], so it is never on the stack; [`Relay::new`] owns its storage
//! (host tests).
//!
//! Everything from a host is untrusted: no input panics, allocates or grows memory; relay
//! frames count only with a valid MAC from the cluster's `authkeys` and a fresh link and
//! counter. `hb-firmware/PROTOCOL.md` specifies the wire protocol.
#![no_std]
#![deny(unsafe_code)] // but for `Storage::init`, which builds the storage in place
#![warn(missing_debug_implementations)]

mod buffers;
pub mod keystore;
mod relay;

pub use hb_core::relay::{FenceAction, FenceOutcome, RelayError, MAX_PORTS, RESET_PULSE};
pub use hb_core::time::{Duration, Instant};
pub use relay::{Config, Event, Level, PortStats, Relay, Storage, FIRMWARE_VERSION};

/// The longest the main loop may take between two [`Relay::poll`] calls and still count as
/// healthy. A loop that sleeps until the next interrupt (a byte, or the 1 ms tick) goes round
/// in well under a millisecond; a tenth of a second means something blocks, and it is also
/// the most a reset pulse may run over its [`RESET_PULSE`] (a fifth of it).
pub const MAX_LOOP_GAP: Duration = Duration::from_millis(100);

/// The timeout a board gives its chip watchdog: ten times [`MAX_LOOP_GAP`], so a healthy loop
/// is never near it, and short enough that a hung relay is back within about a second — less
/// than the shortest pet timeout a host can ask for. A relay that reboots drives every reset
/// line inactive and forgets every link; hosts notice the missing acknowledgements and say
/// hello again, so a relay reboot never resets a host.
pub const CHIP_WATCHDOG_TIMEOUT: Duration = Duration::from_secs(1);

/// Bytes read from one port per [`Relay::poll`] at most, so one chattering port cannot starve
/// the others or the timers: 256 bytes is 22 ms of a 115200-baud line.
pub const READ_BUDGET: usize = 256;

/// Bytes queued for sending per port: one of the longest frames (with its delimiter) and, behind
/// it, room for any answer but a status — an identify, pet acknowledgement or fence result is
/// at most 59 bytes — so a host's pets and fences are answered even while a long heartbeat
/// message is going out to it. A status request that finds the queue that full is dropped (and
/// counted); the host asks again. One frame rather than two: the queues are most of the relay's
/// memory, and a port at 115 200 baud drains a longest frame in 45 ms.
pub const TX_QUEUE_LEN: usize = hb_core::relay::MAX_FRAME_LEN + 1 + 63;

/// Events kept for [`Relay::next_event`]; later ones are counted and dropped. A board drains
/// them after every poll, and they only feed its log: eight (96 bytes) hold what one poll
/// brings but for a flood of refused frames, whose excess is counted (`events_lost`). (32 until
/// the provisioning of issue 17 needed the RAM under the 8 KiB goal.)
pub const EVENT_QUEUE_LEN: usize = 8;
