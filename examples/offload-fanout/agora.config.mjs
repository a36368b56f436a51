// Config of the offload-fanout example (seed 003). Where the workers run is one line:
//
//   defaultTarget: 'local'    -> each worker is a child process (the default)
//   defaultTarget: 'docker'   -> each worker is a container, through the Docker Engine API
//                                (Docker, or Podman's: `bash scripts/podman-setup.sh --env`)
//
// For Docker the workers need a digest-pinned image with `node` in it: set AGORA_WORKER_IMAGE
// (podman-setup.sh builds one offline and prints it as AGORA_TEST_IMAGE_NODE). The repository
// is mounted read-only at the same path, so the worker scripts, their node_modules and the
// staged dependency artifacts are where the runner sees them.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const dataDir = path.resolve(here, process.env.AGORA_DATA_DIR ?? '.agora');
const image = process.env.AGORA_WORKER_IMAGE ?? process.env.AGORA_TEST_IMAGE_NODE;
const docker = process.env.DOCKER_HOST?.startsWith('unix://') ? { socketPath: process.env.DOCKER_HOST.slice('unix://'.length) } : {};

export default {
  namespace: 'agora',
  queues: { default: { concurrency: 2 } },
  compute: {
    local: { provider: 'process' },
    docker: { provider: 'docker', options: { ...docker, binds: [`${repo}:${repo}:ro`, `${dataDir}:${dataDir}:ro`] } },
  },
  targets: {
    local: { compute: 'local' },
    docker: { compute: 'docker' },
  },
  defaultTarget: process.env.AGORA_EXAMPLE_TARGET ?? 'local', // <- 'docker' runs the workers in containers
  tasks: {
    'code-edit': { command: ['node', 'workers/code-edit.mjs'], ...(image ? { image } : {}), timeoutMs: 60000 },
    verify: { command: ['node', 'workers/verify.mjs'], ...(image ? { image } : {}), timeoutMs: 60000 },
  },
};
