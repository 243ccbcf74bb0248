#!/usr/bin/env bash
# The package's install stories, each node a throwaway root: a network namespace whose
# processes see /usr, /etc and /var through overlays (upper layers under target/), a fresh
# /run and /tmp, its own host name and PID namespace. Nothing is installed on this machine.
#   a) no heartbeat: `dpkg --purge heartbeat` in the root, `apt-get install ./hb_*.deb`,
#      the samples copied and edited, the init script starts a two-node cluster, failover.
#   (b), hb installed over a configured heartbeat 3.0.6 and removed again, is not written yet.
# Usage: tests/deb-stories.sh DEB [a]. Needs root and Debian's heartbeat on the machine.
set -euo pipefail
deb=$(realpath "$1")
which=${2:-a}
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "deb-stories: needs root" >&2; exit 1; }
[ -x /usr/libexec/heartbeat/heartbeat ] || { echo "deb-stories: Debian's heartbeat is not installed (bash .ci/run)" >&2; exit 1; }
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
work="$target/deb-roots/$$"
tag="hblab-$$"
pids=()
nss=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    for n in "${nss[@]}"; do
        for p in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
        ip netns del "$n" 2>/dev/null || true
    done
    sleep 0.5
    rm -rf "$work"
}
trap cleanup EXIT

declare -A init
# boot NAME ADDR: a root in network namespace $tag-NAME, its PID 1 recorded in init[NAME].
boot() {
    local name=$1 r="$work/$1" ns="$tag-$1"
    mkdir -p "$r"/{usr,etc,var}{,-w}
    ip netns add "$ns"; nss+=("$ns")
    ip netns exec "$ns" unshare --mount --uts --pid --fork --propagation private sh -c "
        set -e
        for d in usr etc var; do
            mount -t overlay overlay -o lowerdir=/\$d,upperdir=$r/\$d,workdir=$r/\$d-w /\$d
        done
        mount -t proc proc /proc
        mount -t tmpfs tmpfs /run; mkdir -p /run/lock; mount -t tmpfs tmpfs /tmp
        hostname $name; ip link set lo up
        touch /run/booted
        exec sleep 100000" </dev/null >"$work/$name.boot" 2>&1 &
    pids+=($!)
    local top=$! i
    disown $!
    for i in $(seq 100); do
        local c
        c=$(cat /proc/$top/task/$top/children 2>/dev/null | awk '{print $1}')
        if [ -n "$c" ] && [ -e "/proc/$c/root/run/booted" ]; then
            init[$name]=$c; return 0
        fi
        sleep 0.1
    done
    echo "deb-stories: root $name did not boot: $(cat "$work/$name.boot")" >&2; exit 1
}
# in NAME CMD: runs a shell command in the root.
on() { local n=$1; shift; nsenter -t "${init[$n]}" -m -u -n -p -i sh -c "$*"; }
link() { # the two roots' eth0, on one wire
    ip link add eth0 netns "$tag-$1" type veth peer name eth0 netns "$tag-$2"
    on "$1" "ip addr add 198.51.100.1/24 brd + dev eth0; ip link set eth0 up"
    on "$2" "ip addr add 198.51.100.2/24 brd + dev eth0; ip link set eth0 up"
}
# wait_for SECONDS DESCRIPTION CMD...: bounded poll.
wait_for() {
    local s=$1 what=$2; shift 2
    local end=$(( $(date +%s) + s ))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || { echo "deb-stories: not within ${s}s: $what" >&2; return 1; }
        sleep 0.2
    done
}
has_vip() { on "$1" "ip -o addr show dev eth0 | grep -q 198.51.100.80/"; }
fast_times() { # an admin's edit of the sample's timing, for a quick test
    on "$1" "sed -i -e 's/^keepalive .*/keepalive 200ms/' -e 's/^deadtime .*/deadtime 2/' \
        -e 's/^warntime .*/warntime 1/' -e 's/^initdead .*/initdead 4/' /etc/ha.d/ha.cf"
}

story_a() {
    local t0; t0=$(date +%s)
    boot node1; boot node2; link node1 node2
    for n in node1 node2; do
        on $n "dpkg --purge heartbeat >/dev/null 2>&1; ! test -e /usr/libexec/heartbeat/heartbeat"
        on $n "cp '$deb' /tmp/ && DEBIAN_FRONTEND=noninteractive apt-get install -y -q /tmp/$(basename "$deb") >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }"
        on $n "getent passwd hacluster && getent group haclient && test -d /run/heartbeat && test -d /var/lib/heartbeat \
            && test -d /etc/ha.d/resource.d && test -x /etc/init.d/heartbeat && man -w ha.cf heartbeat hbctl >/dev/null" >/dev/null
        on $n "cd /usr/share/doc/hb/examples && cp ha.cf haresources /etc/ha.d/ && cp -p authkeys /etc/ha.d/"
        fast_times $n
        on $n "hbctl check-config"
        on $n "/etc/init.d/heartbeat start"
    done
    wait_for 60 "node1 serves 198.51.100.80" has_vip node1
    wait_for 30 "node2 sees node1 active" on node2 "cl_status nodestatus node1 | grep -q active"
    if has_vip node2; then echo "deb-stories: both nodes hold the address" >&2; return 1; fi
    # node1 loses power: every process of its root dies at once.
    on node1 "ip link set eth0 down"; kill -9 "${init[node1]}"
    wait_for 30 "node2 takes 198.51.100.80 over" has_vip node2
    st=$(on node2 "cl_status nodestatus node1" 2>&1 || true)
    [ "$st" = dead ] || { echo "deb-stories: node2 says node1 is [$st], not dead" >&2; return 1; }
    echo "story a: fresh install, init script, two-node cluster, failover: passed in $(( $(date +%s) - t0 )) s"
}

case $which in
    a) story_a ;;
    *) echo "deb-stories: unknown story [$which] (story b is not written yet)" >&2; exit 2 ;;
esac
