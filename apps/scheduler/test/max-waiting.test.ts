import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { createScheduler } from '@agora/scheduler';
import { createRedis } from '@agora/state';
import type { AgoraEvent, PlanInput } from '@agora/core';
import { holdExecutor, silent, startCluster, type TestCluster } from '../../../test/support/cluster.js';
import { testRedisUrl, until as pollUntil } from '../../../test/support/index.js';

/** This file's polling: up to 30_000 ms, every 25 ms. */
const until = <T>(what: string, f: () => Promise<T | null | undefined | false>, ms = 30_000): Promise<T> => pollUntil(what, f, ms, 25);

/**
 * A queue's maxWaiting against real runners on Redis: the scheduler admits a run's item jobs in
 * chunks while the queue's unfinished jobs leave room, shows a run that gets none `queued`, lets
 * such a run be cancelled, and resumes admission on another scheduler after a failover.
 */
const MAX_WAITING = 50;
const UNFINISHED = ['wait', 'prioritized', 'delayed', 'waiting-children', 'active'] as const;

const hold = holdExecutor();
let cluster: TestCluster;
const redis = createRedis(testRedisUrl());
let queue: Queue;

beforeAll(async () => {
  cluster = await startCluster({
    config: { queues: { bounded: { concurrency: 20, maxWaiting: MAX_WAITING } }, scheduler: { leaseMs: 3000 } },
    runners: 2,
    concurrency: 4,
    executors: [hold.executor],
  });
  queue = new Queue('bounded', { connection: redis, prefix: cluster.scheduler.store.keys.bullPrefix });
});
afterAll(async () => {
  hold.open();
  await queue?.close();
  await cluster?.close();
  await redis.quit();
});

/** Samples the queue's unfinished item jobs every 25 ms until stopped; returns the most seen. */
function sampleUnfinished(): { stop: () => Promise<number> } {
  let most = 0;
  let on = true;
  const loop = (async () => {
    while (on) {
      const counts = await queue.getJobCounts(...UNFINISHED);
      most = Math.max(most, Object.values(counts).reduce((a, b) => a + b, 0));
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  return {
    stop: async () => {
      on = false;
      await loop;
      return most;
    },
  };
}

/** 500 items: independent ones and, every fifth, one depending on the item seven before it (across chunks). */
function dagPlan(id: string, n: number, sleepMs = 0): PlanInput {
  return {
    id,
    queue: 'bounded',
    items: Array.from({ length: n }, (_, i) => ({
      id: `i${i}`,
      executor: 'noop',
      inputs: sleepMs > 0 ? { sleepMs } : {},
      depends_on: i % 5 === 0 && i >= 7 ? [`i${i - 7}`] : [],
    })),
  };
}


const runStates = (events: readonly AgoraEvent[]): string[] => events.filter((e) => e.type === 'run').map((e) => e.state!);

describe('maxWaiting', () => {
  it('a 500-item plan on a queue with maxWaiting 50 never has more than 50 jobs unfinished in Redis, and succeeds', async () => {
    const sampler = sampleUnfinished();
    const runId = await cluster.client.submit(dagPlan('bounded-dag', 500));
    const status = await cluster.client.wait(runId);
    const most = await sampler.stop();
    expect(status.state).toBe('succeeded');
    expect(status.counts.done).toBe(500);
    expect(status.enqueuedAt).toBeDefined();
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(MAX_WAITING);
  });

  it('a run that finds the queue full is queued (and may be cancelled); another is admitted when room frees', async () => {
    // 50 held items fill the queue: every one is an unfinished job until the gate opens.
    const filler = await cluster.client.submit({ id: 'filler', queue: 'bounded', items: Array.from({ length: MAX_WAITING }, (_, i) => ({ id: `h${i}`, executor: 'hold' })) });
    await until('filler fully added', async () => {
      const s = await cluster.client.status(filler);
      return 'enqueuedAt' in s && s.enqueuedAt;
    });
    const cancelled = await cluster.client.submit(dagPlan('cancel-me', 10));
    const later = await cluster.client.submit(dagPlan('later', 20));
    for (const runId of [cancelled, later]) await until(`${runId} queued`, async () => (await cluster.client.status(runId)).state === 'queued');
    const queuedEvent = (await cluster.client.events(later)).find((e) => e.type === 'run' && e.state === 'queued');
    expect(queuedEvent).toMatchObject({ maxWaiting: MAX_WAITING, waiting: MAX_WAITING });
    expect(await queue.getJobCounts(...UNFINISHED).then((c) => Object.values(c).reduce((a, b) => a + b, 0))).toBe(MAX_WAITING);

    await cluster.client.cancel(cancelled);
    const c = await cluster.client.wait(cancelled);
    expect(c.state).toBe('cancelled');
    expect(c.counts.cancelled).toBe(10);
    expect(runStates(await cluster.client.events(cancelled))).toEqual(['accepted', 'queued', 'cancelling', 'cancelled']);

    hold.open();
    expect((await cluster.client.wait(filler)).state).toBe('succeeded');
    const l = await cluster.client.wait(later);
    expect(l.state).toBe('succeeded');
    expect(runStates(await cluster.client.events(later))).toEqual(['accepted', 'queued', 'running', 'succeeded']);
    // Nothing of the cancelled run was ever added to the queue.
    expect(await queue.getJob(`${cancelled}-i0`)).toBeUndefined();
  });

  it('admission resumes on the standby scheduler after the active one stops mid-way', async () => {
    const said: Array<{ msg: string; runId?: unknown }> = [];
    const logger = { ...silent, info: (o: Record<string, unknown>, msg: string) => void said.push({ msg, runId: o['runId'] }) };
    const standby = await createScheduler({ config: cluster.config, logger, executors: ['noop', 'dispatch', 'hold'] });
    try {
      const sampler = sampleUnfinished();
      const runId = await cluster.client.submit(dagPlan('failover', 400, 60));
      await until('part admitted', async () => {
        const s = await cluster.client.status(runId);
        return s.state === 'running' && 'counts' in s && s.counts.done > 0 && !s.enqueuedAt;
      });
      await cluster.scheduler.close();
      await until('standby active', async () => standby.epoch !== undefined);
      const status = await cluster.client.wait(runId);
      const most = await sampler.stop();
      expect(status.state).toBe('succeeded');
      expect(status.counts.done).toBe(400);
      expect(most).toBeLessThanOrEqual(MAX_WAITING);
      // The standby rebuilt the admission from the inbox job and the run's progress, and finished it.
      expect(said).toContainEqual({ msg: 'run admitted in full', runId });
    } finally {
      await standby.close();
    }
  });
});
