//! The daemon as a service (issue 4 items 1 and 6): the sysvinit script's actions and LSB exit
//! codes, `heartbeat -s`/`-k`, a second instance refused by the pid file, SIGHUP reload,
//! SIGTERM hand-over, and the systemd notifications (READY, WATCHDOG, STOPPING) — on a
//! two-node lab cluster (root, namespaces; see daemon_netns.rs).

mod common;

use common::*;
use nix::sys::signal::Signal;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

/// A directory holding `heartbeat` and the classic tool names, as HA_BIN for the init script.
fn ha_bin(dir: &std::path::Path) -> PathBuf {
    let d = dir.join("ha_bin");
    std::fs::create_dir_all(&d).unwrap();
    for (name, target) in [
        ("heartbeat", "heartbeat"),
        ("hb_standby", "hbctl"),
        ("cl_status", "hbctl"),
    ] {
        let link = d.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(bin(target), &link).unwrap();
    }
    d
}

fn sh(c: &Cluster, i: usize, script: &str, env: &[(&str, &str)]) -> (i32, String) {
    let mut argv = vec!["env".to_string()];
    argv.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
    argv.extend(["sh".to_string(), "-c".to_string(), script.to_string()]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let out = c.nodes[i]
        .exec(&argv)
        .unwrap_or_else(|e| panic!("{e}\nlog:\n{}", c.nodes[i].log()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn init_script_and_pid_file() {
    let c = Cluster::new("init", &bcast_serial_less());
    c.both_up();
    // Past the start-up resource negotiation (a shutdown waits for it to finish, as 3.0.6's).
    c.wait_status(0, "settled", Duration::from_secs(20), |v| {
        v["stable"] == true
    });
    let init = repo_file("hb-linux/dist/heartbeat.init");
    let bin_dir = ha_bin(c.lab.dir());
    let env = [("HA_BIN", bin_dir.to_str().unwrap())];
    let init = init.to_str().unwrap();

    // A second daemon refuses: the pid file is held (3.0.6's message, exit 0).
    let hb = bin("heartbeat");
    let (code, out) = sh(&c, 0, &format!("{} -f", hb.display()), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("heartbeat: already running [pid"), "{out}");

    let (code, out) = sh(&c, 0, &format!("{init} status"), &env);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("heartbeat OK [pid"), "{out}");

    // SIGHUP with nothing changed.
    c.nodes[0].signal(Signal::SIGHUP).unwrap();
    c.wait_log(0, "Configuration unchanged.", Duration::from_secs(3));

    // stop: a graceful shutdown; the peer hears the shutdown notice instead of a death.
    let (code, out) = sh(&c, 0, &format!("{init} stop"), &env);
    assert_eq!(code, 0, "{out}\n{}", c.nodes[0].log());
    assert!(c.nodes[0].exited(), "still running after `stop`");
    c.wait_log(
        1,
        "Received shutdown notice from 'node1'.",
        Duration::from_secs(3),
    );
    assert!(c.nodes[0]
        .log()
        .contains("node1 Heartbeat shutdown complete."));
    let (code, out) = sh(&c, 0, &format!("{init} status"), &env);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("heartbeat is stopped. No process"), "{out}");

    // start: daemonizes, returns 0 once running, and the node rejoins.
    let (code, out) = sh(&c, 0, &format!("{init} start"), &env);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Starting High-Availability services: Done."),
        "{out}"
    );
    let (code, out) = sh(&c, 0, &format!("{init} status"), &env);
    assert_eq!(code, 0, "{out}");
    c.wait_status(1, "seeing node1 again", Duration::from_secs(10), |v| {
        peer_state(v, "node1") == "active"
    });
    let (code, out) = sh(&c, 0, &format!("{init} bogus"), &env);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Usage:"), "{out}");
    let (code, out) = sh(&c, 0, &format!("{init} stop"), &env);
    assert_eq!(code, 0, "{out}");
}

fn bcast_serial_less() -> Setup {
    Setup {
        media: ["bcast eth1".into(), "bcast eth1".into()],
        auth: SHA1,
        serial: false,
        ..Setup::default()
    }
}

#[test]
fn systemd_notifications() {
    let mut c = Cluster::new("notify", &bcast_serial_less());
    c.both_up();
    // Restart node1 under a fake systemd: a datagram socket as NOTIFY_SOCKET, a watchdog of
    // 400 ms (pets every 200 ms).
    c.nodes[0].signal(Signal::SIGTERM).unwrap();
    let start = Instant::now();
    while !c.nodes[0].exited() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "node1 did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let sock_path = c.lab.dir().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut node = std::mem::replace(&mut c.nodes[0], c.lab.node("spare", "a").unwrap());
    let env = [
        ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
        ("WATCHDOG_USEC", "400000"),
    ];
    c.lab
        .start_with_env(&mut node, &bin("heartbeat"), &[], &env)
        .unwrap();
    c.nodes[0] = node;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    assert!(got.iter().any(|m| m.contains("READY=1")), "{got:?}");
    let pets = got.iter().filter(|m| m.contains("WATCHDOG=1")).count();
    // 3 s at one pet per 200 ms: about 15; allow a loaded machine half of that.
    assert!(pets >= 7, "only {pets} watchdog pets in 3 s: {got:?}");
    c.nodes[0].signal(Signal::SIGTERM).unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    let mut stopping = false;
    while Instant::now() < until && !stopping {
        if let Ok(n) = sock.recv(&mut buf) {
            stopping = String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1");
        }
    }
    assert!(stopping, "no STOPPING=1 after SIGTERM");
}
