//! One configuration load for the daemon and `hbctl check-config` (issue 10): read
//! DIR/ha.cf, DIR/authkeys and DIR/haresources, parse them with hb-core's parsers, and
//! cross-check them (the local node, haresources' nodes, the key file's mode, the resource
//! manager mode and, when asked, this machine). [`check`] is that one procedure: the daemon
//! ([`load`], at start-up, at SIGHUP, for `heartbeat -r`/`-v`) and `hbctl check-config` both run
//! it and print the [`Finding`]s it formats, so a configuration cannot pass one and fail the
//! other. What differs is only how each reports the end: the daemon refuses with heartbeat's
//! lines and LSB exit codes (spec-behaviour §1.7), check-config prints every finding sorted by
//! file and line with a count.

use hb_core::auth::Keyring;
use hb_core::config::{AuthKeys, ConfigError, FileKind, HaCf, HaResources, Medium, Pos};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// LSB "program is not configured": any configuration error (heartbeat's exit code).
pub const EXIT_NOT_CONFIGURED: u8 = 6;
/// LSB "user had insufficient privilege": a file we may not read.
pub const EXIT_NO_PRIVILEGE: u8 = 4;

/// One problem in the files, formatted once for every reader: `FILE:LINE:COL: message`
/// (or `FILE: message` for a problem of the whole file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub file: FileKind,
    /// 0 for a problem of the whole file.
    pub line: u32,
    pub column: u32,
    pub text: String,
    pub warning: bool,
}

impl Finding {
    fn from_error(path: &Path, e: &ConfigError) -> Finding {
        Finding {
            file: e.file(),
            line: e.line(),
            column: e.column(),
            text: format!("{}:{e}", path.display()),
            warning: e.is_warning(),
        }
    }
}

/// Why a check stopped before the end: nothing after this was looked at.
#[derive(Debug)]
pub enum Stop {
    /// A file could not be read, or is not text.
    Unreadable { path: PathBuf, error: ReadError },
    /// Neither `--node`, DIR/nodeinfo nor `uname -n` named this node.
    NodeName(std::io::Error),
}

#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    /// The byte offset of the first byte that is not UTF-8.
    NotUtf8 {
        at: usize,
    },
}

/// What [`check`] made of a directory: each file parsed, `None` when it had errors (or was not
/// needed: haresources when ha.cf hands resources to a CRM).
#[derive(Debug)]
pub struct Checked {
    pub hacf: Option<HaCf>,
    pub keys: Option<AuthKeys>,
    pub haresources: Option<HaResources>,
    /// Our node name, lowercased; `None` when ha.cf did not parse (it is not needed then).
    pub node: Option<String>,
    /// The files as read (ha.cf, authkeys, haresources; empty when not read).
    pub texts: [String; 3],
}

/// Reads, parses and cross-checks the three files of `dir`, handing every problem to `found`
/// as it is seen. `node` overrides [`local_node_name`]; `machine` also checks what only this
/// machine can tell (interfaces, serial and relay devices, users, executables). haresources is
/// read unless ha.cf hands resources to a CRM, also when ha.cf has errors, so that one run
/// lists every problem.
pub fn check(
    dir: &Path,
    node: Option<&str>,
    machine: bool,
    found: &mut dyn FnMut(Finding),
) -> Result<Checked, Stop> {
    let hacf_path = dir.join(FileKind::HaCf.name());
    let auth_path = dir.join(FileKind::AuthKeys.name());
    let res_path = dir.join(FileKind::HaResources.name());
    let mut diag = |path: &Path, e: ConfigError| found(Finding::from_error(path, &e));

    let hacf_text = read(&hacf_path)?;
    let hacf = HaCf::parse(&hacf_text, &mut |e| diag(&hacf_path, e)).ok();

    let auth_text = read(&auth_path)?;
    if let Err(e) = authkeys_mode(&auth_path) {
        diag(&auth_path, e);
    }
    let keys = AuthKeys::parse(&auth_text, &mut |e| diag(&auth_path, e)).ok();

    let mut local = None;
    if let Some(hacf) = &hacf {
        let name = match node {
            Some(n) => n.to_lowercase(),
            None => local_node_name(dir).map_err(Stop::NodeName)?,
        };
        if let Err(e) = hacf.check_local_node(&name) {
            diag(&hacf_path, e);
        }
        local = Some(name);
        for e in hb_env_checks(hacf, &hacf_text) {
            diag(&hacf_path, e);
        }
        if machine {
            for e in machine_checks(hacf) {
                diag(&hacf_path, e);
            }
        }
    }
    let mut haresources = None;
    let mut res_text = String::new();
    if hacf.as_ref().is_none_or(HaCf::manages_resources) {
        res_text = read(&res_path)?;
        if let Ok(res) = HaResources::parse(&res_text, &mut |e| diag(&res_path, e)) {
            if let Some(hacf) = &hacf {
                let _ = res.check_nodes(hacf.node_names(), &mut |e| diag(&res_path, e));
            }
            haresources = Some(res);
        }
    }
    if hacf.as_ref().is_some_and(|h| !h.manages_resources()) {
        found(Finding {
            file: FileKind::HaCf,
            line: 0,
            column: 0,
            text: format!(
                "{}: crm/pacemaker mode is not supported by hb: manage resources with haresources",
                hacf_path.display()
            ),
            warning: false,
        });
    }
    Ok(Checked {
        hacf,
        keys,
        haresources,
        node: local,
        texts: [hacf_text, auth_text, res_text],
    })
}

/// The three files, parsed and cross-checked, and who we are: what the daemon runs with.
#[derive(Debug)]
pub struct Loaded {
    pub dir: PathBuf,
    pub hacf: HaCf,
    /// Empty when ha.cf says resources are not ours to manage.
    pub haresources: HaResources,
    pub keys: Keyring,
    /// Our node name, lowercased (`uname -n`, or DIR/nodeinfo, or `--node`).
    pub node: String,
    /// `uname -n` as it is, for the `syslogmsgfmt` log lines.
    pub hostname: String,
    /// The files as read (ha.cf, authkeys, haresources), to tell whether a reload changes
    /// anything.
    pub texts: [String; 3],
}

/// Why the daemon will not start: the lines to print (each names its file) and the exit code.
#[derive(Debug)]
pub struct Refused {
    pub lines: Vec<String>,
    pub exit: u8,
}

/// The daemon's load: [`check`] without the machine checks (opening the media finds those);
/// warnings go to `warn`; any error refuses, with every error found before it stopped.
pub fn load(
    dir: &Path,
    node: Option<&str>,
    warn: &mut dyn FnMut(String),
) -> Result<Loaded, Refused> {
    let mut errors = Vec::new();
    let checked = check(dir, node, false, &mut |f| {
        if f.warning {
            warn(f.text);
        } else {
            errors.push(f.text);
        }
    });
    let checked = match checked {
        Ok(c) => c,
        Err(stop) => {
            let (lines, exit) = refusal(&stop);
            errors.extend(lines);
            return Err(Refused {
                lines: errors,
                exit,
            });
        }
    };
    match checked {
        Checked {
            hacf: Some(hacf),
            keys: Some(keys),
            haresources: Some(haresources),
            node: Some(node),
            texts,
        } if errors.is_empty() => Ok(Loaded {
            dir: dir.to_path_buf(),
            hacf,
            haresources,
            keys: keys.keyring(),
            node,
            hostname: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            texts,
        }),
        _ => {
            if errors.is_empty() {
                errors.push(format!("{}: configuration error", dir.display()));
            }
            Err(Refused {
                lines: errors,
                exit: EXIT_NOT_CONFIGURED,
            })
        }
    }
}

/// heartbeat's lines and exit code for a check that stopped.
fn refusal(stop: &Stop) -> (Vec<String>, u8) {
    match stop {
        Stop::NodeName(e) => (
            vec![format!(
                "cannot tell this node's name: {}",
                crate::errno_text(e)
            )],
            EXIT_NOT_CONFIGURED,
        ),
        Stop::Unreadable {
            path,
            error: ReadError::NotUtf8 { at },
        } => (
            vec![format!(
                "{}: not UTF-8 text (invalid byte at offset {at})",
                path.display()
            )],
            EXIT_NOT_CONFIGURED,
        ),
        Stop::Unreadable {
            path,
            error: ReadError::Io(e),
        } => {
            let exit = match e.kind() {
                std::io::ErrorKind::PermissionDenied => EXIT_NO_PRIVILEGE,
                _ => EXIT_NOT_CONFIGURED,
            };
            let mut lines = vec![format!(
                "Cannot open config file [{}]: {}",
                path.display(),
                crate::errno_text(e)
            )];
            if path.ends_with(FileKind::HaCf.name()) && e.kind() == std::io::ErrorKind::NotFound {
                lines.push(
                    "An annotated sample ha.cf file is provided in the documentation.".into(),
                );
                lines.push(format!(
                    "Please copy it to {}, read it, customize it, and try again.",
                    path.display()
                ));
            }
            (lines, exit)
        }
    }
}

/// A file's text.
fn read(path: &Path) -> Result<String, Stop> {
    let error = match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => return Ok(text),
            Err(e) => ReadError::NotUtf8 {
                at: e.utf8_error().valid_up_to(),
            },
        },
        Err(e) => ReadError::Io(e),
    };
    Err(Stop::Unreadable {
        path: path.to_path_buf(),
        error,
    })
}

/// heartbeat's check of the key file's mode (group or others may read it: an error).
#[allow(clippy::result_large_err)] // one per run
pub fn authkeys_mode(path: &Path) -> Result<(), ConfigError> {
    match std::fs::metadata(path) {
        Ok(m) => AuthKeys::check_mode(m.permissions().mode(), &path.display().to_string()),
        Err(_) => Ok(()), // reading it already failed and said so
    }
}

/// `uname -n`, unless `DIR/nodeinfo` names the node (heartbeat's `get_localnodeinfo`: its first
/// line, if it ends in a newline); lowercased.
pub fn local_node_name(dir: &Path) -> std::io::Result<String> {
    if let Ok(text) = std::fs::read_to_string(dir.join("nodeinfo")) {
        if let Some((first, _)) = text.split_once('\n') {
            return Ok(first.trim().to_lowercase());
        }
    }
    let name = nix::unistd::gethostname().map_err(std::io::Error::from)?;
    Ok(name.to_string_lossy().to_lowercase())
}

/// `env HB_DEFER_STATUS=yes|no`: whether the UDP media read steady statuses when the daemon
/// wakes anyway (on unless turned off; see `media`'s `steady`).
pub const DEFER_STATUS: &str = "HB_DEFER_STATUS";

/// An on/off `env` value as hb reads them (`1|yes|on|true`, `0|no|off|false`).
pub fn env_switch(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "on" | "true" => Some(true),
        "0" | "no" | "off" | "false" => Some(false),
        _ => None,
    }
}

/// Whether steady statuses are deferred ([`DEFER_STATUS`]; the last line that says wins).
pub fn defer_status(hacf: &HaCf) -> bool {
    hacf.env
        .iter()
        .rev()
        .find(|v| v.name.as_str() == DEFER_STATUS)
        .and_then(|v| env_switch(v.value.as_str()))
        .unwrap_or(true)
}

/// What one of hb's own `env` knobs takes.
#[derive(Clone, Copy)]
enum Knob {
    /// `yes`/`no` ([`env_switch`]).
    Switch,
    /// Whole seconds or `<n>ms` ([`hb_core::config::env_duration`]).
    Duration,
    /// Whole seconds, at least 1.
    Seconds,
    /// A whole number.
    Count,
    /// `ADDR:PORT`.
    Listen,
    /// `external`, the one value.
    Ipfail,
}

/// hb's own knobs on ha.cf's `env` lines. 3.0.6 takes any `env` line (it exports it to the
/// resource scripts), so a typo in a name or a value would otherwise be silently ignored:
/// monitoring off, no fence delay, a default timeout.
const KNOBS: [(&str, Knob); 11] = [
    (DEFER_STATUS, Knob::Switch),
    ("HB_BEAT_IN_STEP", Knob::Switch),
    ("HB_FENCE_DELAY", Knob::Duration),
    ("HB_MONITOR_INTERVAL", Knob::Duration),
    ("HB_MONITOR_FAILURES", Knob::Count),
    ("HB_MONITOR_RESTARTS", Knob::Count),
    ("HB_START_TIMEOUT", Knob::Seconds),
    ("HB_STOP_TIMEOUT", Knob::Seconds),
    ("HB_STATUS_TIMEOUT", Knob::Seconds),
    (crate::metrics::ENV_NAME, Knob::Listen),
    ("HB_IPFAIL", Knob::Ipfail),
];

/// Why a knob's value is refused, if it is.
fn knob_error(name: &str, knob: Knob, value: &str) -> Option<String> {
    let why = match knob {
        Knob::Switch if env_switch(value).is_none() => "not a switch (yes or no)",
        Knob::Duration if hb_core::config::env_duration(value).is_none() => {
            "not a duration (whole seconds, or milliseconds as <n>ms)"
        }
        Knob::Seconds if !matches!(value.trim().parse::<u64>(), Ok(1..)) => {
            "not a whole number of seconds, at least 1"
        }
        Knob::Count if value.trim().parse::<u32>().is_err() => "not a whole number",
        Knob::Listen => return crate::metrics::parse_listen(value).err(),
        Knob::Ipfail if value != "external" => {
            "not `external`, its one value (without the line, ipfail runs built in)"
        }
        _ => return None,
    };
    Some(format!("env {name}={value}: {why}"))
}

/// Checks hb's own `env` knobs ([`KNOBS`]): a value that does not parse is an error, a name
/// within two letters of one of them a warning. Located by finding the line in the text.
fn hb_env_checks(hacf: &HaCf, text: &str) -> Vec<ConfigError> {
    let mut out = Vec::new();
    for v in hacf.env.iter() {
        let (name, value) = (v.name.as_str(), v.value.as_str());
        let (error, msg) = match KNOBS.iter().find(|(n, _)| *n == name) {
            Some(&(_, knob)) => match knob_error(name, knob, value) {
                Some(msg) => (true, msg),
                None => continue,
            },
            None => match hb_core::config::closest(name, KNOBS.iter().map(|(n, _)| *n)) {
                Some(known) => (
                    false,
                    format!("env {name}: not one of hb's settings (did you mean {known}?)"),
                ),
                None => continue,
            },
        };
        let needle = format!("{name}={value}");
        let at = text
            .lines()
            .enumerate()
            .find_map(|(i, l)| {
                l.find(&needle).map(|c| Pos {
                    line: i as u32 + 1,
                    column: c as u32 + 1,
                })
            })
            .unwrap_or(Pos::FILE);
        out.push(if error {
            ConfigError::error(FileKind::HaCf, at, format_args!("{msg}"))
        } else {
            ConfigError::warning(FileKind::HaCf, at, format_args!("{msg}"))
        });
    }
    out
}

/// What heartbeat checks against the running system when it reads ha.cf, with its messages.
fn machine_checks(hacf: &HaCf) -> Vec<ConfigError> {
    let mut out = Vec::new();
    let err = |at: Pos, msg: String| ConfigError::error(FileKind::HaCf, at, format_args!("{msg}"));
    for m in &hacf.media {
        match &m.value {
            Medium::Bcast { iface, .. }
            | Medium::Ucast { iface, .. }
            | Medium::Mcast { iface, .. }
                if nix::net::if_::if_nametoindex(iface.as_str()).is_err() =>
            {
                out.push(err(m.at, format!("IP interface [{iface}] does not exist")));
            }
            // 3.0.6's IPv6 plugins check the device when they parse the line.
            Medium::Mcast6 { iface, .. } | Medium::Ucast6 { iface, .. }
                if nix::net::if_::if_nametoindex(iface.as_str()).is_err() =>
            {
                out.push(err(
                    m.at,
                    format!(
                        "{} device [{iface}] is invalid or not set up properly",
                        m.value.directive()
                    ),
                ));
            }
            Medium::Serial { device, .. } => match std::fs::metadata(device.as_str()) {
                Err(_) => out.push(err(
                    m.at,
                    format!("Nonexistent serial port [{device}] in config file"),
                )),
                Ok(md) if !md.file_type().is_char_device() => out.push(err(
                    m.at,
                    format!("Serial port [{device}] not a char device in config file"),
                )),
                Ok(_) => {}
            },
            Medium::Relay { device, .. } => match std::fs::metadata(device.as_str()) {
                Err(_) => out.push(err(
                    m.at,
                    format!("Nonexistent relay device [{device}] in config file"),
                )),
                Ok(md) if !md.file_type().is_char_device() => out.push(err(
                    m.at,
                    format!("Relay device [{device}] not a char device in config file"),
                )),
                Ok(_) => {}
            },
            _ => {}
        }
    }
    for c in &hacf.client_children {
        let child = &c.value;
        if matches!(
            nix::unistd::User::from_name(child.user.as_str()),
            Ok(None) | Err(_)
        ) {
            out.push(err(
                c.at,
                format!("Invalid uid [{}] specified for client child", child.user),
            ));
        }
        let executable = std::fs::metadata(child.path())
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false);
        if !executable {
            out.push(err(
                c.at,
                format!("Client child command [{}] is not executable", child.path()),
            ));
        }
    }
    out
}
#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(dir: &Path, name: &str, text: &str, mode: u32) {
        let p = dir.join(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn good(dir: &Path) {
        write(
            dir,
            "ha.cf",
            "keepalive 1\ndeadtime 10\nudpport 694\nbcast lo\nnode alpha\nnode beta\n",
            0o644,
        );
        write(dir, "authkeys", "auth 1\n1 sha1 secret\n", 0o600);
        write(dir, "haresources", "alpha 198.51.100.80\n", 0o644);
    }

    #[test]
    fn loads_a_good_directory() {
        let d = tempfile::tempdir().unwrap();
        good(d.path());
        let l = load(d.path(), Some("Alpha"), &mut |_| {}).unwrap();
        assert_eq!(l.node, "alpha");
        assert_eq!(l.haresources.groups().len(), 1);
    }

    #[test]
    fn readable_authkeys_is_refused_naming_the_file() {
        let d = tempfile::tempdir().unwrap();
        good(d.path());
        write(d.path(), "authkeys", "auth 1\n1 sha1 secret\n", 0o644);
        let r = load(d.path(), Some("alpha"), &mut |_| {}).unwrap_err();
        assert_eq!(r.exit, EXIT_NOT_CONFIGURED);
        assert_eq!(r.lines.len(), 1, "{:?}", r.lines);
        assert!(r.lines[0].contains("authkeys"), "{:?}", r.lines);
        assert!(r.lines[0].contains("Bad permissions"), "{:?}", r.lines);
    }

    #[test]
    fn bad_hacf_line_is_refused_with_its_position() {
        let d = tempfile::tempdir().unwrap();
        good(d.path());
        write(
            d.path(),
            "ha.cf",
            "keepalive 1\nfrobnicate yes\nbcast lo\nnode alpha\n",
            0o644,
        );
        let r = load(d.path(), Some("alpha"), &mut |_| {}).unwrap_err();
        let want = format!("{}:2:1:", d.path().join("ha.cf").display());
        assert!(
            r.lines.iter().any(|l| l.starts_with(&want)),
            "{:?}",
            r.lines
        );
    }

    #[test]
    fn a_bad_metrics_address_is_refused_with_its_position() {
        let dir = tempfile::tempdir().unwrap();
        good(dir.path());
        let cf = std::fs::read_to_string(dir.path().join("ha.cf")).unwrap();
        write(
            dir.path(),
            "ha.cf",
            &format!("{cf}env HB_METRICS=9110\n"),
            0o644,
        );
        let line = cf.lines().count() + 1;
        let r = load(dir.path(), Some("alpha"), &mut |_| {}).unwrap_err();
        assert_eq!(r.exit, EXIT_NOT_CONFIGURED);
        assert_eq!(
            r.lines,
            [format!(
                "{}:{line}:5: env HB_METRICS=9110: not ADDR:PORT (e.g. 203.0.113.1:9110 or \
                 [2001:db8::1]:9110)",
                dir.path().join("ha.cf").display()
            )]
        );
        write(
            dir.path(),
            "ha.cf",
            &format!("{cf}env HB_METRICS=127.0.0.1:9110\n"),
            0o644,
        );
        assert!(load(dir.path(), Some("alpha"), &mut |_| {}).is_ok());
    }

    #[test]
    fn hb_switches_must_read_as_yes_or_no() {
        let dir = tempfile::tempdir().unwrap();
        good(dir.path());
        let cf = std::fs::read_to_string(dir.path().join("ha.cf")).unwrap();
        for name in ["HB_DEFER_STATUS", "HB_BEAT_IN_STEP"] {
            write(
                dir.path(),
                "ha.cf",
                &format!("{cf}env {name}=maybe\n"),
                0o644,
            );
            let line = cf.lines().count() + 1;
            let r = load(dir.path(), Some("alpha"), &mut |_| {}).unwrap_err();
            assert_eq!(r.exit, EXIT_NOT_CONFIGURED);
            assert_eq!(
                r.lines,
                [format!(
                    "{}:{line}:5: env {name}=maybe: not a switch (yes or no)",
                    dir.path().join("ha.cf").display()
                )]
            );
            for ok in ["no", "Off", "1"] {
                write(
                    dir.path(),
                    "ha.cf",
                    &format!("{cf}env {name}={ok}\n"),
                    0o644,
                );
                let loaded = load(dir.path(), Some("alpha"), &mut |_| {}).unwrap();
                if name == "HB_DEFER_STATUS" {
                    assert_eq!(defer_status(&loaded.hacf), ok == "1", "{ok}");
                }
            }
        }
        write(dir.path(), "ha.cf", &cf, 0o644);
        let loaded = load(dir.path(), Some("alpha"), &mut |_| {}).unwrap();
        assert!(defer_status(&loaded.hacf), "on unless turned off");
    }

    /// The load's lines about `env` (the sample's `auto_failback` default is warned about).
    fn keep_env(said: &mut Vec<String>, line: &str) {
        if line.contains(": env ") || line.contains("warning: env ") {
            said.push(line.to_string());
        }
    }

    #[test]
    fn every_hb_knob_refuses_a_value_it_would_ignore_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        good(dir.path());
        let cf = std::fs::read_to_string(dir.path().join("ha.cf")).unwrap();
        let line = cf.lines().count() + 1;
        let cases: [(&str, &[&str], &[&str], &str); 9] = [
            (
                "HB_FENCE_DELAY",
                &["2s", "soon", "-1", "1.5"],
                &["0", "3", "250ms"],
                "not a duration (whole seconds, or milliseconds as <n>ms)",
            ),
            (
                "HB_MONITOR_INTERVAL",
                &["5s", "x"],
                &["0", "5", "500ms"],
                "not a duration (whole seconds, or milliseconds as <n>ms)",
            ),
            (
                "HB_MONITOR_FAILURES",
                &["x", "-1", "2.5"],
                &["0", "3"],
                "not a whole number",
            ),
            (
                "HB_MONITOR_RESTARTS",
                &["many"],
                &["0", "7"],
                "not a whole number",
            ),
            (
                "HB_START_TIMEOUT",
                &["0", "2m", "-5"],
                &["1", "300"],
                "not a whole number of seconds, at least 1",
            ),
            (
                "HB_STOP_TIMEOUT",
                &["60s"],
                &["60"],
                "not a whole number of seconds, at least 1",
            ),
            (
                "HB_STATUS_TIMEOUT",
                &["0"],
                &["20"],
                "not a whole number of seconds, at least 1",
            ),
            (
                "HB_IPFAIL",
                &["extern", "builtin", "yes"],
                &["external"],
                "not `external`, its one value (without the line, ipfail runs built in)",
            ),
            (
                "HB_DEFER_STATUS",
                &["maybe"],
                &["yes"],
                "not a switch (yes or no)",
            ),
        ];
        let hacf = dir.path().join("ha.cf");
        for (name, bad, ok, why) in cases {
            for value in bad {
                write(
                    dir.path(),
                    "ha.cf",
                    &format!("{cf}env {name}={value}\n"),
                    0o644,
                );
                let r = load(dir.path(), Some("alpha"), &mut |_| {}).unwrap_err();
                assert_eq!(r.exit, EXIT_NOT_CONFIGURED);
                assert_eq!(
                    r.lines,
                    [format!(
                        "{}:{line}:5: env {name}={value}: {why}",
                        hacf.display()
                    )]
                );
            }
            for value in ok {
                write(
                    dir.path(),
                    "ha.cf",
                    &format!("{cf}env {name}={value}\n"),
                    0o644,
                );
                let mut said = Vec::new();
                load(dir.path(), Some("alpha"), &mut |l| keep_env(&mut said, &l))
                    .unwrap_or_else(|e| panic!("{name}={value}: {:?}", e.lines));
                assert_eq!(said, Vec::<String>::new(), "{name}={value}");
            }
        }
        // A misspelt knob is named with the one meant; a name far from all of them (a
        // variable for the resource scripts) is nobody's business.
        write(
            dir.path(),
            "ha.cf",
            &format!("{cf}env HB_MONTIOR_INTERVAL=5\nenv MY_SCRIPT_MODE=fast\n"),
            0o644,
        );
        let mut said = Vec::new();
        load(dir.path(), Some("alpha"), &mut |l| keep_env(&mut said, &l)).unwrap();
        assert_eq!(
            said,
            [format!(
                "{}:{line}:5: warning: env HB_MONTIOR_INTERVAL: not one of hb's settings (did \
                 you mean HB_MONITOR_INTERVAL?)",
                hacf.display()
            )]
        );
    }

    #[test]
    fn unknown_local_node_and_missing_file() {
        let d = tempfile::tempdir().unwrap();
        good(d.path());
        let r = load(d.path(), Some("gamma"), &mut |_| {}).unwrap_err();
        assert!(r.lines[0].contains("gamma"), "{:?}", r.lines);
        fs::remove_file(d.path().join("ha.cf")).unwrap();
        let r = load(d.path(), Some("alpha"), &mut |_| {}).unwrap_err();
        assert!(
            r.lines[0].starts_with("Cannot open config file ["),
            "{:?}",
            r.lines
        );
        assert_eq!(r.exit, EXIT_NOT_CONFIGURED);
    }
}
