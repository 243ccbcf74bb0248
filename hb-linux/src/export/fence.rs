//! `fence_hbrelay`: hb's relay board as a fence agent for Pacemaker, in fence-agents' calling
//! convention, so that `stonith-ng` (pacemaker-fenced) runs it like any `fence_*` agent:
//! - arguments as `key=value` lines on stdin when there are no command-line arguments (what
//!   the fencer does), or as long options (`--action=reboot --plug=node2 --ttydev=/dev/ttyS1`,
//!   and `-o ACTION`, `-n PLUG`) for people;
//! - actions `on`, `off`, `reboot`, `status`, `monitor`, `list`, `metadata`, `validate-all`;
//! - exit 0 on success, 1 on failure; `status` exits 0 for on and 2 for off.
//!
//! The relay is reached through hb's own `hbrelay` STONITH plugin (the same request, signed
//! with the cluster key from `authkeys`, as this node by `uname -n`), so the agent and the
//! heartbeat daemon cannot disagree on the protocol.

use crate::stonith::HbRelay;
use crate::stonith::{Plugin, ResetAction};
use hb_core::resources::FenceResult;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

/// heartbeat's authkeys, where the cluster key the relay checks is.
pub const DEFAULT_AUTHKEYS: &str = "/etc/ha.d/authkeys";
/// fence-agents' default `power_timeout`, and about the relay's worst case (hello after a
/// relay reboot + status + a 500 ms pulse).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub action: String,
    pub plug: Option<String>,
    pub ttydev: Option<String>,
    pub authkeys: Option<String>,
    pub timeout: Option<Duration>,
}

impl Options {
    /// One `key=value` (stdin) or `--key=value` setting. Unknown keys are ignored, as
    /// fence-agents do, because the fencer passes its own (`nodename`, `pcmk_*`…).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "action" | "option" => self.action = value.to_string(),
            "plug" | "port" => self.plug = Some(value.to_lowercase()),
            "nodename" if self.plug.is_none() => self.plug = Some(value.to_lowercase()),
            "ttydev" => self.ttydev = Some(value.to_string()),
            "authkeys" => self.authkeys = Some(value.to_string()),
            "power_timeout" | "power-timeout" => {
                let s: f64 = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| format!("power_timeout `{value}` is not a number of seconds"))?;
                self.timeout = Some(Duration::from_secs_f64(s));
            }
            _ => {}
        }
        Ok(())
    }

    /// Long options (`--key=value`, `--key value`), `-o ACTION`, `-n PLUG`.
    pub fn from_args(args: &[String]) -> Result<Options, String> {
        let mut o = Options::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let (key, inline) = match a.strip_prefix("--") {
                Some(k) => match k.split_once('=') {
                    Some((k, v)) => (k.replace('-', "_"), Some(v.to_string())),
                    None => (k.replace('-', "_"), None),
                },
                None => match a.as_str() {
                    "-o" => ("action".to_string(), None),
                    "-n" => ("plug".to_string(), None),
                    _ => return Err(format!("unknown argument `{a}`")),
                },
            };
            let value = match inline {
                Some(v) => v,
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("`{a}` needs a value"))?,
            };
            o.set(&key, &value)?;
        }
        Ok(o)
    }

    /// `key=value` lines; blank lines and `#` comments skipped.
    pub fn from_stdin(input: impl BufRead) -> Result<Options, String> {
        let mut o = Options::default();
        for line in input.lines() {
            let line = line.map_err(|e| format!("stdin: {e}"))?;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| format!("stdin: `{line}` is not key=value"))?;
            o.set(k.trim(), v.trim())?;
        }
        Ok(o)
    }
}

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = if args.is_empty() {
        Options::from_stdin(std::io::stdin().lock())
    } else {
        Options::from_args(&args)
    };
    let opts = match opts {
        Ok(mut o) => {
            if o.action.is_empty() {
                o.action = "reboot".into();
            }
            o
        }
        Err(e) => {
            eprintln!("fence_hbrelay: {e}");
            return ExitCode::from(1);
        }
    };
    let mut stdout = std::io::stdout().lock();
    ExitCode::from(run(&opts, &mut stdout))
}

pub fn run(o: &Options, out: &mut dyn Write) -> u8 {
    if o.action == "metadata" {
        let _ = out.write_all(METADATA.as_bytes());
        return 0;
    }
    let Some(tty) = o.ttydev.as_deref() else {
        eprintln!("fence_hbrelay: ttydev is required (the relay board's serial device)");
        return 1;
    };
    let authkeys = o.authkeys.as_deref().unwrap_or(DEFAULT_AUTHKEYS);
    let mut relay = HbRelay::from_system(authkeys);
    if let Err(e) = relay.configure(&[("ttydev".to_string(), tty.to_string())]) {
        eprintln!("fence_hbrelay: {e}");
        return 1;
    }
    let timeout = o.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let mut log = |l: crate::log::LogLine| eprintln!("fence_hbrelay: {}", l.text);
    let plug = || {
        if o.plug.is_none() {
            eprintln!("fence_hbrelay: action {} needs plug (the node)", o.action);
        }
        o.plug.clone()
    };
    let what = match o.action.as_str() {
        "reboot" => Some(ResetAction::Reset),
        "off" => Some(ResetAction::Off),
        "on" => Some(ResetAction::On),
        _ => None,
    };
    if let Some(what) = what {
        let Some(plug) = plug() else { return 1 };
        return match relay.reset(&plug, what, timeout, &mut log) {
            FenceResult::Ok => {
                let _ = writeln!(out, "Success: {} {plug}", o.action);
                0
            }
            r => {
                eprintln!("fence_hbrelay: {} of {plug} failed: {r:?}", o.action);
                1
            }
        };
    }
    match o.action.as_str() {
        "monitor" => match relay.status(timeout, &mut log) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("fence_hbrelay: monitor: {e}");
                1
            }
        },
        "list" | "status" => {
            let hosts = match relay.hosts(timeout, &mut log) {
                Ok(h) => h,
                Err(e) => {
                    eprintln!("fence_hbrelay: {}: {e}", o.action);
                    return 1;
                }
            };
            if o.action == "list" {
                for h in hosts {
                    let _ = writeln!(out, "{h},");
                }
                return 0;
            }
            let Some(plug) = plug() else { return 1 };
            // The relay knows the host (it said hello, or it is pinned): its line is usable.
            if hosts.contains(&plug) {
                let _ = writeln!(out, "Status: ON");
                0
            } else {
                eprintln!("fence_hbrelay: no relay port has host {plug}");
                1
            }
        }
        "validate-all" => 0,
        other => {
            eprintln!("fence_hbrelay: unknown action `{other}`");
            1
        }
    }
}

/// fence-agents' metadata shape: the fencer reads the parameters (it passes `plug`, since it
/// is listed) and the actions.
pub const METADATA: &str = r#"<?xml version="1.0" ?>
<resource-agent name="fence_hbrelay" shortdesc="Fence agent for hb's relay board">
<longdesc>fence_hbrelay asks hb's relay board to pulse (reboot), hold (off) or release (on) the reset line of the port a node is wired to. The request is signed with the heartbeat cluster key from authkeys; the relay checks the key and the node name the host on that port said hello with.</longdesc>
<vendor-url>https://github.com/</vendor-url>
<parameters>
	<parameter name="action" unique="0" required="1">
		<getopt mixed="-o, --action=[action]" />
		<content type="string" default="reboot"  />
		<shortdesc lang="en">Fencing action</shortdesc>
	</parameter>
	<parameter name="plug" unique="0" required="1" obsoletes="port">
		<getopt mixed="-n, --plug=[name]" />
		<content type="string"  />
		<shortdesc lang="en">Node name (as it said hello to the relay)</shortdesc>
	</parameter>
	<parameter name="port" unique="0" required="1" deprecated="1">
		<getopt mixed="-n, --plug=[name]" />
		<content type="string"  />
		<shortdesc lang="en">Node name (as it said hello to the relay)</shortdesc>
	</parameter>
	<parameter name="ttydev" unique="0" required="1">
		<getopt mixed="--ttydev=[device]" />
		<content type="string"  />
		<shortdesc lang="en">The relay's serial device, then optional node=port pairs</shortdesc>
	</parameter>
	<parameter name="authkeys" unique="0" required="0">
		<getopt mixed="--authkeys=[path]" />
		<content type="string" default="/etc/ha.d/authkeys"  />
		<shortdesc lang="en">heartbeat authkeys file holding the relay's key</shortdesc>
	</parameter>
	<parameter name="power_timeout" unique="0" required="0">
		<getopt mixed="--power-timeout=[seconds]" />
		<content type="second" default="20"  />
		<shortdesc lang="en">Wait at most this long for the relay's answer</shortdesc>
	</parameter>
</parameters>
<actions>
	<action name="on" automatic="0"/>
	<action name="off" />
	<action name="reboot" />
	<action name="status" />
	<action name="list" />
	<action name="monitor" />
	<action name="metadata" />
	<action name="validate-all" />
</actions>
</resource-agent>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_and_long_options_read_the_same() {
        let stdin = "action=reboot\n# comment\nport=Node2\nttydev=/dev/ttyS1\nnodename=node1\n\
                     pcmk_host_list=node2\npower_timeout=5\n";
        let a = Options::from_stdin(stdin.as_bytes()).unwrap();
        let b = Options::from_args(
            &[
                "--action=reboot",
                "-n",
                "node2",
                "--ttydev",
                "/dev/ttyS1",
                "--power-timeout=5",
            ]
            .map(String::from),
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.plug.as_deref(), Some("node2"));
        assert!(Options::from_stdin("garbage\n".as_bytes()).is_err());
        assert!(Options::from_args(&["-x".to_string()]).is_err());
        assert!(Options::from_args(&["--power-timeout=-1".to_string()]).is_err());
    }

    #[test]
    fn metadata_needs_no_device_and_names_the_actions() {
        let mut out = Vec::new();
        let o = Options {
            action: "metadata".into(),
            ..Options::default()
        };
        assert_eq!(run(&o, &mut out), 0);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("<action name=\"reboot\" />"));
        assert!(text.contains("name=\"plug\""));
        let o = Options {
            action: "reboot".into(),
            plug: Some("node2".into()),
            ..Options::default()
        };
        assert_eq!(run(&o, &mut Vec::new()), 1, "no ttydev");
    }
}
