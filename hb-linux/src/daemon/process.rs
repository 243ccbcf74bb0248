//! The process itself: fork and the ready report, realtime priority and locked memory, the
//! signals the loop takes, reboot and re-exec.

use crate::log::{Logger, Priority};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::io::{Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::UnixStream;
use std::time::SystemTime;

/// Seconds since the epoch, as the core wants them for its wall-clock fields.
pub(super) fn wall_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(super) enum Fork {
    Parent(u8),
    Child(UnixStream),
}

/// Forks; the parent waits until the child says it runs (or has failed) and returns its code.
pub(super) fn daemonize() -> std::io::Result<Fork> {
    let (mut parent_end, child_end) = UnixStream::pair()?;
    // SAFETY: no other thread exists yet (the worker starts after this), so the child may
    // run any code.
    match unsafe { nix::unistd::fork() }.map_err(std::io::Error::from)? {
        nix::unistd::ForkResult::Parent { .. } => {
            drop(child_end);
            let mut code = [1u8];
            match parent_end.read(&mut code) {
                Ok(1) => Ok(Fork::Parent(code[0])),
                // The child died before it could say anything: it has printed why.
                _ => Ok(Fork::Parent(1)),
            }
        }
        nix::unistd::ForkResult::Child => {
            drop(parent_end);
            let _ = nix::unistd::setsid();
            let _ = std::env::set_current_dir("/");
            Ok(Fork::Child(child_end))
        }
    }
}

/// Tells a waiting parent the start-up result; a daemon then leaves the terminal.
pub(super) fn report_ready(pipe: Option<UnixStream>, code: u8) {
    if let Some(mut p) = pipe {
        let _ = p.write_all(&[code]);
        if code == 0 {
            if let Ok(null) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
            {
                use std::os::fd::AsRawFd as _;
                for fd in 0..3 {
                    // SAFETY: replaces our standard descriptors, which nothing else holds.
                    unsafe { libc::dup2(null.as_raw_fd(), fd) };
                }
            }
        }
    }
}

/// SCHED_RR at `rtprio` (the minimum by default) and locked memory, as heartbeat asks for
/// them; a refusal is logged and we carry on (spec-behaviour §8).
pub(super) fn make_realtime(logger: &Logger, rtprio: Option<u8>) {
    // SAFETY: plain system calls on this process with valid arguments.
    unsafe {
        let min = libc::sched_get_priority_min(libc::SCHED_RR);
        let prio = rtprio.map_or(min, i32::from).max(min);
        // Field by field: musl's sched_param has more fields than glibc's (the static
        // appliance build, tests/appliance.sh).
        // SAFETY: all-zero bytes are a valid `sched_param` (integers only).
        let mut param: libc::sched_param = std::mem::zeroed();
        param.sched_priority = prio;
        // The system call itself: musl's sched_setscheduler() always fails with ENOSYS (it
        // leaves thread scheduling to pthreads), so the static appliance build ran without
        // realtime priority ("Function not implemented"). glibc's is this same call.
        let set = libc::syscall(
            libc::SYS_sched_setscheduler,
            0 as libc::pid_t,
            libc::SCHED_RR,
            &param as *const libc::sched_param,
        );
        if set != 0 {
            let e = std::io::Error::last_os_error();
            logger.warn(&format!(
                "Unable to set scheduling priority (SCHED_RR {prio}): {}",
                crate::errno_text(&e)
            ));
        } else {
            logger.info(&format!("Running at realtime priority SCHED_RR {prio}"));
        }
        if libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) != 0 {
            let e = std::io::Error::last_os_error();
            logger.warn(&format!(
                "Cannot lock ourselves into memory:  System limits on locked-in memory are too small. ({})",
                crate::errno_text(&e)
            ));
        } else {
            logger.info("Memory locked (mlockall)");
        }
    }
}

/// The signals the loop takes through a signalfd (blocked for normal delivery), with SIGPIPE
/// ignored. Errors are the line to log.
pub(super) fn take_signals() -> Result<SignalFd, String> {
    let mut mask = SigSet::empty();
    for s in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        // Only a wake-up: respawned children are reaped by their own pids (the worker
        // waits for its scripts by theirs).
        Signal::SIGCHLD,
    ] {
        mask.add(s);
    }
    mask.thread_block()
        .map_err(|e| format!("cannot block signals: {e}"))?;
    // SAFETY: ignoring SIGPIPE installs no handler code; a closed control client then
    // gives EPIPE on write instead of killing us.
    unsafe {
        let _ = nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn);
    }
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| format!("cannot open a signalfd: {e}"))
}

/// Reboots now, as heartbeat does when a resource will not stop (spec-behaviour §2.5) or a
/// failfast child died; the caller has logged why.
pub(super) fn reboot(logger: &Logger) -> ! {
    logger.log(Priority::Crit, "Killing heartbeat ungracefully!");
    nix::unistd::sync();
    let r = nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_AUTOBOOT);
    logger.log(Priority::Crit, &format!("Unable to force reboot. ({r:?})"));
    std::process::exit(1);
}

/// Our own command line, for [`exec_self`].
pub(super) fn own_args() -> Vec<std::ffi::CString> {
    std::env::args_os()
        .filter_map(|a| std::ffi::CString::new(a.into_encoded_bytes()).ok())
        .collect()
}

/// Runs this program again with `args` (a restart); returns only on failure. By the name it
/// was started as when that is still this program (a multi-call binary's `heartbeat` link
/// keeps the process name `heartbeat`, which pid file checks and `pidof` look for), else by
/// `/proc/self/exe`.
pub(super) fn exec_self(args: &[std::ffi::CString]) -> nix::Result<std::convert::Infallible> {
    let path = args
        .first()
        .and_then(|a0| {
            same_program(std::path::Path::new(std::ffi::OsStr::from_bytes(
                a0.as_bytes(),
            )))
        })
        .unwrap_or_else(|| c"/proc/self/exe".to_owned());
    nix::unistd::execv(&path, args)
}

/// `name` (a path, or a name looked up in PATH as the shell did) if it is this very program.
fn same_program(name: &std::path::Path) -> Option<std::ffi::CString> {
    use std::os::unix::fs::MetadataExt;
    let me = std::fs::metadata("/proc/self/exe").ok()?;
    let candidates: Vec<std::path::PathBuf> = if name.as_os_str().as_bytes().contains(&b'/') {
        vec![name.to_path_buf()]
    } else {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect())
            .unwrap_or_default()
    };
    candidates.into_iter().find_map(|c| {
        let m = std::fs::metadata(&c).ok()?;
        ((m.dev(), m.ino()) == (me.dev(), me.ino()))
            .then(|| std::ffi::CString::new(c.into_os_string().into_vec()).ok())
            .flatten()
    })
}

/// Runs `f` on a short-lived thread with a stack of its own, in the static (musl) appliance
/// build. The main thread's stack lies under the daemon's loop for its whole life, and every
/// page it ever reached stays resident (and locked by `mlockall`): a start-up step that goes
/// deep there (loading the configuration, building the node) would cost that memory for good.
/// musl unmaps a finished thread's stack. Not with glibc, which keeps it for reuse, where
/// `mlockall` would then make all of it resident. If the thread cannot start (a tight
/// RLIMIT_MEMLOCK under `mlockall`), `f` runs here.
pub(super) fn off_main_stack<T: Send>(f: &(dyn Fn() -> T + Sync)) -> T {
    if cfg!(target_env = "musl") {
        const STACK: usize = 4 * 1024 * 1024;
        let on_thread = std::thread::scope(|s| {
            let t = std::thread::Builder::new()
                .name("hb-start".into())
                .stack_size(STACK)
                .spawn_scoped(s, f)
                .ok()?;
            // A panic there is a panic here: the appliance build aborts on panic anyway.
            Some(t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
        });
        if let Some(r) = on_thread {
            return r;
        }
    }
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_hears_the_start_up_code() {
        let (mut parent, child) = UnixStream::pair().unwrap();
        report_ready(Some(child), 6);
        let mut code = [0u8; 2];
        assert_eq!(parent.read(&mut code).unwrap(), 1);
        assert_eq!(code[0], 6);
        // In the foreground nobody waits.
        report_ready(None, 0);
    }

    #[test]
    fn wall_clock_is_after_this_code_was_written() {
        // 2024-01-01: a clock read as 0 (the error fallback) would fail this.
        assert!(wall_secs() > 1_704_067_200);
    }

    #[test]
    fn own_args_are_this_test_binary() {
        let args = own_args();
        assert!(!args.is_empty());
        assert_eq!(args.len(), std::env::args().count());
    }
}
