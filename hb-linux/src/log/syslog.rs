//! Syslog without libc's `syslog(3)`: RFC 3164 datagrams written to `/dev/log` from a
//! non-blocking socket.
//!
//! Why not `syslog(3)` (or `nix::syslog`, which wraps it): glibc sends on a *blocking* socket,
//! so a syslog daemon that stalls (journald rotating, rsyslog blocked on a full disk) stalls
//! the heartbeat loop once the socket's queue is full (`net.unix.max_dgram_qlen`, 10 by
//! default). A missed deadline there means a peer declares us dead. Here a full queue drops the
//! message and counts it; the next message that gets through is preceded by cluster-glue's
//! `cl_log: <n> messages were dropped`. The datagram is byte for byte what glibc would send
//! for heartbeat's `syslog(priority, "[%d]: %s: %s", ...)` after `openlog("heartbeat", LOG_CONS,
//! facility)`: `<PRI>Mar  9 13:05:09 heartbeat: [1234]: info: <msg>` (LOG_CONS's fallback to
//! the console is not reproduced).

use super::{LocalTime, Priority};
use hb_core::config::hacf::LogFacility;
use std::fmt::Write as _;
use std::io::ErrorKind;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

/// The local syslog socket.
pub const SOCKET: &str = "/dev/log";

/// A connection to the syslog socket, made on first use and remade after the syslog daemon
/// restarts.
#[derive(Debug)]
pub struct Syslog {
    path: PathBuf,
    facility: LogFacility,
    tag: String,
    sock: Option<UnixDatagram>,
    /// Messages dropped since the last one that got through.
    dropped: u64,
    buf: String,
}

impl Syslog {
    pub fn new(path: &Path, facility: LogFacility, tag: &str) -> Syslog {
        Syslog {
            path: path.to_path_buf(),
            facility,
            tag: tag.to_string(),
            sock: None,
            dropped: 0,
            buf: String::new(),
        }
    }

    /// Messages lost so far to a full or absent syslog socket.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Sends one message; never blocks and never fails (a lost message is counted).
    pub fn send(&mut self, time: &LocalTime, pid: u32, priority: Priority, msg: &str) {
        if self.dropped > 0 {
            let note = format!("cl_log: {} messages were dropped", self.dropped);
            if !self.send_one(time, pid, Priority::Error, &note) {
                self.dropped += 1;
                return;
            }
            self.dropped = 0;
        }
        if !self.send_one(time, pid, priority, msg) {
            self.dropped += 1;
        }
    }

    fn send_one(&mut self, time: &LocalTime, pid: u32, priority: Priority, msg: &str) -> bool {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        format_datagram(&mut buf, self.facility, priority, time, &self.tag, pid, msg);
        // A refused send means the daemon went away or restarted: reconnect once and retry.
        let sent = (0..2).any(|_| match self.socket() {
            None => false,
            Some(s) => match s.send(buf.as_bytes()) {
                Ok(_) => true,
                Err(e) if e.kind() == ErrorKind::WouldBlock => false,
                Err(_) => {
                    self.sock = None;
                    false
                }
            },
        });
        self.buf = buf;
        sent
    }

    fn socket(&mut self) -> Option<&UnixDatagram> {
        if self.sock.is_none() {
            let s = UnixDatagram::unbound().ok()?;
            s.connect(&self.path).ok()?;
            s.set_nonblocking(true).ok()?;
            self.sock = Some(s);
        }
        self.sock.as_ref()
    }
}

/// Appends the datagram heartbeat's `syslog()` call produces through glibc:
/// `<PRI>Mmm dd hh:mm:ss TAG: [pid]: level: msg`.
pub fn format_datagram(
    out: &mut String,
    facility: LogFacility,
    priority: Priority,
    time: &LocalTime,
    tag: &str,
    pid: u32,
    msg: &str,
) {
    let pri = facility.code() | priority.syslog_severity();
    let _ = write!(
        out,
        "<{pri}>{} {tag}: [{pid}]: {}: {msg}",
        time.rfc3164_timestamp(),
        priority.name()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: LocalTime = LocalTime {
        year: 2015,
        month: 3,
        day: 9,
        hour: 13,
        minute: 5,
        second: 9,
    };

    #[test]
    fn datagram_format() {
        let mut s = String::new();
        format_datagram(
            &mut s,
            LogFacility::Daemon,
            Priority::Info,
            &T,
            "heartbeat",
            1234,
            "Heartbeat generation: 1425906310",
        );
        assert_eq!(
            s,
            "<30>Mar  9 13:05:09 heartbeat: [1234]: info: Heartbeat generation: 1425906310"
        );
    }

    #[test]
    fn no_daemon_counts_drops_then_reports_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut s = Syslog::new(&path, LogFacility::User, "heartbeat");
        s.send(&T, 1, Priority::Info, "lost 1");
        s.send(&T, 1, Priority::Info, "lost 2");
        assert_eq!(s.dropped(), 2);
        // The daemon starts: the next message is preceded by the count.
        let server = UnixDatagram::bind(&path).unwrap();
        s.send(&T, 1, Priority::Info, "back");
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            "<11>Mar  9 13:05:09 heartbeat: [1]: ERROR: cl_log: 2 messages were dropped"
        );
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            "<14>Mar  9 13:05:09 heartbeat: [1]: info: back"
        );
        assert_eq!(s.dropped(), 0);
    }

    #[test]
    fn a_full_socket_never_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let _server = UnixDatagram::bind(&path).unwrap();
        let mut s = Syslog::new(&path, LogFacility::User, "heartbeat");
        let start = std::time::Instant::now();
        // Nobody reads: the queue fills (max_dgram_qlen) and later messages are dropped.
        for i in 0..200 {
            s.send(&T, 1, Priority::Info, &format!("message {i}"));
        }
        assert!(s.dropped() > 0);
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn a_restarted_daemon_is_reconnected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        let mut s = Syslog::new(&path, LogFacility::User, "hb");
        s.send(&T, 1, Priority::Info, "one");
        drop(server);
        std::fs::remove_file(&path).unwrap();
        let server = UnixDatagram::bind(&path).unwrap();
        s.send(&T, 1, Priority::Info, "two");
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            "<14>Mar  9 13:05:09 hb: [1]: info: two"
        );
    }
}
