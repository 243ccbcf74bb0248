//! The `heartbeat` daemon: a drop-in for 3.0.6's `/usr/lib/heartbeat/heartbeat` (issue 4).
//!
//! Start-up order (spec-behaviour §1.7, §8, §10): read and check the three files
//! ([`crate::config`]: any problem is one line naming file, line and column, exit 6, nothing
//! opened); fork into the background (the parent waits until the child is running or has
//! failed, and exits with its status, so `heartbeat` returning 0 means "running" and not only
//! "forked"); take the pid file; open the logs; the generation and UUID; realtime priority and
//! locked memory when permitted; the watchdog, the media and the control socket; then the loop.
//!
//! The rooms, each a file:
//! - `start`: [`run`], the start-up above, which builds the daemon;
//! - `process`: what concerns the process itself: fork and the ready report, realtime
//!   priority, the signal mask, reboot and re-exec;
//! - `event_loop`: the loop (design §3): one thread that waits in `poll(2)` on the media, the
//!   signals (a signalfd), the control socket and the action worker's wake-up socket, until the
//!   core's next deadline; dispatches what is ready and pumps the core's events and packets;
//! - `reload`: SIGHUP and `heartbeat -r`: judges the new files, and the re-exec that keeps
//!   the resources (its state, when it is due, the new image's command line);
//! - `control_server`: the control socket: accept, peer checks, requests and answers;
//!   `status` builds the status answer;
//! - `watchdogs`: `/dev/watchdog` or the relay board's, and systemd's;
//! - `relays`: the relay board lines besides the media (watchdog and STONITH roles);
//! - `observe`: the Prometheus metrics, per-link gaps and takeover records (issue 16);
//! - [`worker`]: the action worker that runs resource scripts and fencing, with
//!   [`actions`]' executor; [`cli`]: the command line. The words of the log lines are
//!   hb-core's ([`hb_core::log`]); the loop names the ids and writes the lines.
//!
//! Arrows point down this list's dependencies only: the rooms do not know the loop, the loop
//! uses the rooms, and start-up builds the loop.

pub mod actions;
mod api_hook;
pub mod cli;
mod control_server;
mod event_loop;
mod observe;
mod process;
mod relays;
mod reload;
mod start;
mod status;
mod steady_reads;
mod watchdogs;
pub mod worker;

pub use start::run;

use crate::config::Loaded;
use crate::log::Logger;
use crate::media::relay::FenceHandle;
use std::path::PathBuf;
use std::sync::Arc;

/// The version we report (`heartbeat -V`, logs).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Cluster nodes plus ping nodes.
const NODES: usize = 32;
const MEDIA: usize = 16;
const GROUPS: usize = 32;
/// The core's node, with the daemon's capacities.
type Heartbeat = hb_core::heartbeat::Heartbeat<NODES, MEDIA, GROUPS>;

/// Builds the worker's executor from the configuration (errors name the ha.cf line).
/// `relays` are the daemon's relay channels, for an `hbrelay` STONITH device on one of them.
pub type MakeExecutor =
    fn(&Loaded, &[FenceHandle], Arc<Logger>) -> Result<Box<dyn worker::Executor>, String>;

/// How the daemon was started.
#[derive(Clone, Debug)]
pub struct Options {
    pub config_dir: PathBuf,
    /// Our node name instead of `uname -n` / DIR/nodeinfo.
    pub node: Option<String>,
    pub foreground: bool,
    /// `-d`, repeated: more debug logging.
    pub debug: u8,
    pub state_dir: PathBuf,
    pub socket: PathBuf,
    pub pid_file: PathBuf,
    /// `-l`: no realtime priority and no locked memory, whatever ha.cf says.
    pub no_realtime: bool,
    /// `-R`: this is the daemon re-executing itself on a reload (see [`Resume`]).
    pub resume: Option<Resume>,
    /// Carries out resource actions and fencing.
    pub executor: MakeExecutor,
}

/// What a daemon re-executing itself on a reload carries across the exec (3.0.6's
/// `heartbeat -R -C <resources>`; the groups by key are hb's own, `--held`).
#[derive(Clone, Debug, Default)]
pub struct Resume {
    /// `-C`: `none`, `local`, `foreign` or `all` (3.0.6's `decode_resources`).
    pub current: String,
    /// `--held`: the groups running here, by haresources key. Without any, `current` says
    /// which: every local and/or foreign group.
    pub held: Vec<String>,
}
