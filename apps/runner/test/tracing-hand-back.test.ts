import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileConfig } from '@agora/core';
import { createScheduler } from '@agora/scheduler';
import { createRunner } from '@agora/runner';
import { AgoraClient } from '@agora/sdk';
import { createAgoraTracing } from '@agora/tracing';
import { testRedisUrl, uniqueNamespace, until } from '../../../test/support/index.js';
import { silent } from '../../../test/support/cluster.js';

/**
 * An attempt handed back at shutdown did not fail: its `agora.item` span (state handedBack) and
 * its `provider.run` step carry no error status. Before, both were ERROR, the item's with
 * BullMQ's internal "bullmq:movedToWait" as its message.
 */
const ERROR = 2; // SpanStatusCode.ERROR
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'agora-trace-hb-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('a handed-back attempt in the trace', () => {
  it('has no error status on its item span or its provider.run step', async () => {
    const config = compileConfig({ namespace: uniqueNamespace(), tracing: { exporter: 'memory' }, dataDir }, 'test', dataDir, { REDIS_URL: testRedisUrl() });
    const scheduler = await createScheduler({ config, logger: silent });
    const tracing = createAgoraTracing(config.tracing, { component: 'runner' });
    const runner = await createRunner({ config, logger: silent, tracing, runnerId: 'hb-runner', cpus: 2, concurrency: 1 });
    const client = new AgoraClient({ redisUrl: config.redisUrl, namespace: config.namespace });
    try {
      const runId = await client.submit({ id: 'hb', items: [{ id: 'long', executor: 'noop', inputs: { sleepMs: 60_000 } }] });
      await until('running', async () => ((await client.item(runId, 'long').catch(() => null))?.state ?? '') === 'running');
      await runner.close({ graceMs: 200 });
      const spans = tracing.finishedSpans();
      const item = spans.find((s) => s.name === 'agora.item' && s.attributes['agora.item_id'] === 'long');
      expect(item?.attributes['agora.state']).toBe('handedBack');
      expect(item?.status.code).not.toBe(ERROR);
      expect(item?.status.message ?? '').not.toContain('bullmq');
      const run = spans.find((s) => s.name === 'provider.run' && s.parentSpanContext?.spanId === item?.spanContext().spanId);
      expect(run).toBeDefined();
      expect(run?.status.code).not.toBe(ERROR);
      expect((await client.item(runId, 'long')).state).toBe('queued');
    } finally {
      await client.cancel((await client.runs({ limit: 1 })).runs[0]!.runId).catch(() => undefined);
      await client.close();
      await scheduler.close();
      await tracing.shutdown();
    }
  });
});
