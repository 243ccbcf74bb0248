//! heartbeat's log text, all in one place. The machines log values: the membership engine its
//! [`Event`](crate::engine::Event)s, the resource machine its
//! [`resources::LogMsg`](crate::resources::LogMsg), ipfail its
//! [`ipfail::LogMsg`](crate::ipfail::LogMsg). This module turns each into 3.0.6's exact words
//! (behaviour spec §4, §6, §9.2), so that logs read as heartbeat's and the scripts and habits
//! built on them keep working: a [`Line`] is the value with the [`Names`] its ids print as, and
//! its `Display` is the text (without the priority word, which [`Line::level`] gives). No I/O
//! here: the daemon writes the text to its log files and syslog, the simulator to its record.
//!
//! One [`Names`] trait serves every line; a source that knows only some names (the resource
//! machine has no link names, the daemon's engine lines no group keys) leaves the rest at `?`.

mod engine;
mod ipfail;
mod resources;

pub use engine::event_line;

use core::fmt;

use crate::engine::{MediumId, NodeId};
use crate::resources::GroupId;

/// A log line's priority, heartbeat's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Level {
    Debug,
    Info,
    Warn,
    Err,
    Crit,
}

impl Level {
    /// The word heartbeat prints: `debug`, `info`, `WARN`, `ERROR`, `CRIT`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "WARN",
            Level::Err => "ERROR",
            Level::Crit => "CRIT",
        }
    }
}

/// The names log lines print for ids.
pub trait Names {
    /// A node's name (cluster and ping nodes).
    fn node(&self, id: NodeId) -> &str;
    /// The link name of a medium: its interface or serial device.
    fn link(&self, medium: MediumId) -> &str {
        let _ = medium;
        "?"
    }
    /// A resource group's key (its haresources line's first resource).
    fn group(&self, id: GroupId) -> &str {
        let _ = id;
        "?"
    }
    /// This node's own name.
    fn local(&self) -> &str {
        "?"
    }
}

/// Something logged, with heartbeat's words for it.
pub trait Text {
    /// The priority heartbeat logs it at.
    fn level(&self) -> Level;
    /// The text, without the priority word.
    fn write_text(&self, names: &dyn Names, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// A logged value with the names it needs: `Display` is heartbeat's text.
pub struct Line<'a, M> {
    pub msg: M,
    names: &'a dyn Names,
}

impl<'a, M: Text> Line<'a, M> {
    pub fn new(msg: M, names: &'a dyn Names) -> Self {
        Line { msg, names }
    }

    pub fn level(&self) -> Level {
        self.msg.level()
    }
}

impl<M: Text> fmt::Debug for Line<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.level().as_str(), self)
    }
}

impl<M: Text> fmt::Display for Line<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.msg.write_text(self.names, f)
    }
}
