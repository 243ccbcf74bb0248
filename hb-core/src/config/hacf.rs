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

use core::fmt;
use core::net::Ipv6Addr;
use core::str::FromStr;

use heapless::{String, Vec};

use super::{
    bounded, closest, lowercase, parse_bool, parse_decimal, parse_ipv4, parse_msec, strip_comment,
    ConfigError, FileKind, Invalid, Located, NodeName, Pos, Reporter, Shown, TimeError, Word,
    Words, BOOL_HINT, DELIMS, MAX_LINE_LEN, NODE_NAME_LEN, TIME_HINT, WHITESPACE,
};
use crate::time::Duration;

// ---------------------------------------------------------------------------------------------
// Capacities. Filling one is reported as an error naming the limit, never a panic.

/// Cluster members. heartbeat allows 100 (`MAXNODE`); hb targets small clusters (v1 resource
/// management is two-node), and every node costs state in the engine.
pub const MAX_NODES: usize = 16;
/// Media lines (one per interface/tty/peer/ping host). heartbeat allows 64 (`MAXMEDIA`).
pub const MAX_MEDIA: usize = 16;
/// Hosts in one `ping_group`.
pub const MAX_PING_GROUP_HOSTS: usize = 8;
/// `respawn` plus `failfast` lines.
pub const MAX_CLIENT_CHILDREN: usize = 8;
/// `apiauth` lines written in the file (the five built-in ones come on top).
pub const MAX_APIAUTH: usize = 16;
/// `env` entries.
pub const MAX_ENV: usize = 16;
/// `stonith_host` lines.
pub const MAX_STONITH_HOSTS: usize = 8;
/// Interface name: Linux `IFNAMSIZ` (16) minus the NUL.
pub const IFACE_LEN: usize = 15;
/// Host name or address as written (ucast peer, ping host, quorum server, cluster name).
pub const HOST_LEN: usize = 128;
/// File paths (log files, serial devices, watchdog, coreroot, STONITH config file).
pub const PATH_LEN: usize = 256;
/// A `respawn`/`failfast` command line.
pub const COMMAND_LEN: usize = 256;
/// Short names: users (heartbeat refuses 64 bytes or more), API clients, STONITH types,
/// `env` names.
pub const NAME_LEN: usize = 64;
/// Arguments kept as written: STONITH parameters, `env` values, media hb does not model.
pub const ARGS_LEN: usize = 256;
/// A comma-separated `uid=`/`gid=` list of an `apiauth` line.
pub const ID_LIST_LEN: usize = 128;

pub type Iface = String<IFACE_LEN>;
pub type Host = String<HOST_LEN>;
pub type Path = String<PATH_LEN>;
pub type Name = String<NAME_LEN>;
pub type Args = String<ARGS_LEN>;

// ---------------------------------------------------------------------------------------------
// Defaults, each mirroring heartbeat 3.0.6.

/// heartbeat: `keepalive 1000ms`.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_millis(1000);
/// heartbeat: `deadtime 30000ms`.
pub const DEFAULT_DEADTIME: Duration = Duration::from_millis(30_000);
/// heartbeat: `hopfudge 1`.
pub const DEFAULT_HOPFUDGE: u8 = 1;
/// heartbeat: `UDPPORT` 694, used when `/etc/services` has no `ha-cluster/udp` entry (the core
/// reads no files; the daemon may look it up and override).
pub const DEFAULT_UDPPORT: u16 = 694;
/// heartbeat: `baud 19200`.
pub const DEFAULT_BAUD: u32 = 19_200;
/// The speed of a `relay` line without one: the relay boards' UART speed (`boards/*`).
pub const DEFAULT_RELAY_BAUD: u32 = 115_200;
/// heartbeat: `debug 0` (its `-d` option raises it; the core sees no command line).
pub const DEFAULT_DEBUG: u8 = 0;
/// heartbeat: `conn_logd_time 60`, i.e. 60 s.
pub const DEFAULT_CONN_LOGD_TIME: Duration = Duration::from_millis(60_000);
/// heartbeat: `memreserve 6500` (KiB).
pub const DEFAULT_MEMRESERVE_KIB: u32 = 6500;
/// heartbeat: `coreroot /var/lib/heartbeat/cores`.
pub const DEFAULT_COREROOT: &str = "/var/lib/heartbeat/cores";
/// heartbeat: `compression_threshold 2` (KiB).
pub const DEFAULT_COMPRESSION_THRESHOLD_KIB: u32 = 2;
/// heartbeat: `max_rexmit_delay 250` (ms).
pub const DEFAULT_MAX_REXMIT_DELAY: Duration = Duration::from_millis(250);
/// heartbeat: `cluster linux-ha`.
pub const DEFAULT_CLUSTER: &str = "linux-ha";
/// heartbeat: an unset initdead is `deadtime` when deadtime exceeds this...
pub const INITDEAD_LONG_DEADTIME: Duration = Duration::from_millis(10_000);
/// heartbeat: ...12 s when deadtime is below this...
pub const INITDEAD_SHORT_DEADTIME: Duration = Duration::from_millis(6000);
/// heartbeat: ...namely this; otherwise twice deadtime.
pub const INITDEAD_FOR_SHORT_DEADTIME: Duration = Duration::from_millis(12_000);
/// heartbeat: an initdead below this draws `Initial dead time [...] may be too small!`.
pub const INITDEAD_RECOMMENDED_MIN: Duration = Duration::from_millis(10_000);
/// heartbeat: `StringToBaud`, the speeds `baud` accepts.
pub const BAUD_RATES: [u32; 7] = [9600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800];
/// heartbeat: `MAXMEDIA`/`MAXNODE` as they are in heartbeat, quoted in messages so a person
/// knows the limit is ours.
const HEARTBEAT_MAX_NODES: usize = 100;
/// Where heartbeat points script logs when only syslog is configured.
const DEV_NULL: &str = "/dev/null";

/// The `apiauth` entries heartbeat adds for clients the file does not mention
/// (`HA_CCMUSER` = `hacluster`, `HA_APIGROUP` = `haclient`): (client, uid list, gid list).
pub const BUILTIN_APIAUTH: [(&str, &str, &str); 5] = [
    ("ipfail", "hacluster", ""),
    ("ccm", "hacluster", ""),
    ("ping", "", "haclient"),
    ("lha-snmpagent", "root", ""),
    ("anon", "", "haclient"),
];
const APIAUTH_CAP: usize = MAX_APIAUTH + BUILTIN_APIAUTH.len();

/// Every directive name heartbeat 3.0.6 accepts (plus the `udp` alias), for the CLI and tests.
pub const DIRECTIVES: &[&str] = &[
    "node",
    "keepalive",
    "deadtime",
    "deadping",
    "warntime",
    "initdead",
    "hopfudge",
    "udpport",
    "baud",
    "auto_failback",
    "nice_failback",
    "watchdog",
    "logfile",
    "debugfile",
    "logfacility",
    "use_logd",
    "conn_logd_time",
    "syslogmsgfmt",
    "debug",
    "realtime",
    "rtprio",
    "memreserve",
    "coredumps",
    "coreroot",
    "hbgenmethod",
    "uuidfrom",
    "autojoin",
    "msgfmt",
    "compression",
    "compression_threshold",
    "traditional_compression",
    "max_rexmit_delay",
    "log_badpack",
    "cluster",
    "quorum_server",
    "crm",
    "pacemaker",
    "use_apphbd",
    "env",
    "record_config_changes",
    "record_pengine_inputs",
    "enable_config_writes",
    "stonith",
    "stonith_host",
    "apiauth",
    "respawn",
    "failfast",
    "bcast",
    "udp",
    "serial",
    "ping",
    "ping6",
    "hbaping",
    "openais",
    "mcast",
    "mcast6",
    "ucast",
    "ucast6",
    "ping_group",
    "rds",
    "tipc",
    "relay",
];

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

/// `auto_failback` [config.c: set_auto_failback].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AutoFailback {
    /// Resources go back to their preferred node when it returns (standby protocol).
    On,
    /// Resources stay where they are.
    Off,
    /// Pre-`nice_failback` behaviour; heartbeat's default, deprecated.
    Legacy,
}

/// `crm` / `pacemaker`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Pacemaker {
    Off,
    On,
    Respawn,
    Manual,
    Minimal,
    Valgrind,
}

/// `hbgenmethod`: where the generation counter comes from (§10.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum GenMethod {
    /// `/var/lib/heartbeat/hb_generation`, incremented at each start.
    File,
    /// The current time.
    Time,
}

/// `uuidfrom`: where the node UUID comes from (§10.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum UuidFrom {
    File,
    NodeName,
}

/// `autojoin`: dynamic membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AutoJoin {
    None,
    Other,
    Any,
}

/// `msgfmt`: wire encoding we send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MsgFmt {
    Classic,
    Netstring,
}

/// `compression`: module for large messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Compression {
    Zlib,
    Bz2,
}

/// `logfacility` names heartbeat accepts (`cl_syslogfac_str2int`, exact lowercase).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LogFacility {
    Auth,
    Authpriv,
    Cron,
    Daemon,
    Ftp,
    Kern,
    Lpr,
    Mail,
    News,
    Security,
    Syslog,
    User,
    Uucp,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl LogFacility {
    const ALL: [LogFacility; 21] = [
        LogFacility::Auth,
        LogFacility::Authpriv,
        LogFacility::Cron,
        LogFacility::Daemon,
        LogFacility::Ftp,
        LogFacility::Kern,
        LogFacility::Lpr,
        LogFacility::Mail,
        LogFacility::News,
        LogFacility::Security,
        LogFacility::Syslog,
        LogFacility::User,
        LogFacility::Uucp,
        LogFacility::Local0,
        LogFacility::Local1,
        LogFacility::Local2,
        LogFacility::Local3,
        LogFacility::Local4,
        LogFacility::Local5,
        LogFacility::Local6,
        LogFacility::Local7,
    ];

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|f| f.name() == name)
    }

    pub const fn name(self) -> &'static str {
        match self {
            LogFacility::Auth => "auth",
            LogFacility::Authpriv => "authpriv",
            LogFacility::Cron => "cron",
            LogFacility::Daemon => "daemon",
            LogFacility::Ftp => "ftp",
            LogFacility::Kern => "kern",
            LogFacility::Lpr => "lpr",
            LogFacility::Mail => "mail",
            LogFacility::News => "news",
            LogFacility::Security => "security",
            LogFacility::Syslog => "syslog",
            LogFacility::User => "user",
            LogFacility::Uucp => "uucp",
            LogFacility::Local0 => "local0",
            LogFacility::Local1 => "local1",
            LogFacility::Local2 => "local2",
            LogFacility::Local3 => "local3",
            LogFacility::Local4 => "local4",
            LogFacility::Local5 => "local5",
            LogFacility::Local6 => "local6",
            LogFacility::Local7 => "local7",
        }
    }

    /// The syslog facility code (`LOG_*`, already shifted left by 3), as glibc defines them.
    pub const fn code(self) -> u32 {
        let n = match self {
            LogFacility::Kern => 0,
            LogFacility::User => 1,
            LogFacility::Mail => 2,
            LogFacility::Daemon => 3,
            LogFacility::Auth | LogFacility::Security => 4,
            LogFacility::Syslog => 5,
            LogFacility::Lpr => 6,
            LogFacility::News => 7,
            LogFacility::Uucp => 8,
            LogFacility::Cron => 9,
            LogFacility::Authpriv => 10,
            LogFacility::Ftp => 11,
            LogFacility::Local0 => 16,
            LogFacility::Local1 => 17,
            LogFacility::Local2 => 18,
            LogFacility::Local3 => 19,
            LogFacility::Local4 => 20,
            LogFacility::Local5 => 21,
            LogFacility::Local6 => 22,
            LogFacility::Local7 => 23,
        };
        n << 3
    }
}

/// A heartbeat medium. The link name (`Link node1:eth0 up`) is [`Medium::link_name`].
#[derive(Clone, Debug, PartialEq, Eq)]
// No allocator, so the big variants cannot be boxed; the media table is fixed-size anyway.
#[allow(clippy::large_enum_variant)]
pub enum Medium {
    /// `bcast <iface>`: UDP broadcast on the interface's broadcast address.
    Bcast { iface: Iface, port: u16 },
    /// `mcast <iface> <group> <port> <ttl> <loop>`.
    Mcast {
        iface: Iface,
        group: [u8; 4],
        port: u16,
        ttl: u8,
        loopback: bool,
    },
    /// `ucast <iface> <peer>`; `peer` as written (address or name, resolved by the daemon).
    Ucast { iface: Iface, peer: Host, port: u16 },
    /// `serial <device>` at the baud rate latched when the first serial line was read.
    Serial { device: Path, baud: u32 },
    /// `ping <host>`: a ping node named after the host, lowercased.
    Ping { host: Host },
    /// `ping_group <name> <host>...`: one ping node alive while any host answers.
    PingGroup { name: NodeName, hosts: HostList },
    /// `mcast6 <iface> <group> <port> <hops> <loop>`.
    Mcast6 {
        iface: Iface,
        group: [u8; 16],
        port: u16,
        hops: u8,
        loopback: bool,
    },
    /// `ping6 <host>`.
    Ping6 { host: Host },
    /// `relay <device> [baud]`: hb's own medium, a serial line to the relay board
    /// (`hb-firmware/PROTOCOL.md`), which forwards compact heartbeat frames to the other hosts
    /// wired to it. Not a heartbeat 3.0.6 directive (3.0.6 refuses the line), so only hb
    /// nodes' ha.cf may carry it.
    Relay { device: Path, baud: u32 },
    /// Media hb does not model, kept as written for the daemon to accept or refuse.
    Other { kind: OtherMedium, args: Args },
}

/// The hosts of a `ping_group`, as written. Kept in one string rather than a table of
/// [`Host`]s so that every [`Medium`] stays small.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostList {
    text: Args,
    count: u8,
}

impl HostList {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.text.split(' ').filter(|h| !h.is_empty())
    }
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn push(&mut self, host: &str) -> Result<(), ()> {
        if self.len() >= MAX_PING_GROUP_HOSTS {
            return Err(());
        }
        let mark = self.text.len();
        let sep = if self.text.is_empty() { "" } else { " " };
        if self
            .text
            .push_str(sep)
            .and_then(|()| self.text.push_str(host))
            .is_err()
        {
            self.text.truncate(mark);
            return Err(());
        }
        self.count += 1;
        Ok(())
    }
}

/// Media directives heartbeat knows but hb keeps only as raw text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OtherMedium {
    Hbaping,
    Openais,
    Rds,
    Tipc,
    Ucast6,
}

impl OtherMedium {
    pub const fn directive(self) -> &'static str {
        match self {
            OtherMedium::Hbaping => "hbaping",
            OtherMedium::Openais => "openais",
            OtherMedium::Rds => "rds",
            OtherMedium::Tipc => "tipc",
            OtherMedium::Ucast6 => "ucast6",
        }
    }
}

impl Medium {
    /// The directive that declares this medium.
    pub fn directive(&self) -> &'static str {
        match self {
            Medium::Bcast { .. } => "bcast",
            Medium::Mcast { .. } => "mcast",
            Medium::Ucast { .. } => "ucast",
            Medium::Serial { .. } => "serial",
            Medium::Ping { .. } => "ping",
            Medium::PingGroup { .. } => "ping_group",
            Medium::Mcast6 { .. } => "mcast6",
            Medium::Ping6 { .. } => "ping6",
            Medium::Relay { .. } => "relay",
            Medium::Other { kind, .. } => kind.directive(),
        }
    }

    /// The link name heartbeat shows (`cl_status listhblinks`): the interface for IP media
    /// (two ucast lines on one interface share it), the device path for serial, the node name
    /// for ping media.
    pub fn link_name(&self) -> &str {
        match self {
            Medium::Bcast { iface, .. }
            | Medium::Mcast { iface, .. }
            | Medium::Ucast { iface, .. }
            | Medium::Mcast6 { iface, .. } => iface,
            Medium::Serial { device, .. } | Medium::Relay { device, .. } => device,
            Medium::Ping { host } | Medium::Ping6 { host } => host,
            Medium::PingGroup { name, .. } => name,
            Medium::Other { args, .. } => args,
        }
    }

    /// Ping media create ping nodes instead of carrying heartbeats between cluster nodes.
    pub fn is_ping(&self) -> bool {
        matches!(
            self,
            Medium::Ping { .. }
                | Medium::Ping6 { .. }
                | Medium::PingGroup { .. }
                | Medium::Other {
                    kind: OtherMedium::Hbaping,
                    ..
                }
        )
    }
}

/// A `respawn` or `failfast` line: a helper started after comm-up as `user`, through
/// `/bin/sh -c "exec <command>"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientChild {
    pub user: Name,
    /// The whole command line; starts with an absolute path.
    pub command: String<COMMAND_LEN>,
    /// `failfast`: reboot the machine if the child dies abnormally.
    pub failfast: bool,
}

impl ClientChild {
    /// The program: the command's first word (the daemon checks it is executable).
    pub fn path(&self) -> &str {
        self.command.split(WHITESPACE).next().unwrap_or("")
    }
}

/// An `apiauth client [uid=u1,u2] [gid=g1,g2]` line (or a built-in one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiAuth {
    pub client: Name,
    /// Comma-separated user names as written (empty: none).
    pub uids: String<ID_LIST_LEN>,
    /// Comma-separated group names as written (empty: none).
    pub gids: String<ID_LIST_LEN>,
    /// Added by heartbeat's defaults rather than written in the file.
    pub builtin: bool,
}

impl ApiAuth {
    pub fn uids(&self) -> impl Iterator<Item = &str> {
        self.uids.split(',').filter(|s| !s.is_empty())
    }
    pub fn gids(&self) -> impl Iterator<Item = &str> {
        self.gids.split(',').filter(|s| !s.is_empty())
    }
}

/// `env NAME=value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvVar {
    /// Without the `HA_` prefix the children see.
    pub name: Name,
    pub value: Args,
}

/// `stonith <type> <config-file>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stonith {
    pub kind: Name,
    pub config_file: Path,
}

/// `stonith_host <from-host> <type> <params...>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StonithHost {
    /// The node that may use this device (lowercased), or `*` for any.
    pub from_host: NodeName,
    pub kind: Name,
    /// Plugin parameters, as written.
    pub params: Args,
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

// ---------------------------------------------------------------------------------------------
// Parsing.

/// Option directives: the rest of the line is split on `DELIMS` and each word applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opt {
    Node,
    Keepalive,
    Deadtime,
    Deadping,
    Warntime,
    Initdead,
    Hopfudge,
    Udpport,
    Baud,
    AutoFailback,
    NiceFailback,
    Watchdog,
    Logfile,
    Debugfile,
    Logfacility,
    UseLogd,
    ConnLogdTime,
    Syslogmsgfmt,
    Debug,
    Realtime,
    Rtprio,
    Memreserve,
    Coredumps,
    Coreroot,
    Hbgenmethod,
    Uuidfrom,
    Autojoin,
    Msgfmt,
    Compression,
    CompressionThreshold,
    TraditionalCompression,
    MaxRexmitDelay,
    LogBadpack,
    Cluster,
    QuorumServer,
    Pacemaker,
    UseApphbd,
    Env,
    RecordConfigChanges,
    RecordPengineInputs,
    EnableConfigWrites,
}

impl Opt {
    fn from_name(name: &str) -> Option<Opt> {
        Some(match name {
            "node" => Opt::Node,
            "keepalive" => Opt::Keepalive,
            "deadtime" => Opt::Deadtime,
            "deadping" => Opt::Deadping,
            "warntime" => Opt::Warntime,
            "initdead" => Opt::Initdead,
            "hopfudge" => Opt::Hopfudge,
            "udpport" => Opt::Udpport,
            "baud" => Opt::Baud,
            "auto_failback" => Opt::AutoFailback,
            "nice_failback" => Opt::NiceFailback,
            "watchdog" => Opt::Watchdog,
            "logfile" => Opt::Logfile,
            "debugfile" => Opt::Debugfile,
            "logfacility" => Opt::Logfacility,
            "use_logd" => Opt::UseLogd,
            "conn_logd_time" => Opt::ConnLogdTime,
            "syslogmsgfmt" => Opt::Syslogmsgfmt,
            "debug" => Opt::Debug,
            "realtime" => Opt::Realtime,
            "rtprio" => Opt::Rtprio,
            "memreserve" => Opt::Memreserve,
            "coredumps" => Opt::Coredumps,
            "coreroot" => Opt::Coreroot,
            "hbgenmethod" => Opt::Hbgenmethod,
            "uuidfrom" => Opt::Uuidfrom,
            "autojoin" => Opt::Autojoin,
            "msgfmt" => Opt::Msgfmt,
            "compression" => Opt::Compression,
            "compression_threshold" => Opt::CompressionThreshold,
            "traditional_compression" => Opt::TraditionalCompression,
            "max_rexmit_delay" => Opt::MaxRexmitDelay,
            "log_badpack" => Opt::LogBadpack,
            "cluster" => Opt::Cluster,
            "quorum_server" => Opt::QuorumServer,
            "crm" | "pacemaker" => Opt::Pacemaker,
            "use_apphbd" => Opt::UseApphbd,
            "env" => Opt::Env,
            "record_config_changes" => Opt::RecordConfigChanges,
            "record_pengine_inputs" => Opt::RecordPengineInputs,
            "enable_config_writes" => Opt::EnableConfigWrites,
            _ => return None,
        })
    }
}

/// Media declared one per word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WordMedium {
    Bcast,
    Serial,
    Ping,
    Ping6,
    Other(OtherMedium),
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

    fn line(&mut self, r: &mut Reporter<'_>, line_no: u32, raw: &str) {
        if raw.len() > MAX_LINE_LEN {
            r.error(
                Pos::new(line_no, 1),
                format_args!(
                    "line is {} bytes long; heartbeat reads at most {MAX_LINE_LEN} bytes per line",
                    raw.len()
                ),
            );
            return;
        }
        let content = strip_comment(raw);
        let Some(name) = Words::new(line_no, content, 0, WHITESPACE).next() else {
            return;
        };
        let mut directive = name.text;
        if directive == "udp" {
            r.warning(name.at, format_args!("directive 'udp' replaced by 'bcast'"));
            directive = "bcast";
        }
        // heartbeat skips DELIMS after the name for every kind of directive, so even a
        // whole-line directive may be followed by a comma.
        let values = Words::new(line_no, content, name.end, DELIMS);
        let rest_start = content
            .get(name.end..)
            .and_then(|t| t.find(|c: char| !DELIMS.contains(&c)))
            .map_or(content.len(), |skip| name.end + skip);
        let line_words = Words::new(line_no, content, rest_start, WHITESPACE);

        let word_medium = match directive {
            "stonith" => return self.stonith(r, name, line_words),
            "stonith_host" => return self.stonith_host(r, name, line_words),
            "apiauth" => return self.apiauth(r, name, line_words),
            "respawn" => return self.client_child(r, name, line_words, false),
            "failfast" => return self.client_child(r, name, line_words, true),
            "mcast" => return self.mcast(r, name, line_words),
            "mcast6" => return self.mcast6(r, name, line_words),
            "ucast" => return self.ucast(r, name, line_words),
            "ping_group" => return self.ping_group(r, name, line_words),
            "relay" => return self.relay(r, name, line_words),
            "rds" => return self.other_line_medium(r, name, OtherMedium::Rds, line_words),
            "tipc" => return self.other_line_medium(r, name, OtherMedium::Tipc, line_words),
            "ucast6" => return self.other_line_medium(r, name, OtherMedium::Ucast6, line_words),
            "bcast" => Some(WordMedium::Bcast),
            "serial" => Some(WordMedium::Serial),
            "ping" => Some(WordMedium::Ping),
            "ping6" => Some(WordMedium::Ping6),
            "hbaping" => Some(WordMedium::Other(OtherMedium::Hbaping)),
            "openais" => Some(WordMedium::Other(OtherMedium::Openais)),
            _ => None,
        };
        let opt = Opt::from_name(directive);
        if word_medium.is_none() && opt.is_none() {
            return illegal_directive(r, name);
        }
        let mut any = false;
        for w in values {
            any = true;
            match (word_medium, opt) {
                (Some(kind), _) => self.word_medium(r, kind, w),
                (None, Some(opt)) => self.option(r, opt, w),
                (None, None) => {}
            }
        }
        if !any {
            // heartbeat silently ignores the line; an empty directive is almost always a slip.
            r.warning(
                name.at,
                format_args!("{directive} has no value; line ignored"),
            );
        }
    }

    fn option(&mut self, r: &mut Reporter<'_>, opt: Opt, w: Word<'_>) {
        let v = w.text;
        let at = w.at;
        match opt {
            Opt::Node => self.node(r, w),
            Opt::Keepalive => {
                if let Some(d) = time_value(r, "keepalive", w) {
                    if d == Duration::ZERO {
                        r.error(
                            at,
                            format_args!(
                                "keepalive: invalid time value [{}] (keepalive \
                            must be more than 0 ms)",
                                Shown(v)
                            ),
                        );
                    } else {
                        self.cf.keepalive = d;
                        self.keepalive_at = Some(at);
                    }
                }
            }
            Opt::Deadtime => {
                if let Some(d) = time_value(r, "deadtime", w) {
                    self.cf.deadtime = d;
                    self.deadtime_at = Some(at);
                }
            }
            Opt::Deadping => {
                if let Some(d) = time_value(r, "deadping", w) {
                    self.deadping = Some((d, at));
                }
            }
            Opt::Initdead => {
                if let Some(d) = time_value(r, "initdead", w) {
                    self.initdead = Some((d, at));
                }
            }
            Opt::Warntime => match parse_msec(v) {
                Ok(d) if d > Duration::ZERO => self.warntime = Some(d),
                Ok(_) => r.error(
                    at,
                    format_args!(
                        "Warn time [{}] is invalid. It must be more \
                    than 0 ms.",
                        Shown(v)
                    ),
                ),
                Err(TimeError::TooLarge) => r.error(
                    at,
                    format_args!(
                        "Warn time [{}] is invalid. It \
                    is too large.",
                        Shown(v)
                    ),
                ),
                Err(TimeError::Syntax) => r.error(
                    at,
                    format_args!(
                        "Warn time [{}] is invalid. Use a number of seconds, or a number \
                        with an ms suffix such as 500ms.",
                        Shown(v)
                    ),
                ),
            },
            Opt::Hopfudge => match small_int(v, 0, 255) {
                Some(n) => self.cf.hopfudge = n,
                None => r.error(
                    at,
                    format_args!(
                        "hopfudge: invalid value [{}] (use an integer \
                    from 0 to 255)",
                        Shown(v)
                    ),
                ),
            },
            Opt::Debug => match small_int(v, 0, 255) {
                Some(n) => self.cf.debug = n,
                None => r.error(
                    at,
                    format_args!(
                        "debug: invalid level [{}] (use an integer from \
                    0 to 255)",
                        Shown(v)
                    ),
                ),
            },
            Opt::Udpport => self.udpport(r, w),
            Opt::Baud => self.baud(r, w),
            Opt::AutoFailback => {
                let mode = match parse_bool(v) {
                    Some(true) => AutoFailback::On,
                    Some(false) => AutoFailback::Off,
                    None if v.eq_ignore_ascii_case("legacy") => AutoFailback::Legacy,
                    None => {
                        return r.error(
                            at,
                            format_args!(
                                "auto_failback: invalid value [{}] (use \
                            on, off or legacy)",
                                Shown(v)
                            ),
                        );
                    }
                };
                self.auto_failback = Some((mode, at));
            }
            Opt::NiceFailback => self.nice_failback(r, w),
            Opt::Watchdog => {
                if self.watchdog_seen {
                    return r.error(at, format_args!("Watchdog device multiply specified."));
                }
                self.watchdog_seen = true;
                // hb's relay board as the watchdog: `relay:` and the relay's tty, which must
                // be a full path as a `relay` line's (heartbeat's value is a path, so a real
                // device path never starts with `relay:`).
                if let Some(dev) = v.strip_prefix("relay:") {
                    if !dev.starts_with('/') {
                        return r.error(
                            at,
                            format_args!(
                                "watchdog [{}]: the relay's device is not a full pathname \
                                (watchdog relay:/dev/ttyUSB0)",
                                Shown(v)
                            ),
                        );
                    }
                }
                self.cf.watchdog = path(r, "watchdog", w);
            }
            Opt::Logfile => self.cf.logfile = path(r, "logfile", w).or(self.cf.logfile.take()),
            Opt::Debugfile => {
                self.cf.debugfile = path(r, "debugfile", w).or(self.cf.debugfile.take())
            }
            Opt::Logfacility => {
                if v == "none" {
                    self.cf.logfacility = None;
                } else if let Some(f) = LogFacility::from_name(v) {
                    self.cf.logfacility = Some(f);
                } else {
                    r.error(
                        at,
                        format_args!(
                            "Log facility({}) not valid (use none, auth, \
                             authpriv, cron, daemon, ftp, kern, lpr, mail, news, security, syslog, \
                             user, uucp or local0 to local7)",
                            Shown(v)
                        ),
                    );
                }
            }
            Opt::UseLogd => {
                if let Some(b) = boolean(r, "use_logd", w) {
                    self.use_logd = Some((b, at));
                }
            }
            Opt::ConnLogdTime => {
                if let Some(d) = time_value(r, "conn_logd_time", w) {
                    if d == Duration::ZERO {
                        r.error(
                            at,
                            format_args!(
                                "conn_logd_time: invalid time value [{}] (it \
                            must be more than 0 ms)",
                                Shown(v)
                            ),
                        );
                    } else {
                        self.cf.conn_logd_time = d;
                    }
                }
            }
            Opt::Syslogmsgfmt => set_bool(r, "syslogmsgfmt", w, &mut self.cf.syslogmsgfmt),
            Opt::Realtime => set_bool(r, "realtime", w, &mut self.cf.realtime),
            Opt::Coredumps => set_bool(r, "coredumps", w, &mut self.cf.coredumps),
            Opt::LogBadpack => set_bool(r, "log_badpack", w, &mut self.cf.log_badpack),
            Opt::UseApphbd => set_bool(r, "use_apphbd", w, &mut self.cf.use_apphbd),
            Opt::TraditionalCompression => set_bool(
                r,
                "traditional_compression",
                w,
                &mut self.cf.traditional_compression,
            ),
            Opt::RecordConfigChanges => set_bool(
                r,
                "record_config_changes",
                w,
                &mut self.cf.record_config_changes,
            ),
            Opt::RecordPengineInputs => set_bool(
                r,
                "record_pengine_inputs",
                w,
                &mut self.cf.record_pengine_inputs,
            ),
            Opt::EnableConfigWrites => set_bool(
                r,
                "enable_config_writes",
                w,
                &mut self.cf.enable_config_writes,
            ),
            Opt::Rtprio => match small_int(v, 1, 99) {
                Some(n) => self.cf.rtprio = Some(n),
                None => r.error(
                    at,
                    format_args!(
                        "Illegal realtime priority [{}] (use an integer \
                    from 1 to 99)",
                        Shown(v)
                    ),
                ),
            },
            Opt::Memreserve => match positive_u32(v) {
                Some(n) => self.cf.memreserve_kib = n,
                None => r.error(
                    at,
                    format_args!(
                        "memreserve: invalid size [{}] (use a positive \
                    number of KiB)",
                        Shown(v)
                    ),
                ),
            },
            Opt::Coreroot => {
                if let Some(p) = path(r, "coreroot", w) {
                    self.cf.coreroot = p;
                }
            }
            Opt::Hbgenmethod => match v {
                "file" => self.cf.hbgenmethod = GenMethod::File,
                "time" => self.cf.hbgenmethod = GenMethod::Time,
                _ => r.error(
                    at,
                    format_args!(
                        "Illegal hb generation method [{}] (use file or \
                    time)",
                        Shown(v)
                    ),
                ),
            },
            Opt::Uuidfrom => match v {
                "file" => self.cf.uuidfrom = UuidFrom::File,
                "nodename" => self.cf.uuidfrom = UuidFrom::NodeName,
                _ => r.error(
                    at,
                    format_args!(
                        "Invalid uuidfrom directive [{}] (use file or \
                    nodename)",
                        Shown(v)
                    ),
                ),
            },
            Opt::Autojoin => {
                let mode = if v.eq_ignore_ascii_case("none") {
                    AutoJoin::None
                } else if v.eq_ignore_ascii_case("other") {
                    AutoJoin::Other
                } else if v.eq_ignore_ascii_case("any") {
                    AutoJoin::Any
                } else {
                    return r.error(
                        at,
                        format_args!(
                            "Invalid autojoin directive [{}] (use none, \
                        other or any)",
                            Shown(v)
                        ),
                    );
                };
                self.cf.autojoin = mode;
                self.autojoin_at = Some(at);
            }
            Opt::Msgfmt => match v {
                "classic" => self.cf.msgfmt = MsgFmt::Classic,
                "netstring" => self.cf.msgfmt = MsgFmt::Netstring,
                _ => r.error(
                    at,
                    format_args!(
                        "msgfmt: invalid value [{}] (use classic or \
                    netstring)",
                        Shown(v)
                    ),
                ),
            },
            Opt::Compression => match v {
                "zlib" => self.cf.compression = Compression::Zlib,
                "bz2" => self.cf.compression = Compression::Bz2,
                _ => r.error(
                    at,
                    format_args!(
                        "compression: unknown module [{}] (use zlib or bz2)",
                        Shown(v)
                    ),
                ),
            },
            Opt::CompressionThreshold => match positive_u32(v) {
                Some(n) => self.cf.compression_threshold_kib = n,
                None => r.error(
                    at,
                    format_args!(
                        "compress_threshhold({}) invalid (use a positive \
                    number of KiB)",
                        Shown(v)
                    ),
                ),
            },
            Opt::MaxRexmitDelay => match positive_u32(v) {
                Some(n) => self.cf.max_rexmit_delay = Duration::from_millis(u64::from(n)),
                None => r.error(
                    at,
                    format_args!(
                        "Invalid max_rexmit_delay time({}) (use a positive \
                        number of milliseconds)",
                        Shown(v)
                    ),
                ),
            },
            Opt::Cluster => {
                if let Some(h) = host(r, "cluster", w) {
                    self.cf.cluster = h;
                }
            }
            Opt::QuorumServer => {
                if let Some(h) = host(r, "quorum_server", w) {
                    // heartbeat records quorum_server under the cluster name too.
                    self.cf.cluster = h.clone();
                    self.cf.quorum_server = Some(h);
                }
            }
            Opt::Pacemaker => {
                let mode = match parse_bool(v) {
                    Some(true) => Pacemaker::On,
                    Some(false) => Pacemaker::Off,
                    None if v.eq_ignore_ascii_case("respawn") => Pacemaker::Respawn,
                    None if v.eq_ignore_ascii_case("manual") => Pacemaker::Manual,
                    None if v.eq_ignore_ascii_case("minimal") => Pacemaker::Minimal,
                    None if v.eq_ignore_ascii_case("valgrind") => Pacemaker::Valgrind,
                    None => {
                        return r.error(
                            at,
                            format_args!(
                                "crm: invalid value [{}] (use on, off, respawn, manual, \
                                minimal or valgrind)",
                                Shown(v)
                            ),
                        );
                    }
                };
                self.cf.pacemaker = mode;
            }
            Opt::Env => self.env(r, w),
        }
    }

    fn node(&mut self, r: &mut Reporter<'_>, w: Word<'_>) {
        let Some(name) = lowercase::<NODE_NAME_LEN>(w.text) else {
            return r.error(
                w.at,
                format_args!(
                    "node name [{}] is too long (at most {NODE_NAME_LEN} bytes, the \
                    limit of uname -n)",
                    Shown(w.text)
                ),
            );
        };
        self.cf.node_at.get_or_insert(w.at);
        if self.cf.nodes.contains(&name) {
            return r.warning(
                w.at,
                format_args!("node [{name}] is declared more than once; the repeat is ignored"),
            );
        }
        if self.cf.nodes.push(name).is_err() {
            r.error(
                w.at,
                format_args!(
                    "too many nodes: hb supports at most {MAX_NODES} (heartbeat \
                        {HEARTBEAT_MAX_NODES}); node [{}] not added",
                    Shown(w.text)
                ),
            );
        }
    }

    fn udpport(&mut self, r: &mut Reporter<'_>, w: Word<'_>) {
        let Some(port) = port(w.text) else {
            return r.error(
                w.at,
                format_args!(
                    "invalid port [{}] specified. Use a UDP port from 1 to 65535.",
                    Shown(w.text)
                ),
            );
        };
        let too_late = match (self.bcast_port, self.ucast_port) {
            (Some(b), Some(u)) if b == u => Some(("bcast and ucast", b)),
            (Some(b), Some(u)) => {
                r.warning(
                    w.at,
                    format_args!(
                        "udpport setting must precede media statements; the bcast media above \
                         keep port {b} and the ucast media above keep port {u}"
                    ),
                );
                None
            }
            (Some(b), None) => Some(("bcast", b)),
            (None, Some(u)) => Some(("ucast", u)),
            (None, None) => None,
        };
        if let Some((kinds, kept)) = too_late {
            r.warning(
                w.at,
                format_args!(
                    "udpport setting must precede media statements; the \
                {kinds} media above keep port {kept}"
                ),
            );
        }
        self.cf.udpport = port;
    }

    fn baud(&mut self, r: &mut Reporter<'_>, w: Word<'_>) {
        if self.baud_seen {
            return r.error(w.at, format_args!("Baudrate multiply specified."));
        }
        self.baud_seen = true;
        let rate = parse_decimal(w.text)
            .and_then(|b| u32::try_from(b).ok())
            .filter(|b| BAUD_RATES.contains(b));
        let Some(rate) = rate else {
            return r.error(
                w.at,
                format_args!(
                    "invalid baudrate [{}] specified. Use one of 9600, 19200, 38400, 57600, \
                        115200, 230400, 460800.",
                    Shown(w.text)
                ),
            );
        };
        if let Some(kept) = self.serial_baud {
            r.warning(
                w.at,
                format_args!(
                    "baudrate setting must precede media statements; the \
                serial media above keep {kept} baud"
                ),
            );
        }
        self.cf.baud = rate;
    }

    /// heartbeat maps the obsolete `nice_failback` from the state left by earlier lines, not
    /// from its own value: after an `auto_failback on|off` line it means `off`, otherwise
    /// `legacy` [config.c: set_nice_failback].
    fn nice_failback(&mut self, r: &mut Reporter<'_>, w: Word<'_>) {
        const OBSOLETE: &str =
            "nice_failback flag is obsolete.. Use auto_failback {on, off, legacy} instead.";
        let v = Shown(w.text);
        if parse_bool(w.text).is_none() {
            return r.error(
                w.at,
                format_args!("nice_failback: invalid value [{v}] ({BOOL_HINT}); {OBSOLETE}"),
            );
        }
        if matches!(
            self.auto_failback,
            Some((AutoFailback::On | AutoFailback::Off, _))
        ) {
            r.warning(
                w.at,
                format_args!(
                    "{OBSOLETE} 'nice_failback {v}' has been changed to 'auto_failback off'"
                ),
            );
            self.auto_failback = Some((AutoFailback::Off, w.at));
        } else {
            r.warning(
                w.at,
                format_args!(
                    "{OBSOLETE} nice_failback {v} has been strictly interpreted as \
                     'auto_failback legacy'. Consider converting to 'auto_failback on'."
                ),
            );
            self.auto_failback = Some((AutoFailback::Legacy, w.at));
        }
    }

    fn env(&mut self, r: &mut Reporter<'_>, w: Word<'_>) {
        let pair = w.text.split_once('=').filter(|(name, _)| !name.is_empty());
        let Some((name, value)) = pair else {
            return r.error(
                w.at,
                format_args!(
                    "env: invalid nvpair({}) (use NAME=value; children see it as HA_NAME)",
                    Shown(w.text)
                ),
            );
        };
        let (Some(name), Some(value)) = (bounded(name), bounded(value)) else {
            return r.error(
                w.at,
                format_args!(
                    "env: [{}] is too long (name at most {NAME_LEN} bytes, value at most \
                    {ARGS_LEN})",
                    Shown(w.text)
                ),
            );
        };
        if self.cf.env.push(EnvVar { name, value }).is_err() {
            r.error(
                w.at,
                format_args!("too many env entries (hb supports at most {MAX_ENV})"),
            );
        }
    }

    fn push_medium(&mut self, r: &mut Reporter<'_>, at: Pos, medium: Medium) {
        if self.cf.media.push(Located { value: medium, at }).is_err() {
            r.error(at, format_args!("Too many media specified (> {MAX_MEDIA})"));
        }
    }

    fn word_medium(&mut self, r: &mut Reporter<'_>, kind: WordMedium, w: Word<'_>) {
        let medium = match kind {
            WordMedium::Bcast => {
                let Some(iface) = iface(r, "bcast", w) else {
                    return;
                };
                let port = *self.bcast_port.get_or_insert(self.cf.udpport);
                Medium::Bcast { iface, port }
            }
            WordMedium::Serial => {
                if !w.text.starts_with('/') {
                    return r.error(
                        w.at,
                        format_args!(
                            "Serial port not full pathname [{}] in config file",
                            Shown(w.text)
                        ),
                    );
                }
                let Some(device) = path(r, "serial", w) else {
                    return;
                };
                let relay =
                    self.cf.media.iter().any(
                        |m| matches!(&m.value, Medium::Relay { device: d, .. } if *d == device),
                    );
                if relay {
                    return r.error(
                        w.at,
                        format_args!(
                            "serial [{device}]: the device is a relay's (`relay {device}` above); \
                            a relay's line is never also `serial`"
                        ),
                    );
                }
                let baud = *self.serial_baud.get_or_insert(self.cf.baud);
                Medium::Serial { device, baud }
            }
            WordMedium::Ping => {
                let Some(host) = ping_host(r, "ping", w) else {
                    return;
                };
                Medium::Ping { host }
            }
            WordMedium::Ping6 => {
                let Some(host) = ping_host(r, "ping6", w) else {
                    return;
                };
                Medium::Ping6 { host }
            }
            WordMedium::Other(kind) => {
                let Some(args) = args(r, kind.directive(), w) else {
                    return;
                };
                Medium::Other { kind, args }
            }
        };
        self.push_medium(r, w.at, medium);
    }

    /// `mcast <dev> <group> <port> <ttl> <loop>` [HBcomm/mcast.c: mcast_parse]; all five
    /// are required, and like heartbeat we stop at the first bad one.
    fn mcast(&mut self, r: &mut Reporter<'_>, name: Word<'_>, mut words: Words<'_>) {
        let Some(dev) = words.next() else {
            return r.error(
                name.at,
                format_args!(
                    "mcast: missing interface (syntax: mcast <dev> <group> <port> <ttl> <loop>)"
                ),
            );
        };
        let Some(iface) = iface(r, "mcast", dev) else {
            return;
        };
        let d = Shown(dev.text);
        let Some(g) = words.next() else {
            return r.error(name.at, format_args!("mcast [{d}] missing mcast address"));
        };
        let Some(group) = parse_ipv4(g.text).filter(|a| a[0] & 0xf0 == 0xe0) else {
            return r.error(
                g.at,
                format_args!(
                    "mcast [{d}] bad addr [{}] (use an IPv4 multicast group, 224.0.0.0 \
                    to 239.255.255.255)",
                    Shown(g.text)
                ),
            );
        };
        let Some((port, ttl, loopback)) = port_ttl_loop(r, "mcast", "ttl", name, d, &mut words)
        else {
            return;
        };
        warn_extra_words(r, "mcast", d, words);
        self.push_medium(
            r,
            dev.at,
            Medium::Mcast {
                iface,
                group,
                port,
                ttl,
                loopback,
            },
        );
    }

    fn mcast6(&mut self, r: &mut Reporter<'_>, name: Word<'_>, mut words: Words<'_>) {
        let Some(dev) = words.next() else {
            return r.error(
                name.at,
                format_args!(
                    "mcast6: missing interface (syntax: mcast6 <dev> <group> <port> <hops> <loop>)"
                ),
            );
        };
        let Some(iface) = iface(r, "mcast6", dev) else {
            return;
        };
        let d = Shown(dev.text);
        let Some(g) = words.next() else {
            return r.error(name.at, format_args!("mcast6 [{d}] missing mcast address"));
        };
        let Some(group) = Ipv6Addr::from_str(g.text)
            .ok()
            .filter(Ipv6Addr::is_multicast)
        else {
            return r.error(
                g.at,
                format_args!(
                    "mcast6 [{d}] bad addr [{}] (use an IPv6 multicast group, ff00::/8)",
                    Shown(g.text)
                ),
            );
        };
        let Some((port, hops, loopback)) = port_ttl_loop(r, "mcast6", "hops", name, d, &mut words)
        else {
            return;
        };
        warn_extra_words(r, "mcast6", d, words);
        self.push_medium(
            r,
            dev.at,
            Medium::Mcast6 {
                iface,
                group: group.octets(),
                port,
                hops,
                loopback,
            },
        );
    }

    /// `ucast <dev> <peer>` [HBcomm/ucast.c: ucast_parse]: only the first two words count.
    fn ucast(&mut self, r: &mut Reporter<'_>, name: Word<'_>, mut words: Words<'_>) {
        let Some(dev) = words.next() else {
            return r.error(
                name.at,
                format_args!("ucast: missing interface (syntax: ucast <dev> <peer>)"),
            );
        };
        let Some(iface) = iface(r, "ucast", dev) else {
            return;
        };
        let d = Shown(dev.text);
        let Some(p) = words.next() else {
            return r.error(
                name.at,
                format_args!("ucast: [{d}] missing target IP address/hostname"),
            );
        };
        let Some(peer) = host(r, "ucast", p) else {
            return;
        };
        warn_extra_words(r, "ucast", d, words);
        let port = *self.ucast_port.get_or_insert(self.cf.udpport);
        self.push_medium(r, dev.at, Medium::Ucast { iface, peer, port });
    }

    /// `relay <device> [baud]`: the device must be a full path (as `serial`'s), the speed one
    /// of `baud`'s, [`DEFAULT_RELAY_BAUD`] when left out (the boards' speed, whatever the
    /// global `baud` says: that one is the speed of the peer-to-peer serial lines).
    fn relay(&mut self, r: &mut Reporter<'_>, name: Word<'_>, mut words: Words<'_>) {
        const SYNTAX: &str = "syntax: relay <device> [baud]";
        let Some(dev) = words.next() else {
            return r.error(name.at, format_args!("relay: missing device ({SYNTAX})"));
        };
        if !dev.text.starts_with('/') {
            return r.error(
                dev.at,
                format_args!(
                    "relay: device [{}] is not a full pathname ({SYNTAX})",
                    Shown(dev.text)
                ),
            );
        }
        let Some(device) = path(r, "relay", dev) else {
            return;
        };
        let baud = match words.next() {
            None => DEFAULT_RELAY_BAUD,
            Some(b) => {
                let rate = parse_decimal(b.text)
                    .and_then(|v| u32::try_from(v).ok())
                    .filter(|v| BAUD_RATES.contains(v));
                let Some(rate) = rate else {
                    return r.error(
                        b.at,
                        format_args!(
                            "relay [{device}]: invalid baudrate [{}]. Use one of 9600, 19200, \
                            38400, 57600, 115200, 230400, 460800.",
                            Shown(b.text)
                        ),
                    );
                };
                rate
            }
        };
        warn_extra_words(r, "relay", Shown(dev.text), words);
        let taken = self.cf.media.iter().any(|m| {
            matches!(&m.value, Medium::Relay { device: d, .. } | Medium::Serial { device: d, .. } if *d == device)
        });
        if taken {
            return r.error(
                dev.at,
                format_args!(
                    "relay [{device}]: the device is already a medium above (one line per device; \
                    a relay's line is `relay`, never also `serial`)"
                ),
            );
        }
        self.push_medium(r, dev.at, Medium::Relay { device, baud });
    }

    fn ping_group(&mut self, r: &mut Reporter<'_>, name: Word<'_>, mut words: Words<'_>) {
        const SYNTAX: &str = "syntax: ping_group <name> <host> [<host>...]";
        let Some(group) = words.next() else {
            return r.error(
                name.at,
                format_args!("ping_group: missing group name ({SYNTAX})"),
            );
        };
        let Some(group_name) = lowercase::<NODE_NAME_LEN>(group.text) else {
            return r.error(
                group.at,
                format_args!(
                    "ping_group: name [{}] is too long (at most {NODE_NAME_LEN} bytes)",
                    Shown(group.text)
                ),
            );
        };
        let mut hosts = HostList::default();
        for w in words {
            if hosts.push(w.text).is_err() {
                return r.error(
                    w.at,
                    format_args!(
                        "ping_group [{group_name}]: too many hosts (hb supports at most \
                        {MAX_PING_GROUP_HOSTS}, {ARGS_LEN} bytes in all)"
                    ),
                );
            }
        }
        if hosts.is_empty() {
            return r.error(
                group.at,
                format_args!("ping_group [{group_name}] has no hosts ({SYNTAX})"),
            );
        }
        self.push_medium(
            r,
            group.at,
            Medium::PingGroup {
                name: group_name,
                hosts,
            },
        );
    }

    fn other_line_medium(
        &mut self,
        r: &mut Reporter<'_>,
        name: Word<'_>,
        kind: OtherMedium,
        words: Words<'_>,
    ) {
        let Some(rest) = words.rest() else {
            return r.error(
                name.at,
                format_args!("{}: missing arguments", kind.directive()),
            );
        };
        let Some(args) = args(r, kind.directive(), rest) else {
            return;
        };
        self.push_medium(r, rest.at, Medium::Other { kind, args });
    }

    /// `stonith <type> <config-file>` [config.c: set_stonith_info].
    fn stonith(&mut self, r: &mut Reporter<'_>, name: Word<'_>, mut words: Words<'_>) {
        let Some(t) = words.next() else {
            return r.error(
                name.at,
                format_args!("No Stonith type given (syntax: stonith <type> <config-file>)"),
            );
        };
        let Some(kind) = bounded(t.text) else {
            return r.error(
                t.at,
                format_args!("Stonith type too long (at most {NAME_LEN} bytes)"),
            );
        };
        let Some(file) = words.rest() else {
            return r.error(
                name.at,
                format_args!("stonith: missing config file (syntax: stonith <type> <config-file>)"),
            );
        };
        let Some(config_file) = path(r, "stonith", file) else {
            return;
        };
        self.cf.stonith = Some(Located {
            value: Stonith { kind, config_file },
            at: name.at,
        });
    }

    /// `stonith_host <from-host> <type> <params...>` [config.c: set_stonith_host_info].
    /// heartbeat looks at a line only on the node it names; we check every line's syntax.
    fn stonith_host(&mut self, r: &mut Reporter<'_>, name: Word<'_>, mut words: Words<'_>) {
        let Some(h) = words.next() else {
            return r.error(
                name.at,
                format_args!(
                    "No Stonith hostname argument given (syntax: \
                stonith_host <from-host> <type> <params...>)"
                ),
            );
        };
        let Some(from_host) = lowercase::<NODE_NAME_LEN>(h.text) else {
            return r.error(
                h.at,
                format_args!("Stonith hostname too long (at most {NODE_NAME_LEN} bytes)"),
            );
        };
        let Some(t) = words.next() else {
            return r.error(
                name.at,
                format_args!(
                    "No Stonith type given (syntax: stonith_host <from-host> <type> <params...>)"
                ),
            );
        };
        let Some(kind) = bounded(t.text) else {
            return r.error(
                t.at,
                format_args!("Stonith type too long (at most {NAME_LEN} bytes)"),
            );
        };
        let params = match words.rest() {
            Some(p) => match args(r, "stonith_host", p) {
                Some(a) => a,
                None => return,
            },
            None => Args::new(),
        };
        let entry = Located {
            value: StonithHost {
                from_host,
                kind,
                params,
            },
            at: name.at,
        };
        if self.cf.stonith_hosts.push(entry).is_err() {
            r.error(
                name.at,
                format_args!(
                    "too many stonith_host lines (hb supports at most {MAX_STONITH_HOSTS})"
                ),
            );
        }
    }

    /// `apiauth client [uid=u1,u2] [gid=g1,g2]` [config.c: set_api_authorization].
    fn apiauth(&mut self, r: &mut Reporter<'_>, name: Word<'_>, mut words: Words<'_>) {
        const SYNTAX: &str = "syntax: apiauth client [uid=uidlist] [gid=gidlist]";
        let line = words.rest().map_or("", |w| w.text);
        let Some(client) = words.next() else {
            return r.error(
                name.at,
                format_args!("Invalid apiauth directive [] ({SYNTAX})"),
            );
        };
        let Some(client_name) = bounded::<NAME_LEN>(client.text) else {
            return r.error(
                client.at,
                format_args!(
                    "client name [{}] too long (at most {NAME_LEN} bytes)",
                    Shown(client.text)
                ),
            );
        };
        let mut uids: Option<Word<'_>> = None;
        let mut gids: Option<Word<'_>> = None;
        for w in words {
            let (which, list) = if let Some(list) = w.text.strip_prefix("uid=") {
                ("uid", list)
            } else if let Some(list) = w.text.strip_prefix("gid=") {
                ("gid", list)
            } else {
                return r.error(
                    w.at,
                    format_args!(
                        "Invalid apiauth directive [{}]: missing uid or gid in [{}] ({SYNTAX})",
                        Shown(line),
                        Shown(w.text)
                    ),
                );
            };
            let slot = if which == "uid" { &mut uids } else { &mut gids };
            if slot.is_some() {
                return r.error(w.at, format_args!("Duplicate {which} list in apiauth"));
            }
            if list.is_empty() {
                return r.error(
                    w.at,
                    format_args!(
                        "Invalid apiauth directive [{}]: empty list in [{}] ({SYNTAX})",
                        Shown(line),
                        Shown(w.text)
                    ),
                );
            }
            *slot = Some(Word { text: list, ..w });
        }
        if uids.is_none() && gids.is_none() {
            return r.error(
                client.at,
                format_args!(
                    "Invalid apiauth directive [{}] (one of uid= or gid= must be given; {SYNTAX})",
                    Shown(line)
                ),
            );
        }
        let list = |w: Option<Word<'_>>| -> Result<String<ID_LIST_LEN>, Pos> {
            match w {
                None => Ok(String::new()),
                Some(w) => bounded(w.text).ok_or(w.at),
            }
        };
        let (uid_list, gid_list) = match (list(uids), list(gids)) {
            (Ok(u), Ok(g)) => (u, g),
            (Err(at), _) | (_, Err(at)) => {
                return r.error(
                    at,
                    format_args!("apiauth: id list too long (at most {ID_LIST_LEN} bytes)"),
                );
            }
        };
        if self.cf.apiauth.iter().any(|a| a.client == client_name) {
            return r.error(
                client.at,
                format_args!(
                    "Duplicate apiauth directive for API client {}: [{}]",
                    Shown(client.text),
                    Shown(line)
                ),
            );
        }
        if self.cf.apiauth.len() >= MAX_APIAUTH {
            return r.error(
                name.at,
                format_args!("too many apiauth lines (hb supports at most {MAX_APIAUTH})"),
            );
        }
        let entry = ApiAuth {
            client: client_name,
            uids: uid_list,
            gids: gid_list,
            builtin: false,
        };
        if self.cf.apiauth.push(entry).is_err() {
            r.error(
                name.at,
                format_args!("too many apiauth lines (hb supports at most {MAX_APIAUTH})"),
            );
        }
    }

    /// `respawn|failfast <user> </full/path> [args...]` [config.c: add_client_child].
    fn client_child(
        &mut self,
        r: &mut Reporter<'_>,
        name: Word<'_>,
        mut words: Words<'_>,
        failfast: bool,
    ) {
        let directive = if failfast { "failfast" } else { "respawn" };
        let Some(user) = words.next() else {
            return r.error(
                name.at,
                format_args!(
                    "{directive}: missing user and command (syntax: {directive} <user> \
                    </full/path/to/command> [args...])"
                ),
            );
        };
        let Some(user_name) = bounded::<NAME_LEN>(user.text).filter(|u| u.len() < NAME_LEN) else {
            return r.error(
                user.at,
                format_args!("UID specified for client child is too long"),
            );
        };
        let Some(cmd) = words.rest() else {
            return r.error(
                name.at,
                format_args!(
                    "Client child command [] is not full pathname (syntax: {directive} \
                    <user> </full/path/to/command> [args...])"
                ),
            );
        };
        if !cmd.text.starts_with('/') {
            return r.error(
                cmd.at,
                format_args!(
                    "Client child command [{}] is not full pathname",
                    Shown(cmd.text)
                ),
            );
        }
        let Some(command) = bounded(cmd.text) else {
            return r.error(
                cmd.at,
                format_args!(
                    "Client child command is too long (hb supports at most {COMMAND_LEN} bytes)"
                ),
            );
        };
        let child = ClientChild {
            user: user_name,
            command,
            failfast,
        };
        if self
            .cf
            .client_children
            .push(Located {
                value: child,
                at: name.at,
            })
            .is_err()
        {
            r.error(
                name.at,
                format_args!(
                    "too many respawn/failfast lines (hb supports at most {MAX_CLIENT_CHILDREN})"
                ),
            );
        }
    }

    /// Defaults and the cross-checks of heartbeat's `init_config`, in its order.
    fn finish(mut self, r: &mut Reporter<'_>) -> Result<HaCf, Invalid> {
        let cf = &mut self.cf;
        if cf.media.is_empty() {
            r.error(
                Pos::FILE,
                format_args!(
                    "No heartbeat media defined (add a bcast, mcast, ucast or serial line)"
                ),
            );
        }
        cf.warntime = self
            .warntime
            .unwrap_or(Duration::from_millis(cf.deadtime.as_millis() / 2));
        // heartbeat's node count includes ping nodes.
        let ping_nodes = cf.media.iter().any(|m| m.value.is_ping());
        if cf.nodes.is_empty() && !ping_nodes && cf.autojoin != AutoJoin::Any {
            r.error(
                Pos::FILE,
                format_args!("no nodes defined (declare the cluster members with a 'node' line)"),
            );
        }
        let (ka, dt) = (cf.keepalive.as_millis(), cf.deadtime.as_millis());
        if cf.deadtime <= cf.keepalive.saturating_mul(2) {
            r.error(
                self.deadtime_at.or(self.keepalive_at).unwrap_or(Pos::FILE),
                format_args!(
                    "Dead time [{dt}] is too small compared to keeplive [{ka}] \
                     (deadtime must be more than twice keepalive; values in ms)"
                ),
            );
        }
        let (initdead, initdead_at) = match self.initdead {
            Some((d, at)) => (d, at),
            None if cf.deadtime > INITDEAD_LONG_DEADTIME => (cf.deadtime, Pos::FILE),
            None if cf.deadtime < INITDEAD_SHORT_DEADTIME => {
                (INITDEAD_FOR_SHORT_DEADTIME, Pos::FILE)
            }
            None => (cf.deadtime.saturating_mul(2), Pos::FILE),
        };
        cf.initdead = initdead;
        let id = initdead.as_millis();
        if initdead < cf.deadtime {
            r.error(
                initdead_at,
                format_args!("Initial dead time [{id}] is smaller than deadtime [{dt}]"),
            );
        } else if initdead < INITDEAD_RECOMMENDED_MIN {
            r.warning(
                initdead_at,
                format_args!(
                    "Initial dead time [{id} ms] may be too small! Initial dead time accounts \
                     for slow network startup time. It should be >= deadtime and >= 10 seconds"
                ),
            );
        }
        cf.deadping = match self.deadping {
            None => cf.deadtime,
            Some((d, at)) => {
                if d <= cf.keepalive.saturating_mul(2) {
                    r.error(
                        at,
                        format_args!(
                            "Ping dead time [{}] is too small compared to keeplive [{ka}] \
                             (deadping must be more than twice keepalive; values in ms)",
                            d.as_millis()
                        ),
                    );
                }
                d
            }
        };
        let (mode, mode_at) = self
            .auto_failback
            .unwrap_or((AutoFailback::Legacy, Pos::FILE));
        cf.auto_failback = mode;
        if mode == AutoFailback::Legacy && cf.pacemaker == Pacemaker::Off {
            r.warning(
                mode_at,
                format_args!(
                    "Deprecated 'legacy' auto_failback option selected. Please convert to \
                     'auto_failback on'. See documentation for conversion details."
                ),
            );
        }
        self.logging(r);
        let cf = &mut self.cf;
        if cf.pacemaker == Pacemaker::Off && cf.autojoin != AutoJoin::None {
            r.error(
                self.autojoin_at.unwrap_or(Pos::FILE),
                format_args!(
                    "R1 style resource management conflicts with  autojoin set. \
                     You need either unset autojoin or enable crm"
                ),
            );
        }
        for (client, uids, gids) in BUILTIN_APIAUTH {
            if cf.apiauth.iter().any(|a| a.client.as_str() == client) {
                continue;
            }
            let entry = ApiAuth {
                client: bounded(client).unwrap_or_default(),
                uids: bounded(uids).unwrap_or_default(),
                gids: bounded(gids).unwrap_or_default(),
                builtin: true,
            };
            // Capacity is reserved for the built-ins, so this cannot fail.
            let _ = cf.apiauth.push(entry);
        }
        r.verdict(self.cf)
    }

    /// heartbeat's logging rules [config.c: init_config, check_logd_usage]. heartbeat also
    /// warns `Logging daemon is disabled --enabling logging daemon is recommended` whenever
    /// files or syslog are configured without logd; hb has no ha_logd, so we do not recommend
    /// one.
    fn logging(&mut self, r: &mut Reporter<'_>) {
        let cf = &mut self.cf;
        let syslog = cf.syslog_facility().is_some();
        if syslog {
            if cf.logfile.is_none() {
                cf.logfile = bounded(DEV_NULL);
            }
            if cf.debugfile.is_none() {
                cf.debugfile = bounded(DEV_NULL);
            }
        }
        let no_logging = cf.logfile.is_none() && cf.debugfile.is_none() && !syslog;
        cf.use_logd = match self.use_logd {
            None => no_logging,
            Some((on, at)) => {
                if no_logging && !on {
                    r.error(
                        at,
                        format_args!(
                            "No log entry found in ha.cf and use_logd is set to off \
                             (add a logfile, debugfile or logfacility line)"
                        ),
                    );
                }
                on
            }
        };
    }
}

fn illegal_directive(r: &mut Reporter<'_>, name: Word<'_>) {
    let path = FileKind::HaCf.default_path();
    let n = Shown(name.text);
    if let Some(d) = DIRECTIVES
        .iter()
        .find(|d| d.eq_ignore_ascii_case(name.text))
    {
        r.error(
            name.at,
            format_args!(
                "Illegal directive [{n}] in {path} (directive names are \
            case-sensitive: did you mean {d}?)"
            ),
        );
    } else if let Some(d) = closest(name.text, DIRECTIVES.iter().copied()) {
        r.error(
            name.at,
            format_args!("Illegal directive [{n}] in {path} (did you mean {d}?)"),
        );
    } else {
        r.error(name.at, format_args!("Illegal directive [{n}] in {path}"));
    }
}

/// The numeric fields shared by `mcast` and `mcast6`: port, ttl (hops), loop.
fn port_ttl_loop(
    r: &mut Reporter<'_>,
    directive: &str,
    ttl_name: &str,
    name: Word<'_>,
    d: Shown<'_>,
    words: &mut Words<'_>,
) -> Option<(u16, u8, bool)> {
    let Some(p) = words.next() else {
        r.error(name.at, format_args!("{directive} [{d}] missing port"));
        return None;
    };
    let Some(port) = port(p.text) else {
        r.error(
            p.at,
            format_args!(
                "{directive} [{d}] bad port [{}] (use 1 to 65535)",
                Shown(p.text)
            ),
        );
        return None;
    };
    let Some(t) = words.next() else {
        r.error(
            name.at,
            format_args!("{directive} [{d}] missing {ttl_name}"),
        );
        return None;
    };
    let Some(ttl) = small_int(t.text, 0, 4) else {
        // heartbeat's parser rejects more than 4 although its sample file says 0-255.
        r.error(
            t.at,
            format_args!(
                "{directive} [{d}] bad {ttl_name} [{}] (use 0 to 4)",
                Shown(t.text)
            ),
        );
        return None;
    };
    let Some(l) = words.next() else {
        r.error(name.at, format_args!("{directive} [{d}] missing loop"));
        return None;
    };
    let Some(loopback) = small_int(l.text, 0, 1) else {
        r.error(
            l.at,
            format_args!(
                "{directive} [{d}] bad loop [{}] (use 0 or 1)",
                Shown(l.text)
            ),
        );
        return None;
    };
    Some((port, ttl, loopback == 1))
}

fn warn_extra_words(r: &mut Reporter<'_>, directive: &str, d: Shown<'_>, words: Words<'_>) {
    for w in words {
        r.warning(
            w.at,
            format_args!("{directive} [{d}]: extra word [{}] ignored", Shown(w.text)),
        );
    }
}

fn time_value(r: &mut Reporter<'_>, directive: &str, w: Word<'_>) -> Option<Duration> {
    match parse_msec(w.text) {
        Ok(d) => Some(d),
        Err(TimeError::Syntax) => {
            r.error(
                w.at,
                format_args!(
                    "{directive}: invalid time value [{}] ({TIME_HINT})",
                    Shown(w.text)
                ),
            );
            None
        }
        Err(TimeError::TooLarge) => {
            r.error(
                w.at,
                format_args!("{directive}: time value [{}] is too large", Shown(w.text)),
            );
            None
        }
    }
}

fn boolean(r: &mut Reporter<'_>, directive: &str, w: Word<'_>) -> Option<bool> {
    let b = parse_bool(w.text);
    if b.is_none() {
        r.error(
            w.at,
            format_args!(
                "{directive}: invalid directive value [{}], expected a boolean ({BOOL_HINT})",
                Shown(w.text)
            ),
        );
    }
    b
}

fn set_bool(r: &mut Reporter<'_>, directive: &str, w: Word<'_>, slot: &mut bool) {
    if let Some(b) = boolean(r, directive, w) {
        *slot = b;
    }
}

fn small_int(v: &str, min: u8, max: u8) -> Option<u8> {
    parse_decimal(v)
        .and_then(|n| u8::try_from(n).ok())
        .filter(|n| (min..=max).contains(n))
}

fn positive_u32(v: &str) -> Option<u32> {
    parse_decimal(v)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n > 0)
}

fn port(v: &str) -> Option<u16> {
    parse_decimal(v)
        .and_then(|n| u16::try_from(n).ok())
        .filter(|&n| n > 0)
}

fn iface(r: &mut Reporter<'_>, directive: &str, w: Word<'_>) -> Option<Iface> {
    let i = bounded(w.text);
    if i.is_none() {
        r.error(
            w.at,
            format_args!(
                "{directive}: interface name [{}] is too long (at most {IFACE_LEN} bytes)",
                Shown(w.text)
            ),
        );
    }
    i
}

fn host(r: &mut Reporter<'_>, directive: &str, w: Word<'_>) -> Option<Host> {
    let h = bounded(w.text);
    if h.is_none() {
        r.error(
            w.at,
            format_args!(
                "{directive}: [{}] is too long (at most {HOST_LEN} bytes)",
                Shown(w.text)
            ),
        );
    }
    h
}

/// Ping media create nodes, whose names heartbeat lowercases.
fn ping_host(r: &mut Reporter<'_>, directive: &str, w: Word<'_>) -> Option<Host> {
    let h = lowercase(w.text);
    if h.is_none() {
        r.error(
            w.at,
            format_args!(
                "{directive}: host [{}] is too long (at most {HOST_LEN} bytes)",
                Shown(w.text)
            ),
        );
    }
    h
}

fn path(r: &mut Reporter<'_>, directive: &str, w: Word<'_>) -> Option<Path> {
    let p = bounded(w.text);
    if p.is_none() {
        r.error(
            w.at,
            format_args!(
                "{directive}: path [{}] is too long (at most {PATH_LEN} bytes)",
                Shown(w.text)
            ),
        );
    }
    p
}

fn args(r: &mut Reporter<'_>, directive: &str, w: Word<'_>) -> Option<Args> {
    let a = bounded(w.text);
    if a.is_none() {
        r.error(
            w.at,
            format_args!("{directive}: arguments too long (at most {ARGS_LEN} bytes)"),
        );
    }
    a
}

impl fmt::Display for AutoFailback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AutoFailback::On => "on",
            AutoFailback::Off => "off",
            AutoFailback::Legacy => "legacy",
        })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use proptest::prelude::*;
    use std::format;
    use std::string::{String as StdString, ToString};
    use std::vec::Vec as StdVec;

    fn run(text: &str) -> (Result<HaCf, Invalid>, StdVec<StdString>) {
        crate::config::testing::run(FileKind::HaCf, text, |t, d| HaCf::parse(t, &mut &mut *d))
    }

    fn ok(text: &str) -> (HaCf, StdVec<StdString>) {
        let (res, diags) = run(text);
        match res {
            Ok(cf) => (cf, diags),
            Err(e) => panic!("{e}: {diags:#?}"),
        }
    }

    fn refused(text: &str) -> StdVec<StdString> {
        crate::config::testing::refused(run(text))
    }

    /// A valid file that draws no warning; tests append a line 8.
    const BASE: &str = "node alpha beta\n\
                        bcast eth0\n\
                        keepalive 1\n\
                        deadtime 10\n\
                        initdead 20\n\
                        auto_failback on\n\
                        logfile /var/log/ha-log\n";

    fn with(extra: &str) -> StdString {
        format!("{BASE}{extra}")
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn media(cf: &HaCf) -> StdVec<Medium> {
        cf.media.iter().map(|m| m.value.clone()).collect()
    }

    fn s<const N: usize>(text: &str) -> String<N> {
        bounded(text).unwrap()
    }

    #[test]
    fn base_is_clean() {
        let (cf, diags) = ok(BASE);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(cf.node_names().collect::<StdVec<_>>(), ["alpha", "beta"]);
    }

    // --- the recorded vectors ------------------------------------------------------------

    #[test]
    fn vector_ha_cf_node1() {
        let (cf, diags) = ok(include_str!(
            "../../../../shared/vectors/heartbeat-3.0.6/ha.cf.node1"
        ));
        assert_eq!(
            diags,
            ["9:10: warning: Initial dead time [3000 ms] may be too small! Initial dead time accounts for slow \
              network startup time. It should be >= deadtime and >= 10 seconds"]
        );
        assert_eq!(cf.logfile.as_deref(), Some("/var/log/ha-log"));
        assert_eq!(cf.debugfile.as_deref(), Some("/var/log/ha-debug"));
        assert_eq!(cf.logfacility, None);
        assert!(!cf.use_logd);
        assert_eq!(cf.debug, 0);
        assert_eq!(cf.keepalive, ms(200));
        assert_eq!(cf.warntime, ms(600));
        assert_eq!(cf.deadtime, ms(1000));
        assert_eq!(cf.initdead, ms(3000));
        assert_eq!(cf.deadping, ms(1000));
        assert_eq!(cf.udpport, 694);
        assert_eq!(
            media(&cf),
            [
                Medium::Bcast {
                    iface: s("eth1"),
                    port: 694
                },
                Medium::Ucast {
                    iface: s("eth0"),
                    peer: s("198.51.100.12"),
                    port: 694
                },
            ]
        );
        assert_eq!(cf.media[0].at, Pos::new(11, 7));
        assert_eq!(cf.media[1].at, Pos::new(12, 7));
        assert_eq!(cf.media[1].value.link_name(), "eth0");
        assert_eq!(cf.auto_failback, AutoFailback::On);
        assert_eq!(cf.node_names().collect::<StdVec<_>>(), ["node1", "node2"]);
        assert_eq!(cf.pacemaker, Pacemaker::Off);
        assert!(cf.manages_resources());
        assert_eq!(cf.check_local_node("node1"), Ok(()));
        assert_eq!(cf.check_local_node("NODE2"), Ok(()));
        let e = cf.check_local_node("Node3").unwrap_err();
        assert_eq!(
            e.to_string(),
            "14:6: Current node [node3] not in configuration! By default, cluster nodes are named by `uname -n` \
             and must be declared with a 'node' directive in the ha.cf file."
        );
        // Defaults for what the file does not say.
        assert_eq!(cf.hopfudge, DEFAULT_HOPFUDGE);
        assert_eq!(cf.baud, DEFAULT_BAUD);
        assert_eq!(cf.msgfmt, MsgFmt::Classic);
        assert_eq!(cf.hbgenmethod, GenMethod::File);
        assert_eq!(cf.uuidfrom, UuidFrom::File);
        assert_eq!(cf.autojoin, AutoJoin::None);
        assert!(cf.realtime && cf.coredumps && cf.syslogmsgfmt && cf.log_badpack);
        assert_eq!(cf.coreroot.as_str(), DEFAULT_COREROOT);
        assert_eq!(cf.cluster.as_str(), DEFAULT_CLUSTER);
        assert_eq!(cf.conn_logd_time, DEFAULT_CONN_LOGD_TIME);
        assert_eq!(cf.max_rexmit_delay, DEFAULT_MAX_REXMIT_DELAY);
        assert_eq!(cf.memreserve_kib, DEFAULT_MEMRESERVE_KIB);
        assert_eq!(cf.compression, Compression::Zlib);
        assert_eq!(
            cf.compression_threshold_kib,
            DEFAULT_COMPRESSION_THRESHOLD_KIB
        );
        assert_eq!(
            cf.apiauth_for("ipfail")
                .map(|a| (a.uids.as_str(), a.builtin)),
            Some(("hacluster", true))
        );
        assert_eq!(
            cf.apiauth_for("anon")
                .map(|a| a.gids().collect::<StdVec<_>>()),
            Some(std::vec!["haclient"])
        );
    }

    #[test]
    fn vector_ha_cf_node2() {
        let (cf, diags) = ok(include_str!(
            "../../../../shared/vectors/heartbeat-3.0.6/ha.cf.node2"
        ));
        assert_eq!(diags.len(), 1);
        assert_eq!(
            media(&cf)[1],
            Medium::Ucast {
                iface: s("eth0"),
                peer: s("198.51.100.11"),
                port: 694
            }
        );
        assert_eq!(cf.check_local_node("node2"), Ok(()));
    }

    #[test]
    fn vector_ha_cf_serial_node1() {
        let (cf, diags) = ok(include_str!(
            "../../../../shared/vectors/heartbeat-3.0.6/ha.cf.serial.node1"
        ));
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(cf.baud, 115_200);
        assert_eq!(
            media(&cf),
            [Medium::Serial {
                device: s("/dev/pts/0"),
                baud: 115_200
            }]
        );
        assert_eq!(cf.media[0].value.link_name(), "/dev/pts/0");
    }

    // --- classic examples ----------------------------------------------------------------

    #[test]
    fn mcast_line() {
        let (cf, diags) = ok("node a b\nmcast eth0 224.1.2.3 694 1 0\n");
        assert_eq!(
            media(&cf),
            [Medium::Mcast {
                iface: s("eth0"),
                group: [224, 1, 2, 3],
                port: 694,
                ttl: 1,
                loopback: false
            }]
        );
        // Legacy mode by default, and logd implied without any log line.
        assert_eq!(diags, ["1:1: warning: Deprecated 'legacy' auto_failback option selected. Please convert to 'auto_failback on'. See documentation for conversion details."]);
        assert!(cf.use_logd);
    }

    #[test]
    fn respawn_line() {
        let (cf, diags) = ok(&with(
            "respawn hacluster /usr/lib/heartbeat/ipfail\nfailfast root /usr/bin/check -x, y\n",
        ));
        assert!(diags.is_empty(), "{diags:?}");
        let c = &cf.client_children;
        assert_eq!(c[0].value.user.as_str(), "hacluster");
        assert_eq!(c[0].value.command.as_str(), "/usr/lib/heartbeat/ipfail");
        assert_eq!(c[0].value.path(), "/usr/lib/heartbeat/ipfail");
        assert!(!c[0].value.failfast);
        assert_eq!(c[0].at, Pos::new(8, 1));
        // Whole-line: commas are not separators.
        assert_eq!(c[1].value.command.as_str(), "/usr/bin/check -x, y");
        assert_eq!(c[1].value.path(), "/usr/bin/check");
        assert!(c[1].value.failfast);
    }

    #[test]
    fn time_values() {
        let (cf, diags) = ok("node a\nbcast eth0\nkeepalive 500ms\ndeadtime 1.5\nwarntime 10\n");
        assert_eq!(
            (cf.keepalive, cf.deadtime, cf.warntime),
            (ms(500), ms(1500), ms(10_000))
        );
        // deadtime < 6 s: initdead 12 s.
        assert_eq!(cf.initdead, ms(12_000));
        assert_eq!(diags.len(), 1); // legacy
        let (cf, _) = ok("node a\nbcast eth0\ndeadtime 8\n");
        assert_eq!(
            (cf.initdead, cf.warntime, cf.deadping),
            (ms(16_000), ms(4000), ms(8000))
        );
        let (cf, _) = ok("node a\nbcast eth0\n");
        assert_eq!(
            (cf.keepalive, cf.deadtime, cf.initdead, cf.warntime),
            (
                DEFAULT_KEEPALIVE,
                DEFAULT_DEADTIME,
                DEFAULT_DEADTIME,
                ms(15_000)
            )
        );
    }

    #[test]
    fn option_words_are_applied_one_by_one() {
        let (cf, diags) = ok(&with("node a b,c\nkeepalive 1 2\ndeadtime 10,20\n"));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            cf.node_names().collect::<StdVec<_>>(),
            ["alpha", "beta", "a", "b", "c"]
        );
        assert_eq!((cf.keepalive, cf.deadtime), (ms(2000), ms(20_000)));
    }

    #[test]
    fn node_names_are_lowercased_and_repeats_ignored() {
        let (cf, diags) = ok(&with("node Gamma ALPHA\n"));
        assert_eq!(
            cf.node_names().collect::<StdVec<_>>(),
            ["alpha", "beta", "gamma"]
        );
        assert_eq!(
            diags,
            ["8:12: warning: node [alpha] is declared more than once; the repeat is ignored"]
        );
        assert!(cf.has_node("GAMMA"));
    }

    #[test]
    fn udp_is_bcast_with_a_warning() {
        let (cf, diags) = ok("node a\nudp eth0\nauto_failback off\nlogfile /dev/null\n");
        assert_eq!(
            media(&cf),
            [Medium::Bcast {
                iface: s("eth0"),
                port: 694
            }]
        );
        assert_eq!(diags, ["2:1: warning: directive 'udp' replaced by 'bcast'"]);
        assert_eq!(cf.auto_failback, AutoFailback::Off);
    }

    #[test]
    fn nice_failback_alone_means_legacy() {
        let (cf, diags) = ok(&BASE.replace("auto_failback on\n", "nice_failback on\n"));
        assert_eq!(cf.auto_failback, AutoFailback::Legacy);
        assert_eq!(
            diags,
            [
                "6:15: warning: nice_failback flag is obsolete.. Use auto_failback {on, off, legacy} instead. \
                 nice_failback on has been strictly interpreted as 'auto_failback legacy'. Consider converting to \
                 'auto_failback on'.",
                "6:15: warning: Deprecated 'legacy' auto_failback option selected. Please convert to 'auto_failback on'. \
                 See documentation for conversion details.",
            ]
        );
        // Its value does not matter either.
        let (cf, _) = ok(&BASE.replace("auto_failback on\n", "nice_failback off\n"));
        assert_eq!(cf.auto_failback, AutoFailback::Legacy);
    }

    #[test]
    fn nice_failback_after_auto_failback_means_off() {
        let (cf, diags) = ok(&with("nice_failback on\n"));
        assert_eq!(cf.auto_failback, AutoFailback::Off);
        assert_eq!(
            diags,
            ["8:15: warning: nice_failback flag is obsolete.. Use auto_failback {on, off, legacy} instead. \
              'nice_failback on' has been changed to 'auto_failback off'"]
        );
        // A later auto_failback wins again.
        let (cf, _) = ok(&with("nice_failback on\nauto_failback on\n"));
        assert_eq!(cf.auto_failback, AutoFailback::On);
    }

    #[test]
    fn comments_blank_lines_and_crlf() {
        let text = "#\n# whole-line comment\n\n   \t\nnode a b # trailing\r\nbcast eth0#glued\r\n\
                    keepalive 1#2\r\ndeadtime 10\r\ninitdead 20\r\nauto_failback on\r\nlogfile /l\r\n#";
        let (cf, diags) = ok(text);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(cf.node_names().collect::<StdVec<_>>(), ["a", "b"]);
        assert_eq!(
            media(&cf),
            [Medium::Bcast {
                iface: s("eth0"),
                port: 694
            }]
        );
        assert_eq!(cf.keepalive, ms(1000));
        assert_eq!(cf.logfile.as_deref(), Some("/l"));
    }

    #[test]
    fn a_directive_without_value_is_ignored_with_a_warning() {
        let (cf, diags) = ok(&with("keepalive\nbcast ,\n"));
        assert_eq!(cf.keepalive, ms(1000));
        assert_eq!(cf.media.len(), 1);
        assert_eq!(
            diags,
            [
                "8:1: warning: keepalive has no value; line ignored",
                "9:1: warning: bcast has no value; line ignored"
            ]
        );
    }

    #[test]
    fn media_latch_udpport_and_baud_when_created() {
        let text = "node a\nbcast eth0\nudpport 700\nbcast eth1\nucast eth2 10.0.0.2\nserial /dev/ttyS0\nbaud 38400\nserial /dev/ttyS1\nauto_failback on\nlogfile /l\n";
        let (cf, diags) = ok(text);
        assert_eq!(
            media(&cf),
            [
                Medium::Bcast {
                    iface: s("eth0"),
                    port: 694
                },
                Medium::Bcast {
                    iface: s("eth1"),
                    port: 694
                },
                Medium::Ucast {
                    iface: s("eth2"),
                    peer: s("10.0.0.2"),
                    port: 700
                },
                Medium::Serial {
                    device: s("/dev/ttyS0"),
                    baud: 19_200
                },
                Medium::Serial {
                    device: s("/dev/ttyS1"),
                    baud: 19_200
                },
            ]
        );
        assert_eq!((cf.udpport, cf.baud), (700, 38_400));
        assert_eq!(
            diags,
            [
                "3:9: warning: udpport setting must precede media statements; the bcast media above keep port 694",
                "7:6: warning: baudrate setting must precede media statements; the serial media above keep 19200 baud",
            ]
        );
        // In the right order nothing is said.
        let (cf, diags) = ok(&with("udpport 1694\nucast eth1 peer.example\n"));
        assert_eq!(
            media(&cf)[1],
            Medium::Ucast {
                iface: s("eth1"),
                peer: s("peer.example"),
                port: 1694
            }
        );
        assert_eq!(diags, ["8:9: warning: udpport setting must precede media statements; the bcast media above keep port 694"]);
    }

    #[test]
    fn ping_media_and_other_directives() {
        let text = with(
            "ping 10.0.0.254 GW.example\nping_group Routers 10.0.0.1 10.0.0.2\nmcast6 eth0 ff02::1:2 694 1 1\n\
             ping6 fe80::1\nhbaping fc0\nrds whatever it takes\n\
             apiauth ipfail gid=haclient uid=alice,bob\napiauth mon uid=root\nenv FOO=bar=baz\n\
             stonith baytech /etc/ha.d/conf/stonith.baytech\nstonith_host * apcsmart /dev/ttyS1 x,y\n\
             stonith_host NODE2 null a\nwatchdog /dev/watchdog\nlogfacility local3\ndebugfile /d\ncrm respawn\n\
             msgfmt netstring\nhbgenmethod time\nuuidfrom nodename\nrtprio 5\nrealtime off\ncluster c1\n\
             compression bz2\ncompression_threshold 4\ntraditional_compression yes\nmax_rexmit_delay 500\n\
             hopfudge 3\ndebug 2\nmemreserve 100\ncoredumps n\ncoreroot /tmp\nconn_logd_time 10\nsyslogmsgfmt false\n\
             log_badpack 0\nuse_apphbd y\nrecord_config_changes off\nrecord_pengine_inputs no\nenable_config_writes 0\n\
             use_logd yes\ndeadping 30\nautojoin none\n",
        );
        let (cf, diags) = ok(&text);
        assert!(diags.is_empty(), "{diags:?}");
        let m = media(&cf);
        assert_eq!(
            m[1],
            Medium::Ping {
                host: s("10.0.0.254")
            }
        );
        assert_eq!(
            m[2],
            Medium::Ping {
                host: s("gw.example")
            }
        );
        let Medium::PingGroup { name, hosts } = &m[3] else {
            panic!("{:?}", m[3])
        };
        assert_eq!(name.as_str(), "routers");
        assert_eq!(
            (hosts.iter().collect::<StdVec<_>>(), hosts.len()),
            (std::vec!["10.0.0.1", "10.0.0.2"], 2)
        );
        let mut group = [0u8; 16];
        group[0] = 0xff;
        group[1] = 0x02;
        group[13] = 1;
        group[15] = 2;
        assert_eq!(
            m[4],
            Medium::Mcast6 {
                iface: s("eth0"),
                group,
                port: 694,
                hops: 1,
                loopback: true
            }
        );
        assert_eq!(m[5], Medium::Ping6 { host: s("fe80::1") });
        assert_eq!(
            m[6],
            Medium::Other {
                kind: OtherMedium::Hbaping,
                args: s("fc0")
            }
        );
        assert_eq!(
            m[7],
            Medium::Other {
                kind: OtherMedium::Rds,
                args: s("whatever it takes")
            }
        );
        assert!(m[1].is_ping() && m[3].is_ping() && !m[0].is_ping());
        let ipfail = cf.apiauth_for("ipfail").unwrap();
        assert_eq!(
            (
                ipfail.uids().collect::<StdVec<_>>(),
                ipfail.gids.as_str(),
                ipfail.builtin
            ),
            (std::vec!["alice", "bob"], "haclient", false)
        );
        assert_eq!(cf.apiauth_for("mon").map(|a| a.uids.as_str()), Some("root"));
        assert_eq!(cf.apiauth.len(), 2 + 4);
        assert_eq!(
            (cf.env[0].name.as_str(), cf.env[0].value.as_str()),
            ("FOO", "bar=baz")
        );
        let st = cf.stonith.as_ref().unwrap();
        assert_eq!(
            (st.value.kind.as_str(), st.value.config_file.as_str()),
            ("baytech", "/etc/ha.d/conf/stonith.baytech")
        );
        assert_eq!(cf.stonith_hosts[0].value.params.as_str(), "/dev/ttyS1 x,y");
        assert_eq!(cf.stonith_hosts_for("node1").count(), 1);
        assert_eq!(cf.stonith_hosts_for("node2").count(), 2);
        assert_eq!(cf.watchdog.as_deref(), Some("/dev/watchdog"));
        assert_eq!(cf.syslog_facility(), Some(LogFacility::Local3));
        assert_eq!(LogFacility::Local3.code(), 19 << 3);
        assert_eq!(cf.pacemaker, Pacemaker::Respawn);
        assert!(!cf.manages_resources());
        assert_eq!(
            (cf.msgfmt, cf.hbgenmethod, cf.uuidfrom),
            (MsgFmt::Netstring, GenMethod::Time, UuidFrom::NodeName)
        );
        assert_eq!(
            (cf.rtprio, cf.realtime, cf.cluster.as_str()),
            (Some(5), false, "c1")
        );
        assert_eq!(
            (
                cf.compression,
                cf.compression_threshold_kib,
                cf.traditional_compression
            ),
            (Compression::Bz2, 4, true)
        );
        assert_eq!(
            (
                cf.max_rexmit_delay,
                cf.hopfudge,
                cf.debug,
                cf.memreserve_kib
            ),
            (ms(500), 3, 2, 100)
        );
        assert_eq!(
            (
                cf.coredumps,
                cf.coreroot.as_str(),
                cf.conn_logd_time,
                cf.syslogmsgfmt
            ),
            (false, "/tmp", ms(10_000), false)
        );
        assert!(
            !cf.log_badpack
                && cf.use_apphbd
                && !cf.record_config_changes
                && !cf.record_pengine_inputs
        );
        assert!(!cf.enable_config_writes && cf.use_logd);
        assert_eq!(cf.deadping, ms(30_000));
    }

    #[test]
    fn syslog_only_points_files_at_dev_null() {
        let (cf, diags) = ok("node a\nbcast eth0\nauto_failback on\nlogfacility daemon\n");
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            (cf.logfile.as_deref(), cf.debugfile.as_deref(), cf.use_logd),
            (Some("/dev/null"), Some("/dev/null"), false)
        );
        // `kern` counts as no facility in heartbeat.
        let (cf, _) = ok("node a\nbcast eth0\nauto_failback on\nlogfacility kern\n");
        assert_eq!(
            (cf.logfile.as_deref(), cf.use_logd, cf.syslog_facility()),
            (None, true, None)
        );
    }

    #[test]
    fn quorum_server_overwrites_cluster() {
        let (cf, _) = ok(&with("cluster one\nquorum_server q.example\n"));
        assert_eq!(
            (cf.cluster.as_str(), cf.quorum_server.as_deref()),
            ("q.example", Some("q.example"))
        );
    }

    #[test]
    fn autojoin_any_needs_no_nodes_with_crm() {
        let (cf, _) = ok("bcast eth0\nautojoin any\ncrm on\n");
        assert!(cf.nodes.is_empty());
        assert_eq!(cf.check_local_node("whoever"), Ok(()));
    }

    #[test]
    fn every_listed_directive_is_legal() {
        for d in DIRECTIVES {
            let (_, diags) = run(&with(&format!("{d} x\n")));
            assert!(
                !diags.iter().any(|m| m.contains("Illegal directive")),
                "{d}: {diags:?}"
            );
        }
    }

    #[test]
    fn many_problems_are_all_reported() {
        let diags = refused("bogus\nkeepalive 2s x\nnode a\nmcast eth0 10.0.0.1 694 1 0\nbaud 1\n");
        assert_eq!(diags.len(), 7, "{diags:#?}");
    }

    #[test]
    fn relay_medium_default_and_given_speed() {
        let (cf, diags) = ok(&with(
            "baud 19200\nrelay /dev/ttyUSB0\nrelay /dev/ttyACM0 57600\nserial /dev/ttyS0\n",
        ));
        assert!(diags.is_empty(), "{diags:?}");
        let m = media(&cf);
        // The global baud is the peer serial lines' speed, not the relay's.
        assert_eq!(
            m[1..],
            [
                Medium::Relay {
                    device: s("/dev/ttyUSB0"),
                    baud: DEFAULT_RELAY_BAUD
                },
                Medium::Relay {
                    device: s("/dev/ttyACM0"),
                    baud: 57_600
                },
                Medium::Serial {
                    device: s("/dev/ttyS0"),
                    baud: 19_200
                },
            ]
        );
        assert_eq!(m[1].link_name(), "/dev/ttyUSB0");
        assert_eq!(m[1].directive(), "relay");
        assert!(!m[1].is_ping());
    }

    #[test]
    fn broken_relay_lines() {
        assert_eq!(
            refused(&with("relay\n")),
            ["8:1: relay: missing device (syntax: relay <device> [baud])"]
        );
        assert_eq!(
            refused(&with("relay ttyUSB0\n")),
            ["8:7: relay: device [ttyUSB0] is not a full pathname (syntax: relay <device> [baud])"]
        );
        assert_eq!(
            refused(&with("relay /dev/ttyUSB0 fast\n")),
            ["8:20: relay [/dev/ttyUSB0]: invalid baudrate [fast]. Use one of 9600, 19200, 38400, 57600, 115200, 230400, 460800."]
        );
        assert_eq!(
            refused(&with("relay /dev/ttyUSB0\nrelay /dev/ttyUSB0\n")),
            ["9:7: relay [/dev/ttyUSB0]: the device is already a medium above (one line per device; a relay's line is `relay`, never also `serial`)"]
        );
        assert_eq!(
            refused(&with("serial /dev/ttyUSB0\nrelay /dev/ttyUSB0\n")),
            ["9:7: relay [/dev/ttyUSB0]: the device is already a medium above (one line per device; a relay's line is `relay`, never also `serial`)"]
        );
        assert_eq!(
            refused(&with("relay /dev/ttyUSB0\nserial /dev/ttyUSB0\n")),
            ["9:8: serial [/dev/ttyUSB0]: the device is a relay's (`relay /dev/ttyUSB0` above); a relay's line is never also `serial`"]
        );
        let (_, diags) = ok(&with("relay /dev/ttyUSB0 115200 extra\n"));
        assert_eq!(
            diags,
            ["8:27: warning: relay [/dev/ttyUSB0]: extra word [extra] ignored"]
        );
    }

    #[test]
    fn relay_watchdog() {
        let (cf, diags) = ok(&with("watchdog relay:/dev/ttyUSB0\n"));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(cf.watchdog.as_deref(), Some("relay:/dev/ttyUSB0"));
        assert_eq!(
            refused(&with("watchdog relay:ttyUSB0\n")),
            ["8:10: watchdog [relay:ttyUSB0]: the relay's device is not a full pathname (watchdog relay:/dev/ttyUSB0)"]
        );
    }

    // --- broken files: exact text and position ------------------------------------------

    #[test]
    fn broken_unknown_directive() {
        assert_eq!(
            refused(&with("frobnicate 1\n")),
            ["8:1: Illegal directive [frobnicate] in /etc/ha.d/ha.cf"]
        );
        assert_eq!(
            refused(&with("  keepalvie 1\n")),
            ["8:3: Illegal directive [keepalvie] in /etc/ha.d/ha.cf (did you mean keepalive?)"]
        );
    }

    #[test]
    fn broken_directive_case() {
        assert_eq!(
            refused(&with("Keepalive 2\n")),
            ["8:1: Illegal directive [Keepalive] in /etc/ha.d/ha.cf (directive names are case-sensitive: did you mean keepalive?)"]
        );
    }

    #[test]
    fn broken_keepalive_unit() {
        assert_eq!(
            refused(&with("keepalive 2s\n")),
            ["8:11: keepalive: invalid time value [2s] (use a number of seconds, or a number with an ms suffix such as 500ms)"]
        );
        assert_eq!(
            refused(&with("keepalive 500 ms\n")),
            [
                "8:15: keepalive: invalid time value [ms] (use a number of seconds, or a number with an ms suffix such as 500ms)",
                // The 500 before it was taken as seconds.
                "4:10: Dead time [10000] is too small compared to keeplive [500000] (deadtime must be more than twice keepalive; values in ms)",
            ]
        );
        assert_eq!(
            refused(&with("keepalive 0.4ms\n")),
            ["8:11: keepalive: invalid time value [0.4ms] (keepalive must be more than 0 ms)"]
        );
        assert_eq!(refused(&with("deadtime 1m\n")).len(), 1);
        assert_eq!(
            refused(&with("initdead 99999999999999999999\n")),
            ["8:10: initdead: time value [99999999999999999999] is too large"]
        );
    }

    #[test]
    fn broken_deadtime_vs_keepalive() {
        assert_eq!(
            refused(&with("deadtime 2\n")),
            ["8:10: Dead time [2000] is too small compared to keeplive [1000] (deadtime must be more than twice keepalive; values in ms)"]
        );
        // Pointing at keepalive when deadtime is the default.
        assert_eq!(
            refused("node a\nbcast eth0\nkeepalive 20\n"),
            [
                "3:11: Dead time [30000] is too small compared to keeplive [20000] (deadtime must be more than twice keepalive; values in ms)",
                "1:1: warning: Deprecated 'legacy' auto_failback option selected. Please convert to 'auto_failback on'. See documentation for conversion details.",
            ]
        );
    }

    #[test]
    fn broken_initdead_below_deadtime() {
        assert_eq!(
            refused(&with("initdead 5\n")),
            ["8:10: Initial dead time [5000] is smaller than deadtime [10000]"]
        );
    }

    #[test]
    fn broken_deadping() {
        assert_eq!(
            refused(&with("deadping 2\n")),
            ["8:10: Ping dead time [2000] is too small compared to keeplive [1000] (deadping must be more than twice keepalive; values in ms)"]
        );
    }

    #[test]
    fn broken_warntime() {
        assert_eq!(
            refused(&with("warntime 0\n")),
            ["8:10: Warn time [0] is invalid. It must be more than 0 ms."]
        );
        assert_eq!(
            refused(&with("warntime 5x\n")),
            ["8:10: Warn time [5x] is invalid. Use a number of seconds, or a number with an ms suffix such as 500ms."]
        );
    }

    #[test]
    fn broken_no_media() {
        assert_eq!(
            refused(&BASE.replace("bcast eth0\n", "")),
            ["1:1: No heartbeat media defined (add a bcast, mcast, ucast or serial line)"]
        );
    }

    #[test]
    fn broken_no_nodes() {
        assert_eq!(
            refused(&BASE.replace("node alpha beta\n", "")),
            ["1:1: no nodes defined (declare the cluster members with a 'node' line)"]
        );
    }

    #[test]
    fn broken_mcast_ttl() {
        assert_eq!(
            refused(&with("mcast eth0 224.1.2.3 694 9 0\n")),
            ["8:26: mcast [eth0] bad ttl [9] (use 0 to 4)"]
        );
    }

    #[test]
    fn broken_mcast_addr() {
        assert_eq!(
            refused(&with("mcast eth0 10.0.0.1 694 1 0\n")),
            ["8:12: mcast [eth0] bad addr [10.0.0.1] (use an IPv4 multicast group, 224.0.0.0 to 239.255.255.255)"]
        );
    }

    #[test]
    fn broken_mcast_missing_fields() {
        assert_eq!(
            refused(&with("mcast eth0\n")),
            ["8:1: mcast [eth0] missing mcast address"]
        );
        assert_eq!(
            refused(&with("mcast eth0 239.0.0.1 694 1\n")),
            ["8:1: mcast [eth0] missing loop"]
        );
        assert_eq!(
            refused(&with("mcast eth0 239.0.0.1 0 1 0\n")),
            ["8:22: mcast [eth0] bad port [0] (use 1 to 65535)"]
        );
        assert_eq!(
            refused(&with("mcast eth0 239.0.0.1 694 1 2\n")),
            ["8:28: mcast [eth0] bad loop [2] (use 0 or 1)"]
        );
        assert_eq!(
            refused(&with("mcast\n")),
            ["8:1: mcast: missing interface (syntax: mcast <dev> <group> <port> <ttl> <loop>)"]
        );
    }

    #[test]
    fn broken_ucast_without_peer() {
        assert_eq!(
            refused(&with("ucast eth1\n")),
            ["8:1: ucast: [eth1] missing target IP address/hostname"]
        );
    }

    #[test]
    fn broken_baud_value() {
        assert_eq!(
            refused(&with("baud 1234\n")),
            ["8:6: invalid baudrate [1234] specified. Use one of 9600, 19200, 38400, 57600, 115200, 230400, 460800."]
        );
    }

    #[test]
    fn broken_baud_twice() {
        assert_eq!(
            refused(&with("baud 19200\nbaud 38400\n")),
            ["9:6: Baudrate multiply specified."]
        );
        assert_eq!(
            refused(&with("baud 9600 19200\n")),
            ["8:11: Baudrate multiply specified."]
        );
    }

    #[test]
    fn broken_serial_not_full_pathname() {
        assert_eq!(
            refused(&with("serial ttyS0\n")),
            ["8:8: Serial port not full pathname [ttyS0] in config file"]
        );
    }

    #[test]
    fn broken_auto_failback_value() {
        assert_eq!(
            refused(&with("auto_failback maybe\n")),
            ["8:15: auto_failback: invalid value [maybe] (use on, off or legacy)"]
        );
    }

    #[test]
    fn broken_logfacility() {
        assert_eq!(
            refused(&with("logfacility loca0\n")),
            ["8:13: Log facility(loca0) not valid (use none, auth, authpriv, cron, daemon, ftp, kern, lpr, mail, news, \
              security, syslog, user, uucp or local0 to local7)"]
        );
    }

    #[test]
    fn broken_respawn_relative_command() {
        assert_eq!(
            refused(&with("respawn hacluster ipfail\n")),
            ["8:19: Client child command [ipfail] is not full pathname"]
        );
        assert_eq!(
            refused(&with("respawn\n")),
            ["8:1: respawn: missing user and command (syntax: respawn <user> </full/path/to/command> [args...])"]
        );
        let long_user = "u".repeat(64);
        assert_eq!(
            refused(&with(&format!("failfast {long_user} /bin/true\n"))),
            ["8:10: UID specified for client child is too long"]
        );
    }

    #[test]
    fn broken_autojoin_with_haresources() {
        assert_eq!(
            refused(&with("autojoin any\n")),
            ["8:10: R1 style resource management conflicts with  autojoin set. You need either unset autojoin or enable crm"]
        );
        assert_eq!(
            refused(&with("autojoin sometimes\n")),
            ["8:10: Invalid autojoin directive [sometimes] (use none, other or any)"]
        );
    }

    #[test]
    fn broken_hbgenmethod() {
        assert_eq!(
            refused(&with("hbgenmethod foo\n")),
            ["8:13: Illegal hb generation method [foo] (use file or time)"]
        );
        assert_eq!(
            refused(&with("uuidfrom File\n")),
            ["8:10: Invalid uuidfrom directive [File] (use file or nodename)"]
        );
    }

    #[test]
    fn broken_use_logd_off_without_logging() {
        assert_eq!(
            refused(&BASE.replace("logfile /var/log/ha-log\n", "use_logd off\n")),
            ["7:10: No log entry found in ha.cf and use_logd is set to off (add a logfile, debugfile or logfacility line)"]
        );
    }

    #[test]
    fn broken_udpport() {
        assert_eq!(
            refused(&with("udpport 0\n")),
            ["8:9: invalid port [0] specified. Use a UDP port from 1 to 65535."]
        );
        assert_eq!(refused(&with("udpport 70000\n")).len(), 1);
    }

    #[test]
    fn broken_numbers_and_booleans() {
        assert_eq!(
            refused(&with("hopfudge 256\n")),
            ["8:10: hopfudge: invalid value [256] (use an integer from 0 to 255)"]
        );
        assert_eq!(
            refused(&with("debug -1\n")),
            ["8:7: debug: invalid level [-1] (use an integer from 0 to 255)"]
        );
        assert_eq!(
            refused(&with("rtprio 100\n")),
            ["8:8: Illegal realtime priority [100] (use an integer from 1 to 99)"]
        );
        assert_eq!(
            refused(&with("realtime sure\n")),
            ["8:10: realtime: invalid directive value [sure], expected a boolean (use on or off (yes/no, true/false, y/n and 1/0 also work))"]
        );
        assert_eq!(
            refused(&with("msgfmt xml\n")),
            ["8:8: msgfmt: invalid value [xml] (use classic or netstring)"]
        );
        assert_eq!(refused(&with("crm perhaps\n")), ["8:5: crm: invalid value [perhaps] (use on, off, respawn, manual, minimal or valgrind)"]);
        assert_eq!(
            refused(&with("watchdog /dev/a\nwatchdog /dev/b\n")),
            ["9:10: Watchdog device multiply specified."]
        );
        assert_eq!(
            refused(&with("env =x\n")),
            ["8:5: env: invalid nvpair(=x) (use NAME=value; children see it as HA_NAME)"]
        );
    }

    #[test]
    fn broken_apiauth() {
        assert_eq!(
            refused(&with("apiauth ipfail\n")),
            ["8:9: Invalid apiauth directive [ipfail] (one of uid= or gid= must be given; syntax: apiauth client [uid=uidlist] [gid=gidlist])"]
        );
        assert_eq!(
            refused(&with("apiauth x uid=a\napiauth x gid=b\n")),
            ["9:9: Duplicate apiauth directive for API client x: [x gid=b]"]
        );
        assert_eq!(
            refused(&with("apiauth x uid=a uid=b\n")),
            ["8:17: Duplicate uid list in apiauth"]
        );
    }

    #[test]
    fn broken_stonith() {
        assert_eq!(
            refused(&with("stonith\n")),
            ["8:1: No Stonith type given (syntax: stonith <type> <config-file>)"]
        );
        assert_eq!(
            refused(&with("stonith_host *\n")),
            ["8:1: No Stonith type given (syntax: stonith_host <from-host> <type> <params...>)"]
        );
    }

    #[test]
    fn broken_ping_group_too_many_hosts() {
        let hosts: StdVec<StdString> = (0..=MAX_PING_GROUP_HOSTS)
            .map(|i| format!("10.0.0.{i}"))
            .collect();
        assert_eq!(
            refused(&with(&format!("ping_group g {}\n", hosts.join(" ")))),
            ["8:86: ping_group [g]: too many hosts (hb supports at most 8, 256 bytes in all)"]
        );
    }

    #[test]
    fn broken_ping_group() {
        assert_eq!(
            refused(&with("ping_group grp\n")),
            ["8:12: ping_group [grp] has no hosts (syntax: ping_group <name> <host> [<host>...])"]
        );
    }

    #[test]
    fn broken_capacities_are_errors() {
        let nodes: StdVec<StdString> = (0..1000)
            .map(|l| {
                format!(
                    "node {}\n",
                    (0..10)
                        .map(|i| format!("n{l}_{i}"))
                        .collect::<StdVec<_>>()
                        .join(" ")
                )
            })
            .collect();
        let diags = refused(&with(&nodes.concat()));
        assert_eq!(diags.len(), 10_000 + 2 - MAX_NODES);
        assert_eq!(
            diags[0],
            "9:26: too many nodes: hb supports at most 16 (heartbeat 100); node [n1_4] not added"
        );
        let bcasts: StdVec<StdString> = (0..MAX_MEDIA).map(|i| format!("eth{i}")).collect();
        assert_eq!(
            refused(&with(&format!("bcast {}\n", bcasts.join(",")))),
            ["8:87: Too many media specified (> 16)"]
        );
        assert_eq!(
            refused(&with("bcast averyveryverylongname\n")),
            ["8:7: bcast: interface name [averyveryverylongname] is too long (at most 15 bytes)"]
        );
        let long = "x".repeat(MAX_LINE_LEN + 1);
        assert_eq!(
            refused(&with(&long)),
            ["8:1: line is 5120 bytes long; heartbeat reads at most 5119 bytes per line"]
        );
    }

    #[test]
    fn empty_and_odd_files_do_not_panic() {
        for text in ["", "\n", "#", "\r\n", "\u{feff}node a", "\0"] {
            let (res, diags) = run(text);
            assert!(res.is_err(), "{text:?}: {diags:?}");
        }
        // Odd but well-formed: heartbeat would accept it too (the daemon finds no such interface).
        assert!(run("node \u{1F600}\nbcast \u{0}").0.is_ok());
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(text in any::<StdString>()) {
            let _ = run(&text);
        }

        #[test]
        fn never_panics_on_directive_lines(
            lines in prop::collection::vec(
                (prop::sample::select(DIRECTIVES), prop::collection::vec("[ -~\t\r,#]{0,12}|[0-9.]{1,24}(ms|us)?", 0..7)),
                0..40,
            )
        ) {
            let text: StdVec<StdString> = lines.iter().map(|(d, ws)| format!("{d} {}", ws.join(" "))).collect();
            let _ = run(&text.join("\n"));
        }
    }
}
