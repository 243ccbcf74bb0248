//! Replay protection: the numbering of frames on a link.

use super::RelayError;

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
pub struct Counter(pub(super) u32);

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
