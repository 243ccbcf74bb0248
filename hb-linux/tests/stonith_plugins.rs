//! STONITH plugins end to end: an external plugin (a small script in a tempdir that records its
//! argv and environment), null, meatware with a thread acting as the operator's meatclient, and
//! the `stonith` / `meatclient` commands (library entry points and the hbctl binary under those
//! names). Every wait is bounded.

use hb_core::resources::FenceResult;
use hb_linux::log::{LogLine, Priority};
use hb_linux::stonith::cli::{meatclient_main, stonith_main};
use hb_linux::stonith::{meatclient, PluginEnv, ResetAction, Stonith};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// A recording external plugin, cluster-glue's calling convention.
const RECORDER: &str = r#"#!/bin/sh
# Records every call: argv, then the parameters it got from the environment.
echo "$* hostlist=$hostlist passwd=$passwd" >> "$(dirname "$0")/calls"
case "$1" in
getconfignames) echo "hostlist"; echo "passwd" ;;
getinfo-devid) echo "recorder STONITH device" ;;
getinfo-devdescr) echo "Records calls, for tests" ;;
getinfo-devurl) echo "http://example.invalid/recorder" ;;
gethosts) for h in $(echo "$hostlist" | tr ',' ' '); do echo "$h"; done ;;
status) [ "$passwd" = "s3cret word" ] ;;
reset|off|on)
    case "$2" in
    slow) sleep 30 & echo $! > "$(dirname "$0")/slow.pid"; wait ;;
    esac
    for h in $(echo "$hostlist" | tr ',' ' '); do [ "$h" = "$2" ] && exit 0; done
    exit 1 ;;
*) exit 1 ;;
esac
"#;

fn plugin_dir() -> (tempfile::TempDir, PluginEnv) {
    let dir = tempfile::tempdir().unwrap();
    let ext = dir.path().join("external");
    std::fs::create_dir(&ext).unwrap();
    let script = ext.join("recorder");
    std::fs::write(&script, RECORDER).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let env = PluginEnv {
        external_dirs: vec![dir.path().join("nothing-here"), ext],
        fence_dirs: vec![],
        meatware_dir: dir.path().to_path_buf(),
        relays: vec![],
    };
    (dir, env)
}

fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("external/calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn texts(l: &[LogLine]) -> Vec<String> {
    l.iter().map(|l| l.text.clone()).collect()
}

#[test]
fn external_plugin_gets_glues_argv_and_environment() {
    let (dir, env) = plugin_dir();
    let mut s = Stonith::new("external/recorder", "node1,node2 s3cret word", &env).unwrap();
    assert_eq!(calls(dir.path()), ["getconfignames hostlist= passwd="]);
    let mut log = Vec::new();
    assert_eq!(s.fence("Node2", &mut |l| log.push(l)), FenceResult::Ok);
    assert_eq!(
        texts(&log),
        [
            "Resetting node Node2 with [recorder STONITH device]",
            "node Node2 now reset."
        ]
    );
    let c = calls(dir.path());
    assert_eq!(
        c[1],
        "getinfo-devid hostlist=node1,node2 passwd=s3cret word"
    );
    assert_eq!(
        c[2], "reset node2 hostlist=node1,node2 passwd=s3cret word",
        "the node is lowercased and the parameters are in the environment"
    );
    let mut log = Vec::new();
    assert_eq!(s.fence("node3", &mut |l| log.push(l)), FenceResult::Failed);
    assert_eq!(
        texts(&log)[1..],
        [
            "external_reset_req: 'recorder reset' for host node3 failed with rc 1",
            "Host node3 not reset!"
        ]
    );
    assert_eq!(log[1].priority, Priority::Crit);
    assert_eq!(log[2].priority, Priority::Error);
    assert_eq!(s.hosts(&mut |_| {}).unwrap(), ["node1", "node2"]);
    let mut log = Vec::new();
    assert!(s.check_status(&mut |l| log.push(l)));
    assert_eq!(
        texts(&log),
        ["Checking status of STONITH device [recorder STONITH device]"]
    );
    // off/on get the same convention.
    assert_eq!(
        s.plugin().reset(
            "node1",
            ResetAction::Off,
            Duration::from_secs(5),
            &mut |_| {}
        ),
        FenceResult::Ok
    );
    assert!(calls(dir.path())
        .last()
        .unwrap()
        .starts_with("off node1 hostlist="));
}

#[test]
fn failing_status_logs_heartbeats_lines() {
    let (_dir, env) = plugin_dir();
    let mut s = Stonith::new("external/recorder", "node1 wrong", &env).unwrap();
    let mut log = Vec::new();
    assert!(!s.check_status(&mut |l| log.push(l)));
    let t = texts(&log);
    assert_eq!(
        t[2],
        "STONITH device recorder STONITH device not operational!"
    );
    assert!(
        t[3].starts_with("STONITH status operation failed."),
        "{t:?}"
    );
    assert_eq!(t[4], "This may mean that the STONITH device has failed!");
}

#[test]
fn a_hung_plugin_is_killed_at_the_timeout() {
    let (dir, env) = plugin_dir();
    let mut s = Stonith::new("external/recorder", "slow pw", &env).unwrap();
    s.timeout = Duration::from_millis(500);
    let started = Instant::now();
    let mut log = Vec::new();
    assert_eq!(s.fence("slow", &mut |l| log.push(l)), FenceResult::Failed);
    assert!(started.elapsed() < Duration::from_secs(5));
    let t = texts(&log);
    assert!(
        t[1].contains("'recorder reset slow' timed out after 500 ms"),
        "{t:?}"
    );
    // The plugin's own child went with it (its process group was killed).
    let pid: i32 = std::fs::read_to_string(dir.path().join("external/slow.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.is_empty() || stat.contains(") Z ") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the plugin's sleep survived: {stat}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn unsafe_or_missing_plugins_are_refused_with_a_reason() {
    let (dir, env) = plugin_dir();
    let script = dir.path().join("external/recorder");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let e = Stonith::new("external/recorder", "node1 pw", &env).unwrap_err();
    assert!(
        e.to_string()
            .contains("found to be writable by group/others, NOT executing"),
        "{e}"
    );
    assert_eq!(
        Stonith::new("external/../recorder", "x", &env)
            .unwrap_err()
            .to_string(),
        "Invalid Stonith type [external/../recorder]"
    );
}

#[test]
fn null_resets_only_its_hosts() {
    let env = PluginEnv {
        external_dirs: vec![],
        fence_dirs: vec![],
        meatware_dir: "/nonexistent".into(),
        relays: vec![],
    };
    let mut s = Stonith::new("null", "node1 node2", &env).unwrap();
    let mut log = Vec::new();
    assert_eq!(s.fence("node2", &mut |l| log.push(l)), FenceResult::Ok);
    assert_eq!(
        texts(&log),
        [
            "Resetting node node2 with [NULL STONITH device]",
            "Host null-reset: node2",
            "node node2 now reset."
        ]
    );
    let mut log = Vec::new();
    assert_eq!(s.fence("node9", &mut |l| log.push(l)), FenceResult::BadHost);
    assert_eq!(
        texts(&log)[1],
        "Device NULL STONITH device cannot reset host node9."
    );
}

fn meat_env() -> (tempfile::TempDir, PluginEnv) {
    let dir = tempfile::tempdir().unwrap();
    let env = PluginEnv {
        external_dirs: vec![],
        fence_dirs: vec![],
        meatware_dir: dir.path().to_path_buf(),
        relays: vec![],
    };
    (dir, env)
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + WAIT;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs a meatware fence on a thread while `operator` plays meatclient; returns the fence's
/// result and log, and the operator's exit code and output.
fn meatware_with_operator(
    answer: &'static str,
    wait_mode: bool,
) -> (FenceResult, Vec<LogLine>, u8, String) {
    let (dir, env) = meat_env();
    let fifo: PathBuf = dir.path().join("meatware.node1");
    let mut s = Stonith::new("meatware", "node1 node2", &env).unwrap();
    s.timeout = WAIT;
    let (tx, rx) = std::sync::mpsc::channel();
    let fence = std::thread::spawn(move || {
        let mut log = Vec::new();
        let r = s.fence("node1", &mut |l| {
            let _ = tx.send(l.clone());
            log.push(l)
        });
        (r, log)
    });
    if !wait_mode {
        wait_for(&fifo);
        // The operator is told while the fence waits.
        let first = rx.recv_timeout(WAIT).unwrap();
        assert_eq!(
            first.text,
            "Resetting node node1 with [Meatware STONITH device]"
        );
        let second = rx.recv_timeout(WAIT).unwrap();
        assert_eq!(
            second.text,
            "OPERATOR INTERVENTION REQUIRED to reset node1."
        );
        assert_eq!(second.priority, Priority::Crit);
    }
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = meatclient(
        dir.path(),
        "NODE1",
        wait_mode,
        &mut answer.as_bytes(),
        &mut out,
        &mut err,
    );
    let (r, log) = fence.join().unwrap();
    let mut text = String::from_utf8(out).unwrap();
    text.push_str(&String::from_utf8(err).unwrap());
    (r, log, code, text)
}

#[test]
fn meatware_waits_for_the_operator() {
    let (r, log, code, out) = meatware_with_operator("y\n", false);
    assert_eq!(code, 0);
    assert_eq!(r, FenceResult::Ok);
    assert!(out.contains("If node \"node1\" has not been manually power-cycled"));
    assert!(
        out.ends_with("PROCEED? [yN] Meatware_client: reset confirmed.\n"),
        "{out}"
    );
    assert_eq!(
        texts(&log),
        [
            "Resetting node node1 with [Meatware STONITH device]",
            "OPERATOR INTERVENTION REQUIRED to reset node1.",
            "Run \"meatclient -c node1\" AFTER power-cycling the machine.",
            "node Meatware-reset: node1",
            "node node1 now reset."
        ]
    );
}

#[test]
fn meatware_cancelled_by_the_operator_fails() {
    // glue only takes a lowercase y.
    let (r, log, code, out) = meatware_with_operator("Y\n", false);
    assert_eq!(code, 3);
    assert!(out.ends_with("Meatware_client: operation canceled.\n"));
    assert_eq!(r, FenceResult::Failed);
    assert_eq!(
        texts(&log)[3..],
        [
            "Format error - failed to Meatware-reset node node1",
            "Host node1 not reset!"
        ]
    );
}

#[test]
fn meatclient_w_waits_for_the_fifo() {
    let (r, _log, code, out) = meatware_with_operator("yes\n", true);
    assert_eq!(code, 0);
    assert_eq!(r, FenceResult::Ok);
    assert!(out.contains("Meatware_client: reset confirmed."), "{out}");
}

#[test]
fn meatware_times_out_and_meatclient_without_a_fifo_says_so() {
    let (dir, env) = meat_env();
    let mut s = Stonith::new("meatware", "node1", &env).unwrap();
    s.timeout = Duration::from_millis(300);
    let mut log = Vec::new();
    let started = Instant::now();
    assert_eq!(s.fence("node1", &mut |l| log.push(l)), FenceResult::Failed);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        texts(&log)[3].starts_with("no reply from meatclient for node node1"),
        "{log:?}"
    );
    assert!(!dir.path().join("meatware.node1").exists(), "FIFO removed");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = meatclient(
        dir.path(),
        "node1",
        false,
        &mut &b""[..],
        &mut out,
        &mut err,
    );
    assert_eq!(code, 4);
    assert_eq!(
        String::from_utf8(err).unwrap(),
        format!(
            "Meatware_IPC failed: {}/meatware.node1: No such file or directory\n",
            dir.path().display()
        )
    );
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = meatclient_main("meatclient", &[], &env, &mut &b""[..], &mut out, &mut err);
    assert_eq!(code, 3);
    assert_eq!(
        String::from_utf8(err).unwrap(),
        "usage: meatclient -c node [-w]\n"
    );
}

fn run(env: &PluginEnv, args: &[&str]) -> (u8, String, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = stonith_main("stonith", &args, env, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn stonith_command_lists_helps_and_resets() {
    let (dir, env) = plugin_dir();
    assert_eq!(
        run(&env, &["-L"]),
        (
            0,
            "external/recorder\nhbrelay\nmeatware\nnull\n".into(),
            String::new()
        )
    );
    let (code, out, _) = run(&env, &["-t", "null", "-h"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "\n\nSTONITH Device: null - Dummy (do-nothing) STONITH device\nFOR TESTING ONLY!\n\
         List of valid parameter names for null STONITH device:\n\thostlist\n\
         For Config info [-p] syntax, give each of the above parameters in order as\n\
         the -p value.\nArguments are separated by white space.\n\
         Config file [-F] syntax is the same as -p, except # at the start of a line\n\
         denotes a comment\n"
    );
    let (code, out, _) = run(&env, &["-t", "external/recorder", "-h"]);
    assert_eq!(code, 0);
    assert!(out.contains(
        "STONITH Device: external/recorder - Records calls, for tests\n\n\
         For more information see http://example.invalid/recorder\n\n\
         List of valid parameter names for external/recorder STONITH device:\n\thostlist\n\tpasswd\n"
    ), "{out}");
    let (code, out, _) = run(&env, &["-h"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("usage:\n\t stonith [-svh] -L\n"), "{out}");
    assert!(out.contains("STONITH Device: meatware - Human (meatware)"));
    assert_eq!(
        run(&env, &["-t", "external/recorder", "-n"]),
        (0, "hostlist  passwd  \n".into(), String::new())
    );
    assert_eq!(
        run(
            &env,
            &[
                "-t",
                "external/recorder",
                "-p",
                "a,b s3cret word",
                "-l",
                "-S"
            ]
        ),
        (
            0,
            "a\nb\n".into(),
            "info: external/recorder device OK.\n".into()
        )
    );
    assert_eq!(
        run(&env, &["-t", "null", "-p", "a b", "-T", "reset", "B"]),
        (0, String::new(), "info: Host null-reset: b\n".into())
    );
    assert_eq!(run(&env, &["-t", "null", "hostlist=a", "c"]).0, 4);
    let (code, _, err) = run(&env, &["-t", "nosuch", "-S"]);
    assert_eq!(
        (code, err.as_str()),
        (8, "ERROR: Invalid device type: 'nosuch'\n")
    );
    let (code, _, err) = run(&env, &["-t", "null", "-S"]);
    assert_eq!(code, 1);
    assert!(err.starts_with("Must specify either -p option"), "{err}");
    // -F: the first line that is not a comment; -c repeats.
    let file = dir.path().join("null.cfg");
    std::fs::write(&file, "# hosts\n\nn1 n2\n").unwrap();
    assert_eq!(
        run(
            &env,
            &["-t", "null", "-F", file.to_str().unwrap(), "-c", "2", "n2"]
        ),
        (
            0,
            String::new(),
            "info: Host null-reset: n2\ninfo: Host null-reset: n2\n".into()
        )
    );
    let (code, out, _) = run(&env, &["-t", "null", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("STONITH Device: null"));
    let (code, _, err) = run(&env, &["-x"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("stonith: invalid option -- 'x'\nusage:"),
        "{err}"
    );
}

#[test]
fn hbctl_answers_as_stonith_and_meatclient() {
    let hbctl = env!("CARGO_BIN_EXE_hbctl");
    let (dir, _env) = plugin_dir();
    let out = Command::new(hbctl)
        .args(["stonith", "-L"])
        .env("HB_STONITH_EXTERNAL_DIRS", dir.path().join("external"))
        .env("HB_FENCE_AGENT_DIRS", dir.path().join("no-agents"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "external/recorder\nhbrelay\nmeatware\nnull\n"
    );
    let link = dir.path().join("stonith");
    std::os::unix::fs::symlink(hbctl, &link).unwrap();
    let out = Command::new(&link)
        .args(["-t", "null", "-p", "n1", "-T", "reset", "n1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "info: Host null-reset: n1\n"
    );
    let link = dir.path().join("meatclient");
    std::os::unix::fs::symlink(hbctl, &link).unwrap();
    let out = Command::new(&link)
        .args(["-c", "nobody"])
        .env("HB_MEATWARE_DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("Meatware_IPC failed: "));
    let out = Command::new(hbctl)
        .args(["meatclient", "-c", "nobody"])
        .env("HB_MEATWARE_DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
}
