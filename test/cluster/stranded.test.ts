import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { itemJobId, keys } from '@agora/core';
import { createRedis, stateKeys } from '@agora/state';
import { startCluster, type TestCluster } from '../support/cluster.js';
import { gateExecutor } from '../support/gate.js';
import { testRedisUrl } from '../support/index.js';

/**
 * The active scheduler's sweep on a Redis Cluster: it reads the state of up to 1000 recent runs
 * at once (to seal the finished ones and repair stalled ones), without a pipeline there, as a
 * cluster pipeline may not span nodes. Here it must find a stranded item among several runs and
 * end it, and every finished run gets sealed.
 */
const { executor: gate, release } = gateExecutor();

let cluster: TestCluster;
const redis = createRedis(testRedisUrl());
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

describe('the scheduler sweep on a Redis Cluster', () => {
  it('finished runs are sealed, and an item whose job was removed ends JOB_LOST', async () => {
    const earlier = [];
    for (let i = 0; i < 5; i++) earlier.push(await cluster.client.submit({ id: `earlier-${i}`, items: [{ id: 'x', executor: 'noop' }] }));
    for (const id of earlier) expect((await cluster.client.wait(id)).state).toBe('succeeded');
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
    // Every finished run is sealed (by the finished message or by the sweep).
    const k = stateKeys(cluster.config.namespace);
    for (const id of [...earlier, runId]) {
      let sealed = 0;
      for (let i = 0; i < 100 && sealed !== 1; i++) {
        sealed = await redis.hexists(k.run(id).audit, 'sealed');
        if (sealed !== 1) await new Promise((r) => setTimeout(r, 100));
      }
      expect(sealed, `run ${id} sealed`).toBe(1);
    }
  }, 90_000);
});
