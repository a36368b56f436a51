import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { startCluster, silent, type TestCluster } from '../../../test/support/cluster.js';
import { launchBrowser } from '../../../test/support/browser.js';

/**
 * Issue 16, part 2: the run console in Debian Chromium against a real dashboard, scheduler,
 * runner and Redis. A 200-item plan with a failing item is submitted through the API; the runs
 * list shows it; the run page's SVG has one node per item and its colours reach the final states
 * live; the failed item's panel shows its error and stderr tail; the result link downloads bytes
 * whose sha256 is the resultRef's; the audit badge says intact. Screenshots go to
 * test-results/console/ (gitignored).
 */

const KEY = 'console-test-key-0123456789abcdef';
const VIEW_KEY = 'console-viewer-key-0123456789abcdef';
const SHOTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test-results/console');
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/**
 * Waits until the file its input names exists (when it names one: the test holds an item running
 * with it), writes a line to stderr and one to stdout, then exits with the code its input names.
 */
const WORKER = `
const fs = require('node:fs');
const input = JSON.parse(fs.readFileSync(process.env.AGORA_WORKER_INPUT_FILE, 'utf8'));
const go = () => {
  if (input.until && !fs.existsSync(input.until)) return setTimeout(go, 50);
  process.stdout.write('partial output of ' + input.name + '\\n');
  process.stderr.write('disk quota exceeded while writing ' + input.name + '\\n');
  process.exit(input.exit);
};
go();
`;

const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-console-'));
let cluster: TestCluster;
let dash: Dashboard;
let browser: Browser;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  writeFileSync(path.join(dir, 'worker.cjs'), WORKER);
  cluster = await startCluster({
    runners: 1,
    concurrency: 4,
    config: {
      queues: { default: { concurrency: 4 } },
      tasks: { talk: { command: [process.execPath, path.join(dir, 'worker.cjs')] } },
      dashboard: { apiKeys: [{ name: 'viewer', sha256: sha256(VIEW_KEY), scopes: ['read'] }] },
    },
  });
  dash = await createDashboard({ config: cluster.config, port: 0, logger: silent, apiKey: KEY });
  browser = await launchBrowser();
}, 90_000);
afterAll(async () => {
  await browser?.close();
  await dash?.close();
  await cluster?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function api<T>(route: string, init: { method?: string; body?: unknown; key?: string } = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${dash.url}${route}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${init.key ?? KEY}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function signedIn(key = KEY): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ httpCredentials: { username: 'ops', password: key }, acceptDownloads: true, viewport: { width: 1500, height: 950 } });
  return { context, page: await context.newPage() };
}

/** The 200-item plan: a 196-item binary tree, a failing dispatch item and its dependent, and a gated item with its dependent. */
function plan200(): { id: string; queue: string; items: Array<Record<string, unknown>> } {
  const items: Array<Record<string, unknown>> = [];
  for (let i = 0; i < 196; i++) {
    const id = `n${String(i).padStart(3, '0')}`;
    items.push({ id, executor: 'noop', inputs: { sleepMs: 10, index: i }, depends_on: i > 0 ? [`n${String(Math.floor((i - 1) / 2)).padStart(3, '0')}`] : [] });
  }
  items.push({ id: 'broken', executor: 'dispatch', inputs: { task: 'talk', workerInput: { name: 'broken', exit: 3 } } });
  items.push({ id: 'after-broken', executor: 'noop', inputs: {}, depends_on: ['broken'] });
  items.push({ id: 'held', executor: 'dispatch', inputs: { task: 'talk', workerInput: { name: 'held', exit: 0, until: path.join(dir, 'release') } } });
  items.push({ id: 'after-held', executor: 'noop', inputs: {}, depends_on: ['held', 'n000'] });
  return { id: 'console-200', queue: 'default', items };
}

const states = (page: Page): Promise<Record<string, number>> =>
  page.$$eval('svg#graph [data-item-id]', (els) => {
    const out: Record<string, number> = {};
    for (const e of els) out[e.getAttribute('data-state') ?? '?'] = (out[e.getAttribute('data-state') ?? '?'] ?? 0) + 1;
    return out;
  });

describe('run console (Chromium)', () => {
  let runId: string;

  it('a 200-item plan with a failure: listed, drawn one node per item, coloured live to its final states; failed item panel; artifact download; audit intact', async () => {
    const submitted = await api<{ runId: string }>('/api/runs', { method: 'POST', body: plan200() });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    runId = submitted.body.runId;
    const { context, page } = await signedIn();

    // The runs list shows it (once the scheduler has accepted it).
    await page.goto(`${dash.url}/runs`);
    const row = page.locator(`tr[data-run-id="${runId}"]`);
    await expect.poll(async () => {
      if ((await row.count()) === 0) await page.reload();
      return row.count();
    }, { timeout: 20_000 }).toBe(1);
    expect(await row.locator('td.plan').textContent()).toBe('console-200');
    expect(await row.locator('td').nth(3).textContent()).toBe('default');
    await page.screenshot({ path: path.join(SHOTS, 'runs-list.png'), fullPage: true });

    // The run page: one SVG node per item, while the gated item still runs.
    await row.locator('a').click();
    await page.waitForURL(`**/runs/${runId}`);
    await expect.poll(() => page.locator('svg#graph [data-item-id]').count(), { timeout: 20_000 }).toBe(200);
    expect(await page.locator('body').getAttribute('data-view')).toBe('items');
    const ids = await page.$$eval('svg#graph [data-item-id]', (els) => els.map((e) => e.getAttribute('data-item-id')));
    expect(new Set(ids)).toEqual(new Set(plan200().items.map((i) => i.id)));
    const held = page.locator('svg#graph [data-item-id="held"]');
    await expect.poll(() => held.getAttribute('data-state'), { timeout: 20_000 }).toBe('running');
    expect(await page.locator('#audit').textContent()).toContain('sealed when the run ends');
    // A mark in this document: still there at the end means the page was updated in place, not reloaded.
    await page.evaluate(() => Object.assign(globalThis, { consoleMark: 'same document' }));
    await page.screenshot({ path: path.join(SHOTS, 'run-live.png'), fullPage: true });

    writeFileSync(path.join(dir, 'release'), '');
    await expect.poll(() => states(page), { timeout: 30_000 }).toEqual({ done: 198, failed: 1, skipped: 1 });
    expect(await page.evaluate(() => (globalThis as { consoleMark?: string }).consoleMark)).toBe('same document');
    expect(await page.locator('svg#graph [data-item-id="broken"]').getAttribute('data-state')).toBe('failed');
    expect(await page.locator('svg#graph [data-item-id="after-broken"]').getAttribute('data-state')).toBe('skipped');
    await expect.poll(() => page.locator('#run-state').textContent(), { timeout: 10_000 }).toBe('failed');
    // The colour follows the state.
    const fill = (id: string) => page.locator(`svg#graph [data-item-id="${id}"] rect`).evaluate((e) => (globalThis as unknown as { getComputedStyle(el: unknown): { fill: string } }).getComputedStyle(e).fill);
    expect(await fill('n000')).toBe('rgb(67, 160, 71)');
    expect(await fill('broken')).toBe('rgb(229, 57, 53)');
    expect(await fill('after-broken')).toBe('rgb(158, 158, 158)');
    // No cancel button on a finished run, even for a key that may cancel.
    expect(await page.locator('#cancel').isHidden()).toBe(true);

    // The audit badge: the verifier's report, computed by the server.
    const audit = page.locator('#audit');
    await expect.poll(() => audit.getAttribute('data-verdict'), { timeout: 20_000 }).toBe('intact');
    expect(await audit.textContent()).toBe('audit: intact · tamper-detecting · local');
    await page.screenshot({ path: path.join(SHOTS, 'run-final.png'), fullPage: true });

    // The failed item is named under the counts (one of 200 nodes, off screen) and opens its
    // panel: error, exit code, stderr tail, its events in words (each whole in its tooltip).
    expect(await page.locator('#failed-items').textContent()).toBe('failed: broken');
    const broken = page.locator('svg#graph [data-item-id="broken"]');
    await page.locator('#failed-items button[data-item-id="broken"]').click();
    await expect.poll(() => page.locator('#panel-title').getAttribute('data-item-id'), { timeout: 10_000 }).toBe('broken');
    // ... and the graph is scrolled to show it.
    const inView = await broken.evaluate((n) => {
      const r = n.getBoundingClientRect();
      const w = (n as unknown as { ownerDocument: { getElementById(id: string): { getBoundingClientRect(): { left: number; right: number; top: number; bottom: number } } } }).ownerDocument.getElementById('graph-wrap').getBoundingClientRect();
      return r.left >= w.left && r.right <= w.right && r.top >= w.top && r.bottom <= w.bottom;
    });
    expect(inView).toBe(true);
    expect(await page.locator('#panel [data-field="exitCode"]').textContent()).toBe('3');
    expect(await page.locator('#panel [data-field="error"]').textContent()).toMatch(/code 3/);
    expect(await page.locator('#panel [data-field="stderr"]').textContent()).toContain('disk quota exceeded while writing broken');
    const what = await page.locator('#panel [data-field="events"] td.what').allTextContents();
    expect(what).toEqual(['queued for dispatch', 'running, attempt 1 on runner-0', expect.stringMatching(/^failed APPLICATION \(exit 3\), attempt 1: item broken: worker exited with code 3/)]);
    const lastRow = JSON.parse((await page.locator('#panel [data-field="events"] tr').last().getAttribute('title'))!) as Record<string, unknown>;
    expect(lastRow).toMatchObject({ state: 'failed', errorCode: 'APPLICATION', exitCode: 3 });
    expect(lastRow['logRefs']).toBeDefined();
    await page.screenshot({ path: path.join(SHOTS, 'failed-item-panel.png'), fullPage: true });

    // A done item's result: the link downloads bytes whose sha256 is the resultRef's.
    await page.locator('svg#graph [data-item-id="n007"]').click();
    await expect.poll(() => page.locator('#panel-title').getAttribute('data-item-id'), { timeout: 10_000 }).toBe('n007');
    const ref = (await page.locator('#panel [data-field="resultRef"]').textContent())!;
    expect(ref).toMatch(/^agora:\/\/.+\/result\/.+\/[0-9a-f]{64}$/);
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#result-link').click()]);
    const bytes = readFileSync((await download.path())!);
    expect(sha256(bytes)).toBe(ref.split('/').at(-1));
    expect(JSON.parse(bytes.toString('utf8'))).toMatchObject({ index: 7 });
    await context.close();
  });

  it('GET /api/runs/:id/graph and /verdict: the read scope, bad and unknown ids, one edge per dependency', async () => {
    const g = await api<{ view: string; nodes: Array<{ id: string; state: string }>; edges: unknown[]; seq: number; planId: string }>(`/api/runs/${runId}/graph`, { key: VIEW_KEY });
    expect(g.status).toBe(200);
    expect(g.body.view).toBe('items');
    expect(g.body.planId).toBe('console-200');
    expect(g.body.nodes).toHaveLength(200);
    // 195 tree edges, broken -> after-broken, held and n000 -> after-held.
    expect(g.body.edges).toHaveLength(198);
    expect(g.body.seq).toBeGreaterThan(400);
    const v = await api<{ intact: boolean; claim: string; guarantee: string; checks: Array<{ name: string; ok: boolean }> }>(`/api/runs/${runId}/verdict`, { key: VIEW_KEY });
    expect(v.body).toMatchObject({ intact: true, claim: 'tamper-detecting', guarantee: 'local' });
    expect(v.body.checks.find((c) => c.name === 'signer.pinned')).toMatchObject({ ok: true });
    expect((await fetch(`${dash.url}/api/runs/${runId}/graph`)).status).toBe(401);
    expect((await fetch(`${dash.url}/runs/${runId}`)).status).toBe(401);
    expect((await fetch(`${dash.url}/console/run.js`)).status).toBe(401);
    expect((await api('/api/runs/bad!id/graph')).status).toBe(400);
    expect((await api('/api/runs/r-nope/graph')).status).toBe(404);
    expect((await api('/api/runs/r-nope/verdict')).status).toBe(404);
  });

  it('the cancel button: absent for a read-only key, and for a key with submit it cancels the run, shown live', async () => {
    const sub = await api<{ runId: string }>('/api/runs', {
      method: 'POST',
      body: { id: 'console-cancel', queue: 'default', items: [{ id: 'slow', executor: 'noop', inputs: { sleepMs: 120_000 } }, { id: 'next', executor: 'noop', inputs: {}, depends_on: ['slow'] }] },
    });
    const id = sub.body.runId;
    const viewer = await signedIn(VIEW_KEY);
    await viewer.page.goto(`${dash.url}/runs/${id}`);
    await expect.poll(() => viewer.page.locator('svg#graph [data-item-id="slow"]').getAttribute('data-state'), { timeout: 20_000 }).toBe('running');
    expect(await viewer.page.locator('body').getAttribute('data-scopes')).toBe('read');
    expect(await viewer.page.locator('#cancel').isHidden()).toBe(true);
    await viewer.context.close();

    const { context, page } = await signedIn();
    await page.goto(`${dash.url}/runs/${id}`);
    const cancel = page.locator('#cancel');
    await expect.poll(() => cancel.isVisible(), { timeout: 20_000 }).toBe(true);
    page.once('dialog', (d) => void d.accept());
    await cancel.click();
    await expect.poll(() => page.locator('#run-state').textContent(), { timeout: 20_000 }).toBe('cancelled');
    expect(await states(page)).toEqual({ cancelled: 2 });
    expect(await cancel.isHidden()).toBe(true);
    await page.screenshot({ path: path.join(SHOTS, 'run-cancelled.png'), fullPage: true });
    await context.close();
  });

  it('a run past the item-by-item limit is drawn grouped by dependency depth, still one cell per item, live', async () => {
    const items: Array<Record<string, unknown>> = [];
    for (let c = 0; c < 60; c++) for (let i = 0; i < 10; i++) items.push({ id: `c${c}-${i}`, executor: 'noop', inputs: {}, depends_on: i > 0 ? [`c${c}-${i - 1}`] : [] });
    const sub = await api<{ runId: string }>('/api/runs', { method: 'POST', body: { id: 'console-600', queue: 'default', items } });
    const { context, page } = await signedIn();
    await page.goto(`${dash.url}/runs/${sub.body.runId}`);
    await expect.poll(() => page.locator('svg#graph [data-item-id]').count(), { timeout: 20_000 }).toBe(600);
    expect(await page.locator('body').getAttribute('data-view')).toBe('groups');
    expect(await page.locator('svg#graph g.group').count()).toBeGreaterThan(1);
    await expect.poll(() => states(page), { timeout: 60_000 }).toEqual({ done: 600 });
    await page.locator('svg#graph [data-item-id="c3-4"]').click();
    await expect.poll(() => page.locator('#panel-title').getAttribute('data-item-id'), { timeout: 10_000 }).toBe('c3-4');
    expect(await page.locator('#panel .deps').textContent()).toContain('c3-3');
    await page.screenshot({ path: path.join(SHOTS, 'run-grouped.png'), fullPage: true });
    await context.close();
  });

  it('a 10,000-item run: every item one live cell in its depth group, opened by a click', async () => {
    // 100 chains of 100 items, each item sleeping: the run is drawn while it goes, then cancelled.
    const items: Array<Record<string, unknown>> = [];
    for (let c = 0; c < 100; c++) for (let i = 0; i < 100; i++) items.push({ id: `k${c}-${i}`, executor: 'noop', inputs: { sleepMs: 60_000 }, depends_on: i > 0 ? [`k${c}-${i - 1}`] : [] });
    const sub = await api<{ runId: string }>('/api/runs', { method: 'POST', body: { id: 'console-10k', queue: 'default', items } });
    expect(sub.status).toBe(202);
    const id = sub.body.runId;
    try {
      await expect.poll(async () => (await api<{ registered?: number }>(`/api/runs/${id}/graph`)).body.registered, { timeout: 90_000, interval: 500 }).toBe(10_000);
      const { context, page } = await signedIn();
      await page.goto(`${dash.url}/runs/${id}`);
      await expect.poll(() => page.locator('svg#graph [data-item-id]').count(), { timeout: 30_000 }).toBe(10_000);
      expect(await page.locator('body').getAttribute('data-view')).toBe('groups');
      const groups = await page.locator('svg#graph g.group').count();
      expect(groups).toBeGreaterThan(1);
      expect(groups).toBeLessThanOrEqual(60);
      await expect.poll(() => page.locator('svg#graph [data-item-id="k0-0"]').getAttribute('data-state'), { timeout: 30_000 }).toBe('running');
      await page.locator('svg#graph [data-item-id="k42-7"]').click();
      await expect.poll(() => page.locator('#panel-title').getAttribute('data-item-id'), { timeout: 20_000 }).toBe('k42-7');
      await page.screenshot({ path: path.join(SHOTS, 'run-10k.png') });
      await context.close();
    } finally {
      await api(`/api/runs/${id}/cancel`, { method: 'POST', body: {} });
    }
  }, 180_000);

  it('a page that read the graph while the run was still registering its items draws them once they are', async () => {
    const sub = await api<{ runId: string }>('/api/runs', {
      method: 'POST',
      body: { id: 'registering', queue: 'default', items: [{ id: 'first', executor: 'noop', inputs: { sleepMs: 1500 } }, { id: 'second', executor: 'noop', depends_on: ['first'] }] },
    });
    await expect.poll(async () => (await api(`/api/runs/${sub.body.runId}/graph`)).status, { timeout: 20_000 }).toBe(200);
    const { context, page } = await signedIn();
    // The first graph answer as a page opened mid-registration gets it: no item registered yet.
    let served = 0;
    await page.route(`**/api/runs/${sub.body.runId}/graph`, async (route) => {
      const res = await route.fetch();
      const g = (await res.json()) as Record<string, unknown>;
      served++;
      if (served > 1) return route.fulfill({ response: res, json: g });
      return route.fulfill({ response: res, json: { ...g, registered: 0, nodes: [], edges: [], groups: [] } });
    });
    await page.goto(`${dash.url}/runs/${sub.body.runId}`);
    await expect.poll(() => page.locator('svg#graph [data-item-id="second"]').getAttribute('data-state'), { timeout: 30_000 }).toBe('done');
    expect(await page.locator('svg#graph [data-item-id="first"]').getAttribute('data-state')).toBe('done');
    expect(served).toBeGreaterThan(1);
    await context.close();
  });

  it('a rejected run says why: its problems in the graph answer and on the page', async () => {
    // The test client has no task check: the unknown task is refused by the scheduler's acceptance.
    const rejected = await cluster.client.submit({ id: 'ghostly', queue: 'default', items: [{ id: 'a', executor: 'dispatch', inputs: { task: 'ghost' } }] });
    expect((await cluster.client.wait(rejected)).state).toBe('rejected');
    const g = await api<{ state: string; problems?: string[] }>(`/api/runs/${rejected}/graph`, { key: VIEW_KEY });
    expect(g.body.state).toBe('rejected');
    expect(g.body.problems?.join('\n')).toContain('ghost');
    const { context, page } = await signedIn(VIEW_KEY);
    await page.goto(`${dash.url}/runs/${rejected}`);
    await expect.poll(() => page.locator('#run-state').textContent(), { timeout: 20_000 }).toBe('rejected');
    await expect.poll(() => page.locator('#run-problems li').allTextContents(), { timeout: 10_000 }).toEqual(g.body.problems);
    await page.screenshot({ path: path.join(SHOTS, 'run-rejected.png') });
    await context.close();
  });

  it('an unknown run id says so instead of waiting for it to be accepted', async () => {
    // A key with submit: still no cancel button for a run that does not exist.
    const { context, page } = await signedIn();
    await page.goto(`${dash.url}/runs/rnosuchrun0000`);
    await expect.poll(() => page.locator('#notice').textContent(), { timeout: 10_000 }).toContain('no such run');
    expect(await page.locator('#run-state').textContent()).toBe('unknown');
    expect(await page.locator('#cancel').isHidden()).toBe(true);
    await context.close();
  });

  it('item ids and errors reach the page as text, never as markup', async () => {
    const sub = await api<{ runId: string }>('/api/runs', {
      method: 'POST',
      body: { id: '<img src=x onerror=alert(1)>', queue: 'default', items: [{ id: 'x', executor: 'noop', inputs: { fail: '<b id="injected">bold</b>' } }] },
    });
    const { context, page } = await signedIn();
    await page.goto(`${dash.url}/runs/${sub.body.runId}`);
    await expect.poll(() => page.locator('#run-state').textContent(), { timeout: 20_000 }).toBe('failed');
    expect(await page.locator('#run-plan').textContent()).toBe('<img src=x onerror=alert(1)>');
    await page.locator('svg#graph [data-item-id="x"]').click();
    await expect.poll(() => page.locator('#panel [data-field="error"]').textContent(), { timeout: 10_000 }).toContain('<b id="injected">');
    expect(await page.locator('#injected').count()).toBe(0);
    expect(await page.locator('img').count()).toBe(0);
    await page.goto(`${dash.url}/runs`);
    await expect.poll(() => page.locator(`tr[data-run-id="${sub.body.runId}"] td.plan`).textContent(), { timeout: 10_000 }).toBe('<img src=x onerror=alert(1)>');
    expect(await page.locator('img').count()).toBe(0);
    await context.close();
  });
});
