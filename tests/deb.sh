#!/usr/bin/env bash
# The Debian package (issue 14): builds hb_<version>_<arch>.deb with cargo-deb, checks it
# (lintian errors, every man page renders, `hbctl check-config` passes on the shipped
# samples), then runs the two install stories in throwaway roots (tests/deb-stories.sh):
# never on this machine itself. Needs root, cargo-deb, lintian, man-db, and Debian's
# heartbeat package installed (`.ci/run` installs them); a missing tool fails the run.
# `bash tests/deb.sh build` only builds.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

need() {
    for t in "$@"; do
        command -v "$t" >/dev/null || { echo "deb.sh: $t is missing (bash .ci/run installs it)" >&2; exit 1; }
    done
}
need cargo-deb dpkg-deb
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

t0=$(date +%s)
cargo build --release --locked -p hb-linux --bins
# The relay board's unkeyed images, shipped for `hbctl relay flash` (tests/boards.sh makes them).
for img in pico.uf2 pico.elf blackpill-f411.bin blackpill-f411.elf mps2-an385.elf; do
    [ -f "$target/relay-images/$img" ] || { bash tests/boards.sh --build-only >/dev/null; break; }
done
"$target/release/hb-docgen" >/dev/null
gzip -9nf "$target"/release/hb-docs/*.8
cargo deb -p hb-linux --strip --locked -o "$target/debian/" 2>&1 | tail -n 3
deb=$(ls -t "$target"/debian/hb_*.deb | head -n 1)
echo "built $(basename "$deb"): $(stat -c %s "$deb") bytes in $(( $(date +%s) - t0 )) s"
[ "${1:-}" = build ] && exit 0
need lintian man

echo "-- lintian (no errors allowed)"
lintian --tag-display-limit 0 "$deb" | tee "$target/debian/lintian.txt" || true
if grep -q '^E:' "$target/debian/lintian.txt"; then
    echo "deb.sh: lintian reports errors" >&2
    exit 1
fi

x=$(mktemp -d)
trap 'rm -rf "$x"' EXIT
dpkg-deb -x "$deb" "$x"
echo "-- man -l renders every page"
pages=0
for p in "$x"/usr/share/man/man*/*; do
    out=$(man -l "$p" 2>&1 >/dev/null | grep -v '^$' || true)
    [ -z "$out" ] || { echo "deb.sh: $p: $out" >&2; exit 1; }
    man -l "$p" 2>/dev/null | grep -q '^NAME' || { echo "deb.sh: $p renders no NAME" >&2; exit 1; }
    pages=$((pages + 1))
done
for want in man8/heartbeat.8 man8/hbctl.8 man5/ha.cf.5 man5/haresources.5 man5/authkeys.5; do
    [ -e "$x/usr/share/man/$want.gz" ] || [ -e "$x/usr/share/man/$want" ] || { echo "deb.sh: no $want" >&2; exit 1; }
done
echo "$pages pages render"

echo "-- hbctl check-config on the shipped samples"
"$x/usr/sbin/hbctl" check-config -c "$x/usr/share/doc/hb/examples" --syntax-only --node node1

echo "-- the install stories"
bash tests/deb-stories.sh "$deb"
echo "deb: all passed"
