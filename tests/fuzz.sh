#!/usr/bin/env bash
# Runs every cargo-fuzz target of hb-core for FUZZ_SECS seconds (default 60), FUZZ_PAR at a time
# (default 2), seeded from hb-core/fuzz/seeds. Fails if any target crashes, hangs or leaks.
#
# The stable toolchain runs libFuzzer with AddressSanitizer once RUSTC_BOOTSTRAP=1 lets it take
# cargo-fuzz's -Z flags; it is set for these commands only.
set -euo pipefail
FUZZ_SECS=${FUZZ_SECS:-60}
FUZZ_PAR=${FUZZ_PAR:-2}
CARGO_FUZZ_VERSION=0.13.2
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export RUSTC_BOOTSTRAP=1

if [ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

cd "$(dirname "$0")/../hb-core"
mapfile -t targets < <(cargo fuzz list)
[ ${#targets[@]} -gt 0 ] || { echo "no fuzz targets"; exit 1; }
cargo fuzz build

logs=fuzz/logs
mkdir -p "$logs"
fuzz_one() {
  local t=$1 rc=0
  local corpus=fuzz/corpus/$t arts=fuzz/artifacts/$t
  mkdir -p "$corpus"; rm -rf "$arts"; mkdir -p "$arts"
  # The scratch corpus comes first: libFuzzer writes new inputs there, never into the seeds.
  # -timeout bounds one input (a hang ignores -max_total_time); the outer timeout is a backstop.
  timeout -k 10 $((FUZZ_SECS + 120)) \
    cargo fuzz run "$t" "$corpus" "fuzz/seeds/$t" -- \
      -max_total_time="$FUZZ_SECS" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
      > "$logs/$t.log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ] && [ -n "$(ls -A "$arts")" ]; then rc=99; fi
  echo "$rc" > "$logs/$t.rc"
}

for t in "${targets[@]}"; do
  fuzz_one "$t" &
  while [ "$(jobs -rp | wc -l)" -ge "$FUZZ_PAR" ]; do wait -n || true; done
done
wait

pass=0; fail=0
for t in "${targets[@]}"; do
  rc=$(cat "$logs/$t.rc")
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$t.log" | grep -o '[0-9]*$' || echo '?')
  if [ "$rc" -eq 0 ]; then
    pass=$((pass + 1)); echo "fuzz $t: ok, $runs inputs in ${FUZZ_SECS}s"
  else
    fail=$((fail + 1)); echo "fuzz $t: FAILED (exit $rc)"
    ls -l "fuzz/artifacts/$t" || true
    grep -v '^#[0-9]' "$logs/$t.log" | tail -n 40
  fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
