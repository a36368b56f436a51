#!/usr/bin/env bash
# npm run test:sdk-install: packs @agora/sdk and the packages it needs (core, locks, audit,
# state), installs the tarballs into a fresh project in the temp dir, and runs a service there
# with plain node over Redis and over the dashboard's HTTP API (vitest.sdk-install.config.ts).
# Not part of `npm test`: the npm install takes about a minute. Needs the npm registry for the
# third-party dependencies (the npm cache is used first). A missing redis-server is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
prepare_redis_tests
exec npx vitest run --config vitest.sdk-install.config.ts "$@"
