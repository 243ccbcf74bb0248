//! hb's Linux side: the `heartbeat` daemon and the `hbctl` tool.
//!
//! The daemon's building blocks, each usable and tested on its own (design §3):
//! - [`log`]: heartbeat's log lines to its log files, syslog and stderr;
//! - [`media`]: the heartbeat media (`bcast`, `mcast`, `ucast`, `serial`) as non-blocking
//!   endpoints for one poll loop;
//! - [`state`]: the generation counter, the node UUID and the pid file;
//! - [`control`]: the control socket between the daemon and hbctl.
//!
//! [`daemon`] joins them with hb-core's node into the `heartbeat` daemon.

pub mod config;
pub mod control;
pub mod daemon;
pub mod docgen;
pub mod export;
pub mod hbctl;
pub mod lab;
pub mod log;
pub mod media;
pub mod metrics;
pub mod multicall;
pub mod ping;
pub mod relay;
pub mod resource_manager;
pub mod respawn;
pub mod rsc;
pub mod state;
pub mod stonith;

/// Makes `cmd`'s child start with no blocked signals. The daemon blocks the signals it takes
/// through its signalfd, and a blocked mask survives fork and exec: a resource script or
/// respawned client would otherwise ignore SIGTERM (and only die by SIGKILL).
pub fn unblock_signals_in_child(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the hook runs in the forked child before exec and only calls sigemptyset and
    // pthread_sigmask, which are async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
            libc::sigemptyset(set.as_mut_ptr());
            libc::pthread_sigmask(libc::SIG_SETMASK, set.as_ptr(), std::ptr::null_mut());
            Ok(())
        });
    }
}

/// The C library's `strerror` text for an I/O error (`Permission denied`), without Rust's
/// ` (os error 13)` suffix, so that our messages read like heartbeat's.
pub fn errno_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    match e.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .map_or_else(|| text.clone(), str::to_string),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn errno_text_is_strerror() {
        let e = std::io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(super::errno_text(&e), "Permission denied");
        let e = std::io::Error::other("custom");
        assert_eq!(super::errno_text(&e), "custom");
    }
}
