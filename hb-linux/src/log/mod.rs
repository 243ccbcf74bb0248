//! heartbeat's logging (behaviour spec §9): the same lines, to the same places, as heartbeat
//! 3.0.6 with cluster-glue 1.0.12 writes them.
//!
//! - **logfile** gets every message but `debug`, **debugfile** every message, in the 3.x line
//!   format: `Mar 09 13:05:09 node1 heartbeat: [1234]: info: <msg>` (`syslogmsgfmt true`, the
//!   default) or `heartbeat[1234]: 2015/03/09_13:05:09 info: <msg>` (`syslogmsgfmt false`).
//!   `/dev/null` means no file, as in cluster-glue.
//! - **syslog** with the configured facility, tag `heartbeat`, text `[1234]: info: <msg>`,
//!   written by [`syslog::Syslog`] straight to `/dev/log` (see there for why not libc's
//!   `syslog(3)`).
//! - **stderr** when running in the foreground, in the file format.
//!
//! Files are opened once in append mode and written with one `write(2)` per line, unbuffered
//! and without `fsync`, as cluster-glue does; log rotation is noticed by the file's inode
//! changing, checked at most once a minute, and logged as `log-rotate detected on logfile <f>`.
//! No output can make [`Logger::log`] fail or panic: a file that cannot be opened is reported
//! once (to syslog, else stderr) and retried with the next message.
//!
//! # Defaults when ha.cf names no log target ([`LogConfig::from_hacf`])
//!
//! heartbeat 3.x has no default log file: with no `logfile`, `debugfile` or `logfacility` it
//! hands every message to `ha_logd`, whose own defaults are syslog facility `daemon` and no
//! files (spec §9.1); with logd not running, the messages are lost. hb has no logd, so it does
//! what such a 3.0.6 node effectively does and what heartbeat 1.2 did by name:
//! - neither `logfile` nor `logfacility` given → `logfile /var/log/ha-log`, announced with 1.2's
//!   `Neither logfile nor logfacility found.` / `Logging defaulting to /var/log/ha-log`;
//! - `use_logd` in effect (given, or implied by no log line at all) and no `logfacility` →
//!   syslog facility `daemon`, logd's default.
//!
//! # Time
//!
//! Local time comes from libc's `localtime_r` (one `unsafe` call in [`LocalTime::from_unix`]):
//! it is what heartbeat uses, it honours `TZ` and `/etc/localtime` exactly as every other
//! daemon on the machine, and it needs no new dependency (`libc` is already under `nix`). The
//! `time` crate refuses to tell the local offset once a process has a second thread (the daemon
//! has its action worker), and `chrono` would bring its own time-zone database reader for three
//! fields of a `struct tm`.

pub mod syslog;

use hb_core::config::hacf::LogFacility;
use hb_core::config::HaCf;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// The entity heartbeat logs as, for the daemon and its forked children.
pub const ENTITY: &str = "heartbeat";
/// The log file used when ha.cf names neither `logfile` nor `logfacility`.
pub const DEFAULT_LOGFILE: &str = "/var/log/ha-log";
/// The syslog facility used when logd would have been used (logd's own default).
pub const DEFAULT_FACILITY: LogFacility = LogFacility::Daemon;
/// A file name that means "no file" (cluster-glue `cl_log_set_logfile`).
pub const NO_FILE: &str = "/dev/null";
/// Log files are checked for rotation when more than this many seconds passed since the last
/// check (cluster-glue: `now - last_stat_time > 59`).
pub const ROTATE_CHECK_SECS: i64 = 60;
/// Longest message written; longer ones are cut at a character boundary. heartbeat cuts at 511
/// bytes (`MAXLINE`); we keep more, but a runaway message must not make a giant datagram.
pub const MAX_MESSAGE: usize = 4096;

/// Message priorities, with heartbeat's words for them (`prio2str`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Emerg,
    Alert,
    Crit,
    Error,
    Warn,
    Notice,
    Info,
    Debug,
}

/// The core's log levels ([`hb_core::log`], where heartbeat's log text is) as priorities.
impl From<hb_core::log::Level> for Priority {
    fn from(level: hb_core::log::Level) -> Priority {
        use hb_core::log::Level;
        match level {
            Level::Debug => Priority::Debug,
            Level::Info => Priority::Info,
            Level::Warn => Priority::Warn,
            Level::Err => Priority::Error,
            Level::Crit => Priority::Crit,
        }
    }
}

impl Priority {
    pub const ALL: [Priority; 8] = [
        Priority::Emerg,
        Priority::Alert,
        Priority::Crit,
        Priority::Error,
        Priority::Warn,
        Priority::Notice,
        Priority::Info,
        Priority::Debug,
    ];

    /// The word in log lines: `EMERG ALERT CRIT ERROR WARN notice info debug`.
    pub const fn name(self) -> &'static str {
        match self {
            Priority::Emerg => "EMERG",
            Priority::Alert => "ALERT",
            Priority::Crit => "CRIT",
            Priority::Error => "ERROR",
            Priority::Warn => "WARN",
            Priority::Notice => "notice",
            Priority::Info => "info",
            Priority::Debug => "debug",
        }
    }

    /// The syslog severity (`LOG_EMERG` 0 … `LOG_DEBUG` 7).
    pub const fn syslog_severity(self) -> u32 {
        self as u32
    }
}

/// One message to log: what the building blocks (media, state files) return for the daemon to
/// pass to its [`Logger`], so that they stay testable without one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub priority: Priority,
    pub text: String,
}

impl LogLine {
    pub fn new(priority: Priority, text: impl Into<String>) -> Self {
        LogLine {
            priority,
            text: text.into(),
        }
    }
    pub fn info(text: impl Into<String>) -> Self {
        Self::new(Priority::Info, text)
    }
    pub fn warn(text: impl Into<String>) -> Self {
        Self::new(Priority::Warn, text)
    }
    pub fn error(text: impl Into<String>) -> Self {
        Self::new(Priority::Error, text)
    }
}

/// A wall-clock second, broken down in local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    /// 1–12.
    pub month: u8,
    /// 1–31.
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl LocalTime {
    /// `secs` since the epoch in the machine's time zone (libc `localtime_r`). Falls back to
    /// UTC if libc cannot convert it (only for absurd values).
    pub fn from_unix(secs: i64) -> LocalTime {
        let t = secs as libc::time_t;
        // SAFETY: all-zero bytes are a valid `struct tm` (integers and a null `tm_zone`).
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // SAFETY: `localtime_r` reads one `time_t` and writes one `struct tm`, both ours and
        // valid for the call; it is the thread-safe variant (no shared static buffer).
        let ok = !unsafe { libc::localtime_r(&t, &mut tm) }.is_null();
        if !ok {
            return LocalTime::utc(secs);
        }
        let small = |v: libc::c_int| u8::try_from(v).unwrap_or(0);
        LocalTime {
            year: tm.tm_year.saturating_add(1900),
            month: small(tm.tm_mon.saturating_add(1)),
            day: small(tm.tm_mday),
            hour: small(tm.tm_hour),
            minute: small(tm.tm_min),
            second: small(tm.tm_sec),
        }
    }

    /// `secs` since the epoch in UTC (civil-from-days, Howard Hinnant's algorithm).
    pub fn utc(secs: i64) -> LocalTime {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        LocalTime {
            year: i32::try_from(year).unwrap_or(i32::MAX),
            month: month as u8,
            day: day as u8,
            hour: (rem / 3600) as u8,
            minute: (rem / 60 % 60) as u8,
            second: (rem % 60) as u8,
        }
    }

    fn month_name(&self) -> &'static str {
        MONTHS
            .get(usize::from(self.month.saturating_sub(1)))
            .copied()
            .unwrap_or("???")
    }

    /// `2015/03/09_13:05:09` (cluster-glue `ha_timestamp`).
    pub fn ha_timestamp(&self) -> String {
        format!(
            "{:04}/{:02}/{:02}_{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `Mar 09 13:05:09`: the file stamp of `syslogmsgfmt true` (cluster-glue
    /// `syslog_timestamp`, day zero-padded).
    pub fn file_syslog_timestamp(&self) -> String {
        format!(
            "{} {:02} {:02}:{:02}:{:02}",
            self.month_name(),
            self.day,
            self.hour,
            self.minute,
            self.second
        )
    }

    /// `Mar  9 13:05:09`: the RFC 3164 stamp glibc's `syslog(3)` puts in datagrams (day
    /// space-padded).
    pub fn rfc3164_timestamp(&self) -> String {
        format!(
            "{} {:>2} {:02}:{:02}:{:02}",
            self.month_name(),
            self.day,
            self.hour,
            self.minute,
            self.second
        )
    }
}

/// When a message is logged: seconds since the epoch (for the rotation check) and the same
/// second in local time (for the line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub unix: i64,
    pub local: LocalTime,
}

impl Stamp {
    pub fn now() -> Stamp {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Stamp {
            unix,
            local: LocalTime::from_unix(unix),
        }
    }
}

/// Appends one log-file (or stderr) line, newline included, to `out` (cluster-glue
/// `append_log`).
#[allow(clippy::too_many_arguments)]
pub fn format_file_line(
    out: &mut String,
    syslogmsgfmt: bool,
    time: &LocalTime,
    node: &str,
    entity: &str,
    pid: u32,
    priority: Priority,
    msg: &str,
) {
    let _ = if syslogmsgfmt {
        writeln!(
            out,
            "{} {node} {entity}: [{pid}]: {}: {msg}",
            time.file_syslog_timestamp(),
            priority.name()
        )
    } else {
        writeln!(
            out,
            "{entity}[{pid}]: {} {}: {msg}",
            time.ha_timestamp(),
            priority.name()
        )
    };
}

/// Where and how to log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `heartbeat`.
    pub entity: String,
    /// The host name in `syslogmsgfmt` lines (`uname -n`, as it is, not lowercased).
    pub node: String,
    pub logfile: Option<PathBuf>,
    pub debugfile: Option<PathBuf>,
    /// Syslog facility; `None` for no syslog.
    pub facility: Option<LogFacility>,
    pub syslogmsgfmt: bool,
    /// Also write every line to standard error (foreground mode).
    pub stderr: bool,
    /// The syslog socket, `/dev/log`; tests point it elsewhere.
    pub syslog_socket: PathBuf,
}

impl LogConfig {
    /// Only standard error, in the default format: for before ha.cf is read.
    pub fn stderr_only(node: &str) -> LogConfig {
        LogConfig {
            node: node.to_string(),
            stderr: true,
            ..Self::empty()
        }
    }

    fn empty() -> LogConfig {
        LogConfig {
            entity: ENTITY.to_string(),
            node: String::new(),
            logfile: None,
            debugfile: None,
            facility: None,
            syslogmsgfmt: true,
            stderr: false,
            syslog_socket: PathBuf::from(syslog::SOCKET),
        }
    }

    /// The targets an ha.cf asks for, with hb's defaults (module docs), and the notices that
    /// announce the defaults, to be logged once the logger runs.
    pub fn from_hacf(cf: &HaCf, node: &str, foreground: bool) -> (LogConfig, Vec<LogLine>) {
        let mut notes = Vec::new();
        let file = |p: &Option<hb_core::config::hacf::Path>| {
            p.as_deref()
                .filter(|p| !p.eq_ignore_ascii_case(NO_FILE))
                .map(PathBuf::from)
        };
        let mut logfile = file(&cf.logfile);
        let facility = cf.syslog_facility();
        // `HaCf` sets logfile to /dev/null whenever a facility is configured, so "no logfile
        // line and no logfacility line" is exactly `logfile == None` (`logfacility kern` and
        // `none` count as no facility, as in heartbeat).
        if cf.logfile.is_none() && facility.is_none() {
            notes.push(LogLine::info("Neither logfile nor logfacility found."));
            notes.push(LogLine::info(format!(
                "Logging defaulting to {DEFAULT_LOGFILE}"
            )));
            logfile = Some(PathBuf::from(DEFAULT_LOGFILE));
        }
        let facility = match facility {
            Some(f) => Some(f),
            None if cf.use_logd && cf.logfacility.is_none() => Some(DEFAULT_FACILITY),
            None => None,
        };
        let cfg = LogConfig {
            node: node.to_string(),
            logfile,
            debugfile: file(&cf.debugfile),
            facility,
            syslogmsgfmt: cf.syslogmsgfmt,
            stderr: foreground,
            ..Self::empty()
        };
        (cfg, notes)
    }
}

/// heartbeat's logger. Shared between the heartbeat loop and the action worker (`&self`, one
/// mutex around the open files): each line costs a `write(2)` per target and, once a minute,
/// a `stat(2)` per file.
#[derive(Debug)]
pub struct Logger {
    cfg: LogConfig,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    logfile: Option<LogFile>,
    debugfile: Option<LogFile>,
    syslog: Option<syslog::Syslog>,
    /// When the files were last checked for rotation (`None`: never).
    last_rotate_check: Option<i64>,
    line: String,
}

/// One log file, opened on first use and reopened after rotation.
#[derive(Debug)]
struct LogFile {
    path: PathBuf,
    file: Option<File>,
    /// (device, inode) of the open file.
    id: (u64, u64),
    /// An open failure was reported and not yet followed by a success.
    complained: bool,
}

impl LogFile {
    fn new(path: &Path) -> LogFile {
        LogFile {
            path: path.to_path_buf(),
            file: None,
            id: (0, 0),
            complained: false,
        }
    }

    /// Closes the file if the path now names another file (or none); returns whether it did.
    fn rotated(&mut self) -> bool {
        if self.file.is_none() {
            return false;
        }
        let same = std::fs::metadata(&self.path)
            .map(|m| (m.dev(), m.ino()) == self.id)
            .unwrap_or(false);
        if !same {
            self.file = None;
        }
        !same
    }

    /// Opens the file if needed; on failure returns the message to report (once).
    fn ensure_open(&mut self) -> Result<(), Option<String>> {
        if self.file.is_some() {
            return Ok(());
        }
        match OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)
            .and_then(|f| f.metadata().map(|m| (f, m)))
        {
            Ok((f, m)) => {
                self.id = (m.dev(), m.ino());
                self.file = Some(f);
                self.complained = false;
                Ok(())
            }
            Err(e) => {
                let first = !std::mem::replace(&mut self.complained, true);
                Err(first.then(|| {
                    format!(
                        "Failed to open log file {}: {}",
                        self.path.display(),
                        crate::errno_text(&e)
                    )
                }))
            }
        }
    }

    fn write(&mut self, line: &str) {
        if let Some(f) = &mut self.file {
            if f.write_all(line.as_bytes()).is_err() {
                // A full disk or a removed device: reopen with the next message.
                self.file = None;
            }
        }
    }
}

impl Logger {
    pub fn new(cfg: LogConfig) -> Logger {
        let state = State {
            logfile: cfg.logfile.as_deref().map(LogFile::new),
            debugfile: cfg.debugfile.as_deref().map(LogFile::new),
            syslog: cfg
                .facility
                .map(|f| syslog::Syslog::new(&cfg.syslog_socket, f, &cfg.entity)),
            last_rotate_check: None,
            line: String::new(),
        };
        Logger {
            cfg,
            state: Mutex::new(state),
        }
    }

    pub fn config(&self) -> &LogConfig {
        &self.cfg
    }

    /// Logs `msg` now, as this process.
    pub fn log(&self, priority: Priority, msg: &str) {
        self.log_at(Stamp::now(), std::process::id(), priority, msg);
    }

    pub fn log_line(&self, line: &LogLine) {
        self.log(line.priority, &line.text);
    }

    pub fn info(&self, msg: &str) {
        self.log(Priority::Info, msg);
    }
    pub fn warn(&self, msg: &str) {
        self.log(Priority::Warn, msg);
    }
    pub fn error(&self, msg: &str) {
        self.log(Priority::Error, msg);
    }
    pub fn debug(&self, msg: &str) {
        self.log(Priority::Debug, msg);
    }

    /// Logs `msg` with the given time and pid (a forked child logs with its own pid; tests
    /// fix both).
    pub fn log_at(&self, when: Stamp, pid: u32, priority: Priority, msg: &str) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let st = &mut *st;
        if self.rotation_due(st, when.unix) {
            st.last_rotate_check = Some(when.unix);
            let mut rotated = Vec::new();
            for f in [&mut st.logfile, &mut st.debugfile].into_iter().flatten() {
                if f.rotated() {
                    rotated.push(f.path.display().to_string());
                }
            }
            for path in rotated {
                let note = format!("log-rotate detected on logfile {path}");
                self.emit(st, when, pid, Priority::Info, &note);
            }
        }
        self.emit(st, when, pid, priority, msg);
    }

    fn rotation_due(&self, st: &State, now: i64) -> bool {
        match st.last_rotate_check {
            None => true,
            // A clock set back must not stop the checks for as long as it went back.
            Some(last) => now >= last.saturating_add(ROTATE_CHECK_SECS) || now < last,
        }
    }

    fn emit(&self, st: &mut State, when: Stamp, pid: u32, priority: Priority, msg: &str) {
        let msg = truncate(msg, MAX_MESSAGE);
        if let Some(s) = &mut st.syslog {
            s.send(&when.local, pid, priority, msg);
        }
        let mut line = std::mem::take(&mut st.line);
        line.clear();
        format_file_line(
            &mut line,
            self.cfg.syslogmsgfmt,
            &when.local,
            &self.cfg.node,
            &self.cfg.entity,
            pid,
            priority,
            msg,
        );
        if self.cfg.stderr {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        let mut complaints = Vec::new();
        let targets = [
            (st.debugfile.as_mut(), true),
            (st.logfile.as_mut(), priority != Priority::Debug),
        ];
        for (file, wanted) in targets {
            let Some(file) = file.filter(|_| wanted) else {
                continue;
            };
            match file.ensure_open() {
                Ok(()) => file.write(&line),
                Err(Some(complaint)) => complaints.push(complaint),
                Err(None) => {}
            }
        }
        st.line = line;
        // cluster-glue reports an unopenable log file to syslog; with no syslog, stderr is the
        // only place left.
        for c in complaints {
            match &mut st.syslog {
                Some(s) => s.send(&when.local, pid, Priority::Error, &c),
                None => {
                    let _ = writeln!(std::io::stderr(), "{}: {c}", self.cfg.entity);
                }
            }
        }
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    const T: LocalTime = LocalTime {
        year: 2015,
        month: 3,
        day: 9,
        hour: 13,
        minute: 5,
        second: 9,
    };

    fn stamp(unix: i64) -> Stamp {
        Stamp { unix, local: T }
    }

    fn line(syslogmsgfmt: bool, p: Priority, msg: &str) -> String {
        let mut s = String::new();
        format_file_line(&mut s, syslogmsgfmt, &T, "node1", ENTITY, 1234, p, msg);
        s
    }

    #[test]
    fn priority_words() {
        let words: Vec<_> = Priority::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(
            words,
            ["EMERG", "ALERT", "CRIT", "ERROR", "WARN", "notice", "info", "debug"]
        );
        assert_eq!(Priority::Emerg.syslog_severity(), 0);
        assert_eq!(Priority::Debug.syslog_severity(), 7);
    }

    #[test]
    fn syslogmsgfmt_line() {
        assert_eq!(
            line(true, Priority::Info, "Link node2:eth0 up."),
            "Mar 09 13:05:09 node1 heartbeat: [1234]: info: Link node2:eth0 up.\n"
        );
        assert_eq!(
            line(true, Priority::Warn, "node node2: is dead"),
            "Mar 09 13:05:09 node1 heartbeat: [1234]: WARN: node node2: is dead\n"
        );
    }

    #[test]
    fn classic_line() {
        assert_eq!(
            line(false, Priority::Info, "Link node2:eth0 up."),
            "heartbeat[1234]: 2015/03/09_13:05:09 info: Link node2:eth0 up.\n"
        );
        assert_eq!(
            line(false, Priority::Crit, "x"),
            "heartbeat[1234]: 2015/03/09_13:05:09 CRIT: x\n"
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(T.ha_timestamp(), "2015/03/09_13:05:09");
        assert_eq!(T.file_syslog_timestamp(), "Mar 09 13:05:09");
        assert_eq!(T.rfc3164_timestamp(), "Mar  9 13:05:09");
        let dec = LocalTime {
            month: 12,
            day: 31,
            ..T
        };
        assert_eq!(dec.file_syslog_timestamp(), "Dec 31 13:05:09");
        assert_eq!(dec.rfc3164_timestamp(), "Dec 31 13:05:09");
    }

    #[test]
    fn utc_conversion() {
        assert_eq!(
            LocalTime::utc(1_425_906_309),
            LocalTime {
                year: 2015,
                month: 3,
                day: 9,
                hour: 13,
                minute: 5,
                second: 9
            }
        );
        assert_eq!(LocalTime::utc(0).ha_timestamp(), "1970/01/01_00:00:00");
        assert_eq!(
            LocalTime::utc(951_782_400).ha_timestamp(),
            "2000/02/29_00:00:00"
        );
        assert_eq!(LocalTime::utc(-1).ha_timestamp(), "1969/12/31_23:59:59");
    }

    #[test]
    fn local_time_is_a_time_zone_away_from_utc() {
        // Whatever the machine's zone, local and UTC differ by whole quarter hours, less than
        // a day apart.
        let t = 1_425_906_309;
        let l = LocalTime::from_unix(t);
        let u = LocalTime::utc(t);
        let mins = |x: &LocalTime| i64::from(x.hour) * 60 + i64::from(x.minute);
        assert_eq!(l.second, u.second);
        let diff = (mins(&l) - mins(&u)).rem_euclid(24 * 60);
        assert_eq!(diff % 15, 0);
    }

    fn config(dir: &Path) -> LogConfig {
        LogConfig {
            node: "node1".into(),
            logfile: Some(dir.join("ha-log")),
            debugfile: Some(dir.join("ha-debug")),
            ..LogConfig::empty()
        }
    }

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_default()
    }

    #[test]
    fn logfile_gets_all_but_debug_and_debugfile_all() {
        let dir = tempfile::tempdir().unwrap();
        let log = Logger::new(config(dir.path()));
        log.log_at(stamp(100), 1234, Priority::Info, "one");
        log.log_at(stamp(101), 1234, Priority::Debug, "two");
        log.log_at(stamp(102), 77, Priority::Error, "three");
        assert_eq!(
            read(&dir.path().join("ha-log")),
            "Mar 09 13:05:09 node1 heartbeat: [1234]: info: one\n\
             Mar 09 13:05:09 node1 heartbeat: [77]: ERROR: three\n"
        );
        assert_eq!(
            read(&dir.path().join("ha-debug")),
            "Mar 09 13:05:09 node1 heartbeat: [1234]: info: one\n\
             Mar 09 13:05:09 node1 heartbeat: [1234]: debug: two\n\
             Mar 09 13:05:09 node1 heartbeat: [77]: ERROR: three\n"
        );
    }

    #[test]
    fn files_are_appended_to() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ha-log");
        std::fs::write(&path, "old line\n").unwrap();
        let cfg = LogConfig {
            syslogmsgfmt: false,
            debugfile: None,
            ..config(dir.path())
        };
        Logger::new(cfg).log_at(stamp(0), 9, Priority::Notice, "new");
        assert_eq!(
            read(&path),
            "old line\nheartbeat[9]: 2015/03/09_13:05:09 notice: new\n"
        );
    }

    #[test]
    fn rotation_is_noticed_at_most_once_a_minute() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ha-log");
        let rotated = dir.path().join("ha-log.1");
        let cfg = LogConfig {
            debugfile: None,
            ..config(dir.path())
        };
        let log = Logger::new(cfg);
        log.log_at(stamp(1000), 1, Priority::Info, "a");
        std::fs::rename(&path, &rotated).unwrap();
        // Within the minute the old (renamed) file still gets the lines.
        log.log_at(stamp(1059), 1, Priority::Info, "b");
        assert!(!path.exists());
        log.log_at(stamp(1060), 1, Priority::Info, "c");
        assert_eq!(
            read(&rotated),
            "Mar 09 13:05:09 node1 heartbeat: [1]: info: a\n\
             Mar 09 13:05:09 node1 heartbeat: [1]: info: b\n"
        );
        assert_eq!(
            read(&path),
            format!(
                "Mar 09 13:05:09 node1 heartbeat: [1]: info: log-rotate detected on logfile {}\n\
                 Mar 09 13:05:09 node1 heartbeat: [1]: info: c\n",
                path.display()
            )
        );
    }

    #[test]
    fn an_unopenable_file_does_not_stop_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            logfile: Some(dir.path().join("missing-dir/ha-log")),
            ..config(dir.path())
        };
        let log = Logger::new(cfg);
        log.log_at(stamp(0), 1, Priority::Info, "still here");
        assert_eq!(
            read(&dir.path().join("ha-debug")),
            "Mar 09 13:05:09 node1 heartbeat: [1]: info: still here\n"
        );
    }

    #[test]
    fn syslog_gets_tagged_datagrams() {
        let dir = tempfile::tempdir().unwrap();
        let sock_path = dir.path().join("log");
        let server = UnixDatagram::bind(&sock_path).unwrap();
        let cfg = LogConfig {
            logfile: None,
            debugfile: None,
            facility: Some(LogFacility::Local3),
            syslog_socket: sock_path,
            ..config(dir.path())
        };
        let log = Logger::new(cfg);
        log.log_at(stamp(0), 1234, Priority::Warn, "Late heartbeat");
        log.log_at(stamp(0), 1234, Priority::Debug, "dbg");
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).unwrap();
        // local3 = 19 << 3 = 152, warning = 4.
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            "<156>Mar  9 13:05:09 heartbeat: [1234]: WARN: Late heartbeat"
        );
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            "<159>Mar  9 13:05:09 heartbeat: [1234]: debug: dbg"
        );
    }

    fn hacf(text: &str) -> HaCf {
        HaCf::parse(text, &mut |_| {}).unwrap()
    }

    #[test]
    fn defaults_from_hacf() {
        let base = "node node1\nbcast eth0\nauto_failback on\n";
        let (cfg, notes) = LogConfig::from_hacf(&hacf(base), "node1", false);
        assert_eq!(cfg.logfile.as_deref(), Some(Path::new(DEFAULT_LOGFILE)));
        assert_eq!(cfg.debugfile, None);
        assert_eq!(cfg.facility, Some(LogFacility::Daemon));
        assert!(cfg.syslogmsgfmt);
        assert_eq!(
            notes,
            [
                LogLine::info("Neither logfile nor logfacility found."),
                LogLine::info("Logging defaulting to /var/log/ha-log"),
            ]
        );

        let (cfg, notes) =
            LogConfig::from_hacf(&hacf(&format!("{base}logfacility local0\n")), "n", true);
        assert_eq!((cfg.logfile, cfg.debugfile), (None, None));
        assert_eq!(cfg.facility, Some(LogFacility::Local0));
        assert!(cfg.stderr);
        assert!(notes.is_empty());

        let (cfg, notes) = LogConfig::from_hacf(
            &hacf(&format!(
                "{base}logfile /l\ndebugfile /d\nsyslogmsgfmt false\n"
            )),
            "n",
            false,
        );
        assert_eq!(cfg.logfile.as_deref(), Some(Path::new("/l")));
        assert_eq!(cfg.debugfile.as_deref(), Some(Path::new("/d")));
        assert_eq!(cfg.facility, None);
        assert!(!cfg.syslogmsgfmt);
        assert!(notes.is_empty());

        // Only a debugfile: no logfile line and no facility, so the default file too.
        let (cfg, _) = LogConfig::from_hacf(&hacf(&format!("{base}debugfile /d\n")), "n", false);
        assert_eq!(cfg.logfile.as_deref(), Some(Path::new(DEFAULT_LOGFILE)));
        assert_eq!(cfg.facility, None);
    }

    #[test]
    fn long_messages_are_cut_at_a_char_boundary() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
