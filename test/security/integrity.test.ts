import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Executor } from '@agora/runner';
import { itemJobId, keys } from '@agora/core';
import { createRedis } from '@agora/state';
import { startCluster, type TestCluster } from '../support/cluster.js';
import { gateExecutor } from '../support/gate.js';

/**
 * Trust boundary 8: what runs is what was accepted. A waiting job's data is editable by anyone
 * with Redis access or an admin Bull Board ("update-data"); the record says what the scheduler
 * registered, so the runner must run that or nothing.
 */
const ran: Array<{ runId: string; itemId: string; inputs: unknown }> = [];
const { executor: gate, release } = gateExecutor();
const count: Executor = {
  name: 'count',
  execute(ctx) {
    ran.push({ runId: ctx.runId, itemId: ctx.itemId, inputs: ctx.inputs });
    return Promise.resolve({ output: 'counted' });
  },
};

let cluster: TestCluster;
const redis = createRedis(process.env['AGORA_TEST_REDIS_URL']!);
beforeAll(async () => {
  cluster = await startCluster({ runners: 1, executors: [gate, count], config: { queues: { default: { concurrency: 4 } } } });
});
afterAll(async () => {
  release();
  await cluster?.close();
  redis.disconnect();
});

async function until(cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not reached in 10 s');
}

const plan = {
  id: 'integrity',
  items: [
    { id: 'first', executor: 'gate' },
    { id: 'second', executor: 'count', inputs: { path: 'safe.txt' }, depends_on: ['first'] },
    { id: 'third', executor: 'count', depends_on: ['second'] },
  ],
};

/** Edits a waiting job's data in Redis, as `HSET` (or Bull Board's update-data) would. */
async function editJobData(runId: string, index: number, edit: (data: Record<string, unknown>) => void): Promise<void> {
  const jobKey = `${keys(cluster.config.namespace).bullPrefix}:default:${itemJobId(runId, index)}`;
  const data = JSON.parse((await redis.hget(jobKey, 'data'))!) as Record<string, unknown>;
  edit(data);
  await redis.hset(jobKey, 'data', JSON.stringify(data));
}

describe('what runs is what was accepted', () => {
  for (const [what, edit] of [
    ['inputs', (d: Record<string, unknown>) => (d['inputs'] = { path: '/etc/shadow' })],
    ['executor', (d: Record<string, unknown>) => (d['executor'] = 'gate')],
    ['locks', (d: Record<string, unknown>) => (d['locks'] = ['other/lock'])],
    ['shape', (d: Record<string, unknown>) => (d['inputs'] = 'not an object')],
  ] as const) {
    it(`editing a waiting job's ${what} runs nothing and fails the item with an INTEGRITY error in the record`, async () => {
      const runId = await cluster.client.submit(plan);
      await until(async () => (await cluster.client.events(runId)).some((e) => e.itemId === 'first' && e.state === 'running'));
      await editJobData(runId, 1, edit);
      release();
      const status = await cluster.client.wait(runId);
      expect(status.state).toBe('failed');
      const events = await cluster.client.events(runId);
      const failed = events.find((e) => e.itemId === 'second' && e.state === 'failed');
      expect(failed).toMatchObject({ errorCode: 'INTEGRITY' });
      expect(events.find((e) => e.itemId === 'third')?.state).toBeDefined();
      expect(events.filter((e) => e.itemId === 'third').at(-1)?.state).toBe('skipped');
      expect(events.some((e) => e.itemId === 'second' && e.state === 'running')).toBe(false);
      expect(ran.filter((r) => r.runId === runId)).toEqual([]);
      // The registered definition is in the record: what the job was held to.
      const registered = events.find((e) => e.itemId === 'second' && e.state === 'waiting');
      expect(registered?.definitionHash).toMatch(/^[0-9a-f]{64}$/);
      expect(failed?.definitionHash).toBe(registered?.definitionHash);
    });
  }

  it('an untouched run runs every item once (control)', async () => {
    const runId = await cluster.client.submit(plan);
    await until(async () => (await cluster.client.events(runId)).some((e) => e.itemId === 'first' && e.state === 'running'));
    release();
    const status = await cluster.client.wait(runId);
    expect(status.state).toBe('succeeded');
    expect(ran.filter((r) => r.runId === runId).map((r) => r.itemId)).toEqual(['second', 'third']);
  });
});
