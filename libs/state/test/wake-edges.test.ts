import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { FlowProducer, Queue } from 'bullmq';
import { RunStore, gateJobId, gateQueueName } from '@agora/state';
import { testRedisUrl, uniqueNamespace } from '../../../test/support/index.js';

const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
afterAll(() => redis.disconnect());

/**
 * The run-state side of wake edges, script by script, including the repeats a crash causes:
 * a runner that wrote an item's end and died before promoting its parked dependents.
 */
// The registration fields and end fields the event vocabulary requires (libs/core events.ts).
const registered = (definitionHash: string, deps: string[] = []): Record<string, unknown> => ({
  executor: 'noop',
  definitionHash,
  inputsHash: 'h',
  ...(deps.length > 0 ? { depends_on: deps } : {}),
});
const done = { resultRef: 'agora://ns/result/a/' + '0'.repeat(64), fields: { attempt: 1, durationMs: 1 } };

async function run(): Promise<{ store: RunStore; runId: string }> {
  const store = new RunStore(redis, uniqueNamespace());
  const runId = 'r1';
  await store.initRun(runId, { total: 4, queue: 'q', planId: 'p', fields: { submittedAt: new Date().toISOString() } });
  // a, b -> join (parks in beginItem: job j-join); a -> lone (added parked: job j-lone).
  await store.registerItems(runId, 0, [
    { id: 'a', definitionHash: 'def-a', jobId: 'j-a', depCount: 0, dependents: ['join', 'lone'], fields: registered('def-a') },
    { id: 'b', definitionHash: 'def-b', jobId: 'j-b', depCount: 0, dependents: ['join'], fields: registered('def-b') },
    { id: 'join', definitionHash: 'def-join', jobId: 'j-join', depCount: 2, dependents: [], fields: registered('def-join', ['a', 'b']) },
    { id: 'lone', definitionHash: 'def-lone', jobId: 'j-lone', depCount: 1, dependents: [], wakeJob: 'j-lone', fields: registered('def-lone', ['a']) },
  ]);
  await store.markRunning(runId);
  return { store, runId };
}

describe('wake edges in the run state', () => {
  it('an item with dependencies left is told to wait, and its job is named when the last one ends', async () => {
    const { store, runId } = await run();
    expect(await store.beginItem(runId, 'join', ['a', 'b'], 'r', { definitionHash: 'def-join', jobId: 'j-join' })).toEqual({ kind: 'wait', left: 2 });
    expect(await store.beginItem(runId, 'a', [], 'r', { definitionHash: 'def-a', jobId: 'j-a' })).toMatchObject({ kind: 'run' });
    // a ends: lone (parked at registration) is ready; join still waits for b.
    expect(await store.finishItem(runId, 'a', 'done', done)).toEqual({ moved: 'moved', wake: ['j-lone'] });
    expect(await store.dependenciesLeft(runId, ['join', 'lone'])).toEqual([1, 0]);
    await store.beginItem(runId, 'b', [], 'r', { definitionHash: 'def-b', jobId: 'j-b' });
    // join parked behind its gate (it started early): the wake names the gate, not the job.
    expect(await store.finishItem(runId, 'b', 'done', done)).toEqual({ moved: 'moved', wake: [gateJobId('j-join')] });
    // Woken, join runs with both results; once begun it is no longer named.
    expect(await store.beginItem(runId, 'join', ['a', 'b'], 'r', { definitionHash: 'def-join', jobId: 'j-join' })).toMatchObject({ kind: 'run' });
    expect(await store.finishItem(runId, 'b', 'done', done)).toEqual({ moved: 'already', wake: [] });
  });

  it('a repeated end, or a retried job of an ended item, names the parked dependents again', async () => {
    const { store, runId } = await run();
    await store.beginItem(runId, 'a', [], 'r', { definitionHash: 'def-a', jobId: 'j-a' });
    expect((await store.finishItem(runId, 'a', 'done', done)).wake).toEqual(['j-lone']);
    // The runner died before promoting: the retried job finds a terminal and repeats the wake.
    expect(await store.beginItem(runId, 'a', [], 'r2', { definitionHash: 'def-a', jobId: 'j-a' })).toMatchObject({ kind: 'terminal', state: 'done', wake: ['j-lone'], endedNow: false });
    expect(await store.finishItem(runId, 'a', 'done', done)).toEqual({ moved: 'already', wake: ['j-lone'] });
  });

  it('a failed dependency still wakes the parked dependent, which then ends skipped', async () => {
    const { store, runId } = await run();
    await store.beginItem(runId, 'a', [], 'r', { definitionHash: 'def-a', jobId: 'j-a' });
    expect((await store.finishItem(runId, 'a', 'failed', { fields: { attempt: 1, error: 'boom', errorCode: 'APPLICATION' } })).wake).toEqual(['j-lone']);
    expect(await store.beginItem(runId, 'lone', ['a'], 'r', { definitionHash: 'def-lone', jobId: 'j-lone' })).toMatchObject({ kind: 'terminal', state: 'skipped', endedNow: true });
    expect(await store.itemStates(runId, ['lone'])).toEqual(['skipped']);
  });

  it("with the item's queue given, the end promotes the parked jobs it wakes itself and names only those it could not", async () => {
    const { store, runId } = await run();
    const queue = new Queue('q', { connection: redis, prefix: store.keys.bullPrefix });
    const gates = new Queue(gateQueueName('q'), { connection: redis, prefix: store.keys.bullPrefix });
    try {
      // lone's job is parked (delayed) as the scheduler adds it; join parks behind its gate.
      await queue.add('item', {}, { jobId: 'j-lone', delay: 600_000, priority: 3 });
      expect(await store.beginItem(runId, 'join', ['a', 'b'], 'r', { definitionHash: 'def-join', jobId: 'j-join' })).toEqual({ kind: 'wait', left: 2 });
      // As the runner parks it: the item job in waiting-children behind its delayed gate.
      const flows = new FlowProducer({ connection: redis, prefix: store.keys.bullPrefix });
      await flows.add({ name: 'item', queueName: 'q', data: {}, opts: { jobId: 'j-join' }, children: [{ name: 'gate', queueName: gateQueueName('q'), data: {}, opts: { jobId: gateJobId('j-join'), delay: 600_000 } }] });
      await flows.close();
      expect(await queue.getJobState('j-join')).toBe('waiting-children');
      await store.beginItem(runId, 'a', [], 'r', { definitionHash: 'def-a', jobId: 'j-a' });
      expect(await store.finishItem(runId, 'a', 'done', { ...done, promoteIn: 'q' })).toEqual({ moved: 'moved', wake: [] });
      // Moved as BullMQ's own promote moves it: a prioritized job to the prioritized set.
      expect(await queue.getJobState('j-lone')).toBe('prioritized');
      await store.beginItem(runId, 'b', [], 'r', { definitionHash: 'def-b', jobId: 'j-b' });
      expect(await store.finishItem(runId, 'b', 'done', { ...done, promoteIn: 'q' })).toEqual({ moved: 'moved', wake: [] });
      // The gate is opened as BullMQ completes a child: gone, and its item job waiting to run.
      expect(await gates.getJobState(gateJobId('j-join'))).toBe('unknown');
      expect(await queue.getJobState('j-join')).toBe('waiting');
      // A job that is not parked (here: already woken) is named for the caller, as before.
      expect(await store.finishItem(runId, 'b', 'done', { ...done, promoteIn: 'q' })).toEqual({ moved: 'already', wake: [gateJobId('j-join')] });
    } finally {
      await Promise.all([queue.close(), gates.close()]);
    }
  });
});
