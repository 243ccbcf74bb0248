//! `serial <device>` at `baud <rate>` (wire spec §4.4, behaviour spec §1.5).
//!
//! # Line set-up
//!
//! The tty is driven with `nix`'s termios calls rather than the `serialport` crate: heartbeat
//! needs exact input flags (`INPCK|ISTRIP|IGNCR|BRKINT`), `VMIN`/`VTIME`, a BREAK on open, a
//! non-blocking descriptor to poll and output flushing on a stalled write. `serialport` sets
//! its own raw input flags with no way to ask for these, adds `TIOCEXCL`, and offers blocking
//! reads with timeouts; `nix` is already a dependency.
//!
//! Raw 8N1 (`CS8`, no parity, one stop bit), `CREAD|CLOCAL|CRTSCTS`, no output processing, no
//! echo, no signals, `VMIN=1 VTIME=1`, the speed from `baud`. The input flags depend on what
//! the line carries ([`SerialEncoding`]):
//! - **classic** (heartbeat 3.0.6's 7-bit text): exactly `INPCK|ISTRIP|IGNCR|BRKINT`, 3.0.6's
//!   flags — carriage returns are dropped and bit 7 stripped by the kernel;
//! - **compact** (our 8-bit frames): `INPCK|BRKINT` only. `ISTRIP` would clear bit 7 of every
//!   byte and `IGNCR` would delete every 0x0D, breaking COBS frames and their CRC.
//!
//! Opened `O_NOCTTY|O_NONBLOCK`; input and output are flushed and a BREAK is sent (the peer's
//! `BRKINT` flushes its queues), as 3.0.6 does.
//!
//! # Locking
//!
//! UUCP lock file `/var/lock/LCK..<name>` (HDB format: the pid in ten characters and `\n`,
//! made atomically by writing a temporary file and `link(2)`ing it), where `<name>` is the
//! device path without `/dev/` and without non-alphanumerics (`/dev/ttyS0` → `LCK..ttyS0`,
//! `/dev/pts/3` → `LCK..pts3`), as cluster-glue's `ttylock`. Chosen over `flock(2)` because it
//! is what heartbeat 3.0.6, getty, minicom, cu and pppd honour: a real heartbeat, or an admin's
//! terminal program, on the same port sees the lock. A lock whose pid is dead is stale and
//! removed. (cluster-glue's `ttylock` inverts its `kill(pid, 0)` test and takes over locks of
//! live processes it may signal; we do not.) The lock is removed when the medium is dropped,
//! if it still names us.
//!
//! # Writing
//!
//! Classic text goes out in 512-byte fragments with a pause of `512 / (baud / 8)` seconds
//! between the fragments of one message (213 ms at 19200 baud) and none between messages, as
//! 3.0.6 does, so that a 3.0.6 reader (one `read(2)` per byte) keeps up. 3.0.6 sleeps in its
//! writer process; here [`Serial::send`] writes what it may at once and queues the rest, and
//! the loop's [`Serial::poll_tx`] continues at [`Serial::tx_deadline`]. Compact frames are
//! written whole (they are tens of bytes, and our reader reads in bulk).
//!
//! A fragment the kernel does not take at once (hardware flow control holding us, no cable)
//! waits for the descriptor to become writable ([`Serial::wants_writable`]); if it is still not
//! written after [`WRITE_TIMEOUT`] (3.0.6's 500 ms alarm) the message is dropped, the tty's
//! output flushed, and [`MediumErrorKind::WriteTimeout`] returned — at most once an hour, as
//! 3.0.6 warns. The queue holds at most [`TX_QUEUE_BYTES`] (one message of any size when
//! empty).
//!
//! # Reading
//!
//! Classic: [`ClassicReader`], 3.0.6's reader. Compact: [`CompactReader`], the core's
//! [`Deframer`]. Either way [`Serial::recv`] returns whole messages as they were on the wire.

use super::tty::{self, LineSetup};
use super::{plugin_info, MediumError, MediumErrorKind};
use crate::log::LogLine;
use hb_core::msg::compact::{Deframer, DeframerStats};
use nix::sys::termios::{self, BaudRate, InputFlags};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where UUCP lock files live (cluster-glue `TTY_LOCK_D`).
pub const LOCK_DIR: &str = "/var/lock";
/// heartbeat's write fragment (`FRAGSIZE`).
pub const FRAGMENT_SIZE: usize = 512;
/// How long one fragment may wait to be written (3.0.6's `setmsalarm(500)`).
pub const WRITE_TIMEOUT: Duration = Duration::from_millis(500);
/// At most one write-timeout report per this interval (`RTS_WARNTIME`, an hour).
pub const WRITE_TIMEOUT_WARN_INTERVAL: Duration = Duration::from_secs(3600);
/// Most bytes queued for writing; a message that would go past it is refused (unless the
/// queue is empty).
pub const TX_QUEUE_BYTES: usize = 64 * 1024;
/// Longest compact frame accepted, stuffing included.
pub const COMPACT_FRAME_MAX: usize = 16 * 1024;
/// Longest classic message (`MAXMSG`); longer ones are dropped, as 3.0.6 does.
pub const CLASSIC_MAX: usize = hb_core::msg::MAX_MESSAGE;
/// Bytes read from the tty per `read(2)`.
const READ_CHUNK: usize = 4096;

/// The pause between two fragments of one message at `baud`: `512 / (baud / 8)` seconds with
/// 3.0.6's arithmetic (integer bytes per second, whole microseconds).
pub fn fragment_delay(baud: u32) -> Duration {
    let bytes_per_sec = u64::from(baud / 8).max(1);
    Duration::from_micros(FRAGMENT_SIZE as u64 * 1_000_000 / bytes_per_sec)
}

/// What a serial line carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SerialEncoding {
    /// heartbeat's classic text, to and from heartbeat 3.0.6.
    Classic,
    /// Our compact frames (`hb_core::msg::compact`), between hb nodes.
    Compact,
}

/// Counters of a serial line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SerialStats {
    /// Classic reader counters (all zero on a compact line).
    pub classic: ClassicStats,
    /// Compact reader counters (all zero on a classic line).
    pub compact: DeframerStats,
    /// Messages too big for the caller's buffer, dropped.
    pub too_big: u64,
    /// Messages dropped after a write timeout.
    pub write_timeouts: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
}

/// An open serial line.
#[derive(Debug)]
pub struct Serial {
    /// `serial /dev/ttyS0`, for messages.
    label: String,
    device: String,
    baud: u32,
    encoding: SerialEncoding,
    tty: File,
    _lock: UucpLock,
    rx: Receiver,
    inbuf: Box<[u8; READ_CHUNK]>,
    in_pos: usize,
    in_len: usize,
    tx: TxQueue,
    stats: SerialStats,
}

impl Serial {
    /// Locks, opens and sets up the line (module docs); returns it and 3.0.6's start line.
    pub fn open(
        device: &str,
        baud: u32,
        encoding: SerialEncoding,
        lock_dir: &Path,
    ) -> Result<(Serial, Vec<LogLine>), MediumError> {
        let label = format!("serial {device}");
        let err = |kind| MediumError::new(label.clone(), kind);
        let speed = tty::baud_rate(baud).ok_or_else(|| err(MediumErrorKind::Baud(baud)))?;
        match std::fs::metadata(device) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(err(MediumErrorKind::NoSuchDevice))
            }
            Err(e) => return Err(err(MediumErrorKind::Open(e))),
            Ok(m) if !m.file_type().is_char_device() => {
                return Err(err(MediumErrorKind::NotCharDevice))
            }
            Ok(_) => {}
        }
        let lock = UucpLock::acquire(lock_dir, device).map_err(err)?;
        let tty = tty::open(device).map_err(err)?;
        tty::set_up(&tty, &line_setup(speed, encoding))
            .map_err(|e| err(MediumErrorKind::Termios(e.into())))?;
        let rx = match encoding {
            SerialEncoding::Classic => Receiver::Classic(ClassicReader::new()),
            SerialEncoding::Compact => Receiver::Compact(CompactReader::new()),
        };
        let log = vec![plugin_info(format_args!(
            "Starting serial heartbeat on tty {device} ({baud} baud)"
        ))];
        let serial = Serial {
            label,
            device: device.to_string(),
            baud,
            encoding,
            tty,
            _lock: lock,
            rx,
            inbuf: Box::new([0; READ_CHUNK]),
            in_pos: 0,
            in_len: 0,
            tx: TxQueue::new(encoding == SerialEncoding::Classic, fragment_delay(baud)),
            stats: SerialStats::default(),
        };
        Ok((serial, log))
    }

    /// Opens the device again after a hang-up (a USB adapter unplugged and plugged back in, a
    /// pty whose other end went away and came back), keeping the lock. What was half read and
    /// what was queued are dropped: the peer sees at worst a lost heartbeat.
    pub fn reopen(&mut self) -> Result<(), MediumError> {
        let label = self.label.clone();
        let err = |kind| MediumError::new(label.clone(), kind);
        let speed =
            tty::baud_rate(self.baud).ok_or_else(|| err(MediumErrorKind::Baud(self.baud)))?;
        let tty = tty::open(&self.device).map_err(err)?;
        tty::set_up(&tty, &line_setup(speed, self.encoding))
            .map_err(|e| err(MediumErrorKind::Termios(e.into())))?;
        self.tty = tty;
        self.rx = match self.encoding {
            SerialEncoding::Classic => Receiver::Classic(ClassicReader::new()),
            SerialEncoding::Compact => Receiver::Compact(CompactReader::new()),
        };
        self.in_pos = 0;
        self.in_len = 0;
        self.tx = TxQueue::new(
            self.encoding == SerialEncoding::Classic,
            fragment_delay(self.baud),
        );
        Ok(())
    }

    /// The device path.
    pub fn link_name(&self) -> &str {
        &self.device
    }

    pub fn baud(&self) -> u32 {
        self.baud
    }

    pub fn encoding(&self) -> SerialEncoding {
        self.encoding
    }

    pub fn stats(&self) -> SerialStats {
        let mut s = self.stats;
        match &self.rx {
            Receiver::Classic(r) => s.classic = r.stats(),
            Receiver::Compact(r) => s.compact = r.stats(),
        }
        s
    }

    /// Queues one message and writes what may be written now. A classic line takes only
    /// classic text (`>>>` …).
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), MediumError> {
        self.send_at(bytes, Instant::now())
    }

    /// [`Serial::send`] with the loop's idea of now.
    pub fn send_at(&mut self, bytes: &[u8], now: Instant) -> Result<(), MediumError> {
        if self.encoding == SerialEncoding::Classic && !bytes.starts_with(b">>>") {
            return Err(self.err(MediumErrorKind::NotClassic));
        }
        self.tx.push(bytes).map_err(|k| self.err(k))?;
        self.poll_tx(now)
    }

    /// Writes the queued output that is due at `now`.
    pub fn poll_tx(&mut self, now: Instant) -> Result<(), MediumError> {
        let r = self.tx.service(&mut self.tty, now, &mut self.stats);
        r.map_err(|k| self.err(k))
    }

    /// When [`Serial::poll_tx`] must next run: the end of the pause before the next fragment,
    /// or the write timeout of a fragment waiting for the line.
    pub fn tx_deadline(&self) -> Option<Instant> {
        self.tx.deadline()
    }

    /// Whether a fragment waits for the descriptor to become writable.
    pub fn wants_writable(&self) -> bool {
        self.tx.blocked_since.is_some()
    }

    /// Bytes waiting to be written.
    pub fn tx_queued(&self) -> usize {
        self.tx.queued
    }

    /// The next complete message into `buf`, or `None` when the line has nothing more.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, MediumError> {
        loop {
            while self.in_pos < self.in_len {
                let input = &self.inbuf[self.in_pos..self.in_len];
                let (used, msg) = self.rx.feed(input);
                self.in_pos += used;
                let Some(msg) = msg else { continue };
                match buf.get_mut(..msg.len()) {
                    Some(dst) => {
                        dst.copy_from_slice(msg);
                        return Ok(Some(msg.len()));
                    }
                    None => {
                        self.stats.too_big += 1;
                        let (len, room) = (msg.len(), buf.len());
                        return Err(self.err(MediumErrorKind::TooBig { len, room }));
                    }
                }
            }
            match tty::read_step(&mut self.tty, &mut self.inbuf[..]) {
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

    fn err(&self, kind: MediumErrorKind) -> MediumError {
        MediumError::new(self.label.clone(), kind)
    }
}

impl AsFd for Serial {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.tty.as_fd()
    }
}

/// The input flags for an encoding (module docs).
pub(crate) fn input_flags(encoding: SerialEncoding) -> InputFlags {
    match encoding {
        SerialEncoding::Classic => {
            InputFlags::INPCK | InputFlags::ISTRIP | InputFlags::IGNCR | InputFlags::BRKINT
        }
        SerialEncoding::Compact => InputFlags::INPCK | InputFlags::BRKINT,
    }
}

/// 3.0.6's serial line: RTS/CTS, the encoding's input flags, a read returns after one byte
/// or a tenth of a second of quiet, and a BREAK to make the other end flush.
fn line_setup(speed: BaudRate, encoding: SerialEncoding) -> LineSetup {
    LineSetup {
        speed,
        input: Some(input_flags(encoding)),
        hw_flow: true,
        vtime: 1,
        send_break: true,
    }
}

/// Where queued output goes: the tty, or a test's fake line.
trait Line: Write {
    /// Throws away what the line has taken but not sent.
    fn discard_output(&mut self);
}

impl Line for File {
    fn discard_output(&mut self) {
        let _ = termios::tcflush(&*self, termios::FlushArg::TCOFLUSH);
    }
}

/// Output waiting to be written, paced for classic lines.
#[derive(Debug)]
struct TxQueue {
    queue: VecDeque<Outgoing>,
    queued: usize,
    paced: bool,
    delay: Duration,
    /// No fragment before this (the pause after the previous one).
    next_write: Option<Instant>,
    /// Since when the current fragment waits for the line.
    blocked_since: Option<Instant>,
    last_timeout_report: Option<Instant>,
}

#[derive(Debug)]
struct Outgoing {
    bytes: Vec<u8>,
    written: usize,
}

impl TxQueue {
    fn new(paced: bool, delay: Duration) -> Self {
        TxQueue {
            queue: VecDeque::new(),
            queued: 0,
            paced,
            delay,
            next_write: None,
            blocked_since: None,
            last_timeout_report: None,
        }
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), MediumErrorKind> {
        if !self.queue.is_empty() && self.queued + bytes.len() > TX_QUEUE_BYTES {
            return Err(MediumErrorKind::QueueFull(self.queued));
        }
        self.queued += bytes.len();
        self.queue.push_back(Outgoing {
            bytes: bytes.to_vec(),
            written: 0,
        });
        Ok(())
    }

    fn deadline(&self) -> Option<Instant> {
        if self.queue.is_empty() {
            return None;
        }
        let stall = self.blocked_since.map(|t| t + WRITE_TIMEOUT);
        match (self.next_write, stall) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn service(
        &mut self,
        out: &mut impl Line,
        now: Instant,
        stats: &mut SerialStats,
    ) -> Result<(), MediumErrorKind> {
        loop {
            let Some(front) = self.queue.front_mut() else {
                self.blocked_since = None;
                return Ok(());
            };
            if let Some(t) = self.next_write {
                if now < t {
                    return Ok(());
                }
                self.next_write = None;
            }
            let len = front.bytes.len();
            let end = if self.paced {
                len.min((front.written / FRAGMENT_SIZE + 1) * FRAGMENT_SIZE)
            } else {
                len
            };
            match out.write(&front.bytes[front.written..end]) {
                Ok(n) if n > 0 => {
                    front.written += n;
                    stats.bytes_written += n as u64;
                    if front.written == len {
                        self.pop();
                        self.blocked_since = None;
                        continue;
                    }
                    if front.written == end {
                        self.blocked_since = None;
                        self.next_write = Some(now + self.delay);
                        return Ok(());
                    }
                    return self.blocked(out, now, stats);
                }
                Ok(_) => return self.blocked(out, now, stats),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    return self.blocked(out, now, stats)
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.pop();
                    self.blocked_since = None;
                    return Err(MediumErrorKind::Write(e));
                }
            }
        }
    }

    /// The current fragment could not be (fully) written: wait for the line, up to the
    /// timeout.
    fn blocked(
        &mut self,
        out: &mut impl Line,
        now: Instant,
        stats: &mut SerialStats,
    ) -> Result<(), MediumErrorKind> {
        let since = *self.blocked_since.get_or_insert(now);
        if now.duration_since(since) < WRITE_TIMEOUT {
            return Ok(());
        }
        // 3.0.6 flushes the line and drops the message.
        out.discard_output();
        self.pop();
        self.blocked_since = None;
        stats.write_timeouts += 1;
        let report = self
            .last_timeout_report
            .is_none_or(|t| now.duration_since(t) >= WRITE_TIMEOUT_WARN_INTERVAL);
        if report {
            self.last_timeout_report = Some(now);
            return Err(MediumErrorKind::WriteTimeout);
        }
        Ok(())
    }

    fn pop(&mut self) {
        if let Some(m) = self.queue.pop_front() {
            self.queued -= m.bytes.len();
        }
    }
}

/// Reassembles classic messages from a byte stream exactly as heartbeat 3.0.6's
/// `serial_read`/`ttygets` do:
/// - the stream is cut into lines at LF (a line longer than [`CLASSIC_MAX`] bytes is cut there
///   too); a NUL ends a line's text (C strings), the rest up to the LF is ignored;
/// - lines are discarded until one **begins** with `>>>` (counted as garbage);
/// - from there lines are collected, whatever they hold (a second `>>>` line included), until
///   one **begins** with `<<<`; the message is the collected lines, each with its LF;
/// - a message that grows to [`CLASSIC_MAX`] bytes is dropped (3.0.6 logs
///   `serial_read:serial_pkt exceeds MAXMSG`) and discarding starts again.
///
/// The kernel has already removed CRs and bit 7 on a classic line (`IGNCR`, `ISTRIP`). The
/// message is handed over as collected; the classic decoder rejects what is not exactly
/// `>>>\n` … `<<<\n`.
#[derive(Debug, Default)]
pub struct ClassicReader {
    collecting: bool,
    /// The current line's text, up to its first NUL.
    line: Vec<u8>,
    /// Bytes of the current line so far, NUL and after included.
    line_len: usize,
    nul: bool,
    msg: Vec<u8>,
    /// `msg` was handed out; clear it before collecting again.
    handed_out: bool,
    stats: ClassicStats,
}

/// Counters of a [`ClassicReader`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassicStats {
    /// Messages reassembled.
    pub messages: u64,
    /// Lines discarded while looking for `>>>`.
    pub garbage_lines: u64,
    /// Bytes discarded: garbage lines (with their LF) and dropped oversize messages.
    pub garbage_bytes: u64,
    /// Messages dropped for reaching [`CLASSIC_MAX`].
    pub oversize: u64,
}

impl ClassicReader {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stats(&self) -> ClassicStats {
        self.stats
    }

    /// Takes bytes up to and including the one that completes a message; returns how many it
    /// took and the message, if one completed (valid until the next call).
    pub fn feed(&mut self, input: &[u8]) -> (usize, Option<&[u8]>) {
        if std::mem::take(&mut self.handed_out) {
            self.msg.clear();
        }
        for (i, &b) in input.iter().enumerate() {
            let line_end = if b == b'\n' {
                true
            } else {
                if b == 0 {
                    self.nul = true;
                } else if !self.nul {
                    self.line.push(b);
                }
                self.line_len += 1;
                // ttygets() returns a full buffer as a line.
                self.line_len >= CLASSIC_MAX
            };
            if line_end && self.end_line() {
                self.handed_out = true;
                return (i + 1, Some(&self.msg));
            }
        }
        (input.len(), None)
    }

    /// Handles the line just ended; returns whether it completed a message.
    fn end_line(&mut self) -> bool {
        let line = std::mem::take(&mut self.line);
        let consumed = self.line_len as u64 + 1;
        self.line_len = 0;
        self.nul = false;
        let complete = if !self.collecting {
            if line.starts_with(b">>>") {
                self.collecting = true;
                self.msg.clear();
                self.append(&line, 1);
            } else {
                self.stats.garbage_lines += 1;
                self.stats.garbage_bytes += consumed;
            }
            false
        } else {
            let end = line.starts_with(b"<<<");
            // 3.0.6 counts one more byte for the end line (its NUL).
            self.append(&line, if end { 2 } else { 1 }) && end
        };
        self.line = line;
        self.line.clear();
        if complete {
            self.collecting = false;
            self.stats.messages += 1;
        }
        complete
    }

    /// Adds a line to the message; on reaching the size limit drops the message and returns
    /// false.
    fn append(&mut self, line: &[u8], extra: usize) -> bool {
        if self.msg.len() + line.len() + extra >= CLASSIC_MAX {
            self.stats.oversize += 1;
            self.stats.garbage_bytes += (self.msg.len() + line.len() + 1) as u64;
            self.msg.clear();
            self.collecting = false;
            return false;
        }
        self.msg.extend_from_slice(line);
        self.msg.push(b'\n');
        true
    }
}

/// Splits a byte stream into compact frames with the core's [`Deframer`] (COBS, CRC-32C,
/// resynchronisation at the next 0x00 after garbage) and hands out each good frame as it was
/// on the wire: the stuffed bytes and the 0x00 that ends them, ready for
/// `hb_core::msg::compact::decode`. Bad and oversize frames are counted in
/// [`CompactReader::stats`].
#[derive(Debug)]
pub struct CompactReader {
    deframer: Box<Deframer<COMPACT_FRAME_MAX>>,
    /// The stuffed bytes since the last 0x00 (what the deframer unstuffs in place).
    raw: Vec<u8>,
    out: Vec<u8>,
}

impl Default for CompactReader {
    fn default() -> Self {
        Self::new()
    }
}

impl CompactReader {
    pub fn new() -> Self {
        CompactReader {
            deframer: Box::new(Deframer::new()),
            raw: Vec::new(),
            out: Vec::new(),
        }
    }

    pub fn stats(&self) -> DeframerStats {
        self.deframer.stats()
    }

    /// Like [`ClassicReader::feed`], for frames.
    pub fn feed(&mut self, input: &[u8]) -> (usize, Option<&[u8]>) {
        for (i, &b) in input.iter().enumerate() {
            if b != 0 && self.raw.len() < COMPACT_FRAME_MAX {
                self.raw.push(b);
            }
            let good = self.deframer.push(b).map(|r| r.is_ok());
            if b == 0 {
                if good == Some(true) {
                    std::mem::swap(&mut self.out, &mut self.raw);
                    self.out.push(0);
                    self.raw.clear();
                    return (i + 1, Some(&self.out));
                }
                self.raw.clear();
            }
        }
        (input.len(), None)
    }
}

#[derive(Debug)]
enum Receiver {
    Classic(ClassicReader),
    Compact(CompactReader),
}

impl Receiver {
    fn feed(&mut self, input: &[u8]) -> (usize, Option<&[u8]>) {
        match self {
            Receiver::Classic(r) => r.feed(input),
            Receiver::Compact(r) => r.feed(input),
        }
    }
}

/// A UUCP (HDB) lock file, removed on drop if it still names this process.
#[derive(Debug)]
struct UucpLock {
    path: PathBuf,
}

impl UucpLock {
    fn acquire(dir: &Path, device: &str) -> Result<UucpLock, MediumErrorKind> {
        let name = lock_name(device);
        let path = dir.join(format!("LCK..{name}"));
        let me = std::process::id();
        let lock_err = |source| MediumErrorKind::Lock {
            lockfile: path.clone(),
            source,
        };
        if let Some(pid) = read_lock_pid(&path) {
            if pid_alive(pid) {
                return Err(MediumErrorKind::Locked {
                    pid,
                    lockfile: path.clone(),
                });
            }
        }
        // Stale (dead pid, unreadable or empty): remove it and go on, as ttylock does.
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(lock_err(e)),
        }
        let tmp = dir.join(format!("tmp{me}-{name}"));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&tmp)?;
            f.write_all(format!("{me:>10}\n").as_bytes())?;
            drop(f);
            std::fs::hard_link(&tmp, &path)
        })();
        let _ = std::fs::remove_file(&tmp);
        match result {
            Ok(()) => Ok(UucpLock { path }),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(MediumErrorKind::Locked {
                pid: read_lock_pid(&path).unwrap_or(0),
                lockfile: path.clone(),
            }),
            Err(e) => Err(lock_err(e)),
        }
    }
}

impl Drop for UucpLock {
    fn drop(&mut self) {
        if read_lock_pid(&self.path) == i32::try_from(std::process::id()).ok() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// `LCK..` + the device path without `/dev/` and without non-alphanumerics.
fn lock_name(device: &str) -> String {
    device
        .strip_prefix("/dev/")
        .unwrap_or(device)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

fn read_lock_pid(path: &Path) -> Option<i32> {
    let mut text = String::new();
    File::open(path)
        .ok()?
        .take(64)
        .read_to_string(&mut text)
        .ok()?;
    let text = text.trim_start();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    text[..digits].parse().ok().filter(|&p: &i32| p > 0)
}

/// Whether a process with this pid exists (this one included).
fn pid_alive(pid: i32) -> bool {
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::ESRCH) => false,
        Err(_) => true, // EPERM: alive, not ours to signal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classic(text: &[u8]) -> (Vec<Vec<u8>>, ClassicStats) {
        let mut r = ClassicReader::new();
        let mut out = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let (n, msg) = r.feed(rest);
            if let Some(m) = msg {
                out.push(m.to_vec());
            }
            rest = &rest[n..];
        }
        (out, r.stats())
    }

    #[test]
    fn fragment_delay_is_3_0_6s() {
        assert_eq!(fragment_delay(19_200), Duration::from_micros(213_333));
        assert_eq!(fragment_delay(9600), Duration::from_micros(426_666));
        assert_eq!(fragment_delay(115_200), Duration::from_micros(35_555));
        assert_eq!(fragment_delay(460_800), Duration::from_micros(8_888));
    }

    #[test]
    fn classic_reader_skips_garbage_between_messages() {
        let (msgs, stats) = classic(
            b"noise\n\x01\x02garbage\n>>>\nt=status\nsrc=a\n<<<\nmore noise\n>>>\nt=x\n<<<\n",
        );
        assert_eq!(
            msgs,
            [
                b">>>\nt=status\nsrc=a\n<<<\n".to_vec(),
                b">>>\nt=x\n<<<\n".to_vec()
            ]
        );
        assert_eq!(stats.messages, 2);
        assert_eq!(stats.garbage_lines, 3);
        assert_eq!(stats.garbage_bytes, 6 + 10 + 11);
    }

    #[test]
    fn classic_reader_matches_line_starts_only() {
        // `>>>` must begin the line; `>>>>` and `>>>junk` begin it too (strncmp of 3 bytes),
        // and the line is kept as it was.
        let (msgs, _) = classic(b"x>>>\n>>>junk\na=1\n<<<trailer\n");
        assert_eq!(msgs, [b">>>junk\na=1\n<<<trailer\n".to_vec()]);
    }

    #[test]
    fn classic_reader_keeps_collecting_across_a_second_start() {
        // A lost `<<<` merges two messages, as in 3.0.6; the decoder then rejects the result.
        let (msgs, _) = classic(b">>>\na=1\n>>>\nb=2\n<<<\n");
        assert_eq!(msgs, [b">>>\na=1\n>>>\nb=2\n<<<\n".to_vec()]);
    }

    #[test]
    fn classic_reader_cuts_lines_at_nul() {
        let (msgs, _) = classic(b">>>\0ignored\na=1\0b\n<<<\n");
        assert_eq!(msgs, [b">>>\na=1\n<<<\n".to_vec()]);
        // A NUL first hides the start.
        let (msgs, stats) = classic(b"\0>>>\na=1\n<<<\n");
        assert!(msgs.is_empty());
        assert_eq!(stats.garbage_lines, 3);
    }

    #[test]
    fn classic_reader_works_byte_by_byte() {
        let text = b"zz\n>>>\nt=status\n<<<\n";
        let mut r = ClassicReader::new();
        let mut got = Vec::new();
        for b in text {
            let (n, msg) = r.feed(std::slice::from_ref(b));
            assert_eq!(n, 1);
            if let Some(m) = msg {
                got.push(m.to_vec());
            }
        }
        assert_eq!(got, [b">>>\nt=status\n<<<\n".to_vec()]);
    }

    #[test]
    fn classic_reader_drops_oversize_messages() {
        let mut text = b">>>\n".to_vec();
        let line = [b'a'; 1000];
        while text.len() < CLASSIC_MAX + 2000 {
            text.extend_from_slice(&line);
            text.push(b'\n');
        }
        text.extend_from_slice(b"<<<\n>>>\nok=1\n<<<\n");
        let (msgs, stats) = classic(&text);
        assert_eq!(msgs, [b">>>\nok=1\n<<<\n".to_vec()]);
        assert_eq!(stats.oversize, 1);
        assert_eq!(stats.messages, 1);
    }

    #[test]
    fn classic_reader_cuts_endless_lines() {
        let mut text = vec![b'x'; CLASSIC_MAX * 2 + 10];
        text.extend_from_slice(b"\n>>>\na=1\n<<<\n");
        let (msgs, stats) = classic(&text);
        assert_eq!(msgs.len(), 1);
        assert_eq!(stats.garbage_lines, 3);
    }

    #[test]
    fn lock_names() {
        assert_eq!(lock_name("/dev/ttyS0"), "ttyS0");
        assert_eq!(lock_name("/dev/pts/3"), "pts3");
        assert_eq!(
            lock_name("/dev/serial/by-id/usb-FTDI_x-if00"),
            "serialbyidusbFTDIxif00"
        );
    }

    #[test]
    fn uucp_lock_is_exclusive_and_stale_ones_are_taken() {
        let dir = tempfile::tempdir().unwrap();
        let lock = UucpLock::acquire(dir.path(), "/dev/ttyS0").unwrap();
        let path = dir.path().join("LCK..ttyS0");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{:>10}\n", std::process::id())
        );
        let e = UucpLock::acquire(dir.path(), "/dev/ttyS0").unwrap_err();
        assert!(
            matches!(e, MediumErrorKind::Locked { pid, .. } if pid as u32 == std::process::id())
        );
        drop(lock);
        assert!(!path.exists());
        // A lock left by a dead process: pid_max is at most 2^22, so this pid never runs.
        std::fs::write(&path, "   9999999\n").unwrap();
        let _lock = UucpLock::acquire(dir.path(), "/dev/ttyS0").unwrap();
        // A lock held by another live process (pid 1).
        std::fs::write(dir.path().join("LCK..ttyS1"), "         1\n").unwrap();
        let e = UucpLock::acquire(dir.path(), "/dev/ttyS1").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "line is locked by pid 1 ({})",
                dir.path().join("LCK..ttyS1").display()
            )
        );
    }

    /// A writer that takes at most `room` bytes before it is "full".
    struct Sink {
        data: Vec<u8>,
        room: usize,
        writes: Vec<usize>,
    }

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if b.is_empty() {
                return Ok(0);
            }
            let n = b.len().min(self.room);
            if n == 0 {
                return Err(ErrorKind::WouldBlock.into());
            }
            self.room -= n;
            self.data.extend_from_slice(&b[..n]);
            self.writes.push(n);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Line for Sink {
        fn discard_output(&mut self) {}
    }

    #[test]
    fn tx_paces_fragments_and_not_messages() {
        let delay = fragment_delay(19_200);
        let mut q = TxQueue::new(true, delay);
        let mut sink = Sink {
            data: Vec::new(),
            room: usize::MAX,
            writes: Vec::new(),
        };
        let mut stats = SerialStats::default();
        let t0 = Instant::now();
        q.push(&[b'a'; 1100]).unwrap();
        q.push(&[b'b'; 100]).unwrap();
        q.service(&mut sink, t0, &mut stats).unwrap();
        assert_eq!(sink.writes, [512]);
        assert_eq!(q.deadline(), Some(t0 + delay));
        // Too early: nothing.
        q.service(&mut sink, t0 + delay / 2, &mut stats).unwrap();
        assert_eq!(sink.writes, [512]);
        q.service(&mut sink, t0 + delay, &mut stats).unwrap();
        assert_eq!(sink.writes, [512, 512]);
        // The last fragment of a message and the next message follow without a pause.
        q.service(&mut sink, t0 + delay * 2, &mut stats).unwrap();
        assert_eq!(sink.writes, [512, 512, 76, 100]);
        assert_eq!(q.deadline(), None);
        assert_eq!(stats.bytes_written, 1200);
    }

    #[test]
    fn tx_waits_for_the_line_then_times_out() {
        let mut q = TxQueue::new(true, fragment_delay(19_200));
        let mut sink = Sink {
            data: Vec::new(),
            room: 100,
            writes: Vec::new(),
        };
        let mut stats = SerialStats::default();
        let t0 = Instant::now();
        q.push(&[b'a'; 300]).unwrap();
        q.service(&mut sink, t0, &mut stats).unwrap();
        assert_eq!(q.blocked_since, Some(t0));
        assert_eq!(q.deadline(), Some(t0 + WRITE_TIMEOUT));
        // The line drains a little: progress, still blocked on the rest.
        sink.room = 50;
        q.service(&mut sink, t0 + Duration::from_millis(100), &mut stats)
            .unwrap();
        assert_eq!(sink.data.len(), 150);
        let e = q
            .service(&mut sink, t0 + WRITE_TIMEOUT, &mut stats)
            .unwrap_err();
        assert!(matches!(e, MediumErrorKind::WriteTimeout));
        assert_eq!(q.queued, 0);
        assert_eq!(stats.write_timeouts, 1);
        // A second timeout within the hour is counted, not reported.
        q.push(&[b'b'; 10]).unwrap();
        let t1 = t0 + Duration::from_secs(10);
        q.service(&mut sink, t1, &mut stats).unwrap();
        q.service(&mut sink, t1 + WRITE_TIMEOUT, &mut stats)
            .unwrap();
        assert_eq!(stats.write_timeouts, 2);
    }

    #[test]
    fn tx_queue_is_bounded() {
        let mut q = TxQueue::new(true, fragment_delay(19_200));
        q.push(&vec![b'a'; TX_QUEUE_BYTES * 2]).unwrap(); // one message always fits
        assert!(matches!(q.push(b">>>"), Err(MediumErrorKind::QueueFull(_))));
    }

    #[test]
    fn compact_reader_hands_out_wire_frames() {
        use hb_core::msg::{compact, Field};
        let fields = [Field::string("t", "status"), Field::string("src", "node1")];
        let mut frame = [0u8; 128];
        let n = compact::encode(&fields, None, &mut frame).unwrap();
        let frame = &frame[..n];
        let mut stream = b"\x13\x11garbage\xff".to_vec();
        stream.push(0);
        stream.extend_from_slice(frame);
        stream.extend_from_slice(&frame[..5]); // a frame cut short by noise
        stream.push(0);
        stream.extend_from_slice(frame);
        let mut r = CompactReader::new();
        let mut got = Vec::new();
        let mut rest = &stream[..];
        while !rest.is_empty() {
            let (used, f) = r.feed(rest);
            if let Some(f) = f {
                got.push(f.to_vec());
            }
            rest = &rest[used..];
        }
        assert_eq!(got, [frame.to_vec(), frame.to_vec()]);
        assert_eq!(r.stats().frames, 2);
        assert_eq!(r.stats().bad, 2);
        let mut wire = got[0].clone();
        let mut scratch = [0u8; 256];
        let p = compact::decode::<8>(&mut wire, &mut scratch).unwrap();
        assert_eq!(p.msg.get_str("src"), Some("node1"));
    }

    #[test]
    fn serial_open_errors_name_the_device() {
        let dir = tempfile::tempdir().unwrap();
        let e = Serial::open(
            "/dev/hb-no-such-tty",
            19_200,
            SerialEncoding::Classic,
            dir.path(),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "serial /dev/hb-no-such-tty: no such device");
        let file = dir.path().join("plain-file");
        std::fs::write(&file, "").unwrap();
        let file = file.to_str().unwrap();
        let e = Serial::open(file, 19_200, SerialEncoding::Classic, dir.path()).unwrap_err();
        assert_eq!(e.to_string(), format!("serial {file}: not a char device"));
        let e = Serial::open("/dev/null", 1234, SerialEncoding::Classic, dir.path()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "serial /dev/null: unsupported baud rate 1234"
        );
        let e = Serial::open("/dev/null", 19_200, SerialEncoding::Classic, dir.path()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "serial /dev/null: cannot set up the tty: Inappropriate ioctl for device"
        );
    }
}
