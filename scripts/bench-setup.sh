# Sourced by the benchmark scripts: installs redis-server and redis-tools if
# missing, builds the release binary, and defines WORK (removed on exit), PIDS
# (killed on exit), free_port, start_server, wait_ready PORT, small_keys N, and SERVER_CPU / CLIENT_CPU
# (servers pinned to CPU 0, clients to CPU 1, when there are two CPUs).

SUDO=()
[[ $(id -u) -eq 0 ]] || SUDO=(sudo)
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 \
        install -y -qq redis-server redis-tools >/dev/null
fi

echo "== building ringcache (release)"
cargo build --release -q

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

SERVER_CPU=()
CLIENT_CPU=()
if command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then
    SERVER_CPU=(taskset -c 0)
    CLIENT_CPU=(taskset -c 1)
else
    echo "== note: fewer than 2 CPUs or no taskset: servers and client are not pinned"
fi

# start_server ringcache|redis PORT DIR: starts a server pinned to the server
# CPU on loopback without save points or AOF, logging to DIR/log; its pid goes
# to PIDS and SERVER_PID.
start_server() {
    local kind=$1 port=$2 dir=$3
    mkdir -p "$dir"
    if [[ $kind == ringcache ]]; then
        "${SERVER_CPU[@]}" ./target/release/ringcache --bind 127.0.0.1 --port "$port" \
            --dir "$dir" --save '' >"$dir/log" 2>&1 &
    else
        "${SERVER_CPU[@]}" redis-server --bind 127.0.0.1 --port "$port" --save '' \
            --appendonly no --dir "$dir" --logfile "$dir/log" &
    fi
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}

wait_ready() {
    local _
    for _ in $(seq 200); do
        [[ $(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]] && return 0
        sleep 0.05
    done
    echo "server on port $1 did not start" >&2
    exit 1
}

# small_keys N: RESP `SET key:NNNNNNNNNNNN <32 bytes>` for N keys (16-byte names),
# for `redis-cli --pipe`.
small_keys() {
    python3 - "$1" <<'PY'
import sys
n = int(sys.argv[1])
out = sys.stdout.buffer
val = b"v" * 32
chunk = []
for i in range(n):
    chunk.append(b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$32\r\n%s\r\n" % (i, val))
    if len(chunk) == 10000:
        out.write(b"".join(chunk))
        chunk = []
out.write(b"".join(chunk))
PY
}

# collection_load SCENARIO N: RESP commands that create N elements in
# collections (for `redis-cli --pipe`): small-hashes (N/10 hashes of 10 fields),
# big-hash (one hash of N fields), big-zset (one sorted set of N members),
# big-list (one list of N elements), small-sets (N/3 sets of 3 members).
collection_load() {
    python3 - "$1" "$2" <<'PY'
import sys
scenario, n = sys.argv[1], int(sys.argv[2])
out = sys.stdout.buffer

def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)

batch = []
def emit(c):
    batch.append(c)
    if len(batch) >= 1000:
        out.write(b"".join(batch))
        batch.clear()

if scenario == "small-hashes":
    for h in range(n // 10):
        args = ["HSET", "hash:%012d" % h]
        for f in range(10):
            args += ["field:%d" % f, "value:%08d" % (h * 10 + f)]
        emit(cmd(*args))
elif scenario in ("big-hash", "big-zset", "big-list"):
    for start in range(0, n, 100):
        idx = range(start, min(n, start + 100))
        if scenario == "big-hash":
            args = ["HSET", "bighash"] + [x for i in idx for x in ("field:%012d" % i, "value:%08d" % i)]
        elif scenario == "big-zset":
            args = ["ZADD", "bigzset"] + [x for i in idx for x in (str(i * 1.5), "member:%012d" % i)]
        else:
            args = ["RPUSH", "biglist"] + ["element:%08d" % i for i in idx]
        emit(cmd(*args))
elif scenario == "small-sets":
    for s in range(n // 3):
        emit(cmd("SADD", "set:%012d" % s, "member:a", "member:b", "member:%d" % s))
else:
    sys.exit("unknown scenario " + scenario)
out.write(b"".join(batch))
PY
}
