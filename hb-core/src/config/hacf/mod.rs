//! `/etc/ha.d/ha.cf` as heartbeat 3.0.6 reads it [heartbeat/config.c: parse_config, init_config].
//!
//! Lexical rules (§1.1 of the behaviour spec): a `#` anywhere starts a comment; a CR ends the
//! line; the first word is the directive, matched case-sensitively. Option directives split the
//! rest of the line on blanks *and commas* and apply each word separately (`node a b,c` declares
//! three nodes, `keepalive 1 2` ends with 2); with no value at all they are ignored (we warn).
//! Whole-line directives (`stonith`, `stonith_host`, `apiauth`, `respawn`, `failfast`) and
//! whole-line media (`mcast`, `mcast6`, `ucast`, `ping_group`, …) parse the rest of the line
//! themselves, where commas are ordinary characters.
//!
//! Directives take effect when read, and heartbeat's media latch values at that moment: the
//! bcast and ucast media take the `udpport` known when the first medium of their kind is
//! created, serial media the `baud` known when the first `serial` line is read. We record the
//! port/baud per medium exactly so, and warn when `udpport`/`baud` come too late to matter.
//!
//! Defaults are applied after the whole file is read, then the cross-checks of §1.6 run.
//!
//! What needs the operating system is left to the daemon, which gets a [`Located`] position for
//! each item so it can report in the same form: whether an interface exists, whether a serial
//! path is a character device, whether a user exists, whether a command is executable, whether
//! a host resolves, what `/etc/services` says about `ha-cluster`.

mod checks;
mod clients;
mod directives;
mod hbrelay;
mod logging;
mod media;
mod stonith;
mod types;
mod values;

#[cfg(test)]
mod tests;

pub use clients::{ApiAuth, ClientChild, EnvVar};
pub use directives::DIRECTIVES;
pub use hbrelay::{
    HbRelayError, HbRelayParams, PinnedPort, HBRELAY, MAX_HBRELAY_PINS, RELAY_WATCHDOG_PREFIX,
};
pub use logging::LogFacility;
pub use media::{HostList, Medium, OtherMedium};
pub use stonith::{Stonith, StonithHost};
pub use types::*;

use heapless::Vec;

use super::{
    bounded, lowercase, ConfigError, FileKind, Invalid, Located, NodeName, Pos, Reporter, Shown,
};
use crate::time::Duration;
use types::APIAUTH_CAP;

// ---------------------------------------------------------------------------------------------
// The parsed file.

/// A parsed and checked `ha.cf`, with every default applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HaCf {
    /// `node`: cluster members, lowercased, in file order, without repeats.
    pub nodes: Vec<NodeName, MAX_NODES>,
    /// Every medium, in file order, located at its interface (device, host, group name) word:
    /// one `bcast` line may declare several.
    pub media: Vec<Located<Medium>, MAX_MEDIA>,
    /// `keepalive`: interval between our own heartbeats.
    pub keepalive: Duration,
    /// `deadtime`: silence after which a node is declared dead.
    pub deadtime: Duration,
    /// `warntime`: silence after which `Late heartbeat` is logged (default deadtime/2).
    pub warntime: Duration,
    /// `initdead`: dead time until communications are first up (default computed from
    /// deadtime: deadtime if > 10 s, 12 s if < 6 s, else 2 × deadtime).
    pub initdead: Duration,
    /// `deadping`: dead time for ping nodes (default deadtime).
    pub deadping: Duration,
    /// `hopfudge`: added to the node count for the `ttl` field of outgoing messages.
    pub hopfudge: u8,
    /// `udpport`: the last value written, or the default. Media carry the port they really
    /// use, which may differ when `udpport` came after them.
    pub udpport: u16,
    /// `baud`: the value written, or the default. Serial media carry their own.
    pub baud: u32,
    pub auto_failback: AutoFailback,
    /// `watchdog`: device to pet.
    pub watchdog: Option<Path>,
    /// `logfile`; `/dev/null` when only syslog is configured (as heartbeat sets it, so that
    /// scripts' `HA_LOGFILE` points somewhere).
    pub logfile: Option<Path>,
    /// `debugfile`; `/dev/null` when only syslog is configured.
    pub debugfile: Option<Path>,
    /// `logfacility`; `None` for `logfacility none` or no line. See [`HaCf::syslog_facility`].
    pub logfacility: Option<LogFacility>,
    /// `use_logd`, or implied `true` when no logfile, debugfile or syslog facility is set.
    pub use_logd: bool,
    pub conn_logd_time: Duration,
    /// `syslogmsgfmt`: syslog-style lines in the log files.
    pub syslogmsgfmt: bool,
    pub debug: u8,
    /// `realtime`: SCHED_RR and mlockall.
    pub realtime: bool,
    /// `rtprio`: `None` means the lowest real-time priority.
    pub rtprio: Option<u8>,
    pub memreserve_kib: u32,
    pub coredumps: bool,
    pub coreroot: Path,
    pub hbgenmethod: GenMethod,
    pub uuidfrom: UuidFrom,
    pub autojoin: AutoJoin,
    pub msgfmt: MsgFmt,
    pub compression: Compression,
    pub compression_threshold_kib: u32,
    pub traditional_compression: bool,
    pub max_rexmit_delay: Duration,
    pub log_badpack: bool,
    /// `cluster`; `quorum_server` overwrites it, as in heartbeat.
    pub cluster: Host,
    pub quorum_server: Option<Host>,
    /// `crm` / `pacemaker`. Anything but `Off` disables haresources handling.
    pub pacemaker: Pacemaker,
    pub use_apphbd: bool,
    pub record_config_changes: bool,
    pub record_pengine_inputs: bool,
    pub enable_config_writes: bool,
    /// `apiauth` lines, then the built-in entries for clients not mentioned.
    pub apiauth: Vec<ApiAuth, APIAUTH_CAP>,
    /// `respawn` and `failfast` lines in file order (the order they are started in).
    pub client_children: Vec<Located<ClientChild>, MAX_CLIENT_CHILDREN>,
    /// `env NAME=value`: children get `HA_NAME=value`.
    pub env: Vec<EnvVar, MAX_ENV>,
    /// `stonith`: the last one wins (heartbeat keeps a single device).
    pub stonith: Option<Located<Stonith>>,
    /// `stonith_host` lines, all of them; see [`HaCf::stonith_hosts_for`].
    pub stonith_hosts: Vec<Located<StonithHost>, MAX_STONITH_HOSTS>,
    /// Where the first `node` line is, for [`HaCf::check_local_node`].
    node_at: Option<Pos>,
}

impl HaCf {
    /// Parse and check `ha.cf`. Every problem goes to `diag` as it is found; the result is
    /// `Err` if any of them was an error.
    pub fn parse(text: &str, diag: &mut impl FnMut(ConfigError)) -> Result<HaCf, Invalid> {
        let mut r = Reporter::new(FileKind::HaCf, diag);
        let mut b = Builder::new();
        for (line_no, line) in super::physical_lines(text) {
            b.line(&mut r, line_no, line);
        }
        b.finish(&mut r)
    }

    pub fn node_names(&self) -> impl Iterator<Item = &str> + Clone {
        self.nodes.iter().map(|n| n.as_str())
    }

    /// Is `name` a declared node (compared lowercased, as heartbeat does)?
    pub fn has_node(&self, name: &str) -> bool {
        self.nodes.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// heartbeat refuses to start on a node the file does not declare, unless `autojoin any`
    /// adds it. `local` is `uname -n` or the first line of `/etc/ha.d/nodeinfo`.
    #[allow(clippy::result_large_err)] // no allocator to box it; called once at start-up
    pub fn check_local_node(&self, local: &str) -> Result<(), ConfigError> {
        if self.has_node(local) || self.autojoin == AutoJoin::Any {
            return Ok(());
        }
        let lower: Option<NodeName> = lowercase(local);
        Err(ConfigError::error(
            FileKind::HaCf,
            self.node_at.unwrap_or(Pos::FILE),
            format_args!(
                "Current node [{}] not in configuration! By default, cluster nodes are named by \
                 `uname -n` and must be declared with a 'node' directive in the ha.cf file.",
                Shown(lower.as_deref().unwrap_or(local))
            ),
        ))
    }

    /// heartbeat manages haresources itself only with `crm off`.
    pub fn manages_resources(&self) -> bool {
        self.pacemaker == Pacemaker::Off
    }

    /// The facility to log to syslog with, if any. heartbeat tests the facility value with
    /// `> 0`, so `kern` (value 0) behaves like `none`; we keep that quirk here.
    pub fn syslog_facility(&self) -> Option<LogFacility> {
        self.logfacility.filter(|f| *f != LogFacility::Kern)
    }

    /// The `stonith_host` lines that apply on node `local` (`*` or its name).
    pub fn stonith_hosts_for<'s>(
        &'s self,
        local: &'s str,
    ) -> impl Iterator<Item = &'s Located<StonithHost>> {
        self.stonith_hosts.iter().filter(move |s| {
            s.value.from_host.as_str() == "*" || s.value.from_host.eq_ignore_ascii_case(local)
        })
    }

    /// Who may sign on to the API as `client`.
    pub fn apiauth_for(&self, client: &str) -> Option<&ApiAuth> {
        self.apiauth.iter().find(|a| a.client.as_str() == client)
    }

    fn with_defaults() -> Self {
        HaCf {
            nodes: Vec::new(),
            media: Vec::new(),
            keepalive: DEFAULT_KEEPALIVE,
            deadtime: DEFAULT_DEADTIME,
            warntime: Duration::ZERO,
            initdead: Duration::ZERO,
            deadping: Duration::ZERO,
            hopfudge: DEFAULT_HOPFUDGE,
            udpport: DEFAULT_UDPPORT,
            baud: DEFAULT_BAUD,
            auto_failback: AutoFailback::Legacy,
            watchdog: None,
            logfile: None,
            debugfile: None,
            logfacility: None,
            use_logd: false,
            conn_logd_time: DEFAULT_CONN_LOGD_TIME,
            syslogmsgfmt: true,
            debug: DEFAULT_DEBUG,
            realtime: true,
            rtprio: None,
            memreserve_kib: DEFAULT_MEMRESERVE_KIB,
            coredumps: true,
            coreroot: bounded(DEFAULT_COREROOT).unwrap_or_default(),
            hbgenmethod: GenMethod::File,
            uuidfrom: UuidFrom::File,
            autojoin: AutoJoin::None,
            msgfmt: MsgFmt::Classic,
            compression: Compression::Zlib,
            compression_threshold_kib: DEFAULT_COMPRESSION_THRESHOLD_KIB,
            traditional_compression: false,
            max_rexmit_delay: DEFAULT_MAX_REXMIT_DELAY,
            log_badpack: true,
            cluster: bounded(DEFAULT_CLUSTER).unwrap_or_default(),
            quorum_server: None,
            pacemaker: Pacemaker::Off,
            use_apphbd: false,
            record_config_changes: true,
            record_pengine_inputs: true,
            enable_config_writes: true,
            apiauth: Vec::new(),
            client_children: Vec::new(),
            env: Vec::new(),
            stonith: None,
            stonith_hosts: Vec::new(),
            node_at: None,
        }
    }
}

/// The file being read: the result so far plus what the cross-checks need to know about how
/// values were set and where.
struct Builder {
    cf: HaCf,
    keepalive_at: Option<Pos>,
    deadtime_at: Option<Pos>,
    warntime: Option<Duration>,
    initdead: Option<(Duration, Pos)>,
    deadping: Option<(Duration, Pos)>,
    auto_failback: Option<(AutoFailback, Pos)>,
    use_logd: Option<(bool, Pos)>,
    autojoin_at: Option<Pos>,
    /// The port the bcast / ucast plugins latched when their first medium was created.
    bcast_port: Option<u16>,
    ucast_port: Option<u16>,
    /// The rate the serial plugin latched when the first `serial` line was read.
    serial_baud: Option<u32>,
    /// heartbeat counts a `baud` line as given even when its value is refused.
    baud_seen: bool,
    watchdog_seen: bool,
}

impl Builder {
    fn new() -> Self {
        Builder {
            cf: HaCf::with_defaults(),
            keepalive_at: None,
            deadtime_at: None,
            warntime: None,
            initdead: None,
            deadping: None,
            auto_failback: None,
            use_logd: None,
            autojoin_at: None,
            bcast_port: None,
            ucast_port: None,
            serial_baud: None,
            baud_seen: false,
            watchdog_seen: false,
        }
    }
}
