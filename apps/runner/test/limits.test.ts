import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgoraEvent, PlanInput } from '@agora/core';
import { createRedis } from '@agora/state';
import { holdExecutor, startCluster, type TestCluster } from '../../../test/support/cluster.js';
import { testRedisUrl } from '../../../test/support/index.js';

/**
 * Per-queue and per-run limits against real runners on Redis: a queue's rate limit (BullMQ's
 * global limiter), item priority (BullMQ's order, through the park and wake paths), and a run's
 * maxParallel (counted by the start and end scripts).
 */

const hold = holdExecutor();
let cluster: TestCluster;
const redis = createRedis(testRedisUrl());

beforeAll(async () => {
  cluster = await startCluster({
    config: {
      queues: {
        default: { concurrency: 10 },
        limited: { concurrency: 10, rateLimit: { max: 2, durationMs: 1000 } },
        single: { concurrency: 1 },
      },
    },
    runners: 2,
    concurrency: 2,
    executors: [hold.executor],
  });
});
afterAll(async () => {
  hold.open();
  await cluster?.close();
  await redis.quit();
});

const noop = (id: string, extra: Record<string, unknown> = {}, inputs: Record<string, unknown> = {}) => ({ id, executor: 'noop', inputs, ...extra });

async function runPlan(plan: PlanInput): Promise<{ state: string; events: AgoraEvent[] }> {
  const runId = await cluster.client.submit(plan);
  const status = await cluster.client.wait(runId);
  return { state: status.state, events: await cluster.client.events(runId) };
}

const startOrder = (events: readonly AgoraEvent[]): string[] => events.filter((e) => e.type === 'item' && e.state === 'running').map((e) => e.itemId!);

describe('queue rate limit', () => {
  it('is published on the queue, and 6 items at 2 per second start over at least three windows', async () => {
    // Stored in Redis as BullMQ's global rate limit: it holds across every runner.
    expect(await redis.hmget(`${cluster.scheduler.store.keys.bullPrefix}:limited:meta`, 'max', 'duration')).toEqual(['2', '1000']);
    const { state, events } = await runPlan({ id: 'rate', queue: 'limited', items: Array.from({ length: 6 }, (_, i) => noop(`i${i}`)) });
    expect(state).toBe('succeeded');
    const starts = events.filter((e) => e.type === 'item' && e.state === 'running').map((e) => Date.parse(e.at));
    expect(starts).toHaveLength(6);
    // Unlimited, 6 noop items start within a few ms. Limited, the third pair cannot be taken
    // before two full windows after the first: a lower bound that a slow machine only widens.
    const span = Math.max(...starts) - Math.min(...starts);
    expect(span).toBeGreaterThanOrEqual(1000);
  });
});

describe('item priority', () => {
  it('on a queue of concurrency 1, an urgent item added behind many low ones starts first, and a woken one ranks again', async () => {
    // `gate` (not ranked: BullMQ takes unranked jobs first) holds the queue's one slot while the
    // rest are added. `urgent` comes last in the plan; `late` waits on `first` (added parked,
    // then promoted by the runner that ends `first`: the move to delayed and back keeps its rank).
    const lows = Array.from({ length: 20 }, (_, i) => noop(`low${i}`, { priority: 100 }));
    const plan: PlanInput = {
      id: 'priority',
      queue: 'single',
      items: [
        { id: 'gate', executor: 'hold' },
        noop('first', { priority: 2 }),
        ...lows,
        noop('late', { priority: 1, depends_on: ['first'] }),
        noop('urgent', { priority: 1 }),
      ],
    };
    const runId = await cluster.client.submit(plan);
    // Every job is in Redis before the gate opens: wait for the run to be fully added.
    const added = async (): Promise<boolean> => {
      const s = await cluster.client.status(runId);
      return 'enqueuedAt' in s && s.enqueuedAt !== undefined;
    };
    for (let i = 0; i < 200 && !(await added()); i++) await new Promise((r) => setTimeout(r, 50));
    hold.open();
    const status = await cluster.client.wait(runId);
    expect(status.state).toBe('succeeded');
    const order = startOrder(await cluster.client.events(runId));
    expect(order.slice(0, 3)).toEqual(['gate', 'urgent', 'first']);
    // `late` is promoted after `first` ends; the worker may already hold the next job by then
    // (BullMQ fetches it as it finishes one), so at most one or two low items come before it.
    const lowsBeforeLate = order.slice(0, order.indexOf('late')).filter((id) => id.startsWith('low')).length;
    expect(lowsBeforeLate).toBeLessThanOrEqual(2);
    expect(order.indexOf('late')).toBeLessThan(order.indexOf('low19'));
  });

  it('a priority outside 1-100 is refused before anything is enqueued', async () => {
    await expect(cluster.client.submit({ id: 'bad', items: [noop('a', { priority: 0 }), noop('b', { priority: 101 })] })).rejects.toMatchObject({
      problems: [expect.stringContaining('priority is 1 (first) to 100 (last)'), expect.stringContaining('priority is 1 (first) to 100 (last)')],
    });
  });
});

describe('run maxParallel', () => {
  it('10 independent items with 4 runner slots never have more than 2 running at once', async () => {
    const plan: PlanInput = { id: 'par', maxParallel: 2, items: Array.from({ length: 10 }, (_, i) => noop(`p${i}`, {}, { sleepMs: 150 })) };
    const { state, events } = await runPlan(plan);
    expect(state).toBe('succeeded');
    // The stream's order is the order of the state changes (each one script): replay it.
    let running = 0;
    let most = 0;
    for (const e of events) {
      if (e.type !== 'item') continue;
      if (e.state === 'running') most = Math.max(most, ++running);
      else if (e.state === 'done') running--;
    }
    expect(most).toBe(2);
    expect(events.filter((e) => e.type === 'item' && e.state === 'done')).toHaveLength(10);
  });

  it('without maxParallel the same plan runs more than 2 at once (the cap above is what held it)', async () => {
    const { events } = await runPlan({ id: 'free', items: Array.from({ length: 10 }, (_, i) => noop(`f${i}`, {}, { sleepMs: 400 })) });
    let running = 0;
    let most = 0;
    for (const e of events) {
      if (e.type === 'item' && e.state === 'running') most = Math.max(most, ++running);
      else if (e.type === 'item' && e.state === 'done') running--;
    }
    expect(most).toBeGreaterThan(2);
  });

  it('a cancelled run whose items wait for a slot ends cancelled, and its parked jobs drain at once', async () => {
    const plan: PlanInput = { id: 'par-cancel', maxParallel: 1, items: Array.from({ length: 12 }, (_, i) => noop(`c${i}`, {}, { sleepMs: 1500 })) };
    const runId = await cluster.client.submit(plan);
    for (let i = 0; i < 200; i++) {
      const s = await cluster.client.status(runId);
      if ('counts' in s && s.counts.running > 0 && s.enqueuedAt) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await cluster.client.cancel(runId);
    const status = await cluster.client.wait(runId);
    expect(status.state).toBe('cancelled');
    // The throttled jobs sat parked (delayed, 10 minutes); each one woken runs as a no-op and
    // passes the free slot to the next, so the queue empties in seconds.
    let left = -1;
    for (let i = 0; i < 300; i++) {
      left = await redis.zcard(`${cluster.scheduler.store.keys.bullPrefix}:default:delayed`);
      if (left === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(left).toBe(0);
  });
});
