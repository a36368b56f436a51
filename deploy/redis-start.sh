#!/bin/sh
# Starts the compose topology's Redis with the per-role ACL users of deploy/redis-acl.conf.
# Runs as the redis user (uid 999) in the official redis:7 image and in the offline image of
# scripts/build-images.sh; needs only sh and sed.
#
# The passwords: AGORA_REDIS_SCHEDULER_PASSWORD, AGORA_REDIS_RUNNER_PASSWORD,
# AGORA_REDIS_DASHBOARD_PASSWORD, AGORA_REDIS_SUBMITTER_PASSWORD, and AGORA_REDIS_ADMIN_PASSWORD
# for an `admin` user with every right (operators, `agora doctor` checking CONFIG, this
# container's healthcheck), which the shipped file does not have. Each is read from the file its
# `<NAME>_FILE` variable names (docker-compose.yml mounts them as Compose secrets), or else taken
# from the variable itself.
# The rendered ACL file lives in this container's /tmp, never in the data volume.
set -eu

ACL_IN=${AGORA_REDIS_ACL_TEMPLATE:-/etc/agora/redis-acl.conf}
ACL_OUT=${AGORA_REDIS_ACL_FILE:-/tmp/agora-users.acl}

# load_password NAME: NAME from the file NAME_FILE names, when given (never both).
load_password() {
  name=$1
  eval "file=\${${name}_FILE:-}"
  [ -n "$file" ] || return 0
  eval "direct=\${$name:-}"
  [ -z "$direct" ] || { echo "redis-start: both $name and ${name}_FILE are set; give one" >&2; exit 1; }
  [ -f "$file" ] && [ -r "$file" ] || { echo "redis-start: ${name}_FILE: cannot read $file" >&2; exit 1; }
  [ -s "$file" ] || { echo "redis-start: ${name}_FILE: $file is empty (run scripts/compose-secrets.sh again)" >&2; exit 1; }
  # $(cat) drops the trailing newline an editor or echo leaves.
  value=$(cat "$file")
  eval "$name=\$value"
}

check_password() {
  name=$1
  load_password "$name"
  eval "value=\${$name:-}"
  [ -n "$value" ] || { echo "redis-start: neither $name nor ${name}_FILE is set (see scripts/compose-secrets.sh)" >&2; exit 1; }
  # They go into REDIS_URLs unescaped and into a sed replacement: URL-safe characters only.
  case "$value" in
    *[!A-Za-z0-9._~-]*) echo "redis-start: $name may hold only A-Z a-z 0-9 . _ ~ - (use openssl rand -hex 32)" >&2; exit 1 ;;
  esac
  [ "${#value}" -ge 16 ] || { echo "redis-start: $name is shorter than 16 characters" >&2; exit 1; }
}
for n in AGORA_REDIS_SCHEDULER_PASSWORD AGORA_REDIS_RUNNER_PASSWORD AGORA_REDIS_DASHBOARD_PASSWORD AGORA_REDIS_SUBMITTER_PASSWORD AGORA_REDIS_ADMIN_PASSWORD; do
  check_password "$n"
done

umask 077
{
  sed -e "s/\${AGORA_REDIS_SCHEDULER_PASSWORD}/$AGORA_REDIS_SCHEDULER_PASSWORD/g" \
      -e "s/\${AGORA_REDIS_RUNNER_PASSWORD}/$AGORA_REDIS_RUNNER_PASSWORD/g" \
      -e "s/\${AGORA_REDIS_DASHBOARD_PASSWORD}/$AGORA_REDIS_DASHBOARD_PASSWORD/g" \
      -e "s/\${AGORA_REDIS_SUBMITTER_PASSWORD}/$AGORA_REDIS_SUBMITTER_PASSWORD/g" \
      "$ACL_IN"
  echo "user admin on >$AGORA_REDIS_ADMIN_PASSWORD ~* &* +@all"
} | grep -v '^[[:space:]]*#' | grep -v '^[[:space:]]*$' >"$ACL_OUT"
if grep -q '\${' "$ACL_OUT"; then
  echo "redis-start: $ACL_IN holds a placeholder this script does not fill" >&2
  exit 1
fi

# An image's own CMD (redis-server) may be passed on when only the entrypoint is replaced.
if [ "${1:-}" = redis-server ]; then shift; fi

# AOF on: a restart loses no accepted plan. noeviction: queue keys are never evicted.
exec redis-server \
  --dir /data \
  --appendonly yes \
  --appendfsync everysec \
  --maxmemory-policy noeviction \
  --aclfile "$ACL_OUT" \
  --protected-mode no \
  "$@"
