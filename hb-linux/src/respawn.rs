//! `respawn` and `failfast` children (behaviour spec §10.2), for one poll loop.
//!
//! heartbeat starts every `respawn USER COMMAND` line after comm-up, in file order, as
//! `/bin/sh -c "exec COMMAND"` run as USER (initgroups, setgid, setuid), with stdin, stdout and
//! stderr on `/dev/null`, in a process group of its own [VY heartbeat/heartbeat.c:
//! start_a_child_client]. When one dies [ManagedChildDied]:
//! - exit code 100 means "do not restart me" (ipfail uses it);
//! - otherwise it is restarted, unless it died less than 30 s after it was started more than
//!   10 times in a row: then `Client CMD "respawning too fast"` and it is not restarted again;
//! - a quick re-spawn (the previous run lived less than 30 s) waits 1 s before the exec;
//! - a `failfast` child that dies by a signal or with a non-zero code outside shutdown reboots
//!   the machine: here [`Reaped::reboot`] tells the daemon to, we never reboot ourselves.
//!   (3.0.6 also reboots when a failfast child is killed by a signal *during* shutdown, which
//!   includes its own SIGTERM; the spec and our daemon only reboot outside shutdown.)
//!
//! At shutdown they are stopped in reverse order, one at a time: SIGTERM to the child's process
//! group, wait for it to die, then the next [shutdown_last_client_child]. We bound each wait
//! ([`RespawnConfig::stop_wait`]) and then send SIGKILL, which heartbeat does not.
//!
//! # Sans-blocking
//!
//! Nothing here sleeps or blocks: [`Respawner::reap`] collects our own children with
//! `waitpid(pid, WNOHANG)` for each pid we started (never `waitpid(-1)`: the action worker waits
//! for its scripts by pid and must not have them stolen), [`Respawner::poll_timeout`] says when
//! a delayed re-spawn or a stop deadline is due and [`Respawner::handle_timeout`] acts on it.
//! The daemon calls `reap` when SIGCHLD arrives (or on every loop turn: it is cheap). Time is
//! passed in, so tests can run the 30 s rule on a made-up clock.
//!
//! # Log lines
//!
//! The lines are heartbeat's. Its process tracker (`PT_LOGVERBOSE`, cluster-glue
//! `proctrack.c: ReportProcHasDied`) logs every death as `Managed CMD process PID exited with
//! return code N.` (info for 0, else WARN) or `Managed CMD process PID killed by signal N
//! [SIGTERM - Termination (ANSI)].` (WARN), and because that counts as "logged", heartbeat's own
//! `Client CMD exited with return code N.` / `Client CMD (pid=PID) killed by signal N.` (ERROR)
//! appear only with debugging on ([`RespawnConfig::debug`]), exactly as in 3.0.6. Children we
//! kill at shutdown die silently (the tracker's `PT_LOGNONE`).
//!
//! `ipfail` runs built into hb (ipfail behaviour is in the core), so a `respawn` line whose
//! program is named `ipfail` is not started; an info line says so.

use crate::log::{LogLine, Priority};
use hb_core::config::hacf::ClientChild;
use hb_core::config::HaCf;
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{Gid, Pid, Uid, User};
use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A child that dies sooner than this after its start counts as a quick re-spawn (heartbeat:
/// `msto_longclock(30000)`).
pub const QUICK_DEATH: Duration = Duration::from_secs(30);
/// More quick deaths in a row than this and the child is not restarted (heartbeat:
/// `shortrcount > 10`).
pub const MAX_QUICK_RESPAWNS: u32 = 10;
/// A quick re-spawn waits this long before starting (heartbeat: `sleep(1)` in the child).
pub const QUICK_RESPAWN_DELAY: Duration = Duration::from_secs(1);
/// How long one child may take to die after SIGTERM at shutdown before it gets SIGKILL.
/// heartbeat waits forever; 10 s is what its init script's `stop` allows a daemon in general.
pub const STOP_WAIT: Duration = Duration::from_secs(10);
/// How long to wait for a SIGKILLed child to be reaped before giving up on it.
pub const KILL_WAIT: Duration = Duration::from_secs(2);
/// The exit code that asks heartbeat not to restart a child.
pub const NO_RESPAWN_EXIT: i32 = 100;
/// The shell heartbeat runs commands with.
pub const SHELL: &str = "/bin/sh";

/// Timing and behaviour knobs; [`Default`] is heartbeat's.
#[derive(Clone, Debug)]
pub struct RespawnConfig {
    pub quick_death: Duration,
    pub max_quick_respawns: u32,
    pub quick_respawn_delay: Duration,
    pub stop_wait: Duration,
    pub kill_wait: Duration,
    /// `debug` > 0 in ha.cf: also log heartbeat's `Client …` lines (see the module docs).
    pub debug: bool,
    /// Extra environment for the children: heartbeat's children inherit its `HA_*` variables
    /// (`HA_debug`, `HA_LOGFILE`, …), e.g. [`crate::rsc::ScriptEnv::vars`].
    pub env: Vec<(String, String)>,
}

impl Default for RespawnConfig {
    fn default() -> Self {
        RespawnConfig {
            quick_death: QUICK_DEATH,
            max_quick_respawns: MAX_QUICK_RESPAWNS,
            quick_respawn_delay: QUICK_RESPAWN_DELAY,
            stop_wait: STOP_WAIT,
            kill_wait: KILL_WAIT,
            debug: false,
            env: Vec::new(),
        }
    }
}

/// One `respawn`/`failfast` line, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildSpec {
    /// The user as written.
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    /// The command as written (the rest of the ha.cf line).
    pub command: String,
    pub failfast: bool,
}

impl ChildSpec {
    /// Resolves the user of a `respawn` line. An unknown user gives heartbeat's message.
    pub fn resolve(child: &ClientChild) -> Result<ChildSpec, String> {
        Self::new(child.user.as_str(), child.command.as_str(), child.failfast)
    }

    pub fn new(user: &str, command: &str, failfast: bool) -> Result<ChildSpec, String> {
        match User::from_name(user) {
            Ok(Some(u)) => Ok(ChildSpec {
                user: user.to_string(),
                uid: u.uid.as_raw(),
                gid: u.gid.as_raw(),
                command: command.to_string(),
                failfast,
            }),
            _ => Err(format!("Invalid uid [{user}] specified for client child")),
        }
    }

    /// The program: the command's first word.
    pub fn path(&self) -> &str {
        self.command.split_whitespace().next().unwrap_or("")
    }

    fn is_ipfail(&self) -> bool {
        std::path::Path::new(self.path())
            .file_name()
            .is_some_and(|n| n == "ipfail")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not started yet (before `start_all`), or stopped at shutdown.
    Idle,
    Running {
        pid: Pid,
        started: Instant,
    },
    /// A quick re-spawn waiting for its delay.
    Scheduled {
        at: Instant,
    },
    /// Exit 100, too fast, or it could not be started: heartbeat never tries it again.
    GivenUp,
    /// `ipfail`: built in.
    Skipped,
}

#[derive(Debug)]
struct Child {
    spec: ChildSpec,
    state: State,
    /// Quick deaths in a row (heartbeat's `shortrcount`).
    quick: u32,
}

/// What reaping found, beyond the log lines.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reaped {
    pub logs: Vec<LogLine>,
    /// A `failfast` child died abnormally outside shutdown: the daemon must reboot the machine
    /// (heartbeat's `cl_reboot`). Holds the child's command.
    pub reboot: Option<String>,
}

/// Shutdown progress: the child being stopped now, and until when we wait for it.
#[derive(Clone, Copy, Debug)]
struct Stopping {
    index: usize,
    deadline: Instant,
    killed: bool,
}

/// The `respawn`/`failfast` children of one daemon.
#[derive(Debug)]
pub struct Respawner {
    children: Vec<Child>,
    cfg: RespawnConfig,
    shutting_down: bool,
    stopping: Option<Stopping>,
    /// `env HB_IPFAIL=external`: an ipfail line runs the real program (an API client).
    ipfail_external: bool,
}

impl Respawner {
    /// The children ha.cf lists, in file order. Lines whose user does not exist are left out
    /// with an error line (heartbeat refuses such a file at parse time).
    pub fn from_hacf(cf: &HaCf, cfg: RespawnConfig) -> (Respawner, Vec<LogLine>) {
        let mut logs = Vec::new();
        let mut specs = Vec::new();
        for c in &cf.client_children {
            match ChildSpec::resolve(&c.value) {
                Ok(s) => specs.push(s),
                Err(e) => logs.push(LogLine::error(e)),
            }
        }
        let mut r = Respawner::new(specs, cfg);
        r.ipfail_external = hb_core::ipfail::runs_as_client(cf);
        (r, logs)
    }

    pub fn new(specs: Vec<ChildSpec>, cfg: RespawnConfig) -> Respawner {
        Respawner {
            children: specs
                .into_iter()
                .map(|spec| Child {
                    spec,
                    state: State::Idle,
                    quick: 0,
                })
                .collect(),
            cfg,
            shutting_down: false,
            stopping: None,
            ipfail_external: false,
        }
    }

    /// Starts every child (after comm-up), in file order.
    pub fn start_all(&mut self, now: Instant) -> Vec<LogLine> {
        let mut logs = Vec::new();
        for i in 0..self.children.len() {
            if self.children[i].state != State::Idle {
                continue;
            }
            if self.children[i].spec.is_ipfail() && !self.ipfail_external {
                logs.push(LogLine::info(format!(
                    "Not starting child client \"{}\": ipfail runs built into hb",
                    self.children[i].spec.command
                )));
                self.children[i].state = State::Skipped;
                continue;
            }
            self.start(i, now, &mut logs);
        }
        logs
    }

    /// The pids of the children running now.
    pub fn pids(&self) -> Vec<u32> {
        self.children
            .iter()
            .filter_map(|c| match c.state {
                State::Running { pid, .. } => Some(pid.as_raw() as u32),
                _ => None,
            })
            .collect()
    }

    /// Collects every child of ours that died, and decides what follows.
    pub fn reap(&mut self, now: Instant) -> Reaped {
        let mut out = Reaped::default();
        for i in 0..self.children.len() {
            let State::Running { pid, .. } = self.children[i].state else {
                continue;
            };
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => {}
                Ok(WaitStatus::Exited(_, code)) => self.died(i, Death::Exit(code), now, &mut out),
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    self.died(i, Death::Signal(sig as i32), now, &mut out)
                }
                // Stopped/continued: still ours, still alive.
                Ok(_) => {}
                Err(_) => self.died(i, Death::Vanished, now, &mut out),
            }
        }
        out
    }

    /// A death the daemon learned of itself (it reaped `pid` through another path). Ignored
    /// when `pid` is not one of ours. `status` is the raw `wait` status.
    pub fn on_child_exit(&mut self, pid: u32, status: i32, now: Instant) -> Reaped {
        let mut out = Reaped::default();
        let Some(i) = self.children.iter().position(
            |c| matches!(c.state, State::Running { pid: p, .. } if p.as_raw() as u32 == pid),
        ) else {
            return out;
        };
        let death = if libc::WIFEXITED(status) {
            Death::Exit(libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            Death::Signal(libc::WTERMSIG(status))
        } else {
            return out;
        };
        self.died(i, death, now, &mut out);
        out
    }

    /// The next moment [`Respawner::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let scheduled = self.children.iter().filter_map(|c| match c.state {
            State::Scheduled { at } => Some(at),
            _ => None,
        });
        scheduled.chain(self.stopping.map(|s| s.deadline)).min()
    }

    /// Starts delayed re-spawns that are due, and escalates a stop that took too long. Early or
    /// repeated calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<LogLine> {
        let mut logs = Vec::new();
        for i in 0..self.children.len() {
            if let State::Scheduled { at } = self.children[i].state {
                if at <= now {
                    self.start(i, now, &mut logs);
                }
            }
        }
        if let Some(s) = self.stopping {
            if s.deadline <= now {
                let child = &self.children[s.index];
                if let State::Running { pid, .. } = child.state {
                    if s.killed {
                        // SIGKILL did not get it reaped either: stop waiting for it.
                        logs.push(LogLine::error(format!(
                            "client [{}] (pid {pid}) did not die after SIGKILL; not waiting \
                             for it any longer",
                            child.spec.command
                        )));
                        self.children[s.index].state = State::Idle;
                        self.next_stop(s.index, now, &mut logs);
                    } else {
                        logs.push(LogLine::warn(format!(
                            "client [{}] (pid {pid}) still running {} ms after SIGTERM; \
                             killing process group {pid} with signal 9",
                            child.spec.command,
                            self.cfg.stop_wait.as_millis()
                        )));
                        let _ = kill(Pid::from_raw(-pid.as_raw()), Signal::SIGKILL);
                        self.stopping = Some(Stopping {
                            index: s.index,
                            deadline: now + self.cfg.kill_wait,
                            killed: true,
                        });
                    }
                } else {
                    self.next_stop(s.index, now, &mut logs);
                }
            }
        }
        logs
    }

    /// Begins the shutdown: no more re-spawns; the last running child gets SIGTERM. Keep
    /// calling [`Respawner::reap`] and [`Respawner::handle_timeout`] until
    /// [`Respawner::is_stopped`].
    pub fn stop_all(&mut self, now: Instant) -> Vec<LogLine> {
        let mut logs = Vec::new();
        if self.shutting_down {
            return logs;
        }
        self.shutting_down = true;
        for c in &mut self.children {
            if let State::Scheduled { .. } = c.state {
                c.state = State::Idle;
            }
        }
        self.next_stop(self.children.len(), now, &mut logs);
        logs
    }

    /// All children are gone (after [`Respawner::stop_all`]), or none was started.
    pub fn is_stopped(&self) -> bool {
        self.stopping.is_none() && self.pids().is_empty()
    }

    /// Stops everything, blocking: for the daemon's last moments. Bounded by
    /// `stop_wait + kill_wait` per child.
    pub fn stop_all_blocking(&mut self) -> Vec<LogLine> {
        let mut logs = self.stop_all(Instant::now());
        while !self.is_stopped() {
            std::thread::sleep(Duration::from_millis(10));
            let now = Instant::now();
            logs.extend(self.reap(now).logs);
            logs.extend(self.handle_timeout(now));
        }
        logs
    }

    /// SIGTERM to the running child before `before`, from the end; none left → done.
    fn next_stop(&mut self, before: usize, now: Instant, logs: &mut Vec<LogLine>) {
        self.stopping = None;
        for i in (0..before).rev() {
            match self.children[i].state {
                State::Running { pid, .. } => {
                    logs.push(LogLine::info(format!(
                        "killing {} process group {pid} with signal 15",
                        self.children[i].spec.command
                    )));
                    let _ = kill(Pid::from_raw(-pid.as_raw()), Signal::SIGTERM);
                    self.stopping = Some(Stopping {
                        index: i,
                        deadline: now + self.cfg.stop_wait,
                        killed: false,
                    });
                    return;
                }
                State::Idle | State::GivenUp => {
                    logs.push(LogLine::info(format!(
                        "client [{}] is not running.",
                        self.children[i].spec.command
                    )));
                }
                State::Scheduled { .. } | State::Skipped => {}
            }
        }
    }

    fn start(&mut self, i: usize, now: Instant, logs: &mut Vec<LogLine>) {
        let spec = self.children[i].spec.clone();
        logs.push(LogLine::info(format!(
            "Starting child client \"{}\" ({},{})",
            spec.command, spec.uid, spec.gid
        )));
        // heartbeat checks the program before forking: "We don't want to respawn something
        // that won't exec in the first place."
        if let Err(e) = nix::unistd::access(spec.path(), nix::unistd::AccessFlags::X_OK) {
            logs.push(LogLine::error(format!(
                "Cannot exec {}: {}",
                spec.command,
                e.desc()
            )));
            self.children[i].state = State::GivenUp;
            return;
        }
        match spawn(&spec, &self.cfg.env) {
            Ok(pid) => {
                logs.push(LogLine::info(format!(
                    "Starting \"{}\" as uid {}  gid {} (pid {pid})",
                    spec.command, spec.uid, spec.gid
                )));
                self.children[i].state = State::Running { pid, started: now };
            }
            Err(e) => {
                // heartbeat's child exits 100 here, so it is never tried again.
                logs.push(LogLine::error(format!(
                    "Cannot setup child process {}: {}",
                    spec.command,
                    crate::errno_text(&e)
                )));
                self.children[i].state = State::GivenUp;
            }
        }
    }

    fn died(&mut self, i: usize, death: Death, now: Instant, out: &mut Reaped) {
        let State::Running { pid, started } = self.children[i].state else {
            return;
        };
        self.children[i].state = State::Idle;
        let command = self.children[i].spec.command.clone();
        let stopping_this = self.stopping.is_some_and(|s| s.index == i);
        let (exitcode, signo) = match death {
            Death::Exit(c) => (c, 0),
            Death::Signal(s) => (0, s),
            Death::Vanished => (0, 0),
        };
        // The process tracker's line; silent for the ones we kill (PT_LOGNONE).
        if !stopping_this {
            out.logs.push(match death {
                Death::Exit(c) => LogLine::new(
                    if c == 0 {
                        Priority::Info
                    } else {
                        Priority::Warn
                    },
                    format!("Managed {command} process {pid} exited with return code {c}."),
                ),
                Death::Signal(s) => LogLine::warn(match signal_info(s) {
                    Some((name, words)) => format!(
                        "Managed {command} process {pid} killed by signal {s} [{name} - {words}]."
                    ),
                    None => format!("Managed {command} process {pid} killed by signal {s}."),
                }),
                Death::Vanished => LogLine::error(format!(
                    "Managed {command} process {pid} went away strangely (!)"
                )),
            });
        }
        if self.cfg.debug {
            let prio = if self.shutting_down {
                Priority::Debug
            } else {
                Priority::Error
            };
            if exitcode != 0 {
                out.logs.push(LogLine::new(
                    prio,
                    format!("Client {command} exited with return code {exitcode}."),
                ));
            }
            if signo != 0 {
                out.logs.push(LogLine::new(
                    prio,
                    format!("Client {command} (pid={pid}) killed by signal {signo}."),
                ));
            }
        }
        if self.children[i].spec.failfast
            && !self.shutting_down
            && (signo != 0 || exitcode != 0)
            && out.reboot.is_none()
        {
            out.reboot = Some(command.clone());
        }
        if self.shutting_down {
            if stopping_this {
                self.next_stop(i, now, &mut out.logs);
            }
            return;
        }
        if exitcode == NO_RESPAWN_EXIT {
            self.children[i].state = State::GivenUp;
            return;
        }
        let child = &mut self.children[i];
        if now < started + self.cfg.quick_death {
            child.quick += 1;
        } else {
            child.quick = 0;
        }
        if child.quick > self.cfg.max_quick_respawns {
            out.logs.push(LogLine::error(format!(
                "Client {command} \"respawning too fast\""
            )));
            child.quick = 0;
            child.state = State::GivenUp;
            return;
        }
        out.logs
            .push(LogLine::error(format!("Respawning client \"{command}\":")));
        if child.quick > 0 {
            child.state = State::Scheduled {
                at: now + self.cfg.quick_respawn_delay,
            };
        } else {
            self.start(i, now, &mut out.logs);
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Death {
    Exit(i32),
    Signal(i32),
    /// `waitpid` said it is not our child any more (someone else reaped it).
    Vanished,
}

/// `/bin/sh -c "exec COMMAND"` as the child's user, stdio on /dev/null, own process group.
fn spawn(spec: &ChildSpec, env: &[(String, String)]) -> std::io::Result<Pid> {
    let mut cmd = Command::new(SHELL);
    cmd.arg("-c")
        .arg(format!("exec {}", spec.command))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let uid = Uid::from_raw(spec.uid);
    let gid = Gid::from_raw(spec.gid);
    let as_root = nix::unistd::geteuid().is_root();
    // initgroups reads /etc/group through NSS, which is not safe between fork and exec in a
    // threaded daemon: the list is looked up here and only set in the child.
    let groups = if as_root {
        let name = CString::new(spec.user.as_str()).map_err(std::io::Error::other)?;
        nix::unistd::getgrouplist(&name, gid).map_err(std::io::Error::from)?
    } else {
        if uid != nix::unistd::geteuid() {
            return Err(std::io::Error::other(format!(
                "cannot run as {} without root",
                spec.user
            )));
        }
        Vec::new()
    };
    // SAFETY: the closure only makes async-signal-safe system calls (setgroups, setgid,
    // setuid) on data prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if as_root {
                nix::unistd::setgroups(&groups)?;
                nix::unistd::setgid(gid)?;
                nix::unistd::setuid(uid)?;
            }
            Ok(())
        });
    }
    crate::unblock_signals_in_child(&mut cmd);
    let child = cmd.spawn()?;
    // The std handle is dropped without waiting: we reap by pid in `reap`.
    Ok(Pid::from_raw(child.id() as i32))
}

/// cluster-glue's signal names and words (`proctrack.c: signal_info`).
fn signal_info(signo: i32) -> Option<(&'static str, &'static str)> {
    const TABLE: &[(i32, &str, &str)] = &[
        (libc::SIGHUP, "SIGHUP", "Hangup"),
        (libc::SIGINT, "SIGINT", "Interrupt"),
        (libc::SIGQUIT, "SIGQUIT", "Quit"),
        (libc::SIGILL, "SIGILL", "Illegal instruction"),
        (libc::SIGTRAP, "SIGTRAP", "Trace"),
        (libc::SIGABRT, "SIGABRT", "Abort"),
        (libc::SIGBUS, "SIGBUS", "BUS error"),
        (libc::SIGFPE, "SIGFPE", "Floating-point exception"),
        (libc::SIGKILL, "SIGKILL", "Kill, unblockable"),
        (libc::SIGUSR1, "SIGUSR1", "User-defined signal 1"),
        (libc::SIGSEGV, "SIGSEGV", "Segmentation violation"),
        (libc::SIGUSR2, "SIGUSR2", "User-defined signal 2"),
        (libc::SIGPIPE, "SIGPIPE", "Broken pipe (POSIX)"),
        (libc::SIGALRM, "SIGALRM", "Alarm clock (POSIX)"),
        (libc::SIGTERM, "SIGTERM", "Termination (ANSI)"),
        (libc::SIGSTKFLT, "SIGSTKFLT", "Stack fault"),
        (libc::SIGCHLD, "SIGCHLD", "Child status has changed"),
        (libc::SIGCONT, "SIGCONT", "Continue"),
        (libc::SIGSTOP, "SIGSTOP", "Stop, unblockable"),
        (libc::SIGTSTP, "SIGTSTP", "Keyboard stop"),
        (libc::SIGTTIN, "SIGTTIN", "Background read from tty"),
        (libc::SIGTTOU, "SIGTTOU", "Background write to tty"),
        (libc::SIGURG, "SIGURG\t", "Urgent condition on socket"),
        (libc::SIGXCPU, "SIGXCPU", "CPU limit exceeded"),
        (libc::SIGXFSZ, "SIGXFSZ", "File size limit exceeded"),
        (libc::SIGVTALRM, "SIGVTALRM", "Virtual alarm clock"),
        (libc::SIGPROF, "SIGPROF", "Profiling alarm clock"),
        (libc::SIGWINCH, "SIGWINCH", "Window size change"),
        (libc::SIGPOLL, "SIGPOLL", "Pollable event occurred"),
        (libc::SIGPWR, "SIGPWR", "Power failure restart"),
        (libc::SIGSYS, "SIGSYS", "Bad system call"),
    ];
    TABLE
        .iter()
        .find(|(n, _, _)| *n == signo)
        .map(|(_, name, words)| (*name, *words))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_words_are_cluster_glues() {
        assert_eq!(
            signal_info(libc::SIGTERM),
            Some(("SIGTERM", "Termination (ANSI)"))
        );
        assert_eq!(signal_info(1000), None);
    }

    #[test]
    fn unknown_user_is_heartbeats_error() {
        assert_eq!(
            ChildSpec::new("no-such-user-hb", "/bin/true", false).unwrap_err(),
            "Invalid uid [no-such-user-hb] specified for client child"
        );
    }

    #[test]
    fn ipfail_is_recognised_by_its_program_name() {
        let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .unwrap()
            .unwrap()
            .name;
        let spec = ChildSpec::new(&me, "/usr/lib/heartbeat/ipfail -x", false).unwrap();
        assert!(spec.is_ipfail());
        let spec = ChildSpec::new(&me, "/usr/lib/heartbeat/ipfailx", false).unwrap();
        assert!(!spec.is_ipfail());
    }
}
