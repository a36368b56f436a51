import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AgoraError, compileConfig } from '@agora/core';
import { AgoraClient } from '@agora/sdk';
import { createDashboard } from '@agora/dashboard';
import { startRedisServer, type RedisServerHandle } from '@agora/state';
import { silent } from '../support/cluster.js';
import { cliEnv, type CliEnv } from '../support/cli.js';
import { uniqueNamespace } from '../support/index.js';

/**
 * Item 12 of the trust-boundary issue: nothing hangs when Redis is down. Each test starts a
 * private redis-server and stops it under the code being tested.
 */

const servers: RedisServerHandle[] = [];
const envs: CliEnv[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const e of envs) await e.close();
  for (const s of servers) await s.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function redis(port?: number): Promise<RedisServerHandle> {
  const s = await startRedisServer(port === undefined ? {} : { port });
  servers.push(s);
  return s;
}

/** Settles to the rejection reason (or the string "resolved"), and how long that took. */
async function timed(p: Promise<unknown>): Promise<{ err: unknown; ms: number }> {
  const t0 = Date.now();
  const err = await p.then(
    () => 'resolved',
    (e: unknown) => e,
  );
  return { err, ms: Date.now() - t0 };
}

function expectUnavailable(err: unknown): void {
  expect(err).toBeInstanceOf(AgoraError);
  expect((err as AgoraError).code).toBe('UNAVAILABLE');
  expect((err as AgoraError).retryable).toBe(true);
  expect((err as Error).name).toBe('UnavailableError');
}

const plan = { id: 'down', queue: 'default', items: [{ id: 'a', executor: 'noop', inputs: {}, depends_on: [], resourceLocks: [] }] };

describe('nothing hangs when Redis is down', () => {
  it('SDK calls reject with UnavailableError after timeoutMs, and a timed-out submit is not enqueued later', async () => {
    const s = await redis();
    const namespace = uniqueNamespace('down');
    const opts = { redisUrl: s.url, namespace, timeoutMs: 1000 } as ConstructorParameters<typeof AgoraClient>[0];
    const client = new AgoraClient(opts);
    const closer = new AgoraClient(opts);
    await expect(client.status('r0000000000abcdef')).rejects.toThrow(/no run/);
    await expect(closer.status('r0000000000abcdef')).rejects.toThrow(/no run/);
    await s.stop();
    for (const call of [() => client.status('r0000000000abcdef'), () => client.submit(plan, { runId: 'rlate0000000001' }), () => client.cancel('r0000000000abcdef'), () => client.events('r0000000000abcdef')]) {
      const { err, ms } = await timed(call());
      expectUnavailable(err);
      expect(ms).toBeGreaterThanOrEqual(900);
      expect(ms).toBeLessThan(3000);
    }
    const { ms: closeMs } = await timed(closer.close());
    expect(closeMs).toBeLessThan(3000);
    // Redis comes back on the same port and `client` reconnects: the submit that timed out must
    // not slip in afterwards (a caller told "unavailable" would submit again).
    await redis(s.port);
    const after = new AgoraClient({ redisUrl: s.url, namespace });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const { err } = await timed(client.status('r0000000000abcdef'));
      if ((err as AgoraError).code !== 'UNAVAILABLE' || Date.now() > deadline) {
        expect((err as Error).message).toMatch(/no run/);
        break;
      }
    }
    await expect(after.status('rlate0000000001')).rejects.toThrow(/no run/);
    await after.close();
    await client.close();
  }, 60_000);

  it('the dashboard answers /healthz 503 within 2 s and API routes 503 JSON within 5 s', async () => {
    const s = await redis();
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'agora-down-'));
    dirs.push(dataDir);
    const config = compileConfig({ namespace: uniqueNamespace('dash') }, 'test', dataDir, { REDIS_URL: s.url });
    const dash = await createDashboard({ config, port: 0, logger: silent });
    try {
      expect((await fetch(`${dash.url}/healthz`)).status).toBe(200);
      await s.stop();
      const t0 = Date.now();
      const h = await fetch(`${dash.url}/healthz`, { signal: AbortSignal.timeout(10_000) });
      expect(h.status).toBe(503);
      expect(Date.now() - t0).toBeLessThan(2500);
      const t1 = Date.now();
      const res = await fetch(`${dash.url}/api/runs/r0000000000abcdef`, { signal: AbortSignal.timeout(15_000) });
      expect(Date.now() - t1).toBeLessThan(5500);
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toMatch(/json/);
      const body = (await res.json()) as { error?: string; message?: string };
      expect(body.error).toBe('unavailable');
      expect(body.message).toMatch(/Redis/);
    } finally {
      const { ms } = await timed(dash.close());
      expect(ms).toBeLessThan(15_000);
    }
  }, 60_000);

  it('agora serve and agora runner log one JSON line per reconnect attempt, with back-off, while Redis is down', async () => {
    const s = await redis();
    const e = cliEnv({ queues: { default: { concurrency: 2 } } });
    envs.push(e);
    e.env['REDIS_URL'] = s.url;
    const procs = [await e.start(['serve'], /scheduler serving/), await e.start(['runner', '--concurrency', '1'], /runner started/)];
    const outs = procs.map((p) => {
      let text = '';
      p.stdout?.on('data', (d: Buffer) => (text += d.toString()));
      p.stderr?.on('data', (d: Buffer) => (text += d.toString()));
      return () => text;
    });
    await s.stop();
    await new Promise((r) => setTimeout(r, 6000));
    for (const [i, out] of outs.entries()) {
      const lines = out().split('\n').filter((l) => l.trim() !== '');
      expect(procs[i]!.exitCode, out()).toBeNull();
      expect(lines.length, out()).toBeGreaterThan(0);
      expect(lines.length, out()).toBeLessThanOrEqual(15);
      for (const line of lines) {
        expect(() => JSON.parse(line) as unknown, line).not.toThrow();
        expect(line).not.toMatch(/\bat .*\(.*:\d+:\d+\)|\\n\s+at /);
      }
    }
  }, 60_000);
});
