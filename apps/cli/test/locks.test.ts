import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgoraEvent } from '@agora/core';
import { AgoraClient } from '@agora/sdk';
import { cliEnv } from '../../../test/support/cli.js';

/** Resource locks through real runner processes: exclusion, parallelism, fairness, no deadlock. */
const env = cliEnv({ queues: { default: { concurrency: 16 }, single: { concurrency: 4 } }, runner: { lockTtlMs: 3000 } });
let client: AgoraClient;

beforeAll(async () => {
  await env.start(['serve'], /scheduler serving/);
  // AGORA_CPUS lifts the seed-002 cap so each runner really runs 4 items at once on this 2-core box.
  Object.assign(env.env, { AGORA_CPUS: '8' });
  await env.start(['runner', '--concurrency', '4'], /runner started/);
  await env.start(['runner', '--concurrency', '4'], /runner started/);
  client = new AgoraClient({ redisUrl: String(env.env['REDIS_URL']), namespace: env.namespace });
});
afterAll(async () => {
  await client?.close();
  await env.close();
});

const item = (id: string, locks: string[], inputs: Record<string, unknown> = {}, deps: string[] = []) => ({
  id,
  executor: 'noop',
  inputs,
  depends_on: deps,
  resourceLocks: locks,
});

function intervals(events: readonly AgoraEvent[]): Array<{ id: string; start: number; end: number; seqStart: number; seqEnd: number }> {
  const start = new Map<string, AgoraEvent>();
  const out: Array<{ id: string; start: number; end: number; seqStart: number; seqEnd: number }> = [];
  for (const e of events) {
    if (e.type !== 'item' || !e.itemId) continue;
    if (e.state === 'running') start.set(e.itemId, e);
    if (e.state === 'done') {
      const s = start.get(e.itemId)!;
      out.push({ id: e.itemId, start: Date.parse(s.at), end: Date.parse(e.at), seqStart: s.seq, seqEnd: e.seq });
    }
  }
  return out.sort((a, b) => a.seqStart - b.seqStart);
}

async function runningOf(runId: string, itemId: string): Promise<void> {
  for await (const e of client.watch(runId)) if (e.itemId === itemId && e.state === 'running') return;
}

async function run(plan: { id: string; queue: string; items: ReturnType<typeof item>[] }) {
  const runId = await client.submit(plan);
  const status = await client.wait(runId);
  return { runId, status, events: await client.events(runId) };
}

describe('resource locks across two runner processes', () => {
  it('50 items on one lock never overlap, and their fencing tokens increase in execution order', async () => {
    const { status, events } = await run({ id: 'one-lock', queue: 'default', items: Array.from({ length: 50 }, (_, i) => item(`x${i}`, ['hot/file'], { sleepMs: 5 })) });
    expect(status.state).toBe('succeeded');
    const iv = intervals(events);
    expect(iv).toHaveLength(50);
    // In the stream, every item's done comes before the next one's running: no overlap.
    for (let i = 1; i < iv.length; i++) expect(iv[i]!.seqStart, `${iv[i]!.id} overlaps ${iv[i - 1]!.id}`).toBeGreaterThan(iv[i - 1]!.seqEnd);
    const tokens = events.filter((e) => e.type === 'lock' && e['action'] === 'acquired').map((e) => Number(e['token']));
    expect(tokens).toHaveLength(50);
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1]!);
    const runners = new Set(events.filter((e) => e.type === 'item' && e.state === 'running').map((e) => e['runner']));
    expect(runners.size).toBe(2);
  });

  it('items with disjoint locks run in parallel', async () => {
    const { status, events } = await run({ id: 'disjoint', queue: 'default', items: Array.from({ length: 4 }, (_, i) => item(`d${i}`, [`file/${i}`], { sleepMs: 600 })) });
    expect(status.state).toBe('succeeded');
    const iv = intervals(events);
    // All four were running at the same moment.
    const latestStart = Math.max(...iv.map((x) => x.start));
    const earliestEnd = Math.min(...iv.map((x) => x.end));
    expect(latestStart).toBeLessThan(earliestEnd);
  });

  it('[x, y] against [y, x], many times: no deadlock, all finish', async () => {
    const items = Array.from({ length: 40 }, (_, i) => item(`p${i}`, i % 2 === 0 ? ['x', 'y'] : ['y', 'x'], { sleepMs: 2 }));
    const { status } = await run({ id: 'xy', queue: 'default', items });
    expect(status.state).toBe('succeeded');
  });

  it('a waiting item does not take a worker slot: an unrelated ready item runs meanwhile', async () => {
    // Queue "single" runs 4 at once. The holder takes the lock first; then a waiter for the same
    // lock and six unrelated items arrive: they run while the waiter waits.
    const holderRun = await client.submit({ id: 'holder', queue: 'single', items: [item('holder', ['busy'], { sleepMs: 1500 })] });
    await runningOf(holderRun, 'holder');
    const { status, events } = await run({
      id: 'slots',
      queue: 'single',
      items: [item('waiter', ['busy']), ...Array.from({ length: 6 }, (_, i) => item(`free${i}`, [], { sleepMs: 100 }))],
    });
    expect(status.state).toBe('succeeded');
    const holderEnd = Date.parse((await client.events(holderRun)).find((e) => e.itemId === 'holder' && e.state === 'done')!.at);
    const iv = new Map(intervals(events).map((x) => [x.id, x]));
    expect(events.find((e) => e.type === 'lock' && e['action'] === 'waiting' && e.itemId === 'waiter')).toBeDefined();
    for (let i = 0; i < 6; i++) expect(iv.get(`free${i}`)!.end).toBeLessThan(holderEnd);
    expect(iv.get('waiter')!.start).toBeGreaterThanOrEqual(holderEnd);
  });

  it('a hot lock serves an early waiter before items that arrived after it', async () => {
    // The first run holds the lock; the early waiter arrives next; then a stream of newcomers.
    const holder = await client.submit({ id: 'h', queue: 'default', items: [item('holder', ['fair'], { sleepMs: 800 })] });
    await runningOf(holder, 'holder');
    const early = await client.submit({ id: 'e', queue: 'default', items: [item('early', ['fair'])] });
    await new Promise((r) => setTimeout(r, 200));
    const late: string[] = [];
    for (let i = 0; i < 8; i++) {
      late.push(await client.submit({ id: `l${i}`, queue: 'default', items: [item(`late${i}`, ['fair'])] }));
      await new Promise((r) => setTimeout(r, 20));
    }
    await client.wait(holder);
    const earlyStart = Date.parse((await client.events(early)).find((e) => e.state === 'running')!.at);
    await client.wait(early);
    for (const r of late) {
      await client.wait(r);
      const start = Date.parse((await client.events(r)).find((e) => e.state === 'running')!.at);
      expect(start).toBeGreaterThanOrEqual(earlyStart);
    }
  });
});

describe('agora locks', () => {
  it('shows the holder with its token and lease, and waiters in order', async () => {
    // The holder keeps the lock well past both listings: with 4 s, a slow machine (CI) could reach
    // the text listing after it and its two waiters (no-ops) had all finished.
    const holderRun = await client.submit({ id: 'show-h', queue: 'default', items: [item('h', ['shown'], { sleepMs: 12_000 })] });
    await runningOf(holderRun, 'h');
    const runId = await client.submit({ id: 'show', queue: 'default', items: [item('w1', ['shown']), item('w2', ['shown'])] });
    let info: { locks: Array<{ name: string; holder: { itemId: string; token: number } | null; remainingMs: number; waiters: Array<{ itemId: string; position: number }> }> } = { locks: [] };
    for (let i = 0; i < 50; i++) {
      info = JSON.parse(env.agora(['locks', '--json']).stdout) as typeof info;
      const l = info.locks.find((x) => x.name === 'shown');
      if (l?.holder && l.waiters.length === 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const l = info.locks.find((x) => x.name === 'shown')!;
    expect(l.holder).toMatchObject({ token: expect.any(Number) });
    expect(l.remainingMs).toBeGreaterThan(0);
    expect(l.waiters.map((w) => w.position)).toEqual([1, 2]);
    const text = env.agora(['locks']).stdout;
    expect(text).toMatch(/^shown: held by r[0-9a-z]+\/\w+ token \d+ since .*, lease \d+ ms left$/m);
    await client.wait(runId);
  });

  it('does not list a waiter whose run was cancelled (the next waiter moves up)', async () => {
    const holderRun = await client.submit({ id: 'gone-h', queue: 'default', items: [item('a', ['gone'], { sleepMs: 7000 })] });
    await runningOf(holderRun, 'a');
    type Listing = { locks: Array<{ name: string; waiters: Array<{ runId: string; itemId: string; position: number }> }> };
    const waitersOf = (): Array<{ runId: string; itemId: string; position: number }> =>
      (JSON.parse(env.agora(['locks', '--json']).stdout) as Listing).locks.find((x) => x.name === 'gone')?.waiters ?? [];
    const until = async (what: string, ok: (w: ReturnType<typeof waitersOf>) => boolean): Promise<ReturnType<typeof waitersOf>> => {
      for (let i = 0; i < 50; i++) {
        const w = waitersOf();
        if (ok(w)) return w;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${what}: ${JSON.stringify(waitersOf())}`);
    };
    const b = await client.submit({ id: 'gone-b', queue: 'default', items: [item('b', ['gone'])] });
    await until('b waiting', (w) => w.length === 1);
    const c = await client.submit({ id: 'gone-c', queue: 'default', items: [item('c', ['gone'])] });
    expect((await until('b and c waiting', (w) => w.length === 2)).map((w) => w.itemId)).toEqual(['b', 'c']);
    await client.cancel(b);
    expect((await client.wait(b)).state).toBe('cancelled');
    // Listed at once, while the holder still has seconds to go (b's job is still parked).
    expect(waitersOf()).toEqual([expect.objectContaining({ runId: c, itemId: 'c', position: 1 })]);
    expect(env.agora(['locks']).stdout).not.toContain(`${b}/b`);
    expect((await client.wait(c)).state).toBe('succeeded');
  });
});
