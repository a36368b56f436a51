import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import type { PlanInput } from '@agora/core';
import { measured, type SideCost } from './cost.js';
import { percentile } from './procs.js';
import type { Ours, Raw, SystemOptions } from './systems.js';

const execFileAsync = promisify(execFile);

export interface Params {
  readonly runners: number;
  readonly concurrency: number;
  readonly independent: number;
  readonly chain: number;
  readonly dag: number;
  readonly hotLock: number;
  readonly bigPlan: number;
  readonly audit: number;
  readonly startLatency: number;
}

/** A figure for our system beside raw BullMQ's; null where a scenario has no such side. */
export interface Pair {
  readonly ours: number | null;
  readonly raw: number | null;
}

export interface ScenarioResult {
  readonly name: string;
  readonly unit: string;
  readonly ours: number;
  readonly raw: number | null;
  readonly ratio: number | null;
  readonly target: string;
  readonly met: boolean;
  /** Redis commands the side's clients sent, per item: one EVALSHA is one (see command-count.ts). */
  readonly redisCommandsPerItem: Pair;
  /** CPU (user + system) of the runner processes (ours) or raw worker processes, ms per item. */
  readonly runnerCpuMsPerItem: Pair;
  /** Calls the side's scripts made inside Redis, per item (server total less client-sent). */
  readonly redisScriptCallsPerItem: Pair;
  /** CPU of our scheduler process, ms per item (raw BullMQ has none). */
  readonly schedulerCpuMsPerItem: number | null;
  /** CPU of the Redis server over the side's window, ms per item (one thread runs every command). */
  readonly redisServerCpuMsPerItem: Pair;
  /** Of redisCommandsPerItem, roughly what the processes send idle over as long (see cost.ts). */
  readonly redisBackgroundCommandsPerItem: Pair;
}

type Row = Pick<ScenarioResult, 'name' | 'unit' | 'ours' | 'raw' | 'ratio' | 'target' | 'met'>;

/** Puts one scenario's per-item costs on each of its rows. */
function withCost(rows: readonly Row[], ours: SideCost | null, raw: SideCost | null): ScenarioResult[] {
  return rows.map((r) => ({
    ...r,
    redisCommandsPerItem: { ours: ours?.commandsPerItem ?? null, raw: raw?.commandsPerItem ?? null },
    runnerCpuMsPerItem: { ours: ours?.runnerCpuMsPerItem ?? null, raw: raw?.runnerCpuMsPerItem ?? null },
    redisScriptCallsPerItem: { ours: ours?.scriptCallsPerItem ?? null, raw: raw?.scriptCallsPerItem ?? null },
    schedulerCpuMsPerItem: ours?.schedulerCpuMsPerItem ?? null,
    redisServerCpuMsPerItem: { ours: ours?.redisCpuMsPerItem ?? null, raw: raw?.redisCpuMsPerItem ?? null },
    redisBackgroundCommandsPerItem: { ours: ours?.backgroundCommandsPerItem ?? null, raw: raw?.backgroundCommandsPerItem ?? null },
  }));
}

const costLine = (side: string, c: SideCost): string =>
  `${side} cost per item: ${c.commandsPerItem.toFixed(3)} Redis commands sent (of which ~${c.backgroundCommandsPerItem.toFixed(3)} idle background; ` +
  `+${c.scriptCallsPerItem.toFixed(2)} calls inside scripts), ` +
  `runner CPU ${c.runnerCpuMsPerItem === null ? '-' : c.runnerCpuMsPerItem.toFixed(3)} ms` +
  (c.schedulerCpuMsPerItem === null ? '' : `, scheduler CPU ${c.schedulerCpuMsPerItem.toFixed(3)} ms`) +
  `, Redis server CPU ${c.redisCpuMsPerItem.toFixed(3)} ms` +
  ` (quiet ${(c.settleMs / 1000).toFixed(1)} s after)` +
  (c.monitorPerItem ? `; MONITOR saw ${c.monitorPerItem.topLevel.toFixed(2)} top-level + ${c.monitorPerItem.lua.toFixed(2)} script calls` : '') +
  (c.serverCommandsPerItem ? `\n  server ran per item: ${c.serverCommandsPerItem.map(([k, n]) => `${k} ${n.toFixed(2)}`).join(', ')}` : '') +
  (c.topKindsPerItem ? `\n${c.topKindsPerItem.map(([k, n]) => `    ${n.toFixed(4).padStart(9)}  ${k}`).join('\n')}` : '');

export interface ScenarioContext {
  readonly params: Params;
  sys(suffix: string): SystemOptions;
  readonly Ours: typeof Ours;
  readonly Raw: typeof Raw;
  readonly redis: Redis;
  /** The harness's watching connection: not counted (see SystemOptions.probe). */
  readonly probe: Redis;
  log(msg: string): void;
}

export interface Scenario {
  readonly name: string;
  run(ctx: ScenarioContext): Promise<{ results: ScenarioResult[]; rss?: Record<string, number> }>;
}

const noop = (id: string, deps: string[] = [], locks: string[] = []) => ({ id, executor: 'noop', inputs: {}, depends_on: deps, resourceLocks: locks });

/** Deterministic PRNG so both systems (and every run) see the same graph shape. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

export function randomDag(n: number, seed = 12345): PlanInput {
  const rnd = lcg(seed);
  const items = Array.from({ length: n }, (_, i) => {
    const deps = new Set<string>();
    if (i > 0) for (let k = 0; k < 2; k++) deps.add(`n${Math.floor(rnd() * i)}`);
    return noop(`n${i}`, [...deps]);
  });
  return { id: 'dag', queue: 'bench', items };
}

/**
 * Submits `plan` to our system, waits for the run to end (it must succeed), and stops the system:
 * the run's seconds, its cost per item (measured over the submit and the run) and peak RSS.
 */
async function runToEnd(ours: Ours, probe: Redis, plan: PlanInput, label: string): Promise<{ sec: number; cost: SideCost; rss: ReturnType<Ours['rss']> }> {
  let sec = 0;
  let state = '';
  const cost = await measured(probe, ours.costProcs(), async () => {
    const t0 = performance.now();
    state = await ours.waitRun(await ours.submit(plan));
    sec = (performance.now() - t0) / 1000;
    return plan.items.length;
  });
  const rss = ours.rss();
  await ours.stop();
  if (state !== 'succeeded') throw new Error(`${label} run ended ${state}`);
  return { sec, cost, rss };
}

let rawIndependentRate: number | null = null;
/** Raw independent's cost: the dag's reference, as raw independent's rate is. */
let rawIndependentCost: SideCost | null = null;

export const scenarios: Scenario[] = [
  {
    name: 'independent',
    async run({ params, sys, Ours, Raw, probe, log }) {
      const n = params.independent;
      const raw = await Raw.start(sys('r'));
      let rawSec = 0;
      const rawCost = await measured(probe, raw.costProcs(), async () => {
        rawSec = await raw.independent(n);
        return n;
      });
      const rawRss = raw.rss();
      await raw.stop();
      rawIndependentRate = n / rawSec;
      rawIndependentCost = rawCost;
      log(`raw BullMQ: ${n} jobs in ${rawSec.toFixed(2)} s`);
      log(costLine('raw', rawCost));
      const ours = await Ours.start(sys('o'));
      const plan = { id: 'independent', queue: 'bench', items: Array.from({ length: n }, (_, i) => noop(`i${i}`, [], process.env.BENCH_NOLOCK ? [] : [`res/${i}`])) };
      const { sec, cost: oursCost, rss } = await runToEnd(ours, probe, plan, 'independent');
      log(`ours: ${n} items in ${sec.toFixed(2)} s`);
      log(costLine('ours', oursCost));
      const o = n / sec;
      const ratio = o / rawIndependentRate;
      // The acceptance counts commands an item costs beyond the one a raw job costs. Measured over
      // the whole run, so it includes what a run costs once (submit, acceptance, sealing) and the
      // idle background over the run's length, shared out over its items; logged apart.
      const beyond = oursCost.commandsPerItem - rawCost.commandsPerItem;
      const beyondLessBackground = beyond - (oursCost.backgroundCommandsPerItem - rawCost.backgroundCommandsPerItem);
      log(`beyond BullMQ's own: ${beyond.toFixed(3)} commands per item (~${beyondLessBackground.toFixed(3)} less idle background)`);
      return {
        results: withCost(
          [
            { name: 'independent', unit: 'items/s', ours: o, raw: rawIndependentRate, ratio, target: '>= 0.5x raw', met: ratio >= 0.5 },
            { name: 'independent.commands-beyond-bullmq', unit: 'cmds/item', ours: beyond, raw: null, ratio: null, target: '<= 3', met: beyond <= 3 },
          ],
          oursCost,
          rawCost,
        ),
        rss: { ...rss, raw: rawRss },
      };
    },
  },
  {
    name: 'chain',
    async run({ params, sys, Ours, Raw, probe, log }) {
      const n = params.chain;
      const raw = await Raw.start(sys('r'));
      let rawMs = 0;
      const rawCost = await measured(probe, raw.costProcs(), async () => {
        rawMs = await raw.chain(n);
        return n;
      });
      await raw.stop();
      log(`raw BullMQ flow hop: ${rawMs.toFixed(2)} ms`);
      log(costLine('raw', rawCost));
      const ours = await Ours.start(sys('o'));
      const plan = { id: 'chain', queue: 'bench', items: Array.from({ length: n }, (_, i) => noop(`c${i}`, i === 0 ? [] : [`c${i - 1}`])) };
      let runId = '';
      const oursCost = await measured(probe, ours.costProcs(), async () => {
        runId = await ours.submit(plan);
        await ours.waitRun(runId);
        return n;
      });
      log(costLine('ours', oursCost));
      // Per hop: from the first item's start to the last item's end, over n - 1 hops plus n runs,
      // measured on the event stream so acceptance time is not counted.
      const ev = await ours.events(runId);
      const first = ev.find((e) => e.itemId === 'c0' && e.state === 'running')!;
      const last = ev.find((e) => e.itemId === `c${n - 1}` && e.state === 'done')!;
      const ms = (Date.parse(last.at) - Date.parse(first.at)) / n;
      log(`ours hop, split: ${hopSplit(ev, n)}`);
      const rss = ours.rss();
      await ours.stop();
      const ratio = ms / rawMs;
      return { results: withCost([{ name: 'chain', unit: 'ms/hop', ours: ms, raw: rawMs, ratio, target: '<= 1.5x raw', met: ratio <= 1.5 }], oursCost, rawCost), rss };
    },
  },
  {
    name: 'dag',
    async run({ params, sys, Ours, probe, log }) {
      const plan = randomDag(params.dag);
      const ours = await Ours.start(sys('o'));
      const { sec, cost: oursCost, rss } = await runToEnd(ours, probe, plan, 'dag');
      const o = params.dag / sec;
      log(`ours: ${params.dag}-item DAG in ${sec.toFixed(2)} s`);
      log(costLine('ours', oursCost));
      const ref = rawIndependentRate;
      const ratio = ref === null ? null : o / ref;
      return {
        results: withCost(
          [{ name: 'dag', unit: 'items/s', ours: o, raw: ref, ratio, target: '>= 0.33x raw independent', met: ratio !== null && ratio >= 0.33 }],
          oursCost,
          rawIndependentCost,
        ),
        rss,
      };
    },
  },
  {
    name: 'big-plan',
    async run({ params, sys, Ours, redis, probe, log }) {
      const n = params.bigPlan;
      const before = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
      const ours = await Ours.start({ ...sys('o'), startRunners: false });
      const plan = { id: 'big', queue: 'bench', items: Array.from({ length: n }, (_, i) => noop(`b${i}`)) };
      let sec = 0;
      // No runners: the commands are the submit and the scheduler's intake and enqueueing.
      const oursCost = await measured(probe, ours.costProcs(), async () => {
        const t0 = performance.now();
        const runId = await ours.submit(plan);
        await ours.waitEnqueued(runId);
        sec = (performance.now() - t0) / 1000;
        return n;
      });
      const after = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
      const perItem = (after - before) / n;
      log(`ours: ${n}-item plan enqueued in ${sec.toFixed(2)} s; ${perItem.toFixed(0)} B of Redis memory per waiting item`);
      log(costLine('ours', oursCost));
      const rss = ours.rss();
      await ours.stop();
      return {
        results: withCost(
          [
            { name: 'big-plan.enqueue', unit: 's', ours: sec, raw: null, ratio: null, target: '< 20 s', met: sec < 20 },
            { name: 'big-plan.memory', unit: 'bytes/item', ours: perItem, raw: null, ratio: null, target: '< 3072 bytes/item', met: perItem < 3072 },
          ],
          oursCost,
          null,
        ),
        rss,
      };
    },
  },
];

scenarios.push(
  {
    name: 'hot-lock',
    async run({ params, sys, Ours, probe, log }) {
      const n = params.hotLock;
      const ours = await Ours.start(sys('o'));
      const plan = { id: 'hot', queue: 'bench', items: Array.from({ length: n }, (_, i) => noop(`h${i}`, [], ['hot/lock'])) };
      let runId = '';
      let state = '';
      const oursCost = await measured(probe, ours.costProcs(), async () => {
        runId = await ours.submit(plan);
        state = await ours.waitRun(runId);
        return n;
      });
      if (state !== 'succeeded') throw new Error(`hot-lock run ended ${state}`);
      log(costLine('ours', oursCost));
      const ev = await ours.events(runId);
      // Hand-off: from one holder's release to the next holder's start, in token order.
      const released = new Map<number, number>();
      const acquiredBy = new Map<string, number>();
      for (const e of ev) {
        if (e.type === 'lock' && e['action'] === 'released') released.set(Number(e['token']), Date.parse(e.at));
        if (e.type === 'lock' && e['action'] === 'acquired') acquiredBy.set(String(e.itemId), Number(e['token']));
      }
      const gaps: number[] = [];
      for (const e of ev) {
        if (e.type !== 'item' || e.state !== 'running') continue;
        const token = acquiredBy.get(String(e.itemId));
        const prev = token === undefined ? undefined : released.get(token - 1);
        if (prev !== undefined) gaps.push(Date.parse(e.at) - prev);
      }
      gaps.sort((a, b) => a - b);
      const rss = ours.rss();
      await ours.stop();
      const p50 = percentile(gaps, 50);
      const p99 = percentile(gaps, 99);
      log(`ours: ${gaps.length} hand-offs, p50 ${p50} ms, p99 ${p99} ms`);
      return {
        results: withCost(
          [
            { name: 'hot-lock.p50', unit: 'ms', ours: p50, raw: null, ratio: null, target: '< 3 ms', met: p50 < 3 },
            { name: 'hot-lock.p99', unit: 'ms', ours: p99, raw: null, ratio: null, target: 'report', met: true },
          ],
          oursCost,
          null,
        ),
        rss,
      };
    },
  },
  {
    name: 'start-latency',
    async run({ params, sys, Ours, Raw, probe, log }) {
      const n = params.startLatency;
      // A few unmeasured starts first on each side, so a cold JIT is not what p99 reports.
      const warmup = 3;
      const raw = await Raw.start(sys('r'));
      await raw.startLatency(warmup);
      let rawLat: number[] = [];
      const rawCost = await measured(probe, raw.costProcs(), async () => {
        rawLat = await raw.startLatency(n);
        return n;
      });
      const rawRss = raw.rss();
      await raw.stop();
      rawLat.sort((a, b) => a - b);
      log(`raw BullMQ add-to-active: p50 ${percentile(rawLat, 50).toFixed(2)} ms, p99 ${percentile(rawLat, 99).toFixed(2)} ms`);
      log(costLine('raw', rawCost));
      const ours = await Ours.start(sys('o'));
      await ours.startLatency(warmup);
      let lat: { started: number[]; observed: number[] } = { started: [], observed: [] };
      const oursCost = await measured(probe, ours.costProcs(), async () => {
        lat = await ours.startLatency(n);
        return n;
      });
      const rss = ours.rss();
      await ours.stop();
      const started = [...lat.started].sort((a, b) => a - b);
      const observed = [...lat.observed].sort((a, b) => a - b);
      const p50 = percentile(started, 50);
      const p99 = percentile(started, 99);
      log(`ours submit-to-running: p50 ${p50} ms, p99 ${p99} ms (as a watcher received the event: p50 ${percentile(observed, 50)} ms, p99 ${percentile(observed, 99)} ms)`);
      log(costLine('ours', oursCost));
      const rawP50 = percentile(rawLat, 50);
      const rawP99 = percentile(rawLat, 99);
      return {
        results: withCost(
          [
            { name: 'start-latency.p50', unit: 'ms', ours: p50, raw: rawP50, ratio: p50 / rawP50, target: '< 25 ms', met: p50 < 25 },
            { name: 'start-latency.p99', unit: 'ms', ours: p99, raw: rawP99, ratio: p99 / rawP99, target: 'report', met: true },
          ],
          oursCost,
          rawCost,
        ),
        rss: { ...rss, raw: rawRss },
      };
    },
  },
  {
    name: 'audit',
    async run({ params, log }) {
      const n = params.audit;
      const out = await execFileAsync(process.execPath, [fileURLToPath(new URL('./audit-child.js', import.meta.url)), String(n)], { maxBuffer: 1 << 20 });
      const { sealSec: sec, proofRate, rssMb } = JSON.parse(out.stdout) as { sealSec: number; proofRate: number; rssMb: number };
      const rate = n / sec;
      log(`sealed ${n} events in ${sec.toFixed(2)} s; ${proofRate.toFixed(0)} inclusion proofs/s`);
      return {
        results: withCost(
          [
            { name: 'audit.seal', unit: 'events/s', ours: rate, raw: null, ratio: null, target: '>= 200000 events/s', met: rate >= 200_000 },
            { name: 'audit.proofs', unit: 'proofs/s', ours: proofRate, raw: null, ratio: null, target: 'report', met: true },
          ],
          null,
          null,
        ),
        rss: { sealer: rssMb },
      };
    },
  },
);

export { percentile };

/** Where a chain hop's time goes, from the event stream: an item's run (running to done) and the gap to the next item's running. */
function hopSplit(ev: ReadonlyArray<{ type: string; itemId?: unknown; state?: unknown; at: string }>, n: number): string {
  const at = new Map<string, number>();
  for (const e of ev) if (e.type === 'item' && (e.state === 'running' || e.state === 'done')) at.set(`${String(e.itemId)}/${String(e.state)}`, Date.parse(e.at));
  let run = 0;
  let gap = 0;
  for (let i = 0; i < n; i++) {
    run += (at.get(`c${i}/done`) ?? 0) - (at.get(`c${i}/running`) ?? 0);
    if (i > 0) gap += (at.get(`c${i}/running`) ?? 0) - (at.get(`c${i - 1}/done`) ?? 0);
  }
  return `running to done ${(run / n).toFixed(2)} ms, done to the next running ${(gap / (n - 1)).toFixed(2)} ms`;
}
