import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itemJobId, keys } from '@agora/core';
import { createAgoraMetrics, type AgoraMetrics } from '@agora/metrics';
import { collectDeadLetters } from '@agora/scheduler';
import { ProviderSet } from '@agora/registry';
import { DeadLetterStore, RunStore, createRedis, type StoredDeadLetter } from '@agora/state';
import { silent, startCluster, type TestCluster } from '../../../test/support/cluster.js';
import { Scrape } from '../../../test/support/prometheus.js';
import { testRedisUrl, until } from '../../../test/support/index.js';

/**
 * Dead letters that no runner writes: an item failed by the start script (INTEGRITY: its job data
 * was edited after acceptance) gets its record from the scheduler when the run ends, without the
 * edited inputs; and a record lost to a crash between the end and the write is written again
 * from the run's events. Counted by `agora_dead_letters_total{queue}` where written.
 */
const runnerMetrics: AgoraMetrics[] = [createAgoraMetrics()];
const schedulerMetrics = createAgoraMetrics();
const redis = createRedis(testRedisUrl());
let cluster: TestCluster;
let dlq: DeadLetterStore;

const opened = new Map<string, Queue>();
function queues(name: string): Queue {
  let q = opened.get(name);
  if (!q) opened.set(name, (q = new Queue(name, { connection: redis, prefix: keys(cluster.config.namespace).bullPrefix })));
  return q;
}

beforeAll(async () => {
  cluster = await startCluster({ config: { queues: { default: { concurrency: 4 } } }, runners: 1, metrics: runnerMetrics, schedulerMetrics });
  dlq = new DeadLetterStore(redis, cluster.config.namespace);
});
afterAll(async () => {
  for (const q of opened.values()) await q.close();
  await cluster?.close();
  redis.disconnect();
});


const noop = (id: string, inputs: Record<string, unknown>, deps: string[] = []) => ({ id, executor: 'noop', inputs, depends_on: deps, resourceLocks: [] });
const count = async (m: AgoraMetrics): Promise<number> => new Scrape(await m.registry.metrics()).value('agora_dead_letters_total', { queue: 'default' });

describe('dead letters the scheduler writes', () => {
  it('an item failed INTEGRITY by the start script gets a record at the run end, without the edited inputs', async () => {
    const runId = await cluster.client.submit({ id: 'integrity', queue: 'default', items: [noop('slow', { sleepMs: 1500 }), noop('edited', { value: 1 }, ['slow'])] });
    // The dependent's job waits for `slow`: edit its data in Redis meanwhile.
    const job = await until('the dependent\'s job', () => queues('default').getJob(itemJobId(runId, 1)));
    await job.updateData({ ...(job.data as Record<string, unknown>), inputs: { value: 2 } });
    expect((await cluster.client.wait(runId)).state).toBe('failed');
    const letter = await until('the letter', () => dlq.get(`${runId}.edited`));
    expect(letter).toMatchObject({
      runId,
      itemId: 'edited',
      executor: 'noop',
      errorCode: 'INTEGRITY',
      source: 'scheduler',
      attempts: 0,
      dependsOn: ['slow'],
      inputsMissing: 'its job data does not hash to the accepted inputs (edited after acceptance)',
    });
    expect(letter.inputs).toBeUndefined();
    expect(Object.keys(letter.dependencies)).toEqual(['slow']);
    // Not replayable: its accepted inputs are unknown.
    await expect(cluster.client.replayDeadLetters({ id: letter.id })).rejects.toThrow(/cannot be replayed: its inputs were not recorded/);
    expect(await count(schedulerMetrics)).toBe(1);
    expect(await count(runnerMetrics[0]!)).toBe(0);
  });

  it('a record lost between the item\'s end and its write is written again from the run\'s events; a repeat writes nothing', async () => {
    const runId = await cluster.client.submit({ id: 'lost', queue: 'default', items: [noop('up', { v: 'u' }), noop('boom', { fail: 'nope' }, ['up'])] });
    expect((await cluster.client.wait(runId)).state).toBe('failed');
    const first = await until('the runner\'s letter', async () => {
      const l = await dlq.get(`${runId}.boom`);
      return l?.source === 'runner' ? l : null;
    });
    expect(await count(runnerMetrics[0]!)).toBe(1);
    // A runner that died right after ending the item: no record.
    expect(await dlq.purge({ id: first.id })).toBe(1);
    const ctx = { config: cluster.config, logger: silent, store: new RunStore(redis, cluster.config.namespace), deadLetters: dlq, metrics: createAgoraMetrics(), queueFor: (q: string) => queues(q) };
    expect(await collectDeadLetters(ctx, runId)).toBe(1);
    const again: StoredDeadLetter | null = await dlq.get(first.id);
    expect(again).toMatchObject({
      source: 'scheduler',
      errorCode: 'APPLICATION',
      error: 'nope',
      attempts: 1,
      inputs: { fail: 'nope' },
      dependencies: first.dependencies,
      inputsHash: first.inputsHash,
      failedAt: expect.any(String) as string,
    });
    expect(again!.stdoutTail).toBeUndefined();
    expect(await collectDeadLetters(ctx, runId)).toBe(0);
    expect(await dlq.list({ runId })).toHaveLength(1);
  });

  it('a replay whose stand-in claims a result the original run did not produce is rejected, nothing enqueued', async () => {
    const orig = await cluster.client.submit({ id: 'orig', queue: 'default', items: [noop('up', { v: 1 }), noop('x', { fail: 'no' }, ['up'])] });
    expect((await cluster.client.wait(orig)).state).toBe('failed');
    const upRef = (await cluster.client.wait(orig)).items.find((i) => i.id === 'up')!.resultRef!;
    const plan = { id: 'forged', queue: 'default', items: [noop('x', {}, ['up']), noop('up', {})] };
    const submission = (given: Record<string, string>, runId: string) => ({ runId, plan, submittedAt: new Date().toISOString(), replay: { runId: orig, items: ['x'], given } });
    const forged = await cluster.scheduler.accept(submission({ up: `${upRef.slice(0, -64)}${'0'.repeat(64)}` }, 'rforged1'));
    expect(forged.state).toBe('rejected');
    expect(forged.problems).toEqual([`replay.given: "up" did not end done with that result in run ${orig}`]);
    const standInWithInputs = await cluster.scheduler.accept({ ...submission({ up: upRef }, 'rforged2'), plan: { ...plan, items: [noop('x', {}, ['up']), noop('up', { fail: 'x' })] } });
    expect(standInWithInputs.problems).toEqual(['replay.given: stand-in "up" must be a noop item with no inputs, dependencies, locks or target']);
    // The honest one is accepted, and its stand-in ends done with the original result before anything runs.
    expect((await cluster.scheduler.accept(submission({ up: upRef }, 'rhonest1'))).state).toBe('running');
    const st = await cluster.client.wait('rhonest1');
    // Status marks the stand-in as not executed, as it marks a rerun's reused item (it was unmarked before).
    expect(st.items.find((i) => i.id === 'up')).toEqual({ id: 'up', state: 'done', resultRef: upRef, reusedFrom: { runId: orig, itemId: 'up' } });
    expect(st.shortcuts).toEqual({ reused: 1, cached: 0 });
    expect(st.replayOf).toMatchObject({ runId: orig, items: ['x'] });
  });
  it('a replay keeps what the letters do not record: the item\'s own retry, priority and memoize, the plan\'s maxParallel and resultSink', async () => {
    // Before: the replay's plan held only what the letter records, so the item ran once under the
    // config's policy (1 try: an app failure is not retried by default), unranked, unmemoized.
    const orig = await cluster.client.submit({
      id: 'policies',
      queue: 'default',
      maxParallel: 1,
      resultSink: 'stdout',
      items: [{ ...noop('x', { fail: 'again' }), retry: { attempts: 2, on: ['app'], backoff: { type: 'fixed', delayMs: 10 } }, priority: 7, memoize: true }],
    });
    expect((await cluster.client.wait(orig)).state).toBe('failed');
    const first = await until('the letter', () => dlq.get(`${orig}.x`));
    expect(first.attempts).toBe(2);
    const { runId } = await cluster.client.replayDeadLetters({ id: first.id });
    expect((await cluster.client.wait(runId)).state).toBe('failed');
    const again = await until('the replay\'s letter', () => dlq.get(`${runId}.x`));
    expect(again.attempts).toBe(2);
    const job = await until('the replayed job', () => queues('default').getJob(itemJobId(runId, 0)));
    expect(job.opts.priority).toBe(7);
    expect((job.data as { memo?: unknown }).memo).toEqual(expect.any(String));
    // The replay's own stored plan is what it ran: the item's and the plan's policies are in it.
    const rec = await new RunStore(redis, cluster.config.namespace).planRecord(runId);
    const stored = JSON.parse(Buffer.from(await (await new ProviderSet(cluster.config).storage()).get(rec!.planRef!)).toString('utf8')) as Record<string, unknown>;
    expect(stored).toMatchObject({ maxParallel: 1, resultSink: 'stdout', items: [{ id: 'x', priority: 7, memoize: true, retry: { attempts: 2, on: ['app'] } }] });
  });
});
