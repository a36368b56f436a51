import { createHash } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { AgoraClient, type ItemDetail, type RunsPage } from '@agora/sdk';
import { startCluster, silent, type TestCluster } from '../../../test/support/cluster.js';
import { testRedisUrl, uniqueNamespace } from '../../../test/support/index.js';

/**
 * Issue 16, part 1: `GET /api/runs` (newest first, cursor paging, filters) and
 * `GET /api/runs/:id/items/:item` (state, attempts, timings, lock tokens, error, exit code),
 * against a real scheduler, runner and Redis.
 */

const KEY = 'test-key-0123456789abcdef';
let cluster: TestCluster;
let dash: Dashboard;
const auth = { authorization: `Bearer ${KEY}` };

beforeAll(async () => {
  cluster = await startCluster({ runners: 1, config: { queues: { default: { concurrency: 4 }, other: { concurrency: 1 } } } });
  dash = await createDashboard({ config: cluster.config, port: 0, logger: silent, apiKey: KEY });
});
afterAll(async () => {
  await dash?.close();
  await cluster?.close();
});

const get = async <T>(path: string): Promise<{ status: number; body: T }> => {
  const res = await fetch(`${dash.url}${path}`, { headers: auth });
  return { status: res.status, body: (await res.json()) as T };
};
const noop = (id: string, inputs: Record<string, unknown> = {}, more: Record<string, unknown> = {}) => ({ id, executor: 'noop', inputs, ...more });

describe('GET /api/runs', () => {
  const ids: string[] = [];
  beforeAll(async () => {
    // Seven runs: five that succeed on "default", one that fails, one on "other".
    for (let i = 0; i < 5; i++) ids.push(await cluster.client.submit({ id: `ok-${i}`, queue: 'default', items: [noop('a')] }));
    ids.push(await cluster.client.submit({ id: 'bad', queue: 'default', items: [noop('boom', { fail: 'it broke' })] }));
    ids.push(await cluster.client.submit({ id: 'elsewhere', queue: 'other', items: [noop('a')] }));
    for (const id of ids) await cluster.client.wait(id);
  });

  it('pages newest first with a cursor: every run exactly once, newest accepted first', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const { status, body } = await get<RunsPage>(`/api/runs?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(status).toBe(200);
      expect(body.runs.length).toBeLessThanOrEqual(3);
      seen.push(...body.runs.map((r) => r.runId));
      cursor = body.next;
      pages++;
    } while (cursor && pages < 10);
    // Newest accepted first (createdAt, to the ms), runs accepted in the same millisecond by run
    // id, descending. The scheduler accepts submissions concurrently, so that is not always the
    // order they were submitted in.
    const createdAt = async (id: string): Promise<number> => {
      const st = await cluster.client.status(id);
      if (!st || !('createdAt' in st)) throw new Error(`run ${id} has no createdAt`);
      return Date.parse(st.createdAt);
    };
    const created = new Map(await Promise.all(ids.map(async (id) => [id, await createdAt(id)] as const)));
    const expected = [...ids].sort((a, b) => created.get(b)! - created.get(a)! || (a < b ? 1 : a > b ? -1 : 0));
    expect(seen).toEqual(expected);
    expect(pages).toBe(3);
  });

  it('filters by state, queue, plan and since, and summarises each run', async () => {
    const failed = await get<RunsPage>('/api/runs?state=failed');
    expect(failed.body.runs.map((r) => r.runId)).toEqual([ids[5]]);
    expect(failed.body.runs[0]).toMatchObject({ planId: 'bad', queue: 'default', state: 'failed', total: 1, counts: { done: 0, failed: 1, unfinished: 0 } });
    expect(failed.body.runs[0]!.durationMs).toBeGreaterThanOrEqual(0);
    expect((await get<RunsPage>('/api/runs?queue=other')).body.runs.map((r) => r.runId)).toEqual([ids[6]]);
    expect((await get<RunsPage>('/api/runs?plan=ok-3')).body.runs.map((r) => r.runId)).toEqual([ids[3]]);
    const future = new Date(Date.now() + 60_000).toISOString();
    expect((await get<RunsPage>(`/api/runs?since=${future}`)).body).toEqual({ runs: [] });
  });

  it('lists a run rejected at acceptance under the queue its plan named (listing, SDK and status alike)', async () => {
    // An unknown task: the plan is queued, then the scheduler rejects it.
    const rejected = await cluster.client.submit({ id: 'ghostly', queue: 'other', items: [{ id: 'a', executor: 'dispatch', inputs: { task: 'ghost' } }] });
    expect((await cluster.client.wait(rejected)).state).toBe('rejected');
    const listed = (await get<RunsPage>('/api/runs?state=rejected')).body.runs.find((r) => r.runId === rejected);
    expect(listed).toMatchObject({ planId: 'ghostly', queue: 'other', state: 'rejected', total: 0 });
    expect((await get<RunsPage>('/api/runs?queue=other&state=rejected')).body.runs.map((r) => r.runId)).toEqual([rejected]);
    expect((await cluster.client.runs({ state: 'rejected' })).runs.find((r) => r.runId === rejected)?.queue).toBe('other');
    expect((await get<{ queue: string }>(`/api/runs/${rejected}`)).body.queue).toBe('other');
    // Cancelled while still on the inbox (no scheduler serves this namespace): rejected, under its queue too.
    const unserved = new AgoraClient({ redisUrl: testRedisUrl(), namespace: uniqueNamespace() });
    try {
      const waiting = await unserved.submit({ id: 'early', queue: 'other', items: [{ id: 'a', executor: 'noop' }] });
      expect(await unserved.cancel(waiting)).toMatchObject({ state: 'rejected' });
      expect((await unserved.runs()).runs).toEqual([expect.objectContaining({ runId: waiting, planId: '', queue: 'other', state: 'rejected' })]);
    } finally {
      await unserved.close();
    }
  });

  it('refuses bad parameters with 400 naming them, and needs the read scope', async () => {
    for (const q of ['limit=0', 'limit=501', 'limit=x', 'state=bogus', 'queue=Bad!', 'since=yesterday', 'cursor=nonsense', 'colour=red', 'state=failed&state=done']) {
      const r = await get<{ error: string; message: string }>(`/api/runs?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error, q).toBe('bad_request');
    }
    expect((await get<{ message: string }>('/api/runs?colour=red')).body.message).toContain('colour');
    // since: an ISO 8601 time or epoch ms, nothing Date.parse merely guesses at (a wrong guess
    // filters by the wrong day without a word).
    for (const since of ['Nov 30 2026', '1 Dec', '2026-11-30 10:00', 'Tue, 01 Dec 2026 10:00:00 GMT', '2026-02-30', '2026-11-30T24:00Z', '+002026-11-30T00:00:00Z', '9999999999999999', '1969-12-31T23:59Z', 'x'.repeat(50)]) {
      const r = await get<{ error: string; message: string }>(`/api/runs?since=${encodeURIComponent(since)}`);
      expect(r.status, since).toBe(400);
      expect(r.body, since).toMatchObject({ error: 'bad_request', message: expect.stringContaining('since: an ISO 8601 time') });
    }
    // A + typed unencoded arrives as a space: the message says to encode it.
    const plus = await get<{ error: string; message: string }>('/api/runs?since=2026-11-30T10:00:00+01:00');
    expect(plus.status).toBe(400);
    expect(plus.body.message).toContain('since: an ISO 8601 time');
    expect(plus.body.message).toContain("write the offset's + as %2B");
    expect((await get<{ message: string }>(`/api/runs?since=${encodeURIComponent('2026-11-30 10:00')}`)).body.message).not.toContain('%2B');
    for (const since of ['2026-11-30', '2020-02-29T10:00Z', '2020-11-30T10:00:00.5+01:00', '2020-11-30T10:00:00-0500', '2020-11', '1796032800000']) {
      expect((await get(`/api/runs?since=${encodeURIComponent(since)}`)).status, since).toBe(200);
    }
    expect((await fetch(`${dash.url}/api/runs`)).status).toBe(401);
  });
});

describe('GET /api/runs/:id/items/:item', () => {
  it('tells a failed item: its error, code, exit code, attempts and timings; a locked item: its tokens', async () => {
    const runId = await cluster.client.submit({
      id: 'items',
      queue: 'default',
      items: [noop('locked', {}, { resourceLocks: ['db/main'] }), noop('broken', { fail: 'disk full' }, { depends_on: ['locked'] }), noop('after', {}, { depends_on: ['broken'] })],
    });
    await cluster.client.wait(runId);
    const locked = await get<ItemDetail>(`/api/runs/${runId}/items/locked`);
    expect(locked.status).toBe(200);
    expect(locked.body).toMatchObject({ itemId: 'locked', state: 'done', executor: 'noop', attempts: 1, resourceLocks: ['db/main'] });
    expect(locked.body.resultRef).toMatch(/^agora:\/\//);
    expect(Object.keys(locked.body.lockTokens ?? {})).toEqual(['db/main']);
    expect(locked.body.durationMs).toBeGreaterThanOrEqual(0);
    const broken = await get<ItemDetail>(`/api/runs/${runId}/items/broken`);
    expect(broken.body).toMatchObject({ itemId: 'broken', state: 'failed', error: 'disk full', errorCode: 'APPLICATION', exitCode: 1, attempts: 1, dependsOn: ['locked'] });
    expect(broken.body.events.every((e) => (e as { itemId?: string }).itemId === 'broken')).toBe(true);
    const after = await get<ItemDetail>(`/api/runs/${runId}/items/after`);
    expect(after.body).toMatchObject({ state: 'skipped', attempts: 0 });
    expect(after.body.reason).toContain('broken');
    // The run's status (and `agora status`) says why each item did not succeed.
    const status = await get<{ items: Array<{ id: string; state: string; error?: string; errorCode?: string; exitCode?: number; reason?: string }> }>(`/api/runs/${runId}`);
    const byId = new Map(status.body.items.map((i) => [i.id, i]));
    expect(byId.get('broken')).toMatchObject({ state: 'failed', error: 'disk full', errorCode: 'APPLICATION', exitCode: 1 });
    expect(byId.get('after')?.reason).toContain('dependency broken ended failed');
    expect(byId.get('locked')).toEqual({ id: 'locked', state: 'done', resultRef: locked.body.resultRef });
    expect((await get(`/api/runs/${runId}/items/nope`)).status).toBe(404);
    expect((await get(`/api/runs/${runId}/items/${encodeURIComponent('../x')}`)).status).toBe(400);
    expect((await get(`/api/runs/r-unknown-0000/items/a`)).status).toBe(404);
  });
});

describe('GET /api/artifacts?uri=', () => {
  it('downloads a result whose sha256 matches its ref (sent as headers); refuses other namespaces, types and unpinned refs; says when stored bytes are corrupt', async () => {
    const runId = await cluster.client.submit({ id: 'art', queue: 'default', items: [noop('payload', { greeting: 'hello' })] });
    await cluster.client.wait(runId);
    const ref = (await get<ItemDetail>(`/api/runs/${runId}/items/payload`)).body.resultRef!;
    const hash = ref.split('/').at(-1)!;
    const res = await fetch(`${dash.url}/api/artifacts?uri=${encodeURIComponent(ref)}`, { headers: auth });
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(hash);
    expect(res.headers.get('x-agora-sha256')).toBe(hash);
    expect(res.headers.get('repr-digest')).toBe(`sha-256=:${Buffer.from(hash, 'hex').toString('base64')}:`);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${runId}.payload"`);
    expect(JSON.parse(bytes.toString())).toMatchObject({ greeting: 'hello' });
    // HEAD tells the size and digest without the bytes (it had no Content-Length).
    const head = await fetch(`${dash.url}/api/artifacts?uri=${encodeURIComponent(ref)}`, { method: 'HEAD', headers: auth });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(bytes.length));
    expect(head.headers.get('x-agora-sha256')).toBe(hash);

    const ns = cluster.config.namespace;
    for (const bad of [ref.replace(`agora://${ns}/`, 'agora://other-ns/'), ref.replace('/result/', '/task/'), ref.slice(0, ref.lastIndexOf('/')), 'file:///etc/passwd', `agora://${ns}/result/../x/${hash}`]) {
      const r = await fetch(`${dash.url}/api/artifacts?uri=${encodeURIComponent(bad)}`, { headers: auth });
      expect(r.status, bad).toBe(400);
    }
    expect((await fetch(`${dash.url}/api/artifacts`, { headers: auth })).status).toBe(400);
    expect((await fetch(`${dash.url}/api/artifacts?uri=${encodeURIComponent(ref)}`)).status).toBe(401);
    const missing = ref.replace(hash, '0'.repeat(64));
    expect((await fetch(`${dash.url}/api/artifacts?uri=${encodeURIComponent(missing)}`, { headers: auth })).status).toBe(404);

    // Corrupt the stored blob: the download is refused, never served.
    const blobs = path.join(cluster.dataDir, 'storage', ns, 'result', 'blobs');
    expect(readdirSync(blobs)).toContain(hash);
    writeFileSync(path.join(blobs, hash), 'tampered');
    const corrupt = await fetch(`${dash.url}/api/artifacts?uri=${encodeURIComponent(ref)}`, { headers: auth });
    expect(corrupt.status).toBe(502);
    expect(((await corrupt.json()) as { error: string }).error).toBe('integrity');
  });
});
