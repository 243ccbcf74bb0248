//! Finding a resource script and running it once, bounded in time.
//!
//! The script runs in its own process group so that a hung one can be killed together with
//! whatever it started (SIGTERM to the group, then SIGKILL after a grace period). A script
//! that finishes normally keeps its children: an init script's daemon must outlive it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// The script for `name`: `DIR/resource.d/name`, else `name` in the first existing init
/// directory (a single directory, as heartbeat's build fixed it) [ResourceManager: scriptpath].
/// It must be a regular, executable file.
pub fn locate(resource_d: &Path, init_dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return None;
    }
    let init_dir = init_dirs.iter().find(|d| d.is_dir());
    [Some(resource_d), init_dir.map(PathBuf::as_path)]
        .into_iter()
        .flatten()
        .map(|d| d.join(name))
        .find(|p| is_executable_file(p))
}

pub fn is_executable_file(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// How a run ended.
#[derive(Debug)]
pub enum Ended {
    Exited(ExitStatus),
    /// Killed after its timeout.
    TimedOut,
}

pub struct Ran {
    pub ended: Ended,
    /// stdout, when it was captured.
    pub stdout: String,
}

pub struct Call<'a> {
    pub path: &'a Path,
    pub args: &'a [&'a str],
    pub op: &'a str,
    pub env: &'a [(String, String)],
    /// Where stdout (unless captured) and stderr go; `None` is /dev/null.
    pub output: Option<&'a Path>,
    pub capture_stdout: bool,
    pub timeout: Duration,
    pub kill_grace: Duration,
}

fn output_file(path: Option<&Path>) -> io::Result<File> {
    match path {
        Some(p) => OpenOptions::new().append(true).create(true).open(p),
        None => OpenOptions::new().write(true).open("/dev/null"),
    }
}

/// Runs `path args… op`, waiting at most `timeout`.
pub fn run(call: &Call<'_>) -> io::Result<Ran> {
    // An unwritable debug file must not stop a resource from moving.
    let mut out = output_file(call.output).or_else(|_| output_file(None))?;
    let mut cmd = Command::new(call.path);
    cmd.args(call.args)
        .arg(call.op)
        .envs(call.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stderr(out.try_clone()?)
        .process_group(0);
    if call.capture_stdout {
        cmd.stdout(Stdio::piped());
    } else {
        cmd.stdout(out.try_clone()?);
    }
    crate::unblock_signals_in_child(&mut cmd);
    let mut child = spawn(&mut cmd)?;
    let deadline = Instant::now() + call.timeout;
    let mut pipe = child.stdout.take();
    let mut stdout = Vec::new();
    let mut nap = Duration::from_micros(500);
    let ended = loop {
        if let Some(status) = child.try_wait()? {
            // Take what is already written, but do not wait for EOF: something the script
            // left running may hold the pipe open.
            if let Some(p) = pipe.as_mut() {
                while readable(p, Duration::ZERO) {
                    if !read_some(p, &mut stdout) {
                        break;
                    }
                }
            }
            break Ended::Exited(status);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            kill_group(&mut child, call.kill_grace);
            break Ended::TimedOut;
        }
        // Poll for exit often at first (most scripts take milliseconds), then less often.
        nap = (nap * 2).min(Duration::from_millis(20)).min(left);
        match pipe.as_mut() {
            Some(p) => {
                if readable(p, nap) && !read_some(p, &mut stdout) {
                    pipe = None;
                }
            }
            None => std::thread::sleep(nap),
        }
    };
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    if call.capture_stdout && !stdout.is_empty() {
        let _ = out.write_all(stdout.as_bytes());
    }
    Ok(Ran { ended, stdout })
}

/// `ETXTBSY` is transient: another thread's fork may briefly hold a freshly written script
/// open for writing until its child execs (tests write scripts while others run; an
/// administrator may be saving one).
fn spawn(cmd: &mut Command) -> io::Result<Child> {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            r => return r,
        }
    }
}

fn readable(p: &impl AsFd, wait: Duration) -> bool {
    let mut fds = [PollFd::new(
        p.as_fd(),
        PollFlags::POLLIN | PollFlags::POLLHUP,
    )];
    let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
    matches!(poll(&mut fds, PollTimeout::from(ms)), Ok(n) if n > 0)
}

/// Reads what is there; false at EOF or on error.
fn read_some(p: &mut impl Read, into: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    match p.read(&mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            into.extend_from_slice(&buf[..n]);
            true
        }
    }
}

/// SIGTERM to the whole group, SIGKILL to it after `grace`, and the leader reaped (bounded).
fn kill_group(child: &mut Child, grace: Duration) {
    let Ok(pid) = i32::try_from(child.id()) else {
        return;
    };
    let pgid = Pid::from_raw(pid);
    let _ = killpg(pgid, Signal::SIGTERM);
    let until = Instant::now() + grace;
    while Instant::now() < until {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Also for the leader's children that ignored SIGTERM or outlived it.
    let _ = killpg(pgid, Signal::SIGKILL);
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The shell's `$?` for an exit status: the code, or 128 + the signal.
pub fn shell_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}
