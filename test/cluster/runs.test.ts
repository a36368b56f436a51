import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from 'ioredis';
import type { Executor } from '@agora/runner';
import type { PlanInput } from '@agora/core';
import { createRedis, isRedisCluster } from '@agora/state';
import { startCluster, type TestCluster } from '../support/cluster.js';
import { testRedisUrl } from '../support/index.js';

/**
 * The scheduler, runners and SDK on a 3-master Redis Cluster (the suite's global setup): plans
 * run as they do on one Redis, every script and multi-key command stays in its slot (a CROSSSLOT
 * would fail the run), and the keys really are spread over the masters.
 */
function recorder() {
  const log: Array<{ runId: string; itemId: string; start: number; end: number; tokens: Readonly<Record<string, number>> }> = [];
  const executor: Executor = {
    name: 'rec',
    async execute(ctx) {
      const start = performance.now();
      const ms = Number((ctx.inputs as { ms?: number }).ms ?? 0);
      if (ms > 0) await new Promise((r) => setTimeout(r, ms));
      log.push({ runId: ctx.runId, itemId: ctx.itemId, start, end: performance.now(), tokens: ctx.lockTokens });
      return { output: JSON.stringify({ item: ctx.itemId, deps: ctx.deps }) };
    },
  };
  return { executor, log };
}

const rec = recorder();
let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster({
    config: { queues: { default: { concurrency: 4 }, wide: { concurrency: 50 } } },
    runners: 2,
    concurrency: 8,
    executors: [rec.executor],
  });
});
afterAll(async () => cluster?.close());

function item(id: string, deps: string[] = [], extra: Record<string, unknown> = {}) {
  return { id, executor: 'rec', inputs: {}, depends_on: deps, resourceLocks: [], ...extra };
}

async function runPlan(plan: PlanInput) {
  const runId = await cluster.client.submit(plan);
  const status = await cluster.client.wait(runId);
  const events = await cluster.client.events(runId);
  return { runId, status, events, execs: rec.log.filter((l) => l.runId === runId) };
}

function assertOrder(plan: PlanInput, execs: Array<{ itemId: string; start: number; end: number }>) {
  const byId = new Map(execs.map((e) => [e.itemId, e]));
  expect(execs.length).toBe(plan.items.length);
  expect(byId.size).toBe(plan.items.length); // exactly once
  for (const it of plan.items) {
    for (const d of it.depends_on ?? []) {
      expect(byId.get(d)!.end, `${it.id} started before ${d} ended`).toBeLessThanOrEqual(byId.get(it.id)!.start);
    }
  }
}

describe('plans on a Redis Cluster', () => {
  it('the suite really runs on a 3-master cluster, and a namespace (its runs, locks and queues) lives on the master of its {namespace} slot', async () => {
    expect(testRedisUrl()).toMatch(/^redis\+cluster:\/\/127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+$/);
    const plans = await Promise.all(
      Array.from({ length: 6 }, (_, i) => runPlan({ id: `spread-${i}`, queue: 'wide', items: [item('a'), item('b', ['a'], { resourceLocks: ['db/spread'] })] })),
    );
    for (const p of plans) expect(p.status.state).toBe('succeeded');
    const redis = createRedis(testRedisUrl());
    try {
      expect(isRedisCluster(redis)).toBe(true);
      const c = redis as Cluster;
      await c.ping();
      const masters = c.nodes('master');
      expect(masters).toHaveLength(3);
      const ns = cluster.config.namespace;
      const all = (await Promise.all(masters.map(async (m) => (await m.scan('0', 'MATCH', `*${ns}*`, 'COUNT', 1_000_000))[1]))).flat();
      // Outside the tag: single-key indexes only (run list, queue names, deployment, runner registry, scheduler lease).
      const untagged = all.filter((k) => !k.includes(`{${ns}}`));
      for (const k of untagged) expect([`${ns}:runs`, `${ns}:queues`, `${ns}:deployment`, `${ns}:runners`, `${ns}:{scheduler}:leader`, `${ns}:{scheduler}:epoch`]).toContain(k);
      const perMaster = await Promise.all(masters.map(async (m) => (await m.scan('0', 'MATCH', `*{${ns}}*`, 'COUNT', 1_000_000))[1]));
      const holding = perMaster.filter((found) => found.length > 0);
      expect(holding, `keys tagged {${ns}} per master: ${perMaster.map((f) => f.length).join(', ')}`).toHaveLength(1);
      const found = holding[0]!;
      // Run keys, lock keys and BullMQ keys of the namespace, all on that master.
      expect(found.some((k) => k.startsWith(`${ns}:run:{${ns}}:`))).toBe(true);
      expect(found.some((k) => k.startsWith(`${ns}:lock:{${ns}}:`))).toBe(true);
      expect(found.some((k) => k.startsWith(`{${ns}}:wide:`))).toBe(true);
      const slots = new Set(await Promise.all(found.filter((k) => k.includes(`{${ns}}`)).map(async (k) => Number(await c.cluster('KEYSLOT', k)))));
      expect(slots.size).toBe(1);
    } finally {
      redis.disconnect();
    }
  });

  it('runs a diamond once each, in dependency order, handing resultRefs down', async () => {
    const plan = { id: 'diamond', queue: 'wide', items: [item('a'), item('b', ['a']), item('c', ['a']), item('d', ['b', 'c'])] };
    const { status, events, execs } = await runPlan(plan);
    expect(status.state).toBe('succeeded');
    assertOrder(plan, execs);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));
    const done = events.filter((e) => e.type === 'item' && e.state === 'done');
    expect(done).toHaveLength(4);
    expect(events.at(-1)).toMatchObject({ type: 'run', state: 'succeeded', done: 4 });
  });

  it('runs a random 2000-item DAG exactly once each in order', async () => {
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const items = Array.from({ length: 2000 }, (_, i) => {
      const deps = new Set<string>();
      if (i > 0) for (let k = 0; k < 3; k++) if (rnd() < 0.7) deps.add(`n${Math.floor(rnd() * i)}`);
      return item(`n${i}`, [...deps]);
    });
    const plan = { id: 'random', queue: 'wide', items };
    const t0 = Date.now();
    const { status, execs } = await runPlan(plan);
    expect(status.state).toBe('succeeded');
    assertOrder(plan, execs);
    expect(Date.now() - t0).toBeLessThan(90_000);
  });

  it('a hot lock: 60 items on one resource lock run one at a time, with fencing tokens increasing in grant order', async () => {
    const n = 60;
    const items = Array.from({ length: n }, (_, i) => item(`h${i}`, [], { inputs: { ms: 5 }, resourceLocks: ['hot/db'] }));
    const plan = { id: 'hot-lock', queue: 'wide', items };
    const { status, events, execs } = await runPlan(plan);
    expect(status.state).toBe('succeeded');
    expect(execs).toHaveLength(n);
    // Never two at once under the lock.
    const byStart = [...execs].sort((a, b) => a.start - b.start);
    for (let i = 1; i < byStart.length; i++) expect(byStart[i]!.start).toBeGreaterThanOrEqual(byStart[i - 1]!.end);
    // Tokens strictly increase in the order the lock was granted.
    const acquired = events.filter((e) => e.type === 'lock' && e['action'] === 'acquired').map((e) => Number(e['token']));
    expect(acquired).toHaveLength(n);
    for (let i = 1; i < acquired.length; i++) expect(acquired[i]!).toBeGreaterThan(acquired[i - 1]!);
    // Each granted token is the one the executor was handed.
    const tokenOf = new Map(execs.map((e) => [e.itemId, e.tokens['hot/db']]));
    for (const e of events.filter((x) => x.type === 'lock' && x['action'] === 'acquired')) expect(Number(e['token'])).toBe(tokenOf.get(e.itemId!));
  });

  it('cancels a running run: the running item is stopped, the rest end cancelled', async () => {
    const runId = await cluster.client.submit({
      id: 'cancel',
      queue: 'wide',
      items: [
        { id: 'long', executor: 'noop', inputs: { sleepMs: 60_000 }, depends_on: [], resourceLocks: [] },
        { id: 'later', executor: 'noop', inputs: {}, depends_on: ['long'], resourceLocks: [] },
        { id: 'parked', executor: 'noop', inputs: {}, depends_on: ['later'], resourceLocks: [] },
      ],
    });
    for await (const e of cluster.client.watch(runId)) if (e.itemId === 'long' && e.state === 'running') break;
    const t0 = Date.now();
    await cluster.client.cancel(runId);
    const status = await cluster.client.wait(runId);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(status.state).toBe('cancelled');
    expect(Object.fromEntries(status.items.map((i) => [i.id, i.state]))).toEqual({ long: 'cancelled', later: 'cancelled', parked: 'cancelled' });
  });
});
