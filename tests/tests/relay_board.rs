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
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

/// A pty whose master is joined to one of QEMU's UART sockets: the daemon opens the slave as
/// its tty. Bytes for a tty nobody reads are dropped when its buffer is full (as a UART with
/// nothing listening), so the relay never stalls on a powered-off host.
struct Bridge {
    path: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    // Held so the master never sees a hang-up while no daemon has the tty open.
    _slave: OwnedFd,
}

impl Bridge {
    fn new(sock: UnixStream) -> Bridge {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let pty = nix::pty::openpty(None, None).expect("openpty");
        // Raw from the start: a cooked slave would echo the relay's frames back to it before
        // the daemon opens the line.
        let mut t = nix::sys::termios::tcgetattr(&pty.slave).expect("tcgetattr");
        nix::sys::termios::cfmakeraw(&mut t);
        nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &t)
            .expect("tcsetattr");
        let path = nix::unistd::ttyname(&pty.slave)
            .expect("ttyname")
            .to_string_lossy()
            .into_owned();
        let flags = nix::fcntl::fcntl(&pty.master, nix::fcntl::FcntlArg::F_GETFL).unwrap();
        let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(&pty.master, nix::fcntl::FcntlArg::F_SETFL(flags)).unwrap();
        let mut master = std::fs::File::from(pty.master);
        let mut sock = sock;
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !s.load(Ordering::Relaxed) {
                let (from_tty, from_relay) = {
                    let mut fds = [
                        PollFd::new(master.as_fd(), PollFlags::POLLIN),
                        PollFd::new(sock.as_fd(), PollFlags::POLLIN),
                    ];
                    if poll(&mut fds, PollTimeout::from(50u16)).is_err() {
                        continue;
                    }
                    let r = |f: &PollFd| f.revents().is_some_and(|e| !e.is_empty());
                    (r(&fds[0]), r(&fds[1]))
                };
                if from_tty {
                    match master.read(&mut buf) {
                        Ok(n) if n > 0 => {
                            if sock.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                        _ => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
                if from_relay {
                    match sock.read(&mut buf) {
                        Ok(0) | Err(_) => return, // QEMU is gone
                        Ok(n) => {
                            let mut rest = &buf[..n];
                            while !rest.is_empty() {
                                match master.write(rest) {
                                    Ok(k) => rest = &rest[k..],
                                    // Nobody reads the tty: drop, like a UART would.
                                    Err(_) => break,
                                }
                            }
                        }
                    }
                }
            }
        });
        Bridge {
            path,
            stop,
            thread: Some(thread),
            _slave: pty.slave,
        }
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
    qemu: Child,
    log: Arc<Mutex<Vec<(Instant, String)>>>,
    bridges: Vec<Bridge>,
    /// Bytes the relay sent on UART2.
    operator_in: Arc<Mutex<Vec<u8>>>,
    operator: UnixStream,
    _dir: tempfile::TempDir,
}

impl Drop for Board {
    fn drop(&mut self) {
        let _ = self.qemu.kill();
        let _ = self.qemu.wait();
        self.bridges.clear();
    }
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
        let elf = image();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new("qemu-system-arm");
        cmd.args(["-M", "mps2-an385", "-cpu", "cortex-m3"]).args([
            "-display",
            "none",
            "-monitor",
            "none",
            "-nodefaults",
        ]);
        let mut listeners = Vec::new();
        for i in 0..5 {
            let path = dir.path().join(format!("uart{i}.sock"));
            let l = UnixListener::bind(&path).expect("bind");
            l.set_nonblocking(true).unwrap();
            listeners.push(l);
            cmd.arg("-chardev")
                .arg(format!("socket,id=u{i},path={}", path.display()))
                .arg("-serial")
                .arg(format!("chardev:u{i}"));
        }
        cmd.arg("-kernel").arg(&elf);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut qemu = cmd
            .spawn()
            .expect("qemu-system-arm (apt-get install qemu-system-arm)");
        let mut streams = Vec::new();
        for (i, l) in listeners.iter().enumerate() {
            let deadline = Instant::now() + MAX_WAIT;
            let s = loop {
                match l.accept() {
                    Ok((s, _)) => break s,
                    Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => {
                        let _ = qemu.kill();
                        panic!("QEMU did not connect UART{i}: {e}");
                    }
                }
            };
            streams.push(s);
        }
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
        let bridges = streams.into_iter().map(Bridge::new).collect();
        let board = Board {
            qemu,
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

    fn tty(&self, port: usize) -> &str {
        &self.bridges[port].path
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
        client.hello().expect("hello");
        let deadline = Instant::now() + MAX_WAIT;
        let link = 'linked: loop {
            assert!(Instant::now() < deadline, "the operator port never linked");
            let bytes = std::mem::take(&mut *self.operator_in.lock().unwrap());
            for raw in bytes.split(|&b| b == 0).filter(|f| !f.is_empty()) {
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
    let mut setup = relay_setup(&board, (500, 3000, 6000), false);
    for e in &mut setup.extra {
        // heartbeat wants initdead at least twice the deadtime.
        e.push_str("initdead 12\n");
    }
    let c = Cluster::new("relay-hang", &setup);
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
    // Both daemons link again on the new boot (a second "linked" line in their logs).
    for i in 0..2 {
        let start = Instant::now();
        let text = format!("Relay board on {}: linked as port {i}", board.tty(i));
        while c.nodes[i].log().matches(&text).count() < 2 {
            assert!(
                start.elapsed() < MAX_WAIT,
                "{} never linked again:\n{}\nrelay:\n{}",
                c.nodes[i].name,
                c.nodes[i].log(),
                board.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
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
    c.both_up();
    for i in 0..2 {
        let log = c.nodes[i].log();
        assert!(!log.contains("is dead"), "{log}");
    }
    let resets = board.lines(before, |l| l.starts_with("RESET ") && l.contains("ASSERT"));
    assert!(resets.is_empty(), "{resets:?}\n{}", board.log_text());
}
