#!/usr/bin/env bash
# The test command: installs missing test tools, checks the module map
# (scripts/check-layers.py), then runs every test on a release
# build (the integration tests start the real binary, and the Tcl suite and the
# benchmark reuse target/release/ringcache). Ends with one summed-up line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rc=0
# The module map (layers, never rules, file and function lengths) is part of the test.
python3 scripts/check-layers.py || rc=1
# The chaos checker judges the failover runs: its self-test (synthetic
# histories) runs here, in about a second.
python3 scripts/chaos/checker.py --self-test >/dev/null || { echo "chaos checker self-test failed"; rc=1; }
cargo test --release "$@" 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
# cargo's last `test result` line is the doc-tests' (often 0 tests): sum all of them.
awk '/^test result: / {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed/) p += $i
            if ($(i + 1) ~ /^failed/) f += $i
            if ($(i + 1) ~ /^ignored/) s += $i
        }
     }
     END { printf "total: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$rc"
