#!/usr/bin/env bash
# A local ringcache cluster on loopback, built with redis-cli --cluster create.
#
#   scripts/cluster.sh up [N_PRIMARIES] [REPLICAS_EACH]   start (default 3 primaries x 1 replica)
#   scripts/cluster.sh status                             redis-cli --cluster check + CLUSTER INFO
#   scripts/cluster.sh down                               stop the nodes, remove their files
#
# Environment: CLUSTER_BASE_PORT (7000), CLUSTER_DIR (/tmp/ringcache-cluster),
# CLUSTER_NODE_TIMEOUT in ms (5000), RINGCACHE_BIN (target/release/ringcache,
# built when missing). Node i listens on BASE+i, its bus on BASE+i+10000.
set -euo pipefail
cd "$(dirname "$0")/.."

base=${CLUSTER_BASE_PORT:-7000}
dir=${CLUSTER_DIR:-/tmp/ringcache-cluster}
timeout_ms=${CLUSTER_NODE_TIMEOUT:-5000}
bin=${RINGCACHE_BIN:-target/release/ringcache}

die() { echo "cluster.sh: $*" >&2; exit 1; }
command -v redis-cli >/dev/null || die "redis-cli is missing (apt-get install redis-tools)"

ports() { ls "$dir" 2>/dev/null | grep -E '^[0-9]+$' | sort -n; }

up() {
    local primaries=${1:-3} replicas=${2:-1}
    local total=$((primaries * (replicas + 1)))
    [[ -z "$(ports)" ]] || die "a cluster is already running in $dir (run: $0 down)"
    [[ -x $bin ]] || cargo build --release
    mkdir -p "$dir"
    local addrs=()
    for ((i = 0; i < total; i++)); do
        local port=$((base + i))
        mkdir -p "$dir/$port"
        "$bin" --port "$port" --dir "$dir/$port" --cluster-enabled yes \
            --cluster-node-timeout "$timeout_ms" >"$dir/$port/ringcache.log" 2>&1 &
        echo $! >"$dir/$port/pid"
        addrs+=("127.0.0.1:$port")
    done
    for a in "${addrs[@]}"; do
        local port=${a#*:} ok=
        for _ in $(seq 100); do
            if redis-cli -p "$port" ping >/dev/null 2>&1; then ok=1; break; fi
            sleep 0.1
        done
        [[ -n $ok ]] || die "node $port did not start; see $dir/$port/ringcache.log"
    done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$replicas" --cluster-yes
    for a in "${addrs[@]}"; do
        local port=${a#*:} ok=
        for _ in $(seq 300); do
            if redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; then ok=1; break; fi
            sleep 0.1
        done
        [[ -n $ok ]] || die "node $port did not reach cluster_state:ok"
    done
    echo "cluster up: ${addrs[*]} (files in $dir)"
}

status() {
    local first
    first=$(ports | head -1)
    [[ -n $first ]] || die "no cluster in $dir"
    redis-cli --cluster check "127.0.0.1:$first"
    for p in $(ports); do
        printf '%s: %s\n' "$p" "$(redis-cli -p "$p" cluster info 2>/dev/null | tr -d '\r' | grep -E '^cluster_(state|known_nodes|current_epoch):' | tr '\n' ' ')"
    done
}

down() {
    for p in $(ports); do
        if [[ -f $dir/$p/pid ]]; then
            kill "$(cat "$dir/$p/pid")" 2>/dev/null || true
        fi
    done
    sleep 0.2
    for p in $(ports); do
        [[ -f $dir/$p/pid ]] && kill -9 "$(cat "$dir/$p/pid")" 2>/dev/null || true
    done
    rm -rf "$dir"
    echo "cluster down"
}

case "${1:-}" in
    up) shift; up "$@" ;;
    status) status ;;
    down) down ;;
    *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
