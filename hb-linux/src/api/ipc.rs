//! cluster-glue's IPC socket framing, as libhbclient speaks it on `/var/run/heartbeat/register`:
//! each message is an 8-byte header — the body length (`int`) and the magic `0xabcd`
//! (`unsigned int`), both in the host's byte order — then the body, an ha_msg in classic or
//! netstring text (`SOCKET_MSG_HEAD`, `MAXMSG` in `clplumbing/ipc.h`).
//!
//! A connection here is non-blocking on both sides and bounded: what a client sends is read at
//! most [`READ_BUDGET`] bytes a round, what we owe it waits in a queue of at most
//! [`SEND_QUEUE_MAX`] messages, and anything beyond those bounds is the client's fault.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

/// cluster-glue's `HEADMAGIC`.
pub const HEADMAGIC: u32 = 0xabcd;
/// cluster-glue's `MAXMSG`: the largest body on the wire.
pub const MAXMSG: usize = 256 * 1024;
const HEADER: usize = 8;
/// Bytes read from one client in one round of the loop: a flooding client waits, the
/// heartbeats do not.
pub const READ_BUDGET: usize = 64 * 1024;
/// Messages we hold for a client that is not reading (cluster-glue's default send queue
/// length is 500 as well).
pub const SEND_QUEUE_MAX: usize = 500;

/// Why a connection is finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broken {
    /// The client closed (between messages, or in the middle of one).
    Eof {
        mid_message: bool,
    },
    /// A header that is not cluster-glue's: wrong magic or an impossible length.
    BadHeader {
        len: i32,
        magic: u32,
    },
    /// The client stopped reading and its queue is full.
    QueueFull,
    Io(String),
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Broken::Eof { mid_message: false } => write!(f, "EOF"),
            Broken::Eof { mid_message: true } => write!(f, "EOF in the middle of a message"),
            Broken::BadHeader { len, magic } => write!(
                f,
                "not an IPC message (length {len}, magic {magic:#x}, expected {HEADMAGIC:#x})"
            ),
            Broken::QueueFull => write!(f, "not reading its messages ({SEND_QUEUE_MAX} waiting)"),
            Broken::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Frames one body.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(&(body.len() as i32).to_ne_bytes());
    out.extend_from_slice(&HEADMAGIC.to_ne_bytes());
    out.extend_from_slice(body);
    out
}

/// Splits whole messages off the front of `buf`.
#[derive(Debug, Default)]
pub struct Deframer {
    buf: Vec<u8>,
}

impl Deframer {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Whether a whole message, or a header that is not cluster-glue's, is buffered.
    pub fn has_whole(&self) -> bool {
        if self.buf.len() < HEADER {
            return false;
        }
        let len = i32::from_ne_bytes(self.buf[0..4].try_into().expect("4 bytes"));
        let magic = u32::from_ne_bytes(self.buf[4..8].try_into().expect("4 bytes"));
        if magic != HEADMAGIC || len < 0 || len as usize > MAXMSG {
            return true;
        }
        self.buf.len() >= HEADER + len as usize
    }

    /// Whether part of a message is waiting.
    pub fn partial(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The next whole body, `Ok(None)` if it has not all arrived.
    pub fn next_body(&mut self) -> Result<Option<Vec<u8>>, Broken> {
        if self.buf.len() < HEADER {
            return Ok(None);
        }
        let len = i32::from_ne_bytes(self.buf[0..4].try_into().expect("4 bytes"));
        let magic = u32::from_ne_bytes(self.buf[4..8].try_into().expect("4 bytes"));
        if magic != HEADMAGIC || len < 0 || len as usize > MAXMSG {
            return Err(Broken::BadHeader { len, magic });
        }
        let end = HEADER + len as usize;
        if self.buf.len() < end {
            return Ok(None);
        }
        let body = self.buf[HEADER..end].to_vec();
        self.buf.drain(..end);
        Ok(Some(body))
    }
}

/// One client connection.
#[derive(Debug)]
pub struct Conn {
    pub stream: UnixStream,
    rx: Deframer,
    tx: VecDeque<Vec<u8>>,
    /// Bytes of `tx.front()` already written.
    tx_done: usize,
}

impl Conn {
    pub fn new(stream: UnixStream) -> io::Result<Conn> {
        stream.set_nonblocking(true)?;
        Ok(Conn {
            stream,
            rx: Deframer::default(),
            tx: VecDeque::new(),
            tx_done: 0,
        })
    }

    /// Reads what is there, up to [`READ_BUDGET`]; the bodies go to `out`.
    pub fn read(&mut self, out: &mut Vec<Vec<u8>>, max_msgs: usize) -> Result<(), Broken> {
        let mut buf = [0u8; 8192];
        let mut total = 0;
        let mut eof = false;
        while total < READ_BUDGET {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    total += n;
                    self.rx.push(&buf[..n]);
                    if out.len() >= max_msgs {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Broken::Io(e.to_string())),
            }
        }
        while out.len() < max_msgs {
            match self.rx.next_body()? {
                Some(b) => out.push(b),
                None => break,
            }
        }
        if eof {
            // Whole messages before the end still count; then the client is gone.
            while let Some(b) = self.rx.next_body()? {
                out.push(b);
            }
            return Err(Broken::Eof {
                mid_message: self.rx.partial(),
            });
        }
        Ok(())
    }

    /// Whether a whole message (or a broken header) waits in the buffer: the loop comes
    /// back for it without waiting in poll. Part of a message does not count, or a client
    /// that sends half a message and waits would keep the loop spinning.
    pub fn has_buffered(&self) -> bool {
        self.rx.has_whole()
    }

    /// Queues one message; a full queue means the client stopped reading.
    pub fn queue(&mut self, body: &[u8]) -> Result<(), Broken> {
        if self.tx.len() >= SEND_QUEUE_MAX {
            return Err(Broken::QueueFull);
        }
        self.tx.push_back(frame(body));
        Ok(())
    }

    pub fn wants_write(&self) -> bool {
        !self.tx.is_empty()
    }

    /// Writes what the socket takes now.
    pub fn flush(&mut self) -> Result<(), Broken> {
        while let Some(front) = self.tx.front() {
            match self.stream.write(&front[self.tx_done..]) {
                Ok(n) => {
                    self.tx_done += n;
                    if self.tx_done == front.len() {
                        self.tx.pop_front();
                        self.tx_done = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Broken::Io(e.to_string())),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_anywhere_come_out_whole() {
        let a = frame(b">>>\nt=x\n<<<\n\0");
        let b = frame(b">>>\nt=y\n<<<\n\0");
        let all: Vec<u8> = a.iter().chain(&b).copied().collect();
        for cut in 0..all.len() {
            let mut d = Deframer::default();
            d.push(&all[..cut]);
            let mut got = Vec::new();
            while let Some(x) = d.next_body().unwrap() {
                got.push(x);
            }
            d.push(&all[cut..]);
            while let Some(x) = d.next_body().unwrap() {
                got.push(x);
            }
            assert_eq!(got, vec![a[8..].to_vec(), b[8..].to_vec()], "cut at {cut}");
        }
    }

    #[test]
    fn half_a_message_is_not_a_backlog() {
        let a = frame(b">>>\nt=x\n<<<\n\0");
        let mut d = Deframer::default();
        d.push(&a[..a.len() - 1]);
        assert!(!d.has_whole());
        d.push(&a[a.len() - 1..]);
        assert!(d.has_whole());
    }

    #[test]
    fn a_foreign_header_is_refused() {
        let mut d = Deframer::default();
        d.push(b"GET / HTTP/1.0\r\n");
        assert!(matches!(d.next_body(), Err(Broken::BadHeader { .. })));
        let mut d = Deframer::default();
        d.push(&((MAXMSG as i32) + 1).to_ne_bytes());
        d.push(&HEADMAGIC.to_ne_bytes());
        assert!(matches!(d.next_body(), Err(Broken::BadHeader { .. })));
    }
}
