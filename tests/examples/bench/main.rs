//! hb side by side with Debian's heartbeat 3.0.6 and keepalived, in network namespaces on this
//! machine (root): failover times, idle cost, core throughput, serial framing, the relay's
//! size; writes BENCHMARKS.md and its plot. Regenerate with `bash tests/benchmarks.sh`
//! (which builds what it needs and passes its arguments on):
//!
//! ```text
//! bench [--runs N] [--only idle|failover|static] [--window SECS] [--windows N]
//!       [--keepalives MS,MS,…] [--timings K/W/D,…] [--faults kill,poweroff,stop,standby]
//!       [--hb PATH] [--hb-appliance PATH] [--out FILE] [--note TEXT] [--save DIR]
//! bench --from DIR [--out FILE] [--note TEXT]
//! bench --hold KEEPALIVE_MS [--media N] [--secs S]   (an hb cluster to profile)
//! bench --soak SECS [--daemons hb,3.0.6] [--load cpu|mix] [--no-stress] [--assert|--assert-up]
//!       (tests/soak.sh; --load: stress-ng's work, see soak::Load; mix by default)
//! bench --flood SECS [--rate PPS] [--daemons hb,3.0.6] [--assert]   (tests/flood.sh)
//! ```
//!
//! Without `--out` the report is BENCHMARKS.md, or target/bench/BENCHMARKS.md for a run of one
//! section (`--only`), which must not replace the whole report.
//! `--save DIR` writes each section's raw figures as it ends (DIR/idle.json, failover.json,
//! static.json, each with its date, load and command) and no report unless `--out` is given;
//! `--from DIR` writes the report from the sections saved there, each shown with its own
//! date, load and command. So the two-hour failover part and the idle part can run at
//! different times (see tests/benchmarks.sh).
//! With `--assert`, `--soak` and `--flood` fail when hb (not 3.0.6, which is only measured)
//! declared its live peer dead, restarted or died, or (flood) heard a heartbeat later than
//! warntime. With `--assert-up` (CI's short soak), `--soak` fails only when an hb daemon is gone
//! at the end: a 30 ms dead time on a shared 2-core VM under stress-ng is at the mercy of the
//! host's scheduling of the vCPUs, so CI reports false deaths and the benchmark judges them.

mod cluster;
mod failover;
mod flood;
mod floor;
mod idle;
mod report;
mod sections;
mod soak;
mod statics;

use cluster::Kind;
use std::path::PathBuf;
use std::time::Duration;

/// Where a report of one section goes without `--out`.
const PARTIAL_REPORT: &str = "target/bench/BENCHMARKS.md";

struct Args {
    runs: u32,
    only: Option<String>,
    window: u64,
    windows: usize,
    hb: PathBuf,
    hb_appliance: Option<PathBuf>,
    out: Option<PathBuf>,
    note: String,
    save: Option<PathBuf>,
    from: Option<PathBuf>,
    hold: Option<u64>,
    keepalives: Vec<u64>,
    timings: Vec<cluster::Timing>,
    faults: Vec<failover::Fault>,
    media: usize,
    secs: u64,
    soak: Option<u64>,
    flood: Option<u64>,
    rate: u64,
    daemons: Vec<String>,
    stress: bool,
    load: soak::Load,
    assert: bool,
    assert_up: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        runs: 20,
        only: None,
        window: 20,
        windows: 3,
        hb: PathBuf::from("target/release/hbctl"),
        hb_appliance: None,
        out: None,
        note: String::new(),
        save: None,
        from: None,
        hold: None,
        keepalives: vec![1000, 100, 10],
        timings: failover::timings().to_vec(),
        faults: failover::Fault::ALL.to_vec(),
        media: 1,
        secs: 30,
        soak: None,
        flood: None,
        rate: 50_000,
        daemons: vec!["hb".into(), "3.0.6".into()],
        stress: true,
        load: soak::Load::Mix,
        assert: false,
        assert_up: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().ok_or(format!("{arg} needs a value"));
        let num = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{arg}: not a number: {v}"))
        };
        match arg.as_str() {
            "--runs" => a.runs = num(val()?)? as u32,
            "--only" => a.only = Some(val()?),
            "--window" => a.window = num(val()?)?,
            "--windows" => a.windows = num(val()?)? as usize,
            "--hb" => a.hb = PathBuf::from(val()?),
            "--hb-appliance" => a.hb_appliance = Some(PathBuf::from(val()?)),
            "--out" => a.out = Some(PathBuf::from(val()?)),
            "--save" => a.save = Some(PathBuf::from(val()?)),
            "--from" => a.from = Some(PathBuf::from(val()?)),
            "--note" => a.note = val()?,
            "--hold" => a.hold = Some(num(val()?)?),
            "--keepalives" => {
                a.keepalives = val()?
                    .split(',')
                    .map(|v| v.parse::<u64>().map_err(|_| format!("--keepalives: {v}")))
                    .collect::<Result<_, _>>()?
            }
            "--timings" => {
                a.timings = val()?
                    .split(',')
                    .map(|t| {
                        let v: Vec<u64> = t.split('/').filter_map(|x| x.parse().ok()).collect();
                        match v[..] {
                            [k, w, d] if k < w && w < d => Ok(cluster::Timing::failover(k, w, d)),
                            _ => Err(format!("--timings: {t}: expected K/W/D in ms")),
                        }
                    })
                    .collect::<Result<_, _>>()?
            }
            "--faults" => {
                a.faults = val()?
                    .split(',')
                    .map(|f| {
                        failover::Fault::ALL
                            .into_iter()
                            .find(|x| x.short() == f)
                            .ok_or(format!(
                                "--faults: {f}: one of kill, poweroff, stop, standby"
                            ))
                    })
                    .collect::<Result<_, _>>()?
            }
            "--media" => a.media = num(val()?)? as usize,
            "--secs" => a.secs = num(val()?)?,
            "--soak" => a.soak = Some(num(val()?)?),
            "--flood" => a.flood = Some(num(val()?)?),
            "--rate" => a.rate = num(val()?)?,
            "--daemons" => {
                a.daemons = val()?.split(',').map(str::to_string).collect();
                if let Some(d) = a.daemons.iter().find(|d| *d != "hb" && *d != "3.0.6") {
                    return Err(format!("--daemons: {d}: hb or 3.0.6"));
                }
            }
            "--no-stress" => a.stress = false,
            "--load" => {
                let v = val()?;
                a.load = soak::Load::parse(&v)
                    .ok_or_else(|| format!("--load: {v}: expected cpu or mix"))?;
            }
            "--assert" => a.assert = true,
            "--assert-up" => a.assert_up = true,
            _ => return Err(format!("unknown argument {arg} (see the source's header)")),
        }
    }
    if a.runs == 0 || a.windows == 0 || a.window == 0 {
        return Err("--runs, --windows and --window must be at least 1".into());
    }
    if a.from.is_some() && (a.save.is_some() || a.hold.is_some() || a.only.is_some()) {
        return Err("--from composes saved sections: no --save, --hold or --only with it".into());
    }
    if a.from.is_some() {
        return Ok(a);
    }
    a.hb = std::fs::canonicalize(&a.hb).map_err(|e| format!("{}: {e}", a.hb.display()))?;
    if let Some(p) = &a.hb_appliance {
        a.hb_appliance =
            Some(std::fs::canonicalize(p).map_err(|e| format!("{}: {e}", p.display()))?);
    }
    Ok(a)
}

fn main() -> std::process::ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--floor-node") {
        let num = |i: usize| argv.get(i).and_then(|v| v.parse::<u64>().ok());
        let Err(e) = match (num(2), num(3)) {
            (Some(ka), Some(media)) => floor::run(ka, media as usize),
            _ => Err("--floor-node KEEPALIVE_MS MEDIA".into()),
        };
        eprintln!("bench: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(a: &Args) -> Result<(), String> {
    let hb = Kind::Hb {
        bin: a.hb.clone(),
        label: "hb".into(),
    };
    if let Some(ka) = a.hold {
        return hold(&hb, ka, a.media, a.secs);
    }
    let kinds: Vec<Kind> = a
        .daemons
        .iter()
        .map(|d| if d == "hb" { hb.clone() } else { Kind::Hb306 })
        .collect();
    if let Some(secs) = a.soak {
        let out = soak::run(&kinds, secs, a.stress.then_some(a.load))?;
        soak::print(&out, secs);
        let bad: usize = out
            .iter()
            .filter(|o| o.label == "hb")
            .flat_map(|o| &o.nodes)
            .map(soak::NodeResult::false_deaths)
            .sum();
        if a.assert && bad > 0 {
            return Err(format!("soak: hb had {bad} false deaths"));
        }
        let gone = out
            .iter()
            .filter(|o| o.label == "hb")
            .flat_map(|o| &o.nodes)
            .filter(|n| !n.alive_at_end)
            .count();
        if a.assert_up && gone > 0 {
            return Err(format!("soak: {gone} hb daemons gone at the end"));
        }
        return Ok(());
    }
    if let Some(secs) = a.flood {
        let out = flood::run(&kinds, secs, a.rate)?;
        flood::print(&out);
        if a.assert {
            for o in out.iter().filter(|o| o.label == "hb") {
                let late = o.late.iter().sum::<usize>();
                let deaths = o.deaths.iter().sum::<usize>();
                let worst = o
                    .link_worst_ms
                    .map_or(0, |w| w.iter().flatten().copied().max().unwrap_or(0));
                if late > 0
                    || deaths > 0
                    || o.alive != [true, true]
                    || worst > flood::TIMING.warntime
                {
                    return Err(format!(
                        "flood: hb had {late} late heartbeats, {deaths} deaths, alive {:?}, worst link gap {worst} ms (warntime {} ms)",
                        o.alive,
                        flood::TIMING.warntime
                    ));
                }
            }
        }
        return Ok(());
    }
    // A run of one section (--only) would replace the committed report, all sections, with a
    // report of that one: unless told where, it goes beside the build.
    let out = a.out.clone().unwrap_or_else(|| {
        PathBuf::from(if a.only.is_some() && a.from.is_none() {
            PARTIAL_REPORT
        } else {
            "BENCHMARKS.md"
        })
    });
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    if let Some(dir) = &a.from {
        return report::Report::compose(dir, &a.note)?.write(&out);
    }
    let want = |what: &str| a.only.as_deref().is_none_or(|o| o == what);
    let mut rep = report::Report::new(a);
    if want("idle") {
        let started = sections::Start::now();
        let mut kinds = vec![hb.clone(), Kind::Hb306, Kind::Keepalived, Kind::Floor];
        if let Some(p) = &a.hb_appliance {
            kinds.insert(
                1,
                Kind::Hb {
                    bin: p.clone(),
                    label: "hb (appliance build)".into(),
                },
            );
        }
        for &ka in &a.keepalives {
            for media in [1, 2] {
                let k: Vec<Kind> = kinds
                    .iter()
                    .filter(|k| media == 1 || **k != Kind::Keepalived)
                    .cloned()
                    .collect();
                let s = idle::measure(&k, ka, media, Duration::from_secs(a.window), a.windows)?;
                for x in &s {
                    eprintln!(
                        "idle {} ms, {} media: {} {:.4} % ({:.3} % by ticks), RSS {} KiB, PSS {} KiB, {} processes, {} threads",
                        x.keepalive, x.media, x.kind, x.cpu, x.cpu_ticks, x.rss_kib, x.pss_kib, x.procs, x.threads
                    );
                }
                rep.idle.extend(s);
            }
        }
        rep.memory = Some(memory(&hb, a.hb_appliance.as_ref())?);
        let meta = sections::Meta::ended(started, a);
        if let Some(dir) = &a.save {
            sections::save(
                dir,
                sections::IDLE,
                &sections::Idle {
                    meta: meta.clone(),
                    samples: rep.idle.clone(),
                    memory: rep.memory.clone(),
                },
            )?;
        }
        rep.idle_meta = Some(meta);
    }
    if want("failover") {
        let started = sections::Start::now();
        rep.failover = failover::measure(&hb, a.runs, &a.timings, &a.faults)?;
        let meta = sections::Meta::ended(started, a);
        if let Some(dir) = &a.save {
            sections::save(
                dir,
                sections::FAILOVER,
                &sections::Failover {
                    meta: meta.clone(),
                    series: rep.failover.clone(),
                },
            )?;
        }
        rep.failover_meta = Some(meta);
    }
    // Last: the board images may still be building beside the namespace runs.
    if want("static") {
        let started = sections::Start::now();
        let s = statics::measure()?;
        let meta = sections::Meta::ended(started, a);
        if let Some(dir) = &a.save {
            sections::save(
                dir,
                sections::STATIC,
                &sections::Static {
                    meta: meta.clone(),
                    statics: s.clone(),
                },
            )?;
        }
        rep.statics = Some(s);
        rep.static_meta = Some(meta);
    }
    // With --save the sections are the result; the report comes from --from, unless asked.
    if a.save.is_none() || a.out.is_some() {
        rep.write(&out)?;
        eprintln!("bench: wrote {}", out.display());
    }
    Ok(())
}

/// An hb cluster at rest for `secs` (for `perf record -p PID`): prints the daemons' pids.
fn hold(hb: &Kind, ka: u64, media: usize, secs: u64) -> Result<(), String> {
    let c = cluster::start(hb, cluster::Timing::idle(ka), media, "hold")?;
    println!(
        "node1 {:?} node2 {:?} (holding {secs} s)",
        c.pids(0),
        c.pids(1)
    );
    std::thread::sleep(Duration::from_secs(secs));
    for (i, n) in c.nodes.iter().enumerate() {
        if c.pids(i).is_empty() {
            let log = n.log();
            let lines: Vec<&str> = log.lines().collect();
            return Err(format!(
                "{}'s daemon died; stderr: {}\nlog ends:\n{}",
                n.name,
                n.stderr(),
                lines[lines.len().saturating_sub(20)..].join("\n")
            ));
        }
    }
    Ok(())
}

/// Where the resident memory of an idle hb daemon goes (keepalive 1 s, one medium), for
/// each build.
fn memory(hb: &Kind, appliance: Option<&PathBuf>) -> Result<idle::Breakdowns, String> {
    let mut kinds = vec![hb.clone()];
    if let Some(p) = appliance {
        kinds.push(Kind::Hb {
            bin: p.clone(),
            label: "hb (appliance build)".into(),
        });
    }
    let mut out = Vec::new();
    for k in kinds {
        let c = cluster::start(&k, cluster::Timing::idle(1000), 1, "mem")?;
        std::thread::sleep(Duration::from_secs(3));
        let pid = *c.pids(1).first().ok_or("no daemon on node2")?;
        out.push((k.label(), idle::breakdown(pid)));
    }
    Ok(out)
}
