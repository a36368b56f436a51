import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_CA_FILE_ENV, createRedis, liveRunners, startRedisServer, type RedisServerHandle } from '@agora/state';
import { DockerFleetProvider } from '../src/index.js';
import { ensurePodman } from '../../../test/support/podman.js';
import { until, uniqueNamespace } from '../../../test/support/index.js';

/**
 * A docker fleet whose CLI reaches Redis over TLS with a private CA (README "TLS and Redis
 * users"): the replicas get the CLI's REDIS_URL, and need its CA too, or they never connect.
 */
const REPO = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-fleet-tls-'));
const ns = uniqueNamespace();
const savedCa = process.env[REDIS_CA_FILE_ENV];
let server: RedisServerHandle;
let provider: DockerFleetProvider | undefined;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

beforeAll(async () => {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=agora-fleet-test-ca']);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'ext.cnf']);
  // The containers' user reads the mounted files.
  execFileSync('chmod', ['a+r', path.join(dir, 'ca.crt'), path.join(dir, 'server.key')]);
  execFileSync('chmod', ['a+rx', dir]);
  server = await startRedisServer({ tls: { certFile: path.join(dir, 'server.crt'), keyFile: path.join(dir, 'server.key'), caFile: path.join(dir, 'ca.crt') } });
  process.env[REDIS_CA_FILE_ENV] = path.join(dir, 'ca.crt');
  writeFileSync(path.join(dir, 'agora.config.json'), JSON.stringify({ queues: { default: { concurrency: 1 } } }));
}, 60_000);

afterAll(async () => {
  await provider?.stop().catch(() => undefined);
  if (savedCa === undefined) delete process.env[REDIS_CA_FILE_ENV];
  else process.env[REDIS_CA_FILE_ENV] = savedCa;
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('DockerFleetProvider on a TLS Redis with a private CA', () => {
  it('mounts the CLI\'s AGORA_REDIS_CA_FILE into each replica, whose runner then registers over rediss://', async () => {
    const podman = await ensurePodman();
    provider = new DockerFleetProvider(
      {
        image: podman.images.node,
        command: ['node', `${REPO}/apps/cli/dist/bin.js`, 'runner'],
        binds: [`${REPO}:${REPO}:ro`],
        env: { AGORA_DATA_DIR: '/tmp/agora-data', AGORA_LOG_LEVEL: 'warn' },
        socketPath: podman.socketPath,
        network: 'host',
        vcpu: 1,
        stopTimeoutMs: 5000,
      },
      { name: 'tls', namespace: ns, configDir: dir, dataDir: path.join(dir, 'data'), runnerLaunch: { redisUrl: server.url, configFile: path.join(dir, 'agora.config.json') } },
    );
    expect(server.url).toMatch(/^rediss:/);
    const status = await provider.scale(1);
    expect(status).toMatchObject({ desired: 1, running: 1 });
    const redis = createRedis(server.url);
    try {
      await until('the replica registered over TLS', async () => (await liveRunners(redis, ns)).length === 1, 60_000, 250);
    } finally {
      redis.disconnect();
    }
    await provider.stop();
  }, 180_000);
});
