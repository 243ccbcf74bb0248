//! The host side of the relay board (issue 6 item 5, `hb-firmware/PROTOCOL.md`): one serial
//! port to the relay carries three things at once, so one [`RelayChannel`] owns the port and
//! serves three roles:
//!
//! - **medium**: [`RelayChannel::send`] writes a compact-encoded heartbeat packet, the relay
//!   forwards it to every other host; [`RelayChannel::recv`] hands out the other hosts'
//!   heartbeat frames as they were on the wire (like the `serial` medium with compact
//!   encoding), and keeps the relay's own frames (header bit 7) for itself;
//! - **watchdog**: [`RelayChannel`] implements [`watchdog::Watchdog`] (arm, pet, disarm); the
//!   protocol is [`watchdog::relay::RelayWatchdog`]'s — hello/identify, pets, answers, replay
//!   guard — run over an in-memory outbox whose bytes the channel writes to the tty;
//! - **STONITH**: [`FenceHandle::fence`] asks the relay to reset (or power off/on) a port's line
//!   and blocks until the relay answers or a timeout; [`crate::stonith::HbRelay`] is the
//!   `hbrelay` [`crate::stonith::Plugin`] built on it.
//!
//! # Threads: the loop owns the port, the worker holds a handle
//!
//! The daemon's heartbeat loop owns the [`RelayChannel`] (no threads, no locks: a
//! non-blocking descriptor in its `poll`). A fence is a blocking call made by the action
//! worker, so the worker gets a [`FenceHandle`] (`Clone + Send`): `fence` puts the request on
//! an `mpsc` channel, writes a byte on a socket pair whose read end the loop polls
//! ([`RelayChannel::wake_fd`]), and waits on its own reply channel with a timeout. The loop,
//! on that readiness (and at [`RelayChannel::poll_timeout`]), calls
//! [`RelayChannel::service`], which sends the request on the link, and answers the worker when
//! the relay's fence result arrives (read by [`RelayChannel::recv`]). One request is on the
//! line at a time (the relay answers `busy` to a second one); the others wait their turn. A
//! request for a host *name* first asks the relay for its status to learn which port that host
//! said hello on, then fences that port with the name, which the relay checks again.
//!
//! Outside the daemon (`hbctl stonith -t hbrelay`), [`RelayChannel::call_blocking`] runs the same
//! steps on one thread.
//!
//! # Wiring into the daemon
//!
//! One channel per relay device (the daemon's `relay` media, then the ttys of its
//! `watchdog relay:` and `hbrelay` lines that are not media), opened at start-up with the
//! cluster's keyring and the node's name ([`RelayChannel::open`]), whatever its roles: even a
//! channel that is only a watchdog or a STONITH device must be read, because the relay's
//! answers come on it and the other hosts' heartbeats arrive anyway (they are then dropped).
//! In the loop:
//! - poll [`RelayChannel::as_fd`] for `POLLIN` (and `POLLOUT` while
//!   [`RelayChannel::wants_writable`]) and [`RelayChannel::wake_fd`] for `POLLIN`; wake up at
//!   [`RelayChannel::poll_timeout`];
//! - on readiness: [`RelayChannel::recv`] until `None` (hand the frames to the core as the
//!   medium's packets, or drop them), [`RelayChannel::poll_tx`] when writable, and
//!   [`RelayChannel::service`] on the wake fd, at the timeout, or every round (it is cheap);
//! - medium role: [`RelayChannel::send`] for the core's compact-encoded packets (at most
//!   [`hb_core::relay::MAX_FRAME_LEN`] bytes on the wire: the relay forwards nothing longer);
//!   the link is up in `hbctl status` while [`RelayChannel::is_linked`];
//! - watchdog role: the [`Watchdog`] methods on the channel, from where the daemon pets
//!   `/dev/watchdog` now; at a clean stop, `disarm` then [`RelayChannel::close`];
//! - STONITH role: the channels' [`FenceHandle`]s go in [`crate::stonith::PluginEnv::relays`];
//!   the `hbrelay` plugin made from the `stonith_host` line ([`crate::stonith::HbRelay::in_env`]) takes the one
//!   on its tty, and moves with the rest of the STONITH device to the action worker.
//!
//! # Config spellings
//!
//! - `relay /dev/ttyUSB0 [baud]` — the medium (parsed with ha.cf:
//!   [`hb_core::config::Medium::Relay`]). A directive of its own
//!   rather than `serial /dev/ttyUSB0`: a `serial` line speaks heartbeat 3.0.6's classic text
//!   (or our compact frames to another hb node) at the global `baud`, with 3.0.6's flow control
//!   and lock file, while a relay line needs the relay's protocol on top, its own speed
//!   (default [`DEFAULT_BAUD`], what the boards run) and no RTS/CTS (the boards wire TX, RX and
//!   ground only). heartbeat 3.0.6 refuses the unknown directive (`Illegal directive`), so only
//!   hb nodes' ha.cf name a relay, and a 3.0.6 node can never misread the line as a serial peer.
//! - `watchdog relay:/dev/ttyUSB0` — the watchdog (typed in ha.cf:
//!   [`hb_core::config::HaCf::relay_watchdog`]). heartbeat's `watchdog` takes a device path; a
//!   path cannot begin with `relay:` (`/dev/...` is absolute, and a relative path with a colon
//!   is no device anyone uses), so the prefix is unambiguous and the directive keeps its
//!   one-value shape.
//! - `stonith_host * hbrelay /dev/ttyUSB0 [node=port ...]` — the STONITH device
//!   (typed in ha.cf: [`hb_core::config::hacf::HbRelayParams`]), cluster-glue style: one
//!   parameter, `ttydev`, which as the last (only) parameter takes the rest of the line. Its first word is the tty; optional `node=port` words
//!   pin a host to a relay port, for a host that has not said hello since the relay booted
//!   (without them, the relay's status names the ports).
//!
//! All three may name the same device: they then share one channel. A device named by `relay`
//! and also by `serial` is refused (ha.cf's parser).
//!
//! # The line
//!
//! Raw 8N1, `CLOCAL|CREAD`, no flow control, no input or output processing (8-bit COBS frames),
//! `O_NONBLOCK|O_NOCTTY`, and an exclusive `flock` so that a second hb process (the daemon and
//! a `stonith` command, two daemons) cannot interleave frames on one port. Writes go through a
//! queue of whole frames ([`TX_QUEUE_BYTES`]); a frame that does not fit is dropped whole and
//! counted, so the relay only ever sees whole frames.

use super::tty::{self, LineSetup};
use super::{CompactReader, MediumError, MediumErrorKind};
use hb_core::auth::Keyring;
use hb_core::msg::compact::Frame;
use hb_core::relay::{self as wire, FenceAction, FenceOutcome, PortFlags};
use hb_core::resources::FenceResult;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use watchdog::relay::{ClientError, ClientEvent, ClientStats, LinkState, RelayWatchdog};
use watchdog::Watchdog;

pub use watchdog::relay::LinkState as RelayLinkState;

/// The relay boards' UART speed (`boards/*`): 115 200 baud, 11.5 bytes per millisecond, so a
/// 59-byte heartbeat takes 5 ms on the line.
pub const DEFAULT_BAUD: u32 = hb_core::config::hacf::DEFAULT_RELAY_BAUD;
/// Bytes queued for the tty at most: eight of the longest relay-forwarded frames. A frame that
/// does not fit is dropped whole (the relay is not reading: powered off, unplugged).
pub const TX_QUEUE_BYTES: usize = 8 * wire::MAX_FRAME_LEN;
/// How often an unlinked channel says hello again: once a second, a tenth of the shortest
/// pet timeout, so a rebooted relay is linked again long before any watchdog matters.
pub const HELLO_RETRY: Duration = Duration::from_secs(1);
/// Default bound on one fence: the relay answers at the end of its 500 ms pulse; ten seconds
/// leaves room for a hello after a relay reboot and a status round trip.
pub const FENCE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a linked channel whose watchdog is not armed (and so sends no pets, which the
/// relay acknowledges) asks for the relay's status, to notice a relay that rebooted and
/// forgot the link: with no answer by the next check, it says hello again. Five seconds keeps
/// `hbctl status` honest at the cost of one ~125-byte status frame per host.
pub const LINK_CHECK: Duration = Duration::from_secs(5);
/// How often a linked channel asks the relay for its status, so that `hbctl status` shows the
/// board (hosts, armed watchdogs, resets) as it is: one ~125-byte frame per host every ten
/// seconds, and once right after each link.
pub const STATUS_REFRESH: Duration = Duration::from_secs(10);
/// Bytes read from the tty per `read(2)`.
const READ_CHUNK: usize = 1024;

/// A port of the relay as its last status described it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortInfo {
    pub port: u8,
    pub flags: PortFlags,
    /// The name the host on this port said hello with (empty if none).
    pub name: String,
    pub timeout_ms: u32,
    pub resets: u32,
    pub fences: u32,
}

/// What the loop may want to log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelEvent {
    /// The relay answered our hello: we are on `port` of its `ports`.
    Linked { port: u8, ports: u8 },
    /// A pet was acknowledged; the relay's watchdog for us runs with `timeout_ms` (0: off).
    PetAck { timeout_ms: u32 },
}

/// Counters of a channel (besides the protocol client's, [`RelayChannel::client_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChannelStats {
    pub heartbeats_in: u64,
    pub heartbeats_out: u64,
    pub relay_frames_in: u64,
    /// Relay frames that failed the MAC, link or counter checks (forged, replayed, stale).
    pub rejected: u64,
    /// Frames dropped because the send queue was full.
    pub tx_dropped: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
}

/// Whom to fence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FenceTarget {
    /// The relay port; `name`, if not empty, must be the name its host said hello with.
    Port { port: u8, name: String },
    /// The host that said hello with this name (found through the relay's status).
    Host(String),
}

/// How a fence request ended, seen from the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FenceReply {
    /// The relay answered: `Done` or why not.
    Relay(FenceOutcome),
    /// No port of the relay has a host of that name (and none was pinned in the config).
    NoSuchHost,
    /// No answer in time (the relay is unlinked, unplugged or rebooting).
    Timeout,
    /// The channel is gone (the loop ended) or the request could not be sent.
    Failed,
}

impl FenceReply {
    /// heartbeat's view: `Ok` only when the line did what was asked.
    pub fn result(self) -> FenceResult {
        match self {
            FenceReply::Relay(FenceOutcome::Done) => FenceResult::Ok,
            FenceReply::Relay(FenceOutcome::BadTarget | FenceOutcome::NameMismatch)
            | FenceReply::NoSuchHost => FenceResult::BadHost,
            _ => FenceResult::Failed,
        }
    }
}

/// An answer to a [`FenceHandle`] call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Fence(FenceReply),
    Status(Vec<PortInfo>),
    Timeout,
}

#[derive(Debug)]
enum CallKind {
    Fence {
        target: FenceTarget,
        action: FenceAction,
    },
    Status,
}

#[derive(Debug)]
struct Call {
    kind: CallKind,
    deadline: Instant,
    reply: mpsc::Sender<Reply>,
}

#[derive(Debug)]
enum Stage {
    /// Waiting for a status (to answer it, or to find a host's port).
    Status,
    /// Waiting for the fence result echoing `counter`.
    Fence { counter: u32 },
}

#[derive(Debug)]
struct InFlight {
    call: Call,
    stage: Stage,
}

/// The protocol client's port: frames are encoded into it, and the channel moves them to the
/// tty's queue. Never fails.
#[derive(Debug, Default)]
pub struct Outbox(Vec<u8>);

impl embedded_io::ErrorType for Outbox {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for Outbox {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The worker thread's side of a [`RelayChannel`]: see the module docs.
#[derive(Clone, Debug)]
pub struct FenceHandle {
    device: String,
    calls: mpsc::Sender<Call>,
    wake: Arc<UnixStream>,
}

impl FenceHandle {
    /// The channel's tty.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// Asks the relay to act on `target`'s reset line and waits at most `timeout` for its
    /// answer (the relay answers at the end of the pulse).
    pub fn fence(&self, target: FenceTarget, action: FenceAction, timeout: Duration) -> FenceReply {
        match self.call(CallKind::Fence { target, action }, timeout) {
            Reply::Fence(r) => r,
            Reply::Timeout => FenceReply::Timeout,
            Reply::Status(_) => FenceReply::Failed,
        }
    }

    /// The relay's ports as its status describes them, `None` without an answer in time.
    pub fn status(&self, timeout: Duration) -> Option<Vec<PortInfo>> {
        match self.call(CallKind::Status, timeout) {
            Reply::Status(p) => Some(p),
            _ => None,
        }
    }

    fn call(&self, kind: CallKind, timeout: Duration) -> Reply {
        let (tx, rx) = mpsc::channel();
        let call = Call {
            kind,
            deadline: Instant::now() + timeout,
            reply: tx,
        };
        if self.calls.send(call).is_err() {
            return Reply::Fence(FenceReply::Failed);
        }
        let _ = (&*self.wake).write(&[1]);
        match rx.recv_timeout(timeout + Duration::from_millis(50)) {
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) => Reply::Timeout,
            Err(mpsc::RecvTimeoutError::Disconnected) => Reply::Fence(FenceReply::Failed),
        }
    }
}

/// One serial port to the relay board: see the module docs.
pub struct RelayChannel {
    label: String,
    device: String,
    baud: u32,
    tty: nix::fcntl::Flock<File>,
    client: RelayWatchdog<Outbox>,
    reader: CompactReader,
    inbuf: Box<[u8; READ_CHUNK]>,
    in_pos: usize,
    in_len: usize,
    scratch: Vec<u8>,
    txq: VecDeque<u8>,
    last_hello: Option<Instant>,
    /// When the last relay frame came, or the last link check was sent.
    last_check: Instant,
    /// When we last asked for the relay's status on our own (None: not on this link yet).
    last_refresh: Option<Instant>,
    /// When the last status arrived.
    ports_at: Option<Instant>,
    /// A link check is out and no relay frame has come since.
    check_outstanding: bool,
    link_check: Duration,
    calls_rx: mpsc::Receiver<Call>,
    calls_tx: mpsc::Sender<Call>,
    wake_rx: UnixStream,
    wake_tx: Arc<UnixStream>,
    pending: VecDeque<Call>,
    inflight: Option<InFlight>,
    ports: Vec<PortInfo>,
    events: VecDeque<ChannelEvent>,
    stats: ChannelStats,
}

impl std::fmt::Debug for RelayChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayChannel")
            .field("device", &self.device)
            .field("state", &self.client.state())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// An owned copy of what a relay frame told us (the client's events borrow the frame).
enum Told {
    Linked { port: u8, ports: u8 },
    PetAck { timeout_ms: u32 },
    FenceResult { counter: u32, outcome: FenceOutcome },
    Status(Vec<PortInfo>),
}

impl RelayChannel {
    /// Opens and sets up the tty (module docs), and says hello as `name` (this node's name),
    /// signing with the active key of `keys` (the cluster's authkeys). The session seed comes
    /// from the kernel's random source.
    pub fn open(
        device: &str,
        baud: u32,
        keys: Keyring,
        name: &str,
    ) -> Result<RelayChannel, MediumError> {
        let label = format!("relay {device}");
        let err = |kind| MediumError::new(label.clone(), kind);
        let speed = tty::baud_rate(baud).ok_or_else(|| err(MediumErrorKind::Baud(baud)))?;
        let file = tty::open(device).map_err(err)?;
        let tty = tty::lock(file).map_err(err)?;
        tty::set_up(&tty, &line_setup(speed))
            .map_err(|e| err(MediumErrorKind::Termios(e.into())))?;
        let client = RelayWatchdog::new(Outbox::default(), keys, name.as_bytes(), session_seed())
            .map_err(|e| err(client_err(e)))?;
        let (wake_rx, wake_tx) = UnixStream::pair().map_err(|e| err(MediumErrorKind::Open(e)))?;
        // Both ends non-blocking: a worker never blocks on a loop that is not draining.
        for s in [&wake_rx, &wake_tx] {
            s.set_nonblocking(true)
                .map_err(|e| err(MediumErrorKind::Open(e)))?;
        }
        let (calls_tx, calls_rx) = mpsc::channel();
        let mut ch = RelayChannel {
            label,
            device: device.to_string(),
            baud,
            tty,
            client,
            reader: CompactReader::new(),
            inbuf: Box::new([0; READ_CHUNK]),
            in_pos: 0,
            in_len: 0,
            scratch: Vec::with_capacity(wire::MAX_FRAME_LEN),
            txq: VecDeque::with_capacity(TX_QUEUE_BYTES),
            last_hello: None,
            last_check: Instant::now(),
            last_refresh: None,
            ports_at: None,
            check_outstanding: false,
            link_check: LINK_CHECK,
            calls_rx,
            calls_tx,
            wake_rx,
            wake_tx: Arc::new(wake_tx),
            pending: VecDeque::new(),
            inflight: None,
            ports: Vec::new(),
            events: VecDeque::new(),
            stats: ChannelStats::default(),
        };
        ch.service(Instant::now())?;
        Ok(ch)
    }

    /// Opens the tty again after a hang-up (a USB adapter unplugged and plugged back in) and
    /// says hello: a new link. Half-read input and queued output are dropped; the worker's
    /// requests stay queued.
    pub fn reopen(&mut self) -> Result<(), MediumError> {
        let err = |kind| MediumError::new(self.label.clone(), kind);
        let speed =
            tty::baud_rate(self.baud).ok_or_else(|| err(MediumErrorKind::Baud(self.baud)))?;
        let file = tty::open(&self.device).map_err(err)?;
        // flock locks of two open descriptions of one file conflict even within a process:
        // the dead descriptor lets go first.
        // SAFETY: flock(2) on a descriptor we own; no memory is involved.
        unsafe {
            libc::flock(self.tty.as_raw_fd(), libc::LOCK_UN);
        }
        let tty = tty::lock(file).map_err(err)?;
        tty::set_up(&tty, &line_setup(speed))
            .map_err(|e| err(MediumErrorKind::Termios(e.into())))?;
        self.tty = tty;
        self.reader = CompactReader::new();
        self.in_pos = 0;
        self.in_len = 0;
        self.txq.clear();
        self.hello(Instant::now())
    }

    /// The device path (the link name in `hbctl status`).
    pub fn link_name(&self) -> &str {
        &self.device
    }

    /// The ha.cf directive of the medium role.
    pub fn kind(&self) -> &'static str {
        "relay"
    }

    /// Where we stand with the relay (for `hbctl status`: up when linked).
    pub fn link_state(&self) -> LinkState {
        self.client.state()
    }

    pub fn is_linked(&self) -> bool {
        matches!(self.client.state(), LinkState::Linked { .. })
    }

    /// The relay's ports as its last status described them.
    pub fn ports(&self) -> &[PortInfo] {
        &self.ports
    }

    /// When the status [`RelayChannel::ports`] shows arrived.
    pub fn ports_at(&self) -> Option<Instant> {
        self.ports_at
    }

    /// When to ask for the relay's status next (`now` when never on this link).
    fn refresh_due(&self, now: Instant) -> Option<Instant> {
        if !self.is_linked() || self.inflight.is_some() || !self.pending.is_empty() {
            return None;
        }
        Some(self.last_refresh.map_or(now, |t| t + STATUS_REFRESH))
    }

    pub fn stats(&self) -> ChannelStats {
        self.stats
    }

    pub fn client_stats(&self) -> ClientStats {
        self.client.stats()
    }

    /// The next thing worth logging, oldest first.
    pub fn next_event(&mut self) -> Option<ChannelEvent> {
        self.events.pop_front()
    }

    /// Changes the [`LINK_CHECK`] interval (tests; a site that wants quicker detection).
    pub fn set_link_check(&mut self, every: Duration) {
        self.link_check = every;
    }

    /// A handle for the action worker (module docs).
    pub fn fence_handle(&self) -> FenceHandle {
        FenceHandle {
            device: self.device.clone(),
            calls: self.calls_tx.clone(),
            wake: self.wake_tx.clone(),
        }
    }

    /// Readable when a [`FenceHandle`] has a request: then call [`RelayChannel::service`].
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake_rx.as_fd()
    }

    // ---- medium role ----

    /// Queues one compact-encoded heartbeat packet (a whole wire frame, 0x00-terminated) for
    /// the relay to forward, and writes what the tty takes now.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), MediumError> {
        if bytes.len() > wire::MAX_FRAME_LEN || bytes.last() != Some(&0) {
            return Err(self.err(MediumErrorKind::TooBig {
                len: bytes.len(),
                room: wire::MAX_FRAME_LEN,
            }));
        }
        if self.enqueue(bytes) {
            self.stats.heartbeats_out += 1;
        }
        self.flush()
    }

    /// [`RelayChannel::send`] under the name the issue gives it.
    pub fn send_heartbeat(&mut self, bytes: &[u8]) -> Result<(), MediumError> {
        self.send(bytes)
    }

    /// The next heartbeat frame another host sent through the relay, as it was on the wire,
    /// or `None` when the line has nothing more: **call it until `None`** after readiness. The
    /// relay's own frames are taken on the way (answers to pets and fences).
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, MediumError> {
        loop {
            while self.in_pos < self.in_len {
                let (used, frame) = self.reader.feed(&self.inbuf[self.in_pos..self.in_len]);
                self.in_pos += used;
                let Some(frame) = frame else { continue };
                if is_relay_wire(frame) {
                    self.scratch.clear();
                    self.scratch.extend_from_slice(frame);
                    self.take_relay_frame();
                    continue;
                }
                self.stats.heartbeats_in += 1;
                return match buf.get_mut(..frame.len()) {
                    Some(dst) => {
                        dst.copy_from_slice(frame);
                        Ok(Some(frame.len()))
                    }
                    None => {
                        let (len, room) = (frame.len(), buf.len());
                        Err(self.err(MediumErrorKind::TooBig { len, room }))
                    }
                };
            }
            match tty::read_step(&mut *self.tty, &mut self.inbuf[..]) {
                Ok(Some(n)) => {
                    self.stats.bytes_read += n as u64;
                    self.in_pos = 0;
                    self.in_len = n;
                }
                Ok(None) => return Ok(None),
                Err(kind) => return Err(self.err(kind)),
            }
        }
    }

    /// Whether the loop should also wait for the tty to become writable.
    pub fn wants_writable(&self) -> bool {
        !self.txq.is_empty()
    }

    /// Writes queued output (call when the tty is writable).
    pub fn poll_tx(&mut self, _now: Instant) -> Result<(), MediumError> {
        self.flush()
    }

    /// When [`RelayChannel::service`] must next run (a hello to repeat, a request to expire).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut at = |x: Instant| t = Some(t.map_or(x, |t| t.min(x)));
        if !self.is_linked() {
            at(self
                .last_hello
                .map_or_else(Instant::now, |h| h + HELLO_RETRY));
        }
        if self.needs_check() {
            at(self.last_check + self.link_check);
        }
        if let Some(f) = &self.inflight {
            at(f.call.deadline);
        }
        if let Some(r) = self.refresh_due(Instant::now()) {
            at(r);
        }
        for c in &self.pending {
            at(c.deadline);
        }
        t
    }

    /// The medium-shaped name of [`RelayChannel::poll_timeout`].
    pub fn tx_deadline(&self) -> Option<Instant> {
        self.poll_timeout()
    }

    /// Takes the worker's requests, repeats an unanswered hello, expires requests, starts the
    /// next request, and writes. Early or repeated calls are harmless.
    pub fn service(&mut self, now: Instant) -> Result<(), MediumError> {
        let mut drain = [0u8; 64];
        while matches!((&self.wake_rx).read(&mut drain), Ok(n) if n > 0) {}
        while let Ok(call) = self.calls_rx.try_recv() {
            self.pending.push_back(call);
        }
        if self
            .inflight
            .as_ref()
            .is_some_and(|f| f.call.deadline <= now)
        {
            if let Some(f) = self.inflight.take() {
                let _ = f.call.reply.send(Reply::Timeout);
            }
            // No answer: the relay may have forgotten us (rebooted). Link again.
            self.hello(now)?;
        }
        while self.pending.front().is_some_and(|c| c.deadline <= now) {
            if let Some(c) = self.pending.pop_front() {
                let _ = c.reply.send(Reply::Timeout);
            }
        }
        if !self.is_linked() && self.last_hello.is_none_or(|h| now >= h + HELLO_RETRY) {
            self.hello(now)?;
        }
        if self.needs_check() && now >= self.last_check + self.link_check {
            self.last_check = now;
            if std::mem::take(&mut self.check_outstanding) {
                // Nothing from the relay since the last check: it lost the link.
                self.hello(now)?;
            } else if self.client.request_status().is_ok() {
                self.check_outstanding = true;
            }
        }
        if self.refresh_due(now).is_some_and(|t| now >= t) {
            self.last_refresh = Some(now);
            let _ = self.client.request_status();
        }
        self.start_next();
        self.flush()
    }

    /// Runs one request on this thread (no daemon loop: the `stonith` command): submits it,
    /// then reads, services and waits on the tty until the answer or `timeout`. Heartbeat
    /// frames that arrive meanwhile are dropped.
    pub fn call_blocking(
        &mut self,
        what: Option<(FenceTarget, FenceAction)>,
        timeout: Duration,
    ) -> Reply {
        let (tx, rx) = mpsc::channel();
        let kind = match what {
            Some((target, action)) => CallKind::Fence { target, action },
            None => CallKind::Status,
        };
        let deadline = Instant::now() + timeout;
        self.pending.push_back(Call {
            kind,
            deadline,
            reply: tx,
        });
        let mut buf = vec![0u8; super::COMPACT_FRAME_MAX];
        loop {
            let now = Instant::now();
            if self.service(now).is_err() {
                return Reply::Fence(FenceReply::Failed);
            }
            if let Ok(r) = rx.try_recv() {
                return r;
            }
            if now >= deadline {
                return Reply::Timeout;
            }
            let wait = self
                .poll_timeout()
                .unwrap_or(deadline)
                .min(deadline)
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            let mut fds = [nix::poll::PollFd::new(
                self.tty.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
            let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms));
            loop {
                match self.recv(&mut buf) {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => break,
                }
            }
            if let Ok(r) = rx.try_recv() {
                return r;
            }
        }
    }

    /// Writes what is queued, waiting at most `timeout` for the tty: for a clean shutdown,
    /// after [`Watchdog::disarm`], so that the disarming pet is on the line before the port
    /// closes (else the relay would reset a host that stopped on purpose). Returns whether
    /// everything was written.
    pub fn close(mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.flush().is_err() {
                return false;
            }
            if self.txq.is_empty() {
                // The kernel holds the bytes; wait for them to leave the UART, within bounds.
                let _ = nix::sys::termios::tcdrain(&*self.tty);
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let ms = u16::try_from((deadline - now).as_millis()).unwrap_or(u16::MAX);
            let mut fds = [nix::poll::PollFd::new(
                self.tty.as_fd(),
                nix::poll::PollFlags::POLLOUT,
            )];
            let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms));
        }
    }

    // ---- inside ----

    fn err(&self, kind: MediumErrorKind) -> MediumError {
        MediumError::new(self.label.clone(), kind)
    }

    /// Whether the link is checked by status requests: linked, unarmed (pets are acknowledged
    /// and the client counts the missing acks itself) and no request of the worker's in flight
    /// (which has its own deadline).
    fn needs_check(&self) -> bool {
        self.is_linked()
            && self.client.timeout().is_none()
            && self.inflight.is_none()
            && self.pending.is_empty()
    }

    fn hello(&mut self, now: Instant) -> Result<(), MediumError> {
        self.last_hello = Some(now);
        self.client.hello().map_err(|e| self.err(client_err(e)))?;
        self.flush()
    }

    /// Moves the client's frames to the send queue and writes.
    fn flush(&mut self) -> Result<(), MediumError> {
        let out = std::mem::take(&mut self.client.port_mut().0);
        // The outbox holds whole frames, each ending in 0x00.
        for frame in out.split_inclusive(|&b| b == 0) {
            self.enqueue(frame);
        }
        let mut back = out;
        back.clear();
        self.client.port_mut().0 = back;
        while !self.txq.is_empty() {
            let (head, _) = self.txq.as_slices();
            match self.tty.write(head) {
                Ok(0) => break,
                Ok(n) => {
                    self.stats.bytes_written += n as u64;
                    self.txq.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                    return Err(self.err(MediumErrorKind::Hangup))
                }
                Err(e) => return Err(self.err(MediumErrorKind::Write(e))),
            }
        }
        Ok(())
    }

    /// Queues a whole frame if it fits; counts it dropped otherwise.
    fn enqueue(&mut self, frame: &[u8]) -> bool {
        if self.txq.len() + frame.len() > TX_QUEUE_BYTES {
            self.stats.tx_dropped += 1;
            return false;
        }
        self.txq.extend(frame);
        true
    }

    fn take_relay_frame(&mut self) {
        self.stats.relay_frames_in += 1;
        let told = {
            let Ok(frame) = Frame::unstuff(&mut self.scratch) else {
                return;
            };
            match self.client.handle_frame(&frame) {
                Ok(Some(ClientEvent::Linked { port, ports, .. })) => Told::Linked { port, ports },
                Ok(Some(ClientEvent::PetAck { timeout_ms })) => Told::PetAck { timeout_ms },
                Ok(Some(ClientEvent::FenceResult {
                    counter, outcome, ..
                })) => Told::FenceResult { counter, outcome },
                Ok(Some(ClientEvent::Status(s))) => Told::Status(
                    s.ports()
                        .enumerate()
                        .map(|(i, p)| PortInfo {
                            port: i as u8,
                            flags: p.flags,
                            name: String::from_utf8_lossy(p.name).into_owned(),
                            timeout_ms: p.timeout_ms,
                            resets: p.resets,
                            fences: p.fences,
                        })
                        .collect(),
                ),
                Ok(None) => return,
                Err(_) => {
                    self.stats.rejected += 1;
                    return;
                }
            }
        };
        // Any fresh, authentic frame from the relay shows the link works.
        self.check_outstanding = false;
        self.last_check = Instant::now();
        match told {
            Told::Linked { port, ports } => {
                self.events.push_back(ChannelEvent::Linked { port, ports });
                // The relay takes our name, and retires our old link, only once we use the
                // new one (PROTOCOL.md §4). Armed, the client has just pet on it; if not, a
                // status request uses it, and tells us the other ports' hosts.
                if self.client.timeout().is_none() {
                    let _ = self.client.request_status();
                    self.last_refresh = Some(Instant::now());
                } else {
                    // Asked at the next service, behind the pet that takes the link.
                    self.last_refresh = None;
                }
            }
            Told::PetAck { timeout_ms } => {
                self.events.push_back(ChannelEvent::PetAck { timeout_ms });
            }
            Told::FenceResult { counter, outcome } => {
                if matches!(self.inflight, Some(InFlight { stage: Stage::Fence { counter: c }, .. }) if c == counter)
                {
                    if let Some(f) = self.inflight.take() {
                        let _ = f.call.reply.send(Reply::Fence(FenceReply::Relay(outcome)));
                    }
                }
            }
            Told::Status(ports) => {
                self.ports = ports;
                self.ports_at = Some(Instant::now());
                if matches!(
                    self.inflight,
                    Some(InFlight {
                        stage: Stage::Status,
                        ..
                    })
                ) {
                    if let Some(f) = self.inflight.take() {
                        self.status_answered(f);
                    }
                }
            }
        }
        self.start_next();
        let _ = self.flush();
    }

    /// A status came for the request in flight: answer it, or fence the host's port.
    fn status_answered(&mut self, f: InFlight) {
        match f.call.kind {
            CallKind::Status => {
                let _ = f.call.reply.send(Reply::Status(self.ports.clone()));
            }
            CallKind::Fence {
                target: FenceTarget::Host(ref name),
                action,
            } => {
                let port = self
                    .ports
                    .iter()
                    .find(|p| {
                        p.flags.contains(PortFlags::LINKED) && p.name.eq_ignore_ascii_case(name)
                    })
                    .or_else(|| {
                        self.ports
                            .iter()
                            .find(|p| p.name.eq_ignore_ascii_case(name))
                    })
                    .map(|p| (p.port, p.name.clone()));
                let Some((port, name)) = port else {
                    let _ = f.call.reply.send(Reply::Fence(FenceReply::NoSuchHost));
                    return;
                };
                self.send_fence(f.call, port, &name, action);
            }
            CallKind::Fence { .. } => {
                let _ = f.call.reply.send(Reply::Fence(FenceReply::Failed));
            }
        }
    }

    fn send_fence(&mut self, call: Call, port: u8, name: &str, action: FenceAction) {
        match self.client.fence(port, action, name.as_bytes()) {
            Ok(counter) => {
                self.inflight = Some(InFlight {
                    call,
                    stage: Stage::Fence { counter },
                });
            }
            Err(_) => {
                // Not linked after all (a spent counter, a bad name): wait in line again.
                if wire::name_is_valid(name.as_bytes()) {
                    self.pending.push_front(call);
                } else {
                    let _ = call.reply.send(Reply::Fence(FenceReply::Failed));
                }
            }
        }
    }

    /// Puts the next waiting request on the line, if the line is free and linked.
    fn start_next(&mut self) {
        if self.inflight.is_some() || !self.is_linked() {
            return;
        }
        let Some(call) = self.pending.pop_front() else {
            return;
        };
        match &call.kind {
            CallKind::Fence {
                target: FenceTarget::Port { port, name },
                action,
            } => {
                let (port, name, action) = (*port, name.clone(), *action);
                self.send_fence(call, port, &name, action);
            }
            CallKind::Fence {
                target: FenceTarget::Host(_),
                ..
            }
            | CallKind::Status => match self.client.request_status() {
                Ok(_) => {
                    self.inflight = Some(InFlight {
                        call,
                        stage: Stage::Status,
                    })
                }
                Err(_) => self.pending.push_front(call),
            },
        }
    }
}

/// The watchdog role: [`RelayWatchdog`]'s, with the frames written to the tty.
impl Watchdog for RelayChannel {
    type Error = MediumError;

    fn arm(&mut self, timeout: watchdog::Duration) -> Result<watchdog::Duration, MediumError> {
        let t = self
            .client
            .arm(timeout)
            .map_err(|e| self.err(client_err(e)))?;
        self.flush()?;
        Ok(t)
    }

    fn pet(&mut self) -> Result<(), MediumError> {
        self.client.pet().map_err(|e| self.err(client_err(e)))?;
        self.flush()
    }

    fn disarm(&mut self) -> Result<(), MediumError> {
        self.client.disarm().map_err(|e| self.err(client_err(e)))?;
        self.flush()
    }
}

impl AsFd for RelayChannel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.tty.as_fd()
    }
}

impl AsRawFd for RelayChannel {
    fn as_raw_fd(&self) -> RawFd {
        self.tty.as_raw_fd()
    }
}

/// Whether a complete wire frame (COBS-stuffed, 0x00-terminated) is a relay frame: header bit
/// 7. The first COBS code byte says where the first zero is; a code of 1 means the header
/// byte itself is 0 (an unsigned class-0 frame).
fn is_relay_wire(frame: &[u8]) -> bool {
    match frame {
        [1, ..] => false,
        [_, header, ..] => header & 0x80 != 0,
        _ => false,
    }
}

fn client_err(e: ClientError<core::convert::Infallible>) -> MediumErrorKind {
    match e {
        ClientError::Io(never) => match never {},
        ClientError::Encode(e) => {
            MediumErrorKind::Write(std::io::Error::other(format!("relay frame: {e}")))
        }
        ClientError::NotLinked => MediumErrorKind::Write(std::io::Error::other(
            "the relay has not answered our hello",
        )),
    }
}

/// An unpredictable session seed from the kernel (PROTOCOL.md §4); the clock and pid if the
/// random source cannot be read.
fn session_seed() -> u64 {
    let mut b = [0u8; 8];
    if File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
    {
        return u64::from_le_bytes(b);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ (u64::from(std::process::id()) << 32)
}

// ---- configuration ----

/// The relay line: raw, no flow control (the boards wire TX, RX and ground only), a read
/// returns as soon as one byte is there.
fn line_setup(speed: nix::sys::termios::BaudRate) -> LineSetup {
    LineSetup {
        speed,
        input: None,
        hw_flow: false,
        vtime: 0,
        send_break: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_frames_are_told_apart_on_the_wire() {
        assert!(!is_relay_wire(&[1, 1, 0]));
        assert!(is_relay_wire(&[3, 0xb1, 1, 0]));
        assert!(!is_relay_wire(&[3, 0x31, 1, 0]));
        assert_eq!(
            FenceReply::Relay(FenceOutcome::NameMismatch).result(),
            FenceResult::BadHost
        );
        assert_eq!(FenceReply::Timeout.result(), FenceResult::Failed);
        // A lost fence race is a failed fence: the loser takes nothing over.
        assert_eq!(
            FenceReply::Relay(FenceOutcome::LostRace).result(),
            FenceResult::Failed
        );
    }
}
