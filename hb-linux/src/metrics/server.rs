//! The `/metrics` HTTP server: one thread of its own, at normal (non-realtime, niced)
//! priority, so that however scrapers behave the daemon's loop runs as before.
//!
//! Scrapers cannot hold it up: at most [`MAX_CONNECTIONS`] are served at once; each must send
//! its request head within [`HEAD_TIMEOUT`] (a real scraper sends it in one packet) and is cut
//! off [`EXCHANGE_TIMEOUT`] after it connected whatever it does; more wait in the kernel's
//! accept queue. A request head is at most
//! [`MAX_REQUEST`] bytes. Every socket is non-blocking under one `poll`, so a scraper that
//! sends or reads one byte a second delays nobody else.

use super::{Metrics, CONTENT_TYPE};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// Bound on receiving a request head, from accept.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(1);
/// Bound on one connection, from accept to the last byte of the answer.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on a request head.
pub const MAX_REQUEST: usize = 8192;
/// How often the thread looks at its stop flag when nothing happens.
const TICK: Duration = Duration::from_millis(100);

/// A running server; dropping it stops the thread.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

impl Server {
    /// Binds `addr` (the caller reports a failure) and serves `metrics` from a new thread.
    pub fn start(addr: SocketAddr, metrics: Metrics) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("hb-metrics".into())
            .spawn(move || {
                background_priority();
                serve(&listener, &metrics, &flag);
            })?;
        Ok(Server {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The daemon may run SCHED_RR (ha.cf `realtime on`), which a new thread inherits: this one
/// must never compete with the loop, so it goes back to the normal class, niced.
fn background_priority() {
    // SAFETY: plain syscalls on the calling thread with a valid sched_param.
    unsafe {
        let p = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_OTHER, &p);
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

enum State {
    Reading(Vec<u8>),
    Writing(Vec<u8>, usize),
}

struct Conn {
    stream: TcpStream,
    accepted: Instant,
    deadline: Instant,
    state: State,
}

fn serve(listener: &TcpListener, metrics: &Metrics, stop: &AtomicBool) {
    let mut conns: Vec<Conn> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        conns.retain(|c| c.deadline > now);
        let wait = conns
            .iter()
            .map(|c| c.deadline.saturating_duration_since(now))
            .min()
            .unwrap_or(TICK)
            .min(TICK);
        let listening = conns.len() < MAX_CONNECTIONS;
        let mut ready = vec![false; conns.len()];
        let mut accept = false;
        {
            let mut fds: Vec<PollFd> = Vec::with_capacity(conns.len() + 1);
            for c in &conns {
                let ev = match c.state {
                    State::Reading(_) => PollFlags::POLLIN,
                    State::Writing(..) => PollFlags::POLLOUT,
                };
                fds.push(PollFd::new(c.stream.as_fd(), ev));
            }
            if listening {
                fds.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
            }
            let ms = u16::try_from(wait.as_millis().max(1)).unwrap_or(u16::MAX);
            if poll(&mut fds, PollTimeout::from(ms)).is_err() {
                continue;
            }
            let any = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            for (i, f) in fds.iter().take(conns.len()).enumerate() {
                ready[i] = any(f);
            }
            if listening {
                accept = fds.last().is_some_and(any);
            }
        }
        let mut keep = vec![true; conns.len()];
        for (i, c) in conns.iter_mut().enumerate() {
            if ready[i] {
                keep[i] = step(c, metrics);
            }
        }
        let mut k = keep.into_iter();
        conns.retain(|_| k.next().unwrap_or(false));
        while accept && conns.len() < MAX_CONNECTIONS {
            match listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_ok() {
                        let now = Instant::now();
                        conns.push(Conn {
                            stream,
                            accepted: now,
                            deadline: now + HEAD_TIMEOUT,
                            state: State::Reading(Vec::new()),
                        });
                    }
                }
                Err(_) => break,
            }
        }
    }
}

/// Advances one connection; `false` when it is finished (or failed) and should be closed.
fn step(c: &mut Conn, metrics: &Metrics) -> bool {
    match &mut c.state {
        State::Reading(buf) => {
            let mut chunk = [0u8; 2048];
            loop {
                match c.stream.read(&mut chunk) {
                    Ok(0) => return false,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return false,
                }
                if buf.len() > MAX_REQUEST {
                    break;
                }
            }
            let answer = if buf.len() > MAX_REQUEST {
                Some(response(
                    431,
                    "text/plain",
                    b"request head too large\n",
                    false,
                ))
            } else {
                find(buf, b"\r\n\r\n")
                    .or_else(|| find(buf, b"\n\n"))
                    .map(|end| answer(&buf[..end], metrics))
            };
            if let Some(a) = answer {
                c.state = State::Writing(a, 0);
                c.deadline = c.accepted + EXCHANGE_TIMEOUT;
                return step(c, metrics);
            }
            true
        }
        State::Writing(data, pos) => {
            while *pos < data.len() {
                match c.stream.write(&data[*pos..]) {
                    Ok(0) => return false,
                    Ok(n) => *pos += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return false,
                }
            }
            let _ = c.stream.shutdown(std::net::Shutdown::Write);
            false
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The answer to a request head.
fn answer(head: &[u8], metrics: &Metrics) -> Vec<u8> {
    let head = String::from_utf8_lossy(head);
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return response(405, "text/plain", b"only GET and HEAD\n", false);
    }
    match path {
        "/metrics" => response(200, CONTENT_TYPE, &metrics.encode(), head_only),
        "/" => response(
            200,
            "text/plain",
            b"hb heartbeat daemon: metrics at /metrics\n",
            head_only,
        ),
        _ => response(404, "text/plain", b"not found; try /metrics\n", head_only),
    }
}

fn response(code: u16, content_type: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Request Header Fields Too Large",
    };
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    fn server() -> (Server, Metrics) {
        let m = Metrics::new(&["node2"], &["eth1"], &[]);
        let s = Server::start("127.0.0.1:0".parse().unwrap(), m.clone()).unwrap();
        (s, m)
    }

    #[test]
    fn serves_metrics_and_refuses_the_rest() {
        let (s, m) = server();
        m.watchdog_pets.inc_by(7);
        let a = s.local_addr();
        let r = get(a, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("Content-Type: text/plain; version=0.0.4"), "{r}");
        assert!(r.contains("\nhb_watchdog_pets_total 7\n"), "{r}");
        let r = get(a, "HEAD /metrics?x=1 HTTP/1.0\r\n\r\n");
        assert!(
            r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with("\r\n\r\n"),
            "{r}"
        );
        assert!(get(a, "GET /other HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
        assert!(get(a, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
        let big = format!(
            "GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_REQUEST)
        );
        let mut st = TcpStream::connect(a).unwrap();
        st.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = st.write_all(big.as_bytes());
        let mut r = Vec::new();
        let _ = st.read_to_end(&mut r);
        assert!(String::from_utf8_lossy(&r).starts_with("HTTP/1.1 431 "));
    }

    #[test]
    fn a_silent_client_is_cut_off_after_the_head_timeout() {
        let (s, _m) = server();
        let mut st = TcpStream::connect(s.local_addr()).unwrap();
        st.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let t = Instant::now();
        let mut r = Vec::new();
        // The server closes without answering: EOF (or a reset), no bytes.
        let _ = st.read_to_end(&mut r);
        assert!(r.is_empty());
        assert!(t.elapsed() >= HEAD_TIMEOUT - Duration::from_millis(50));
    }

    /// 100 scrapers that dribble their request a byte at a time and never finish it: every
    /// one is cut off, a well-behaved scrape gets its answer meanwhile, and a thread standing
    /// in for the daemon's loop updates counters all along.
    #[test]
    fn a_hundred_slow_scrapers_are_cut_off_and_a_good_scrape_still_answered() {
        let (s, m) = server();
        let addr = s.local_addr();
        let give_up = Instant::now() + Duration::from_secs(60);
        let slow: Vec<_> = (0..100)
            .map(|_| {
                std::thread::spawn(move || {
                    let mut st = TcpStream::connect(addr).unwrap();
                    // Never the blank line that ends a head.
                    while Instant::now() < give_up {
                        if st.write_all(b"X").is_err() {
                            return true;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    false
                })
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let loop_stop = stop.clone();
        let lm = m.clone();
        let updater = std::thread::spawn(move || {
            let (mut n, mut worst) = (0u64, Duration::ZERO);
            while !loop_stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                lm.heartbeats_received
                    .with_label_values(&["node2", "eth1"])
                    .inc();
                lm.gap("node2", None, 0.1);
                worst = worst.max(t.elapsed());
                n += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            (n, worst)
        });
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        let r = get(addr, "GET /metrics HTTP/1.1\r\n\r\n");
        let waited = t.elapsed();
        assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
        let line = r
            .lines()
            .find(|l| {
                l.starts_with("hb_heartbeats_received_total{medium=\"eth1\",node=\"node2\"} ")
            })
            .unwrap_or_else(|| panic!("{r}"));
        assert_ne!(line.rsplit(' ').next(), Some("0"), "no update seen: {line}");
        let cut: Vec<bool> = slow.into_iter().map(|t| t.join().unwrap()).collect();
        stop.store(true, Ordering::Relaxed);
        let (n, worst) = updater.join().unwrap();
        eprintln!("good scrape answered after {waited:?}; {n} updates, the slowest took {worst:?}");
        assert!(
            cut.iter().all(|c| *c),
            "{} slow scrapers never cut off",
            cut.iter().filter(|c| !**c).count()
        );
    }
}
