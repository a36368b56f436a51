/**
 * What one side of a scenario costs per item: Redis commands sent by its clients and CPU of its
 * worker processes, as deltas between two snapshots around the measured part.
 *
 * Commands: the sum of every process's client-side count (see command-count.ts): the harness's
 * own connections (the SDK's submit, BullMQ's addBulk or FlowProducer: the submitting client is
 * part of the cost) plus each child's, less the probe connection the harness watches with.
 * Server-side, `INFO stats` total_commands_processed over the same window, less the probe's
 * commands, is the clients' commands plus the calls their scripts make: the difference is
 * reported as script-inner calls (a cross-check: it can never be negative).
 *
 * CPU: utime + stime from /proc/<pid>/stat of each runner (ours) or raw worker process, summed;
 * the scheduler (ours only) separately.
 */
import { createWriteStream } from 'node:fs';
import type { Redis } from 'ioredis';
import { commandsByKind, commandsSent, probeCommandsSent } from './command-count.js';
import { sleep, type Proc } from './procs.js';

/** The processes of one side: `runners` are agora runners or raw BullMQ workers. */
export interface CostProcs {
  readonly runners: readonly Proc[];
  readonly scheduler?: Proc;
}

/**
 * `BENCH_VERIFY_COMMANDS=1`: a MONITOR connection counts what the server executes, top-level
 * (source ip:port) apart from calls made by scripts (source "lua"), to check the client-side
 * count against. MONITOR slows Redis, so this is a check, not the measurement.
 */
const monitorCounts = { topLevel: 0, lua: 0, active: false };
export async function startVerifyMonitor(redis: Redis): Promise<() => void> {
  const mon = await redis.monitor();
  monitorCounts.active = true;
  // BENCH_MONITOR_FILE=path: every command the server ran, one line each ("lua" marks the calls
  // made inside the script called just before), for working out what a script costs.
  const file = process.env['BENCH_MONITOR_FILE'] ? createWriteStream(process.env['BENCH_MONITOR_FILE']) : undefined;
  mon.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === 'lua') monitorCounts.lua++;
    else monitorCounts.topLevel++;
    file?.write(`${source === 'lua' ? 'lua' : 'top'} ${args.slice(0, 3).map((a) => a.slice(0, 60)).join(' ')}\n`);
  });
  return () => {
    mon.disconnect();
    file?.end();
  };
}

export interface CostSnapshot {
  readonly monitor: { readonly topLevel: number; readonly lua: number } | null;
  readonly clientCommands: number;
  /** With BENCH_COMMAND_NAMES: client commands by kind, all processes together. */
  readonly byKind: ReadonlyMap<string, number> | null;
  readonly probeCommands: number;
  readonly serverCommands: number;
  readonly runnerCpuMs: number;
  readonly schedulerCpuMs: number | null;
  /** The Redis server's own CPU (INFO cpu: used_cpu_user + used_cpu_sys, all its threads), ms. */
  readonly redisCpuMs: number;
  /** With BENCH_COMMANDSTATS=1: the server's calls per command (INFO commandstats, script calls included). */
  readonly serverByCommand: ReadonlyMap<string, number> | null;
}

export interface SideCost {
  readonly items: number;
  /** Commands the side's clients sent, per item (one EVALSHA = one). */
  readonly commandsPerItem: number;
  /** Calls made inside scripts, per item (server total less client-sent). */
  readonly scriptCallsPerItem: number;
  readonly runnerCpuMsPerItem: number | null;
  readonly schedulerCpuMsPerItem: number | null;
  /**
   * The Redis server's CPU per item (it is one thread for commands: at about 1 ms of CPU per ms
   * of wall time it is the scenario's bottleneck, whatever the runners do).
   */
  readonly redisCpuMsPerItem: number;
  /** How long the side took to go quiet after its measured part (see settle). */
  readonly settleMs: number;
  /**
   * What the same processes send while idle (heartbeats, leases, BullMQ's blocking polls), over
   * one second just before the window, times the window's length, per item: roughly the part of
   * `commandsPerItem` that is time, not items (roughly: a busy worker does not idle-poll).
   */
  readonly backgroundCommandsPerItem: number;
  /** With BENCH_COMMANDSTATS=1: the commands the server ran most over the window, per item. */
  readonly serverCommandsPerItem?: ReadonlyArray<readonly [string, number]>;
  /** With BENCH_COMMAND_NAMES: the kinds sent most over the window, per item, most first. */
  readonly topKindsPerItem?: ReadonlyArray<readonly [string, number]>;
  /** With BENCH_VERIFY_COMMANDS: what MONITOR saw over the window, per item (probe excluded). */
  readonly monitorPerItem?: { readonly topLevel: number; readonly lua: number };
}

export async function snapshot(probe: Redis, procs: CostProcs): Promise<CostSnapshot> {
  const all = [...procs.runners, ...(procs.scheduler ? [procs.scheduler] : [])];
  const counts = await Promise.all(all.map((p) => p.commandsSent()));
  // MONITOR lines trail the commands a little: the window before each snapshot is quiet (settle).
  const monitor = monitorCounts.active ? { topLevel: monitorCounts.topLevel, lua: monitorCounts.lua } : null;
  // The probe's count is read before its INFO is sent: the server counts INFO after replying, so
  // this INFO shows up in the next snapshot's server total and in its probe count alike.
  const probeCommands = probeCommandsSent();
  const info = await probe.info('stats');
  const m = /total_commands_processed:(\d+)/.exec(info);
  if (!m) throw new Error('INFO stats has no total_commands_processed');
  const cpu = await probe.info('cpu');
  const cpuOf = (field: string): number => Number(new RegExp(`${field}:([\\d.]+)`).exec(cpu)?.[1] ?? NaN) * 1000;
  let byKind: Map<string, number> | null = null;
  for (const kinds of [commandsByKind(), ...counts.map((c) => c.byKind)]) {
    if (!kinds) continue;
    byKind ??= new Map();
    for (const [k, n] of Object.entries(kinds)) byKind.set(k, (byKind.get(k) ?? 0) + n);
  }
  return {
    monitor,
    byKind,
    clientCommands: commandsSent() + counts.reduce((a, b) => a + b.total, 0),
    probeCommands,
    serverCommands: Number(m[1]),
    runnerCpuMs: procs.runners.reduce((a, p) => a + p.cpuMs(), 0),
    schedulerCpuMs: procs.scheduler ? procs.scheduler.cpuMs() : null,
    redisCpuMs: cpuOf('used_cpu_user') + cpuOf('used_cpu_sys'),
    serverByCommand: process.env['BENCH_COMMANDSTATS'] ? parseCommandStats(await probe.info('commandstats')) : null,
  };
}

function parseCommandStats(info: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

export function costBetween(a: CostSnapshot, b: CostSnapshot, items: number, hasRunners = true, settleMs = 0, background = 0): SideCost {
  const client = b.clientCommands - a.clientCommands;
  const server = b.serverCommands - a.serverCommands - (b.probeCommands - a.probeCommands);
  return {
    items,
    settleMs,
    backgroundCommandsPerItem: background / items,
    commandsPerItem: client / items,
    scriptCallsPerItem: (server - client) / items,
    runnerCpuMsPerItem: hasRunners ? (b.runnerCpuMs - a.runnerCpuMs) / items : null,
    redisCpuMsPerItem: (b.redisCpuMs - a.redisCpuMs) / items,
    schedulerCpuMsPerItem: a.schedulerCpuMs === null || b.schedulerCpuMs === null ? null : (b.schedulerCpuMs - a.schedulerCpuMs) / items,
    ...(a.byKind && b.byKind ? { topKindsPerItem: perItemDelta(a.byKind, b.byKind, items, 0, 15) } : {}),
    ...(a.serverByCommand && b.serverByCommand ? { serverCommandsPerItem: perItemDelta(a.serverByCommand, b.serverByCommand, items, 0.001, 25) } : {}),
    ...(a.monitor && b.monitor
      ? { monitorPerItem: { topLevel: (b.monitor.topLevel - a.monitor.topLevel - (b.probeCommands - a.probeCommands)) / items, lua: (b.monitor.lua - a.monitor.lua) / items } }
      : {}),
  };
}

/** Counts by name between two snapshots, per item, most first: those above `min`, the first `top`. */
function perItemDelta(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>, items: number, min: number, top: number): Array<readonly [string, number]> {
  return [...b]
    .map(([k, n]) => [k, (n - (a.get(k) ?? 0)) / items] as const)
    .filter(([, n]) => n > min)
    .sort((x, y) => y[1] - x[1])
    .slice(0, top);
}

/**
 * Waits until Redis is quiet: the work a run leaves behind after the moment a scenario times
 * (the last jobs' BullMQ bookkeeping, the scheduler sealing the run's evidence) is part of what
 * its items cost. Quiet: two 100 ms windows in a row with fewer than `idlePer100ms` commands
 * besides the probe's (idle workers and runners still poll and heartbeat). Gives up after 30 s.
 */
export async function settle(probe: Redis, idlePer100ms = 30): Promise<void> {
  const total = async (): Promise<number> => {
    const before = probeCommandsSent();
    const m = /total_commands_processed:(\d+)/.exec(await probe.info('stats'));
    return Number(m?.[1] ?? 0) - before;
  };
  let last = await total();
  let quiet = 0;
  const deadline = Date.now() + 30_000;
  while (quiet < 2 && Date.now() < deadline) {
    await sleep(100);
    const now = await total();
    quiet = now - last < idlePer100ms ? quiet + 1 : 0;
    last = now;
  }
}

/** Measures `fn` (which returns its item count) between two snapshots, settling before the second. */
export async function measured(probe: Redis, procs: CostProcs | (() => CostProcs), fn: () => Promise<number>, opts: { hasRunners?: boolean } = {}): Promise<SideCost> {
  const get = typeof procs === 'function' ? procs : () => procs;
  const idle = await snapshot(probe, get());
  await sleep(1000);
  const a = await snapshot(probe, get());
  const idlePerMs = (a.clientCommands - idle.clientCommands) / 1000;
  const t0 = performance.now();
  const items = await fn();
  const t = performance.now();
  await settle(probe);
  const settleMs = performance.now() - t;
  const b = await snapshot(probe, get());
  const windowMs = performance.now() - t0;
  return costBetween(a, b, items, opts.hasRunners ?? get().runners.length > 0, settleMs, idlePerMs * windowMs);
}
