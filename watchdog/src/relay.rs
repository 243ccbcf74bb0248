//! The host's side of the relay board's external watchdog (`hb-firmware/PROTOCOL.md`).
//!
//! [`RelayWatchdog`] opens a link to the relay with a hello, then pets it; the relay resets this
//! host when the pets stop for the armed timeout. It writes its frames to a serial port (any
//! [`embedded_io::Write`]) and learns the relay's answers from frames the caller hands it
//! ([`RelayWatchdog::handle_frame`]) — the daemon's serial medium reads the same line, which
//! also carries the other hosts' heartbeats — or, when it owns a readable port, by reading them
//! itself ([`RelayWatchdog::pump`]).
//!
//! No clock is needed: a link is given up after [`MAX_UNACKED_PETS`] pets without an
//! acknowledgement (the relay rebooted, or a frame was lost), and each later pet says hello
//! again until the relay answers.

use crate::Watchdog;
use embedded_io::{Read, ReadReady, Write};
use hb_core::auth::Keyring;
use hb_core::msg::compact::{Deframer, Frame};
use hb_core::msg::EncodeError;
use hb_core::relay::{
    self, Body, Counter, FenceAction, FenceOutcome, RelayError, RelayFrame, ReplayGuard, Status,
    MAX_FRAME_LEN, MAX_NAME_LEN, MAX_PET_TIMEOUT, MAX_UNACKED_PETS, MIN_PET_TIMEOUT, VERSION,
};
use hb_core::time::Duration;

/// Why the client could not do what was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ClientError<E> {
    /// Writing to (or reading from) the serial port failed.
    Io(E),
    /// A frame could not be encoded (no signing key, a bad name).
    Encode(EncodeError),
    /// Fencing and status need a link; the relay has not answered a hello yet.
    NotLinked,
}

impl<E: core::fmt::Debug> core::fmt::Display for ClientError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "relay serial port: {e:?}"),
            ClientError::Encode(e) => write!(f, "relay frame: {e}"),
            ClientError::NotLinked => f.write_str("the relay has not answered our hello"),
        }
    }
}

/// What an answer from the relay told us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientEvent<'a> {
    /// The relay answered our hello: we are on `port` of its `ports`.
    Linked { port: u8, ports: u8, link: u64 },
    /// A pet was taken; the relay's watchdog runs with `timeout_ms` (0: disarmed).
    PetAck { timeout_ms: u32 },
    /// A fence request finished.
    FenceResult {
        counter: u32,
        target: u8,
        action: FenceAction,
        outcome: FenceOutcome,
    },
    /// The relay's status, answering [`RelayWatchdog::request_status`].
    Status(Status<'a>),
}

/// Where the client stands with the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LinkState {
    /// Nothing sent yet, or the link was given up.
    Unlinked,
    /// A hello is out with this session; waiting for the relay's identify.
    Hello { session: u64 },
    /// The relay answered: our frames carry `link`, its frames carry `session`.
    Linked {
        session: u64,
        link: u64,
        port: u8,
        ports: u8,
    },
}

/// Counters of a [`RelayWatchdog`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ClientStats {
    pub hellos: u32,
    pub pets: u32,
    pub acks: u32,
    /// Relay frames refused: bad MAC, stale link, replayed, malformed.
    pub rejected: u32,
    /// Links given up for want of acknowledgements.
    pub lost_links: u32,
}

/// The relay watchdog client: see the module docs.
#[derive(Debug)]
pub struct RelayWatchdog<P> {
    port: P,
    core: Core,
    deframer: Deframer<MAX_FRAME_LEN>,
}

/// Everything but the port and the deframer, so a frame borrowed from the deframer can be
/// handled while the port is written.
struct Core {
    keys: Keyring,
    name: heapless::Vec<u8, MAX_NAME_LEN>,
    session_seed: u64,
    state: LinkState,
    rx: ReplayGuard,
    tx: Counter,
    timeout: Option<Duration>,
    unacked: u8,
    stats: ClientStats,
    out: [u8; MAX_FRAME_LEN],
}

impl core::fmt::Debug for Core {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Core")
            .field("name", &self.name)
            .field("state", &self.state)
            .field("timeout", &self.timeout)
            .field("unacked", &self.unacked)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<P: Write> RelayWatchdog<P> {
    /// A client that writes to `port`, signs with the active key of `keys` (the cluster's
    /// authkeys), and introduces itself as `name` (this node's name; see
    /// [`relay::name_is_valid`]). `session_seed` must be unpredictable and differ at every
    /// start (the daemon takes it from the kernel's random source): the sessions of our hellos
    /// are `session_seed`, `session_seed + 1`, … .
    pub fn new(
        port: P,
        keys: Keyring,
        name: &[u8],
        session_seed: u64,
    ) -> Result<Self, ClientError<P::Error>> {
        if !relay::name_is_valid(name) {
            return Err(ClientError::Encode(EncodeError::BadValue));
        }
        let mut n = heapless::Vec::new();
        n.extend_from_slice(name)
            .map_err(|_| ClientError::Encode(EncodeError::BadValue))?;
        Ok(RelayWatchdog {
            port,
            core: Core {
                keys,
                name: n,
                session_seed,
                state: LinkState::Unlinked,
                rx: ReplayGuard::new(0),
                tx: Counter::new(),
                timeout: None,
                unacked: 0,
                stats: ClientStats::default(),
                out: [0; MAX_FRAME_LEN],
            },
            deframer: Deframer::new(),
        })
    }

    pub fn state(&self) -> LinkState {
        self.core.state
    }

    pub fn stats(&self) -> ClientStats {
        self.core.stats
    }

    /// The timeout we asked for, `None` when disarmed.
    pub fn timeout(&self) -> Option<Duration> {
        self.core.timeout
    }

    pub fn port(&self) -> &P {
        &self.port
    }

    pub fn port_mut(&mut self) -> &mut P {
        &mut self.port
    }

    pub fn into_port(self) -> P {
        self.port
    }

    /// Sends a hello now (a new session), e.g. at start before arming, to learn the port.
    pub fn hello(&mut self) -> Result<(), ClientError<P::Error>> {
        self.core.hello(&mut self.port)
    }

    /// Takes a frame read from the relay's line. Heartbeat messages ([`relay::is_relay_frame`]
    /// false) are not ours: `Ok(None)`. Relay frames that are forged, stale, replayed or meant
    /// for the relay are refused and counted.
    pub fn handle_frame<'f>(
        &mut self,
        frame: &Frame<'f>,
    ) -> Result<Option<ClientEvent<'f>>, RelayError> {
        self.core.handle_frame(&mut self.port, frame)
    }

    /// Asks the relay to act on port `target`'s reset line; `name`, if not empty, must be the
    /// name the target said hello with. Returns the request's counter, which the
    /// [`ClientEvent::FenceResult`] echoes.
    pub fn fence(
        &mut self,
        target: u8,
        action: FenceAction,
        name: &[u8],
    ) -> Result<u32, ClientError<P::Error>> {
        self.core.send_linked(
            &mut self.port,
            Body::Fence {
                target,
                action,
                name,
            },
        )
    }

    /// Asks the relay for a [`ClientEvent::Status`].
    pub fn request_status(&mut self) -> Result<u32, ClientError<P::Error>> {
        self.core.send_linked(&mut self.port, Body::StatusRequest)
    }
}

impl<P: Write + Read + ReadReady> RelayWatchdog<P> {
    /// Reads what the port has (without blocking) and handles the relay frames in it, passing
    /// each event to `on_event`; other frames and noise are dropped. Returns how many relay
    /// frames were refused.
    pub fn pump(
        &mut self,
        mut on_event: impl FnMut(ClientEvent<'_>),
    ) -> Result<u32, ClientError<P::Error>> {
        let mut refused = 0;
        let mut buf = [0u8; 64];
        while self.port.read_ready().map_err(ClientError::Io)? {
            let n = self.port.read(&mut buf).map_err(ClientError::Io)?;
            if n == 0 {
                break;
            }
            let mut rest = buf.get(..n).unwrap_or_default();
            while !rest.is_empty() {
                let (used, got) = self.deframer.feed(rest);
                rest = rest.get(used..).unwrap_or_default();
                if let Some(Ok(frame)) = got {
                    match self.core.handle_frame(&mut self.port, &frame) {
                        Ok(Some(e)) => on_event(e),
                        Ok(None) => {}
                        Err(_) => refused += 1,
                    }
                }
            }
        }
        Ok(refused)
    }
}

impl<P: Write> Watchdog for RelayWatchdog<P> {
    type Error = ClientError<P::Error>;

    /// Clamps `timeout` to what the relay accepts ([`MIN_PET_TIMEOUT`]..=[`MAX_PET_TIMEOUT`],
    /// whole milliseconds) and pets with it, or says hello first if there is no link yet (the
    /// first pet after the relay's answer arms it).
    fn arm(&mut self, timeout: Duration) -> Result<Duration, Self::Error> {
        let t = timeout.max(MIN_PET_TIMEOUT).min(MAX_PET_TIMEOUT);
        self.core.timeout = Some(t);
        self.core.pet(&mut self.port)?;
        Ok(t)
    }

    /// Pets (or says hello while there is no link). Does nothing while disarmed.
    fn pet(&mut self) -> Result<(), Self::Error> {
        if self.core.timeout.is_some() {
            self.core.pet(&mut self.port)?;
        }
        Ok(())
    }

    /// Sends a pet with timeout 0, which disarms our channel on the relay.
    fn disarm(&mut self) -> Result<(), Self::Error> {
        self.core.timeout = None;
        if matches!(self.core.state, LinkState::Linked { .. }) {
            self.core
                .send_linked(&mut self.port, Body::Pet { timeout_ms: 0 })?;
        }
        Ok(())
    }
}

impl Core {
    fn hello<P: Write>(&mut self, port: &mut P) -> Result<(), ClientError<P::Error>> {
        let session = self.session_seed.wrapping_add(u64::from(self.stats.hellos));
        self.stats.hellos = self.stats.hellos.wrapping_add(1);
        self.state = LinkState::Hello { session };
        self.rx = ReplayGuard::new(session);
        self.unacked = 0;
        let name = self.name.clone();
        self.send(
            port,
            RelayFrame {
                link: 0,
                counter: 0,
                body: Body::Hello {
                    version: VERSION,
                    session,
                    name: &name,
                },
            },
        )
    }

    fn pet<P: Write>(&mut self, port: &mut P) -> Result<(), ClientError<P::Error>> {
        let Some(timeout) = self.timeout else {
            return Ok(());
        };
        if !matches!(self.state, LinkState::Linked { .. }) {
            return self.hello(port);
        }
        if self.unacked >= MAX_UNACKED_PETS {
            self.stats.lost_links = self.stats.lost_links.wrapping_add(1);
            return self.hello(port);
        }
        let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        self.send_linked(port, Body::Pet { timeout_ms })?;
        self.unacked = self.unacked.saturating_add(1);
        self.stats.pets = self.stats.pets.wrapping_add(1);
        Ok(())
    }

    /// Sends a frame on the link; returns its counter.
    fn send_linked<P: Write>(
        &mut self,
        port: &mut P,
        body: Body<'_>,
    ) -> Result<u32, ClientError<P::Error>> {
        let LinkState::Linked { link, .. } = self.state else {
            return Err(ClientError::NotLinked);
        };
        let Some(counter) = self.tx.advance() else {
            // 2³² frames on one link: open a new one.
            self.hello(port)?;
            return Err(ClientError::NotLinked);
        };
        self.send(
            port,
            RelayFrame {
                link,
                counter,
                body,
            },
        )?;
        Ok(counter)
    }

    fn send<P: Write>(
        &mut self,
        port: &mut P,
        frame: RelayFrame<'_>,
    ) -> Result<(), ClientError<P::Error>> {
        let n = relay::encode(&frame, &self.keys, &mut self.out).map_err(ClientError::Encode)?;
        port.write_all(self.out.get(..n).unwrap_or_default())
            .map_err(ClientError::Io)
    }

    fn handle_frame<'f, P: Write>(
        &mut self,
        port: &mut P,
        frame: &Frame<'f>,
    ) -> Result<Option<ClientEvent<'f>>, RelayError> {
        if !relay::is_relay_frame(frame) {
            return Ok(None);
        }
        let result = self.take(frame);
        if result.is_err() {
            self.stats.rejected = self.stats.rejected.wrapping_add(1);
        }
        let event = result?;
        if let ClientEvent::Linked { .. } = event {
            // Arm (or re-arm) right away. A failed write is retried at the next pet.
            let _ = self.pet(port);
        }
        Ok(Some(event))
    }

    /// Checks a relay frame (MAC, direction, link, counter) and applies it.
    fn take<'f>(&mut self, frame: &Frame<'f>) -> Result<ClientEvent<'f>, RelayError> {
        let f = relay::decode(frame, &self.keys)?;
        if !f.body.from_relay() {
            // Our own kind of frame (an echo on the line, or another host's): not for us.
            return Err(RelayError::UnknownType(f.body.code()));
        }
        let session = match self.state {
            LinkState::Unlinked => return Err(RelayError::StaleLink),
            LinkState::Hello { session } | LinkState::Linked { session, .. } => session,
        };
        self.rx.accept(f.link, f.counter)?;
        Ok(match f.body {
            Body::Identify {
                link, port, ports, ..
            } => {
                self.state = LinkState::Linked {
                    session,
                    link,
                    port,
                    ports,
                };
                self.tx = Counter::new();
                self.unacked = 0;
                ClientEvent::Linked { port, ports, link }
            }
            Body::PetAck { timeout_ms, .. } => {
                self.unacked = 0;
                self.stats.acks = self.stats.acks.wrapping_add(1);
                ClientEvent::PetAck { timeout_ms }
            }
            Body::FenceResult {
                counter,
                target,
                action,
                outcome,
            } => ClientEvent::FenceResult {
                counter,
                target,
                action,
                outcome,
            },
            Body::Status(s) => ClientEvent::Status(s),
            // Only relay types get here; all four are above.
            other => return Err(RelayError::UnknownType(other.code())),
        })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use hb_core::auth::Method;
    use hb_core::msg::compact::Frame;
    use std::vec::Vec;

    fn keys() -> Keyring {
        let mut k = Keyring::new();
        k.insert(1, Method::Sha256, b"cluster secret").unwrap();
        k.set_active(1).unwrap();
        k
    }

    /// A port that records what is written and reads from a queue.
    #[derive(Default)]
    struct Mock {
        written: Vec<u8>,
        input: std::collections::VecDeque<u8>,
    }

    impl embedded_io::ErrorType for Mock {
        type Error = embedded_io::ErrorKind;
    }
    impl Write for Mock {
        fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }
    impl Read for Mock {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
            let n = buf.len().min(self.input.len());
            for b in buf.iter_mut().take(n) {
                *b = self.input.pop_front().unwrap();
            }
            Ok(n)
        }
    }
    impl ReadReady for Mock {
        fn read_ready(&mut self) -> Result<bool, Self::Error> {
            Ok(!self.input.is_empty())
        }
    }

    /// The frames the client wrote, decoded and verified.
    fn sent(m: &mut Mock) -> Vec<(u64, u32, Body<'static>)> {
        let bytes = core::mem::take(&mut m.written);
        let mut out = Vec::new();
        for chunk in bytes.split_inclusive(|&b| b == 0) {
            let mut chunk = Vec::from(chunk);
            let f = Frame::unstuff(&mut chunk).unwrap();
            let rf = relay::decode(&f, &keys()).unwrap();
            let body = match rf.body {
                Body::Hello {
                    version, session, ..
                } => Body::Hello {
                    version,
                    session,
                    name: b"",
                },
                Body::Fence { target, action, .. } => Body::Fence {
                    target,
                    action,
                    name: b"",
                },
                Body::Pet { timeout_ms } => Body::Pet { timeout_ms },
                Body::StatusRequest => Body::StatusRequest,
                other => panic!("client sent {other:?}"),
            };
            out.push((rf.link, rf.counter, body));
        }
        out
    }

    fn from_relay(link: u64, counter: u32, body: Body<'_>, k: &Keyring) -> Vec<u8> {
        let mut out = [0u8; MAX_FRAME_LEN];
        let n = relay::encode(
            &RelayFrame {
                link,
                counter,
                body,
            },
            k,
            &mut out,
        )
        .unwrap();
        Vec::from(&out[..n])
    }

    fn identify(session: u64, counter: u32, link: u64) -> Vec<u8> {
        from_relay(
            session,
            counter,
            Body::Identify {
                version: VERSION,
                link,
                port: 1,
                ports: 3,
                pulse_ms: 500,
                min_timeout_ms: 1000,
                max_timeout_ms: 3_600_000,
            },
            &keys(),
        )
    }

    fn feed(c: &mut RelayWatchdog<Mock>, wire: &[u8]) -> Vec<std::string::String> {
        c.port_mut().input.extend(wire);
        let mut events = Vec::new();
        c.pump(|e| events.push(std::format!("{e:?}"))).unwrap();
        events
    }

    #[test]
    fn hello_identify_then_pets_on_the_link() {
        let mut c = RelayWatchdog::new(Mock::default(), keys(), b"node1", 1000).unwrap();
        // Arming without a link says hello.
        assert_eq!(
            c.arm(Duration::from_millis(300)),
            Ok(Duration::from_secs(1))
        );
        let s = sent(c.port_mut());
        assert_eq!(
            s,
            [(
                0,
                0,
                Body::Hello {
                    version: VERSION,
                    session: 1000,
                    name: b""
                }
            )]
        );
        assert_eq!(c.state(), LinkState::Hello { session: 1000 });
        // The relay answers: linked, and the first pet goes out at once.
        let ev = feed(&mut c, &identify(1000, 1, 77));
        assert_eq!(ev, ["Linked { port: 1, ports: 3, link: 77 }"]);
        assert_eq!(
            sent(c.port_mut()),
            [(77, 1, Body::Pet { timeout_ms: 1000 })]
        );
        c.pet().unwrap();
        c.pet().unwrap();
        assert_eq!(
            sent(c.port_mut()),
            [
                (77, 2, Body::Pet { timeout_ms: 1000 }),
                (77, 3, Body::Pet { timeout_ms: 1000 })
            ]
        );
        let ack = from_relay(
            1000,
            2,
            Body::PetAck {
                counter: 3,
                timeout_ms: 1000,
            },
            &keys(),
        );
        assert_eq!(feed(&mut c, &ack), ["PetAck { timeout_ms: 1000 }"]);
        // The same ack again is a replay.
        assert!(feed(&mut c, &ack).is_empty());
        assert_eq!(c.stats().rejected, 1);
        // Disarm: a pet with timeout 0; later pets send nothing.
        c.disarm().unwrap();
        c.pet().unwrap();
        assert_eq!(sent(c.port_mut()), [(77, 4, Body::Pet { timeout_ms: 0 })]);
    }

    #[test]
    fn unanswered_pets_give_up_the_link_and_say_hello_again() {
        let mut c = RelayWatchdog::new(Mock::default(), keys(), b"node1", 5).unwrap();
        c.arm(Duration::from_secs(10)).unwrap();
        feed(&mut c, &identify(5, 1, 9));
        for _ in 1..MAX_UNACKED_PETS {
            c.pet().unwrap();
        }
        assert_eq!(sent(c.port_mut()).len(), 1 + usize::from(MAX_UNACKED_PETS));
        c.pet().unwrap();
        let s = sent(c.port_mut());
        assert!(
            matches!(s[..], [(0, 0, Body::Hello { session: 6, .. })]),
            "{s:?}"
        );
        assert_eq!(c.stats().lost_links, 1);
        // The old link's identify (a replay) does not count; the new session's does.
        assert!(feed(&mut c, &identify(5, 2, 9)).is_empty());
        assert_eq!(feed(&mut c, &identify(6, 1, 10)).len(), 1);
        assert_eq!(
            sent(c.port_mut()),
            [(10, 1, Body::Pet { timeout_ms: 10_000 })]
        );
    }

    #[test]
    fn forged_and_foreign_frames_are_refused() {
        let mut c = RelayWatchdog::new(Mock::default(), keys(), b"node1", 5).unwrap();
        c.arm(Duration::from_secs(10)).unwrap();
        sent(c.port_mut());
        let mut other = Keyring::new();
        other.insert(1, Method::Sha256, b"guess").unwrap();
        other.set_active(1).unwrap();
        let forged = from_relay(
            5,
            1,
            Body::Identify {
                version: 1,
                link: 1,
                port: 0,
                ports: 1,
                pulse_ms: 0,
                min_timeout_ms: 0,
                max_timeout_ms: 0,
            },
            &other,
        );
        assert!(feed(&mut c, &forged).is_empty());
        // Another host's hello on the line (a host → relay type).
        let hello = from_relay(
            0,
            0,
            Body::Hello {
                version: 1,
                session: 5,
                name: b"x",
            },
            &keys(),
        );
        assert!(feed(&mut c, &hello).is_empty());
        // A heartbeat message from another host: not ours, not refused.
        let mut hb = [0u8; 64];
        let n = hb_core::msg::compact::encode(
            &[hb_core::msg::Field::string("t", "status")],
            None,
            &mut hb,
        )
        .unwrap();
        assert!(feed(&mut c, &hb[..n]).is_empty());
        assert_eq!(c.stats().rejected, 2);
        assert_eq!(c.state(), LinkState::Hello { session: 5 });
        assert!(sent(c.port_mut()).is_empty());
    }

    #[test]
    fn fence_and_status_need_a_link() {
        let mut c = RelayWatchdog::new(Mock::default(), keys(), b"node1", 5).unwrap();
        assert_eq!(
            c.fence(0, FenceAction::Reset, b"node2"),
            Err(ClientError::NotLinked)
        );
        assert_eq!(c.request_status(), Err(ClientError::NotLinked));
        c.hello().unwrap();
        feed(&mut c, &identify(5, 1, 9));
        // Not armed: linking sends no pet.
        assert_eq!(sent(c.port_mut()).len(), 1);
        assert_eq!(c.fence(0, FenceAction::Reset, b"node2"), Ok(1));
        assert_eq!(c.request_status(), Ok(2));
        assert_eq!(
            sent(c.port_mut()),
            [
                (
                    9,
                    1,
                    Body::Fence {
                        target: 0,
                        action: FenceAction::Reset,
                        name: b""
                    }
                ),
                (9, 2, Body::StatusRequest)
            ]
        );
        let done = from_relay(
            5,
            2,
            Body::FenceResult {
                counter: 1,
                target: 0,
                action: FenceAction::Reset,
                outcome: FenceOutcome::Done,
            },
            &keys(),
        );
        assert_eq!(
            feed(&mut c, &done),
            ["FenceResult { counter: 1, target: 0, action: Reset, outcome: Done }"]
        );
        assert!(RelayWatchdog::new(Mock::default(), keys(), b"bad name", 0).is_err());
    }
}
