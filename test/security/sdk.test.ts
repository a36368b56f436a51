import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { INBOX_QUEUE, IllegalStateError, PlanValidationError, keys } from '@agora/core';
import { AgoraClient } from '@agora/sdk';
import { stateKeys } from '@agora/state';
import { testRedisUrl, uniqueNamespace } from '../support/index.js';

/**
 * Item 13 (SDK part) of the trust-boundary issue: `submit` never reports success for a run id
 * that is already taken, and refuses a plan the deployment's scheduler would reject (the
 * scheduler publishes its queues, targets, executors and tasks in `keys(ns).deployment`; these
 * tests write that hash themselves, as the scheduler would).
 */

const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
const clients: AgoraClient[] = [];
afterAll(async () => {
  for (const c of clients) await c.close();
  redis.disconnect();
});

function client(namespace: string, extra: Record<string, unknown> = {}): AgoraClient {
  const c = new AgoraClient({ redisUrl: testRedisUrl(), namespace, ...extra });
  clients.push(c);
  return c;
}

const item = (id: string, more: Record<string, unknown> = {}) => ({ id, executor: 'noop', inputs: {}, depends_on: [], resourceLocks: [], ...more });
const plan = (more: Record<string, unknown> = {}) => ({ id: 'sdk', queue: 'default', items: [item('a')], ...more });

async function inboxCount(namespace: string): Promise<number> {
  const conn = redis.duplicate();
  const q = new Queue(INBOX_QUEUE, { connection: conn, prefix: keys(namespace).bullPrefix });
  try {
    return await q.getJobCountByTypes('waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized');
  } finally {
    await q.close();
    conn.disconnect();
  }
}

async function publishDeployment(namespace: string, d: { queues: string[]; targets: string[]; executors: string[]; tasks: string[] }): Promise<void> {
  await redis.hset(keys(namespace).deployment, {
    queues: JSON.stringify(d.queues),
    targets: JSON.stringify(d.targets),
    executors: JSON.stringify(d.executors),
    tasks: JSON.stringify(d.tasks),
  });
}

describe('SDK submit', () => {
  it('refuses a run id whose inbox job already exists', async () => {
    const ns = uniqueNamespace('sdk');
    const c = client(ns);
    const runId = await c.submit(plan(), { runId: 'rtaken00000001' });
    expect(runId).toBe('rtaken00000001');
    await expect(c.submit(plan({ id: 'other' }), { runId: 'rtaken00000001' })).rejects.toThrow(IllegalStateError);
    await expect(c.submit(plan({ id: 'other' }), { runId: 'rtaken00000001' })).rejects.toThrow(/run "rtaken00000001" already exists/);
    expect(await inboxCount(ns)).toBe(1);
  });

  it('refuses a run id whose run record already exists (the inbox job is gone)', async () => {
    const ns = uniqueNamespace('sdk');
    const c = client(ns);
    // What an accepted run leaves behind once its inbox job was removed.
    await redis.hset(stateKeys(ns).run('rtaken00000002').meta, { state: 'succeeded', seq: '0' });
    await expect(c.submit(plan(), { runId: 'rtaken00000002' })).rejects.toThrow(IllegalStateError);
    expect(await inboxCount(ns)).toBe(0);
  });

  it("refuses a plan whose queue, target or executor the deployment's scheduler does not serve; nothing is enqueued", async () => {
    const ns = uniqueNamespace('sdk');
    await publishDeployment(ns, { queues: ['default', 'gpu'], targets: ['local'], executors: ['noop', 'dispatch'], tasks: ['build'] });
    const c = client(ns);
    const bad = [
      plan({ queue: 'other' }),
      plan({ items: [item('a', { target: 'cloud' })] }),
      plan({ items: [item('a', { executor: 'mystery' })] }),
    ];
    for (const p of bad) {
      const err = await c.submit(p).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(p)).toBeInstanceOf(PlanValidationError);
    }
    expect(((await c.submit(plan({ queue: 'other' })).catch((e: unknown) => e)) as PlanValidationError).problems.join('\n')).toMatch(/queue.*other/);
    expect(await inboxCount(ns)).toBe(0);
    // What the deployment serves is accepted.
    await c.submit(plan({ queue: 'gpu', items: [item('a', { target: 'local' })] }));
    expect(await inboxCount(ns)).toBe(1);
  });

  it('checks the deployment even when the caller passes its own validate options (the scheduler has the last word)', async () => {
    const ns = uniqueNamespace('sdk');
    await publishDeployment(ns, { queues: ['default'], targets: [], executors: ['noop', 'dispatch'], tasks: [] });
    const c = client(ns, { validate: { queues: ['default', 'other'] } });
    await expect(c.submit(plan({ queue: 'other' }))).rejects.toThrow(PlanValidationError);
    expect(await inboxCount(ns)).toBe(0);
  });

  it('without a published deployment, submits as before', async () => {
    const ns = uniqueNamespace('sdk');
    const c = client(ns);
    await c.submit(plan({ queue: 'anything' }));
    expect(await inboxCount(ns)).toBe(1);
  });
});
