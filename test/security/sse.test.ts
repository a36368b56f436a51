import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { createRedis } from '@agora/state';
import type { Redis } from 'ioredis';
import { startCluster, silent, type TestCluster } from '../support/cluster.js';

/**
 * Item 13 (SSE part) of the trust-boundary issue: SSE clients share one Redis reader per
 * dashboard process instead of one connection each, and a malformed `Last-Event-ID` is a 400.
 */

let cluster: TestCluster;
let dash: Dashboard;
let admin: Redis;

beforeAll(async () => {
  cluster = await startCluster({ runners: 1 });
  dash = await createDashboard({ config: cluster.config, port: 0, logger: silent });
  admin = createRedis(cluster.config.redisUrl) as Redis; // the default suite runs on one Redis
});
afterAll(async () => {
  await dash?.close();
  await admin?.quit();
  await cluster?.close();
});

/**
 * Redis `CLIENT LIST` entries whose address is a socket of this process. Other test files share
 * the Redis from other processes; counting only ours keeps their connections out of the sum.
 */
async function ourRedisClients(): Promise<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // The fd closed while we listed the directory.
    }
  }
  const localPorts = new Set<number>();
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && inodes.has(cols[9]!)) localPorts.add(parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  const list = (await admin.client('LIST')) as string;
  return list
    .split('\n')
    .map((l) => /(?:^| )addr=\S*:(\d+) /.exec(l)?.[1])
    .filter((p): p is string => p !== undefined && localPorts.has(Number(p))).length;
}

interface SseClient {
  readonly events: Array<{ seq: number; type: string; state?: string }>;
  readonly firstEvent: Promise<void>;
  readonly done: Promise<void>;
  abort(): void;
}

function openSse(url: string, headers: Record<string, string> = {}): SseClient {
  const ac = new AbortController();
  const events: SseClient['events'] = [];
  let first!: () => void;
  const firstEvent = new Promise<void>((r) => (first = r));
  const done = (async () => {
    const res = await fetch(url, { headers, signal: ac.signal });
    expect(res.status).toBe(200);
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block.split('\n').find((l) => l.startsWith('data: '));
        if (data && block.includes('\nevent: ') && !block.startsWith('event: error')) {
          events.push(JSON.parse(data.slice(6)) as SseClient['events'][number]);
          first();
        }
      }
    }
  })().catch((err: unknown) => {
    if (!ac.signal.aborted) throw err;
  });
  return { events, firstEvent, done, abort: () => ac.abort() };
}

describe('SSE', () => {
  it('serves 50 clients of one run over a constant number of Redis connections, each getting every event in order', async () => {
    const before = await ourRedisClients();
    const runId = await cluster.client.submit({
      id: 'sse',
      queue: 'default',
      items: [
        { id: 'a', executor: 'noop', inputs: { sleepMs: 2500 }, depends_on: [], resourceLocks: [] },
        { id: 'b', executor: 'noop', inputs: {}, depends_on: ['a'], resourceLocks: [] },
      ],
    });
    const url = `${dash.url}/api/runs/${runId}/events`;
    const clients = Array.from({ length: 50 }, (_, i) => openSse(url, i % 2 === 0 ? {} : { 'last-event-id': '0' }));
    await Promise.all(clients.map((c) => c.firstEvent));
    const during = await ourRedisClients();
    expect(during - before, `Redis connections of this process: ${before} before, ${during} with 50 SSE clients`).toBeLessThanOrEqual(3);

    await Promise.all(clients.map((c) => c.done));
    const all = await cluster.client.events(runId);
    expect(all[all.length - 1]).toMatchObject({ type: 'run', state: 'succeeded' });
    clients.forEach((c, i) => {
      const from = i % 2 === 0 ? 0 : 1;
      expect(c.events.map((e) => e.seq), `client ${i}`).toEqual(all.slice(from).map((e) => e.seq));
    });
  });

  it('answers a malformed Last-Event-ID or ?from= with 400 JSON, and resumes from a well-formed one', async () => {
    const runId = await cluster.client.submit({ id: 'bad-id', queue: 'default', items: [{ id: 'a', executor: 'noop', inputs: {}, depends_on: [], resourceLocks: [] }] });
    await cluster.client.wait(runId);
    const url = `${dash.url}/api/runs/${runId}/events`;
    for (const bad of ['abc', '-1', '-5', '1e300', '99999999999999999999', '1.5', '0x10', '+3', '3 4']) {
      const res = await fetch(url, { headers: { 'last-event-id': bad } });
      expect(res.status, `Last-Event-ID ${JSON.stringify(bad)}`).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/json');
      expect(await res.json()).toMatchObject({ error: 'bad_request' });
    }
    for (const bad of ['abc', '-1', '1e300', '']) {
      const res = await fetch(`${url}?from=${encodeURIComponent(bad)}`);
      expect(res.status, `?from=${JSON.stringify(bad)}`).toBe(400);
    }
    const ok = await fetch(url, { headers: { 'last-event-id': '1' } });
    expect(ok.status).toBe(200);
    expect((await ok.text()).startsWith('id: 2\n')).toBe(true);
    // Well-formed but at or past the end of the finished run: an empty stream that ends.
    const all = await cluster.client.events(runId);
    for (const last of [all.length - 1, all.length + 10]) {
      const res = await fetch(url, { headers: { 'last-event-id': String(last) }, signal: AbortSignal.timeout(5000) });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('');
    }
  });
});
