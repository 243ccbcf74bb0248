//! Resource groups started and stopped the way heartbeat's `ResourceManager` does it
//! (spec §2.3–2.5), with `IPaddr`/`IPaddr2` (spec §5) and `IPv6addr` done natively.
//!
//! The daemon's action worker calls, on its own thread (every call blocks until the scripts
//! are done or have timed out):
//!
//! ```text
//! let runner = Runner::new(RunnerOptions::for_daemon("/etc/ha.d", &log_config, node, hacf.debug));
//! runner.acquire_group(&group, &mut |line: LogLine| logger.log_line(&line)) -> GroupOutcome
//! runner.release_group(&group, &mut log) -> GroupOutcome
//! runner.resource_status(&resource, &mut log) -> bool        // ResourceManager's we_own_resource
//! runner.run(&resource, Op::Start, &mut log) -> Result<String, OpFailure>   // one call
//! ```
//!
//! - **acquire**: `Acquiring resource group: <line>`; left to right, each resource is first
//!   asked for its `status` and started only if that does not say it runs. A failed start
//!   logs `Giving up resources due to failure of <res>`, releases the whole group (right to
//!   left, every resource) and returns [`GroupOutcome::Failed`]; handing the group to the peer
//!   (heartbeat's `hb_standby` 30 s later) is the daemon's business.
//! - **release**: `Releasing resource group: <line>`; right to left, `stop` each. A failed
//!   stop is retried [`RunnerOptions::stop_retry_max`] times (`HA_STOPRETRYMAX`, default 10),
//!   [`RunnerOptions::stop_retry_interval`] apart (1 s), logging
//!   `Retrying failed stop operation [<res>]`. If it still fails and `status` says running:
//!   `Resource STOP failure. Reboot required!` and [`GroupOutcome::RebootRequired`] at once
//!   (nothing more is stopped: heartbeat reboots here; the daemon decides — this module never
//!   reboots). If `status` says stopped: the "probably not LSB-compliant" error, the two
//!   warnings ending `Machine reboot narrowly avoided!`, and the release goes on.
//! - **status** is judged by the words on stdout, never the exit code
//!   ([`status_says_running`]).
//! - **scripts** are `DIR/resource.d/<name>`, else `<name>` in the first existing of
//!   [`INIT_DIRS`]; regular and executable. Called `<path> <args…> <op>` with stdin from
//!   /dev/null, stdout and stderr appended to [`RunnerOptions::output`] (the debug file, or
//!   /dev/null), in their own process group, with [`ScriptEnv`]'s variables added to the
//!   daemon's environment. Every call has a timeout ([`Timeouts`]); a script still running
//!   then is killed with its whole process group (SIGTERM, then SIGKILL after
//!   [`RunnerOptions::kill_grace`]) and counts as failed.
//! - **IPaddr / IPaddr2** (the IP shorthand, `IPaddr::…`, `IPaddr2::…`) and **IPv6addr**
//!   (`IPv6addr::2001:db8::80/64`) run in-process ([`ip`], [`ip6`]) unless `DIR/resource.d`
//!   holds the user's own script of that name, which then wins (the package's unchanged
//!   wrapper is not the user's: [`stock`]; the log line says `(built-in, for the stock
//!   wrapper PATH)`);
//!   [`RunnerOptions::native_ip`] `false` sends them to scripts always. Their gratuitous ARP
//!   / neighbour advertisement bursts continue in the background after `start` returns and
//!   are ended by `stop` (and when the `Runner` is dropped).
//!
//! A [`Runner`] is `Send + Sync` (share it with `Arc`); the caller must not run two
//! operations on the same group at once (heartbeat serialises resource actions, spec §4.10).
//!
//! Log lines are heartbeat's words (`Running <path> <args> <op>`, `Return code <rc> from
//! <path>`, `Cannot locate resource script <name>`, …); `status` calls are logged at debug
//! priority since they happen before every start.

pub mod arp;
mod exec;
pub mod ip;
pub mod ip6;
pub mod netlink;
pub mod stock;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use hb_core::config::haresources::{IpAgent, Resource, ResourceGroup};

pub use arp::{ArpBurst, IPADDR2_ARP, IPADDR_ARP};
pub use ip6::IPV6ADDR_NA;

use crate::errno_text;
use crate::log::{LogConfig, LogLine, Priority};

/// heartbeat's search list for its single init directory (configure.in).
pub const INIT_DIRS: [&str; 5] = [
    "/etc/init.d",
    "/etc/rc.d/init.d",
    "/sbin/init.d",
    "/usr/local/etc/rc.d",
    "/etc/rc.d",
];
/// heartbeat itself has no timeout on resource scripts; ours are generous enough for slow
/// services and still end a hung script.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(120);
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(120);
pub const DEFAULT_STATUS_TIMEOUT: Duration = Duration::from_secs(60);
/// Between SIGTERM and SIGKILL to a timed-out script's process group.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(5);
/// `HA_STOPRETRYMAX`'s default in ResourceManager.
pub const DEFAULT_STOP_RETRY_MAX: u32 = 10;
/// ResourceManager's `sleep 1` between stop retries.
pub const DEFAULT_STOP_RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// The IPv6 address agent handled natively like IPaddr.
const IPV6ADDR: &str = "IPv6addr";
/// heartbeat's `HA_DATEFMT`, for scripts that log with ocf-shellfuncs.
pub const HA_DATEFMT: &str = "%Y/%m/%d_%T\t";

/// A resource operation as v1 calls it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Start,
    Stop,
    Status,
}

impl Op {
    pub const fn word(self) -> &'static str {
        match self {
            Op::Start => "start",
            Op::Stop => "stop",
            Op::Status => "status",
        }
    }
}

/// The longest each operation may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub start: Duration,
    pub stop: Duration,
    pub status: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            start: DEFAULT_START_TIMEOUT,
            stop: DEFAULT_STOP_TIMEOUT,
            status: DEFAULT_STATUS_TIMEOUT,
        }
    }
}

impl Timeouts {
    pub fn of(&self, op: Op) -> Duration {
        match op {
            Op::Start => self.start,
            Op::Stop => self.stop,
            Op::Status => self.status,
        }
    }
}

/// The environment heartbeat gives resource scripts (spec §2.3), added to the daemon's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptEnv {
    /// `HA_DIR`, the configuration directory.
    pub ha_dir: PathBuf,
    /// `HA_FUNCS`, the shell function library scripts source.
    pub ha_funcs: PathBuf,
    /// `HA_LOGFILE`, set only when a logfile is configured.
    pub logfile: Option<PathBuf>,
    /// `HA_DEBUGLOG`, set only when a debugfile is configured.
    pub debuglog: Option<PathBuf>,
    /// `HA_LOGFACILITY` (`daemon`, `local0`, …), set only when syslog is used.
    pub logfacility: Option<String>,
    /// `HA_CURHOST`, this node's name.
    pub curhost: String,
    /// `HA_debug`, the debug level.
    pub debug: u32,
    /// `HA_LOGD`: `yes` when logging goes through logd.
    pub logd: bool,
    /// `OCF_ROOT`.
    pub ocf_root: PathBuf,
    /// Anything else to pass (`HA_<field>` of a notification, `PATH` for tests…).
    pub extra: Vec<(String, String)>,
}

impl ScriptEnv {
    /// The defaults of a Linux build of heartbeat for configuration directory `ha_dir`.
    pub fn new(ha_dir: impl Into<PathBuf>, curhost: impl Into<String>) -> ScriptEnv {
        let ha_dir = ha_dir.into();
        ScriptEnv {
            ha_funcs: ha_dir.join("shellfuncs"),
            ha_dir,
            logfile: None,
            debuglog: None,
            logfacility: None,
            curhost: curhost.into(),
            debug: 0,
            logd: false,
            ocf_root: PathBuf::from("/usr/lib/ocf"),
            extra: Vec::new(),
        }
    }

    /// The variables, in a fixed order.
    pub fn vars(&self) -> Vec<(String, String)> {
        let path = |p: &Path| p.to_string_lossy().into_owned();
        let mut v = vec![
            ("HA_DIR".to_string(), path(&self.ha_dir)),
            ("HA_FUNCS".to_string(), path(&self.ha_funcs)),
            ("HA_DATEFMT".to_string(), HA_DATEFMT.to_string()),
            ("HA_CURHOST".to_string(), self.curhost.clone()),
            ("HA_debug".to_string(), self.debug.to_string()),
            (
                "HA_LOGD".to_string(),
                if self.logd { "yes" } else { "no" }.to_string(),
            ),
            ("OCF_ROOT".to_string(), path(&self.ocf_root)),
        ];
        if let Some(f) = &self.logfile {
            v.push(("HA_LOGFILE".to_string(), path(f)));
        }
        if let Some(f) = &self.debuglog {
            v.push(("HA_DEBUGLOG".to_string(), path(f)));
        }
        if let Some(f) = &self.logfacility {
            v.push(("HA_LOGFACILITY".to_string(), f.clone()));
        }
        v.extend(self.extra.iter().cloned());
        v
    }
}

/// How the [`Runner`] runs resources.
#[derive(Clone, Debug)]
pub struct RunnerOptions {
    /// The configuration directory (`/etc/ha.d`); scripts are looked up in its `resource.d`.
    pub ha_dir: PathBuf,
    /// The init directory candidates; the first that exists is the one searched.
    pub init_dirs: Vec<PathBuf>,
    pub timeouts: Timeouts,
    pub kill_grace: Duration,
    pub env: ScriptEnv,
    /// Where scripts' output is appended: the debug file, or `None` for /dev/null.
    pub output: Option<PathBuf>,
    /// Stop retries after a failed stop (`HA_STOPRETRYMAX`); `None` retries forever (as
    /// heartbeat does for a value ≤ 0). See [`parse_stop_retry_max`].
    pub stop_retry_max: Option<u32>,
    pub stop_retry_interval: Duration,
    /// Run `IPaddr`/`IPaddr2` in-process when `resource.d` has no script of that name.
    pub native_ip: bool,
    pub ipaddr_arp: ArpBurst,
    pub ipaddr2_arp: ArpBurst,
    /// `IPv6addr`'s unsolicited neighbour advertisements: `repeat` of them `interval` apart.
    pub ipv6addr_na: ArpBurst,
}

impl RunnerOptions {
    /// heartbeat's defaults for configuration directory `ha_dir`.
    pub fn new(ha_dir: impl Into<PathBuf>) -> RunnerOptions {
        let ha_dir = ha_dir.into();
        RunnerOptions {
            env: ScriptEnv::new(&ha_dir, ""),
            ha_dir,
            init_dirs: INIT_DIRS.iter().map(PathBuf::from).collect(),
            timeouts: Timeouts::default(),
            kill_grace: DEFAULT_KILL_GRACE,
            output: None,
            stop_retry_max: Some(DEFAULT_STOP_RETRY_MAX),
            stop_retry_interval: DEFAULT_STOP_RETRY_INTERVAL,
            native_ip: true,
            ipaddr_arp: IPADDR_ARP,
            ipaddr2_arp: IPADDR2_ARP,
            ipv6addr_na: IPV6ADDR_NA,
        }
    }

    /// What the daemon runs with: heartbeat's defaults; the scripts' environment from the
    /// logging set up from ha.cf (`logfile`, `debugfile`, `logfacility`), the node name and
    /// ha.cf's `debug` level; script output appended to the debug file; `HA_STOPRETRYMAX`
    /// from the daemon's own environment, as ResourceManager reads it.
    pub fn for_daemon(
        ha_dir: impl Into<PathBuf>,
        log: &LogConfig,
        node: &str,
        debug: u8,
    ) -> RunnerOptions {
        let mut o = RunnerOptions::new(ha_dir);
        o.env.curhost = node.to_string();
        o.env.debug = u32::from(debug);
        o.env.logfile.clone_from(&log.logfile);
        o.env.debuglog.clone_from(&log.debugfile);
        o.env.logfacility = log.facility.map(|f| f.name().to_string());
        o.output.clone_from(&log.debugfile);
        if let Ok(v) = std::env::var("HA_STOPRETRYMAX") {
            o.stop_retry_max = parse_stop_retry_max(&v);
        }
        o
    }

    pub fn resource_d(&self) -> PathBuf {
        self.ha_dir.join("resource.d")
    }
}

/// `HA_STOPRETRYMAX` as ResourceManager reads it: a number, ≤ 0 meaning forever; anything
/// else gives the default.
pub fn parse_stop_retry_max(value: &str) -> Option<u32> {
    match value.trim().parse::<i64>() {
        Ok(n) if n <= 0 => None,
        Ok(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
        Err(_) => Some(DEFAULT_STOP_RETRY_MAX),
    }
}

/// What became of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupOutcome {
    /// Every resource started (acquire) or stopped (release, possibly with a "narrowly
    /// avoided" reboot).
    Done,
    /// A start failed; the group has been released. `resource` is the one that failed.
    Failed { resource: String },
    /// A stop failed for good and the resource still runs: heartbeat would reboot now.
    RebootRequired { resource: String },
}

/// Why one operation failed (already logged when returned).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpFailure {
    /// No script of that name.
    NotFound,
    /// The script's exit code (128 + signal when killed by one).
    Exit(i32),
    /// Killed after its timeout.
    TimedOut,
    /// It could not be run, or the native agent failed; the message says why.
    Error(String),
}

/// Runs resource operations; shared by reference, one call at a time per group.
pub struct Runner {
    opts: RunnerOptions,
    /// Gratuitous ARP bursts still running, per address, so that `stop` can end them.
    arp: Mutex<HashMap<IpAddr, arp::Running>>,
}

impl Runner {
    pub fn new(opts: RunnerOptions) -> Runner {
        Runner {
            opts,
            arp: Mutex::new(HashMap::new()),
        }
    }

    pub fn options(&self) -> &RunnerOptions {
        &self.opts
    }

    /// ResourceManager's `takegroup` (see the module documentation).
    pub fn acquire_group(
        &self,
        group: &ResourceGroup,
        log: &mut dyn FnMut(LogLine),
    ) -> GroupOutcome {
        log(LogLine::info(format!("Acquiring resource group: {group}")));
        for res in group.resources() {
            if self.resource_status(&res, log) {
                continue;
            }
            if self.run(&res, Op::Start, log).is_err() {
                log(LogLine::new(
                    Priority::Crit,
                    format!("Giving up resources due to failure of {}", res.spec()),
                ));
                return match self.release_group(group, log) {
                    GroupOutcome::RebootRequired { resource } => {
                        GroupOutcome::RebootRequired { resource }
                    }
                    _ => GroupOutcome::Failed {
                        resource: res.spec().to_string(),
                    },
                };
            }
        }
        GroupOutcome::Done
    }

    /// ResourceManager's `givegroup` (see the module documentation).
    pub fn release_group(
        &self,
        group: &ResourceGroup,
        log: &mut dyn FnMut(LogLine),
    ) -> GroupOutcome {
        log(LogLine::info(format!("Releasing resource group: {group}")));
        for res in group.resources().rev() {
            if self.stop_with_retries(&res, log) {
                continue;
            }
            let spec = res.spec();
            if self.resource_status(&res, log) {
                log(LogLine::new(
                    Priority::Crit,
                    "Resource STOP failure. Reboot required!",
                ));
                return GroupOutcome::RebootRequired {
                    resource: spec.to_string(),
                };
            }
            log(LogLine::error(format!(
                "Resource script for {spec} probably not LSB-compliant."
            )));
            log(LogLine::warn(format!(
                "it ({spec}) MUST succeed on a stop when already stopped"
            )));
            log(LogLine::warn("Machine reboot narrowly avoided!"));
        }
        GroupOutcome::Done
    }

    /// Announces the group's addresses again (native `IPaddr`, `IPaddr2`, `IPv6addr`: the
    /// start's gratuitous ARP or unsolicited NA burst), after a healed split left clients
    /// pointing at the node that released them. Other resources are left alone; a script
    /// `IPaddr` in `resource.d` cannot be asked to (ResourceManager has no such operation).
    pub fn announce_group(&self, group: &ResourceGroup, log: &mut dyn FnMut(LogLine)) {
        let resource_d = self.opts.resource_d();
        for res in group.resources() {
            let name = res.script();
            if !self.opts.native_ip || exec::is_executable_file(&resource_d.join(name)) {
                continue;
            }
            let args: Vec<&str> = res.args().collect();
            let (ip, sent) = if let Some(agent) = IpAgent::from_script(name) {
                let [arg] = args.as_slice() else { continue };
                let Ok(spec) = hb_core::config::haresources::parse_ip_spec(arg, agent) else {
                    continue;
                };
                let burst = match agent {
                    IpAgent::IPaddr => self.opts.ipaddr_arp,
                    IpAgent::IPaddr2 => self.opts.ipaddr2_arp,
                };
                (
                    IpAddr::V4(Ipv4Addr::from(spec.addr)),
                    ip::announce(&spec, agent, burst, log),
                )
            } else if name == IPV6ADDR {
                let Ok(spec) = ip6::parse_ip6_spec(&args) else {
                    continue;
                };
                (
                    IpAddr::V6(spec.addr),
                    ip6::announce(&spec, self.opts.ipv6addr_na, log),
                )
            } else {
                continue;
            };
            match sent {
                Ok(running) => {
                    self.cancel_arp(ip);
                    if let (Some(r), Ok(mut m)) = (running, self.arp.lock()) {
                        m.insert(ip, r);
                    }
                }
                Err(e) => log(LogLine::warn(format!("{}: {e}", res.spec()))),
            }
        }
    }

    fn stop_with_retries(&self, res: &Resource<'_>, log: &mut dyn FnMut(LogLine)) -> bool {
        if self.run(res, Op::Stop, log).is_ok() {
            return true;
        }
        let mut tries = 0u32;
        while self.opts.stop_retry_max.is_none_or(|max| tries < max) {
            tries = tries.saturating_add(1);
            std::thread::sleep(self.opts.stop_retry_interval);
            log(LogLine::info(format!(
                "Retrying failed stop operation [{}]",
                res.spec()
            )));
            if self.run(res, Op::Stop, log).is_ok() {
                return true;
            }
        }
        false
    }

    /// ResourceManager's `we_own_resource`: does `status` say it runs? A status call that
    /// fails to run at all says no.
    pub fn resource_status(&self, res: &Resource<'_>, log: &mut dyn FnMut(LogLine)) -> bool {
        self.run(res, Op::Status, log)
            .is_ok_and(|out| status_says_running(&out))
    }

    /// One operation on one resource, logged. `Ok` carries the stdout of `status` (empty for
    /// the other operations, whose output goes to [`RunnerOptions::output`]). A status
    /// script's exit code is ignored, as ResourceManager ignores it.
    pub fn run(
        &self,
        res: &Resource<'_>,
        op: Op,
        log: &mut dyn FnMut(LogLine),
    ) -> Result<String, OpFailure> {
        let r = self.run_op(res, op, log);
        let name = res.script();
        let address = IpAgent::from_script(name).is_some() || name == IPV6ADDR;
        crate::metrics::resource_op(op.word(), r.is_ok(), address);
        r
    }

    fn run_op(
        &self,
        res: &Resource<'_>,
        op: Op,
        log: &mut dyn FnMut(LogLine),
    ) -> Result<String, OpFailure> {
        let name = res.script();
        let args: Vec<&str> = res.args().collect();
        let resource_d = self.opts.resource_d();
        let script = resource_d.join(name);
        if self.opts.native_ip && (IpAgent::from_script(name).is_some() || name == IPV6ADDR) {
            // The package's own wrapper only execs the OCF agent: the same work natively,
            // said so in the log; a script the admin wrote or edited runs as written.
            let how = if !exec::is_executable_file(&script) {
                Some("built-in".to_string())
            } else if stock::is_stock_wrapper(name, &script) {
                Some(format!(
                    "built-in, for the stock wrapper {}",
                    script.display()
                ))
            } else {
                None
            };
            if let Some(how) = how {
                if let Some(agent) = IpAgent::from_script(name) {
                    return self.run_native(res, agent, &args, op, &how, log);
                }
                return self.run_native6(res, &args, op, &how, log);
            }
        }
        let Some(path) = exec::locate(&resource_d, &self.opts.init_dirs, name) else {
            log(LogLine::error(format!(
                "Cannot locate resource script {name}"
            )));
            return Err(OpFailure::NotFound);
        };
        let shown = path.display();
        let mut words = vec![shown.to_string()];
        words.extend(args.iter().map(|a| a.to_string()));
        words.push(op.word().to_string());
        let prio = if op == Op::Status {
            Priority::Debug
        } else {
            Priority::Info
        };
        log(LogLine::new(prio, format!("Running {}", words.join(" "))));
        let env = self.opts.env.vars();
        let call = exec::Call {
            path: &path,
            args: &args,
            op: op.word(),
            env: &env,
            output: self.opts.output.as_deref(),
            capture_stdout: op == Op::Status,
            timeout: self.opts.timeouts.of(op),
            kill_grace: self.opts.kill_grace,
        };
        let ran = match exec::run(&call) {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("Cannot run {shown}: {}", errno_text(&e));
                log(LogLine::error(msg.clone()));
                return Err(OpFailure::Error(msg));
            }
        };
        match ran.ended {
            exec::Ended::TimedOut => {
                log(LogLine::error(format!(
                    "Resource script {} timed out after {} s; killed its process group",
                    words.join(" "),
                    call.timeout.as_secs_f64()
                )));
                Err(OpFailure::TimedOut)
            }
            exec::Ended::Exited(_) if op == Op::Status => Ok(ran.stdout),
            exec::Ended::Exited(status) if status.success() => Ok(String::new()),
            exec::Ended::Exited(status) => {
                let rc = exec::shell_code(status);
                log(LogLine::error(format!("Return code {rc} from {shown}")));
                Err(OpFailure::Exit(rc))
            }
        }
    }

    fn run_native(
        &self,
        res: &Resource<'_>,
        agent: IpAgent,
        args: &[&str],
        op: Op,
        how: &str,
        log: &mut dyn FnMut(LogLine),
    ) -> Result<String, OpFailure> {
        let prio = if op == Op::Status {
            Priority::Debug
        } else {
            Priority::Info
        };
        log(LogLine::new(
            prio,
            format!(
                "Running {} ({how}) {} {}",
                agent.script(),
                args.join(" "),
                op.word()
            ),
        ));
        // Every error names the resource, as written in haresources.
        let fail = |log: &mut dyn FnMut(LogLine), msg: String| {
            let msg = format!("{}: {}: {msg}", agent.script(), res.spec());
            log(LogLine::error(msg.clone()));
            Err(OpFailure::Error(msg))
        };
        // The IPaddr wrapper insists on exactly one argument before the operation.
        let [arg] = args else {
            return fail(
                log,
                "needs exactly one argument, address[/bits[/interface[/broadcast]]]".into(),
            );
        };
        let spec = match hb_core::config::haresources::parse_ip_spec(arg, agent) {
            Ok(s) => s,
            Err(e) => return fail(log, format!("bad IP address argument: {e}")),
        };
        let ip = Ipv4Addr::from(spec.addr);
        match op {
            Op::Status => ip::status(&spec)
                .map(str::to_string)
                .or_else(|m| fail(log, m)),
            Op::Start => {
                self.cancel_arp(ip);
                let burst = match agent {
                    IpAgent::IPaddr => self.opts.ipaddr_arp,
                    IpAgent::IPaddr2 => self.opts.ipaddr2_arp,
                };
                match ip::start(&spec, agent, burst, log) {
                    Ok(Some(running)) => {
                        if let Ok(mut m) = self.arp.lock() {
                            m.insert(IpAddr::V4(ip), running);
                        }
                        Ok(String::new())
                    }
                    Ok(None) => Ok(String::new()),
                    Err(m) => fail(log, m),
                }
            }
            Op::Stop => {
                self.cancel_arp(ip);
                ip::stop(&spec, agent, log)
                    .map(|()| String::new())
                    .or_else(|m| fail(log, m))
            }
        }
    }

    fn run_native6(
        &self,
        res: &Resource<'_>,
        args: &[&str],
        op: Op,
        how: &str,
        log: &mut dyn FnMut(LogLine),
    ) -> Result<String, OpFailure> {
        let prio = if op == Op::Status {
            Priority::Debug
        } else {
            Priority::Info
        };
        log(LogLine::new(
            prio,
            format!(
                "Running {IPV6ADDR} ({how}) {} {}",
                args.join("::"),
                op.word()
            ),
        ));
        let fail = |log: &mut dyn FnMut(LogLine), msg: String| {
            let msg = format!("{IPV6ADDR}: {}: {msg}", res.spec());
            log(LogLine::error(msg.clone()));
            Err(OpFailure::Error(msg))
        };
        let spec = match ip6::parse_ip6_spec(args) {
            Ok(s) => s,
            Err(e) => return fail(log, e),
        };
        let ip = IpAddr::V6(spec.addr);
        match op {
            Op::Status => ip6::status(&spec)
                .map(str::to_string)
                .or_else(|m| fail(log, m)),
            Op::Start => {
                self.cancel_arp(ip);
                match ip6::start(&spec, self.opts.ipv6addr_na, log) {
                    Ok(Some(running)) => {
                        if let Ok(mut m) = self.arp.lock() {
                            m.insert(ip, running);
                        }
                        Ok(String::new())
                    }
                    Ok(None) => Ok(String::new()),
                    Err(m) => fail(log, m),
                }
            }
            Op::Stop => {
                self.cancel_arp(ip);
                ip6::stop(&spec, log)
                    .map(|()| String::new())
                    .or_else(|m| fail(log, m))
            }
        }
    }

    fn cancel_arp(&self, ip: impl Into<IpAddr>) {
        let ip = ip.into();
        let running = self.arp.lock().ok().and_then(|mut m| m.remove(&ip));
        if let Some(r) = running {
            r.cancel();
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if let Ok(mut m) = self.arp.lock() {
            for (_, r) in m.drain() {
                r.cancel();
            }
        }
    }
}

/// ResourceManager's judgement of `status` output (spec §2.4): `not ` (any case) followed
/// anywhere later by `running`/`Running` → not running; else `running`/`Running` or `OK` →
/// running; else not running. The exit code plays no part.
pub fn status_says_running(out: &str) -> bool {
    let has_running = |s: &str| s.contains("running") || s.contains("Running");
    let lower = out.to_ascii_lowercase();
    if let Some(i) = lower.find("not ") {
        if has_running(out.get(i + 4..).unwrap_or("")) {
            return false;
        }
    }
    has_running(out) || out.contains("OK")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_words() {
        for running in [
            "running",
            "httpd (pid 42) is Running...",
            "INFO:  Running OK",
            "OK",
            "isn't running",
            "status: running\n",
            "NOT OK",
        ] {
            assert!(status_says_running(running), "{running:?}");
        }
        for stopped in [
            "",
            "stopped",
            "unknown",
            "httpd is not running",
            "Not Running",
            "NOT  running but something",
            "nothing running", // no blank after "not": read as running…
            "ok",
            "INFO:  Resource is stopped",
        ] {
            let expect_running = stopped == "nothing running";
            assert_eq!(status_says_running(stopped), expect_running, "{stopped:?}");
        }
        // "not " must come before the word running.
        assert!(status_says_running("running, not stopped"));
        assert!(!status_says_running("NoT is not running"));
    }

    #[test]
    fn runner_can_be_shared_with_the_worker() {
        fn shared<T: Send + Sync>() {}
        shared::<Runner>();
    }

    #[test]
    fn stop_retry_max_from_env() {
        assert_eq!(parse_stop_retry_max("10"), Some(10));
        assert_eq!(parse_stop_retry_max("3"), Some(3));
        assert_eq!(parse_stop_retry_max("0"), None);
        assert_eq!(parse_stop_retry_max("-1"), None);
        assert_eq!(parse_stop_retry_max("x"), Some(DEFAULT_STOP_RETRY_MAX));
    }

    #[test]
    fn daemon_options_follow_the_logging_configuration() {
        let mut log = LogConfig::stderr_only("node1");
        log.logfile = Some("/var/log/ha-log".into());
        log.debugfile = Some("/var/log/ha-debug".into());
        log.facility = Some(hb_core::config::hacf::LogFacility::Local7);
        let o = RunnerOptions::for_daemon("/etc/ha.d", &log, "node1", 2);
        assert_eq!(o.resource_d(), Path::new("/etc/ha.d/resource.d"));
        assert_eq!(o.output.as_deref(), Some(Path::new("/var/log/ha-debug")));
        let vars: HashMap<String, String> = o.env.vars().into_iter().collect();
        assert_eq!(vars["HA_LOGFILE"], "/var/log/ha-log");
        assert_eq!(vars["HA_DEBUGLOG"], "/var/log/ha-debug");
        assert_eq!(vars["HA_LOGFACILITY"], "local7");
        assert_eq!(vars["HA_CURHOST"], "node1");
        assert_eq!(vars["HA_debug"], "2");
        assert_eq!(o.timeouts, Timeouts::default());
        assert_eq!(o.ipaddr_arp, IPADDR_ARP);
    }

    #[test]
    fn env_has_heartbeats_variables() {
        let mut env = ScriptEnv::new("/etc/ha.d", "node1");
        env.debuglog = Some("/var/log/ha-debug".into());
        env.logfacility = Some("local0".into());
        let vars: HashMap<String, String> = env.vars().into_iter().collect();
        assert_eq!(vars["HA_DIR"], "/etc/ha.d");
        assert_eq!(vars["HA_FUNCS"], "/etc/ha.d/shellfuncs");
        assert_eq!(vars["HA_CURHOST"], "node1");
        assert_eq!(vars["HA_DEBUGLOG"], "/var/log/ha-debug");
        assert_eq!(vars["HA_LOGFACILITY"], "local0");
        assert_eq!(vars["HA_debug"], "0");
        assert_eq!(vars["OCF_ROOT"], "/usr/lib/ocf");
        assert!(!vars.contains_key("HA_LOGFILE"));
    }
}
