#!/usr/bin/env bash
# SIGSTOP a random current primary of the chaos cluster, SIGCONT it after
# DURATION_S: a node that hangs (GC pause, swapped out, VM stall) with its
# sockets open, so peers see silence rather than refused connections.
#
#   scripts/chaos/pause-primary.sh [DURATION_S]  (default 3)
#
# Prints what it does with timestamps, and the machine-readable lines
#   FAULT kind=pause node=IP:PORT t_ms=<unix ms> slots=<ranges>
#   RECOVER kind=pause node=IP:PORT t_ms=<unix ms>
set -euo pipefail
# shellcheck source=scripts/chaos/lib.sh
source "$(dirname "$0")/lib.sh"

duration=${1:-3}
chaos_check_seconds "$duration"
chaos_pick_victim
pid=$(chaos_pid "$victim")

# Never leave the node stopped, however this script ends.
paused=
resume() {
    kill -CONT "$pid" 2>/dev/null || true
    paused=
    local t
    t=$(chaos_now_ms)
    chaos_log "pause: SIGCONT $addr (pid $pid)"
    chaos_recover_line pause "$addr" "$t"
}
trap 'chaos_sleep_stop; [[ -z $paused ]] || resume' EXIT

t=$(chaos_now_ms)
kill -STOP "$pid"
paused=1
chaos_log "pause: SIGSTOP $addr (pid $pid, primary of slots $slots) for ${duration} s"
chaos_fault_line pause "$addr" "$t" "$slots"
chaos_sleep "$duration"
resume
