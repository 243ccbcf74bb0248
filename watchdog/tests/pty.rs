//! The relay-watchdog client over a real pseudo-terminal, with a scripted relay on the other
//! end: the bytes go through the kernel's tty layer as they would on a serial port.
#![cfg(feature = "linux")]

use embedded_io::Write as _;
use hb_core::auth::{Keyring, Method};
use hb_core::msg::compact::Deframer;
use hb_core::relay::{self, Body, RelayFrame, MAX_FRAME_LEN, VERSION};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::pty::openpty;
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use watchdog::linux::FdPort;
use watchdog::relay::{ClientEvent, LinkState, RelayWatchdog};
use watchdog::{Duration, Watchdog};

fn keys() -> Keyring {
    let mut k = Keyring::new();
    k.insert(2, Method::Sha1, b"relay-test").unwrap();
    k.set_active(2).unwrap();
    k
}

/// The relay's end: reads one frame (waiting up to 2 s) and returns its owned fields.
struct FakeRelay {
    master: File,
    deframer: Deframer<MAX_FRAME_LEN>,
    pending: Vec<u8>,
}

#[derive(Debug, PartialEq)]
enum Got {
    Hello {
        session: u64,
        name: Vec<u8>,
    },
    Pet {
        link: u64,
        counter: u32,
        timeout_ms: u32,
    },
}

impl FakeRelay {
    fn recv(&mut self) -> Got {
        loop {
            while !self.pending.is_empty() {
                let (used, got) = self.deframer.feed(&self.pending);
                let frame = match got {
                    Some(Ok(f)) => Some(relay::decode(&f, &keys()).unwrap()),
                    _ => None,
                };
                let out = frame.map(|f| match f.body {
                    Body::Hello { session, name, .. } => Got::Hello {
                        session,
                        name: name.to_vec(),
                    },
                    Body::Pet { timeout_ms } => Got::Pet {
                        link: f.link,
                        counter: f.counter,
                        timeout_ms,
                    },
                    other => panic!("unexpected {other:?}"),
                });
                self.pending.drain(..used);
                if let Some(o) = out {
                    return o;
                }
            }
            let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            let n = poll(&mut fds, PollTimeout::from(2000u16)).unwrap();
            assert!(n > 0, "nothing from the client within 2 s");
            let mut buf = [0u8; 256];
            let n = self.master.read(&mut buf).unwrap();
            self.pending.extend_from_slice(&buf[..n]);
        }
    }

    fn send(&mut self, link: u64, counter: u32, body: Body<'_>) {
        let mut out = [0u8; MAX_FRAME_LEN];
        let n = relay::encode(
            &RelayFrame {
                link,
                counter,
                body,
            },
            &keys(),
            &mut out,
        )
        .unwrap();
        std::io::Write::write_all(&mut self.master, &out[..n]).unwrap();
    }
}

fn raw(f: &File) {
    let mut t = tcgetattr(f.as_fd()).unwrap();
    cfmakeraw(&mut t);
    tcsetattr(f.as_fd(), SetArg::TCSANOW, &t).unwrap();
}

/// Pumps the client until it reports an event (waiting up to 2 s).
fn next_event(c: &mut RelayWatchdog<FdPort>) -> String {
    for _ in 0..200 {
        let mut got = None;
        c.pump(|e| got = Some(format!("{e:?}"))).unwrap();
        if let Some(e) = got {
            return e;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("no event from the relay side");
}

#[test]
fn client_links_pets_and_disarms_over_a_pty() {
    let pty = openpty(None, None).unwrap();
    let master = File::from(pty.master);
    let slave = File::from(pty.slave);
    raw(&master);
    raw(&slave);
    let mut relay = FakeRelay {
        master,
        deframer: Deframer::new(),
        pending: Vec::new(),
    };
    let mut c = RelayWatchdog::new(FdPort::new(slave), keys(), b"alpha", 0xfeed_0000).unwrap();

    assert_eq!(
        c.arm(Duration::from_secs(30)).unwrap(),
        Duration::from_secs(30)
    );
    assert_eq!(
        relay.recv(),
        Got::Hello {
            session: 0xfeed_0000,
            name: b"alpha".to_vec()
        }
    );
    relay.send(
        0xfeed_0000,
        1,
        Body::Identify {
            version: VERSION,
            link: relay::link_id(9, 1),
            port: 2,
            ports: 4,
            pulse_ms: 500,
            min_timeout_ms: 1000,
            max_timeout_ms: 3_600_000,
        },
    );
    assert_eq!(
        next_event(&mut c),
        format!(
            "{:?}",
            ClientEvent::Linked {
                port: 2,
                ports: 4,
                link: relay::link_id(9, 1)
            }
        )
    );
    assert!(matches!(c.state(), LinkState::Linked { port: 2, .. }));
    let pet = relay.recv();
    assert_eq!(
        pet,
        Got::Pet {
            link: relay::link_id(9, 1),
            counter: 1,
            timeout_ms: 30_000
        }
    );
    relay.send(
        0xfeed_0000,
        2,
        Body::PetAck {
            counter: 1,
            timeout_ms: 30_000,
        },
    );
    assert_eq!(next_event(&mut c), "PetAck { timeout_ms: 30000 }");
    c.pet().unwrap();
    assert!(matches!(relay.recv(), Got::Pet { counter: 2, .. }));
    c.disarm().unwrap();
    assert!(matches!(
        relay.recv(),
        Got::Pet {
            counter: 3,
            timeout_ms: 0,
            ..
        }
    ));
    c.port_mut().flush().unwrap();
    assert_eq!(c.stats().rejected, 0);
}
