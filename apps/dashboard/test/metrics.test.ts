import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileConfig } from '@agora/core';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { startRedisServer } from '@agora/state';
import { startCluster, silent, type TestCluster } from '../../../test/support/cluster.js';
import { uniqueNamespace } from '../../../test/support/index.js';
import { scrape } from '../../../test/support/prometheus.js';

/**
 * The dashboard's own `/metrics` (behind the API's keys: the `read` scope) and `/readyz`
 * (issue 15, parts 4 and 6), against a real scheduler, runner and Redis.
 */

const READ_KEY = 'metrics-reader-0123456789abcdef';
const SUBMIT_KEY = 'metrics-submitter-0123456789abcd';
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

let cluster: TestCluster;
let dashboard: Dashboard;

beforeAll(async () => {
  cluster = await startCluster({ runners: 1 });
  const config = {
    ...cluster.config,
    dashboard: {
      ...cluster.config.dashboard,
      apiKeys: [
        { name: 'prometheus', sha256: sha256(READ_KEY), scopes: ['read' as const] },
        { name: 'ci', sha256: sha256(SUBMIT_KEY), scopes: ['submit' as const] },
      ],
    },
  };
  dashboard = await createDashboard({ config, port: 0, logger: silent });
});
afterAll(async () => {
  await dashboard?.close();
  await cluster?.close();
});

describe('dashboard /metrics and /readyz', () => {
  it('/metrics needs a key with the read scope: 401 without one, 403 with submit only', async () => {
    const none = await fetch(`${dashboard.url}/metrics`);
    expect(none.status).toBe(401);
    const submitOnly = await fetch(`${dashboard.url}/metrics`, { headers: { authorization: `Bearer ${SUBMIT_KEY}` } });
    expect(submitOnly.status).toBe(403);
    expect(((await submitOnly.json()) as { message: string }).message).toContain('"read" scope');
  });

  it('serves queue depth per state from BullMQ, parsed as Prometheus text', async () => {
    const runId = await cluster.client.submit({
      id: 'dash-metrics',
      queue: 'default',
      items: [
        { id: 'a', executor: 'noop', inputs: {}, depends_on: [], resourceLocks: [] },
        { id: 'b', executor: 'noop', inputs: {}, depends_on: ['a'], resourceLocks: [] },
        { id: 'c', executor: 'noop', inputs: { fail: true }, depends_on: [], resourceLocks: [] },
      ],
    });
    await cluster.client.wait(runId);
    const s = await scrape(dashboard.url, { headers: { 'x-api-key': READ_KEY } });
    expect(s.family('agora_queue_jobs').type).toBe('gauge');
    expect(s.value('agora_queue_jobs', { queue: 'default', state: 'completed' })).toBe(2);
    expect(s.value('agora_queue_jobs', { queue: 'default', state: 'failed' })).toBe(1);
    expect(s.value('agora_queue_jobs', { queue: 'default', state: 'active' })).toBe(0);
    expect(s.value('agora_queue_jobs', { queue: '_inbox', state: 'completed' })).toBe(1);
  });

  it('/readyz (no key needed) is 200 while Redis answers', async () => {
    const res = await fetch(`${dashboard.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });

  it('/readyz answers 503 within 2 s when Redis is down', async () => {
    const redis = await startRedisServer();
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'agora-readyz-'));
    const config = compileConfig({ namespace: uniqueNamespace('dr') }, 'test', dataDir, { REDIS_URL: redis.url });
    const dash = await createDashboard({ config, port: 0, logger: silent });
    try {
      expect((await fetch(`${dash.url}/readyz`)).status).toBe(200);
      await redis.stop();
      const t0 = Date.now();
      const res = await fetch(`${dash.url}/readyz`, { signal: AbortSignal.timeout(10_000) });
      expect(res.status).toBe(503);
      expect(Date.now() - t0).toBeLessThan(2500);
      expect(((await res.json()) as { ok: boolean }).ok).toBe(false);
    } finally {
      await dash.close();
      await redis.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
