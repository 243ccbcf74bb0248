//! The control socket's server side (design §3, [`crate::control`] for the protocol): accept
//! connections without blocking the loop, let in root, our own user and group `haclient`,
//! read one request line per connection, and write one answer. What a request does is the
//! loop's business ([`Request`]).

use crate::control;
use hb_core::resources::StandbySet;
use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// A control client that has not sent its request by then is dropped.
const CONTROL_DEADLINE: Duration = Duration::from_secs(2);
/// At most this many control connections at once; more wait in the listen queue.
const CONTROL_CONNS: usize = 16;
/// How long writing an answer may block the loop.
const WRITE_TIMEOUT: Duration = Duration::from_millis(200);

/// One client, until its request line is complete.
pub(super) struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
    deadline: Instant,
    allowed: bool,
}

/// What a client asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Request {
    Status,
    Standby(StandbySet),
    Takeover(StandbySet),
    Shutdown,
}

/// The listening socket and the clients being read.
pub(super) struct ControlServer {
    listener: UnixListener,
    conns: Vec<Conn>,
}

impl ControlServer {
    /// Binds `path` (replacing a stale socket), mode 0660, group `haclient` when it exists.
    pub(super) fn bind(path: &Path) -> std::io::Result<ControlServer> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let l = UnixListener::bind(path)?;
        l.set_nonblocking(true)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
        if let Ok(Some(g)) = nix::unistd::Group::from_name(control::GROUP) {
            let _ = nix::unistd::chown(path, None, Some(g.gid));
        }
        Ok(ControlServer {
            listener: l,
            conns: Vec::new(),
        })
    }

    pub(super) fn listener_fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    /// The clients' descriptors, in the order of their indexes.
    pub(super) fn conn_fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.conns.iter().map(|c| c.stream.as_fd())
    }

    pub(super) fn conns(&self) -> usize {
        self.conns.len()
    }

    /// The earliest client deadline.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.conns.iter().map(|c| c.deadline).min()
    }

    pub(super) fn accept(&mut self) {
        while self.conns.len() < CONTROL_CONNS {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    let allowed = peer_allowed(&stream);
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    self.conns.push(Conn {
                        stream,
                        buf: Vec::new(),
                        deadline: Instant::now() + CONTROL_DEADLINE,
                        allowed,
                    });
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => break,
            }
        }
    }

    /// Reads what client `i` sent; whether its request is complete.
    pub(super) fn read(&mut self, i: usize) -> bool {
        let c = &mut self.conns[i];
        let mut b = [0u8; 1024];
        loop {
            match c.stream.read(&mut b) {
                Ok(0) => return true,
                Ok(n) => {
                    c.buf.extend_from_slice(&b[..n]);
                    if c.buf.contains(&b'\n') || c.buf.len() > control::MAX_REQUEST {
                        return true;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(_) => return true,
            }
        }
    }

    /// Takes client `i` out, to answer it.
    pub(super) fn take(&mut self, i: usize) -> Conn {
        self.conns.remove(i)
    }

    /// Drops the clients whose deadline passed.
    pub(super) fn expire(&mut self, now: Instant) {
        self.conns.retain(|c| c.deadline > now);
    }
}

impl Conn {
    /// The client's request, or the answer that refuses it.
    pub(super) fn request(&self) -> Result<Request, Value> {
        if !self.allowed {
            return Err(denied());
        }
        parse_request(&self.buf)
    }

    /// Writes `reply` as one line (blocking at most [`WRITE_TIMEOUT`]) and closes.
    pub(super) fn answer(self, reply: &Value) {
        let mut text = reply.to_string();
        text.push('\n');
        let mut stream = self.stream;
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let _ = stream.write_all(text.as_bytes());
    }
}

/// The answer to a client that may not use the socket.
fn denied() -> Value {
    json!({"ok": false, "error": "permission denied: only root and members of group haclient may use heartbeat's control socket"})
}

/// The request on the first line of `buf`, or the answer that refuses it.
pub(super) fn parse_request(buf: &[u8]) -> Result<Request, Value> {
    let line = buf.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let req = serde_json::from_slice::<Value>(line)
        .map_err(|e| json!({"ok": false, "error": format!("request is not JSON: {e}")}))?;
    let cmd = req.get("cmd").and_then(Value::as_str).unwrap_or("");
    match cmd {
        "status" => Ok(Request::Status),
        "standby" | "takeover" => {
            let what = req.get("what").and_then(Value::as_str).unwrap_or("all");
            let Some(set) = StandbySet::from_wire(what) else {
                return Err(
                    json!({"ok": false, "error": format!("{what}: not one of local, foreign, all, failback")}),
                );
            };
            Ok(if cmd == "standby" {
                Request::Standby(set)
            } else {
                Request::Takeover(set)
            })
        }
        "shutdown" => Ok(Request::Shutdown),
        other => Err(json!({"ok": false, "error": format!("unknown request {other:?}")})),
    }
}

/// The answer to a command: done, or why not.
pub(super) fn command_reply<E: std::fmt::Display>(r: Result<(), E>) -> Value {
    match r {
        Ok(()) => json!({"ok": true}),
        Err(e) => json!({"ok": false, "error": e.to_string()}),
    }
}

/// Root, our own user, or a member of `haclient` (design §3).
fn peer_allowed(s: &UnixStream) -> bool {
    let Ok(cred) = nix::sys::socket::getsockopt(s, nix::sys::socket::sockopt::PeerCredentials)
    else {
        return false;
    };
    if cred.uid() == 0 || cred.uid() == nix::unistd::geteuid().as_raw() {
        return true;
    }
    let Ok(Some(group)) = nix::unistd::Group::from_name(control::GROUP) else {
        return false;
    };
    let gid = group.gid.as_raw();
    if cred.gid() == gid {
        return true;
    }
    // Supplementary groups are not in SO_PEERCRED: read them from /proc.
    std::fs::read_to_string(format!("/proc/{}/status", cred.pid()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Groups:").map(str::to_string))
        })
        .is_some_and(|g| g.split_whitespace().any(|x| x == gid.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(v: Value) -> String {
        assert_eq!(v["ok"], false, "{v}");
        v["error"].as_str().unwrap().to_string()
    }

    #[test]
    fn requests_as_hbctl_sends_them() {
        assert_eq!(
            parse_request(b"{\"cmd\":\"status\"}\n"),
            Ok(Request::Status)
        );
        assert_eq!(
            parse_request(b"{\"cmd\":\"standby\",\"what\":\"foreign\"}\n"),
            Ok(Request::Standby(StandbySet::Foreign))
        );
        assert_eq!(
            parse_request(b"{\"cmd\":\"takeover\"}\n"),
            Ok(Request::Takeover(StandbySet::All))
        );
        assert_eq!(
            parse_request(b"{\"cmd\":\"shutdown\"}"),
            Ok(Request::Shutdown)
        );
        // Only the first line counts.
        assert_eq!(
            parse_request(b"{\"cmd\":\"status\"}\ngarbage"),
            Ok(Request::Status)
        );
    }

    #[test]
    fn bad_requests_are_answered_with_why() {
        let e = error_of(parse_request(b"status\n").unwrap_err());
        assert!(e.starts_with("request is not JSON: "), "{e}");
        let e = error_of(parse_request(b"{\"cmd\":\"standby\",\"what\":\"some\"}\n").unwrap_err());
        assert_eq!(e, "some: not one of local, foreign, all, failback");
        let e = error_of(parse_request(b"{\"cmd\":\"reboot\"}\n").unwrap_err());
        assert_eq!(e, "unknown request \"reboot\"");
        let e = error_of(parse_request(b"{}\n").unwrap_err());
        assert_eq!(e, "unknown request \"\"");
        assert_eq!(
            command_reply(Err("not now")),
            json!({"ok": false, "error": "not now"})
        );
        assert_eq!(command_reply::<String>(Ok(())), json!({"ok": true}));
    }

    #[test]
    fn our_own_user_is_let_in_and_others_are_told_why_not() {
        let (a, _b) = UnixStream::pair().unwrap();
        assert!(peer_allowed(&a));
        let c = Conn {
            stream: a,
            buf: b"{\"cmd\":\"status\"}\n".to_vec(),
            deadline: Instant::now(),
            allowed: false,
        };
        let e = error_of(c.request().unwrap_err());
        assert!(e.starts_with("permission denied: only root and members of group haclient"));
    }

    #[test]
    fn a_client_gets_one_answer_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sock");
        let mut server = ControlServer::bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o660);
        let mut client = UnixStream::connect(&path).unwrap();
        client.write_all(b"{\"cmd\":\"status\"}\n").unwrap();
        server.accept();
        assert_eq!(server.conns(), 1);
        assert!(server.next_deadline().is_some());
        let mut complete = false;
        for _ in 0..10_000 {
            if server.read(0) {
                complete = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(complete);
        let c = server.take(0);
        assert_eq!(c.request(), Ok(Request::Status));
        c.answer(&json!({"ok": true}));
        let mut got = String::new();
        client.read_to_string(&mut got).unwrap();
        assert_eq!(got, "{\"ok\":true}\n");
        assert_eq!(server.conns(), 0);
    }
}
