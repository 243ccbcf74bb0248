#!/usr/bin/env bash
# Flood benchmark (issue 12): a host on the LAN sends node1's heartbeat port 50 000 packets/s
# for 30 s, a third each garbage, wrong-key (real heartbeats with a spoiled digest) and replayed
# (real heartbeats captured on the LAN), at keepalive 100 ms, warntime 300 ms, deadtime 500 ms,
# two media (the flood comes in on the LAN one); hb, then Debian's heartbeat 3.0.6
# (tests/examples/bench/flood.rs). The flooder is part of the bench example (Rust, no external
# tool); it reports the rate it reached. Reports late heartbeats, deaths, the flooded daemon's
# CPU and the log lines it wrote during the flood; fails if hb heard a heartbeat later than
# warntime, declared a death, or died (3.0.6 is only measured). Root; needs heartbeat,
# resource-agents, iproute2.
#
#   bash tests/flood.sh [SECS [PPS]]   (default 30 s at 50 000/s: the benchmark, hb and 3.0.6)
#   bash tests/flood.sh --ci           (CI's version: hb alone, 10 s; ~20 s after the builds)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --locked --release -p hb-linux --bin hbctl
cargo build -q --locked --release -p hb-tests --example bench
bench=(./target/release/examples/bench --hb target/release/hbctl)
if [ "${1:-}" = --ci ]; then
  exec "${bench[@]}" --flood 10 --daemons hb --assert
fi
exec "${bench[@]}" --flood "${1:-30}" --rate "${2:-50000}" --daemons hb,3.0.6 --assert
