//! `ResourceManager` (hb's link to hbctl) answers as 3.0.6's `/usr/share/heartbeat/
//! ResourceManager` (Debian's heartbeat package, run beside it): the same standard output,
//! standard error and exit code for the listing commands, `verify-args` and bad calls; the same
//! exit codes and script calls for `status`, `takegroup` and `givegroup` on a plain resource
//! script. Each call runs in its own mount namespace with a test directory bound over
//! /etc/ha.d (both programs have that path built in). Root and the package are needed.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const REAL: &str = "/usr/share/heartbeat/ResourceManager";

const HARESOURCES: &str = "\
# a site's haresources
Node1 198.51.100.80 rmsvc::alpha   # the web group\n\
node2\tIPaddr2::198.51.100.81/24/eth0 \\\n  rmsvc::beta\n\
\n\
node1 rmsvc::gamma\n";

/// A resource script that records its calls and keeps its state in a file per argument.
const RMSVC: &str = "#!/bin/sh\n\
d=$(dirname \"$0\")/../state\n\
mkdir -p \"$d\"\n\
echo \"$1 $2\" >> \"$d/calls\"\n\
case \"$2\" in\n\
start) touch \"$d/$1\" ;;\n\
stop) rm -f \"$d/$1\" ;;\n\
status) if [ -f \"$d/$1\" ]; then echo running; else echo stopped; fi ;;\n\
esac\n\
exit 0\n";

struct HaDir {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    /// hb's ResourceManager: a link named so to hbctl.
    hb: PathBuf,
}

fn ha_dir() -> HaDir {
    assert!(
        Path::new(REAL).exists() && Path::new("/etc/ha.d/shellfuncs").exists(),
        "{REAL} is not installed: apt-get install heartbeat"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ha.d");
    std::fs::create_dir_all(dir.join("resource.d")).unwrap();
    std::fs::copy("/etc/ha.d/shellfuncs", dir.join("shellfuncs")).unwrap();
    std::fs::write(dir.join("haresources"), HARESOURCES).unwrap();
    std::fs::write(
        dir.join("ha.cf"),
        "keepalive 1\ndeadtime 10\nudpport 694\nbcast lo\nnode node1\nnode node2\n\
         logfile /dev/null\n",
    )
    .unwrap();
    std::fs::write(dir.join("authkeys"), "auth 1\n1 crc\n").unwrap();
    std::fs::write(dir.join("nodeinfo"), "node1\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let script = dir.join("resource.d/rmsvc");
    std::fs::write(&script, RMSVC).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let hb = tmp.path().join("ResourceManager");
    std::os::unix::fs::symlink(bin("hbctl"), &hb).unwrap();
    HaDir { _tmp: tmp, dir, hb }
}

/// (exit code, stdout, stderr) of `prog args` with `dir` as /etc/ha.d; the program's own
/// path in its output is written `RM`.
fn call(d: &HaDir, prog: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$0\" /etc/ha.d && exec \"$@\"")
        .arg(&d.dir)
        .arg(prog)
        .args(args)
        .env_remove("HA_CURHOST")
        .envs(env.iter().copied())
        .output()
        .expect("unshare (util-linux)");
    let p = prog.display().to_string();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).replace(&p, "RM"),
        String::from_utf8_lossy(&out.stderr).replace(&p, "RM"),
    )
}

fn calls(d: &HaDir) -> String {
    std::fs::read_to_string(d.dir.join("state/calls")).unwrap_or_default()
}

#[test]
fn listings_and_bad_calls_answer_as_3_0_6() {
    let d = ha_dir();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);
    let cases: [Case; 11] = [
        (&["listkeys", "node1"], &[]),
        (&["listkeys", "NODE1"], &[]),
        (&["listkeys", "node2"], &[]),
        (&["listkeys", "node3"], &[]),
        (&["allkeys"], &[]),
        (&["ourkeys"], &[("HA_CURHOST", "node1")]),
        (&["otherkeys"], &[("HA_CURHOST", "node1")]),
        (&["verify-args"], &[]),
        (&["verify-args", "198.51.100.80"], &[]),
        (&[], &[]),
        (&["nonsense", "x"], &[]),
    ];
    for (args, env) in cases {
        let real = call(&d, Path::new(REAL), args, env);
        let hb = call(&d, &d.hb, args, env);
        assert_eq!(hb, real, "ResourceManager {args:?} {env:?}");
    }
    // Not vacuous: the listing found the keys, the bad call was refused.
    let (rc, out, _) = call(&d, &d.hb, &["listkeys", "node1"], &[]);
    assert_eq!((rc, out.as_str()), (0, "198.51.100.80\nrmsvc::gamma\n"));
    let (rc, _, err) = call(&d, &d.hb, &["verify-args"], &[]);
    assert_eq!(rc, 1);
    assert!(err.starts_with("usage: RM listkeys machine"), "{err}");
    // Without a haresources file both print nothing and succeed.
    std::fs::remove_file(d.dir.join("haresources")).unwrap();
    let real = call(&d, Path::new(REAL), &["allkeys"], &[]);
    assert_eq!(call(&d, &d.hb, &["allkeys"], &[]), real);
}

#[test]
fn status_takegroup_givegroup_as_3_0_6() {
    let d = ha_dir();
    for prog in [PathBuf::from(REAL), d.hb.clone()] {
        let _ = std::fs::remove_dir_all(d.dir.join("state"));
        let who = prog.display().to_string();
        let st = |d: &HaDir| call(d, &prog, &["status", "rmsvc::gamma"], &[]).0;
        assert_eq!(st(&d), 3, "{who}: status before");
        let (rc, out, _) = call(&d, &prog, &["takegroup", "rmsvc::gamma"], &[]);
        assert_eq!((rc, out.as_str()), (0, ""), "{who}: takegroup");
        assert_eq!(st(&d), 0, "{who}: status after takegroup");
        // takegroup asks status first and starts only what does not run.
        let (rc, _, _) = call(&d, &prog, &["takegroup", "rmsvc::gamma"], &[]);
        assert_eq!(rc, 0, "{who}: takegroup again");
        let (rc, out, _) = call(&d, &prog, &["givegroup", "rmsvc::gamma"], &[]);
        assert_eq!((rc, out.as_str()), (0, ""), "{who}: givegroup");
        assert_eq!(st(&d), 3, "{who}: status after givegroup");
        // A key no group holds: nothing done, exit 0.
        let (rc, _, _) = call(&d, &prog, &["takegroup", "rmsvc::nowhere"], &[]);
        assert_eq!(rc, 0, "{who}: takegroup of no group");
        assert_eq!(
            calls(&d),
            "gamma status\ngamma status\ngamma start\ngamma status\ngamma status\n\
             gamma stop\ngamma status\n",
            "{who}: the script's calls"
        );
    }
}
