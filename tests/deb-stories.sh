#!/usr/bin/env bash
# The package's install stories, each node a throwaway root: a network namespace whose
# processes see /usr, /etc and /var through overlays (upper layers under target/), a fresh
# /run and /tmp, its own host name and PID namespace. Nothing is installed on this machine.
#   a) no heartbeat: `dpkg --purge heartbeat` in the root, `apt-get install ./hb_*.deb`,
#      the samples copied and edited, the init script starts a two-node cluster, failover.
#   b) heartbeat 3.0.6 on both nodes, configured, ipfail respawned: node2 gets hb (stop,
#      install, start), rejoins node1's 3.0.6, cl_status answers; hb removed, 3.0.6 back.
# Usage: tests/deb-stories.sh DEB [a|b]. Needs root and Debian's heartbeat on the machine.
set -euo pipefail
deb=$(realpath "$1")
which=${2:-ab}
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "deb-stories: needs root" >&2; exit 1; }
for t in ip unshare nsenter python3 cmp; do
    command -v $t >/dev/null || { echo "deb-stories: $t is missing (bash .ci/run installs it)" >&2; exit 1; }
done
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
# A root's PID 1 reaps orphans as init does: a daemon that forked away and exited must not
# stay a zombie, or `heartbeat -k` waits for it forever.
reaper='
import os, time
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(0.2)
'
# boot NAME ADDR: a root in network namespace $tag-NAME, its PID 1 recorded in init[NAME].
boot() {
    local name=$1 r="$work/$1" ns="$tag-$1"
    mkdir -p "$r"/{usr,etc,var}{,-w}
    ip netns add "$ns"; nss+=("$ns")
    ip netns exec "$ns" unshare --mount --uts --pid --fork --propagation private sh -c "
        set -e
        # The checkout may sit under /tmp, which the root covers: nothing may keep it as cwd
        # (pyenv's python3 shim cds back into it and fails).
        cd /
        for d in usr etc var; do
            mount -t overlay overlay -o lowerdir=/\$d,upperdir=$r/\$d,workdir=$r/\$d-w /\$d
        done
        mount -t proc proc /proc
        mount -t tmpfs tmpfs /run; mkdir -p /run/lock; mount -t tmpfs tmpfs /tmp
        hostname $name; ip link set lo up
        touch /run/booted
        exec python3 -c \"$reaper\"" </dev/null >"$work/$name.boot" 2>&1 &
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
# init NODE ACTION: the node's /etc/init.d/heartbeat; its output (and the daemons' stdio,
# which 3.0.6's keep open) go to a file in the node, shown if it fails.
init_d() {
    on "$1" "/etc/init.d/heartbeat $2 </dev/null >/tmp/init.log 2>&1 || { rc=\$?; cat /tmp/init.log; exit \$rc; }"
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
        on $n "cat > /tmp/$(basename "$deb") && DEBIAN_FRONTEND=noninteractive apt-get install -y -q /tmp/$(basename "$deb") >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }" < "$deb"
        on $n "getent passwd hacluster && getent group haclient && test -d /run/heartbeat && test -d /var/lib/heartbeat \
            && test -d /etc/ha.d/resource.d && test -x /etc/init.d/heartbeat && man -w ha.cf heartbeat hbctl >/dev/null" >/dev/null
        # bash completion: hbctl's subcommands complete.
        on $n "bash -c '. /usr/share/bash-completion/completions/hbctl; COMP_WORDS=(hbctl che); COMP_CWORD=1; _hbctl hbctl che hbctl; echo \${COMPREPLY[*]}'" | grep -qw check-config
        on $n "cd /usr/share/doc/hb/examples && cp ha.cf haresources /etc/ha.d/ && cp -p authkeys /etc/ha.d/"
        fast_times $n
        on $n "hbctl check-config"
        init_d $n start
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

# The files of the machine's heartbeat 3.0.6 package that hb diverts, and where they go.
DIVERTED="/usr/libexec/heartbeat/heartbeat /usr/bin/cl_status /usr/share/heartbeat/hb_standby
    /usr/share/heartbeat/hb_takeover /usr/share/heartbeat/ResourceManager /usr/sbin/stonith /usr/sbin/meatclient
    /lib/systemd/system/heartbeat.service /usr/lib/tmpfiles.d/heartbeat.conf /etc/init.d/heartbeat
    /usr/share/man/man8/heartbeat.8.gz /usr/share/man/man5/ha.cf.5.gz /usr/share/man/man5/authkeys.5.gz"
# same_as_machine NODE PATH [PATH-IN-NODE]: the node's file is the machine's (3.0.6's) one.
same_as_machine() {
    cmp -s "$2" "/proc/${init[$1]}/root${3:-$2}" || {
        echo "deb-stories: $1:${3:-$2} is not heartbeat 3.0.6's $2" >&2; return 1; }
}
ha_d_sums() { on "$1" "find /etc/ha.d -print0 | sort -z | xargs -0 stat -c \"%n %a %U %s %Y\" ; find /etc/ha.d -type f -print0 | sort -z | xargs -0 md5sum"; }
hb306_running() { on "$1" "cl_status hbstatus" 2>/dev/null | grep -q running; }
sees() { [ "$(on "$1" "cl_status nodestatus $2" 2>/dev/null)" = "$3" ]; }

story_b() {
    local t0; t0=$(date +%s)
    boot node1; boot node2; link node1 node2
    for n in node1 node2; do
        # What boot and 3.0.6's tmpfiles.d would have made in a fresh /run.
        on $n "mkdir -p /run/heartbeat/ccm /run/heartbeat/crm /run/heartbeat/dopd /run/heartbeat/rsctmp \
            /run/resource-agents /run/crm && chown -R hacluster:haclient /run/heartbeat /run/crm \
            && chmod 750 /run/heartbeat && chmod 1777 /run/heartbeat/rsctmp"
        on $n "cat > /etc/ha.d/ha.cf" <<'CF'
logfile /var/log/ha-log
keepalive 200ms
warntime 1
deadtime 2
initdead 4
udpport 694
bcast eth0
auto_failback on
node node1
node node2
respawn hacluster /usr/libexec/heartbeat/ipfail
apiauth ipfail gid=haclient uid=hacluster
CF
        on $n "echo 'node1 198.51.100.80' > /etc/ha.d/haresources; \
            printf 'auth 1\n1 sha1 deb-story-key\n' > /etc/ha.d/authkeys; chmod 600 /etc/ha.d/authkeys"
        init_d $n start
    done
    wait_for 60 "3.0.6 on node1 serves 198.51.100.80" has_vip node1
    wait_for 30 "3.0.6 on node2 sees node1" sees node2 node1 active
    local before; before=$(ha_d_sums node2)

    # node2's rolling upgrade: it holds nothing (standby is a no-op), stop, install, start.
    init_d node2 stop
    wait_for 30 "3.0.6 on node1 sees node2 gone" sees node1 node2 dead
    on node2 "cat > /tmp/$(basename "$deb") && DEBIAN_FRONTEND=noninteractive apt-get install -y -q /tmp/$(basename "$deb") >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }" < "$deb"
    [ "$(ha_d_sums node2)" = "$before" ] || { echo "deb-stories: installing hb changed /etc/ha.d" >&2; return 1; }
    [ "$(on node2 "dpkg-divert --list hb | wc -l")" = "$(echo $DIVERTED | wc -w)" ] \
        || { echo "deb-stories: diversions: $(on node2 'dpkg-divert --list hb')" >&2; return 1; }
    on node2 "dpkg -s heartbeat | grep -q '^Status: install ok installed' \
        && for p in dopd ccm api_test apphbd ipfail; do test -x /usr/libexec/heartbeat/\$p || exit 1; done"
    same_as_machine node2 /usr/libexec/heartbeat/heartbeat /usr/libexec/heartbeat/heartbeat.distrib
    same_as_machine node2 /etc/init.d/heartbeat /etc/init.d/.heartbeat.distrib
    on node2 "/usr/libexec/heartbeat/heartbeat -V" | grep -vq '^3\.0\.6' \
        || { echo "deb-stories: the daemon is still 3.0.6" >&2; return 1; }
    on node2 "hbctl check-config" >/dev/null
    init_d node2 start
    wait_for 30 "hb on node2 sees 3.0.6's node1" sees node2 node1 active
    wait_for 30 "3.0.6 on node1 sees hb's node2" sees node1 node2 active
    on node2 "cl_status hbstatus" | grep -q running
    on node2 "hbctl status" >/dev/null # hb's own control socket: hb, not 3.0.6, answers
    has_vip node1

    # Back to 3.0.6: remove hb (its prerm stops it), start 3.0.6 again.
    on node2 "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q hb >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }"
    wait_for 30 "3.0.6 on node1 sees hb's node2 gone" sees node1 node2 dead
    for f in $DIVERTED; do same_as_machine node2 "$f"; done
    [ -z "$(on node2 "dpkg-divert --list hb")" ] || { echo "deb-stories: diversions left" >&2; return 1; }
    [ "$(ha_d_sums node2)" = "$before" ] || { echo "deb-stories: removing hb changed /etc/ha.d" >&2; return 1; }
    # Installed again from "removed, configuration kept" (dpkg remembers hb's init script:
    # no prompt), then purged: a purge deletes hb's conffiles, 3.0.6's script must stay.
    on node2 "dpkg -i /tmp/$(basename "$deb") </dev/null >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; exit 1; }"
    same_as_machine node2 /etc/init.d/heartbeat /etc/init.d/.heartbeat.distrib
    if cmp -s /etc/init.d/heartbeat "/proc/${init[node2]}/root/etc/init.d/heartbeat"; then
        echo "deb-stories: reinstalled hb, but /etc/init.d/heartbeat is 3.0.6's" >&2; return 1
    fi
    on node2 "dpkg --purge hb" >/dev/null
    for f in $DIVERTED; do same_as_machine node2 "$f"; done
    [ -z "$(on node2 "ls -A /etc/init.d | grep '^\.heartbeat'")" ] || { echo "deb-stories: leftovers in /etc/init.d" >&2; return 1; }
    on node2 "getent passwd hacluster >/dev/null" # shared with 3.0.6: stays
    init_d node2 start
    wait_for 30 "3.0.6 is back on node2" hb306_running node2
    wait_for 30 "3.0.6 on node1 sees 3.0.6's node2 again" sees node1 node2 active
    echo "story b: hb over heartbeat 3.0.6, rejoined, removed, 3.0.6 back: passed in $(( $(date +%s) - t0 )) s"
}

case $which in
    a) story_a ;;
    b) story_b ;;
    ab) story_a; cleanup; pids=(); nss=(); init=(); story_b ;;
    *) echo "deb-stories: unknown story [$which]" >&2; exit 2 ;;
esac
