import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { itemJobId, keys } from '@agora/core';
import { createRedis } from '@agora/state';
import { startCluster, type TestCluster } from '../support/cluster.js';
import { gateExecutor } from '../support/gate.js';

/**
 * No item is ever stranded: whatever happens to its job (here: removed from the queue, as Bull
 * Board's admin "clean" or a retention setting would), the item reaches a terminal state and the
 * run ends. The active scheduler looks at the jobs of a run whose stream stopped moving.
 */
const { executor: gate, release } = gateExecutor();

let cluster: TestCluster;
const redis = createRedis(process.env['AGORA_TEST_REDIS_URL']!);
beforeAll(async () => {
  cluster = await startCluster({
    runners: 1,
    executors: [gate],
    config: { queues: { default: { concurrency: 1 } }, scheduler: { repairAfterMs: 1000 }, audit: { checkpointEveryMs: 1000 } },
  });
});
afterAll(async () => {
  release();
  await cluster?.close();
  redis.disconnect();
});

describe('no item is ever stranded', () => {
  it('an item whose job was removed ends JOB_LOST, its dependent is skipped, and the run ends', async () => {
    const runId = await cluster.client.submit({
      id: 'stranded',
      items: [
        { id: 'first', executor: 'gate' },
        { id: 'removed', executor: 'noop' },
        { id: 'after-removed', executor: 'noop', depends_on: ['removed'] },
        { id: 'other', executor: 'noop' },
      ],
    });
    for (let i = 0; i < 200 && !(await cluster.client.events(runId)).some((e) => e.itemId === 'first' && e.state === 'running'); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const q = new Queue('default', { connection: redis, prefix: keys(cluster.config.namespace).bullPrefix });
    try {
      expect(await q.getJobState(itemJobId(runId, 1))).not.toBe('unknown');
      await q.remove(itemJobId(runId, 1));
      expect(await q.getJobState(itemJobId(runId, 1))).toBe('unknown');
    } finally {
      await q.close();
    }
    release();
    const status = await cluster.client.wait(runId);
    const events = await cluster.client.events(runId);
    expect(status.state).toBe('failed');
    const state = (id: string): string | undefined => status.items.find((i) => i.id === id)?.state;
    expect([state('first'), state('removed'), state('after-removed'), state('other')]).toEqual(['done', 'failed', 'skipped', 'done']);
    expect(events.find((e) => e.itemId === 'removed' && e.state === 'failed')).toMatchObject({ errorCode: 'JOB_LOST' });
    expect(events.some((e) => e.itemId === 'removed' && e.state === 'running')).toBe(false);
  }, 60_000);
});
