//! BENCHMARKS.md and its plot (`docs/failover.svg`, drawn here as plain SVG).

use crate::failover::{Fault, Series};
use crate::idle::Sample;
use crate::sections::{self, load, machine, now, versions, Meta};
use crate::statics::Statics;
use crate::Args;
use std::fmt::Write as _;
use std::path::Path;

pub struct Report {
    pub runs: u32,
    pub window: u64,
    pub windows: usize,
    pub note: String,
    pub command: String,
    pub statics: Option<Statics>,
    pub idle: Vec<Sample>,
    pub memory: Option<crate::idle::Breakdowns>,
    pub failover: Vec<Series>,
    /// Composed from sections measured at different times (`--from`): each says its own
    /// date, load and command.
    pub composed: bool,
    pub idle_meta: Option<Meta>,
    pub failover_meta: Option<Meta>,
    pub static_meta: Option<Meta>,
}

/// Median, min, max.
pub fn stats(v: &[f64]) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    let med = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    Some((med, s[0], s[n - 1]))
}

impl Report {
    /// A report from whatever sections `dir` holds (at least one).
    pub fn compose(dir: &Path, note: &str) -> Result<Report, String> {
        use sections::{load_section, FAILOVER, IDLE, STATIC};
        let idle: Option<sections::Idle> = load_section(dir, IDLE)?;
        let failover: Option<sections::Failover> = load_section(dir, FAILOVER)?;
        let statics: Option<sections::Static> = load_section(dir, STATIC)?;
        if idle.is_none() && failover.is_none() && statics.is_none() {
            return Err(format!(
                "{}: no saved section ({IDLE}, {FAILOVER} or {STATIC}; write them with --save)",
                dir.display()
            ));
        }
        let mut rep = Report::composed(sections::command(), note);
        if let Some(s) = idle {
            rep.window = s.meta.window;
            rep.windows = s.meta.windows;
            rep.idle = s.samples;
            rep.memory = s.memory;
            rep.idle_meta = Some(s.meta);
        }
        if let Some(s) = failover {
            rep.runs = s.meta.runs;
            rep.failover = s.series;
            rep.failover_meta = Some(s.meta);
        }
        if let Some(s) = statics {
            rep.statics = Some(s.statics);
            rep.static_meta = Some(s.meta);
        }
        Ok(rep)
    }

    pub fn new(a: &Args) -> Report {
        // The command that ran, as each saved section records it: a report written by the bench
        // binary called directly must not claim the wrapper's full run.
        let command = crate::sections::command();
        Report {
            runs: a.runs,
            window: a.window,
            windows: a.windows,
            note: a.note.clone(),
            command,
            statics: None,
            idle: Vec::new(),
            memory: None,
            failover: Vec::new(),
            composed: false,
            idle_meta: None,
            failover_meta: None,
            static_meta: None,
        }
    }

    /// An empty report to be filled from saved sections.
    pub fn composed(command: String, note: &str) -> Report {
        Report {
            runs: 0,
            window: 0,
            windows: 0,
            note: note.to_string(),
            command,
            statics: None,
            idle: Vec::new(),
            memory: None,
            failover: Vec::new(),
            composed: true,
            idle_meta: None,
            failover_meta: None,
            static_meta: None,
        }
    }

    fn metas(&self) -> impl Iterator<Item = &Meta> {
        [&self.failover_meta, &self.idle_meta, &self.static_meta]
            .into_iter()
            .flatten()
    }

    /// A section's own line, when the report is composed of sections measured apart.
    fn section_line(&self, md: &mut String, meta: &Option<Meta>, what: &str) {
        if let (true, Some(m)) = (self.composed, meta) {
            let _ = writeln!(md, "{}\n", m.line(what));
        }
    }

    pub fn write(&self, out: &Path) -> Result<(), String> {
        let mut md = String::new();
        let date = now();
        if self.composed {
            // Each distinct machine and peer set the sections were measured with (one, unless
            // sections from elsewhere were mixed in).
            let mut machines: Vec<&str> = self.metas().map(|m| m.machine.as_str()).collect();
            machines.dedup();
            let mut peers: Vec<&str> = self.metas().map(|m| m.peers.as_str()).collect();
            peers.dedup();
            let _ = writeln!(
                md,
                "# Benchmarks: hb, heartbeat 3.0.6 and keepalived side by side\n\n\
                 Composed by `{}` on {date} from sections measured separately (root; network \
                 namespaces on this machine, documentation addresses only); each section \
                 says when it was measured, under what load and by which command.\n\n\
                 - Machine: {}.\n- Peers: {}.\n- Every table gives the median, min and max; \
                 the ratio is hb's median over the peer's.\n",
                self.command,
                machines.join("; "),
                peers.join("; ")
            );
        } else {
            let _ = writeln!(
                md,
                "# Benchmarks: hb, heartbeat 3.0.6 and keepalived side by side\n\n\
                 Generated by `{}` (root; network namespaces on this machine, documentation \
                 addresses only) on {date}.\n\n\
                 - Machine: {}; load average at the end {}.\n- Peers: {}.\n- Every table \
                 gives the median, min and max; the ratio is hb's median over the peer's.\n",
                self.command,
                machine(),
                load(),
                versions()
            );
        }
        if !self.note.is_empty() {
            let _ = writeln!(md, "**Note on this run:** {}\n", self.note);
        }
        self.write_failover(&mut md, out)?;
        self.write_idle(&mut md);
        self.write_statics(&mut md);
        self.write_goals(&mut md);
        std::fs::write(out, md).map_err(|e| format!("{}: {e}", out.display()))
    }

    fn write_failover(&self, md: &mut String, out: &Path) -> Result<(), String> {
        if self.failover.is_empty() {
            return Ok(());
        }
        let _ = writeln!(
            md,
            "## Failover and hand-over\n\n\
             Two nodes (node1 198.51.100.1, node2 .2) on a LAN bridge with a client (.10), a \
             crossover cable (203.0.113.1/.2); the service IP 198.51.100.80 prefers node1. hb \
             and heartbeat 3.0.6 heartbeat over both (`bcast eth1`, `bcast eth0`, sha1), hb \
             with its native IPaddr, 3.0.6 with resource-agents' `IPaddr2`; keepalived runs \
             VRRPv3 with unicast peers over the LAN (priorities 200/100, no preemption setting \
             changed; not over the crossover, whose carrier drops with the peer's power and puts \
             keepalived's instance in FAULT). A fresh cluster per run, the daemons' runs alternating \
             (hb, 3.0.6, keepalived, hb, …), {} runs each. The client sends a UDP probe to the \
             service IP every 10 ms; a responder on each node bound to it with `IP_FREEBIND` \
             answers with its node's name, so a node answers only while it holds the address. \
             The time is from the fault to the client's first answer from node2. keepalived has \
             no standby command.\n\n![failover distributions](docs/failover.svg)\n",
            self.runs
        );
        self.section_line(
            md,
            &self.failover_meta,
            &format!("{} runs per daemon, timing and fault", self.runs),
        );
        let mut timings: Vec<_> = self.failover.iter().map(|s| s.timing).collect();
        timings.dedup_by_key(|t| t.deadtime);
        for t in timings {
            let _ = writeln!(
                md,
                "### keepalive/warntime/deadtime {}/{}/{} ms (keepalived: advert_int {:.2} s, \
                 master down after {:.0} ms)\n\n\
                 | fault | daemon | median ms | min | max | runs (failed) | hb / peer |\n\
                 |---|---|---|---|---|---|---|",
                t.keepalive,
                t.warntime,
                t.deadtime,
                t.advert_cs as f64 / 100.0,
                t.keepalived_detect_ms()
            );
            for fault in Fault::ALL {
                let rows: Vec<&Series> = self
                    .failover
                    .iter()
                    .filter(|s| s.timing.deadtime == t.deadtime && s.fault == fault)
                    .collect();
                let hb = rows
                    .iter()
                    .find(|s| s.kind == "hb")
                    .and_then(|s| stats(&s.ms))
                    .map(|x| x.0);
                for s in rows {
                    let Some((med, min, max)) = stats(&s.ms) else {
                        let _ = writeln!(
                            md,
                            "| {} | {} | – | – | – | 0 ({}) | |",
                            fault.label(),
                            s.kind,
                            s.failed
                        );
                        continue;
                    };
                    let ratio = match hb {
                        Some(h) if s.kind != "hb" => format!("{:.2}", h / med),
                        _ => String::new(),
                    };
                    let _ = writeln!(
                        md,
                        "| {} | {} | {med:.0} | {min:.0} | {max:.0} | {} ({}) | {ratio} |",
                        fault.label(),
                        s.kind,
                        s.ms.len(),
                        s.failed
                    );
                }
            }
            md.push('\n');
        }
        let svg = out
            .parent()
            .unwrap_or(Path::new("."))
            .join("docs/failover.svg");
        if let Some(d) = svg.parent() {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        std::fs::write(&svg, self.svg()).map_err(|e| format!("{}: {e}", svg.display()))
    }

    fn write_idle(&self, md: &mut String) {
        if self.idle.is_empty() {
            return;
        }
        let _ = writeln!(
            md,
            "## Idle cost\n\n\
             The same cluster at rest (node1 holds the service), every daemon's clusters \
             running side by side and measured over the same {} windows of {} s: CPU is the \
             scheduler's run time of all the daemon's processes and threads on a node \
             (`/proc/PID/task/*/schedstat`), in percent of one core; RSS and PSS \
             (`/proc/PID/smaps_rollup`) summed over the daemon's processes. Each median, min \
             and max is over both nodes and all windows. Media: `bcast eth1` (one), plus \
             `bcast eth0` (two); keepalived has one VRRP instance at advert_int = the \
             keepalive. *Sent*: frames per keepalive per node, the mean of both nodes (TX packets \
             of each node's interfaces, `/proc/PID/net/dev`): both heartbeat nodes send a status \
             every keepalive (and now and then an ACK), where only a VRRP master sends and its \
             backup only listens. *µs per frame*: the median CPU over a keepalive divided by \
             that mean, the cost of one frame sent and received, the two ends' shares \
             together. *Floor*: a process that sends hb's frames on the same media (a \
             288-byte status every keepalive, two ACKs every tenth) and reads what comes in \
             as hb does at rest (one `recvmmsg` per medium after a `poll` that only its \
             timer ends), and does nothing else (`tests/examples/bench/floor.rs`): what those \
             frames cost the kernel and the wake-ups; its *CPU hb / peer* is hb's total over \
             it.\n",
            self.windows, self.window
        );
        self.section_line(
            md,
            &self.idle_meta,
            &format!("{} windows of {} s", self.windows, self.window),
        );
        let _ = writeln!(
            md,
            "| keepalive | media | daemon | CPU % median | min | max | RSS KiB | PSS KiB | \
             processes / threads | CPU hb / peer | RSS hb / peer | sent | µs per frame | \
             per frame hb / peer |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        let mut keys: Vec<(u64, usize)> =
            self.idle.iter().map(|s| (s.keepalive, s.media)).collect();
        keys.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        keys.dedup();
        for (ka, media) in keys {
            let of = |kind: &str| -> Vec<&Sample> {
                self.idle
                    .iter()
                    .filter(|s| s.keepalive == ka && s.kind == kind)
                    .filter(|s| s.media == media || s.kind == "keepalived")
                    .collect()
            };
            let mut kinds: Vec<String> = self.idle.iter().map(|s| s.kind.clone()).collect();
            kinds.dedup();
            kinds.sort();
            kinds.dedup();
            let med = |v: &[&Sample], f: &dyn Fn(&Sample) -> f64| {
                stats(&v.iter().map(|s| f(s)).collect::<Vec<_>>())
            };
            let mean_sent =
                |v: &[&Sample]| v.iter().map(|s| s.sent).sum::<f64>() / v.len().max(1) as f64;
            // µs of CPU per frame sent: the median CPU over a keepalive over the mean sent.
            let per_frame =
                |sent: f64, cpu: f64| (sent > 0.0).then(|| cpu / 100.0 * ka as f64 * 1000.0 / sent);
            let hb = of("hb");
            let hb_cpu = med(&hb, &|s| s.cpu).map(|x| x.0);
            let hb_frame = hb_cpu.and_then(|c| per_frame(mean_sent(&hb), c));
            let hb_rss = med(&hb, &|s| s.rss_kib as f64).map(|x| x.0);
            for k in kinds {
                let v = of(&k);
                let (Some(cpu), Some(rss), Some(pss)) = (
                    med(&v, &|s| s.cpu),
                    med(&v, &|s| s.rss_kib as f64),
                    med(&v, &|s| s.pss_kib as f64),
                ) else {
                    continue;
                };
                let (cr, rr) = match (hb_cpu, hb_rss) {
                    (Some(c), Some(r)) if !k.starts_with("hb") => {
                        (format!("{:.2}", c / cpu.0), format!("{:.2}", r / rss.0))
                    }
                    _ => (String::new(), String::new()),
                };
                let sent = mean_sent(&v);
                let frame = per_frame(sent, cpu.0);
                let fr = match (hb_frame, frame) {
                    (Some(h), Some(f)) if !k.starts_with("hb") => format!("{:.2}", h / f),
                    _ => String::new(),
                };
                let (sent, frame) = match frame {
                    Some(f) => (format!("{sent:.2}"), format!("{f:.0}")),
                    None => ("—".into(), "—".into()),
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {k} | {:.4} | {:.4} | {:.4} | {:.0} | {:.0} | {} / {} | {cr} | {rr} | {sent} | {frame} | {fr} |",
                    if ka >= 1000 {
                        format!("{} s", ka / 1000)
                    } else {
                        format!("{ka} ms")
                    },
                    if k == "keepalived" { 1 } else { media },
                    cpu.0,
                    cpu.1,
                    cpu.2,
                    rss.0,
                    pss.0,
                    v[0].procs,
                    v[0].threads
                );
            }
        }
        md.push('\n');
        if let Some(mem) = &self.memory {
            let _ = writeln!(
                md,
                "### Where an idle hb daemon's resident memory is (keepalive 1 s, KiB, \
                 `/proc/PID/smaps`)\n"
            );
            for (label, parts) in mem {
                let total: u64 = parts.iter().map(|p| p.1).sum();
                let list: Vec<String> = parts.iter().map(|(n, k)| format!("{n} {k}")).collect();
                let _ = writeln!(md, "- {label}: {total} KiB: {}", list.join(", "));
            }
            md.push('\n');
        }
    }

    fn write_statics(&self, md: &mut String) {
        let Some(s) = &self.statics else { return };
        let _ = writeln!(
            md,
            "## Core throughput\n\n\
             criterion (`cargo bench -p hb-core --bench feed`): sha1-authenticated status \
             messages from a peer, each decoded, verified and fed to a node's engine \
             (`Membership::handle_packet`), on one core. Goal: at least 1 M/s.\n"
        );
        self.section_line(
            md,
            &self.static_meta,
            "this and the next two sections: criterion's estimates, serial framing, the board \
             images' sizes",
        );
        let _ = writeln!(
            md,
            "| benchmark | ns per message (median) | messages per second |\n|---|---|---|"
        );
        for (id, ns) in &s.throughput {
            let _ = writeln!(md, "| {id} | {ns:.0} | {:.2} M/s |", 1000.0 / ns);
        }
        let _ = writeln!(
            md,
            "\n## Serial line: bytes per keepalive\n\n\
             One status message as the engine sends it (sha1, node names `node1`/`node2`, a \
             load average), in each framing. At 19200 baud 8N1 a line carries 1920 bytes a \
             second each way, so the shortest keepalive it carries is bytes / 1920 s (each \
             node sends its own status; the line is full duplex), before any other message.\n\n\
             | framing | bytes per keepalive | shortest keepalive at 19200 baud |\n|---|---|---|"
        );
        for (name, n) in &s.serial {
            let _ = writeln!(
                md,
                "| {name} | {n} | {:.1} ms |",
                *n as f64 / 1920.0 * 1000.0
            );
        }
        let _ = writeln!(
            md,
            "\n## The relay board's flash and RAM\n\n\
             From `tests/boards.sh --build-only` (release images, `arm-none-eabi-size`): \
             flash = text + data, static RAM = data + bss (the stack comes on top: see \
             boards/README.md and the stack peaks below when boards.sh ran in full).\n\n\
             | image | flash bytes | static RAM bytes |\n|---|---|---|"
        );
        if s.relay.is_empty() {
            let _ = writeln!(
                md,
                "| (not measured in this run: no target/bench/boards.txt from tests/boards.sh) | | |"
            );
        }
        for (name, text, data, bss) in &s.relay {
            let _ = writeln!(md, "| {name} | {} | {} |", text + data, data + bss);
        }
        for l in &s.relay_stack {
            let _ = writeln!(md, "\n    {l}");
        }
        md.push('\n');
        let _ = writeln!(
            md,
            "## The appliance binary\n\n\
             `heartbeat` and `hbctl` as one static, stripped binary (`bash tests/appliance.sh`: \
             the `appliance` cargo profile; x86_64 with musl, armv7 with glibc linked \
             statically). Goal: at most 2 MiB (2 097 152 bytes).\n\n\
             | binary | bytes | MiB |\n|---|---|---|"
        );
        if s.appliance.is_empty() {
            let _ = writeln!(
                md,
                "| (not measured in this run: no target/appliance-bin from tests/appliance.sh) | | |"
            );
        }
        for (name, n) in &s.appliance {
            let _ = writeln!(md, "| {name} | {n} | {:.2} |", *n as f64 / 1048576.0);
        }
        md.push('\n');
    }

    /// The median of `kind`'s samples at keepalive `ka` with `media` media.
    fn idle_median(&self, kind: &str, ka: u64, media: usize, f: fn(&Sample) -> f64) -> Option<f64> {
        let v: Vec<f64> = self
            .idle
            .iter()
            .filter(|s| s.kind == kind && s.keepalive == ka)
            .filter(|s| s.media == media || kind == "keepalived")
            .map(f)
            .collect();
        stats(&v).map(|x| x.0)
    }

    /// What hb's frames alone cost in the same cell (the floor, `floor.rs`), for a goal's
    /// figure: a goal below it is out of reach of anything that sends those frames.
    fn floor_note(&self, ka: u64, media: usize) -> String {
        self.idle_median(
            crate::cluster::Kind::Floor.label().as_str(),
            ka,
            media,
            |s| s.cpu,
        )
        .map(|f| format!(" (hb's frames alone: {f:.4} %)"))
        .unwrap_or_default()
    }

    /// The goals, met or not, and what the profile says.
    fn write_goals(&self, md: &mut String) {
        let _ = writeln!(md, "## Goals\n\n| goal | figure | met |\n|---|---|---|");
        let yes = |b: bool| if b { "yes" } else { "**no**" };
        for hb in ["hb", "hb (appliance build)"] {
            for ka in [10, 100] {
                for media in [1, 2] {
                    let (Some(h), Some(k), Some(o)) = (
                        self.idle_median(hb, ka, media, |s| s.cpu),
                        self.idle_median("keepalived", ka, media, |s| s.cpu),
                        self.idle_median("heartbeat 3.0.6", ka, media, |s| s.cpu),
                    ) else {
                        continue;
                    };
                    let _ = writeln!(
                        md,
                        "| {hb}, keepalive {ka} ms, {media} medium(s): CPU ≤ keepalived's and \
                         ≤ 0.3 × 3.0.6's | {h:.3} % vs {k:.3} % and {:.3} %{} | {} |",
                        0.3 * o,
                        self.floor_note(ka, media),
                        yes(h <= k && h <= 0.3 * o)
                    );
                }
            }
            if let Some(h) = self.idle_median(hb, 1000, 1, |s| s.cpu) {
                let _ = writeln!(
                    md,
                    "| {hb}, keepalive 1 s: CPU under 0.01 % | {h:.4} %{} | {} |",
                    self.floor_note(1000, 1),
                    yes(h < 0.01)
                );
            }
            if let Some(r) = self.idle_median(hb, 1000, 1, |s| s.rss_kib as f64) {
                let _ = writeln!(
                    md,
                    "| {hb}: at most 3 MiB resident at rest | {:.2} MiB | {} |",
                    r / 1024.0,
                    yes(r <= 3072.0)
                );
            }
        }
        if let Some(s) = &self.statics {
            for (name, n) in &s.appliance {
                let _ = writeln!(
                    md,
                    "| appliance binary {name}: at most 2 MiB stripped | {:.2} MiB | {} |",
                    *n as f64 / 1048576.0,
                    yes(*n <= 2 * 1048576)
                );
            }
            for (id, ns) in &s.throughput {
                if id.contains("feed") {
                    let _ = writeln!(
                        md,
                        "| core throughput ≥ 1 M/s ({id}) | {:.2} M/s | {} |",
                        1000.0 / ns,
                        yes(1000.0 / ns >= 1.0)
                    );
                }
            }
        }
        md.push('\n');
        md.push_str(include_str!("profile.md"));
        md.push('\n');
        if self
            .statics
            .as_ref()
            .is_some_and(|s| s.appliance.iter().any(|(_, n)| *n > 2 * 1048576))
        {
            md.push_str(include_str!("appliance.md"));
            md.push('\n');
        }
    }

    /// A strip plot per timing: one row per fault and daemon, one dot per run, the median as a
    /// bar.
    fn svg(&self) -> String {
        let mut timings: Vec<_> = self.failover.iter().map(|s| s.timing).collect();
        timings.dedup_by_key(|t| t.deadtime);
        let colour = |k: &str| match k {
            "hb" => "#1f77b4",
            "heartbeat 3.0.6" => "#d62728",
            _ => "#2ca02c",
        };
        let (w, row, left, top) = (900.0, 16.0, 300.0, 40.0);
        let rows_per: usize = Fault::ALL.len() * 3;
        let panel_h = rows_per as f64 * row + 60.0;
        let h = top + panel_h * timings.len() as f64 + 20.0;
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
             font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" \
             fill=\"white\"/>\n<text x=\"10\" y=\"20\" font-size=\"14\">Failover / hand-over: \
             fault to the client's first answer from node2 ({} runs each; dot = run, bar = \
             median)</text>\n",
            self.runs
        );
        for (pi, t) in timings.iter().enumerate() {
            let y0 = top + pi as f64 * panel_h;
            let series: Vec<&Series> = self
                .failover
                .iter()
                .filter(|x| x.timing.deadtime == t.deadtime)
                .collect();
            let max = series
                .iter()
                .flat_map(|x| x.ms.iter().copied())
                .fold(1.0f64, f64::max)
                * 1.05;
            let scale = (w - left - 30.0) / max;
            let _ = writeln!(
                s,
                "<text x=\"10\" y=\"{}\" font-size=\"13\">{}/{}/{} ms (keepalived advert_int \
                 {:.2} s)</text>",
                y0 + 14.0,
                t.keepalive,
                t.warntime,
                t.deadtime,
                t.advert_cs as f64 / 100.0
            );
            let axis_y = y0 + 24.0 + rows_per as f64 * row;
            let _ = writeln!(
                s,
                "<line x1=\"{left}\" y1=\"{axis_y}\" x2=\"{}\" y2=\"{axis_y}\" stroke=\"black\"/>",
                w - 30.0
            );
            let step = nice_step(max);
            let mut v = 0.0;
            while v <= max {
                let x = left + v * scale;
                let _ = writeln!(
                    s,
                    "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{axis_y}\" stroke=\"#ddd\"/>\
                     <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{v:.0} ms</text>",
                    y0 + 24.0,
                    axis_y + 14.0
                );
                v += step;
            }
            let mut r = 0;
            for fault in Fault::ALL {
                for x in series.iter().filter(|x| x.fault == fault) {
                    let y = y0 + 24.0 + r as f64 * row + row / 2.0;
                    let c = colour(&x.kind);
                    let _ = writeln!(
                        s,
                        "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{c}\">{} — {}</text>",
                        left - 8.0,
                        y + 4.0,
                        fault.label(),
                        x.kind
                    );
                    for ms in &x.ms {
                        let _ = writeln!(
                            s,
                            "<circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{c}\" fill-opacity=\"0.5\"/>",
                            left + ms * scale
                        );
                    }
                    if let Some((med, _, _)) = stats(&x.ms) {
                        let mx = left + med * scale;
                        let _ = writeln!(
                            s,
                            "<line x1=\"{mx:.1}\" y1=\"{:.1}\" x2=\"{mx:.1}\" y2=\"{:.1}\" stroke=\"black\" stroke-width=\"2\"/>",
                            y - 6.0,
                            y + 6.0
                        );
                    }
                    r += 1;
                }
            }
        }
        s.push_str("</svg>\n");
        s
    }
}

/// A round tick step giving about 8 ticks up to `max`.
fn nice_step(max: f64) -> f64 {
    let raw = max / 8.0;
    let mag = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if raw <= m * mag {
            return m * mag;
        }
    }
    10.0 * mag
}
