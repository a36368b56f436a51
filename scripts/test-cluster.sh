#!/usr/bin/env bash
# npm run test:cluster: the representative suite in test/cluster on a local 3-master Redis Cluster
# (redis-server --cluster-enabled yes + redis-cli --cluster create, started and stopped by the
# suite's global setup). Not part of `npm test`, which runs on one Redis. A missing redis-server
# or redis-cli is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_node_modules
apt_install redis-server redis-server
apt_install redis-cli redis-tools
ensure_build
exec npx vitest run --config vitest.cluster.config.ts "$@"
