//! One relay under QEMU with its five serial lines on Unix sockets: four hosts and the log.
//!
//! The harness listens on the sockets and QEMU connects to them as a client
//! (`-chardev socket,path=…`), so the guest cannot run before every line is connected and no
//! output is lost (firmware-qemu.md §4). QEMU is killed by PID when the [`Rig`] is dropped.

use hb_core::auth::Keyring;
use hb_core::msg::compact::Frame;
use hb_core::relay::{self, FenceAction, FenceOutcome};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use relay_qemu::Qemu;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use watchdog::relay::{ClientEvent, LinkState, RelayWatchdog};
use watchdog::Watchdog;

pub const HOSTS: usize = 4;
/// Everything the harness waits for is bounded by this at most.
pub const MAX_WAIT: Duration = Duration::from_secs(10);

/// A relay answer, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Linked {
        port: u8,
        link: u64,
    },
    PetAck {
        timeout_ms: u32,
    },
    Fence {
        counter: u32,
        target: u8,
        action: FenceAction,
        outcome: FenceOutcome,
    },
    /// Per port: (flags, resets, fences, rejected).
    Status(Vec<(u8, u32, u32, u32)>),
}

/// A line of the relay's log (UART4) and when the harness read it.
#[derive(Clone, Debug)]
pub struct LogLine {
    pub at: Instant,
    pub text: String,
}

impl LogLine {
    /// The value of `key=` in the line.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.text
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
    }

    /// The relay's clock (`t=`) in ms.
    pub fn t(&self) -> Option<u64> {
        self.field("t")?.parse().ok()
    }
}

/// The bytes a client writes go to the socket and are kept, so a test can replay them.
pub struct Tap {
    stream: UnixStream,
    pub written: Vec<u8>,
}

impl embedded_io::ErrorType for Tap {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::Write for Tap {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        write_all(&mut self.stream, buf).map_err(|_| embedded_io::ErrorKind::Other)?;
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Writes all of `buf` to a non-blocking socket, waiting (bounded) while it is full.
fn write_all(stream: &mut UnixStream, mut buf: &[u8]) -> std::io::Result<()> {
    let deadline = Instant::now() + MAX_WAIT;
    while !buf.is_empty() {
        match stream.write(buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_micros(100));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One host's serial line.
pub struct Host {
    stream: UnixStream,
    partial: Vec<u8>,
    /// Heartbeat frames (not relay frames) received: arrival time and the stuffed bytes with
    /// their delimiter, as they came.
    pub heartbeats: Vec<(Instant, Vec<u8>)>,
    /// The host's relay-watchdog client, once the test made one.
    pub client: Option<RelayWatchdog<Tap>>,
    pub answers: Vec<(Instant, Answer)>,
    /// Relay frames the client refused.
    pub refused: u32,
    last_pet: Option<Instant>,
}

impl Host {
    /// Gives this host the real client (`watchdog::relay::RelayWatchdog`).
    pub fn attach_client(&mut self, keys: Keyring, name: &str, seed: u64) {
        let tap = Tap {
            stream: self.stream.try_clone().expect("clone socket"),
            written: Vec::new(),
        };
        self.client =
            Some(RelayWatchdog::new(tap, keys, name.as_bytes(), seed).expect("client name"));
    }

    pub fn client(&mut self) -> &mut RelayWatchdog<Tap> {
        self.client.as_mut().expect("no client on this host")
    }

    /// The line itself, for a test that hands it to another program (a proxy).
    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// Writes raw bytes to the relay.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        write_all(&mut self.stream, bytes).expect("write to the relay");
    }

    /// The link id of our current link with the relay.
    pub fn link(&self) -> Option<u64> {
        match self.client.as_ref()?.state() {
            LinkState::Linked { link, .. } => Some(link),
            _ => None,
        }
    }

    pub fn pet(&mut self) {
        self.last_pet = Some(Instant::now());
        self.client().pet().expect("pet");
    }

    pub fn arm(&mut self, timeout: Duration) {
        self.last_pet = Some(Instant::now());
        let ms = hb_core::time::Duration::from_millis(timeout.as_millis() as u64);
        self.client().arm(ms).expect("arm");
    }

    pub fn last_pet(&self) -> Option<Instant> {
        self.last_pet
    }

    /// Reads what the line has, without blocking.
    fn pump(&mut self) {
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    let now = Instant::now();
                    for &b in &buf[..n] {
                        self.partial.push(b);
                        if b == 0 {
                            let frame = std::mem::take(&mut self.partial);
                            self.take_frame(now, frame);
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => panic!("reading a host line: {e}"),
            }
        }
    }

    fn take_frame(&mut self, now: Instant, raw: Vec<u8>) {
        if raw.len() < 2 {
            return; // a flush (0x00 alone)
        }
        let mut work = raw.clone();
        let Ok(frame) = Frame::unstuff(&mut work) else {
            return;
        };
        if !relay::is_relay_frame(&frame) {
            self.heartbeats.push((now, raw));
            return;
        }
        let Some(client) = self.client.as_mut() else {
            return;
        };
        match client.handle_frame(&frame) {
            Ok(Some(ev)) => self.answers.push((now, owned(ev))),
            Ok(None) => {}
            Err(_) => self.refused += 1,
        }
    }
}

fn owned(ev: ClientEvent<'_>) -> Answer {
    match ev {
        ClientEvent::Linked { port, link, .. } => Answer::Linked { port, link },
        ClientEvent::PetAck { timeout_ms } => Answer::PetAck { timeout_ms },
        ClientEvent::FenceResult {
            counter,
            target,
            action,
            outcome,
        } => Answer::Fence {
            counter,
            target,
            action,
            outcome,
        },
        ClientEvent::Status(s) => Answer::Status(
            s.ports()
                .map(|r| (r.flags.0, r.resets, r.fences, r.rejected))
                .collect(),
        ),
    }
}

/// A running relay and its lines. Fields drop in order: QEMU first, then the sockets.
pub struct Rig {
    qemu: Qemu,
    pub hosts: Vec<Host>,
    log: Arc<Mutex<Vec<LogLine>>>,
    /// How many log lines the test has looked at (`next_log`).
    log_seen: usize,
    pub started: Instant,
}

impl Rig {
    /// Starts QEMU on `elf` and connects all five lines; waits for the boot banner.
    pub fn start(elf: &Path, verbose: bool) -> Result<Rig, String> {
        Self::start_with(elf, verbose, &[])
    }

    /// [`Rig::start`] with more QEMU options.
    pub fn start_with(elf: &Path, verbose: bool, extra: &[&str]) -> Result<Rig, String> {
        let started = Instant::now();
        let (qemu, mut streams) = Qemu::start_with(elf, verbose, MAX_WAIT, extra)?;
        let log_stream = streams.pop().expect("five streams");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let reader = BufReader::new(log_stream);
            for line in reader.lines() {
                let Ok(text) = line else { break };
                if verbose {
                    eprintln!(
                        "    uart4 {:>7.1} ms | {text}",
                        started.elapsed().as_secs_f64() * 1e3
                    );
                }
                let line = LogLine {
                    at: Instant::now(),
                    text,
                };
                sink.lock().expect("log lock").push(line);
            }
        });
        let mut hosts = Vec::new();
        for s in streams {
            s.set_nonblocking(true).map_err(|e| e.to_string())?;
            hosts.push(Host {
                stream: s,
                partial: Vec::new(),
                heartbeats: Vec::new(),
                client: None,
                answers: Vec::new(),
                refused: 0,
                last_pet: None,
            });
        }
        let mut rig = Rig {
            qemu,
            hosts,
            log,
            log_seen: 0,
            started,
        };
        if rig
            .wait_log(MAX_WAIT, |l| l.text.starts_with("READY"))
            .is_none()
        {
            return Err("no READY line from the relay".into());
        }
        Ok(rig)
    }

    /// The log lines so far.
    pub fn log(&self) -> Vec<LogLine> {
        self.log.lock().expect("log lock").clone()
    }

    /// Log lines matching `pred` so far.
    pub fn log_matching(&self, pred: impl Fn(&LogLine) -> bool) -> Vec<LogLine> {
        self.log().into_iter().filter(|l| pred(l)).collect()
    }

    /// Waits up to `limit` for a log line after the ones already seen that satisfies `pred`,
    /// pumping the host lines meanwhile; marks the lines up to it seen.
    pub fn wait_log(
        &mut self,
        limit: Duration,
        pred: impl Fn(&LogLine) -> bool,
    ) -> Option<LogLine> {
        let deadline = Instant::now() + limit;
        loop {
            {
                let log = self.log.lock().expect("log lock");
                if let Some(i) = log[self.log_seen..].iter().position(&pred) {
                    let line = log[self.log_seen + i].clone();
                    self.log_seen += i + 1;
                    return Some(line);
                }
            }
            if Instant::now() >= deadline || !self.qemu_running() {
                return None;
            }
            self.pump_for(Duration::from_millis(2));
        }
    }

    /// Marks every log line so far seen.
    pub fn skip_log(&mut self) {
        self.log_seen = self.log.lock().expect("log lock").len();
    }

    pub fn qemu_running(&mut self) -> bool {
        self.qemu.running()
    }

    /// Reads every host line, waiting up to `limit` for something to arrive.
    pub fn pump_for(&mut self, limit: Duration) {
        {
            let mut fds: Vec<PollFd<'_>> = self
                .hosts
                .iter()
                .map(|h| PollFd::new(h.stream.as_fd(), PollFlags::POLLIN))
                .collect();
            let ms = limit.as_millis().min(u128::from(u16::MAX)) as u16;
            let _ = poll(&mut fds, PollTimeout::from(ms));
        }
        for h in &mut self.hosts {
            h.pump();
        }
    }

    /// Runs for `limit`, petting the hosts in `petting` every `every`.
    pub fn run(&mut self, limit: Duration, petting: &[usize], every: Duration) {
        self.run_until(limit, petting, every, |_| false);
    }

    /// Like [`Rig::run`], but stops early (returning true) once `done` holds.
    pub fn run_until(
        &mut self,
        limit: Duration,
        petting: &[usize],
        every: Duration,
        mut done: impl FnMut(&mut Rig) -> bool,
    ) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            for &i in petting {
                let due = self.hosts[i]
                    .last_pet()
                    .is_none_or(|t| t.elapsed() >= every);
                if due {
                    self.hosts[i].pet();
                }
            }
            self.pump_for(Duration::from_millis(5));
            if done(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
        }
    }
}
