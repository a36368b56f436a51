import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { startCluster, silent, type TestCluster } from '../../../test/support/cluster.js';
import { until } from '../../../test/support/index.js';

/** The dead-letter routes: admin scope only (a read or submit key gets 403), list, show, replay, purge. */
const KEY = 'test-key-0123456789abcdef';
const ADMIN = 'admin-key-0123456789abcdef';
let cluster: TestCluster;
let dash: Dashboard;
let runId: string;

const user = { authorization: `Bearer ${KEY}` };
const admin = { authorization: `Bearer ${ADMIN}` };
const json = { 'content-type': 'application/json' };
const noop = (id: string, inputs: Record<string, unknown>, deps: string[] = []) => ({ id, executor: 'noop', inputs, depends_on: deps, resourceLocks: [] });


interface Letter {
  id: string;
  itemId: string;
  errorCode: string;
  error: string;
  inputs?: Record<string, unknown>;
  dependencies: Record<string, string>;
  replayedBy?: string;
}

beforeAll(async () => {
  cluster = await startCluster({ runners: 1 });
  dash = await createDashboard({ config: cluster.config, port: 0, logger: silent, apiKey: KEY, adminKey: ADMIN });
  runId = await cluster.client.submit({
    id: 'http-dlq',
    queue: 'default',
    items: [noop('up', { v: 1 }), noop('a', { fail: 'first failure' }, ['up']), noop('b', { fail: 'second failure' }, ['up']), noop('c', {}, ['a'])],
  });
  expect((await cluster.client.wait(runId)).state).toBe('failed');
  await until('both letters', async () => (await cluster.client.deadLetters({ runId })).length === 2);
});
afterAll(async () => {
  await dash?.close();
  await cluster?.close();
});

describe('/api/dlq', () => {
  it('needs the admin scope, for reads too: a read+submit key gets 403, no key 401', async () => {
    for (const [method, p] of [['GET', '/api/dlq'], ['GET', `/api/dlq/${runId}.a`], ['POST', `/api/dlq/${runId}.a/replay`], ['POST', '/api/dlq/purge'], ['POST', '/api/dlq/replay']] as const) {
      const res = await fetch(`${dash.url}${p}`, { method, headers: { ...user, ...json }, ...(method === 'POST' ? { body: '{}' } : {}) });
      expect(res.status, `${method} ${p}`).toBe(403);
      expect(((await res.json()) as { error: string }).error).toBe('forbidden');
      expect((await fetch(`${dash.url}${p}`, { method, headers: json, ...(method === 'POST' ? { body: '{}' } : {}) })).status, `${method} ${p} without a key`).toBe(401);
    }
  });

  it('refuses an unknown or bad query parameter with 400 naming it, as /api/runs does (200 before)', async () => {
    for (const [q, message] of [
      ['?bogus=1', 'unknown parameter ?bogus='],
      ['?run=../x', '?run= must be a run id'],
      ['?limit=0', '?limit= must be an integer from 1 to 9999999'],
    ] as const) {
      const res = await fetch(`${dash.url}/api/dlq${q}`, { headers: admin });
      expect(res.status, q).toBe(400);
      expect(((await res.json()) as { message: string }).message).toBe(message);
    }
    const memo = await fetch(`${dash.url}/api/memo?bogus=1`, { headers: admin });
    expect(memo.status).toBe(400);
    // A route that does not exist is named with its /api prefix ("no route PUT /runs" before).
    const put = await fetch(`${dash.url}/api/runs?x=1`, { method: 'PUT', headers: admin });
    expect(put.status).toBe(404);
    expect(((await put.json()) as { message: string }).message).toBe('no route PUT /api/runs');
  });

  it('lists the letters (all, or one run\'s) and shows one; a bad id is 400, an unknown one 404', async () => {
    const all = (await (await fetch(`${dash.url}/api/dlq`, { headers: admin })).json()) as { deadLetters: Letter[] };
    expect(all.deadLetters.map((l) => l.id).sort()).toEqual([`${runId}.a`, `${runId}.b`]);
    const ofRun = (await (await fetch(`${dash.url}/api/dlq?run=${runId}&limit=1`, { headers: admin })).json()) as { deadLetters: Letter[] };
    expect(ofRun.deadLetters).toHaveLength(1);
    const one = await fetch(`${dash.url}/api/dlq/${runId}.a`, { headers: admin });
    expect(one.status).toBe(200);
    expect(await one.json()).toMatchObject({ id: `${runId}.a`, itemId: 'a', errorCode: 'APPLICATION', error: 'first failure', inputs: { fail: 'first failure' }, dependencies: { up: expect.stringMatching(/^agora:\/\//) as string } });
    expect((await fetch(`${dash.url}/api/dlq/nope`, { headers: admin })).status).toBe(400);
    expect((await fetch(`${dash.url}/api/dlq?run=bad.run`, { headers: admin })).status).toBe(400);
    const unknown = await fetch(`${dash.url}/api/dlq/${runId}.ghost`, { headers: admin });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: 'not_found', message: `no dead letter "${runId}.ghost"` });
  });

  it('replays one letter as a new linked run (202 with its Location); a second replay is 409 unless forced', async () => {
    const res = await fetch(`${dash.url}/api/dlq/${runId}.a/replay`, { method: 'POST', headers: { ...admin, ...json }, body: '{}' });
    expect(res.status).toBe(202);
    const r = (await res.json()) as { runId: string; letters: string[]; items: string[] };
    expect(res.headers.get('location')).toBe(`/api/runs/${r.runId}`);
    expect(r).toMatchObject({ letters: [`${runId}.a`], items: ['a'] });
    // Still failing (the item's inputs say so): the replay run fails too, and is linked both ways.
    const st = await cluster.client.wait(r.runId);
    expect(st).toMatchObject({ state: 'failed', replayOf: { runId, items: ['a'] } });
    expect(Object.fromEntries(st.items.map((i) => [i.id, i.state]))).toEqual({ a: 'failed', up: 'done' });
    const orig = await cluster.client.status(runId);
    expect('replayedBy' in orig ? orig.replayedBy : undefined).toEqual([expect.objectContaining({ runId: r.runId, items: ['a'] })]);
    expect(((await (await fetch(`${dash.url}/api/dlq/${runId}.a`, { headers: admin })).json()) as Letter).replayedBy).toBe(r.runId);
    // The replay's own failure is a dead letter of its own run.
    await until('the replay\'s letter', () => cluster.client.deadLetters({ runId: r.runId }).then((l) => l.length === 1));

    const again = await fetch(`${dash.url}/api/dlq/${runId}.a/replay`, { method: 'POST', headers: { ...admin, ...json }, body: '{}' });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { message: string }).message).toContain('was replayed already');
    const forced = await fetch(`${dash.url}/api/dlq/${runId}.a/replay`, { method: 'POST', headers: { ...admin, ...json }, body: JSON.stringify({ force: true }) });
    expect(forced.status).toBe(202);
    const bad = await fetch(`${dash.url}/api/dlq/${runId}.a/replay`, { method: 'POST', headers: { ...admin, ...json }, body: JSON.stringify({ force: 'yes' }) });
    expect(bad.status).toBe(400);
  });

  it('replays a run\'s letters not replayed yet (POST /api/dlq/replay), then purges the run\'s letters', async () => {
    const res = await fetch(`${dash.url}/api/dlq/replay`, { method: 'POST', headers: { ...admin, ...json }, body: JSON.stringify({ runId }) });
    expect(res.status).toBe(202);
    const r = (await res.json()) as { runId: string; items: string[] };
    expect(r.items).toEqual(['b']);
    expect((await cluster.client.wait(r.runId)).state).toBe('failed');
    const none = await fetch(`${dash.url}/api/dlq/replay`, { method: 'POST', headers: { ...admin, ...json }, body: JSON.stringify({ runId }) });
    expect(none.status).toBe(404);

    const purge = await fetch(`${dash.url}/api/dlq/purge`, { method: 'POST', headers: { ...admin, ...json }, body: JSON.stringify({ runId }) });
    expect(await purge.json()).toEqual({ purged: 2 });
    expect(await cluster.client.deadLetters({ runId })).toEqual([]);
    const badPurge = await fetch(`${dash.url}/api/dlq/purge`, { method: 'POST', headers: { ...admin, ...json }, body: JSON.stringify({ everything: true }) });
    expect(badPurge.status).toBe(400);
  });
});

describe('AgoraHttpClient: the dead-letter calls over HTTP', () => {
  it('lists, shows, replays and purges as AgoraClient does over Redis, with the same errors', async () => {
    const { AgoraHttpClient } = await import('@agora/sdk');
    const { IllegalStateError, NotFoundError, UnavailableError, ValueError } = await import('@agora/core');
    const http = new AgoraHttpClient({ url: dash.url, apiKey: ADMIN });
    const failing = await cluster.client.submit({ id: 'http-dlq-sdk', queue: 'default', items: [noop('x', { fail: 'sdk failure' }), noop('y', { fail: 'other failure' })] });
    expect((await cluster.client.wait(failing)).state).toBe('failed');
    await until('two letters', async () => (await cluster.client.deadLetters({ runId: failing })).length === 2);

    const overRedis = await cluster.client.deadLetters({ runId: failing });
    expect(await http.deadLetters({ runId: failing })).toEqual(overRedis);
    expect(await http.deadLetters({ runId: failing, limit: 1 })).toHaveLength(1);
    expect(await http.deadLetter(`${failing}.x`)).toEqual(await cluster.client.deadLetter(`${failing}.x`));
    await expect(http.deadLetter(`${failing}.ghost`)).rejects.toThrow(NotFoundError);
    await expect(http.deadLetter('nope')).rejects.toThrow(ValueError);

    const one = await http.replayDeadLetters({ id: `${failing}.x` });
    expect(one).toMatchObject({ letters: [`${failing}.x`], items: ['x'] });
    expect((await cluster.client.wait(one.runId)).state).toBe('failed');
    await expect(http.replayDeadLetters({ id: `${failing}.x` })).rejects.toThrow(IllegalStateError);
    expect((await http.replayDeadLetters({ id: `${failing}.x` }, { force: true })).items).toEqual(['x']);
    const rest = await http.replayDeadLetters({ runId: failing });
    expect(rest.items).toEqual(['y']);
    await expect(http.replayDeadLetters({ runId: failing })).rejects.toThrow(NotFoundError);

    expect(await http.purgeDeadLetters({ runId: failing })).toBe(2);
    expect(await http.deadLetters({ runId: failing })).toEqual([]);
    // A key without the admin scope is refused, as over the raw routes.
    await expect(new AgoraHttpClient({ url: dash.url, apiKey: KEY }).deadLetters()).rejects.toThrow(UnavailableError);
  });
});

describe('a forced replay whose submission fails', () => {
  it('leaves the letter marked by its earlier replay (the mark was deleted, so a replay without force went through)', async () => {
    const failing = await cluster.client.submit({ id: 'http-dlq-force', queue: 'default', items: [noop('x', { fail: 'boom' })] });
    await cluster.client.wait(failing);
    await until('the letter', async () => (await cluster.client.deadLetters({ runId: failing })).length === 1);
    const replay = (force: boolean, url = dash.url) => fetch(`${url}/api/dlq/${failing}.x/replay`, { method: 'POST', headers: { ...admin, ...json }, body: JSON.stringify(force ? { force } : {}) });
    const first = await replay(false);
    expect(first.status).toBe(202);
    const { runId: firstReplay } = (await first.json()) as { runId: string };
    // A dashboard of a deployment that no longer serves the letter's queue: its submission fails (422).
    const narrowed = await createDashboard({ config: { ...cluster.config, queues: { other: {} } } as typeof cluster.config, port: 0, logger: silent, adminKey: ADMIN });
    try {
      expect((await replay(true, narrowed.url)).status).toBe(422);
    } finally {
      await narrowed.close();
    }
    const letter = (await (await fetch(`${dash.url}/api/dlq/${failing}.x`, { headers: admin })).json()) as Letter;
    expect(letter.replayedBy).toBe(firstReplay);
    expect((await replay(false)).status).toBe(409);
  });
});
