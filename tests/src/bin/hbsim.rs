//! `hbsim`: runs seeded cluster scenarios through the deterministic simulator.
//!
//! ```text
//! hbsim --seeds N [--start S] [--threads T]   run seeds S..S+N (default 0..1000) on T threads
//! hbsim --seed N [--statuses]                 replay one seed with its timeline (and every
//!                                             status message taken)
//! SIM_SEED=N hbsim                            the same
//! ```
//! The last line is always `<passed> passed, <failed> failed`; the exit status is 1 if any
//! seed failed.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use hb_tests::sim::{run_with, Options};
use hb_tests::{run, Scenario};

/// Lines of a failing seed's timeline printed in a batch run.
const TIMELINE_TAIL: usize = 60;

fn usage() -> ExitCode {
    eprintln!("usage: hbsim [--seeds N] [--start S] [--threads T] | [--seed N] [--statuses]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut seeds = 1000u64;
    let mut start = 0u64;
    let mut threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut one: Option<u64> = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok());
    let mut statuses = false;
    while let Some(a) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse::<u64>().ok());
        match a.as_str() {
            "--seeds" => match value() {
                Some(v) => seeds = v,
                None => return usage(),
            },
            "--start" => match value() {
                Some(v) => start = v,
                None => return usage(),
            },
            "--threads" => match value() {
                Some(v) if v > 0 => threads = v as usize,
                _ => return usage(),
            },
            "--seed" => match value() {
                Some(v) => one = Some(v),
                None => return usage(),
            },
            "--statuses" => statuses = true,
            _ => return usage(),
        }
    }
    if let Some(seed) = one {
        return replay(seed, statuses);
    }

    let began = Instant::now();
    let next = AtomicU64::new(start);
    let failed = Mutex::new(Vec::new());
    let unsettled = AtomicU64::new(0);
    let out_of_order = AtomicU64::new(0);
    let ipfail_giveups = AtomicU64::new(0);
    let stalls = AtomicU64::new(0);
    let end = start + seeds;
    std::thread::scope(|s| {
        for _ in 0..threads {
            std::thread::Builder::new()
                .stack_size(32 << 20)
                .spawn_scoped(s, || loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= end {
                        break;
                    }
                    let sc = Scenario::generate(seed);
                    let out = run(&sc, false);
                    if out.stats.unsettled {
                        unsettled.fetch_add(1, Ordering::Relaxed);
                    }
                    out_of_order.fetch_add(out.stats.out_of_order, Ordering::Relaxed);
                    ipfail_giveups.fetch_add(out.stats.ipfail_giveups, Ordering::Relaxed);
                    stalls.fetch_add(out.stats.stalls, Ordering::Relaxed);
                    if !out.passed() {
                        // Again with the timeline (the run is deterministic): its end, then
                        // what was violated.
                        let again = run(&sc, true);
                        let from = again.timeline.len().saturating_sub(TIMELINE_TAIL);
                        let mut text = format!("seed {seed} FAILED\n{sc}\n");
                        if from > 0 {
                            text += &format!("  … ({from} earlier lines)\n");
                        }
                        for line in &again.timeline[from..] {
                            text += line;
                            text.push('\n');
                        }
                        for v in &out.violations {
                            text += v;
                            text.push('\n');
                        }
                        text += &format!(
                            "seed {seed} FAILED; the whole timeline: SIM_SEED={seed} cargo run \
                             --release -p hb-tests --bin hbsim\n"
                        );
                        let _ = std::io::stderr().lock().write_all(text.as_bytes());
                        failed.lock().unwrap().push(seed);
                    }
                })
                .expect("thread");
        }
    });
    let mut failed = failed.into_inner().unwrap();
    failed.sort();
    let secs = began.elapsed().as_secs_f64();
    eprintln!(
        "{seeds} seeds in {secs:.1} s on {threads} threads ({} not settled at the end, {} \
         resource messages handled out of order, {} ipfail give-ups, {} stalls)",
        unsettled.load(Ordering::Relaxed),
        out_of_order.load(Ordering::Relaxed),
        ipfail_giveups.load(Ordering::Relaxed),
        stalls.load(Ordering::Relaxed)
    );
    if !failed.is_empty() {
        eprintln!("failed seeds: {failed:?}");
    }
    println!(
        "{} passed, {} failed",
        seeds - failed.len() as u64,
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn replay(seed: u64, statuses: bool) -> ExitCode {
    let sc = Scenario::generate(seed);
    let out = run_with(
        &sc,
        Options {
            timeline: true,
            statuses,
            sabotage: None,
        },
    );
    let s = out.stats;
    let ok = out.passed();
    // Written whole, and a closed pipe (`| head`) is no error.
    let mut text = format!("{sc}\n");
    for line in &out.timeline {
        text += line;
        text.push('\n');
    }
    text += &format!(
        "{} steps, {} packets, {} deaths, {} group moves, {} attacks, {} ipfail give-ups, {} \
         stalls{}\n",
        s.steps,
        s.packets,
        s.deaths,
        s.moves,
        s.injected,
        s.ipfail_giveups,
        s.stalls,
        if s.unsettled {
            "; not settled at the end (no final check)"
        } else {
            ""
        }
    );
    for v in &out.violations {
        text += v;
        text.push('\n');
    }
    text += &format!("{} passed, {} failed\n", ok as u8, !ok as u8);
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
