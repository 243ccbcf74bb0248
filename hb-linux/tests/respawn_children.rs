//! `respawn` children with real short-lived `sh -c` processes, as the current user. Clocks
//! passed to the respawner are made up where the 30 s rule matters; every real wait is bounded.

use hb_linux::log::{LogLine, Priority};
use hb_linux::respawn::{ChildSpec, RespawnConfig, Respawner};
use std::path::Path;
use std::time::{Duration, Instant};

/// The longest any test waits for a child to do something.
const WAIT: Duration = Duration::from_secs(10);

fn me() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .unwrap()
        .name
}

fn spec(command: &str) -> ChildSpec {
    ChildSpec::new(&me(), command, false).unwrap()
}

fn fast() -> RespawnConfig {
    RespawnConfig {
        quick_respawn_delay: Duration::from_millis(20),
        stop_wait: Duration::from_millis(500),
        kill_wait: Duration::from_secs(2),
        ..RespawnConfig::default()
    }
}

/// A script, and the command that runs it: `/bin/sh SCRIPT`, because executing a file that was
/// just written can fail with ETXTBSY while another test thread's fork still holds it open for
/// writing; the shell only reads it. (`exec /bin/sh SCRIPT` keeps the spawned pid.)
fn script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    format!("/bin/sh {}", path.display())
}

fn texts(logs: &[LogLine]) -> Vec<String> {
    logs.iter().map(|l| l.text.clone()).collect()
}

/// Drives reap + handle_timeout on the real clock until `done` says so; returns all logs.
fn drive(r: &mut Respawner, mut done: impl FnMut(&Respawner, &[LogLine]) -> bool) -> Vec<LogLine> {
    let deadline = Instant::now() + WAIT;
    let mut logs = Vec::new();
    loop {
        let now = Instant::now();
        let reaped = r.reap(now);
        assert_eq!(reaped.reboot, None, "unexpected reboot request");
        logs.extend(reaped.logs);
        logs.extend(r.handle_timeout(now));
        if done(r, &logs) {
            return logs;
        }
        assert!(
            Instant::now() < deadline,
            "timed out; logs so far: {:#?}",
            texts(&logs)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn count(logs: &[LogLine], needle: &str) -> usize {
    logs.iter().filter(|l| l.text.contains(needle)).count()
}

#[test]
fn starts_with_heartbeats_lines_in_its_own_group_with_null_stdio() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cmd = script(
        dir.path(),
        "probe",
        &format!(
            "read -r _ _ _ _ pgrp _ < /proc/$$/stat\n\
             echo \"$$ $pgrp $(readlink /proc/$$/fd/0) $(readlink /proc/$$/fd/1) $HB_TEST_ENV\" > {}.tmp\n\
             mv {0}.tmp {0}\nexec sleep 30",
            out.display()
        ),
    );
    let cfg = RespawnConfig {
        env: vec![("HB_TEST_ENV".into(), "passed".into())],
        ..fast()
    };
    let mut r = Respawner::new(vec![spec(&cmd)], cfg);
    let logs = r.start_all(Instant::now());
    let pid = r.pids()[0];
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let user_gid = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .unwrap()
        .gid
        .as_raw();
    let _ = gid;
    assert_eq!(
        texts(&logs),
        [
            format!("Starting child client \"{cmd}\" ({uid},{user_gid})"),
            format!("Starting \"{cmd}\" as uid {uid}  gid {user_gid} (pid {pid})"),
        ]
    );
    let deadline = Instant::now() + WAIT;
    while !out.exists() {
        assert!(Instant::now() < deadline, "the child never wrote its probe");
        std::thread::sleep(Duration::from_millis(5));
    }
    let seen = std::fs::read_to_string(&out).unwrap();
    // `exec` in `sh -c "exec CMD"`: the script is the spawned process itself.
    assert_eq!(
        seen.trim(),
        format!("{pid} {pid} /dev/null /dev/null passed"),
        "pid, process group, stdin, stdout, environment"
    );
    let logs = r.stop_all_blocking();
    assert_eq!(
        texts(&logs),
        [format!("killing {cmd} process group {pid} with signal 15")]
    );
    assert!(r.is_stopped());
}

#[test]
fn restarted_when_it_dies_but_not_after_exit_100() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let cmd = script(
        dir.path(),
        "twice",
        &format!(
            "echo x >> {0}\nif [ $(wc -l < {0}) -ge 2 ]; then exit 100; fi\nexit 3",
            runs.display()
        ),
    );
    let mut r = Respawner::new(vec![spec(&cmd)], fast());
    r.start_all(Instant::now());
    let logs = drive(&mut r, |r, logs| {
        r.pids().is_empty() && count(logs, "return code 100") == 1
    });
    let t = texts(&logs);
    assert!(
        t[0].starts_with(&format!("Managed {cmd} process ")),
        "{t:?}"
    );
    assert!(t[0].ends_with(" exited with return code 3."), "{t:?}");
    assert_eq!(logs[0].priority, Priority::Warn);
    assert_eq!(t[1], format!("Respawning client \"{cmd}\":"));
    assert_eq!(logs[1].priority, Priority::Error);
    assert!(t[2].starts_with("Starting child client"), "{t:?}");
    assert!(t[4].ends_with(" exited with return code 100."), "{t:?}");
    assert_eq!(t.len(), 5, "no restart after exit 100: {t:?}");
    // Nothing more happens.
    std::thread::sleep(Duration::from_millis(100));
    let now = Instant::now();
    assert!(r.reap(now).logs.is_empty());
    assert!(r.handle_timeout(now).is_empty());
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 2);
}

#[test]
fn quick_deaths_wait_before_respawning_and_stop_after_too_many() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let cmd = script(
        dir.path(),
        "dies",
        &format!("echo x >> {}\nexit 1", runs.display()),
    );
    let cfg = RespawnConfig {
        max_quick_respawns: 3,
        ..fast()
    };
    let mut r = Respawner::new(vec![spec(&cmd)], cfg);
    r.start_all(Instant::now());
    let mut delayed = 0;
    let logs = drive(&mut r, |r, logs| {
        if r.poll_timeout().is_some() {
            delayed += 1;
        }
        count(logs, "respawning too fast") == 1
    });
    assert!(delayed > 0, "quick re-spawns go through the delay timer");
    // 1 start + 3 quick re-spawns; the 4th quick death is one too many (heartbeat: > 10).
    assert_eq!(count(&logs, "Respawning client"), 3);
    assert_eq!(
        texts(&logs).last().unwrap(),
        &format!("Client {cmd} \"respawning too fast\"")
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(r.reap(Instant::now()).logs.is_empty());
    assert_eq!(r.poll_timeout(), None, "not restarted any more");
    assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 4);
}

#[test]
fn a_death_after_30_s_restarts_at_once_and_resets_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let cmd = script(
        dir.path(),
        "waits",
        &format!(
            "while [ ! -e {} ]; do sleep 0.01; done\nexit 1",
            go.display()
        ),
    );
    let mut r = Respawner::new(vec![spec(&cmd)], fast());
    let t0 = Instant::now();
    r.start_all(t0);
    std::fs::write(&go, "").unwrap();
    // The death is seen "31 s" after the start: not a quick one, restarted without delay.
    let deadline = Instant::now() + WAIT;
    let logs = loop {
        let reaped = r.reap(t0 + Duration::from_secs(31));
        if !reaped.logs.is_empty() {
            break reaped.logs;
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    };
    let t = texts(&logs);
    assert_eq!(t[1], format!("Respawning client \"{cmd}\":"));
    assert!(
        t[2].starts_with("Starting child client"),
        "started at once: {t:?}"
    );
    assert_eq!(r.pids().len(), 1);
    std::fs::remove_file(&go).unwrap();
    r.stop_all_blocking();
}

#[test]
fn stopped_in_reverse_order_one_at_a_time_and_killed_when_term_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let first = script(dir.path(), "first", "exec sleep 30");
    let stubborn = script(
        dir.path(),
        "stubborn",
        "trap '' TERM\nwhile :; do sleep 0.02; done",
    );
    let third = script(dir.path(), "third", "exec sleep 30");
    let mut r = Respawner::new(vec![spec(&first), spec(&stubborn), spec(&third)], fast());
    r.start_all(Instant::now());
    let pids = r.pids();
    assert_eq!(pids.len(), 3);
    // Let the stubborn script install its trap.
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let logs = r.stop_all_blocking();
    let t = texts(&logs);
    assert_eq!(
        t[0],
        format!("killing {third} process group {} with signal 15", pids[2])
    );
    assert_eq!(
        t[1],
        format!(
            "killing {stubborn} process group {} with signal 15",
            pids[1]
        )
    );
    assert!(t[2].contains("still running 500 ms after SIGTERM"), "{t:?}");
    assert!(t[2].contains("signal 9"), "{t:?}");
    assert_eq!(
        t[3],
        format!("killing {first} process group {} with signal 15", pids[0])
    );
    assert_eq!(
        t.len(),
        4,
        "children we kill die silently, nothing is respawned: {t:?}"
    );
    assert!(r.is_stopped());
    assert!(started.elapsed() < Duration::from_secs(5));
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| s.contains(") Z "))
                    .unwrap_or(true),
            "pid {pid} still alive"
        );
    }
}

#[test]
fn failfast_child_dying_asks_for_a_reboot() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = script(dir.path(), "fails", "exit 2");
    let child = ChildSpec::new(&me(), &cmd, true).unwrap();
    let mut r = Respawner::new(vec![child], fast());
    r.start_all(Instant::now());
    let deadline = Instant::now() + WAIT;
    loop {
        let reaped = r.reap(Instant::now());
        if let Some(reboot) = reaped.reboot {
            assert_eq!(reboot, cmd);
            break;
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    r.stop_all_blocking();
}

#[test]
fn ipfail_is_built_in_and_a_missing_program_is_not_started() {
    let mut r = Respawner::new(
        vec![
            spec("/usr/lib/heartbeat/ipfail"),
            spec("/nonexistent/hb-helper --flag"),
        ],
        RespawnConfig {
            debug: true,
            ..fast()
        },
    );
    let logs = r.start_all(Instant::now());
    assert_eq!(
        texts(&logs)[0],
        "Not starting child client \"/usr/lib/heartbeat/ipfail\": ipfail runs built into hb"
    );
    assert_eq!(
        texts(&logs)[2],
        "Cannot exec /nonexistent/hb-helper --flag: No such file or directory"
    );
    assert!(r.pids().is_empty());
    assert!(r.is_stopped());
}

#[test]
fn debug_adds_heartbeats_client_lines() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = script(dir.path(), "hundred", "exit 100");
    let mut r = Respawner::new(
        vec![spec(&cmd)],
        RespawnConfig {
            debug: true,
            ..fast()
        },
    );
    r.start_all(Instant::now());
    let logs = drive(&mut r, |r, _| r.pids().is_empty());
    assert_eq!(
        texts(&logs)[1],
        format!("Client {cmd} exited with return code 100.")
    );
    assert_eq!(logs[1].priority, Priority::Error);
    // A signal death.
    let killed = script(dir.path(), "killed", "exec sleep 30");
    let mut r = Respawner::new(
        vec![spec(&killed)],
        RespawnConfig {
            debug: true,
            max_quick_respawns: 0,
            ..fast()
        },
    );
    r.start_all(Instant::now());
    let pid = r.pids()[0];
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .unwrap();
    let logs = drive(&mut r, |_, logs| count(logs, "respawning too fast") == 1);
    let t = texts(&logs);
    assert_eq!(
        t[0],
        format!(
            "Managed {killed} process {pid} killed by signal 10 [SIGUSR1 - User-defined signal 1]."
        )
    );
    assert_eq!(
        t[1],
        format!("Client {killed} (pid={pid}) killed by signal 10.")
    );
}

/// The same children as a run of Debian's heartbeat 3.0.6 on this kind of machine (`respawn`
/// lines for a script that exits 3, one that exits 100 after a second and one that runs
/// until stopped, then `heartbeat -k`), which logged, pids aside and in this order:
/// `Starting child client "…" (0,0)` ×3, then for the first script ten times
/// `WARN: Managed … process N exited with return code 3.` / `ERROR: Respawning client "…":` /
/// `Starting child client "…"`, the eleventh death followed by
/// `ERROR: Client … "respawning too fast"`; the second `WARN: Managed … exited with return code
/// 100.` and nothing else; at shutdown `killing … process group N with signal 15` for the third
/// and `client […] is not running.` for the second and then the first.
#[test]
fn matches_a_heartbeat_3_0_6_trace() {
    let dir = tempfile::tempdir().unwrap();
    let dies = script(dir.path(), "dies.sh", "exit 3");
    let hundred = script(dir.path(), "hundred.sh", "sleep 0.2; exit 100");
    let long = script(dir.path(), "long.sh", "exec sleep 300");
    let mut r = Respawner::new(vec![spec(&dies), spec(&hundred), spec(&long)], fast());
    let mut logs = r.start_all(Instant::now());
    logs.extend(drive(&mut r, |r, logs| {
        count(logs, "respawning too fast") == 1 && r.pids().len() == 1
    }));
    let shape: Vec<(Priority, String)> = logs
        .iter()
        .filter(|l| !l.text.contains(" as uid "))
        .map(|l| {
            // Pids differ from run to run.
            let t = l
                .text
                .split(' ')
                .map(|w| if w.parse::<u32>().is_ok() { "N" } else { w })
                .collect::<Vec<_>>()
                .join(" ");
            (l.priority, t)
        })
        .collect();
    let (u, g) = {
        let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .unwrap()
            .unwrap();
        (me.uid.as_raw(), me.gid.as_raw())
    };
    let starting = |c: &str| {
        (
            Priority::Info,
            format!("Starting child client \"{c}\" ({u},{g})"),
        )
    };
    let mut want = vec![starting(&dies), starting(&hundred), starting(&long)];
    let died = (
        Priority::Warn,
        format!("Managed {dies} process N exited with return code 3."),
    );
    for _ in 0..10 {
        want.push(died.clone());
        want.push((Priority::Error, format!("Respawning client \"{dies}\":")));
        want.push(starting(&dies));
    }
    want.push(died);
    want.push((
        Priority::Error,
        format!("Client {dies} \"respawning too fast\""),
    ));
    let hundred_line = (
        Priority::Warn,
        format!("Managed {hundred} process N exited with return code 100."),
    );
    // The exit 100 lands somewhere among the first script's deaths.
    let mut got = shape.clone();
    let at = got
        .iter()
        .position(|l| *l == hundred_line)
        .expect("the exit 100 is logged");
    got.remove(at);
    assert_eq!(got, want);
    let stop = r.stop_all_blocking();
    let words: Vec<&str> = stop[0].text.split(' ').collect();
    let pid = words[words.iter().position(|w| *w == "group").unwrap() + 1].to_string();
    assert_eq!(
        texts(&stop),
        [
            format!("killing {long} process group {pid} with signal 15"),
            format!("client [{hundred}] is not running."),
            format!("client [{dies}] is not running."),
        ]
    );
}
