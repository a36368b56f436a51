#!/usr/bin/env bash
# npm run test:node24: a representative part of the suite on the current Node LTS (24), from the
# npm registry's `node` package (no other download), while the default `npm test` runs on the
# machine's Node 20. Node 20 left its LTS in April 2026; both must keep working.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
prepare_redis_tests
NODE24=$(npx -y node@24 -e 'process.stdout.write(process.execPath)')
say "running on $("$NODE24" --version): $NODE24"
exec "$NODE24" node_modules/vitest/vitest.mjs run \
  libs/core libs/state libs/locks libs/audit/test/bundle.test.ts \
  apps/runner apps/cli/test/e2e.test.ts apps/cli/test/validate.test.ts \
  test/security/events-encoding.test.ts test/security/integrity.test.ts test/security/inbox.test.ts \
  test/fleet/hand-back.test.ts test/fleet/fencing.test.ts "$@"
