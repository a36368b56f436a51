import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgoraClient } from '@agora/sdk';
import { createRedis, liveRunners, type RedisClient } from '@agora/state';
import { BIN, cliEnv, spawnAutoscale } from '../../../test/support/cli.js';
import { until } from '../../../test/support/index.js';
import { runnersThatRan } from '../../../test/support/cluster.js';

/**
 * `agora fleet` with the local provider: real detached `agora runner` processes, started by one
 * CLI and seen, used and scaled by later ones (the pid files under the data dir).
 */
const env = cliEnv({
  queues: { default: { concurrency: 6 } },
  runner: { shutdownGraceMs: 2000 },
  // vcpu 4: the count cap of this 2-core host would otherwise keep 2 of the 3 asked for.
  fleet: { local: { provider: 'local', options: { vcpu: 4, args: ['--concurrency', '1'], stopTimeoutMs: 20_000 }, autoscale: { min: 1, max: 3, targetWaitingPerRunner: 5, intervalMs: 1000 } } },
});
let client: AgoraClient;
let redis: RedisClient;

interface Report {
  fleets: Array<{ name: string; desired: number; running: number; healthy: number; runners: string[]; replicas: Array<{ pid: number; state: string }> }>;
  registered: Array<{ id: string; pid: number }>;
}

function status(): Report {
  const r = env.agora(['fleet', 'status', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Report;
}

/** Running: a zombie (exited, its reaper not yet run: the CLI that spawned it is gone) is not. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

let started: number[] = [];

beforeAll(async () => {
  await env.start(['serve'], /scheduler serving/);
  client = new AgoraClient({ redisUrl: String(env.env['REDIS_URL']), namespace: env.namespace });
  redis = createRedis(String(env.env['REDIS_URL']));
});

afterAll(async () => {
  env.agora(['fleet', 'stop'], { timeoutMs: 60_000 });
  // Whatever the verb left (it failed, or the test did before it): no runner outlives the file.
  for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
  await client?.close();
  redis?.disconnect();
  await env.close();
}, 90_000);

describe('agora fleet (local processes)', () => {
  it('scale 3 starts three runners that a later status sees registered, and all three take items', async () => {
    const scaled = env.agora(['fleet', 'scale', '3']);
    expect(scaled.code, scaled.stderr).toBe(0);
    expect(scaled.stdout).toBe('fleet local (local): desired 3, running 3\n');

    // Polled in-process (a CLI start costs seconds here); then one status from a new CLI.
    await until('three runners registered', async () => (await liveRunners(redis, env.namespace)).length === 3, 60_000, 250);
    const healthy = status();
    const fleet = healthy.fleets[0]!;
    started = fleet.replicas.map((r) => r.pid);
    expect(fleet).toMatchObject({ name: 'local', desired: 3, running: 3, healthy: 3 });
    expect(new Set(fleet.runners).size).toBe(3);
    expect(fleet.runners.every((id) => healthy.registered.some((r) => r.id === id))).toBe(true);

    // Six items of 1 s on runners of one slot each: the first three start on three runners.
    const runId = await client.submit({ id: 'fleet-spread', items: Array.from({ length: 6 }, (_, i) => ({ id: `i${i}`, executor: 'noop', inputs: { sleepMs: 1000 } })) });
    const { end, runners } = await runnersThatRan(client, runId);
    expect(end).toBe('succeeded');
    expect([...runners].sort()).toEqual([...fleet.runners].sort());
  }, 120_000);

  it('scale 1 stops the two newest (SIGTERM, they deregister) and keeps the oldest', async () => {
    const before = status().fleets[0]!;
    const byAge = [...before.replicas].sort((a, b) => a.pid - b.pid);
    const r = env.agora(['fleet', 'scale', '1'], { timeoutMs: 90_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('fleet local (local): desired 1, running 1\n');
    const after = status();
    expect(after.fleets[0]).toMatchObject({ desired: 1, running: 1 });
    const kept = after.fleets[0]!.replicas.map((x) => x.pid);
    expect(kept).toHaveLength(1);
    const stopped = byAge.map((x) => x.pid).filter((p) => !kept.includes(p));
    expect(stopped).toHaveLength(2);
    expect(stopped.filter(alive)).toEqual([]);
    // A clean stop removes the registration at once (no 15 s staleness).
    expect(after.registered.map((x) => x.pid).filter((p) => stopped.includes(p))).toEqual([]);
  }, 120_000);

  it('a bad count or an unknown fleet exits 2 with a message; autoscale at min and list keep the one replica left', () => {
    for (const bad of ['three', '1001']) {
      const r = env.agora(['fleet', 'scale', bad]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`agora: fleet scale: <n> must be an integer from 0 to 1000, got ${JSON.stringify(bad)}`);
    }
    const unknown = env.agora(['fleet', 'scale', '1', '--provider', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('agora: unknown fleet "nope" (configured: local)');
    // An idle queue at min: the autoscaler keeps the one replica (its decision is unit-tested in libs/core).
    const auto = env.agora(['fleet', 'autoscale', '--once', '--json']);
    expect(auto.code, auto.stderr).toBe(0);
    expect(JSON.parse(auto.stdout)).toEqual({ fleet: 'local', waiting: 0, active: 0, from: 1, to: 1 });
    const list = env.agora(['fleet', 'list', '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as { replicas: Array<{ fleet: string; state: string }> }).replicas).toEqual([expect.objectContaining({ fleet: 'local', provider: 'local', state: 'running' })]);
  });

  it('two `scale 3` at once leave three replicas, not five: the second waits for the first and finds nothing to start', async () => {
    const scale = () =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, 'fleet', 'scale', '3'], { cwd: env.dir, env: env.env, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.once('exit', (code) => resolve({ code, out }));
      });
    const both = await Promise.all([scale(), scale()]);
    for (const r of both) expect(r.code, r.out).toBe(0);
    const fleet = status().fleets[0]!;
    started = [...new Set([...started, ...fleet.replicas.map((r) => r.pid)])];
    expect(fleet).toMatchObject({ desired: 3, running: 3 });
    expect(fleet.replicas).toHaveLength(3);
    const scaledDown = env.agora(['fleet', 'scale', '1'], { timeoutMs: 90_000 });
    expect(scaledDown.code, scaledDown.stderr).toBe(0);
  }, 180_000);

  it('autoscale survives a failed round after the first (a line on stderr, { fleet, error } with --json) and goes on; a failed first round still exits', async () => {
    // A directory where the fleet's lock file goes: every change of the fleet fails at once
    // ("cannot use the lock file … remove it"), as when the lock cannot be taken.
    const lock = path.join(String(env.env['AGORA_DATA_DIR']), 'fleet', 'local.lock');
    mkdirSync(lock, { recursive: true });
    try {
      const first = env.agora(['fleet', 'autoscale', '--json'], { timeoutMs: 30_000 });
      expect(first.code, first.stderr).toBe(2);
      expect(first.stdout).toBe('');
      expect(first.stderr).toContain(`cannot use the lock file ${lock}`);
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }

    const { child, lines, stderr, exited } = spawnAutoscale(env);
    try {
      await until('the first decision', async () => lines().length >= 1, 30_000, 100);
      expect(lines()[0]).toMatchObject({ fleet: 'local', waiting: 0, active: 0, to: 1 });
      mkdirSync(lock);
      await until('a failed round', async () => lines().some((l) => 'error' in l), 30_000, 100);
      rmSync(lock, { recursive: true, force: true });
      const failedAt = lines().findIndex((l) => 'error' in l);
      expect(lines()[failedAt]).toEqual({ fleet: 'local', error: expect.stringContaining(`cannot use the lock file ${lock}`) as unknown });
      // The controller is still there: the next round decides again.
      await until('a decision after the failed round', async () => lines().slice(failedAt).some((l) => 'to' in l), 30_000, 100);
      const warn = stderr().split('\n').find((l) => l.includes('autoscale round failed'));
      expect(warn, stderr()).toBeDefined();
      expect(JSON.parse(warn!)).toMatchObject({ level: 'warn', fleet: 'local', error: expect.stringContaining('cannot use the lock file') as unknown });
      expect(child.exitCode).toBeNull();
    } finally {
      rmSync(lock, { recursive: true, force: true });
      child.kill('SIGTERM');
    }
    expect(await exited, stderr()).toBe(0);
  }, 120_000);

  it('`scale 3` and `scale 2` at once: one change at a time, the fleet ends at the count of the one that ran last, every replica it counts alive', async () => {
    const scale = (n: number) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, 'fleet', 'scale', String(n)], { cwd: env.dir, env: env.env, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.once('exit', (code) => resolve({ code, out }));
      });
    const both = await Promise.all([scale(3), scale(2)]);
    for (const r of both) expect(r.code, r.out).toBe(0);
    const fleet = status().fleets[0]!;
    started = [...new Set([...started, ...fleet.replicas.map((r) => r.pid)])];
    expect([2, 3]).toContain(fleet.desired);
    expect(fleet.running).toBe(fleet.desired);
    expect(fleet.replicas).toHaveLength(fleet.desired);
    for (const r of fleet.replicas) expect(alive(r.pid), `replica ${r.pid}`).toBe(true);
    const scaledDown = env.agora(['fleet', 'scale', '1'], { timeoutMs: 90_000 });
    expect(scaledDown.code, scaledDown.stderr).toBe(0);
  }, 180_000);

  it('a CLI given REDIS_URL_FILE (a mounted secret) starts runners that reach Redis (they do not find REDIS_URL and REDIS_URL_FILE both set)', async () => {
    const file = path.join(env.dir, 'redis-url-secret');
    writeFileSync(file, `${String(env.env['REDIS_URL'])}\n`, { mode: 0o600 });
    const { REDIS_URL: _unset, ...rest } = env.env;
    const r = spawnSync(process.execPath, [BIN, 'fleet', 'scale', '2'], { cwd: env.dir, env: { ...rest, REDIS_URL_FILE: file }, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    started = [...new Set([...started, ...status().fleets[0]!.replicas.map((x) => x.pid)])];
    await until('the second runner registered', async () => (await liveRunners(redis, env.namespace)).length === 2, 30_000, 250);
    expect(status().fleets[0]).toMatchObject({ desired: 2, running: 2, healthy: 2 });
    const scaledDown = env.agora(['fleet', 'scale', '1'], { timeoutMs: 90_000 });
    expect(scaledDown.code, scaledDown.stderr).toBe(0);
  }, 120_000);
});
