#!/usr/bin/env bash
# Stop the chaos cluster (nodes and busproxy) and remove its files.
#
#   scripts/chaos/cluster-down.sh
set -euo pipefail
# shellcheck source=scripts/chaos/lib.sh
source "$(dirname "$0")/lib.sh"
[[ -d $chaos_cluster_dir ]] || { echo "no chaos cluster in $chaos_cluster_dir"; exit 0; }
chaos_down
chaos_log "chaos cluster down"
