import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Executor } from '@agora/runner';
import { createLockManager, lockKeys } from '@agora/locks';
import { createRedis } from '@agora/state';
import { startCluster, type TestCluster } from '../support/cluster.js';

/**
 * The fencing check under a fault: the lease vanishes in Redis (a failover that lost the key, an
 * expiry the holder's clock missed) while the holder notices nothing; another holder takes the
 * lock with a newer token. The first holder's result must be refused on its token, not stored.
 */
const attempts: Array<{ runId: string; token: number }> = [];
let release: () => void = () => undefined;
const slow: Executor = {
  name: 'slow',
  async execute(ctx) {
    attempts.push({ runId: ctx.runId, token: ctx.lockTokens['fence/lock']! });
    if (attempts.filter((a) => a.runId === ctx.runId).length === 1) await new Promise<void>((r) => (release = r));
    return { output: `token ${ctx.lockTokens['fence/lock']}` };
  },
};

let cluster: TestCluster;
const redis = createRedis(process.env['AGORA_TEST_REDIS_URL']!);
beforeAll(async () => {
  // A long lease: the holder's next extension (every ttl/3) comes long after the test is done.
  cluster = await startCluster({ runners: 1, executors: [slow], config: { runner: { lockTtlMs: 60_000, backoffMs: 100 } } });
});
afterAll(async () => {
  release();
  await cluster?.close();
  redis.disconnect();
});

describe('fencing under a fault', () => {
  it("a holder whose lease vanished in Redis has its result refused on its token; the item runs again under a newer token", async () => {
    const runId = await cluster.client.submit({ id: 'fence', items: [{ id: 'guarded', executor: 'slow', resourceLocks: ['fence/lock'] }] });
    for (let i = 0; i < 200 && !attempts.some((a) => a.runId === runId); i++) await new Promise((r) => setTimeout(r, 50));
    expect(attempts.filter((a) => a.runId === runId)).toEqual([{ runId, token: 1 }]);
    // The lease disappears under the holder, and an intruder takes the lock: token 2.
    const k = lockKeys(cluster.config.namespace);
    expect(await redis.del(k.resource('fence/lock'))).toBe(1);
    const intruder = createLockManager({ redis: createRedis(cluster.config.redisUrl), namespace: cluster.config.namespace, lockTtlMs: 2000 });
    const taken = await intruder.acquire({ names: ['fence/lock'], holder: { runId: 'rother', itemId: 'x', jobId: 'x', queue: 'default' } });
    expect(taken).toMatchObject({ acquired: true, lease: { tokens: { 'fence/lock': 2 } } });
    // The first holder finishes, unaware: its result must be fenced.
    release();
    for (let i = 0; i < 100; i++) {
      if ((await cluster.client.events(runId)).some((e) => e.type === 'lock' && e['action'] === 'fenced')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    if (taken.acquired) await taken.lease.release();
    await intruder.close();
    const status = await cluster.client.wait(runId);
    const events = await cluster.client.events(runId);
    expect(events.filter((e) => e.type === 'lock' && e['action'] === 'fenced')).toEqual([
      expect.objectContaining({ itemId: 'guarded', lock: 'fence/lock', token: 1, newestToken: 2 }),
    ]);
    expect(status.state).toBe('succeeded');
    const done = events.find((e) => e.itemId === 'guarded' && e.state === 'done')!;
    expect(done['attempt']).toBe(2);
    // What was stored is the newer holder's output, never the fenced one.
    const { LocalStorageProvider } = await import('@agora/storage-local');
    const bytes = await new LocalStorageProvider({ root: `${cluster.dataDir}/storage` }).get(String(done.resultRef));
    expect(Buffer.from(bytes).toString()).toBe('token 3');
    expect(events.filter((e) => e.itemId === 'guarded' && e.state === 'done')).toHaveLength(1);
  });
});

describe('fencing on the last try', () => {
  it('an item fenced on its last try ends failed FENCED (not as a job BullMQ failed), with no retry', async () => {
    const runId = await cluster.client.submit({ id: 'fence-last', items: [{ id: 'once', executor: 'slow', resourceLocks: ['fence/last'], retry: { attempts: 1 } }] });
    for (let i = 0; i < 200 && !attempts.some((a) => a.runId === runId); i++) await new Promise((r) => setTimeout(r, 50));
    const k = lockKeys(cluster.config.namespace);
    expect(await redis.del(k.resource('fence/last'))).toBe(1);
    const intruder = createLockManager({ redis: createRedis(cluster.config.redisUrl), namespace: cluster.config.namespace, lockTtlMs: 2000 });
    const taken = await intruder.acquire({ names: ['fence/last'], holder: { runId: 'rother', itemId: 'x', jobId: 'x', queue: 'default' } });
    expect(taken.acquired).toBe(true);
    release();
    const status = await cluster.client.wait(runId);
    if (taken.acquired) await taken.lease.release();
    await intruder.close();
    const events = await cluster.client.events(runId);
    expect(status.state).toBe('failed');
    expect(events.filter((e) => e.type === 'lock' && e['action'] === 'fenced')).toEqual([expect.objectContaining({ itemId: 'once', lock: 'fence/last', token: 1, newestToken: 2 })]);
    expect(events.filter((e) => e.type === 'retry')).toEqual([]);
    const failed = events.filter((e) => e.itemId === 'once' && e.state === 'failed');
    expect(failed).toEqual([expect.objectContaining({ errorCode: 'FENCED', attempt: 1, error: expect.stringContaining('is stale (newest is 2)') })]);
    expect(attempts.filter((a) => a.runId === runId)).toHaveLength(1);
  });
});

describe('fencing under a fault, with a runner process', () => {
  it('the same, against an `agora runner` process running a real worker: the stale result is refused and the item runs again', async () => {
    const { cliEnv } = await import('../support/cli.js');
    const { AgoraClient } = await import('@agora/sdk');
    const env = cliEnv({
      runner: { lockTtlMs: 60_000, backoffMs: 100 },
      tasks: { slow: { command: [process.execPath, '-e', 'setTimeout(() => process.stdout.write("tokens " + process.env.AGORA_LOCK_TOKENS), 2500)'] } },
    });
    const client = new AgoraClient({ redisUrl: String(env.env['REDIS_URL']), namespace: env.namespace });
    const r = createRedis(String(env.env['REDIS_URL']));
    try {
      await env.start(['serve'], /scheduler (serving|active)/);
      await env.start(['runner'], /runner started/);
      const runId = await client.submit({ id: 'fence-proc', items: [{ id: 'guarded', executor: 'dispatch', inputs: { task: 'slow' }, resourceLocks: ['fence/proc'] }] });
      for (let i = 0; i < 200 && !(await client.events(runId)).some((e) => e.itemId === 'guarded' && e.state === 'running'); i++) {
        await new Promise((res) => setTimeout(res, 50));
      }
      expect(await r.del(lockKeys(env.namespace).resource('fence/proc'))).toBe(1);
      const intruder = createLockManager({ redis: r, namespace: env.namespace, lockTtlMs: 2000 });
      const taken = await intruder.acquire({ names: ['fence/proc'], holder: { runId: 'rother', itemId: 'x', jobId: 'x', queue: 'default' } });
      expect(taken.acquired).toBe(true);
      for (let i = 0; i < 200 && !(await client.events(runId)).some((e) => e['action'] === 'fenced'); i++) await new Promise((res) => setTimeout(res, 50));
      if (taken.acquired) await taken.lease.release();
      await intruder.close();
      const status = await client.wait(runId);
      const events = await client.events(runId);
      expect(status.state).toBe('succeeded');
      expect(events.filter((e) => e['action'] === 'fenced')).toEqual([expect.objectContaining({ lock: 'fence/proc', token: 1, newestToken: 2 })]);
      const done = events.find((e) => e.itemId === 'guarded' && e.state === 'done')!;
      const { LocalStorageProvider } = await import('@agora/storage-local');
      const bytes = await new LocalStorageProvider({ root: `${env.dir}/.agora/storage` }).get(String(done.resultRef));
      expect(Buffer.from(bytes).toString()).toBe('tokens {"fence/proc":3}');
    } finally {
      await client.close();
      r.disconnect();
      await env.close();
    }
  }, 60_000);
});
