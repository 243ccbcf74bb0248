//! The heartbeat loop (design §3): one thread waits in `poll(2)` on the signals, the worker's
//! wake-up socket, the control socket and its clients, the media, the relay channels' wake-up
//! sockets and the ping socket, until the core's next deadline; then it dispatches what is
//! ready, feeds the core, and pumps what the core has for us (events, packets, pings) until it
//! is quiet. Every room it uses is a sibling module; none of them knows the loop.

use super::api_hook::{self, Bridge};
use super::control_server::{self, ControlServer, Request};
use super::observe::Observer;
use super::process::{self, wall_secs};
use super::reload::{self, Reload, Verdict};
use super::status::{self, Heard};
use super::watchdogs::{PetNote, Watchdogs};
use super::worker::{Job, Outcome, Worker};
use super::{relays, Heartbeat, Options};
use crate::api::ApiServer;
use crate::config::{self, Loaded};
use crate::log::{Logger, Priority};
use crate::media::Medium;
use crate::ping::{self, Pinger};
use crate::respawn::Respawner;
use crate::state::PidFile;
use hb_core::engine::{MediumId, NodeId, NodeStatus};
use hb_core::heartbeat::{Command, Event};
use hb_core::log::Names;
use hb_core::resources::{MonitorRequest, MonitorResult};
use hb_core::time::Instant as CoreInstant;
use nix::poll::PollFlags;
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use serde_json::Value;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest packet read or written (heartbeat's `MAXMSG` is 40 000 bytes before compression).
pub(super) const PACKET_MAX: usize = 65_536;
/// The loop never sleeps longer than this, whatever the core says.
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// How often a hung-up tty (serial or relay line) is opened again.
const REOPEN_EVERY: Duration = Duration::from_secs(1);
/// The same receive or send problem is logged at most once per this interval.
const COMPLAINT_INTERVAL: Duration = Duration::from_secs(10);
/// Packets read from one medium per round of the loop. A flood that arrives faster than the
/// loop takes packets in would otherwise keep it reading that one socket for ever: no
/// heartbeat sent, no other medium read, no dead time checked. poll(2) is level-triggered, so
/// what is left is read next round, after the timers.
pub(super) const RECV_BUDGET: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Exit {
    Stop,
    Restart,
    /// A reload: re-execute keeping our resources (see `reload`).
    Reexec,
}

/// The running daemon: the core's node and everything the loop waits on (built by start-up).
pub(super) struct Daemon {
    pub(super) opts: Options,
    pub(super) cfg: Box<Loaded>,
    pub(super) logger: Arc<Logger>,
    pub(super) hb: Box<Heartbeat>,
    /// The core's media (index = `MediumId`), then the relay channels that serve only as
    /// watchdog or STONITH device (read for their answers; heartbeats on them are dropped).
    pub(super) media: Vec<Medium>,
    /// How many of `media` are the core's.
    pub(super) core_media: usize,
    /// Per relay line in `media`: whether it was linked at the last look (to log changes).
    pub(super) relay_linked: Vec<bool>,
    pub(super) link_names: Vec<String>,
    pub(super) control: ControlServer,
    /// heartbeat's client API (libhbclient's socket), open from comm-up.
    pub(super) api: ApiServer,
    pub(super) signals: SignalFd,
    pub(super) worker: Worker,
    pub(super) respawn: Respawner,
    pub(super) pinger: Option<Pinger>,
    pub(super) watchdogs: Watchdogs,
    pub(super) observe: Observer,
    pub(super) start: Instant,
    pub(super) heard: Vec<Heard>,
    pub(super) rx_errors: u64,
    /// Per medium: hung up (a tty whose device went away), and when to try to reopen it.
    pub(super) hung: Vec<Option<Instant>>,
    pub(super) complained: Vec<Option<Instant>>,
    pub(super) exit: Option<Exit>,
    pub(super) reload: Reload,
    pub(super) rx: Vec<u8>,
    pub(super) tx: Vec<u8>,
    /// Held for the daemon's life (and left in place for a re-exec).
    pub(super) pid_file: Option<PidFile>,
    /// Per medium: we sent on it this round and it echoes ([`Medium::echoes`]): its copy is
    /// read before the loop sleeps.
    pub(super) echo_due: Vec<bool>,
    /// Per medium: the same, for an echo that went to the steady socket (what we sent was a
    /// steady status; see [`crate::media`]'s `steady`).
    pub(super) steady_echo_due: Vec<bool>,
    /// No steady status read now is given to the core as arriving before this: the core has
    /// been told of times up to it (the end of the last round).
    pub(super) steady_floor: Instant,
    /// Until when the steady sockets are polled whatever the cluster's state: a read found
    /// more than a wake-up's worth waiting (a burst, a flood of replayed statuses), which
    /// must not wait for the timer and fill the socket's buffer, crowding out the peers'.
    pub(super) steady_busy_until: Option<Instant>,
    /// Per medium: it was readable at the last poll (see [`Daemon::handle_ready`]).
    pub(super) rx_again: Vec<bool>,
    pub(super) poll_set: PollSet,
    /// The quiet descriptors' epoll set ([`Quiet`]); `None` until the loop starts, or if
    /// it could not be made (then everything is polled directly).
    pub(super) quiet: Option<Quiet>,
}

/// The descriptors that are quiet at rest and live as long as the loop — the signalfd, the
/// worker's wake-up, the control listener, the relay lines' wake-ups, the ping sockets, the
/// API listener once open — wait in one (level-triggered) epoll set, which the loop polls as
/// one descriptor. poll(2) then looks at the epoll set, the media and the clients of the
/// moment: at rest 2 descriptors instead of 5, and each costs the kernel a file lookup, a
/// poll callback and a wait-queue entry set up and torn down every round (the largest part
/// of the loop's own kernel time at keepalive 10 ms). Descriptors that come and go (control
/// and API clients, ttys that hang up and reopen) stay in the poll set, where a closed and
/// reused number cannot go stale.
pub(super) struct Quiet {
    ep: OwnedFd,
    api_listener: bool,
}

/// What a quiet descriptor's epoll entry carries: which one it is.
mod tag {
    pub const SIGNALS: u64 = 0;
    pub const WAKE: u64 = 1;
    pub const LISTENER: u64 = 2;
    pub const API_LISTENER: u64 = 3;
    /// + the relay line's index among the relay lines.
    pub const RELAY: u64 = 1 << 32;
    /// + the ping socket's index.
    pub const PING: u64 = 2 << 32;
}

impl Quiet {
    fn new() -> std::io::Result<Quiet> {
        // SAFETY: a plain system call; a descriptor it returns is ours alone.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Quiet {
            // SAFETY: `fd` was just opened and nothing else owns it.
            ep: unsafe { OwnedFd::from_raw_fd(fd) },
            api_listener: false,
        })
    }

    fn add(&self, fd: BorrowedFd<'_>, tag: u64) -> std::io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: tag,
        };
        // SAFETY: both descriptors are open (borrowed); `ev` is a valid event.
        let r = unsafe {
            libc::epoll_ctl(
                self.ep.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                &mut ev,
            )
        };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// The tags of the quiet descriptors that are ready now (without waiting).
    fn ready(&self, out: &mut Vec<u64>) {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 16];
        loop {
            // SAFETY: `evs` has room for the count given; timeout 0 never blocks.
            let n = unsafe {
                libc::epoll_wait(self.ep.as_raw_fd(), evs.as_mut_ptr(), evs.len() as i32, 0)
            };
            if n < 0 && nix::errno::Errno::last() == nix::errno::Errno::EINTR {
                continue;
            }
            for ev in evs.iter().take(n.max(0) as usize) {
                out.push(ev.u64);
            }
            // More ready than fit: what is left is still ready next round (level-triggered).
            return;
        }
    }
}

/// The poll set, rebuilt every round (descriptors come and go: clients, hung-up ttys) into
/// buffers the loop keeps, so that a round allocates nothing.
#[derive(Default)]
pub(super) struct PollSet {
    fds: Vec<libc::pollfd>,
    /// Each entry's `revents`, in the order of `fds`.
    ready: Vec<PollFlags>,
    /// Which media were polled (a hung-up tty is not).
    polled: Vec<usize>,
    /// The tags of the quiet descriptors found ready.
    quiet: Vec<u64>,
}

impl PollSet {
    fn push(&mut self, fd: BorrowedFd<'_>, events: PollFlags) {
        self.fds.push(libc::pollfd {
            fd: fd.as_raw_fd(),
            events: events.bits(),
            revents: 0,
        });
    }
}

/// The names of the engine's and ipfail's log lines (the resource machine has its own).
impl Names for Daemon {
    fn node(&self, id: NodeId) -> &str {
        self.hb.node(id).map_or("?", |n| n.name())
    }
    fn link(&self, medium: MediumId) -> &str {
        self.link_names
            .get(medium.index())
            .map_or("?", String::as_str)
    }
}

impl Daemon {
    fn now(&self) -> CoreInstant {
        CoreInstant::from_millis(self.start.elapsed().as_millis() as u64)
    }

    /// The core's clock at `t` (one clock reading serves a whole round).
    fn core_at(&self, t: Instant) -> CoreInstant {
        CoreInstant::from_millis(t.saturating_duration_since(self.start).as_millis() as u64)
    }

    fn to_std(&self, t: CoreInstant) -> Instant {
        self.start + Duration::from_millis(t.as_millis())
    }

    pub(super) fn run(mut self: Box<Self>) -> u8 {
        self.quiet = match self.quiet_set() {
            Ok(q) => Some(q),
            Err(e) => {
                self.logger.warn(&format!(
                    "cannot make an epoll set ({e}): polling every descriptor each round"
                ));
                None
            }
        };
        let now = self.now();
        self.pump(now);
        loop {
            let timeout = self.sleep_time();
            let mut set = std::mem::take(&mut self.poll_set);
            self.steady_floor = Instant::now();
            let r = self.wait(timeout, &mut set);
            if let Err(e) = r {
                self.poll_set = set;
                self.logger.error(&format!("poll failed: {e}"));
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            // Before anything else: what the timer or packet that woke us does may depend on
            // the statuses that arrived meanwhile.
            self.read_steady();
            self.handle_ready(&set.ready, &set.polled);
            self.poll_set = set;
            let t = Instant::now();
            self.reopen_hung(t);
            let now = self.core_at(t);
            if self.death_due(now) {
                self.drain_media();
            }
            self.hb.handle_timeout(now, wall_secs());
            self.pump(now);
            self.read_echoes();
            self.service_media_tx(t);
            self.service_relays(t);
            self.service_children(t);
            self.pet_watchdogs(t);
            self.control.expire(t);
            self.reload_step();
            if let Some(exit) = self.exit {
                return self.finish(exit);
            }
        }
    }

    // ---- wait ----

    /// How long poll may sleep.
    fn sleep_time(&self) -> Duration {
        let now = Instant::now();
        if self.api.has_backlog() {
            // Whole requests a client sent beyond its share of the last round.
            return Duration::ZERO;
        }
        let mut until = now + MAX_SLEEP;
        if let Some(t) = self.hb.poll_timeout() {
            until = until.min(self.to_std(t));
        }
        for (m, hung) in self.media.iter().zip(&self.hung) {
            match hung {
                Some(t) => until = until.min(*t),
                None => {
                    if let Some(t) = m.tx_deadline() {
                        until = until.min(t);
                    }
                }
            }
        }
        let deadlines = [
            self.watchdogs.next_due(self.cfg.hacf.keepalive),
            self.respawn.poll_timeout(),
            self.control.next_deadline(),
        ];
        for t in deadlines.into_iter().flatten() {
            until = until.min(t);
        }
        until.saturating_duration_since(now)
    }

    /// The epoll set of the descriptors that live as long as the loop ([`Quiet`]).
    fn quiet_set(&self) -> std::io::Result<Quiet> {
        let q = Quiet::new()?;
        q.add(self.signals.as_fd(), tag::SIGNALS)?;
        q.add(self.worker.wake.as_fd(), tag::WAKE)?;
        q.add(self.control.listener_fd(), tag::LISTENER)?;
        for (k, ch) in self.media.iter().filter_map(Medium::relay).enumerate() {
            q.add(ch.wake_fd(), tag::RELAY + k as u64)?;
        }
        if let Some(p) = &self.pinger {
            for (j, fd) in p.fds().enumerate() {
                q.add(fd, tag::PING + j as u64)?;
            }
        }
        Ok(q)
    }

    /// Waits; fills `set.ready` with the readiness of [signals, wake, listener, conns…,
    /// polled media…, relay wakes…, ping…, API…] (whether each is polled directly or through
    /// the quiet set) and `set.polled` with which media were polled (a hung-up tty is not:
    /// it is always "ready").
    fn wait(&self, timeout: Duration, set: &mut PollSet) -> nix::Result<()> {
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // Round up so that a deadline 0.4 ms away does not spin.
        let ms = if timeout > Duration::from_millis(ms as u64) {
            ms.saturating_add(1)
        } else {
            ms
        };
        let quiet = self.quiet.as_ref();
        set.fds.clear();
        set.polled.clear();
        match quiet {
            Some(q) => set.push(q.ep.as_fd(), PollFlags::POLLIN),
            None => {
                set.push(self.signals.as_fd(), PollFlags::POLLIN);
                set.push(self.worker.wake.as_fd(), PollFlags::POLLIN);
                set.push(self.control.listener_fd(), PollFlags::POLLIN);
            }
        }
        for fd in self.control.conn_fds() {
            set.push(fd, PollFlags::POLLIN);
        }
        for (i, m) in self.media.iter().enumerate() {
            if self.hung[i].is_some() {
                continue;
            }
            let mut f = PollFlags::POLLIN;
            if m.wants_writable() {
                f |= PollFlags::POLLOUT;
            }
            set.push(m.as_fd(), f);
            set.polled.push(i);
        }
        let n_wakes = self.media.iter().filter(|m| m.relay().is_some()).count();
        let n_ping = self.pinger.as_ref().map_or(0, |p| p.fds().count());
        if quiet.is_none() {
            // A fence request from the worker for a relay channel.
            for ch in self.media.iter().filter_map(Medium::relay) {
                set.push(ch.wake_fd(), PollFlags::POLLIN);
            }
            if let Some(p) = &self.pinger {
                for fd in p.fds() {
                    set.push(fd, PollFlags::POLLIN);
                }
            }
        }
        // The API clients last: they are served after everything else.
        let api_listener_quiet = quiet.is_some_and(|q| q.api_listener);
        for (k, (fd, f)) in self.api.poll_fds().enumerate() {
            if k == 0 && api_listener_quiet && self.api.is_open() {
                continue;
            }
            set.push(fd, f);
        }
        // The steady sockets only wake us while the cluster is not steady; they are read at
        // every wake-up (`read_steady`), so their readiness is not reported.
        let tail = set.fds.len();
        if !self.cluster_steady() {
            for (i, m) in self.media.iter().enumerate() {
                if let (None, Some(fd)) = (self.hung[i], m.steady_fd()) {
                    set.push(fd, PollFlags::POLLIN);
                }
            }
        }
        // SAFETY: `fds` is `len` initialised entries; their descriptors are borrowed from
        // `self`, which outlives the call, so none is closed while the kernel looks at it.
        let n = unsafe { libc::poll(set.fds.as_mut_ptr(), set.fds.len() as libc::nfds_t, ms) };
        if n < 0 {
            match nix::errno::Errno::last() {
                nix::errno::Errno::EINTR => set.fds.iter_mut().for_each(|f| f.revents = 0),
                e => return Err(e),
            }
        }
        let flags = |f: &libc::pollfd| PollFlags::from_bits_truncate(f.revents);
        set.fds.truncate(tail);
        set.ready.clear();
        let Some(q) = quiet else {
            set.ready.extend(set.fds.iter().map(flags));
            return Ok(());
        };
        // The layout of the direct case, with the quiet entries filled from the epoll set.
        let n_conns = self.control.conns();
        let direct = 1 + n_conns + set.polled.len();
        set.ready.extend([PollFlags::empty(); 3]);
        set.ready.extend(set.fds[1..direct].iter().map(flags));
        let relays_at = set.ready.len();
        set.ready
            .extend(std::iter::repeat_n(PollFlags::empty(), n_wakes + n_ping));
        let api_at = set.ready.len();
        if api_listener_quiet && self.api.is_open() {
            set.ready.push(PollFlags::empty());
        }
        set.ready.extend(set.fds[direct..].iter().map(flags));
        set.quiet.clear();
        if !flags(&set.fds[0]).is_empty() {
            q.ready(&mut set.quiet);
        }
        for &t in &set.quiet {
            let at = match t {
                tag::SIGNALS | tag::WAKE | tag::LISTENER => Some(t as usize),
                tag::API_LISTENER => Some(api_at),
                _ if t >= tag::PING => Some(relays_at + n_wakes + (t - tag::PING) as usize),
                _ if t >= tag::RELAY => Some(relays_at + (t - tag::RELAY) as usize),
                _ => None,
            };
            if let Some(slot) = at.and_then(|a| set.ready.get_mut(a)) {
                *slot = PollFlags::POLLIN;
            }
        }
        Ok(())
    }

    // ---- dispatch ----

    fn handle_ready(&mut self, ready: &[PollFlags], polled: &[usize]) {
        let any = |f: PollFlags| !f.is_empty();
        if any(ready[0]) {
            self.handle_signals();
        }
        if any(ready[1]) {
            self.handle_results();
        }
        let n_conns = self.control.conns();
        let n_media = polled.len();
        // Media first: heartbeats matter more than clients.
        for (k, f) in ready[3 + n_conns..3 + n_conns + n_media].iter().enumerate() {
            let i = polled[k];
            let ready = any(*f);
            // Readable two polls running: packets are queuing (a burst, a flood), so read
            // them all now rather than one per poll.
            let again = std::mem::replace(&mut self.rx_again[i], ready);
            if ready {
                self.receive(i, again);
            }
        }
        let n_wakes = self.media.iter().filter(|m| m.relay().is_some()).count();
        let wakes = 3 + n_conns + n_media;
        if ready[wakes..wakes + n_wakes].iter().any(|f| any(*f)) {
            self.service_relays(Instant::now());
        }
        let n_ping = self.pinger.as_ref().map_or(0, |p| p.fds().count());
        let pings = wakes + n_wakes;
        if ready[pings..pings + n_ping].iter().any(|f| any(*f)) {
            self.ping_replies();
        }
        self.serve_api(&ready[pings + n_ping..]);
        let mut done = Vec::new();
        for (i, f) in ready[3..3 + n_conns].iter().enumerate() {
            if any(*f) && self.control.read(i) {
                done.push(i);
            }
        }
        for i in done.into_iter().rev() {
            let c = self.control.take(i);
            let reply = match c.request() {
                Ok(req) => self.handle_request(req),
                Err(refusal) => refusal,
            };
            c.answer(&reply);
        }
        if any(ready[2]) {
            self.control.accept();
        }
    }

    fn handle_signals(&mut self) {
        while let Ok(Some(info)) = self.signals.read_signal() {
            let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                continue;
            };
            let now = self.now();
            match sig {
                Signal::SIGTERM | Signal::SIGINT => {
                    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
                    match self.hb.handle_command(now, wall_secs(), Command::Shutdown) {
                        // heartbeat closes the watchdog as resource release starts: a hang
                        // while stopping resources must not reset the node.
                        Ok(()) => self.watchdogs.close(&mut self.media),
                        Err(e) => self.logger.info(&format!("Shutdown: {e}")),
                    }
                }
                Signal::SIGHUP => self.reload(),
                Signal::SIGUSR1 | Signal::SIGUSR2 => {}
                _ => {}
            }
        }
    }

    /// SIGHUP: see [`reload`](super::reload) for what a reload does. Not inlined: it holds two
    /// configurations on the stack, which in the loop's own frame would stay resident.
    #[inline(never)]
    fn reload(&mut self) {
        // Warnings are for the re-executed daemon to log, with its start-up.
        let (dir, node) = (&self.cfg.dir, &self.cfg.node);
        let loaded = process::off_main_stack(&|| config::load(dir, Some(node), &mut |_| {}));
        match reload::judge(&self.cfg, loaded, &self.hb) {
            Verdict::Invalid(lines) => {
                for l in &lines {
                    self.logger.error(l);
                }
                self.logger
                    .error("Config errors: configuration not reloaded; still running the old one");
            }
            Verdict::Unchanged => self.logger.info("Configuration unchanged."),
            Verdict::Reexec => {
                // The re-executed daemon reads authkeys with the rest.
                if self.reload == Reload::Idle {
                    self.reload = Reload::Waiting;
                }
                self.reload_step();
                if self.reload == Reload::Waiting {
                    self.logger.info(
                        "Configuration changed: restarting once resource work in progress is done",
                    );
                }
            }
            Verdict::InPlace { new, refused } => {
                // authkeys applies at once, as in 3.0.6 (a key rotation needs no restart). The
                // relay channels keep the key they opened with: the board's is in its image.
                if new.texts[1] != self.cfg.texts[1] {
                    self.logger.info("Rereading authentication file.");
                    match self.hb.set_keys(new.keys.clone()) {
                        Ok(()) => {
                            self.cfg.keys = new.keys.clone();
                            self.cfg.texts[1] = new.texts[1].clone();
                        }
                        Err(e) => self.logger.error(&format!(
                            "authkeys not applied ({e:?}); still using the old keys"
                        )),
                    }
                }
                if let Some(why) = refused {
                    self.logger.warn(&format!(
                        "Configuration changed: {why}; restart heartbeat (hbctl standby, then \
                         a restart) to apply it"
                    ));
                }
            }
        }
    }

    fn reload_step(&mut self) {
        let now = self.now();
        if self.reload.step(&mut self.hb, now, wall_secs()) && self.exit.is_none() {
            self.exit = Some(Exit::Reexec);
        }
    }

    fn handle_results(&mut self) {
        let mut b = [0u8; 64];
        while matches!(self.worker.wake.read(&mut b), Ok(n) if n > 0) {}
        while let Ok(outcome) = self.worker.results.try_recv() {
            let now = self.now();
            self.observe.outcome(&outcome);
            match outcome {
                Outcome::Done(done) => self.hb.handle_action_done(now, done),
                Outcome::Reboot => process::reboot(&self.logger),
                // Resource monitoring is the core's decision: it logs and acts on the answers.
                Outcome::Monitored { group, running } => self
                    .hb
                    .handle_monitor_result(now, MonitorResult::Checked { group, running }),
                Outcome::Restarted { group, running } => self
                    .hb
                    .handle_monitor_result(now, MonitorResult::Restarted { group, running }),
                Outcome::Announced => {}
            }
            self.pump(now);
            let cfg = &self.cfg;
            self.observe.groups(&self.hb, |g| key_of(cfg, g));
        }
    }

    /// Reads what medium `i` has: a tty (and a datagram socket when `drain`) until nothing
    /// is left, a datagram socket otherwise one packet: at rest one is all there is, and a
    /// second `recvmsg` would only say `EAGAIN`; more keep the socket readable for the next
    /// poll.
    fn receive(&mut self, i: usize, drain: bool) {
        for _ in 0..RECV_BUDGET {
            let got = self.media[i].recv(&mut self.rx);
            match got {
                Ok(None) => break,
                // A relay that is not our medium still forwards the others' heartbeats.
                Ok(Some(_)) if i >= self.core_media => {}
                Ok(Some(n)) => {
                    self.feed(i, n, Instant::now());
                    if !drain && self.media[i].is_datagram() {
                        break;
                    }
                }
                Err(e) if e.is_hangup() => {
                    self.hung[i] = Some(Instant::now() + REOPEN_EVERY);
                    self.logger.error(&format!(
                        "{e} (the device went away, or its other end closed): reopening it every {} s",
                        REOPEN_EVERY.as_secs()
                    ));
                    break;
                }
                Err(e) => {
                    self.rx_errors += 1;
                    let what = format!("{e}");
                    self.complain(i * 2, Priority::Warn, &what);
                    // poll(2) is level-triggered: what is left is read next round, and an
                    // error that repeats cannot hold the loop here.
                    break;
                }
            }
        }
    }

    /// Gives the core the packet in `rx[..n]`, read from medium `i`, as arrived at `at`.
    pub(super) fn feed(&mut self, i: usize, n: usize, at: Instant) {
        let now = self.core_at(at);
        let r = self
            .hb
            .handle_packet(now, wall_secs(), MediumId(i as u8), &self.rx[..n]);
        if let Err(e) = r {
            self.rx_errors += 1;
            // Formatted only when it is logged: a flood of bad packets costs a counter, not a
            // message each.
            if self.complaint_due(i * 2) {
                let what = format!(
                    "ignored a packet on {} {}: {e} ({} ignored so far)",
                    self.media[i].kind(),
                    self.link_names[i],
                    self.rx_errors
                );
                self.logger.log(Priority::Warn, &what);
            }
        }
        status::track_heard(&mut self.heard, &self.hb, self.media.len());
        self.observe.packet(&self.hb, r);
        self.pump(now);
    }

    /// Whether the core would declare a node (this one included: our own status coming round
    /// late means a restart) or a link dead at `now`, going by what it has read so far.
    fn death_due(&self, now: CoreInstant) -> bool {
        let n_links = self.core_media;
        self.hb.nodes().any(|(_, n)| {
            let late = |t: CoreInstant| now.saturating_since(t) > n.dead_interval();
            let node = n.status() != NodeStatus::Dead && n.last_status_at().is_some_and(late);
            node || (0..n_links).any(|l| n.link_up(l) && n.link_last_heard(l).is_some_and(late))
        })
    }

    /// Reads every medium until it is empty (within [`RECV_BUDGET`]). Before the core judges a
    /// dead time, every packet that already arrived must count: a round reads one datagram per
    /// medium, and when the loop ran late (a loaded machine; the soak at a 30 ms dead time)
    /// that one can be our own broadcast copy with the peer's status queued behind it. Only
    /// when a dead time runs out, so an idle round costs no extra empty read.
    fn drain_media(&mut self) {
        for i in 0..self.core_media {
            if self.hung[i].is_none() {
                self.receive_steady(i);
                self.receive(i, true);
            }
        }
    }

    /// Reads the copies of what we just sent on media that echo ([`Medium::echoes`]), one
    /// each: the kernel queued them during `sendto`, and reading them now saves a poll that
    /// would only say they are there. A copy not there yet wakes the next poll as before.
    fn read_echoes(&mut self) {
        for i in 0..self.echo_due.len() {
            if std::mem::take(&mut self.echo_due[i]) && self.hung[i].is_none() {
                self.receive(i, false);
            }
        }
        self.read_steady_echoes();
    }

    /// Tries to reopen the hung-up ttys that are due.
    fn reopen_hung(&mut self, now: Instant) {
        for i in 0..self.media.len() {
            if self.hung[i].is_none_or(|t| t > now) {
                continue;
            }
            match self.media[i].reopen() {
                Ok(()) => {
                    self.hung[i] = None;
                    let (kind, link) = (self.media[i].kind(), self.media[i].link_name());
                    self.logger.info(&format!("{kind} {link}: reopened"));
                }
                Err(e) => {
                    self.hung[i] = Some(now + REOPEN_EVERY);
                    let what = format!("{e}");
                    self.complain(i * 2, Priority::Warn, &what);
                }
            }
        }
    }

    fn ping_replies(&mut self) {
        while let Some(i) = self.pinger.as_mut().and_then(Pinger::recv) {
            if let Some(id) = ping::ping_node_id(&self.cfg.hacf, i) {
                let now = self.now();
                let _ = self.hb.handle_ping_reply(now, id);
                self.pump(now);
            }
        }
    }

    // ---- control requests ----

    fn handle_request(&mut self, req: Request) -> Value {
        let now = self.now();
        let command = match req {
            Request::Status => return self.status(),
            // The core logs `Going standby [<set>].` itself.
            Request::Standby(set) => Command::Standby(set),
            Request::Takeover(set) => {
                self.observe.takeover_requested();
                Command::Takeover(set)
            }
            Request::Shutdown => Command::Shutdown,
        };
        let r = self.hb.handle_command(now, wall_secs(), command);
        self.pump(now);
        control_server::command_reply(r)
    }

    fn status(&self) -> Value {
        let mut v = status::status(&status::View {
            now: self.now(),
            hb: &self.hb,
            cfg: &self.cfg,
            debug: self.opts.debug,
            heard: &self.heard,
            media: &self.media,
            core_media: self.core_media,
            link_names: &self.link_names,
            hung: &self.hung,
            watchdog_relay: self.watchdogs.relay(),
            rx_errors: self.rx_errors,
        });
        self.observe.annotate(&self.hb, &mut v);
        v
    }

    // ---- the client API ----

    fn bridge(&mut self) -> (&mut ApiServer, Bridge<'_>) {
        let bridge = Bridge {
            hb: &mut self.hb,
            link_names: &self.link_names,
            core_media: self.core_media,
            start: self.start,
        };
        (&mut self.api, bridge)
    }

    /// Serves the API clients (`ready`: their part of the poll set).
    fn serve_api(&mut self, ready: &[PollFlags]) {
        let (api, mut bridge) = self.bridge();
        api.handle_ready(ready, &mut bridge);
        self.api_logs();
        let now = self.now();
        self.pump(now);
    }

    /// A membership event: the registration socket opens at comm-up; clients hear of node
    /// and link changes and of the messages addressed to them; a peer's client-status query
    /// is answered.
    fn api_event(&mut self, e: &hb_core::engine::Event) {
        if *e == hb_core::engine::Event::CommUp {
            if let Err(err) = self.api.open() {
                self.logger.error(&format!(
                    "Cannot open registration socket: {err} (API clients cannot sign on)"
                ));
            }
            // It lives as long as the loop: into the quiet set (polled directly if that fails).
            if let (Some(q), Some(fd)) = (&mut self.quiet, self.api.listener_fd()) {
                if !q.api_listener {
                    q.api_listener = q.add(fd, tag::API_LISTENER).is_ok();
                }
            }
        }
        let msgs = api_hook::client_messages(e, &self.hb, &self.link_names);
        for msg in msgs {
            if let hb_core::engine::Event::Message(m) = e {
                if ApiServer::is_query(m.msg_type()) {
                    let from = self.node(m.from).to_string();
                    let (api, mut bridge) = self.bridge();
                    api.answer_query(&from, &msg, &mut bridge);
                    continue;
                }
            }
            let (api, mut bridge) = self.bridge();
            api.deliver(&msg, api_hook::TREATMENT, &mut bridge);
        }
        self.api_logs();
    }

    fn api_logs(&mut self) {
        for (p, l) in self.api.take_logs() {
            self.logger.log(p, &l);
        }
    }

    // ---- the rest of a round ----

    /// Respawned children: reap the dead, restart what is due.
    fn service_children(&mut self, now: Instant) {
        let reaped = self.respawn.reap(now);
        for l in reaped.logs.iter().chain(&self.respawn.handle_timeout(now)) {
            self.logger.log_line(l);
        }
        if let Some(cmd) = reaped.reboot {
            self.logger.log(
                Priority::Crit,
                &format!("Client {cmd} (failfast) died: rebooting"),
            );
            process::reboot(&self.logger);
        }
    }

    /// Logs `what` unless the same slot complained within [`COMPLAINT_INTERVAL`].
    pub(super) fn complain(&mut self, slot: usize, p: Priority, what: &str) {
        if self.complaint_due(slot) {
            self.logger.log(p, what);
        }
    }

    /// Whether `slot` may complain now (none within [`COMPLAINT_INTERVAL`]); if so, the
    /// interval starts again.
    fn complaint_due(&mut self, slot: usize) -> bool {
        let now = Instant::now();
        let slot = slot.min(self.complained.len() - 1);
        let last = &mut self.complained[slot];
        let due = last.is_none_or(|t| now.duration_since(t) >= COMPLAINT_INTERVAL);
        if due {
            *last = Some(now);
        }
        due
    }

    // ---- pump ----

    /// Carries out everything the core has for us: events, then packets, until it is quiet.
    fn pump(&mut self, now: CoreInstant) {
        loop {
            let mut busy = false;
            while let Some(ev) = self.hb.poll_event() {
                busy = true;
                self.on_event(ev);
            }
            while let Some(t) = self.hb.poll_transmit(now, &mut self.tx) {
                busy = true;
                for m in t.media.iter() {
                    let i = m.index();
                    if self.hung.get(i).is_some_and(Option::is_some) {
                        continue; // reported when it hung up; the core sees the link die
                    }
                    if let Some(medium) = self.media.get_mut(i) {
                        match medium.send(&self.tx[..t.len]) {
                            // Our copy comes back to the socket its kind goes to.
                            Ok(()) if medium.echoes() => {
                                let to_steady = medium.steady_fd().is_some()
                                    && hb_core::msg::is_steady(&self.tx[..t.len]);
                                if to_steady {
                                    self.steady_echo_due[i] = true;
                                } else {
                                    self.echo_due[i] = true;
                                }
                            }
                            Ok(()) => {}
                            Err(e) => {
                                let what = format!("{e}");
                                self.complain(i * 2 + 1, Priority::Error, &what);
                            }
                        }
                    }
                }
            }
            while let Some(req) = self.hb.poll_monitor() {
                busy = true;
                self.worker.submit(match req {
                    MonitorRequest::Check(g) => Job::Monitor(g),
                    MonitorRequest::Restart(g) => Job::Restart(g),
                });
            }
            while let Some(group) = self.hb.poll_announce() {
                busy = true;
                self.worker.submit(Job::Announce(group));
            }
            while let Some(node) = self.hb.poll_ping() {
                let index = ping::ping_target_index(&self.cfg.hacf, node);
                if let (Some(p), Some(i)) = (&mut self.pinger, index) {
                    if let Err(e) = p.send(i) {
                        let what = format!("cannot send a ping: {e}");
                        let slot = self.complained.len() - 1;
                        self.complain(slot, Priority::Warn, &what);
                    }
                }
            }
            if !busy {
                break;
            }
        }
    }

    fn on_event(&mut self, ev: Event) {
        let cfg = &self.cfg;
        self.observe.event(&ev, &self.hb, |g| key_of(cfg, g));
        match ev {
            Event::Membership(e) => {
                self.api_event(&e);
                if e == hb_core::engine::Event::CommUp {
                    // heartbeat starts its respawn clients once comm is up.
                    for l in self.respawn.start_all(Instant::now()) {
                        self.logger.log_line(&l);
                    }
                }
                if let Some(line) = hb_core::log::event_line(&e, &*self) {
                    self.logger.log(line.level().into(), &line.to_string());
                }
            }
            Event::Acquire(g) => self.worker.submit(Job::Acquire(g)),
            Event::Release(g) => self.worker.submit(Job::Release(g)),
            Event::Fence(n) => {
                let name = self.node(n).to_string();
                self.worker.submit(Job::Fence { node: n, name });
            }
            Event::Reboot => {
                self.logger
                    .log(Priority::Crit, "Resource STOP failure. Reboot required!");
                process::reboot(&self.logger);
            }
            Event::Exit { restart } => {
                self.exit = Some(if restart { Exit::Restart } else { Exit::Stop });
            }
            Event::Log(msg) => {
                let line = self.hb.log_line(msg);
                let p = line.level().into();
                let text = line.to_string();
                self.logger.log(p, &text);
            }
            Event::BadResourceMessage { from, error } => {
                let text = format!(
                    "ignored a resource message from {}: {error:?}",
                    self.node(from)
                );
                self.logger.warn(&text);
            }
            Event::ResourceMessageNotSent { error } => {
                self.logger
                    .error(&format!("a resource message could not be sent: {error}"));
            }
            Event::OutOfOrder { from } => {
                let text = format!(
                    "resource messages from {} handled out of order (too many overtook a lost one)",
                    self.node(from)
                );
                self.logger.warn(&text);
            }
            Event::Ipfail(m) => {
                let text = m.line(&*self).to_string();
                self.logger.log(m.level().into(), &text);
            }
            Event::IpfailMessageNotSent { error } => {
                self.logger
                    .error(&format!("an ipfail message could not be sent: {error}"));
            }
        }
    }

    /// Runs the relay channels' protocol (the worker's requests, hellos, link checks) and logs
    /// what changed on their links.
    fn service_relays(&mut self, now: Instant) {
        for i in 0..self.media.len() {
            if self.hung[i].is_some() {
                // Its worker requests time out on their own; the reopening says hello.
                continue;
            }
            let Some(ch) = self.media[i].relay_mut() else {
                continue;
            };
            let (lines, r) = relays::service(ch, &mut self.relay_linked[i], now);
            for (p, l) in lines {
                self.logger.log(p, &l);
            }
            if let Err(e) = r {
                let what = format!("{e}");
                self.complain(i * 2 + 1, Priority::Error, &what);
            }
        }
    }

    fn service_media_tx(&mut self, now: Instant) {
        for i in 0..self.media.len() {
            if self.hung[i].is_some() {
                continue;
            }
            let due = self.media[i].tx_deadline().is_some_and(|t| t <= now)
                || self.media[i].wants_writable();
            if due {
                if let Err(e) = self.media[i].poll_tx(now) {
                    let what = format!("{e}");
                    self.complain(i * 2 + 1, Priority::Error, &what);
                }
            }
        }
    }

    fn pet_watchdogs(&mut self, now: Instant) {
        let notes =
            self.watchdogs
                .pet_due(now, self.cfg.hacf.keepalive, &mut self.media, &self.hung);
        self.observe.pets(self.watchdogs.pets);
        for note in notes {
            match note {
                PetNote::Late(text) => self.logger.warn(&text),
                PetNote::RelayFailed { medium, text } => {
                    self.complain(medium * 2 + 1, Priority::Error, &text)
                }
                PetNote::Closed(text) => self.logger.error(&text),
            }
        }
    }

    fn finish(mut self: Box<Self>, exit: Exit) -> u8 {
        for l in self.respawn.stop_all_blocking() {
            self.logger.log_line(&l);
        }
        self.worker.stop();
        self.watchdogs.close(&mut self.media);
        // The disarming pet must be on the line before the port closes, or the relay would
        // reset a node that stopped on purpose.
        for m in std::mem::take(&mut self.media) {
            if let Medium::Relay(ch) = m {
                let dev = ch.link_name().to_string();
                if !ch.close(Duration::from_secs(1)) {
                    self.logger.warn(&format!(
                        "Relay line {dev}: not everything was written at stop"
                    ));
                }
            }
        }
        let _ = std::fs::remove_file(&self.opts.socket);
        self.api.close();
        let node = self.cfg.node.clone();
        self.logger
            .info(&format!("{node} Heartbeat shutdown complete."));
        if exit == Exit::Reexec {
            // 3.0.6's restart_heartbeat, quick: the same pid, our resources kept.
            self.logger.info("Heartbeat restart triggered.");
            self.logger.info("Restarting heartbeat.");
            self.logger.info("Performing heartbeat restart exec.");
            let (args, current) = reload::reexec_args(std::env::args_os(), &self.hb);
            self.logger
                .info(&format!("Current resources: -R -C {current}"));
            // The pid file stays for the new image (its lock goes with the descriptor).
            if let Some(p) = self.pid_file.take() {
                p.keep_for_exec();
            }
            let logger = self.logger.clone();
            drop(self);
            let Err(e) = process::exec_self(&args);
            logger.error(&format!("Could not exec heartbeat: {e}"));
            logger.error("Shutting down...");
            return 1;
        }
        if exit == Exit::Restart {
            self.logger.info("Restarting heartbeat.");
            let args = process::own_args();
            drop(self);
            let e = process::exec_self(&args);
            eprintln!("heartbeat: ERROR: cannot restart: {e:?}");
            return 1;
        }
        0
    }
}

/// A group's haresources key (`#N` for an index haresources does not have).
fn key_of(cfg: &Loaded, g: u8) -> String {
    cfg.haresources
        .groups()
        .get(usize::from(g))
        .map_or_else(|| format!("#{g}"), |g| g.key().to_string())
}
