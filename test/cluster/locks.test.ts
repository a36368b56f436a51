import { afterAll, describe, expect, it } from 'vitest';
import { createLockManager, type LockHolder, type LockLease, type LockManager } from '@agora/locks';
import { createRedis, isRedisCluster, type RedisClient } from '@agora/state';
import { testRedisUrl, uniqueNamespace } from '../support/index.js';

/**
 * Resource locks on a Redis Cluster: every key of a namespace's locks carries `{<namespace>}`,
 * so redlock's acquisition of several locks and the claim/release scripts stay in one slot.
 */
const clients: RedisClient[] = [];
const managers: LockManager[] = [];
afterAll(async () => {
  for (const m of managers) await m.close();
  for (const c of clients) c.disconnect();
});

function manager(namespace: string): LockManager {
  const redis = createRedis(testRedisUrl(), { enableAutoPipelining: true });
  clients.push(redis);
  const m = createLockManager({ redis, namespace });
  managers.push(m);
  return m;
}

const holder = (i: number | string): LockHolder => ({ runId: 'r1', itemId: `i${i}`, jobId: `j${i}`, queue: 'q' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function acquireSpin(m: LockManager, names: string[], h: LockHolder): Promise<LockLease> {
  for (;;) {
    const r = await m.acquire({ names, holder: h });
    if (r.acquired) return r.lease;
    await sleep(2);
  }
}

describe('resource locks on a Redis Cluster', () => {
  it('a hot lock: 50 holders across 3 managers never overlap, tokens increase in acquisition order', async () => {
    const ns = uniqueNamespace();
    const ms = [manager(ns), manager(ns), manager(ns)];
    expect(isRedisCluster(clients[0]!)).toBe(true);
    const log: Array<{ start: number; end: number; token: number }> = [];
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const lease = await acquireSpin(ms[i % 3]!, ['hot'], holder(i));
        inside++;
        maxInside = Math.max(maxInside, inside);
        const start = performance.now();
        await sleep(2);
        inside--;
        log.push({ start, end: performance.now(), token: lease.tokens['hot']! });
        await lease.release();
      }),
    );
    expect(maxInside).toBe(1);
    log.sort((a, b) => a.start - b.start);
    for (let i = 1; i < log.length; i++) {
      expect(log[i]!.start).toBeGreaterThanOrEqual(log[i - 1]!.end);
      expect(log[i]!.token).toBeGreaterThan(log[i - 1]!.token);
    }
  });

  it('serves waiters first in, first out: an early waiter beats a stream of newcomers (FIFO)', async () => {
    const m = manager(uniqueNamespace());
    const first = await acquireSpin(m, ['fair'], holder('first'));
    expect(await m.acquire({ names: ['fair'], holder: holder('early') })).toEqual({ acquired: false, blockedBy: 'fair', position: 1 });
    expect(await m.acquire({ names: ['fair'], holder: holder('late0') })).toMatchObject({ acquired: false, position: 2 });
    expect(await first.release()).toEqual([holder('early')]);
    for (let i = 1; i < 5; i++) expect((await m.acquire({ names: ['fair'], holder: holder(`late${i}`) })).acquired).toBe(false);
    expect((await m.acquire({ names: ['fair'], holder: holder('late0') })).acquired).toBe(false);
    const got = await m.acquire({ names: ['fair'], holder: holder('early') });
    expect(got.acquired).toBe(true);
    if (got.acquired) {
      expect(got.lease.tokens['fair']).toBe(first.tokens['fair']! + 1);
      expect(await got.lease.release()).toEqual([holder('late0')]);
    }
  });

  it('several locks at once ([x, y] against [y, x]) in one acquisition: no CROSSSLOT, no deadlock', async () => {
    const ns = uniqueNamespace();
    const m1 = manager(ns);
    const m2 = manager(ns);
    await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const lease = await acquireSpin(i % 2 ? m1 : m2, i % 2 ? ['x', 'y', 'db/main'] : ['db/main', 'y', 'x'], holder(i));
        expect(lease.names).toEqual(['db/main', 'x', 'y']);
        await sleep(1);
        await lease.release();
      }),
    );
    // `agora locks` reads every lock in one pipeline: one slot too.
    const listed = await m1.list();
    for (const l of listed) expect(l).toMatchObject({ holder: null, waiters: [] });
  });
});
