//! The watchdogs the loop pets: the `watchdog` device of ha.cf (`/dev/watchdog`, or the relay
//! board's with `watchdog relay:<tty>`) and systemd's (`WatchdogSec=`).

use crate::config::Loaded;
use crate::log::{Logger, Priority};
use crate::media::Medium;
use hb_core::time::Duration as CoreDuration;
use std::time::{Duration, Instant};
use watchdog::linux::LinuxWatchdog;
use watchdog::Watchdog as _;

/// The device that resets this machine when the loop stops petting it.
pub(super) enum WatchdogDev {
    Linux(LinuxWatchdog),
    /// `watchdog relay:<tty>`: the relay channel at this index of the media.
    Relay(usize),
}

/// What petting had to say, for the loop to log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum PetNote {
    /// The loop came close to the timeout (a warning).
    Late(String),
    /// A pet on the relay line at this media index failed; the next may get through.
    RelayFailed { medium: usize, text: String },
    /// The device could not be written and was closed, as heartbeat does (an error).
    Closed(String),
}

/// The watchdogs and when each was last petted.
pub(super) struct Watchdogs {
    /// The device and its timeout in force.
    dev: Option<(WatchdogDev, Duration)>,
    last_pet: Instant,
    /// systemd's interval (half its `WatchdogSec`), when it watches us.
    systemd: Option<Duration>,
    last_systemd_pet: Instant,
    /// Successful pets of the device so far (`hb_watchdog_pets_total`).
    pub(super) pets: u64,
}

impl Watchdogs {
    /// Opens and arms the `watchdog` device, or the relay channel `watchdog relay:<tty>`
    /// names: its timeout is the deadtime plus 10 ms, as heartbeat's (which the kernel rounds
    /// up to whole seconds; the relay keeps milliseconds). A device that cannot be opened is
    /// logged and left out.
    pub(super) fn open(cfg: &Loaded, media: &mut [Medium], logger: &Logger) -> Watchdogs {
        Watchdogs {
            dev: open_device(cfg, media, logger),
            last_pet: Instant::now(),
            systemd: None,
            last_systemd_pet: Instant::now(),
            pets: 0,
        }
    }

    /// Also pets systemd's watchdog when it watches us (`WATCHDOG_USEC`); the clocks start now.
    pub(super) fn start(&mut self) {
        let mut usec = 0;
        self.systemd = (sd_notify::watchdog_enabled(false, &mut usec) && usec > 0)
            .then(|| Duration::from_micros(usec) / 2);
        self.last_pet = Instant::now();
        self.last_systemd_pet = Instant::now();
    }

    /// The media index of the relay line that is the watchdog.
    pub(super) fn relay(&self) -> Option<usize> {
        match self.dev {
            Some((WatchdogDev::Relay(i), _)) => Some(i),
            _ => None,
        }
    }

    /// When the next pet is due.
    pub(super) fn next_due(&self, keepalive: CoreDuration) -> Option<Instant> {
        let dev = self
            .dev
            .as_ref()
            .map(|_| self.last_pet + pet_interval(keepalive));
        let systemd = self.systemd.map(|d| self.last_systemd_pet + d);
        [dev, systemd].into_iter().flatten().min()
    }

    /// Pets what is due at `now`. A relay line that hung up (`hung`) is skipped: its
    /// reopening is logged on its own.
    pub(super) fn pet_due(
        &mut self,
        now: Instant,
        keepalive: CoreDuration,
        media: &mut [Medium],
        hung: &[Option<Instant>],
    ) -> Vec<PetNote> {
        let mut notes = Vec::new();
        if now.duration_since(self.last_pet) >= pet_interval(keepalive) {
            let since = now.duration_since(self.last_pet);
            self.last_pet = now;
            if let Some((_, timeout)) = &self.dev {
                if held_up(since, *timeout) {
                    let (since, timeout) = (since.as_millis(), timeout.as_millis());
                    notes.push(PetNote::Late(format!(
                        "Watchdog petted {since} ms after the last pet, close to its {timeout} ms timeout: the heartbeat loop was held up"
                    )));
                }
                let r = self.pet(media, hung);
                self.pets += u64::from(r.is_ok());
                if let Err(text) = r {
                    match self.dev {
                        // The line's problem, logged at most once per interval like its
                        // other write errors; the next pet may get through.
                        Some((WatchdogDev::Relay(i), _)) => {
                            notes.push(PetNote::RelayFailed { medium: i, text })
                        }
                        // heartbeat closes a device it cannot write.
                        _ => {
                            notes.push(PetNote::Closed(text));
                            self.dev = None;
                        }
                    }
                }
            }
        }
        if let Some(d) = self.systemd {
            if now.duration_since(self.last_systemd_pet) >= d {
                self.last_systemd_pet = now;
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
            }
        }
        notes
    }

    /// Pets the device; an error says what failed.
    fn pet(&mut self, media: &mut [Medium], hung: &[Option<Instant>]) -> Result<(), String> {
        match &mut self.dev {
            Some((WatchdogDev::Linux(w), _)) => w.pet().map_err(|e| {
                let path = w.path().display().to_string();
                format!("Watchdog write failure: closing {path}! ({e:?})")
            }),
            Some((WatchdogDev::Relay(i), _)) if hung[*i].is_some() => Ok(()),
            Some((WatchdogDev::Relay(i), _)) => match media[*i].relay_mut() {
                Some(ch) => ch
                    .pet()
                    .map_err(|e| format!("Relay watchdog pet failed: {e}")),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// Disarms and forgets the device (a clean stop: the node must not be reset).
    pub(super) fn close(&mut self, media: &mut [Medium]) {
        match self.dev.take() {
            Some((WatchdogDev::Linux(mut w), _)) => {
                let _ = w.disarm();
            }
            Some((WatchdogDev::Relay(i), _)) => {
                if let Some(ch) = media[i].relay_mut() {
                    let _ = ch.disarm();
                }
            }
            None => {}
        }
    }
}

fn open_device(
    cfg: &Loaded,
    media: &mut [Medium],
    logger: &Logger,
) -> Option<(WatchdogDev, Duration)> {
    let dev = cfg.hacf.watchdog.as_deref()?;
    let t = CoreDuration::from_millis(cfg.hacf.deadtime.as_millis() + 10);
    if let Some(tty) = cfg.hacf.relay_watchdog() {
        let i = media
            .iter()
            .position(|m| m.relay().is_some_and(|r| r.link_name() == tty))?;
        let ch = media[i].relay_mut()?;
        logger.log(Priority::Notice, &format!("Using watchdog device: {dev}"));
        return match ch.arm(t) {
            Ok(got) => Some((
                WatchdogDev::Relay(i),
                Duration::from_millis(got.as_millis()),
            )),
            Err(e) => {
                logger.error(&format!("Cannot arm the relay watchdog on {tty}: {e}"));
                None
            }
        };
    }
    match LinuxWatchdog::open(dev) {
        Ok(mut w) => {
            logger.log(Priority::Notice, &format!("Using watchdog device: {dev}"));
            let timeout = match w.arm(t) {
                Ok(got) => Duration::from_millis(got.as_millis()),
                Err(e) => {
                    logger.error(&format!("Cannot set watchdog timeout on {dev}: {e:?}"));
                    // The driver's own timeout, as far as we can tell.
                    w.timeout()
                        .map(|d| Duration::from_millis(d.as_millis()))
                        .unwrap_or(Duration::from_secs(60))
                }
            };
            Some((WatchdogDev::Linux(w), timeout))
        }
        Err(e) => {
            logger.error(&format!("Cannot open watchdog device: {dev} ({e:?})"));
            None
        }
    }
}

/// The device is petted every keepalive (at least every 10 ms apart).
fn pet_interval(keepalive: CoreDuration) -> Duration {
    Duration::from_millis(keepalive.as_millis().max(10))
}

/// A pet that came within a quarter of the timeout: the loop was nearly the reason for a
/// reset, which is worth saying while there is still time to look.
fn held_up(since: Duration, timeout: Duration) -> bool {
    since * 4 > timeout * 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pets_follow_the_keepalive_with_a_floor() {
        assert_eq!(
            pet_interval(CoreDuration::from_millis(1000)),
            Duration::from_secs(1)
        );
        assert_eq!(
            pet_interval(CoreDuration::from_millis(2)),
            Duration::from_millis(10)
        );
    }

    #[test]
    fn a_pet_past_three_quarters_of_the_timeout_is_late() {
        let t = Duration::from_millis(1000);
        assert!(!held_up(Duration::from_millis(750), t));
        assert!(held_up(Duration::from_millis(751), t));
        assert!(!held_up(Duration::from_millis(100), t));
    }

    #[test]
    fn without_a_device_only_systemd_is_due() {
        let mut w = Watchdogs {
            dev: None,
            last_pet: Instant::now(),
            systemd: None,
            last_systemd_pet: Instant::now(),
            pets: 0,
        };
        let k = CoreDuration::from_millis(1000);
        assert_eq!(w.next_due(k), None);
        assert_eq!(w.relay(), None);
        let later = Instant::now() + Duration::from_secs(5);
        assert!(w.pet_due(later, k, &mut [], &[]).is_empty());
        w.systemd = Some(Duration::from_secs(3));
        assert_eq!(
            w.next_due(k),
            Some(w.last_systemd_pet + Duration::from_secs(3))
        );
    }
}
