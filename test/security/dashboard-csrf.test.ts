import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { compileConfig } from '@agora/core';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { startCluster, silent, type TestCluster } from '../support/cluster.js';
import { launchBrowser } from '../support/browser.js';

/**
 * Item 6 of the trust-boundary issue: a page on another origin must not be able to drive the
 * dashboard (cancel a run), with or without the browser holding cached basic-auth credentials;
 * the Host header is checked on loopback (DNS rebinding); Bull Board cannot be framed; keys of
 * whitespace are refused.
 */

const KEY = 'csrf-test-key-0123456789abcdef';
let cluster: TestCluster;
let browser: Browser;
let open: Dashboard;
let keyed: Dashboard;
let attacker: http.Server;
let attackerPort: number;

/** The attacker's site: `/form?action=<url>&enctype=<type>` auto-submits a form; `/blank` is empty. */
function attackerPage(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://attacker');
  res.setHeader('content-type', 'text/html; charset=utf-8');
  if (url.pathname === '/form') {
    const action = url.searchParams.get('action') ?? '';
    const enctype = url.searchParams.get('enctype') ?? 'application/x-www-form-urlencoded';
    res.end(
      `<!doctype html><form method="POST" action="${action}" enctype="${enctype}"><input name="{&quot;a&quot;:1,&quot;b&quot;:&quot;" value="&quot;}"></form>` +
        '<script>document.forms[0].submit()</script>',
    );
    return;
  }
  res.end('<!doctype html><title>attacker</title>');
}

beforeAll(async () => {
  cluster = await startCluster({ runners: 1 });
  open = await createDashboard({ config: cluster.config, port: 0, logger: silent });
  keyed = await createDashboard({ config: cluster.config, port: 0, logger: silent, apiKey: KEY });
  attacker = http.createServer(attackerPage);
  await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', () => r()));
  attackerPort = (attacker.address() as AddressInfo).port;
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await new Promise<void>((r) => (attacker ? attacker.close(() => r()) : r()));
  await open?.close();
  await keyed?.close();
  await cluster?.close();
});

/** A run that stays `running` for a minute, so a cancel would show. */
async function longRun(): Promise<string> {
  const runId = await cluster.client.submit({
    id: 'victim',
    queue: 'default',
    items: [{ id: 'slow', executor: 'noop', inputs: { sleepMs: 60_000 }, depends_on: [], resourceLocks: [] }],
  });
  await expect.poll(async () => (await cluster.client.status(runId)).state, { timeout: 10_000 }).toBe('running');
  return runId;
}

/**
 * Every way a page on `origin` can send a POST to the cancel route without a CORS preflight:
 * forms (urlencoded, text/plain, multipart) and `fetch` in no-cors mode with credentials.
 */
async function attack(page: Page, origin: string, cancelUrl: string): Promise<void> {
  await page.goto(`${origin}/blank`);
  await page.evaluate(async (u) => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', '']) {
      await fetch(u, { method: 'POST', mode: 'no-cors', credentials: 'include', body: '{"x":1}', ...(type ? { headers: { 'content-type': type } } : {}) }).catch(() => undefined);
    }
    await fetch(u, { method: 'POST', mode: 'no-cors', credentials: 'include' }).catch(() => undefined);
  }, cancelUrl);
  for (const enctype of ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data']) {
    const answered = page.waitForResponse((r) => r.url() === cancelUrl, { timeout: 10_000 });
    await page.goto(`${origin}/form?action=${encodeURIComponent(cancelUrl)}&enctype=${encodeURIComponent(enctype)}`);
    await answered;
  }
}

/** The other origins an attacker can have: same site on another port, and another site. */
function attackerOrigins(): string[] {
  return [`http://127.0.0.1:${attackerPort}`, `http://localhost:${attackerPort}`];
}

async function cancelRun(runId: string): Promise<void> {
  await cluster.client.cancel(runId);
  await cluster.client.wait(runId);
}

describe('a page on another origin cannot drive the dashboard', () => {
  it('cannot cancel a run on an unkeyed loopback dashboard', async () => {
    const runId = await longRun();
    const context = await browser.newContext();
    const page = await context.newPage();
    for (const origin of attackerOrigins()) await attack(page, origin, `${open.url}/api/runs/${runId}/cancel`);
    expect((await cluster.client.status(runId)).state).toBe('running');
    await context.close();
    await cancelRun(runId);
  });

  it('cannot cancel a run on a keyed dashboard whose login the browser has cached', async () => {
    const runId = await longRun();
    const context: BrowserContext = await browser.newContext();
    const page = await context.newPage();
    const dash = new URL(keyed.url);
    // Logging in through the URL makes Chromium cache the basic-auth credentials for the origin.
    const login = await page.goto(`http://ops:${KEY}@${dash.host}/queues`);
    expect(login?.status()).toBe(200);
    for (const origin of attackerOrigins()) await attack(page, origin, `${keyed.url}/api/runs/${runId}/cancel`);
    expect((await cluster.client.status(runId)).state).toBe('running');

    // The control: the dashboard's own page, with the cached login and a JSON body, can cancel.
    await page.goto(`${keyed.url}/queues`);
    const status = await page.evaluate(async (u) => (await fetch(u, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, `${keyed.url}/api/runs/${runId}/cancel`);
    expect(status).toBe(200);
    expect((await cluster.client.wait(runId)).state).toBe('cancelled');
    await context.close();
  });

  it('refuses a cross-origin POST by Origin or Sec-Fetch-Site, and a non-JSON POST body with 415', async () => {
    const runId = await longRun();
    const cancel = `${open.url}/api/runs/${runId}/cancel`;
    const json = { 'content-type': 'application/json' };
    for (const headers of [
      { ...json, origin: 'http://evil.example' },
      { ...json, origin: 'null' },
      { ...json, origin: `http://127.0.0.1:${attackerPort}` },
      { ...json, 'sec-fetch-site': 'cross-site' },
      { ...json, 'sec-fetch-site': 'same-site' },
    ]) {
      const res = await fetch(cancel, { method: 'POST', headers, body: '{}' });
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(await res.json()).toMatchObject({ error: 'forbidden' });
    }
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await fetch(cancel, { method: 'POST', headers: { 'content-type': type }, body: '{}' });
      expect(res.status, type).toBe(415);
      expect(await res.json()).toMatchObject({ error: 'unsupported_media_type' });
    }
    expect((await cluster.client.status(runId)).state).toBe('running');
    const own = await fetch(cancel, { method: 'POST', headers: { ...json, origin: open.url, 'sec-fetch-site': 'same-origin' }, body: '{}' });
    expect(own.status).toBe(200);
    expect((await cluster.client.wait(runId)).state).toBe('cancelled');
  });
});

/** A raw request with a chosen Host header (fetch does not let one set it). */
function requestWithHost(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the Host header on a loopback dashboard', () => {
  it('refuses a foreign Host (DNS rebinding) and accepts the loopback names with the port', async () => {
    const port = new URL(open.url).port;
    for (const path of ['/api/runs/rnope', '/queues', '/healthz']) {
      const evil = await requestWithHost(`${open.url}${path}`, 'evil.example');
      expect(evil.status, path).toBe(421);
      expect(JSON.parse(evil.body)).toMatchObject({ error: 'misdirected' });
      expect((await requestWithHost(`${open.url}${path}`, `evil.example:${port}`)).status, path).toBe(421);
    }
    expect((await requestWithHost(`${open.url}/api/runs/rnope`, `127.0.0.1:${Number(port) + 1}`)).status).toBe(421);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
      expect((await requestWithHost(`${open.url}/api/runs/rnope`, host)).status, host).toBe(404);
    }
  });

  it('accepts the names in dashboard.allowedHosts', async () => {
    const config = { ...cluster.config, dashboard: { ...cluster.config.dashboard, allowedHosts: ['agora.internal'] } };
    const d = await createDashboard({ config, port: 0, logger: silent });
    try {
      const port = new URL(d.url).port;
      expect((await requestWithHost(`${d.url}/api/runs/rnope`, `agora.internal:${port}`)).status).toBe(404);
      expect((await requestWithHost(`${d.url}/api/runs/rnope`, 'agora.internal')).status).toBe(404);
      expect((await requestWithHost(`${d.url}/api/runs/rnope`, 'evil.example')).status).toBe(421);
    } finally {
      await d.close();
    }
  });
});

describe('security headers', () => {
  it('forbids framing Bull Board and the API', async () => {
    for (const path of ['/queues', '/api/runs/rnope']) {
      const res = await fetch(`${open.url}${path}`);
      expect(res.headers.get('x-frame-options'), path).toBe('DENY');
      expect(res.headers.get('content-security-policy'), path).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
    }
  });

  it('Bull Board still renders in Chromium under the CSP, and a framing page gets nothing', async () => {
    const page = await browser.newPage();
    const refused: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) refused.push(m.text());
    });
    await page.goto(`${open.url}/queues`);
    for (const q of ['_inbox', 'default']) {
      await expect.poll(() => page.getByText(q, { exact: true }).count(), { timeout: 10_000 }).toBeGreaterThan(0);
    }
    expect(refused).toEqual([]);

    await page.goto(`http://localhost:${attackerPort}/blank`);
    // Runs in the page; the test project has no DOM lib, so the page's document is typed here.
    type PageDocument = { createElement(t: 'iframe'): { src: string }; body: { appendChild(n: unknown): void; innerText?: string } };
    await page.evaluate((u) => {
      const doc = (globalThis as unknown as { document: PageDocument }).document;
      const f = doc.createElement('iframe');
      f.src = u;
      doc.body.appendChild(f);
    }, `${open.url}/queues`);
    await page.waitForTimeout(1500);
    const frame = page.frames().find((f) => f !== page.mainFrame());
    const framedText = frame
      ? await frame.evaluate(() => (globalThis as unknown as { document: { body?: { innerText?: string } } }).document.body?.innerText ?? '').catch(() => '')
      : '';
    expect(framedText).not.toContain('_inbox');
    await page.close();
  });
});

describe('API keys', () => {
  it('refuses at startup a key of whitespace, a key holding whitespace, or one shorter than 16', async () => {
    for (const apiKey of [' '.repeat(16), '\t'.repeat(20), 'abcdefgh ijklmnopq', 'short-key-123']) {
      await expect(createDashboard({ config: cluster.config, port: 0, logger: silent, apiKey }), JSON.stringify(apiKey)).rejects.toThrow(
        'API key must be 16 or more characters with no whitespace',
      );
    }
    expect(() => compileConfig({ dashboard: { apiKey: ' '.repeat(16) } }, 'test', '/tmp')).toThrow(/dashboard\.apiKey/);
    expect(() => compileConfig({ dashboard: { adminKey: ' '.repeat(16) } }, 'test', '/tmp')).toThrow(/dashboard\.adminKey/);
  });
});
