import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { startCluster, silent, type TestCluster } from '../../../test/support/cluster.js';
import { launchBrowser } from '../../../test/support/browser.js';

let cluster: TestCluster;
let dashboard: Dashboard;
let browser: Browser;

beforeAll(async () => {
  cluster = await startCluster({ config: { queues: { default: { concurrency: 2 }, reports: { concurrency: 1 } } }, runners: 1 });
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

  it('answers /healthz', async () => {
    const res = await fetch(`${dashboard.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });
});
