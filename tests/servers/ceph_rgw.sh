#!/usr/bin/env bash
# Single-node Ceph RADOS Gateway (real S3: SigV4, presigned URLs, POST policies)
# for the test suite and CI.
#
#   tests/servers/ceph_rgw.sh start DIR   # bootstrap mon + OSD + radosgw under DIR
#   tests/servers/ceph_rgw.sh stop  DIR   # stop everything started under DIR (idempotent)
#
# After `start`, DIR/env holds shell-sourceable lines:
#   AWS_ENDPOINT_URL_S3=http://127.0.0.1:PORT
#   AWS_ACCESS_KEY_ID=...
#   AWS_SECRET_ACCESS_KEY=...
#   AWS_REGION=us-east-1
#
# Packages (installed separately, e.g. by CI):
#   apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-common
#
# Everything (config, keyrings, mon store, bluestore file, logs, pid files,
# admin sockets) lives under DIR; every daemon listens on 127.0.0.1 only.
set -euo pipefail
unset CEPH_ARGS CEPH_CONF # a caller's settings must not leak into this cluster

PROG=${0##*/}
REQUIRED_BINS=(ceph ceph-authtool monmaptool ceph-mon ceph-osd radosgw radosgw-admin python3)

# Tunables (environment overrides).
OSD_BLOCK_SIZE=${CEPH_RGW_OSD_BLOCK_SIZE:-4294967296}      # 4 GiB sparse file
OSD_MEMORY_TARGET=${CEPH_RGW_OSD_MEMORY_TARGET:-805306368} # 768 MiB
START_TIMEOUT=${CEPH_RGW_START_TIMEOUT:-120}               # seconds per wait step
S3_REGION=${CEPH_RGW_REGION:-us-east-1}
S3_UID=${CEPH_RGW_UID:-tester}

die() { echo "$PROG: error: $*" >&2; exit 1; }
log() { printf '%s: [%6.2fs] %s\n' "$PROG" "$(elapsed)" "$*" >&2; }
now_ms() { date +%s%3N; }
T0=$(now_ms)
elapsed() { awk -v a="$T0" -v b="$(now_ms)" 'BEGIN { printf "%.2f", (b - a) / 1000 }'; }

usage() {
    echo "usage: $PROG start DIR | stop DIR" >&2
    exit 2
}

# ---------------------------------------------------------------- helpers

abs_dir() {
    # Absolute, physical path of $1 (created if needed).
    mkdir -p -- "$1"
    (cd -- "$1" && pwd -P)
}

# Space-separated list of N distinct free TCP ports on 127.0.0.1.
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

# PIDs of processes started by this script for DIR: those listed in the pid
# files whose command line still references DIR/ceph.conf, plus any other
# process whose command line references DIR/ceph.conf (e.g. a radosgw-admin
# or ceph CLI left hanging). Never matches processes of other clusters.
cluster_pids() {
    local dir=$1 p f
    {
        for f in "$dir"/run/*.pid; do
            [[ -f $f ]] || continue
            p=$(tr -dc '0-9' 2>/dev/null <"$f" || true)
            [[ -n $p ]] && echo "$p"
        done
        for p in /proc/[0-9]*; do
            echo "${p#/proc/}"
        done
    } | sort -un | while read -r p; do
        [[ $p == "$$" || $p == "$BASHPID" ]] && continue
        is_cluster_pid "$p" "$dir" && echo "$p"
    done
    return 0
}

# True while PID is alive and still one of this cluster's processes.
is_cluster_pid() {
    local cmd
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" || true)
    [[ $cmd == *"$2/ceph.conf"* ]]
}

# kill_wait DIR TIMEOUT_DECISECONDS PID... : SIGTERM, wait, then SIGKILL.
kill_wait() {
    local dir=$1 ticks=$2 p i alive=()
    shift 2
    for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
    for ((i = 0; i <= ticks; i++)); do
        alive=()
        for p in "$@"; do is_cluster_pid "$p" "$dir" && alive+=("$p"); done
        ((${#alive[@]} == 0)) && return 0
        sleep 0.1
    done
    echo "$PROG: still alive after SIGTERM, sending SIGKILL: ${alive[*]}" >&2
    local killed=("${alive[@]}")
    for p in "${killed[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for ((i = 0; i < 50; i++)); do
        alive=()
        for p in "${killed[@]}"; do is_cluster_pid "$p" "$dir" && alive+=("$p"); done
        ((${#alive[@]} == 0)) && return 0
        sleep 0.1
    done
    die "could not kill: ${alive[*]}"
}

do_stop() {
    local dir=$1 name p rest
    [[ -d $dir ]] || return 0
    # Stop in dependency order: the OSD tells the monitor it is going down
    # (and waits up to 5 s for it), so the monitor goes last.
    for name in client.rgw.gw osd.0 mon.a; do
        [[ -f $dir/run/$name.pid ]] || continue
        p=$(tr -dc '0-9' 2>/dev/null <"$dir/run/$name.pid" || true)
        if [[ -n $p ]] && is_cluster_pid "$p" "$dir"; then
            kill_wait "$dir" 150 "$p"
        fi
    done
    # Anything else still referencing DIR/ceph.conf (a hung CLI, a daemon
    # whose pid file is gone).
    rest=$(cluster_pids "$dir" | tr '\n' ' ')
    if [[ -n ${rest// /} ]]; then
        # shellcheck disable=SC2086
        kill_wait "$dir" 50 $rest
    fi
    rm -f -- "$dir"/run/*.pid "$dir"/run/*.asok
    return 0
}

dump_logs() {
    local dir=$1 f
    for f in "$dir"/log/*.log; do
        [[ -s $f ]] || continue
        # Ceph logs errors at level -1; show the last few, then the tail.
        if grep -q -E '^[^ ]+ [0-9a-f]+ +-1 ' "$f"; then
            echo "----- errors in $f -----" >&2
            grep -E '^[^ ]+ [0-9a-f]+ +-1 ' "$f" | tail -n 10 >&2 || true
        fi
        echo "----- tail -n 20 $f -----" >&2
        tail -n 20 -- "$f" >&2 || true
    done
}

# wait_for DESCRIPTION PIDFILE COMMAND... : retry COMMAND every 0.25 s until
# it succeeds; fail after START_TIMEOUT seconds, or at once if the daemon of
# PIDFILE (when not "-") has died.
wait_for() {
    local what=$1 pidfile=$2 deadline start
    shift 2
    start=$(date +%s)
    deadline=$((start + START_TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        # A daemon may write its pid file just after its launcher returns.
        if [[ $pidfile != - ]] && { [[ -f $pidfile ]] || (($(date +%s) > start + 10)); } \
            && ! pid_alive "$pidfile"; then
            die "$(basename "$pidfile" .pid) is not running (died?) while waiting for $what"
        fi
        (($(date +%s) < deadline)) || die "timed out after ${START_TIMEOUT}s waiting for $what"
        sleep 0.25
    done
}

# Admin CLIs for the cluster under $CEPH_CONF (set by do_start).
ceph_cli() { ceph --conf "$CEPH_CONF" --name client.admin "$@"; }
rgw_admin() { radosgw-admin --conf "$CEPH_CONF" --name client.admin "$@"; }

pid_alive() {
    local f=$1 p
    [[ -f $f ]] || return 1
    p=$(tr -dc '0-9' 2>/dev/null <"$f" || true)
    [[ -n $p ]] && kill -0 "$p" 2>/dev/null && is_cluster_pid "$p" "$START_DIR"
}

osd_up() {
    ceph_cli osd dump -f json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(o["osd"] == 0 and o["up"] == 1 and o["in"] == 1 for o in d["osds"]) else 1)'
}

http_up() {
    python3 - "$1" <<'EOF'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=2).read()
except urllib.error.HTTPError:
    pass  # any HTTP answer means the frontend is serving
except Exception:
    sys.exit(1)
EOF
}

# ---------------------------------------------------------------- start

START_DIR=
on_start_exit() {
    local rc=$?
    if ((rc != 0)) && [[ -n $START_DIR ]]; then
        echo "$PROG: start failed (exit $rc); stopping what was started. Logs:" >&2
        dump_logs "$START_DIR"
        do_stop "$START_DIR" || true
    fi
    return "$rc"
}

check_bins() {
    local missing=() b
    for b in "${REQUIRED_BINS[@]}"; do
        command -v "$b" >/dev/null 2>&1 || missing+=("$b")
    done
    ((${#missing[@]} == 0)) || die "missing binaries: ${missing[*]} (apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-common)"
}

do_start() {
    local dir=$1

    # Refuse to start over a running cluster; wipe remains of a previous one.
    if [[ -n $(cluster_pids "$dir") ]]; then
        die "a cluster is already running in $dir (run: $PROG stop $dir)"
    fi
    rm -rf -- "$dir"/{ceph.conf,env,keyring,mon,osd,rgw,log,run,crash,tmp}
    mkdir -p -- "$dir"/{keyring,mon,osd/ceph-0,rgw,log,run,crash,tmp}
    chmod 700 "$dir/keyring"

    # From here on, any failure stops what was started and shows the logs.
    START_DIR=$dir
    trap on_start_exit EXIT

    local mon_v2 mon_v1 rgw_port fsid osd_uuid
    read -r mon_v2 mon_v1 rgw_port <<<"$(free_ports 3)"
    fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
    osd_uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')

    export CEPH_CONF="$dir/ceph.conf"
    # Admin sockets are not needed, but handy for debugging; a UNIX socket
    # path is limited to 107 bytes, so drop them for deep DIRs (long pytest
    # tmp paths) rather than log bind errors.
    local asok="$dir/run/\$cluster-\$name.asok"
    if ((${#dir} + 32 > 107)); then
        asok=
        log "DIR path too long for UNIX sockets; admin sockets disabled"
    fi
    cat >"$CEPH_CONF" <<EOF
# Generated by $PROG for a throw-away single-node test cluster.
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$mon_v2,v1:127.0.0.1:$mon_v1]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
public_network = 127.0.0.0/8
cluster_network = 127.0.0.0/8
ms_bind_ipv6 = false

auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
auth_allow_insecure_global_id_reclaim = false
keyring = $dir/keyring/\$cluster.\$name.keyring

run_dir = $dir/run
pid_file = $dir/run/\$name.pid
admin_socket = $asok
log_file = $dir/log/\$cluster-\$name.log
mon_cluster_log_file = $dir/log/\$cluster.log
crash_dir = $dir/crash
tmp_dir = $dir/tmp
log_to_stderr = false
err_to_stderr = false
log_to_syslog = false
err_to_syslog = false
# Failure diagnostics without flooding the disk.
debug_ms = 0/0
debug_rgw = 1/5

# One OSD, replicas of one, no autoscaler (there is no ceph-mgr).
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
mon_max_pg_per_osd = 1000

[mon]
mon_data = $dir/mon/\$cluster-\$id
# Modest caches; rocksdb_cache_size must stay below mon_memory_target.
mon_memory_target = 536870912
rocksdb_cache_size = 134217728
# Commit mon updates (pool creation etc.) quickly instead of once a second.
paxos_propose_interval = 0.05
paxos_min_wait = 0.01
mon_osd_auto_mark_new_in = true

[osd]
osd_data = $dir/osd/\$cluster-\$id
osd_objectstore = bluestore
bluestore_block_path = $dir/osd/\$cluster-\$id/block.img
bluestore_block_create = true
bluestore_block_size = $OSD_BLOCK_SIZE
bluestore_fsck_on_mkfs = false
bluestore_fsck_on_mount = false
osd_memory_target = $OSD_MEMORY_TARGET
osd_crush_initial_weight = 1
osd_crush_update_on_start = true
osd_op_num_shards = 2
osd_op_num_threads_per_shard = 2

[client.rgw.gw]
rgw_frontends = beast endpoint=127.0.0.1:$rgw_port
rgw_data = $dir/rgw
rgw_thread_pool_size = 64
rgw_enable_usage_log = false
rgw_dynamic_resharding = false
EOF

    log "config written (mon v2:$mon_v2 v1:$mon_v1, rgw:$rgw_port)"

    # Keys: monitor, admin, osd.0, rgw. All are imported into the monitor's
    # keyring so that `ceph-mon --mkfs` seeds the auth database with them.
    local kr=$dir/keyring
    authtool() { ceph-authtool "$@" >/dev/null; }
    authtool "$kr/ceph.mon.keyring" --create-keyring --gen-key -n mon. --cap mon 'allow *'
    authtool "$kr/ceph.client.admin.keyring" --create-keyring --gen-key -n client.admin \
        --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *'
    authtool "$kr/ceph.osd.0.keyring" --create-keyring --gen-key -n osd.0 \
        --cap mon 'allow profile osd' --cap mgr 'allow profile osd' --cap osd 'allow *'
    authtool "$kr/ceph.client.rgw.gw.keyring" --create-keyring --gen-key -n client.rgw.gw \
        --cap mon 'allow rw' --cap mgr 'allow rw' --cap osd 'allow rwx'
    local k
    for k in client.admin osd.0 client.rgw.gw; do
        authtool "$kr/ceph.mon.keyring" --import-keyring "$kr/ceph.$k.keyring"
    done

    # Monitor.
    monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_v2,v1:127.0.0.1:$mon_v1]" \
        "$dir/tmp/monmap" >/dev/null
    ceph-mon --conf "$CEPH_CONF" --mkfs -i a --monmap "$dir/tmp/monmap" \
        --keyring "$kr/ceph.mon.keyring" >/dev/null
    ceph-mon --conf "$CEPH_CONF" -i a --keyring "$kr/ceph.mon.keyring"
    wait_for "monitor quorum" "$dir/run/mon.a.pid" ceph_cli --connect-timeout 5 mon stat
    log "monitor up"

    # OSD 0 on a file-backed bluestore device.
    ceph_cli osd new "$osd_uuid" 0 >/dev/null
    ceph-osd --conf "$CEPH_CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >/dev/null 2>"$dir/log/osd-mkfs.err" \
        || { head -n 3 "$dir/log/osd-mkfs.err" >&2; die "ceph-osd --mkfs failed (see $dir/log/osd-mkfs.err)"; }
    log "osd mkfs done"
    ceph-osd --conf "$CEPH_CONF" -i 0
    wait_for "osd.0 up and in" "$dir/run/osd.0.pid" osd_up
    log "osd.0 up"

    # RADOS Gateway (creates its pools on first start).
    radosgw --conf "$CEPH_CONF" -n client.rgw.gw
    wait_for "radosgw HTTP on 127.0.0.1:$rgw_port" "$dir/run/client.rgw.gw.pid" http_up "http://127.0.0.1:$rgw_port/"
    log "radosgw answering on http://127.0.0.1:$rgw_port"

    # S3 user with random credentials.
    local access secret
    access=$(python3 -c 'import secrets, string; print("".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(20)))')
    secret=$(python3 -c 'import secrets, string; print("".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40)))')
    rgw_admin user create --uid "$S3_UID" --display-name "Test user" \
        --access-key "$access" --secret-key "$secret" >/dev/null
    log "s3 user '$S3_UID' created"

    umask 077
    cat >"$dir/env.tmp" <<EOF
AWS_ENDPOINT_URL_S3=http://127.0.0.1:$rgw_port
AWS_ACCESS_KEY_ID=$access
AWS_SECRET_ACCESS_KEY=$secret
AWS_REGION=$S3_REGION
EOF
    mv -f -- "$dir/env.tmp" "$dir/env"
    trap - EXIT
    log "ready: source $dir/env"
    echo "ceph_rgw bootstrap: $(elapsed)s" >&2
}

# ---------------------------------------------------------------- main

(($# == 2)) || usage
[[ -n $2 ]] || usage
case $1 in
start)
    check_bins
    do_start "$(abs_dir "$2")"
    ;;
stop)
    if [[ -d $2 ]]; then
        dir=$(cd -- "$2" && pwd -P)
        do_stop "$dir"
    fi
    ;;
*)
    usage
    ;;
esac
