//! What the Pacemaker tests share (issue 15): exporting a lab cluster's heartbeat files,
//! installing the result on its nodes, starting Debian's corosync and pacemakerd in the nodes'
//! namespaces, reading `crm_mon -1`; and the relay board under QEMU with each node's line on a
//! pty, for fencing.
#![allow(dead_code)]

use crate::common::*;
use relay_qemu::Qemu;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Bounds the cluster's start: corosync's membership, Pacemaker's DC election (dc-deadtime
/// comes from initdead, 3 s in the lab's ha.cf) and the resources' start, on a loaded machine.
pub const START_WITHIN: Duration = Duration::from_secs(120);
/// Bounds a takeover (a loaded machine; Pacemaker's own recovery is well below this).
pub const FAILOVER_WITHIN: Duration = Duration::from_secs(60);
/// Bounds every wait on the relay board.
pub const BOARD_WAIT: Duration = Duration::from_secs(15);

/// An LSB init script (exit codes as Pacemaker's lsb: class requires: `status` 0 running,
/// 3 stopped): the service on the VIP answering with the node's name.
pub fn init_script() -> String {
    format!(
        r#"#!/bin/sh
PIDF=/run/hbsvc.pid
running() {{ [ -f $PIDF ] && kill -0 "$(cat $PIDF)" 2>/dev/null; }}
case "$1" in
start)
    running && exit 0
    setsid /run/hb-bin/hbctl demo-http --name "$(uname -n)" --listen "{VIP}:80" </dev/null >/dev/null 2>&1 &
    echo $! > $PIDF
    sleep 0.2
    running || exit 1 ;;
stop)
    running && kill "$(cat $PIDF)"
    rm -f $PIDF ;;
status)
    running || exit 3 ;;
*) exit 3 ;;
esac
exit 0
"#
    )
}

/// `hbctl export pacemaker` on node1's /etc/ha.d (`extra`: more arguments); the output
/// directory. The export must map every line.
pub fn export(c: &Cluster, extra: &[&str]) -> PathBuf {
    let out = c.lab.dir().join("export");
    let o = Command::new(bin("hbctl"))
        .args(["export", "pacemaker", "-c"])
        .arg(c.nodes[0].etc().join("ha.d"))
        .arg("--out")
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "export: {}{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
        std::fs::read_to_string(out.join("REPORT.txt")).unwrap_or_default()
    );
    out
}

/// Gives each node the exported files and nothing else of the cluster: corosync's two files,
/// the CIB where Pacemaker keeps it, and the service's init script.
pub fn install(c: &Cluster, out: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for n in &c.nodes {
        let etc = n.etc().join("corosync");
        std::fs::create_dir_all(&etc).unwrap();
        for f in ["corosync.conf", "authkey"] {
            std::fs::copy(out.join(f), etc.join(f)).unwrap();
        }
        let init = n.etc().join("init.d");
        std::fs::create_dir_all(&init).unwrap();
        std::fs::write(init.join("hbsvc"), init_script()).unwrap();
        std::fs::set_permissions(init.join("hbsvc"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let cib = n.var().join("lib/pacemaker/cib");
        std::fs::create_dir_all(&cib).unwrap();
        std::fs::copy(out.join("cib.xml"), cib.join("cib.xml")).unwrap();
    }
}

/// Starts corosync and pacemakerd on both nodes, after `prelude` (more shell set-up).
pub fn start(c: &mut Cluster, prelude: &str) {
    // Both nodes' daemons have the same pids inside their PID namespaces, and libqb names its
    // shared-memory IPC files by pid: each node needs its own /dev/shm (and /tmp).
    // The test's binaries and the lab's directory may live under /tmp (CI clones anywhere):
    // everything that reads them runs before /tmp is covered, and the service's hbctl is
    // copied to the node's own /run.
    let prelude = format!(
        "{prelude}\n mkdir -p /run/hb-bin; cp '{hbctl}' /run/hb-bin/hbctl; \
         mount -t tmpfs tmpfs /dev/shm; mount -t tmpfs tmpfs /tmp; mkdir -p /run/crm \
         /var/log/pacemaker /var/lib/pacemaker/pengine /var/lib/pacemaker/blackbox \
         /var/lib/pacemaker/cores; \
         chown -R hacluster:haclient /var/lib/pacemaker /var/log/pacemaker /run/crm",
        hbctl = bin("hbctl").display()
    );
    for i in 0..2 {
        let mut n = std::mem::replace(&mut c.nodes[i], c.lab.node("spare", "a").unwrap());
        let r = c.lab.start_foreign(
            &mut n,
            &prelude,
            &["sh", "-c", "corosync -f & exec pacemakerd -f"],
            "corosync",
            Duration::from_secs(30),
            |_| true,
        );
        c.nodes[i] = n;
        r.unwrap_or_else(|e| panic!("{e}"));
    }
}

pub fn crm_mon(c: &Cluster, i: usize) -> String {
    let o = c.nodes[i].exec(&["crm_mon", "-1"]).unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The end of each node's Pacemaker and Corosync logs, for failure messages.
pub fn logs(c: &Cluster) -> String {
    let mut s = String::new();
    for n in &c.nodes {
        for f in ["log/pacemaker/pacemaker.log", "log/corosync.log"] {
            let text = std::fs::read_to_string(n.var().join(f)).unwrap_or_default();
            let tail: Vec<&str> = text
                .lines()
                .filter(|l| !l.contains(" debug: ") && !l.contains(" trace: "))
                .rev()
                .take(40)
                .collect();
            s.push_str(&format!("--- {} {f} (last lines, newest first)\n", n.name));
            s.push_str(&tail.join("\n"));
            s.push('\n');
        }
        s.push_str(&format!("--- {} stderr\n{}\n", n.name, n.stderr()));
    }
    s
}

/// Waits until node `i`'s `crm_mon -1` shows the service started on `node`; how long it took.
pub fn wait_started(c: &Cluster, i: usize, node: &str, within: Duration) -> Duration {
    let since = Instant::now();
    let want = format!("Started {node}");
    loop {
        let mon = crm_mon(c, i);
        if mon
            .lines()
            .any(|l| l.contains("lsb_hbsvc") && l.contains(&want))
        {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < within,
            "the group did not start on {node} within {within:?}; crm_mon -1 on {}:\n{mon}\n{}",
            c.nodes[i].name,
            logs(c)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The relay's key (boards/authkeys.test): the cluster's authkeys when a relay is in play.
pub fn relay_authkeys() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        std::fs::read_to_string(root().join("boards/authkeys.test")).expect("boards/authkeys.test")
    })
}

fn image() -> PathBuf {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let out = Command::new("bash")
                .arg("tests/boards.sh")
                .arg("--build-only")
                .current_dir(root())
                .env_remove("CARGO_TARGET_DIR")
                .output()
                .expect("run tests/boards.sh");
            assert!(
                out.status.success(),
                "building the board images failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let dir = std::env::var_os("BOARDS_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root().join("target/boards"));
            let elf = dir.join("images/mps2-an385.elf");
            assert!(elf.exists(), "{} not built", elf.display());
            elf
        })
        .clone()
}

/// The relay board (production image) under QEMU: UART0 and UART1 each behind a pty (the
/// hosts' serial lines), UART2-3 unwired, UART4 its log.
pub struct Board {
    _qemu: Qemu,
    log: Arc<Mutex<Vec<(Instant, String)>>>,
    /// The ptys of ports 0 and 1.
    pub ttys: Vec<String>,
    _slaves: Vec<OwnedFd>,
}

impl Board {
    pub fn start() -> Board {
        let (qemu, mut streams) =
            Qemu::start(&image(), false, BOARD_WAIT).unwrap_or_else(|e| panic!("{e}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let log_stream = streams.pop().expect("UART4");
        std::thread::spawn(move || {
            for line in BufReader::new(log_stream).lines() {
                let Ok(text) = line else { break };
                sink.lock().unwrap().push((Instant::now(), text));
            }
        });
        for s in streams.drain(2..) {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 4096];
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
        let mut ttys = Vec::new();
        let mut slaves = Vec::new();
        for uart in streams {
            let (tty, slave) = bridge(uart);
            ttys.push(tty);
            slaves.push(slave);
        }
        let b = Board {
            _qemu: qemu,
            log,
            ttys,
            _slaves: slaves,
        };
        b.wait_log(Instant::now() - Duration::from_secs(60), BOARD_WAIT, |l| {
            l.starts_with("READY")
        })
        .expect("the relay never said READY");
        b
    }

    /// The first log line after `after` that satisfies `pred`, waiting up to `within`.
    pub fn wait_log(
        &self,
        after: Instant,
        within: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<(Instant, String)> {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Some(l) = self
                .log
                .lock()
                .unwrap()
                .iter()
                .find(|(t, l)| *t > after && pred(l))
            {
                return Some(l.clone());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    /// Whether a line after `after` satisfies `pred`, now.
    pub fn seen(&self, after: Instant, pred: impl Fn(&str) -> bool) -> bool {
        self.log
            .lock()
            .unwrap()
            .iter()
            .any(|(t, l)| *t > after && pred(l))
    }

    pub fn log_text(&self) -> String {
        let log = self.log.lock().unwrap();
        log.iter().map(|(_, l)| format!("{l}\n")).collect()
    }
}

/// A raw pty whose master is joined to `uart`; its slave's path, and the slave held open so
/// that the master never sees a hang-up between two users of the tty.
fn bridge(uart: std::os::unix::net::UnixStream) -> (String, OwnedFd) {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let mut t = nix::sys::termios::tcgetattr(&pty.slave).expect("tcgetattr");
    nix::sys::termios::cfmakeraw(&mut t);
    nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &t)
        .expect("tcsetattr");
    let tty = nix::unistd::ttyname(&pty.slave)
        .expect("ttyname")
        .to_string_lossy()
        .into_owned();
    let master = std::fs::File::from(pty.master);
    let (mut m_in, mut m_out) = (master.try_clone().unwrap(), master);
    let (mut u_in, mut u_out) = (uart.try_clone().unwrap(), uart);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = m_in.read(&mut buf) {
            if n == 0 || u_out.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = u_in.read(&mut buf) {
            if n == 0 || m_out.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    (tty, pty.slave)
}
