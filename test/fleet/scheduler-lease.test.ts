import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { compileConfig, newRunId, type AgoraConfig } from '@agora/core';
import { createRedis, RunStore } from '@agora/state';
import { createScheduler, LeaseLostError, type Scheduler } from '@agora/scheduler';
import { testRedisUrl, uniqueNamespace } from '../support/index.js';
import { silent } from '../support/cluster.js';

/**
 * The scheduler lease in one process: who acts, and that a scheduler whose lease was taken over
 * (as a paused process finds when it wakes) refuses to write anything more.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(leaseMs: number): { config: AgoraConfig; store: RunStore } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-lease-'));
  const config = compileConfig({ namespace: uniqueNamespace('l'), scheduler: { leaseMs }, dataDir: dir }, 'test', dir, { REDIS_URL: testRedisUrl() });
  const redis = createRedis(config.redisUrl);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(async () => void (await redis.quit()));
  return { config, store: new RunStore(redis, config.namespace) };
}

async function start(config: AgoraConfig, extra: { registerChunk?: number } = {}): Promise<Scheduler> {
  const s = await createScheduler({ config, logger: silent, sealing: false, ...extra });
  cleanups.push(() => s.close());
  return s;
}

const plan = (n: number) => ({
  id: 'lease',
  queue: 'default',
  items: Array.from({ length: n }, (_, i) => ({ id: `i${i}`, executor: 'noop', inputs: {}, depends_on: i > 0 && i % 10 === 0 ? [`i${i - 1}`] : [] })),
});

/** Takes the lease from whoever holds it, as another scheduler would once it expired. */
async function takeOver(store: RunStore): Promise<number> {
  await store.redis.set(store.keys.leader, 'another-scheduler', 'PX', 60_000);
  return store.redis.incr(store.keys.leaderEpoch);
}

describe('scheduler lease', () => {
  it('one of two schedulers acts; the standby takes over when the active one steps down', async () => {
    const { config, store } = setup(1500);
    const a = await start(config);
    const b = await start(config);
    expect(a.epoch).toBe(1);
    expect(b.epoch).toBeUndefined();
    expect(await store.redis.get(store.keys.leader)).toBe(a.holder);
    await expect(b.accept({ runId: newRunId(), plan: plan(1), submittedAt: new Date().toISOString() })).rejects.toThrow(LeaseLostError);

    const t0 = Date.now();
    await a.close();
    while (b.epoch === undefined && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
    expect(b.epoch).toBe(2);
    // A clean step-down releases the lease: taken over within one poll (a third of the lease).
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(await store.redis.get(store.keys.leader)).toBe(b.holder);
  });

  it('a scheduler whose lease was taken over refuses an acceptance and writes nothing', async () => {
    // A long lease: no renewal runs during the test, as for a process paused past its lease.
    const { config, store } = setup(60_000);
    const old = await start(config);
    expect(old.epoch).toBe(1);
    expect(await takeOver(store)).toBe(2);

    const runId = newRunId();
    const err = await old.accept({ runId, plan: plan(20), submittedAt: new Date().toISOString() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LeaseLostError);
    expect((err as LeaseLostError).message).toBe('scheduler epoch 1 is stale (newest is 2); stopped');
    expect(old.epoch).toBeUndefined();
    expect(await store.redis.exists(store.keys.run(runId).meta)).toBe(0);
    expect(await store.redis.zscore(store.keys.runs, runId)).toBeNull();
    // It stays down: its next lease step finds the lease held by another.
    await expect(old.accept({ runId, plan: plan(20), submittedAt: new Date().toISOString() })).rejects.toThrow(/not the active one/);
  });

  it('a scheduler whose lease is taken over mid-acceptance stops before its next chunk; the new leader completes the run once', async () => {
    const { config, store } = setup(60_000);
    const old = await start(config, { registerChunk: 100 });
    const runId = newRunId();
    const submission = { runId, plan: plan(20_000), submittedAt: new Date().toISOString() };
    const meta = store.keys.run(runId).meta;

    const accepting = old.accept(submission).catch((e: unknown) => e);
    // Take the lease over as soon as the first chunks are registered.
    const watcher = createRedis(config.redisUrl);
    cleanups.push(async () => void (await watcher.quit()));
    let seen = 0;
    while (seen < 1) {
      seen = Number((await watcher.hget(meta, 'registered')) ?? 0);
      if (seen < 1) await new Promise((r) => setTimeout(r, 2));
    }
    await takeOver(store);
    const atMove = Number(await store.redis.hget(meta, 'registered'));
    const err = await accepting;
    expect(err).toBeInstanceOf(LeaseLostError);
    const stoppedAt = Number(await store.redis.hget(meta, 'registered'));
    // At most the chunk in flight when the epoch moved was written after the move.
    expect(stoppedAt).toBeLessThanOrEqual(atMove + 1);
    expect(stoppedAt).toBeLessThan(200);
    expect(await store.redis.hget(meta, 'state')).toBe('accepted');
    expect(await store.redis.hget(meta, 'schedulerEpoch')).toBe('1');
    const queue = new Queue('default', { connection: store.redis, prefix: store.keys.bullPrefix });
    cleanups.push(() => queue.close());
    const counts = await queue.getJobCounts('wait', 'delayed', 'waiting-children', 'prioritized');
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);
    // Still nothing later: the old scheduler has stopped, not paused.
    await new Promise((r) => setTimeout(r, 300));
    expect(Number(await store.redis.hget(meta, 'registered'))).toBe(stoppedAt);

    // The new leader (the lease key freed, as when the other one expires) resumes and completes.
    await store.redis.del(store.keys.leader);
    const next = await start(config, { registerChunk: 100 });
    expect(next.epoch).toBe(3);
    expect(await next.accept(submission)).toEqual({ state: 'running' });
    expect(await store.redis.hget(meta, 'registered')).toBe('200');
    expect(await store.redis.hget(meta, 'schedulerEpoch')).toBe('3');
    const after = await queue.getJobCounts('wait', 'delayed', 'waiting-children', 'prioritized');
    expect(Object.values(after).reduce((a, b) => a + b, 0)).toBe(20_000);
    // Each item registered once: one first event (queued or waiting) per item in the stream.
    const entries = await store.redis.xrange(store.keys.run(runId).events, '-', '+');
    const firsts = new Map<string, number>();
    for (const [, fields] of entries) {
      const body = JSON.parse(fields[1]!) as { type?: string; itemId?: string; state?: string };
      if (body.type === 'item' && (body.state === 'queued' || body.state === 'waiting')) firsts.set(body.itemId!, (firsts.get(body.itemId!) ?? 0) + 1);
    }
    expect(firsts.size).toBe(20_000);
    expect([...firsts.values()].every((n) => n === 1)).toBe(true);
  }, 120_000);
});
