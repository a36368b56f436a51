import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { compileConfig, createLogger, newTraceContext, type TracingConfig } from '@agora/core';
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
});

describe('failed span exports are logged', () => {
  it('warns naming the endpoint without credentials, at most once per interval with a count, and says when exports recover', async () => {
    const receiver = await startOtlpReceiver();
    receivers.push(receiver);
    receiver.answer(500);
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger({ component: 'runner' }, 'info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
    const port = new URL(receiver.url).port;
    // Credentials in the URL: a log line must not show them.
    const env = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://agent:s3cr3t@127.0.0.1:${port}/v1/traces` };
    const t = createAgoraTracing(tracingConfig({ exporter: 'otlp' }, env), { component: 'runner', exportDelayMs: 60_000, logger, exportLogEveryMs: 500 });
    tracers.push(t);
    const exportOne = async (): Promise<void> => {
      t.startItem(newTraceContext(), facts('a')).end({ state: 'done' });
      // The batch processor rejects a flush whose export failed; the log line is what is tested.
      await t.forceFlush().catch(() => undefined);
    };
    const logged = (msg: string) => lines.filter((l) => l['msg'] === msg);

    await exportOne();
    expect(receiver.failedAnswers()).toBe(1);
    expect(logged('span export failed')).toEqual([
      expect.objectContaining({ level: 'warn', component: 'runner', endpoint: `http://127.0.0.1:${port}/v1/traces`, err: expect.stringMatching(/^HTTP 500 /), failures: 1, spansLost: 1 }),
    ]);
    // Within the interval: counted, not logged.
    await exportOne();
    await exportOne();
    expect(receiver.failedAnswers()).toBe(3);
    expect(logged('span export failed')).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 600));
    await exportOne();
    expect(logged('span export failed')).toHaveLength(2);
    expect(logged('span export failed')[1]).toMatchObject({ failures: 3, spansLost: 3 });

    receiver.answer(200);
    await exportOne();
    await exportOne();
    expect(receiver.spans()).toHaveLength(2);
    expect(logged('span export recovered')).toEqual([expect.objectContaining({ level: 'info', endpoint: `http://127.0.0.1:${port}/v1/traces`, failures: 4 })]);
    expect(lines).toHaveLength(3);
    const text = JSON.stringify(lines);
    for (const secret of ['s3cr3t', 'agent']) expect(text).not.toContain(secret);
  });

  it('names a refused connection (nothing listens on the port)', async () => {
    const receiver = await startOtlpReceiver();
    const url = receiver.url;
    await receiver.close();
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger({ component: 'scheduler' }, 'info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
    const t = createAgoraTracing(tracingConfig({ exporter: 'otlp', endpoint: url }), { component: 'scheduler', exportDelayMs: 60_000, logger });
    tracers.push(t);
    t.startItem(newTraceContext(), facts('a')).end({ state: 'done' });
    await t.forceFlush().catch(() => undefined);
    // The exporter retries a refused connection until its 5 s timeout, then gives the batch up.
    const end = Date.now() + 15_000;
    while (!lines.some((l) => l['msg'] === 'span export failed') && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    expect(lines.filter((l) => l['msg'] === 'span export failed')).toEqual([
      expect.objectContaining({ level: 'warn', endpoint: `${url}/v1/traces`, err: expect.stringContaining('ECONNREFUSED'), failures: 1 }),
    ]);
  }, 20_000);

  it('OTEL_EXPORTER_OTLP_TIMEOUT bounds an export to a collector that never answers (the default is 5 s)', async () => {
    const server = createServer(() => undefined);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const before = process.env['OTEL_EXPORTER_OTLP_TIMEOUT'];
    // Read by the exporter when it is made, as the OTel SDK reads it.
    process.env['OTEL_EXPORTER_OTLP_TIMEOUT'] = '300';
    try {
      const lines: Array<Record<string, unknown>> = [];
      const logger = createLogger({}, 'info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
      const t = createAgoraTracing(tracingConfig({ exporter: 'otlp', endpoint: url }), { exportDelayMs: 60_000, logger });
      tracers.push(t);
      const started = Date.now();
      t.startItem(newTraceContext(), facts('a')).end({ state: 'done' });
      void t.forceFlush().catch(() => undefined);
      while (!lines.some((l) => l['msg'] === 'span export failed') && Date.now() - started < 8000) await new Promise((r) => setTimeout(r, 50));
      // Before, the variable was overridden by the 5 s default: the export gave up after 5 s.
      expect(Date.now() - started).toBeLessThan(2500);
      expect(lines.find((l) => l['msg'] === 'span export failed')).toMatchObject({ err: 'Request timed out' });
    } finally {
      if (before === undefined) delete process.env['OTEL_EXPORTER_OTLP_TIMEOUT'];
      else process.env['OTEL_EXPORTER_OTLP_TIMEOUT'] = before;
      server.closeAllConnections();
      server.close();
    }
  }, 20_000);
});
