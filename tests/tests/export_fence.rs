//! `fence_hbrelay` (issue 15) against the relay board: QEMU's MPS2 AN385 runs the production
//! relay image; its UART0 is this host's line (a pty, as a USB serial adapter), and node2 is
//! wired to port 1. The agent is called as Pacemaker's fencer calls fence agents — no
//! arguments, `key=value` lines on stdin — from a UTS namespace named node1, and the relay's
//! log (UART4, where the board reports its reset lines) must show port 1's line pulsed.
//!
//! Root (for the UTS namespace), QEMU and the board image are needed (the image is built by
//! tests/boards.sh --build-only, as for relay_board.rs); without them the test fails.

mod common;
mod pcmk;

use pcmk::{Board, BOARD_WAIT};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Runs fence_hbrelay as the fencer does (stdin only) on a host named node1.
fn fence(stdin: &str) -> std::process::Output {
    let agent = common::bin("fence_hbrelay");
    let mut child = Command::new("unshare")
        .args(["--uts", "--", "sh", "-c", "hostname node1 && exec \"$0\""])
        .arg(&agent)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare (root)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn keyfile(dir: &Path, name: &str, text: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p.display().to_string()
}

#[test]
fn fence_hbrelay_called_as_the_fencer_calls_it_resets_the_port() {
    let b = Board::start();
    let dir = tempfile::tempdir().unwrap();
    let keys = keyfile(dir.path(), "authkeys", pcmk::relay_authkeys());
    let base = format!(
        "ttydev={} node2=1\nauthkeys={keys}\nnodename=node1\npcmk_host_list=node2\n",
        b.ttys[0]
    );

    let o = fence(&format!("action=monitor\n{base}"));
    assert!(
        o.status.success(),
        "monitor: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = fence(&format!("action=list\n{base}"));
    let list = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && list.contains("node2,"),
        "list: {list}"
    );

    let before = Instant::now();
    let o = fence(&format!("action=reboot\nplug=node2\n{base}"));
    assert!(
        o.status.success(),
        "reboot: {}{}\nrelay log:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
        b.log_text()
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("Success"));
    b.wait_log(before, BOARD_WAIT, |l| l.starts_with("RESET 1 ASSERT"))
        .unwrap_or_else(|| panic!("port 1 was not reset; relay log:\n{}", b.log_text()));
    b.wait_log(before, BOARD_WAIT, |l| l.starts_with("RESET 1 RELEASE"))
        .unwrap_or_else(|| panic!("port 1 was not released; relay log:\n{}", b.log_text()));
    assert!(
        !b.seen(before, |l| l.starts_with("RESET 0")),
        "{}",
        b.log_text()
    );

    // A host without the cluster key is refused: no reset, exit 1.
    let wrong = keyfile(dir.path(), "wrong", "auth 1\n1 sha1 not-the-relay-key\n");
    let before = Instant::now();
    let o = fence(&format!(
        "action=reboot\nplug=node2\nttydev={} node2=1\nauthkeys={wrong}\npower_timeout=2\n",
        b.ttys[0]
    ));
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        !b.seen(before, |l| l.starts_with("RESET 1")),
        "{}",
        b.log_text()
    );
}
