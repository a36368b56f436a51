import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RunStore } from '@agora/state';
import { testRedisUrl, uniqueNamespace } from '../../../test/support/index.js';

const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
afterAll(() => redis.disconnect());

/**
 * The plan's maxParallel in the run state, script by script: the start script counts the run's
 * running items against it, the end and hand-back scripts free their slot, and the repeats a
 * crash causes (a job run again for an item still running) neither take a second slot nor leak one.
 */
const registered = (definitionHash: string): Record<string, unknown> => ({ executor: 'noop', definitionHash, inputsHash: 'h' });
const done = { resultRef: 'agora://ns/result/a/' + '0'.repeat(64), fields: { attempt: 1, durationMs: 1 } };
const ids = ['a', 'b', 'c', 'd'];

async function run(maxParallel: number): Promise<{ store: RunStore; runId: string; begin: (id: string) => ReturnType<RunStore['beginItem']> }> {
  const store = new RunStore(redis, uniqueNamespace());
  const runId = 'r1';
  await store.initRun(runId, { total: ids.length, queue: 'q', planId: 'p', fields: { submittedAt: new Date().toISOString() } });
  await store.registerItems(
    runId,
    0,
    ids.map((id) => ({ id, definitionHash: `def-${id}`, jobId: `j-${id}`, depCount: 0, dependents: [], fields: registered(`def-${id}`) })),
  );
  await store.setMaxParallel(runId, maxParallel);
  await store.markRunning(runId);
  return { store, runId, begin: (id) => store.beginItem(runId, id, [], 'runner-1', { definitionHash: `def-${id}`, jobId: `j-${id}` }) };
}

describe('maxParallel in the run state', () => {
  it('a start beyond the cap is throttled; the end of a running item names the first waiter, in arrival order', async () => {
    const { store, runId, begin } = await run(2);
    expect(await begin('a')).toMatchObject({ kind: 'run' });
    expect(await begin('b')).toMatchObject({ kind: 'run' });
    expect(await begin('c')).toEqual({ kind: 'throttled', running: 2 });
    expect(await begin('d')).toEqual({ kind: 'throttled', running: 2 });
    // A throttled job that looks again (its fallback) keeps its one place in line.
    expect(await begin('c')).toEqual({ kind: 'throttled', running: 2 });
    expect(await store.slotReady(runId, 'c')).toBe(false);
    expect(await store.finishItem(runId, 'a', 'done', done)).toEqual({ moved: 'moved', wake: ['j-c'] });
    // Named: it looks again even if another start takes the slot first.
    expect(await store.slotReady(runId, 'c')).toBe(true);
    expect(await begin('c')).toMatchObject({ kind: 'run' });
    expect(await store.finishItem(runId, 'b', 'done', done)).toEqual({ moved: 'moved', wake: ['j-d'] });
    expect(await begin('d')).toMatchObject({ kind: 'run' });
    expect(await store.itemStates(runId, ids)).toEqual(['done', 'done', 'running', 'running']);
  });

  it('a job run again for an item still running (its runner died) keeps its slot: no second slot, none leaked', async () => {
    const { store, runId, begin } = await run(1);
    expect(await begin('a')).toMatchObject({ kind: 'run', attempt: 1 });
    // The stalled job is run again by another runner: the item is still running and holds the slot.
    expect(await begin('a')).toMatchObject({ kind: 'run', attempt: 2 });
    expect(await begin('b')).toEqual({ kind: 'throttled', running: 1 });
    expect(await store.finishItem(runId, 'a', 'done', done)).toEqual({ moved: 'moved', wake: ['j-b'] });
    expect(await begin('b')).toMatchObject({ kind: 'run' });
    expect(await begin('c')).toEqual({ kind: 'throttled', running: 1 });
  });

  it('a hand-back frees the slot (the handed-back job takes it again); a failed end frees it too', async () => {
    const { store, runId, begin } = await run(1);
    expect(await begin('a')).toMatchObject({ kind: 'run' });
    expect(await store.handBackItem(runId, 'a', { attempt: 1, runner: 'runner-1', reason: 'shutting down' })).toBe(true);
    expect(await begin('a')).toMatchObject({ kind: 'run', attempt: 2 });
    expect(await begin('b')).toEqual({ kind: 'throttled', running: 1 });
    expect((await store.finishItem(runId, 'a', 'failed', { fields: { attempt: 2, error: 'x', errorCode: 'APPLICATION' } })).wake).toEqual(['j-b']);
    expect(await begin('b')).toMatchObject({ kind: 'run' });
  });

  it('after a cancel, a terminal start passes a free slot on, so the waiters drain one after another', async () => {
    const { store, runId, begin } = await run(1);
    expect(await begin('a')).toMatchObject({ kind: 'run' });
    for (const id of ['b', 'c', 'd']) expect(await begin(id)).toMatchObject({ kind: 'throttled' });
    expect(await store.cancelRun(runId, 'test')).toEqual({ kind: 'cancelling', running: 1 });
    expect((await store.finishItem(runId, 'a', 'cancelled', { fields: { attempt: 1, reason: 'run cancelled' } })).wake).toEqual(['j-b']);
    expect(await begin('b')).toMatchObject({ kind: 'terminal', state: 'cancelled', wake: ['j-c'] });
    expect(await begin('c')).toMatchObject({ kind: 'terminal', state: 'cancelled', wake: ['j-d'] });
    expect(await begin('d')).toMatchObject({ kind: 'terminal', state: 'cancelled', wake: [] });
    expect(await store.runState(runId)).toBe('cancelled');
  });

  it('without maxParallel nothing is counted or throttled', async () => {
    const store = new RunStore(redis, uniqueNamespace());
    await store.initRun('r2', { total: 3, queue: 'q', planId: 'p', fields: { submittedAt: new Date().toISOString() } });
    await store.registerItems('r2', 0, ['a', 'b', 'c'].map((id) => ({ id, definitionHash: `def-${id}`, jobId: `j-${id}`, depCount: 0, dependents: [], fields: registered(`def-${id}`) })));
    await store.markRunning('r2');
    for (const id of ['a', 'b', 'c']) expect(await store.beginItem('r2', id, [], 'r', { definitionHash: `def-${id}`, jobId: `j-${id}` })).toMatchObject({ kind: 'run' });
    expect(await store.finishItem('r2', 'a', 'done', done)).toEqual({ moved: 'moved', wake: [] });
  });
});
