#!/usr/bin/env bash
# SIGKILL a random current primary of the chaos cluster, restart it with the
# same flags and --dir (same nodes.conf, so the same node id) after DELAY_S.
#
#   scripts/chaos/kill-primary.sh [DELAY_S]      (default 5)
#
# Prints what it does with timestamps, and the machine-readable lines
#   FAULT kind=kill node=IP:PORT t_ms=<unix ms> slots=<ranges>
#   RECOVER kind=kill node=IP:PORT t_ms=<unix ms>
# Exits 0 once the node is restarted and answers PING (10 s per try, 3 tries).
set -euo pipefail
# shellcheck source=scripts/chaos/lib.sh
source "$(dirname "$0")/lib.sh"

delay=${1:-5}
chaos_check_seconds "$delay"
chaos_pick_victim
pid=$(chaos_pid "$victim")

# Whatever stops this script (timeout, Ctrl-C), the victim must come back:
# a node left dead would fail every later round for the wrong reason.
killed='' restarted=''
restart() {
    local t attempt
    restarted=1
    for attempt in 1 2 3; do
        t=$(chaos_now_ms)
        chaos_node_start "$victim"
        chaos_log "kill: restarted $addr (pid $(chaos_pid "$victim"))"
        if chaos_wait_ping "$victim" 10; then
            chaos_recover_line kill "$addr" "$t"
            chaos_log "kill: $addr answers PING"
            return 0
        fi
        # Died at start (or hangs): show why, and try again.
        chaos_log "kill: $addr not answering after restart $attempt: $(tail -1 "$(chaos_node_dir "$victim")/ringcache.log")" >&2
        chaos_pid_gone "$(chaos_pid "$victim")" || kill -KILL "$(chaos_pid "$victim")" 2>/dev/null || true
        sleep 1
    done
    return 1
}
trap 'chaos_sleep_stop; [[ -z $killed || -n $restarted ]] || restart' EXIT

t=$(chaos_now_ms)
kill -KILL "$pid"
killed=1
chaos_log "kill: SIGKILL $addr (pid $pid, primary of slots $slots); restart in ${delay} s"
chaos_fault_line kill "$addr" "$t" "$slots"
for _ in $(seq 100); do chaos_pid_gone "$pid" && break; sleep 0.05; done
chaos_pid_gone "$pid" || chaos_die "pid $pid still there 5 s after SIGKILL"
chaos_sleep "$delay"
restart
