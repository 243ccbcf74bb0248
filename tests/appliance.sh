#!/usr/bin/env bash
# The appliance build: `heartbeat` and `hbctl` as ONE stripped binary (multi-call by
# argv0: called as `heartbeat` it is the daemon), for x86_64 (musl, static) and 32-bit ARM
# (armv7, Debian's cross toolchain). The ARM one links glibc dynamically: rustup has no armv7
# musl std here, and a static glibc link fails on the `libc` crate's versioned termios symbols
# (`cfsetspeed@GLIBC_2.4`); it needs only the C library of any armhf system. Each is checked:
# at most 2 MiB, `-V`, `check-config` on tests/data/appliance (and the x86_64 one static); the
# ARM one runs under qemu-user, with hb-core's tests. Prints `N passed, N failed` last.
#
#   bash tests/appliance.sh            → target/appliance-bin/hb-x86_64-musl, hb-armv7
#
# Needs the rustup targets x86_64-unknown-linux-musl and armv7-unknown-linux-gnueabihf and
# the Debian packages gcc-arm-linux-gnueabihf, libc6-dev-armhf-cross and qemu-user-static.
# (rustup target add armv7-unknown-linux-musleabihf, where it can be had, would make the ARM
# binary static too: swap the target below and drop QEMU_LD_PREFIX.)
set -euo pipefail
cd "$(dirname "$0")/.."
limit=$((2 * 1024 * 1024))
out=target/appliance-bin
mkdir -p "$out"
pass=0
fail=0
ok() { echo "ok: $*"; pass=$((pass + 1)); }
bad() { echo "FAILED: $*"; fail=$((fail + 1)); }

# Non-PIE: a static-pie binary carries ~70 KB of relocations, the difference between fitting
# 2 MiB or not; an appliance's single binary gives up ASLR of its own image for that.
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C relocation-model=static"
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUNNER=qemu-arm-static
# Where qemu-user finds the ARM dynamic loader and C library (libc6-armhf-cross).
export QEMU_LD_PREFIX=/usr/arm-linux-gnueabihf

declare -A bins=(
  [x86_64-musl]=x86_64-unknown-linux-musl
  [armv7]=armv7-unknown-linux-gnueabihf
)
sample=$(mktemp -d)
trap 'rm -rf "$sample"' EXIT
cp tests/data/appliance/* "$sample/"
chmod 600 "$sample/authkeys"

for name in x86_64-musl armv7; do
  target=${bins[$name]}
  cargo build --locked --profile appliance --target "$target" -p hb-linux --bin hbctl
  bin=$out/hb-$name
  # A new file, not overwritten in place: a daemon may be running the old one.
  cp "target/$target/appliance/hbctl" "$bin.new"
  mv -f "$bin.new" "$bin"
  size=$(stat -c %s "$bin")
  echo "$name: $bin $size bytes ($(file -b "$bin" | cut -d, -f1-6))"
  if [ "$size" -le "$limit" ]; then ok "$name size $size <= $limit"; else bad "$name size $size > $limit"; fi
  if [ "$name" = x86_64-musl ]; then
    if file -b "$bin" | grep -q "statically linked"; then ok "$name static"; else bad "$name not static"; fi
  fi
  run=()
  [ "$name" = armv7 ] && run=(qemu-arm-static)
  # The same file as `heartbeat` (argv0).
  ln -sf "hb-$name" "$out/heartbeat-$name"
  ln -sfn "$(pwd)/$bin" "$sample/heartbeat"
  if v=$("${run[@]}" "$sample/heartbeat" -V 2>&1) && echo "$v" | grep -q .; then
    ok "$name heartbeat -V: $v"
  else
    bad "$name heartbeat -V: $v"
  fi
  if v=$("${run[@]}" "$bin" --version 2>&1); then ok "$name hbctl --version: $v"; else bad "$name hbctl --version: $v"; fi
  if c=$("${run[@]}" "$bin" check-config -c "$sample" --node node1 --syntax-only 2>&1); then
    ok "$name check-config"
  else
    bad "$name check-config: $c"
  fi
  # A broken configuration is refused, naming the line.
  cp -r "$sample" "$sample.bad"
  echo "keepalive banana" >> "$sample.bad/ha.cf"
  if c=$("${run[@]}" "$bin" check-config -c "$sample.bad" --node node1 --syntax-only 2>&1); then
    bad "$name check-config accepted a bad ha.cf"
  elif echo "$c" | grep -q "ha.cf:11"; then
    ok "$name check-config refuses a bad ha.cf (line 11)"
  else
    bad "$name check-config on a bad ha.cf: $c"
  fi
  rm -rf "$sample.bad"
done

# hb-core's unit tests on 32-bit ARM, under qemu-user: the codecs, auth and config parsers
# (the proptest suites are left to the native run: they take minutes under emulation).
if cargo test --locked -p hb-core --target armv7-unknown-linux-gnueabihf --lib \
  --test wire_vectors --test engine_wire --test heartbeat; then
  ok "hb-core tests on armv7 (qemu-arm-static)"
else
  bad "hb-core tests on armv7"
fi
ls -l "$out"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
