#!/usr/bin/env bash
# False-failover soak: SOAK_S seconds (default 1800) of a fully loaded machine
# with no fault at all. A 3x1 chaos cluster (cluster-up.sh, node timeout 1 s)
# serves redis-benchmark --cluster (SET/GET, 50 clients, pipeline 16, looping
# until the time is up) and the chaos checker's workload at once, so both
# cores are saturated; then the checker reads everything back.
#
#   scripts/chaos/soak.sh
#
# Report ($CHAOS_DIR/soak.txt and stdout): the seconds run, the CPU the
# machine used meanwhile (in cores), failovers (promotions in the node logs),
# nodes ever marked FAIL (and PFAIL suspicions, reported only), and the
# checker's CLUSTERDOWN replies and lost writes. Exit status: 0 when there were no failover, no FAIL mark, no
# CLUSTERDOWN reply and no lost write; 1 otherwise; 2 setup error.
# Environment: SOAK_S (1800), BENCH_CLIENTS (50), BENCH_PIPELINE (16), and
# the cluster ones of lib.sh (CHAOS_DIR, CHAOS_BASE_PORT, NODE_TIMEOUT, ...).
set -euo pipefail
# shellcheck source=scripts/chaos/lib.sh
source "$(dirname "$0")/lib.sh"

soak=${SOAK_S:-1800}
[[ $soak =~ ^[1-9][0-9]*$ ]] || chaos_die "SOAK_S must be whole seconds"
command -v redis-benchmark >/dev/null || chaos_die "redis-benchmark is required (apt-get install redis-tools)"
run_dir=$CHAOS_DIR/soak
report=$CHAOS_DIR/soak.txt
rm -rf "$run_dir"
mkdir -p "$run_dir"

checker_pid='' bench_pid='' started=''
cleanup() {
    trap - EXIT INT TERM
    [[ -z $bench_pid ]] || kill -- -"$bench_pid" 2>/dev/null || kill "$bench_pid" 2>/dev/null || true
    [[ -z $checker_pid ]] || kill -KILL "$checker_pid" 2>/dev/null || true
    [[ -z $started || -n ${CHAOS_KEEP:-} ]] || chaos_down
}
trap cleanup EXIT INT TERM

if ! chaos_running; then
    "$chaos_here/cluster-up.sh"
    started=1
    # shellcheck source=scripts/chaos/lib.sh
    source "$chaos_here/lib.sh"
fi
why=$(chaos_wait_healthy 60) || chaos_die "cluster not healthy: $why"
cpu_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
logs_count() { cat "$chaos_cluster_dir"/node*/ringcache.log 2>/dev/null | grep -c "$1" || true; }
promoted_before=$(logs_count "promoted by the cluster")
fail_before=$(logs_count "as failing")
pfail_before=$(logs_count "possibly failing")

nodes=$(chaos_all_addrs | paste -sd, -)
python3 "$chaos_here/checker.py" --nodes "$nodes" --events "$run_dir/events" \
    --report "$run_dir/checker-report.txt" --ready-file "$run_dir/checker.ready" \
    >"$run_dir/checker.out" 2>"$run_dir/checker.log" &
checker_pid=$!
: >"$run_dir/events"
for _ in $(seq 300); do
    [[ -f $run_dir/checker.ready ]] && break
    sleep 0.1
done
[[ -f $run_dir/checker.ready ]] || chaos_die "checker.py acknowledged no write in 30 s"

first=$(chaos_addr 0)
setsid bash -c "
    end=\$((SECONDS + $soak))
    while (( SECONDS < end )); do
        timeout \$((end - SECONDS)) redis-benchmark --cluster -h ${first%:*} -p ${first#*:} \
            -c ${BENCH_CLIENTS:-50} -P ${BENCH_PIPELINE:-16} -r 100000 -n 100000000 -t set,get -q \
            >/dev/null 2>&1 || true
    done" &
bench_pid=$!
chaos_log "soak: ${soak}s of redis-benchmark --cluster and the checker, no faults"
busy0=$(cpu_busy) t0=$(date +%s)
sleep "$soak"
busy1=$(cpu_busy) t1=$(date +%s)
kill -- -"$bench_pid" 2>/dev/null || true
bench_pid=''
kill -TERM "$checker_pid" 2>/dev/null || true
for _ in $(seq 1200); do kill -0 "$checker_pid" 2>/dev/null || break; sleep 0.1; done
wait "$checker_pid" 2>/dev/null || true
checker_pid=''

hz=$(getconf CLK_TCK)
cores=$(awk -v b="$((busy1 - busy0))" -v s="$((t1 - t0))" -v hz="$hz" 'BEGIN { printf "%.2f", b / hz / s }')
promotions=$(($(logs_count "promoted by the cluster") - promoted_before))
fails=$(($(logs_count "as failing") - fail_before))
pfails=$(($(logs_count "possibly failing") - pfail_before))
clusterdown=$(awk '$1 == "CLUSTERDOWN" { n += $2 + $3 + $4 + $5 } END { print n + 0 }' "$run_dir/checker-report.txt")
lost=$(awk '/acknowledged writes lost/ { n += $(NF - 3) } END { print n + 0 }' "$run_dir/checker-report.txt")
{
    echo "soak: $((t1 - t0)) s, machine CPU busy $cores cores of $(nproc)"
    echo "  failovers (promotions)   $promotions"
    echo "  nodes marked FAIL        $fails"
    echo "  PFAIL suspicions         $pfails (a node's own, not agreed)"
    echo "  CLUSTERDOWN replies      $clusterdown"
    echo "  acknowledged writes lost $lost"
} | tee "$report"
((promotions == 0 && fails == 0 && clusterdown == 0 && lost == 0))
