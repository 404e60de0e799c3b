#!/usr/bin/env bash
# The test command: installs missing test tools, then runs every test on a release
# build (the integration tests start the real binary, and the Tcl suite and the
# benchmark reuse target/release/ringcache).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo test --release "$@"
