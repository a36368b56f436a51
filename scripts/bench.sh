#!/usr/bin/env bash
# npm run bench [-- --quick] [-- --json]: our system and raw BullMQ side by side on one private Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_node_modules
apt_install redis-server redis-server
if [ ! -f bench/dist/main.js ] || [ ! -f apps/cli/dist/bin.js ]; then ensure_build; fi
exec node bench/dist/main.js "$@"
