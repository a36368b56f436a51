/**
 * `npm run bench`: our system and raw BullMQ side by side, on one private Redis, in one run, so
 * the ratios hold on a noisy machine. Prints a table, or with --json one JSON document:
 * { "scenarios": [ { name, unit, ours, raw, ratio, target, met, redisCommandsPerItem: { ours, raw },
 *   runnerCpuMsPerItem: { ours, raw }, redisScriptCallsPerItem: { ours, raw }, schedulerCpuMsPerItem,
 *   redisServerCpuMsPerItem: { ours, raw } } ],
 *   "peakRssMb": {...}, "params": {...} }
 * Per-item costs are measured around each side of a scenario (see cost.ts).
 */
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { startRedisServer } from '@agora/state';
import { excludeFromCount } from './command-count.js';
import { startVerifyMonitor } from './cost.js';
import { Ours, Raw, type SystemOptions } from './systems.js';
import { scenarios, type Params, type ScenarioResult } from './scenarios.js';

/** A bad argument: one line naming it and exit 2, before any Redis starts (not a stack trace). */
const usageError = (msg: string): never => {
  process.stderr.write(`bench: ${msg} (npm run bench -- --help)\n`);
  process.exit(2);
};
const options = {
  quick: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  only: { type: 'string' },
  runners: { type: 'string', default: '2' },
  concurrency: { type: 'string', default: '8' },
  independent: { type: 'string' },
  chain: { type: 'string' },
  dag: { type: 'string' },
  'hot-lock': { type: 'string' },
  'big-plan': { type: 'string' },
  audit: { type: 'string' },
  'start-latency': { type: 'string' },
  help: { type: 'boolean', default: false },
} as const;
const parsedArgs = (() => {
  try {
    return parseArgs({ options });
  } catch (err) {
    // Unknown flag, a flag without its value, a stray positional (node's own messages).
    return usageError((err as Error).message);
  }
})();
const { values } = parsedArgs;

if (values.help) {
  process.stdout.write(`usage: npm run bench -- [--quick] [--json] [--only a,b] [--runners N] [--concurrency N]
         [--independent N] [--chain N] [--dag N] [--hot-lock N] [--big-plan N] [--audit N] [--start-latency N]
scenarios: ${scenarios.map((s) => s.name).join(', ')}
`);
  process.exit(0);
}

const quick = values.quick;
const num = (v: string | undefined, full: number, small: number): number => {
  const n = v === undefined ? (quick ? small : full) : Number(v);
  if (!Number.isInteger(n) || n < 1) usageError(`bad number "${v}": sizes, --runners and --concurrency are positive integers`);
  return n;
};
const params: Params = {
  runners: num(values.runners, 2, 2),
  concurrency: num(values.concurrency, 8, 8),
  independent: num(values.independent, 20_000, 2_000),
  chain: num(values.chain, 500, 100),
  dag: num(values.dag, 10_000, 1_000),
  hotLock: num(values['hot-lock'], 1_000, 200),
  bigPlan: num(values['big-plan'], 100_000, 10_000),
  audit: num(values.audit, 1_000_000, 100_000),
  startLatency: num(values['start-latency'], 200, 20),
};
const only = values.only?.split(',').map((s) => s.trim());
// A misspelt scenario ran nothing and printed an empty table, exit 0.
const unknown = only?.filter((n) => !scenarios.some((s) => s.name === n));
if (unknown?.length) usageError(`--only: unknown scenario${unknown.length === 1 ? '' : 's'} ${unknown.map((n) => `"${n}"`).join(', ')} (scenarios: ${scenarios.map((s) => s.name).join(', ')})`);
const log = (msg: string): void => {
  process.stderr.write(`[bench] ${msg}\n`);
};

const redisServer = await startRedisServer();
const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
// Every wait, poll and INFO of the harness goes through the probe, whose commands are not counted
// as either system's (see command-count.ts).
const probe = new Redis(redisServer.url, { maxRetriesPerRequest: null });
excludeFromCount(probe);
const stopMonitor = process.env['BENCH_VERIFY_COMMANDS'] ? await startVerifyMonitor(redis) : undefined;
if (process.env['BENCH_SLOWLOG']) {
  await redis.config('SET', 'slowlog-log-slower-than', process.env['BENCH_SLOWLOG']);
  await redis.config('SET', 'slowlog-max-len', '2000000');
  log(`slowlog on: ${redisServer.url}`);
}
const results: ScenarioResult[] = [];
const peakRssMb: Record<string, Record<string, number>> = {};
try {
  for (const s of scenarios) {
    if (only && !only.includes(s.name)) continue;
    log(`${s.name} ...`);
    const base = { redisUrl: redisServer.url, redis, probe, runners: params.runners, concurrency: params.concurrency };
    const sys = (suffix: string): SystemOptions => ({ ...base, namespace: `b${randomBytes(4).toString('hex')}${suffix}` });
    const out = await s.run({ params, sys, Ours, Raw, redis, probe, log });
    results.push(...out.results);
    if (process.env['BENCH_COMMANDSTATS']) {
      const stats = (await redis.info('commandstats')).split('\n').filter((l) => l.startsWith('cmdstat_'));
      const rows = stats.map((l) => { const m = /cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(l)!; return [m[1], Number(m[2]), Number(m[3])] as const; }).sort((a, b) => b[2] - a[2]).slice(0, 12);
      log(`commandstats after ${s.name}: ${rows.map(([c, n, u]) => `${c} calls=${n} usec=${u}`).join('; ')}`);
      await redis.config('RESETSTAT');
    }
    if (out.rss) peakRssMb[s.name] = out.rss;
    if (process.env['BENCH_SLOWLOG']) {
      // Time per command kind: EVALSHA told apart by key count and the shape of its first key.
      const entries = (await redis.slowlog('GET', 2_000_000)) as Array<[number, number, number, string[]]>;
      const agg = new Map<string, { n: number; us: number }>();
      for (const [, , us, args] of entries) {
        const cmd = String(args[0]).toLowerCase();
        const k = cmd === 'evalsha' ? `evalsha/${args[2]} ${String(args[3] ?? '').replace(/[0-9a-f]{8,}|\d+/g, '#')}` : cmd;
        const a = agg.get(k) ?? { n: 0, us: 0 };
        a.n++;
        a.us += us;
        agg.set(k, a);
      }
      const top = [...agg].sort((x, y) => y[1].us - x[1].us).slice(0, 20);
      log(`slowlog after ${s.name} (${entries.length} entries):\n${top.map(([k, a]) => `  ${String(a.us).padStart(9)} us ${String(a.n).padStart(7)}x  ${k}`).join('\n')}`);
      await redis.slowlog('RESET');
      await new Promise((r) => setTimeout(r, Number(process.env['BENCH_SLOWLOG_PAUSE_MS'] ?? 0)));
    }
    await redis.flushdb();
  }
} finally {
  stopMonitor?.();
  probe.disconnect();
  redis.disconnect();
  await redisServer.stop();
}

if (values.json) {
  process.stdout.write(JSON.stringify({ scenarios: results, peakRssMb, params: { ...params, quick } }, null, 2) + '\n');
} else {
  const fmt = (v: number | null): string => (v === null ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(2));
  const rows = results.map((r) => [r.name, r.unit, fmt(r.ours), fmt(r.raw), r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`, r.target, r.met ? 'met' : 'MISSED']);
  const head = ['scenario', 'unit', 'ours', 'raw BullMQ', 'ratio', 'target', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  process.stdout.write(`${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(line).join('\n')}\n`);
  // What an item costs, one line per scenario (its rows share the figures).
  const seen = new Set<string>();
  const f = (v: number | null, digits = 2): string => (v === null ? '-' : v.toFixed(digits));
  const costRows = results
    .filter((r) => {
      const scenario = r.name.split('.')[0]!;
      if (seen.has(scenario) || (r.redisCommandsPerItem.ours === null && r.redisCommandsPerItem.raw === null)) return false;
      seen.add(scenario);
      return true;
    })
    .map((r) => {
      const c = r.redisCommandsPerItem;
      return [
        r.name.split('.')[0]!,
        f(c.ours, 3),
        f(c.raw, 3),
        c.ours === null || c.raw === null ? '-' : f(c.ours - c.raw, 3),
        `${f(r.redisScriptCallsPerItem.ours, 1)} / ${f(r.redisScriptCallsPerItem.raw, 1)}`,
        f(r.runnerCpuMsPerItem.ours, 3),
        f(r.runnerCpuMsPerItem.raw, 3),
        f(r.schedulerCpuMsPerItem, 3),
        `${f(r.redisServerCpuMsPerItem.ours, 3)} / ${f(r.redisServerCpuMsPerItem.raw, 3)}`,
      ];
    });
  if (costRows.length > 0) {
    const costHead = ['per item', 'Redis cmds ours', 'raw', 'beyond raw', 'in-script calls ours / raw', 'runner CPU ms ours', 'raw', 'scheduler CPU ms', 'Redis CPU ms ours / raw'];
    const cw = costHead.map((h, i) => Math.max(h.length, ...costRows.map((r) => r[i]!.length)));
    const cline = (cells: string[]): string => cells.map((c, i) => c.padEnd(cw[i]!)).join('  ');
    process.stdout.write(`\n${cline(costHead)}\n${cw.map((w) => '-'.repeat(w)).join('  ')}\n${costRows.map(cline).join('\n')}\n`);
    process.stdout.write(
      'Redis cmds: commands clients sent (one EVALSHA = one), submitting client included, over the whole run (its once-per-run\n' +
        'commands and idle background shared out over its items); in-script calls: what those scripts called inside Redis.\n' +
        'dag is set beside raw independent. runner CPU: user + system of the runner (or raw worker) processes.\n' +
        'Redis CPU: the server process (INFO cpu); one thread runs every command, so near 1 ms per ms of wall time it is the limit.\n',
    );
  }
  process.stdout.write(`\npeak RSS (MB): ${Object.entries(peakRssMb).map(([k, v]) => `${k} ${Object.entries(v).map(([a, b]) => `${a}=${b}`).join(' ')}`).join('; ')}\n`);
}
process.exit(results.every((r) => r.met) ? 0 : 0);
