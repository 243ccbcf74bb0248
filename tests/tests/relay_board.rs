//! The relay board with real daemons (issue 6): QEMU's MPS2 AN385 runs the relay firmware
//! (`boards/qemu-mps2-an385`, its `test-hang` build); two daemons in two namespaces have no
//! network heartbeat at all, only a serial line each to the relay (`relay <tty>`), which is
//! also their watchdog (`watchdog relay:<tty>`) and their STONITH device
//! (`stonith_host * hbrelay <tty>`). The relay's UART4 is its log and its reset lines
//! (`RESET <port> ASSERT`); when node1's line is asserted the test "resets" node1 by powering
//! its namespace off, as the wire to its reset header would.
//!
//! Root, QEMU and the board image are needed: the image is built here (tests/boards.sh
//! --build-only); without root or qemu-system-arm the tests fail, never skip.

mod common;

use common::*;
use hb_core::auth::Keyring;
use hb_core::msg::compact::Frame;
use hb_core::relay::{self, Body, RelayFrame, MAX_FRAME_LEN};
use relay_qemu::Qemu;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use watchdog::relay::{ClientEvent, RelayWatchdog};

const GROUP: &str = "node1 198.51.100.80 hbsvc::198.51.100.80\n";
/// Bounds every wait on the board.
const MAX_WAIT: Duration = Duration::from_secs(15);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The board's test-hang image (the production image plus the signed `hang` command), built
/// once per test run.
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
            let elf = dir.join("images/mps2-an385-test-hang.elf");
            assert!(elf.exists(), "{} not built", elf.display());
            elf
        })
        .clone()
}

/// The key the images are built with (boards/authkeys.test): the cluster's authkeys.
fn authkeys() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        std::fs::read_to_string(root().join("boards/authkeys.test")).expect("boards/authkeys.test")
    })
}

fn keyring() -> Keyring {
    hb_core::config::authkeys::AuthKeys::parse(authkeys(), &mut |_| {})
        .expect("test authkeys")
        .keyring()
}

/// A pty, raw from the start: a cooked slave would echo the relay's frames back to it before
/// the daemon opens the line. The master is non-blocking: bytes for a tty nobody reads are
/// dropped when its buffer is full (as a UART with nothing listening), so the relay never
/// stalls on a powered-off host.
struct Pty {
    master: std::fs::File,
    // Held so the master never sees a hang-up while no daemon has the tty open.
    _slave: OwnedFd,
}

impl Pty {
    fn new() -> (Pty, String) {
        use nix::fcntl::OFlag;
        // Close-on-exec from the start (openpty's are not): a daemon started meanwhile by a
        // parallel test must not inherit our master, or closing it would hang nothing up.
        let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
            .expect("posix_openpt");
        nix::pty::grantpt(&master).expect("grantpt");
        nix::pty::unlockpt(&master).expect("unlockpt");
        let path = nix::pty::ptsname_r(&master).expect("ptsname");
        let slave: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc_o_noctty())
            .open(&path)
            .expect("open pty slave")
            .into();
        let mut t = nix::sys::termios::tcgetattr(&slave).expect("tcgetattr");
        nix::sys::termios::cfmakeraw(&mut t);
        nix::sys::termios::tcsetattr(&slave, nix::sys::termios::SetArg::TCSANOW, &t)
            .expect("tcsetattr");
        let master: OwnedFd = master.into();
        let flags = nix::fcntl::fcntl(&master, nix::fcntl::FcntlArg::F_GETFL).unwrap();
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(&master, nix::fcntl::FcntlArg::F_SETFL(flags)).unwrap();
        let p = Pty {
            master: std::fs::File::from(master),
            _slave: slave,
        };
        (p, path)
    }
}

fn libc_o_noctty() -> i32 {
    nix::fcntl::OFlag::O_NOCTTY.bits()
}

/// One of QEMU's host UARTs joined to a pty, which the daemon opens through a symlink (as a
/// udev `/dev/serial/by-id/…` name): `unplug` closes the pty (the daemon's tty hangs up, as
/// when a USB adapter is pulled), `plug` makes a new one behind the same name.
struct Bridge {
    link: PathBuf,
    pty: Arc<Mutex<Option<Pty>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Bridge {
    fn new(sock: UnixStream, link: PathBuf) -> Bridge {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let pty: Arc<Mutex<Option<Pty>>> = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, current) = (stop.clone(), pty.clone());
        let mut sock = sock;
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !s.load(Ordering::Relaxed) {
                let mut guard = current.lock().unwrap();
                let (from_tty, from_relay) = {
                    let mut fds = vec![PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
                    if let Some(p) = guard.as_ref() {
                        fds.push(PollFd::new(p.master.as_fd(), PollFlags::POLLIN));
                    }
                    if poll(&mut fds, PollTimeout::from(20u16)).is_err() {
                        continue;
                    }
                    let r = |f: &PollFd| f.revents().is_some_and(|e| !e.is_empty());
                    (fds.get(1).is_some_and(r), r(&fds[0]))
                };
                if let (true, Some(p)) = (from_tty, guard.as_mut()) {
                    match p.master.read(&mut buf) {
                        Ok(n) if n > 0 => {
                            if sock.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                        _ => {
                            drop(guard);
                            std::thread::sleep(Duration::from_millis(5));
                            guard = current.lock().unwrap();
                        }
                    }
                }
                if from_relay {
                    match sock.read(&mut buf) {
                        Ok(0) | Err(_) => return, // QEMU is gone
                        Ok(n) => {
                            // Unplugged, or nobody reads the tty: dropped, like a UART would.
                            if let Some(p) = guard.as_mut() {
                                let mut rest = &buf[..n];
                                while !rest.is_empty() {
                                    match p.master.write(rest) {
                                        Ok(k) => rest = &rest[k..],
                                        Err(_) => break,
                                    }
                                }
                            }
                        }
                    }
                }
            }
        });
        let b = Bridge {
            link,
            pty,
            stop,
            thread: Some(thread),
        };
        b.plug();
        b
    }

    fn unplug(&self) {
        *self.pty.lock().unwrap() = None;
    }

    fn plug(&self) {
        let (p, path) = Pty::new();
        let tmp = self.link.with_extension("new");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&path, &tmp).expect("symlink");
        std::fs::rename(&tmp, &self.link).expect("rename symlink");
        *self.pty.lock().unwrap() = Some(p);
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// QEMU with the relay image: UART0/1 bridged to ptys for node1/node2, UART2 for the test's
/// own client (the `hang` command), UART3 read and ignored, UART4 the board's log.
struct Board {
    _qemu: Qemu,
    log: Arc<Mutex<Vec<(Instant, String)>>>,
    bridges: Vec<Bridge>,
    /// Bytes the relay sent on UART2.
    operator_in: Arc<Mutex<Vec<u8>>>,
    operator: UnixStream,
    _dir: tempfile::TempDir,
}

/// The client's port on the test's UART: frames go to the socket.
struct Wire(UnixStream);

impl embedded_io::ErrorType for Wire {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::Write for Wire {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0
            .write_all(buf)
            .map_err(|_| embedded_io::ErrorKind::Other)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl Board {
    fn start() -> Board {
        let (qemu, mut streams) =
            Qemu::start(&image(), false, MAX_WAIT).unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let log_stream = streams.pop().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(log_stream).lines() {
                let Ok(text) = line else { break };
                sink.lock().unwrap().push((Instant::now(), text));
            }
        });
        let spare = streams.pop().unwrap();
        std::thread::spawn(move || {
            let mut spare = spare;
            let mut buf = [0u8; 4096];
            while matches!(spare.read(&mut buf), Ok(n) if n > 0) {}
        });
        let operator = streams.pop().unwrap();
        let operator_in = Arc::new(Mutex::new(Vec::new()));
        let (sink, mut reader) = (operator_in.clone(), operator.try_clone().unwrap());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let bridges = streams
            .into_iter()
            .enumerate()
            .map(|(i, s)| Bridge::new(s, dir.path().join(format!("ttyRELAY{i}"))))
            .collect();
        let board = Board {
            _qemu: qemu,
            log,
            bridges,
            operator_in,
            operator,
            _dir: dir,
        };
        board.wait_log(Instant::now() - Duration::from_secs(60), MAX_WAIT, |l| {
            l.starts_with("READY")
        });
        board
    }

    /// The tty name of `port`'s host (a symlink to its current pty).
    fn tty(&self, port: usize) -> &str {
        self.bridges[port].link.to_str().expect("utf-8 path")
    }

    fn log_text(&self) -> String {
        let log = self.log.lock().unwrap();
        log.iter().map(|(_, l)| format!("{l}\n")).collect()
    }

    /// Log lines read after `after` that satisfy `pred`.
    fn lines(&self, after: Instant, pred: impl Fn(&str) -> bool) -> Vec<(Instant, String)> {
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|(t, l)| *t > after && pred(l))
            .cloned()
            .collect()
    }

    /// The first log line read after `after` that satisfies `pred`, waiting up to `within`.
    fn wait_log(
        &self,
        after: Instant,
        within: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> (Instant, String) {
        let start = Instant::now();
        loop {
            if let Some(l) = self.lines(after, &pred).into_iter().next() {
                return l;
            }
            assert!(
                start.elapsed() < within,
                "no such relay log line within {within:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Links the test's own client on UART2 and sends the signed `hang` command (test-hang
    /// builds only): the relay's main loop stops.
    fn hang(&self) {
        let mut client = RelayWatchdog::new(
            Wire(self.operator.try_clone().unwrap()),
            keyring(),
            b"operator",
            0x0be5_0000 ^ u64::from(std::process::id()),
        )
        .expect("client");
        let deadline = Instant::now() + MAX_WAIT;
        // Bytes read so far, whole frames (each ending in 0x00) taken from the front: a frame
        // the reader thread delivered in two pieces is still whole here.
        let mut bytes = Vec::new();
        let mut hello_at: Option<Instant> = None;
        let link = 'linked: loop {
            assert!(Instant::now() < deadline, "the operator port never linked");
            // Said again every second, as the daemons do: a hello the relay missed (a busy
            // emulator) is not the end of the test.
            if hello_at.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                client.hello().expect("hello");
                hello_at = Some(Instant::now());
            }
            bytes.append(&mut self.operator_in.lock().unwrap());
            let whole = bytes.iter().rposition(|&b| b == 0).map_or(0, |i| i + 1);
            let frames: Vec<u8> = bytes.drain(..whole).collect();
            for raw in frames.split(|&b| b == 0).filter(|f| !f.is_empty()) {
                let mut work = raw.to_vec();
                work.push(0);
                let Ok(frame) = Frame::unstuff(&mut work) else {
                    continue;
                };
                if let Ok(Some(ClientEvent::Linked { link, .. })) = client.handle_frame(&frame) {
                    break 'linked link;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut out = [0u8; MAX_FRAME_LEN];
        let n = relay::encode(
            &RelayFrame {
                link,
                counter: 1_000_000,
                body: Body::Hang,
            },
            &keyring(),
            &mut out,
        )
        .expect("encode hang");
        (&self.operator).write_all(&out[..n]).expect("send hang");
    }
}

/// Both nodes' ha.cf: the relay is their only medium, their watchdog and their STONITH device.
fn relay_setup(b: &Board, timing: (u64, u64, u64), service: bool) -> Setup {
    let lines = |p: &str| {
        (
            format!("relay {p}"),
            format!("watchdog relay:{p}\nstonith_host * hbrelay {p}\n"),
        )
    };
    let (m0, e0) = lines(b.tty(0));
    let (m1, e1) = lines(b.tty(1));
    Setup {
        media: [m0, m1],
        extra: [e0, e1],
        auth: authkeys(),
        lan: service,
        haresources: if service { GROUP.into() } else { String::new() },
        scripts: if service {
            vec![("hbsvc".into(), service_script())]
        } else {
            Vec::new()
        },
        timing,
        ..Setup::default()
    }
}

/// [`relay_setup`] without a service and with a deadtime (keepalive 500 ms) long enough to
/// ride out what the test does to the relay.
fn long_deadtime(b: &Board, deadtime_ms: u64) -> Setup {
    let mut setup = relay_setup(b, (500, deadtime_ms / 2, deadtime_ms), false);
    for e in &mut setup.extra {
        // heartbeat wants initdead at least twice the deadtime.
        e.push_str(&format!("initdead {}\n", deadtime_ms * 2 / 1000));
    }
    setup
}

/// Waits until node `i` logs its second link to the relay (after a reboot or a replug).
fn linked_again(c: &Cluster, b: &Board, i: usize) {
    let text = format!("Relay board on {}: linked as port {i}", b.tty(i));
    let start = Instant::now();
    while c.nodes[i].log().matches(&text).count() < 2 {
        assert!(
            start.elapsed() < MAX_WAIT,
            "{} never linked again:\n{}\nrelay:\n{}",
            c.nodes[i].name,
            c.nodes[i].log(),
            b.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The cluster came through: both members up, neither ever declared dead, no reset line
/// asserted since `since`.
fn nothing_lost(c: &Cluster, b: &Board, since: Instant) {
    c.both_up();
    for i in 0..2 {
        let log = c.nodes[i].log();
        assert!(!log.contains("is dead"), "{log}");
    }
    let resets = b.lines(since, |l| l.starts_with("RESET ") && l.contains("ASSERT"));
    assert!(resets.is_empty(), "{resets:?}\n{}", b.log_text());
}

fn relays(v: &serde_json::Value) -> Vec<serde_json::Value> {
    v["relays"].as_array().cloned().unwrap_or_default()
}

fn both_linked(c: &Cluster) {
    for i in 0..2 {
        c.wait_status(i, "linked to the relay", MAX_WAIT, |v| {
            relays(v).first().is_some_and(|r| r["linked"] == true)
        });
    }
}

/// Two daemons whose only heartbeat medium is the relay see each other on it, each linked on
/// its own port with the relay's watchdog armed at deadtime + 10 ms; nothing is reset.
#[test]
fn daemons_see_each_other_only_through_the_relay() {
    let board = Board::start();
    let booted = Instant::now() - Duration::from_secs(60);
    let c = Cluster::new("relay-see", &relay_setup(&board, (200, 600, 1000), false));
    c.both_up();
    both_linked(&c);
    for (i, peer) in [(0, "node2"), (1, "node1")] {
        let v = c.status(i);
        let l = links(&v, peer);
        assert_eq!(l, [(board.tty(i).to_string(), "up".to_string())], "{v:#}");
        let r = &relays(&v)[0];
        assert_eq!(r["port"], i, "{v:#}");
        assert_eq!(r["medium"], true);
        assert_eq!(r["watchdog"], true);
        assert!(r["heartbeats_in"].as_u64() > Some(0), "{v:#}");
        assert!(
            c.nodes[i].log().contains(&format!(
                "Relay board on {}: linked as port {i} of 4",
                board.tty(i)
            )),
            "{}",
            c.nodes[i].log()
        );
    }
    // hbctl status shows the board as the relay reports it: both hosts, both watchdogs armed.
    c.wait_status(0, "showing both hosts on the board", MAX_WAIT, |v| {
        let board = &relays(v)[0]["board"];
        (0..2).all(|p| {
            board[p]["host"] == format!("node{}", p + 1)
                && board[p]["armed"] == true
                && board[p]["timeout_ms"] == 1010
        })
    });
    let out = c.hbctl(0, "hbctl", &["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "relay {}: linked on port 0 (medium, watchdog)",
            board.tty(0)
        )),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["1", "node2", "yes", "1010", "ms", "0", "0"]),
        "{text}"
    );
    // The relay armed both ports with the daemons' timeout.
    for port in 0..2 {
        board.wait_log(booted, MAX_WAIT, |l| {
            l.contains(&format!("Armed {{ port: {port}, timeout_ms: 1010 }}"))
        });
    }
    // Heartbeats keep flowing: no late heartbeat and no reset over a few seconds.
    std::thread::sleep(Duration::from_secs(3));
    for i in 0..2 {
        let log = c.nodes[i].log();
        assert!(!log.contains("Late heartbeat"), "{log}");
        assert!(!log.contains("is dead"), "{log}");
    }
    let resets = board.lines(booted, |l| l.starts_with("RESET ") && l.contains("ASSERT"));
    assert!(resets.is_empty(), "{resets:?}\n{}", board.log_text());

    // A clean stop disarms node1's port first: the relay resets nobody, well past the timeout.
    let pid = c.status(0)["pid"].as_u64().expect("pid").to_string();
    let stopping = Instant::now();
    let out = c.nodes[0].exec(&["kill", "-TERM", &pid]).unwrap();
    assert!(out.status.success(), "kill -TERM: {out:?}");
    c.wait_log(0, "Heartbeat shutdown complete.", MAX_WAIT);
    board.wait_log(stopping, MAX_WAIT, |l| l.contains("Disarmed { port: 0 }"));
    std::thread::sleep(Duration::from_millis(2500));
    let resets = board.lines(booted, |l| l.starts_with("RESET ") && l.contains("ASSERT"));
    assert!(resets.is_empty(), "{resets:?}\n{}", board.log_text());
}

/// SIGSTOP node1's daemon (it holds the service): its pets stop, the relay resets node1 within
/// the watchdog timeout (its line asserted on the reset port, node1 powered off by the test
/// as the reset would), node2 sees node1 dead, fences it through the relay, and takes the
/// service only after the relay acknowledged the fence. Then node1 boots again and rejoins.
#[test]
fn a_stopped_daemon_is_reset_by_the_relay_and_fenced_before_the_takeover() {
    let board = Board::start();
    let mut c = Cluster::new("relay-stop", &relay_setup(&board, (200, 600, 1000), true));
    let p = Prober::start(&c);
    p.wait_for("node1", Instant::now(), Duration::from_secs(30))
        .unwrap_or_else(|| panic!("node1 never served:\n{}", c.nodes[0].log()));
    c.both_up();
    both_linked(&c);

    std::thread::sleep(Duration::from_millis(300 + jitter(200)));
    let pid = c.status(0)["pid"].as_u64().expect("pid").to_string();
    let stopped = Instant::now();
    let out = c.nodes[0].exec(&["kill", "-STOP", &pid]).unwrap();
    assert!(out.status.success(), "kill -STOP: {out:?}");

    // The relay's watchdog (or node2's fence, whichever comes first) asserts node1's line.
    let (asserted, line) = board.wait_log(stopped, Duration::from_secs(5), |l| {
        l.starts_with("RESET 0 ASSERT")
    });
    c.lab.power_off("a", &["eth0"]).unwrap();
    let reset_ms = asserted.duration_since(stopped).as_millis();
    eprintln!("node1 stopped -> its reset line asserted: {reset_ms} ms ({line})");
    assert!(
        reset_ms <= 1010 + u128::from(SLACK_MS),
        "reset {reset_ms} ms after the stop (timeout 1010 ms):\n{}",
        board.log_text()
    );

    let served = p
        .wait_for("node2", stopped, Duration::from_secs(20))
        .unwrap_or_else(|| {
            panic!(
                "node2 never took over:\n{}\nrelay:\n{}",
                c.nodes[1].log(),
                board.log_text()
            )
        });
    eprintln!(
        "node1 stopped -> node2 serving: {} ms",
        served.duration_since(stopped).as_millis()
    );
    // node2 asked the relay to reset node1 (port 0) and the relay said it was done.
    let done = board.lines(stopped, |l| {
        l.contains("FenceDone { requester: 1, target: 0") && l.contains("outcome: Done")
    });
    assert!(!done.is_empty(), "no fence by node2:\n{}", board.log_text());
    // The takeover waited for the acknowledged fence: nothing answered from node2 before the
    // reset line went down, and node2's own log puts the reset before the takeover.
    let early = p.answers(stopped, asserted);
    assert!(!early.iter().any(|a| a == "node2"), "{early:?}");
    let log = c.nodes[1].log();
    let fenced = log.find("node node1 now reset.").expect("fence logged");
    let taken = log
        .find("Taking over resource group")
        .expect("takeover logged");
    assert!(fenced < taken, "took over before the fence:\n{log}");

    // node1 boots again: it links to the relay, and (auto_failback on) gets its service back.
    c.lab.power_on("a", &["eth0"]).unwrap();
    c.start(0);
    let back = Instant::now();
    p.wait_for("node1", back, Duration::from_secs(40))
        .unwrap_or_else(|| panic!("node1 never came back:\n{}", c.nodes[0].log()));
    both_linked(&c);
    c.both_up();
}

/// The relay firmware hangs (the test-only signed `hang` command): its chip watchdog reboots
/// it, the daemons notice the lost link, say hello again and link with the new boot; with a
/// deadtime that covers the reboot, the cluster loses nothing: nobody is declared dead, nobody
/// is reset, heartbeats flow again.
#[test]
fn a_hung_relay_is_rebooted_by_its_watchdog_and_the_daemons_link_again() {
    let board = Board::start();
    let c = Cluster::new("relay-hang", &long_deadtime(&board, 6000));
    c.both_up();
    both_linked(&c);
    let before = Instant::now();
    board.hang();
    let (hung, _) = board.wait_log(before, Duration::from_secs(5), |l| l.starts_with("HANG"));
    let (booted, banner) = board.wait_log(hung, Duration::from_secs(5), |l| l.starts_with("BOOT "));
    assert!(banner.contains("cause=watchdog"), "{banner}");
    eprintln!(
        "relay hung -> rebooted by its watchdog: {} ms",
        booted.duration_since(hung).as_millis()
    );
    // Both daemons link again on the new boot.
    for i in 0..2 {
        linked_again(&c, &board, i);
        assert!(
            c.nodes[i].log().contains("link lost"),
            "{}",
            c.nodes[i].log()
        );
    }
    eprintln!(
        "relay hung -> both daemons linked again: {} ms",
        hung.elapsed().as_millis()
    );
    // The new boot armed both ports again, and heartbeats flow through it.
    for port in 0..2 {
        board.wait_log(booted, MAX_WAIT, |l| {
            l.contains(&format!("Armed {{ port: {port}, timeout_ms: 6010 }}"))
        });
    }
    let counts = |c: &Cluster| {
        [0, 1].map(|i| {
            relays(&c.status(i))[0]["heartbeats_in"]
                .as_u64()
                .unwrap_or(0)
        })
    };
    let first = counts(&c);
    std::thread::sleep(Duration::from_secs(2));
    let second = counts(&c);
    assert!(
        second[0] > first[0] && second[1] > first[1],
        "{first:?} -> {second:?}"
    );
    nothing_lost(&c, &board, before);
}

/// CPU time (user + system, in clock ticks) of process `pid` in node `i`'s PID namespace.
fn cpu_ticks(c: &Cluster, i: usize, pid: &str) -> u64 {
    let out = c.nodes[i]
        .exec(&["cat", &format!("/proc/{pid}/stat")])
        .unwrap();
    let stat = String::from_utf8_lossy(&out.stdout).into_owned();
    // Fields after the parenthesised command: state is the 3rd, utime the 14th, stime the 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|w| w.parse().unwrap_or(0))
        .collect();
    assert!(f.len() > 13, "/proc/{pid}/stat: {stat:?}");
    f[11] + f[12]
}

/// node1's relay cable is pulled (its tty hangs up, as a USB adapter's does) and plugged back
/// in: the daemon says so once, keeps running (no busy loop on the dead tty, hbctl answers),
/// reopens the tty by its name when it is back, links again and heartbeats flow; with a
/// deadtime that covers the gap nobody is declared dead or reset.
#[test]
fn an_unplugged_relay_line_is_reopened_when_it_comes_back() {
    let board = Board::start();
    // A deadtime longer than the outage, which outlasts every timer of the relay channel
    // (hello retry 1 s, status refresh 10 s): none of them may spin on the dead tty.
    let c = Cluster::new("relay-unplug", &long_deadtime(&board, 15_000));
    c.both_up();
    both_linked(&c);
    let pid = c.status(0)["pid"].as_u64().expect("pid").to_string();
    let before = Instant::now();
    board.bridges[0].unplug();
    c.wait_log(0, "the line hung up", MAX_WAIT);
    let cpu0 = cpu_ticks(&c, 0, &pid);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(12));
    // The loop is alive and idle while the tty is gone.
    let v = c.status(0);
    assert_eq!(relays(&v)[0]["linked"], false, "{v:#}");
    assert_eq!(relays(&v)[0]["hung_up"], true, "{v:#}");
    let spent = cpu_ticks(&c, 0, &pid) - cpu0;
    let hz = 100; // USER_HZ on Linux
    let share = spent as f64 / hz as f64 / t0.elapsed().as_secs_f64();
    eprintln!(
        "daemon CPU while its relay tty was gone: {:.1} %",
        share * 100.0
    );
    assert!(
        share < 0.05,
        "the daemon spun on the dead tty: {share:.2} of a core"
    );
    let log = c.nodes[0].log();
    assert_eq!(log.matches("the line hung up").count(), 1, "{log}");

    board.bridges[0].plug();
    let plugged = Instant::now();
    c.wait_log(0, &format!("relay {}: reopened", board.tty(0)), MAX_WAIT);
    linked_again(&c, &board, 0);
    eprintln!(
        "relay line plugged back -> linked again: {} ms",
        plugged.elapsed().as_millis()
    );
    let heard = |c: &Cluster| {
        relays(&c.status(0))[0]["heartbeats_in"]
            .as_u64()
            .unwrap_or(0)
    };
    let h = heard(&c);
    std::thread::sleep(Duration::from_secs(1));
    assert!(heard(&c) > h, "no heartbeats after the replug");
    nothing_lost(&c, &board, before);
}

/// Issue 12's fence race with the relay as STONITH device only: each node runs a group of its
/// own and has the other's as a takeover, their only medium is the crossover (`bcast eth1`),
/// and the relay is no medium and no watchdog (`stonith_host * hbrelay <tty>` alone).
fn fence_race_setup(b: &Board) -> Setup {
    let extra = |p: &str| format!("stonith_host * hbrelay {p} node1=0 node2=1\n");
    Setup {
        media: ["bcast eth1".into(), "bcast eth1".into()],
        extra: [extra(b.tty(0)), extra(b.tty(1))],
        auth: authkeys(),
        lan: true,
        haresources: format!("{GROUP}node2 198.51.100.81 hbsvc::198.51.100.81\n"),
        // One pid file per address: with one for both, the second group's service would
        // look running on the survivor (heartbeat asks `status` before `start`) and never start.
        scripts: vec![(
            "hbsvc".into(),
            service_script().replace("PIDF=/run/hbsvc.pid", "PIDF=/run/hbsvc-$1.pid"),
        )],
        timing: (200, 600, 1000),
        ..Setup::default()
    }
}

/// The owners of both groups as node `i` sees them, `-` for a group not running.
fn owners(c: &Cluster, i: usize) -> [String; 2] {
    let v = c.status(i);
    [0, 1].map(|g| {
        let g = &v["groups"][g];
        match (g["state"].as_str(), g["owner"].as_str()) {
            (Some("running"), Some(o)) => o.to_string(),
            _ => "-".to_string(),
        }
    })
}

/// The crossover is pulled (both ends down): both nodes are alive, each sees the other dead
/// and asks the relay to reset it (HB_FENCE_DELAY is not set, so neither waits). The relay
/// resets exactly one — the first request's target — and refuses the other (`LostRace`); the
/// refused node logs why and takes nothing over; the survivor, its fence acknowledged, serves
/// the service IP and runs both groups. The test "resets" the loser in two steps: its LAN goes
/// down the moment its reset line is asserted (a host in reset answers nobody), its daemon is
/// killed only once it has asked too, within a bound: the race's worst case, in which the
/// loser still runs when its request reaches the relay.
#[test]
fn a_fence_race_through_the_relay_resets_exactly_one_node_and_the_survivor_serves() {
    let board = Board::start();
    // From here on: the image is built once for every test of this file.
    let began = Instant::now();
    let c = Cluster::new("relay-race", &fence_race_setup(&board));
    let p = Prober::start(&c);
    p.wait_for("node1", Instant::now(), Duration::from_secs(30))
        .unwrap_or_else(|| panic!("node1 never served:\n{}", c.nodes[0].log()));
    c.both_up();
    let start = Instant::now();
    while owners(&c, 0) != ["node1", "node2"] {
        assert!(
            start.elapsed() < MAX_WAIT,
            "each node never ran its own group: {:?}\n{}",
            owners(&c, 0),
            c.nodes[0].log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300 + jitter(200)));

    let cut = Instant::now();
    for ns in ["a", "b"] {
        c.lab.link(ns, "eth1", false).unwrap();
    }
    let is_reset = |l: &str| l.starts_with("RESET ") && l.contains("ASSERT");
    let (asserted, line) = board.wait_log(cut, MAX_WAIT, is_reset);
    let loser: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|w| w.parse().ok())
        .filter(|&p: &usize| p < 2)
        .unwrap_or_else(|| panic!("{line}"));
    let winner = 1 - loser;
    let name = |i: usize| ["node1", "node2"][i];
    let loser_ns = ["a", "b"][loser];
    // A host in reset is off the network at once: its LAN goes down now. Its daemon is
    // powered off below, once it has asked too.
    c.lab.link(loser_ns, "eth0", false).unwrap();
    eprintln!(
        "crossover pulled -> {} reset on {}'s request: {} ms",
        name(loser),
        name(winner),
        asserted.duration_since(cut).as_millis()
    );
    // The loser asks too, and is refused at once.
    let (refused, _) = board.wait_log(cut, MAX_WAIT, |l| {
        l.contains(&format!(
            "FenceDone {{ requester: {loser}, target: {winner}"
        )) && l.contains("outcome: LostRace")
    });
    c.wait_log(loser, "lost the fence race", MAX_WAIT);
    let log = c.nodes[loser].log();
    assert!(
        log.contains(&format!("Host {} not reset!", name(winner))),
        "{log}"
    );
    c.lab.power_off(loser_ns, &["eth0"]).unwrap();
    eprintln!(
        "{}'s counter-request refused {} ms after the reset began",
        name(loser),
        refused.saturating_duration_since(asserted).as_millis()
    );
    // The refused node took nothing over while it ran.
    assert!(
        !log.contains("Taking over resource group"),
        "the loser took over:\n{log}"
    );

    // The survivor serves the service IP and runs both groups; its takeover followed the
    // relay's acknowledgement.
    let served = p
        .wait_for(name(winner), asserted, Duration::from_secs(20))
        .unwrap_or_else(|| {
            let sh = |ns: &str, argv: &[&str]| {
                let o = c.lab.exec(ns, argv).unwrap();
                String::from_utf8_lossy(&o.stdout).into_owned()
            };
            panic!(
                "{} never served (probes {:?}; client's neighbours {}; survivor's sockets {} \
                 addresses {}):\n{}\nrelay:\n{}",
                name(winner),
                p.runs(cut, Instant::now()),
                sh("client", &["ip", "neigh"]),
                sh(["a", "b"][winner], &["ss", "-lunp"]),
                sh(["a", "b"][winner], &["ip", "-br", "addr"]),
                c.nodes[winner].log(),
                board.log_text()
            )
        });
    let start = Instant::now();
    while owners(&c, winner) != [name(winner), name(winner)] {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{} never ran both groups: {:?}\n{}",
            name(winner),
            owners(&c, winner),
            c.nodes[winner].log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let wlog = c.nodes[winner].log();
    assert!(
        wlog.contains(&format!("node {} now reset.", name(loser))),
        "{wlog}"
    );
    assert!(!wlog.contains("lost the fence race"), "{wlog}");
    // Exactly one reset, well after the survivor took over.
    std::thread::sleep(Duration::from_secs(2));
    let resets = board.lines(cut, is_reset);
    assert_eq!(resets.len(), 1, "{resets:?}\n{}", board.log_text());
    eprintln!(
        "crossover pulled -> {} serving: {} ms; test after the board booted: {} ms",
        name(winner),
        served.saturating_duration_since(cut).as_millis(),
        began.elapsed().as_millis()
    );
}
