#!/usr/bin/env bash
# npm run chaos [-- --items N --seed S --runs K --json --keep]: a locked DAG on real processes
# while runners are killed and paused, the active scheduler is killed and Redis is restarted.
# Exits 1 unless nothing was lost, no stale result was stored, no process crashed by itself and
# the audit verified. See chaos/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_node_modules
apt_install redis-server redis-server
if [ ! -f chaos/dist/main.js ] || [ ! -f chaos/dist/worker.js ] || [ ! -f apps/cli/dist/bin.js ]; then ensure_build; fi
exec node chaos/dist/main.js "$@"
