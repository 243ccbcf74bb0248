#!/bin/bash
# Failover benchmark (not a test): medians of N power-off failovers, measured as the
# published heartbeat 3.0.6 and keepalived figures were (notes/netns-testing.md): a client
# probing the service IP over UDP every 10 ms, the active node's processes killed and its
# links pulled at a random phase of its heartbeat, the time to the first answer from the
# survivor. Each run is a fresh two-node cluster from `hbctl demo` (root, network namespaces).
#
# Then the cost of the address's path (keepalive 100 ms, deadtime 500 ms), failover and an
# hb_standby hand-over: IPaddr2 native, with 3.0.6's stock resource.d/IPaddr2 wrapper in place
# (recognised, so native: within 5 % of native), and with that wrapper edited (run as a script
# with resource-agents' OCF IPaddr2). The wrapper cases need Debian's heartbeat and
# resource-agents packages.
#
#   bash tests/bench-failover.sh [RUNS]      (default 20; about 12 s a run, 15 s with hand-over)
set -euo pipefail
runs=${1:-20}
cd "$(dirname "$0")/.."
cargo build -q --release --locked -p hb-linux --bin hbctl
for timing in 100/300/500 10/20/30; do
    ./target/release/hbctl demo --quiet --runs "$runs" --timing "$timing" | tail -1
done
declare -A fo ho
for address in ipaddr2 stock-wrapper edited-wrapper; do
    out=$(./target/release/hbctl demo --quiet --runs "$runs" --handover --address "$address")
    fo[$address]=$(sed -n 's/^failover at .*median \([0-9]*\) ms.*/\1/p' <<<"$out")
    ho[$address]=$(sed -n 's/^hand-over .*median \([0-9]*\) ms.*/\1/p' <<<"$out")
    echo "$address: failover median ${fo[$address]} ms, hand-over median ${ho[$address]} ms"
done
for what in failover hand-over; do
    if [ "$what" = failover ]; then n=${fo[ipaddr2]} s=${fo[stock-wrapper]}; else n=${ho[ipaddr2]} s=${ho[stock-wrapper]}; fi
    awk -v w="$what" -v n="$n" -v s="$s" 'BEGIN {
        d = (s - n) / (n > 0 ? n : 1) * 100
        printf "stock wrapper vs native %s: %+.1f %% (%s)\n", w, d,
            (s - n <= 0.05 * n || s - n <= 10) ? "within 5 % or 10 ms" : "OUTSIDE 5 %"
    }'
done
