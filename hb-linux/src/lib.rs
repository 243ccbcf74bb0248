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

pub mod api;
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

/// Makes `cmd`'s child start with no blocked signals, and in the normal scheduling class.
/// The daemon blocks the signals it takes through its signalfd, and a blocked mask survives
/// fork and exec: a resource script or respawned client would otherwise ignore SIGTERM (and
/// only die by SIGKILL). And it runs SCHED_RR with `realtime on`, which children inherit: a
/// busy resource script would then share the CPU round-robin with the heartbeat loop (time
/// slices of 100 ms, deadtimes of 30 ms), where heartbeat's children go back to normal
/// scheduling (`hb_setup_child`).
pub fn unblock_signals_in_child(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the hook runs in the forked child before exec and only calls sigemptyset,
    // pthread_sigmask and sched_setscheduler, which are async-signal-safe; it allocates
    // nothing.
    unsafe {
        cmd.pre_exec(|| {
            let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
            libc::sigemptyset(set.as_mut_ptr());
            libc::pthread_sigmask(libc::SIG_SETMASK, set.as_ptr(), std::ptr::null_mut());
            // All-zero is SCHED_OTHER's only priority, and it fills musl's extra fields too.
            let normal: libc::sched_param = std::mem::zeroed();
            libc::sched_setscheduler(0, libc::SCHED_OTHER, &normal);
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
    /// A child of a realtime daemon (this thread made SCHED_RR, as `realtime on` makes the
    /// daemon; root) runs in the normal class: policy 0 in its /proc/self/stat (field 41).
    #[test]
    fn children_of_a_realtime_daemon_run_at_normal_priority() {
        let rr = libc::sched_param { sched_priority: 1 };
        // SAFETY: plain syscalls on this test's thread with valid sched_params.
        let set = unsafe { libc::sched_setscheduler(0, libc::SCHED_RR, &rr) };
        assert_eq!(
            set,
            0,
            "SCHED_RR needs root: {}",
            std::io::Error::last_os_error()
        );
        let run = |hook: bool| {
            let mut cmd = std::process::Command::new("sh");
            cmd.args(["-c", "cut -d' ' -f41 /proc/self/stat"]);
            if hook {
                super::unblock_signals_in_child(&mut cmd);
            }
            let out = cmd.output().expect("sh runs");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let (bare, hooked) = (run(false), run(true));
        // SAFETY: as above.
        unsafe {
            let normal: libc::sched_param = std::mem::zeroed();
            libc::sched_setscheduler(0, libc::SCHED_OTHER, &normal);
        }
        // Without the hook the child inherits SCHED_RR (2): what the hook is for.
        assert_eq!(bare, libc::SCHED_RR.to_string());
        assert_eq!(hooked, libc::SCHED_OTHER.to_string());
    }

    #[test]
    fn errno_text_is_strerror() {
        let e = std::io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(super::errno_text(&e), "Permission denied");
        let e = std::io::Error::other("custom");
        assert_eq!(super::errno_text(&e), "custom");
    }
}
