import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../../../test/support/cluster.js';
import { until } from '../../../test/support/index.js';

/**
 * An item with more events than `item()` returns is still told whole: before, only its first
 * 1,000 events were folded, so an item sent 1,000 messages before it started read back with
 * `attempts: 0` and no start, end or reason.
 */
let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startCluster({ runners: 1 });
});
afterAll(() => cluster?.close());

describe('item detail of an item with over 1,000 events', () => {
  it('tells its start and end from all of them and returns the newest 1,000, saying how many are left out', async () => {
    const runId = await cluster.client.submit({
      id: 'many-events',
      items: [
        { id: 'first', executor: 'noop', inputs: { sleepMs: 4000 } },
        { id: 'later', executor: 'noop', inputs: {}, depends_on: ['first'] },
      ],
    });
    await until('accepted', async () => (await cluster.client.item(runId, 'later').catch(() => null))?.state === 'waiting');
    // 1,000 messages while `later` waits for `first` (the most one item takes).
    for (let i = 0; i < 1000; i += 50) await Promise.all(Array.from({ length: 50 }, (_, k) => cluster.client.send(runId, 'later', { n: i + k })));
    expect((await cluster.client.status(runId)).state).not.toBe('succeeded');
    await cluster.client.wait(runId);
    const d = await cluster.client.item(runId, 'later');
    expect(d).toMatchObject({ state: 'done', attempts: 1, executor: 'noop' });
    expect(d.startedAt).toBeDefined();
    expect(d.endedAt).toBeDefined();
    expect(d.events).toHaveLength(1000);
    // waiting, 1,000 messages, queued, running, done: the oldest four are left out.
    expect(d.eventsOmitted).toBe(4);
    expect(d.events.at(-1)).toMatchObject({ type: 'item', state: 'done', itemId: 'later' });
    const seqs = d.events.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect((await cluster.client.item(runId, 'first')).eventsOmitted).toBeUndefined();
  });
});
