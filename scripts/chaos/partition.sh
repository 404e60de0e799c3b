#!/usr/bin/env bash
# Cut a random current primary off the other nodes (both ways) through
# busproxy.py's cuts file; restore after DURATION_S. With CHAOS_CUT=bus (the
# default) only the cluster bus is cut: the victim still feeds its replica.
# With CHAOS_CUT=all the replication links to and from it are cut too. Clients
# (from 127.0.0.1) still reach the victim in both modes.
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
# "IP *" (bus), or one "IP OTHER" line per other node (all): lib.sh.
rules=$(chaos_isolate_rules "$victim")
what="from every other node"
[[ $CHAOS_CUT != all ]] || what="from every other node (bus and replication; clients still reach it)"

# Lift exactly our rules (other lines in the file are someone else's).
cut=
heal() {
    { grep -vxF -e "$rules" "$chaos_cuts" || true; } | chaos_cuts_write
    cut=
    local t
    t=$(chaos_now_ms)
    chaos_log "partition: healed $addr"
    chaos_recover_line partition "$addr" "$t"
}
trap 'chaos_sleep_stop; [[ -z $cut ]] || heal' EXIT

t=$(chaos_now_ms)
{ cat "$chaos_cuts" 2>/dev/null || true; echo "$rules"; } | chaos_cuts_write
cut=1
chaos_log "partition: cut $addr (primary of slots $slots) $what for ${duration} s"
chaos_fault_line partition "$addr" "$t" "$slots"
chaos_sleep "$duration"
heal
