#!/usr/bin/env bash
# npm test: sets up what the tests need (npm deps, redis-server, Podman's Docker API, Chromium),
# builds, and runs every test file (two at a time). A missing part is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_node_modules
apt_install redis-server redis-server
apt_install chromium chromium
apt_install openssl openssl
apt_install setpriv util-linux
if [ -f scripts/podman-setup.sh ]; then
  eval "$(bash scripts/podman-setup.sh --env)"
fi
ensure_build
exec npx vitest run "$@"
