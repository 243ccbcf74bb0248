#!/bin/bash
# Failover benchmark (not a test): medians of N power-off failovers, measured as the
# published heartbeat 3.0.6 and keepalived figures were (notes/netns-testing.md): a client
# probing the service IP over UDP every 10 ms, the active node's processes killed and its
# links pulled at a random phase of its heartbeat, the time to the first answer from the
# survivor. Each run is a fresh two-node cluster from `hbctl demo` (root, network namespaces).
#
#   bash tests/bench-failover.sh [RUNS]      (default 20; about 12 s a run)
set -euo pipefail
runs=${1:-20}
cd "$(dirname "$0")/.."
cargo build -q --release --locked -p hb-linux --bin hbctl
for timing in 100/300/500 10/20/30; do
    ./target/release/hbctl demo --quiet --runs "$runs" --timing "$timing" | tail -1
done
