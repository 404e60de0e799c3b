#!/usr/bin/env bash
# Runs units of Redis's own Tcl test suite (Debian's `apt-get source redis`)
# against an already running server on 127.0.0.1:PORT, in external-server mode.
#
#   scripts/redis-compat.sh PORT [UNIT ...]
#
# Prints `ok N err M` per unit with the names (and first error line) of failing
# tests, then a total. Exits non-zero if any unit had an error or exception.
# Env: COMPAT_SRC (source dir; default: a cache dir), COMPAT_TIMEOUT (seconds per
# unit, default 600), COMPAT_LOG_DIR (where full unit logs go, default a temp dir),
# COMPAT_CONTINUE=1 (skip a test that raised an exception and rerun the unit),
# COMPAT_KNOWN=1 (skip the tests listed in scripts/redis-compat.known, each a known
# gap with its reason, so the rest of the unit can be required to pass).
set -euo pipefail

DEFAULT_UNITS=(unit/type/string unit/type/incr unit/expire unit/keyspace unit/protocol
    unit/info-command unit/quit)
# Tests that need things only a local, debug-enabled, persistent or replicated
# server has; external mode skips `external:skip` tests by itself.
SKIP_TAGS="-needs:debug -needs:repl -needs:config-maxmemory -needs:save -needs:latency -needs:local-process"

usage() {
    echo "usage: $0 PORT [UNIT ...]   (default units: ${DEFAULT_UNITS[*]})" >&2
    exit 2
}

[[ $# -ge 1 && $1 =~ ^[0-9]+$ ]] || usage
PORT=$1
shift
UNITS=("$@")
[[ ${#UNITS[@]} -gt 0 ]] || UNITS=("${DEFAULT_UNITS[@]}")

CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/ringcache
SRC=${COMPAT_SRC:-}
UNIT_TIMEOUT=${COMPAT_TIMEOUT:-600}
LOG_DIR=${COMPAT_LOG_DIR:-$(mktemp -d)}
mkdir -p "$LOG_DIR"

SUDO=()
[[ $(id -u) -eq 0 ]] || SUDO=(sudo)
APT=("${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)

log() { echo "== $*" >&2; }

# Adds deb-src twins of the Debian `deb` entries (deb822 .sources or one-line
# sources.list) unless some deb-src entry already exists.
ensure_deb_src() {
    local files=() f
    [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] && files+=("$f")
    done
    if [[ ${#files[@]} -gt 0 ]] && grep -Eqs '^[[:space:]]*(deb-src[[:space:]]|Types:.*deb-src)' "${files[@]}"; then
        return 0
    fi
    local out=/etc/apt/sources.list.d/ringcache-deb-src.sources tmp
    tmp=$(mktemp)
    for f in "${files[@]}"; do
        case $f in
            *.sources)
                # Keep only Debian stanzas; turn `Types: deb` into `Types: deb-src`.
                awk 'BEGIN { RS=""; ORS="\n\n" }
                     /URIs:[^\n]*debian/ && /Types:[^\n]*deb/ {
                         sub(/Types:[^\n]*/, "Types: deb-src"); print }' "$f" >>"$tmp"
                ;;
            *)
                sed -nE 's/^[[:space:]]*deb[[:space:]]+(.*debian.*)$/deb-src \1/p' "$f" >>"$tmp"
                ;;
        esac
    done
    if [[ ! -s $tmp ]]; then
        rm -f "$tmp"
        echo "no Debian 'deb' entry found to mirror as deb-src" >&2
        return 1
    fi
    [[ $out == *.sources ]] && grep -q '^deb-src ' "$tmp" && out=${out%.sources}.list
    log "adding deb-src entries in $out"
    "${SUDO[@]}" install -m 644 "$tmp" "$out"
    rm -f "$tmp"
    "${APT[@]}" update -qq
}

ensure_tools() {
    local missing=()
    command -v tclsh >/dev/null || missing+=(tcl)
    command -v dpkg-source >/dev/null || missing+=(dpkg-dev)
    if [[ ${#missing[@]} -gt 0 ]]; then
        log "installing ${missing[*]}"
        "${APT[@]}" update -qq
        DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq "${missing[@]}" >/dev/null
    fi
}

# Sets SRC to an unpacked Debian redis source tree with tests/ and runtest.
ensure_source() {
    if [[ -n $SRC ]]; then
        [[ -x $SRC/runtest ]] || { echo "COMPAT_SRC=$SRC has no runtest" >&2; exit 2; }
        return
    fi
    local base=$CACHE/redis-src d
    for d in "$base"/redis-*/; do
        if [[ -x ${d}runtest ]]; then
            SRC=${d%/}
            return
        fi
    done
    ensure_tools
    ensure_deb_src
    mkdir -p "$base"
    log "fetching Redis source with apt-get source into $base"
    (cd "$base" && "${APT[@]}" source -qq redis >/dev/null 2>"$base/apt-source.log") || {
        # A stale source index is the usual cause: refresh once and retry.
        "${APT[@]}" update -qq
        (cd "$base" && "${APT[@]}" source -qq redis >/dev/null 2>"$base/apt-source.log")
    }
    for d in "$base"/redis-*/; do
        [[ -x ${d}runtest ]] && SRC=${d%/}
    done
    [[ -n $SRC ]] || { echo "apt-get source redis gave no runtest under $base" >&2; exit 2; }
}

# Prints `name<TAB>first error line` for each [err] in a runtest log, and
# `EXCEPTION in name<TAB>message` for an exception (which aborts the unit).
failures() {
    awk '
        function flush() { if (name != "") print name "\t" first; name = ""; first = "" }
        /^\[err\]: / {
            flush(); name = $0; sub(/^\[err\]: /, "", name); sub(/ in tests\/.*$/, "", name)
            want = 1; exc = 0; next
        }
        /^\[exception\]: / {
            flush(); first = $0; sub(/^\[exception\]: (Executing test client: )?/, "", first)
            name = "EXCEPTION in ?"; exc = 1; want = 0; next
        }
        exc && /^"test ["{]/ {
            t = substr($0, 8); sub(/["}] .*$/, "", t); name = "EXCEPTION in " t
            exc = 0; flush(); next
        }
        want && NF > 0 { first = $0; want = 0; flush(); next }
        END { flush() }
    ' "$1"
}

ensure_tools
ensure_source
command -v timeout >/dev/null || { echo "timeout(1) is required" >&2; exit 2; }
if ! (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "nothing listens on 127.0.0.1:$PORT" >&2
    exit 2
fi
log "Redis test suite: $SRC"
log "server: 127.0.0.1:$PORT; logs: $LOG_DIR"

# Runs one unit once; extra args (e.g. --skiptest NAME) follow. Sets RC.
run_unit() {
    local unit=$1 logf=$2
    shift 2
    RC=0
    # --clients 1: one test client, so tests never share the external server.
    (cd "$SRC" && TERM=dumb timeout --kill-after=10 "$UNIT_TIMEOUT" ./runtest \
        --host 127.0.0.1 --port "$PORT" --clients 1 --timeout 120 \
        --single "$unit" --tags "$SKIP_TAGS" "$@") 2>&1 </dev/null |
        sed -u 's/\x1b\[[0-9;]*m//g' >"$logf" || RC=${PIPESTATUS[0]}
}

total_ok=0
total_err=0
bad_units=0
for unit in "${UNITS[@]}"; do
    logf=$LOG_DIR/$(echo "$unit" | tr '/' '_').log
    skips=()
    if [[ ${COMPAT_KNOWN:-0} == 1 ]]; then
        while IFS= read -r name; do
            [[ -z $name || $name == \#* ]] || skips+=(--skiptest "$name")
        done <"$(dirname "$0")/redis-compat.known"
    fi
    excs=$LOG_DIR/$(echo "$unit" | tr '/' '_').exceptions
    : >"$excs"
    # An exception aborts the rest of the unit; with COMPAT_CONTINUE=1 the test that
    # raised it is skipped and the unit rerun, so later tests still get counted.
    for _ in $(seq 1 "${COMPAT_MAX_RERUNS:-40}"); do
        run_unit "$unit" "$logf" "${skips[@]}"
        [[ ${COMPAT_CONTINUE:-0} == 1 ]] || break
        exc=$(failures "$logf" | grep '^EXCEPTION in ' || true)
        [[ -n $exc && $exc != "EXCEPTION in ?"* ]] || break
        echo "$exc" >>"$excs"
        name=${exc#EXCEPTION in }
        skips+=(--skiptest "${name%%$'\t'*}")
    done
    ok=$(grep -c '^\[ok\]: ' "$logf" || true)
    err=$(grep -cE '^\[(err|exception)\]: ' "$logf" || true)
    err=$((err + $(wc -l <"$excs")))
    note=""
    if [[ $RC -eq 124 || $RC -eq 137 ]]; then
        note=" (timed out after ${UNIT_TIMEOUT}s)"
        err=$((err + 1))
    elif [[ $err -eq 0 && $RC -ne 0 ]]; then
        note=" (runtest exited $RC: $(grep -m1 -iE 'error|exception|killing' "$logf" || tail -n1 "$logf"))"
        err=1
    fi
    printf '%-24s ok %4d err %3d%s\n' "$unit" "$ok" "$err" "$note"
    { cat "$excs"; failures "$logf"; } | while IFS=$'\t' read -r name first; do
        printf '    FAIL %s\n         %s\n' "$name" "$first"
    done
    total_ok=$((total_ok + ok))
    total_err=$((total_err + err))
    [[ $err -eq 0 ]] || bad_units=$((bad_units + 1))
done
printf '%-24s ok %4d err %3d  (%d of %d units failing)\n' TOTAL "$total_ok" "$total_err" \
    "$bad_units" "${#UNITS[@]}"
[[ $bad_units -eq 0 ]]
