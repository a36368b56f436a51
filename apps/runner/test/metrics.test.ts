import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgoraMetrics, type AgoraMetrics } from '@agora/metrics';
import { startCluster, type TestCluster } from '../../../test/support/cluster.js';
import { Scrape } from '../../../test/support/prometheus.js';

/**
 * In-process runners each count into the registry they were given (issue 15, part 4): two
 * runners of one test process never share a series, and their counts add up to the run.
 */

const metrics: AgoraMetrics[] = [createAgoraMetrics(), createAgoraMetrics()];
const schedulerMetrics = createAgoraMetrics();
let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster({ config: { queues: { default: { concurrency: 8 } } }, runners: 2, concurrency: 4, metrics, schedulerMetrics });
});
afterAll(async () => {
  await cluster?.close();
});

const read = async (m: AgoraMetrics): Promise<Scrape> => new Scrape(await m.registry.metrics());
const noop = (id: string, inputs: Record<string, unknown> = {}, resourceLocks: string[] = []) => ({ id, executor: 'noop', inputs, depends_on: [], resourceLocks });

describe('runner metrics in one process', () => {
  it('two runners count into their own registries, adding up to the run', async () => {
    const runId = await cluster.client.submit({ id: 'm', queue: 'default', items: Array.from({ length: 20 }, (_, i) => noop(`i${i}`, { sleepMs: 20 })) });
    expect((await cluster.client.wait(runId)).state).toBe('succeeded');
    const [a, b] = await Promise.all(metrics.map(read));
    expect(a!.value('agora_items_total', { state: 'done', queue: 'default' }) + b!.value('agora_items_total', { state: 'done', queue: 'default' })).toBe(20);
    for (const s of [a!, b!]) expect(s.value('agora_runner_slots', { kind: 'total' })).toBe(4);
    const sched = await read(schedulerMetrics);
    expect(sched.value('agora_runs_total', { state: 'accepted' })).toBe(1);
    // Runners count nothing of the scheduler's, and the other way round.
    expect(a!.total('agora_runs_total')).toBe(0);
    expect(sched.total('agora_items_total')).toBe(0);
  });

  it('items the start script ends (skipped behind a failure) count in agora_items_total too', async () => {
    // Before: only ends written by a runner's end path were counted; skipped items never showed.
    const before = await Promise.all(metrics.map(read));
    const count = (s: Scrape[], state: string): number => s.reduce((n, x) => n + x.value('agora_items_total', { state, queue: 'default' }), 0);
    const runId = await cluster.client.submit({
      id: 'skips',
      queue: 'default',
      items: [noop('bad', { fail: true }), { ...noop('after1'), depends_on: ['bad'] }, { ...noop('after2'), depends_on: ['after1'] }],
    });
    expect((await cluster.client.wait(runId)).state).toBe('failed');
    const after = await Promise.all(metrics.map(read));
    expect(count(after, 'failed') - count(before, 'failed')).toBe(1);
    expect(count(after, 'skipped') - count(before, 'skipped')).toBe(2);
  });

  it('agora_lock_waiters reports the items waiting for a lock while they wait, read at scrape time', async () => {
    // The holder first, running, so the two others surely queue behind it.
    const holderRun = await cluster.client.submit({ id: 'holder', queue: 'default', items: [noop('holder', { sleepMs: 3000 }, ['gate'])] });
    const until = async (ok: () => Promise<boolean>): Promise<void> => {
      const end = Date.now() + 15_000;
      while (!(await ok()) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    };
    const busy = async (): Promise<number> => (await Promise.all(metrics.map(read))).reduce((n, x) => n + x.value('agora_runner_slots', { kind: 'busy' }), 0);
    await until(async () => (await busy()) === 1);
    const runId = await cluster.client.submit({ id: 'locks', queue: 'default', items: [noop('w1', { sleepMs: 10 }, ['gate']), noop('w2', { sleepMs: 10 }, ['gate'])] });
    let seen = 0;
    await until(async () => (seen = (await read(metrics[0]!)).value('agora_lock_waiters', { lock: 'gate' })) >= 2);
    expect(seen).toBe(2);
    expect((await cluster.client.wait(runId)).state).toBe('succeeded');
    expect((await cluster.client.wait(holderRun)).state).toBe('succeeded');
    expect((await read(metrics[0]!)).family('agora_lock_waiters').samples).toHaveLength(0);
    const waits = (await Promise.all(metrics.map(read))).reduce((n, s) => n + s.count('agora_lock_wait_seconds'), 0);
    expect(waits).toBe(3);
  });
});
