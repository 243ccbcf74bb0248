#!/usr/bin/env bash
# The appliance build: `heartbeat` and `hbctl` as ONE stripped static binary (multi-call by
# argv0: called as `heartbeat` it is the daemon), for x86_64 (musl) and 32-bit ARM (armv7,
# Debian's cross toolchain, glibc linked statically: rustup's armv7 musl std could not be had
# here, its download answers 404). Each is checked: static, its size against the 2 MiB goal
# (reported; the check fails only past a 3 MiB ceiling, a dependency blow-up), `-V`,
# `check-config` on tests/data/appliance; the ARM one runs under qemu-user, with hb-core's
# tests. Prints `N passed, N failed` last.
#
#   bash tests/appliance.sh            → target/appliance-bin/hb-x86_64-musl, hb-armv7
#
# Needs the rustup targets x86_64-unknown-linux-musl and armv7-unknown-linux-gnueabihf and
# the Debian packages gcc-arm-linux-gnueabihf, libc6-dev-armhf-cross, qemu-user-static, file.
# The static glibc build: glibc's name service (getpwnam, getgrnam, getgrouplist for a
# respawned child's user, getaddrinfo for a `ucast`/`ping` host name) still loads the NSS
# modules of the glibc it was linked with at run time; with `files` and numeric addresses it
# works anywhere, for anything more use the same Debian release's libc on the appliance.
set -euo pipefail
cd "$(dirname "$0")/.."
goal=$((2 * 1024 * 1024))
ceiling=$((3 * 1024 * 1024))
out=target/appliance-bin
mkdir -p "$out"
pass=0
fail=0
ok() { echo "ok: $*"; pass=$((pass + 1)); }
bad() { echo "FAILED: $*"; fail=$((fail + 1)); }

# Non-PIE: a static-pie binary carries ~70 KB of relocations; an appliance's single binary
# gives up ASLR of its own image for that. No unwind tables: the profile aborts on panic, so
# nothing unwinds (a panic's RUST_BACKTRACE is lost with them).
small="-C force-unwind-tables=no"
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C relocation-model=static $small"
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUNNER=qemu-arm-static
# glibc, statically; the linker script maps the libc crate's versioned termios names.
crt="-C target-feature=+crt-static"
ld="-C link-arg=-Wl,-u,cfgetispeed,-u,cfgetospeed,-u,cfsetispeed,-u,cfsetospeed,-u,cfsetspeed"
ld="$ld -C link-arg=$(pwd)/tests/appliance-armv7-static.ld"
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUSTFLAGS="$crt $small $ld"

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
  if [ "$size" -le "$goal" ]; then
    echo "$name: $size bytes, within the 2 MiB goal"
  else
    echo "$name: $size bytes, over the 2 MiB goal by $((size - goal)) (see README, The appliance build)"
  fi
  if [ "$size" -le "$ceiling" ]; then ok "$name size $size <= $ceiling"; else bad "$name size $size > $ceiling"; fi
  if file -b "$bin" | grep -q "statically linked"; then ok "$name static"; else bad "$name not static"; fi
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
# (the proptest suites are left to the native run: they take minutes under emulation). Tests
# unwind on failure: the unwind tables stay.
if CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUSTFLAGS="$crt $ld" cargo test --locked -p hb-core --target armv7-unknown-linux-gnueabihf --lib \
  --test wire_vectors --test engine_wire --test heartbeat; then
  ok "hb-core tests on armv7 (qemu-arm-static)"
else
  bad "hb-core tests on armv7"
fi
ls -l "$out"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
