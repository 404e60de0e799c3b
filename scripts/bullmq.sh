#!/usr/bin/env bash
# BullMQ acceptance: runs scripts/bullmq/scenario.mjs (10,000 jobs: delayed,
# prioritized, retried with backoff, failing for good, unrecoverable, and
# repeatable ones from job schedulers; 4 workers) against Debian's redis-server
# and against ringcache, and diffs the two canonical JSON outcomes.
#
#   scripts/bullmq.sh              standalone: one redis-server vs one ringcache
#   scripts/bullmq.sh --cluster    3-primary redis-server cluster vs 3-primary
#                                  ringcache cluster; queue prefix {bq}, so every
#                                  key of the queue hashes to one slot
#
# Prints the per-state counts side by side and exits 0 when the outcomes are
# identical, 1 when they differ (or ringcache's run failed), 2 when the run
# could not be set up or the reference run itself failed.
#
# Env: RINGCACHE_BIN (default target/release/ringcache; build it first, this
# script does not), BULLMQ_TIMEOUT (seconds per scenario run, default 300),
# BULLMQ_JOBS (default 10000), BULLMQ_OUT_DIR (where the outcomes and server
# logs go; default a temp dir, kept when something differs), BULLMQ_ONLY=ref
# (run only the reference server: a quick way to check the harness itself).
# Servers bind 127.0.0.1 on free ports; every process started here is killed on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PROJ=$HERE/bullmq
RINGCACHE_BIN=${RINGCACHE_BIN:-$ROOT/target/release/ringcache}
RUN_TIMEOUT=${BULLMQ_TIMEOUT:-300}
JOBS=${BULLMQ_JOBS:-10000}
ONLY=${BULLMQ_ONLY:-}

CLUSTER=0
for arg in "$@"; do
    case $arg in
        --cluster) CLUSTER=1 ;;
        *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done

log() { echo "== $*" >&2; }
die() { echo "bullmq.sh: $*" >&2; exit 2; }

SUDO=()
[[ $(id -u) -eq 0 ]] || SUDO=(sudo)
APT_UPDATED=0
apt_install() {
    if [[ $APT_UPDATED -eq 0 ]]; then
        "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
        APT_UPDATED=1
    fi
    log "installing $*"
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null
}

command -v node >/dev/null || apt_install nodejs npm
command -v npm >/dev/null || apt_install npm
command -v redis-server >/dev/null || apt_install redis-server
command -v redis-cli >/dev/null || apt_install redis-tools
[[ $ONLY == ref || -x $RINGCACHE_BIN ]] || die "no ringcache binary at $RINGCACHE_BIN (cargo build --release first)"

# --- npm dependencies, pinned by package-lock.json --------------------------
# Reinstalled when node_modules is missing or older than the lock file; the
# npm cache is tried first so a machine that installed them once needs no network.
if [[ ! -f $PROJ/node_modules/.package-lock.json || $PROJ/package-lock.json -nt $PROJ/node_modules/.package-lock.json ]]; then
    log "npm ci in scripts/bullmq"
    (cd "$PROJ" && { timeout 300 npm ci --offline --ignore-scripts --no-audit --no-fund >/dev/null 2>&1 ||
        timeout 300 npm ci --prefer-offline --ignore-scripts --no-audit --no-fund >/dev/null; }) ||
        die "npm ci failed in $PROJ"
fi

# --- scratch space and cleanup -----------------------------------------------
if [[ -n ${BULLMQ_OUT_DIR:-} ]]; then
    OUT=$BULLMQ_OUT_DIR
    mkdir -p "$OUT"
else
    OUT=$(mktemp -d /tmp/ringcache-bullmq.XXXXXX)
fi
PIDS=()
USED_PORTS=
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.3
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    # Server data (nodes.conf, empty dumps) is not worth keeping; the outcomes and logs are.
    rm -rf "$OUT"/srv-*/data
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free loopback port whose cluster bus port (+10000) is free as well.
free_port() {
    node -e '
        const net = require("net");
        const probe = (p) => new Promise((ok) => { const s = net.createServer(); s.once("error", () => ok(false)); s.listen(p, "127.0.0.1", () => s.close(() => ok(true))); });
        (async () => {
            for (let n = 0; n < 200; n++) {
                const s = net.createServer();
                const port = await new Promise((ok) => s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => ok(p)); }));
                if (port < 1024 || port > 55000) continue;
                if (await probe(port + 10000)) { console.log(port); return; }
            }
            process.exit(1);
        })();'
}

wait_ping() { # port logfile
    local i
    for i in $(seq 100); do
        redis-cli -h 127.0.0.1 -p "$1" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "server on port $1 did not answer PING; see $2"
}

# start_server KIND NAME [cluster]: starts one node; its port goes to SERVER_PORT
# (not printed: a command substitution would start it in a subshell, out of PIDS' reach).
start_server() {
    local kind=$1 name=$2 cluster=${3:-} port dir
    # A port the kernel just handed out may come again before the last server bound it.
    local n
    for n in $(seq 20); do
        port=$(free_port) || die "no free port"
        [[ " $USED_PORTS " == *" $port "* ]] || break
    done
    USED_PORTS+=" $port"
    dir=$OUT/srv-$name
    mkdir -p "$dir/data"
    if [[ $kind == redis ]]; then
        local extra=()
        [[ -n $cluster ]] && extra=(--cluster-enabled yes --cluster-config-file "$dir/data/nodes.conf" --cluster-node-timeout 5000)
        redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$dir/data" \
            "${extra[@]}" >"$dir/log" 2>&1 &
    else
        local extra=()
        [[ -n $cluster ]] && extra=(--cluster-enabled yes --cluster-node-timeout 5000)
        "$RINGCACHE_BIN" --bind 127.0.0.1 --port "$port" --dir "$dir/data" "${extra[@]}" >"$dir/log" 2>&1 &
    fi
    PIDS+=($!)
    SERVER_PORT=$port
}

# start_target KIND: starts a standalone server or a 3-primary cluster of KIND;
# sets TARGET_ARGS (the scenario's connection arguments) and TARGET_DESC.
start_target() {
    local kind=$1
    if [[ $CLUSTER -eq 0 ]]; then
        local port
        start_server "$kind" "$kind"
        port=$SERVER_PORT
        wait_ping "$port" "$OUT/srv-$kind/log"
        TARGET_ARGS=(--port "$port")
        TARGET_DESC="$kind 127.0.0.1:$port"
    else
        local addrs=() port i
        for i in 1 2 3; do
            start_server "$kind" "$kind-$i" cluster
            addrs+=("127.0.0.1:$SERVER_PORT")
        done
        for i in 1 2 3; do wait_ping "${addrs[i - 1]#*:}" "$OUT/srv-$kind-$i/log"; done
        timeout 60 redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes \
            >"$OUT/cluster-create-$kind.log" 2>&1 || die "redis-cli --cluster create failed for $kind; see $OUT/cluster-create-$kind.log"
        local a ok
        for a in "${addrs[@]}"; do
            ok=
            for i in $(seq 300); do
                if redis-cli -h 127.0.0.1 -p "${a#*:}" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; then ok=1; break; fi
                sleep 0.1
            done
            [[ -n $ok ]] || die "$kind node $a did not reach cluster_state:ok"
        done
        TARGET_ARGS=(--cluster "$(IFS=,; echo "${addrs[*]}")" --prefix '{bq}')
        TARGET_DESC="$kind cluster ${addrs[*]}"
    fi
}

# run_scenario NAME: runs the scenario against the current target into $OUT/NAME.json.
run_scenario() {
    local name=$1 rc=0 t0 t1
    log "scenario against $TARGET_DESC"
    t0=$(date +%s.%N)
    (cd "$PROJ" && timeout -k 10 "$RUN_TIMEOUT" node scenario.mjs "${TARGET_ARGS[@]}" --jobs "$JOBS" \
        --timeout $((RUN_TIMEOUT - 30)) --out "$OUT/$name.json") 2> >(tee "$OUT/$name.stderr" >&2) || rc=$?
    t1=$(date +%s.%N)
    WALL[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    RC[$name]=$rc
    [[ -s $OUT/$name.json ]] || echo '{"error": "scenario printed no outcome (exit '"$rc"')"}' >"$OUT/$name.json"
    log "$name: exit $rc, ${WALL[$name]} s"
}

declare -A WALL RC
mode=standalone
[[ $CLUSTER -eq 1 ]] && mode=cluster
log "mode $mode, $JOBS jobs, outputs in $OUT"

start_target redis
run_scenario redis
[[ ${RC[redis]} -eq 0 ]] || die "the reference run against redis-server failed (exit ${RC[redis]}); see $OUT/redis.stderr"
if [[ $ONLY == ref ]]; then
    node -e 'const o = JSON.parse(require("fs").readFileSync(process.argv[1])); console.log(JSON.stringify(o.counts), "planMismatches:", o.planMismatchCount)' "$OUT/redis.json"
    exit 0
fi

start_target ringcache
run_scenario ringcache

# --- compare -----------------------------------------------------------------
node - "$OUT/redis.json" "$OUT/ringcache.json" "${WALL[redis]}" "${WALL[ringcache]}" <<'EOF'
const fs = require('fs');
const [refPath, rcPath, refWall, rcWall] = process.argv.slice(2);
const read = (p) => { try { return JSON.parse(fs.readFileSync(p, 'utf8')); } catch (e) { return { error: `unreadable outcome: ${e.message}` }; } };
const ref = read(refPath), rc = read(rcPath);
const rows = [['', 'redis-server', 'ringcache']];
const keys = [...new Set([...Object.keys(ref.counts ?? {}), ...Object.keys(rc.counts ?? {})])].sort();
for (const k of keys) rows.push([k, String(ref.counts?.[k] ?? '-'), String(rc.counts?.[k] ?? '-')]);
for (const k of ['completed', 'failed', 'missing']) rows.push([`jobs ${k}`, String(ref.plainByState?.[k] ?? 0), String(rc.plainByState?.[k] ?? 0)]);
const runs = (o) => String(Object.values(o.repeats ?? {}).reduce((n, r) => n + r.completedRuns, 0));
rows.push(['repeat runs completed', runs(ref), runs(rc)]);
rows.push(['plan mismatches', String(ref.planMismatchCount ?? '-'), String(rc.planMismatchCount ?? '-')]);
rows.push(['settled', String(ref.settled ?? false), String(rc.settled ?? false)]);
rows.push(['wall s', refWall, rcWall]);
const w = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c].length)));
for (const r of rows) console.log(`${r[0].padEnd(w[0])}  ${r[1].padStart(w[1])}  ${r[2].padStart(w[2])}`);
if (rc.error) console.log(`ringcache run failed: ${rc.error}`);
for (const e of (rc.errors ?? []).slice(0, 5)) console.log(`ringcache error: ${e}`);
const jobsDiffering = Object.keys({ ...(ref.jobs ?? {}), ...(rc.jobs ?? {}) })
  .filter((id) => JSON.stringify(ref.jobs?.[id]) !== JSON.stringify(rc.jobs?.[id]));
console.log(`jobs whose outcome differs: ${jobsDiffering.length}${jobsDiffering.length ? ` (first: ${jobsDiffering.slice(0, 5).join(', ')})` : ''}`);
EOF

if cmp -s "$OUT/redis.json" "$OUT/ringcache.json" && [[ ${RC[ringcache]} -eq 0 ]]; then
    log "PASS: ringcache's outcome is identical to redis-server's ($mode)"
    [[ -n ${BULLMQ_OUT_DIR:-} ]] || rm -rf "$OUT"
    exit 0
fi
diff "$OUT/redis.json" "$OUT/ringcache.json" >"$OUT/outcome.diff" || true
log "FAIL: outcomes differ ($mode); first lines of $OUT/outcome.diff:"
head -c 4000 "$OUT/outcome.diff" | head -20 >&2
exit 1
