//! SIGHUP and `heartbeat -r`: re-read the files (the loop asks; this room judges and builds). A changed `authkeys` applies at once (a key
//! rotation); a changed `ha.cf` makes the daemon re-execute itself keeping its resources, as
//! 3.0.6 does (`hb_signal_reread_config_action` → quick shutdown → `restart_heartbeat` →
//! `heartbeat -R -C <held>`): the same pid, a new generation, the new configuration, and the
//! resource groups still running with no script run for them.
//!
//! The steps, and where hb differs from 3.0.6 on purpose:
//! - The new files are checked first, in the running daemon: an invalid ha.cf is refused
//!   (file:line) and the daemon keeps running unchanged. 3.0.6 checks them only in the
//!   re-executed process, which then exits ("Config errors: Heartbeat NOT restarted") and
//!   leaves the resources running without a daemon.
//! - A change is a change of content; 3.0.6 compares ha.cf's modification time (a `touch`
//!   restarts it, and a change within the same second is missed).
//! - A changed haresources is not applied by a reload (the groups kept are named by it): it is
//!   reported, and nothing of the reload is applied. 3.0.6 does not look at haresources.
//! - Nor with three or more nodes on either side of the change: hb's claims protocol for
//!   them has no way to resume; 3.0.6 has no such clusters.
//! - Resource work in flight (a group starting or stopping, a standby exchange, the start-up
//!   negotiation) is finished first; 3.0.6 execs over its running resource children.
//! - Then, as 3.0.6: peers are asked for `deadtime` + 30 s (so they wait for the new
//!   incarnation and know it restarted on purpose), the loop runs on for one second
//!   (`hb_mcp_final_shutdown`'s phase 1 → 2), respawned children are stopped, everything is
//!   closed and the program is executed again with `-R -C <held>` and hb's `--held <group>`.
//!   3.0.6 closes its log before writing `Current resources: -R -C …` (the line is lost); hb
//!   writes it.

use super::Heartbeat;
use crate::config::{Loaded, Refused};
use hb_core::resources::{GroupId, GroupState};
use hb_core::time::Instant as CoreInstant;
use std::ffi::CString;
use std::time::{Duration, Instant};

/// How long the loop runs on after the bumped dead time went out (3.0.6: one second between
/// its shutdown phases 1 and 2), so that the bump reaches peers on every medium.
const ANNOUNCE_FOR: Duration = Duration::from_secs(1);

/// Where a reload stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Reload {
    #[default]
    Idle,
    /// ha.cf changed; waiting for resource work to finish.
    Waiting,
    /// The restart is announced; the exec follows at this instant (once still quiet).
    Announced(Instant),
}

/// What a SIGHUP does with the files as they are now.
pub(super) enum Verdict {
    /// They do not load: the lines to log (each names its file and line); nothing changes.
    Invalid(Vec<String>),
    Unchanged,
    /// ha.cf changed and can be taken by a re-exec keeping our groups.
    Reexec,
    /// Only what applies in place (authkeys), and `refused`: why a changed ha.cf or
    /// haresources is not applied.
    InPlace {
        new: Box<Loaded>,
        refused: Option<String>,
    },
}

/// Judges the files just loaded against the running configuration.
pub(super) fn judge(old: &Loaded, loaded: Result<Loaded, Refused>, hb: &Heartbeat) -> Verdict {
    let new = match loaded {
        Err(r) => return Verdict::Invalid(r.lines),
        Ok(new) => new,
    };
    if new.texts == old.texts {
        return Verdict::Unchanged;
    }
    let hacf_changed = new.texts[0] != old.texts[0];
    let refused = if new.texts[2] != old.texts[2] {
        Some("haresources is not reloaded (the groups kept across a reload are named by it)".into())
    } else if !hacf_changed {
        None
    } else if old.hacf.nodes.len() > 2 || new.hacf.nodes.len() > 2 {
        Some("resources are kept across a reload with two nodes only (three or more here)".into())
    } else if hb.resources().shutting_down() {
        Some("heartbeat is shutting down".into())
    } else {
        return Verdict::Reexec;
    };
    Verdict::InPlace {
        new: Box::new(new),
        refused,
    }
}

impl Reload {
    /// Moves a reload on: announce the restart once resource work is done; `true` when the
    /// exec is due (a second later, still quiet).
    pub(super) fn step(&mut self, hb: &mut Heartbeat, now: CoreInstant, wall: u64) -> bool {
        match *self {
            Reload::Idle => false,
            Reload::Waiting => {
                if hb.resources().shutting_down() {
                    *self = Reload::Idle;
                } else if quiet(hb) {
                    hb.announce_restart(now, wall);
                    *self = Reload::Announced(Instant::now() + ANNOUNCE_FOR);
                }
                false
            }
            Reload::Announced(_) if hb.resources().shutting_down() => {
                // SIGTERM meanwhile: the shutdown goes on, its `shutdone` tells the peers.
                *self = Reload::Idle;
                false
            }
            Reload::Announced(at) => Instant::now() >= at && quiet(hb),
        }
    }
}

/// No resource work in flight or expected: every group running or stopped, no monitoring
/// check or restart out, the negotiation over, comm up.
fn quiet(hb: &Heartbeat) -> bool {
    let r = hb.resources();
    hb.is_comm_up()
        && r.is_stable()
        && !r.monitor_busy()
        && (0..r.group_count()).all(|g| {
            matches!(
                r.group_state(GroupId(g as u8)),
                GroupState::Running | GroupState::Stopped | GroupState::Failed
            )
        })
}

/// The command line of the re-executed daemon: ours (`args`) without a previous reload's
/// flags, then `-R -C <held>` and the groups running here; and the `-C` word.
pub(super) fn reexec_args(
    args: impl Iterator<Item = std::ffi::OsString>,
    hb: &Heartbeat,
) -> (Vec<CString>, String) {
    let mut out = Vec::new();
    let mut skip = false;
    for a in args {
        let a = a.into_encoded_bytes();
        if std::mem::take(&mut skip) {
            continue;
        }
        match a.as_slice() {
            b"-R" => continue,
            b"-C" | b"--held" => {
                skip = true;
                continue;
            }
            _ if a.starts_with(b"-C") || a.starts_with(b"--held=") => continue,
            _ => {}
        }
        if let Ok(c) = CString::new(a) {
            out.push(c);
        }
    }
    let current = hb.i_hold().as_str().to_string();
    let word = |s: &str| CString::new(s).unwrap_or_default();
    out.push(word("-R"));
    out.push(word("-C"));
    out.push(word(&current));
    let r = hb.resources();
    for g in 0..r.group_count() {
        let id = GroupId(g as u8);
        if r.group_state(id) == GroupState::Running {
            out.push(word("--held"));
            out.push(word(r.group_key(id)));
        }
    }
    (out, current)
}

/// The groups a re-executed daemon keeps (a mask of haresources indexes), from `--held`
/// (or, without it, from 3.0.6's `-C`), and the warnings for keys no longer in haresources.
pub(super) fn held_mask(cfg: &Loaded, resume: &super::Resume) -> (u32, Vec<String>) {
    let groups = cfg.haresources.groups();
    let mut mask = 0u32;
    let mut warnings = Vec::new();
    if resume.held.is_empty() {
        let (local, foreign) = match resume.current.as_str() {
            "local" => (true, false),
            "foreign" => (false, true),
            "all" => (true, true),
            _ => (false, false),
        };
        for (i, g) in groups.iter().enumerate().take(32) {
            let ours = g.node().eq_ignore_ascii_case(&cfg.node);
            if (ours && local) || (!ours && foreign) {
                mask |= 1 << i;
            }
        }
        return (mask, warnings);
    }
    for key in &resume.held {
        match groups.iter().position(|g| g.key() == key) {
            Some(i) if i < 32 => mask |= 1 << i,
            _ => warnings.push(format!(
                "restart: resource group {key} is no longer in haresources: left as it is, \
                 not managed"
            )),
        }
    }
    (mask, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hb_core::heartbeat::HeartbeatConfig;
    use hb_core::time::Instant as CoreInstant;

    const HACF: &str = "keepalive 1\ndeadtime 10\nudpport 694\nbcast lo\nauto_failback on\n\
                        node node1\nnode node2\n";
    const HARES: &str = "node1 198.51.100.80 hbsvc\nnode2 198.51.100.81\nnode1 198.51.100.82\n";

    fn load(dir: &std::path::Path, hacf: &str) -> Result<Loaded, Refused> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(dir.join("ha.cf"), hacf).unwrap();
        std::fs::write(dir.join("haresources"), HARES).unwrap();
        let keys = dir.join("authkeys");
        std::fs::write(&keys, "auth 1\n1 sha1 reload-test\n").unwrap();
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
        crate::config::load(dir, Some("node1"), &mut |_| {})
    }

    fn node(cfg: &Loaded, resume: Option<u32>) -> Box<Heartbeat> {
        let mut hb = HeartbeatConfig::from_files(
            &cfg.hacf,
            &cfg.haresources,
            &cfg.node,
            [1; 16],
            7,
            cfg.keys.clone(),
            1,
        )
        .unwrap();
        hb.resume = resume;
        Box::new(Heartbeat::new(&hb, CoreInstant::from_millis(1000), 1_800_000_000).unwrap())
    }

    #[test]
    fn the_new_image_gets_what_runs_and_finds_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = load(dir.path(), HACF).unwrap();
        // node1 runs its second group only (the first failed, say) and node2's.
        let hb = node(&cfg, Some(0b110));
        let argv = [
            "/usr/lib/heartbeat/heartbeat",
            "-f",
            "-R",
            "-C",
            "none",
            "--held",
            "x",
        ];
        let (args, current) = reexec_args(argv.iter().map(|a| a.into()), &hb);
        assert_eq!(current, "all");
        let args: Vec<&str> = args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args,
            [
                "/usr/lib/heartbeat/heartbeat",
                "-f",
                "-R",
                "-C",
                "all",
                "--held",
                "198.51.100.81",
                "--held",
                "198.51.100.82",
            ]
        );
        let resume = super::super::Resume {
            current: "all".into(),
            held: vec!["198.51.100.81".into(), "198.51.100.82".into()],
        };
        assert_eq!(held_mask(&cfg, &resume), (0b110, vec![]));
        // 3.0.6's own -C alone: every group of that side.
        for (word, mask) in [
            ("local", 0b101),
            ("foreign", 0b010),
            ("all", 0b111),
            ("none", 0),
        ] {
            let r = super::super::Resume {
                current: word.into(),
                held: vec![],
            };
            assert_eq!(held_mask(&cfg, &r).0, mask, "{word}");
        }
        // A key no longer in haresources is said, not guessed.
        let gone = super::super::Resume {
            current: "local".into(),
            held: vec!["198.51.100.99".into()],
        };
        let (mask, warnings) = held_mask(&cfg, &gone);
        assert_eq!(mask, 0);
        assert!(warnings[0].contains("198.51.100.99"), "{warnings:?}");
    }

    #[test]
    fn what_a_sighup_does_with_each_change() {
        let dir = tempfile::tempdir().unwrap();
        let old = load(dir.path(), HACF).unwrap();
        let hb = node(&old, None);
        let verdict = |hacf: &str| judge(&old, load(dir.path(), hacf), &hb);
        assert!(matches!(verdict(HACF), Verdict::Unchanged));
        assert!(matches!(
            verdict(&HACF.replace("deadtime 10", "deadtime 12")),
            Verdict::Reexec
        ));
        match verdict(&HACF.replace("keepalive 1", "keepalive banana")) {
            Verdict::Invalid(lines) => {
                assert!(lines[0].contains("ha.cf:1:"), "{lines:?}")
            }
            _ => panic!("an invalid ha.cf was not refused"),
        }
        match verdict(&format!("{HACF}node node3\n")) {
            Verdict::InPlace {
                refused: Some(why), ..
            } => assert!(why.contains("two nodes only"), "{why}"),
            _ => panic!("a third node was not refused"),
        }
        std::fs::write(dir.path().join("haresources"), "node1 198.51.100.80\n").unwrap();
        let changed = crate::config::load(dir.path(), Some("node1"), &mut |_| {});
        match judge(&old, changed, &hb) {
            Verdict::InPlace {
                refused: Some(why), ..
            } => assert!(why.contains("haresources"), "{why}"),
            _ => panic!("a changed haresources was not refused"),
        }
    }
}
