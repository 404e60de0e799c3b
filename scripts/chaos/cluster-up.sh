#!/usr/bin/env bash
# Start a 3 primaries x 1 replica ringcache cluster whose cluster bus runs
# through busproxy.py, so partition.sh can cut nodes apart (layout: lib.sh).
# With CHAOS_CUT=all the client ports (and so replication) go through it too.
#
#   scripts/chaos/cluster-up.sh
#
# Environment: CHAOS_DIR (/tmp/ringcache-chaos), CHAOS_BASE_PORT (7100),
# NODE_TIMEOUT (1000 ms), RINGCACHE_BIN (target/release/ringcache; never built
# here), CHAOS_PRIMARIES (3), CHAOS_REPLICAS (1), CHAOS_CUT (bus; or all).
# Stop with cluster-down.sh.
set -euo pipefail
# shellcheck source=scripts/chaos/lib.sh
source "$(dirname "$0")/lib.sh"

command -v redis-cli >/dev/null || chaos_die "redis-cli is missing"
[[ -x $RINGCACHE_BIN ]] || chaos_die "$RINGCACHE_BIN is missing (build it first; this script never builds)"
if [[ -d $chaos_cluster_dir ]]; then
    chaos_running && chaos_die "a chaos cluster is already running in $chaos_cluster_dir (run cluster-down.sh)"
    chaos_down # leftovers of a cluster whose proxy died: clear them
fi

# On any failure below, take down whatever was started; on success the
# cluster is the product and stays up.
up_ok=
trap '[[ -n $up_ok ]] || { echo "cluster-up failed; logs were in $chaos_cluster_dir" >&2; chaos_down; }' EXIT

mkdir -p "$chaos_cluster_dir"
cat >"$chaos_cluster_dir/layout" <<LAYOUT
CHAOS_BASE_PORT=$CHAOS_BASE_PORT
NODE_TIMEOUT=$NODE_TIMEOUT
RINGCACHE_BIN=$RINGCACHE_BIN
CHAOS_PRIMARIES=$CHAOS_PRIMARIES
CHAOS_REPLICAS=$CHAOS_REPLICAS
CHAOS_CUT=$CHAOS_CUT
CHAOS_NODE_ARGS=$(printf '%q' "${CHAOS_NODE_ARGS:-}")
LAYOUT
echo "# busproxy cuts: 'IP_A IP_B' or 'IP_A *' per line" | chaos_cuts_write
cp -p "$RINGCACHE_BIN" "$chaos_bin"

chaos_proxy_start
for ((i = 0; i < chaos_n; i++)); do chaos_node_start "$i"; done
for ((i = 0; i < chaos_n; i++)); do
    chaos_wait_ping "$i" 10 || {
        tail -5 "$(chaos_node_dir "$i")/ringcache.log" >&2
        chaos_die "node $(chaos_addr "$i") did not start"
    }
done
mapfile -t addrs < <(chaos_all_addrs)
timeout 60 redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$CHAOS_REPLICAS" --cluster-yes \
    >"$chaos_cluster_dir/create.log" 2>&1 || {
    cat "$chaos_cluster_dir/create.log" >&2
    chaos_die "redis-cli --cluster create failed"
}
why=$(chaos_wait_healthy 30) || chaos_die "cluster not healthy after 30 s: $why"
up_ok=1

chaos_log "chaos cluster up (node timeout ${NODE_TIMEOUT} ms, files in $chaos_cluster_dir, binary: copy of $RINGCACHE_BIN built $(date -r "$chaos_bin" '+%Y-%m-%d %H:%M:%S')):"
for ((i = 0; i < chaos_n; i++)); do
    port=$(chaos_port "$i")
    if [[ $CHAOS_CUT == all ]]; then
        printf '  %-16s client proxy :%d -> real :%d  bus proxy :%d -> real :%d  %s  pid %s\n' "$(chaos_addr "$i")" \
            "$port" "$(chaos_real_port "$i")" $((port + 10000)) $((port + 20000)) "$(chaos_self_role "$i")" "$(chaos_pid "$i")"
    else
        printf '  %-16s bus proxy :%d -> real :%d  %s  pid %s\n' "$(chaos_addr "$i")" \
            $((port + 10000)) $((port + 20000)) "$(chaos_self_role "$i")" "$(chaos_pid "$i")"
    fi
done
[[ $CHAOS_CUT != all ]] || echo "  CHAOS_CUT=all: clients and replication go through busproxy too; partitions cut node pairs only"
