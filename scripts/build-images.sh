#!/usr/bin/env bash
# Builds the compose topology's images with Podman, offline: nothing is pulled from a registry.
#
#   bash scripts/build-images.sh          # build (cached), print the image references
#   bash scripts/build-images.sh --env    # same, print `export` lines for eval (AGORA_IMAGE...)
#
# Online, none of this is needed: `docker build -t agora .` uses node:24-bookworm-slim and
# docker-compose.yml uses redis:7. Here no image can be pulled, so, as scripts/podman-setup.sh
# does for the test images, the base images are `podman import`s of root filesystems made on
# this host:
# - localhost/agora/node24-base: the npm registry's `node@24` binary (the package
#   scripts/test-node24.sh runs; `npx -y node@24`) and its shared libraries, the host's npm
#   (JavaScript, runs on any Node), a static busybox for /bin/sh, and the user `node` (uid 1000)
#   that the official node images have;
# - localhost/agora/redis: the host's redis-server and redis-cli and their shared libraries,
#   a static busybox, the user `redis` (uid 999, as in the official redis image) owning /data.
# Each is re-imported only when its inputs change (tag = hash of the inputs).
# Then the project's Dockerfile is built on the Node base with `--build-arg NODE_IMAGE=...` and
# `NPM_FLAGS=--offline`, the host's npm cache mounted at /npm-cache (read-only): `npm ci` takes
# every package from that cache, exactly as package-lock.json pins them, and fails if one is
# missing (run `npm ci` on the host once to fill it). Podman's layer cache makes a rebuild after a
# source edit cost only the compile; the dependency layer is reused while the manifests match.
#
# Environment:
#   AGORA_IMAGE_TAG   tag of the agora images              (default latest)
#   AGORA_NPM_CACHE   npm cache to install from            (default: `npm config get cache`)
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-}
# Bump when the way the base images are made changes, so they are rebuilt.
RECIPE=1
TAG=${AGORA_IMAGE_TAG:-latest}

say() { printf '[build-images] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# Podman set up as the tests use it (ulimits this sandbox allows, cgroupfs, no systemd).
bash scripts/podman-setup.sh >/dev/null
STATE_DIR=${AGORA_PODMAN_DIR:-/tmp/agora-podman}
export CONTAINERS_CONF=$STATE_DIR/containers.conf
[ -f "$CONTAINERS_CONF" ] || die "no $CONTAINERS_CONF (scripts/podman-setup.sh did not write it)"

busybox_static() {
  local bb
  for bb in /bin/busybox /usr/bin/busybox; do
    [ -x "$bb" ] || continue
    case "$(LC_ALL=C ldd "$bb" 2>&1 || true)" in
      *"not a dynamic executable"*) echo "$bb"; return 0 ;;
    esac
  done
  return 1
}
BUSYBOX=$(busybox_static) || die "no statically linked busybox (apt-get install -y busybox-static)"

# libs_of <binary...>: the shared libraries and the loader they need, as absolute paths.
libs_of() { ldd "$@" | awk '/=> \//{print $3} /^[ \t]*\/[^ ]*ld-linux/{print $1}' | sort -u; }

copy_with_libs() {
  local root=$1; shift
  local lib
  for lib in $(libs_of "$@"); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

add_busybox() {
  local root=$1
  mkdir -p "$root/bin" "$root/usr/bin" "$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/root"
  chmod 1777 "$root/tmp"
  cp "$BUSYBOX" "$root/bin/busybox"
  local applet
  for applet in $("$BUSYBOX" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  # Scripts say `#!/usr/bin/env node` (npm does).
  ln -s ../../bin/busybox "$root/usr/bin/env"
}

# import_image <name> <hash> <builder-fn> <change...>: imports once per input hash; echoes the ref.
import_image() {
  local name=$1 hash=$2 build=$3; shift 3
  local ref="localhost/$name:$hash"
  if ! podman image exists "$ref"; then
    say "making $ref offline"
    local work
    work=$(mktemp -d "$STATE_DIR/build.XXXXXX")
    "$build" "$work/rootfs"
    tar --sort=name --mtime=@0 --numeric-owner -C "$work/rootfs" -cf "$work/rootfs.tar" .
    local changes=()
    for c in "$@"; do changes+=(--change "$c"); done
    podman import --quiet "${changes[@]}" "$work/rootfs.tar" "$ref" >/dev/null
    rm -rf "$work"
  fi
  echo "$ref"
}

# --- Node 24 base --------------------------------------------------------------------------------
NODE24=$(npx -y node@24 -e 'process.stdout.write(process.execPath)') || die "could not get node@24 from the npm registry"
NODE24=$(readlink -f "$NODE24")
case "$("$NODE24" --version)" in v24.*) ;; *) die "$NODE24 is not Node 24" ;; esac
NPM_DIR=$(npm root -g)/npm
[ -f "$NPM_DIR/bin/npm-cli.js" ] || die "no npm at $NPM_DIR"

build_node24() {
  local root=$1
  add_busybox "$root"
  mkdir -p "$root/usr/local/bin" "$root/usr/local/lib/node_modules" "$root/home/node"
  cp "$NODE24" "$root/usr/local/bin/node"
  copy_with_libs "$root" "$NODE24"
  cp -a "$NPM_DIR" "$root/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n' >"$root/etc/group"
  chown 1000:1000 "$root/home/node"
}
node_hash=$( {
  echo "recipe $RECIPE"
  sha256sum "$BUSYBOX" "$NODE24" $(libs_of "$NODE24")
  (cd "$NPM_DIR" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
} | sha256sum | cut -c1-12)
NODE_BASE=$(import_image agora/node24-base "$node_hash" build_node24 \
  'ENV PATH=/usr/local/bin:/usr/bin:/bin' 'ENV NODE_VERSION='"$("$NODE24" --version | cut -c2-)" 'CMD ["node"]')

# --- Redis ---------------------------------------------------------------------------------------
REDIS_SERVER=$(readlink -f "$(command -v redis-server)") || die "no redis-server (apt-get install -y redis-server)"
REDIS_CLI=$(readlink -f "$(command -v redis-cli)") || die "no redis-cli"
build_redis() {
  local root=$1
  add_busybox "$root"
  mkdir -p "$root/usr/local/bin" "$root/data"
  cp "$REDIS_SERVER" "$root/usr/local/bin/redis-server"
  cp "$REDIS_CLI" "$root/usr/local/bin/redis-cli"
  copy_with_libs "$root" "$REDIS_SERVER" "$REDIS_CLI"
  printf 'root:x:0:0:root:/root:/bin/sh\nredis:x:999:999::/data:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nredis:x:999:\nnogroup:x:65534:\n' >"$root/etc/group"
  chown 999:999 "$root/data"
}
redis_hash=$( { echo "recipe $RECIPE"; sha256sum "$BUSYBOX" "$REDIS_SERVER" "$REDIS_CLI" $(libs_of "$REDIS_SERVER" "$REDIS_CLI"); } | sha256sum | cut -c1-12)
REDIS_REF=$(import_image agora/redis "$redis_hash" build_redis \
  'ENV PATH=/usr/local/bin:/usr/bin:/bin' 'WORKDIR /data' 'USER redis' 'EXPOSE 6379' 'CMD ["redis-server"]')
podman tag "$REDIS_REF" localhost/agora/redis:latest

# --- the project's images ------------------------------------------------------------------------
NPM_CACHE=${AGORA_NPM_CACHE:-$(npm config get cache)}
[ -d "$NPM_CACHE/_cacache" ] || die "no npm cache at $NPM_CACHE (run npm ci on this host first)"
# The inputs of the build (what .dockerignore lets through that matters): skip it when an image
# of these exact inputs exists. Other edits to the tree (tests, docs) do not rebuild.
context_files() {
  git ls-files -co --exclude-standard -- Dockerfile .dockerignore 'package.json' 'package-lock.json' 'tsconfig*.json' \
    'apps' 'libs' 'providers' 'bench/package.json' 'examples/*/package.json' deploy/agora.config.mjs \
    | grep -Ev '(^|/)test/' | sort | while read -r f; do [ -f "$f" ] && echo "$f"; done
}
app_hash=$( { echo "recipe $RECIPE $NODE_BASE"; context_files | tr '\n' '\0' | xargs -0 sha256sum; } | sha256sum | cut -c1-12)
# The host's npm cache, seen through an overlay (:O): npm writes to its cache even with
# --offline (and falls back to the network when it cannot); the writes are discarded.
build_target() {
  local target=$1 name=$2
  local ref="localhost/agora/$name:$app_hash"
  if ! podman image exists "$ref"; then
    say "podman build --target $target -> $ref"
    podman build --quiet --layers --format docker --target "$target" \
      --build-arg NODE_IMAGE="$NODE_BASE" --build-arg NPM_FLAGS=--offline \
      -v "$NPM_CACHE:/npm-cache:O" \
      -t "$ref" -f Dockerfile . >/dev/null
  fi
  podman tag "$ref" "localhost/agora/$name:$TAG"
}
build_target runtime agora
build_target s3rver s3rver

if [ "$MODE" = "--env" ]; then
  printf 'export AGORA_IMAGE=%q\n' "localhost/agora/agora:$TAG"
  printf 'export AGORA_S3_IMAGE=%q\n' "localhost/agora/s3rver:$TAG"
  printf 'export AGORA_REDIS_IMAGE=%q\n' "localhost/agora/redis:latest"
  printf 'export AGORA_NODE_IMAGE=%q\n' "$NODE_BASE"
  printf 'export CONTAINERS_CONF=%q\n' "$CONTAINERS_CONF"
else
  echo "agora:   localhost/agora/agora:$TAG"
  echo "s3rver:  localhost/agora/s3rver:$TAG"
  echo "redis:   localhost/agora/redis:latest ($REDIS_REF)"
  echo "node 24: $NODE_BASE"
fi
