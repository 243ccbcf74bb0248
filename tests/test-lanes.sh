#!/usr/bin/env bash
# `cargo test --workspace`, with the test binaries in two lanes instead of one after the other
# (CI's command, through tests/run-all.sh).
# Most of the suite's time is namespace tests waiting out dead times and Pacemaker settling,
# not CPU: one after the other they took 12 of CI's 30 minutes.
# The binaries that run the relay board under QEMU (relay_board, export_fence, export_cluster)
# never run side by side: each takes a lock first. In an earlier layout without it, on a
# machine loaded by other work, relay_board's QEMU relay stopped answering while
# export_cluster's Pacemaker cluster and its own QEMU board ran in the other lane.
# Each binary still runs its own tests on cargo's default threads, in its package directory
# as `cargo test` does; the labs are named after the test process (hb-linux/src/lab.rs), so
# binaries running side by side never share a namespace.
#
# Every binary's output is printed whole once all have ended, main lane first, then the doc
# tests run. Exits non-zero if any binary failed, naming it.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo test --workspace --locked --no-run --message-format=json-render-diagnostics \
  > "$work/build.json"
# manifest directory, executable, name: one line per test binary.
jq -r 'select(.reason == "compiler-artifact" and .executable != null and .profile.test)
       | [(.manifest_path | sub("/Cargo.toml$"; "")), .executable, .target.name] | @tsv' \
  "$work/build.json" > "$work/all.tsv"
[ -s "$work/all.tsv" ] || { echo "test-lanes: no test binaries built" >&2; exit 1; }

# Two lanes. The side lane runs the client API and operations binaries, then the Pacemaker
# exports (nearly all of their time Corosync and Pacemaker settling, little CPU), and the
# short, untimed binaries; the main lane runs the rest one binary after the other, as
# `cargo test` did. HB_TEST_LANES=1 runs everything in the main lane.
side=(client_api operations export_fence export_cluster fingerprints sim demo daemon_service)
qemu=" relay_board export_fence export_cluster "
if [ "${HB_TEST_LANES:-2}" = 1 ]; then side=(); fi
: > "$work/side.tsv"
for name in "${side[@]}"; do
  awk -F '\t' -v n="$name" '$3 == n' "$work/all.tsv" >> "$work/side.tsv"
done
awk -F '\t' 'NR == FNR { seen[$2] = 1; next } !($2 in seen)' "$work/side.tsv" "$work/all.tsv" \
  > "$work/main.tsv"

# cargo gives the processes it starts the [env] of .cargo/config.toml (RUST_MIN_STACK: the
# core's fixed-capacity nodes outgrow std's 2 MiB test threads in a debug build).
while IFS= read -r kv; do export "${kv?}"; done < <(
  awk '/^\[/ { env = ($0 == "[env]"); next }
       env && /^[A-Za-z_][A-Za-z0-9_]* *= *"/ {
         k = $0; sub(/ *=.*/, "", k); v = $0; sub(/^[^"]*"/, "", v); sub(/"[^"]*$/, "", v)
         print k "=" v }' .cargo/config.toml)

run_one() {
  local i=$1 dir=$2 exe=$3 name=$4 rc=0 began
  began=$(date +%s)
  if [[ $qemu == *" $name "* ]]; then
    (cd "$dir" && flock "$work/qemu.lock" "$exe") > "$work/$i.log" 2>&1 || rc=$?
  else
    (cd "$dir" && "$exe") > "$work/$i.log" 2>&1 || rc=$?
  fi
  printf '%s\t%s\t%s\t%s\n' "$rc" "$(($(date +%s) - began))" "$name" "$exe" > "$work/$i.rc"
}
lane() {
  local i=$1 list=$2 dir exe name
  while IFS=$'\t' read -r dir exe name; do
    run_one "$i" "$dir" "$exe" "$name"
    i=$((i + 1))
  done < "$list"
}
lane 1000 "$work/side.tsv" &
lane 1 "$work/main.tsv"
wait

failed=()
for rcfile in $(ls "$work"/*.rc | sort -V); do
  n=$(basename "$rcfile" .rc)
  IFS=$'\t' read -r rc secs name exe < "$rcfile"
  printf '\n     Running %s (%s, %d s)\n' "$name" "$exe" "$secs"
  cat "$work/$n.log"
  [ "$rc" -eq 0 ] || failed+=("$name (exit $rc)")
done

printf '\n     Doc-tests\n'
cargo test --workspace --locked --doc || failed+=("doc tests")

if [ ${#failed[@]} -gt 0 ]; then
  echo "test-lanes: FAILED: $(IFS=,; echo "${failed[*]}")"
  exit 1
fi
