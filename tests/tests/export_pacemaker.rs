//! `hbctl export pacemaker` (issue 15) on five configurations — the Getting Started guide's,
//! the FAQ's, an active/active one, a DRBD one and a STONITH one (`tests/data/export/`) —
//! checked by Pacemaker itself: Debian's `crm_verify` (package pacemaker-cli-utils) must find
//! the written `cib.xml` clean. Without crm_verify these tests fail, never skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/export")
        .join(name)
}

fn export(name: &str, extra: &[&str]) -> (Output, tempfile::TempDir) {
    let out = tempfile::tempdir().expect("tempdir");
    let o = Command::new(common::bin("hbctl"))
        .args(["export", "pacemaker", "-c"])
        .arg(fixture(name))
        .arg("--out")
        .arg(out.path().join("out"))
        .args(extra)
        .output()
        .expect("run hbctl");
    (o, out)
}

fn text(dir: &tempfile::TempDir, file: &str) -> String {
    std::fs::read_to_string(dir.path().join("out").join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// `crm_verify -x FILE`: exit status and everything it said.
fn crm_verify(file: &Path) -> (bool, String) {
    let o = Command::new("crm_verify")
        .arg("-x")
        .arg(file)
        .output()
        .expect("crm_verify (apt-get install pacemaker-cli-utils)");
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// The written CIB with a status section in which every node has joined, as the live CIB is
/// once the cluster is up. An offline check of a CIB with fencing on reports that nodes never
/// seen would be fenced (Pacemaker's startup-fencing, as it should); with both nodes up that
/// must be the only thing it had to say.
fn with_nodes_up(cib: &str, nodes: &[&str]) -> String {
    let states: String = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "    <node_state id=\"{}\" uname=\"{n}\" in_ccm=\"true\" crmd=\"online\" \
                 join=\"member\" expected=\"member\"/>\n",
                i + 1
            )
        })
        .collect();
    cib.replacen(
        "admin_epoch=\"0\"",
        "admin_epoch=\"0\" have-quorum=\"1\"",
        1,
    )
    .replacen("<status/>", &format!("<status>\n{states}  </status>"), 1)
}

/// Exports `name`, checks the exit code, and runs crm_verify on the CIB as written and with
/// both nodes up.
fn verified(name: &str, extra: &[&str], want_exit: i32, clean_offline: bool) -> tempfile::TempDir {
    let (o, dir) = export(name, extra);
    assert_eq!(
        o.status.code(),
        Some(want_exit),
        "{name}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let cib = dir.path().join("out/cib.xml");
    let (ok, said) = crm_verify(&cib);
    assert_eq!(ok, clean_offline, "{name}: crm_verify said:\n{said}");
    if clean_offline {
        assert!(said.trim().is_empty(), "{name}: crm_verify said:\n{said}");
    }
    let up = dir.path().join("up.xml");
    std::fs::write(
        &up,
        with_nodes_up(&text(&dir, "cib.xml"), &["node1", "node2"]),
    )
    .unwrap();
    let (ok, said) = crm_verify(&up);
    assert!(
        ok && said.trim().is_empty(),
        "{name} with both nodes up: crm_verify said:\n{said}"
    );
    dir
}

#[test]
fn guide_configuration_exports_clean() {
    let d = verified(
        "guide",
        &[
            "--node-addr",
            "node1=198.51.100.1",
            "--node-addr",
            "node2=198.51.100.2",
        ],
        0,
        true,
    );
    let conf = text(&d, "corosync.conf");
    for want in [
        "two_node: 1",
        "ring0_addr: 198.51.100.1",
        "ring0_addr: 198.51.100.2",
        "syslog_facility: local0",
        "logfile: /var/log/corosync.log",
    ] {
        assert!(conf.contains(want), "{want} missing:\n{conf}");
    }
    let cib = text(&d, "cib.xml");
    assert!(cib.contains("type=\"IPaddr2\""), "{cib}");
    assert!(cib.contains("class=\"lsb\" type=\"httpd\""), "{cib}");
    assert!(cib.contains("name=\"stonith-enabled\" value=\"false\""));
    // auto_failback on: no stickiness, so the group goes home.
    assert!(cib.contains("name=\"resource-stickiness\" value=\"0\""));
    let report = text(&d, "REPORT.txt");
    assert!(report.contains("stonith-enabled=false"), "{report}");
    assert!(
        report.contains("authkeys: sha1 key not carried over"),
        "{report}"
    );
    // A fresh 256-byte key only root can read.
    use std::os::unix::fs::PermissionsExt;
    let key = std::fs::metadata(d.path().join("out/authkey")).unwrap();
    assert_eq!(key.len(), 256);
    assert_eq!(key.permissions().mode() & 0o777, 0o400);
}

#[test]
fn faq_configuration_reports_serial_and_watchdog_and_maps_ipfail() {
    let args = [
        "--node-addr",
        "node1=203.0.113.1",
        "--node-addr",
        "node2=203.0.113.2",
    ];
    let d = verified("faq", &args, 1, true);
    let report = text(&d, "REPORT.txt");
    let faq = fixture("faq");
    for want in [
        format!("{}:11: serial:", faq.join("ha.cf").display()),
        format!("{}:14: watchdog:", faq.join("ha.cf").display()),
    ] {
        assert!(report.contains(&want), "{want} missing:\n{report}");
    }
    assert!(report.contains("2 line(s) could NOT be mapped"), "{report}");
    let cib = text(&d, "cib.xml");
    for want in [
        "provider=\"pacemaker\" type=\"ping\"",
        "name=\"host_list\" value=\"198.51.100.254\"",
        "score-attribute=\"pingd\"",
        "type=\"Filesystem\"",
        "name=\"configfile\" value=\"/etc/apache2/apache2.conf\"",
        "type=\"MailTo\"",
        // auto_failback off: stickiness above the node preference.
        "name=\"resource-stickiness\" value=\"200\"",
    ] {
        assert!(cib.contains(want), "{want} missing:\n{cib}");
    }
    // --force: the same files, exit 0.
    let (o, _) = export("faq", &[&args[..], &["--force"]].concat());
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn active_active_configuration_exports_two_groups_on_two_links() {
    let d = verified(
        "active-active",
        &[
            "--node-addr",
            "node1=198.51.100.1",
            "--node-addr",
            "node1@eth1=203.0.113.1",
            "--node-addr",
            "node2@eth1=203.0.113.2",
        ],
        0,
        true,
    );
    let conf = text(&d, "corosync.conf");
    assert!(conf.contains("ring1_addr: 203.0.113.2"), "{conf}");
    assert!(conf.contains("linknumber: 1"), "{conf}");
    let cib = text(&d, "cib.xml");
    assert!(cib.contains("node=\"node1\" score=\"100\""), "{cib}");
    assert!(cib.contains("node=\"node2\" score=\"100\""), "{cib}");
    assert!(cib.contains("name=\"iflabel\" value=\"web\""), "{cib}");
}

#[test]
fn drbd_configuration_exports_a_promotable_clone() {
    let d = verified(
        "drbd",
        &[
            "--node-addr",
            "node1=198.51.100.1",
            "--node-addr",
            "node2=198.51.100.2",
            "--node-addr",
            "node1=203.0.113.1",
            "--node-addr",
            "node2=203.0.113.2",
        ],
        0,
        true,
    );
    let cib = text(&d, "cib.xml");
    for want in [
        "provider=\"linbit\" type=\"drbd\"",
        "name=\"promotable\" value=\"true\"",
        "with-rsc-role=\"Promoted\"",
        "first-action=\"promote\"",
    ] {
        assert!(cib.contains(want), "{want} missing:\n{cib}");
    }
}

#[test]
fn stonith_configuration_enables_fencing_with_mapped_devices() {
    let d = verified("stonith", &["--node-addr", "node1=198.51.100.1"], 0, false);
    let cib = text(&d, "cib.xml");
    for want in [
        "name=\"stonith-enabled\" value=\"true\"",
        "class=\"stonith\" type=\"fence_ipmilan\"",
        "class=\"stonith\" type=\"fence_hbrelay\"",
        "name=\"lanplus\" value=\"1\"",
    ] {
        assert!(cib.contains(want), "{want} missing:\n{cib}");
    }
}

#[test]
fn a_link_without_addresses_is_named_and_nothing_is_written_without_any() {
    // The guide has only `bcast eth0`: without --node-addr no node has an address on it.
    let (o, dir) = export("guide", &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--node-addr node1@eth0=IP"), "{err}");
    assert!(!dir.path().join("out/cib.xml").exists());
    // An existing output is not overwritten without --force.
    let args = [
        "--node-addr",
        "node1=198.51.100.1",
        "--node-addr",
        "node2=198.51.100.2",
    ];
    let out = dir.path().join("again");
    let run = |force: bool| {
        Command::new(common::bin("hbctl"))
            .args(["export", "pacemaker", "-c"])
            .arg(fixture("guide"))
            .arg("--out")
            .arg(&out)
            .args(args)
            .args(force.then_some("--force"))
            .output()
            .unwrap()
    };
    assert_eq!(run(false).status.code(), Some(0));
    let second = run(false);
    assert_eq!(second.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&second.stderr).contains("exists"));
    assert_eq!(run(true).status.code(), Some(0));
}
