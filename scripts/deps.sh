#!/usr/bin/env bash
# Installs what the tests and scripts use, only where missing: redis-server,
# redis-cli/redis-benchmark (redis-tools), tclsh (tcl), libfaketime (faketime:
# a test steps a node's wall clock), strace (a test delays a node's fsyncs)
# and redis-py.
set -euo pipefail

SUDO=()
[[ $(id -u) -eq 0 ]] || SUDO=(sudo)
APT=("${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
{ command -v redis-cli >/dev/null && command -v redis-benchmark >/dev/null; } || missing+=(redis-tools)
command -v tclsh >/dev/null || missing+=(tcl)
command -v faketime >/dev/null || missing+=(faketime)
command -v strace >/dev/null || missing+=(strace)
command -v python3 >/dev/null || missing+=(python3 python3-pip)
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "deps: installing ${missing[*]}"
    "${APT[@]}" update -qq
    DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq "${missing[@]}" >/dev/null
fi
# The Debian package's server must not hold port 6379 (the README's ringcache port).
if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
    "${SUDO[@]}" systemctl stop redis-server || true
fi

if ! python3 -c 'import redis' 2>/dev/null; then
    echo "deps: installing redis-py"
    python3 -m pip install -q redis 2>/dev/null ||
        python3 -m pip install -q --break-system-packages redis 2>/dev/null || {
        DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq python3-redis >/dev/null
    }
    python3 -c 'import redis' || { echo "deps: redis-py could not be installed" >&2; exit 1; }
fi
echo "deps: redis-server $(redis-server --version | awk '{print $3}'), $(redis-cli --version)," \
    "tclsh $(echo 'puts [info patchlevel]' | tclsh), redis-py $(python3 -c 'import redis; print(redis.__version__)')"
