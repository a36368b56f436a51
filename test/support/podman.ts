import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';

/** The Docker Engine API served by Podman, and the offline-built test images (pinned by digest). */
export interface PodmanEnv {
  readonly socketPath: string;
  readonly images: {
    /** `localhost/agora-test/busybox@sha256:...`: a static busybox with all its applets in /bin. */
    readonly busybox: string;
    /** `localhost/agora-test/node@sha256:...`: the host's node (and busybox) with its libraries. */
    readonly node: string;
  };
}

const SCRIPT = fileURLToPath(new URL('../../scripts/podman-setup.sh', import.meta.url));
const STATE_DIR = process.env['AGORA_PODMAN_DIR'] ?? '/tmp/agora-podman';
const SOCKET = process.env['AGORA_PODMAN_SOCK'] ?? `${STATE_DIR}/podman.sock`;
const STATE_FILE = `${STATE_DIR}/state.json`;

let ready: Promise<PodmanEnv> | undefined;

/**
 * Makes sure Podman's Docker API answers and the test images exist, and says where. The setup
 * script does the work under a file lock, so parallel test files share one setup; when its state
 * file is current (socket answers, images present) the script is not run at all. An engine that
 * cannot be started is a failure with the script's output, never a skip.
 */
export function ensurePodman(): Promise<PodmanEnv> {
  ready ??= setUp().catch((err: unknown) => {
    ready = undefined;
    throw err;
  });
  return ready;
}

async function setUp(): Promise<PodmanEnv> {
  const current = await readState();
  if (current && (await isCurrent(current))) return current;
  await runScript();
  const state = await readState();
  if (!state) throw new Error(`podman setup finished but wrote no usable ${STATE_FILE} for socket ${SOCKET}`);
  if (!(await isCurrent(state))) {
    throw new Error(`podman setup finished but the Docker API at ${state.socketPath} does not answer or lacks the test images; see ${STATE_DIR}/service.log`);
  }
  return state;
}

async function readState(): Promise<PodmanEnv | undefined> {
  try {
    const s = JSON.parse(await readFile(STATE_FILE, 'utf8')) as Partial<PodmanEnv>;
    if (s.socketPath !== SOCKET || typeof s.images?.busybox !== 'string' || typeof s.images.node !== 'string') return undefined;
    return { socketPath: s.socketPath, images: { busybox: s.images.busybox, node: s.images.node } };
  } catch {
    return undefined;
  }
}

async function isCurrent(state: PodmanEnv): Promise<boolean> {
  if ((await get(state.socketPath, '/_ping')) !== 200) return false;
  for (const ref of [state.images.busybox, state.images.node]) {
    if ((await get(state.socketPath, `/images/${encodeURIComponent(ref)}/json`)) !== 200) return false;
  }
  return true;
}

function get(socketPath: string, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path, method: 'GET', timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => {
      req.destroy();
      resolve(0);
    });
    req.end();
  });
}

function runScript(): Promise<void> {
  return new Promise((resolve, reject) => {
    // First setup may apt-get install podman and build images: minutes, not the test timeout.
    execFile('bash', [SCRIPT], { timeout: 10 * 60_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve();
      reject(
        new Error(
          `Podman (the Docker Engine API for the Docker tests) could not be set up by ${SCRIPT}: ${err.message}\n` +
            `${stderr.trim()}\n${stdout.trim()}\n` +
            `Run "bash scripts/podman-setup.sh" as root to see why (it needs: apt-get install -y podman runc busybox-static).`,
        ),
      );
    });
  });
}
