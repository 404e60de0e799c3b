#!/usr/bin/env bash
# Throughput, latency and memory: ringcache (release build) against Debian's
# redis-server, same settings, both on 127.0.0.1.
#
#   scripts/bench.sh
#
# Servers are pinned to CPU 0 and redis-benchmark to CPU 1. The string rows (SET GET
# INCR MSET) and the collection rows (LPUSH RPUSH LPOP RPOP SADD HSET SPOP ZADD
# ZPOPMIN LRANGE_100 LRANGE_600) run at pipeline 1 and 16 (50 clients, 64-byte
# values, 100000-key space), alternating the two servers 3 times; tables show the
# median of the 3 runs. Then 1,000,000 keys (16-byte names, 32-byte values) are
# loaded into each with `redis-cli --pipe` and used_memory (INFO memory), VmRSS
# and bytes per key are printed; then the same for collections (bytes per element:
# small hashes of 10 fields, one large hash, one large sorted set, one large list,
# sets of 3 members). Rows MGET (10 keys), EVALSHA (a 3-command script), XADD
# and XREADGROUP run the same way with redis-benchmark's custom-command mode.
# Env: BENCH_ROUNDS (3), BENCH_N1 (requests at pipeline 1, 100000),
# BENCH_N16 (requests at pipeline 16, 500000), BENCH_KEYS (1000000),
# BENCH_TESTS (the redis-benchmark -t list), BENCH_ELEMENTS (elements per
# collection scenario, 1000000; 0 skips the collection memory table).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${BENCH_ROUNDS:-3}
N1=${BENCH_N1:-100000}
N16=${BENCH_N16:-500000}
KEYS=${BENCH_KEYS:-1000000}
TESTS=${BENCH_TESTS:-set,get,incr,mset,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,lrange_600}
ELEMENTS=${BENCH_ELEMENTS:-1000000}

source scripts/bench-setup.sh

RC_PORT=$(free_port)
start_server ringcache "$RC_PORT" "$WORK/rc"
RC_PID=$SERVER_PID
REDIS_PORT=$(free_port)
start_server redis "$REDIS_PORT" "$WORK/redis"
REDIS_PID=$SERVER_PID
wait_ready "$RC_PORT"
wait_ready "$REDIS_PORT"
echo "== ringcache pid $RC_PID port $RC_PORT; redis-server $(redis-server --version | awk '{print $3}') pid $REDIS_PID port $REDIS_PORT"

# bench NAME PORT PIPELINE ROUND: one redis-benchmark run, CSV saved per run.
bench() {
    local name=$1 port=$2 pipe=$3 round=$4 n=$N1
    [[ $pipe -eq 1 ]] || n=$N16
    redis-cli -h 127.0.0.1 -p "$port" flushall >/dev/null
    "${CLIENT_CPU[@]}" redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -P "$pipe" -d 64 \
        -r 100000 -n "$n" -t "$TESTS" --csv 2>"$WORK/bench.err" \
        >"$WORK/$name-P$pipe-r$round.csv"
}

# custom NAME PORT PIPE ROUND LABEL N COMMAND...: one redis-benchmark run of
# COMMAND, its CSV row renamed LABEL.
custom() {
    local name=$1 port=$2 pipe=$3 round=$4 label=$5 n=$6
    shift 6
    "${CLIENT_CPU[@]}" redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -P "$pipe" -r 100000 \
        -n "$n" --csv "$@" 2>>"$WORK/bench.err" |
        sed "2,\$ s/^\"[^\"]*\"/\"$label\"/" >"$WORK/$name-P$pipe-r$round-$label.csv"
}

# MGET of 10 random keys, over the keys the SET/MSET rows just wrote (the
# issue's MGET 10 row; redis-benchmark has no built-in one).
mget_row() {
    local name=$1 port=$2 pipe=$3 round=$4 n=$N1
    [[ $pipe -eq 1 ]] || n=$N16
    local keys=()
    for _ in $(seq 10); do keys+=("key:__rand_int__"); done
    custom "$name" "$port" "$pipe" "$round" "MGET (10 keys)" "$n" mget "${keys[@]}"
}

# The scripting and stream rows: EVALSHA of a 3-command script (INCR, EXPIRE,
# GET of a random key), XADD to one stream, then XREADGROUP of those entries
# one at a time by one consumer group.
SCRIPT='redis.call("INCR", KEYS[1]) redis.call("EXPIRE", KEYS[1], 100) return redis.call("GET", KEYS[1])'
scripted() {
    local name=$1 port=$2 pipe=$3 round=$4 n=$N1
    [[ $pipe -eq 1 ]] || n=$N16
    local cli=(redis-cli -h 127.0.0.1 -p "$port")
    "${cli[@]}" flushall >/dev/null
    local sha
    sha=$("${cli[@]}" script load "$SCRIPT")
    custom "$name" "$port" "$pipe" "$round" EVALSHA "$n" evalsha "$sha" 1 "key:__rand_int__"
    custom "$name" "$port" "$pipe" "$round" XADD "$n" xadd bench:stream '*' field value
    "${cli[@]}" xgroup create bench:stream g 0 >/dev/null
    custom "$name" "$port" "$pipe" "$round" XREADGROUP "$n" \
        xreadgroup group g c count 1 streams bench:stream '>'
}

for round in $(seq "$ROUNDS"); do
    for pipe in 1 16; do
        echo "== round $round/$ROUNDS, pipeline $pipe"
        bench ringcache "$RC_PORT" "$pipe" "$round"
        bench redis "$REDIS_PORT" "$pipe" "$round"
        mget_row ringcache "$RC_PORT" "$pipe" "$round"
        mget_row redis "$REDIS_PORT" "$pipe" "$round"
        scripted ringcache "$RC_PORT" "$pipe" "$round"
        scripted redis "$REDIS_PORT" "$pipe" "$round"
    done
done

python3 - "$WORK" "$ROUNDS" <<'EOF'
import csv, glob, os, statistics, sys

work, rounds = sys.argv[1], int(sys.argv[2])
data = {}  # (server, pipeline, test) -> list of rows
for path in glob.glob(os.path.join(work, "*-P*-r*.csv")):
    server, rest = os.path.basename(path).split("-P", 1)
    pipe = int(rest.split("-r", 1)[0])
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            data.setdefault((server, pipe, row["test"]), []).append(row)

def med(rows, col):
    vals = [float(r[col]) for r in rows if r.get(col) not in (None, "")]
    return statistics.median(vals) if vals else float("nan")

order = ["SET", "GET", "INCR", "MGET (10 keys)", "MSET (10 keys)", "EVALSHA", "XADD", "XREADGROUP"]
tests = sorted({t for (_, _, t) in data}, key=lambda t: (order.index(t) if t in order else len(order), t))
print(f"\nThroughput (median of {rounds}; latency in ms, p50/p99)")
hdr = f"{'test':<16}{'P':>3} {'ringcache ops/s':>16} {'redis ops/s':>14} {'ratio':>6}   {'ringcache p50/p99':>18}   {'redis p50/p99':>15}"
print(hdr)
print("-" * len(hdr))
for pipe in (1, 16):
    for t in tests:
        rc, rd = data.get(("ringcache", pipe, t), []), data.get(("redis", pipe, t), [])
        if not rc or not rd:
            continue
        a, b = med(rc, "rps"), med(rd, "rps")
        lat = lambda rows: f"{med(rows, 'p50_latency_ms'):.3f}/{med(rows, 'p99_latency_ms'):.3f}"
        print(f"{t:<16}{pipe:>3} {a:>16,.0f} {b:>14,.0f} {a / b:>6.2f}   {lat(rc):>18}   {lat(rd):>15}")
EOF

small_keys "$KEYS" >"$WORK/load.resp"

used_memory() {
    redis-cli -h 127.0.0.1 -p "$1" info memory 2>/dev/null |
        awk -F: '/^used_memory:/ { gsub(/\r/, "", $2); print $2 }'
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

echo
echo "Memory: $KEYS keys, 16-byte names, 32-byte values"
printf '%-10s %16s %16s %14s %14s %12s\n' server used_memory_before used_memory_after rss_before_kb rss_after_kb bytes/key
for s in ringcache redis; do
    if [[ $s == ringcache ]]; then port=$RC_PORT pid=$RC_PID; else port=$REDIS_PORT pid=$REDIS_PID; fi
    redis-cli -h 127.0.0.1 -p "$port" flushall >/dev/null
    before=$(used_memory "$port")
    rss0=$(rss_kb "$pid")
    summary=$(redis-cli -h 127.0.0.1 -p "$port" --pipe <"$WORK/load.resp" | tail -n1)
    [[ $summary == *"errors: 0, replies: $KEYS"* ]] || echo "load into $s: $summary" >&2
    dbsize=$(redis-cli -h 127.0.0.1 -p "$port" dbsize)
    after=$(used_memory "$port")
    rss1=$(rss_kb "$pid")
    if [[ -n $before && -n $after ]]; then
        per=$(awk -v a="$after" -v b="$before" -v n="$KEYS" 'BEGIN { printf "%.1f", (a - b) / n }')
    else
        # No INFO memory: fall back to the RSS delta.
        per="$(awk -v a="$rss1" -v b="$rss0" -v n="$KEYS" 'BEGIN { printf "%.1f", (a - b) * 1024 / n }') (rss)"
        before=n/a after=n/a
    fi
    printf '%-10s %16s %16s %14s %14s %12s   dbsize %s\n' "$s" "$before" "$after" "$rss0" "$rss1" "$per" "$dbsize"
done

[[ $ELEMENTS -gt 0 ]] || exit 0
echo
echo "Memory per element: used_memory delta / elements ($ELEMENTS elements per scenario)"
printf '%-34s %14s %14s %7s\n' scenario ringcache_B/el redis_B/el ratio
for scenario in small-hashes big-hash big-zset big-list small-sets; do
    collection_load "$scenario" "$ELEMENTS" >"$WORK/load.resp"
    line=$(printf '%-34s' "$scenario")
    declare -A per=()
    for s in ringcache redis; do
        if [[ $s == ringcache ]]; then port=$RC_PORT; else port=$REDIS_PORT; fi
        redis-cli -h 127.0.0.1 -p "$port" flushall >/dev/null
        before=$(used_memory "$port")
        summary=$(redis-cli -h 127.0.0.1 -p "$port" --pipe <"$WORK/load.resp" | tail -n1)
        [[ $summary == *"errors: 0,"* ]] || echo "load $scenario into $s: $summary" >&2
        after=$(used_memory "$port")
        per[$s]=$(awk -v a="$after" -v b="$before" -v n="$ELEMENTS" 'BEGIN { printf "%.1f", (a - b) / n }')
        redis-cli -h 127.0.0.1 -p "$port" flushall >/dev/null
    done
    ratio=$(awk -v a="${per[ringcache]}" -v b="${per[redis]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    printf '%s %14s %14s %7s\n' "$line" "${per[ringcache]}" "${per[redis]}" "$ratio"
    unset per
done
