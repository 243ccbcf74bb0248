//! `hbctl tune`: heartbeat's FAQ procedure for choosing deadtime, as one command.
//!
//! The FAQ's procedure: run with a warntime well below deadtime, collect the `Late heartbeat`
//! warnings over a representative period, then set deadtime to at least twice the longest gap
//! seen, so that the worst delay observed so far is only half way to a (false) death. This
//! command does the collecting and the arithmetic, from an ha-log's
//! `Late heartbeat: Node N: interval T ms` lines (`--log FILE`, repeatable) or, without
//! `--log`, from the running daemon, which measures every gap between a peer's heartbeats
//! (overall and per medium: `worst_gap_ms` of `hbctl status --json`, also exported as
//! `hb_heartbeat_gap_seconds` / `hb_heartbeat_gap_max_seconds`) and how long its takeovers took.
//!
//! Per peer (and per medium, where the daemon measured one):
//! - deadtime = max(2 × worst gap, 4 × keepalive): twice the worst delay, and never so short
//!   that three heartbeats lost in a row kill the peer;
//! - warntime = max(worst gap, 2 × keepalive), below deadtime: a warning then means a gap worse
//!   than any seen while tuning;
//! - keepalive as configured (heartbeat's timing is cluster-wide; only deadtime follows from
//!   the measurements);
//! - margin = deadtime − worst gap; detection = deadtime (a node that dies right after a
//!   heartbeat is declared dead one deadtime later), failover = detection + the group's start.
//!
//! ha.cf has one timing for the whole cluster: the lines printed are the largest per-peer
//! values. Values are rounded up (10 ms below 1 s, 100 ms below 10 s, whole seconds above).
//! A peer with no late heartbeat logged had every gap below the warntime in force: that
//! warntime stands in for its worst gap (shown as `< W`).

use hb_core::config::HaCf;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// ha.cf's keepalive when none is written (and no ha.cf is at hand).
const DEFAULT_KEEPALIVE_MS: u64 = 1000;

/// What was measured of one peer (on one medium, or on all of them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gaps {
    pub peer: String,
    /// `None`: all media together (what the log's lines say).
    pub medium: Option<String>,
    /// Gaps counted (late ones only, from a log).
    pub samples: u64,
    /// The worst gap in ms.
    pub worst_ms: u64,
    /// `worst_ms` is only an upper bound (no late heartbeat seen; or a histogram bucket).
    pub bound: bool,
    /// Gaps beyond deadtime: the peer was declared dead and came back.
    pub beyond_deadtime: u64,
}

/// The timing in force (ha.cf), in ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub keepalive: u64,
    pub warntime: u64,
    pub deadtime: u64,
}

impl Timing {
    pub fn from_hacf(cf: &HaCf) -> Timing {
        Timing {
            keepalive: cf.keepalive.as_millis(),
            warntime: cf.warntime.as_millis(),
            deadtime: cf.deadtime.as_millis(),
        }
    }
}

/// The recommendation for one [`Gaps`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advice {
    pub gaps: Gaps,
    pub timing: Timing,
    pub margin_ms: u64,
    pub detection_ms: u64,
}

/// The `Late heartbeat: Node N: interval T ms` lines of an ha-log (heartbeat 3.0.6's wording,
/// with or without ` (> deadtime)`), as (node, ms, beyond deadtime), in order. Other lines,
/// and lines cut short, are skipped.
pub fn late_heartbeats(text: &str) -> Vec<(String, u64, bool)> {
    const MARK: &str = "Late heartbeat: Node ";
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(at) = line.find(MARK) else {
            continue;
        };
        let rest = &line[at + MARK.len()..];
        let Some((node, rest)) = rest.split_once(": interval ") else {
            continue;
        };
        let Some((ms, rest)) = rest.split_once(" ms") else {
            continue;
        };
        let Ok(ms) = ms.trim().parse::<u64>() else {
            continue;
        };
        if node.is_empty() || node.contains(char::is_whitespace) {
            continue;
        }
        out.push((
            node.to_ascii_lowercase(),
            ms,
            rest.trim_start().starts_with("(> deadtime)"),
        ));
    }
    out
}

/// Per-peer worst gaps from late-heartbeat lines; `peers` (the cluster's other nodes, when
/// ha.cf is known) get a row even without a late line, bounded by `warntime`.
pub fn gaps_from_log(
    lines: &[(String, u64, bool)],
    peers: &[String],
    warntime: Option<u64>,
) -> Vec<Gaps> {
    let mut by: BTreeMap<String, Gaps> = BTreeMap::new();
    for (node, ms, beyond) in lines {
        let g = by.entry(node.clone()).or_insert_with(|| Gaps {
            peer: node.clone(),
            medium: None,
            samples: 0,
            worst_ms: 0,
            bound: false,
            beyond_deadtime: 0,
        });
        g.samples += 1;
        g.worst_ms = g.worst_ms.max(*ms);
        g.beyond_deadtime += u64::from(*beyond);
    }
    if let Some(w) = warntime {
        for p in peers {
            by.entry(p.clone()).or_insert_with(|| Gaps {
                peer: p.clone(),
                medium: None,
                samples: 0,
                worst_ms: w,
                bound: true,
                beyond_deadtime: 0,
            });
        }
    }
    by.into_values().collect()
}

/// Per-peer and per-link worst gaps from the daemon's status (`hbctl status --json`): exact
/// maxima, not bounds. The local node and ping nodes have none.
pub fn gaps_from_status(v: &serde_json::Value) -> Vec<Gaps> {
    let list = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let u = |x: &serde_json::Value, k: &str| x.get(k).and_then(serde_json::Value::as_u64);
    let s = |x: &serde_json::Value, k: &str| {
        x.get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut out = Vec::new();
    for n in list("nodes") {
        if n.get("local") == Some(&serde_json::Value::Bool(true)) || s(&n, "type") != "normal" {
            continue;
        }
        let peer = s(&n, "name");
        out.push(Gaps {
            peer: peer.clone(),
            medium: None,
            samples: u(&n, "late_heartbeats").unwrap_or(0),
            worst_ms: u(&n, "worst_gap_ms").unwrap_or(0),
            bound: false,
            beyond_deadtime: 0,
        });
        for l in list("links") {
            if s(&l, "node") != peer {
                continue;
            }
            if let Some(w) = u(&l, "worst_gap_ms") {
                out.push(Gaps {
                    peer: peer.clone(),
                    medium: Some(s(&l, "medium")),
                    samples: 0,
                    worst_ms: w,
                    bound: false,
                    beyond_deadtime: 0,
                });
            }
        }
    }
    out
}

/// The timing in force, from the status's `parameters` (`"1000ms"`).
pub fn timing_from_status(v: &serde_json::Value) -> Option<Timing> {
    let p = v.get("parameters")?;
    let ms = |k: &str| -> Option<u64> { p.get(k)?.as_str()?.strip_suffix("ms")?.parse().ok() };
    Some(Timing {
        keepalive: ms("keepalive")?,
        warntime: ms("warntime")?,
        deadtime: ms("deadtime")?,
    })
}

/// The longest detection-to-running time of the daemon's recorded takeovers.
pub fn group_start_from_status(v: &serde_json::Value) -> Option<u64> {
    v.get("takeovers")?
        .as_array()?
        .iter()
        .filter_map(|t| t.get("running_after_ms")?.as_u64())
        .max()
}

/// Rounds up to a figure an admin would write: 10 ms steps below 1 s, 100 ms below 10 s,
/// whole seconds above.
pub fn round_up(ms: u64) -> u64 {
    let step = match ms {
        0..1000 => 10,
        1000..10_000 => 100,
        _ => 1000,
    };
    ms.div_ceil(step) * step
}

/// The FAQ's arithmetic for one peer; `keepalive` is the one in force.
pub fn advise(gaps: &Gaps, keepalive: u64) -> Advice {
    let keepalive = keepalive.max(1);
    let deadtime = round_up((2 * gaps.worst_ms).max(4 * keepalive));
    let mut warntime = round_up(gaps.worst_ms.max(2 * keepalive));
    if warntime >= deadtime {
        warntime = deadtime / 2;
    }
    Advice {
        gaps: gaps.clone(),
        timing: Timing {
            keepalive,
            warntime,
            deadtime,
        },
        margin_ms: deadtime.saturating_sub(gaps.worst_ms),
        detection_ms: deadtime,
    }
}

/// The cluster-wide lines: the largest per-peer values.
pub fn cluster_timing(advice: &[Advice], keepalive: u64) -> Timing {
    let mut t = Timing {
        keepalive,
        warntime: 0,
        deadtime: 0,
    };
    for a in advice {
        t.warntime = t.warntime.max(a.timing.warntime);
        t.deadtime = t.deadtime.max(a.timing.deadtime);
    }
    if t.deadtime == 0 {
        t.deadtime = round_up(4 * keepalive);
        t.warntime = round_up(2 * keepalive);
    }
    t
}

fn ms(v: u64) -> String {
    format!("{v}ms")
}

/// The table and the ha.cf lines.
pub fn render(
    advice: &[Advice],
    current: Option<Timing>,
    group_start_ms: Option<u64>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let keepalive = current.map_or(DEFAULT_KEEPALIVE_MS, |c| c.keepalive);
    writeln!(
        out,
        "{:<16} {:<10} {:>7} {:>10} {:>10} {:>9} {:>9} {:>9} {:>10}",
        "PEER",
        "MEDIUM",
        "LATE",
        "WORST GAP",
        "KEEPALIVE",
        "WARNTIME",
        "DEADTIME",
        "MARGIN",
        "DETECTION"
    )?;
    for a in advice {
        let worst = if a.gaps.bound {
            format!("< {}", ms(a.gaps.worst_ms))
        } else {
            ms(a.gaps.worst_ms)
        };
        writeln!(
            out,
            "{:<16} {:<10} {:>7} {:>10} {:>10} {:>9} {:>9} {:>9} {:>10}",
            a.gaps.peer,
            a.gaps.medium.as_deref().unwrap_or("(all)"),
            a.gaps.samples,
            worst,
            ms(a.timing.keepalive),
            ms(a.timing.warntime),
            ms(a.timing.deadtime),
            ms(a.margin_ms),
            ms(a.detection_ms)
        )?;
        if a.gaps.beyond_deadtime > 0 {
            writeln!(
                out,
                "  {}: {} gap(s) beyond deadtime: it was declared dead while alive",
                a.gaps.peer, a.gaps.beyond_deadtime
            )?;
        }
    }
    let t = cluster_timing(advice, keepalive);
    writeln!(out)?;
    if let Some(c) = current {
        writeln!(
            out,
            "# now: keepalive {} warntime {} deadtime {}",
            ms(c.keepalive),
            ms(c.warntime),
            ms(c.deadtime)
        )?;
    }
    let failover = match group_start_ms {
        Some(s) => format!(
            "{} (detection) + {} (group start, measured)",
            ms(t.deadtime),
            ms(s)
        ),
        None => format!("{} (detection) + the group's start", ms(t.deadtime)),
    };
    writeln!(out, "# failover after a crash: at most {failover}")?;
    writeln!(out, "keepalive {}", ms(t.keepalive))?;
    writeln!(out, "warntime {}", ms(t.warntime))?;
    writeln!(out, "deadtime {}", ms(t.deadtime))?;
    Ok(())
}

pub fn to_json(advice: &[Advice], current: Option<Timing>) -> serde_json::Value {
    let keepalive = current.map_or(DEFAULT_KEEPALIVE_MS, |c| c.keepalive);
    let t = cluster_timing(advice, keepalive);
    let timing = |t: Timing| json!({"keepalive_ms": t.keepalive, "warntime_ms": t.warntime, "deadtime_ms": t.deadtime});
    json!({
        "peers": advice.iter().map(|a| json!({
            "peer": a.gaps.peer,
            "medium": a.gaps.medium,
            "late": a.gaps.samples,
            "worst_gap_ms": a.gaps.worst_ms,
            "worst_is_bound": a.gaps.bound,
            "beyond_deadtime": a.gaps.beyond_deadtime,
            "keepalive_ms": a.timing.keepalive,
            "warntime_ms": a.timing.warntime,
            "deadtime_ms": a.timing.deadtime,
            "margin_ms": a.margin_ms,
            "detection_ms": a.detection_ms,
        })).collect::<Vec<_>>(),
        "current": current.map(timing),
        "hacf": timing(t),
    })
}

/// What `hbctl tune` was given.
pub struct Options {
    pub logs: Vec<PathBuf>,
    /// The daemon's control socket, asked when no log is given.
    pub socket: PathBuf,
    pub config_dir: PathBuf,
    pub node: Option<String>,
    pub json: bool,
}

/// `hbctl tune`: exit 0, 1 when there is nothing to tune from, 2 when an input is unreadable.
pub fn run(opts: &Options, out: &mut dyn Write) -> u8 {
    // ha.cf is optional: it gives the timing in force and the peers without late lines.
    let hacf_path = opts.config_dir.join("ha.cf");
    let cf = std::fs::read_to_string(&hacf_path)
        .ok()
        .and_then(|t| HaCf::parse(&t, &mut |_| {}).ok());
    let current = cf.as_ref().map(Timing::from_hacf);
    let local = opts
        .node
        .clone()
        .or_else(|| crate::config::local_node_name(&opts.config_dir).ok())
        .map(|n| n.to_ascii_lowercase());
    let peers: Vec<String> = cf
        .as_ref()
        .map(|cf| {
            cf.node_names()
                .filter(|n| Some(n.to_ascii_lowercase()) != local)
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default();
    if opts.logs.is_empty() {
        return from_daemon(opts, out);
    }
    let mut lines = Vec::new();
    for path in &opts.logs {
        match read_log(path) {
            Ok(t) => lines.extend(late_heartbeats(&t)),
            Err(e) => {
                eprintln!("hbctl tune: {}: {e}", path.display());
                return 2;
            }
        }
    }
    let gaps = gaps_from_log(&lines, &peers, current.map(|c| c.warntime));
    if gaps.is_empty() {
        eprintln!(
            "hbctl tune: no 'Late heartbeat' line in the log, and no ha.cf in {} to say which \
             warntime bounded the gaps (use -c DIR)",
            opts.config_dir.display()
        );
        return 1;
    }
    let keepalive = current.map_or(DEFAULT_KEEPALIVE_MS, |c| c.keepalive);
    let advice: Vec<Advice> = gaps.iter().map(|g| advise(g, keepalive)).collect();
    let r = if opts.json {
        writeln!(out, "{:#}", to_json(&advice, current))
    } else {
        render(&advice, current, None, out)
    };
    u8::from(r.is_err()) * 2
}

/// `hbctl tune` without `--log`: the running daemon's measurements.
fn from_daemon(opts: &Options, out: &mut dyn Write) -> u8 {
    let v = match crate::control::request(&opts.socket, &json!({"cmd": "status"})) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("hbctl tune: {e} (or give an ha-log with --log FILE)");
            return super::client::EXIT_NO_DAEMON;
        }
    };
    let current = timing_from_status(&v);
    let gaps = gaps_from_status(&v);
    if gaps.iter().all(|g| g.worst_ms == 0) {
        eprintln!("hbctl tune: the daemon has not measured a gap between heartbeats yet");
        return 1;
    }
    let keepalive = current.map_or(DEFAULT_KEEPALIVE_MS, |c| c.keepalive);
    let advice: Vec<Advice> = gaps.iter().map(|g| advise(g, keepalive)).collect();
    let r = if opts.json {
        writeln!(out, "{:#}", to_json(&advice, current))
    } else {
        render(&advice, current, group_start_from_status(&v), out)
    };
    u8::from(r.is_err()) * 2
}

fn read_log(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| crate::errno_text(&e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ha-log as heartbeat 3.0.6 writes it (logfile), with other lines around.
    const LOG: &str = "\
heartbeat[2101]: 2026/03/09_13:05:01 info: Link node2:eth1 up.
heartbeat[2101]: 2026/03/09_13:05:09 WARN: Late heartbeat: Node node2: interval 2510 ms
heartbeat[2101]: 2026/03/09_13:06:09 WARN: Late heartbeat: Node node2: interval 1730 ms
heartbeat[2101]: 2026/03/09_13:07:00 WARN: Late heartbeat: Node Node3: interval 12040 ms (> deadtime)
heartbeat[2101]: 2026/03/09_13:07:01 WARN: Late heartbeat: Node node2: interval
Mar  9 13:08:00 alpha heartbeat: [2101]: WARN: Late heartbeat: Node node2: interval 3120 ms
heartbeat[2101]: 2026/03/09_13:09:00 info: Status update for node node2: status active
";

    #[test]
    fn late_lines_in_logfile_and_syslog_form() {
        assert_eq!(
            late_heartbeats(LOG),
            [
                ("node2".into(), 2510, false),
                ("node2".into(), 1730, false),
                ("node3".into(), 12040, true),
                ("node2".into(), 3120, false),
            ]
        );
        assert_eq!(late_heartbeats("no such lines\n"), []);
    }

    #[test]
    fn worst_gap_per_peer_and_bounded_quiet_peers() {
        let g = gaps_from_log(
            &late_heartbeats(LOG),
            &["node2".into(), "node4".into()],
            Some(500),
        );
        assert_eq!(
            g.iter()
                .map(|g| (
                    g.peer.as_str(),
                    g.samples,
                    g.worst_ms,
                    g.bound,
                    g.beyond_deadtime
                ))
                .collect::<Vec<_>>(),
            [
                ("node2", 3, 3120, false, 0),
                ("node3", 1, 12040, false, 1),
                ("node4", 0, 500, true, 0),
            ]
        );
    }

    #[test]
    fn deadtime_is_twice_the_worst_gap_and_never_under_four_keepalives() {
        let gaps = |worst_ms| Gaps {
            peer: "node2".into(),
            medium: None,
            samples: 3,
            worst_ms,
            bound: false,
            beyond_deadtime: 0,
        };
        let a = advise(&gaps(3120), 1000);
        assert_eq!(
            a.timing,
            Timing {
                keepalive: 1000,
                warntime: 3200,
                deadtime: 6300
            }
        );
        assert_eq!(a.margin_ms, 6300 - 3120);
        assert_eq!(a.detection_ms, 6300);
        // Gaps hardly above keepalive: three lost heartbeats must not kill.
        let a = advise(&gaps(104), 100);
        assert_eq!((a.timing.warntime, a.timing.deadtime), (200, 400));
        // Long gaps round to whole seconds.
        assert_eq!(advise(&gaps(12040), 2000).timing.deadtime, 25_000);
        assert_eq!(round_up(999), 1000);
        assert_eq!(round_up(1001), 1100);
        assert_eq!(round_up(10_001), 11_000);
        assert_eq!(round_up(0), 0);
    }

    #[test]
    fn report_and_hacf_lines_take_the_worst_peer() {
        let g = gaps_from_log(&late_heartbeats(LOG), &[], None);
        let advice: Vec<Advice> = g.iter().map(|g| advise(g, 1000)).collect();
        let now = Timing {
            keepalive: 1000,
            warntime: 1500,
            deadtime: 10_000,
        };
        let mut out = Vec::new();
        render(&advice, Some(now), Some(850), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("PEER"), "{text}");
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["node2", "(all)", "3", "3120ms", "1000ms", "3200ms", "6300ms", "3180ms", "6300ms"]
        );
        assert!(lines[2].starts_with("node3 "), "{text}");
        assert!(
            text.contains("node3: 1 gap(s) beyond deadtime: it was declared dead while alive"),
            "{text}"
        );
        assert!(text.contains("# now: keepalive 1000ms warntime 1500ms deadtime 10000ms"));
        assert!(text.contains(
            "# failover after a crash: at most 25000ms (detection) + 850ms (group start, measured)"
        ));
        assert!(
            text.ends_with("keepalive 1000ms\nwarntime 13000ms\ndeadtime 25000ms\n"),
            "{text}"
        );
        let j = to_json(&advice, Some(now));
        assert_eq!(j["hacf"]["deadtime_ms"], 25_000);
        assert_eq!(j["peers"][0]["worst_gap_ms"], 3120);
        assert_eq!(j["current"]["warntime_ms"], 1500);
    }

    #[test]
    fn the_command_reads_logs_and_hacf() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("ha.cf"),
            "keepalive 200ms\nwarntime 300ms\ndeadtime 2\nbcast lo\nnode node1\nnode node2\nnode node3\n",
        )
        .unwrap();
        let log = dir.path().join("ha-log");
        std::fs::write(
            &log,
            "heartbeat[1]: 2026/03/09_13:05:09 WARN: Late heartbeat: Node node2: interval 420 ms\n",
        )
        .unwrap();
        let opts = Options {
            logs: vec![log.clone()],
            socket: dir.path().join("no-daemon.sock"),
            config_dir: dir.path().into(),
            node: Some("node1".into()),
            json: true,
        };
        let mut out = Vec::new();
        assert_eq!(run(&opts, &mut out), 0);
        let j: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(j["peers"][0]["peer"], "node2");
        assert_eq!(j["peers"][0]["deadtime_ms"], 840);
        // node3 logged nothing: its gaps stayed under the warntime in force.
        assert_eq!(j["peers"][1]["peer"], "node3");
        assert_eq!(j["peers"][1]["worst_is_bound"], true);
        assert_eq!(j["peers"][1]["worst_gap_ms"], 300);
        assert_eq!(j["hacf"]["deadtime_ms"], 840);
        let missing = Options {
            logs: vec![dir.path().join("nope")],
            ..opts
        };
        assert_eq!(run(&missing, &mut Vec::new()), 2);
        // No log: the daemon is asked, and there is none.
        let empty = Options {
            logs: vec![],
            socket: dir.path().join("no-daemon.sock"),
            config_dir: dir.path().join("none"),
            node: None,
            json: false,
        };
        assert_eq!(run(&empty, &mut Vec::new()), 3);
    }

    #[test]
    fn the_daemons_status_gives_exact_gaps_per_peer_and_link() {
        let v = serde_json::json!({
            "nodes": [
                {"name": "node1", "type": "normal", "local": true, "worst_gap_ms": 0},
                {"name": "node2", "type": "normal", "local": false, "worst_gap_ms": 230, "late_heartbeats": 2},
                {"name": "198.51.100.254", "type": "ping", "local": false, "worst_gap_ms": 900},
            ],
            "links": [
                {"node": "node2", "medium": "eth1", "worst_gap_ms": 230},
                {"node": "node2", "medium": "/dev/ttyS0", "worst_gap_ms": 410},
            ],
            "parameters": {"keepalive": "100ms", "warntime": "300ms", "deadtime": "1000ms"},
            "takeovers": [{"running_after_ms": 120}, {"running_after_ms": 95}, {"running_after_ms": null}],
        });
        let g = gaps_from_status(&v);
        assert_eq!(
            g.iter()
                .map(|g| (g.peer.as_str(), g.medium.as_deref(), g.worst_ms, g.samples))
                .collect::<Vec<_>>(),
            [
                ("node2", None, 230, 2),
                ("node2", Some("eth1"), 230, 0),
                ("node2", Some("/dev/ttyS0"), 410, 0)
            ]
        );
        assert_eq!(
            timing_from_status(&v),
            Some(Timing {
                keepalive: 100,
                warntime: 300,
                deadtime: 1000
            })
        );
        assert_eq!(group_start_from_status(&v), Some(120));
        let advice: Vec<Advice> = g.iter().map(|g| advise(g, 100)).collect();
        // The serial line's worst gap sets the cluster's deadtime.
        assert_eq!(cluster_timing(&advice, 100).deadtime, 820);
    }
}
