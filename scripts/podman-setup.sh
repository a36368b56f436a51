#!/usr/bin/env bash
# Podman as the Docker Engine API for tests and local runs, with test images built offline.
#
#   bash scripts/podman-setup.sh          # set up (idempotent), print socket and image references
#   bash scripts/podman-setup.sh --env    # same, but print `export` lines for eval
#   bash scripts/podman-setup.sh --stop   # stop the API service this script started
#
# Environment:
#   AGORA_PODMAN_SOCK  socket to serve the API on      (default /tmp/agora-podman/podman.sock)
#   AGORA_PODMAN_DIR   state: config, pid, log, state  (default /tmp/agora-podman)
#
# Why each step exists:
# - This sandbox forbids raising RLIMIT_NOFILE / RLIMIT_NPROC to Podman's defaults (1048576 /
#   4194304), so runc fails with "error setting rlimit type 7 (or 6): operation not permitted".
#   Our containers.conf sets default_ulimits below the hard limits. Note that a Docker API client
#   that passes HostConfig.Ulimits REPLACES these defaults, and Podman then re-adds its own
#   default for whichever of nofile/nproc is missing: such a client must pass both.
# - No systemd here: cgroupfs as cgroup manager and a file events logger.
# - Nothing can be pulled: images are `podman import`s of root filesystems made on this host.
#   Locally imported images get a manifest digest (RepoDigests), so the pinned reference
#   `localhost/agora-test/busybox@sha256:<digest>` resolves through the Docker API. An image is
#   re-imported only when its inputs change (tag = hash of inputs), so digests stay stable
#   across runs on one machine; they differ between machines, so read them from the state file.
set -euo pipefail

MODE=${1:-}
STATE_DIR=${AGORA_PODMAN_DIR:-/tmp/agora-podman}
SOCK=${AGORA_PODMAN_SOCK:-$STATE_DIR/podman.sock}
CONF=$STATE_DIR/containers.conf
PIDFILE=$STATE_DIR/podman.pid
LOG=$STATE_DIR/service.log
STATE=$STATE_DIR/state.json
RUNC=/usr/sbin/runc
# Bump when the way images are built changes, so existing images are rebuilt.
RECIPE=1

say() { printf '[podman-setup] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

mkdir -p "$STATE_DIR" "$(dirname "$SOCK")"

if [ "$MODE" = "--stop" ]; then
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    kill "$(cat "$PIDFILE")" && say "stopped podman service (pid $(cat "$PIDFILE"))"
  fi
  rm -f "$PIDFILE"
  exit 0
fi

# Parallel test files may call this at once: one setup at a time.
exec 9>"$STATE_DIR/setup.lock"
flock 9

# --- tools -------------------------------------------------------------------------------------
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

missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
[ -x "$RUNC" ] || missing+=(runc)
busybox_static >/dev/null || missing+=(busybox-static)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null; } \
      || die "apt-get install -y ${missing[*]} failed"
  else
    die "missing: ${missing[*]}. Install them as root: apt-get install -y ${missing[*]}"
  fi
fi
BUSYBOX=$(busybox_static) || die "no statically linked busybox found (apt-get install -y busybox-static)"
command -v node >/dev/null 2>&1 || die "node is not on PATH (needed for the agora-test/node image)"

# --- config ------------------------------------------------------------------------------------
conf_text='# Written by scripts/podman-setup.sh; see the comments there.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
'
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$(printf '%s' "$conf_text")" ]; then
  printf '%s' "$conf_text" >"$CONF"
fi
export CONTAINERS_CONF=$CONF

# --- API service -------------------------------------------------------------------------------
ping_socket() {
  # node is the one tool we know is here; curl may not be.
  node -e '
    const req = require("http").get({ socketPath: process.argv[1], path: "/_ping", timeout: 2000 }, (res) => {
      process.exit(res.statusCode === 200 ? 0 : 1);
    });
    req.on("error", () => process.exit(1));
    req.on("timeout", () => { req.destroy(); process.exit(1); });
  ' "$SOCK"
}

# A service whose working directory was deleted (started from a checkout since removed) still
# answers /_ping, but conmon then fails every container with "Failed to get working directory".
stale_cwd() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null || return 1
  case "$(readlink "/proc/$(cat "$PIDFILE")/cwd" 2>/dev/null)" in
    *" (deleted)") return 0 ;;
  esac
  return 1
}

if stale_cwd || ! ping_socket; then
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    say "podman service pid $(cat "$PIDFILE") does not answer or lost its working directory; restarting it"
    kill "$(cat "$PIDFILE")" 2>/dev/null || true
    sleep 1
  fi
  rm -f "$SOCK"
  say "starting podman system service on unix://$SOCK (log: $LOG)"
  # Detached from this script: its own session, no inherited stdout (a caller reading our
  # output would otherwise wait forever) and not holding the setup lock (fd 9). It runs from
  # the state directory, not the caller's, which may be a checkout deleted later.
  cd "$STATE_DIR"
  setsid nohup podman --runtime "$RUNC" system service --time=0 "unix://$SOCK" \
    >"$LOG" 2>&1 </dev/null 9>&- &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 100); do
    ping_socket && break
    kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
    sleep 0.2
  done
  ping_socket || { tail -n 20 "$LOG" >&2 || true; die "podman system service did not come up on $SOCK"; }
fi

# --- images ------------------------------------------------------------------------------------
digest_of() { podman image inspect --format '{{.Digest}}' "$1"; }

# import_image <name> <input-hash> <rootfs-builder-fn> <change...>: echoes the pinned reference.
import_image() {
  local name=$1 hash=$2 build=$3; shift 3
  local ref="localhost/$name:$hash"
  if ! podman image exists "$ref"; then
    say "building $ref offline"
    local work
    work=$(mktemp -d "$STATE_DIR/build.XXXXXX")
    "$build" "$work/rootfs"
    # Fixed mtimes and owners: the layer digest depends on the inputs only.
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/rootfs" -cf "$work/rootfs.tar" .
    local changes=()
    for c in "$@"; do changes+=(--change "$c"); done
    podman import --quiet "${changes[@]}" "$work/rootfs.tar" "$ref" >/dev/null
    podman tag "$ref" "localhost/$name:latest"
    rm -rf "$work"
  fi
  echo "localhost/$name@$(digest_of "$ref")"
}

add_busybox() {
  local root=$1
  mkdir -p "$root/bin" "$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/root"
  chmod 1777 "$root/tmp"
  cp "$BUSYBOX" "$root/bin/busybox"
  local applet
  for applet in $("$BUSYBOX" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
}

build_busybox() { add_busybox "$1"; }

NODE_BIN=$(readlink -f "$(command -v node)")
node_libs() { ldd "$NODE_BIN" | awk '/=> \//{print $3} /^[ \t]*\/[^ ]*ld-linux/{print $1}'; }

build_node() {
  local root=$1 lib
  add_busybox "$root"
  mkdir -p "$root/usr/local/bin"
  cp "$NODE_BIN" "$root/usr/local/bin/node"
  for lib in $(node_libs); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

bb_hash=$( { echo "recipe $RECIPE"; sha256sum "$BUSYBOX"; } | sha256sum | cut -c1-12)
node_hash=$( { echo "recipe $RECIPE"; sha256sum "$NODE_BIN" $(node_libs); } | sha256sum | cut -c1-12)

BUSYBOX_REF=$(import_image agora-test/busybox "$bb_hash" build_busybox \
  'CMD ["/bin/sh"]' 'ENV PATH=/bin')
NODE_REF=$(import_image agora-test/node "$node_hash" build_node \
  'CMD ["/usr/local/bin/node"]' 'ENV PATH=/usr/local/bin:/bin' 'ENV HOME=/tmp')

cat >"$STATE.tmp" <<EOF
{
  "socketPath": "$SOCK",
  "containersConf": "$CONF",
  "images": { "busybox": "$BUSYBOX_REF", "node": "$NODE_REF" }
}
EOF
mv "$STATE.tmp" "$STATE"

if [ "$MODE" = "--env" ]; then
  printf 'export AGORA_PODMAN_SOCK=%q\n' "$SOCK"
  printf 'export DOCKER_HOST=%q\n' "unix://$SOCK"
  printf 'export AGORA_TEST_IMAGE_BUSYBOX=%q\n' "$BUSYBOX_REF"
  printf 'export AGORA_TEST_IMAGE_NODE=%q\n' "$NODE_REF"
else
  echo "socket:  unix://$SOCK"
  echo "busybox: $BUSYBOX_REF"
  echo "node:    $NODE_REF"
  echo "state:   $STATE"
fi
