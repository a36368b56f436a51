# Setup steps shared by demo.sh, test.sh and .ci/run. Each is idempotent and fast when done.

say() { printf '\033[1m[agora]\033[0m %s\n' "$*" >&2; }

apt_install() {
  # apt_install <binary-to-check> <package...>
  local bin=$1; shift
  command -v "$bin" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing $* with apt-get"
    if [ -z "${AGORA_APT_UPDATED:-}" ]; then apt-get update -qq >/dev/null && export AGORA_APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || { say "apt-get install $* failed"; return 1; }
  else
    say "missing: $bin. Install it: sudo apt-get install -y $* (or set REDIS_URL for redis-server)"
    return 1
  fi
}

ensure_node_modules() {
  if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm dependencies (npm ci)"
    npm ci --no-audit --no-fund >/dev/null
  fi
}

ensure_redis() {
  [ -n "${REDIS_URL:-}" ] && return 0
  apt_install redis-server redis-server
}

ensure_build() {
  say "building (npm run build)"
  npm run build --silent
}

# The common start of a test script: npm dependencies, redis-server (each test run starts its
# own Redis from it), a fresh build.
prepare_redis_tests() {
  ensure_node_modules
  apt_install redis-server redis-server
  ensure_build
}
