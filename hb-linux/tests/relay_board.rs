//! The host side of the relay board against the real relay state machine (`hb_firmware::Relay`)
//! run in-process as the board: two `RelayChannel`s ("node1" on port 0, "node2" on port 1)
//! open the slave ends of two ptys, and each step the test moves bytes between the pty masters
//! and the relay's mock ports, and polls the relay on a virtual clock ([`STEP_MS`] per step)
//! with mock reset pins (active low) that log their levels with the virtual time.

use hb_core::auth::{Keyring, Method};
use hb_core::msg::compact;
use hb_core::msg::Field;
use hb_core::relay::{self, Body, FenceAction, FenceOutcome, RelayFrame, RESET_PULSE};
use hb_firmware::{Config, Event, Instant as RelayInstant, Level, Relay};
use hb_linux::relay::{
    ChannelEvent, FenceReply, FenceTarget, HbRelay, RelayChannel, RelayLinkState,
};
use hb_linux::stonith::{Plugin, ResetAction, Stonith};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::{Duration, Instant};
use watchdog::Watchdog;

/// Virtual milliseconds per step; each step also sleeps [`STEP_SLEEP`] so the pty moves bytes.
const STEP_MS: u64 = 5;
const STEP_SLEEP: Duration = Duration::from_micros(300);
const PULSE: u64 = RESET_PULSE.as_millis();

fn keys() -> Keyring {
    let mut k = Keyring::new();
    k.insert(1, Method::Sha1, b"cluster-secret").unwrap();
    k.set_active(1).unwrap();
    k
}

fn wrong_keys() -> Keyring {
    let mut k = Keyring::new();
    k.insert(1, Method::Sha1, b"a guess").unwrap();
    k.set_active(1).unwrap();
    k
}

#[derive(Default)]
struct Wire {
    to_relay: VecDeque<u8>,
    from_relay: VecDeque<u8>,
}

struct Port(Rc<RefCell<Wire>>);

impl embedded_io::ErrorType for Port {
    type Error = embedded_io::ErrorKind;
}
impl embedded_io::Read for Port {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let mut w = self.0.borrow_mut();
        let n = buf.len().min(w.to_relay.len());
        for b in buf.iter_mut().take(n) {
            *b = w.to_relay.pop_front().unwrap();
        }
        Ok(n)
    }
}
impl embedded_io::ReadReady for Port {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(!self.0.borrow().to_relay.is_empty())
    }
}
impl embedded_io::Write for Port {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0.borrow_mut().from_relay.extend(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}
impl embedded_io::WriteReady for Port {
    fn write_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// The levels a reset output was driven to: `(virtual ms, high)`.
type PinLog = Rc<RefCell<Vec<(u64, bool)>>>;

/// A reset output logging `(virtual ms, high)`.
struct Pin {
    clock: Rc<Cell<u64>>,
    log: PinLog,
}
impl embedded_hal::digital::ErrorType for Pin {
    type Error = embedded_hal::digital::ErrorKind;
}
impl embedded_hal::digital::OutputPin for Pin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.log.borrow_mut().push((self.clock.get(), false));
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.log.borrow_mut().push((self.clock.get(), true));
        Ok(())
    }
}

struct Pty {
    master: File,
    _slave: OwnedFd,
    path: String,
}

fn pty() -> Pty {
    let p = nix::pty::openpty(None, None).expect("openpty");
    let path = nix::unistd::ttyname(&p.slave)
        .expect("ttyname")
        .to_str()
        .unwrap()
        .to_string();
    let master = File::from(p.master);
    nix::fcntl::fcntl(
        &master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    Pty {
        master,
        _slave: p.slave,
        path,
    }
}

/// The board: a two-port relay, its lines to the ptys, and a tap of every byte each host sent.
struct Board {
    relay: Relay<Port, Pin, 2>,
    wires: [Rc<RefCell<Wire>>; 2],
    ptys: [Pty; 2],
    pins: [PinLog; 2],
    clock: Rc<Cell<u64>>,
    events: Vec<(u64, Event)>,
    /// Everything each host wrote to the relay, and the relay wrote to each host.
    sent_by_host: [Vec<u8>; 2],
    sent_to_host: [Vec<u8>; 2],
}

impl Board {
    fn new() -> Board {
        Board::with_ptys([pty(), pty()])
    }

    fn with_ptys(ptys: [Pty; 2]) -> Board {
        let clock = Rc::new(Cell::new(0u64));
        let wires: [Rc<RefCell<Wire>>; 2] = std::array::from_fn(|_| Rc::default());
        let pins: [PinLog; 2] = std::array::from_fn(|_| Rc::default());
        let relay = Relay::new(
            Config {
                boot_id: 0x5eed_0001,
                reset_active: Level::Low,
            },
            keys(),
            std::array::from_fn(|i| Port(wires[i].clone())),
            std::array::from_fn(|i| Pin {
                clock: clock.clone(),
                log: pins[i].clone(),
            }),
        );
        Board {
            relay,
            wires,
            ptys,
            pins,
            clock,
            events: Vec::new(),
            sent_by_host: [Vec::new(), Vec::new()],
            sent_to_host: [Vec::new(), Vec::new()],
        }
    }

    fn now(&self) -> u64 {
        self.clock.get()
    }

    /// One step: host bytes in, one relay poll, relay bytes out, the clock on.
    fn step(&mut self) {
        std::thread::sleep(STEP_SLEEP);
        let mut buf = [0u8; 4096];
        for i in 0..2 {
            loop {
                match self.ptys[i].master.read(&mut buf) {
                    Ok(n) if n > 0 => {
                        self.sent_by_host[i].extend_from_slice(&buf[..n]);
                        self.wires[i].borrow_mut().to_relay.extend(&buf[..n]);
                    }
                    Ok(_) => break,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("pty master: {e}"),
                }
            }
        }
        self.relay.poll(RelayInstant::from_millis(self.now()));
        while let Some(e) = self.relay.next_event() {
            self.events.push((self.now(), e));
        }
        for i in 0..2 {
            let out: Vec<u8> = self.wires[i].borrow_mut().from_relay.drain(..).collect();
            if !out.is_empty() {
                self.sent_to_host[i].extend_from_slice(&out);
                self.ptys[i].master.write_all(&out).unwrap();
            }
        }
        self.clock.set(self.now() + STEP_MS);
    }

    /// The relay reboots: a fresh state machine with another boot id on the same lines and
    /// pins (its lines start released; it knows no link).
    fn reboot(&mut self, boot_id: u32) {
        self.relay = Relay::new(
            Config {
                boot_id,
                reset_active: Level::Low,
            },
            keys(),
            std::array::from_fn(|i| Port(self.wires[i].clone())),
            std::array::from_fn(|i| Pin {
                clock: self.clock.clone(),
                log: self.pins[i].clone(),
            }),
        );
    }

    /// Bytes straight onto the relay's port `i`, as if its host wrote them.
    fn inject(&mut self, i: usize, bytes: &[u8]) {
        self.wires[i].borrow_mut().to_relay.extend(bytes);
    }

    /// Bytes onto host `i`'s line, as if the relay wrote them.
    fn inject_to_host(&mut self, i: usize, bytes: &[u8]) {
        self.ptys[i].master.write_all(bytes).unwrap();
    }

    /// When port `i`'s line went low (asserted) and high again.
    fn pulses(&self, i: usize) -> Vec<(u64, Option<u64>)> {
        let log = self.pins[i].borrow();
        let mut out = Vec::new();
        let mut low = None;
        for &(t, high) in log.iter() {
            match (high, low) {
                (false, None) => low = Some(t),
                (true, Some(l)) => {
                    out.push((l, Some(t)));
                    low = None;
                }
                _ => {}
            }
        }
        if let Some(l) = low {
            out.push((l, None));
        }
        out
    }
}

/// A host: its channel, what it received, what it logged.
struct Host {
    ch: RelayChannel,
    got: Vec<Vec<u8>>,
    events: Vec<ChannelEvent>,
}

impl Host {
    fn open(board: &Board, i: usize, name: &str) -> Host {
        let ch = RelayChannel::open(&board.ptys[i].path, 115_200, keys(), name).unwrap();
        Host {
            ch,
            got: Vec::new(),
            events: Vec::new(),
        }
    }

    /// What the daemon's loop does each round: service, read until `None`.
    fn turn(&mut self) {
        self.ch.service(Instant::now()).unwrap();
        let mut buf = [0u8; 2048];
        while let Some(n) = self.ch.recv(&mut buf).unwrap() {
            self.got.push(buf[..n].to_vec());
        }
        while let Some(e) = self.ch.next_event() {
            self.events.push(e);
        }
    }
}

fn run(board: &mut Board, hosts: &mut [&mut Host], steps: usize) {
    for _ in 0..steps {
        board.step();
        for h in hosts.iter_mut() {
            h.turn();
        }
    }
}

/// Steps until `done` (at most `max` steps); returns the steps taken.
fn run_until(
    board: &mut Board,
    hosts: &mut [&mut Host],
    max: usize,
    mut done: impl FnMut(&Board, &[&mut Host]) -> bool,
) -> usize {
    for k in 0..max {
        if done(board, hosts) {
            return k;
        }
        run(board, hosts, 1);
    }
    panic!("not done after {max} steps");
}

fn linked(board: &mut Board) -> (Host, Host) {
    let mut a = Host::open(board, 0, "node1");
    let mut b = Host::open(board, 1, "node2");
    run_until(board, &mut [&mut a, &mut b], 400, |_, h| {
        h.iter().all(|h| h.ch.is_linked())
    });
    (a, b)
}

fn heartbeat(src: &str, seq: u64) -> Vec<u8> {
    let seq = format!("{seq:x}");
    let fields = [
        Field::string("t", "status"),
        Field::string("st", "active"),
        Field::string("src", src),
        Field::string("seq", &seq),
    ];
    let mut out = [0u8; 256];
    let n = compact::encode(&fields, Some(&keys()), &mut out).unwrap();
    out[..n].to_vec()
}

#[test]
fn hello_identify_then_heartbeats_cross_the_relay() {
    let mut board = Board::new();
    let (mut a, mut b) = linked(&mut board);
    assert!(
        matches!(
            a.ch.link_state(),
            RelayLinkState::Linked {
                port: 0,
                ports: 2,
                ..
            }
        ),
        "{:?}",
        a.ch.link_state()
    );
    assert!(matches!(
        b.ch.link_state(),
        RelayLinkState::Linked {
            port: 1,
            ports: 2,
            ..
        }
    ));
    assert!(a
        .events
        .contains(&ChannelEvent::Linked { port: 0, ports: 2 }));

    // node1's heartbeat reaches node2 byte for byte, and not node1 itself.
    let hb = heartbeat("node1", 1);
    a.ch.send_heartbeat(&hb).unwrap();
    run_until(&mut board, &mut [&mut a, &mut b], 200, |_, h| {
        !h[1].got.is_empty()
    });
    assert_eq!(b.got, std::slice::from_ref(&hb));
    let mut wire = b.got[0].clone();
    let mut scratch = [0u8; 256];
    let p: compact::CompactPacket<'_> = compact::decode(&mut wire, &mut scratch).unwrap();
    assert_eq!(p.verify(&keys()), Ok(1));
    // And back.
    let hb2 = heartbeat("node2", 1);
    b.ch.send(&hb2).unwrap();
    run_until(&mut board, &mut [&mut a, &mut b], 200, |_, h| {
        !h[0].got.is_empty()
    });
    assert_eq!(a.got, [hb2]);
    run(&mut board, &mut [&mut a, &mut b], 5);
    assert_eq!(b.got.len(), 1, "no echo");
    assert_eq!(a.ch.stats().rejected + b.ch.stats().rejected, 0);

    // Cost per frame on the host (see `measure`): frames one per read, as heartbeats come,
    // and twenty per read, as a busy line delivers them.
    for batch in [1, 20] {
        let (encode, send, recv) = measure(&mut board, &mut a, &mut b, batch, 300 * batch.min(4));
        println!(
            "host side, per {}-byte heartbeat frame (sha1), {batch} per read: encode {encode:.1} us \
             + send {send:.1} us; receive+verify {recv:.1} us",
            hb.len()
        );
    }
    assert_eq!(a.ch.stats().tx_dropped, 0);
}

#[test]
fn pets_hold_off_the_relay_watchdog_and_silence_resets_the_host() {
    let mut board = Board::new();
    let (mut a, mut b) = linked(&mut board);
    let t = a.ch.arm(watchdog::Duration::from_millis(1000)).unwrap();
    assert_eq!(t, watchdog::Duration::from_millis(1000));
    // Pet every 200 virtual ms for 3 virtual seconds: the line never moves.
    let mut last_pet = board.now();
    for _ in 0..15 {
        run(&mut board, &mut [&mut a, &mut b], (200 / STEP_MS) as usize);
        a.ch.pet().unwrap();
        last_pet = board.now();
    }
    run(&mut board, &mut [&mut a, &mut b], 4);
    assert!(board.pulses(0).is_empty(), "{:?}", board.pulses(0));
    assert!(a
        .events
        .contains(&ChannelEvent::PetAck { timeout_ms: 1000 }));
    assert!(board.events.iter().any(|(_, e)| *e
        == Event::Armed {
            port: 0,
            timeout_ms: 1000
        }));
    // Silence: the relay asserts node1's line one timeout after the last pet it took.
    run_until(&mut board, &mut [&mut a, &mut b], 400, |board, _| {
        !board.pulses(0).is_empty()
    });
    let (low, _) = board.pulses(0)[0];
    let late = low - last_pet;
    println!("reset line asserted {late} virtual ms after the last pet (timeout 1000)");
    assert!((1000..=1000 + 4 * STEP_MS).contains(&late), "{late}");
    assert!(board
        .events
        .iter()
        .any(|(_, e)| *e == Event::WatchdogReset { port: 0 }));
    run(
        &mut board,
        &mut [&mut a, &mut b],
        (PULSE / STEP_MS) as usize + 2,
    );
    let (low, high) = board.pulses(0)[0];
    assert_eq!(high.map(|h| h - low), Some(PULSE));
    assert!(board.pulses(1).is_empty());
    // Disarming is a pet with timeout 0.
    b.ch.arm(watchdog::Duration::from_secs(2)).unwrap();
    run(&mut board, &mut [&mut a, &mut b], 10);
    b.ch.disarm().unwrap();
    run(&mut board, &mut [&mut a, &mut b], (3000 / STEP_MS) as usize);
    assert!(board.pulses(1).is_empty());
    assert!(board
        .events
        .iter()
        .any(|(_, e)| *e == Event::Disarmed { port: 1 }));
    // A clean stop: disarm, close (the pet is written before the port closes), and no reset.
    a.ch.arm(watchdog::Duration::from_secs(1)).unwrap();
    run(&mut board, &mut [&mut a, &mut b], 10);
    a.ch.disarm().unwrap();
    assert!(a.ch.close(Duration::from_millis(100)));
    let pulses = board.pulses(0).len();
    run(&mut board, &mut [&mut b], (2000 / STEP_MS) as usize);
    assert_eq!(board.pulses(0).len(), pulses);
    assert_eq!(
        board.events.last().map(|(_, e)| *e),
        Some(Event::Disarmed { port: 0 })
    );
}

/// Runs the board and both hosts' loops until the worker thread is done.
fn pump_until_joined<T>(
    board: &mut Board,
    hosts: &mut [&mut Host],
    worker: std::thread::JoinHandle<T>,
) -> T {
    let start = Instant::now();
    while !worker.is_finished() {
        assert!(start.elapsed() < Duration::from_secs(10), "worker stuck");
        run(board, hosts, 1);
    }
    worker.join().unwrap()
}

#[test]
fn a_fence_from_node2_resets_node1_and_is_answered_after_the_pulse() {
    let mut board = Board::new();
    let (mut a, mut b) = linked(&mut board);
    // The action worker's view: a handle, a blocking call.
    let handle = b.ch.fence_handle();
    let worker = std::thread::spawn(move || {
        let t = Instant::now();
        let r = handle.fence(
            FenceTarget::Host("NODE1".into()),
            FenceAction::Reset,
            Duration::from_secs(5),
        );
        (r, t.elapsed())
    });
    let (reply, took) = pump_until_joined(&mut board, &mut [&mut a, &mut b], worker);
    assert_eq!(reply, FenceReply::Relay(FenceOutcome::Done));
    let pulses = board.pulses(0);
    assert_eq!(pulses.len(), 1, "{pulses:?}");
    let (low, high) = pulses[0];
    assert_eq!(high.map(|h| h - low), Some(PULSE));
    let answered = board
        .events
        .iter()
        .find_map(|(t, e)| {
            matches!(
                e,
                Event::FenceDone {
                    requester: 1,
                    target: 0,
                    ..
                }
            )
            .then_some(*t)
        })
        .unwrap();
    assert!(
        answered >= low + PULSE,
        "answered at {answered}, pulse {low}.."
    );
    println!("fence by name: Done after {took:?} real time (virtual pulse {PULSE} ms)");
    assert!(board.pulses(1).is_empty());

    // By port through the STONITH plugin, as the daemon's worker would call it.
    let mut plugin = HbRelay::with_handle(b.ch.fence_handle());
    plugin
        .configure(&[("ttydev".into(), format!("{} node1=0", board.ptys[1].path))])
        .unwrap();
    let mut stonith = Stonith::from_plugin(Box::new(plugin));
    let worker = std::thread::spawn(move || {
        let mut lines = Vec::new();
        let r = stonith.fence("node1", &mut |l| lines.push(l));
        let bad = stonith.plugin().reset(
            "node9",
            ResetAction::Reset,
            Duration::from_secs(5),
            &mut |l| lines.push(l),
        );
        (r, bad, lines)
    });
    let (r, bad, lines) = pump_until_joined(&mut board, &mut [&mut a, &mut b], worker);
    assert_eq!(r, hb_core::resources::FenceResult::Ok, "{lines:?}");
    assert_eq!(bad, hb_core::resources::FenceResult::BadHost, "{lines:?}");
    assert_eq!(board.pulses(0).len(), 2);
}

/// A fence frame as node2 would send it, on its link, with `keys`.
fn fence_frame(link: u64, counter: u32, keys: &Keyring) -> Vec<u8> {
    let mut out = [0u8; relay::MAX_FRAME_LEN];
    let n = relay::encode(
        &RelayFrame {
            link,
            counter,
            body: Body::Fence {
                target: 0,
                action: FenceAction::Reset,
                name: b"",
            },
        },
        keys,
        &mut out,
    )
    .unwrap();
    out[..n].to_vec()
}

#[test]
fn forged_and_replayed_requests_are_refused() {
    let mut board = Board::new();
    let (mut a, mut b) = linked(&mut board);
    let RelayLinkState::Linked { link, .. } = b.ch.link_state() else {
        panic!()
    };
    // Forged: node2's link and a fresh counter, signed with a guessed key.
    board.inject(1, &fence_frame(link, 1000, &wrong_keys()));
    run(&mut board, &mut [&mut a, &mut b], 120);
    assert!(board.pulses(0).is_empty());
    assert!(board.events.iter().any(|(_, e)| matches!(
        e,
        Event::Rejected {
            port: 1,
            reason: hb_core::relay::RelayError::Auth(_)
        }
    )));

    // A real request from node2, recorded on the line, then replayed.
    let before = board.sent_by_host[1].len();
    let handle = b.ch.fence_handle();
    let worker = std::thread::spawn(move || {
        handle.fence(
            FenceTarget::Port {
                port: 0,
                name: "node1".into(),
            },
            FenceAction::Reset,
            Duration::from_secs(5),
        )
    });
    let reply = pump_until_joined(&mut board, &mut [&mut a, &mut b], worker);
    assert_eq!(reply, FenceReply::Relay(FenceOutcome::Done));
    assert_eq!(board.pulses(0).len(), 1);
    let recorded = board.sent_by_host[1][before..].to_vec();
    let answers = board.sent_to_host[1].clone();
    run(&mut board, &mut [&mut a, &mut b], 10);
    board.inject(1, &recorded);
    run(
        &mut board,
        &mut [&mut a, &mut b],
        (PULSE / STEP_MS) as usize + 20,
    );
    assert_eq!(board.pulses(0).len(), 1, "the replay pulsed the line");
    assert!(board.events.iter().any(|(_, e)| matches!(
        e,
        Event::Rejected {
            port: 1,
            reason: hb_core::relay::RelayError::Replay
        }
    )));

    // The host refuses the relay's recorded answers (identify, fence result) replayed to it.
    let rejected = b.ch.stats().rejected;
    board.inject_to_host(1, &answers);
    run(&mut board, &mut [&mut a, &mut b], 5);
    assert!(b.ch.stats().rejected > rejected);
    assert!(b.ch.is_linked());
    // And one signed with a guessed key.
    let mut out = [0u8; relay::MAX_FRAME_LEN];
    let n = relay::encode(
        &RelayFrame {
            link: 0,
            counter: u32::MAX,
            body: Body::FenceResult {
                counter: 1,
                target: 0,
                action: FenceAction::Reset,
                outcome: FenceOutcome::Done,
            },
        },
        &wrong_keys(),
        &mut out,
    )
    .unwrap();
    let rejected = b.ch.stats().rejected;
    board.inject_to_host(1, &out[..n]);
    run(&mut board, &mut [&mut a, &mut b], 5);
    assert_eq!(b.ch.stats().rejected, rejected + 1);
}

#[test]
fn the_stonith_command_opens_the_port_itself_and_a_second_opener_is_refused() {
    // The board runs on its own thread here: the test thread blocks in the plugin, as the
    // `stonith` command does. node1 is linked by a channel on the board's thread.
    let ptys = [pty(), pty()];
    let path1 = ptys[1].path.clone();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let board = std::thread::spawn(move || {
        let mut board = Board::with_ptys(ptys);
        let mut a = Host::open(&board, 0, "node1");
        run_until(&mut board, &mut [&mut a], 400, |_, h| h[0].ch.is_linked());
        ready_tx.send(()).unwrap();
        let start = Instant::now();
        while stop_rx.try_recv().is_err() && start.elapsed() < Duration::from_secs(10) {
            run(&mut board, &mut [&mut a], 1);
        }
        board.pulses(0)
    });
    ready_rx.recv().unwrap();
    // As `stonith -t hbrelay -p <tty> -T reset node1` makes it: keys from an authkeys file.
    let dir = tempfile::tempdir().unwrap();
    let authkeys = dir.path().join("authkeys");
    std::fs::write(&authkeys, "auth 1\n1 sha1 cluster-secret\n").unwrap();
    let mut plugin = HbRelay::from_system(&authkeys);
    plugin
        .configure(&[("ttydev".into(), path1.clone())])
        .unwrap();
    let t = Duration::from_secs(5);
    let hosts = plugin.hosts(t, &mut |_| {}).unwrap();
    assert!(hosts.contains(&"node1".to_string()), "{hosts:?}");
    let mut lines = Vec::new();
    let r = plugin.reset("node1", ResetAction::Reset, t, &mut |l| lines.push(l));
    assert_eq!(r, hb_core::resources::FenceResult::Ok, "{lines:?}");
    // While one process holds the port, another cannot open it.
    let held = RelayChannel::open(&path1, 115_200, keys(), "node2").unwrap();
    let again = RelayChannel::open(&path1, 115_200, keys(), "node2");
    assert!(again.is_err());
    println!("{}", again.unwrap_err());
    drop(held);
    stop_tx.send(()).unwrap();
    let pulses = board.join().unwrap();
    assert_eq!(pulses.len(), 1, "{pulses:?}");
    assert_eq!(pulses[0].1.map(|h| h - pulses[0].0), Some(PULSE));
}

#[test]
fn after_a_relay_reboot_both_hosts_link_again_and_fencing_works() {
    let mut board = Board::new();
    let (mut a, mut b) = linked(&mut board);
    // node1 is armed (its pets' acknowledgements show the link); node2 is not, and checks the
    // link with status requests.
    a.ch.arm(watchdog::Duration::from_secs(2)).unwrap();
    b.ch.set_link_check(Duration::from_millis(50));
    run(&mut board, &mut [&mut a, &mut b], 20);
    let (RelayLinkState::Linked { link: la, .. }, RelayLinkState::Linked { link: lb, .. }) =
        (a.ch.link_state(), b.ch.link_state())
    else {
        panic!()
    };
    board.reboot(0x5eed_0002);
    // node1 pets as its loop would; node2 just runs.
    let start = Instant::now();
    loop {
        run(&mut board, &mut [&mut a, &mut b], 20);
        a.ch.pet().unwrap();
        let relinked = |h: &Host, old| matches!(h.ch.link_state(), RelayLinkState::Linked { link, .. } if link != old);
        if relinked(&a, la) && relinked(&b, lb) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?} {:?}",
            a.ch.link_state(),
            b.ch.link_state()
        );
    }
    println!(
        "both hosts linked again {:?} after the relay's reboot",
        start.elapsed()
    );
    assert!(a.ch.client_stats().lost_links >= 1);
    assert!(board.pulses(0).is_empty() && board.pulses(1).is_empty());
    let handle = b.ch.fence_handle();
    let worker = std::thread::spawn(move || {
        handle.fence(
            FenceTarget::Host("node1".into()),
            FenceAction::Off,
            Duration::from_secs(5),
        )
    });
    let reply = pump_until_joined(&mut board, &mut [&mut a, &mut b], worker);
    assert_eq!(reply, FenceReply::Relay(FenceOutcome::Done));
    assert_eq!(board.pulses(0), [(board.pulses(0)[0].0, None)], "held off");
}

/// Sends `frames` heartbeats from `a` in batches of `batch`, and times on the host: the
/// compact encoding with sha1 (encode), `RelayChannel::send` (the queue and the `write(2)`),
/// and, once the relay has forwarded a whole batch to `b`'s pty, `RelayChannel::recv` until
/// `None` with the decoding and HMAC check of each frame (receive+verify, the `read(2)`
/// included). Returns microseconds per frame.
fn measure(
    board: &mut Board,
    a: &mut Host,
    b: &mut Host,
    batch: usize,
    frames: usize,
) -> (f64, f64, f64) {
    let k = keys();
    let (mut encode, mut send, mut recv) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut buf = [0u8; 2048];
    let mut received = 0;
    for n in 0..frames / batch {
        let forwarded = board.sent_to_host[1].iter().filter(|&&x| x == 0).count();
        for i in 0..batch {
            let seq = format!("{:x}", n * batch + i);
            let t = Instant::now();
            let fields = [
                Field::string("t", "status"),
                Field::string("st", "active"),
                Field::string("src", "node1"),
                Field::string("seq", &seq),
            ];
            let mut out = [0u8; 256];
            let len = compact::encode(&fields, Some(&k), &mut out).unwrap();
            let t2 = Instant::now();
            a.ch.send(&out[..len]).unwrap();
            send += t2.elapsed();
            encode += t2 - t;
        }
        for _ in 0..200 {
            board.step();
            a.turn();
            if board.sent_to_host[1].iter().filter(|&&x| x == 0).count() >= forwarded + batch {
                break;
            }
        }
        // Let the pty deliver the last bytes.
        std::thread::sleep(Duration::from_millis(1));
        let t = Instant::now();
        let mut got = 0;
        while let Some(len) = b.ch.recv(&mut buf).unwrap() {
            let mut scratch = [0u8; 256];
            let p: compact::CompactPacket<'_> =
                compact::decode(&mut buf[..len], &mut scratch).unwrap();
            assert_eq!(p.verify(&k), Ok(1));
            got += 1;
        }
        recv += t.elapsed();
        assert_eq!(got, batch);
        received += got;
    }
    assert_eq!(received, frames / batch * batch);
    let us = |d: Duration| d.as_secs_f64() * 1e6 / received as f64;
    (us(encode), us(send), us(recv))
}
