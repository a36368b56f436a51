import { afterEach, describe, expect, it } from 'vitest';
import { compileConfig, newTraceContext, type TracingConfig } from '@agora/core';
import { NOOP_ITEM_SPAN, NOOP_TRACING, SPAN_NAMES, createAgoraTracing, type AgoraTracing, type ItemSpanFacts } from '@agora/tracing';
import { startOtlpReceiver, type OtlpReceiver } from '../../../test/support/otlp.js';

/**
 * libs/tracing on its own: the `none` tracer makes nothing, the `memory` tracer parents item
 * spans on the run span named by a trace context and records the run span with exactly those
 * ids, and the `otlp` tracer delivers the same to a real OTLP/HTTP receiver started here.
 */

const tracers: AgoraTracing[] = [];
const receivers: OtlpReceiver[] = [];
afterEach(async () => {
  for (const t of tracers.splice(0)) await t.shutdown();
  for (const r of receivers.splice(0)) await r.close();
});

const tracingConfig = (tracing: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): TracingConfig => compileConfig({ tracing }, 'test', '/tmp', env).tracing;

const facts = (itemId: string, dependsOn: string[] = [], startTime = Date.now()): ItemSpanFacts => ({
  runId: 'r0123456789abcdef',
  itemId,
  queue: 'default',
  attempt: 1,
  executor: 'noop',
  runner: 'host:1',
  dependsOn,
  locks: [],
  startTime,
});

describe('the none tracer', () => {
  it('is the shared no-op: no provider, and the same no-op span for every item', () => {
    const t = createAgoraTracing(tracingConfig({}));
    expect(t).toBe(NOOP_TRACING);
    expect(t.enabled).toBe(false);
    const span = t.startItem(newTraceContext(), facts('a'));
    expect(span).toBe(NOOP_ITEM_SPAN);
    span.step('provider.run').end();
    span.end({ state: 'done' });
    expect(t.finishedSpans()).toEqual([]);
  });
});

describe('the memory tracer', () => {
  it('parents item spans on the run span of the trace context, and records the run span with those very ids', () => {
    const t = createAgoraTracing(tracingConfig({ exporter: 'memory', serviceName: 'agora-test' }), { component: 'runner' });
    tracers.push(t);
    const run = newTraceContext();
    const t0 = Date.now() - 1000;
    const a = t.startItem(run, facts('a', [], t0 + 10));
    const put = a.step('storage.put');
    put.end();
    a.end({ state: 'done' });
    const b = t.startItem(run, facts('b', ['a'], t0 + 20));
    b.step('provider.run').end({ error: 'boom' });
    b.end({ state: 'failed', error: 'boom' });
    t.recordRun({ trace: run, runId: 'r0123456789abcdef', planId: 'p', queue: 'default', state: 'failed', items: 2, counts: { done: 1, failed: 1, skipped: 0, cancelled: 0 }, startTime: t0, endTime: t0 + 900 });
    // A span made after the run span gets fresh ids again (the forced ids served one span).
    t.startItem(undefined, facts('lone')).end({ state: 'done' });

    const spans = t.finishedSpans();
    expect(spans).toHaveLength(6);
    const byName = (n: string, item?: string) => spans.filter((s) => s.name === n && (item === undefined || s.attributes['agora.item_id'] === item));
    const [runSpan] = byName(SPAN_NAMES.run);
    expect(runSpan!.spanContext()).toMatchObject({ traceId: run.traceId, spanId: run.spanId });
    expect(runSpan!.parentSpanContext).toBeUndefined();
    expect(runSpan!.startTime).toEqual([Math.floor(t0 / 1000), (t0 % 1000) * 1e6]);
    expect(runSpan!.status.code).toBe(2);
    expect(runSpan!.attributes).toMatchObject({ 'agora.run_id': 'r0123456789abcdef', 'agora.state': 'failed', 'agora.items': 2, 'agora.items.failed': 1 });
    expect(runSpan!.resource.attributes).toMatchObject({ 'service.name': 'agora-test', 'agora.component': 'runner' });

    const [itemA] = byName(SPAN_NAMES.item, 'a');
    const [itemB] = byName(SPAN_NAMES.item, 'b');
    for (const s of [itemA!, itemB!]) {
      expect(s.spanContext().traceId).toBe(run.traceId);
      expect(s.parentSpanContext).toMatchObject({ traceId: run.traceId, spanId: run.spanId, isRemote: true });
    }
    expect(itemB!.attributes).toMatchObject({ 'agora.depends_on': ['a'], 'agora.state': 'failed', 'agora.attempt': 1, 'agora.queue': 'default' });
    expect(itemB!.status).toMatchObject({ code: 2, message: 'boom' });
    expect(itemA!.attributes['agora.state']).toBe('done');
    const [putA] = byName('storage.put');
    expect(putA!.parentSpanContext?.spanId).toBe(itemA!.spanContext().spanId);
    const [runB] = byName('provider.run');
    expect(runB!.parentSpanContext?.spanId).toBe(itemB!.spanContext().spanId);

    const [lone] = byName(SPAN_NAMES.item, 'lone');
    expect(lone!.parentSpanContext).toBeUndefined();
    expect(lone!.spanContext().traceId).not.toBe(run.traceId);
    expect(lone!.spanContext().spanId).not.toBe(run.spanId);
  });
});

describe('the otlp tracer', () => {
  it('exports OTLP/HTTP JSON to the configured endpoint, ids in hex, one trace, flushed by shutdown', async () => {
    const receiver = await startOtlpReceiver();
    receivers.push(receiver);
    // A long export delay: only the shutdown's flush can deliver these.
    const t = createAgoraTracing(tracingConfig({ exporter: 'otlp', endpoint: receiver.url, serviceName: 'agora-otlp' }), { exportDelayMs: 60_000 });
    expect(t.enabled).toBe(true);
    const run = newTraceContext();
    const now = Date.now();
    const a = t.startItem(run, facts('a', [], now));
    a.step('provider.run').end();
    a.end({ state: 'done' });
    t.recordRun({ trace: run, runId: 'r0123456789abcdef', planId: 'p', queue: 'default', state: 'succeeded', items: 1, counts: { done: 1, failed: 0, skipped: 0, cancelled: 0 }, startTime: now - 5, endTime: now + 50 });
    expect(receiver.spans()).toEqual([]);
    await t.shutdown();

    expect(receiver.refused()).toEqual([]);
    const spans = receiver.spans();
    expect(spans.map((s) => s.name).sort()).toEqual([SPAN_NAMES.item, SPAN_NAMES.run, 'provider.run'].sort());
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([run.traceId]));
    const root = spans.find((s) => s.name === SPAN_NAMES.run)!;
    expect(root).toMatchObject({ spanId: run.spanId, parentSpanId: '', serviceName: 'agora-otlp', statusCode: 0 });
    expect(root.contentType).toMatch(/^application\/json/);
    const item = spans.find((s) => s.name === SPAN_NAMES.item)!;
    expect(item.parentSpanId).toBe(run.spanId);
    expect(spans.find((s) => s.name === 'provider.run')!.parentSpanId).toBe(item.spanId);
    expect(root.endTimeUnixNano).toBe(BigInt(now + 50) * 1_000_000n);
  });

  it('logs a failed export (collector down) as a warning naming the endpoint, once a minute at most', async () => {
    const warnings: Array<{ obj: Record<string, unknown>; msg?: string }> = [];
    const logger = { debug: () => undefined, info: () => undefined, error: () => undefined, warn: (obj: object, msg?: string) => void warnings.push({ obj: obj as Record<string, unknown>, ...(msg !== undefined ? { msg } : {}) }) };
    // A port nothing listens on, with credentials the warning must not show.
    const t = createAgoraTracing(tracingConfig({ exporter: 'otlp', endpoint: 'http://user:pw@127.0.0.1:1' }), { exportDelayMs: 60_000, logger });
    for (let i = 0; i < 2; i++) {
      const a = t.startItem(newTraceContext(), facts(`a${i}`));
      a.end({ state: 'done' });
      // The flush itself fails (the batch was not delivered); the runner never waits on one.
      await t.forceFlush().catch(() => undefined);
    }
    await t.shutdown().catch(() => undefined);
    // Before: nothing at all; every span was dropped unseen.
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ msg: 'traces not exported; these spans are dropped', obj: { url: 'http://127.0.0.1:1/v1/traces', spans: 1 } });
    expect(String(warnings[0]!.obj['err'])).toMatch(/ECONNREFUSED|connect/i);
    expect(JSON.stringify(warnings)).not.toContain('pw');
  });
});

