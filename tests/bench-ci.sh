#!/usr/bin/env bash
# CI's part of issue 13 (root): the appliance binaries, checked (static x86_64 musl; static
# armv7 under qemu-user with hb-core's tests), and a one-run BENCHMARKS.md that proves the
# generator works end to end with hb, heartbeat 3.0.6 and keepalived (written to
# target/bench/, not over the committed one), saved as sections and composed from them again
# (the way the full report is made: tests/benchmarks.sh's header).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/appliance.sh
sections=target/bench/sections
rm -rf "$sections"
bash tests/benchmarks.sh --quick --save "$sections"
for s in idle failover static; do
  [ -s "$sections/$s.json" ] || { echo "bench-ci: no $sections/$s.json"; exit 1; }
done
bash tests/benchmarks.sh --from "$sections" --out target/bench/BENCHMARKS-composed.md
for md in target/bench/BENCHMARKS.md target/bench/BENCHMARKS-composed.md; do
  for h in "## Failover and hand-over" "## Idle cost" "## Core throughput" \
    "## Serial line: bytes per keepalive" "## The relay board's flash and RAM" "## Goals"; do
    grep -q "^$h" "$md" || { echo "bench-ci: $md has no '$h'"; exit 1; }
  done
done
# Composed, each section says when and by what it was measured.
[ "$(grep -c '^\*This section: measured ' target/bench/BENCHMARKS-composed.md)" = 3 ]
echo "bench-ci: target/bench/BENCHMARKS.md and BENCHMARKS-composed.md generated"
