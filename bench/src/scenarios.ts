import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import type { PlanInput } from '@agora/core';
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
}

export interface ScenarioResult {
  readonly name: string;
  readonly unit: string;
  readonly ours: number;
  readonly raw: number | null;
  readonly ratio: number | null;
  readonly target: string;
  readonly met: boolean;
}

export interface ScenarioContext {
  readonly params: Params;
  sys(suffix: string): SystemOptions;
  readonly Ours: typeof Ours;
  readonly Raw: typeof Raw;
  readonly redis: Redis;
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

let rawIndependentRate: number | null = null;

export const scenarios: Scenario[] = [
  {
    name: 'independent',
    async run({ params, sys, Ours, Raw, log }) {
      const n = params.independent;
      const raw = await Raw.start(sys('r'));
      const rawSec = await raw.independent(n);
      const rawRss = raw.rss();
      await raw.stop();
      rawIndependentRate = n / rawSec;
      log(`raw BullMQ: ${n} jobs in ${rawSec.toFixed(2)} s`);
      const ours = await Ours.start(sys('o'));
      const plan = { id: 'independent', queue: 'bench', items: Array.from({ length: n }, (_, i) => noop(`i${i}`, [], process.env.BENCH_NOLOCK ? [] : [`res/${i}`])) };
      const t0 = performance.now();
      const state = await ours.waitRun(await ours.submit(plan));
      const sec = (performance.now() - t0) / 1000;
      const rss = ours.rss();
      await ours.stop();
      if (state !== 'succeeded') throw new Error(`independent run ended ${state}`);
      log(`ours: ${n} items in ${sec.toFixed(2)} s`);
      const o = n / sec;
      const ratio = o / rawIndependentRate;
      return {
        results: [{ name: 'independent', unit: 'items/s', ours: o, raw: rawIndependentRate, ratio, target: '>= 0.5x raw', met: ratio >= 0.5 }],
        rss: { ...rss, raw: rawRss },
      };
    },
  },
  {
    name: 'chain',
    async run({ params, sys, Ours, Raw, log }) {
      const n = params.chain;
      const raw = await Raw.start(sys('r'));
      const rawMs = await raw.chain(n);
      await raw.stop();
      log(`raw BullMQ flow hop: ${rawMs.toFixed(2)} ms`);
      const ours = await Ours.start(sys('o'));
      const plan = { id: 'chain', queue: 'bench', items: Array.from({ length: n }, (_, i) => noop(`c${i}`, i === 0 ? [] : [`c${i - 1}`])) };
      const runId = await ours.submit(plan);
      await ours.waitRun(runId);
      // Per hop: from the first item's start to the last item's end, over n - 1 hops plus n runs,
      // measured on the event stream so acceptance time is not counted.
      const ev = await ours.events(runId);
      const first = ev.find((e) => e.itemId === 'c0' && e.state === 'running')!;
      const last = ev.find((e) => e.itemId === `c${n - 1}` && e.state === 'done')!;
      const ms = (Date.parse(last.at) - Date.parse(first.at)) / n;
      const rss = ours.rss();
      await ours.stop();
      const ratio = ms / rawMs;
      return { results: [{ name: 'chain', unit: 'ms/hop', ours: ms, raw: rawMs, ratio, target: '<= 2x raw', met: ratio <= 2 }], rss };
    },
  },
  {
    name: 'dag',
    async run({ params, sys, Ours, log }) {
      const plan = randomDag(params.dag);
      const ours = await Ours.start(sys('o'));
      const t0 = performance.now();
      const state = await ours.waitRun(await ours.submit(plan));
      const sec = (performance.now() - t0) / 1000;
      const rss = ours.rss();
      await ours.stop();
      if (state !== 'succeeded') throw new Error(`dag run ended ${state}`);
      const o = params.dag / sec;
      log(`ours: ${params.dag}-item DAG in ${sec.toFixed(2)} s`);
      const ref = rawIndependentRate;
      const ratio = ref === null ? null : o / ref;
      return {
        results: [{ name: 'dag', unit: 'items/s', ours: o, raw: ref, ratio, target: '>= 0.33x raw independent', met: ratio !== null && ratio >= 0.33 }],
        rss,
      };
    },
  },
  {
    name: 'big-plan',
    async run({ params, sys, Ours, redis, log }) {
      const n = params.bigPlan;
      const before = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
      const ours = await Ours.start({ ...sys('o'), startRunners: false });
      const plan = { id: 'big', queue: 'bench', items: Array.from({ length: n }, (_, i) => noop(`b${i}`)) };
      const t0 = performance.now();
      const runId = await ours.submit(plan);
      await ours.waitEnqueued(runId);
      const sec = (performance.now() - t0) / 1000;
      const after = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
      const perItem = (after - before) / n;
      log(`ours: ${n}-item plan enqueued in ${sec.toFixed(2)} s; ${perItem.toFixed(0)} B of Redis memory per waiting item`);
      const rss = ours.rss();
      await ours.stop();
      return {
        results: [
          { name: 'big-plan.enqueue', unit: 's', ours: sec, raw: null, ratio: null, target: '< 20 s', met: sec < 20 },
          { name: 'big-plan.memory', unit: 'bytes/item', ours: perItem, raw: null, ratio: null, target: '< 3072 bytes/item', met: perItem < 3072 },
        ],
        rss,
      };
    },
  },
];

scenarios.push(
  {
    name: 'hot-lock',
    async run({ params, sys, Ours, log }) {
      const n = params.hotLock;
      const ours = await Ours.start(sys('o'));
      const plan = { id: 'hot', queue: 'bench', items: Array.from({ length: n }, (_, i) => noop(`h${i}`, [], ['hot/lock'])) };
      const runId = await ours.submit(plan);
      const state = await ours.waitRun(runId);
      if (state !== 'succeeded') throw new Error(`hot-lock run ended ${state}`);
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
        results: [
          { name: 'hot-lock.p50', unit: 'ms', ours: p50, raw: null, ratio: null, target: '< 5 ms', met: p50 < 5 },
          { name: 'hot-lock.p99', unit: 'ms', ours: p99, raw: null, ratio: null, target: 'report', met: true },
        ],
        rss,
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
        results: [
          { name: 'audit.seal', unit: 'events/s', ours: rate, raw: null, ratio: null, target: '>= 200000 events/s', met: rate >= 200_000 },
          { name: 'audit.proofs', unit: 'proofs/s', ours: proofRate, raw: null, ratio: null, target: 'report', met: true },
        ],
        rss: { sealer: rssMb },
      };
    },
  },
);

export { percentile };
