//! `hbctl decode` and `hbctl check-config` as an admin runs them: real packets from heartbeat
//! 3.0.6, real config files, broken ones, and the exit codes scripts rely on.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/heartbeat-3.0.6")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn hbctl(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hbctl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn authkeys() -> String {
    vectors().join("authkeys").display().to_string()
}

/// The first status packet of the steady-state capture, from the README's hex dump.
fn status_bytes() -> Vec<u8> {
    let dump = std::fs::read_to_string(repo().join("tests/data/status.sha1.hex")).unwrap();
    hb_linux::hbctl::hexdump::parse(&dump).unwrap()
}

#[test]
fn decode_the_readme_packet() {
    let dump = repo().join("tests/data/status.sha1.hex");
    let o = hbctl(
        &[
            "decode",
            "--authkeys",
            &authkeys(),
            "--hex",
            dump.to_str().unwrap(),
        ],
        None,
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("format:  netstring, 310 bytes"), "{out}");
    assert!(out.contains("auth:    valid, key 1 (sha1)"), "{out}");
    assert!(out.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()[..] == ["1", "t", "string", "status"]), "{out}");
    assert!(out.contains("srcuuid"), "{out}");
    assert!(out.contains("dt=") || out.contains("1000 ms"), "{out}");
}

#[test]
fn decode_raw_from_stdin_as_json() {
    let o = hbctl(
        &["decode", "--authkeys", &authkeys(), "--json", "-"],
        Some(&status_bytes()),
    );
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["format"], "netstring");
    assert_eq!(doc["auth"]["valid"], true);
    assert_eq!(doc["auth"]["key"], 1);
    assert_eq!(doc["auth"]["method"], "sha1");
    assert_eq!(doc["fields"][0]["name"], "t");
    assert_eq!(doc["fields"][0]["value"], "status");
    let uuid = doc["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "srcuuid")
        .unwrap();
    assert_eq!(uuid["type"], "binary");
    assert_eq!(uuid["hex"].as_str().unwrap().len(), 32);
}

#[test]
fn decode_exit_codes_tell_bad_auth_from_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("authkeys");
    std::fs::write(&wrong, "auth 1\n1 sha1 some-other-key\n").unwrap();
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = hbctl(
        &["decode", "--authkeys", wrong.to_str().unwrap()],
        Some(&status_bytes()),
    );
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("INVALID: digest does not match key 1"),
        "{out}"
    );

    let mut cut = status_bytes();
    cut.truncate(100);
    let o = hbctl(&["decode", "--authkeys", &authkeys()], Some(&cut));
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("standard input: malformed netstring packet"),
        "{err}"
    );

    let o = hbctl(&["decode"], Some(b"GET / HTTP/1.0\r\n"));
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("not a heartbeat packet (it starts with \"GET / HT\")"),
        "{err}"
    );

    let o = hbctl(&["decode", "--hex"], Some(b"3e3e3e0a\nthis is not hex\n"));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("line 2: not a hex dump"),
        "{:?}",
        text(&o)
    );

    let o = hbctl(&["decode", "--format", "classic"], Some(&status_bytes()));
    assert_eq!(
        o.status.code(),
        Some(2),
        "a netstring packet is not classic"
    );

    let o = hbctl(&["decode", "--frobnicate"], None);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn decode_serial_classic_and_compact_frames() {
    let keys_text = std::fs::read_to_string(vectors().join("authkeys")).unwrap();
    let keys = hb_core::config::AuthKeys::parse(&keys_text, &mut |_| {})
        .unwrap()
        .keyring();
    let status = status_bytes();
    let mut scratch = vec![0u8; 1024];
    let p: hb_core::msg::Packet = hb_core::msg::decode(&status, &mut scratch).unwrap();
    let mut classic = vec![0u8; 1024];
    let n = hb_core::msg::encode(
        p.msg.fields(),
        hb_core::msg::Format::Classic,
        Some(&keys),
        &mut classic,
    )
    .unwrap();
    let o = hbctl(&["decode", "--authkeys", &authkeys()], Some(&classic[..n]));
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("format:  classic") && out.contains("valid, key 1 (sha1)"),
        "{out}"
    );

    let mut frame = vec![0u8; 1024];
    let n = hb_core::msg::compact::encode(p.msg.fields(), Some(&keys), &mut frame).unwrap();
    let o = hbctl(
        &["decode", "--authkeys", &authkeys(), "--json"],
        Some(&frame[..n]),
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["format"], "compact");
    assert_eq!(doc["auth"]["valid"], true);
    assert_eq!(doc["fields"].as_array().unwrap().len(), p.msg.len());
    frame[5] ^= 0x40;
    let o = hbctl(&["decode", "--format", "compact"], Some(&frame[..n]));
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
}

/// A config directory in a temp dir: ha.cf, haresources, authkeys (mode 0600).
fn config_dir(hacf: &str, haresources: &str, authkeys: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ha.cf"), hacf).unwrap();
    std::fs::write(dir.path().join("haresources"), haresources).unwrap();
    let keys = dir.path().join("authkeys");
    std::fs::write(&keys, authkeys).unwrap();
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
    dir
}

fn check(dir: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["check-config", "-c", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = hbctl(&args, None);
    let (out, err) = text(&o);
    (o.status.code().unwrap(), format!("{out}{err}"))
}

const KEYS: &str = "auth 1\n1 sha1 hbh-test-key-not-secret\n";

#[test]
fn check_config_accepts_the_capture_cluster() {
    let read = |f: &str| std::fs::read_to_string(vectors().join(f)).unwrap();
    let dir = config_dir(
        &read("ha.cf.node1"),
        &read("haresources"),
        &read("authkeys"),
    );
    let (code, out) = check(dir.path(), &["--node", "node1", "--syntax-only"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 error(s)"), "{out}");
    // The same file names interfaces this machine may not have: heartbeat would not start.
    let hacf = read("ha.cf.node1").replace("bcast eth1", "bcast hbtestnone0");
    let dir = config_dir(&hacf, &read("haresources"), &read("authkeys"));
    let (code, out) = check(dir.path(), &["--node", "node1"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("ha.cf:11:7: IP interface [hbtestnone0] does not exist"),
        "{out}"
    );
}

#[test]
fn check_config_uses_this_machine_when_asked() {
    let hacf = "bcast lo\nserial /dev/null\nnode alpha beta\nrespawn root /bin/true\n";
    let dir = config_dir(hacf, "alpha 198.51.100.100/24/lo httpd\n", KEYS);
    let (code, out) = check(dir.path(), &["--node", "ALPHA"]);
    assert_eq!(code, 0, "{out}");

    let not_char = tempfile::NamedTempFile::new().unwrap();
    let hacf = format!(
        "bcast lo\nserial {0}\nnode alpha beta\nrespawn hbtest-no-such-user /bin/true\nrespawn root {0}\n",
        not_char.path().display()
    );
    let dir = config_dir(&hacf, "alpha 198.51.100.100/24/lo httpd\n", KEYS);
    let (code, out) = check(dir.path(), &["--node", "alpha"]);
    assert_eq!(code, 1, "{out}");
    let p = dir.path().join("ha.cf").display().to_string();
    assert!(
        out.contains(&format!(
            "{p}:2:8: Serial port [{}] not a char device in config file",
            not_char.path().display()
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{p}:4:1: Invalid uid [hbtest-no-such-user] specified for client child"
        )),
        "{out}"
    );
    let cmd = not_char.path().display();
    let expected = format!("{p}:5:1: Client child command [{cmd}] is not executable");
    assert!(out.contains(&expected), "{out}");

    // A relay board's tty is checked as a serial port's.
    let hacf = format!(
        "bcast lo\nrelay /dev/hbtest-no-relay\nrelay {}\nnode alpha beta\n",
        not_char.path().display()
    );
    let dir = config_dir(&hacf, "alpha 198.51.100.100/24/lo httpd\n", KEYS);
    let (code, out) = check(dir.path(), &["--node", "alpha"]);
    assert_eq!(code, 1, "{out}");
    let p = dir.path().join("ha.cf").display().to_string();
    for expected in [
        format!("{p}:2:7: Nonexistent relay device [/dev/hbtest-no-relay] in config file"),
        format!(
            "{p}:3:7: Relay device [{}] not a char device in config file",
            not_char.path().display()
        ),
    ] {
        assert!(out.contains(&expected), "{expected}\n{out}");
    }

    // nodeinfo names the node when --node is not given (heartbeat's get_localnodeinfo).
    std::fs::write(dir.path().join("nodeinfo"), "Gamma\n").unwrap();
    let (code, out) = check(dir.path(), &["--syntax-only"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("Current node [gamma] not in configuration!"),
        "{out}"
    );
}

#[test]
fn check_config_reports_every_problem_with_file_line_and_column() {
    let hacf = "keepalive 2\ndeadtime 3\nfrobnicate yes\nbcast lo\nmcast lo 10.0.0.1 694 1 0\nnode alpha beta\n";
    let dir = config_dir(hacf, "alpha 10.0.0.300/24 httpd\ndelta httpd\n", KEYS);
    std::fs::set_permissions(
        dir.path().join("authkeys"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let (code, out) = check(dir.path(), &["--node", "alpha", "--syntax-only"]);
    assert_eq!(code, 1, "{out}");
    let d = dir.path().display();
    for expected in [
        format!("{d}/ha.cf:3:1: Illegal directive [frobnicate] in /etc/ha.d/ha.cf"),
        format!("{d}/ha.cf:5:10: mcast [lo] bad addr [10.0.0.1]"),
        format!("{d}/authkeys:1:1: Bad permissions on keyfile [{d}/authkeys], 600 recommended."),
        format!("{d}/haresources:1:7: "),
    ] {
        assert!(out.contains(&expected), "missing {expected:?} in:\n{out}");
    }
    assert!(
        out.contains("Dead time [3000] is too small compared to keeplive [2000]"),
        "{out}"
    );

    // Node names in haresources are checked against a valid ha.cf.
    let dir = config_dir(
        "bcast lo\nnode alpha beta\n",
        "alpha httpd\ndelta smb\n",
        KEYS,
    );
    let (code, out) = check(dir.path(), &["--node", "alpha", "--syntax-only"]);
    assert_eq!(code, 1, "{out}");
    let d = dir.path().display();
    let expected = format!("{d}/haresources:2:1: Bad nodename in /etc/ha.d/haresources [delta]");
    assert!(out.contains(&expected), "{out}");
}

#[test]
fn check_config_exit_2_when_a_file_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = check(dir.path(), &["--node", "alpha"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("ha.cf: cannot read"), "{out}");
    std::fs::write(dir.path().join("ha.cf"), "bcast lo\nnode alpha\n").unwrap();
    let (code, out) = check(dir.path(), &["--node", "alpha"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("authkeys: cannot read"), "{out}");
}
