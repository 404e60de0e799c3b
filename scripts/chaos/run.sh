#!/usr/bin/env bash
# Failover chaos run: ROUNDS random faults against a proxied 3x1 ringcache
# cluster under a checked write/read workload, then a loss report.
#
#   scripts/chaos/run.sh ROUNDS
#
# Uses the chaos cluster already running in $CHAOS_DIR (left running), else
# starts one with cluster-up.sh (and takes it down at the end). Each round:
# one fault chosen at random (kill-primary.sh, pause-primary.sh, partition.sh),
# then wait until the cluster is healthy again (lib.sh chaos_health: every
# node back and answering, cluster_state:ok everywhere, no fail flags, one
# agreed slot-owner map covering all slots, no cuts), then SETTLE_S of normal
# traffic. A round not healthy within ROUND_TIMEOUT_S of its start ends the
# run (later faults would only measure the earlier one).
#
# After the rounds the checker stops and reads every key back; then, the
# cluster quiet and healthy, digest.sh compares each primary's DEBUG DIGEST
# with its replicas' once their replication offsets match (up to
# CHAOS_DIGEST_S): a line per shard "digest slots=.. primary=IP:PORT/DIGEST
# replica=IP:PORT/DIGEST offsets=P/R equal|DIFFER|UNKNOWN" in the report.
#
# Report: stdout and $CHAOS_DIR/report.txt (+ report.json); logs of the run
# in $CHAOS_DIR/run/ (events, checker log, fault script output, digests) and,
# when this script started the cluster, the node and proxy logs in
# $CHAOS_DIR/logs/.
#
# Exit status: 0 = every round healed, no write acknowledged with WAIT >= 1
# was lost and every replica's digest equals its primary's; 1 = WAIT-
# acknowledged writes were lost (with CHECKER_ARGS=--scripted also: a script's
# writes found torn apart or applied twice); 4 = none lost, but a replica's
# digest differs from its primary's; 3 = none lost and no digest differs but
# the run is incomplete (a round timed out, the run was interrupted, keys
# could not be read back, or digests could not be compared); 2 = setup error.
#
# Environment: ROUND_TIMEOUT_S (60), SETTLE_S (2), KILL_DELAY_S (5), PAUSE_S (3),
# PARTITION_S (5), CHAOS_FAULTS ("kill pause partition": the kinds to draw from),
# CHAOS_SEED (fault-kind order; victims are drawn by the fault scripts),
# CHECKER_ARGS (extra checker.py options, e.g. "--writers 8 --wait-ms 200";
# "--scripted": each write is a Lua script writing three keys of one slot),
# CHAOS_DIGEST_S (30: the digest comparison's time bound; 0 = no comparison),
# CHAOS_KEEP=1 (leave a cluster this script started running), and the cluster
# ones of lib.sh (CHAOS_DIR, CHAOS_BASE_PORT, NODE_TIMEOUT, RINGCACHE_BIN,
# CHAOS_CUT: "bus" (default) or "all", where a partition also cuts replication
# while clients still reach the victim: a split brain, see README.md).
# The whole run is bounded: ROUNDS x ROUND_TIMEOUT_S + 150 s + CHAOS_DIGEST_S + 20 s at most.
set -euo pipefail
# shellcheck source=scripts/chaos/lib.sh
source "$(dirname "$0")/lib.sh"

rounds=${1:-}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
round_timeout=${ROUND_TIMEOUT_S:-60}
settle=${SETTLE_S:-2}
read -r -a kinds <<<"${CHAOS_FAULTS:-kill pause partition}"
for k in "${kinds[@]}"; do
    [[ $k == kill || $k == pause || $k == partition ]] || chaos_die "unknown fault kind '$k' in CHAOS_FAULTS"
done
digest_s=${CHAOS_DIGEST_S:-30}
[[ $digest_s =~ ^[0-9]+$ ]] || chaos_die "CHAOS_DIGEST_S must be whole seconds, got '$digest_s'"
seed=${CHAOS_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$((seed % 32768))
run_dir=$CHAOS_DIR/run
events=$run_dir/events
report=$CHAOS_DIR/report.txt

# ---- processes this script owns, and how they go away ------------------
started_cluster='' checker_pid='' fault_pid='' watchdog_pid='' interrupted=''
# shellcheck disable=SC2329 # invoked by the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    chaos_sleep_stop
    # A fault script undoes its fault in its own EXIT trap (restart, SIGCONT, heal).
    if [[ -n $fault_pid ]] && kill -TERM "$fault_pid" 2>/dev/null; then wait "$fault_pid" 2>/dev/null || true; fi
    if [[ -n $checker_pid ]] && kill -KILL "$checker_pid" 2>/dev/null; then wait "$checker_pid" 2>/dev/null || true; fi
    [[ -z $watchdog_pid ]] || kill "$watchdog_pid" 2>/dev/null || true
    if [[ -n $started_cluster && -z ${CHAOS_KEEP:-} ]]; then
        rm -rf "$CHAOS_DIR/logs"
        mkdir -p "$CHAOS_DIR/logs"
        for d in "$chaos_cluster_dir"/node*; do
            [[ -f $d/ringcache.log ]] && cp "$d/ringcache.log" "$CHAOS_DIR/logs/${d##*/}.log"
        done
        cp "$chaos_cluster_dir/proxy.log" "$CHAOS_DIR/logs/" 2>/dev/null || true
        chaos_down
    fi
    exit "$rc"
}
trap cleanup EXIT
# A signal (Ctrl-C, the watchdog) stops the rounds but still ends with a report.
trap 'interrupted=${interrupted:-signal}' INT TERM

start_s=$SECONDS
overall=$((rounds * round_timeout + 150 + (digest_s > 0 ? digest_s + 20 : 0)))
(
    # Killed by cleanup(): take the sleep along instead of orphaning it.
    sleep "$overall" &
    sleeper=$!
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    wait "$sleeper"
    echo "run.sh: overall time limit of $overall s reached" >&2
    kill -TERM $$
) &
watchdog_pid=$!

rm -rf "$run_dir"
mkdir -p "$run_dir"
: >"$events"

# ---- cluster ----------------------------------------------------------
if chaos_running; then
    chaos_log "using the chaos cluster running in $chaos_cluster_dir"
else
    "$chaos_here/cluster-up.sh"
    started_cluster=1
    # cluster-up.sh wrote the layout: read the cluster's own parameters.
    # shellcheck source=scripts/chaos/lib.sh
    source "$chaos_here/lib.sh"
fi
why=$(chaos_wait_healthy "$round_timeout") || chaos_die "cluster not healthy before the first round: $why"

# ---- workload ---------------------------------------------------------
nodes=$(chaos_all_addrs | paste -sd, -)
# shellcheck disable=SC2086 # CHECKER_ARGS is a list of options
python3 "$chaos_here/checker.py" --nodes "$nodes" --events "$events" --report "$run_dir/checker-report.txt" \
    --ready-file "$run_dir/checker.ready" ${CHECKER_ARGS:-} >"$run_dir/checker.out" 2>"$run_dir/checker.log" &
checker_pid=$!
for _ in $(seq 300); do
    [[ -f $run_dir/checker.ready ]] && break
    kill -0 "$checker_pid" 2>/dev/null || { cat "$run_dir/checker.log" >&2; chaos_die "checker.py exited at start"; }
    sleep 0.1
done
[[ -f $run_dir/checker.ready ]] || chaos_die "checker.py acknowledged no write in 30 s; see $run_dir/checker.log"
chaos_log "workload running (checker pid $checker_pid, log $run_dir/checker.log); seed $seed"
chaos_sleep "$settle"

# ---- rounds -----------------------------------------------------------
# One look for a node other than $victim claiming, by its own CLUSTER NODES,
# to be the primary of slot $vslot; logs a PROMOTED event the first time.
watch_promotion() {
    local j role range lo hi
    for ((j = 0; j < chaos_n; j++)); do
        ((j != victim)) || continue
        role=$(chaos_self_role "$j")
        [[ $role == master\ [0-9]* ]] || continue
        local IFS=,
        for range in ${role#master }; do
            lo=${range%-*} hi=${range#*-}
            if ((lo <= vslot && vslot <= hi)); then
                promoted=$(chaos_addr "$j")
                echo "PROMOTED round=$round node=$promoted t_ms=$(chaos_now_ms)" >>"$events"
                # Shown after the fault script's own lines (printed when it ends).
                promoted_msg=$(chaos_log "round $round: $promoted now claims slot $vslot")
                return 0
            fi
        done
    done
}

done_rounds=0 timed_out=''
for ((round = 1; round <= rounds; round++)); do
    [[ -z $interrupted ]] || break
    kill -0 "$checker_pid" 2>/dev/null || { interrupted="checker.py died (see $run_dir/checker.log)"; break; }
    kind=${kinds[RANDOM % ${#kinds[@]}]}
    case $kind in
        kill) script=kill-primary.sh dur=${KILL_DELAY_S:-5} ;;
        pause) script=pause-primary.sh dur=${PAUSE_S:-3} ;;
        partition) script=partition.sh dur=${PARTITION_S:-5} ;;
    esac
    round_start=$SECONDS
    t=$(chaos_now_ms)
    echo "ROUND n=$round kind=$kind t_ms=$t" >>"$events"
    chaos_log "round $round/$rounds: $script $dur"
    out=$run_dir/round$round.out
    # In the background, so a signal reaches our trap at once; the script is
    # bounded by its duration (plus a 10 s restart wait for kill).
    "$chaos_here/$script" "$dur" >"$out" 2>&1 &
    fault_pid=$!
    # While the fault lasts, watch for another node taking over the victim's
    # slots: the server-side failover time, apart from when clients notice.
    victim='' promoted='' promoted_msg=''
    while kill -0 "$fault_pid" 2>/dev/null; do
        if [[ -n $interrupted ]]; then
            kill -TERM "$fault_pid" 2>/dev/null || true # the script undoes its fault
            break
        fi
        if [[ -z $victim ]] && read -r _ _ vnode _ vslots < <(grep '^FAULT ' "$out" 2>/dev/null); then
            victim=$(chaos_index_of "${vnode#node=}")
            vslot=${vslots#slots=}
            vslot=${vslot%%[-,]*}
        fi
        [[ -z $victim || -n $promoted ]] || watch_promotion
        sleep 0.1
    done
    if wait "$fault_pid"; then fault_rc=0; else fault_rc=$?; fi
    fault_pid=
    sed 's/^/    /' "$out"
    [[ -z $promoted_msg ]] || echo "$promoted_msg"
    grep -E '^(FAULT|RECOVER) ' "$out" >>"$events" || true
    if ((fault_rc != 0)) && [[ -z $interrupted ]]; then
        echo "TIMEOUT round=$round t_ms=$(chaos_now_ms) reason=$script exited with status $fault_rc" >>"$events"
        timed_out="round $round: $script exited with status $fault_rc"
        chaos_log "$timed_out"
        break
    fi
    # Healthy again, within the round's time budget.
    # Checked at least once, even when the fault itself used up the budget.
    healthy='' why=''
    while [[ -z $interrupted ]]; do
        if [[ -n $victim && -z $promoted ]]; then
            watch_promotion
            [[ -z $promoted ]] || echo "$promoted_msg"
        fi
        if why=$(chaos_health); then healthy=1; break; fi
        ((SECONDS - round_start < round_timeout)) || break
        sleep 0.2
    done
    if [[ -z $healthy ]]; then
        [[ -n $interrupted ]] && break
        echo "TIMEOUT round=$round t_ms=$(chaos_now_ms) reason=not healthy ${round_timeout} s after the round started: $why" >>"$events"
        timed_out="round $round: not healthy after ${round_timeout} s: $why"
        chaos_log "$timed_out"
        break
    fi
    t_ok=$(chaos_now_ms)
    echo "HEALED round=$round t_ms=$t_ok" >>"$events"
    fault_t=$(grep '^FAULT ' "$out" | sed -n 's/.*t_ms=\([0-9]*\).*/\1/p')
    chaos_log "round $round: healthy $((t_ok - ${fault_t:-$t})) ms after the fault; primaries now: $(for i in $(chaos_primaries); do printf '%s ' "$(chaos_addr "$i")"; done)"
    done_rounds=$round
    chaos_sleep "$settle"
done

# ---- report -----------------------------------------------------------
chaos_log "stopping the workload (final read-back)"
kill -TERM "$checker_pid" 2>/dev/null || true
checker_rc=
for _ in $(seq 1200); do # read-back is bounded by its own 30 s; allow 120 s
    kill -0 "$checker_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$checker_pid" 2>/dev/null; then
    kill -KILL "$checker_pid" 2>/dev/null || true
    echo "run.sh: checker.py did not finish in 120 s; killed" >&2
fi
if wait "$checker_pid"; then checker_rc=0; else checker_rc=$?; fi
checker_pid=

# Replicas against their primaries, now that no client writes: only on a
# healthy cluster (a round that timed out may have left it otherwise).
digest_rc='' digest_note=''
if ((digest_s == 0)); then
    digest_note="not compared (CHAOS_DIGEST_S=0)"
elif [[ -n $interrupted ]]; then
    digest_note="not compared: the run was interrupted"
elif why=$(chaos_wait_healthy 10); then
    chaos_log "comparing replica digests with their primaries' (up to $digest_s s)"
    if "$chaos_here/digest.sh" "$digest_s" >"$run_dir/digest.txt" 2>&1; then digest_rc=0; else digest_rc=$?; fi
    case $digest_rc in
        0) digest_note="every replica's digest equals its primary's" ;;
        1) digest_note="DIFFER: a replica's digest differs from its primary's" ;;
        *) digest_note="could not compare every shard" ;;
    esac
else
    digest_rc=2 digest_note="not compared: cluster not healthy: $why"
fi

status=$checker_rc
case $checker_rc in
    0 | 1 | 3) ;;
    *) echo "run.sh: checker.py failed (status $checker_rc); see $run_dir/checker.log" >&2; status=2 ;;
esac
incomplete=${timed_out:-$interrupted}
if [[ $status == 0 && -n $incomplete ]]; then status=3; fi
if [[ $digest_rc == 1 && ($status == 0 || $status == 3) ]]; then status=4; fi
if [[ -n $digest_rc && $digest_rc != [01] && $status == 0 ]]; then status=3; fi
{
    echo "== run.sh: $done_rounds of $rounds rounds completed in $((SECONDS - start_s)) s${incomplete:+; stopped early: $incomplete}"
    echo "   node timeout ${NODE_TIMEOUT} ms, round timeout ${round_timeout} s, faults drawn from: ${kinds[*]} (seed $seed)"
    [[ $CHAOS_CUT != all ]] || echo "   CHAOS_CUT=all: clients and replication through the proxy; a partition cuts the victim's bus and replication links, not its clients"
    echo "   binary: copy of $RINGCACHE_BIN taken at cluster-up ($(date -r "$chaos_bin" '+built %Y-%m-%d %H:%M:%S' 2>/dev/null))"
    echo "   final roles: $(for ((i = 0; i < chaos_n; i++)); do printf '%s=%s ' "$(chaos_addr "$i")" "$(chaos_self_role "$i" | cut -d' ' -f1)"; done)"
    echo
    cat "$run_dir/checker-report.txt" 2>/dev/null || echo "(no checker report; see $run_dir/checker.log)"
    echo
    echo "replica digests (DEBUG DIGEST once each replica's offset equals its primary's): $digest_note"
    [[ ! -s $run_dir/digest.txt ]] || sed 's/^/  /' "$run_dir/digest.txt"
    echo
    echo "exit status $status (0 pass, 1 WAIT-acknowledged writes lost or scripts torn, 4 replica digests differ, 3 incomplete, 2 setup/tool error)"
} >"$report"
[[ -f $run_dir/checker-report.json ]] && mv -f "$run_dir/checker-report.json" "${report%.txt}.json"
cat "$report"
exit "$status"
