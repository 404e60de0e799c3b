#!/usr/bin/env bash
# What synchronous replication costs: SET throughput at pipeline 1 and 16
# against a primary with one local replica, for ringcache with
# replica-sync-writes 0 (asynchronous) and 1, and for Debian's redis-server
# without and with `WAIT 1 0` after each SET (Redis's way to wait for a
# replica), driven by examples/sync_bench.rs.
#
#   scripts/bench-sync-writes.sh
#
# Primaries and replicas are pinned to CPU 0, the client to CPU 1; 50
# connections, 64-byte values, random keys of 100,000; each row runs
# BENCH_ROUNDS times (3), the servers alternating; the table gives the median
# SETs per second, the p99 of a batch's round trip, and the errors seen (a
# -NOREPLICAS would be one). Env: BENCH_ROUNDS (3), BENCH_SECONDS (3),
# BENCH_RINGCACHE (target/release/ringcache).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${BENCH_ROUNDS:-3}
SECS=${BENCH_SECONDS:-3}
RC_BIN=${BENCH_RINGCACHE:-target/release/ringcache}
CLIENT=target/release/examples/sync_bench
# WORK, PIDS (killed on exit), free_port, SERVER_CPU / CLIENT_CPU; builds ringcache.
# shellcheck source=scripts/bench-setup.sh
source scripts/bench-setup.sh
[[ -x $CLIENT && $CLIENT -nt examples/sync_bench.rs ]] || cargo build --release -q --example sync_bench

wait_ping() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }
wait_link() { for _ in $(seq 200); do redis-cli -p "$1" info replication | grep -q 'master_link_status:up' && return 0; sleep 0.05; done; return 1; }

# start KIND SYNC: a primary and its replica; sets PORT.
start() {
    local kind=$1 sync=$2 p r d
    p=$(free_port) r=$(free_port) d=$WORK/$kind-$sync-$RANDOM
    mkdir -p "$d/p" "$d/r"
    if [[ $kind == ringcache ]]; then
        (cd "$d/p" && exec "${SERVER_CPU[@]}" "$OLDPWD/$RC_BIN" --port "$p" --replica-sync-writes "$sync" >log 2>&1) &
        PIDS+=($!)
        wait_ping "$p"
        (cd "$d/r" && exec "${SERVER_CPU[@]}" "$OLDPWD/$RC_BIN" --port "$r" --replicaof 127.0.0.1 "$p" >log 2>&1) &
        PIDS+=($!)
    else
        "${SERVER_CPU[@]}" redis-server --port "$p" --dir "$d/p" --save '' --appendonly no \
            --repl-diskless-sync-delay 0 >"$d/p/log" 2>&1 &
        PIDS+=($!)
        wait_ping "$p"
        "${SERVER_CPU[@]}" redis-server --port "$r" --dir "$d/r" --save '' --appendonly no \
            --replicaof 127.0.0.1 "$p" >"$d/r/log" 2>&1 &
        PIDS+=($!)
    fi
    wait_ping "$r"
    wait_link "$r"
    PORT=$p
}

stop_all() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    PIDS=()
}

# run NAME KIND SYNC PIPELINE [--wait]: one measured run; appends to $WORK/NAME.
run() {
    local name=$1 kind=$2 sync=$3 pipe=$4 extra=${5:-}
    start "$kind" "$sync"
    # shellcheck disable=SC2086
    "${CLIENT_CPU[@]}" "$CLIENT" --port "$PORT" --clients 50 --pipeline "$pipe" --seconds "$SECS" --size 64 $extra \
        >>"$WORK/$name"
    stop_all
}

for pipe in 1 16; do
    for ((round = 0; round < ROUNDS; round++)); do
        run "rc-async-P$pipe" ringcache 0 "$pipe"
        run "redis-async-P$pipe" redis 0 "$pipe"
        run "rc-sync-P$pipe" ringcache 1 "$pipe"
        run "redis-wait-P$pipe" redis 0 "$pipe" --wait
    done
done

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" "$WORK/$2"; }
printf '%-26s %12s %12s %8s\n' row "SET/s" "p99 batch us" errors
for pipe in 1 16; do
    for name in rc-async redis-async rc-sync redis-wait; do
        f=$name-P$pipe
        printf '%-26s %12s %12s %8s\n' "$f" "$(field sets_per_sec "$f" | median)" \
            "$(field p99_batch_us "$f" | median)" "$(field errors "$f" | paste -sd+ | bc)"
    done
done
