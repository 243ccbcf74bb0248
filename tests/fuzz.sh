#!/usr/bin/env bash
# Runs every cargo-fuzz target of hb-core for FUZZ_SECS seconds (default 60), FUZZ_PAR at a time
# (default 2), seeded from hb-core/fuzz/seeds. Fails if any target crashes, hangs or leaks.
#
# `tests/fuzz.sh [--long] [TARGET...]`: the named targets only (default: all).
#
# Long mode, `tests/fuzz.sh --long` (or FUZZ_LONG=1): each target runs until it has executed
# FUZZ_RUNS inputs (default 10 000 000) instead of for a time, capped at FUZZ_LONG_SECS per target
# (default 6 h); it fails if a target stops short of FUZZ_RUNS. Run it niced on a shared machine:
#   nice -n 10 tests/fuzz.sh --long
# Long mode builds without AddressSanitizer (FUZZ_SANITIZER=none; the short mode keeps address):
# hb-core denies unsafe code, so ASan has nothing of its own to watch there, and without it
# libFuzzer runs several times more inputs in the same time (config_hacf: ~450 exec/s with ASan,
# ~2 500 without, on the same loaded machine). Panics, overflows of fixed buffers and hangs are
# caught either way.
# The corpus a run grows stays in hb-core/fuzz/corpus, so a second run starts where one ended.
#
# The stable toolchain runs libFuzzer with AddressSanitizer once RUSTC_BOOTSTRAP=1 lets it take
# cargo-fuzz's -Z flags; it is set for these commands only.
set -euo pipefail
FUZZ_SECS=${FUZZ_SECS:-60}
FUZZ_PAR=${FUZZ_PAR:-2}
FUZZ_LONG=${FUZZ_LONG:-0}
if [ "${1:-}" = --long ]; then FUZZ_LONG=1; shift; fi
case "${1:-}" in
  -*) echo "usage: $0 [--long] [TARGET...]" >&2; exit 2 ;;
esac
FUZZ_RUNS=${FUZZ_RUNS:-10000000}
FUZZ_LONG_SECS=${FUZZ_LONG_SECS:-21600}
FUZZ_SANITIZER=${FUZZ_SANITIZER:-$([ "$FUZZ_LONG" = 1 ] && echo none || echo address)}
if [ "$FUZZ_LONG" = 1 ]; then
  # -runs ends a target after that many inputs; -max_total_time is only the cap.
  limit=(-runs="$FUZZ_RUNS" -max_total_time="$FUZZ_LONG_SECS")
  FUZZ_SECS=$FUZZ_LONG_SECS
else
  limit=(-max_total_time="$FUZZ_SECS")
fi
CARGO_FUZZ_VERSION=0.13.2
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export RUSTC_BOOTSTRAP=1

if [ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

cd "$(dirname "$0")/../hb-core"
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi
[ ${#targets[@]} -gt 0 ] || { echo "no fuzz targets"; exit 1; }
cargo fuzz build -s "$FUZZ_SANITIZER"

logs=fuzz/logs
mkdir -p "$logs"
fuzz_one() {
  local t=$1 rc=0 start
  start=$(date +%s)
  local corpus=fuzz/corpus/$t arts=fuzz/artifacts/$t
  mkdir -p "$corpus"; rm -rf "$arts"; mkdir -p "$arts"
  # The scratch corpus comes first: libFuzzer writes new inputs there, never into the seeds.
  # -timeout bounds one input (a hang ignores -max_total_time); the outer timeout is a backstop.
  timeout -k 10 $((FUZZ_SECS + 120)) \
    cargo fuzz run -s "$FUZZ_SANITIZER" "$t" "$corpus" "fuzz/seeds/$t" -- \
      "${limit[@]}" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
      > "$logs/$t.log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ] && [ -n "$(ls -A "$arts")" ]; then rc=99; fi
  echo "$rc" > "$logs/$t.rc"
  echo $(($(date +%s) - start)) > "$logs/$t.secs"
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
  secs=$(cat "$logs/$t.secs")
  if [ "$rc" -eq 0 ] && [ "$FUZZ_LONG" = 1 ] && ! [ "$runs" -ge "$FUZZ_RUNS" ] 2>/dev/null; then
    fail=$((fail + 1)); echo "fuzz $t: FAILED, only $runs of $FUZZ_RUNS inputs in ${secs}s"
  elif [ "$rc" -eq 0 ]; then
    pass=$((pass + 1)); echo "fuzz $t: ok, $runs inputs in ${secs}s"
  else
    fail=$((fail + 1)); echo "fuzz $t: FAILED (exit $rc)"
    ls -l "fuzz/artifacts/$t" || true
    grep -v '^#[0-9]' "$logs/$t.log" | tail -n 40
  fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
