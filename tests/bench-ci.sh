#!/usr/bin/env bash
# CI's part of issue 13 (root): the appliance binaries, checked (static x86_64 musl; static
# armv7 under qemu-user with hb-core's tests), and a one-run BENCHMARKS.md that proves the
# generator works end to end with hb, heartbeat 3.0.6 and keepalived (written to
# target/bench/, not over the committed one; its failover part only), saved as a section and composed again
# (the way the full report is made: tests/benchmarks.sh's header).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/appliance.sh
sections=target/bench/sections
rm -rf "$sections"
# The measuring part, short: one power-off failover per daemon at 10/20/30 ms (hb, 3.0.6 and
# keepalived each started, failed over and measured), saved as a section; the idle and static
# sections take minutes and are left to the full command (tests/benchmarks.sh's header).
bash tests/benchmarks.sh --quick --only failover --save "$sections"
[ -s "$sections/failover.json" ] || { echo "bench-ci: no $sections/failover.json"; exit 1; }
bash tests/benchmarks.sh --from "$sections" --out target/bench/BENCHMARKS-composed.md
for md in target/bench/BENCHMARKS.md target/bench/BENCHMARKS-composed.md; do
  for h in "## Failover and hand-over" "## Goals"; do
    grep -q "^$h" "$md" || { echo "bench-ci: $md has no '$h'"; exit 1; }
  done
done
# Composed, the section says when and by what it was measured.
[ "$(grep -c '^\*This section: measured ' target/bench/BENCHMARKS-composed.md)" = 1 ]
echo "bench-ci: target/bench/BENCHMARKS.md and BENCHMARKS-composed.md generated"
