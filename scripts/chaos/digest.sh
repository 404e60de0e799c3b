#!/usr/bin/env bash
# Compare the DEBUG DIGEST of every primary of the chaos cluster with its
# replicas', once they have caught up. Meant for a quiet cluster (no client
# writes), e.g. run.sh after its last round healed and the checker stopped.
#
#   scripts/chaos/digest.sh [TIMEOUT_S]
#
# For each node that serves slots by its own CLUSTER NODES (a primary), its
# replicas are the nodes that primary lists as replicas of itself. A shard is
# settled once every replica reports master_link_status:up to that primary,
# slave_repl_offset equal to the primary's master_repl_offset, and the same
# DEBUG DIGEST (the primary's offset unchanged across the digests). Until
# TIMEOUT_S (30) has passed, an unsettled shard is looked at again every
# 0.2 s (a replica still catching up, or a replication PING in flight); at
# the deadline the last digests decide. One line per shard:
#   digest slots=RANGES primary=IP:PORT/DIGEST replica=IP:PORT/DIGEST offsets=P/R equal|DIFFER|UNKNOWN (why)
# UNKNOWN: a digest could not be taken (no answer) or the primary has fewer
# than CHAOS_REPLICAS replicas; DIFFER: digests differ at the deadline.
# Exit status: 0 every shard equal, 1 some shard DIFFER, 2 some UNKNOWN (and
# none DIFFER) or no primary found.
set -euo pipefail
# shellcheck source=scripts/chaos/lib.sh
source "$(dirname "$0")/lib.sh"
chaos_require

timeout_s=${1:-30}
[[ $timeout_s =~ ^[0-9]+$ ]] || chaos_die "TIMEOUT_S must be whole seconds, got '$timeout_s'"
deadline=$((SECONDS + timeout_s))

# One field of node i's INFO replication (empty if no answer).
repl_field() { chaos_cli "$1" info replication | sed -n "s/^$2://p"; }

mapfile -t prims < <(chaos_primaries)
((${#prims[@]} > 0)) || { echo "digest: no node reports itself as a primary serving slots"; exit 2; }

# Per primary: its slots, and its replicas' indexes (space-separated).
declare -A slots_of reps_of line_of settled
for p in "${prims[@]}"; do
    slots_of[$p]=$(chaos_self_role "$p" | cut -d' ' -f2)
    nodes=$(chaos_cli "$p" cluster nodes)
    pid=$(awk '$3 ~ /myself/ { print $1 }' <<<"$nodes")
    reps=''
    while read -r addr; do
        [[ -n $addr ]] && reps+="$(chaos_index_of "$addr") "
    done < <(awk -v id="$pid" '$3 ~ /slave/ && $4 == id { sub(/@.*/, "", $2); print $2 }' <<<"$nodes")
    reps_of[$p]=$reps
done

# One look at shard p: sets line_of[p] and, when it is settled (equal with
# caught-up offsets), settled[p]. $2 = "final": the deadline, decide now.
look() {
    local p=$1 final=${2:-} r off roff link host dp dr off2 text state='' why='' all_caught=1
    local -a reps
    read -r -a reps <<<"${reps_of[$p]}"
    off=$(repl_field "$p" master_repl_offset)
    dp=$(chaos_cli "$p" debug digest)
    text="digest slots=${slots_of[$p]} primary=$(chaos_addr "$p")/${dp:-?}"
    [[ -n $dp ]] || state=UNKNOWN why="no digest from the primary"
    ((${#reps[@]} >= CHAOS_REPLICAS)) || { state=UNKNOWN; why="${#reps[@]} replicas, want $CHAOS_REPLICAS"; }
    local offs=''
    for r in "${reps[@]}"; do
        roff=$(repl_field "$r" slave_repl_offset)
        link=$(repl_field "$r" master_link_status)
        host="$(repl_field "$r" master_host):$(repl_field "$r" master_port)"
        dr=$(chaos_cli "$r" debug digest)
        text+=" replica=$(chaos_addr "$r")/${dr:-?}"
        offs+="${offs:+,}${roff:-?}"
        if [[ $host != "$(chaos_addr "$p")" || $link != up || -z $off || $roff != "$off" ]]; then
            all_caught=''
            why="${why:-$(chaos_addr "$r"): link ${link:-?} to $host, offset ${roff:-?} of ${off:-?}}"
        fi
        if [[ -z $dr ]]; then
            state=UNKNOWN why="no digest from $(chaos_addr "$r")"
        elif [[ -n $dp && $dr != "$dp" && $state != UNKNOWN ]]; then
            state=DIFFER
        fi
    done
    text+=" offsets=${off:-?}/${offs:--}"
    off2=$(repl_field "$p" master_repl_offset)
    [[ $off2 == "$off" ]] || { all_caught=''; why="${why:-primary offset moved from $off to $off2 meanwhile}"; }
    if [[ -z $state && -n $all_caught ]]; then
        settled[$p]=1
        line_of[$p]="$text equal"
        return
    fi
    [[ -n $final ]] || return 0
    [[ -n $state ]] || state=equal
    line_of[$p]="$text $state${why:+ ($why)}"
}

while true; do
    pending=0
    for p in "${prims[@]}"; do
        [[ -n ${settled[$p]:-} ]] || { look "$p"; [[ -n ${settled[$p]:-} ]] || pending=1; }
    done
    ((pending)) || break
    if ((SECONDS >= deadline)); then
        for p in "${prims[@]}"; do [[ -n ${settled[$p]:-} ]] || look "$p" final; done
        break
    fi
    sleep 0.2
done

rc=0
for p in "${prims[@]}"; do
    echo "${line_of[$p]}"
    case ${line_of[$p]} in
        *" DIFFER"*) rc=1 ;;
        *" UNKNOWN"*) ((rc == 1)) || rc=2 ;;
    esac
done
exit "$rc"
