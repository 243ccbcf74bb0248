#!/usr/bin/env bash
# Every test of the project, in the order a failure is cheapest to find: formatting, lints, the
# workspace tests, the no_std builds of the core, the watchdogs and the relay firmware for
# Cortex-M3, then fuzzing every parser.
# Needs the thumbv7m-none-eabi target (`.ci/run` installs it) and ../shared beside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
log=$(mktemp)
trap 'rm -f "$log"' EXIT

began=$(date +%s)
# Each step says when it began (seconds into the run): CI's budget is 30 minutes.
step() { printf '\n== %s (at %d s)\n' "$*" "$(($(date +%s) - began))"; }

step "format"
cargo fmt --all -- --check
rustfmt --edition 2021 --check hb-core/fuzz/src/lib.rs hb-core/fuzz/fuzz_targets/*.rs

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test --workspace (two lanes: tests/test-lanes.sh)"
bash tests/test-lanes.sh 2>&1 | tee "$log"
passed=$(grep -o 'test result: ok\. [0-9]* passed' "$log" | awk '{s += $4} END {print s + 0}')

step "the deterministic simulator: 10 000 seeded cluster scenarios (hbsim)"
cargo run --release --locked -q -p hb-tests --bin hbsim -- --seeds "${SIM_SEEDS:-10000}" 2>&1 | tee "$log"
passed=$((passed + $(tail -n 1 "$log" | grep -o '^[0-9]* passed, 0 failed' | awk '{print $1}')))

step "hbsim: the recorded per-seed outcome fingerprints (behaviour unchanged unless meant)"
cargo run --release --locked -q -p hb-tests --bin hbsim -- --check tests/data/hbsim-fingerprints.txt 2>&1 | grep -v -e '^seed ' -e ' passed, [0-9]* failed$' | tee "$log"
grep -q ' 0 different$' "$log"

step "the relay firmware's test-only hang command (feature test-hang)"
cargo test -p hb-firmware --features test-hang --locked 2>&1 | tee "$log"
passed=$((passed + $(grep -o 'test result: ok\. [0-9]* passed' "$log" | awk '{s += $4} END {print s + 0}')))

step "hb-core, watchdog and hb-firmware build for thumbv7m-none-eabi (no_std, no alloc)"
cargo build -p hb-core -p watchdog -p hb-firmware --target thumbv7m-none-eabi --locked
cargo build -p hb-core -p watchdog -p hb-firmware --target thumbv7m-none-eabi \
  --features hb-core/defmt,watchdog/defmt,hb-firmware/defmt --locked

step "relay boards: release images, their sizes, the relay under QEMU (tests/boards.sh)"
bash tests/boards.sh 2>&1 | tee "$log"
passed=$((passed + $(grep -o '^[0-9]* passed, 0 failed' "$log" | awk '{s += $1} END {print s + 0}')))

step "the Debian package: build, lintian, man pages, samples, install story (tests/deb.sh)"
bash tests/deb.sh 2>&1 | tee "$log"
grep -q '^deb: all passed' "$log"

step "the appliance build (static x86_64 and armv7, armv7 under qemu-user) and a quick BENCHMARKS.md failover part (tests/bench-ci.sh)"
bash tests/bench-ci.sh 2>&1 | tee "$log"
passed=$((passed + $(grep -o '^[0-9]* passed, 0 failed' "$log" | awk '{s += $1} END {print s + 0}')))
grep -q '^bench-ci: ' "$log"

step "soak and flood, short versions (tests/soak.sh --ci: 60 s at 10/30 ms under stress-ng; tests/flood.sh --ci: 10 s of bad packets)"
bash tests/soak.sh --ci 2>&1 | tee "$log"
bash tests/flood.sh --ci 2>&1 | tee "$log"

step "fuzz (10 s a target; tests/fuzz.sh --long is the long run)"
FUZZ_SECS=${FUZZ_SECS:-10} bash tests/fuzz.sh 2>&1 | tee "$log"
fuzzed=$(grep -o '^fuzz: [0-9]* passed' "$log" | awk '{print $2}')

printf '\nall: %d passed, 0 failed (%d s)\n' "$((passed + fuzzed))" "$(($(date +%s) - began))"
