import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { AgoraHttpClient, IllegalStateError, NotFoundError, ValueError } from '@agora/sdk';
import { holdExecutor, startCluster, silent, type TestCluster } from '../../../test/support/cluster.js';
import { until } from '../../../test/support/index.js';

/** `POST /api/runs/:id/items/:item/messages`: the `submit` scope, its answers, and the HTTP SDK's `send`. */
const SUBMIT = 'submit-key-0123456789abcdef';
const READ = 'read-only-key-0123456789abcdef';
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
const { executor: hold, open } = holdExecutor();
let cluster: TestCluster;
let dash: Dashboard;
let runId: string;

const post = (path: string, body: string, key = SUBMIT, type = 'application/json'): Promise<Response> =>
  fetch(`${dash.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': type }, body });

beforeAll(async () => {
  cluster = await startCluster({ runners: 1, executors: [hold] });
  const config = { ...cluster.config, dashboard: { ...cluster.config.dashboard, apiKeys: [{ name: 'viewer', sha256: sha(READ), scopes: ['read' as const] }] } };
  dash = await createDashboard({ config, port: 0, logger: silent, apiKey: SUBMIT });
  runId = await cluster.client.submit({ id: 'http-messages', items: [{ id: 'held', executor: 'hold' }, { id: 'quick', executor: 'noop' }] });
  await until('held running, quick done', async () => {
    const s = await cluster.client.status(runId);
    const state = Object.fromEntries(('items' in s ? s.items : []).map((i) => [i.id, i.state]));
    return state['held'] === 'running' && state['quick'] === 'done';
  });
});
afterAll(async () => {
  open();
  await dash?.close();
  await cluster?.close();
});

describe('POST /api/runs/:id/items/:item/messages', () => {
  const path = (item: string, run = runId): string => `/api/runs/${run}/items/${item}/messages`;

  it('takes a message with the submit scope: 202 with its id, seq, size and sha256, recorded as a message event', async () => {
    const res = await post(path('held'), '{"message":{"step":"go"}}');
    expect(res.status).toBe(202);
    const sent = (await res.json()) as Record<string, unknown>;
    expect(sent).toEqual({ runId, itemId: 'held', messageId: expect.stringMatching(/^\d+-\d+$/), seq: expect.any(Number), bytes: 13, sha256: sha('{"step":"go"}') });
    const events = await cluster.client.events(runId);
    expect(events.find((e) => e.type === 'message')).toMatchObject({ seq: sent['seq'], itemId: 'held', messageId: sent['messageId'], bytes: 13, sha256: sha('{"step":"go"}') });
  });

  it('refuses a read-only key (403) and no key (401)', async () => {
    const res = await post(path('held'), '{"message":1}', READ);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toBe('forbidden');
    expect((await fetch(`${dash.url}${path('held')}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"message":1}' })).status).toBe(401);
  });

  it('answers 404 for an unknown run or item, 409 for an ended item, 400 for a bad id or body, 415 for another type', async () => {
    const noItem = await post(path('ghost'), '{"message":1}');
    expect([noItem.status, await noItem.json()]).toEqual([404, { error: 'not_found', message: `run "${runId}" has no item "ghost"` }]);
    expect((await post(path('held', 'r0000000000deadbeef'), '{"message":1}')).status).toBe(404);
    const ended = await post(path('quick'), '{"message":1}');
    expect([ended.status, await ended.json()]).toEqual([409, { error: 'conflict', message: `item "quick" of run "${runId}" has ended (done): it takes no more messages` }]);
    expect((await post(path('bad..id'), '{"message":1}')).status).toBe(400);
    expect((await post(path('held', 'bad.run'), '{"message":1}')).status).toBe(400);
    expect((await post(path('held'), '{}')).status).toBe(400);
    expect((await post(path('held'), '{"message":1,"extra":2}')).status).toBe(400);
    const big = await post(path('held'), JSON.stringify({ message: 'x'.repeat(70_000) }));
    expect([big.status, await big.json()]).toEqual([400, { error: 'bad_request', message: 'message is 70002 bytes as JSON, over the limit of 65536 bytes' }]);
    expect((await post(path('held'), '{"message":1}', SUBMIT, 'text/plain')).status).toBe(415);
  });

  it('AgoraHttpClient.send: the same answer and errors as over Redis', async () => {
    const http = new AgoraHttpClient({ url: dash.url, apiKey: SUBMIT });
    try {
      expect(await http.send(runId, 'held', 'plain string')).toMatchObject({ runId, itemId: 'held', bytes: 14, sha256: sha('"plain string"') });
      await expect(http.send(runId, 'quick', {})).rejects.toThrow(new IllegalStateError(`item "quick" of run "${runId}" has ended (done): it takes no more messages`));
      await expect(http.send(runId, 'ghost', {})).rejects.toThrow(NotFoundError);
      await expect(http.send(runId, 'held', undefined)).rejects.toThrow(ValueError);
      const viaRedis = await cluster.client.send(runId, 'held', 'plain string');
      expect(viaRedis.sha256).toBe(sha('"plain string"'));
    } finally {
      await http.close();
    }
  });
});
