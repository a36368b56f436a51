import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { Queue } from 'bullmq';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { holdExecutor, startCluster, silent, type TestCluster } from '../../../test/support/cluster.js';
import { launchBrowser } from '../../../test/support/browser.js';

let cluster: TestCluster;
let dashboard: Dashboard;
let browser: Browser;
const hold = holdExecutor();

beforeAll(async () => {
  cluster = await startCluster({ config: { queues: { default: { concurrency: 2 }, reports: { concurrency: 1 } } }, runners: 1, executors: [hold.executor] });
  dashboard = await createDashboard({ config: cluster.config, port: 0, logger: silent });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await dashboard?.close();
  await cluster?.close();
});

describe('dashboard', () => {
  it('listens on loopback by default', () => {
    expect(new URL(dashboard.url).hostname).toBe('127.0.0.1');
  });

  it('shows every queue the system uses in Bull Board, with a run\'s flow jobs', async () => {
    const runId = await cluster.client.submit({
      id: 'board',
      queue: 'default',
      items: [
        { id: 'left', executor: 'noop', inputs: {}, depends_on: [], resourceLocks: [] },
        { id: 'right', executor: 'noop', inputs: {}, depends_on: [], resourceLocks: [] },
        { id: 'join', executor: 'noop', inputs: {}, depends_on: ['left', 'right'], resourceLocks: [] },
        { id: 'join2', executor: 'noop', inputs: {}, depends_on: ['left'], resourceLocks: [] },
      ],
    });
    await cluster.client.wait(runId);
    const page = await browser.newPage();
    await page.goto(`${dashboard.url}/queues`);
    for (const q of ['_inbox', 'default', 'reports']) {
      await expect.poll(() => page.getByText(q, { exact: true }).count(), { timeout: 10_000 }).toBeGreaterThan(0);
    }
    await page.goto(`${dashboard.url}/queues/queue/default?status=completed`);
    await expect.poll(() => page.getByText('join', { exact: true }).count(), { timeout: 10_000 }).toBeGreaterThan(0);
    await page.close();
  });

  it('an item that fails is a failed job in Bull Board (not a green completed one), with its error', async () => {
    const runId = await cluster.client.submit({
      id: 'board-fail',
      queue: 'default',
      items: [{ id: 'breaks', executor: 'noop', inputs: { fail: 'boom on purpose' }, depends_on: [], resourceLocks: [] }],
    });
    expect((await cluster.client.wait(runId)).state).toBe('failed');
    const page = await browser.newPage();
    await page.goto(`${dashboard.url}/queues/queue/default?status=failed`);
    await expect.poll(() => page.getByText('breaks', { exact: true }).count(), { timeout: 10_000 }).toBeGreaterThan(0);
    await expect.poll(() => page.getByText(/boom on purpose/).count(), { timeout: 10_000 }).toBeGreaterThan(0);
    await page.goto(`${dashboard.url}/queues/queue/default?status=completed`);
    await expect.poll(() => page.getByText('join', { exact: true }).count(), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(await page.getByText('breaks', { exact: true }).count()).toBe(0);
    await page.close();
  });

  it('an item parked on its dependencies is shown waiting for them, not as a delayed job that "will run in 10 minutes"', async () => {
    // c's dependency on a is a wake edge (a is b's flow-tree child): c's job is parked.
    const runId = await cluster.client.submit({
      id: 'board-parked',
      queue: 'default',
      items: [
        { id: 'a', executor: 'hold', inputs: {}, depends_on: [], resourceLocks: [] },
        { id: 'b', executor: 'noop', inputs: {}, depends_on: ['a'], resourceLocks: [] },
        { id: 'c', executor: 'noop', inputs: {}, depends_on: ['a'], resourceLocks: [] },
      ],
    });
    await expect
      .poll(async () => {
        const s = await cluster.client.status(runId);
        return 'items' in s ? s.items.find((i) => i.id === 'a')?.state : s.state;
      }, { timeout: 10_000 })
      .toBe('running');
    const page = await browser.newPage();
    try {
    await page.goto(`${dashboard.url}/queues/queue/default?status=waiting-children`);
    await expect.poll(() => page.getByText('c', { exact: true }).count(), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(await page.getByText(/will run/i).count()).toBe(0);
    // Bull Board's own API, as its page reads it: nothing of this run is delayed.
    const board = (await (await fetch(`${dashboard.url}/queues/api/queues?activeQueue=default&status=delayed&page=1`)).json()) as {
      queues: Array<{ name: string; counts: Record<string, number>; jobs: Array<{ name: string }> }>;
    };
    const q = board.queues.find((x) => x.name === 'default')!;
    expect(q.counts['waiting-children']).toBeGreaterThanOrEqual(2); // b (held by its tree child a) and c
    expect(q.counts['delayed']).toBe(0);
    expect(q.jobs.map((j) => j.name)).not.toContain('c');
    } finally {
      hold.open();
    }
    expect((await cluster.client.wait(runId)).state).toBe('succeeded');
    await page.goto(`${dashboard.url}/queues/queue/default?status=completed`);
    await expect.poll(() => page.getByText('c', { exact: true }).count(), { timeout: 10_000 }).toBeGreaterThan(0);
    await page.close();
  });

  it('an admin pauses and resumes a queue from Bull Board\'s page: its PUTs, sent without a body or content type, work', async () => {
    const ADMIN = 'bull-board-admin-key-0123456789';
    const admin = await createDashboard({ config: cluster.config, port: 0, logger: silent, adminKey: ADMIN });
    const queue = new Queue('reports', { connection: { url: cluster.config.redisUrl }, prefix: `{${cluster.config.namespace}}` });
    const context = await browser.newContext({ httpCredentials: { username: 'ops', password: ADMIN } });
    const page = await context.newPage();
    // What the page's own PUTs carried, as the browser sent them.
    const puts: Array<{ url: string; type: string | undefined; body: string | null; status: number }> = [];
    page.on('requestfinished', (req) => {
      if (req.method() !== 'PUT') return;
      void req.response().then((res) => puts.push({ url: req.url(), type: req.headers()['content-type'], body: req.postData(), status: res?.status() ?? 0 }));
    });
    try {
      for (const action of ['Pause', 'Resume'] as const) {
        await page.goto(`${admin.url}/queues/queue/reports`);
        // The queue's actions: the ⋮ menu at the end of its status tabs.
        await page.locator('button[aria-haspopup="menu"]').click();
        await page.getByRole('menuitem', { name: action }).click();
        // Each asks first ("Are you sure?").
        await page.getByRole('button', { name: 'Confirm', exact: true }).click();
        await expect.poll(() => queue.isPaused(), { timeout: 10_000 }).toBe(action === 'Pause');
      }
      await expect.poll(() => puts.length, { timeout: 5_000 }).toBe(2);
      expect(puts.map((p) => [new URL(p.url).pathname, p.type, p.body, p.status])).toEqual([
        ['/queues/api/queues/reports/pause', undefined, null, 200],
        ['/queues/api/queues/reports/resume', undefined, null, 200],
      ]);
    } finally {
      await context.close();
      await queue.resume();
      await queue.close();
      await admin.close();
    }
  });

  it('answers /healthz', async () => {
    const res = await fetch(`${dashboard.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });
});
