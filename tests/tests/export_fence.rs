//! `fence_hbrelay` (issue 15) against the relay board: QEMU's MPS2 AN385 runs the production
//! relay image; its UART0 is this host's line (a pty, as a USB serial adapter), and node2 is
//! wired to port 1. The agent is called as Pacemaker's fencer calls fence agents — no
//! arguments, `key=value` lines on stdin — from a UTS namespace named node1, and the relay's
//! log (UART4, where the board reports its reset lines) must show port 1's line pulsed.
//!
//! Root (for the UTS namespace), QEMU and the board image are needed (the image is built by
//! tests/boards.sh --build-only, as for relay_board.rs); without them the test fails.

mod common;

use relay_qemu::Qemu;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const MAX_WAIT: Duration = Duration::from_secs(15);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
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

/// The relay, its log, and UART0 behind a pty.
struct Board {
    _qemu: Qemu,
    log: Arc<Mutex<Vec<(Instant, String)>>>,
    tty: String,
    _slave: OwnedFd,
}

impl Board {
    fn start() -> Board {
        let (qemu, mut streams) =
            Qemu::start(&image(), false, MAX_WAIT).unwrap_or_else(|e| panic!("{e}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let log_stream = streams.pop().expect("UART4");
        std::thread::spawn(move || {
            for line in BufReader::new(log_stream).lines() {
                let Ok(text) = line else { break };
                sink.lock().unwrap().push((Instant::now(), text));
            }
        });
        // UART1-3: nobody is wired; what the relay sends there is read and dropped.
        for s in streams.drain(1..) {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 4096];
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
        let uart0 = streams.pop().expect("UART0");
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
        let (mut u_in, mut u_out) = (uart0.try_clone().unwrap(), uart0);
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
        let b = Board {
            _qemu: qemu,
            log,
            tty,
            _slave: pty.slave,
        };
        b.wait_log(Instant::now() - Duration::from_secs(60), |l| {
            l.starts_with("READY")
        })
        .expect("the relay never said READY");
        b
    }

    fn wait_log(&self, after: Instant, pred: impl Fn(&str) -> bool) -> Option<String> {
        let start = Instant::now();
        while start.elapsed() < MAX_WAIT {
            if let Some((_, l)) = self
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
    fn seen(&self, after: Instant, pred: impl Fn(&str) -> bool) -> bool {
        self.log
            .lock()
            .unwrap()
            .iter()
            .any(|(t, l)| *t > after && pred(l))
    }

    fn log_text(&self) -> String {
        let log = self.log.lock().unwrap();
        log.iter().map(|(_, l)| format!("{l}\n")).collect()
    }
}

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
    let test_key = std::fs::read_to_string(root().join("boards/authkeys.test")).unwrap();
    let keys = keyfile(dir.path(), "authkeys", &test_key);
    let base = format!(
        "ttydev={} node2=1\nauthkeys={keys}\nnodename=node1\npcmk_host_list=node2\n",
        b.tty
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
    b.wait_log(before, |l| l.starts_with("RESET 1 ASSERT"))
        .unwrap_or_else(|| panic!("port 1 was not reset; relay log:\n{}", b.log_text()));
    b.wait_log(before, |l| l.starts_with("RESET 1 RELEASE"))
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
        b.tty
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
