#!/usr/bin/env bash
# npm run test:compose: validates docker-compose.yml with docker-compose, builds the images offline
# (scripts/build-images.sh; cached by input hash), and runs test/compose/ under Podman with
# podman-compose: the whole topology up, a plan across three runner containers, one killed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_node_modules
apt_install podman-compose podman-compose
apt_install docker-compose docker-compose
apt_install redis-server redis-server
apt_install openssl openssl
start=$(date +%s)
say "validating docker-compose.yml (docker-compose config, with deploy/compose.env.example)"
docker-compose --env-file deploy/compose.env.example config -q
docker-compose --env-file deploy/compose.env.example --profile s3 config -q
say "building images offline"
eval "$(bash scripts/build-images.sh --env)"
say "images ready after $(( $(date +%s) - start )) s"
npx vitest run --config vitest.compose.config.ts "$@"
say "test:compose took $(( $(date +%s) - start )) s"
