#!/usr/bin/env bash
# Read-through hit ratio, side by side: redis-server's allkeys-lru and
# allkeys-lfu against ringcache's allkeys-lru, allkeys-lfu and allkeys-tinylfu,
# each at maxmemory 32mb over 500,000 keys of 512-byte values, driven by
# examples/hit_ratio.rs (GET, on a miss SET; one connection, pipelined).
#
#   scripts/hit-ratio.sh
#
# Workloads: zipf-0.99, zipf-0.8, and scan (half the requests a one-pass scan
# of keys never asked for before, half Zipf 0.99). Every run starts a fresh
# server (pinned to CPU 0, the driver to CPU 1 when there are two), warms up
# with HR_WARMUP requests, then measures HR_REQUESTS more of the same seeded
# stream. The table gives hits / requests of the measured phase; for scan the
# second figure is the hit ratio of its Zipf half (the scan never hits), and
# `keys` is what each server held at the end (its memory per key, not the
# policy, decides it). Env: HR_WARMUP (1000000), HR_REQUESTS (2000000),
# HR_SEED (42), HR_PORT (36411), HR_WORKLOADS ("zipf-0.99 zipf-0.8 scan").
# About 10 minutes on two busy cores; HR_WARMUP=1500000 HR_REQUESTS=2500000
# took 16.
set -euo pipefail
cd "$(dirname "$0")/.."

WARMUP=${HR_WARMUP:-1000000}
REQUESTS=${HR_REQUESTS:-2000000}
SEED=${HR_SEED:-42}
PORT=${HR_PORT:-36411}
WORKLOADS=${HR_WORKLOADS:-"zipf-0.99 zipf-0.8 scan"}
TARGET=${CARGO_TARGET_DIR:-target}
CLIENT=$TARGET/release/examples/hit_ratio
RC_BIN=$TARGET/release/ringcache
COLUMNS=("redis allkeys-lru" "redis allkeys-lfu" "ringcache allkeys-lru" "ringcache allkeys-lfu" "ringcache allkeys-tinylfu")

command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 1; }
echo "== building ringcache and the driver (release)"
cargo build --release -q --bin ringcache --example hit_ratio

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

SERVER_CPU=()
CLIENT_CPU=()
if command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then
    SERVER_CPU=(taskset -c 0)
    CLIENT_CPU=(taskset -c 1)
fi

# run KIND POLICY WORKLOAD: one fresh server, one driver run; prints the
# driver's line.
run() {
    local kind=$1 policy=$2 workload=$3 dir
    dir=$(mktemp -d "$WORK/run.XXXX")
    if [[ $kind == ringcache ]]; then
        "${SERVER_CPU[@]}" "$RC_BIN" --bind 127.0.0.1 --port "$PORT" --dir "$dir" --save '' \
            --maxmemory 32mb --maxmemory-policy "$policy" >"$dir/log" 2>&1 &
    else
        "${SERVER_CPU[@]}" redis-server --bind 127.0.0.1 --port "$PORT" --dir "$dir" --save '' \
            --appendonly no --logfile "$dir/log" --maxmemory 32mb --maxmemory-policy "$policy" &
    fi
    SERVER_PID=$!
    local i
    for i in $(seq 200); do
        [[ $(redis-cli -p "$PORT" ping 2>/dev/null) == PONG ]] && break
        sleep 0.05
    done
    "${CLIENT_CPU[@]}" "$CLIENT" --port "$PORT" --workload "$workload" --warmup "$WARMUP" \
        --requests "$REQUESTS" --seed "$SEED"
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

declare -A RATIO ZIPF KEYS
started=$SECONDS
for w in $WORKLOADS; do
    for col in "${COLUMNS[@]}"; do
        read -r kind policy <<<"$col"
        line=$(run "$kind" "$policy" "$w")
        echo "   $w $kind $policy: $line"
        RATIO[$w,$col]=$(field ratio "$line")
        ZIPF[$w,$col]=$(field zipf_ratio "$line")
        KEYS[$w,$col]=$(field keys "$line")
    done
done

echo
echo "Read-through hit ratio, maxmemory 32mb, 500,000 keys x 512 B, warm-up $WARMUP + measured $REQUESTS requests, seed $SEED ($((SECONDS - started)) s)"
echo
printf '| workload | Redis LRU | Redis LFU | ringcache LRU | ringcache LFU | ringcache TinyLFU | TinyLFU - best Redis |\n'
printf '|---|---|---|---|---|---|---|\n'
for w in $WORKLOADS; do
    row="| $w"
    for col in "${COLUMNS[@]}"; do
        cell=${RATIO[$w,$col]}
        [[ $w == scan ]] && cell="$cell (zipf half ${ZIPF[$w,$col]})"
        row="$row | $cell"
    done
    best=$(python3 -c "print(max(${RATIO[$w,redis allkeys-lru]}, ${RATIO[$w,redis allkeys-lfu]}))")
    gap=$(python3 -c "print(f'{(${RATIO[$w,ringcache allkeys-tinylfu]} - $best) * 100:+.1f} points')")
    if [[ $w == scan ]]; then
        zbest=$(python3 -c "print(max(${ZIPF[$w,redis allkeys-lru]}, ${ZIPF[$w,redis allkeys-lfu]}))")
        gap="$gap ($(python3 -c "print(f'{(${ZIPF[$w,ringcache allkeys-tinylfu]} - $zbest) * 100:+.1f}')") on the zipf half)"
    fi
    echo "$row | $gap |"
done
echo
printf '| keys held at the end | Redis LRU | Redis LFU | ringcache LRU | ringcache LFU | ringcache TinyLFU |\n'
printf '|---|---|---|---|---|---|\n'
for w in $WORKLOADS; do
    row="| $w"
    for col in "${COLUMNS[@]}"; do row="$row | ${KEYS[$w,$col]}"; done
    echo "$row |"
done
