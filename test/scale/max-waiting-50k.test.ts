import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { createRedis } from '@agora/state';
import type { PlanInput } from '@agora/core';
import { startCluster, type TestCluster } from '../support/cluster.js';
import { testRedisUrl } from '../support/index.js';

/**
 * Issue #15's acceptance scenario for backpressure: a plan of 50,000 items submitted to a queue
 * with `maxWaiting: 5000` never has more than 5,000 of its items waiting in Redis at once (the
 * queue's unfinished item jobs: wait, prioritized, delayed, waiting-children, active, sampled
 * every 200 ms from a connection of its own), and finishes. `npm run test:scale`.
 */
const ITEMS = 50_000;
const MAX_WAITING = 5000;
const UNFINISHED = ['wait', 'prioritized', 'delayed', 'waiting-children', 'active'] as const;

let cluster: TestCluster;
const redis = createRedis(testRedisUrl());

beforeAll(async () => {
  cluster = await startCluster({
    config: { queues: { bulk: { concurrency: 16, maxWaiting: MAX_WAITING } }, runner: { keepCompleted: 1000, keepFailed: 1000 } },
    runners: 2,
    concurrency: 8,
  });
});
afterAll(async () => {
  await cluster?.close();
  await redis.quit();
});

describe('maxWaiting at scale', () => {
  it(`a ${ITEMS}-item plan on a queue with maxWaiting ${MAX_WAITING} never has more than ${MAX_WAITING} jobs unfinished, and succeeds`, async () => {
    // Mostly independent; every tenth item waits on the one three before it (wake edges across chunks).
    const plan: PlanInput = {
      id: 'scale-50k',
      queue: 'bulk',
      items: Array.from({ length: ITEMS }, (_, i) => ({ id: `i${i}`, executor: 'noop', depends_on: i % 10 === 9 ? [`i${i - 3}`] : [] })),
    };
    const queue = new Queue('bulk', { connection: redis, prefix: cluster.scheduler.store.keys.bullPrefix });
    const samples: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const counts = await queue.getJobCounts(...UNFINISHED);
        samples.push(Object.values(counts).reduce((a, b) => a + b, 0));
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const started = Date.now();
    const runId = await cluster.client.submit(plan);
    const status = await cluster.client.wait(runId);
    sampling = false;
    await sampler;
    await queue.close();
    const most = Math.max(...samples);
    console.log(JSON.stringify({ items: ITEMS, maxWaiting: MAX_WAITING, seconds: (Date.now() - started) / 1000, samples: samples.length, mostUnfinished: most }));
    expect(status.state).toBe('succeeded');
    expect(status.counts.done).toBe(ITEMS);
    expect(samples.length).toBeGreaterThan(10);
    // The bound was reached (the queue was kept busy), never passed.
    expect(most).toBeGreaterThan(MAX_WAITING / 2);
    expect(most).toBeLessThanOrEqual(MAX_WAITING);
  });
});
