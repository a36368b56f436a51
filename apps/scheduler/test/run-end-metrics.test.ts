import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createAgoraMetrics } from '@agora/metrics';
import { startRedisServer } from '@agora/state';
import { SPAN_NAMES, createAgoraTracing } from '@agora/tracing';
import { compileConfig } from '@agora/core';
import { createEvidence, createSealer } from '@agora/evidence';
import { silent, startCluster } from '../../../test/support/cluster.js';
import { until } from '../../../test/support/index.js';
import { Scrape } from '../../../test/support/prometheus.js';

/**
 * agora_runs_total{state} for ended runs: counted when the scheduler hears the run end on the
 * finished channel. A run whose end message was published while the scheduler's subscriber was
 * reconnecting is still sealed by the sweep; it was never counted. Now the sweep counts it, and a
 * run both paths see is counted once.
 */
describe('agora_runs_total for ended runs', () => {
  it('counts a run whose end message the scheduler missed (its subscriber was cut) once, when the sweep seals it', async () => {
    // A Redis of its own: CLIENT KILL TYPE pubsub must cut only this cluster's subscribers.
    const server = await startRedisServer();
    const metrics = createAgoraMetrics();
    // No runner: the items stay queued, and a cancel ends the run at once (in the cancel's script).
    // A sweep every 500 ms.
    const c = await startCluster({ runners: 0, redisUrl: server.url, schedulerMetrics: metrics, config: { audit: { checkpointEveryMs: 1000 } } });
    const admin = new Redis(server.url, { maxRetriesPerRequest: null });
    const scrape = async (): Promise<Scrape> => new Scrape(await metrics.registry.metrics());
    const plan = (id: string) => ({ id, items: [{ id: 'a', executor: 'noop', inputs: {} }] });
    const accepted = (runId: string) => until(`run ${runId} accepted`, async () => ((await c.client.status(runId)) as { state: string }).state === 'running');
    try {
      // Heard: the message path counts it; the sweeps after (it is sealed) add nothing.
      const heard = await c.client.submit(plan('heard'));
      await accepted(heard);
      expect(await c.client.cancel(heard)).toMatchObject({ state: 'cancelled' });
      await until('the first run sealed', async () => (await scrape()).value('agora_runs_sealed_total') === 1);
      await until('the first run counted', async () => (await scrape()).value('agora_runs_total', { state: 'cancelled' }) === 1);

      // Rejected at acceptance (an unknown task): counted there; the sweep seals it, and must not count it again.
      const refused = await c.client.submit({ id: 'refused', items: [{ id: 'x', executor: 'dispatch', inputs: { task: 'nope' } }] });
      expect((await c.client.wait(refused)).state).toBe('rejected');

      // Missed: the subscriber is cut just before the run ends; ioredis is back ~100 ms later,
      // and pub/sub does not keep the message for it.
      const missed = await c.client.submit(plan('missed'));
      await accepted(missed);
      expect(Number(await admin.client('KILL', 'TYPE', 'pubsub'))).toBeGreaterThan(0);
      expect(await c.client.cancel(missed)).toMatchObject({ state: 'cancelled' });
      await until('the missed and the rejected run sealed by the sweep', async () => (await scrape()).value('agora_runs_sealed_total') === 3);
      // Two more sweeps: nothing is counted twice.
      await sleep(1200);
      const s = await scrape();
      // Before, this stayed 1: the sweep sealed the run without counting it.
      expect(s.value('agora_runs_total', { state: 'cancelled' })).toBe(2);
      expect(s.value('agora_runs_total', { state: 'accepted' })).toBe(2);
      expect(s.value('agora_runs_total', { state: 'rejected' })).toBe(1);
    } finally {
      admin.disconnect();
      await c.close();
      await server.stop();
    }
  }, 60_000);

  it('records the agora.run span of a run whose end message the scheduler missed once, when the sweep seals it', async () => {
    const server = await startRedisServer();
    const metrics = createAgoraMetrics();
    const tracing = createAgoraTracing(compileConfig({ tracing: { exporter: 'memory' } }, 'test', '/tmp', {}).tracing, { component: 'scheduler' });
    const c = await startCluster({ runners: 0, redisUrl: server.url, schedulerMetrics: metrics, schedulerTracing: tracing, config: { audit: { checkpointEveryMs: 1000 } } });
    const admin = new Redis(server.url, { maxRetriesPerRequest: null });
    const sealed = async (): Promise<number> => new Scrape(await metrics.registry.metrics()).value('agora_runs_sealed_total');
    const runSpans = (runId: string) => tracing.finishedSpans().filter((s) => s.name === SPAN_NAMES.run && s.attributes['agora.run_id'] === runId);
    const plan = (id: string) => ({ id, items: [{ id: 'a', executor: 'noop', inputs: {} }] });
    const accepted = (runId: string) => until(`run ${runId} accepted`, async () => ((await c.client.status(runId)) as { state: string }).state === 'running');
    try {
      const heard = await c.client.submit(plan('heard'));
      await accepted(heard);
      await c.client.cancel(heard);
      await until('the first run sealed', async () => (await sealed()) === 1);
      await until('the first run span', async () => runSpans(heard).length === 1);

      const missed = await c.client.submit(plan('missed'));
      await accepted(missed);
      // Both of the scheduler's subscribers (seal, run spans) are cut just before the run ends.
      expect(Number(await admin.client('KILL', 'TYPE', 'pubsub'))).toBeGreaterThanOrEqual(2);
      expect(await c.client.cancel(missed)).toMatchObject({ state: 'cancelled' });
      await until('the second run sealed by the sweep', async () => (await sealed()) === 2);
      await sleep(1200);
      // Before, the missed run had no root span: its items' spans had no parent in the trace.
      expect(runSpans(missed)).toHaveLength(1);
      expect(runSpans(missed)[0]!.attributes).toMatchObject({ 'agora.state': 'cancelled' });
      expect(runSpans(heard)).toHaveLength(1);
    } finally {
      admin.disconnect();
      await c.close();
      await tracing.shutdown();
      await server.stop();
    }
  }, 60_000);

  it('a sealer counts (onSealed, agora_runs_sealed_total) only the seals it wrote, not a run it found sealed', async () => {
    const server = await startRedisServer();
    const metrics = createAgoraMetrics();
    // The default sweep: every 5 s, so the test's own sealer comes first on the missed run.
    const c = await startCluster({ runners: 0, redisUrl: server.url, schedulerMetrics: metrics });
    const admin = new Redis(server.url, { maxRetriesPerRequest: null });
    const redis = new Redis(server.url, { maxRetriesPerRequest: null });
    // A second sealer, as a scheduler whose sweep read a run as unsealed a moment before another sealed it.
    const wrote: string[] = [];
    const sealer = createSealer({ evidence: createEvidence({ config: c.config, redis }), logger: silent, fence: () => Promise.resolve(), onSealed: (runId) => wrote.push(runId) });
    const sealedBySchedulers = async (): Promise<number> => new Scrape(await metrics.registry.metrics()).value('agora_runs_sealed_total');
    const plan = (id: string) => ({ id, items: [{ id: 'a', executor: 'noop', inputs: {} }] });
    const accepted = (runId: string) => until(`run ${runId} accepted`, async () => ((await c.client.status(runId)) as { state: string }).state === 'running');
    try {
      const heard = await c.client.submit(plan('heard'));
      await accepted(heard);
      await c.client.cancel(heard);
      await until('the scheduler sealed the first run', async () => (await sealedBySchedulers()) === 1);

      // The scheduler misses this run's end: the test's sealer writes its seal.
      const missed = await c.client.submit(plan('missed'));
      await accepted(missed);
      expect(Number(await admin.client('KILL', 'TYPE', 'pubsub'))).toBeGreaterThan(0);
      await c.client.cancel(missed);
      sealer.seal(missed);
      await until('the test sealer sealed the missed run', async () => wrote.includes(missed));

      // Sealed already (by the scheduler): nothing written, nothing counted.
      sealer.seal(heard);
      await sleep(500);
      // Before, the run found sealed was counted as one this sealer sealed.
      expect(wrote).toEqual([missed]);
      // And the scheduler's sweep (at start, then every 5 s) finds the missed run sealed: not counted there.
      await sleep(5500);
      expect(await sealedBySchedulers()).toBe(1);
    } finally {
      admin.disconnect();
      redis.disconnect();
      await c.close();
      await server.stop();
    }
  }, 60_000);
});
