#!/usr/bin/env bash
# CI's part of issue 13 (root): the appliance binaries, checked (x86_64 static musl; armv7
# under qemu-user with hb-core's tests), and a one-run BENCHMARKS.md that proves the generator
# works end to end with hb, heartbeat 3.0.6 and keepalived (written to
# target/bench/BENCHMARKS.md, not over the committed one). About 3 minutes after the builds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/appliance.sh
bash tests/benchmarks.sh --quick
grep -q "^## Failover and hand-over" target/bench/BENCHMARKS.md
grep -q "^## Idle cost" target/bench/BENCHMARKS.md
grep -q "^## Core throughput" target/bench/BENCHMARKS.md
echo "bench-ci: target/bench/BENCHMARKS.md generated"
