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
#
# In parts, at different times (each part saves its raw figures; the report shows each
# part's own date, load and command):
#   bash tests/benchmarks.sh --only failover --save target/bench/sections   (~2 hours)
#   bash tests/benchmarks.sh --only idle --save target/bench/sections       (~10 minutes)
#   bash tests/benchmarks.sh --only static --save target/bench/sections     (criterion, boards)
#   bash tests/benchmarks.sh --from target/bench/sections                   → BENCHMARKS.md
# (--only idle and --only failover skip criterion and the board images; --from builds only
# the generator. A part run without --save writes its report to target/bench/BENCHMARKS.md,
# never over the whole one.)
# tests/data/bench-sections/failover.json is a 20-run failover section measured on
# 2026-12-04 (revision 9378006, a loaded 2-core VM): copy it into the sections directory to
# compose a report with fresh idle and static sections without the two-hour part.
set -euo pipefail
cd "$(dirname "$0")/.."
args=("$@")
quick=0
if [ "${1:-}" = --quick ]; then
  quick=1
  args=(--runs 1 --keepalives 10 --window 2 --windows 1 --timings 10/20/30 --faults poweroff
    --out target/bench/BENCHMARKS.md "${@:2}")
fi
# Which sections this run measures (--only), or none (--from: a report from saved ones).
only=
from=0
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    --only) only=${args[i + 1]:-} ;;
    --from) from=1 ;;
  esac
done
mkdir -p target/bench
cargo build --locked --release -p hb-tests --example bench
if [ "$from" = 0 ]; then
  cargo build --locked --release -p hb-linux --bin hbctl
fi
# The appliance binary (static musl) is measured at rest beside the ordinary release build.
appliance=()
if [ "$from" = 0 ] && { [ -z "$only" ] || [ "$only" = idle ]; }; then
  [ -x target/appliance-bin/hb-x86_64-musl ] || bash tests/appliance.sh
  appliance=(--hb-appliance target/appliance-bin/hb-x86_64-musl)
fi
if [ "$from" = 0 ] && { [ -z "$only" ] || [ "$only" = static ]; }; then
  if [ "$quick" = 1 ]; then
    crit=(--warm-up-time 1 --measurement-time 2 --noplot)
  else
    crit=(--noplot)
  fi
  cargo bench --locked -p hb-core --bench feed -- "${crit[@]}"
  cargo bench --locked -p hb-core --bench decode_verify -- "${crit[@]}"
  bash tests/boards.sh --build-only > target/bench/boards.txt
fi
hb=()
[ "$from" = 0 ] && hb=(--hb target/release/hbctl)
# The command as BENCHMARKS.md shows it: the options, less the note (shown on its own).
shown=()
skip=0
for a in "$@"; do
  if [ "$skip" = 1 ]; then skip=0; continue; fi
  if [ "$a" = --note ]; then skip=1; continue; fi
  shown+=("$a")
done
HB_BENCH_COMMAND="bash tests/benchmarks.sh${shown[*]:+ ${shown[*]}}" ./target/release/examples/bench \
  "${hb[@]}" "${appliance[@]}" "${args[@]}"
