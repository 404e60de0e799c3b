#!/usr/bin/env bash
# CLIENT TRACKING invalidation latency: ringcache (release build) against
# Debian's redis-server, same settings, both on 127.0.0.1, driven by
# scripts/bench-tracking.py (stdlib python3, raw sockets).
#
#   scripts/bench-tracking.sh
#
# Servers are pinned to CPU 0 and the client to CPU 1 (as in scripts/bench.sh).
# Per run, a RESP3 tracking client A (CLIENT TRACKING ON; mode bcast: ON BCAST
# PREFIX k) and a writer B loop BENCH_N times over: A GET k, B SET k i, wait for
# both B's reply and A's invalidation push. Runs alternate between the two
# servers (which one goes first flips every round), BENCH_ROUNDS rounds per mode;
# the tables pool all rounds' samples and give p50/p90/p99/p99.9/max, in
# microseconds, of: push time - SET reply time (negative: the push came first)
# and SET sent -> push received, once as seen by the client's poll() wake-ups
# and once from the kernel's receive timestamps (finer: the poll() figures read
# 0 us whenever both frames arrived before the client woke up; see the script's
# docstring). A push not received within
# 1 s is a missing invalidation: printed with `!!!` when it happens and in the
# summary, and the script exits 1. The CPU column (server/client/other, in
# cores) shows whether a run competed with other work on the machine.
# Takes about 20 seconds.
#
# Like scripts/bench-pubsub.sh this builds target/release/ringcache only when
# it is missing, so a binary built from a known commit can be measured while
# src/ is being edited.
# Env: BENCH_ROUNDS (3), BENCH_N (iterations per run, 10000), BENCH_WARMUP
# (unrecorded iterations first, 200), BENCH_MODES ("default bcast"),
# BENCH_RINGCACHE (the ringcache binary, target/release/ringcache),
# BENCH_KEEP (a directory to keep the per-run JSON samples in).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${BENCH_ROUNDS:-3}
N=${BENCH_N:-10000}
WARMUP=${BENCH_WARMUP:-200}
MODES=${BENCH_MODES:-default bcast}
RC_BIN=${BENCH_RINGCACHE:-target/release/ringcache}

for tool in redis-server redis-cli python3; do
    command -v "$tool" >/dev/null || { echo "$tool is required (apt-get install redis-server redis-tools python3)" >&2; exit 1; }
done
if [[ ! -x $RC_BIN ]]; then
    echo "== building ringcache (release)"
    cargo build --release -q
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

SERVER_CPU=()
CLIENT_CPU=()
if command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then
    SERVER_CPU=(taskset -c 0)
    CLIENT_CPU=(taskset -c 1)
else
    echo "== note: fewer than 2 CPUs or no taskset: servers and client are not pinned"
fi

# start_server ringcache|redis PORT DIR: pinned, loopback, no persistence; the
# pid goes to PIDS and SERVER_PID (taskset execs, so it is the server's own).
start_server() {
    local kind=$1 port=$2 dir=$3
    mkdir -p "$dir"
    if [[ $kind == ringcache ]]; then
        "${SERVER_CPU[@]}" "$RC_BIN" --bind 127.0.0.1 --port "$port" \
            --dir "$dir" --save '' >"$dir/log" 2>&1 &
    else
        "${SERVER_CPU[@]}" redis-server --bind 127.0.0.1 --port "$port" --save '' \
            --appendonly no --dir "$dir" --logfile "$dir/log" &
    fi
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}

wait_ready() {
    local _
    for _ in $(seq 200); do
        [[ $(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]] && return 0
        sleep 0.05
    done
    echo "server on port $1 did not start" >&2
    exit 1
}

RC_PORT=$(free_port)
start_server ringcache "$RC_PORT" "$WORK/rc"
RC_PID=$SERVER_PID
REDIS_PORT=$(free_port)
start_server redis "$REDIS_PORT" "$WORK/redis"
REDIS_PID=$SERVER_PID
wait_ready "$RC_PORT"
wait_ready "$REDIS_PORT"
echo "== ringcache $RC_BIN pid $RC_PID port $RC_PORT; redis-server $(redis-server --version | awk '{print $3}') pid $REDIS_PID port $REDIS_PORT"
echo "== $ROUNDS rounds x modes ($MODES): $N iterations (after $WARMUP warm-up) per run"

FAILED=0
# run NAME PORT PID MODE ROUND: one client run, its samples saved as JSON.
run() {
    local name=$1 port=$2 pid=$3 mode=$4 round=$5 rc=0
    "${CLIENT_CPU[@]}" python3 scripts/bench-tracking.py run --port "$port" --mode "$mode" \
        -n "$N" --warmup "$WARMUP" --label "$name" --server-pid "$pid" \
        --out "$WORK/$name-$mode-r$round.json" | sed 's/^/   /' || rc=$?
    [[ $rc -eq 0 ]] || FAILED=1
}

for round in $(seq "$ROUNDS"); do
    echo "== round $round/$ROUNDS"
    for mode in $MODES; do
        if ((round % 2)); then
            run ringcache "$RC_PORT" "$RC_PID" "$mode" "$round"
            run redis "$REDIS_PORT" "$REDIS_PID" "$mode" "$round"
        else
            run redis "$REDIS_PORT" "$REDIS_PID" "$mode" "$round"
            run ringcache "$RC_PORT" "$RC_PID" "$mode" "$round"
        fi
    done
done

if [[ -n ${BENCH_KEEP:-} ]]; then
    mkdir -p "$BENCH_KEEP"
    cp "$WORK"/*.json "$BENCH_KEEP"/ 2>/dev/null || true
    echo "== samples kept in $BENCH_KEEP"
fi

shopt -s nullglob
files=("$WORK"/*.json)
if ((${#files[@]} == 0)); then
    echo "no run produced samples" >&2
    exit 2
fi
python3 scripts/bench-tracking.py report "${files[@]}" || FAILED=1
exit "$FAILED"
