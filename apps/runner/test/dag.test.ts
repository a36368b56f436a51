import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Executor } from '@agora/runner';
import { Queue } from 'bullmq';
import { itemJobId, keys, type PlanInput } from '@agora/core';
import { createRedis } from '@agora/state';
import { startCluster, type TestCluster } from '../../../test/support/cluster.js';

/** Records start/end of every execution, to check ordering and exactly-once. */
function recorder() {
  const log: Array<{ runId: string; itemId: string; start: number; end: number }> = [];
  let active = 0;
  let maxActive = 0;
  const executor: Executor = {
    name: 'rec',
    async execute(ctx) {
      const start = performance.now();
      active++;
      maxActive = Math.max(maxActive, active);
      const ms = Number((ctx.inputs as { ms?: number }).ms ?? 0);
      if (ms > 0) await new Promise((r) => setTimeout(r, ms));
      active--;
      const end = performance.now();
      log.push({ runId: ctx.runId, itemId: ctx.itemId, start, end });
      if ((ctx.inputs as { fail?: boolean }).fail) throw Object.assign(new Error('boom'), {});
      return { output: JSON.stringify({ item: ctx.itemId, deps: ctx.deps }) };
    },
  };
  return { executor, log, maxActive: () => maxActive };
}

const rec = recorder();
let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster({
    config: { queues: { default: { concurrency: 2 }, wide: { concurrency: 50 } } },
    runners: 2,
    concurrency: 8,
    executors: [rec.executor],
  });
});
afterAll(async () => cluster?.close());

async function readArtifact(uri: string): Promise<Uint8Array> {
  const { LocalStorageProvider } = await import('@agora/storage-local');
  return new LocalStorageProvider({ root: `${cluster.dataDir}/storage` }).get(uri);
}

function item(id: string, deps: string[] = [], inputs: Record<string, unknown> = {}) {
  return { id, executor: 'rec', inputs, depends_on: deps, resourceLocks: [] };
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

describe('DAG execution', () => {
  it('an item whose flow-tree child ends first parks and is woken by its last dependency; an item with no tree child is added parked and woken', async () => {
    // BullMQ flows are trees: `slow`'s job hangs under `other` (its first dependent), so for
    // `join` the slow edge is a wake edge while `fast` is its tree child; `late` has no tree
    // child at all. Both must run right after `slow` ends (the fallback re-check is minutes away).
    const plan = {
      id: 'wake-edges',
      queue: 'wide',
      items: [
        item('slow', [], { ms: 800 }),
        item('other', ['slow']),
        item('fast'),
        item('join', ['slow', 'fast']),
        item('late', ['slow']),
      ],
    };
    const t0 = performance.now();
    const { status, execs } = await runPlan(plan);
    expect(status.state).toBe('succeeded');
    assertOrder(plan, execs);
    const byId = new Map(execs.map((e) => [e.itemId, e]));
    expect(byId.get('fast')!.end).toBeLessThan(byId.get('slow')!.end);
    for (const id of ['join', 'late']) expect(byId.get(id)!.start - t0).toBeLessThan(30_000);
  });

  it('runs a diamond once each, in dependency order, handing resultRefs down', async () => {
    const plan = { id: 'diamond', queue: 'wide', items: [item('a'), item('b', ['a']), item('c', ['a']), item('d', ['b', 'c'])] };
    const { status, events, execs } = await runPlan(plan);
    expect(status.state).toBe('succeeded');
    assertOrder(plan, execs);
    const seqs = events.map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i));
    const done = events.filter((e) => e.type === 'item' && e.state === 'done');
    expect(done).toHaveLength(4);
    for (const e of done) expect(e.resultRef).toMatch(/^agora:\/\/[^/]+\/result\/[^/]+\/[0-9a-f]{64}$/);
    const last = events[events.length - 1]!;
    expect(last).toMatchObject({ type: 'run', state: 'succeeded', done: 4 });
    // d received the resultRefs of both its dependencies
    const ref = (id: string) => done.find((e) => e.itemId === id)!.resultRef;
    const dOut = JSON.parse(Buffer.from(await readArtifact(ref('d')!)).toString()) as { deps: Record<string, string> };
    expect(dOut.deps).toEqual({ b: ref('b'), c: ref('c') });
  });

  it('shares dependencies across dependents and across trees', async () => {
    const plan = {
      id: 'shared',
      queue: 'wide',
      items: [item('s1'), item('s2'), item('x', ['s1', 's2']), item('y', ['s1', 's2']), item('z', ['s2', 'x', 'y'])],
    };
    const { status, execs } = await runPlan(plan);
    expect(status.state).toBe('succeeded');
    assertOrder(plan, execs);
  });

  it('runs a 200-deep chain', async () => {
    const items = Array.from({ length: 200 }, (_, i) => item(`c${i}`, i === 0 ? [] : [`c${i - 1}`]));
    const plan = { id: 'chain', queue: 'wide', items };
    const { status, execs } = await runPlan(plan);
    expect(status.state).toBe('succeeded');
    assertOrder(plan, execs);
  });

  it('fans out 1000 wide then fans in', async () => {
    const leaves = Array.from({ length: 1000 }, (_, i) => item(`l${i}`, ['root']));
    const plan = { id: 'fan', queue: 'wide', items: [item('root'), ...leaves, item('sink', leaves.map((l) => l.id))] };
    const { status, execs } = await runPlan(plan);
    expect(status.state).toBe('succeeded');
    assertOrder(plan, execs);
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
    const { status, execs } = await runPlan(plan);
    expect(status.state).toBe('succeeded');
    assertOrder(plan, execs);
  });

  it('never runs more than the queue concurrency at once across two runners', async () => {
    const items = Array.from({ length: 12 }, (_, i) => item(`p${i}`, [], { ms: 40 }));
    const runId = await cluster.client.submit({ id: 'conc', queue: 'default', items });
    const events: Array<{ itemId?: string; state?: string; seq: number }> = [];
    for await (const e of cluster.client.watch(runId)) events.push(e);
    let active = 0;
    let peak = 0;
    for (const e of events.filter((x) => x.itemId !== undefined)) {
      if (e.state === 'running') peak = Math.max(peak, ++active);
      if (e.state === 'done') active--;
    }
    expect(peak).toBe(2);
  });

  it('marks everything downstream of a failure skipped and lets independent branches finish', async () => {
    const plan = {
      id: 'fail',
      queue: 'wide',
      items: [item('bad', [], { fail: true }), item('after', ['bad']), item('after2', ['after']), item('free'), item('free2', ['free'])],
    };
    const { status, events } = await runPlan(plan);
    expect(status.state).toBe('failed');
    const state = Object.fromEntries(status.items.map((i) => [i.id, i.state]));
    expect(state).toEqual({ bad: 'failed', after: 'skipped', after2: 'skipped', free: 'done', free2: 'done' });
    expect(events.find((e) => e.itemId === 'bad' && e.state === 'failed')).toMatchObject({ error: 'boom' });
  });

  it('cancels a run: pending items end cancelled, running ones are stopped, parked jobs drain as no-ops', async () => {
    const runId = await cluster.client.submit({
      id: 'cancel',
      queue: 'wide',
      items: [
        { id: 'long', executor: 'noop', inputs: { sleepMs: 60_000 }, depends_on: [], resourceLocks: [] },
        { id: 'later', executor: 'noop', inputs: {}, depends_on: ['long'], resourceLocks: [] },
        { id: 'q', executor: 'noop', inputs: {}, depends_on: ['later'], resourceLocks: [] },
        // 'q' holds later's job as its flow child, so this one is added parked (10 minutes). The
        // cancel ends 'later' in Redis without a runner; its job still runs, as a no-op, when
        // long's ends, and names this one to wake.
        { id: 'parked', executor: 'noop', inputs: {}, depends_on: ['later'], resourceLocks: [] },
      ],
    });
    for await (const e of cluster.client.watch(runId)) if (e.itemId === 'long' && e.state === 'running') break;
    const connection = createRedis(cluster.config.redisUrl);
    const queue = new Queue('wide', { connection, prefix: keys(cluster.config.namespace).bullPrefix });
    try {
      const parkedJob = itemJobId(runId, 3);
      // Parked on its dependencies behind a gate: Bull Board shows it waiting, not "delayed".
      expect(await queue.getJobState(parkedJob)).toBe('waiting-children');
      const t0 = Date.now();
      await cluster.client.cancel(runId);
      const status = await cluster.client.wait(runId);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(status.state).toBe('cancelled');
      expect(Object.fromEntries(status.items.map((i) => [i.id, i.state]))).toEqual({ long: 'cancelled', later: 'cancelled', q: 'cancelled', parked: 'cancelled' });
      // The parked job does not wait out its park: woken through later's no-op job, it completes too.
      let state = await queue.getJobState(parkedJob);
      for (let i = 0; i < 100 && state !== 'completed'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        state = await queue.getJobState(parkedJob);
      }
      expect(state).toBe('completed');
    } finally {
      await queue.close();
      await connection.quit();
    }
  });
});
