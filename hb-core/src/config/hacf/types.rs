//! The values of `ha.cf`: capacities, heartbeat's defaults, and the small enums of its options.

use core::fmt;
use heapless::String;

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
pub(super) const HEARTBEAT_MAX_NODES: usize = 100;
/// Where heartbeat points script logs when only syslog is configured.
pub(super) const DEV_NULL: &str = "/dev/null";

/// The `apiauth` entries heartbeat adds for clients the file does not mention
/// (`HA_CCMUSER` = `hacluster`, `HA_APIGROUP` = `haclient`): (client, uid list, gid list).
pub const BUILTIN_APIAUTH: [(&str, &str, &str); 5] = [
    ("ipfail", "hacluster", ""),
    ("ccm", "hacluster", ""),
    ("ping", "", "haclient"),
    ("lha-snmpagent", "root", ""),
    ("anon", "root", "haclient"),
];
pub(super) const APIAUTH_CAP: usize = MAX_APIAUTH + BUILTIN_APIAUTH.len();

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

impl fmt::Display for AutoFailback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AutoFailback::On => "on",
            AutoFailback::Off => "off",
            AutoFailback::Legacy => "legacy",
        })
    }
}
