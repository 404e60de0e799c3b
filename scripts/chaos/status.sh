#!/usr/bin/env bash
# Show the chaos cluster: each node's own role and slots, the flags in each
# node's view, the cuts in force, and whether run.sh would call it healthy.
#
#   scripts/chaos/status.sh
set -euo pipefail
# shellcheck source=scripts/chaos/lib.sh
source "$(dirname "$0")/lib.sh"
chaos_require
for ((i = 0; i < chaos_n; i++)); do
    a=$(chaos_addr "$i")
    if ! chaos_alive "$i"; then
        printf '%-16s not running\n' "$a"
        continue
    fi
    state=$(chaos_cli "$i" cluster info | sed -n 's/^cluster_state://p')
    flagged=$(chaos_cli "$i" cluster nodes | awk '$3 ~ /fail|handshake|noaddr/ { printf "%s(%s) ", $2, $3 }')
    read -r role slots < <(chaos_self_role "$i") || role='?' slots='?'
    printf '%-16s pid %-7s %-6s %-22s state %-4s %s\n' "$a" "$(chaos_pid "$i")" \
        "$role" "$slots" "${state:-?}" "${flagged:+sees: $flagged}"
done
echo "cuts: $(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$chaos_cuts" 2>/dev/null | paste -sd';' - || true)"
if why=$(chaos_health); then echo "healthy"; else echo "not healthy: $why"; fi
