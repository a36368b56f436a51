#!/usr/bin/env bash
# npm run demo: the seed-003 fan-out on a private Redis with two runners. Sets itself up.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_node_modules
ensure_redis
ensure_build
exec node examples/offload-fanout/run.mjs
