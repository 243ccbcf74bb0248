#!/usr/bin/env bash
# Soak benchmark (issue 12): two-node clusters in network namespaces (documentation addresses)
# at keepalive 10 ms, warntime 20 ms, deadtime 30 ms while stress-ng loads both cores (2 CPU
# workers, 1 memory worker churning 128 MiB, 1 sync(2) worker; tests/examples/bench/soak.rs),
# hb and Debian's heartbeat 3.0.6 side by side under the same load. Reports per node the false
# deaths (a live peer declared dead, a self-restart, a daemon gone), the late heartbeats and the
# worst gap; fails if hb had a false death (3.0.6 is only measured). Root; needs the packages
# stress-ng, heartbeat, resource-agents, iproute2.
#
#   bash tests/soak.sh [SECS]     (default 600: the benchmark, hb and 3.0.6, ~11 minutes)
#   bash tests/soak.sh --ci       (CI's version: hb alone for 60 s, ~75 s after the builds)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --locked --release -p hb-linux --bin hbctl
cargo build -q --locked --release -p hb-tests --example bench
bench=(./target/release/examples/bench --hb target/release/hbctl)
if [ "${1:-}" = --ci ]; then
  exec "${bench[@]}" --soak 60 --daemons hb --assert
fi
exec "${bench[@]}" --soak "${1:-600}" --daemons hb,3.0.6 --assert
