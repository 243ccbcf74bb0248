//! Start-up and the heartbeat loop (module docs of [`super`]).

use super::events::{self, Names};
use super::worker::{Executor, Job, Outcome, Worker};
use crate::config::{self, Loaded};
use crate::control;
use crate::log::{LogConfig, Logger, Priority};
use crate::media::relay::{ChannelEvent, FenceHandle, RelayChannel};
use crate::media::{Medium, OpenOptions};
use crate::ping::{self, PingTarget, Pinger};
use crate::respawn::{RespawnConfig, Respawner};
use crate::state::{PidFile, PidFileError, StateDir};
use hb_core::engine::{MediumId, NodeId, NodeKind};
use hb_core::heartbeat::{Command, Event, Heartbeat, HeartbeatConfig};
use hb_core::resources::{GroupId, GroupState, Holder, StandbySet};
use hb_core::time::{Duration as CoreDuration, Instant as CoreInstant};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use watchdog::linux::LinuxWatchdog;
use watchdog::Watchdog as _;

/// Cluster nodes plus ping nodes.
const NODES: usize = 32;
const MEDIA: usize = 16;
const GROUPS: usize = 32;
type Node = Heartbeat<NODES, MEDIA, GROUPS>;

/// Largest packet read or written (heartbeat's `MAXMSG` is 40 000 bytes before compression).
const PACKET_MAX: usize = 65_536;
/// A control client that has not sent its request by then is dropped.
const CONTROL_DEADLINE: Duration = Duration::from_secs(2);
/// At most this many control connections at once; more wait in the listen queue.
const CONTROL_CONNS: usize = 16;
/// The loop never sleeps longer than this, whatever the core says.
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// How often a hung-up tty (serial or relay line) is opened again.
const REOPEN_EVERY: Duration = Duration::from_secs(1);
/// The same receive or send problem is logged at most once per this interval.
const COMPLAINT_INTERVAL: Duration = Duration::from_secs(10);

/// Builds the worker's executor from the configuration (errors name the ha.cf line).
/// `relays` are the daemon's relay channels, for an `hbrelay` STONITH device on one of them.
pub type MakeExecutor =
    fn(&Loaded, &[FenceHandle], Arc<Logger>) -> Result<Box<dyn Executor>, String>;

/// How the daemon was started.
#[derive(Clone, Debug)]
pub struct Options {
    pub config_dir: PathBuf,
    /// Our node name instead of `uname -n` / DIR/nodeinfo.
    pub node: Option<String>,
    pub foreground: bool,
    /// `-d`, repeated: more debug logging.
    pub debug: u8,
    pub state_dir: PathBuf,
    pub socket: PathBuf,
    pub pid_file: PathBuf,
    /// `-l`: no realtime priority and no locked memory, whatever ha.cf says.
    pub no_realtime: bool,
    /// Carries out resource actions and fencing.
    pub executor: MakeExecutor,
}

/// Runs the daemon; returns the process exit code.
pub fn run(opts: Options) -> u8 {
    let mut warnings = Vec::new();
    let loaded = match config::load(&opts.config_dir, opts.node.as_deref(), &mut |w| {
        warnings.push(w)
    }) {
        Ok(l) => l,
        Err(r) => {
            for l in &r.lines {
                eprintln!("heartbeat: ERROR: {l}");
            }
            eprintln!("heartbeat: ERROR: Configuration error, heartbeat not started.");
            return r.exit;
        }
    };
    for w in &warnings {
        eprintln!("heartbeat: WARN: {w}");
    }
    let ready = if opts.foreground {
        None
    } else {
        match daemonize() {
            Ok(Fork::Parent(code)) => return code,
            Ok(Fork::Child(pipe)) => Some(pipe),
            Err(e) => {
                eprintln!("heartbeat: ERROR: cannot fork: {}", crate::errno_text(&e));
                return 1;
            }
        }
    };
    match Daemon::start(opts, loaded, warnings) {
        Ok(Started::Running(d)) => {
            report_ready(ready, 0);
            d.run()
        }
        Ok(Started::AlreadyRunning) => {
            report_ready(ready, 0);
            0
        }
        Err(code) => {
            report_ready(ready, code);
            code
        }
    }
}

enum Fork {
    Parent(u8),
    Child(UnixStream),
}

/// Forks; the parent waits until the child says it runs (or has failed) and returns its code.
fn daemonize() -> std::io::Result<Fork> {
    let (mut parent_end, child_end) = UnixStream::pair()?;
    // SAFETY: no other thread exists yet (the worker starts after this), so the child may
    // run any code.
    match unsafe { nix::unistd::fork() }.map_err(std::io::Error::from)? {
        nix::unistd::ForkResult::Parent { .. } => {
            drop(child_end);
            let mut code = [1u8];
            match parent_end.read(&mut code) {
                Ok(1) => Ok(Fork::Parent(code[0])),
                // The child died before it could say anything: it has printed why.
                _ => Ok(Fork::Parent(1)),
            }
        }
        nix::unistd::ForkResult::Child => {
            drop(parent_end);
            let _ = nix::unistd::setsid();
            let _ = std::env::set_current_dir("/");
            Ok(Fork::Child(child_end))
        }
    }
}

/// Tells a waiting parent the start-up result; a daemon then leaves the terminal.
fn report_ready(pipe: Option<UnixStream>, code: u8) {
    if let Some(mut p) = pipe {
        let _ = p.write_all(&[code]);
        if code == 0 {
            if let Ok(null) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
            {
                use std::os::fd::AsRawFd as _;
                for fd in 0..3 {
                    // SAFETY: replaces our standard descriptors, which nothing else holds.
                    unsafe { libc::dup2(null.as_raw_fd(), fd) };
                }
            }
        }
    }
}

enum Started {
    Running(Box<Daemon>),
    AlreadyRunning,
}

/// hb's resource monitoring (heartbeat v1 had none), off unless ha.cf says
/// `env HB_MONITOR_INTERVAL=<s>` (or `<n>ms`): every running group of ours is asked for its
/// status that often; after `HB_MONITOR_FAILURES` (3) failed checks in a row it is restarted in
/// place, and after `HB_MONITOR_RESTARTS` (2) restarts it is given to the other node
/// (`hb_standby`). ha.cf's `env` directive is 3.0.6's, so the file stays valid for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MonitorCfg {
    interval: Duration,
    failures: u32,
    restarts: u32,
}

impl MonitorCfg {
    fn from_hacf(cf: &hb_core::config::HaCf) -> Option<MonitorCfg> {
        let get = |name: &str| {
            cf.env
                .iter()
                .find(|v| v.name.as_str() == name)
                .map(|v| v.value.trim().to_string())
        };
        let interval = get("HB_MONITOR_INTERVAL").and_then(|v| match v.strip_suffix("ms") {
            Some(ms) => ms.trim().parse().ok().map(Duration::from_millis),
            None => v.parse().ok().map(Duration::from_secs),
        })?;
        if interval.is_zero() {
            return None;
        }
        let num =
            |name: &str, default: u32| get(name).and_then(|v| v.parse().ok()).unwrap_or(default);
        Some(MonitorCfg {
            interval,
            failures: num("HB_MONITOR_FAILURES", 3).max(1),
            restarts: num("HB_MONITOR_RESTARTS", 2),
        })
    }
}

/// Monitoring of one group while it runs here.
#[derive(Clone, Copy, Debug, Default)]
struct Watch {
    next: Option<Instant>,
    failures: u32,
    restarts: u32,
    /// A check or restart is with the worker.
    busy: bool,
}

/// Per node: when it was last heard and the longest silence seen.
#[derive(Clone, Copy, Debug, Default)]
struct Heard {
    last: Option<CoreInstant>,
    worst: CoreDuration,
}

struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
    deadline: Instant,
    allowed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exit {
    Stop,
    Restart,
}

struct Daemon {
    opts: Options,
    cfg: Loaded,
    logger: Arc<Logger>,
    hb: Box<Node>,
    /// The core's media (index = `MediumId`), then the relay channels that serve only as
    /// watchdog or STONITH device (read for their answers; heartbeats on them are dropped).
    media: Vec<Medium>,
    /// How many of `media` are the core's.
    core_media: usize,
    /// Per relay line in `media`: whether it was linked at the last look (to log changes).
    relay_linked: Vec<bool>,
    link_names: Vec<String>,
    listener: UnixListener,
    conns: Vec<Conn>,
    signals: SignalFd,
    worker: Worker,
    respawn: Respawner,
    pinger: Option<Pinger>,
    monitor: Option<MonitorCfg>,
    watches: Vec<Watch>,
    /// The device and its timeout in force.
    watchdog: Option<(WatchdogDev, Duration)>,
    last_pet: Instant,
    sd_watchdog: Option<Duration>,
    last_sd_pet: Instant,
    start: Instant,
    heard: Vec<Heard>,
    rx_errors: u64,
    /// Per medium: hung up (a tty whose device went away), and when to try to reopen it.
    hung: Vec<Option<Instant>>,
    complained: Vec<Option<Instant>>,
    exit: Option<Exit>,
    rx: Vec<u8>,
    tx: Vec<u8>,
    _pid: PidFile,
}

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

impl hb_core::ipfail::Names for Daemon {
    fn node(&self, id: NodeId) -> &str {
        Names::node(self, id)
    }
    fn link(&self, medium: MediumId) -> &str {
        Names::link(self, medium)
    }
}

/// The device that resets this machine when the loop stops petting it.
enum WatchdogDev {
    Linux(LinuxWatchdog),
    /// `watchdog relay:<tty>`: the relay channel at this index of the media.
    Relay(usize),
}

/// Opens a relay line (`relay <tty>`, or a relay that is only watchdog or STONITH device),
/// saying hello as this node with the cluster's keys.
fn open_relay(
    device: &str,
    baud: u32,
    cfg: &Loaded,
) -> Result<(Medium, Vec<crate::log::LogLine>), crate::media::MediumError> {
    let ch = RelayChannel::open(device, baud, cfg.keys.clone(), &cfg.node)?;
    let line = crate::log::LogLine::info(format!(
        "Relay board line started on {device} at {baud} baud"
    ));
    Ok((Medium::Relay(Box::new(ch)), vec![line]))
}

/// The relay ttys this node needs for roles other than the medium: `watchdog relay:<tty>` and
/// the `stonith_host … hbrelay <tty>` lines that apply to it, each with where its ha.cf line
/// is: the line number, or ` watchdog relay:<tty>` for the watchdog (whose line is not
/// recorded). Errors start the same way, to follow the file name.
fn relay_role_devices(
    cf: &hb_core::config::HaCf,
    node: &str,
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    if let Some(w) = cf
        .watchdog
        .as_deref()
        .and_then(crate::media::relay::parse_watchdog)
    {
        let dev = w.map_err(|e| format!(" watchdog: {e}"))?;
        out.push((format!(" watchdog relay:{dev}"), dev));
    }
    for s in cf.stonith_hosts_for(node) {
        if s.value.kind.as_str() == "hbrelay" {
            let p = crate::stonith::hbrelay::parse_stonith(&s.value.params)
                .map_err(|e| format!("{}: {e}", s.at.line))?;
            out.push((s.at.line.to_string(), p.device));
        }
    }
    Ok(out)
}

fn wall_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Daemon {
    fn start(opts: Options, cfg: Loaded, warnings: Vec<String>) -> Result<Started, u8> {
        let pid = match PidFile::acquire(&opts.pid_file) {
            Ok(p) => p,
            Err(e @ PidFileError::AlreadyRunning { .. }) => {
                eprintln!("{e}");
                return Ok(Started::AlreadyRunning);
            }
            Err(e) => {
                eprintln!("heartbeat: ERROR: {e}");
                return Err(1);
            }
        };
        let (log_cfg, notes): (LogConfig, _) =
            LogConfig::from_hacf(&cfg.hacf, &cfg.hostname, opts.foreground);
        let logger = Arc::new(Logger::new(log_cfg));
        let fail = |logger: &Logger, msg: String| {
            logger.error(&msg);
            if !opts.foreground {
                eprintln!("heartbeat: ERROR: {msg}");
            }
            1
        };
        logger.info("**************************");
        logger.info(&format!(
            "Configuration validated. Starting heartbeat (hb) {}",
            super::VERSION
        ));
        for n in &notes {
            logger.log_line(n);
        }
        for w in &warnings {
            logger.warn(w);
        }

        let state = StateDir::new(&opts.state_dir);
        if let Err(e) = std::fs::create_dir_all(state.path()) {
            return Err(fail(
                &logger,
                format!(
                    "cannot create {}: {}",
                    state.path().display(),
                    crate::errno_text(&e)
                ),
            ));
        }
        let generation = state
            .next_generation(cfg.hacf.hbgenmethod, wall_secs())
            .map_err(|e| fail(&logger, e.to_string()))?;
        for l in &generation.log {
            logger.log_line(l);
        }
        logger.info(&format!("Heartbeat generation: {}", generation.value));
        let uuid = state.uuid().map_err(|e| fail(&logger, e.to_string()))?;
        for l in &uuid.log {
            logger.log_line(l);
        }

        if cfg.hacf.realtime && !opts.no_realtime {
            make_realtime(&logger, cfg.hacf.rtprio);
        }

        let seed = {
            let mut b = [0u8; 8];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut b))
                .map_err(|e| fail(&logger, format!("cannot read /dev/urandom: {e}")))?;
            u64::from_le_bytes(b)
        };
        let hb_cfg = HeartbeatConfig::from_files(
            &cfg.hacf,
            &cfg.haresources,
            &cfg.node,
            uuid.bytes,
            generation.value,
            cfg.keys.clone(),
            seed,
        )
        .map_err(|e| fail(&logger, format!("cannot set up this node: {e}")))?;

        let open_opts = OpenOptions::default();
        let hacf_path = cfg.dir.join("ha.cf");
        let mut media = Vec::new();
        let mut link_names = Vec::new();
        for m in &hb_cfg.engine.media {
            let line = &cfg.hacf.media[usize::from(m.hacf_index)];
            let opened = match &line.value {
                hb_core::config::Medium::Relay { device, baud } => open_relay(device, *baud, &cfg),
                other => Medium::open(other, &open_opts),
            };
            match opened {
                Ok((medium, lines)) => {
                    for l in &lines {
                        logger.log_line(l);
                    }
                    link_names.push(medium.link_name().to_string());
                    media.push(medium);
                }
                Err(e) => {
                    return Err(fail(
                        &logger,
                        format!(
                            "{}:{}: cannot open medium: {e}",
                            hacf_path.display(),
                            line.at.line
                        ),
                    ))
                }
            }
        }
        let core_media = media.len();
        // A relay that is only the watchdog or a STONITH device still needs its channel.
        let roles = relay_role_devices(&cfg.hacf, &cfg.node)
            .map_err(|e| fail(&logger, format!("{}:{e}", hacf_path.display())))?;
        for (at, device) in roles {
            if media
                .iter()
                .any(|m| m.relay().is_some_and(|r| r.link_name() == device))
            {
                continue;
            }
            match open_relay(&device, crate::media::relay::DEFAULT_BAUD, &cfg) {
                Ok((medium, lines)) => {
                    for l in &lines {
                        logger.log_line(l);
                    }
                    link_names.push(device);
                    media.push(medium);
                }
                Err(e) => {
                    return Err(fail(
                        &logger,
                        format!("{}:{at}: cannot open the relay: {e}", hacf_path.display()),
                    ))
                }
            }
        }
        let relay_handles: Vec<FenceHandle> = media
            .iter()
            .filter_map(|m| m.relay().map(RelayChannel::fence_handle))
            .collect();

        let watchdog = Self::open_watchdog(&cfg, &mut media, &logger);

        let targets = PingTarget::from_hacf(&cfg.hacf)
            .map_err(|e| fail(&logger, format!("{}: {e}", cfg.dir.join("ha.cf").display())))?;
        let pinger = if targets.is_empty() {
            None
        } else {
            let p = Pinger::open(targets)
                .map_err(|e| fail(&logger, format!("cannot open the ping socket: {e}")))?;
            for l in ping::start_lines(&cfg.hacf) {
                logger.log_line(&l);
            }
            Some(p)
        };
        let mut rcfg = RespawnConfig {
            debug: cfg.hacf.debug.max(opts.debug) > 0,
            ..RespawnConfig::default()
        };
        rcfg.env = crate::rsc::ScriptEnv::new(&cfg.dir, cfg.node.clone()).vars();
        let (respawn, lines) = Respawner::from_hacf(&cfg.hacf, rcfg);
        for l in &lines {
            logger.log_line(l);
        }

        let monitor = MonitorCfg::from_hacf(&cfg.hacf);
        if let Some(m) = monitor {
            logger.info(&format!(
                "Resource monitoring: every {} ms; restart after {} failed checks, at most {} restarts before standby",
                m.interval.as_millis(),
                m.failures,
                m.restarts
            ));
        }

        let listener = bind_control(&opts.socket).map_err(|e| {
            fail(
                &logger,
                format!("control socket {}: {e}", opts.socket.display()),
            )
        })?;

        let mut mask = SigSet::empty();
        for s in [
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
            Signal::SIGUSR1,
            Signal::SIGUSR2,
            // Only a wake-up: respawned children are reaped by their own pids (the worker
            // waits for its scripts by theirs).
            Signal::SIGCHLD,
        ] {
            mask.add(s);
        }
        mask.thread_block()
            .map_err(|e| fail(&logger, format!("cannot block signals: {e}")))?;
        // SAFETY: ignoring SIGPIPE installs no handler code; a closed control client then
        // gives EPIPE on write instead of killing us.
        unsafe {
            let _ = nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn);
        }
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|e| fail(&logger, format!("cannot open a signalfd: {e}")))?;

        let start = Instant::now() - Duration::from_secs(1);
        let now = CoreInstant::from_millis(1000);
        let hb = Box::new(
            Node::new(&hb_cfg, now, wall_secs())
                .map_err(|e| fail(&logger, format!("cannot start this node: {e}")))?,
        );
        let exec =
            (opts.executor)(&cfg, &relay_handles, logger.clone()).map_err(|e| fail(&logger, e))?;
        let worker = Worker::start(exec, logger.clone())
            .map_err(|e| fail(&logger, format!("cannot start the action worker: {e}")))?;
        let mut usec = 0;
        let sd_watchdog = (sd_notify::watchdog_enabled(false, &mut usec) && usec > 0)
            .then(|| Duration::from_micros(usec) / 2);
        let n_media = media.len();
        let d = Daemon {
            opts,
            cfg,
            logger,
            hb,
            relay_linked: vec![false; media.len()],
            media,
            core_media,
            link_names,
            listener,
            conns: Vec::new(),
            signals,
            worker,
            respawn,
            pinger,
            monitor,
            watches: vec![Watch::default(); GROUPS],
            watchdog,
            last_pet: Instant::now(),
            sd_watchdog,
            last_sd_pet: Instant::now(),
            start,
            heard: vec![Heard::default(); NODES],
            rx_errors: 0,
            hung: vec![None; n_media],
            complained: vec![None; n_media * 2 + 1],
            exit: None,
            rx: vec![0; PACKET_MAX],
            tx: vec![0; PACKET_MAX],
            _pid: pid,
        };
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
        Ok(Started::Running(Box::new(d)))
    }

    /// Opens and arms the `watchdog` device, or the relay channel `watchdog relay:<tty>`
    /// names: its timeout is the deadtime plus 10 ms, as heartbeat's (which the kernel rounds
    /// up to whole seconds; the relay keeps milliseconds).
    fn open_watchdog(
        cfg: &Loaded,
        media: &mut [Medium],
        logger: &Logger,
    ) -> Option<(WatchdogDev, Duration)> {
        let dev = cfg.hacf.watchdog.as_deref()?;
        let t = CoreDuration::from_millis(cfg.hacf.deadtime.as_millis() + 10);
        if let Some(Ok(tty)) = crate::media::relay::parse_watchdog(dev) {
            let i = media
                .iter()
                .position(|m| m.relay().is_some_and(|r| r.link_name() == tty))?;
            let ch = media[i].relay_mut()?;
            logger.log(Priority::Notice, &format!("Using watchdog device: {dev}"));
            return match ch.arm(t) {
                Ok(got) => Some((
                    WatchdogDev::Relay(i),
                    Duration::from_millis(got.as_millis()),
                )),
                Err(e) => {
                    logger.error(&format!("Cannot arm the relay watchdog on {tty}: {e}"));
                    None
                }
            };
        }
        match LinuxWatchdog::open(dev) {
            Ok(mut w) => {
                logger.log(Priority::Notice, &format!("Using watchdog device: {dev}"));
                let timeout = match w.arm(t) {
                    Ok(got) => Duration::from_millis(got.as_millis()),
                    Err(e) => {
                        logger.error(&format!("Cannot set watchdog timeout on {dev}: {e:?}"));
                        // The driver's own timeout, as far as we can tell.
                        w.timeout()
                            .map(|d| Duration::from_millis(d.as_millis()))
                            .unwrap_or(Duration::from_secs(60))
                    }
                };
                Some((WatchdogDev::Linux(w), timeout))
            }
            Err(e) => {
                logger.error(&format!("Cannot open watchdog device: {dev} ({e:?})"));
                None
            }
        }
    }

    /// Pets the watchdog; an error says what failed.
    fn watchdog_pet(&mut self) -> Result<(), String> {
        match &mut self.watchdog {
            Some((WatchdogDev::Linux(w), _)) => w.pet().map_err(|e| {
                let path = w.path().display().to_string();
                format!("Watchdog write failure: closing {path}! ({e:?})")
            }),
            // A hung-up tty cannot carry pets; its reopening is logged on its own.
            Some((WatchdogDev::Relay(i), _)) if self.hung[*i].is_some() => Ok(()),
            Some((WatchdogDev::Relay(i), _)) => match self.media[*i].relay_mut() {
                Some(ch) => ch
                    .pet()
                    .map_err(|e| format!("Relay watchdog pet failed: {e}")),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// Disarms and forgets the watchdog (a clean stop: the node must not be reset).
    fn watchdog_close(&mut self) {
        match self.watchdog.take() {
            Some((WatchdogDev::Linux(mut w), _)) => {
                let _ = w.disarm();
            }
            Some((WatchdogDev::Relay(i), _)) => {
                if let Some(ch) = self.media[i].relay_mut() {
                    let _ = ch.disarm();
                }
            }
            None => {}
        }
    }

    fn now(&self) -> CoreInstant {
        CoreInstant::from_millis(self.start.elapsed().as_millis() as u64)
    }

    fn to_std(&self, t: CoreInstant) -> Instant {
        self.start + Duration::from_millis(t.as_millis())
    }

    fn run(mut self: Box<Self>) -> u8 {
        let now = self.now();
        self.pump(now);
        loop {
            let timeout = self.sleep_time();
            let (ready, polled) = match self.wait(timeout) {
                Ok(r) => r,
                Err(e) => {
                    self.logger.error(&format!("poll failed: {e}"));
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            self.handle_ready(&ready, &polled);
            self.reopen_hung();
            let now = self.now();
            self.hb.handle_timeout(now, wall_secs());
            self.pump(now);
            self.service_media_tx();
            self.service_relays();
            self.service_children();
            self.service_monitor();
            self.pet_watchdogs();
            self.expire_conns();
            if let Some(exit) = self.exit {
                return self.finish(exit);
            }
        }
    }

    /// How long poll may sleep.
    fn sleep_time(&self) -> Duration {
        let now = Instant::now();
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
        if self.watchdog.is_some() {
            until = until.min(self.last_pet + self.pet_interval());
        }
        if let Some(d) = self.sd_watchdog {
            until = until.min(self.last_sd_pet + d);
        }
        if let Some(t) = self.respawn.poll_timeout() {
            until = until.min(t);
        }
        for w in &self.watches {
            if let (Some(t), false) = (w.next, w.busy) {
                until = until.min(t);
            }
        }
        for c in &self.conns {
            until = until.min(c.deadline);
        }
        until.saturating_duration_since(now)
    }

    fn pet_interval(&self) -> Duration {
        Duration::from_millis(self.cfg.hacf.keepalive.as_millis().max(10))
    }

    /// Waits; returns the readiness of [signals, wake, listener, conns…, polled media…, relay
    /// wakes…, ping…] and which media were polled (a hung-up tty is not: it is always
    /// "ready").
    fn wait(&self, timeout: Duration) -> nix::Result<(Vec<PollFlags>, Vec<usize>)> {
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // Round up so that a deadline 0.4 ms away does not spin.
        let ms = if timeout > Duration::from_millis(ms as u64) {
            ms + 1
        } else {
            ms
        };
        let mut fds = Vec::with_capacity(3 + self.conns.len() + self.media.len());
        fds.push(PollFd::new(self.signals.as_fd(), PollFlags::POLLIN));
        fds.push(PollFd::new(self.worker.wake.as_fd(), PollFlags::POLLIN));
        fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
        for c in &self.conns {
            fds.push(PollFd::new(c.stream.as_fd(), PollFlags::POLLIN));
        }
        let mut polled = Vec::with_capacity(self.media.len());
        for (i, m) in self.media.iter().enumerate() {
            if self.hung[i].is_some() {
                continue;
            }
            let mut f = PollFlags::POLLIN;
            if m.wants_writable() {
                f |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(m.as_fd(), f));
            polled.push(i);
        }
        // A fence request from the worker for a relay channel.
        for ch in self.media.iter().filter_map(Medium::relay) {
            fds.push(PollFd::new(ch.wake_fd(), PollFlags::POLLIN));
        }
        if let Some(p) = &self.pinger {
            for fd in p.fds() {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
            }
        }
        let t = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
        match nix::poll::poll(&mut fds, t) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
        let ready = fds
            .iter()
            .map(|f| f.revents().unwrap_or(PollFlags::empty()))
            .collect();
        Ok((ready, polled))
    }

    fn handle_ready(&mut self, ready: &[PollFlags], polled: &[usize]) {
        let any = |f: PollFlags| !f.is_empty();
        if any(ready[0]) {
            self.handle_signals();
        }
        if any(ready[1]) {
            self.handle_results();
        }
        let n_conns = self.conns.len();
        let n_media = polled.len();
        // Media first: heartbeats matter more than clients.
        for (k, f) in ready[3 + n_conns..3 + n_conns + n_media].iter().enumerate() {
            if any(*f) {
                self.receive(polled[k]);
            }
        }
        let n_wakes = self.media.iter().filter(|m| m.relay().is_some()).count();
        let wakes = 3 + n_conns + n_media;
        if ready[wakes..wakes + n_wakes].iter().any(|f| any(*f)) {
            self.service_relays();
        }
        if ready[wakes + n_wakes..].iter().any(|f| any(*f)) {
            self.ping_replies();
        }
        let mut done = Vec::new();
        for (i, f) in ready[3..3 + n_conns].iter().enumerate() {
            if any(*f) && self.read_conn(i) {
                done.push(i);
            }
        }
        for i in done.into_iter().rev() {
            let c = self.conns.remove(i);
            self.answer(c);
        }
        if any(ready[2]) {
            self.accept();
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
                        Ok(()) => self.watchdog_close(),
                        Err(e) => self.logger.info(&format!("Shutdown: {e}")),
                    }
                }
                Signal::SIGHUP => self.reload(),
                Signal::SIGUSR1 | Signal::SIGUSR2 => {}
                _ => {}
            }
        }
    }

    /// SIGHUP: re-read the files. A changed authkeys applies at once (a key rotation); a
    /// changed ha.cf or haresources is checked and reported, and needs a restart to apply
    /// (3.0.6 re-execs itself keeping its resources).
    fn reload(&mut self) {
        let mut warnings = Vec::new();
        match config::load(&self.cfg.dir, Some(&self.cfg.node), &mut |w| {
            warnings.push(w)
        }) {
            Err(r) => {
                for l in &r.lines {
                    self.logger.error(l);
                }
                self.logger
                    .error("Config errors: configuration not reloaded; still running the old one");
            }
            Ok(new) => {
                if new.texts == self.cfg.texts {
                    self.logger.info("Configuration unchanged.");
                    return;
                }
                // authkeys applies at once, as in 3.0.6: a key rotation needs no restart. The
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
                if new.texts[0] != self.cfg.texts[0] || new.texts[2] != self.cfg.texts[2] {
                    self.logger.warn(
                        "Configuration changed: restart heartbeat (hbctl standby, then a restart) to apply it",
                    );
                }
            }
        }
    }

    fn handle_results(&mut self) {
        let mut b = [0u8; 64];
        while matches!(self.worker.wake.read(&mut b), Ok(n) if n > 0) {}
        while let Ok(outcome) = self.worker.results.try_recv() {
            let now = self.now();
            match outcome {
                Outcome::Done(done) => self.hb.handle_action_done(now, done),
                Outcome::Reboot => self.reboot(),
                Outcome::Monitored { group, running } => self.monitored(group, running),
                Outcome::Restarted { group, running } => {
                    let key = self.group_key(group);
                    if let Some(w) = self.watches.get_mut(usize::from(group.0)) {
                        w.busy = false;
                        if !running {
                            // Counts as failed checks: the next failure goes on to the next step.
                            w.failures = self.monitor.map_or(0, |m| m.failures - 1);
                        }
                    }
                    if running {
                        self.logger
                            .info(&format!("Resource group {key} restarted in place."));
                    } else {
                        self.logger
                            .error(&format!("Restart of resource group {key} failed."));
                    }
                }
            }
            self.pump(now);
        }
    }

    fn receive(&mut self, i: usize) {
        loop {
            let got = self.media[i].recv(&mut self.rx);
            match got {
                Ok(None) => break,
                // A relay that is not our medium still forwards the others' heartbeats.
                Ok(Some(_)) if i >= self.core_media => {}
                Ok(Some(n)) => {
                    let now = self.now();
                    if let Err(e) =
                        self.hb
                            .handle_packet(now, wall_secs(), MediumId(i as u8), &self.rx[..n])
                    {
                        self.rx_errors += 1;
                        let what = format!(
                            "ignored a packet on {} {}: {e} ({} ignored so far)",
                            self.media[i].kind(),
                            self.link_names[i],
                            self.rx_errors
                        );
                        self.complain(i * 2, Priority::Warn, &what);
                    }
                    self.track_heard(now);
                    self.pump(now);
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

    /// Tries to reopen the hung-up ttys that are due.
    fn reopen_hung(&mut self) {
        let now = Instant::now();
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

    fn group_key(&self, g: GroupId) -> String {
        self.cfg
            .haresources
            .groups()
            .get(usize::from(g.0))
            .map_or_else(|| format!("#{}", g.0), |g| g.key().to_string())
    }

    /// Whether group `g` runs here and nothing is being done to it.
    fn runs_here(&self, g: GroupId) -> bool {
        self.hb.holder(g) == Holder::Local
            && self.hb.resources().group_state(g) == GroupState::Running
    }

    /// Resource monitoring ([`MonitorCfg`]): asks the worker to check what is due.
    fn service_monitor(&mut self) {
        let Some(m) = self.monitor else {
            return;
        };
        let now = Instant::now();
        let stable = self.hb.is_stable();
        for i in 0..self.cfg.haresources.groups().len().min(GROUPS) {
            let g = GroupId(i as u8);
            if !self.runs_here(g) {
                if !self.watches[i].busy {
                    self.watches[i] = Watch::default();
                }
                continue;
            }
            let w = &mut self.watches[i];
            match w.next {
                None => w.next = Some(now + m.interval),
                Some(t) if t <= now && !w.busy && stable => {
                    w.next = Some(now + m.interval);
                    w.busy = true;
                    self.worker.submit(Job::Monitor(g));
                }
                Some(_) => {}
            }
        }
    }

    fn monitored(&mut self, g: GroupId, running: bool) {
        let Some(m) = self.monitor else {
            return;
        };
        let i = usize::from(g.0);
        let key = self.group_key(g);
        let here = self.runs_here(g);
        let Some(w) = self.watches.get_mut(i) else {
            return;
        };
        w.busy = false;
        if !here || running {
            w.failures = 0;
            return;
        }
        w.failures += 1;
        let (failures, restarts) = (w.failures, w.restarts);
        self.logger.warn(&format!(
            "Resource group {key} failed its status check ({failures}/{}).",
            m.failures
        ));
        if failures < m.failures {
            return;
        }
        w.failures = 0;
        if restarts < m.restarts {
            w.restarts += 1;
            w.busy = true;
            self.logger.warn(&format!(
                "Restarting resource group {key} in place (restart {}/{}).",
                restarts + 1,
                m.restarts
            ));
            self.worker.submit(Job::Restart(g));
            return;
        }
        // Given away as heartbeat gives away a group that failed to start: hb_standby of the
        // set it belongs to, from our side.
        let preferred_here = self
            .cfg
            .haresources
            .groups()
            .get(i)
            .is_some_and(|gr| gr.node() == self.cfg.node);
        let set = if preferred_here {
            StandbySet::Local
        } else {
            StandbySet::Foreign
        };
        self.logger.log(
            Priority::Crit,
            &format!(
                "Resource group {key} still fails after {restarts} restarts: giving it to the other node."
            ),
        );
        let now = self.now();
        if let Err(e) = self
            .hb
            .handle_command(now, wall_secs(), Command::Standby(set))
        {
            self.logger
                .error(&format!("standby for resource group {key} refused: {e}"));
        }
        self.pump(now);
    }

    /// Respawned children: reap the dead, restart what is due.
    fn service_children(&mut self) {
        let now = Instant::now();
        let reaped = self.respawn.reap(now);
        for l in reaped.logs.iter().chain(&self.respawn.handle_timeout(now)) {
            self.logger.log_line(l);
        }
        if let Some(cmd) = reaped.reboot {
            self.logger.log(
                Priority::Crit,
                &format!("Client {cmd} (failfast) died: rebooting"),
            );
            self.reboot();
        }
    }

    /// Logs `what` unless the same slot complained within [`COMPLAINT_INTERVAL`].
    fn complain(&mut self, slot: usize, p: Priority, what: &str) {
        let now = Instant::now();
        let slot = slot.min(self.complained.len() - 1);
        let last = &mut self.complained[slot];
        if last.is_none_or(|t| now.duration_since(t) >= COMPLAINT_INTERVAL) {
            *last = Some(now);
            self.logger.log(p, what);
        }
    }

    fn track_heard(&mut self, _now: CoreInstant) {
        let n_media = self.media.len();
        for (id, node) in self.hb.nodes() {
            let Some(h) = self.heard.get_mut(id.index()) else {
                continue;
            };
            let last = (0..n_media).filter_map(|l| node.link_last_heard(l)).max();
            if let Some(t) = last {
                if let Some(prev) = h.last {
                    if t > prev {
                        h.worst = h.worst.max(t.saturating_since(prev));
                    }
                }
                h.last = Some(t);
            }
        }
    }

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
                        if let Err(e) = medium.send(&self.tx[..t.len]) {
                            let what = format!("{e}");
                            self.complain(i * 2 + 1, Priority::Error, &what);
                        }
                    }
                }
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
        match ev {
            Event::Membership(e) => {
                if e == hb_core::engine::Event::CommUp {
                    // heartbeat starts its respawn clients once comm is up.
                    for l in self.respawn.start_all(Instant::now()) {
                        self.logger.log_line(&l);
                    }
                }
                if let Some(line) = events::engine_line(&e, &*self) {
                    self.logger.log_line(&line);
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
                self.reboot();
            }
            Event::Exit { restart } => {
                self.exit = Some(if restart { Exit::Restart } else { Exit::Stop });
            }
            Event::Log(msg) => {
                let line = self.hb.log_line(msg);
                let p = events::level_priority(line.level());
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
                self.logger.log(events::level_priority(m.level()), &text);
            }
            Event::IpfailMessageNotSent { error } => {
                self.logger
                    .error(&format!("an ipfail message could not be sent: {error}"));
            }
        }
    }

    /// Runs the relay channels' protocol (the worker's requests, hellos, link checks) and logs
    /// what changed on their links.
    fn service_relays(&mut self) {
        let now = Instant::now();
        for i in 0..self.media.len() {
            if self.hung[i].is_some() {
                // Its worker requests time out on their own; the reopening says hello.
                continue;
            }
            let Some(ch) = self.media[i].relay_mut() else {
                continue;
            };
            let r = ch.service(now);
            let mut lines = Vec::new();
            while let Some(ev) = ch.next_event() {
                match ev {
                    ChannelEvent::Linked { port, ports } => lines.push((
                        Priority::Info,
                        format!(
                            "Relay board on {}: linked as port {port} of {ports}",
                            ch.link_name()
                        ),
                    )),
                    ChannelEvent::PetAck { .. } => {}
                }
            }
            let linked = ch.is_linked();
            if self.relay_linked[i] && !linked {
                lines.push((
                    Priority::Warn,
                    format!(
                        "Relay board on {}: link lost (relay restarted or not answering); saying hello again",
                        ch.link_name()
                    ),
                ));
            }
            self.relay_linked[i] = linked;
            for (p, l) in lines {
                self.logger.log(p, &l);
            }
            if let Err(e) = r {
                let what = format!("{e}");
                self.complain(i * 2 + 1, Priority::Error, &what);
            }
        }
    }

    fn service_media_tx(&mut self) {
        let now = Instant::now();
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

    fn pet_watchdogs(&mut self) {
        let now = Instant::now();
        if now.duration_since(self.last_pet) >= self.pet_interval() {
            let since = now.duration_since(self.last_pet);
            self.last_pet = now;
            if let Some((_, timeout)) = &self.watchdog {
                // A loop that came within a quarter of the timeout was nearly the reason for
                // a reset: say so while there is still time to look.
                if since * 4 > *timeout * 3 {
                    let (since, timeout) = (since.as_millis(), timeout.as_millis());
                    self.logger.warn(&format!(
                        "Watchdog petted {since} ms after the last pet, close to its {timeout} ms timeout: the heartbeat loop was held up"
                    ));
                }
                if let Err(e) = self.watchdog_pet() {
                    match self.watchdog {
                        // The line's problem, logged at most once per interval like its
                        // other write errors; the next pet may get through.
                        Some((WatchdogDev::Relay(i), _)) => {
                            self.complain(i * 2 + 1, Priority::Error, &e)
                        }
                        // heartbeat closes a device it cannot write.
                        _ => {
                            self.logger.error(&e);
                            self.watchdog = None;
                        }
                    }
                }
            }
        }
        if let Some(d) = self.sd_watchdog {
            if now.duration_since(self.last_sd_pet) >= d {
                self.last_sd_pet = now;
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
            }
        }
    }

    /// Reboots now, as heartbeat does when a resource will not stop (spec-behaviour §2.5) or a
    /// failfast child died; the caller has logged why.
    fn reboot(&mut self) {
        self.logger
            .log(Priority::Crit, "Killing heartbeat ungracefully!");
        nix::unistd::sync();
        let r = nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_AUTOBOOT);
        self.logger
            .log(Priority::Crit, &format!("Unable to force reboot. ({r:?})"));
        std::process::exit(1);
    }

    fn finish(mut self: Box<Self>, exit: Exit) -> u8 {
        for l in self.respawn.stop_all_blocking() {
            self.logger.log_line(&l);
        }
        self.worker.stop();
        self.watchdog_close();
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
        let node = self.cfg.node.clone();
        self.logger
            .info(&format!("{node} Heartbeat shutdown complete."));
        if exit == Exit::Restart {
            self.logger.info("Restarting heartbeat.");
            let args: Vec<std::ffi::CString> = std::env::args_os()
                .filter_map(|a| std::ffi::CString::new(a.into_encoded_bytes()).ok())
                .collect();
            let exe = c"/proc/self/exe";
            drop(self);
            let e = nix::unistd::execv(exe, &args);
            eprintln!("heartbeat: ERROR: cannot restart: {e:?}");
            return 1;
        }
        0
    }

    // ---- the control socket ----

    fn accept(&mut self) {
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

    /// Reads what a client sent; whether its request is complete.
    fn read_conn(&mut self, i: usize) -> bool {
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

    fn expire_conns(&mut self) {
        let now = Instant::now();
        self.conns.retain(|c| c.deadline > now);
    }

    fn answer(&mut self, mut c: Conn) {
        let reply = if !c.allowed {
            json!({"ok": false, "error": "permission denied: only root and members of group haclient may use heartbeat's control socket"})
        } else {
            let line = c.buf.split(|&b| b == b'\n').next().unwrap_or(&[]);
            match serde_json::from_slice::<Value>(line) {
                Ok(req) => self.handle_request(&req),
                Err(e) => json!({"ok": false, "error": format!("request is not JSON: {e}")}),
            }
        };
        let mut text = reply.to_string();
        text.push('\n');
        let _ = c.stream.set_nonblocking(false);
        let _ = c.stream.set_write_timeout(Some(Duration::from_millis(200)));
        let _ = c.stream.write_all(text.as_bytes());
    }

    fn handle_request(&mut self, req: &Value) -> Value {
        let cmd = req.get("cmd").and_then(Value::as_str).unwrap_or("");
        let now = self.now();
        match cmd {
            "status" => self.status(),
            "standby" | "takeover" => {
                let what = req.get("what").and_then(Value::as_str).unwrap_or("all");
                let Some(set) = StandbySet::from_wire(what) else {
                    return json!({"ok": false, "error": format!("{what}: not one of local, foreign, all, failback")});
                };
                // The core logs `Going standby [<set>].` itself.
                let c = if cmd == "standby" {
                    Command::Standby(set)
                } else {
                    Command::Takeover(set)
                };
                let r = self.hb.handle_command(now, wall_secs(), c);
                self.pump(now);
                match r {
                    Ok(()) => json!({"ok": true}),
                    Err(e) => json!({"ok": false, "error": e.to_string()}),
                }
            }
            "shutdown" => {
                let r = self.hb.handle_command(now, wall_secs(), Command::Shutdown);
                self.pump(now);
                match r {
                    Ok(()) => json!({"ok": true}),
                    Err(e) => json!({"ok": false, "error": e.to_string()}),
                }
            }
            other => json!({"ok": false, "error": format!("unknown request {other:?}")}),
        }
    }

    fn status(&self) -> Value {
        let now = self.now();
        let hb = &*self.hb;
        let res = hb.resources();
        let mut nodes = Vec::new();
        let mut links = Vec::new();
        for (id, n) in hb.nodes() {
            let heard = self.heard.get(id.index()).copied().unwrap_or_default();
            let local = id == hb.local_node();
            let kind = match n.kind() {
                NodeKind::Normal => "normal",
                NodeKind::Ping => "ping",
            };
            let state = if local {
                hb.local_status().as_str()
            } else {
                n.status_text()
            };
            nodes.push(json!({
                "name": n.name(),
                "type": kind,
                "state": state,
                "local": local,
                "generation": if local { hb.engine().generation() } else { n.generation() },
                "last_heard_ms": heard.last.map(|t| now.saturating_since(t).as_millis()),
                "worst_gap_ms": heard.worst.as_millis(),
            }));
            if local || n.kind() == NodeKind::Ping {
                continue;
            }
            for (i, m) in self.media[..self.core_media].iter().enumerate() {
                let up = hb.link_up(id, MediumId(i as u8));
                links.push(json!({
                    "node": n.name(),
                    "medium": self.link_names[i],
                    "kind": m.kind(),
                    "state": if up { "up" } else { "dead" },
                }));
            }
        }
        let mut groups = Vec::new();
        for (gid, holder) in hb.holdings() {
            let g = &self.cfg.haresources.groups()[gid.0 as usize];
            let owner = match holder {
                Holder::Local => Some(self.cfg.node.clone()),
                Holder::Peer(p) => Some(self.node(p).to_string()),
                Holder::Nobody => None,
            };
            let state = match (holder, res.group_state(gid)) {
                (Holder::Local, GroupState::Starting) => "starting",
                (Holder::Local, GroupState::Stopping) => "stopping",
                (Holder::Local, GroupState::Failed) => "failed",
                (Holder::Local, _) => "running",
                (Holder::Peer(_), _) => "running",
                (Holder::Nobody, GroupState::Failed) => "failed",
                (Holder::Nobody, _) => "stopped",
            };
            groups.push(json!({
                "key": g.key(),
                "preferred": g.node(),
                "resources": g.resources().map(|r| r.spec().to_string()).collect::<Vec<_>>(),
                "owner": owner,
                "state": state,
            }));
        }
        let ipf = hb.ipfail();
        let ipfail = json!({
            "running": ipf.is_running(),
            "ping_nodes_up": hb.ping_count(),
            "our_count": ipf.our_count(),
            "peer_count": ipf.peer_count(),
            "giveup_pending": ipf.pending_giveup().is_some(),
        });
        let cf = &self.cfg.hacf;
        let mut relays = Vec::new();
        for (i, m) in self.media.iter().enumerate() {
            let Some(ch) = m.relay() else { continue };
            let (port, ports) = match ch.link_state() {
                crate::media::relay::RelayLinkState::Linked { port, ports, .. } => {
                    (Some(port), Some(ports))
                }
                _ => (None, None),
            };
            let watchdog = matches!(self.watchdog, Some((WatchdogDev::Relay(w), _)) if w == i);
            let st = ch.stats();
            relays.push(json!({
                "device": ch.link_name(),
                "medium": i < self.core_media,
                "watchdog": watchdog,
                "linked": ch.is_linked() && self.hung[i].is_none(),
                "hung_up": self.hung[i].is_some(),
                "port": port,
                "ports": ports,
                "heartbeats_in": st.heartbeats_in,
                "heartbeats_out": st.heartbeats_out,
                "rejected": st.rejected,
                "board_age_ms": ch.ports_at().map(|t| t.elapsed().as_millis() as u64),
                "board": ch.ports().iter().map(|p| json!({
                    "port": p.port,
                    "host": p.name,
                    "linked": p.flags.contains(hb_core::relay::PortFlags::LINKED),
                    "armed": p.flags.contains(hb_core::relay::PortFlags::ARMED),
                    "timeout_ms": p.timeout_ms,
                    "resets": p.resets,
                    "fences": p.fences,
                })).collect::<Vec<_>>(),
            }));
        }
        json!({
            "ipfail": ipfail,
            "relays": relays,
            "ok": true,
            "node": self.cfg.node,
            "status": hb.local_status().as_str(),
            "generation": hb.engine().generation(),
            "comm_up": hb.is_comm_up(),
            "resources": hb.rscstatus(),
            "stable": hb.is_stable(),
            "pid": std::process::id(),
            "version": super::VERSION,
            "rx_errors": self.rx_errors,
            "nodes": nodes,
            "links": links,
            "groups": groups,
            "parameters": {
                "keepalive": format!("{}ms", cf.keepalive.as_millis()),
                "deadtime": format!("{}ms", cf.deadtime.as_millis()),
                "warntime": format!("{}ms", cf.warntime.as_millis()),
                "initdead": format!("{}ms", cf.initdead.as_millis()),
                "deadping": format!("{}ms", cf.deadping.as_millis()),
                "udpport": cf.udpport.to_string(),
                "baud": cf.baud.to_string(),
                "auto_failback": format!("{:?}", cf.auto_failback).to_lowercase(),
                "watchdog": cf.watchdog.as_deref().unwrap_or(""),
                "debug": cf.debug.max(self.opts.debug).to_string(),
            },
        })
    }
}

fn bind_control(path: &std::path::Path) -> std::io::Result<UnixListener> {
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
    Ok(l)
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

/// SCHED_RR at `rtprio` (the minimum by default) and locked memory, as heartbeat asks for
/// them; a refusal is logged and we carry on (spec-behaviour §8).
fn make_realtime(logger: &Logger, rtprio: Option<u8>) {
    // SAFETY: plain system calls on this process with valid arguments.
    unsafe {
        let min = libc::sched_get_priority_min(libc::SCHED_RR);
        let prio = rtprio.map_or(min, i32::from).max(min);
        let param = libc::sched_param {
            sched_priority: prio,
        };
        if libc::sched_setscheduler(0, libc::SCHED_RR, &param) != 0 {
            let e = std::io::Error::last_os_error();
            logger.warn(&format!(
                "Unable to set scheduling priority (SCHED_RR {prio}): {}",
                crate::errno_text(&e)
            ));
        } else {
            logger.info(&format!("Running at realtime priority SCHED_RR {prio}"));
        }
        if libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) != 0 {
            let e = std::io::Error::last_os_error();
            logger.warn(&format!(
                "Cannot lock ourselves into memory:  System limits on locked-in memory are too small. ({})",
                crate::errno_text(&e)
            ));
        } else {
            logger.info("Memory locked (mlockall)");
        }
    }
}
