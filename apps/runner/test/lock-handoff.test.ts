import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createLockManager } from '@agora/locks';
import { createRunner } from '@agora/runner';
import { silent, startCluster, type TestCluster } from '../../../test/support/cluster.js';
import { testRedisUrl } from '../../../test/support/index.js';

/**
 * A lock is kept for the head of its queue while it waits, so the head must run as soon as it is
 * woken: promoted to the front of the wait list, not behind a backlog of other items (the lock
 * would stand idle until the backlog drained).
 */
let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startCluster({ runners: 1, concurrency: 2, config: { queues: { default: { concurrency: 2 } } } });
});
afterAll(async () => cluster?.close());

describe('lock hand-off under a backlog', () => {
  it('the woken head runs next, before the items queued behind it', async () => {
    const backlog = Array.from({ length: 30 }, (_, i) => ({ id: `b${String(i).padStart(2, '0')}`, executor: 'noop', inputs: { sleepMs: 100 } }));
    const runId = await cluster.client.submit({
      id: 'handoff',
      items: [
        { id: 'holder', executor: 'noop', inputs: { sleepMs: 600 }, resourceLocks: ['handoff/lock'] },
        { id: 'waiter', executor: 'noop', resourceLocks: ['handoff/lock'] },
        ...backlog,
      ],
    });
    expect((await cluster.client.wait(runId)).state).toBe('succeeded');
    const events = await cluster.client.events(runId);
    const seqOf = (itemId: string, state: string): number => events.find((e) => e.type === 'item' && e.itemId === itemId && e.state === state)!.seq;
    // The waiter found the lock busy and parked (the test's premise).
    expect(events.some((e) => e.type === 'lock' && e['action'] === 'waiting' && e.itemId === 'waiter')).toBe(true);
    const released = seqOf('holder', 'done');
    const started = seqOf('waiter', 'running');
    const between = events.filter((e) => e.type === 'item' && e.state === 'running' && e.itemId!.startsWith('b') && e.seq > released && e.seq < started);
    const after = events.filter((e) => e.type === 'item' && e.state === 'running' && e.itemId!.startsWith('b') && e.seq > started);
    // At most the item the other slot took meanwhile; the backlog is still there to jump.
    expect(between.length).toBeLessThanOrEqual(1);
    expect(after.length).toBeGreaterThan(10);
  });

  it('a lock whose holder died is noticed by the runner its waiter parked on: the head runs before the backlog', async () => {
    // The test process plays a holder that dies: it takes the lock with a 1.5 s lease, then
    // stops extending it and never releases (nobody names the head to wake).
    const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    const dead = createLockManager({ redis, namespace: cluster.config.namespace, lockTtlMs: 1500 });
    const held = await dead.acquire({ names: ['stranded/lock'], holder: { runId: 'rdead', itemId: 'gone', jobId: 'gone', queue: 'default' } });
    expect(held.acquired).toBe(true);
    await dead.close();
    redis.disconnect();
    // 60 items of 200 ms on two slots: a 6 s backlog, longer than the head's 5 s fallback re-check.
    const backlog = Array.from({ length: 60 }, (_, i) => ({ id: `b${String(i).padStart(2, '0')}`, executor: 'noop', inputs: { sleepMs: 200 } }));
    const runId = await cluster.client.submit({
      id: 'stranded',
      items: [{ id: 'waiter', executor: 'noop', resourceLocks: ['stranded/lock'] }, ...backlog],
    });
    expect((await cluster.client.wait(runId)).state).toBe('succeeded');
    const events = await cluster.client.events(runId);
    expect(events.some((e) => e.type === 'lock' && e['action'] === 'waiting' && e.itemId === 'waiter')).toBe(true);
    const started = events.find((e) => e.type === 'item' && e.itemId === 'waiter' && e.state === 'running')!.seq;
    const after = events.filter((e) => e.type === 'item' && e.state === 'running' && e.itemId!.startsWith('b') && e.seq > started);
    // Woken about a second after the lease ran out, with most of the backlog still to run. Before
    // the watch, its fallback re-check went to the back at 5 s and it ran after every backlog item.
    expect(after.length).toBeGreaterThan(20);
  }, 60_000);

  it('a head whose holder died and whose own runner went away is woken by another runner sweeping every lock in use', async () => {
    const c = await startCluster({ runners: 1, concurrency: 2, config: { queues: { default: { concurrency: 2 } } } });
    let second: Awaited<ReturnType<typeof createRunner>> | undefined;
    try {
      const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
      const dead = createLockManager({ redis, namespace: c.config.namespace, lockTtlMs: 1500 });
      expect((await dead.acquire({ names: ['orphan/lock'], holder: { runId: 'rdead', itemId: 'gone', jobId: 'gone', queue: 'default' } })).acquired).toBe(true);
      await dead.close();
      redis.disconnect();
      const backlog = Array.from({ length: 60 }, (_, i) => ({ id: `b${String(i).padStart(2, '0')}`, executor: 'noop', inputs: { sleepMs: 200 } }));
      const runId = await c.client.submit({ id: 'orphan', items: [{ id: 'waiter', executor: 'noop', resourceLocks: ['orphan/lock'] }, ...backlog] });
      // The waiter parks on runner-0, which then goes away before its own watch looked (1 s).
      for (;;) {
        const events = await c.client.events(runId);
        if (events.some((e) => e.type === 'lock' && e['action'] === 'waiting' && e.itemId === 'waiter')) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await c.runners[0]!.close({ graceMs: 2000 });
      c.runners.length = 0;
      second = await createRunner({ config: c.config, logger: silent, runnerId: 'runner-1', cpus: 64, concurrency: 2 });
      expect((await c.client.wait(runId)).state).toBe('succeeded');
      const events = await c.client.events(runId);
      const started = events.find((e) => e.type === 'item' && e.itemId === 'waiter' && e.state === 'running')!.seq;
      const after = events.filter((e) => e.type === 'item' && e.state === 'running' && e.itemId!.startsWith('b') && e.seq > started);
      // runner-1 never parked it: only its sweep of every lock in use finds the head (about 2 s
      // in, the lease having run out at 1.5 s). Before the sweep, the head's fallback re-check
      // sent it to the back at 5 s and it ran after every backlog item.
      expect(after.length).toBeGreaterThan(20);
    } finally {
      await second?.close({ graceMs: 2000 });
      await c.close();
    }
  }, 60_000);
});
