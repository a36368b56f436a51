import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createLockManager, type LockManager } from '@agora/locks';
import { createRunner, type Runner } from '@agora/runner';
import { silent, startCluster, type TestCluster } from '../../../test/support/cluster.js';
import { startRedisServer } from '@agora/state';
import { testRedisUrl, until } from '../../../test/support/index.js';

/**
 * A cancel reaches runners over pub/sub, which stops the items they list as running. An item
 * whose start script had run (so the cancel counted it as running, leaving its end to its runner)
 * but which its runner had not listed yet missed the cancel and ran to its end.
 */
let cluster: TestCluster;
let runner: Runner | undefined;
const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
/** Set by the test: called between an item's start (its locks granted, it is running) and the rest of its start on the runner. */
let afterStart: (() => Promise<void>) | undefined;

beforeAll(async () => {
  cluster = await startCluster({ runners: 0 });
  const real = createLockManager({ redis, namespace: cluster.config.namespace, lockTtlMs: cluster.config.runner.lockTtlMs });
  // The real lock manager, with a pause after a granted acquisition: the item's start script has
  // run inside it (lock claim + begin), and the runner has not yet listed the item as running.
  const locks = new Proxy(real, {
    get(target, prop) {
      if (prop === 'acquire') {
        return async (...args: Parameters<LockManager['acquire']>) => {
          const r = await target.acquire(...args);
          if (r.acquired) await afterStart?.();
          return r;
        };
      }
      const v: unknown = Reflect.get(target, prop);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  runner = await createRunner({ config: cluster.config, logger: silent, runnerId: 'runner-0', cpus: 64, locks });
});
afterAll(async () => {
  await runner?.close({ graceMs: 1000 });
  await cluster?.close();
  redis.disconnect();
});

describe('cancel while an item starts', () => {
  it('an item that began just before its run was cancelled is stopped once its runner lists it, not left to run out', async () => {
    let runId = '';
    let cancelled: Awaited<ReturnType<TestCluster['client']['cancel']>> | undefined;
    afterStart = async () => {
      afterStart = undefined;
      cancelled = await cluster.client.cancel(runId);
      // Long enough for the runner's subscriber to hear the cancel before the item is listed.
      await sleep(500);
    };
    runId = await cluster.client.submit({ id: 'cancel-race', items: [{ id: 'slow', executor: 'noop', inputs: { sleepMs: 20_000 }, resourceLocks: ['race/lock'] }] });
    const status = await cluster.client.wait(runId);
    // The premise: the cancel came after the start and counted the item as running.
    expect(cancelled).toEqual({ runId, state: 'running', running: 1 });
    expect(status.state).toBe('cancelled');
    expect(status.items).toEqual([expect.objectContaining({ id: 'slow', state: 'cancelled' })]);
    // Before, the item ran its 20 s and ended done.
    const states = (await cluster.client.events(runId)).filter((e) => e.type === 'item' && e.itemId === 'slow').map((e) => e.state);
    expect(states).toEqual(['queued', 'running', 'cancelled']);
  }, 60_000);

  it('a cancel published while a runner was reconnecting to Redis stops its running items once it is back', async () => {
    // A Redis of its own: CLIENT KILL TYPE pubsub must cut only this cluster's subscribers.
    const server = await startRedisServer();
    const c = await startCluster({ runners: 1, redisUrl: server.url });
    const admin = new Redis(server.url, { maxRetriesPerRequest: null });
    try {
      const runId = await c.client.submit({ id: 'cancel-unheard', items: [{ id: 'slow', executor: 'noop', inputs: { sleepMs: 20_000 } }] });
      await until('the item running', async () => ((await c.client.status(runId)) as { items?: Array<{ id: string; state: string }> }).items?.some((i) => i.id === 'slow' && i.state === 'running'));
      // Cut the runner's subscriber and cancel before it is back: pub/sub does not keep the message.
      const killed = Number(await admin.client('KILL', 'TYPE', 'pubsub'));
      expect(killed).toBeGreaterThan(0);
      expect(await c.client.cancel(runId)).toEqual({ runId, state: 'running', running: 1 });
      const status = await c.client.wait(runId);
      // Before, the item ran its 20 s and ended done.
      expect(status.state).toBe('cancelled');
      expect(status.items).toEqual([expect.objectContaining({ id: 'slow', state: 'cancelled' })]);
    } finally {
      admin.disconnect();
      await c.close();
      await server.stop();
    }
  }, 60_000);
});
