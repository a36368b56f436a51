import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { PlanInput } from '@agora/core';
import { itemDefinitionHash, parseItemJobData } from '@agora/state';
import { createRunner } from '../src/index.js';
import { silent, startCluster, type TestCluster } from '../../../test/support/cluster.js';
import { until } from '../../../test/support/index.js';
import { startWebhookReceiver, type ReceivedDelivery, type WebhookReceiver } from '../../../test/support/webhook-receiver.js';

/**
 * Result sinks and notifications against real parts: a scheduler and a runner on the test Redis,
 * webhooks POSTed to a local receiver that verifies every signature with the secret.
 */
const SECRET = 'cluster-webhook-secret-0123456789';
let receiver: WebhookReceiver;
let cluster: TestCluster;

const hook = (path: string, extra: Record<string, unknown> = {}) => ({ provider: 'webhook', options: { url: `${receiver.url}${path}`, secret: SECRET, attempts: 3, backoffMs: 50, ...extra } });
const at = (path: string): ReceivedDelivery[] => receiver.received().filter((r) => r.path === path);
const ofRun = (path: string, runId: string) => at(path).filter((r) => r.body['runId'] === runId);

beforeAll(async () => {
  receiver = await startWebhookReceiver(SECRET);
  cluster = await startCluster({
    runners: 1,
    concurrency: 2,
    config: {
      resultSinks: { results: hook('/results'), other: hook('/other') },
      notifications: {
        all: hook('/all', { events: ['run.succeeded', 'run.failed', 'item.failed'] }),
        successes: hook('/successes', { events: ['run.succeeded'] }),
      },
      tasks: {
        fails: { command: [process.execPath, '-e', 'process.exit(3)'], resultSink: 'results' },
        slow: { command: [process.execPath, '-e', 'setTimeout(() => {}, 2000)'] },
      },
    },
  });
});

afterAll(async () => {
  await cluster.close();
  await receiver.close();
});

async function run(plan: PlanInput): Promise<string> {
  const runId = await cluster.client.submit(plan);
  await cluster.client.wait(runId);
  return runId;
}

describe('result sinks', () => {
  it('POSTs each item\'s terminal result, signed, to the plan\'s sink', async () => {
    const runId = await run({ id: 'sunny', resultSink: 'results', items: [{ id: 'a', executor: 'noop' }, { id: 'b', executor: 'noop', depends_on: ['a'] }, { id: 'c', executor: 'noop' }] });
    const got = await until('three results', async () => (ofRun('/results', runId).length >= 3 ? ofRun('/results', runId) : null));
    expect(got).toHaveLength(3);
    expect(got.every((r) => r.signed && r.contentType === 'application/json' && /^[0-9a-f]{32}$/.test(r.deliveryId))).toBe(true);
    expect(new Set(got.map((r) => r.deliveryId)).size).toBe(3);
    for (const r of got.sort((x, y) => String(x.body['itemId']).localeCompare(String(y.body['itemId'])))) {
      expect(r.body).toMatchObject({ type: 'item.result', runId, state: 'done', exitCode: null, attempt: 1 });
      expect(r.body['resultRef']).toMatch(new RegExp(`^agora://${cluster.config.namespace}/result/${runId}\\.${String(r.body['itemId'])}/`));
      expect(typeof r.body['finishedAt']).toBe('string');
    }
    expect(got.map((r) => r.body['itemId'])).toEqual(['a', 'b', 'c']);
    // A run that names no sink sends no result anywhere (the default stdout is the runner's log line).
    const quiet = await run({ id: 'quiet', items: [{ id: 'a', executor: 'noop' }] });
    await until('its run.succeeded', async () => ofRun('/all', quiet).length > 0);
    expect([...ofRun('/results', quiet), ...ofRun('/other', quiet)]).toEqual([]);
  });

  it('sends an item\'s result to its task\'s sink over the plan\'s, failed and skipped ones too', async () => {
    const runId = await run({
      id: 'stormy',
      resultSink: 'other',
      items: [{ id: 'boom', executor: 'dispatch', inputs: { task: 'fails' } }, { id: 'after', executor: 'noop', depends_on: ['boom'] }, { id: 'fine', executor: 'noop' }],
    });
    const results = await until('boom result', async () => ofRun('/results', runId)[0]);
    expect(results.signed).toBe(true);
    expect(results.body).toMatchObject({ runId, itemId: 'boom', state: 'failed', exitCode: 3, resultRef: null, attempt: 1 });
    const other = await until('two results', async () => (ofRun('/other', runId).length >= 2 ? ofRun('/other', runId) : null));
    expect(Object.fromEntries(other.map((r) => [r.body['itemId'], r.body['state']]))).toEqual({ after: 'skipped', fine: 'done' });
  });

  it('sends the result of an item that took a memoized result (it did not execute)', async () => {
    const plan = { id: 'memo', resultSink: 'results', items: [{ id: 'm', executor: 'noop', inputs: { v: 'memo-sink' }, memoize: true }] };
    const first = await run(plan);
    const second = await run(plan);
    const events = await cluster.client.events(second);
    // It did not execute: it took the first run's result from the memo cache.
    expect(events.filter((e) => e.type === 'cached').map((e) => e.itemId)).toEqual(['m']);
    const [again] = await until('the memoized item\'s result', async () => (ofRun('/results', second).length > 0 ? ofRun('/results', second) : null));
    const [original] = ofRun('/results', first);
    expect(again!.body).toMatchObject({ type: 'item.result', runId: second, itemId: 'm', state: 'done' });
    expect(again!.body['resultRef']).toBe(original!.body['resultRef']);
  });

  it('a runner that died between an item\'s end and enqueueing its result: the job\'s retry sends it', async () => {
    const lonely = await startCluster({ runners: 0, config: { resultSinks: { results: hook('/results') } } });
    const connection = new Redis(lonely.config.redisUrl, { maxRetriesPerRequest: null });
    try {
      const runId = await lonely.client.submit({ id: 'orphan', resultSink: 'results', items: [{ id: 'a', executor: 'noop' }] });
      // The dying runner, by hand: it takes the job, begins and ends the item (the end is in the
      // record)... and dies before its delivery is enqueued and before BullMQ completes the job.
      // Its lock would lapse and the stall check put the job back in wait: done here at once.
      const dying = new Worker('default', null, { connection, prefix: lonely.scheduler.store.keys.bullPrefix });
      const job = (await until('the item job', () => dying.getNextJob('dying-token')))!;
      const d = parseItemJobData(job.data);
      const resultRef = `agora://${lonely.config.namespace}/result/${runId}.a/${'ab'.repeat(32)}`;
      const begin = await lonely.scheduler.store.beginItem(runId, 'a', d.deps, 'dying', { definitionHash: itemDefinitionHash(d), maxStarts: 5, jobId: job.id! });
      expect(begin.kind).toBe('run');
      await lonely.scheduler.store.finishItem(runId, 'a', 'done', { resultRef, fields: { attempt: 1, durationMs: 1 } });
      await job.moveToWait('dying-token');
      await dying.close();
      expect(await lonely.client.wait(runId)).toMatchObject({ state: 'succeeded' });
      expect(ofRun('/results', runId)).toEqual([]);
      // A live runner takes the job again: the item is already done, so it only sends what was lost.
      const survivor = await createRunner({ config: lonely.config, logger: silent, runnerId: 'survivor', cpus: 64 });
      try {
        const [got] = await until('the lost result', async () => (ofRun('/results', runId).length > 0 ? ofRun('/results', runId) : null));
        expect(got!.body).toMatchObject({ type: 'item.result', runId, itemId: 'a', state: 'done', resultRef });
        // Once: the stable delivery id keeps a repeat from sending it twice.
        await new Promise((r) => setTimeout(r, 300));
        expect(ofRun('/results', runId)).toHaveLength(1);
      } finally {
        await survivor.close({ graceMs: 1000 });
      }
    } finally {
      connection.disconnect();
      await lonely.close();
    }
  });

  it('Redis refusing an item\'s result delivery at enqueue: the job is taken up again and sends it, once', async () => {
    const flaky = await startCluster({ runners: 0, config: { resultSinks: { results: hook('/results') } } });
    const redis = new Redis(flaky.config.redisUrl);
    // The fault: the deliveries queue's meta hash is a string, so every enqueue fails with
    // WRONGTYPE (its script reads the hash before writing the job) until the key is gone. Item
    // queues have meta hashes of their own.
    const meta = `${flaky.scheduler.store.keys.bullPrefix}:_deliveries:meta`;
    await redis.set(meta, 'not a hash');
    const warned: string[] = [];
    const logger = { ...silent, warn: (_o: unknown, msg?: string) => void warned.push(String(msg)) };
    const runner = await createRunner({ config: flaky.config, logger, runnerId: 'flaky', cpus: 64 });
    try {
      const runId = await flaky.client.submit({ id: 'refused', resultSink: 'results', items: [{ id: 'a', executor: 'noop' }] });
      expect(await flaky.client.wait(runId)).toMatchObject({ state: 'succeeded' });
      await until('the refused enqueue', async () => warned.some((m) => m.startsWith('result delivery not enqueued')));
      // Refused once: the key is gone now (BullMQ may have made it a hash again already).
      if ((await redis.type(meta)) === 'string') await redis.del(meta);
      const [got] = await until('the refused result', async () => (ofRun('/results', runId).length > 0 ? ofRun('/results', runId) : null), 10_000);
      expect(got!.body).toMatchObject({ type: 'item.result', runId, itemId: 'a', state: 'done' });
      await new Promise((r) => setTimeout(r, 1500));
      expect(ofRun('/results', runId)).toHaveLength(1);
    } finally {
      await runner.close({ graceMs: 1000 });
      redis.disconnect();
      await flaky.close();
    }
  });

  it('refuses a plan naming an unknown sink, naming the ones configured', async () => {
    await expect(cluster.client.submit({ id: 'nowhere', resultSink: 'nope', items: [{ id: 'a', executor: 'noop' }] })).rejects.toThrow(
      'resultSink: unknown result sink "nope" (configured: other, results, stdout)',
    );
  });
});

describe('notifications', () => {
  it('item.failed sent by the runner while the run goes on carries the same counts as the scheduler\'s, total included', async () => {
    const runId = await cluster.client.submit({ id: 'going-on', items: [{ id: 'boom', executor: 'dispatch', inputs: { task: 'fails' } }, { id: 'slow', executor: 'dispatch', inputs: { task: 'slow' } }] });
    // The run is still running (slow sleeps 2 s): this one is the runner's, sent right after the dead letter.
    const [n] = await until('item.failed', async () => (ofRun('/all', runId).length > 0 ? ofRun('/all', runId) : null));
    expect(n!.body).toMatchObject({ type: 'item.failed', itemId: 'boom', errorCode: 'APPLICATION' });
    expect(n!.body['counts']).toEqual({ done: 0, failed: 1, skipped: 0, cancelled: 0, total: 2 });
    await cluster.client.wait(runId);
  });

  it('sends run.succeeded with counts to every provider that asks for it', async () => {
    const runId = await run({ id: 'counted', items: [{ id: 'a', executor: 'noop' }, { id: 'b', executor: 'noop' }] });
    const [all] = await until('run.succeeded', async () => (ofRun('/all', runId).length > 0 ? ofRun('/all', runId) : null));
    const [ok] = await until('run.succeeded (successes)', async () => (ofRun('/successes', runId).length > 0 ? ofRun('/successes', runId) : null));
    for (const n of [all!, ok!]) {
      expect(n.signed).toBe(true);
      expect(n.body).toMatchObject({ type: 'run.succeeded', runId, state: 'succeeded', counts: { done: 2, failed: 0, skipped: 0, cancelled: 0, total: 2 } });
      expect(n.body['itemId']).toBeUndefined();
    }
  });

  it('sends run.failed and item.failed with counts, and honours each provider\'s event filter', async () => {
    const runId = await run({ id: 'failing', items: [{ id: 'boom', executor: 'dispatch', inputs: { task: 'fails' } }, { id: 'after', executor: 'noop', depends_on: ['boom'] }] });
    const got = await until('run.failed and item.failed', async () => {
      const n = ofRun('/all', runId);
      return n.some((r) => r.body['type'] === 'run.failed') && n.some((r) => r.body['type'] === 'item.failed') ? n : null;
    });
    expect(got.every((r) => r.signed)).toBe(true);
    expect(got.find((r) => r.body['type'] === 'run.failed')!.body).toMatchObject({ runId, state: 'failed', counts: { done: 0, failed: 1, skipped: 1, cancelled: 0, total: 2 } });
    expect(got.filter((r) => r.body['type'] === 'item.failed').map((r) => r.body)).toEqual([
      expect.objectContaining({ runId, itemId: 'boom', state: 'failed', errorCode: 'APPLICATION', counts: expect.objectContaining({ failed: 1 }) }),
    ]);
    // `successes` asked for run.succeeded only: a later run's success reaches it, this run's failure never did.
    const later = await run({ id: 'later', items: [{ id: 'a', executor: 'noop' }] });
    await until('later run.succeeded', async () => ofRun('/successes', later).length > 0);
    expect(ofRun('/successes', runId)).toEqual([]);
  });
});
