#!/usr/bin/env bash
# Regenerates BENCHMARKS.md (and docs/failover.svg): hb side by side with Debian's heartbeat
# 3.0.6 and keepalived in network namespaces on this machine (root; documentation addresses
# only), plus the core's throughput (criterion), serial framing and the relay's size.
#
#   bash tests/benchmarks.sh [--runs N] [--note TEXT] [bench options…]
#
# The full run (20 failover runs per daemon, timing and fault; 3 idle windows of 20 s) takes
# about two hours. A quick one that proves the generator works (what CI runs, ~3 minutes after
# the builds): bash tests/benchmarks.sh --quick (writes target/bench/BENCHMARKS.md instead).
# Options are those of tests/examples/bench/main.rs. Needs the packages heartbeat,
# resource-agents, keepalived, iproute2, and what tests/appliance.sh and tests/boards.sh need.
set -euo pipefail
cd "$(dirname "$0")/.."
args=("$@")
quick=0
if [ "${1:-}" = --quick ]; then
  quick=1
  args=(--runs 1 --keepalives 10 --window 2 --windows 1 --timings 10/20/30 --faults poweroff
    --out target/bench/BENCHMARKS.md "${@:2}")
fi
mkdir -p target/bench
cargo build --locked --release -p hb-linux --bin hbctl
cargo build --locked --release -p hb-tests --example bench
# The appliance binary (static musl) is measured at rest beside the ordinary release build.
[ -x target/appliance-bin/hb-x86_64-musl ] || bash tests/appliance.sh
if [ "$quick" = 1 ]; then
  crit=(--warm-up-time 1 --measurement-time 2 --noplot)
else
  crit=(--noplot)
fi
cargo bench --locked -p hb-core --bench feed -- "${crit[@]}"
cargo bench --locked -p hb-core --bench decode_verify -- "${crit[@]}"
bash tests/boards.sh --build-only > target/bench/boards.txt
# The command as BENCHMARKS.md shows it: the options, less the note (shown on its own).
shown=()
skip=0
for a in "$@"; do
  if [ "$skip" = 1 ]; then skip=0; continue; fi
  if [ "$a" = --note ]; then skip=1; continue; fi
  shown+=("$a")
done
HB_BENCH_COMMAND="bash tests/benchmarks.sh${shown[*]:+ ${shown[*]}}" ./target/release/examples/bench \
  --hb target/release/hbctl --hb-appliance target/appliance-bin/hb-x86_64-musl "${args[@]}"
