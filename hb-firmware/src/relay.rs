//! The [`Relay`] state machine.

mod provision;
mod send;

pub use provision::FIRMWARE_VERSION;

use crate::buffers::TxQueue;
use crate::keystore::StoredKey;
use crate::{EVENT_QUEUE_LEN, MAX_LOOP_GAP, READ_BUDGET, TX_QUEUE_LEN};
use core::borrow::BorrowMut;
use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;
use embedded_hal::digital::OutputPin;
use embedded_io::{Read, ReadReady, Write, WriteReady};
use hb_core::auth::{Keyring, MAX_KEYS};
use hb_core::msg::compact::{self, Collected, Frame, FrameCollector};
use hb_core::msg::EncodeError;
use hb_core::relay::{
    self, Body, Counter, FenceAction, FenceOutcome, FencedAt, PortFlags, RelayError, RelayFrame,
    ReplayGuard, MAX_FRAME_LEN, MAX_NAME_LEN, MAX_PET_TIMEOUT, MAX_PORTS, MIN_PET_TIMEOUT,
    RESET_PULSE, VERSION,
};
use hb_core::time::{Duration, Instant};
use watchdog::Watchdog;

/// The electrical level that asserts a reset line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Level {
    High,
    Low,
}

/// What a board tells the relay at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// Must differ at every boot: a hardware random number, or a counter kept across resets
    /// (flash, backup registers). It is the high half of every link id, so a host's frames
    /// recorded before a reboot of the relay are refused after it.
    pub boot_id: u32,
    /// The level that asserts the reset lines. The other level is driven at the first poll.
    pub reset_active: Level,
}

/// Something that happened, for the board to log or act on. With the `defmt` feature the
/// relay also logs each one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event {
    /// A host said hello (a link is offered; it counts once the host uses it).
    Hello { port: u8 },
    /// A host's first frame on its new link: the port is linked.
    Linked { port: u8 },
    /// The port's watchdog was armed, or its timeout changed.
    Armed { port: u8, timeout_ms: u32 },
    /// The host disarmed its watchdog (a pet with timeout 0).
    Disarmed { port: u8 },
    /// The host stopped petting: its reset pulse has started.
    WatchdogReset { port: u8 },
    /// A fence request was accepted and acted on.
    FenceStarted {
        requester: u8,
        target: u8,
        action: FenceAction,
    },
    /// A reset pulse ended (the line is released, or held for `off`).
    PulseDone { port: u8 },
    /// A fence request was answered.
    FenceDone {
        requester: u8,
        target: u8,
        action: FenceAction,
        outcome: FenceOutcome,
    },
    /// A relay frame was refused: forged, stale, replayed or malformed.
    Rejected { port: u8, reason: RelayError },
    /// A reset line could not be driven; it is retried at every poll.
    PinFault { port: u8 },
    /// A key request was answered: with `stored`, the key with `index` is in use (and every
    /// link forgotten); without, the flash refused it and the old key stays.
    KeyStored { port: u8, index: u8, stored: bool },
    /// Test builds (`test-hang`): a host asked the relay to hang. [`Relay::healthy`] is false
    /// from now on; a board proving its watchdog also stops its main loop.
    Hang,
}

/// Counters of one port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PortStats {
    pub rx_bytes: u32,
    /// Heartbeat frames received and forwarded to the other ports.
    pub heartbeats: u32,
    /// Frames lost to noise: bad stuffing or CRC.
    pub garbage: u32,
    /// Frames longer than [`MAX_FRAME_LEN`].
    pub oversize: u32,
    /// Relay frames with a MAC that does not verify, or none.
    pub bad_auth: u32,
    /// Relay frames on a stale link or with an old counter.
    pub replays: u32,
    /// Relay frames that verify but make no sense (bad fields, wrong direction, unknown type).
    pub malformed: u32,
    /// Frames for this port dropped because its send queue was full.
    pub tx_dropped: u32,
    pub io_errors: u32,
    pub pin_errors: u32,
    /// Reset pulses the watchdog gave this port's host.
    pub resets: u32,
    /// Fence actions executed on this port's line.
    pub fences: u32,
}

impl PortStats {
    /// Everything refused that carried the relay's frame class.
    pub fn rejected(&self) -> u32 {
        self.bad_auth
            .wrapping_add(self.replays)
            .wrapping_add(self.malformed)
    }

    /// Everything lost to noise.
    pub fn lost(&self) -> u32 {
        self.garbage.wrapping_add(self.oversize)
    }
}

/// The relay: ports, reset lines, links and watchdogs. See the crate docs.
///
/// Its memory apart from the ports and pins is a [`Storage`], which the relay owns (`S` =
/// `Storage<N>`, [`Relay::new`]) or borrows (`S` = `&'static mut Storage<N, K>`,
/// [`Relay::with_storage`]): a board keeps the storage in a static built in place, so none of
/// it is ever on the stack. `K` is the number of keys the storage has room for.
pub struct Relay<P, R, const N: usize, S = Storage<N>, const K: usize = MAX_KEYS> {
    ports: [P; N],
    lines: [ResetLine<R>; N],
    storage: S,
    config: Config,
    hellos: u32,
    booted: Option<Instant>,
    last_poll: Option<Instant>,
    clock_fault: bool,
    hung: bool,
    events_lost: u32,
    /// What an info answer says: one of `hb_core::relay`'s `BOOT_*` and `KEY_SOURCE_*`.
    boot_cause: u8,
    key_source: u8,
}

impl<P, R, const N: usize, S: BorrowMut<Storage<N, K>>, const K: usize> core::fmt::Debug
    for Relay<P, R, N, S, K>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Relay")
            .field("ports", &N)
            .field("config", &self.config)
            .field("hosts", &self.storage.borrow().hosts)
            .field("hellos", &self.hellos)
            .field("last_poll", &self.last_poll)
            .field("hung", &self.hung)
            .finish_non_exhaustive()
    }
}

/// The relay's memory besides its ports and pins: the keys, a receive buffer and a send queue
/// per port, what it knows of each host, and its events. A board builds it in place in a
/// static with [`Storage::init`], loads the keys with [`Storage::keys_mut`] and lends it to
/// [`Relay::with_storage`]. It has room for `K` keys (88 bytes each): a board sizes it for the
/// keys of the `authkeys` it is built with.
pub struct Storage<const N: usize, const K: usize = MAX_KEYS> {
    keys: Keyring<K>,
    /// Each port's frame being received, still stuffed: a heartbeat is forwarded from here
    /// byte for byte, a relay frame is unstuffed in place here.
    rx: [FrameCollector<MAX_FRAME_LEN>; N],
    /// Each port's frames to send. The relay's own frames are encoded straight into it.
    tx: [TxQueue<TX_QUEUE_LEN>; N],
    hosts: [Host; N],
    events: heapless::Deque<Event, EVENT_QUEUE_LEN>,
    /// A key request taken, waiting for the board to write the key ([`Relay::commit_key`]).
    pending_key: Option<PendingKey>,
}

impl<const N: usize, const K: usize> core::fmt::Debug for Storage<N, K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Storage")
            .field("keys", &self.keys)
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

impl<const N: usize, const K: usize> Default for Storage<N, K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, const K: usize> Storage<N, K> {
    /// Empty: no keys, no hosts, nothing queued.
    pub const fn new() -> Self {
        Storage {
            keys: Keyring::empty(),
            rx: [const { FrameCollector::new() }; N],
            tx: [const { TxQueue::new() }; N],
            hosts: [const { Host::new() }; N],
            events: heapless::Deque::new(),
            pending_key: None,
        }
    }

    /// Builds an empty storage in `slot` (a `static`'s `MaybeUninit`, in `.bss`) and returns
    /// it. Each part is written straight into the slot: `slot.write(Storage::new())` builds
    /// the whole value on the stack first (measured: 6 KiB of stack for four ports), and a
    /// `static` initialised with `Storage::new()` lands in `.data`, a copy in flash, because
    /// an empty keyring is not all zeros.
    // Not inlined: the empty keyring is still built on the stack (88 bytes a key), and inlined
    // into the board's `main` that frame would stay for good, under every `poll`.
    #[inline(never)]
    #[allow(unsafe_code)]
    pub fn init(slot: &mut MaybeUninit<Self>) -> &mut Self {
        let p = slot.as_mut_ptr();
        // SAFETY: `p` points to `slot`, valid for writes and aligned for `Self`; every field
        // (every element of the arrays) is written once through a raw pointer, without
        // reading or referencing the uninitialised memory, so the whole is initialised before
        // `assume_init_mut`.
        unsafe {
            addr_of_mut!((*p).keys).write(Keyring::empty());
            let rx = addr_of_mut!((*p).rx).cast::<FrameCollector<MAX_FRAME_LEN>>();
            let tx = addr_of_mut!((*p).tx).cast::<TxQueue<TX_QUEUE_LEN>>();
            let hosts = addr_of_mut!((*p).hosts).cast::<Host>();
            for i in 0..N {
                rx.add(i).write(FrameCollector::new());
                tx.add(i).write(TxQueue::new());
                hosts.add(i).write(Host::new());
            }
            addr_of_mut!((*p).events).write(heapless::Deque::new());
            addr_of_mut!((*p).pending_key).write(None);
            slot.assume_init_mut()
        }
    }

    /// The keys the relay verifies and signs with (the cluster's `authkeys`; the active key
    /// signs its answers). Load them before [`Relay::with_storage`].
    pub fn keys_mut(&mut self) -> &mut Keyring<K> {
        &mut self.keys
    }
}

/// What the relay knows of the host on one port.
#[derive(Debug)]
struct Host {
    name: heapless::Vec<u8, MAX_NAME_LEN>,
    link: Option<Link>,
    /// Offered by our identify, taken by the host's first frame on it. Until then the old
    /// link keeps working, so a replayed hello cannot cut a host off.
    pending: Option<Pending>,
    armed: Option<Armed>,
    last_pet: Option<Instant>,
    watchdog_fired: bool,
    /// This host's own fence request under way.
    fence: Option<PendingFence>,
    stats: PortStats,
}

impl Host {
    const fn new() -> Self {
        Host {
            name: heapless::Vec::new(),
            link: None,
            pending: None,
            armed: None,
            last_pet: None,
            watchdog_fired: false,
            fence: None,
            stats: PortStats {
                rx_bytes: 0,
                heartbeats: 0,
                garbage: 0,
                oversize: 0,
                bad_auth: 0,
                replays: 0,
                malformed: 0,
                tx_dropped: 0,
                io_errors: 0,
                pin_errors: 0,
                resets: 0,
                fences: 0,
            },
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Link {
    /// Our id of the link and the host's last counter on it.
    rx: ReplayGuard,
    /// The host's session: the `link` field of our frames to it.
    session: u64,
    tx: Counter,
}

#[derive(Debug)]
struct Pending {
    link: u64,
    session: u64,
    tx: Counter,
    name: heapless::Vec<u8, MAX_NAME_LEN>,
}

#[derive(Clone, Copy, Debug)]
struct Armed {
    timeout: Duration,
    deadline: Instant,
}

#[derive(Clone, Copy, Debug)]
struct PendingFence {
    target: u8,
    action: FenceAction,
    counter: u32,
}

/// A reset output and what it should be doing.
#[derive(Debug)]
struct ResetLine<R> {
    pin: R,
    state: LineState,
    /// The level last driven successfully: `Some(true)` asserted.
    driven: Option<bool>,
    /// Whether the line was really asserted since the current pulse began: a fence is done
    /// only if it was.
    took: bool,
    /// When another host last fenced this line's host: it may not fence others within the
    /// fence window (issue 12's fence races). Here it fits in the record's padding.
    fenced: FencedAt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineState {
    Idle,
    /// Asserted until `until`, then released or (for `off`) held.
    Pulse {
        until: Instant,
        hold: bool,
    },
    Held,
}

impl LineState {
    fn asserted(self) -> bool {
        self != LineState::Idle
    }

    /// Settled: not in the middle of a pulse.
    fn settled(self) -> bool {
        !matches!(self, LineState::Pulse { .. })
    }
}

/// A key request taken and not yet written to flash.
#[derive(Debug)]
struct PendingKey {
    port: u8,
    /// Where the answer goes: the `link` of the key result.
    session: u64,
    key: StoredKey,
}

/// A host → relay frame, copied out of the receive buffer.
enum Request {
    /// A key request, its MAC checked (with the key it carries, or the relay's).
    Key {
        session: u64,
        key: StoredKey,
    },
    Hello {
        session: u64,
        name: heapless::Vec<u8, MAX_NAME_LEN>,
    },
    Pet {
        timeout_ms: u32,
    },
    Fence {
        target: u8,
        action: FenceAction,
        name: heapless::Vec<u8, MAX_NAME_LEN>,
    },
    Status,
    Hang,
}

impl<P, R, const N: usize> Relay<P, R, N>
where
    P: Read + Write + ReadReady + WriteReady,
    R: OutputPin,
{
    /// A relay over `ports` and their reset lines (same order), verifying and signing with
    /// `keys` (the cluster's `authkeys`; the active key signs our answers). It owns its
    /// [`Storage`] (several KiB, see the crate docs): a board rather uses
    /// [`Relay::with_storage`].
    pub fn new(config: Config, keys: Keyring, ports: [P; N], resets: [R; N]) -> Self {
        let mut storage = Storage::new();
        storage.keys = keys;
        Relay::with_storage(storage, config, ports, resets)
    }
}

impl<P, R, const N: usize, S, const K: usize> Relay<P, R, N, S, K>
where
    P: Read + Write + ReadReady + WriteReady,
    R: OutputPin,
    S: BorrowMut<Storage<N, K>>,
{
    const PORTS_OK: () = assert!(N >= 1 && N <= MAX_PORTS, "a relay has 1 to 4 ports");

    /// A relay over `ports` and their reset lines (same order) in `storage`, whose keys it
    /// verifies and signs with. Whatever else the storage holds is forgotten.
    pub fn with_storage(mut storage: S, config: Config, ports: [P; N], resets: [R; N]) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::PORTS_OK;
        let st = storage.borrow_mut();
        for rx in &mut st.rx {
            *rx = FrameCollector::new();
        }
        for tx in &mut st.tx {
            *tx = TxQueue::new();
        }
        for h in &mut st.hosts {
            *h = Host::new();
        }
        st.events.clear();
        st.pending_key = None;
        let key_source = if st.keys.active().is_some() {
            relay::KEY_SOURCE_IMAGE
        } else {
            relay::KEY_SOURCE_NONE
        };
        Relay {
            ports,
            lines: resets.map(|pin| ResetLine {
                pin,
                state: LineState::Idle,
                driven: None,
                took: false,
                fenced: FencedAt::NEVER,
            }),
            storage,
            config,
            hellos: 0,
            booted: None,
            last_poll: None,
            clock_fault: false,
            hung: false,
            events_lost: 0,
            boot_cause: relay::BOOT_UNKNOWN,
            key_source,
        }
    }

    /// Services everything once at time `now`: reads the ports, forwards and answers, runs
    /// the watchdogs and pulses, writes what the ports take. Returns the next instant at which
    /// a timer falls due, for a board that sleeps until then (or until a byte arrives).
    /// Calling it early, late or twice at the same time is harmless.
    pub fn poll(&mut self, now: Instant) -> Option<Instant> {
        if self.last_poll.is_some_and(|t| now < t) {
            // A clock that runs backwards makes every timer wrong: stop feeding the chip's
            // watchdog and let it restart us.
            self.clock_fault = true;
        }
        self.booted.get_or_insert(now);
        for i in 0..N {
            self.receive(i, now);
        }
        self.run_timers(now);
        self.drive_lines();
        for i in 0..N {
            self.transmit(i);
        }
        self.last_poll = Some(now);
        self.next_deadline()
    }

    /// Whether the chip's watchdog may be fed: [`Relay::poll`] ran within [`MAX_LOOP_GAP`]
    /// before `now`, the clock never ran backwards, every line that should be released is, no
    /// pulse is overdue, and no test hang was asked for.
    pub fn healthy(&self, now: Instant) -> bool {
        let polled = self
            .last_poll
            .is_some_and(|t| now >= t && now.saturating_since(t) <= MAX_LOOP_GAP);
        let lines_ok = self.lines.iter().all(|l| {
            let released = l.state.asserted() || l.driven == Some(false);
            let on_time = match l.state {
                LineState::Pulse { until, .. } => now <= until + MAX_LOOP_GAP,
                _ => true,
            };
            released && on_time
        });
        polled && lines_ok && !self.clock_fault && !self.hung
    }

    /// Pets the chip's watchdog if [`Relay::healthy`]; returns whether it did.
    pub fn feed_if_healthy<W: Watchdog>(&self, now: Instant, chip: &mut W) -> bool {
        self.healthy(now) && chip.pet().is_ok()
    }

    /// The next event, oldest first.
    pub fn next_event(&mut self) -> Option<Event> {
        self.storage.borrow_mut().events.pop_front()
    }

    /// Events dropped because nobody took them in time.
    pub fn events_lost(&self) -> u32 {
        self.events_lost
    }

    /// Counters of port `i`.
    pub fn port_stats(&self, i: usize) -> Option<PortStats> {
        self.storage.borrow().hosts.get(i).map(|h| h.stats)
    }

    /// The name port `i`'s host said hello with (empty before).
    pub fn host_name(&self, i: usize) -> &[u8] {
        self.storage.borrow().hosts.get(i).map_or(&[], |h| &h.name)
    }

    /// Whether port `i`'s reset line is asserted now.
    pub fn line_asserted(&self, i: usize) -> bool {
        self.lines.get(i).is_some_and(|l| l.state.asserted())
    }

    /// The state bits port `i` would report in a status frame.
    pub fn port_flags(&self, i: usize) -> PortFlags {
        match (self.storage.borrow().hosts.get(i), self.lines.get(i)) {
            (Some(h), Some(l)) => flags(h, l.state),
            _ => PortFlags::default(),
        }
    }

    pub fn port(&self, i: usize) -> Option<&P> {
        self.ports.get(i)
    }

    pub fn port_mut(&mut self, i: usize) -> Option<&mut P> {
        self.ports.get_mut(i)
    }

    pub fn reset_pin(&self, i: usize) -> Option<&R> {
        self.lines.get(i).map(|l| &l.pin)
    }

    // ---- receiving ----

    fn receive(&mut self, i: usize, now: Instant) {
        let mut budget = READ_BUDGET;
        let mut chunk = [0u8; 64];
        while budget > 0 {
            let Some(port) = self.ports.get_mut(i) else {
                return;
            };
            match port.read_ready() {
                Ok(true) => {}
                Ok(false) => return,
                Err(_) => return self.count_io_error(i),
            }
            let want = budget.min(chunk.len());
            let n = match port.read(chunk.get_mut(..want).unwrap_or_default()) {
                Ok(0) => return,
                Ok(n) => n.min(want),
                Err(_) => return self.count_io_error(i),
            };
            budget -= n;
            if let Some(h) = self.storage.borrow_mut().hosts.get_mut(i) {
                h.stats.rx_bytes = h.stats.rx_bytes.wrapping_add(n as u32);
            }
            for &b in chunk.get(..n).unwrap_or_default() {
                self.receive_byte(i, b, now);
            }
        }
    }

    fn receive_byte(&mut self, i: usize, b: u8, now: Instant) {
        let Some(rx) = self.storage.borrow_mut().rx.get_mut(i) else {
            return;
        };
        match rx.push(b) {
            None => {}
            Some(Collected::Oversize) => self.count(i, |s| &mut s.oversize),
            Some(Collected::Frame(len)) => self.handle_frame(i, len, now),
        }
    }

    /// Handles the frame of `len` stuffed bytes in port `i`'s receive buffer.
    fn handle_frame(&mut self, i: usize, len: usize, now: Instant) {
        let st = self.storage.borrow_mut();
        let Some(rx) = st.rx.get_mut(i) else {
            return;
        };
        // A heartbeat (class 0, stuffing and CRC good) is checked without unstuffing, so it
        // can be forwarded straight from the receive buffer; anything else is unstuffed in
        // place there, which no second frame-sized buffer is needed for.
        if compact::looks_like_frame(rx.frame(len)) {
            // A relay without a key forwards nothing: it is not part of any cluster yet.
            if st.keys.active().is_none() {
                return;
            }
            return self.forward(i, len);
        }
        // Provisioning's frames (PROTOCOL.md §3.4) take their own path, told apart by their
        // type byte while still stuffed, so none of it weighs on this one, the relay's deepest.
        let raw = rx.frame(len);
        let kind = raw
            .get(2)
            .copied()
            .filter(|_| raw.first().is_some_and(|&c| c >= 3));
        if provision::diverts(kind, &st.keys) {
            return self.provisioning_frame(i, len, now);
        }
        let frame = match Frame::unstuff(rx.frame_mut(len)) {
            Ok(f) => f,
            Err(_) => return self.count(i, |s| &mut s.garbage),
        };
        if !relay::is_relay_frame(&frame) {
            // `looks_like_frame` takes every good class-0 frame, so this is a frame it and
            // `unstuff` disagree on: its bytes are gone, count it as noise.
            return self.count(i, |s| &mut s.garbage);
        }
        let parsed = relay::decode(&frame, &st.keys).and_then(|f| {
            let req = request(&f)?;
            Ok((f.link, f.counter, req))
        });
        match parsed {
            Ok((link, counter, req)) => self.handle_request(i, link, counter, req, now),
            Err(e) => self.reject(i, e),
        }
    }

    /// Sends the heartbeat frame of `len` stuffed bytes in port `from`'s receive buffer,
    /// unchanged, to every other port.
    fn forward(&mut self, from: usize, len: usize) {
        self.count(from, |s| &mut s.heartbeats);
        let st = self.storage.borrow_mut();
        let raw = st.rx.get(from).map_or(&[][..], |rx| rx.frame(len));
        for (j, (tx, host)) in st.tx.iter_mut().zip(&mut st.hosts).enumerate() {
            if j != from && !tx.push_frame(raw, true) {
                host.stats.tx_dropped = host.stats.tx_dropped.wrapping_add(1);
            }
        }
    }

    fn reject(&mut self, i: usize, reason: RelayError) {
        let counter: fn(&mut PortStats) -> &mut u32 = match reason {
            RelayError::Auth(_) | RelayError::Unsigned => |s| &mut s.bad_auth,
            RelayError::StaleLink | RelayError::Replay => |s| &mut s.replays,
            RelayError::Frame(_) => |s| &mut s.garbage,
            _ => |s| &mut s.malformed,
        };
        self.count(i, counter);
        self.push_event(Event::Rejected {
            port: i as u8,
            reason,
        });
    }

    fn handle_request(&mut self, i: usize, link: u64, counter: u32, req: Request, now: Instant) {
        if let Request::Key { session, key } = req {
            return self.take_key(i, link, counter, session, key);
        }
        if let Request::Hello { session, name } = req {
            if link != 0 || counter != 0 {
                return self.reject(i, RelayError::Malformed { at: 2 });
            }
            return self.hello(i, session, name);
        }
        if let Err(e) = self.accept_on_link(i, link, counter) {
            return self.reject(i, e);
        }
        match req {
            Request::Hello { .. } | Request::Key { .. } => {}
            Request::Pet { timeout_ms } => self.pet(i, counter, timeout_ms, now),
            Request::Fence {
                target,
                action,
                name,
            } => self.fence(i, counter, target, action, &name, now),
            Request::Status => self.send_status(i, now),
            Request::Hang => self.hang(i),
        }
    }

    /// Checks link and counter; a first frame on the offered link makes it the link.
    fn accept_on_link(&mut self, i: usize, link: u64, counter: u32) -> Result<(), RelayError> {
        let Some(host) = self.storage.borrow_mut().hosts.get_mut(i) else {
            return Err(RelayError::StaleLink);
        };
        if let Some(l) = &mut host.link {
            if l.rx.link() == link {
                return l.rx.accept(link, counter);
            }
        }
        match host.pending.take() {
            Some(p) if p.link == link => {
                let mut rx = ReplayGuard::new(link);
                rx.accept(link, counter)?;
                host.link = Some(Link {
                    rx,
                    session: p.session,
                    tx: p.tx,
                });
                host.name = p.name;
                host.watchdog_fired = false;
                self.push_event(Event::Linked { port: i as u8 });
                Ok(())
            }
            other => {
                host.pending = other;
                Err(RelayError::StaleLink)
            }
        }
    }

    fn hello(&mut self, i: usize, session: u64, name: heapless::Vec<u8, MAX_NAME_LEN>) {
        let Some(hello) = self.hellos.checked_add(1) else {
            // 2³² hellos in one boot: no fresh link id is left.
            return self.reject(i, RelayError::StaleLink);
        };
        self.hellos = hello;
        let link = relay::link_id(self.config.boot_id, hello);
        let mut tx = Counter::new();
        let counter = tx.advance().unwrap_or(1);
        let Some(host) = self.storage.borrow_mut().hosts.get_mut(i) else {
            return;
        };
        host.pending = Some(Pending {
            link,
            session,
            tx,
            name,
        });
        let identify = RelayFrame {
            link: session,
            counter,
            body: Body::Identify {
                version: VERSION,
                link,
                port: i as u8,
                ports: N as u8,
                pulse_ms: millis(RESET_PULSE),
                min_timeout_ms: millis(MIN_PET_TIMEOUT),
                max_timeout_ms: millis(MAX_PET_TIMEOUT),
            },
        };
        self.send_frame(i, &identify);
        self.push_event(Event::Hello { port: i as u8 });
    }

    fn pet(&mut self, i: usize, counter: u32, timeout_ms: u32, now: Instant) {
        let asserted = self.line_asserted(i);
        let Some(host) = self.storage.borrow_mut().hosts.get_mut(i) else {
            return;
        };
        host.last_pet = Some(now);
        let before = host.armed.map(|a| a.timeout);
        let effective = if timeout_ms == 0 || asserted {
            // Disarmed on purpose, or the host is being reset: a pet still in flight must not
            // arm a watchdog that would reset it again.
            host.armed = None;
            0
        } else {
            let t = Duration::from_millis(u64::from(timeout_ms))
                .max(MIN_PET_TIMEOUT)
                .min(MAX_PET_TIMEOUT);
            host.armed = Some(Armed {
                timeout: t,
                deadline: now + t,
            });
            millis(t)
        };
        let event = match (before, effective) {
            (Some(_), 0) => Some(Event::Disarmed { port: i as u8 }),
            (None, 0) => None,
            (Some(t), e) if millis(t) == e => None,
            (_, e) => Some(Event::Armed {
                port: i as u8,
                timeout_ms: e,
            }),
        };
        if let Some(e) = event {
            self.push_event(e);
        }
        self.reply(
            i,
            Body::PetAck {
                counter,
                timeout_ms: effective,
            },
        );
    }

    fn fence(
        &mut self,
        i: usize,
        counter: u32,
        target: u8,
        action: FenceAction,
        name: &[u8],
        now: Instant,
    ) {
        let t = usize::from(target);
        let busy = self
            .storage
            .borrow()
            .hosts
            .get(i)
            .is_some_and(|h| h.fence.is_some());
        let refusal = if busy {
            Some(FenceOutcome::Busy)
        } else if t >= N {
            Some(FenceOutcome::BadTarget)
        } else if !relay::arbiter_allows(i, t, action, self.fenced_at(i), now) {
            Some(FenceOutcome::LostRace)
        } else {
            let known = self.host_name(t);
            (!name.is_empty() && !known.is_empty() && known != name)
                .then_some(FenceOutcome::NameMismatch)
        };
        if let Some(outcome) = refusal {
            return self.answer_fence(
                i,
                PendingFence {
                    target,
                    action,
                    counter,
                },
                outcome,
            );
        }
        let (Some(line), Some(victim)) = (
            self.lines.get_mut(t),
            self.storage.borrow_mut().hosts.get_mut(t),
        ) else {
            return;
        };
        if line.state == LineState::Idle {
            line.took = false;
        }
        line.state = match (action, line.state) {
            (FenceAction::Reset, LineState::Pulse { until, .. }) => {
                LineState::Pulse { until, hold: false }
            }
            (FenceAction::Reset, _) => LineState::Pulse {
                until: now + RESET_PULSE,
                hold: false,
            },
            (FenceAction::Off, LineState::Idle) => LineState::Pulse {
                until: now + RESET_PULSE,
                hold: true,
            },
            (FenceAction::Off, LineState::Pulse { until, .. }) => {
                LineState::Pulse { until, hold: true }
            }
            (FenceAction::Off, LineState::Held) => LineState::Held,
            (FenceAction::On, LineState::Pulse { until, .. }) => {
                LineState::Pulse { until, hold: false }
            }
            (FenceAction::On, _) => LineState::Idle,
        };
        // A host being fenced is not watched: it is down, or coming back and will pet again.
        victim.armed = None;
        if relay::arbiter_marks(i, t, action) {
            line.fenced.record(now);
        }
        victim.stats.fences = victim.stats.fences.wrapping_add(1);
        if let Some(h) = self.storage.borrow_mut().hosts.get_mut(i) {
            h.fence = Some(PendingFence {
                target,
                action,
                counter,
            });
        }
        self.push_event(Event::FenceStarted {
            requester: i as u8,
            target,
            action,
        });
        self.drive_lines();
        self.settle(t);
    }

    fn fenced_at(&self, i: usize) -> FencedAt {
        self.lines.get(i).map_or(FencedAt::NEVER, |l| l.fenced)
    }

    /// Answers every fence request on line `t` once the line has settled.
    fn settle(&mut self, t: usize) {
        let Some((state, took, driven)) = self.lines.get(t).map(|l| (l.state, l.took, l.driven))
        else {
            return;
        };
        if !state.settled() {
            return;
        }
        for r in 0..N {
            let Some(h) = self.storage.borrow_mut().hosts.get_mut(r) else {
                continue;
            };
            let Some(f) = h.fence.filter(|f| usize::from(f.target) == t) else {
                continue;
            };
            h.fence = None;
            let wanted_held = f.action == FenceAction::Off;
            let pin_ok = match f.action {
                FenceAction::Reset | FenceAction::Off => took,
                FenceAction::On => driven == Some(false),
            };
            let outcome = if !pin_ok {
                FenceOutcome::PinFault
            } else if (state == LineState::Held) == wanted_held {
                FenceOutcome::Done
            } else {
                FenceOutcome::Superseded
            };
            self.answer_fence(r, f, outcome);
        }
    }

    fn answer_fence(&mut self, r: usize, f: PendingFence, outcome: FenceOutcome) {
        self.push_event(Event::FenceDone {
            requester: r as u8,
            target: f.target,
            action: f.action,
            outcome,
        });
        self.reply(
            r,
            Body::FenceResult {
                counter: f.counter,
                target: f.target,
                action: f.action,
                outcome,
            },
        );
    }

    // ---- timers and lines ----

    fn run_timers(&mut self, now: Instant) {
        for j in 0..N {
            // Pulses that are over.
            if let Some(line) = self.lines.get_mut(j) {
                if let LineState::Pulse { until, hold } = line.state {
                    if now >= until {
                        line.state = if hold {
                            LineState::Held
                        } else {
                            LineState::Idle
                        };
                        self.push_event(Event::PulseDone { port: j as u8 });
                        self.settle(j);
                    }
                }
            }
            // Hosts that stopped petting.
            let idle = self
                .lines
                .get(j)
                .is_some_and(|l| l.state == LineState::Idle);
            let Some(host) = self.storage.borrow_mut().hosts.get_mut(j) else {
                continue;
            };
            if host.armed.is_some_and(|a| now >= a.deadline) {
                host.armed = None;
                if idle {
                    host.watchdog_fired = true;
                    host.stats.resets = host.stats.resets.wrapping_add(1);
                    if let Some(line) = self.lines.get_mut(j) {
                        line.state = LineState::Pulse {
                            until: now + RESET_PULSE,
                            hold: false,
                        };
                        line.took = false;
                    }
                    self.push_event(Event::WatchdogReset { port: j as u8 });
                }
            }
        }
    }

    /// Drives every line to its state's level where it is not there yet.
    fn drive_lines(&mut self) {
        let active_high = self.config.reset_active == Level::High;
        for j in 0..N {
            let Some(line) = self.lines.get_mut(j) else {
                continue;
            };
            let want = line.state.asserted();
            if line.driven == Some(want) {
                continue;
            }
            let r = if want == active_high {
                line.pin.set_high()
            } else {
                line.pin.set_low()
            };
            if r.is_ok() {
                line.driven = Some(want);
                line.took |= want;
            } else {
                line.driven = None;
                self.count(j, |s| &mut s.pin_errors);
                self.push_event(Event::PinFault { port: j as u8 });
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let pulses = self.lines.iter().filter_map(|l| match l.state {
            LineState::Pulse { until, .. } => Some(until),
            _ => None,
        });
        let pets = self
            .storage
            .borrow()
            .hosts
            .iter()
            .filter_map(|h| h.armed.map(|a| a.deadline));
        pulses.chain(pets).min()
    }

    // ---- bookkeeping ----

    fn count(&mut self, i: usize, field: impl FnOnce(&mut PortStats) -> &mut u32) {
        if let Some(h) = self.storage.borrow_mut().hosts.get_mut(i) {
            let c = field(&mut h.stats);
            *c = c.wrapping_add(1);
        }
    }

    fn count_io_error(&mut self, i: usize) {
        self.count(i, |s| &mut s.io_errors);
    }

    fn push_event(&mut self, e: Event) {
        log(&e);
        if self.storage.borrow_mut().events.push_back(e).is_err() {
            self.events_lost = self.events_lost.wrapping_add(1);
        }
    }
}

/// Encodes `frame` straight into `tx`; false if it did not fit (nothing is queued then).
fn enqueue<const K: usize>(
    tx: &mut TxQueue<TX_QUEUE_LEN>,
    keys: &Keyring<K>,
    frame: &RelayFrame<'_>,
) -> bool {
    match relay::encode(frame, keys, tx.free_contiguous()) {
        Ok(n) => {
            tx.commit(n);
            true
        }
        Err(EncodeError::BufferFull) => false,
        // No signing key: nothing can be sent, and that is not a full queue.
        Err(_) => true,
    }
}

/// Copies a verified frame's request out of the receive buffer.
fn request(f: &RelayFrame<'_>) -> Result<Request, RelayError> {
    let name = |n: &[u8]| heapless::Vec::from_slice(n).map_err(|_| RelayError::Malformed { at: 0 });
    Ok(match f.body {
        Body::Hello {
            session, name: n, ..
        } => Request::Hello {
            session,
            name: name(n)?,
        },
        Body::Pet { timeout_ms } => Request::Pet { timeout_ms },
        Body::Fence {
            target,
            action,
            name: n,
        } => Request::Fence {
            target,
            action,
            name: name(n)?,
        },
        Body::StatusRequest => Request::Status,
        Body::Hang => Request::Hang,
        Body::Key {
            session,
            index,
            method,
            secret,
        } => Request::Key {
            session,
            key: StoredKey::new(index, method, secret).ok_or(RelayError::Malformed { at: 0 })?,
        },
        // The relay's own types, coming from a host: an echo or a confused peer.
        other => return Err(RelayError::UnknownType(other.code())),
    })
}

fn flags(h: &Host, state: LineState) -> PortFlags {
    let mut f = 0;
    if h.link.is_some() {
        f |= PortFlags::LINKED;
    }
    if h.armed.is_some() {
        f |= PortFlags::ARMED;
    }
    if state.asserted() {
        f |= PortFlags::ASSERTED;
    }
    if state == LineState::Held {
        f |= PortFlags::HELD;
    }
    if h.watchdog_fired {
        f |= PortFlags::WATCHDOG_FIRED;
    }
    PortFlags(f)
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

#[cfg(feature = "defmt")]
fn log(e: &Event) {
    match e {
        Event::WatchdogReset { .. } | Event::Rejected { .. } | Event::PinFault { .. } => {
            defmt::warn!("relay: {}", e)
        }
        Event::Hang => defmt::error!("relay: {}", e),
        _ => defmt::info!("relay: {}", e),
    }
}

#[cfg(not(feature = "defmt"))]
fn log(_: &Event) {}
