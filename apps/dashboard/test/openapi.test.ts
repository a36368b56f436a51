import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_STATES } from '@agora/core';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { startCluster, silent, type TestCluster } from '../../../test/support/cluster.js';
import { until } from '../../../test/support/index.js';

/**
 * Issue 16, part 1: `GET /api/openapi.json`, an OpenAPI 3.1 document built from the zod schemas
 * the routes use. Checked against the router itself, so a route added without its document fails.
 */

const KEY = 'openapi-key-0123456789abcdef';
const ADMIN = 'openapi-admin-0123456789abcdef';
let cluster: TestCluster;
let dash: Dashboard;
beforeAll(async () => {
  cluster = await startCluster({ runners: 0 });
  dash = await createDashboard({ config: cluster.config, port: 0, logger: silent, apiKey: KEY, adminKey: ADMIN });
});
afterAll(async () => {
  await dash?.close();
  await cluster?.close();
});

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  regexp?: RegExp;
}

/** Every `METHOD /api/...` the Express app serves, in OpenAPI path syntax. */
function mountedApiRoutes(app: Dashboard['app']): string[] {
  const out: string[] = [];
  const stack = (app as unknown as { _router: { stack: Layer[] } })._router.stack;
  for (const layer of stack) {
    if (layer.route && layer.route.path.startsWith('/api/')) for (const m of Object.keys(layer.route.methods)) out.push(`${m} ${layer.route.path}`);
    if (!layer.route && layer.handle?.stack && layer.regexp?.test('/api/')) {
      for (const inner of layer.handle.stack) if (inner.route) for (const m of Object.keys(inner.route.methods)) out.push(`${m} /api${inner.route.path}`);
    }
  }
  return out.map((r) => r.replace(/:(\w+)/g, '{$1}'));
}

describe('GET /api/openapi.json', () => {
  it('documents every mounted API route with its scope, from the zod schemas', async () => {
    expect((await fetch(`${dash.url}/api/openapi.json`)).status).toBe(401);
    const res = await fetch(`${dash.url}/api/openapi.json`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { 'x-agora-scope': string; parameters?: Array<{ name: string; schema: { enum?: string[] } }> }>>;
      components: { schemas: Record<string, { required?: string[]; properties?: Record<string, unknown> }> };
    };
    expect(doc.openapi).toBe('3.1.0');
    const routes = mountedApiRoutes(dash.app);
    expect(routes.length).toBeGreaterThan(10);
    for (const r of routes) {
      const [method, path] = r.split(' ') as [string, string];
      expect(doc.paths[path]?.[method], `${r} is not in the document`).toBeDefined();
      expect(['read', 'submit', 'admin']).toContain(doc.paths[path]![method]!['x-agora-scope']);
    }
    // Generated from the schemas, not written by hand: the plan's required fields, the states enum.
    expect(doc.components.schemas['Plan']!.required).toEqual(expect.arrayContaining(['id', 'items']));
    const state = doc.paths['/api/runs']!['get']!.parameters!.find((p) => p.name === 'state');
    expect(state?.schema.enum).toEqual([...RUN_STATES]);
    expect(Object.keys(doc.components.schemas['ItemDetail']!.properties ?? {})).toEqual(expect.arrayContaining(['attempts', 'lockTokens', 'exitCode', 'logRefs']));
    expect(doc.paths['/api/runs/{id}/cancel']!['post']!['x-agora-scope']).toBe('submit');
    expect(doc.paths['/api/dlq']!['get']!['x-agora-scope']).toBe('admin');
  });

  it('documents the statuses the routes answer: a malformed id, a bad body, a non-JSON POST, a run still running', async () => {
    const admin = { authorization: `Bearer ${ADMIN}` };
    const doc = (await (await fetch(`${dash.url}/api/openapi.json`, { headers: admin })).json()) as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    // Never ends without runners: its verdict and bundle are not ready (409).
    const live = await cluster.client.submit({ id: 'openapi-live', queue: 'default', items: [{ id: 'a', executor: 'noop', inputs: {}, depends_on: [], resourceLocks: [] }] });
    await until('accepted', async () => (await cluster.client.status(live)).state !== 'submitted');
    const seen: string[] = [];
    const missing = new Set<string>();
    const probe = async (method: string, path: string, url: string, init: { body?: string; type?: string } = {}): Promise<number> => {
      const headers: Record<string, string> = { ...admin, ...(init.body !== undefined || method === 'post' ? { 'content-type': init.type ?? 'application/json' } : {}) };
      const res = await fetch(`${dash.url}${url}`, { method: method.toUpperCase(), headers, ...(init.body !== undefined ? { body: init.body } : {}) });
      await res.body?.cancel();
      seen.push(`${method} ${path} ${res.status}`);
      if (doc.paths[path]![method]!.responses[String(res.status)] === undefined) missing.add(`${method} ${path} ${res.status}`);
      return res.status;
    };
    for (const r of mountedApiRoutes(dash.app)) {
      const [method, path] = r.split(' ') as [string, string];
      const fill = (id: string) => path.replace('{id}', id).replace('{item}', 'a');
      if (path.includes('{id}')) expect(await probe(method, path, fill('bad%20id'), method === 'post' ? { body: '{}' } : {})).toBe(400);
      if (method === 'post') {
        // An unknown run: a POST that got through would change nothing (cancel would end the live run).
        const at = fill(path.startsWith('/api/dlq/') ? 'rnosuchrun.a' : 'rnosuchrun');
        expect(await probe(method, path, at, { body: 'x', type: 'text/plain' })).toBe(415);
        // A body of the wrong shape; POST /api/runs takes any object as a plan to check (422).
        await probe(method, path, at, { body: '{"bogus":1}' });
        await probe(method, path, at, { body: 'null' });
      } else if (!path.endsWith('/events')) {
        await probe(method, path, fill(live));
      }
    }
    // Every route refuses a repeated parameter (README), this document's own route too.
    expect(await probe('get', '/api/openapi.json', '/api/openapi.json?x=1&x=2')).toBe(400);
    expect([...missing], 'answered, not in the document').toEqual([]);
    // README: a cancel that meets a run being accepted just then is 409 (cancel again).
    expect(doc.paths['/api/runs/{id}/cancel']!['post']!.responses['409']).toBeDefined();
    expect(seen).toEqual(expect.arrayContaining([`get /api/runs/{id}/verdict 409`, `get /api/runs/{id}/audit 409`, `post /api/dlq/purge 400`, `post /api/memo/purge 400`]));
  });
});
