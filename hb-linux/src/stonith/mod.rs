//! STONITH as heartbeat v1 does it (behaviour spec §7), with cluster-glue's plugins.
//!
//! - ha.cf: `stonith <type> <config-file>` (the file's first line that is neither empty nor a
//!   `#` comment holds the parameters) and `stonith_host <from> <type> <params…>` (used only
//!   when `<from>` is `*` or this node). heartbeat keeps **one** device: of the lines that
//!   apply, the last one in the file wins ([`Stonith::from_config`]).
//! - Parameters are whitespace-separated values **in the order of the plugin's parameter
//!   names**, the last one taking the rest of the line (cluster-glue
//!   `stonith1_compat_string_to_NVpair`, [`compat_params`]).
//! - Plugins ([`Plugin`]): `null` (testing), `meatware` (an operator confirms with
//!   `meatclient -c NODE`), `external/NAME` (any executable following cluster-glue's external
//!   plugin convention), `fence_AGENT` (fence-agents' programs, [`FenceAgent`]: `name=value`
//!   parameters instead of positional ones). The relay board's plugin implements the same
//!   trait.
//! - [`Stonith::fence`] is the blocking reset heartbeat forks a child for: it logs heartbeat's
//!   lines (`Resetting node N with [DEVICE]`, `node N now reset.`, `Device D cannot reset host
//!   N.`, `Host N not reset!`) and is bounded by [`Stonith::timeout`]. Retrying every
//!   [`RETRY_INTERVAL`] (`STONITH of N failed.  Retrying...`, [`retry_line`]) and the hourly
//!   [`Stonith::check_status`] are the daemon's to schedule.
//! - [`cli`]: the `stonith(8)` and `meatclient(8)` commands, also `hbctl stonith` and
//!   `hbctl meatclient`.
//!
//! Plugins log through a callback rather than returning lines, because some lines must be
//! seen *while* a reset waits (meatware's `OPERATOR INTERVENTION REQUIRED`).

pub mod cli;
mod external;
mod fence;
pub mod hbrelay;
mod meatware;
mod null;

pub use external::External;
pub use fence::{parse_pairs, FenceAgent, FENCE_DIRS, FENCE_DIRS_ENV};
pub use hbrelay::HbRelay;
pub use meatware::{meatclient, Meatware, MEATWARE_TIMEOUT};
pub use null::Null;

use crate::log::LogLine;
use hb_core::config::HaCf;
use hb_core::resources::FenceResult;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// heartbeat retries a failed fence every 5 s, forever [hb_resource.c: StonithProcessDied].
pub const RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// heartbeat checks the device after comm-up and then every hour [StonithStatProcessDied].
pub const STATUS_INTERVAL: Duration = Duration::from_secs(3600);
/// Bound on one call into an external plugin (pacemaker's default `stonith-timeout`; heartbeat
/// itself waits forever).
pub const EXTERNAL_TIMEOUT: Duration = Duration::from_secs(60);
/// Where cluster-glue's external plugins live (its `STONITH_EXT_PLUGINDIR`, for the common
/// library directories), searched in order.
pub const EXTERNAL_DIRS: &[&str] = &[
    "/usr/lib/stonith/plugins/external",
    "/usr/lib/x86_64-linux-gnu/stonith/plugins/external",
    "/usr/lib/aarch64-linux-gnu/stonith/plugins/external",
    "/usr/lib64/stonith/plugins/external",
];
/// Overrides [`EXTERNAL_DIRS`] (colon-separated), e.g. for tests.
pub const EXTERNAL_DIRS_ENV: &str = "HB_STONITH_EXTERNAL_DIRS";
/// Where meatware's FIFOs are made (`HA_VARRUNDIR`: `/var/run/meatware.<node>`).
pub const MEATWARE_DIR: &str = "/var/run";
/// Overrides [`MEATWARE_DIR`], for the plugin and for `meatclient` alike.
pub const MEATWARE_DIR_ENV: &str = "HB_MEATWARE_DIR";

/// A log sink for plugins: called as things happen.
pub type Log<'a> = &'a mut dyn FnMut(LogLine);

/// What a reset request asks for (`stonith -T reset|on|off`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResetAction {
    Reset,
    Off,
    On,
}

impl ResetAction {
    /// The word external plugins get as `$1`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ResetAction::Reset => "reset",
            ResetAction::Off => "off",
            ResetAction::On => "on",
        }
    }
}

/// Texts a plugin describes itself with (cluster-glue `ST_DEVICE*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoKind {
    /// Short name, in heartbeat's `Resetting node N with [ID]`.
    DeviceId,
    DeviceName,
    Description,
    Url,
    /// The parameters as OCF-style XML.
    Xml,
}

/// A failure with cluster-glue's return code (`stonith(8)` exits with it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StonithError {
    /// `S_BADCONFIG` (1).
    #[error("{0}")]
    BadConfig(String),
    /// `S_ACCESS` (2).
    #[error("{0}")]
    Access(String),
    /// `S_INVAL` (3).
    #[error("{0}")]
    Invalid(String),
    /// `S_BADHOST` (4).
    #[error("{0}")]
    BadHost(String),
    /// `S_RESETFAIL` (5).
    #[error("{0}")]
    ResetFail(String),
    /// `S_TIMEOUT` (6).
    #[error("{0}")]
    Timeout(String),
    /// `S_OOPS` (8).
    #[error("{0}")]
    Oops(String),
}

impl StonithError {
    pub fn code(&self) -> u8 {
        match self {
            StonithError::BadConfig(_) => 1,
            StonithError::Access(_) => 2,
            StonithError::Invalid(_) => 3,
            StonithError::BadHost(_) => 4,
            StonithError::ResetFail(_) => 5,
            StonithError::Timeout(_) => 6,
            StonithError::Oops(_) => 8,
        }
    }
}

/// A STONITH device type. Methods that talk to the device get a time bound and a log sink.
pub trait Plugin: Send {
    /// The type as written in ha.cf (`null`, `meatware`, `external/ssh`).
    fn kind(&self) -> &str;
    fn info(&mut self, what: InfoKind) -> Option<String>;
    /// Parameter names, in the order `-p` and ha.cf give values.
    fn config_names(&mut self) -> Result<Vec<String>, StonithError>;
    /// Takes the parameters (name, value), once.
    fn configure(&mut self, params: &[(String, String)]) -> Result<(), StonithError>;
    /// Whether the device answers.
    fn status(&mut self, timeout: Duration, log: Log<'_>) -> Result<(), StonithError>;
    /// The hosts this device can reset.
    fn hosts(&mut self, timeout: Duration, log: Log<'_>) -> Result<Vec<String>, StonithError>;
    /// Resets (or powers off or on) `node`, given in lowercase; blocks at most `timeout`.
    fn reset(
        &mut self,
        node: &str,
        action: ResetAction,
        timeout: Duration,
        log: Log<'_>,
    ) -> FenceResult;
    /// Whether parameters are `name=value` words (fence agents) rather than values in the
    /// order of [`Plugin::config_names`].
    fn takes_pairs(&self) -> bool {
        false
    }
    /// How long a reset may take by default.
    fn default_timeout(&self) -> Duration {
        EXTERNAL_TIMEOUT
    }
}

/// Where plugins find their files.
#[derive(Clone, Debug)]
pub struct PluginEnv {
    pub external_dirs: Vec<PathBuf>,
    /// Where `fence_*` agents are looked for.
    pub fence_dirs: Vec<PathBuf>,
    pub meatware_dir: PathBuf,
    /// The daemon's relay channels: an `hbrelay` device on one of their ttys asks through the
    /// channel the daemon already holds (the tty is locked to it) instead of opening the tty.
    pub relays: Vec<crate::media::relay::FenceHandle>,
}

impl Default for PluginEnv {
    /// cluster-glue's and fence-agents' places, unless [`EXTERNAL_DIRS_ENV`],
    /// [`FENCE_DIRS_ENV`] or [`MEATWARE_DIR_ENV`] say otherwise.
    fn default() -> Self {
        let external_dirs = match std::env::var_os(EXTERNAL_DIRS_ENV) {
            Some(v) => std::env::split_paths(&v).collect(),
            None => EXTERNAL_DIRS.iter().map(PathBuf::from).collect(),
        };
        let fence_dirs = match std::env::var_os(FENCE_DIRS_ENV) {
            Some(v) => std::env::split_paths(&v).collect(),
            None => FENCE_DIRS.iter().map(PathBuf::from).collect(),
        };
        let meatware_dir = std::env::var_os(MEATWARE_DIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(MEATWARE_DIR));
        PluginEnv {
            external_dirs,
            fence_dirs,
            meatware_dir,
            relays: Vec::new(),
        }
    }
}

/// A new, unconfigured plugin of type `kind`; `None` for an unknown type.
pub fn new_plugin(kind: &str, env: &PluginEnv) -> Option<Box<dyn Plugin>> {
    match kind {
        "null" => Some(Box::new(Null::new())),
        "meatware" => Some(Box::new(Meatware::new(&env.meatware_dir))),
        "hbrelay" => Some(Box::new(hbrelay::HbRelay::in_env(
            hbrelay::AUTHKEYS,
            env.relays.clone(),
        ))),
        _ if fence::is_agent_name(kind) => {
            FenceAgent::find(kind, &env.fence_dirs).map(|p| Box::new(p) as Box<dyn Plugin>)
        }
        _ => {
            let name = kind.strip_prefix("external/")?;
            External::find(name, &env.external_dirs).map(|p| Box::new(p) as Box<dyn Plugin>)
        }
    }
}

/// Every type [`new_plugin`] knows, sorted (`stonith -L`): the built-in ones, one
/// `external/NAME` per usable executable in the external directories and the `fence_*`
/// agents installed.
pub fn types(env: &PluginEnv) -> Vec<String> {
    let mut out = vec![
        "hbrelay".to_string(),
        "meatware".to_string(),
        "null".to_string(),
    ];
    for name in external::list(&env.external_dirs) {
        let t = format!("external/{name}");
        if !out.contains(&t) {
            out.push(t);
        }
    }
    for name in fence::list(&env.fence_dirs) {
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out.sort();
    out
}

/// Pairs parameter names with the words of a `-p` string or ha.cf line: one word per name, the
/// last name taking the rest of the line (cluster-glue `stonith1_compat_string_to_NVpair`).
/// Too few words is `S_BADCONFIG`.
pub fn compat_params(names: &[String], text: &str) -> Result<Vec<(String, String)>, StonithError> {
    const DELIMS: &[char] = &[' ', '\t', '\n', '\r', '\x0c'];
    let mut rest = text;
    let mut out = Vec::new();
    for (j, name) in names.iter().enumerate() {
        rest = rest.trim_start_matches(DELIMS);
        if rest.is_empty() {
            return Err(StonithError::BadConfig(format!(
                "missing value for parameter {name} (expected: {})",
                names.join(" ")
            )));
        }
        let value = if j + 1 == names.len() {
            // The rest of the line, without the line end heartbeat leaves on it.
            let v = rest.trim_end_matches(['\n', '\r']);
            rest = "";
            v
        } else {
            let end = rest.find(DELIMS).unwrap_or(rest.len());
            let (v, r) = rest.split_at(end);
            rest = r;
            v
        };
        out.push((name.clone(), value.to_string()));
    }
    Ok(out)
}

/// A host list parameter: words separated by blanks or commas, lowercased (cluster-glue
/// `StringToHostList` plus `strdown`).
pub fn host_list(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_ascii_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The parameter string of a `stonith <type> <file>` file: its first line that is neither
/// empty nor starts with `#` (cluster-glue `stonith_set_config_file`).
pub fn config_file_params(path: &Path) -> Result<String, StonithError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        StonithError::BadConfig(format!(
            "Cannot open {}: {}",
            path.display(),
            crate::errno_text(&e)
        ))
    })?;
    text.lines()
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .ok_or_else(|| StonithError::BadConfig(format!("{}: no parameter line", path.display())))
}

/// heartbeat's line when a fence failed and will be tried again in [`RETRY_INTERVAL`].
pub fn retry_line(node: &str) -> LogLine {
    LogLine::error(format!("STONITH of {node} failed.  Retrying..."))
}

/// The configured STONITH device of a node.
pub struct Stonith {
    plugin: Box<dyn Plugin>,
    /// Bound on one reset (and on status and host-list calls).
    pub timeout: Duration,
}

impl std::fmt::Debug for Stonith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stonith")
            .field("kind", &self.plugin.kind())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Stonith {
    /// The device heartbeat would use on node `local`: of the `stonith` line and the
    /// `stonith_host` lines for `*` or `local`, the last one in the file. `None` without any.
    /// Errors name the line and say what is wrong, in heartbeat's words where it has them
    /// (`Invalid Stonith type [x]`, `Invalid Stonith config file [f]`, `Invalid Stonith
    /// configuration parameter [p]`).
    pub fn from_config(cf: &HaCf, local: &str) -> Result<Option<Stonith>, String> {
        Self::from_config_with(cf, local, &PluginEnv::default())
    }

    pub fn from_config_with(
        cf: &HaCf,
        local: &str,
        env: &PluginEnv,
    ) -> Result<Option<Stonith>, String> {
        // (line, type, parameters or the config file to read them from)
        let mut lines: Vec<(u32, String, Result<String, PathBuf>)> = Vec::new();
        if let Some(s) = &cf.stonith {
            lines.push((
                s.at.line,
                s.value.kind.to_string(),
                Err(PathBuf::from(s.value.config_file.as_str())),
            ));
        }
        for s in cf.stonith_hosts_for(local) {
            lines.push((
                s.at.line,
                s.value.kind.to_string(),
                Ok(s.value.params.to_string()),
            ));
        }
        lines.sort_by_key(|l| l.0);
        let mut device = None;
        // Every applicable line makes its device, as heartbeat does while parsing, so a bad
        // line is reported even when a later one wins.
        for (line, kind, params) in lines {
            let params = match params {
                Ok(p) => p,
                Err(file) => config_file_params(&file).map_err(|e| {
                    format!(
                        "ha.cf:{line}: Invalid Stonith config file [{}]: {e}",
                        file.display()
                    )
                })?,
            };
            device =
                Some(Stonith::new(&kind, &params, env).map_err(|e| format!("ha.cf:{line}: {e}"))?);
        }
        Ok(device)
    }

    /// A device of type `kind` configured from a parameter string (`stonith -p`).
    pub fn new(kind: &str, params: &str, env: &PluginEnv) -> Result<Stonith, StonithError> {
        let mut plugin = new_plugin(kind, env)
            .ok_or_else(|| StonithError::Invalid(format!("Invalid Stonith type [{kind}]")))?;
        let pairs = if plugin.takes_pairs() {
            parse_pairs(params)
        } else {
            compat_params(&plugin.config_names()?, params)
        };
        let pairs = pairs.map_err(|e| {
            StonithError::BadConfig(format!(
                "Invalid Stonith configuration parameter [{}]: {e}",
                params.trim_end()
            ))
        })?;
        plugin.configure(&pairs).map_err(|e| match e {
            StonithError::BadConfig(m) => StonithError::BadConfig(format!(
                "Invalid Stonith configuration parameter [{}]: {m}",
                params.trim_end()
            )),
            other => other,
        })?;
        Ok(Stonith::from_plugin(plugin))
    }

    /// A device from a plugin that is already configured (the relay board's, tests).
    pub fn from_plugin(plugin: Box<dyn Plugin>) -> Stonith {
        let timeout = plugin.default_timeout();
        Stonith { plugin, timeout }
    }

    pub fn kind(&self) -> &str {
        self.plugin.kind()
    }

    /// The device id heartbeat logs (`ST_DEVICEID`); the type when the plugin has none.
    pub fn device_id(&mut self) -> String {
        self.plugin
            .info(InfoKind::DeviceId)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| self.plugin.kind().to_string())
    }

    pub fn plugin(&mut self) -> &mut dyn Plugin {
        &mut *self.plugin
    }

    /// Resets `node` as heartbeat's `Initiate_Reset` does, logging its lines. Blocks at most
    /// about [`Stonith::timeout`]: call it from the action worker.
    pub fn fence(&mut self, node: &str, log: Log<'_>) -> FenceResult {
        let id = self.device_id();
        log(LogLine::info(format!("Resetting node {node} with [{id}]")));
        let result = self.plugin.reset(
            &node.to_ascii_lowercase(),
            ResetAction::Reset,
            self.timeout,
            log,
        );
        match result {
            FenceResult::Ok => log(LogLine::info(format!("node {node} now reset."))),
            FenceResult::BadHost => log(LogLine::error(format!(
                "Device {id} cannot reset host {node}."
            ))),
            FenceResult::Failed => log(LogLine::error(format!("Host {node} not reset!"))),
        }
        result
    }

    /// heartbeat's status check (after comm-up and hourly), with its lines. `true`: operational.
    pub fn check_status(&mut self, log: Log<'_>) -> bool {
        let id = self.device_id();
        log(LogLine::info(format!(
            "Checking status of STONITH device [{id}]"
        )));
        match self.plugin.status(self.timeout, log) {
            Ok(()) => true,
            Err(e) => {
                log(LogLine::error(format!(
                    "STONITH device {id} not operational!"
                )));
                log(LogLine::error(format!(
                    "STONITH status operation failed. ({e})"
                )));
                log(LogLine::info(
                    "This may mean that the STONITH device has failed!",
                ));
                false
            }
        }
    }

    pub fn hosts(&mut self, log: Log<'_>) -> Result<Vec<String>, StonithError> {
        self.plugin.hosts(self.timeout, log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn compat_params_last_takes_the_rest() {
        let p = compat_params(
            &names(&["ipaddr", "login", "password"]),
            "  10.0.0.1\tadmin my secret pw\n",
        )
        .unwrap();
        assert_eq!(
            p,
            [
                ("ipaddr".into(), "10.0.0.1".into()),
                ("login".into(), "admin".into()),
                ("password".into(), "my secret pw".into())
            ]
        );
        assert!(matches!(
            compat_params(&names(&["a", "b"]), "one"),
            Err(StonithError::BadConfig(_))
        ));
        assert_eq!(compat_params(&[], "ignored").unwrap(), []);
    }

    #[test]
    fn host_lists_split_on_blanks_and_commas() {
        assert_eq!(
            host_list("Node1, node2\tNODE3,,"),
            ["node1", "node2", "node3"]
        );
    }

    #[test]
    fn unknown_type_and_missing_parameters_are_clear_errors() {
        let env = PluginEnv {
            external_dirs: vec![],
            fence_dirs: vec![],
            meatware_dir: "/nonexistent".into(),
            relays: vec![],
        };
        assert_eq!(
            Stonith::new("baytech", "x", &env).unwrap_err().to_string(),
            "Invalid Stonith type [baytech]"
        );
        assert_eq!(
            Stonith::new("external/nothere", "x", &env)
                .unwrap_err()
                .to_string(),
            "Invalid Stonith type [external/nothere]"
        );
        let e = Stonith::new("null", "", &env).unwrap_err();
        assert_eq!(e.code(), 1);
        assert!(e
            .to_string()
            .starts_with("Invalid Stonith configuration parameter []"));
    }

    #[test]
    fn the_last_applicable_line_wins() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("meat.cfg");
        std::fs::write(&file, "# a comment\n\nnode1 node2\n").unwrap();
        let text = format!(
            "node node1\nnode node2\nbcast lo\nstonith meatware {}\nstonith_host node2 null node1\n\
             stonith_host node1 null node2\n",
            file.display()
        );
        let cf = HaCf::parse(&text, &mut |_| {}).unwrap();
        let env = PluginEnv {
            external_dirs: vec![],
            fence_dirs: vec![],
            meatware_dir: dir.path().into(),
            relays: vec![],
        };
        let mut on1 = Stonith::from_config_with(&cf, "node1", &env)
            .unwrap()
            .unwrap();
        assert_eq!(on1.kind(), "null");
        let mut lines = Vec::new();
        assert_eq!(on1.hosts(&mut |l| lines.push(l)).unwrap(), ["node2"]);
        // On node2 its own stonith_host line (line 5) comes after the stonith line.
        let on2 = Stonith::from_config_with(&cf, "node2", &env)
            .unwrap()
            .unwrap();
        assert_eq!(on2.kind(), "null");
        // A node without stonith_host lines gets the stonith device.
        let text = format!(
            "node node1\nnode node3\nbcast lo\nstonith meatware {}\nstonith_host node2 null x\n",
            file.display()
        );
        let cf = HaCf::parse(&text, &mut |_| {}).unwrap();
        let mut on3 = Stonith::from_config_with(&cf, "node3", &env)
            .unwrap()
            .unwrap();
        assert_eq!(on3.kind(), "meatware");
        assert_eq!(on3.device_id(), "Meatware STONITH device");
        let cf = HaCf::parse("node node1\nbcast lo\n", &mut |_| {}).unwrap();
        assert!(Stonith::from_config_with(&cf, "node1", &env)
            .unwrap()
            .is_none());
    }

    #[test]
    fn bad_lines_name_their_line() {
        let env = PluginEnv {
            external_dirs: vec![],
            fence_dirs: vec![],
            meatware_dir: "/nonexistent".into(),
            relays: vec![],
        };
        let cf = HaCf::parse(
            "node node1\nbcast lo\nstonith_host * nosuch a b\n",
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(
            Stonith::from_config_with(&cf, "node1", &env).unwrap_err(),
            "ha.cf:3: Invalid Stonith type [nosuch]"
        );
        let cf = HaCf::parse(
            "node node1\nbcast lo\nstonith null /nonexistent/stonith.cfg\n",
            &mut |_| {},
        )
        .unwrap();
        let e = Stonith::from_config_with(&cf, "node1", &env).unwrap_err();
        assert!(
            e.starts_with("ha.cf:3: Invalid Stonith config file [/nonexistent/stonith.cfg]"),
            "{e}"
        );
    }
}
