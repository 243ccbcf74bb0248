//! A relay on a virtual clock, with mock serial lines and reset pins, and hosts that talk to it
//! with the real client (`watchdog::relay::RelayWatchdog`) or with hand-made frames.
#![allow(dead_code)]

use hb_core::auth::{Keyring, Method};
use hb_core::msg::compact::{Deframer, Frame};
use hb_core::relay::{self, Body, RelayFrame, MAX_FRAME_LEN};
use hb_firmware::{Config, Event, Instant, Level, Relay};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use watchdog::relay::{ClientEvent, RelayWatchdog};

pub fn keys() -> Keyring {
    let mut k = Keyring::new();
    k.insert(1, Method::Sha1, b"cluster secret").unwrap();
    k.set_active(1).unwrap();
    k
}

/// The same index and method with another secret: what an outsider would sign with.
pub fn wrong_keys() -> Keyring {
    let mut k = Keyring::new();
    k.insert(1, Method::Sha1, b"a guess").unwrap();
    k.set_active(1).unwrap();
    k
}

/// One serial line between the relay and a host.
#[derive(Debug)]
pub struct Wire {
    pub to_relay: VecDeque<u8>,
    pub from_relay: VecDeque<u8>,
    /// Whether the relay's UART takes bytes now (flow control).
    pub writable: bool,
    /// Bytes one `write` takes at most (a UART FIFO).
    pub max_write: usize,
    /// Make the next I/O call on the relay side fail.
    pub fail_io: bool,
}

pub type Shared = Rc<RefCell<Wire>>;

fn wire() -> Shared {
    Rc::new(RefCell::new(Wire {
        to_relay: VecDeque::new(),
        from_relay: VecDeque::new(),
        writable: true,
        max_write: usize::MAX,
        fail_io: false,
    }))
}

/// The relay's end of a wire.
#[derive(Debug)]
pub struct RelaySide(pub Shared);

/// A host's end of a wire.
#[derive(Debug)]
pub struct HostSide(pub Shared);

impl embedded_io::ErrorType for RelaySide {
    type Error = embedded_io::ErrorKind;
}
impl embedded_io::ErrorType for HostSide {
    type Error = embedded_io::ErrorKind;
}

fn fail(w: &mut Wire) -> Result<(), embedded_io::ErrorKind> {
    if std::mem::take(&mut w.fail_io) {
        Err(embedded_io::ErrorKind::Other)
    } else {
        Ok(())
    }
}

impl embedded_io::Read for RelaySide {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let mut w = self.0.borrow_mut();
        fail(&mut w)?;
        let n = buf.len().min(w.to_relay.len());
        for b in buf.iter_mut().take(n) {
            *b = w.to_relay.pop_front().unwrap();
        }
        Ok(n)
    }
}
impl embedded_io::ReadReady for RelaySide {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        let w = self.0.borrow();
        Ok(!w.to_relay.is_empty() || w.fail_io)
    }
}
impl embedded_io::Write for RelaySide {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let mut w = self.0.borrow_mut();
        fail(&mut w)?;
        let n = buf.len().min(w.max_write);
        w.from_relay.extend(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}
impl embedded_io::WriteReady for RelaySide {
    fn write_ready(&mut self) -> Result<bool, Self::Error> {
        let w = self.0.borrow();
        Ok(w.writable || w.fail_io)
    }
}

impl embedded_io::Read for HostSide {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let mut w = self.0.borrow_mut();
        let n = buf.len().min(w.from_relay.len());
        for b in buf.iter_mut().take(n) {
            *b = w.from_relay.pop_front().unwrap();
        }
        Ok(n)
    }
}
impl embedded_io::ReadReady for HostSide {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(!self.0.borrow().from_relay.is_empty())
    }
}
impl embedded_io::Write for HostSide {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0.borrow_mut().to_relay.extend(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The levels a pin was driven to, with the virtual time: `(ms, high)`.
pub type PinLog = Rc<RefCell<Vec<(u64, bool)>>>;

/// A reset output that logs every level it is driven to, with the virtual time.
#[derive(Debug)]
pub struct MockPin {
    pub clock: Rc<Cell<u64>>,
    pub log: PinLog,
    pub fail: Rc<Cell<bool>>,
}

impl embedded_hal::digital::ErrorType for MockPin {
    type Error = embedded_hal::digital::ErrorKind;
}

impl embedded_hal::digital::OutputPin for MockPin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.set(false)
    }
    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.set(true)
    }
}

impl MockPin {
    fn set(&mut self, high: bool) -> Result<(), embedded_hal::digital::ErrorKind> {
        if self.fail.get() {
            return Err(embedded_hal::digital::ErrorKind::Other);
        }
        self.log.borrow_mut().push((self.clock.get(), high));
        Ok(())
    }
}

pub const BOOT_ID: u32 = 0x5eed_0001;

/// A relay with `N` ports on a virtual millisecond clock; reset lines are active low.
pub struct Rig<const N: usize> {
    pub relay: Relay<RelaySide, MockPin, N>,
    pub wires: [Shared; N],
    pub pins: [PinLog; N],
    pub pin_fail: [Rc<Cell<bool>>; N],
    pub clock: Rc<Cell<u64>>,
    pub events: Vec<(u64, Event)>,
}

impl<const N: usize> Rig<N> {
    pub fn new() -> Self {
        Self::with(BOOT_ID, keys())
    }

    pub fn with(boot_id: u32, keys: Keyring) -> Self {
        let clock = Rc::new(Cell::new(0u64));
        let wires: [Shared; N] = std::array::from_fn(|_| wire());
        let pins: [PinLog; N] = std::array::from_fn(|_| Rc::default());
        let pin_fail: [Rc<Cell<bool>>; N] = std::array::from_fn(|_| Rc::default());
        let relay = Relay::new(
            Config {
                boot_id,
                reset_active: Level::Low,
            },
            keys,
            std::array::from_fn(|i| RelaySide(wires[i].clone())),
            std::array::from_fn(|i| MockPin {
                clock: clock.clone(),
                log: pins[i].clone(),
                fail: pin_fail[i].clone(),
            }),
        );
        let mut rig = Rig {
            relay,
            wires,
            pins,
            pin_fail,
            clock,
            events: Vec::new(),
        };
        rig.poll();
        rig
    }

    /// Replaces the relay with a freshly booted one on the same wires and pins.
    pub fn reboot(&mut self, boot_id: u32) {
        self.relay = Relay::new(
            Config {
                boot_id,
                reset_active: Level::Low,
            },
            keys(),
            std::array::from_fn(|i| RelaySide(self.wires[i].clone())),
            std::array::from_fn(|i| MockPin {
                clock: self.clock.clone(),
                log: self.pins[i].clone(),
                fail: self.pin_fail[i].clone(),
            }),
        );
        self.poll();
    }

    pub fn now(&self) -> u64 {
        self.clock.get()
    }

    pub fn instant(&self) -> Instant {
        Instant::from_millis(self.now())
    }

    /// One main-loop iteration at the current time.
    pub fn poll(&mut self) -> Option<Instant> {
        let next = self.relay.poll(self.instant());
        while let Some(e) = self.relay.next_event() {
            self.events.push((self.now(), e));
        }
        next
    }

    /// Advances the clock by one millisecond and polls.
    pub fn tick(&mut self) {
        self.clock.set(self.now() + 1);
        self.poll();
    }

    pub fn run(&mut self, ms: u64) {
        for _ in 0..ms {
            self.tick();
        }
    }

    pub fn host_side(&self, port: usize) -> HostSide {
        HostSide(self.wires[port].clone())
    }

    /// Bytes a host writes into the relay.
    pub fn send(&self, port: usize, bytes: &[u8]) {
        self.wires[port].borrow_mut().to_relay.extend(bytes);
    }

    /// Everything the relay wrote to a port since the last call.
    pub fn take_output(&self, port: usize) -> Vec<u8> {
        self.wires[port].borrow_mut().from_relay.drain(..).collect()
    }

    /// The reset pulses seen on a port: (asserted at, released at or None).
    pub fn pulses(&self, port: usize) -> Vec<(u64, Option<u64>)> {
        let mut out: Vec<(u64, Option<u64>)> = Vec::new();
        for &(t, high) in self.pins[port].borrow().iter() {
            // Active low.
            if !high {
                out.push((t, None));
            } else if let Some(last) = out.last_mut() {
                if last.1.is_none() {
                    last.1 = Some(t);
                }
            }
        }
        out
    }

    pub fn events_of(&self, pred: impl Fn(&Event) -> bool) -> Vec<(u64, Event)> {
        self.events
            .iter()
            .filter(|(_, e)| pred(e))
            .copied()
            .collect()
    }
}

/// A relay frame signed with `keys`, on the wire.
pub fn frame(link: u64, counter: u32, body: Body<'_>, keys: &Keyring) -> Vec<u8> {
    let mut out = [0u8; MAX_FRAME_LEN];
    let n = relay::encode(
        &RelayFrame {
            link,
            counter,
            body,
        },
        keys,
        &mut out,
    )
    .unwrap();
    out[..n].to_vec()
}

/// A host's heartbeat message, as the daemon would send it on a serial line.
pub fn heartbeat(src: &str, seq: u64) -> Vec<u8> {
    let seq = format!("{seq:x}");
    let fields = [
        hb_core::msg::Field::string("t", "status"),
        hb_core::msg::Field::string("st", "active"),
        hb_core::msg::Field::string("src", src),
        hb_core::msg::Field::string("seq", &seq),
    ];
    let mut out = [0u8; 256];
    let n = hb_core::msg::compact::encode(&fields, Some(&keys()), &mut out).unwrap();
    out[..n].to_vec()
}

/// Splits bytes on the 0x00 delimiter into complete frames (with their delimiter).
pub fn split_frames(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|&b| b == 0)
        .filter(|f| f.last() == Some(&0))
        .map(<[u8]>::to_vec)
        .collect()
}

/// Relay frames among bytes a host received, decoded with `keys`, as `(link, counter, body)`
/// with the body shown by Debug (owned, to outlive the bytes).
pub fn relay_frames(bytes: &[u8], keys: &Keyring) -> Vec<(u64, u32, String)> {
    let mut d: Deframer<MAX_FRAME_LEN> = Deframer::new();
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (used, got) = d.feed(rest);
        rest = &rest[used..];
        if let Some(Ok(f)) = got {
            if relay::is_relay_frame(&f) {
                let rf = relay::decode(&f, keys).unwrap();
                out.push((rf.link, rf.counter, format!("{:?}", rf.body)));
            }
        }
    }
    out
}

/// Decodes one wire frame as a relay frame and hands it to `f`.
pub fn with_relay_frame<T>(wire: &[u8], keys: &Keyring, f: impl FnOnce(RelayFrame<'_>) -> T) -> T {
    let mut w = wire.to_vec();
    let frame = Frame::unstuff(&mut w).unwrap();
    f(relay::decode(&frame, keys).unwrap())
}

/// A host that uses the real client: says hello, pets, fences.
pub struct Host {
    pub client: RelayWatchdog<HostSide>,
    pub events: Vec<String>,
}

impl Host {
    pub fn new<const N: usize>(rig: &Rig<N>, port: usize, name: &str, seed: u64) -> Self {
        Host {
            client: RelayWatchdog::new(rig.host_side(port), keys(), name.as_bytes(), seed).unwrap(),
            events: Vec::new(),
        }
    }

    /// Reads what the relay sent and records the client's events.
    pub fn pump(&mut self) {
        let events = &mut self.events;
        self.client
            .pump(|e: ClientEvent<'_>| events.push(format!("{e:?}")))
            .unwrap();
    }
}
