//! The heartbeat media as non-blocking endpoints for the daemon's one poll loop (design §3,
//! wire spec §4): `bcast`, `mcast`, `ucast` and `serial`, each opened from its ha.cf line
//! ([`hb_core::config::Medium`]).
//!
//! Every medium gives the loop
//! - a file descriptor to poll for reading ([`AsFd`]): the receive socket, or the tty;
//! - [`Medium::send`]: one packet, already encoded (and signed) by the core;
//! - [`Medium::recv`]: the next packet as it was on the wire, or `None` when nothing more is
//!   waiting; **call it until it returns `None`** after each readiness (a serial read may
//!   complete several messages at once, and what the medium already buffered makes no new
//!   readiness). An error is about one packet (a truncated datagram, garbage): log it; what
//!   is left is read at the next readiness (the loop's `poll(2)` is level-triggered);
//! - its link name, the interface (or device path) heartbeat shows in `Link node:eth0 up`.
//!
//! A serial line also paces what it writes (3.0.6's 512-byte fragments with a pause between
//! them) without ever sleeping: [`Medium::send`] writes what it may now and queues the rest,
//! and the loop calls [`Medium::poll_tx`] when [`Medium::tx_deadline`] passes or, while
//! [`Medium::wants_writable`], when the descriptor becomes writable. UDP media have no
//! deadline and never want writability.
//!
//! Opening returns, besides the medium, the lines 3.0.6 logs when it opens that medium (info
//! priority). heartbeat's media plugins log through GLib, whose handler prefixes every message
//! with `glib: ` ([`PLUGIN_PREFIX`]); real logs read
//! `heartbeat: [5555]: info: glib: UDP multicast heartbeat started for group 225.0.0.178 port 694
//! interface eth1 (ttl=1 loop=0)`, so the lines carry the prefix too.
//!
//! Opening is a start-up step: it may resolve a host name (ucast) and sends a BREAK on a
//! serial line, which takes the kernel a quarter of a second; nothing after opening blocks.

pub mod relay;
mod serial;
mod steady;
pub(crate) mod tty;
mod udp;
mod udp6;

pub use serial::{
    fragment_delay, ClassicReader, ClassicStats, CompactReader, Serial, SerialEncoding,
    SerialStats, COMPACT_FRAME_MAX, FRAGMENT_SIZE, LOCK_DIR, TX_QUEUE_BYTES, WRITE_TIMEOUT,
    WRITE_TIMEOUT_WARN_INTERVAL,
};
pub use steady::Batch;
use steady::SteadySocket;
pub use udp::{Bcast, Mcast, Ucast};
pub use udp6::Udp6;

use crate::log::LogLine;
use hb_core::config;
use relay::RelayChannel;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::PathBuf;
use std::time::Instant;

/// What heartbeat's GLib log handler puts before every message of a media plugin.
pub const PLUGIN_PREFIX: &str = "glib: ";

/// A start-up line of a media plugin, as 3.0.6 logs it (with [`PLUGIN_PREFIX`]).
pub(crate) fn plugin_info(text: impl std::fmt::Display) -> LogLine {
    LogLine::info(format!("{PLUGIN_PREFIX}{text}"))
}

pub(crate) fn plugin_warn(text: impl std::fmt::Display) -> LogLine {
    LogLine::warn(format!("{PLUGIN_PREFIX}{text}"))
}

/// What opening needs besides the ha.cf line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenOptions {
    /// The encoding used on serial lines: classic text to talk to heartbeat 3.0.6, compact
    /// frames between hb nodes (and the relay board).
    pub serial_encoding: SerialEncoding,
    /// Where serial lines are locked (`LCK..ttyS0`): [`LOCK_DIR`]; tests use their own.
    pub lock_dir: PathBuf,
    /// Whether the IPv4 UDP media read steady statuses when the daemon wakes anyway
    /// ([`steady`]; ha.cf `env HB_DEFER_STATUS`, on by default).
    pub defer_status: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            serial_encoding: SerialEncoding::Classic,
            lock_dir: PathBuf::from(LOCK_DIR),
            defer_status: true,
        }
    }
}

/// An open medium.
#[derive(Debug)]
pub enum Medium {
    Bcast(Bcast),
    Mcast(Mcast),
    Ucast(Ucast),
    Mcast6(Udp6),
    Ucast6(Udp6),
    /// Boxed: a serial line carries its reader and writer state.
    Serial(Box<Serial>),
    /// `relay <tty>`: a line to the relay board ([`relay`]); opened by the daemon with
    /// the cluster's keys and this node's name ([`RelayChannel::open`]), not by
    /// [`Medium::open`]. Besides heartbeats it may carry the watchdog and STONITH roles.
    Relay(Box<RelayChannel>),
}

impl Medium {
    /// Opens the medium an ha.cf line describes, returning it and the lines to log.
    /// `ping`, `ping_group` and the IPv6 and other media are not opened here.
    pub fn open(
        cfg: &config::Medium,
        opts: &OpenOptions,
    ) -> Result<(Medium, Vec<LogLine>), MediumError> {
        match cfg {
            config::Medium::Bcast { iface, port } => {
                Bcast::open(iface, *port, opts.defer_status).map(|(m, log)| (Medium::Bcast(m), log))
            }
            config::Medium::Mcast {
                iface,
                group,
                port,
                ttl,
                loopback,
            } => Mcast::open(
                iface,
                (*group).into(),
                *port,
                *ttl,
                *loopback,
                opts.defer_status,
            )
            .map(|(m, log)| (Medium::Mcast(m), log)),
            config::Medium::Ucast { iface, peer, port } => {
                Ucast::open(iface, peer, *port, opts.defer_status)
                    .map(|(m, log)| (Medium::Ucast(m), log))
            }
            config::Medium::Mcast6 {
                iface,
                group,
                port,
                hops,
                loopback,
            } => Udp6::open_mcast6(
                iface,
                (*group).into(),
                *port,
                *hops,
                *loopback,
                opts.defer_status,
            )
            .map(|(m, log)| (Medium::Mcast6(m), log)),
            config::Medium::Ucast6 { iface, peer, port } => {
                Udp6::open_ucast6(iface, peer, *port, opts.defer_status)
                    .map(|(m, log)| (Medium::Ucast6(m), log))
            }
            config::Medium::Serial { device, baud } => {
                Serial::open(device, *baud, opts.serial_encoding, &opts.lock_dir)
                    .map(|(m, log)| (Medium::Serial(Box::new(m)), log))
            }
            other => Err(MediumError::new(
                format!("{} {}", other.directive(), other.link_name()),
                MediumErrorKind::Unsupported(other.directive()),
            )),
        }
    }

    /// The ha.cf directive: `bcast`, `mcast`, `ucast`, `serial`.
    pub fn kind(&self) -> &'static str {
        match self {
            Medium::Bcast(_) => "bcast",
            Medium::Mcast(_) => "mcast",
            Medium::Ucast(_) => "ucast",
            Medium::Mcast6(_) => "mcast6",
            Medium::Ucast6(_) => "ucast6",
            Medium::Serial(_) => "serial",
            Medium::Relay(_) => "relay",
        }
    }

    /// The relay channel, if this is a relay line.
    pub fn relay(&self) -> Option<&RelayChannel> {
        match self {
            Medium::Relay(r) => Some(r),
            _ => None,
        }
    }

    pub fn relay_mut(&mut self) -> Option<&mut RelayChannel> {
        match self {
            Medium::Relay(r) => Some(r),
            _ => None,
        }
    }

    /// The link name: the interface, or the serial device path.
    pub fn link_name(&self) -> &str {
        match self {
            Medium::Bcast(m) => m.link_name(),
            Medium::Mcast(m) => m.link_name(),
            Medium::Ucast(m) => m.link_name(),
            Medium::Mcast6(m) | Medium::Ucast6(m) => m.link_name(),
            Medium::Serial(m) => m.link_name(),
            Medium::Relay(m) => m.link_name(),
        }
    }

    /// Sends one encoded packet (a serial line may queue part of it, see the module docs).
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), MediumError> {
        match self {
            Medium::Bcast(m) => m.send(bytes),
            Medium::Mcast(m) => m.send(bytes),
            Medium::Ucast(m) => m.send(bytes),
            Medium::Mcast6(m) | Medium::Ucast6(m) => m.send(bytes),
            Medium::Serial(m) => m.send(bytes),
            Medium::Relay(m) => m.send(bytes),
        }
    }

    /// The next received packet into `buf` (its length), or `None` if nothing is waiting.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, MediumError> {
        match self {
            Medium::Bcast(m) => m.recv(buf),
            Medium::Mcast(m) => m.recv(buf),
            Medium::Ucast(m) => m.recv(buf),
            Medium::Mcast6(m) | Medium::Ucast6(m) => m.recv(buf),
            Medium::Serial(m) => m.recv(buf),
            Medium::Relay(m) => m.recv(buf),
        }
    }

    /// The medium's label and steady socket, if it is a UDP medium with one.
    fn steady(&mut self) -> Option<(&str, &mut SteadySocket)> {
        let (label, sock) = match self {
            Medium::Bcast(m) => m.steady(),
            Medium::Mcast(m) => m.steady(),
            Medium::Ucast(m) => m.steady(),
            Medium::Mcast6(m) | Medium::Ucast6(m) => m.steady(),
            Medium::Serial(_) | Medium::Relay(_) => return None,
        };
        Some((label, sock?))
    }

    /// Reads the steady datagrams waiting on the medium's steady socket ([`steady`]), each
    /// with the time it arrived; `None` if the medium has no such socket.
    pub fn recv_steady(&mut self) -> Result<Option<&Batch>, MediumError> {
        match self.steady() {
            Some((label, s)) => s.recv(label).map(Some),
            None => Ok(None),
        }
    }

    fn steady_ref(&self) -> Option<&SteadySocket> {
        match self {
            Medium::Bcast(m) => m.steady_ref(),
            Medium::Mcast(m) => m.steady_ref(),
            Medium::Ucast(m) => m.steady_ref(),
            Medium::Mcast6(m) | Medium::Ucast6(m) => m.steady_ref(),
            Medium::Serial(_) | Medium::Relay(_) => None,
        }
    }

    /// What the last [`Medium::recv_steady`] read.
    pub fn steady_batch(&self) -> Option<&Batch> {
        self.steady_ref().map(SteadySocket::batch)
    }

    /// The steady socket, if the medium has one.
    pub fn steady_fd(&self) -> Option<BorrowedFd<'_>> {
        self.steady_ref().map(SteadySocket::fd)
    }

    /// When [`Medium::poll_tx`] must next run, if output is queued.
    pub fn tx_deadline(&self) -> Option<Instant> {
        match self {
            Medium::Serial(m) => m.tx_deadline(),
            // A relay line also has hellos to repeat and requests to expire: its service time.
            Medium::Relay(m) => m.poll_timeout(),
            _ => None,
        }
    }

    /// Whether each readiness is one packet to read: a UDP socket, whose queued datagrams
    /// keep it readable (level-triggered poll), so the loop reads one and polls again
    /// instead of paying a `recvmsg` that says `EAGAIN` after every packet. A tty's reader
    /// buffers what it read and must be drained.
    pub fn is_datagram(&self) -> bool {
        matches!(
            self,
            Medium::Bcast(_)
                | Medium::Mcast(_)
                | Medium::Ucast(_)
                | Medium::Mcast6(_)
                | Medium::Ucast6(_)
        )
    }

    /// Whether what we send comes straight back to our own receive socket (a broadcast, a
    /// multicast with loopback): the kernel queues the copy while `sendto` runs, so the loop
    /// reads it in the same round instead of polling once more to learn it is there. The
    /// copy matters: the core marks our own link up from it. (`mcast6` is left to poll.)
    pub fn echoes(&self) -> bool {
        match self {
            Medium::Bcast(_) => true,
            Medium::Mcast(m) => m.echoes(),
            _ => false,
        }
    }

    /// Whether the loop should also wait for the descriptor to become writable.
    pub fn wants_writable(&self) -> bool {
        match self {
            Medium::Serial(m) => m.wants_writable(),
            Medium::Relay(m) => m.wants_writable(),
            _ => false,
        }
    }

    /// Opens a serial or relay line again after a hang-up ([`MediumError::is_hangup`]);
    /// other media never hang up.
    pub fn reopen(&mut self) -> Result<(), MediumError> {
        match self {
            Medium::Serial(m) => m.reopen(),
            Medium::Relay(m) => m.reopen(),
            _ => Ok(()),
        }
    }

    /// Writes queued output that is due at `now`.
    pub fn poll_tx(&mut self, now: Instant) -> Result<(), MediumError> {
        match self {
            Medium::Serial(m) => m.poll_tx(now),
            Medium::Relay(m) => m.service(now),
            _ => Ok(()),
        }
    }
}

impl AsFd for Medium {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Medium::Bcast(m) => m.as_fd(),
            Medium::Mcast(m) => m.as_fd(),
            Medium::Ucast(m) => m.as_fd(),
            Medium::Mcast6(m) | Medium::Ucast6(m) => m.as_fd(),
            Medium::Serial(m) => m.as_fd(),
            Medium::Relay(m) => m.as_fd(),
        }
    }
}

impl AsRawFd for Medium {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// A medium's failure: which medium (as its ha.cf line names it, `bcast eth1`,
/// `serial /dev/ttyS0`) and why.
#[derive(Debug, thiserror::Error)]
#[error("{medium}: {kind}")]
pub struct MediumError {
    pub medium: String,
    pub kind: MediumErrorKind,
}

impl MediumError {
    /// The line hung up: the device is gone (or its other end closed) until reopened.
    pub fn is_hangup(&self) -> bool {
        matches!(self.kind, MediumErrorKind::Hangup)
    }

    pub(crate) fn new(medium: impl Into<String>, kind: MediumErrorKind) -> Self {
        MediumError {
            medium: medium.into(),
            kind,
        }
    }
}

/// Why a medium failed.
#[derive(Debug, thiserror::Error)]
pub enum MediumErrorKind {
    #[error("interface does not exist")]
    NoSuchInterface,
    #[error("interface has no IPv4 address")]
    NoIpv4Address,
    #[error("interface has no IPv4 broadcast address (an address added without `brd +`?)")]
    NoBroadcastAddress,
    #[error("cannot list interface addresses: {}", crate::errno_text(.0))]
    Interfaces(std::io::Error),
    #[error("{0} is not a multicast group")]
    NotMulticast(std::net::Ipv4Addr),
    #[error("cannot resolve hostname {host}: {reason}")]
    Resolve { host: String, reason: String },
    /// Creating, configuring or binding a socket.
    #[error("cannot {op}: {}", crate::errno_text(.source))]
    Socket {
        op: &'static str,
        source: std::io::Error,
    },
    #[error("cannot send to {to}: {}", crate::errno_text(.source))]
    Send {
        to: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot receive: {}", crate::errno_text(.0))]
    Recv(std::io::Error),
    #[error("dropped a {len}-byte packet that does not fit the {room}-byte buffer")]
    TooBig { len: usize, room: usize },
    #[error("no such device")]
    NoSuchDevice,
    #[error("not a char device")]
    NotCharDevice,
    #[error("cannot open: {}", crate::errno_text(.0))]
    Open(std::io::Error),
    #[error("cannot set up the tty: {}", crate::errno_text(.0))]
    Termios(std::io::Error),
    #[error("unsupported baud rate {0}")]
    Baud(u32),
    #[error("line is locked by pid {pid} ({})", .lockfile.display())]
    Locked { pid: i32, lockfile: PathBuf },
    #[error("cannot lock line ({}): {}", .lockfile.display(), crate::errno_text(.source))]
    Lock {
        lockfile: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write: {}", crate::errno_text(.0))]
    Write(std::io::Error),
    #[error("cannot read: {}", crate::errno_text(.0))]
    Read(std::io::Error),
    /// heartbeat's `TTY write timeout on [/dev/ttyS0] (no connection or bad cable? [see
    /// documentation])`: a fragment could not be written for [`WRITE_TIMEOUT`]; the message
    /// was dropped and the line's output flushed.
    #[error("TTY write timeout (no connection or bad cable? [see documentation])")]
    WriteTimeout,
    #[error("transmit queue full ({0} bytes waiting); message dropped")]
    QueueFull(usize),
    #[error("the line hung up")]
    Hangup,
    #[error("classic serial lines carry classic text (`>>>` … `<<<`); message dropped")]
    NotClassic,
    #[error("`{0}` media are not opened by hb")]
    Unsupported(&'static str),
}
