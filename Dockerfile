# One image for every Agora process: `agora serve`, `agora runner`, `agora dashboard`, `agora
# submit`, `agora doctor`... The entrypoint is the CLI; the command picks the process.
#
#   docker build -t agora .                                  # online (pulls node:24-bookworm-slim)
#   docker run --rm agora --help
#   bash scripts/build-images.sh                             # offline, with Podman (see there)
#
# NODE_IMAGE is any image with Node 24 and npm on PATH, /bin/sh, and a user `node` (uid 1000):
# the official node:24-bookworm-slim by default; scripts/build-images.sh passes a base it makes
# offline from the npm registry's node@24 binary. NPM_FLAGS="--offline" (with an npm cache
# mounted at /npm-cache) makes the install use no network at all.
ARG NODE_IMAGE=node:24-bookworm-slim

# --- manifests: only the package.json files, so the npm install layer is rebuilt only when the
# --- dependencies change, not on every source edit.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN find . -type f ! -name package.json ! -name package-lock.json -exec rm -f {} +

# --- deps: every dependency (dev too: TypeScript builds; s3rver is the compose S3 stand-in).
FROM ${NODE_IMAGE} AS deps
ARG NPM_FLAGS=""
ENV npm_config_cache=/npm-cache npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
WORKDIR /src
COPY --from=manifests /src /src
RUN npm ci ${NPM_FLAGS}

# --- build: compile, then keep production dependencies and what runs (dist/, Lua scripts, the console's public/ files).
FROM deps AS build
ARG NPM_FLAGS=""
COPY . .
# Every workspace the CLI's build compiled (it has a dist/ then) is copied; one it does not need
# (test-only libraries such as libs/conformance) is left out by name in the log. A copy that
# fails stops the build (the loop would otherwise hide it behind its last iteration's status).
RUN npx tsc -b apps/cli \
 && npm prune --omit=dev ${NPM_FLAGS} \
 && mkdir -p /out/deploy \
 && cp -a package.json node_modules /out/ \
 && for d in apps/* libs/* providers/*; do \
      if [ ! -d "$d/dist" ]; then echo "image: $d is not part of the CLI's build; left out"; continue; fi; \
      mkdir -p "/out/$d" && cp -a "$d/package.json" "$d/dist" "/out/$d/" \
      && if [ -d "$d/commands" ]; then cp -a "$d/commands" "/out/$d/"; fi \
      && if [ -d "$d/public" ]; then cp -a "$d/public" "/out/$d/"; fi \
      || exit 1; \
    done \
 && cp deploy/agora.config.mjs /out/deploy/

# --- s3rver: an S3-protocol server for the compose `s3` profile where no S3/MinIO image can be
# --- had (a stand-in for tests and demos: no Object Lock, fixed credentials S3RVER/S3RVER).
FROM deps AS s3rver
RUN mkdir -p /s3 && chown node:node /s3
USER node
EXPOSE 4568
ENTRYPOINT ["node", "/src/node_modules/s3rver/bin/s3rver.js"]
CMD ["--directory", "/s3", "--address", "0.0.0.0", "--port", "4568"]

# --- runtime: the app, owned by root and read-only to the process, which runs as `node`.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production AGORA_DATA_DIR=/data
WORKDIR /app
COPY --from=build /out /app
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000
# Redis reachable with this container's REDIS_URL. Compose refines it per role: `health
# --runner` (a live runner registered from this container), `health --url .../healthz`.
HEALTHCHECK --interval=15s --timeout=10s --start-period=20s --retries=3 \
  CMD ["node", "/app/apps/cli/dist/bin.js", "health"]
ENTRYPOINT ["node", "/app/apps/cli/dist/bin.js"]
CMD ["--help"]
