//! Start-up (module docs of [`super`]): the configuration, the fork, then everything the loop
//! needs, opened in heartbeat's order; any failure is logged and stops the start.

use super::control_server::ControlServer;
use super::event_loop::{Daemon, PACKET_MAX};
use super::observe::Observer;
use super::process::{self, Fork};
use super::relays::{open_relay, role_devices};
use super::watchdogs::Watchdogs;
use super::worker::Worker;
use super::{Heartbeat, Options, NODES};
use crate::config::{self, Loaded};
use crate::log::{LogConfig, Logger};
use crate::media::relay::{FenceHandle, RelayChannel};
use crate::media::{Medium, OpenOptions};
use crate::ping::{self, PingTarget, Pinger};
use crate::respawn::{RespawnConfig, Respawner};
use crate::state::{PidFile, PidFileError, StateDir};
use hb_core::heartbeat::HeartbeatConfig;
use hb_core::time::Instant as CoreInstant;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs the daemon; returns the process exit code.
pub fn run(opts: Options) -> u8 {
    let mut warnings = Vec::new();
    let loaded = match load_boxed(&opts, &mut warnings) {
        Ok(l) => l,
        Err(r) => {
            for l in &r.lines {
                eprintln!("heartbeat: ERROR: {l}");
            }
            if opts.resume.is_some() {
                // (The reload checked the files before the exec: they changed since.)
                eprintln!("heartbeat: ERROR: Config errors: Heartbeat NOT restarted");
            } else {
                eprintln!("heartbeat: ERROR: Configuration error, heartbeat not started.");
            }
            return r.exit;
        }
    };
    for w in &warnings {
        eprintln!("heartbeat: WARN: {w}");
    }
    // A re-executed daemon is the daemon already: the same process, no fork.
    let ready = if opts.foreground || opts.resume.is_some() {
        None
    } else {
        match process::daemonize() {
            Ok(Fork::Parent(code)) => return code,
            Ok(Fork::Child(pipe)) => Some(pipe),
            Err(e) => {
                eprintln!("heartbeat: ERROR: cannot fork: {}", crate::errno_text(&e));
                return 1;
            }
        }
    };
    match start(opts, loaded, warnings) {
        Ok(Started::Running(d)) => {
            process::report_ready(ready, 0);
            d.run()
        }
        Ok(Started::AlreadyRunning) => {
            process::report_ready(ready, 0);
            0
        }
        Err(code) => {
            process::report_ready(ready, code);
            code
        }
    }
}

/// The configuration (about 40 KiB), boxed, loaded off the main stack ([`process::off_main_stack`]):
/// its parsers and checks take about 300 KiB of stack.
#[inline(never)]
fn load_boxed(opts: &Options, warnings: &mut Vec<String>) -> Result<Box<Loaded>, config::Refused> {
    let (loaded, warned) = process::off_main_stack(&|| {
        let mut warned = Vec::new();
        let l = config::load(&opts.config_dir, opts.node.as_deref(), &mut |w| {
            warned.push(w)
        });
        (l.map(Box::new), warned)
    });
    warnings.extend(warned);
    loaded
}

enum Started {
    Running(Box<Daemon>),
    AlreadyRunning,
}

#[inline(never)]
fn start(opts: Options, cfg: Box<Loaded>, warnings: Vec<String>) -> Result<Started, u8> {
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
    let resume = opts.resume.as_ref().map(|r| {
        let (mask, lines) = super::reload::held_mask(&cfg, r);
        for l in &lines {
            logger.warn(l);
        }
        mask
    });
    if let Some(mask) = resume {
        let keys: Vec<&str> = cfg
            .haresources
            .groups()
            .iter()
            .enumerate()
            .filter(|(i, _)| *i < 32 && mask & (1 << i) != 0)
            .map(|(_, g)| g.key())
            .collect();
        logger.info(&format!(
            "restart: resources kept, nothing started: [{}]",
            keys.join(" ")
        ));
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
        .next_generation(cfg.hacf.hbgenmethod, process::wall_secs())
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
        process::make_realtime(&logger, cfg.hacf.rtprio);
    }

    let seed = {
        let mut b = [0u8; 8];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut b))
            .map_err(|e| fail(&logger, format!("cannot read /dev/urandom: {e}")))?;
        u64::from_le_bytes(b)
    };
    let mut hb_cfg = HeartbeatConfig::from_files(
        &cfg.hacf,
        &cfg.haresources,
        &cfg.node,
        uuid.bytes,
        generation.value,
        cfg.keys.clone(),
        seed,
    )
    .map_err(|e| fail(&logger, format!("cannot set up this node: {e}")))?;
    hb_cfg.resume = resume;

    let open_opts = OpenOptions {
        defer_status: config::defer_status(&cfg.hacf),
        ..OpenOptions::default()
    };
    let hacf_path = cfg.dir.join("ha.cf");
    let mut media = Vec::new();
    let mut link_names = Vec::new();
    for m in &hb_cfg.membership.media {
        let line = &cfg.hacf.media[usize::from(m.hacf_index)];
        let opened = match &line.value {
            hb_core::config::Medium::Relay { device, baud } => open_relay(device, *baud, &cfg),
            other if shares_port(&cfg.hacf, other) => {
                // Media whose receive sockets share one SO_REUSEPORT group (two `ucast` or
                // `bcast` lines on one interface, two `mcast6` lines): one steady socket's
                // steering cannot serve them.
                let opts = OpenOptions {
                    defer_status: false,
                    ..open_opts.clone()
                };
                Medium::open(other, &opts)
            }
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
    let roles = role_devices(&cfg.hacf, &cfg.node)
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

    let mut watchdogs = Watchdogs::open(&cfg, &mut media, &logger);

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

    // Resource monitoring (`env HB_MONITOR_*`) is the core's; its settings are logged here.
    if let Some(m) = &hb_cfg.monitor {
        logger.info(&m.to_string());
    }

    let control = ControlServer::bind(&opts.socket).map_err(|e| {
        fail(
            &logger,
            format!("control socket {}: {e}", opts.socket.display()),
        )
    })?;

    let mut api_warnings = Vec::new();
    let api = super::api_hook::build(&opts, &cfg, &mut api_warnings);
    for w in api_warnings {
        logger.warn(&w);
    }

    let signals = process::take_signals().map_err(|e| fail(&logger, e))?;

    let start = Instant::now() - Duration::from_secs(1);
    let now = CoreInstant::from_millis(1000);
    let hb = build_node(&hb_cfg, now)
        .map_err(|e| fail(&logger, format!("cannot start this node: {e}")))?;
    let observe =
        Observer::start(&cfg, &link_names[..core_media], &logger).map_err(|e| fail(&logger, e))?;
    let exec =
        (opts.executor)(&cfg, &relay_handles, logger.clone()).map_err(|e| fail(&logger, e))?;
    let worker = Worker::start(exec, logger.clone())
        .map_err(|e| fail(&logger, format!("cannot start the action worker: {e}")))?;
    watchdogs.start();
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
        control,
        api,
        signals,
        worker,
        respawn,
        pinger,
        watchdogs,
        observe,
        start,
        heard: vec![Default::default(); NODES],
        rx_errors: 0,
        hung: vec![None; n_media],
        complained: vec![None; n_media * 2 + 1],
        exit: None,
        reload: Default::default(),
        rx: vec![0; PACKET_MAX],
        tx: vec![0; PACKET_MAX],
        pid_file: Some(pid),
        echo_due: vec![false; n_media],
        steady_echo_due: vec![false; n_media],
        steady_floor: Instant::now(),
        steady_busy_until: None,
        rx_again: vec![false; n_media],
        poll_set: Default::default(),
        quiet: None,
    };
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    Ok(Started::Running(Box::new(d)))
}

/// The node. Its constructors return it by value, and the frames of `Heartbeat::new` and
/// `Membership::new` take about 800 KiB of stack: built off the main stack.
fn build_node(cfg: &HeartbeatConfig, now: CoreInstant) -> Result<Box<Heartbeat>, String> {
    let wall = process::wall_secs();
    process::off_main_stack(&|| {
        Heartbeat::new(cfg, now, wall)
            .map(Box::new)
            .map_err(|e| e.to_string())
    })
}

/// Whether another medium's receive socket joins the same `SO_REUSEPORT` group as `m`'s:
/// `bcast` and `ucast` bind `0.0.0.0:port` on their interface, `ucast6` `[::]:port` on its
/// interface, `mcast6` `[::]:port` on none.
fn shares_port(hacf: &hb_core::config::HaCf, m: &hb_core::config::Medium) -> bool {
    use hb_core::config::Medium::{Bcast, Mcast6, Ucast, Ucast6};
    let group = |m: &hb_core::config::Medium| match m {
        Bcast { iface, .. } | Ucast { iface, .. } => Some((4, iface.as_str().to_string())),
        Ucast6 { iface, .. } => Some((6, iface.as_str().to_string())),
        Mcast6 { .. } => Some((6, String::new())),
        _ => None,
    };
    let Some(mine) = group(m) else {
        return false;
    };
    hacf.media
        .iter()
        .filter(|l| group(&l.value).as_ref() == Some(&mine))
        .count()
        > 1
}

#[cfg(test)]
mod tests {
    use super::shares_port;
    use hb_core::config::HaCf;

    fn hacf(media: &str) -> HaCf {
        let text = format!("keepalive 1\ndeadtime 10\n{media}node node1\nnode node2\n");
        HaCf::parse(&text, &mut |_| {}).expect("ha.cf parses")
    }

    /// The media whose receive sockets would share a SO_REUSEPORT group keep one socket.
    #[test]
    fn media_sharing_a_port_group_are_found() {
        let shared = |text: &str| -> Vec<bool> {
            let cf = hacf(text);
            cf.media
                .iter()
                .map(|m| shares_port(&cf, &m.value))
                .collect()
        };
        assert_eq!(shared("bcast eth1\nbcast eth0\n"), [false, false]);
        assert_eq!(
            shared("bcast eth1\nucast eth1 198.51.100.2\nucast eth0 203.0.113.2\n"),
            [true, true, false]
        );
        assert_eq!(
            shared("mcast6 eth1 ff12::1:2:3:4 694 1 0\nmcast6 eth0 ff12::1:2:3:5 694 1 0\n"),
            [true, true]
        );
        assert_eq!(
            shared("ucast6 eth1 2001:db8::2\nmcast6 eth1 ff12::1:2:3:4 694 1 0\n"),
            [false, false]
        );
        assert_eq!(
            shared("mcast eth1 233.252.0.1 694 1 0\nmcast eth1 233.252.0.2 694 1 0\n"),
            [false, false]
        );
    }
}
