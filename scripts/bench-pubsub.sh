#!/usr/bin/env bash
# PUBLISH throughput: ringcache (release build) against Debian's redis-server,
# same settings, both on 127.0.0.1, driven by examples/pubsub_bench.rs.
#
#   scripts/bench-pubsub.sh
#
# Servers are pinned to CPU 0 and the benchmark client to CPU 1 (as in
# scripts/bench.sh). For 1, 10 and 100 subscribers on one channel, one publisher
# sends PUBLISH at pipeline 16 with 64-byte messages for 3 s (after a 1 s
# warm-up); runs alternate between the two servers (which one goes first flips
# every round), 5 rounds; the table shows the median of the rounds: messages
# delivered per second (summed over subscribers), the ringcache/redis ratio,
# and PUBLISH calls per second. `lost` sums, over the rounds, the messages
# subscribers had not received 5 s after the last PUBLISH reply (published x
# subscribers - delivered); `closed` counts subscribers the server
# disconnected. A second table gives each round's ratio and the CPU (in cores)
# the server, the client and everything else used over the measured window: a
# client near 1.00 means the figure is bounded by the client, not the server,
# and other processes above ~0.2 mean the run competed for the pinned cores.
# Takes about 2 minutes.
#
# Unlike scripts/bench.sh this does not rebuild ringcache on every run: it
# builds target/release/ringcache only when missing (the example when missing
# or older than its source), so a binary built from a known commit can be
# measured while src/ is being edited.
# Env: BENCH_ROUNDS (5), BENCH_SECONDS (measured seconds per run, 3),
# BENCH_SUBSCRIBERS ("1 10 100"), BENCH_PUBLISHERS (1), BENCH_PIPELINE (16),
# BENCH_SIZE (message bytes, 64), BENCH_RINGCACHE (the ringcache binary,
# target/release/ringcache), BENCH_CLIENT (the example binary,
# target/release/examples/pubsub_bench).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${BENCH_ROUNDS:-5}
SECS=${BENCH_SECONDS:-3}
SUBSCRIBERS=${BENCH_SUBSCRIBERS:-1 10 100}
PUBLISHERS=${BENCH_PUBLISHERS:-1}
PIPELINE=${BENCH_PIPELINE:-16}
SIZE=${BENCH_SIZE:-64}
RC_BIN=${BENCH_RINGCACHE:-target/release/ringcache}
CLIENT=${BENCH_CLIENT:-target/release/examples/pubsub_bench}

for tool in redis-server redis-cli python3; do
    command -v "$tool" >/dev/null || { echo "$tool is required (apt-get install redis-server redis-tools python3)" >&2; exit 1; }
done
if [[ ! -x $RC_BIN ]]; then
    echo "== building ringcache (release)"
    cargo build --release -q
fi
if [[ ! -x $CLIENT || ( -z ${BENCH_CLIENT:-} && examples/pubsub_bench.rs -nt $CLIENT ) ]]; then
    echo "== building examples/pubsub_bench (release)"
    cargo build --release -q --example pubsub_bench
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
echo "== $ROUNDS rounds x subscribers ($SUBSCRIBERS): $PUBLISHERS publisher(s), pipeline $PIPELINE, $SIZE-byte messages, ${SECS} s each"

# run NAME PORT PID SUBSCRIBERS ROUND: one client run; its last stdout line
# (publish_per_sec=... delivered_per_sec=... lost=...) saved per run.
run() {
    local name=$1 port=$2 pid=$3 subs=$4 round=$5 out
    out="$WORK/$name-S$subs-r$round"
    if ! "${CLIENT_CPU[@]}" "$CLIENT" --port "$port" --subscribers "$subs" \
        --publishers "$PUBLISHERS" --pipeline "$PIPELINE" --seconds "$SECS" --size "$SIZE" \
        --channel "bench-$subs-$round" --server-pid "$pid" >"$out.out" 2>"$out.err"; then
        echo "   $name, $subs subscribers: client failed:" >&2
        cat "$out.err" >&2
    fi
    grep -h '^LOST' "$out.out" | sed "s/^/   $name, $subs subscribers, round $round: /" || true
    grep -v '^publish_per_sec=' "$out.err" | sed "s/^/   $name: /" >&2 || true
    grep '^publish_per_sec=' "$out.out" | tail -n1 >"$out.line" || true
}

for round in $(seq "$ROUNDS"); do
    echo "== round $round/$ROUNDS"
    for subs in $SUBSCRIBERS; do
        if ((round % 2)); then
            run ringcache "$RC_PORT" "$RC_PID" "$subs" "$round"
            run redis "$REDIS_PORT" "$REDIS_PID" "$subs" "$round"
        else
            run redis "$REDIS_PORT" "$REDIS_PID" "$subs" "$round"
            run ringcache "$RC_PORT" "$RC_PID" "$subs" "$round"
        fi
    done
done

python3 - "$WORK" "$ROUNDS" "$SUBSCRIBERS" <<'EOF'
import glob, os, statistics, sys

work, rounds, subscribers = sys.argv[1], int(sys.argv[2]), [int(s) for s in sys.argv[3].split()]
runs = {}  # (server, subscribers) -> list of dicts
for path in glob.glob(os.path.join(work, "*-S*-r*.line")):
    server, rest = os.path.basename(path).split("-S", 1)
    subs = int(rest.split("-r", 1)[0])
    with open(path) as f:
        line = f.read().strip()
    if line:
        row = dict(kv.split("=", 1) for kv in line.split())
        row["round"] = rest.split("-r", 1)[1].split(".", 1)[0]
        runs.setdefault((server, subs), []).append(row)

def med(rows, key):
    vals = [float(r[key]) for r in rows if r.get(key) not in (None, "", "na")]
    return statistics.median(vals) if vals else float("nan")

def total(rows, key):
    return sum(int(r.get(key, 0)) for r in rows)

def paired(s):
    """ringcache/redis delivered ratio of each round (runs of a round are back to back)."""
    rd = {r["round"]: float(r["delivered_per_sec"]) for r in runs.get(("redis", s), [])}
    rc = {r["round"]: float(r["delivered_per_sec"]) for r in runs.get(("ringcache", s), [])}
    return " ".join(f"{rc[k] / rd[k]:.2f}" for k in sorted(rd, key=int) if k in rc and rd[k] > 0)

print(f"\nPUBLISH fan-out: messages delivered per second, summed over subscribers (median of {rounds})")
hdr = (f"{'subscribers':>11} {'redis delivered/s':>18} {'ringcache delivered/s':>22} {'ratio':>6}"
       f" {'redis publish/s':>16} {'ringcache publish/s':>20} {'lost redis/ringcache':>21} {'closed':>7}")
print(hdr)
print("-" * len(hdr))
for s in subscribers:
    rd, rc = runs.get(("redis", s), []), runs.get(("ringcache", s), [])
    a, b = med(rd, "delivered_per_sec"), med(rc, "delivered_per_sec")
    ratio = f"{b / a:.2f}" if a > 0 else "n/a"
    lost = f"{total(rd, 'lost')}/{total(rc, 'lost')}"
    closed = f"{total(rd, 'closed')}/{total(rc, 'closed')}"
    note = "" if len(rd) == len(rc) == rounds else f"  (runs: redis {len(rd)}, ringcache {len(rc)})"
    print(f"{s:>11} {a:>18,.0f} {b:>22,.0f} {ratio:>6} {med(rd, 'publish_per_sec'):>16,.0f}"
          f" {med(rc, 'publish_per_sec'):>20,.0f} {lost:>21} {closed:>7}{note}")

print("\nPer round: ringcache/redis ratio; CPU in cores over the window (median), server/client/other processes")
hdr = f"{'subscribers':>11} {'ratio per round':>32} {'redis cpu':>16} {'ringcache cpu':>16}"
print(hdr)
print("-" * len(hdr))
worst = 0.0
for s in subscribers:
    rd, rc = runs.get(("redis", s), []), runs.get(("ringcache", s), [])
    cpu = lambda rows: "/".join(f"{med(rows, k):.2f}" for k in ("server_cpu", "client_cpu", "other_cpu"))
    worst = max([worst] + [float(r["other_cpu"]) for r in rd + rc if r.get("other_cpu", "na") != "na"])
    print(f"{s:>11} {paired(s):>32} {cpu(rd):>16} {cpu(rc):>16}")
if worst > 0.2:
    print(f"note: other processes used up to {worst:.2f} cores during a run; those figures are unreliable")
EOF

# Anything the servers logged about clients (e.g. subscribers over the pubsub
# output limit).
grep -hiE 'output buffer' "$WORK/rc/log" "$WORK/redis/log" 2>/dev/null | head -n 20 | sed 's/^/   server log: /' || true
