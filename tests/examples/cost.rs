//! What the simulator's scenarios cost, by cluster size: run 400 seeds (or only those with
//! `N` nodes) on one thread and print the time, packets and steps per run. For tuning the
//! scenario generator against hbsim's time budget:
//!
//! ```text
//! cargo run --release -p hb-tests --example cost [N]
//! ```

use std::collections::BTreeMap;
use std::time::Instant;

use hb_tests::{run, Scenario};

fn main() {
    let only: Option<usize> = std::env::args().nth(1).and_then(|s| s.parse().ok());
    let mut by: BTreeMap<usize, (u32, f64, u64, u64, u64)> = BTreeMap::new();
    for seed in 0..400u64 {
        let sc = Scenario::generate(seed);
        if only.is_some_and(|n| n != sc.nodes) {
            continue;
        }
        let t = Instant::now();
        let out = run(&sc, false);
        let e = by.entry(sc.nodes).or_default();
        e.0 += 1;
        e.1 += t.elapsed().as_secs_f64();
        e.2 += out.stats.packets;
        e.3 += out.stats.steps;
        e.4 += out.stats.out_of_order;
    }
    let mut total = 0.0;
    for (n, (runs, secs, packets, steps, disorder)) in by {
        total += secs;
        println!(
            "{n} nodes: {runs} runs, {:.1} ms, {:.0} packets, {:.0} steps per run; {disorder} \
             resource messages out of order",
            secs * 1000.0 / f64::from(runs),
            packets as f64 / f64::from(runs),
            steps as f64 / f64::from(runs),
        );
    }
    println!("total {total:.1} s");
}
