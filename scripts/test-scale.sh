#!/usr/bin/env bash
# npm run test:scale: the scale scenarios in test/scale (vitest.scale.config.ts) on a private
# redis-server. Not part of `npm test`. A missing redis-server is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
prepare_redis_tests
exec npx vitest run --config vitest.scale.config.ts "$@"
