//! Directive names, the option directives and the per-line dispatch.

use super::hbrelay::RELAY_WATCHDOG_PREFIX;
use super::logging::LogFacility;
use super::media::OtherMedium;
use super::media::WordMedium;
use super::types::{
    AutoFailback, AutoJoin, Compression, GenMethod, MsgFmt, Pacemaker, UuidFrom, BAUD_RATES,
    HEARTBEAT_MAX_NODES, MAX_NODES,
};
use super::values::{boolean, host, path, port, positive_u32, set_bool, small_int, time_value};
use super::Builder;
use crate::config::{
    closest, lowercase, parse_bool, parse_decimal, parse_msec, strip_comment, FileKind, Pos,
    Reporter, Shown, TimeError, Word, Words, BOOL_HINT, DELIMS, MAX_LINE_LEN, NODE_NAME_LEN,
    WHITESPACE,
};
use crate::time::Duration;

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

impl Builder {
    pub(super) fn line(&mut self, r: &mut Reporter<'_>, line_no: u32, raw: &str) {
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
            "ucast6" => return self.ucast6(r, name, line_words),
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
                if let Some(dev) = v.strip_prefix(RELAY_WATCHDOG_PREFIX) {
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

    pub(super) fn node(&mut self, r: &mut Reporter<'_>, w: Word<'_>) {
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

    pub(super) fn udpport(&mut self, r: &mut Reporter<'_>, w: Word<'_>) {
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

    pub(super) fn baud(&mut self, r: &mut Reporter<'_>, w: Word<'_>) {
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
    pub(super) fn nice_failback(&mut self, r: &mut Reporter<'_>, w: Word<'_>) {
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
