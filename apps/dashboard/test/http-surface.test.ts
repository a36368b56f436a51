import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileConfig } from '@agora/core';
import { startRedisServer } from '@agora/state';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { startCluster, silent, type TestCluster } from '../../../test/support/cluster.js';
import { uniqueNamespace } from '../../../test/support/index.js';

/**
 * Findings of an audit of the dashboard's HTTP surface: error answers are JSON without server
 * paths or stacks, the CSP allows nothing outside 'self', a rejected run's graph has numeric
 * sizes and its queue, 400/415 messages say what is accepted, /healthz says what failed.
 */

const ADMIN = 'admin-key-0123456789abcdef';
const admin = { authorization: `Bearer ${ADMIN}` };
const json = { 'content-type': 'application/json' };

interface Logged {
  level: 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string | undefined;
}
const logged: Logged[] = [];
const capture = {
  ...silent,
  warn: (obj: object, msg?: string) => logged.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
  error: (obj: object, msg?: string) => logged.push({ level: 'error', obj: obj as Record<string, unknown>, msg }),
};

let cluster: TestCluster;
/** No key, loopback: every answer below is anonymous. */
let open: Dashboard;
let keyed: Dashboard;
/** Its artifacts hook rejects (an async failure, which the routes answer through `fail`). */
let rejecting: Dashboard;

beforeAll(async () => {
  cluster = await startCluster({ runners: 0 });
  open = await createDashboard({
    config: cluster.config,
    port: 0,
    logger: capture,
    // Throws before any promise: Express hands it to the error middleware.
    artifacts: () => {
      throw new Error(`boom reading ${path.join(os.tmpdir(), 'secret-store', 'x')}`);
    },
  });
  keyed = await createDashboard({ config: cluster.config, port: 0, logger: silent, adminKey: ADMIN });
  rejecting = await createDashboard({
    config: cluster.config,
    port: 0,
    logger: capture,
    artifacts: async () => Promise.reject(new Error(`boom reading ${path.join(os.tmpdir(), 'secret-store', 'y')}`)),
  });
});
afterAll(async () => {
  await open?.close();
  await keyed?.close();
  await rejecting?.close();
  await cluster?.close();
});

/** A GET sent with its path as given (fetch would resolve `..`). */
function rawGet(url: string, pathAsIs: string): Promise<{ status: number; type: string; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: pathAsIs, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** No server file path, no stack frame, no HTML. */
function expectCleanJson(r: { type: string; body: string }, what: string): void {
  expect(r.type, what).toMatch(/^application\/json/);
  expect(r.body, what).not.toMatch(/\/work\/|node_modules|ENOENT|\bat \S+ \(|<html|<pre|apps\/dashboard|secret-store/i);
  const b = JSON.parse(r.body) as Record<string, unknown>;
  expect(Object.keys(b).sort(), what).toEqual(['error', 'message']);
}

describe('error answers (finding 1)', () => {
  it('a missing console file, a path leaving the console folder, /console/ and an unknown route answer JSON without paths or stacks', async () => {
    const cases: Array<[string, number, string]> = [
      ['/console/nonexist.js', 404, 'not_found'],
      ['/console/../../package.json', 403, 'forbidden'],
      ['/console/%2e%2e/%2e%2e/package.json', 403, 'forbidden'],
      ['/console/', 404, 'not_found'],
      ['/nonexistent', 404, 'not_found'],
      ['/queues/api/nonexistent', 404, 'not_found'],
    ];
    for (const [p, status, error] of cases) {
      const r = await rawGet(open.url, p);
      expect(r.status, p).toBe(status);
      expectCleanJson(r, p);
      expect((JSON.parse(r.body) as { error: string }).error, p).toBe(error);
    }
    // The /api 404 still names the route; a real console file is still served.
    expect(await (await fetch(`${open.url}/api/nope`)).json()).toEqual({ error: 'not_found', message: 'no route GET /api/nope' });
    expect((await fetch(`${open.url}/console/console.css`)).status).toBe(200);
    // The real cause is logged on the server, without the query string.
    expect(logged.some((l) => l.level === 'warn' && JSON.stringify(l.obj).includes('ENOENT'))).toBe(true);
  });

  it('OPTIONS and /console answer as any request no route serves: a 404 JSON, not Express\'s text "GET,HEAD" or an HTML redirect', async () => {
    // The console's routes answered OPTIONS 200 text/plain "GET,HEAD"; the API's answered 404 JSON.
    for (const p of ['/runs', '/runs/rnosuch', '/api/runs/rnosuch/graph', '/api/runs/rnosuch/verdict', '/api/runs', '/api/runs/rnosuch/items/a', '/healthz']) {
      const res = await fetch(`${open.url}${p}`, { method: 'OPTIONS' });
      expect(res.status, `OPTIONS ${p}`).toBe(404);
      expectCleanJson({ type: res.headers.get('content-type') ?? '', body: await res.text() }, `OPTIONS ${p}`);
    }
    // /console was a 301 (an HTML page) to /console/, itself a 404.
    for (const p of ['/console', '/console/.']) {
      const r = await rawGet(open.url, p);
      expect(r.status, p).toBe(404);
      expectCleanJson(r, p);
    }
  });

  it('an exception in a route is a 500 { error: "internal" } without its message, logged at error', async () => {
    logged.length = 0;
    const res = await fetch(`${open.url}/api/artifacts?uri=agora%3A%2F%2Fx%2Fresult%2Fa%2Fb`);
    expect(res.status).toBe(500);
    const body = await res.text();
    expectCleanJson({ type: res.headers.get('content-type') ?? '', body }, 'artifacts');
    expect(JSON.parse(body)).toMatchObject({ error: 'internal' });
    const e = logged.find((l) => l.level === 'error');
    expect(JSON.stringify(e?.obj)).toContain('secret-store');
    expect(JSON.stringify(e?.obj)).not.toContain('uri=');
  });

  it('a route whose call rejects with an unexpected error answers the same fixed 500 (its message named the server path)', async () => {
    logged.length = 0;
    const res = await fetch(`${rejecting.url}/api/artifacts?uri=agora%3A%2F%2Fx%2Fresult%2Fa%2Fb`);
    expect(res.status).toBe(500);
    const body = await res.text();
    expectCleanJson({ type: res.headers.get('content-type') ?? '', body }, 'rejected artifacts');
    expect(JSON.stringify(logged.find((l) => l.level === 'error')?.obj)).toContain('secret-store');
  });
});

describe('Content-Security-Policy (finding 2)', () => {
  it('allows nothing outside the server itself, on the console, the API and Bull Board; Bull Board links no outside font', async () => {
    for (const p of ['/runs', '/api/runs', '/queues', '/console/console.css']) {
      const res = await fetch(`${open.url}${p}`);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, p).toContain("default-src 'self'");
      for (const directive of csp.split(';').map((d) => d.trim()).filter(Boolean)) {
        const [, ...sources] = directive.split(/\s+/);
        for (const s of sources) expect(["'self'", "'none'", "'unsafe-inline'"], `${p}: ${directive}`).toContain(s);
      }
      if (p === '/queues') expect(await res.text()).not.toMatch(/fonts\.googleapis|fonts\.gstatic|https:\/\//);
    }
  });
});

describe('GET /api/runs/:id/graph of a rejected run (finding 3)', () => {
  it('has numeric width and height and the plan queue', async () => {
    // The test client has no checkPlan: the unknown task is refused by the scheduler's acceptance.
    const runId = await cluster.client.submit({ id: 'ghost-task', queue: 'default', items: [{ id: 'a', executor: 'dispatch', inputs: { task: 'ghost' }, depends_on: [], resourceLocks: [] }] });
    expect((await cluster.client.wait(runId)).state).toBe('rejected');
    const res = await fetch(`${open.url}/api/runs/${runId}/graph`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ runId, state: 'rejected', planId: 'ghost-task', queue: 'default', width: 0, height: 0, nodes: [], edges: [], groups: [] });
  });
});

describe('400 and 415 messages (finding 4)', () => {
  const post = (url: string, body: string, headers: Record<string, string> = {}) => fetch(url, { method: 'POST', headers: { ...admin, ...json, ...headers }, body });
  const messageOf = async (res: Response, status = 400): Promise<string> => {
    expect(res.status).toBe(status);
    return ((await res.json()) as { message: string }).message;
  };

  it('the purge routes name the bodies they accept', async () => {
    const dlqShapes = ['{ "id": "<runId>.<itemId>" }', '{ "runId": "<run id>" }', '{ "all": true }'];
    for (const body of ['{}', '{"all":false}', '{"id":"r1.a","all":true}', '[]']) {
      const m = await messageOf(await post(`${keyed.url}/api/dlq/purge`, body));
      for (const s of dlqShapes) expect(m, body).toContain(s);
    }
    expect(await messageOf(await post(`${keyed.url}/api/dlq/purge`, '{"all":false}'))).toMatch(/all: .*true/);
    expect(await messageOf(await post(`${keyed.url}/api/dlq/purge`, '{"id":"nodot"}'))).toMatch(/id: expected <runId>\.<itemId>/);
    for (const body of ['{}', '{"all":false}', '{"keys":[],"all":true}']) {
      const m = await messageOf(await post(`${keyed.url}/api/memo/purge`, body));
      for (const s of ['{ "keys": ["<memo key>", …] }', '{ "all": true }']) expect(m, body).toContain(s);
    }
  });

  it('a cancel body other than {} (an array, a field) is 400, not taken', async () => {
    const runId = await cluster.client.submit({ id: 'kept', queue: 'default', items: [{ id: 'a', executor: 'noop', inputs: {}, depends_on: [], resourceLocks: [] }] });
    for (const body of ['[]', '{"reason":"x"}', 'null']) {
      expect(await messageOf(await post(`${keyed.url}/api/runs/${runId}/cancel`, body)), body).toMatch(/must be .*\{\}|must be a JSON object/);
    }
    expect(['submitted', 'running']).toContain((await cluster.client.status(runId)).state);
    // `{}` and no body are taken (here: no such run).
    expect((await post(`${keyed.url}/api/runs/rnosuchrun/cancel`, '{}')).status).toBe(404);
    expect((await fetch(`${keyed.url}/api/runs/rnosuchrun/cancel`, { method: 'POST', headers: { ...admin, ...json } })).status).toBe(404);
  });

  it('a plan that is not an object, an empty or repeated runId, a repeated limit', async () => {
    expect(await messageOf(await post(`${keyed.url}/api/runs`, 'null'))).toMatch(/a plan must be a JSON object/);
    expect(await messageOf(await post(`${keyed.url}/api/runs`, '"plan"'))).toMatch(/a plan must be a JSON object/);
    // An array too (README: a body must be a JSON object), not a 422 "plan_invalid".
    const array = await post(`${keyed.url}/api/runs`, '[{"id":"p","items":[]}]');
    expect(array.status).toBe(400);
    expect(await array.json()).toMatchObject({ error: 'bad_request', message: expect.stringMatching(/a plan must be a JSON object, got an array/) });
    expect(await messageOf(await post(`${keyed.url}/api/runs?runId=`, '{}'))).toMatch(/\?runId= must be a run id/);
    expect(await messageOf(await post(`${keyed.url}/api/runs?runId=a&runId=b`, '{}'))).toMatch(/runId= is given more than once/);
    expect(await messageOf(await post(`${keyed.url}/api/runs?runid=a`, '{}'))).toMatch(/unknown parameter \?runid=.*runId/);
    for (const p of ['/api/runs', '/api/dlq', '/api/memo']) {
      expect(await messageOf(await fetch(`${keyed.url}${p}?limit=1&limit=2`, { headers: admin })), p).toMatch(/\?limit= is given more than once/);
    }
    // On every route, also those without parameters of their own (they answered 200).
    for (const p of ['/api/runs/rnosuch', '/api/runs/rnosuch/graph', '/api/runs/rnosuch/verdict', '/api/runs/rnosuch/items/a', '/api/openapi.json']) {
      expect(await messageOf(await fetch(`${keyed.url}${p}?x=1&x=2`, { headers: admin })), p).toMatch(/\?x= is given more than once/);
    }
    expect(await messageOf(await post(`${keyed.url}/api/runs/rnosuch/cancel?a=1&a=1`, '{}'))).toMatch(/\?a= is given more than once/);
  });

  it('a bad run or item id is named cut short and quoted as JSON, as a dead letter id is', async () => {
    // The whole id came back (a 300-character one in full), its quotes unescaped.
    const long = 'a'.repeat(300);
    for (const p of [`/api/runs/${long}`, `/api/runs/${long}/graph`, `/runs/${long}`]) {
      const m = await messageOf(await fetch(`${keyed.url}${p}`, { headers: admin }));
      expect(m, p).toBe(`invalid run id ${JSON.stringify('a'.repeat(80))}`);
    }
    expect(await messageOf(await fetch(`${keyed.url}/api/runs/a%22b`, { headers: admin }))).toBe('invalid run id "a\\"b"');
    expect(await messageOf(await fetch(`${keyed.url}/api/runs/rx/items/a%22b`, { headers: admin }))).toBe('invalid item id "a\\"b"');
  });

  it('a path that is not valid percent-encoding and a body that does not inflate say so (both said only "bad request")', async () => {
    const path400 = await fetch(`${keyed.url}/api/runs/%ff`, { headers: admin });
    expect(await messageOf(path400)).toMatch(/the path is not valid percent-encoded UTF-8/);
    const gz = await post(`${keyed.url}/api/runs/rnosuch/cancel`, '{}', { 'content-encoding': 'gzip' });
    expect(await messageOf(gz)).toMatch(/the body is not valid gzip data/);
  });

  it('a parameter the query parser drops (__proto__, an empty name) is refused as unknown, not ignored', async () => {
    // POST /api/runs took ?__proto__=1 and submitted (README: any other parameter is 400).
    const plan = JSON.stringify({ id: 'dropped-param', items: [{ id: 'a', executor: 'noop', inputs: {} }] });
    expect(await messageOf(await post(`${keyed.url}/api/runs?__proto__=1`, plan))).toMatch(/unknown parameter \?__proto__=/);
    expect(await messageOf(await post(`${keyed.url}/api/runs?runId=rdropped1&__proto__[x]=1`, plan))).toMatch(/unknown parameter \?__proto__\[x\]=/);
    expect((await cluster.client.runs({ planId: 'dropped-param' })).runs).toEqual([]);
    for (const q of ['__proto__=1', '=x', 'limit=5&=', 'state=failed&__proto__=x']) {
      expect(await messageOf(await fetch(`${keyed.url}/api/runs?${q}`, { headers: admin })), q).toMatch(/unknown parameter/);
    }
    expect(await messageOf(await fetch(`${keyed.url}/api/dlq?__proto__=1`, { headers: admin }))).toMatch(/unknown parameter \?__proto__=/);
    // What the parser keeps is unchanged: a nested or listed parameter is still named by its schema.
    expect(await messageOf(await fetch(`${keyed.url}/api/runs?limit[]=5`, { headers: admin }))).toMatch(/limit/);
    expect((await fetch(`${keyed.url}/api/runs?limit=5&state=failed`, { headers: admin })).status).toBe(200);
  });

  it('a plan whose body is not valid UTF-8 is 400 naming the byte, not submitted', async () => {
    // Before: body-parser read the 0xe9 (Latin-1 "é") as U+FFFD and the plan was accepted with its text changed.
    const plan = Buffer.concat([Buffer.from('{"id":"caf'), Buffer.from([0xe9]), Buffer.from('","queue":"default","items":[{"id":"a","executor":"noop","inputs":{},"depends_on":[],"resourceLocks":[]}]}')]);
    for (const headers of [json, { 'content-type': 'application/json; charset=utf-8' }]) {
      const res = await fetch(`${keyed.url}/api/runs`, { method: 'POST', headers: { ...admin, ...headers }, body: plan });
      expect(await messageOf(res)).toBe('the body is not valid UTF-8: byte 0xe9 at offset 10 (send JSON as UTF-8)');
    }
    // A U+FFFD sent as UTF-8 is text like any other.
    const ok = await post(`${keyed.url}/api/runs`, JSON.stringify({ id: 'caf\ufffd', queue: 'default', items: [{ id: 'a', executor: 'noop', inputs: {}, depends_on: [], resourceLocks: [] }] }));
    expect(ok.status).toBe(202);
  });

  it('an unsupported charset is 415 "unsupported_media_type", as a non-JSON body is', async () => {
    const charset = await post(`${keyed.url}/api/runs`, '{}', { 'content-type': 'application/json; charset=latin1' });
    expect(charset.status).toBe(415);
    expect(await charset.json()).toMatchObject({ error: 'unsupported_media_type' });
    const text = await post(`${keyed.url}/api/runs`, '{}', { 'content-type': 'text/plain' });
    expect(await text.json()).toMatchObject({ error: 'unsupported_media_type' });
  });
});

describe('Bull Board when Redis hangs', () => {
  it('its API answers 503 unavailable within the 4 s of every route, not never; its late answer breaks nothing', async () => {
    const s = await startRedisServer({});
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'agora-bb-'));
    const config = compileConfig({ namespace: uniqueNamespace('bb') }, 'test', dataDir, { REDIS_URL: s.url });
    const dash = await createDashboard({ config, port: 0, logger: silent });
    try {
      expect((await fetch(`${dash.url}/queues/api/queues`)).status).toBe(200);
      s.process.kill('SIGSTOP');
      const t0 = Date.now();
      const res = await fetch(`${dash.url}/queues/api/queues`, { signal: AbortSignal.timeout(15_000) });
      expect(Date.now() - t0).toBeLessThan(6000);
      expect(res.status).toBe(503);
      expectCleanJson({ type: res.headers.get('content-type') ?? '', body: await res.text() }, 'bull board');
      s.process.kill('SIGCONT');
      // Bull Board's own answer comes once Redis does: dropped, the server goes on.
      await new Promise((r) => setTimeout(r, 500));
      expect((await fetch(`${dash.url}/queues/api/queues`)).status).toBe(200);
      expect((await fetch(`${dash.url}/healthz`)).status).toBe(200);
    } finally {
      s.process.kill('SIGCONT');
      await dash.close();
      await s.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('the evidence routes when Redis hangs', () => {
  it('GET /api/runs/:id/audit and /verdict answer 503 unavailable within the 4 s of every route, not never', async () => {
    const s = await startRedisServer({});
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'agora-ev-'));
    const config = compileConfig({ namespace: uniqueNamespace('ev') }, 'test', dataDir, { REDIS_URL: s.url });
    const dash = await createDashboard({ config, port: 0, logger: silent });
    try {
      expect((await fetch(`${dash.url}/api/runs/rnosuch/audit`)).status).toBe(404);
      s.process.kill('SIGSTOP');
      for (const p of ['/api/runs/rnosuch/audit', '/api/runs/rnosuch/verdict']) {
        const t0 = Date.now();
        const res = await fetch(`${dash.url}${p}`, { signal: AbortSignal.timeout(15_000) });
        expect(Date.now() - t0, p).toBeLessThan(6000);
        expect(res.status, p).toBe(503);
        expect(await res.json(), p).toMatchObject({ error: 'unavailable', message: expect.stringMatching(/Redis/) });
      }
    } finally {
      s.process.kill('SIGCONT');
      await dash.close();
      await s.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('/healthz (finding 4)', () => {
  it('says Redis did not answer PING when Redis hangs', async () => {
    const s = await startRedisServer({});
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'agora-hz-'));
    const config = compileConfig({ namespace: uniqueNamespace('hz') }, 'test', dataDir, { REDIS_URL: s.url });
    const dash = await createDashboard({ config, port: 0, logger: silent });
    try {
      expect((await fetch(`${dash.url}/healthz`)).status).toBe(200);
      // Stopped, not killed: the connection stays up and PING gets no answer.
      s.process.kill('SIGSTOP');
      const t0 = Date.now();
      const res = await fetch(`${dash.url}/healthz`, { signal: AbortSignal.timeout(10_000) });
      expect(Date.now() - t0).toBeLessThan(2500);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ ok: false, error: expect.stringMatching(/^Redis did not answer PING within \d+ ms$/) });
    } finally {
      s.process.kill('SIGCONT');
      await dash.close();
      await s.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('a 503 for Redis away', () => {
  it('does not tell an HTTP caller where the Redis is or its connection error (the server log does)', async () => {
    // It answered 'Redis at redis://127.0.0.1:<port> did not answer within 4000 ms (…): connect
    // ECONNREFUSED 127.0.0.1:<port>': the deployment's internal address, to any caller with a key.
    const s = await startRedisServer({});
    const port = new URL(s.url).port;
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'agora-down-'));
    const config = compileConfig({ namespace: uniqueNamespace('down') }, 'test', dataDir, { REDIS_URL: s.url });
    const dash = await createDashboard({ config, port: 0, logger: silent });
    try {
      expect((await fetch(`${dash.url}/api/runs/rnosuch`)).status).toBe(404);
      await s.stop();
      const res = await fetch(`${dash.url}/api/runs/rnosuch`, { signal: AbortSignal.timeout(15_000) });
      expect(res.status).toBe(503);
      const body = (await res.json()) as { error: string; message: string };
      expect(body).toEqual({ error: 'unavailable', message: expect.stringMatching(/^Redis did not answer within \d+ ms \(status of run "rnosuch"\)$/) });
      expect(body.message).not.toContain(port);
    } finally {
      await dash.close();
      await s.stop().catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
