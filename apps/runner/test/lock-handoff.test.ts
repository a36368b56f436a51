import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../../../test/support/cluster.js';

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
});
