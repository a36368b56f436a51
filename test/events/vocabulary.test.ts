import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { agoraEventSchema, encodeChannelMessage, itemJobId, keys, type AgoraEvent } from '@agora/core';
import { createLockManager, lockKeys } from '@agora/locks';
import { createRunner, type Executor } from '@agora/runner';
import { RunStore, createRedis, sendItemMessage } from '@agora/state';
import { silent, startCluster, type TestCluster } from '../support/cluster.js';
import { gateExecutor } from '../support/gate.js';
import { testRedisUrl, uniqueNamespace, until } from '../support/index.js';

/**
 * Events have one schema (issue #14): real runs of each kind (success, failure, skip, cancel,
 * lock wait, fenced, retry, lock lost, handed back, rejected, job lost) and the start script's
 * own ends (stalled, integrity) write their events; every event each writes must parse with
 * `agoraEventSchema`, and every variant of the vocabulary must have been seen.
 */
const redis = createRedis(testRedisUrl());
/** Every event read, by run, and the variants they showed. */
const seen = new Set<string>();
const checked: number[] = [];

function variant(e: AgoraEvent): string {
  if (e.type === 'run') return `run ${e.state}`;
  if (e.type === 'lock') return `lock ${e.action}`;
  if (e.type === 'item') {
    if (e.state === 'failed') return `item failed ${e.errorCode}`;
    if (e.state === 'queued') return e.executor === undefined ? 'item queued (released)' : 'item queued (registered)';
    if (e.state === 'running') return e.lockTokens === undefined ? 'item running' : 'item running (lockTokens)';
    if (e.state === 'cancelled') return e.attempt === undefined ? 'item cancelled (not started)' : 'item cancelled (stopped)';
    return `item ${e.state}`;
  }
  return e.type;
}

/** Parses every event of the run, failing with each one the schema refuses; returns them typed. */
async function parseAll(store: { allEvents(runId: string): Promise<unknown[]> } | { events(runId: string): Promise<unknown[]> }, runId: string): Promise<AgoraEvent[]> {
  const raw = 'allEvents' in store ? await store.allEvents(runId) : await store.events(runId);
  const refused = raw.flatMap((e) => {
    const r = agoraEventSchema.safeParse(e);
    return r.success ? [] : [{ event: e, issues: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) }];
  });
  expect(refused, JSON.stringify(refused, null, 1)).toEqual([]);
  const events = raw as AgoraEvent[];
  for (const e of events) seen.add(variant(e));
  checked.push(events.length);
  expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));
  return events;
}


// The fenced run's executor: its first run blocks until the test has taken the lock from under it.
const fencedStarts: string[] = [];
let releaseFenced: () => void = () => undefined;
const fenceable: Executor = {
  name: 'fenceable',
  async execute(ctx) {
    fencedStarts.push(ctx.runId);
    if (fencedStarts.filter((r) => r === ctx.runId).length === 1) await new Promise<void>((r) => (releaseFenced = r));
    return { output: 'ok' };
  },
};

/** Loses its lock on its first run (the lease key vanishes; the next extension fails), succeeds after. */
const loser: Executor = {
  name: 'loser',
  async execute(ctx) {
    if (ctx.attempt > 1) return { output: 'second' };
    await redis.del(lockKeys(ctx.namespace).resource('vocab/lost'));
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 10_000);
      ctx.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });
    return { output: 'first' };
  },
};

const hello = { command: [process.execPath, '-e', 'process.stdout.write("hello")'] };
let main: TestCluster;
let repairs: TestCluster;
const { executor: gate, release: openGate } = gateExecutor();

beforeAll(async () => {
  // A long lock lease: the fenced holder must not notice its key vanish (fencing.test.ts).
  main = await startCluster({
    runners: 1,
    concurrency: 4,
    executors: [fenceable],
    config: { queues: { default: { concurrency: 4 } }, tasks: { hello }, runner: { lockTtlMs: 60_000, backoffMs: 50, attempts: 2 } },
  });
  // A short lease (an extension every 500 ms notices a lost lock) and a quick repair sweep.
  repairs = await startCluster({
    runners: 1,
    executors: [gate, loser],
    config: { queues: { default: { concurrency: 1 } }, scheduler: { repairAfterMs: 1000 }, runner: { lockTtlMs: 1500, backoffMs: 50, attempts: 2 } },
  });
});
afterAll(async () => {
  releaseFenced();
  openGate();
  await main?.close();
  await repairs?.close();
  redis.disconnect();
});

describe('every event a run writes is in the vocabulary', () => {
  it('success: noop, dispatch, a lock and a dependency', async () => {
    const runId = await main.client.submit({
      id: 'ok',
      items: [
        { id: 'plain', executor: 'noop', inputs: { x: 1 } },
        { id: 'task', executor: 'dispatch', inputs: { task: 'hello' } },
        { id: 'locked', executor: 'noop', resourceLocks: ['vocab/ok'] },
        { id: 'after', executor: 'noop', depends_on: ['plain', 'locked'] },
      ],
    });
    expect((await main.client.wait(runId)).state).toBe('succeeded');
    const events = await parseAll(main.client, runId);
    expect(events.find((e) => e.itemId === 'task' && e.state === 'done')).toMatchObject({ exitCode: 0, task: 'hello', target: expect.any(String) });
    expect(events.find((e) => e.itemId === 'locked' && e.state === 'running')?.lockTokens).toEqual({ 'vocab/ok': expect.any(Number) });
  });

  it('failure and skip; retry: a retryable failure runs again, then fails for good', async () => {
    const runId = await main.client.submit({
      id: 'bad',
      items: [
        { id: 'boom', executor: 'noop', inputs: { fail: 'boom' } },
        { id: 'skipped', executor: 'noop', depends_on: ['boom'] },
        { id: 'flaky', executor: 'noop', inputs: { fail: 'infra' } },
      ],
    });
    expect((await main.client.wait(runId)).state).toBe('failed');
    const events = await parseAll(main.client, runId);
    expect(events.find((e) => e.itemId === 'boom' && e.state === 'failed')).toMatchObject({ errorCode: 'APPLICATION', exitCode: 1, attempt: 1 });
    expect(events.find((e) => e.itemId === 'skipped' && e.state === 'skipped')).toMatchObject({ dependency: 'boom' });
    expect(events.filter((e) => e.type === 'retry' && e.itemId === 'flaky')).toEqual([expect.objectContaining({ attempt: 1, reason: 'infra', delayMs: 50 })]);
    expect(events.find((e) => e.itemId === 'flaky' && e.state === 'failed')).toMatchObject({ errorCode: 'PROVIDER', attempt: 2 });
  });

  it('cancel: a running item is stopped, a waiting one never starts', async () => {
    const runId = await main.client.submit({
      id: 'cancel',
      items: [
        { id: 'long', executor: 'noop', inputs: { sleepMs: 60_000 } },
        { id: 'next', executor: 'noop', depends_on: ['long'] },
      ],
    });
    await until('long running', async () => (await main.client.events(runId)).some((e) => e.itemId === 'long' && e.state === 'running'));
    await main.client.cancel(runId);
    expect((await main.client.wait(runId)).state).toBe('cancelled');
    const events = await parseAll(main.client, runId);
    expect(events.find((e) => e.itemId === 'long' && e.state === 'cancelled')?.attempt).toBe(1);
    expect(events.find((e) => e.itemId === 'next' && e.state === 'cancelled')?.attempt).toBeUndefined();
  });

  it('lock wait: two items on one lock, one waits its turn', async () => {
    const runId = await main.client.submit({
      id: 'wait',
      items: ['w1', 'w2'].map((id) => ({ id, executor: 'noop', inputs: { sleepMs: 1000 }, resourceLocks: ['vocab/wait'] })),
    });
    expect((await main.client.wait(runId)).state).toBe('succeeded');
    const events = await parseAll(main.client, runId);
    expect(events.filter((e) => e.type === 'lock' && e.action === 'waiting')).toHaveLength(1);
  });

  it('fenced: a holder whose lease vanished has its result refused, and the item runs again', async () => {
    const runId = await main.client.submit({ id: 'fence', items: [{ id: 'guarded', executor: 'fenceable', resourceLocks: ['vocab/fence'] }] });
    await until('first run', () => Promise.resolve(fencedStarts.includes(runId)));
    await redis.del(lockKeys(main.config.namespace).resource('vocab/fence'));
    const intruder = createLockManager({ redis: createRedis(main.config.redisUrl), namespace: main.config.namespace, lockTtlMs: 2000 });
    const taken = await intruder.acquire({ names: ['vocab/fence'], holder: { runId: 'rother', itemId: 'x', jobId: 'x', queue: 'default' } });
    expect(taken.acquired).toBe(true);
    releaseFenced();
    await until('fenced', async () => (await main.client.events(runId)).some((e) => e.type === 'lock' && e.action === 'fenced'));
    if (taken.acquired) await taken.lease.release();
    await intruder.close();
    expect((await main.client.wait(runId)).state).toBe('succeeded');
    const events = await parseAll(main.client, runId);
    expect(events.filter((e) => e.type === 'lock' && e.action === 'fenced')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'retry')).toEqual([expect.objectContaining({ itemId: 'guarded', attempt: 1, reason: 'fenced', delayMs: 50 })]);
  });

  it('rejected: a plan naming an unknown task', async () => {
    const runId = await main.client.submit({ id: 'rejected', items: [{ id: 'x', executor: 'dispatch', inputs: { task: 'nope' } }] });
    expect((await main.client.wait(runId)).state).toBe('rejected');
    await parseAll(main.client, runId);
  });

  it('handed back: a runner closing with a running item hands it back, and another runner ends it', async () => {
    const runId = await main.client.submit({ id: 'handback', items: [{ id: 'hb', executor: 'noop', inputs: { sleepMs: 3000 }, resourceLocks: ['vocab/hb'] }] });
    await until('hb running', async () => (await main.client.events(runId)).some((e) => e.itemId === 'hb' && e.state === 'running'));
    const second = await createRunner({ config: main.config, logger: silent, runnerId: 'runner-second', cpus: 64, executors: [fenceable] });
    const first = main.runners[0]!;
    main.runners[0] = second;
    await first.close({ graceMs: 200 });
    expect((await main.client.wait(runId)).state).toBe('succeeded');
    const events = await parseAll(main.client, runId);
    expect(events.find((e) => e.type === 'handedBack')).toMatchObject({ itemId: 'hb', state: 'queued', attempt: 1, runner: 'runner-0' });
    expect(events.filter((e) => e.itemId === 'hb' && e.state === 'running').map((e) => e.runner)).toEqual(['runner-0', 'runner-second']);
  });

  it('lock lost: the lease is lost while the item runs; it is retried under a fresh lock', async () => {
    const runId = await repairs.client.submit({ id: 'lost', items: [{ id: 'l', executor: 'loser', resourceLocks: ['vocab/lost'] }] });
    expect((await repairs.client.wait(runId)).state).toBe('succeeded');
    const events = await parseAll(repairs.client, runId);
    expect(events.find((e) => e.type === 'lock' && e.action === 'lost')).toMatchObject({ itemId: 'l', lock: 'vocab/lost' });
    expect(events.find((e) => e.type === 'retry')).toMatchObject({ itemId: 'l', attempt: 1, error: 'resource lock lost', reason: 'lock_lost', delayMs: 50 });
  });

  it('lock lost on the last try: the item fails LOCK (not as a job BullMQ failed), with no retry', async () => {
    const runId = await repairs.client.submit({ id: 'lost-last', items: [{ id: 'l', executor: 'loser', resourceLocks: ['vocab/lost'], retry: { attempts: 1 } }] });
    expect((await repairs.client.wait(runId)).state).toBe('failed');
    const events = await parseAll(repairs.client, runId);
    expect(events.filter((e) => e.type === 'lock' && e.action === 'lost')).toEqual([expect.objectContaining({ itemId: 'l', lock: 'vocab/lost' })]);
    expect(events.filter((e) => e.type === 'retry')).toEqual([]);
    expect(events.filter((e) => e.type === 'item' && e.state === 'failed')).toEqual([expect.objectContaining({ itemId: 'l', errorCode: 'LOCK', attempt: 1 })]);
  });

  it("job lost: the scheduler's repair ends an item whose job was removed", async () => {
    const runId = await repairs.client.submit({
      id: 'stranded',
      items: [
        { id: 'first', executor: 'gate' },
        { id: 'removed', executor: 'noop' },
      ],
    });
    await until('first running', async () => (await repairs.client.events(runId)).some((e) => e.itemId === 'first' && e.state === 'running'));
    const q = new Queue('default', { connection: redis, prefix: keys(repairs.config.namespace).bullPrefix });
    try {
      await q.remove(itemJobId(runId, 1));
    } finally {
      await q.close();
    }
    openGate();
    expect((await repairs.client.wait(runId)).state).toBe('failed');
    const events = await parseAll(repairs.client, runId);
    expect(events.find((e) => e.itemId === 'removed' && e.state === 'failed')).toMatchObject({ errorCode: 'JOB_LOST' });
  });

  it('stalled and integrity: the start script ends an item that started too often, or whose job data changed', async () => {
    // Driven through the state library (no runner: a runner would have to die each time).
    const store = new RunStore(redis, uniqueNamespace('vocab'));
    const runId = 'rstall';
    const reg = (definitionHash: string, deps: string[] = []): Record<string, unknown> => ({
      executor: 'noop',
      definitionHash,
      inputsHash: 'h',
      ...(deps.length > 0 ? { depends_on: deps } : {}),
    });
    await store.initRun(runId, { total: 3, queue: 'default', planId: 'p', fields: { submittedAt: new Date().toISOString() } });
    await store.registerItems(runId, 0, [
      { id: 'stalls', definitionHash: 'd-s', jobId: 'j-s', depCount: 0, dependents: ['child'], fields: reg('d-s') },
      { id: 'edited', definitionHash: 'd-e', jobId: 'j-e', depCount: 0, dependents: [], fields: reg('d-e') },
      { id: 'child', definitionHash: 'd-c', jobId: 'j-c', depCount: 1, dependents: [], fields: reg('d-c', ['stalls']) },
    ]);
    await store.markRunning(runId);
    for (let i = 0; i < 2; i++) expect(await store.beginItem(runId, 'stalls', [], 'runner-x', { definitionHash: 'd-s', maxStarts: 2 })).toMatchObject({ kind: 'run' });
    expect(await store.beginItem(runId, 'stalls', [], 'runner-x', { definitionHash: 'd-s', maxStarts: 2 })).toMatchObject({ kind: 'terminal', state: 'failed' });
    expect(await store.beginItem(runId, 'edited', [], 'runner-x', { definitionHash: 'not-d-e' })).toMatchObject({ kind: 'terminal', state: 'failed' });
    expect(await store.beginItem(runId, 'child', ['stalls'], 'runner-x', { definitionHash: 'd-c' })).toMatchObject({ kind: 'terminal', state: 'skipped' });
    const events = await parseAll(store, runId);
    expect(events.find((e) => e.itemId === 'stalls' && e.state === 'failed')).toMatchObject({ errorCode: 'STALLED', attempt: 2 });
    expect(events.find((e) => e.itemId === 'edited' && e.state === 'failed')).toMatchObject({ errorCode: 'INTEGRITY', jobDefinitionHash: 'not-d-e' });
  });

  it('queued: a run whose queue has no room for its first chunk (maxWaiting) says so, then runs', async () => {
    // Driven through the state library, as the scheduler's admission calls it.
    const store = new RunStore(redis, uniqueNamespace('vocab'));
    const runId = 'rqueued';
    await store.initRun(runId, { total: 1, queue: 'default', planId: 'p', fields: { submittedAt: new Date().toISOString() } });
    await store.registerItems(runId, 0, [{ id: 'a', definitionHash: 'd-a', jobId: 'j-a', depCount: 0, dependents: [], fields: { executor: 'noop', definitionHash: 'd-a', inputsHash: 'h' } }]);
    expect(await store.markQueued(runId, { maxWaiting: 10, waiting: 10 })).toBe(true);
    expect(await store.markQueued(runId, { maxWaiting: 10, waiting: 10 })).toBe(false);
    expect(await store.markRunning(runId)).toBe(true);
    const events = await parseAll(store, runId);
    expect(events.filter((e) => e.type === 'run').map((e) => e.state)).toEqual(['accepted', 'queued', 'running']);
  });

  it('message: a message sent to an item is a `message` event (driven through the state library)', async () => {
    const store = new RunStore(redis, uniqueNamespace('vocab'));
    const runId = 'rmessage';
    await store.initRun(runId, { total: 1, queue: 'default', planId: 'p', fields: { submittedAt: new Date().toISOString() } });
    await store.registerItems(runId, 0, [{ id: 'a', definitionHash: 'd-a', jobId: 'j-a', depCount: 0, dependents: [], fields: { executor: 'noop', definitionHash: 'd-a', inputsHash: 'h' } }]);
    const sent = await sendItemMessage(store, runId, 'a', encodeChannelMessage({ hi: 1 }));
    const events = await parseAll(store, runId);
    expect(events.at(-1)).toMatchObject({ type: 'message', seq: sent.seq, itemId: 'a', messageId: sent.messageId, bytes: 8 });
  });

  it('cached and reused: a memoized item run twice, and a rerun of the first run', async () => {
    const p = { id: 'memo', items: [{ id: 'm', executor: 'noop', inputs: { x: 1 }, memoize: true }] };
    const first = await main.client.submit(p);
    expect((await main.client.wait(first)).state).toBe('succeeded');
    const second = await main.client.submit(p);
    expect((await main.client.wait(second)).state).toBe('succeeded');
    expect((await parseAll(main.client, second)).find((e) => e.type === 'cached')).toMatchObject({ itemId: 'm', from: { runId: first, itemId: 'm' } });
    const rerun = await main.client.rerun(first);
    expect((await main.client.wait(rerun.runId)).state).toBe('succeeded');
    expect((await parseAll(main.client, rerun.runId)).find((e) => e.type === 'reused')).toMatchObject({ itemId: 'm', from: { runId: first, itemId: 'm' } });
  });

  it('every variant of the vocabulary was seen (a QUEUE failure is covered by the unit test only)', () => {
    expect(checked.reduce((a, b) => a + b, 0)).toBeGreaterThan(50);
    const expected = [
      'run accepted', 'run queued', 'run running', 'run succeeded', 'run failed', 'run cancelling', 'run cancelled', 'run rejected',
      'item queued (registered)', 'item queued (released)', 'item waiting', 'item running', 'item running (lockTokens)', 'item done',
      'item failed APPLICATION', 'item failed PROVIDER', 'item failed JOB_LOST', 'item failed STALLED', 'item failed INTEGRITY',
      'item skipped', 'item cancelled (stopped)', 'item cancelled (not started)',
      'lock waiting', 'lock acquired', 'lock released', 'lock lost', 'lock fenced',
      'retry', 'handedBack', 'message', 'reused', 'cached',
    ];
    expect(expected.filter((v) => !seen.has(v))).toEqual([]);
  });
});
