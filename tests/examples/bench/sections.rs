//! The report's sections saved as JSON (`--save DIR`) and composed later (`--from DIR`): the
//! failover runs take about two hours and the idle windows want a quiet machine, so the two
//! are often measured at different times. Each file carries when, under what load and by
//! which command its figures were measured, and the report shows that beside them.

use crate::failover::Series;
use crate::idle::{Breakdowns, Sample};
use crate::statics::Statics;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::path::Path;

/// When, where and how one section was measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Meta {
    pub started: String,
    pub finished: String,
    /// Load average (1, 5, 15 min) when the section ended.
    pub load: String,
    /// CPU, cores, kernel.
    pub machine: String,
    /// The peers' package versions.
    pub peers: String,
    pub command: String,
    /// The checkout's commit when the section started (`git describe --always --dirty`).
    #[serde(default)]
    pub revision: String,
    /// Failover runs per daemon, timing and fault.
    pub runs: u32,
    /// Idle windows and their length in s.
    pub windows: usize,
    pub window: u64,
    pub note: String,
}

impl Meta {
    /// A section that started at `started` (see [`Start`]) and ends now.
    pub fn ended(started: Start, a: &crate::Args) -> Meta {
        Meta {
            started: started.date,
            revision: started.revision,
            finished: now(),
            load: load(),
            machine: machine(),
            peers: versions(),
            command: command(),
            runs: a.runs,
            windows: a.windows,
            window: a.window,
            note: a.note.clone(),
        }
    }

    /// One line saying how the section's figures were measured.
    pub fn line(&self, what: &str) -> String {
        let mut s = format!(
            "*This section: measured {} – {} ({what}), load average at the end {}, by `{}`{}.*",
            self.started,
            self.finished,
            self.load,
            self.command,
            if self.revision.is_empty() {
                String::new()
            } else {
                format!(" in a checkout at {}", self.revision)
            }
        );
        if !self.note.is_empty() {
            s.push_str(&format!(" **Note on this section:** {}", self.note));
        }
        s
    }
}

/// When a section started, and the checkout's commit then (the checkout may move on during
/// a two-hour run).
pub struct Start {
    date: String,
    revision: String,
}

impl Start {
    pub fn now() -> Start {
        Start {
            date: now(),
            revision: sh("git", &["describe", "--always", "--dirty"]),
        }
    }
}

/// The command that measured a section: the wrapper's (`HB_BENCH_COMMAND`, set by
/// tests/benchmarks.sh), else this program's own arguments, less `--note`'s text.
pub fn command() -> String {
    if let Ok(c) = std::env::var("HB_BENCH_COMMAND") {
        return c;
    }
    let mut out = Vec::new();
    let mut it = std::env::args();
    while let Some(a) = it.next() {
        if a == "--note" {
            it.next();
            continue;
        }
        out.push(a);
    }
    out.join(" ")
}

#[derive(Serialize, Deserialize)]
pub struct Idle {
    pub meta: Meta,
    pub samples: Vec<Sample>,
    pub memory: Option<Breakdowns>,
}

#[derive(Serialize, Deserialize)]
pub struct Failover {
    pub meta: Meta,
    pub series: Vec<Series>,
}

#[derive(Serialize, Deserialize)]
pub struct Static {
    pub meta: Meta,
    pub statics: Statics,
}

pub const IDLE: &str = "idle.json";
pub const FAILOVER: &str = "failover.json";
pub const STATIC: &str = "static.json";

/// Writes one section to `dir/name` (a new file renamed over the old one: a section is never
/// half written).
pub fn save<T: Serialize>(dir: &Path, name: &str, section: &T) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.new"));
    let json = serde_json::to_string_pretty(section).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, json).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("bench: saved {}", path.display());
    Ok(())
}

pub fn load_section<T: DeserializeOwned>(dir: &Path, name: &str) -> Result<Option<T>, String> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(s) => serde_json::from_str(&s)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

pub fn sh(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// CPU, cores, kernel.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores, Linux {}", sh("uname", &["-r"]))
}

/// The load average now (1, 5, 15 min).
pub fn load() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    load.join(" ")
}

pub fn now() -> String {
    sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
}

pub fn versions() -> String {
    let ka = sh("keepalived", &["--version"]);
    let ka = std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or(ka);
    let hb = sh("dpkg-query", &["-W", "-f", "${Version}", "heartbeat"]);
    let ra = sh("dpkg-query", &["-W", "-f", "${Version}", "resource-agents"]);
    format!(
        "heartbeat (Debian) {hb}, resource-agents {ra}, {}",
        ka.trim()
    )
}
