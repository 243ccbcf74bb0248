#!/usr/bin/env bash
# The relay board images: builds every board crate in release (each is its own workspace, see
# boards/README.md), prints the size of each image, and runs the relay under QEMU
# (tests/relay-qemu) against the MPS2 AN385 image and its test-hang variant.
# Needs the thumbv6m/thumbv7m/thumbv7em targets, qemu-system-arm and binutils-arm-none-eabi
# (.ci/run installs them). Prints `N passed, N failed` last.
# With --build-only: builds the images into $CARGO_TARGET_DIR/images and stops (the daemon
# tests in tests/tests/relay_board.rs use the QEMU image so).
# Either way the unkeyed images a user flashes (issue 17; no key inside, provisioned over
# serial with `hbctl relay provision`) are written to target/relay-images/ as ELF and BIN, and
# UF2 for the Pico, with the Cortex-M3 image's size checked against its budget.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# One target dir for all boards: the host build of hb-core (their build scripts read authkeys
# with it) is shared.
export CARGO_TARGET_DIR=${BOARDS_TARGET_DIR:-$root/target/boards}
# Every image is built with the test key; never flash these onto a real relay.
export HB_RELAY_AUTHKEYS=../authkeys.test
out=$CARGO_TARGET_DIR/images
mkdir -p "$out"

build() { # board-dir target binary image-name [cargo args…]
  local dir=$1 target=$2 bin=$3 name=$4
  shift 4
  (cd "boards/$dir" && cargo fmt -- --check && cargo build --release --locked "$@")
  cp "$CARGO_TARGET_DIR/$target/release/$bin" "$out/$name.elf"
}

start=$(date +%s)
build qemu-mps2-an385 thumbv7m-none-eabi hb-relay-mps2-an385 mps2-an385
build qemu-mps2-an385 thumbv7m-none-eabi hb-relay-mps2-an385 mps2-an385-test-hang --features test-hang
build stm32f411-blackpill thumbv7em-none-eabihf hb-relay-blackpill-f411 blackpill-f411
build rp2040-pico thumbv6m-none-eabi hb-relay-pico pico
# The unkeyed images: what a user flashes, and (with test-hang) what the provision test runs.
HB_RELAY_AUTHKEYS= build qemu-mps2-an385 thumbv7m-none-eabi hb-relay-mps2-an385 mps2-an385-unkeyed
HB_RELAY_AUTHKEYS= build qemu-mps2-an385 thumbv7m-none-eabi hb-relay-mps2-an385 mps2-an385-unkeyed-test-hang --features test-hang
HB_RELAY_AUTHKEYS= build stm32f411-blackpill thumbv7em-none-eabihf hb-relay-blackpill-f411 blackpill-f411-unkeyed
HB_RELAY_AUTHKEYS= build rp2040-pico thumbv6m-none-eabi hb-relay-pico pico-unkeyed
# The Cortex-M3 image once more per authkeys method, for the RAM budget below: the hash of the
# key decides the deepest stack.
keydir=$out/keys
mkdir -p "$keydir"
for method in crc md5 sha1; do
  if [ "$method" = crc ]; then printf 'auth 1\n1 crc\n'; else printf 'auth 1\n1 %s hb-relay-test-key-not-secret\n' "$method"; fi > "$keydir/$method"
  chmod 600 "$keydir/$method"
  HB_RELAY_AUTHKEYS=$keydir/$method build qemu-mps2-an385 thumbv7m-none-eabi hb-relay-mps2-an385 "keys/mps2-an385-$method"
done
echo "boards built in $(( $(date +%s) - start )) s"

echo "image sizes (text = flash; data + bss = static RAM; the stack comes on top, see boards/README.md):"
arm-none-eabi-size "$out"/*.elf
# The user's images, unkeyed: ELF and BIN per board, the Cortex-M3 one within 32 KiB of flash.
rel=$root/target/relay-images
mkdir -p "$rel"
for pair in blackpill-f411:blackpill-f411-unkeyed mps2-an385:mps2-an385-unkeyed; do
  name=${pair%%:*} src=$out/${pair#*:}.elf
  cp "$src" "$rel/$name.elf"
  arm-none-eabi-objcopy -O binary "$src" "$rel/$name.bin"
done
# The Pico's UF2 (what its boot ROM's drive takes), made and read back by a parser: magics,
# block count, family 0xe48bff56, addresses from 0x10000000.
(cd "$root" && env -u CARGO_TARGET_DIR cargo build -q -p relay-qemu --bin relay-uf2 --locked)
cp "$out/pico-unkeyed.elf" "$rel/pico.elf"
arm-none-eabi-objcopy -O binary "$rel/pico.elf" "$rel/pico.bin"
"$root/target/debug/relay-uf2" pack "$rel/pico.bin" "$rel/pico.uf2"
"$root/target/debug/relay-uf2" check "$rel/pico.uf2"
flash_of() { arm-none-eabi-size "$1" | awk 'NR == 2 {print $1 + $2}'; }
f=$(flash_of "$rel/mps2-an385.elf")
echo "unkeyed images in $rel:"; ls -l "$rel"
[ "$f" -le 32768 ] || { echo "mps2-an385 unkeyed image: $f B of flash, over 32768"; exit 1; }
[ "${1:-}" = --build-only ] && exit 0

unset CARGO_TARGET_DIR HB_RELAY_AUTHKEYS
cargo build -p relay-qemu --locked
cargo build -p hb-linux --bin hbctl --locked
"$root/target/debug/relay-qemu" --elf "$out/mps2-an385.elf" \
  --hang-elf "$out/mps2-an385-test-hang.elf" \
  --unkeyed-elf "$out/mps2-an385-unkeyed-test-hang.elf" --hbctl "$root/target/debug/hbctl" \
  | tee "$out/relay-qemu.log"

# The RAM goal of the Cortex-M3 image, 8 KiB, for a key of every method: static RAM (data +
# bss) plus the stack peak the image paints and reports in QEMU after forwarding a longest
# heartbeat, answering a fence and a status and refusing frames.
budget=8192
peak_of() { grep "^test ${2:-hang_refused_in_production} " "$1" | grep -o 'stack peak [0-9]*' | awk '{print $3}'; }
static_of() { arm-none-eabi-size "$1" | awk 'NR == 2 {print $2 + $3}'; }
echo "RAM of the mps2-an385 image per authkeys method (goal: at most $budget B):"
over=0
for method in crc md5 sha1 sha256; do
  if [ "$method" = sha256 ]; then
    elf=$out/mps2-an385.elf log=$out/relay-qemu.log
  else
    elf=$out/keys/mps2-an385-$method.elf log=$out/keys/$method.log
    "$root/target/debug/relay-qemu" --elf "$elf" --hang-elf "$elf" \
      --authkeys "$keydir/$method" hang_refused_in_production | tee "$log"
  fi
  s=$(static_of "$elf") p=$(peak_of "$log")
  [ -n "$p" ] || { echo "no stack peak for $method"; exit 1; }
  printf '  %-6s static %5d + stack %5d = %5d B\n' "$method" "$s" "$p" $((s + p))
  [ $((s + p)) -le "$budget" ] || over=1
done
# The unkeyed image, with the sha256 test key provisioned: its deepest path is provisioning.
s=$(static_of "$out/mps2-an385-unkeyed-test-hang.elf") p=$(peak_of "$out/relay-qemu.log" provision)
[ -n "$p" ] || { echo "no stack peak for the unkeyed image"; exit 1; }
printf '  %-6s static %5d + stack %5d = %5d B (unkeyed image, provisioned)\n' sha256 "$s" "$p" $((s + p))
[ $((s + p)) -le "$budget" ] || over=1
[ "$over" = 0 ] || { echo "over the RAM budget of $budget B"; exit 1; }
