//! fence-agents as STONITH devices: a recording agent in a tempdir (what reaches its stdin),
//! Debian's real `fence_dummy` (package fence-agents), and `hbctl stonith` listing and
//! testing them. Every wait is bounded.

use hb_core::resources::FenceResult;
use hb_linux::log::LogLine;
use hb_linux::stonith::cli::stonith_main;
use hb_linux::stonith::{PluginEnv, ResetAction, Stonith};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);
const FENCE_DUMMY: &str = "/usr/sbin/fence_dummy";

/// An agent that describes itself as fence-agents do and records its stdin, one file per call.
const RECORDER: &str = r#"#!/bin/sh
dir="$(dirname "$0")"
if [ "$1" = "-o" ] && [ "$2" = "metadata" ]; then
cat <<'XML'
<?xml version="1.0" ?>
<resource-agent name="fence_rec" shortdesc="Recording fence agent" >
<longdesc>Records what it is asked, for tests</longdesc>
<vendor-url>http://example.invalid</vendor-url>
<parameters>
	<parameter name="action" unique="0" required="1"/>
	<parameter name="ip" unique="0" required="1"/>
	<parameter name="username" unique="0" required="0"/>
	<parameter name="password" unique="0" required="0"/>
	<parameter name="plug" unique="0" required="0"/>
</parameters>
</resource-agent>
XML
exit 0
fi
input="$(cat)"
n=$(ls "$dir" | grep -c '^call\.')
printf '%s\n' "$input" > "$dir/call.$n"
case "$input" in
*plug=slow*) sleep 30 & echo $! > "$dir/slow.pid"; wait ;;
*action=list*) echo "vm-a,Alpha"; echo "vm-b," ;;
*plug=broken*) echo "ERROR: Unable to connect to 10.0.0.9" >&2; exit 1 ;;
esac
exit 0
"#;

fn agent_dir() -> (tempfile::TempDir, PluginEnv) {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("sbin");
    std::fs::create_dir(&agents).unwrap();
    let script = agents.join("fence_rec");
    std::fs::write(&script, RECORDER).unwrap();
    std::fs::set_permissions(&script, PermissionsExt::from_mode(0o755)).unwrap();
    let env = PluginEnv {
        external_dirs: vec![],
        fence_dirs: vec![dir.path().join("nothing-here"), agents],
        meatware_dir: dir.path().to_path_buf(),
        relays: vec![],
    };
    (dir, env)
}

fn calls(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for n in 0.. {
        match std::fs::read_to_string(dir.join(format!("sbin/call.{n}"))) {
            Ok(t) => out.push(t),
            Err(_) => return out,
        }
    }
    out
}

fn texts(l: &[LogLine]) -> Vec<String> {
    l.iter().map(|l| l.text.clone()).collect()
}

fn secret(dir: &Path, mode: u32) -> PathBuf {
    let p = dir.join("ipmi.pw");
    std::fs::write(&p, "s3cret pass\nignored\n").unwrap();
    std::fs::set_permissions(&p, PermissionsExt::from_mode(mode)).unwrap();
    p
}

#[test]
fn an_agent_gets_its_parameters_action_and_plug_on_stdin() {
    let (dir, env) = agent_dir();
    let pw = secret(dir.path(), 0o600);
    let params = format!(
        "ip=10.0.0.9 username=\"ad min\" passwd_file={} pcmk_host_map=Node1:vm-1;node2:vm-2",
        pw.display()
    );
    let mut s = Stonith::new("fence_rec", &params, &env).unwrap();
    let mut log = Vec::new();
    assert_eq!(s.fence("NODE1", &mut |l| log.push(l)), FenceResult::Ok);
    assert_eq!(
        texts(&log),
        [
            "Resetting node NODE1 with [fence_rec]",
            "node NODE1 now reset."
        ]
    );
    assert_eq!(
        calls(dir.path()),
        ["ip=10.0.0.9\nusername=ad min\npassword=s3cret pass\naction=reboot\nplug=vm-1\n"]
    );
    // A node the map does not name is not the device's: the agent is not even run.
    let mut log = Vec::new();
    assert_eq!(s.fence("node3", &mut |l| log.push(l)), FenceResult::BadHost);
    assert_eq!(calls(dir.path()).len(), 1);
    assert_eq!(
        texts(&log).last().unwrap(),
        "Device fence_rec cannot reset host node3."
    );
    assert_eq!(
        s.plugin()
            .reset("node2", ResetAction::Off, WAIT, &mut |_| {}),
        FenceResult::Ok
    );
    assert!(calls(dir.path())[1].ends_with("action=off\nplug=vm-2\n"));
    assert_eq!(s.hosts(&mut |_| {}).unwrap(), ["node1", "node2"]);
}

#[test]
fn a_failing_agent_logs_its_errors_and_hosts_come_from_list() {
    let (dir, env) = agent_dir();
    let mut s = Stonith::new("fence_rec", "ip=10.0.0.9 port=broken", &env).unwrap();
    let mut log = Vec::new();
    assert_eq!(s.fence("node1", &mut |l| log.push(l)), FenceResult::Failed);
    assert_eq!(
        texts(&log),
        [
            "Resetting node node1 with [fence_rec]",
            "fence_rec: ERROR: Unable to connect to 10.0.0.9",
            "fence_rec action=reboot for host node1 (plug broken) failed with rc 1",
            "Host node1 not reset!"
        ]
    );
    // Without pcmk_host_list the agent's own list says which plugs it has.
    assert_eq!(s.hosts(&mut |_| {}).unwrap(), ["vm-a", "vm-b"]);
    assert!(calls(dir.path())[1].ends_with("action=list\n"));
    assert!(s.check_status(&mut |_| {}));
    assert!(calls(dir.path())[2].ends_with("action=monitor\n"));
}

#[test]
fn a_hung_agent_is_killed_at_pcmk_reboot_timeout() {
    let (dir, env) = agent_dir();
    let mut s = Stonith::new("fence_rec", "ip=x pcmk_reboot_timeout=1", &env).unwrap();
    assert_eq!(s.timeout, Duration::from_secs(1));
    let timeout = s.timeout;
    let mut log = Vec::new();
    assert_eq!(
        s.plugin()
            .reset("slow", ResetAction::Reset, timeout, &mut |l| log.push(l)),
        FenceResult::Failed
    );
    assert!(
        texts(&log)[0].contains("'fence_rec action=reboot plug=slow' timed out after 1000 ms"),
        "{log:?}"
    );
    let pid: i32 = std::fs::read_to_string(dir.path().join("sbin/slow.pid"))
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
            "the agent's sleep survived: {stat}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_lines_are_refused_with_a_reason() {
    let (dir, env) = agent_dir();
    let err = |params: &str| {
        Stonith::new("fence_rec", params, &env)
            .unwrap_err()
            .to_string()
    };
    let e = err("ip=1 pasword=x");
    assert!(
        e.contains("fence_rec has no parameter pasword (it takes: ip username password plug"),
        "{e}"
    );
    assert!(err("ip=1 action=off").contains("action is heartbeat's to choose"));
    assert!(err("ip=1 oops").contains("[oops] is not name=value"));
    assert!(err("ip=1 pcmk_reboot_timeout=soon").contains("pcmk_reboot_timeout=soon"));
    assert!(err("ip=1 pcmk_host_map=node1").contains("[node1] is not node:plug"));
    let pw = secret(dir.path(), 0o644);
    assert!(err(&format!("ip=1 passwd_file={}", pw.display())).contains("is readable by others"));
    assert!(err("ip=1 passwd_file=/nonexistent/pw").contains("passwd_file /nonexistent/pw: "));
    assert_eq!(
        Stonith::new("fence_nothere", "", &env)
            .unwrap_err()
            .to_string(),
        "Invalid Stonith type [fence_nothere]"
    );
    // The same errors name the ha.cf line.
    let cf = hb_core::config::HaCf::parse(
        "node node1\nbcast lo\nstonith_host * fence_rec ip=1 bogus=2\n",
        &mut |_| {},
    )
    .unwrap();
    let e = Stonith::from_config_with(&cf, "node1", &env).unwrap_err();
    assert!(e.starts_with("ha.cf:3: Invalid Stonith configuration parameter [ip=1 bogus=2]: fence_rec has no parameter bogus"), "{e}");
}

fn debian_env() -> PluginEnv {
    assert!(
        Path::new(FENCE_DUMMY).exists(),
        "{FENCE_DUMMY} missing: apt-get install fence-agents"
    );
    PluginEnv {
        external_dirs: vec![],
        fence_dirs: vec!["/usr/sbin".into()],
        meatware_dir: "/nonexistent".into(),
        relays: vec![],
    }
}

#[test]
fn debians_fence_dummy_resets_and_its_fail_type_fails() {
    let env = debian_env();
    let dir = tempfile::tempdir().unwrap();
    let status = dir.path().join("power");
    let line = format!("status_file={} pcmk_host_list=node1", status.display());
    let mut s = Stonith::new("fence_dummy", &line, &env).unwrap();
    let mut log = Vec::new();
    assert_eq!(
        s.fence("node1", &mut |l| log.push(l)),
        FenceResult::Ok,
        "{log:?}"
    );
    // A reboot is off then on: the dummy's power file says so.
    assert_eq!(std::fs::read_to_string(&status).unwrap(), "on");
    assert_eq!(
        s.plugin()
            .reset("node1", ResetAction::Off, WAIT, &mut |_| {}),
        FenceResult::Ok
    );
    assert_eq!(std::fs::read_to_string(&status).unwrap(), "off");
    assert!(s.check_status(&mut |_| {}));
    // `type=fail` never sees the power go off; the bound ends the wait.
    let mut s = Stonith::new("fence_dummy", "type=fail pcmk_reboot_timeout=2", &env).unwrap();
    let mut log = Vec::new();
    assert_eq!(s.fence("node1", &mut |l| log.push(l)), FenceResult::Failed);
    assert!(
        texts(&log)
            .iter()
            .any(|t| t.contains("'fence_dummy action=reboot plug=node1' timed out after 2000 ms")),
        "{log:?}"
    );
    assert_eq!(texts(&log).last().unwrap(), "Host node1 not reset!");
}

fn stonith(env: &PluginEnv, args: &[&str]) -> (u8, String, String) {
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
fn hbctl_stonith_lists_and_tests_fence_agents() {
    let env = debian_env();
    let dir = tempfile::tempdir().unwrap();
    let status = dir.path().join("power");
    let sf = format!("status_file={}", status.display());
    let (code, out, _) = stonith(&env, &["-L"]);
    assert_eq!(code, 0);
    let types: Vec<&str> = out.lines().collect();
    for t in ["fence_dummy", "fence_ipmilan", "meatware", "null"] {
        assert!(types.contains(&t), "{t} not in {types:?}");
    }
    let (code, out, _) = stonith(&env, &["-t", "fence_dummy", "-n"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("status_file  ") && out.contains("pcmk_host_list  "),
        "{out}"
    );
    assert!(!out.contains("action  "), "{out}");
    assert_eq!(stonith(&env, &["-t", "fence_dummy", &sf, "-S"]).0, 0);
    assert_eq!(
        stonith(&env, &["-t", "fence_dummy", &sf, "-T", "on", "node1"]).0,
        0
    );
    assert_eq!(std::fs::read_to_string(&status).unwrap(), "on");
    assert_eq!(
        stonith(
            &env,
            &["-t", "fence_dummy", "-p", &sf, "-T", "off", "node1"]
        )
        .0,
        0
    );
    assert_eq!(std::fs::read_to_string(&status).unwrap(), "off");
    let (code, _, err) = stonith(
        &env,
        &[
            "-t",
            "fence_dummy",
            &sf,
            "pcmk_host_list=node2",
            "-T",
            "reset",
            "node1",
        ],
    );
    assert_eq!(code, 4, "{err}");
    let (code, _, err) = stonith(&env, &["-t", "fence_dummy", "colour=red", "-S"]);
    assert_eq!(code, 1);
    assert!(err.contains("fence_dummy has no parameter colour"), "{err}");
    let (code, out, _) = stonith(&env, &["-t", "fence_dummy", "-m"]);
    assert_eq!(code, 0);
    assert!(out.contains("<parameter name=\"status_file\""), "{out}");

    // The hbctl binary finds them in /usr/sbin by default.
    let out = Command::new(env!("CARGO_BIN_EXE_hbctl"))
        .args(["stonith", "-t", "fence_dummy", &sf, "-T", "reset", "node1"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
