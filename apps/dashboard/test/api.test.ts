import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { startCluster, silent, type TestCluster } from '../../../test/support/cluster.js';

const KEY = 'test-key-0123456789abcdef';
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

const auth = { authorization: `Bearer ${KEY}` };
const plan = {
  id: 'api',
  queue: 'default',
  items: [
    { id: 'a', executor: 'noop', inputs: {}, depends_on: [], resourceLocks: [] },
    { id: 'b', executor: 'noop', inputs: {}, depends_on: ['a'], resourceLocks: [] },
  ],
};

describe('HTTP API', () => {
  it('refuses requests without the API key, on /api and /queues', async () => {
    for (const p of ['/api/runs/r1', '/queues']) {
      const res = await fetch(`${dash.url}${p}`);
      expect(res.status, p).toBe(401);
    }
    const wrong = await fetch(`${dash.url}/api/runs/r1`, { headers: { authorization: 'Bearer wrong-key-0123456789' } });
    expect(wrong.status).toBe(401);
    const basic = await fetch(`${dash.url}/queues`, { headers: { authorization: `Basic ${Buffer.from(`ops:${KEY}`).toString('base64')}` } });
    expect(basic.status).toBe(200);
    // The scheme is case-insensitive (RFC 9110): "bearer" and "BASIC" are the same schemes.
    for (const authorization of [`bearer ${KEY}`, `BEARER  ${KEY}`, `basic ${Buffer.from(`ops:${KEY}`).toString('base64')}`]) {
      expect((await fetch(`${dash.url}/api/runs?limit=1`, { headers: { authorization } })).status, authorization.slice(0, 7)).toBe(200);
    }
  });

  it('submits a plan, streams its events as SSE to the terminal event, and reports status', async () => {
    const res = await fetch(`${dash.url}/api/runs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(plan) });
    expect(res.status).toBe(202);
    const { runId } = (await res.json()) as { runId: string };
    expect(res.headers.get('location')).toBe(`/api/runs/${runId}`);
    const sse = await fetch(`${dash.url}/api/runs/${runId}/events`, { headers: auth });
    expect(sse.headers.get('content-type')).toContain('text/event-stream');
    const text = await sse.text();
    const events = text
      .split('\n\n')
      .filter((b) => b.includes('data: '))
      .map((b) => JSON.parse(b.slice(b.indexOf('data: ') + 6)) as { seq: number; type: string; state?: string });
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));
    expect(events[events.length - 1]).toMatchObject({ type: 'run', state: 'succeeded' });
    const resumed = await (await fetch(`${dash.url}/api/runs/${runId}/events`, { headers: { ...auth, 'last-event-id': '2' } })).text();
    expect(resumed.startsWith('id: 3\n')).toBe(true);
    const st = await fetch(`${dash.url}/api/runs/${runId}`, { headers: auth });
    expect(await st.json()).toMatchObject({ runId, state: 'succeeded', counts: { done: 2 } });
  });

  it('answers a bad plan with 422 and every problem, malformed JSON with 400, unknown runs with 404', async () => {
    const bad = await fetch(`${dash.url}/api/runs`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ ...plan, items: [{ ...plan.items[0], depends_on: ['a'] }] }),
    });
    expect(bad.status).toBe(422);
    expect(await bad.json()).toEqual({ error: 'plan_invalid', problems: ['items[0] ("a"): depends_on[0]: item depends on itself'] });
    // A dispatch item naming a task neither configured nor registered: refused at submit (it was
    // enqueued, then rejected by the scheduler), with the scheduler's own wording.
    const ghost = await fetch(`${dash.url}/api/runs`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ ...plan, items: [{ ...plan.items[0], executor: 'dispatch', inputs: { task: 'ghost' } }] }),
    });
    expect(ghost.status).toBe(422);
    expect(await ghost.json()).toEqual({
      error: 'plan_invalid',
      problems: [`items[0] ("a"): unknown task "ghost" (configured: ${Object.keys(cluster.config.tasks).join(', ') || 'none'}; none registered by that name)`],
    });
    const broken = await fetch(`${dash.url}/api/runs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"id":' });
    expect(broken.status).toBe(400);
    expect((await fetch(`${dash.url}/api/runs/rnope`, { headers: auth })).status).toBe(404);
    expect((await fetch(`${dash.url}/api/runs/..%2F..`, { headers: auth })).status).toBe(400);
  });

  it('cancels a run', async () => {
    const res = await fetch(`${dash.url}/api/runs`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'c', queue: 'default', items: [{ id: 'z', executor: 'noop', inputs: { sleepMs: 30_000 }, depends_on: [], resourceLocks: [] }] }),
    });
    const { runId } = (await res.json()) as { runId: string };
    await new Promise((r) => setTimeout(r, 300));
    // A POST without a JSON content type is refused (415): see test/security/dashboard-csrf.test.ts.
    expect((await fetch(`${dash.url}/api/runs/${runId}/cancel`, { method: 'POST', headers: auth })).status).toBe(415);
    const c = await fetch(`${dash.url}/api/runs/${runId}/cancel`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' } });
    expect(c.status).toBe(200);
    const final = await cluster.client.wait(runId);
    expect(final.state).toBe('cancelled');
  });

  it('refuses to listen beyond loopback without an API key', async () => {
    await expect(createDashboard({ config: cluster.config, port: 0, host: '0.0.0.0', logger: silent })).rejects.toThrow(
      'refusing to serve the dashboard and API on 0.0.0.0 without an API key',
    );
  });
});

describe('HTTP API audit', () => {
  it('returns the sealed, verified bundle of a finished run, and 409 for a running one', async () => {
    const res = await fetch(`${dash.url}/api/runs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(plan) });
    const { runId } = (await res.json()) as { runId: string };
    await cluster.client.wait(runId);
    const a = await fetch(`${dash.url}/api/runs/${runId}/audit`, { headers: auth });
    expect(a.status).toBe(200);
    const bundle = (await a.json()) as { runId: string; events: unknown[]; report: { intact: boolean; claim: string } };
    expect(bundle.runId).toBe(runId);
    expect(bundle.report).toMatchObject({ intact: true, claim: 'tamper-detecting' });
    const slow = await fetch(`${dash.url}/api/runs`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 's', queue: 'default', items: [{ id: 'z', executor: 'noop', inputs: { sleepMs: 2000 }, depends_on: [], resourceLocks: [] }] }),
    });
    const slowId = ((await slow.json()) as { runId: string }).runId;
    await new Promise((r) => setTimeout(r, 300));
    expect((await fetch(`${dash.url}/api/runs/${slowId}/audit`, { headers: auth })).status).toBe(409);
    await cluster.client.wait(slowId);
  });
});
