#!/usr/bin/env bash
# Cut a random current primary off the cluster bus (from every other node,
# both ways) through busproxy.py's cuts file; restore after DURATION_S.
# Clients still reach the victim: only the cluster bus goes through the proxy.
#
#   scripts/chaos/partition.sh [DURATION_S]      (default 5)
#
# Prints what it does with timestamps, and the machine-readable lines
#   FAULT kind=partition node=IP:PORT t_ms=<unix ms> slots=<ranges>
#   RECOVER kind=partition node=IP:PORT t_ms=<unix ms>
set -euo pipefail
# shellcheck source=scripts/chaos/lib.sh
source "$(dirname "$0")/lib.sh"

duration=${1:-5}
chaos_check_seconds "$duration"
chaos_pick_victim
ip=$(chaos_ip "$victim")
rule="$ip *"

# Lift exactly our rule (other lines in the file are someone else's).
cut=
heal() {
    { grep -vxF "$rule" "$chaos_cuts" || true; } | chaos_cuts_write
    cut=
    local t
    t=$(chaos_now_ms)
    chaos_log "partition: healed $addr"
    chaos_recover_line partition "$addr" "$t"
}
trap 'chaos_sleep_stop; [[ -z $cut ]] || heal' EXIT

t=$(chaos_now_ms)
{ cat "$chaos_cuts" 2>/dev/null || true; echo "$rule"; } | chaos_cuts_write
cut=1
chaos_log "partition: cut $addr (primary of slots $slots) from every other node for ${duration} s"
chaos_fault_line partition "$addr" "$t" "$slots"
chaos_sleep "$duration"
heal
