import type * as nodeCrypto from 'node:crypto';
import { createHash, timingSafeEqual } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Queue } from 'bullmq';
import { INBOX_QUEUE, compileConfig, type AgoraConfig } from '@agora/core';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { startCluster, silent, type TestCluster } from '../support/cluster.js';

/**
 * Item 7 of the trust-boundary issue: Bull Board is read-only unless a request carries the
 * `admin` scope; API keys have scopes (`read`, `submit`, `admin`) and are kept as sha256 hashes.
 */

// Counts the constant-time comparisons the key check makes (the real function still runs).
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof nodeCrypto>();
  return { ...real, timingSafeEqual: vi.fn(real.timingSafeEqual) };
});

const API_KEY = 'plain-api-key-0123456789abcdef';
const ADMIN_KEY = 'admin-key-0123456789abcdef-admin';
const VIEWER_KEY = 'viewer-key-0123456789abcdef-view';
const CI_KEY = 'ci-key-0123456789abcdef-ci-ci-ci';
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

let cluster: TestCluster;
let queues: Record<string, Queue>;
/** A waiting item job (no runner consumes it) and its data as the scheduler wrote it. */
let waitingJobId: string;
let waitingData: unknown;
let runId: string;

async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  cluster = await startCluster({ runners: 0 });
  const prefix = `{${cluster.config.namespace}}`;
  queues = {
    default: new Queue('default', { connection: { url: cluster.config.redisUrl }, prefix }),
    inbox: new Queue(INBOX_QUEUE, { connection: { url: cluster.config.redisUrl }, prefix }),
  };
  runId = await cluster.client.submit({
    id: 'board',
    queue: 'default',
    items: [{ id: 'quiet', executor: 'noop', inputs: { n: 1 }, depends_on: [], resourceLocks: [] }],
  });
  await until(async () => (await cluster.client.status(runId)).state === 'running');
  await until(async () => (await queues['default']!.getWaiting()).length === 1);
  const job = (await queues['default']!.getWaiting())[0]!;
  waitingJobId = job.id!;
  waitingData = job.data;
  // The inbox job completes when the scheduler's processor returns, just after the run's items
  // are enqueued: under load that can come a moment after the run reads `running`.
  await until(async () => (await queues['inbox']!.getCompletedCount()) === 1);
});
afterAll(async () => {
  for (const q of Object.values(queues ?? {})) await q.close();
  await cluster?.close();
});

function withDashboard(config: AgoraConfig, opts: { apiKey?: string; adminKey?: string } = {}) {
  return async (fn: (d: Dashboard) => Promise<void>): Promise<void> => {
    const d = await createDashboard({ config, port: 0, logger: silent, ...opts });
    try {
      await fn(d);
    } finally {
      await d.close();
    }
  };
}

const json = { 'content-type': 'application/json' };
const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

/** Bull Board's mutating API routes (from @bull-board/api's routes), each with a body it accepts. */
function mutations(): Array<{ method: string; path: string; body?: unknown }> {
  return [
    { method: 'PATCH', path: `/queues/api/queues/default/${waitingJobId}/update-data`, body: { jobData: { ...(waitingData as object), executor: 'dispatch', task: 'steal' } } },
    { method: 'PUT', path: `/queues/api/queues/${INBOX_QUEUE}/clean/completed` },
    { method: 'POST', path: `/queues/api/queues/${INBOX_QUEUE}/add`, body: { name: 'plan', data: { runId: 'rforged', plan: {} }, options: {} } },
    { method: 'PUT', path: '/queues/api/queues/pause' },
    { method: 'PUT', path: '/queues/api/queues/default/empty' },
    { method: 'PUT', path: `/queues/api/queues/default/${waitingJobId}/clean` },
  ];
}

async function send(d: Dashboard, m: { method: string; path: string; body?: unknown }, headers: Record<string, string>): Promise<Response> {
  return fetch(`${d.url}${m.path}`, { method: m.method, headers: { ...json, ...headers }, body: JSON.stringify(m.body ?? {}) });
}

/** Nothing any refused mutation could have changed has changed. */
async function expectUntouched(): Promise<void> {
  const job = await queues['default']!.getJob(waitingJobId);
  expect(job?.data).toEqual(waitingData);
  expect(await job?.getState()).toBe('waiting');
  expect(await queues['default']!.isPaused()).toBe(false);
  expect(await queues['inbox']!.getCompletedCount()).toBe(1);
  expect(await queues['inbox']!.getJobCountByTypes('waiting', 'active', 'delayed', 'prioritized')).toBe(0);
}

describe('Bull Board without an admin key', () => {
  it('refuses every mutating route on an unkeyed loopback dashboard, and the board says it is read-only', async () => {
    await withDashboard(cluster.config)(async (d) => {
      for (const m of mutations()) {
        const res = await send(d, m, {});
        expect(res.status, `${m.method} ${m.path}`).toBe(403);
        expect(await res.json()).toMatchObject({ error: 'forbidden', message: expect.stringMatching(/^Bull Board is read-only: writing to it needs a key with the "admin" scope/) });
      }
      await expectUntouched();
      // An admin route of our API is not Bull Board: its 403 says so ("Bull Board is read-only" before).
      const dlq = await fetch(`${d.url}/api/dlq`);
      expect(dlq.status).toBe(403);
      expect(((await dlq.json()) as { message: string }).message).toMatch(/^this route needs a key with the "admin" scope/);
      const board = (await (await fetch(`${d.url}/queues/api/queues`)).json()) as { queues: Array<{ name: string; readOnlyMode: boolean }> };
      expect(board.queues.length).toBeGreaterThan(0);
      expect(board.queues.every((q) => q.readOnlyMode)).toBe(true);
      // read and submit stay open on unkeyed loopback, as before.
      expect((await fetch(`${d.url}/api/runs/${runId}`)).status).toBe(200);
    });
  });

  it('refuses them to the plain API key (read + submit)', async () => {
    await withDashboard(cluster.config, { apiKey: API_KEY })(async (d) => {
      for (const m of mutations()) expect((await send(d, m, bearer(API_KEY))).status, `${m.method} ${m.path}`).toBe(403);
      await expectUntouched();
    });
  });
});

describe('Bull Board with an admin key', () => {
  it('is read-only to the plain key and writable to the admin key (option or AGORA_ADMIN_KEY)', async () => {
    process.env['AGORA_ADMIN_KEY'] = ADMIN_KEY;
    try {
      await withDashboard(cluster.config, { apiKey: API_KEY })(async (d) => {
        const board = async (key: string) =>
          ((await (await fetch(`${d.url}/queues/api/queues`, { headers: bearer(key) })).json()) as { queues: Array<{ readOnlyMode: boolean }> }).queues;
        expect((await board(API_KEY)).every((q) => q.readOnlyMode)).toBe(true);
        expect((await board(ADMIN_KEY)).every((q) => !q.readOnlyMode)).toBe(true);
        for (const m of mutations()) expect((await send(d, m, bearer(API_KEY))).status).toBe(403);
        await expectUntouched();

        const [update] = mutations();
        const updated = await send(d, update!, bearer(ADMIN_KEY));
        expect(updated.status).toBe(200);
        expect((await queues['default']!.getJob(waitingJobId))?.data).toEqual((update!.body as { jobData: unknown }).jobData);
        expect((await send(d, { method: 'PUT', path: '/queues/api/queues/default/pause' }, bearer(ADMIN_KEY))).status).toBe(200);
        expect(await queues['default']!.isPaused()).toBe(true);
        await queues['default']!.resume();
        // The admin key may also submit and read through the API.
        expect((await fetch(`${d.url}/api/runs/${runId}`, { headers: bearer(ADMIN_KEY) })).status).toBe(200);
      });
    } finally {
      delete process.env['AGORA_ADMIN_KEY'];
      // Put back what the admin changed so the other tests see the scheduler's data.
      await (await queues['default']!.getJob(waitingJobId))?.updateData(waitingData as never);
    }
  });
});

describe('Bull Board write bodies', () => {
  it('refuses a body that is not JSON (415) or malformed JSON (400) with the API\'s error shape; a write without a body still works', async () => {
    await withDashboard(cluster.config, { adminKey: ADMIN_KEY })(async (d) => {
      const admin = bearer(ADMIN_KEY);
      const write = (method: string, path: string, headers: Record<string, string>, body?: string) => fetch(`${d.url}${path}`, { method, headers: { ...admin, ...headers }, ...(body !== undefined ? { body } : {}) });
      // Before: a form POST to …/add was taken as `{}` (Bull Board's parser skipped it unread) and
      // added a job with no name and no data; a text/plain update-data got Bull Board's own error shape.
      for (const [method, path, type, body] of [
        ['POST', `/queues/api/queues/${INBOX_QUEUE}/add`, 'application/x-www-form-urlencoded', 'name=plan&data=x'],
        ['POST', `/queues/api/queues/${INBOX_QUEUE}/add`, 'text/plain', JSON.stringify({ name: 'plan', data: { runId: 'rforged', plan: {} } })],
        ['PATCH', `/queues/api/queues/default/${waitingJobId}/update-data`, 'text/plain', JSON.stringify({ jobData: { x: 1 } })],
        ['PUT', '/queues/api/queues/default/pause', 'text/plain', 'pause please'],
      ] as const) {
        const res = await write(method, path, { 'content-type': type }, body);
        expect(res.status, `${method} ${path} ${type}`).toBe(415);
        expect(await res.json()).toEqual({ error: 'unsupported_media_type', message: 'Bull Board request bodies must be sent as "Content-Type: application/json" (or left out)' });
      }
      const noType = await write('PUT', '/queues/api/queues/default/pause', {}, 'x');
      expect(noType.status).toBe(415);
      const malformed = await write('PATCH', `/queues/api/queues/default/${waitingJobId}/update-data`, json, '{"jobData": {');
      expect(malformed.status).toBe(400);
      expect(await malformed.json()).toMatchObject({ error: 'bad_request', message: expect.any(String) });
      const scalar = await write('PATCH', `/queues/api/queues/default/${waitingJobId}/update-data`, json, '"x"');
      expect(scalar.status).toBe(400);
      expect(await scalar.json()).toMatchObject({ error: 'bad_request', message: 'the body must be a JSON object, got "x"' });
      await expectUntouched();
      // Bull Board's page sends its PUTs with no body and no content type: they work as before,
      // and so does one with a content type but an empty body.
      expect((await write('PUT', '/queues/api/queues/default/pause', {})).status).toBe(200);
      expect(await queues['default']!.isPaused()).toBe(true);
      expect((await write('PUT', '/queues/api/queues/default/resume', { 'content-type': 'text/plain' }, '')).status).toBe(200);
      expect(await queues['default']!.isPaused()).toBe(false);
      await expectUntouched();
    });
  });
});

describe('scoped API keys stored as sha256', () => {
  function scopedConfig(): AgoraConfig {
    const dashboard = compileConfig(
      {
        dashboard: {
          apiKeys: [
            { name: 'viewer', sha256: sha256(VIEWER_KEY), scopes: ['read'] },
            { name: 'ci', sha256: sha256(CI_KEY), scopes: ['read', 'submit'] },
            { name: 'ops', sha256: sha256(ADMIN_KEY).toUpperCase(), scopes: ['read', 'submit', 'admin'] },
          ],
        },
      },
      'test',
      '/tmp',
    ).dashboard;
    return { ...cluster.config, dashboard };
  }

  it('gives each key only its scopes: read cannot cancel or submit (403), submit can, admin can write Bull Board', async () => {
    const config = scopedConfig();
    expect(JSON.stringify(config)).not.toContain(VIEWER_KEY);
    await withDashboard(config)(async (d) => {
      const plan = { id: 'p', queue: 'default', items: [{ id: 'a', executor: 'noop', inputs: {}, depends_on: [], resourceLocks: [] }] };
      expect((await fetch(`${d.url}/api/runs/${runId}`)).status).toBe(401);
      expect((await fetch(`${d.url}/api/runs/${runId}`, { headers: bearer('not-a-configured-key-0123456789') })).status).toBe(401);
      expect((await fetch(`${d.url}/api/runs/${runId}`, { headers: bearer(VIEWER_KEY) })).status).toBe(200);
      expect((await fetch(`${d.url}/queues`, { headers: bearer(VIEWER_KEY) })).status).toBe(200);
      const cancel = await fetch(`${d.url}/api/runs/${runId}/cancel`, { method: 'POST', headers: { ...json, ...bearer(VIEWER_KEY) }, body: '{}' });
      expect(cancel.status).toBe(403);
      expect(await cancel.json()).toMatchObject({ error: 'forbidden', message: 'this key lacks the "submit" scope' });
      expect((await fetch(`${d.url}/api/runs`, { method: 'POST', headers: { ...json, ...bearer(VIEWER_KEY) }, body: JSON.stringify(plan) })).status).toBe(403);
      expect((await cluster.client.status(runId)).state).toBe('running');
      for (const m of mutations()) expect((await send(d, m, bearer(CI_KEY))).status).toBe(403);
      await expectUntouched();
      const submitted = await fetch(`${d.url}/api/runs`, { method: 'POST', headers: { ...json, ...bearer(CI_KEY) }, body: JSON.stringify(plan) });
      expect(submitted.status).toBe(202);
      const other = ((await submitted.json()) as { runId: string }).runId;
      await expect.poll(async () => (await cluster.client.status(other)).state, { timeout: 10_000 }).toBe('running');
      const cancelled = await fetch(`${d.url}/api/runs/${other}/cancel`, { method: 'POST', headers: { ...json, ...bearer(CI_KEY) }, body: '{}' });
      expect(cancelled.status).toBe(200);
      const basicAdmin = `Basic ${Buffer.from(`ops:${ADMIN_KEY}`).toString('base64')}`;
      expect((await send(d, { method: 'PUT', path: '/queues/api/queues/default/pause' }, { authorization: basicAdmin })).status).toBe(200);
      expect(await queues['default']!.isPaused()).toBe(true);
      await queues['default']!.resume();
    });
  });

  it('compares the sha256 of the presented key with every configured hash in constant time', async () => {
    const compare = vi.mocked(timingSafeEqual);
    await withDashboard(scopedConfig())(async (d) => {
      for (const key of [VIEWER_KEY, 'x'.repeat(40), CI_KEY.slice(0, -1) + 'X']) {
        compare.mockClear();
        await fetch(`${d.url}/api/runs/${runId}`, { headers: bearer(key) });
        // One comparison per configured key, never stopping at the first match, always on 32-byte digests.
        expect(compare.mock.calls.length, key).toBe(3);
        for (const [a, b] of compare.mock.calls) {
          expect((a as Buffer).length).toBe(32);
          expect((b as Buffer).length).toBe(32);
        }
      }
    });
  });

  it('refuses a malformed key entry in the config', () => {
    expect(() => compileConfig({ dashboard: { apiKeys: [{ name: 'x', sha256: 'abc', scopes: ['read'] }] } }, 'test', '/tmp')).toThrow(/dashboard\.apiKeys\.0\.sha256/);
    expect(() => compileConfig({ dashboard: { apiKeys: [{ name: 'x', sha256: sha256('k'), scopes: ['root'] }] } }, 'test', '/tmp')).toThrow(/dashboard\.apiKeys\.0\.scopes/);
  });
});
