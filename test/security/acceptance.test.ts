import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '@agora/core';
import { createRedis } from '@agora/state';
import { startCluster, type TestCluster } from '../support/cluster.js';

/**
 * Trust boundary 13 (scheduler side): an unknown task is rejected when the plan is accepted, not
 * after a runner took the item's locks; the scheduler publishes what it accepts, so clients can
 * refuse a plan it would reject before anything is enqueued.
 */
let cluster: TestCluster;
const redis = createRedis(process.env['AGORA_TEST_REDIS_URL']!);
beforeAll(async () => {
  cluster = await startCluster({
    runners: 1,
    config: {
      queues: { default: { concurrency: 2 }, batch: {} },
      tasks: { known: { command: [process.execPath, '-e', 'process.stdout.write("ok")'] } },
    },
  });
});
afterAll(async () => {
  await cluster?.close();
  redis.disconnect();
});

describe('acceptance checks what the deployment can run', () => {
  it('an unknown task is rejected at acceptance, before any lock is taken', async () => {
    const runId = await cluster.client.submit({
      id: 'unknown-task',
      items: [
        { id: 'ok', executor: 'dispatch', inputs: { task: 'known' }, resourceLocks: ['db/main'] },
        { id: 'bad', executor: 'dispatch', inputs: { task: 'nope' }, resourceLocks: ['db/main'] },
        { id: 'none', executor: 'dispatch', inputs: {} },
      ],
    });
    const status = await cluster.client.wait(runId);
    expect(status.state).toBe('rejected');
    const events = await cluster.client.events(runId);
    const problems = events.find((e) => e.state === 'rejected')?.['problems'] as string[];
    expect(problems).toEqual([
      'items[2] ("none"): dispatch needs inputs.task naming a task',
      'items[1] ("bad"): unknown task "nope" (configured: known; none registered by that name)',
    ]);
    expect(await redis.keys(`${cluster.config.namespace}:lock*`)).toEqual([]);
    expect(events.some((e) => e.type === 'lock')).toBe(false);
  });

  it('the scheduler publishes its queues, targets, executors and tasks', async () => {
    const d = await redis.hgetall(keys(cluster.config.namespace).deployment);
    expect(JSON.parse(d['queues']!)).toEqual(['default', 'batch']);
    expect(JSON.parse(d['targets']!)).toEqual(['local']);
    expect(JSON.parse(d['executors']!)).toEqual(['noop', 'dispatch']);
    expect(JSON.parse(d['tasks']!)).toEqual(['known']);
  });
});
