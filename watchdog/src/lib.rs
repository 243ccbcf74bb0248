//! Watchdogs for hb: the [`Watchdog`] trait, and two of its implementations.
//!
//! - [`relay::RelayWatchdog`]: the client of the relay board's external watchdog; it pets
//!   this host's channel on the relay over a serial port (`no_std`, any
//!   [`embedded_io::Write`]). The relay resets the host when the pets stop.
//! - `linux::LinuxWatchdog` (feature `linux`): the kernel's `/dev/watchdog`, as heartbeat uses
//!   it (`WDIOC_SETTIMEOUT`, `WDIOC_KEEPALIVE`, magic close `V`).
//!
//! The relay firmware's own chip watchdog implements the same trait in its board crate.
#![cfg_attr(not(feature = "linux"), no_std)]
#![deny(unsafe_code)]
#![warn(missing_debug_implementations)]

#[cfg(feature = "linux")]
pub mod linux;
pub mod relay;

pub use hb_core::time::Duration;

/// A watchdog: once armed, something resets the machine unless it is petted more often than
/// its timeout. Each implementation says what "something" is and how it rounds timeouts.
pub trait Watchdog {
    type Error: core::fmt::Debug;

    /// Starts the watchdog, or changes the timeout of a running one, and pets it. Returns the
    /// timeout in force, which the device may have rounded (to whole seconds, say) or clamped.
    fn arm(&mut self, timeout: Duration) -> Result<Duration, Self::Error>;

    /// Restarts the countdown.
    fn pet(&mut self) -> Result<(), Self::Error>;

    /// Stops the watchdog on purpose (a clean shutdown). Dropping an armed watchdog without
    /// this leaves it running where the device allows it: a crash is then caught too.
    fn disarm(&mut self) -> Result<(), Self::Error>;
}

impl<W: Watchdog + ?Sized> Watchdog for &mut W {
    type Error = W::Error;

    fn arm(&mut self, timeout: Duration) -> Result<Duration, Self::Error> {
        (**self).arm(timeout)
    }

    fn pet(&mut self) -> Result<(), Self::Error> {
        (**self).pet()
    }

    fn disarm(&mut self) -> Result<(), Self::Error> {
        (**self).disarm()
    }
}
