//! The `heartbeat` daemon: a drop-in for 3.0.6's `/usr/lib/heartbeat/heartbeat` (issue 4).
//!
//! Start-up order (spec-behaviour §1.7, §8, §10): read and check the three files (any problem
//! is one line naming file, line and column, exit 6, nothing opened); fork into the
//! background (the parent waits until the child is running or has failed, and exits with its
//! status, so `heartbeat` returning 0 means "running" and not only "forked"); take the pid
//! file; open the logs; the generation and UUID; realtime priority and locked memory when
//! permitted; the watchdog, the media and the control socket; then the loop.
//!
//! [`run`] is the loop (design §3): one thread that waits in `poll(2)` on the media, the
//! signals (a signalfd), the control socket and the action worker's wake-up socket, until the
//! core's next deadline. The worker ([`worker`]) runs resource scripts and fencing.

pub mod actions;
pub mod cli;
pub mod events;
mod run;
pub mod worker;

pub use run::{run, Options};

/// The version we report (`heartbeat -V`, logs).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
