import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { startCluster, silent, type TestCluster } from '../../../test/support/cluster.js';
import { until } from '../../../test/support/index.js';

/**
 * An SSE stream asked to start past the end of a running run (`?from=` beyond its last seq) ends
 * when the run ends. Before, the run's terminal event lay below `from`, so the stream never saw
 * it and stayed open, holding one of `maxSseClients`, until the client gave up.
 */
const KEY = 'sse-past-end-key-0123456789abcdef';
let cluster: TestCluster;
let dash: Dashboard;
beforeAll(async () => {
  cluster = await startCluster({ runners: 1 });
  dash = await createDashboard({ config: cluster.config, port: 0, logger: silent, apiKey: KEY });
});
afterAll(async () => {
  await dash?.close();
  await cluster?.close();
});

describe('GET /api/runs/:id/events?from= past the end', () => {
  it('ends when the run ends, yielding nothing below from', async () => {
    const runId = await cluster.client.submit({ id: 'sse-past-end', items: [{ id: 'a', executor: 'noop', inputs: { sleepMs: 1500 } }] });
    await until('running', async () => (await cluster.client.status(runId)).state === 'running');
    const ac = new AbortController();
    const guard = setTimeout(() => ac.abort(), 20_000);
    const started = Date.now();
    const res = await fetch(`${dash.url}/api/runs/${runId}/events?from=50`, { headers: { authorization: `Bearer ${KEY}` }, signal: ac.signal });
    expect(res.status).toBe(200);
    const body = await res.text().catch((err: unknown) => `aborted: ${String(err)}`);
    clearTimeout(guard);
    expect(body).toBe('');
    expect((await cluster.client.status(runId)).state).toBe('succeeded');
    expect(Date.now() - started).toBeLessThan(15_000);
    // From exactly the end of an ended run: ends at once, as before.
    const events = (await cluster.client.status(runId)) as { events?: number };
    const again = await fetch(`${dash.url}/api/runs/${runId}/events?from=${events.events ?? 999}`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(await again.text()).toBe('');
  });
});
