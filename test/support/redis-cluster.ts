import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, waitForPort } from '../../libs/state/src/redis-server.js';

/** A local Redis Cluster of masters only, each a `redis-server` child in a temp dir of its own. */
export interface RedisClusterHandle {
  /** `redis+cluster://127.0.0.1:<port1>,…` (every master a seed node). */
  readonly url: string;
  readonly ports: readonly number[];
  stop(): Promise<void>;
}

function requireBinary(name: string): void {
  const r = spawnSync(name, ['--version'], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) {
    // A missing part is a failure, never a skip: the cluster suite cannot mean anything without it.
    throw new Error(
      `${name} was not found on PATH (${r.error?.message ?? `exit ${r.status}`}). The Redis Cluster suite needs redis-server and redis-cli: apt-get install -y redis-server (Debian ships both in it).`,
    );
  }
}

function run(cmd: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}: ${out.trim()}`));
    });
  });
}

/** Every node says `cluster_state:ok` and knows all `masters` masters, or it throws after `timeoutMs`. */
async function waitClusterOk(ports: readonly number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const clients = ports.map((port) => new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 }));
  try {
    for (;;) {
      let last = '';
      const ok = await Promise.all(
        clients.map(async (c) => {
          const infoText = String(await c.cluster('INFO'));
          // `<id> <ip:port@bus> <flags> …`, flags such as `myself,master`.
          const nodes = String(await c.cluster('NODES')).split('\n').filter((l) => (l.split(' ')[2] ?? '').split(',').includes('master'));
          last = infoText.split('\r\n').find((l) => l.startsWith('cluster_state')) ?? '';
          return /cluster_state:ok/.test(infoText) && nodes.length === ports.length;
        }),
      );
      if (ok.every(Boolean)) return;
      if (Date.now() > deadline) throw new Error(`the Redis Cluster on ports ${ports.join(',')} was not ok within ${timeoutMs} ms (${last})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    for (const c of clients) c.disconnect();
  }
}

/**
 * Starts a local Redis Cluster of `masters` masters (no replicas) on free loopback ports:
 * `redis-server --cluster-enabled yes` per node (cluster bus on a free port of its own, no
 * persistence, `noeviction`), then `redis-cli --cluster create`, then waits for every node to say
 * `cluster_state:ok`. Throws (never skips) when redis-server or redis-cli is missing.
 */
export async function startRedisCluster(opts: { masters?: number } = {}): Promise<RedisClusterHandle> {
  requireBinary('redis-server');
  requireBinary('redis-cli');
  const n = opts.masters ?? 3;
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  const ports: number[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((r) => {
            if (c.exitCode !== null || c.signalCode !== null) return r();
            c.once('exit', () => r());
            c.kill('SIGTERM');
            setTimeout(() => c.kill('SIGKILL'), 5_000).unref();
          }),
      ),
    );
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < n; i++) {
      const port = await freePort();
      // Redis 7 takes the bus port as an option; the default (port + 10000) may be taken or out of range.
      const busPort = await freePort();
      const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-cluster-'));
      dirs.push(dir);
      const child = spawn(
        'redis-server',
        [
          '--port', String(port),
          '--cluster-enabled', 'yes',
          '--cluster-port', String(busPort),
          '--cluster-config-file', path.join(dir, 'nodes.conf'),
          '--cluster-node-timeout', '15000',
          '--bind', '127.0.0.1',
          '--dir', dir,
          '--save', '',
          '--appendonly', 'no',
          '--maxmemory-policy', 'noeviction',
          '--daemonize', 'no',
          '--loglevel', 'warning',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      children.push(child);
      await Promise.race([
        waitForPort(port, 10_000),
        new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`redis-server (cluster node ${i + 1}) exited with code ${code}: ${stderr.trim()}`)))),
      ]);
      ports.push(port);
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], 60_000);
    await waitClusterOk(ports, 30_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`, ports, stop };
}
