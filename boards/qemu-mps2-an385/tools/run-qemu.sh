#!/usr/bin/env bash
# Cargo runner for the MPS2 AN385 relay image (`cargo run --release`), also usable by hand:
#   tools/run-qemu.sh target/thumbv7m-none-eabi/release/hb-relay-mps2-an385
#
# UART0..3 are the hosts' serial lines, UART4 the relay's log (boot banner, events, and its
# reset lines as `RESET <port> ASSERT|RELEASE t=<ms>`). By default UART4 goes to stdout and each
# host line is a Unix socket QEMU listens on, $HB_QEMU_DIR/uart<N>.sock (default
# target/qemu/), so a host can be attached with e.g.
#   socat pty,raw,echo=0,link=/tmp/ttyRELAY0 unix-connect:target/qemu/uart0.sock
# Override any line with HB_QEMU_UART<N>=<qemu -serial spec> (e.g. `null`, `stdio`,
# `unix:/path,server=on,wait=on`); add QEMU options with HB_QEMU_EXTRA (e.g.
# `-action watchdog=poweroff` to exit at the first chip-watchdog reset).
set -euo pipefail
elf=${1:?usage: run-qemu.sh ELF}
dir=${HB_QEMU_DIR:-target/qemu}
mkdir -p "$dir"
args=()
for n in 0 1 2 3; do
  var=HB_QEMU_UART$n
  args+=(-serial "${!var:-unix:$dir/uart$n.sock,server=on,wait=off}")
done
args+=(-serial "${HB_QEMU_UART4:-stdio}")
# shellcheck disable=SC2086 # HB_QEMU_EXTRA is a list of options
exec qemu-system-arm -M mps2-an385 -cpu cortex-m3 -display none -monitor none -nodefaults \
  "${args[@]}" ${HB_QEMU_EXTRA:-} -kernel "$elf"
