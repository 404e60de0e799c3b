# shellcheck shell=bash
# Shared layout and helpers for the failover chaos scripts; sourced, not run.
#
# Layout (N = 6 nodes, 3 primaries x 1 replica; i = 0..5):
#   node i         IP 127.0.0.(11+i), client port BASE+i  (BASE = CHAOS_BASE_PORT, 7100)
#   cluster bus    proxy  IP:BASE+i+10000  (announced with --cluster-announce-bus-port)
#                  real   IP:BASE+i+20000  (--cluster-port; only the proxy connects here)
#   busproxy.py    one process for all nodes, cuts from $CHAOS_DIR/cluster/cuts
#   files          $CHAOS_DIR/cluster/node<i>/{nodes.conf,ringcache.log,pid}
#                  $CHAOS_DIR/cluster/{proxy.pid,proxy.log,cuts,layout}
#                  $CHAOS_DIR/cluster/ringcache: a copy of RINGCACHE_BIN taken at
#                  cluster-up, so a rebuild in the middle of a run cannot make
#                  a restarted node run another build (or find no binary)
# CHAOS_CUT=bus (the default): only the cluster bus goes through the proxy;
# clients and replication use the client ports directly, so a "partition" cuts
# gossip/failure detection/failover traffic but neither a client talking to the
# partitioned primary nor that primary feeding its replica.
# CHAOS_CUT=all: the client port goes through the proxy too:
#   client port    proxy  IP:BASE+i        (announced with --cluster-announce-port)
#                  real   IP:BASE+i+15000  (--port; only the proxy connects here)
# Replicas connect to their primary's announced address (and from their own
# --bind IP), so replication crosses the proxy and a cut between two node IPs
# breaks it; clients (checker, redis-cli) connect from 127.0.0.1, which no
# rule names, so they still reach every node: a split brain. partition.sh
# then cuts the victim with one "VICTIM OTHER" line per other node, not
# "VICTIM *" (which would cut 127.0.0.1 too).
#
# Environment (read at cluster-up, then remembered in $CHAOS_DIR/cluster/layout
# so every later script acts on the cluster as it was started):
#   CHAOS_DIR (/tmp/ringcache-chaos), CHAOS_BASE_PORT (7100), NODE_TIMEOUT (1000 ms),
#   RINGCACHE_BIN (target/release/ringcache), CHAOS_PRIMARIES (3), CHAOS_REPLICAS (1),
#   CHAOS_CUT (bus | all: what the proxy carries and a partition cuts, see above),
#   CHAOS_NODE_ARGS (more ringcache flags for every node)

chaos_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
chaos_repo=$(cd "$chaos_here/../.." && pwd)

CHAOS_DIR=${CHAOS_DIR:-/tmp/ringcache-chaos}
chaos_cluster_dir=$CHAOS_DIR/cluster
chaos_cuts=$chaos_cluster_dir/cuts
chaos_bin=$chaos_cluster_dir/ringcache

# A running cluster's own parameters win over the caller's environment: a fault
# script must restart a node with exactly the flags it was started with.
if [[ -f $chaos_cluster_dir/layout ]]; then
    # shellcheck source=/dev/null
    source "$chaos_cluster_dir/layout"
fi
CHAOS_BASE_PORT=${CHAOS_BASE_PORT:-7100}
NODE_TIMEOUT=${NODE_TIMEOUT:-1000}
RINGCACHE_BIN=${RINGCACHE_BIN:-$chaos_repo/target/release/ringcache}
CHAOS_PRIMARIES=${CHAOS_PRIMARIES:-3}
CHAOS_REPLICAS=${CHAOS_REPLICAS:-1}
CHAOS_CUT=${CHAOS_CUT:-bus}
[[ $CHAOS_CUT == bus || $CHAOS_CUT == all ]] || { echo "${0##*/}: CHAOS_CUT must be bus or all, got '$CHAOS_CUT'" >&2; exit 2; }
chaos_n=$((CHAOS_PRIMARIES * (CHAOS_REPLICAS + 1)))

chaos_die() { echo "${0##*/}: $*" >&2; exit 2; }
chaos_now_ms() { date +%s%3N; }
# Log line with a wall-clock time to the millisecond.
chaos_log() { printf '%s %s\n' "$(date +%H:%M:%S.%3N)" "$*"; }

chaos_ip() { echo "127.0.0.$((11 + $1))"; }
chaos_port() { echo "$((CHAOS_BASE_PORT + $1))"; }
chaos_addr() { echo "$(chaos_ip "$1"):$(chaos_port "$1")"; }
# The port node i really listens on for clients: its announced client port,
# or with CHAOS_CUT=all the one behind the proxy.
chaos_real_port() {
    if [[ $CHAOS_CUT == all ]]; then echo "$((CHAOS_BASE_PORT + $1 + 15000))"; else chaos_port "$1"; fi
}
chaos_node_dir() { echo "$chaos_cluster_dir/node$1"; }
chaos_all_addrs() {
    local i
    for ((i = 0; i < chaos_n; i++)); do chaos_addr "$i"; done
}
# ip:port -> node index (the IP alone decides: 127.0.0.(11+i)).
chaos_index_of() {
    local ip=${1%%:*}
    echo "$((${ip##*.} - 11))"
}

# redis-cli bounded in time: a SIGSTOPped node accepts connections (the kernel
# does) but never answers, and redis-cli would wait forever.
chaos_cli() {
    local i=$1
    shift
    timeout 2 redis-cli -h "$(chaos_ip "$i")" -p "$(chaos_port "$i")" "$@" 2>/dev/null | tr -d '\r'
}

chaos_pid() { cat "$(chaos_node_dir "$1")/pid" 2>/dev/null; }
chaos_alive() { local p; p=$(chaos_pid "$1") && [[ -n $p ]] && kill -0 "$p" 2>/dev/null; }
chaos_proxy_alive() {
    local p
    p=$(cat "$chaos_cluster_dir/proxy.pid" 2>/dev/null) && [[ -n $p ]] && kill -0 "$p" 2>/dev/null
}
# A cluster started by cluster-up.sh (layout written, proxy running).
chaos_running() { [[ -f $chaos_cluster_dir/layout ]] && chaos_proxy_alive; }
chaos_require() { chaos_running || chaos_die "no chaos cluster in $chaos_cluster_dir (run scripts/chaos/cluster-up.sh)"; }

# Start (or restart) node i with its fixed flags; its nodes.conf in its --dir
# keeps its identity across restarts.
chaos_node_start() {
    local i=$1 d ip port extra=() more=()
    d=$(chaos_node_dir "$i")
    ip=$(chaos_ip "$i")
    port=$(chaos_port "$i")
    # CHAOS_CUT=all: listen behind the proxy, announce the proxied port.
    [[ $CHAOS_CUT != all ]] || extra=(--cluster-announce-port "$port")
    # CHAOS_NODE_ARGS: more flags for every node (e.g. "--replica-sync-writes 1").
    read -r -a more <<<"${CHAOS_NODE_ARGS:-}"
    extra+=("${more[@]}")
    mkdir -p "$d"
    # Replicas and MIGRATE connect from their node's own 127.0.0.x, which
    # protected mode (as Redis's) refuses; digest.sh runs DEBUG DIGEST.
    "$chaos_bin" --bind "$ip" --port "$(chaos_real_port "$i")" --dir "$d" \
        --protected-mode no --enable-debug-command yes \
        --cluster-enabled yes --cluster-config-file nodes.conf \
        --cluster-node-timeout "$NODE_TIMEOUT" --appendonly no \
        --cluster-announce-ip "$ip" \
        --cluster-port "$((port + 20000))" --cluster-announce-bus-port "$((port + 10000))" \
        "${extra[@]}" >>"$d/ringcache.log" 2>&1 &
    echo $! >"$d/pid"
}

# Wait (up to $2 s, default 10) until node i answers PING.
chaos_wait_ping() {
    local i=$1 deadline=$((SECONDS + ${2:-10}))
    while ((SECONDS < deadline)); do
        [[ $(chaos_cli "$i" ping) == PONG ]] && return 0
        chaos_alive "$i" || return 1
        sleep 0.1
    done
    return 1
}

chaos_proxy_start() {
    local maps=() i port
    for ((i = 0; i < chaos_n; i++)); do
        port=$(chaos_port "$i")
        maps+=("$(chaos_ip "$i"):$((port + 10000)):$((port + 20000))")
        [[ $CHAOS_CUT != all ]] || maps+=("$(chaos_ip "$i"):$port:$(chaos_real_port "$i")")
    done
    # Request/reply traffic through the proxy must not wait on Nagle.
    local nodelay=
    [[ $CHAOS_CUT != all ]] || nodelay=1
    # The proxy's stdout goes to a file: it prints "ready" there once bound.
    local ready=$chaos_cluster_dir/proxy.out
    rm -f "$ready"
    BUSPROXY_NODELAY=$nodelay python3 "$chaos_here/busproxy.py" "$chaos_cuts" "${maps[@]}" >"$ready" 2>>"$chaos_cluster_dir/proxy.log" &
    echo $! >"$chaos_cluster_dir/proxy.pid"
    local deadline=$((SECONDS + 10))
    until grep -q '^ready$' "$ready" 2>/dev/null; do
        chaos_proxy_alive || chaos_die "busproxy.py exited; see $chaos_cluster_dir/proxy.log"
        ((SECONDS < deadline)) || chaos_die "busproxy.py not ready after 10 s"
        sleep 0.05
    done
}

# Stop everything in $chaos_cluster_dir and remove it (nodes first, then proxy).
chaos_down() {
    local i p pids=()
    for ((i = 0; i < chaos_n; i++)); do
        p=$(chaos_pid "$i") || continue
        # A paused node would ignore SIGTERM until resumed.
        kill -CONT "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null && pids+=("$p")
    done
    p=$(cat "$chaos_cluster_dir/proxy.pid" 2>/dev/null) && kill -TERM "$p" 2>/dev/null && pids+=("$p")
    local deadline=$((SECONDS + 5))
    for p in "${pids[@]}"; do
        while kill -0 "$p" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
        kill -KILL "$p" 2>/dev/null || true
    done
    rm -rf "$chaos_cluster_dir"
}

# Node i's own view of itself from CLUSTER NODES: "master SLOTS" or "slave -".
# SLOTS = its slot ranges joined by commas (importing/migrating markers dropped).
chaos_self_role() {
    chaos_cli "$1" cluster nodes | awk '$3 ~ /myself/ {
        role = ($3 ~ /master/) ? "master" : "slave"; s = ""
        for (f = 9; f <= NF; f++) if ($f !~ /^\[/) s = s (s == "" ? "" : ",") $f
        print role, (s == "" ? "-" : s) }'
}

# Indexes of the nodes that, by their own account, are primaries serving slots.
chaos_primaries() {
    local i r
    for ((i = 0; i < chaos_n; i++)); do
        r=$(chaos_self_role "$i")
        [[ $r == master\ [0-9]* ]] && echo "$i"
    done
    return 0
}

chaos_random_primary() {
    local p
    p=$(chaos_primaries | shuf -n 1)
    [[ -n $p ]] || chaos_die "no node reports itself as a primary serving slots"
    echo "$p"
}

# Picks a random current primary of the running cluster for a fault script:
# sets victim (its index), addr (IP:PORT) and slots (its ranges).
chaos_pick_victim() {
    chaos_require
    victim=$(chaos_random_primary)
    addr=$(chaos_addr "$victim")
    slots=$(chaos_self_role "$victim" | cut -d' ' -f2)
}

# Node i's slot-owner map: one "RANGE OWNER_ID" line per owned range, sorted,
# then a line "slots=<count>".
chaos_slot_map() {
    chaos_cli "$1" cluster nodes | awk '$3 ~ /master/ {
        for (f = 9; f <= NF; f++) {
            if ($f ~ /^\[/) continue
            n = split($f, r, "-"); lo = r[1]; hi = (n == 2 ? r[2] : r[1])
            total += hi - lo + 1; print $f, $1 } }
        END { print "slots=" total + 0 }' | sort
}

# Healthy = every node is running, answers, says cluster_state:ok, knows all
# nodes, flags none of them fail/fail?/handshake/noaddr, and all nodes agree on
# one slot-owner map covering all 16384 slots; the proxy is running and cuts
# nothing. Prints the first reason it is not and returns 1.
chaos_health() {
    local i ref="" map nodes
    chaos_proxy_alive || { echo "busproxy is not running"; return 1; }
    if grep -qv -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$chaos_cuts" 2>/dev/null; then
        echo "cuts in force: $(grep -v '^[[:space:]]*#' "$chaos_cuts" | tr '\n' ';')"
        return 1
    fi
    for ((i = 0; i < chaos_n; i++)); do
        local a
        a=$(chaos_addr "$i")
        chaos_alive "$i" || { echo "$a: process not running"; return 1; }
        if ! chaos_cli "$i" cluster info | grep -q '^cluster_state:ok'; then
            echo "$a: cluster_state not ok (or no answer)"
            return 1
        fi
        nodes=$(chaos_cli "$i" cluster nodes)
        if [[ $(grep -c . <<<"$nodes") -ne $chaos_n ]]; then
            echo "$a: knows $(grep -c . <<<"$nodes") nodes, want $chaos_n"
            return 1
        fi
        local bad
        bad=$(awk '$3 ~ /fail|handshake|noaddr/ { print $2 "(" $3 ")" }' <<<"$nodes" | tr '\n' ' ')
        [[ -z $bad ]] || { echo "$a: flags $bad"; return 1; }
        map=$(chaos_slot_map "$i")
        [[ $map == *slots=16384* ]] || { echo "$a: slot map covers $(grep -o 'slots=.*' <<<"$map")"; return 1; }
        if [[ -z $ref ]]; then
            ref=$map
        elif [[ $map != "$ref" ]]; then
            echo "$a: slot owners differ from $(chaos_addr 0)'s view"
            return 1
        fi
    done
    return 0
}

# Wait up to $1 s for chaos_health; prints the last reason on failure.
chaos_wait_healthy() {
    local deadline=$((SECONDS + $1)) why
    while true; do
        why=$(chaos_health) && return 0
        ((SECONDS < deadline)) || { echo "$why"; return 1; }
        sleep 0.2
    done
}

# Rewrite the cuts file atomically (write + rename): the proxy re-reads the
# whole file every 50 ms and must never see half of it.
chaos_cuts_write() {
    local tmp=$chaos_cuts.tmp.$$
    cat >"$tmp" && mv -f "$tmp" "$chaos_cuts"
}

# True once process $1 is gone (a not yet reaped zombie counts as gone).
chaos_pid_gone() {
    ! kill -0 "$1" 2>/dev/null || [[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) == Z ]]
}

# Duration argument check: seconds, decimals allowed.
chaos_check_seconds() {
    [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]] || chaos_die "duration must be seconds (e.g. 5 or 2.5), got '$1'"
}

# sleep that a signal interrupts at once (bash runs traps only between
# commands, and would otherwise finish a foreground sleep first). Traps call
# chaos_sleep_stop so an interrupted sleep does not linger as an orphan.
chaos_sleep_pid=
chaos_sleep() {
    sleep "$1" &
    chaos_sleep_pid=$!
    wait "$chaos_sleep_pid" || true
    chaos_sleep_stop
}
chaos_sleep_stop() {
    [[ -z $chaos_sleep_pid ]] || kill "$chaos_sleep_pid" 2>/dev/null || true
    chaos_sleep_pid=
}

# The cuts-file lines that cut node i off from every other node: "IP *" with
# CHAOS_CUT=bus; with CHAOS_CUT=all one "IP OTHER_IP" line per other node, so
# clients from non-node IPs (127.0.0.1) keep reaching it through the proxy.
chaos_isolate_rules() {
    local i=$1 j
    if [[ $CHAOS_CUT != all ]]; then
        echo "$(chaos_ip "$i") *"
        return
    fi
    for ((j = 0; j < chaos_n; j++)); do
        ((j == i)) || echo "$(chaos_ip "$i") $(chaos_ip "$j")"
    done
}

# The machine-readable lines of the fault scripts (run.sh and checker.py
# parse them): FAULT at the moment the fault starts, RECOVER when undone.
chaos_fault_line() { echo "FAULT kind=$1 node=$2 t_ms=$3 slots=$4"; }
chaos_recover_line() { echo "RECOVER kind=$1 node=$2 t_ms=$3"; }
