//! `fence_AGENT`: the fence-agents project's programs (Debian's `fence-agents`, 80 and more
//! power switches, BMCs, hypervisors and clouds in `/usr/sbin/fence_*`) as STONITH devices.
//!
//! ha.cf: `stonith_host <node|*> fence_<agent> name=value …`, values quoted as in a shell
//! when they hold blanks. The agent is run as fenced and pacemaker run it: no arguments,
//! its parameters on standard input as `name=value` lines, then `action=` (`reboot`, `off`,
//! `on`, `monitor`, `list`) and `plug=` (or `port=` for agents that only know the old name)
//! naming the node. Exit 0 is success. Passing them on stdin keeps passwords out of `ps`.
//!
//! Parameters are checked against the agent's own metadata (`fence_x -o metadata`), so a
//! misspelt one is an error at start-up rather than a warning the agent prints at fence time.
//! Besides the agent's parameters, these are hb's (pacemaker's names where it has one) and
//! never reach the agent:
//!
//! | parameter | meaning |
//! |---|---|
//! | `pcmk_host_list=n1,n2` | the nodes this device can reset; others are `Device … cannot reset host` without running the agent |
//! | `pcmk_host_map=n1:p1;n2:p2` | plug (port, VM name, …) per node; the node name itself otherwise |
//! | `pcmk_reboot_timeout=SECONDS` | bound on one call (default 60 s); the agent's process group is killed after it |
//! | `passwd_file=PATH` | the password is the file's first line (the file must not be readable by others) |
//!
//! `port=` on the line fixes the plug for every node (a device that powers one machine). The
//! agents' own `password_script=` works too: it is the agent's parameter, passed through.

use super::{host_list, InfoKind, Log, Plugin, ResetAction, StonithError, EXTERNAL_TIMEOUT};
use crate::log::{LogLine, Priority};
use hb_core::resources::FenceResult;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian (and most distributions) install the agents, searched in order.
pub const FENCE_DIRS: &[&str] = &["/usr/sbin", "/sbin"];
/// Overrides [`FENCE_DIRS`] (colon-separated), e.g. for tests.
pub const FENCE_DIRS_ENV: &str = "HB_FENCE_AGENT_DIRS";
/// Bound on `-o metadata`.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// Parameters that are hb's and not the agent's.
const OWN_PARAMS: &[&str] = &[
    "pcmk_host_list",
    "pcmk_host_map",
    "pcmk_reboot_timeout",
    "passwd_file",
];

/// Is `name` a fence agent's name (`fence_` and a plain word)?
pub(super) fn is_agent_name(name: &str) -> bool {
    name.strip_prefix("fence_").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// The executable agents in `dirs` (`stonith -L`).
pub(super) fn list(dirs: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if is_agent_name(&name) && executable(&e.path()) && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out.sort();
    out
}

fn executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `name=value` words, quoted as in a shell (`password="two words"`).
pub fn parse_pairs(text: &str) -> Result<Vec<(String, String)>, StonithError> {
    let words = shlex::split(text).ok_or_else(|| {
        StonithError::BadConfig(format!("unbalanced quotes in [{}]", text.trim_end()))
    })?;
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((n, v)) if !n.is_empty() => Ok((n.to_string(), v.to_string())),
            _ => Err(StonithError::BadConfig(format!(
                "[{w}] is not name=value (fence agents take name=value parameters)"
            ))),
        })
        .collect()
}

/// What an agent says about itself (`-o metadata`).
#[derive(Clone, Debug, Default)]
struct Metadata {
    names: Vec<String>,
    shortdesc: String,
    longdesc: String,
    url: String,
    /// The `<parameters>` element, as written.
    parameters_xml: String,
}

fn parse_metadata(xml: &str) -> Result<Metadata, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| e.to_string())?;
    let root = doc.root_element();
    if root.tag_name().name() != "resource-agent" {
        return Err(format!(
            "root element is <{}>, not <resource-agent>",
            root.tag_name().name()
        ));
    }
    let child_text = |tag: &str| {
        root.children()
            .find(|n| n.has_tag_name(tag))
            .and_then(|n| n.text())
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let mut m = Metadata {
        shortdesc: root.attribute("shortdesc").unwrap_or("").to_string(),
        longdesc: child_text("longdesc"),
        url: child_text("vendor-url"),
        ..Metadata::default()
    };
    if let Some(params) = root.children().find(|n| n.has_tag_name("parameters")) {
        m.parameters_xml = xml[params.range()].to_string();
        m.names = params
            .children()
            .filter(|n| n.has_tag_name("parameter"))
            .filter_map(|n| n.attribute("name"))
            .map(str::to_string)
            .collect();
    }
    Ok(m)
}

/// A fence agent.
#[derive(Debug)]
pub struct FenceAgent {
    kind: String,
    path: PathBuf,
    meta: Option<Metadata>,
    /// What goes to the agent's stdin besides `action` and the plug.
    params: Vec<(String, String)>,
    host_list: Option<Vec<String>>,
    host_map: Vec<(String, String)>,
    fixed_plug: Option<String>,
    timeout: Duration,
    configured: bool,
}

/// A finished call: exit code (128 + signal), stdout, stderr.
type Ran = (i32, String, String);

impl FenceAgent {
    /// The agent `kind` (`fence_ipmilan`) from the first directory that has it.
    pub fn find(kind: &str, dirs: &[PathBuf]) -> Option<FenceAgent> {
        if !is_agent_name(kind) {
            return None;
        }
        let path = dirs.iter().map(|d| d.join(kind)).find(|p| p.exists())?;
        Some(FenceAgent {
            kind: kind.to_string(),
            path,
            meta: None,
            params: Vec::new(),
            host_list: None,
            host_map: Vec::new(),
            fixed_plug: None,
            timeout: EXTERNAL_TIMEOUT,
            configured: false,
        })
    }

    fn metadata(&mut self) -> Result<&Metadata, StonithError> {
        if self.meta.is_none() {
            let (rc, out, err) = run(
                &self.path,
                &["-o", "metadata"],
                None,
                METADATA_TIMEOUT,
                &format!("{} -o metadata", self.kind),
            )?;
            if rc != 0 {
                return Err(StonithError::Oops(format!(
                    "'{} -o metadata' failed with rc {rc}: {}",
                    self.kind,
                    err.trim()
                )));
            }
            let m = parse_metadata(&out).map_err(|e| {
                StonithError::Oops(format!("'{} -o metadata' is not metadata: {e}", self.kind))
            })?;
            self.meta = Some(m);
        }
        Ok(self.meta.as_ref().expect("just set"))
    }

    /// The name under which this agent takes the plug: `plug`, or `port` for older agents;
    /// `None` for agents that power one thing only (fence_dummy).
    fn plug_param(&mut self) -> Option<&'static str> {
        let names = &self.metadata().ok()?.names;
        ["plug", "port"]
            .into_iter()
            .find(|p| names.iter().any(|n| n == p))
    }

    /// Runs the agent with `action` (and `plug`) on stdin.
    fn call(
        &mut self,
        action: &str,
        plug: Option<&str>,
        timeout: Duration,
    ) -> Result<Ran, StonithError> {
        let mut input = String::new();
        for (k, v) in &self.params {
            input.push_str(&format!("{k}={v}\n"));
        }
        input.push_str(&format!("action={action}\n"));
        if let (Some(p), Some(name)) = (plug, self.plug_param()) {
            input.push_str(&format!("{name}={p}\n"));
        }
        let call = match plug {
            Some(p) => format!("{} action={action} plug={p}", self.kind),
            None => format!("{} action={action}", self.kind),
        };
        run(&self.path, &[], Some(input.as_bytes()), timeout, &call)
    }

    fn plug_for(&self, node: &str) -> String {
        if let Some((_, p)) = self.host_map.iter().find(|(n, _)| n == node) {
            return p.clone();
        }
        self.fixed_plug.clone().unwrap_or_else(|| node.to_string())
    }

    /// The nodes the line names (`pcmk_host_list`, `pcmk_host_map`); `None` when it names
    /// none and the agent decides.
    fn named_hosts(&self) -> Option<Vec<String>> {
        if self.host_list.is_none() && self.host_map.is_empty() {
            return None;
        }
        let mut out = self.host_list.clone().unwrap_or_default();
        for (n, _) in &self.host_map {
            if !out.contains(n) {
                out.push(n.clone());
            }
        }
        Some(out)
    }

    fn log_stderr(&self, err: &str, log: Log<'_>) {
        for l in err
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(10)
        {
            log(LogLine::new(Priority::Error, format!("{}: {l}", self.kind)));
        }
    }
}

/// Reads the first line of a password file that only its owner (and group) may read.
fn read_passwd_file(path: &str) -> Result<String, StonithError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        StonithError::BadConfig(format!("passwd_file {path}: {}", crate::errno_text(&e)))
    })?;
    if meta.permissions().mode() & 0o004 != 0 {
        return Err(StonithError::BadConfig(format!(
            "passwd_file {path} is readable by others (chmod o-r it)"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        StonithError::BadConfig(format!("passwd_file {path}: {}", crate::errno_text(&e)))
    })?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

fn parse_seconds(name: &str, v: &str) -> Result<Duration, StonithError> {
    let n = v.strip_suffix('s').unwrap_or(v);
    match n.parse::<u64>() {
        Ok(s) if s > 0 => Ok(Duration::from_secs(s)),
        _ => Err(StonithError::BadConfig(format!(
            "{name}={v}: not a number of seconds above 0"
        ))),
    }
}

impl Plugin for FenceAgent {
    fn kind(&self) -> &str {
        &self.kind
    }

    fn info(&mut self, what: InfoKind) -> Option<String> {
        let kind = self.kind.clone();
        let m = self.metadata().ok()?;
        let s = match what {
            // heartbeat's `Resetting node N with [ID]` names the agent, which says more to an
            // admin than its one-line description.
            InfoKind::DeviceId => kind,
            InfoKind::DeviceName => m.shortdesc.clone(),
            InfoKind::Description => m.longdesc.clone(),
            InfoKind::Url => m.url.clone(),
            InfoKind::Xml => m.parameters_xml.clone(),
        };
        Some(s).filter(|s| !s.is_empty())
    }

    fn config_names(&mut self) -> Result<Vec<String>, StonithError> {
        let mut names: Vec<String> = self
            .metadata()?
            .names
            .iter()
            .filter(|n| !["action", "help", "version"].contains(&n.as_str()))
            .cloned()
            .collect();
        names.extend(OWN_PARAMS.iter().map(|s| s.to_string()));
        Ok(names)
    }

    fn takes_pairs(&self) -> bool {
        true
    }

    fn configure(&mut self, params: &[(String, String)]) -> Result<(), StonithError> {
        if self.configured {
            return Err(StonithError::Oops("already configured".into()));
        }
        let known = self.config_names()?;
        for (k, v) in params {
            if v.contains(['\n', '\r']) {
                return Err(StonithError::BadConfig(format!(
                    "{k}: a value cannot hold a line break (the agent reads one parameter a line)"
                )));
            }
            match k.as_str() {
                "action" => {
                    return Err(StonithError::BadConfig(
                        "action is heartbeat's to choose (reboot, off, on), not the line's".into(),
                    ))
                }
                "pcmk_host_list" => self.host_list = Some(host_list(v)),
                "pcmk_host_map" => {
                    for entry in v.split([';', ' ', ',']).filter(|e| !e.is_empty()) {
                        let Some((n, p)) = entry
                            .split_once(':')
                            .filter(|(n, p)| !n.is_empty() && !p.is_empty())
                        else {
                            return Err(StonithError::BadConfig(format!(
                                "pcmk_host_map: [{entry}] is not node:plug"
                            )));
                        };
                        self.host_map.push((n.to_ascii_lowercase(), p.to_string()));
                    }
                }
                "pcmk_reboot_timeout" => self.timeout = parse_seconds(k, v)?,
                "passwd_file" => {
                    let pw = read_passwd_file(v)?;
                    self.params.push(("password".into(), pw));
                }
                // Either name, whichever the agent knows: hb sends the one it has.
                "plug" | "port" => self.fixed_plug = Some(v.clone()),
                _ if !known.iter().any(|n| n == k) => {
                    return Err(StonithError::BadConfig(format!(
                        "{} has no parameter {k} (it takes: {})",
                        self.kind,
                        known.join(" ")
                    )))
                }
                _ => self.params.push((k.clone(), v.clone())),
            }
        }
        self.configured = true;
        Ok(())
    }

    fn status(&mut self, timeout: Duration, log: Log<'_>) -> Result<(), StonithError> {
        let (rc, _, err) = self.call("monitor", None, timeout)?;
        if rc != 0 {
            self.log_stderr(&err, log);
            let m = format!("{} action=monitor failed with rc {rc}", self.kind);
            log(LogLine::new(Priority::Crit, m.clone()));
            return Err(StonithError::Access(m));
        }
        Ok(())
    }

    fn hosts(&mut self, timeout: Duration, log: Log<'_>) -> Result<Vec<String>, StonithError> {
        if let Some(h) = self.named_hosts() {
            return Ok(h);
        }
        // `list` prints `plug,alias` lines; the plug is what reset is given.
        let (rc, out, err) = self.call("list", None, timeout)?;
        if rc != 0 {
            self.log_stderr(&err, log);
            let m = format!(
                "{} action=list failed with rc {rc} (give the nodes with pcmk_host_list=)",
                self.kind
            );
            log(LogLine::new(Priority::Crit, m.clone()));
            return Err(StonithError::Oops(m));
        }
        let hosts: Vec<String> = out
            .lines()
            .filter_map(|l| l.split(',').next())
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        if hosts.is_empty() {
            let m = format!("{} action=list returned no plugs", self.kind);
            log(LogLine::new(Priority::Crit, m.clone()));
            return Err(StonithError::Oops(m));
        }
        Ok(hosts)
    }

    fn reset(
        &mut self,
        node: &str,
        action: ResetAction,
        timeout: Duration,
        log: Log<'_>,
    ) -> FenceResult {
        if let Some(hosts) = self.named_hosts() {
            if !hosts.iter().any(|h| h == node) {
                log(LogLine::new(
                    Priority::Crit,
                    format!(
                        "{}: {node} is not in pcmk_host_list/pcmk_host_map ({})",
                        self.kind,
                        hosts.join(",")
                    ),
                ));
                return FenceResult::BadHost;
            }
        }
        let word = match action {
            ResetAction::Reset => "reboot",
            ResetAction::Off => "off",
            ResetAction::On => "on",
        };
        let plug = self.plug_for(node);
        match self.call(word, Some(&plug), timeout) {
            Ok((0, _, _)) => FenceResult::Ok,
            Ok((rc, _, err)) => {
                self.log_stderr(&err, log);
                log(LogLine::new(
                    Priority::Crit,
                    format!(
                        "{} action={word} for host {node} (plug {plug}) failed with rc {rc}",
                        self.kind
                    ),
                ));
                FenceResult::Failed
            }
            Err(e) => {
                log(LogLine::new(Priority::Crit, e.to_string()));
                FenceResult::Failed
            }
        }
    }

    fn default_timeout(&self) -> Duration {
        self.timeout
    }
}

/// Runs `path args…` with `input` on its stdin, collecting stdout and stderr, bounded by
/// `timeout` (then its process group is killed: agents run ssh, ipmitool, …).
fn run(
    path: &Path,
    args: &[&str],
    input: Option<&[u8]>,
    timeout: Duration,
    call: &str,
) -> Result<Ran, StonithError> {
    let mut cmd = Command::new(path);
    cmd.args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    crate::unblock_signals_in_child(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| StonithError::Oops(format!("Calling '{call}' failed: {e}")))?;
    let pid = child.id() as i32;
    if let (Some(mut stdin), Some(data)) = (child.stdin.take(), input) {
        // Far below a pipe's buffer: this cannot block; an agent that exits without reading
        // gives EPIPE, which its exit code reports better.
        let _ = stdin.write_all(data);
    }
    let mut pipes = [
        child.stdout.take().map(|p| Box::new(p) as Box<dyn ReadFd>),
        child.stderr.take().map(|p| Box::new(p) as Box<dyn ReadFd>),
    ];
    let mut outs = [Vec::new(), Vec::new()];
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    loop {
        let open: Vec<usize> = (0..2).filter(|&i| pipes[i].is_some()).collect();
        if open.is_empty() {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(kill_timed_out(pid, &mut child, call, timeout));
        }
        let mut fds: Vec<PollFd> = open
            .iter()
            .map(|&i| PollFd::new(pipes[i].as_ref().expect("open").fd(), PollFlags::POLLIN))
            .collect();
        let ms = left.as_millis().min(1000) as u16;
        let _ = poll(&mut fds, PollTimeout::from(ms));
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        for (k, &i) in open.iter().enumerate() {
            if !ready[k] {
                continue;
            }
            match pipes[i].as_mut().expect("open").read(&mut buf) {
                Ok(0) | Err(_) => pipes[i] = None,
                Ok(n) => outs[i].extend_from_slice(&buf[..n]),
            }
        }
    }
    // Both pipes closed: the agent is done or about to be.
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let code = status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
            let [out, err] = outs.map(|o| String::from_utf8_lossy(&o).into_owned());
            return Ok((code, out, err));
        }
        if Instant::now() >= deadline {
            return Err(kill_timed_out(pid, &mut child, call, timeout));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

trait ReadFd: Read {
    fn fd(&self) -> std::os::fd::BorrowedFd<'_>;
}
impl<T: Read + AsFd> ReadFd for T {
    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.as_fd()
    }
}

fn kill_timed_out(
    pid: i32,
    child: &mut std::process::Child,
    call: &str,
    timeout: Duration,
) -> StonithError {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(-pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = child.wait();
    StonithError::Timeout(format!(
        "'{call}' timed out after {} ms; killed",
        timeout.as_millis()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_shell_quoted_name_value_words() {
        assert_eq!(
            parse_pairs(r#"ip=10.0.0.9 password="two words" plug=3"#).unwrap(),
            [
                ("ip".into(), "10.0.0.9".into()),
                ("password".into(), "two words".into()),
                ("plug".into(), "3".into())
            ]
        );
        assert_eq!(parse_pairs("").unwrap(), []);
        assert!(parse_pairs("ip=1 oops")
            .unwrap_err()
            .to_string()
            .contains("[oops] is not name=value"));
        assert!(parse_pairs("=x").is_err());
        assert!(parse_pairs("a=\"open")
            .unwrap_err()
            .to_string()
            .contains("unbalanced"));
    }

    #[test]
    fn agent_names() {
        assert!(is_agent_name("fence_ipmilan"));
        assert!(is_agent_name("fence_ilo4-ssh"));
        assert!(!is_agent_name("fence_"));
        assert!(!is_agent_name("fence_../x"));
        assert!(!is_agent_name("null"));
    }

    #[test]
    fn metadata_names_and_texts() {
        let xml = r#"<?xml version="1.0" ?>
<resource-agent name="fence_x" shortdesc="Fence X" >
<longdesc>Powers X off</longdesc>
<vendor-url>http://x.example</vendor-url>
<parameters>
	<parameter name="action" unique="0" required="1"/>
	<parameter name="plug" unique="0" required="0"/>
	<parameter name="ip" unique="0" required="1"/>
</parameters>
</resource-agent>"#;
        let m = parse_metadata(xml).unwrap();
        assert_eq!(m.names, ["action", "plug", "ip"]);
        assert_eq!(m.shortdesc, "Fence X");
        assert_eq!(m.longdesc, "Powers X off");
        assert_eq!(m.url, "http://x.example");
        assert!(m.parameters_xml.starts_with("<parameters>"));
        assert!(m.parameters_xml.ends_with("</parameters>"));
        assert!(parse_metadata("<other/>").is_err());
        assert!(parse_metadata("not xml").is_err());
    }
}
