#!/usr/bin/env bash
# Makes the secret files docker-compose.yml mounts (Compose secrets): one random value per file,
# in AGORA_SECRETS_DIR (default deploy/secrets). Files that exist are kept, so running it again
# adds only what is missing; delete a file and run it again to rotate that secret (then
# recreate the containers).
#
#   bash scripts/compose-secrets.sh            # or: AGORA_SECRETS_DIR=/etc/agora/secrets bash ...
#
# The directory is 0700 (only its owner on the host gets in); each file is 0444, because the
# containers read it as their own unprivileged users (redis: 999, agora: 1000) through a bind
# mount, where the host directory's mode does not apply. Never commit the directory
# (.gitignore and .dockerignore keep deploy/secrets out).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${AGORA_SECRETS_DIR:-deploy/secrets}
names=(redis-scheduler-password redis-runner-password redis-dashboard-password redis-submitter-password redis-admin-password api-key)
command -v openssl >/dev/null || { echo "compose-secrets: openssl is missing (apt-get install -y openssl)" >&2; exit 1; }
mkdir -p "$dir"
chmod 700 "$dir"
made=0
for n in "${names[@]}"; do
  f="$dir/$n"
  # An empty file is a secret a failed run left unwritten (Redis would refuse it): make it again.
  if [ -e "$f" ] && [ ! -s "$f" ] && [ -f "$f" ]; then rm -f "$f"; fi
  if [ -e "$f" ]; then continue; fi
  # 64 hex digits: URL-safe (they end up in Redis URLs and the ACL file) and well over 16 characters.
  (umask 222 && openssl rand -hex 32 >"$f")
  made=$((made + 1))
done
echo "compose-secrets: $dir has ${#names[@]} secrets ($made new)"
