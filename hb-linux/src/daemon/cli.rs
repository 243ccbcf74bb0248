//! `heartbeat`'s command line: 3.0.6's flags that still make sense (spec-behaviour §10.1).

use super::worker::Executor;
use crate::config;
use crate::log::Logger;
use crate::state::PidFile;
use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long `-k` waits for the daemon to hand over and exit.
const STOP_WAIT: Duration = Duration::from_secs(600);

#[derive(Parser, Debug)]
#[command(
    name = "heartbeat",
    version = super::VERSION,
    about = "hb: the heartbeat high-availability daemon (compatible with heartbeat 3.0.6)",
    disable_version_flag = true
)]
struct Args {
    /// Configuration directory (ha.cf, haresources, authkeys).
    #[arg(short = 'c', long = "config-dir", default_value = "/etc/ha.d")]
    dir: PathBuf,
    /// More debug output (repeatable).
    #[arg(short = 'd', action = clap::ArgAction::Count)]
    debug: u8,
    /// Stay in the foreground and log to standard error too (for systemd and tests).
    #[arg(short = 'f', long = "foreground")]
    foreground: bool,
    /// Stop the running daemon (it hands its resources over first) and wait until it is gone.
    #[arg(short = 'k', conflicts_with_all = ["reload", "status"])]
    kill: bool,
    /// Make the running daemon re-read its configuration (start one if none runs): a changed
    /// ha.cf makes it re-execute itself keeping its resources, as 3.0.6 does.
    #[arg(short = 'r', conflicts_with = "status")]
    reload: bool,
    /// Internal (3.0.6's flag): this is the daemon re-executing itself on a reload; it keeps
    /// its pid and the resources it runs.
    #[arg(short = 'R', conflicts_with_all = ["reload", "status", "kill"])]
    restarting: bool,
    /// With -R: the resources held, as 3.0.6 passes them (none, local, foreign, all).
    #[arg(short = 'C', requires = "restarting", value_name = "RESOURCES")]
    current: Option<String>,
    /// With -R (hb's own): a resource group kept, by its haresources key (repeated).
    #[arg(long = "held", requires = "restarting", value_name = "KEY")]
    held: Vec<String>,
    /// Say whether the daemon runs (exit 0 running, 3 stopped, 1 stale pid file).
    #[arg(short = 's')]
    status: bool,
    /// Check the configuration and print it as understood.
    #[arg(short = 'v')]
    verbose_config: bool,
    /// Print the version.
    #[arg(short = 'V', long = "version")]
    version: bool,
    /// No realtime priority and no locked memory.
    #[arg(short = 'l')]
    no_realtime: bool,
    /// This node's name (default: DIR/nodeinfo, or `uname -n`).
    #[arg(long)]
    node: Option<String>,
    /// Where the generation counter and UUID live.
    #[arg(long, default_value = crate::state::STATE_DIR)]
    state_dir: PathBuf,
    /// The control socket hbctl talks to.
    #[arg(long, default_value = crate::control::DEFAULT_SOCKET)]
    socket: PathBuf,
    /// The pid file.
    #[arg(long, default_value = crate::state::PID_FILE)]
    pid_file: PathBuf,
}

/// The daemon's command line as clap sees it, for its man page and shell completion.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}

#[inline(never)]
pub fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    if args.version {
        println!("{}", super::VERSION);
        return ExitCode::SUCCESS;
    }
    if args.status {
        return ExitCode::from(status(&args.pid_file));
    }
    if args.kill {
        return ExitCode::from(stop(&args.pid_file));
    }
    if args.verbose_config {
        return ExitCode::from(print_config(&args.dir, args.node.as_deref()));
    }
    if args.reload {
        if let Some(code) = signal_reload(&args.dir, args.node.as_deref(), &args.pid_file) {
            return ExitCode::from(code);
        }
    }
    if args.restarting && !names_us(&args.pid_file) {
        // 3.0.6: -R is only for the daemon re-executing itself.
        eprintln!("heartbeat: ERROR: -R: heartbeat is not running as this process (it is for the daemon's own restart)");
        return ExitCode::from(6);
    }
    let opts = super::Options {
        config_dir: args.dir,
        node: args.node,
        foreground: args.foreground,
        debug: args.debug,
        state_dir: args.state_dir,
        socket: args.socket,
        pid_file: args.pid_file,
        no_realtime: args.no_realtime,
        resume: args.restarting.then(|| super::Resume {
            current: args.current.unwrap_or_else(|| "none".into()),
            held: args.held,
        }),
        executor: default_executor,
    };
    ExitCode::from(super::run(opts))
}

// The two helpers below each hold a whole loaded configuration (about 40 KiB) on the stack.
// Kept out of `main`, whose frame lies under the daemon's loop for its whole life: inlined,
// their space was part of that frame, and the pages stayed resident (and locked) for good.

/// `-v`: the configuration as understood.
#[inline(never)]
fn print_config(dir: &Path, node: Option<&str>) -> u8 {
    match config::load(dir, node, &mut |w| eprintln!("heartbeat: WARN: {w}")) {
        Ok(l) => {
            println!("{:#?}", l.hacf);
            0
        }
        Err(r) => {
            for l in r.lines {
                eprintln!("heartbeat: ERROR: {l}");
            }
            r.exit
        }
    }
}

/// `-r` with a daemon running: check the files, then signal it (`None`: none runs, start one).
#[inline(never)]
fn signal_reload(dir: &Path, node: Option<&str>, pid_file: &Path) -> Option<u8> {
    let Ok(Some(pid)) = PidFile::running(pid_file) else {
        return None;
    };
    if let Err(r) = config::load(dir, node, &mut |_| {}) {
        for l in r.lines {
            eprintln!("heartbeat: ERROR: {l}");
        }
        eprintln!("heartbeat: ERROR: Config errors: Heartbeat pid {pid} NOT restarted");
        return Some(r.exit);
    }
    eprintln!("heartbeat: info: Signalling heartbeat pid {pid} to reread config files");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGHUP,
    );
    Some(0)
}

/// Whether the pid file names this process (a re-executed daemon left it for itself).
fn names_us(pid_file: &Path) -> bool {
    std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        == Some(std::process::id())
}

fn status(pid_file: &Path) -> u8 {
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    match PidFile::running(pid_file) {
        Ok(Some(pid)) => {
            println!("heartbeat OK [pid {pid} et al] is running on {host} [{host}]...");
            0
        }
        Ok(None) if pid_file.exists() => {
            println!("heartbeat is stopped. No process");
            1
        }
        Ok(None) => {
            println!("heartbeat is stopped. No process");
            3
        }
        Err(e) => {
            eprintln!("heartbeat: ERROR: {e}");
            4
        }
    }
}

fn stop(pid_file: &Path) -> u8 {
    let pid = match PidFile::running(pid_file) {
        Ok(Some(pid)) => pid,
        Ok(None) => {
            eprintln!("heartbeat: info: Heartbeat already stopped.");
            return 0;
        }
        Err(e) => {
            eprintln!("heartbeat: ERROR: {e}");
            return 1;
        }
    };
    let pid = nix::unistd::Pid::from_raw(pid);
    if let Err(e) = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM) {
        eprintln!("heartbeat: ERROR: cannot signal pid {pid}: {e}");
        return 1;
    }
    let start = Instant::now();
    while start.elapsed() < STOP_WAIT {
        if !matches!(PidFile::running(pid_file), Ok(Some(_))) {
            return 0;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("heartbeat: ERROR: pid {pid} still running after {STOP_WAIT:?}");
    1
}

/// Carries out resource actions with the resource scripts and native IP takeover.
fn default_executor(
    cfg: &config::Loaded,
    relays: &[crate::media::relay::FenceHandle],
    logger: Arc<Logger>,
) -> Result<Box<dyn Executor>, String> {
    Ok(Box::new(super::actions::ActionRunner::new(
        cfg, relays, logger,
    )?))
}
