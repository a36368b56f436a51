import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { AgoraHttpClient, IllegalStateError, NotFoundError } from '@agora/sdk';
import { startCluster, silent, type TestCluster } from '../../../test/support/cluster.js';

/** `POST /api/runs/:id/rerun` (scope submit) through the HTTP transport, and the memo routes (scope admin). */
const KEY = 'test-key-0123456789abcdef';
const ADMIN = 'admin-key-0123456789abcdef';
let cluster: TestCluster;
let dash: Dashboard;
let http: AgoraHttpClient;
let runId: string;

beforeAll(async () => {
  cluster = await startCluster({ runners: 1 });
  dash = await createDashboard({ config: cluster.config, port: 0, logger: silent, apiKey: KEY, adminKey: ADMIN });
  http = new AgoraHttpClient({ url: dash.url, apiKey: KEY });
  runId = await http.submit({ id: 'http-rerun', items: [{ id: 'a', executor: 'noop', inputs: { v: 1 }, memoize: true }, { id: 'b', executor: 'noop', inputs: { fail: 'no' }, depends_on: ['a'] }] });
  expect((await http.wait(runId)).state).toBe('failed');
});
afterAll(async () => {
  await http?.close();
  await dash?.close();
  await cluster?.close();
});

describe('rerun over HTTP', () => {
  it('reruns an ended run: 202, the new run links the original, the done item is reused', async () => {
    const r = await http.rerun(runId, { fromFailed: true });
    expect(r).toEqual({ runId: expect.any(String), rerunOf: runId, fromFailed: true });
    const s = await http.wait(r.runId);
    expect(s.state).toBe('failed');
    expect(s.rerunOf).toMatchObject({ runId, fromFailed: true });
    expect(s.items.find((i) => i.id === 'a')).toMatchObject({ state: 'done', reusedFrom: { runId, itemId: 'a' } });
    // The item route says so too, over both transports (it said nothing of it: only the status did).
    for (const client of [http, cluster.client]) expect(await client.item(r.runId, 'a')).toMatchObject({ state: 'done', reusedFrom: { runId, itemId: 'a' } });
    expect(await http.item(r.runId, 'b')).not.toHaveProperty('reusedFrom');
    expect((await http.status(runId)) as { rerunBy?: unknown[] }).toMatchObject({ rerunBy: [{ runId: r.runId, fromFailed: true }] });
  });

  it('404 for an unknown run, 400 for a bad body, 409 for a run id taken', async () => {
    await expect(http.rerun('rnosuchrun')).rejects.toThrow(NotFoundError);
    await expect(http.rerun(runId, { runId })).rejects.toThrow(IllegalStateError);
    const res = await fetch(`${dash.url}/api/runs/${runId}/rerun`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: '{"from":true}' });
    expect(res.status).toBe(400);
  });

  it('409 before anything is submitted when the stored plan is gone from storage, as agora rerun refuses it', async () => {
    const gone = await http.submit({ id: 'http-rerun-gone', items: [{ id: 'a', executor: 'noop', inputs: {} }] });
    expect((await http.wait(gone)).state).toBe('succeeded');
    const accepted = (await cluster.client.events(gone)).find((e) => e.type === 'run' && e.state === 'accepted') as { planRef?: string } | undefined;
    const hash = accepted?.planRef?.split('/').pop();
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    const blob = (readdirSync(cluster.dataDir, { recursive: true }) as string[]).find((f) => f.endsWith(hash!));
    expect(blob).toBeDefined();
    rmSync(path.join(cluster.dataDir, blob!));
    const before = (await http.runs({ limit: 500 })).runs.length;
    const res = await fetch(`${dash.url}/api/runs/${gone}/rerun`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { message: string }).message).toMatch(/stored plan .* is gone from storage; submit its plan again/);
    await expect(http.rerun(gone)).rejects.toThrow(IllegalStateError);
    // No rerun was put on the inbox (it would only have been rejected at acceptance).
    expect((await http.runs({ limit: 500 })).runs.length).toBe(before);
  });

  it('the memo routes need the admin scope; they list and purge the entries', async () => {
    expect((await fetch(`${dash.url}/api/memo`, { headers: { authorization: `Bearer ${KEY}` } })).status).toBe(403);
    const admin = new AgoraHttpClient({ url: dash.url, apiKey: ADMIN });
    const entries = await admin.memoEntries();
    expect(entries).toEqual([expect.objectContaining({ runId, itemId: 'a', key: expect.stringMatching(/^[0-9a-f]{64}$/) })]);
    expect(await admin.purgeMemo({ all: true })).toBe(1);
    expect(await admin.memoEntries()).toEqual([]);
    await admin.close();
  });
});
