//! Resource groups run through small shell scripts that record every call to a file, so the
//! tests can assert the order ResourceManager would have run them in (spec §2.3–2.5).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hb_core::config::haresources::{HaResources, ResourceGroup};
use hb_linux::log::{LogLine, Priority};
use hb_linux::rsc::{GroupOutcome, Op, OpFailure, Runner, RunnerOptions, ScriptEnv};

/// A script that logs `<name> <args…>` to `$CALLS` and keeps its state in `$STATE`:
/// `<name>.running` exists while it runs; `<name>.failstart` / `<name>.failstop` make those
/// operations fail (the stop then leaves it running).
const RECORDER: &str = r#"#!/bin/sh
name=$(basename "$0")
echo "$name $*" >> "$CALLS"
for op; do :; done
case "$op" in
  status) if [ -f "$STATE/$name.running" ]; then echo "$name is running"; else echo "$name is stopped"; fi ;;
  start) [ -f "$STATE/$name.failstart" ] && exit 1; touch "$STATE/$name.running" ;;
  stop) [ -f "$STATE/$name.failstop" ] && exit 1; rm -f "$STATE/$name.running" ;;
esac
exit 0
"#;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let f = Fixture {
            dir: tempfile::tempdir().unwrap(),
        };
        for d in ["ha.d/resource.d", "init.d", "state"] {
            fs::create_dir_all(f.path(d)).unwrap();
        }
        fs::write(f.path("calls"), "").unwrap();
        f
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn script(&self, rel: &str, body: &str) {
        let p = self.path(rel);
        fs::write(&p, body).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn recorder(&self, names: &[&str]) {
        for n in names {
            self.script(&format!("ha.d/resource.d/{n}"), RECORDER);
        }
    }

    fn touch(&self, rel: &str) {
        fs::write(self.path(rel), "").unwrap();
    }

    fn options(&self) -> RunnerOptions {
        let mut o = RunnerOptions::new(self.path("ha.d"));
        o.init_dirs = vec![self.path("no-such-dir"), self.path("init.d")];
        o.env = ScriptEnv::new(self.path("ha.d"), "node1");
        o.env.extra = vec![
            ("CALLS".into(), self.path("calls").display().to_string()),
            ("STATE".into(), self.path("state").display().to_string()),
        ];
        o.stop_retry_interval = Duration::from_millis(10);
        o.output = Some(self.path("debug.log"));
        o
    }

    fn calls(&self) -> Vec<String> {
        fs::read_to_string(self.path("calls"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn group(line: &str) -> ResourceGroup {
    let res = HaResources::parse(line, &mut |e| panic!("{e:?}")).unwrap();
    res.groups()[0].clone()
}

/// Runs `f` with a log collector and returns what it logged.
fn logged<T>(f: impl FnOnce(&mut dyn FnMut(LogLine)) -> T) -> (T, Vec<LogLine>) {
    let mut lines = Vec::new();
    let out = f(&mut |l| lines.push(l));
    (out, lines)
}

fn has(lines: &[LogLine], prio: Priority, text: &str) -> bool {
    lines.iter().any(|l| l.priority == prio && l.text == text)
}

fn texts(lines: &[LogLine]) -> String {
    lines
        .iter()
        .map(|l| format!("{}: {}", l.priority.name(), l.text))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn acquire_left_to_right_with_status_first_release_right_to_left() {
    let f = Fixture::new();
    f.recorder(&["a", "b", "c"]);
    let runner = Runner::new(f.options());
    let g = group("node1 a b::x::y c\n");
    let (out, lines) = logged(|log| runner.acquire_group(&g, log));
    assert_eq!(out, GroupOutcome::Done, "{}", texts(&lines));
    assert_eq!(
        f.calls(),
        [
            "a status",
            "a start",
            "b x y status",
            "b x y start",
            "c status",
            "c start"
        ]
    );
    assert!(has(
        &lines,
        Priority::Info,
        "Acquiring resource group: node1 a b::x::y c"
    ));
    let b = f.path("ha.d/resource.d/b").display().to_string();
    assert!(has(
        &lines,
        Priority::Info,
        &format!("Running {b} x y start")
    ));
    assert!(has(
        &lines,
        Priority::Debug,
        &format!("Running {b} x y status")
    ));

    fs::write(f.path("calls"), "").unwrap();
    let (out, lines) = logged(|log| runner.release_group(&g, log));
    assert_eq!(out, GroupOutcome::Done);
    assert_eq!(f.calls(), ["c stop", "b x y stop", "a stop"]);
    assert!(has(
        &lines,
        Priority::Info,
        "Releasing resource group: node1 a b::x::y c"
    ));
}

#[test]
fn a_running_resource_is_not_started_again() {
    let f = Fixture::new();
    f.recorder(&["a", "b"]);
    f.touch("state/b.running");
    let runner = Runner::new(f.options());
    let (out, _) = logged(|log| runner.acquire_group(&group("node1 a b"), log));
    assert_eq!(out, GroupOutcome::Done);
    assert_eq!(f.calls(), ["a status", "a start", "b status"]);
}

#[test]
fn status_is_the_words_not_the_exit_code() {
    let f = Fixture::new();
    let status_script = |out: &str, rc: i32| {
        format!(
            "#!/bin/sh\nfor op; do :; done\necho \"$(basename $0) $op\" >> \"$CALLS\"\n\
             [ \"$op\" = status ] && {{ echo '{out}'; exit {rc}; }}\nexit 0\n"
        )
    };
    // Exit 0 but "stopped": not running, so started.
    f.script("ha.d/resource.d/zero", &status_script("stopped", 0));
    // Exit 3 but "running": running, so skipped.
    f.script(
        "ha.d/resource.d/three",
        &status_script("daemon is running", 3),
    );
    // "not ... running" wins over "running"; "OK" alone is running.
    f.script(
        "ha.d/resource.d/notrun",
        &status_script("is NOT running", 0),
    );
    f.script("ha.d/resource.d/ok", &status_script("OK", 1));
    let runner = Runner::new(f.options());
    let (out, _) = logged(|log| runner.acquire_group(&group("node1 zero three notrun ok"), log));
    assert_eq!(out, GroupOutcome::Done);
    assert_eq!(
        f.calls(),
        [
            "zero status",
            "zero start",
            "three status",
            "notrun status",
            "notrun start",
            "ok status"
        ]
    );
}

#[test]
fn lookup_resource_d_then_the_first_existing_init_dir_only() {
    let f = Fixture::new();
    let says = |who: &str| format!("#!/bin/sh\necho \"{who} $*\" >> \"$CALLS\"\nexit 0\n");
    f.script("ha.d/resource.d/both", &says("resource.d/both"));
    f.script("init.d/both", &says("init.d/both"));
    f.script("init.d/initonly", &says("init.d/initonly"));
    // Not executable in resource.d: the init.d one is used.
    f.script("init.d/noexec", &says("init.d/noexec"));
    fs::write(f.path("ha.d/resource.d/noexec"), says("resource.d/noexec")).unwrap();
    // A directory of that name is not a script either.
    fs::create_dir(f.path("ha.d/resource.d/dirname")).unwrap();
    f.script("init.d/dirname", &says("init.d/dirname"));
    // Only in a later init directory: heartbeat searches a single one.
    fs::create_dir(f.path("init2.d")).unwrap();
    f.script("init2.d/later", &says("init2.d/later"));
    let mut o = f.options();
    o.init_dirs.push(f.path("init2.d"));
    let runner = Runner::new(o);
    let (out, lines) =
        logged(|log| runner.acquire_group(&group("node1 both initonly noexec dirname"), log));
    assert_eq!(out, GroupOutcome::Done, "{}", texts(&lines));
    let calls = f.calls();
    assert_eq!(
        calls,
        [
            "resource.d/both status",
            "resource.d/both start",
            "init.d/initonly status",
            "init.d/initonly start",
            "init.d/noexec status",
            "init.d/noexec start",
            "init.d/dirname status",
            "init.d/dirname start"
        ]
    );
    fs::write(f.path("calls"), "").unwrap();
    let (out, lines) = logged(|log| runner.acquire_group(&group("node1 later"), log));
    assert_eq!(
        out,
        GroupOutcome::Failed {
            resource: "later".into()
        }
    );
    assert!(has(
        &lines,
        Priority::Error,
        "Cannot locate resource script later"
    ));
    assert!(f.calls().is_empty());
}

#[test]
fn arguments_come_before_the_operation_and_the_environment_is_heartbeats() {
    let f = Fixture::new();
    f.script(
        "ha.d/resource.d/env",
        "#!/bin/sh\nfor op; do :; done\n[ \"$op\" = start ] || exit 0\n\
         printf '%s|' \"$#\" \"$@\" > \"$STATE/args\"\n\
         env | grep -E '^(HA_|OCF_ROOT)' | sort > \"$STATE/env\"\necho to-stdout; echo to-stderr >&2\n",
    );
    let mut o = f.options();
    o.env.debuglog = Some(f.path("debug.log"));
    o.env.logfacility = Some("local0".into());
    o.env.debug = 1;
    let runner = Runner::new(o);
    let (out, _) =
        logged(|log| runner.acquire_group(&group("node1 env::/dev/sda1::/data::ext4"), log));
    assert_eq!(out, GroupOutcome::Done);
    assert_eq!(
        fs::read_to_string(f.path("state/args")).unwrap(),
        "4|/dev/sda1|/data|ext4|start|"
    );
    let env = fs::read_to_string(f.path("state/env")).unwrap();
    let ha_d = f.path("ha.d").display().to_string();
    for want in [
        format!("HA_DIR={ha_d}"),
        format!("HA_FUNCS={ha_d}/shellfuncs"),
        "HA_CURHOST=node1".to_string(),
        "HA_debug=1".to_string(),
        "HA_LOGFACILITY=local0".to_string(),
        format!("HA_DEBUGLOG={}", f.path("debug.log").display()),
        "OCF_ROOT=/usr/lib/ocf".to_string(),
        "HA_LOGD=no".to_string(),
    ] {
        assert!(env.lines().any(|l| l == want), "{want} not in\n{env}");
    }
    let debug = fs::read_to_string(f.path("debug.log")).unwrap();
    assert!(
        debug.contains("to-stdout") && debug.contains("to-stderr"),
        "{debug}"
    );
}

#[test]
fn a_hung_script_is_killed_with_its_process_group() {
    let f = Fixture::new();
    // The script starts a background child too: both must die.
    f.script(
        "ha.d/resource.d/hang",
        "#!/bin/sh\nfor op; do :; done\n[ \"$op\" = status ] && exit 0\n\
         [ \"$op\" = stop ] && exit 0\n\
         sleep 1000 & echo $! > \"$STATE/child\"\nsleep 1000\n",
    );
    let mut o = f.options();
    o.timeouts.start = Duration::from_millis(300);
    o.kill_grace = Duration::from_millis(200);
    let runner = Runner::new(o);
    let t0 = Instant::now();
    let (out, lines) = logged(|log| runner.acquire_group(&group("node1 hang"), log));
    let took = t0.elapsed();
    assert_eq!(
        out,
        GroupOutcome::Failed {
            resource: "hang".into()
        }
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let path = f.path("ha.d/resource.d/hang").display().to_string();
    assert!(
        has(
            &lines,
            Priority::Error,
            &format!(
                "Resource script {path} start timed out after 0.3 s; killed its process group"
            )
        ),
        "{}",
        texts(&lines)
    );
    assert!(has(
        &lines,
        Priority::Crit,
        "Giving up resources due to failure of hang"
    ));
    let child: i32 = fs::read_to_string(f.path("state/child"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Dead means gone or a zombie waiting for PID 1 to reap it.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let stat = fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
        if stat.is_empty() || state == Some('Z') || state == Some('X') {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "background child {child} survived: {stat}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_failed_start_stops_the_whole_group_right_to_left() {
    let f = Fixture::new();
    f.recorder(&["a", "b", "c", "d"]);
    f.touch("state/c.failstart");
    let runner = Runner::new(f.options());
    let (out, lines) = logged(|log| runner.acquire_group(&group("node1 a b c d"), log));
    assert_eq!(
        out,
        GroupOutcome::Failed {
            resource: "c".into()
        }
    );
    assert_eq!(
        f.calls(),
        [
            "a status", "a start", "b status", "b start", "c status", "c start", "d stop",
            "c stop", "b stop", "a stop"
        ]
    );
    let c = f.path("ha.d/resource.d/c").display().to_string();
    assert!(has(
        &lines,
        Priority::Error,
        &format!("Return code 1 from {c}")
    ));
    assert!(has(
        &lines,
        Priority::Crit,
        "Giving up resources due to failure of c"
    ));
    assert!(has(
        &lines,
        Priority::Info,
        "Releasing resource group: node1 a b c d"
    ));
}

#[test]
fn a_stop_that_keeps_failing_while_running_requires_a_reboot() {
    let f = Fixture::new();
    f.recorder(&["a", "b", "c"]);
    for n in ["a", "b", "c"] {
        f.touch(&format!("state/{n}.running"));
    }
    f.touch("state/b.failstop");
    let mut o = f.options();
    o.stop_retry_max = Some(3);
    let runner = Runner::new(o);
    let (out, lines) = logged(|log| runner.release_group(&group("node1 a b c"), log));
    assert_eq!(
        out,
        GroupOutcome::RebootRequired {
            resource: "b".into()
        }
    );
    // Nothing after the failure: heartbeat reboots there.
    assert_eq!(
        f.calls(),
        ["c stop", "b stop", "b stop", "b stop", "b stop", "b status"]
    );
    let retries = lines
        .iter()
        .filter(|l| l.priority == Priority::Info && l.text == "Retrying failed stop operation [b]")
        .count();
    assert_eq!(retries, 3);
    assert!(has(
        &lines,
        Priority::Crit,
        "Resource STOP failure. Reboot required!"
    ));
}

#[test]
fn a_stop_that_fails_but_is_stopped_narrowly_avoids_the_reboot() {
    let f = Fixture::new();
    f.recorder(&["a", "b"]);
    f.touch("state/b.failstop");
    let mut o = f.options();
    o.stop_retry_max = Some(2);
    let runner = Runner::new(o);
    let (out, lines) = logged(|log| runner.release_group(&group("node1 a b"), log));
    assert_eq!(out, GroupOutcome::Done);
    assert_eq!(
        f.calls(),
        ["b stop", "b stop", "b stop", "b status", "a stop"]
    );
    for (p, t) in [
        (
            Priority::Error,
            "Resource script for b probably not LSB-compliant.",
        ),
        (
            Priority::Warn,
            "it (b) MUST succeed on a stop when already stopped",
        ),
        (Priority::Warn, "Machine reboot narrowly avoided!"),
    ] {
        assert!(has(&lines, p, t), "{t} not in\n{}", texts(&lines));
    }
}

#[test]
fn a_users_ipaddr_script_wins_over_the_native_one() {
    let f = Fixture::new();
    f.recorder(&["IPaddr", "IPaddr2"]);
    let runner = Runner::new(f.options());
    let (out, lines) = logged(|log| {
        runner.acquire_group(
            &group("node1 198.51.100.80/24/eth0 IPaddr2::198.51.100.81/24/eth0:web"),
            log,
        )
    });
    assert_eq!(out, GroupOutcome::Done, "{}", texts(&lines));
    assert_eq!(
        f.calls(),
        [
            "IPaddr 198.51.100.80/24/eth0 status",
            "IPaddr 198.51.100.80/24/eth0 start",
            "IPaddr2 198.51.100.81/24/eth0:web status",
            "IPaddr2 198.51.100.81/24/eth0:web start"
        ]
    );
}

/// The config parser already refuses malformed addresses; what only shows at run time must
/// still be a clear error naming the resource, with nothing changed on the host (every case
/// here fails before touching an interface).
#[test]
fn bad_ip_resources_are_clear_errors() {
    let f = Fixture::new();
    let runner = Runner::new(f.options());
    let g = group(
        "node1 IPaddr::198.51.100.80::extra IPaddr2::198.51.100.81/24/nosuch0 \
         IPaddr2::198.51.100.82/24/lo:averyverylonglabel",
    );
    let want = [
        "IPaddr: IPaddr::198.51.100.80::extra: needs exactly one argument, \
         address[/bits[/interface[/broadcast]]]",
        "IPaddr2: IPaddr2::198.51.100.81/24/nosuch0: nosuch0: unknown interface",
        "IPaddr2: IPaddr2::198.51.100.82/24/lo:averyverylonglabel: Interface label \
         [lo:averyverylonglabel] exceeds maximum character limit of 15",
    ];
    for (res, msg) in g.resources().zip(want) {
        let (r, lines) = logged(|log| runner.run(&res, Op::Start, log));
        assert_eq!(r, Err(OpFailure::Error(msg.into())), "{}", texts(&lines));
        assert!(has(&lines, Priority::Error, msg), "{}", texts(&lines));
        // A status that cannot be answered, or says stopped, counts as "not running".
        let (running, _) = logged(|log| runner.resource_status(&res, log));
        assert!(!running);
    }
}

#[test]
fn scripts_on_a_path_without_execute_bits_are_not_found() {
    let f = Fixture::new();
    fs::write(f.path("ha.d/resource.d/plain"), RECORDER).unwrap();
    let runner = Runner::new(f.options());
    let g = group("node1 plain");
    let r = g.resources().next().unwrap();
    let (out, lines) = logged(|log| runner.run(&r, Op::Start, log));
    assert_eq!(out, Err(OpFailure::NotFound));
    assert!(has(
        &lines,
        Priority::Error,
        "Cannot locate resource script plain"
    ));
    assert!(Path::new(&f.path("calls")).exists());
    assert!(f.calls().is_empty());
}
