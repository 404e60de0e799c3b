#!/usr/bin/env bash
# BGSAVE under load: ringcache (release build) against Debian's redis-server.
#
#   scripts/bench-bgsave.sh
#
# Each server in turn (pinned to CPU 0, the client to CPU 1) gets BENCH_KEYS keys
# (16-byte names, 32-byte values) with `redis-cli --pipe`. Then redis-benchmark
# (SET and GET over the same key space, 50 clients, pipeline 1) runs twice: once
# alone, once while a sampler starts a new BGSAVE whenever none is running, so
# the whole run overlaps saves. Printed per server: ops/s and p50/p99/max
# latency without and with saving, the saves made, the longest save, and the
# peak extra memory: the largest (RSS - RSS before) of the server plus the
# private dirty memory of a forked save child (Redis), sampled every 50 ms, and
# the largest rdb_last_cow_size the server reported.
# Env: BENCH_KEYS (5000000), BENCH_N (requests per test, 1000000).
set -euo pipefail
cd "$(dirname "$0")/.."

KEYS=${BENCH_KEYS:-5000000}
N=${BENCH_N:-1000000}

source scripts/bench-setup.sh

cli() { redis-cli -h 127.0.0.1 -p "$@"; }
field() { cli "$1" info persistence | awk -F: -v f="$2" '$1 == f { gsub(/\r/, "", $2); print $2 }'; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# Private dirty kB of the server's children (a forked save), 0 without one.
child_dirty_kb() {
    local c total=0 kb
    for c in $(pgrep -P "$1" 2>/dev/null); do
        kb=$(awk '/^Private_Dirty:/ { s += $2 } END { print s + 0 }' "/proc/$c/smaps_rollup" 2>/dev/null || echo 0)
        total=$((total + kb))
    done
    echo "$total"
}

echo "== generating $KEYS keys"
small_keys "$KEYS" >"$WORK/load.resp"

# Starts a BGSAVE whenever none runs, until $WORK/stop exists; records samples.
saver() {
    local port=$1 pid=$2 base=$3 out=$4 peak=0 cow=0 saves=0 longest=0 extra c t
    while [[ ! -e $WORK/stop ]]; do
        if [[ $(field "$port" rdb_bgsave_in_progress) == 0 ]]; then
            c=$(field "$port" rdb_last_cow_size)
            t=$(field "$port" rdb_last_bgsave_time_sec)
            ((c > cow)) && cow=$c
            ((t > longest)) && longest=$t
            cli "$port" bgsave >/dev/null
            saves=$((saves + 1))
        fi
        extra=$(($(rss_kb "$pid") - base + $(child_dirty_kb "$pid")))
        ((extra > peak)) && peak=$extra
        sleep 0.05
    done
    while [[ $(field "$port" rdb_bgsave_in_progress) != 0 ]]; do sleep 0.1; done
    c=$(field "$port" rdb_last_cow_size)
    t=$(field "$port" rdb_last_bgsave_time_sec)
    ((c > cow)) && cow=$c
    ((t > longest)) && longest=$t
    echo "$saves $longest $peak $cow" >"$out"
}

for s in ringcache redis; do
    port=$(free_port)
    start_server "$s" "$port" "$WORK/$s"
    pid=$SERVER_PID
    wait_ready "$port"
    echo "== $s: loading $KEYS keys"
    summary=$(cli "$port" --pipe <"$WORK/load.resp" | tail -n1)
    [[ $summary == *"errors: 0, replies: $KEYS"* ]] || echo "load into $s: $summary" >&2
    echo "== $s: benchmark without saving"
    "${CLIENT_CPU[@]}" redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -d 32 -r "$KEYS" -n "$N" \
        -t set,get --csv >"$WORK/$s-quiet.csv" 2>/dev/null
    base=$(rss_kb "$pid")
    rm -f "$WORK/stop"
    "${CLIENT_CPU[@]}" bash -c "$(declare -f saver field cli rss_kb child_dirty_kb); WORK=$WORK; saver $port $pid $base $WORK/$s-saves" &
    saver_pid=$!
    echo "== $s: benchmark while saving"
    "${CLIENT_CPU[@]}" redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -d 32 -r "$KEYS" -n "$N" \
        -t set,get --csv >"$WORK/$s-saving.csv" 2>/dev/null
    touch "$WORK/stop"
    wait "$saver_pid"
    echo "$(cli "$port" dbsize) keys, $(cli "$port" info memory | awk -F: '/^used_memory_human:/ { print $2 }')" \
        >"$WORK/$s-size"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
done

python3 - "$WORK" "$KEYS" <<'EOF'
import csv, os, sys

work, keys = sys.argv[1], int(sys.argv[2])

def rows(path):
    with open(path, newline="") as f:
        return {r["test"]: r for r in csv.DictReader(f)}

print(f"\nBGSAVE under load: {keys:,} keys, redis-benchmark -c 50 -P 1, SET and GET over the keys")
hdr = f"{'server':<10} {'test':<5} {'ops/s quiet':>12} {'ops/s saving':>13} {'p50 q/s ms':>12} {'p99 quiet':>10} {'p99 saving':>11} {'max saving':>11}"
print(hdr)
print("-" * len(hdr))
for s in ("ringcache", "redis"):
    q, d = rows(os.path.join(work, f"{s}-quiet.csv")), rows(os.path.join(work, f"{s}-saving.csv"))
    for t in ("SET", "GET"):
        a, b = q[t], d[t]
        print(f"{s:<10} {t:<5} {float(a['rps']):>12,.0f} {float(b['rps']):>13,.0f} "
              f"{a['p50_latency_ms'] + '/' + b['p50_latency_ms']:>12} {a['p99_latency_ms']:>10} "
              f"{b['p99_latency_ms']:>11} {b['max_latency_ms']:>11}")
print()
print(f"{'server':<10} {'saves':>6} {'longest s':>10} {'peak extra MB':>14} {'max rdb_last_cow_size MB':>25}   dataset")
for s in ("ringcache", "redis"):
    saves, longest, peak_kb, cow = open(os.path.join(work, f"{s}-saves")).read().split()
    size = open(os.path.join(work, f"{s}-size")).read().strip()
    print(f"{s:<10} {saves:>6} {longest:>10} {int(peak_kb) / 1024:>14.1f} {int(cow) / 2**20:>25.1f}   {size}")
EOF
