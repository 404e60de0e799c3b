#!/usr/bin/env bash
# Runs redis-py's own test suite (tests/test_commands.py, test_hash.py and
# test_pipeline.py from redis-py's sdist), per data-type family, against
# Debian's redis-server and against ringcache, and compares them test by test.
#
#   scripts/redispy-suite.sh [--protocol=2|3] [FAMILY ...]
#
# Families (default: all): string hash list set zset bitmap hyperloglog geo pubsub cache
# stream scripting sort generic; scripts/redispy-suite.py says which test names each one takes.
# Prints, per family, passed/failed/skipped on each server and the tests that
# pass on redis-server but not on ringcache (node id and first error line).
# Exits 1 if there is any such test, 2 if the run itself could not be set up.
#
# Env: REDISPY_VERSION (redis-py sdist, default 8.2.0), RINGCACHE_BIN (default
# target/release/ringcache, built if missing), REDISPY_TIMEOUT (seconds per
# server run, default 900), REDISPY_LOG_DIR (pytest logs and JUnit XML;
# default a temp dir, kept and printed).
set -euo pipefail

# Pinned rather than taken from the installed redis-py: the tests run against
# the sdist's own `redis` package (its root is first on sys.path), so results
# only move when this pin does. Version pins for the venv likewise; the
# conftest imports redis.asyncio, which needs async-timeout on Python < 3.11.3
# (Debian 12's python3 is 3.11.2).
REDISPY_VERSION=${REDISPY_VERSION:-8.2.0}
VENV_REQS=(pytest==9.2.0 pytest-timeout==2.4.0 packaging==26.4 async-timeout==5.0.1)
RUN_TIMEOUT=${REDISPY_TIMEOUT:-900}
# Tests of things ringcache's standalone mode and plain redis-server both lack.
MARK_EXPR="not onlycluster and not redismod and not ssl and not replica and not experimental"
TEST_FILES=(tests/test_commands.py tests/test_hash.py tests/test_pipeline.py tests/test_pubsub.py
    tests/test_keyspace_notifications.py tests/test_cache.py tests/test_scripting.py
    tests/test_function.py)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
HELPER=$HERE/redispy-suite.py
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/ringcache/redispy
RINGCACHE_BIN=${RINGCACHE_BIN:-$ROOT/target/release/ringcache}

SUDO=()
[[ $(id -u) -eq 0 ]] || SUDO=(sudo)
APT=("${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
APT_UPDATED=0

log() { echo "== $*" >&2; }
die() { echo "redispy-suite: $*" >&2; exit 2; }

usage() {
    echo "usage: $0 [--protocol=2|3] [FAMILY ...]   (families: $(python3 "$HELPER" families))" >&2
    exit 2
}

apt_install() {
    if [[ $APT_UPDATED -eq 0 ]]; then
        "${APT[@]}" update -qq
        APT_UPDATED=1
    fi
    log "installing $*"
    DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq "$@" >/dev/null
}

PROTOCOL=2
FAMILIES=()
for arg in "$@"; do
    case $arg in
        --protocol=2 | --protocol=3) PROTOCOL=${arg#--protocol=} ;;
        -h | --help | -*) usage ;;
        *) FAMILIES+=("$arg") ;;
    esac
done

command -v python3 >/dev/null || apt_install python3 python3-venv
[[ ${#FAMILIES[@]} -gt 0 ]] || read -ra FAMILIES <<<"$(python3 "$HELPER" families)"
# Validates the names before anything slow happens.
python3 "$HELPER" select "${FAMILIES[@]}" </dev/null || usage

command -v redis-server >/dev/null || apt_install redis-server

# --- a venv to run redis-py's tests, and its sdist -------------------------
mkdir -p "$CACHE"
VENV=$CACHE/venv
STAMP="${VENV_REQS[*]} $(python3 -c 'import sys; print(sys.version.split()[0])')"
if [[ ! -x $VENV/bin/python || $(cat "$VENV/.stamp" 2>/dev/null) != "$STAMP" ]]; then
    rm -rf "$VENV"
    # Debian's python3 ships venv/ensurepip in a separate package.
    python3 -m venv "$VENV" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$VENV"; }
    log "installing ${VENV_REQS[*]} into $VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${VENV_REQS[@]}"
    echo "$STAMP" >"$VENV/.stamp"
fi

SDIST=$CACHE/redis-$REDISPY_VERSION
if [[ ! -f $SDIST/tests/conftest.py ]]; then
    log "fetching the redis-py $REDISPY_VERSION sdist into $CACHE"
    tmp=$(mktemp -d)
    # The venv's pip: Debian's python3 may come without one.
    "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-binary :all: \
        --no-deps -d "$tmp" "redis==$REDISPY_VERSION"
    tar -xzf "$tmp"/redis-"$REDISPY_VERSION".tar.gz -C "$CACHE"
    rm -rf "$tmp"
    [[ -f $SDIST/tests/conftest.py ]] || die "the redis-py $REDISPY_VERSION sdist has no tests/conftest.py"
fi

if [[ ! -x $RINGCACHE_BIN ]]; then
    log "building ringcache (cargo build --release)"
    (cd "$ROOT" && cargo build --release -q)
fi

# --- servers ---------------------------------------------------------------
LOG_DIR=${REDISPY_LOG_DIR:-$(mktemp -d)}
mkdir -p "$LOG_DIR"
PIDS=()
DIRS=()
# shellcheck disable=SC2317  # called through the EXIT trap
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    [[ ${#DIRS[@]} -eq 0 ]] || rm -rf "${DIRS[@]}"
}
trap cleanup EXIT

# Waits until something on 127.0.0.1:$1 answers PING with +PONG.
wait_pong() {
    local port=$1 pid=$2 reply
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 1
        if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
            printf 'PING\r\n' >&3
            reply=
            read -r -t 2 reply <&3 || true
            exec 3>&-
            [[ $reply == +PONG* ]] && return 0
        fi
        sleep 0.1
    done
    return 1
}

# start_server NAME: starts it on a free loopback port with no persistence;
# sets SERVER_PORT and SERVER_PID.
start_server() {
    local name=$1 port dir pid
    port=$(python3 "$HELPER" freeport)
    dir=$(mktemp -d)
    DIRS+=("$dir")
    case $name in
        redis)
            redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" \
                --appendonly no --daemonize no --logfile "$LOG_DIR/redis-server.log" &
            ;;
        ringcache)
            "$RINGCACHE_BIN" --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" \
                --appendonly no >"$LOG_DIR/ringcache.log" 2>&1 &
            ;;
    esac
    pid=$!
    PIDS+=("$pid")
    wait_pong "$port" "$pid" || die "$name did not start on 127.0.0.1:$port (log in $LOG_DIR)"
    SERVER_PORT=$port
    SERVER_PID=$pid
}

start_server redis
PORT_redis=$SERVER_PORT
start_server ringcache
PORT_ringcache=$SERVER_PORT
PID_ringcache=$SERVER_PID
# The conftest skips tests by the redis_version each server reports, so the
# two should match (Debian 12's redis-server and ringcache both say 7.0.15).
V_redis=$(python3 "$HELPER" version "$PORT_redis")
V_ringcache=$(python3 "$HELPER" version "$PORT_ringcache")
log "redis-server (redis_version $V_redis) on 127.0.0.1:$PORT_redis, ringcache (redis_version" \
    "$V_ringcache) on 127.0.0.1:$PORT_ringcache; redis-py $REDISPY_VERSION tests, RESP$PROTOCOL; logs in $LOG_DIR"
[[ $V_redis == "$V_ringcache" ]] ||
    echo "warning: the servers report different versions; version-gated tests will differ" >&2

# The sdist's pyproject adds `-s` (test output would flood the log) and a
# 30 s per-test timeout, which stays; the cache provider would write into
# the shared sdist. pytest's own traceback styles re-read the 10k-line
# test_commands.py for every failure (about a second each, minutes when a
# whole family is missing): --tb=native does not. Bytecode writing is forced
# on so that the assertion-rewritten test modules are cached between runs
# (rewriting test_commands.py takes about 6 s per pytest start).
PYTEST=(env -u PYTHONDONTWRITEBYTECODE "$VENV/bin/python" -m pytest -p no:cacheprovider
    -o addopts= -q -rfE --tb=native -m "$MARK_EXPR" "--protocol=$PROTOCOL")

# Node ids are collected once (against redis-server: the conftest asks the
# server its version at session start) and both runs get exactly that list.
SELECTION=$LOG_DIR/selection.tsv
(cd "$SDIST" && "${PYTEST[@]}" --collect-only "--redis-url=redis://127.0.0.1:$PORT_redis/0" \
    "${TEST_FILES[@]}") >"$LOG_DIR/collect.log" 2>&1 ||
    die "collecting the tests failed (see $LOG_DIR/collect.log)"
python3 "$HELPER" select "${FAMILIES[@]}" <"$LOG_DIR/collect.log" >"$SELECTION"
[[ -s $SELECTION ]] || die "no test selected for: ${FAMILIES[*]} (see $LOG_DIR/collect.log)"
mapfile -t NODEIDS < <(cut -f2 "$SELECTION")
log "${#NODEIDS[@]} tests selected for: ${FAMILIES[*]}"

run_suite() {
    local name=$1 port=$2 rc=0
    log "running against $name (log: $LOG_DIR/pytest-$name.log)"
    (cd "$SDIST" && timeout -k 10 "$RUN_TIMEOUT" "${PYTEST[@]}" \
        "--redis-url=redis://127.0.0.1:$port/0" "--junitxml=$LOG_DIR/$name.xml" \
        "${NODEIDS[@]}") >"$LOG_DIR/pytest-$name.log" 2>&1 || rc=$?
    # 0 all passed, 1 some failed; anything else (124 timeout, 2-4 usage or
    # internal error) means the per-test results may be missing.
    if [[ $rc -gt 1 ]]; then
        echo "warning: pytest against $name exited $rc; see $LOG_DIR/pytest-$name.log" >&2
    fi
    tail -n 1 "$LOG_DIR/pytest-$name.log" | sed "s/^/   $name: /" >&2
}

run_suite redis-server "$PORT_redis"
run_suite ringcache "$PORT_ringcache"
kill -0 "$PID_ringcache" 2>/dev/null ||
    echo "warning: ringcache exited during the run; see $LOG_DIR/ringcache.log" >&2

echo
rc=0
python3 "$HELPER" compare "$SELECTION" "$LOG_DIR/redis-server.xml" "$LOG_DIR/ringcache.xml" || rc=$?
echo "(pytest logs and JUnit XML in $LOG_DIR)"
exit "$rc"
