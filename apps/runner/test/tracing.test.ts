import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileConfig, createLogger, type AgoraConfig } from '@agora/core';
import { createScheduler, type Scheduler } from '@agora/scheduler';
import { createRunner, type Runner } from '@agora/runner';
import { AgoraClient } from '@agora/sdk';
import { SPAN_NAMES, createAgoraTracing, type AgoraTracing, type ReadableSpan } from '@agora/tracing';
import { testRedisUrl, uniqueNamespace } from '../../../test/support/index.js';
import { silent } from '../../../test/support/cluster.js';

/**
 * Issue 15, parts 5 and 7, in one process: a scheduler and two runners, each with a tracer of
 * its own (`memory` exporter), as separate processes would have; the spans of a run, taken
 * together, are one trace whose shape is the plan's DAG. And each runner's log: one line per
 * item end, with the run's trace id.
 */

let dataDir: string;
let config: AgoraConfig;
let scheduler: Scheduler;
const runners: Runner[] = [];
const runnerTracing: AgoraTracing[] = [];
let schedulerTracing: AgoraTracing;
const logLines: string[] = [];
let client: AgoraClient;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'agora-tracing-'));
  config = compileConfig(
    { namespace: uniqueNamespace(), queues: { default: { concurrency: 8 } }, runner: { attempts: 2, backoffMs: 50 }, tracing: { exporter: 'memory' }, dataDir },
    'test',
    dataDir,
    { REDIS_URL: testRedisUrl() },
  );
  schedulerTracing = createAgoraTracing(config.tracing, { component: 'scheduler' });
  scheduler = await createScheduler({ config, logger: silent, tracing: schedulerTracing });
  for (let i = 0; i < 2; i++) {
    const tracing = createAgoraTracing(config.tracing, { component: 'runner' });
    runnerTracing.push(tracing);
    const logger = createLogger({ component: 'runner', runner: `runner-${i}` }, 'info', (l) => logLines.push(l));
    runners.push(await createRunner({ config, logger, tracing, runnerId: `runner-${i}`, cpus: 8, concurrency: 4 }));
  }
  client = new AgoraClient({ redisUrl: config.redisUrl, namespace: config.namespace });
});

afterAll(async () => {
  await client?.close();
  await Promise.all(runners.map((r) => r.close({ graceMs: 2000 })));
  await scheduler?.close();
  for (const t of [...runnerTracing, schedulerTracing]) await t?.shutdown();
  rmSync(dataDir, { recursive: true, force: true });
});

const item = (id: string, depends_on: string[] = [], inputs: Record<string, unknown> = {}, resourceLocks: string[] = []) => ({ id, executor: 'noop', inputs, depends_on, resourceLocks });

async function until<T>(what: string, get: () => T | Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The run and item spans of a run, from every tracer (step spans carry no run id: found by parent). */
const spansOfRun = (runId: string): ReadableSpan[] => [schedulerTracing, ...runnerTracing].flatMap((t) => t.finishedSpans()).filter((s) => s.attributes['agora.run_id'] === runId);

describe('tracing across the scheduler and two runners (memory exporters)', () => {
  it('a diamond run is one trace: a root run span, an item span per item under it, steps under each item', async () => {
    // a -> (b, c) -> d; b and c share a lock, so one of them waits for the other.
    const plan = {
      id: 'diamond',
      queue: 'default',
      items: [item('a'), item('b', ['a'], { sleepMs: 150 }, ['db']), item('c', ['a'], { sleepMs: 150 }, ['db']), item('d', ['b', 'c'])],
    };
    const runId = await client.submit(plan);
    expect((await client.wait(runId)).state).toBe('succeeded');
    // The run span is recorded when the scheduler hears the run ended.
    await until('the run span', () => schedulerTracing.finishedSpans(), (s) => s.some((x) => x.attributes['agora.run_id'] === runId));

    const all = spansOfRun(runId);
    const events = await client.events(runId);
    const accepted = events.find((e) => e.type === 'run' && e.state === 'accepted');
    const traceId = accepted?.traceId;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    const itemSpans = all.filter((s) => s.name === SPAN_NAMES.item);
    const runSpans = all.filter((s) => s.name === SPAN_NAMES.run);
    const stepSpans = [schedulerTracing, ...runnerTracing].flatMap((t) => t.finishedSpans()).filter((s) => s.spanContext().traceId === traceId && s.name !== SPAN_NAMES.item && s.name !== SPAN_NAMES.run);

    // One trace: every span of the run carries the accepted event's trace id.
    expect(new Set([...all, ...stepSpans].map((s) => s.spanContext().traceId))).toEqual(new Set([traceId]));
    expect(runSpans).toHaveLength(1);
    const root = runSpans[0]!;
    expect(root.parentSpanContext).toBeUndefined();
    expect(root.attributes).toMatchObject({ 'agora.state': 'succeeded', 'agora.items': 4, 'agora.items.done': 4, 'agora.plan_id': 'diamond' });

    // A span per item (no retries here), each a child of the run span, naming its dependencies.
    expect(itemSpans.map((s) => s.attributes['agora.item_id']).sort()).toEqual(['a', 'b', 'c', 'd']);
    for (const s of itemSpans) {
      const id = s.attributes['agora.item_id'] as string;
      expect(s.parentSpanContext?.spanId, id).toBe(root.spanContext().spanId);
      expect(s.attributes['agora.depends_on'], id).toEqual(plan.items.find((i) => i.id === id)!.depends_on);
      expect(s.attributes, id).toMatchObject({ 'agora.state': 'done', 'agora.attempt': 1, 'agora.queue': 'default', 'agora.executor': 'noop' });
    }
    // Steps: provider.run and storage.put under every item; lock.wait under the two lock holders.
    const stepsOf = (itemId: string): string[] => {
      const span = itemSpans.find((s) => s.attributes['agora.item_id'] === itemId)!;
      return stepSpans.filter((s) => s.parentSpanContext?.spanId === span.spanContext().spanId).map((s) => s.name).sort();
    };
    expect(stepsOf('a')).toEqual(['provider.run', 'storage.put']);
    expect(stepsOf('b')).toEqual(['lock.wait', 'provider.run', 'storage.put']);
    expect(stepsOf('c')).toEqual(['lock.wait', 'provider.run', 'storage.put']);
    expect(stepsOf('d')).toEqual(['provider.run', 'storage.put']);

    // traceId on every running event, the same as the accepted event's and the spans'.
    const running = events.filter((e) => e.type === 'item' && e.state === 'running');
    expect(running).toHaveLength(4);
    for (const e of running) expect(e.traceId).toBe(traceId);
    expect(root.spanContext().traceId).toBe(traceId);
  });

  it('each runner logs one line per item end: run, item, queue, state, attempt, duration, trace id', async () => {
    const before = logLines.length;
    const runId = await client.submit({
      id: 'logged',
      queue: 'default',
      items: [item('ok'), item('bad', [], { fail: true }), item('flaky', [], { fail: 'infra' }), item('after', ['ok'])],
    });
    expect((await client.wait(runId)).state).toBe('failed');
    const traceId = (await client.events(runId)).find((e) => e.type === 'run' && e.state === 'accepted')?.traceId;
    // The run's end is written before the runner that ended the last item logs it and ends its span: wait for those.
    const lines = await until(
      'the four item-end lines',
      () => logLines.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['runId'] === runId && l['msg'] === 'item ended'),
      (ls) => ls.length >= 4,
    );
    // One line per item end: flaky was tried twice (attempts: 2) but ended once.
    expect(lines.map((l) => l['itemId']).sort()).toEqual(['after', 'bad', 'flaky', 'ok']);
    const line = (id: string) => lines.find((l) => l['itemId'] === id)!;
    for (const l of lines) {
      expect(l).toMatchObject({ level: 'info', component: 'runner', queue: 'default', traceId });
      expect(l['durationMs']).toEqual(expect.any(Number));
    }
    expect(line('ok')).toMatchObject({ state: 'done', attempt: 1 });
    expect(line('bad')).toMatchObject({ state: 'failed', attempt: 1 });
    expect(line('flaky')).toMatchObject({ state: 'failed', attempt: 2 });
    // The failed attempts' item spans carry the outcome: the first attempt of flaky a retry.
    const flaky = await until(
      "flaky's two item spans",
      () => spansOfRun(runId).filter((s) => s.name === SPAN_NAMES.item && s.attributes['agora.item_id'] === 'flaky'),
      (ss) => ss.length >= 2,
    );
    expect(flaky.map((s) => [s.attributes['agora.attempt'], s.attributes['agora.state']]).sort()).toEqual([
      [1, 'retry'],
      [2, 'failed'],
    ]);
    expect(flaky.every((s) => s.status.code === 2)).toBe(true);
  });
});
