/**
 * One chaos run: a private Redis (AOF), two schedulers, three runners, a locked DAG submitted
 * through the CLI, faults on a seeded timeline while it runs, then the evidence gathered and
 * judged (see analyze.ts).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { TERMINAL_ITEM_STATES, configSchema, isTerminalRunState, type AgoraEvent } from '@agora/core';
import { RunStore } from '@agora/state';
import { CLI, Fleet, descendants, isAlive, type Crash, type ProcRecord } from './fleet.js';
import { planFaults, type FaultRecord, type PlannedFault } from './faults.js';
import { createRng } from './prng.js';
import { generatePlan, longestChain, type ChaosPlan } from './plan.js';
import { lockWaitCycle, lostJobStates, type LockTableEntry, type LostDiagnosis } from './diagnose.js';
import {
  buildExecutions,
  lockFindings,
  markStored,
  median,
  parseJournal,
  reExecutions,
  recordedResults,
  recoveries,
  type FaultRecovery,
  type Overlap,
  type ReExecutions,
} from './analyze.js';

export const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));
const NAMESPACE = 'chaos';
const TASK = 'work';

export interface ChaosOptions {
  readonly seed: number;
  readonly items: number;
  readonly locks: number;
  readonly edges: number;
  readonly runners: number;
  readonly schedulers: number;
  readonly runnerConcurrency: number;
  /** Lease of locks and jobs, ms (runner.lockTtlMs and runner.jobLockMs). */
  readonly leaseMs: number;
  readonly pauseMs: number;
  readonly faultWindowMs: number;
  /** The run must end within this long after submission, or its unfinished items are lost. */
  readonly deadlineMs: number;
  /** `tree`: a killed runner's workers die with it (its host died); `runner`: only the runner. */
  readonly killMode: 'tree' | 'runner';
  /** Run the same DAG with no fault at all: a baseline for the timings. */
  readonly noFaults: boolean;
  readonly keep: boolean;
  readonly log: (msg: string) => void;
}

export interface CrashReport {
  readonly name: string;
  readonly role: string;
  readonly pid: number;
  readonly atRunMs: number;
  readonly code: number | null;
  readonly signal: string | null;
  readonly stack: string | null;
  readonly stderrTail: string[];
}

export interface ChaosReport {
  readonly seed: number;
  readonly pass: boolean;
  readonly failures: string[];
  readonly dir: string;
  readonly plan: { items: number; locks: number; edges: number; longestChain: number; lockedItems: number };
  readonly runId: string | null;
  readonly runState: string | null;
  /** Submission to the run's end (or to the deadline). */
  readonly durationMs: number;
  readonly ended: boolean;
  /** Why the harness stopped waiting before the deadline (a proven deadlock), if it did. */
  readonly stoppedEarly: string | null;
  readonly counts: Record<string, number>;
  readonly lost: number;
  readonly lostItems: Array<{ id: string; state: string }>;
  /** Why they were lost, when some were (see diagnose.ts). */
  readonly lostDiagnosis: LostDiagnosis | null;
  readonly failedItems: Array<{ id: string; error: string }>;
  readonly executions: number;
  readonly overlaps: number;
  readonly overlapsByOutcome: Record<Overlap['outcome'], number>;
  readonly unfencedOverlaps: number;
  readonly overlapDetails: Overlap[];
  readonly fencedEvents: number;
  readonly tokenReuse: Array<{ lock: string; token: number; items: string[] }>;
  readonly reExecutions: ReExecutions;
  readonly auditVerified: boolean;
  readonly auditExit: number | null;
  readonly auditProblems: string[];
  readonly faults: FaultRecovery[];
  readonly recovery: { runnerKills: number; heldResumedMedianMs: number | null; heldResumedMaxMs: number | null; neverResumed: number };
  readonly crashes: CrashReport[];
  /** Worker processes still running after their runner had died by itself (or, kill-mode runner, been killed). */
  readonly orphanWorkers: number;
  readonly unhandledRedisErrorLines: number;
  /** Processes that did not exit within the grace period after SIGTERM at the end. */
  readonly slowShutdown: string[];
  /** Faults of the timeline that were not applied, and why; faults after the run ended are not listed. */
  readonly skippedFaults: string[];
  /** Cross-checks of the harness's own reading; not failures of the system under test. */
  readonly harnessNotes: string[];
}

/** What `agora status <run>` prints, as far as the suite reads it. */
interface StatusJson {
  readonly state?: string;
  readonly items?: Array<{ id: string; state: string }>;
  readonly counts?: Record<string, number>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * The deployment under test: short leases so faults are recovered from in seconds, room for
 * every runner slot in the queue, and the chaos task. Settings other agents' work may add
 * (`scheduler.leaseMs`) are included only when this build's schema accepts them.
 */
export function chaosConfig(o: Pick<ChaosOptions, 'seed' | 'leaseMs' | 'runnerConcurrency'>, journalFile: string): Record<string, unknown> {
  const config: Record<string, unknown> = {
    namespace: NAMESPACE,
    queues: { default: { concurrency: 64 } },
    runner: {
      concurrency: o.runnerConcurrency,
      // Infrastructure failures are what this suite causes: leave room to retry them.
      attempts: 10,
      backoffMs: 200,
      lockTtlMs: o.leaseMs,
      jobLockMs: o.leaseMs,
      stalledIntervalMs: Math.max(500, Math.round(o.leaseMs / 3)),
    },
    tasks: { [TASK]: { command: [process.execPath, WORKER], env: { CHAOS_JOURNAL: journalFile, CHAOS_SEED: String(o.seed) }, timeoutMs: 120_000 } },
    audit: { checkpointEveryMs: 10_000 },
  };
  const optional: Record<string, unknown> = { scheduler: { leaseMs: o.leaseMs } };
  for (const [key, value] of Object.entries(optional)) {
    if (configSchema.safeParse({ ...config, [key]: value }).success) config[key] = value;
  }
  const check = configSchema.safeParse(config);
  if (!check.success) throw new Error(`the chaos config does not parse: ${check.error.message}`);
  return config;
}

/** How long no item may end, after the faults, before the lock queues are checked for a deadlock. */
const STALL_CHECK_MS = 45_000;

async function lockCycleNow(dir: string, env: NodeJS.ProcessEnv, plan: ChaosPlan): Promise<string[] | null> {
  const locks = await runCli(['locks', '--json'], dir, env, 60_000);
  try {
    const table = (JSON.parse(locks.stdout) as { locks: LockTableEntry[] }).locks;
    return lockWaitCycle(table, new Map(plan.items.map((i) => [i.id, i.resourceLocks]))).cycle;
  } catch {
    return null;
  }
}

async function diagnoseLost(
  redis: Redis,
  prefix: string,
  runId: string,
  lost: ReadonlySet<string>,
  plan: ChaosPlan,
  dir: string,
  env: NodeJS.ProcessEnv,
): Promise<LostDiagnosis> {
  const jobs = await lostJobStates(redis, prefix, plan.queue, runId, lost);
  const locks = await runCli(['locks', '--json'], dir, env, 60_000);
  writeFileSync(path.join(dir, 'locks.json'), locks.stdout);
  let table: LockTableEntry[] = [];
  try {
    table = (JSON.parse(locks.stdout) as { locks: LockTableEntry[] }).locks;
  } catch {
    // reported as no cycle found; the raw output is in locks.json
  }
  const { cycle, blockedFreeLocks } = lockWaitCycle(table, new Map(plan.items.map((i) => [i.id, i.resourceLocks])));
  return { ...jobs, lockWaitCycle: cycle, blockedFreeLocks };
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-chaos-'));
  const logDir = path.join(dir, 'logs');
  const redisDir = path.join(dir, 'redis');
  const journalFile = path.join(dir, 'journal.jsonl');
  mkdirSync(logDir);
  mkdirSync(redisDir);
  writeFileSync(journalFile, '');
  const log = o.log;
  log(`seed ${o.seed}, working in ${dir}`);

  const rng = createRng(o.seed);
  const plan = generatePlan(rng, { items: o.items, locks: o.locks, edges: o.edges }, `chaos-${o.seed}`, TASK);
  const planFile = path.join(dir, 'plan.json');
  writeFileSync(planFile, JSON.stringify(plan));
  const schedule = o.noFaults ? [] : planFaults(rng, { faultWindowMs: o.faultWindowMs, pauseMs: o.pauseMs });
  writeFileSync(path.join(dir, 'schedule.json'), JSON.stringify(schedule, null, 1));
  writeFileSync(path.join(dir, 'agora.config.json'), JSON.stringify(chaosConfig(o, journalFile), null, 2));

  // Set once the run is over: crashes then start no replacements.
  let winding = false;
  let redisUp = Promise.resolve();
  const replacements: Array<Promise<unknown>> = [];
  let env: NodeJS.ProcessEnv = {};
  const runnerArgs = ['runner', '--concurrency', String(o.runnerConcurrency)];
  // Starts in flight: a Redis restart waits for them, so no process is started into the outage
  // (it would exit at its Redis check, a failure we caused, not one it has).
  const starting = new Set<Promise<ProcRecord>>();
  const gated = (start: () => Promise<ProcRecord>): Promise<ProcRecord> => {
    const p = redisUp.then(start);
    starting.add(p);
    void p.finally(() => starting.delete(p)).catch(() => undefined);
    return p;
  };
  const startRunner = (): Promise<ProcRecord> => gated(() => fleet.startAgora('runner', runnerArgs, /runner started/));
  const startScheduler = (): Promise<ProcRecord> => gated(() => fleet.startAgora('scheduler', ['serve'], /scheduler serving/));
  // A process that died by itself is replaced, as a supervisor would, so one crash does not
  // also starve the run; the crash is still reported and fails the suite.
  const onCrash = (c: Crash): void => {
    if (winding) return;
    if (c.role === 'runner') replacements.push(sleep(500).then(startRunner));
    else if (c.role === 'scheduler') replacements.push(sleep(500).then(startScheduler));
    else replacements.push(sleep(500).then(() => fleet.startRedis({ port: redisPort, dir: redisDir })));
  };
  const fleet = new Fleet({ dir, logDir, env: {}, onCrash, log });

  const redisHandle = await fleet.startRedis({ dir: redisDir });
  const redisPort = redisHandle.port;
  env = {
    ...process.env,
    REDIS_URL: redisHandle.url,
    AGORA_DATA_DIR: path.join(dir, '.agora'),
    AGORA_LOG_LEVEL: 'info',
  };
  delete env['AGORA_CONFIG'];
  delete env['AGORA_NAMESPACE'];
  fleet.env = env;

  const redis = new Redis(redisHandle.url, { maxRetriesPerRequest: null });
  redis.on('error', () => undefined); // the restart is ours; commands wait for the reconnect
  const store = new RunStore(redis, NAMESPACE);

  const onSignal = (): void => {
    log('interrupted: stopping every process');
    void fleet.stopAll(5_000).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  // Worker pids with an open, locked execution in the journal, read incrementally.
  const openLocked = new Map<string, number>();
  let journalOffset = 0;
  const openLockedWorkers = (): Set<number> => {
    const fd = openSync(journalFile, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size > journalOffset) {
        const buf = Buffer.alloc(size - journalOffset);
        readSync(fd, buf, 0, buf.length, journalOffset);
        const text = buf.toString();
        const upto = text.lastIndexOf('\n') + 1;
        journalOffset += Buffer.byteLength(text.slice(0, upto));
        for (const l of parseJournal(text.slice(0, upto)).lines) {
          const key = `${l.pid}:${l.item}:${l.start}`;
          if (l.ev === 'start' && Object.keys(l.tokens).length > 0) openLocked.set(key, l.pid);
          else if (l.ev === 'end') openLocked.delete(key);
        }
      }
    } finally {
      closeSync(fd);
    }
    return new Set(openLocked.values());
  };
  const faults: FaultRecord[] = [];
  const killedWorkers = new Map<number, number>();
  const harnessNotes: string[] = [];
  const skipped: string[] = [];
  let runId: string | null = null;
  let submittedAt = Date.now();
  let endedAt: number | undefined;
  let finalState: string | null = null;
  let enqueuedAt: number | undefined;
  let slowShutdown: string[] = [];
  let events: AgoraEvent[] = [];
  let status: StatusJson | null = null;
  let audit: CliResult | null = null;
  let diagnosis: LostDiagnosis | null = null;
  let stoppedEarly: string | null = null;

  try {
    for (let i = 0; i < o.schedulers; i++) await startScheduler();
    for (let i = 0; i < o.runners; i++) await startRunner();

    const sub = await runCli(['submit', planFile], dir, env, 60_000);
    if (sub.code !== 0) throw new Error(`agora submit exited ${sub.code}: ${sub.stderr.trim()}`);
    runId = sub.stdout.trim();
    submittedAt = Date.now();
    log(`submitted ${plan.items.length} items as run ${runId}`);
    const sinceSubmit = (): number => Date.now() - submittedAt;

    // --- the run's progress, until it ends or the deadline passes ---
    let ended = false;
    let watching = true;
    let faultsOver = false;
    const watch = (async () => {
      let lastProgress = 0;
      let terminal = -1;
      let terminalSince = Date.now();
      while (sinceSubmit() < o.deadlineMs) {
        const run = await store.getRun(runId!, { items: false });
        if (run?.enqueuedAt && enqueuedAt === undefined) enqueuedAt = Date.parse(run.enqueuedAt);
        if (run && isTerminalRunState(run.state)) {
          ended = true;
          endedAt = Date.now();
          finalState = run.state;
          log(`run ${runId} ended: ${finalState} after ${Math.round(sinceSubmit() / 1000)} s`);
          return;
        }
        if (Date.now() - lastProgress > 10_000) {
          lastProgress = Date.now();
          const states = ((await store.getRun(runId!))?.items ?? []).map((it) => it.state);
          const c: Record<string, number> = {};
          for (const s of states) c[s] = (c[s] ?? 0) + 1;
          log(`t=${Math.round(sinceSubmit() / 1000)}s ${run?.state ?? 'not accepted yet'} ${Object.entries(c).map(([k, v]) => `${k}=${v}`).join(' ')}`);
          const nowTerminal = states.filter((st) => TERMINAL_ITEM_STATES.has(st)).length;
          if (nowTerminal !== terminal) {
            terminal = nowTerminal;
            terminalSince = Date.now();
          } else if (faultsOver && Date.now() - terminalSince >= STALL_CHECK_MS) {
            // No item ended for a while after the faults: if the lock queues are deadlocked,
            // nothing will ever change, and waiting for the deadline only costs time.
            const cycle = await lockCycleNow(dir, env, plan);
            if (cycle) {
              stoppedEarly = `no item ended for ${Math.round((Date.now() - terminalSince) / 1000)} s and the lock queues are deadlocked (${cycle.join(' -> ')})`;
              log(`stopping early: ${stoppedEarly}`);
              return;
            }
          }
        }
        await sleep(300);
      }
      log(`deadline: run ${runId} did not end within ${Math.round(o.deadlineMs / 1000)} s of its submission`);
    })().finally(() => (watching = false));

    // --- the faults, on the seed's timeline, while the run goes on ---
    let paused: ProcRecord | undefined;
    const background: Array<Promise<unknown>> = [];
    const runnerIdOf = (rec: ProcRecord): string => `${os.hostname()}:${rec.pid}`.replace(/[^A-Za-z0-9._:-]/g, '_');
    const record = (f: FaultRecord): FaultRecord => {
      faults.push(f);
      log(`fault t=${(f.atRunMs / 1000).toFixed(1)}s ${f.kind} ${f.target}${f.note ? ` (${f.note})` : ''}`);
      return f;
    };
    const activeScheduler = async (pick: number): Promise<{ rec: ProcRecord; note: string } | undefined> => {
      const live = fleet.alive('scheduler');
      if (live.length === 0) return undefined;
      // A leader lease, once there is one, is a key naming its holder: find its pid in it.
      const leaderKeys: string[] = [];
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', '*leader*', 'COUNT', 1000);
        cursor = next;
        leaderKeys.push(...found);
      } while (cursor !== '0');
      for (const key of leaderKeys) {
        const type = await redis.type(key);
        const value = (type === 'string' ? await redis.get(key) : type === 'hash' ? JSON.stringify(await redis.hgetall(key)) : '') ?? '';
        // A bare number is an epoch or a counter, not a holder.
        if (/^\d*$/.test(value)) continue;
        const rec = live.find((r) => new RegExp(`(^|[^0-9])${r.pid}([^0-9]|$)`).test(value));
        if (rec) return { rec, note: `leader per key ${key}` };
      }
      const byLog = live.find((r) => r.tail.some((l) => /"msg":"[^"]*\b(leader|became active|took over|lease acquired)\b/i.test(l) && !/\b(lost|standby|follower)\b/i.test(l)));
      if (byLog) return { rec: byLog, note: 'leader per its log' };
      return { rec: live[pick % live.length]!, note: 'active one not identifiable: seeded pick' };
    };

    /**
     * Runners that may take a fault now. A kill needs two ready runners besides a paused one, so
     * the fleet is never emptied by us (a replacement takes seconds to start on a busy machine);
     * a fault waits up to 10 s for that and is skipped (and reported) if it never comes.
     */
    const runnersFor = async (kind: 'kill-runner' | 'pause-runner'): Promise<ProcRecord[]> => {
      const need = kind === 'kill-runner' ? 2 : 1;
      const until = Date.now() + 10_000;
      for (;;) {
        const ready = fleet.alive('runner').filter((r) => r !== paused);
        if (ready.length >= need || Date.now() > until || !watching) return ready.length >= need ? ready : [];
        await sleep(200);
      }
    };
    /**
     * The pause is meant to catch a worker holding a lock (so a newer holder overlaps it and its
     * result must be refused): wait up to 10 s for a ready runner with such a worker running,
     * read from the journal's open executions; else any ready runner.
     */
    const runnerHoldingLock = async (): Promise<ProcRecord | undefined> => {
      const until = Date.now() + 10_000;
      while (Date.now() < until && watching) {
        const open = openLockedWorkers();
        for (const rec of fleet.alive('runner')) {
          if (rec === paused) continue;
          if (descendants(rec.pid).some((pid) => open.has(pid))) return rec;
        }
        await sleep(20);
      }
      return undefined;
    };
    const doFault = async (p: PlannedFault): Promise<void> => {
      if (p.kind === 'kill-runner') {
        const candidates = await runnersFor(p.kind);
        if (candidates.length === 0) {
          skipped.push(`${p.kind} at ${(p.atMs / 1000).toFixed(1)} s: fewer than 2 ready runners for 10 s`);
          return;
        }
        const rec = candidates[p.pick % candidates.length]!;
        const f = record({ kind: p.kind, at: Date.now(), atRunMs: sinceSubmit(), target: rec.name, pid: rec.pid, runnerId: runnerIdOf(rec) });
        const k = o.killMode === 'tree' ? await fleet.killTree(rec, 'kill-runner') : await fleet.killOne(rec, 'kill-runner');
        if (o.killMode === 'tree') for (const w of k.descendants) killedWorkers.set(w, k.at);
        (f as { workersKilled?: number }).workersKilled = o.killMode === 'tree' ? k.descendants.length : 0;
        background.push(startRunner());
      } else if (p.kind === 'pause-runner') {
        const holding = await runnerHoldingLock();
        const candidates = holding ? [holding] : await runnersFor(p.kind);
        if (candidates.length === 0) {
          skipped.push(`${p.kind} at ${(p.atMs / 1000).toFixed(1)} s: no ready runner for 10 s`);
          return;
        }
        const rec = candidates[p.pick % candidates.length]!;
        paused = rec;
        const why = holding ? 'a worker of it holding a lock' : 'no worker was holding a lock';
        const f = record({ kind: p.kind, at: Date.now(), atRunMs: sinceSubmit(), target: rec.name, pid: rec.pid, runnerId: runnerIdOf(rec), note: `SIGSTOP ${o.pauseMs} ms, ${why}` });
        const stopped = fleet.stopTree(rec);
        background.push(
          sleep(o.pauseMs).then(() => {
            stopped.resume();
            f.liftedAt = Date.now();
            log(`SIGCONT ${rec.name} and ${stopped.pids.length} worker(s)`);
          })
            // Spared from kills for two leases after it resumes: what it does with its stale
            // work (refuse the result on its token, or drop it as lost) is what the pause tests.
            .then(() => sleep(2 * o.leaseMs))
            .then(() => (paused = undefined)),
        );
      } else if (p.kind === 'kill-scheduler') {
        const active = await activeScheduler(p.pick);
        if (!active) {
          skipped.push(`${p.kind} at ${(p.atMs / 1000).toFixed(1)} s: no ready scheduler`);
          return;
        }
        const originals = fleet.alive('scheduler').filter((r) => r !== active.rec);
        record({ kind: p.kind, at: Date.now(), atRunMs: sinceSubmit(), target: active.rec.name, pid: active.rec.pid, note: active.note });
        await fleet.killTree(active.rec, 'kill-scheduler');
        background.push(sleep(1_000).then(startScheduler));
        if (active.note.startsWith('active one not identifiable')) {
          // Without a way to tell, the other one is killed later as well: one of the two was it.
          background.push(
            sleep(15_000).then(async () => {
              if (!watching || winding) return;
              const other = originals.find((r) => r.exitedAt === undefined);
              if (!other) return;
              record({ kind: p.kind, at: Date.now(), atRunMs: sinceSubmit(), target: other.name, pid: other.pid, note: 'the other original scheduler' });
              await fleet.killTree(other, 'kill-scheduler');
              await sleep(1_000);
              await startScheduler();
            }),
          );
        }
      } else {
        let lift: () => void = () => undefined;
        redisUp = new Promise<void>((r) => (lift = r));
        await Promise.allSettled([...starting]);
        const f = record({ kind: p.kind, at: Date.now(), atRunMs: sinceSubmit(), target: 'redis', pid: 0, note: 'SIGTERM, AOF, same port and dir' });
        try {
          await fleet.stopRedis('restart-redis');
          await sleep(1_000);
          await fleet.startRedis({ port: redisPort, dir: redisDir });
          f.liftedAt = Date.now();
          log('redis is back');
        } finally {
          lift();
        }
      }
    };

    for (const p of schedule) {
      while (watching && sinceSubmit() < p.atMs) await sleep(Math.min(100, p.atMs - sinceSubmit()));
      if (!watching) break;
      await doFault(p);
    }
    faultsOver = true;
    await watch;
    await Promise.allSettled(background);
    winding = true;
    await Promise.allSettled([...replacements, ...starting]);
    if (!ended) endedAt = Date.now();

    // --- the evidence ---
    const st = await runCli(['status', runId], dir, env, 60_000);
    if (st.code === 0) status = JSON.parse(st.stdout) as StatusJson;
    else harnessNotes.push(`agora status exited ${st.code}: ${st.stderr.trim().slice(-500)}`);
    audit = await runCli(['audit', runId, '--out', path.join(dir, 'audit.json')], dir, env, 180_000);
    events = await store.allEvents(runId);
    const lostNow = new Set((status?.items ?? []).filter((i) => !TERMINAL_ITEM_STATES.has(i.state)).map((i) => i.id));
    if (lostNow.size > 0) diagnosis = await diagnoseLost(redis, store.keys.bullPrefix, runId, lostNow, plan, dir, env);
  } finally {
    winding = true;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    slowShutdown = await fleet.stopAll(20_000);
    redis.disconnect();
  }

  // --- judging ---
  const now = Date.now();
  const runnerExits = new Map<number, number>();
  for (const r of fleet.records) if (r.role === 'runner' && r.exitedAt !== undefined) runnerExits.set(r.pid, r.exitedAt);
  const journal = parseJournal(readFileSync(journalFile, 'utf8'));
  if (journal.malformed > 0) harnessNotes.push(`${journal.malformed} malformed journal lines`);
  const execs = buildExecutions(journal.lines, { killedWorkers, runnerExits, now });
  const results = recordedResults(events);
  markStored(execs, results);
  const runnerDeaths = new Map<number, number>();
  for (const r of fleet.records) if (r.role === 'runner' && r.exitedAt !== undefined && r.expectedBy !== 'shutdown') runnerDeaths.set(r.pid, r.exitedAt);
  const locks = lockFindings(execs, events, runnerDeaths);
  const reexec = reExecutions(execs, results);
  const faultRec = recoveries(faults, events, enqueuedAt);

  // Items by the run's own status (the CLI), checked against the event stream.
  const items = status?.items ?? [];
  const lostItems = status ? items.filter((i) => !TERMINAL_ITEM_STATES.has(i.state)) : plan.items.map((i) => ({ id: i.id, state: 'unknown' }));
  if (status && items.length !== plan.items.length) harnessNotes.push(`status lists ${items.length} items, the plan has ${plan.items.length}`);
  const lastState = new Map<string, string>();
  for (const e of events) if (e.type === 'item' && e.itemId && e.state) lastState.set(e.itemId, e.state);
  const disagree = items.filter((i) => lastState.get(i.id) !== i.state);
  if (disagree.length > 0) harnessNotes.push(`${disagree.length} items whose status disagrees with their last event, e.g. ${disagree.slice(0, 3).map((i) => `${i.id}: ${i.state} vs ${lastState.get(i.id)}`).join(', ')}`);
  const stored = execs.filter((x) => x.stored).length;
  const doneCount = status?.counts?.['done'] ?? 0;
  if (stored !== doneCount) harnessNotes.push(`${stored} executions matched to a recorded result, ${doneCount} items done (unmatched: results without a journal line, or several candidates)`);
  // Every journalled execution with locks should have a running event with the same tokens.
  // Keyed on sorted entries: the event and the worker's env need not list the locks in one order.
  const tokenKey = (item: string | undefined, tokens: unknown): string =>
    `${item}|${JSON.stringify(Object.entries((tokens ?? {}) as Record<string, number>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))}`;
  const runningTokens = new Set(events.filter((e) => e.type === 'item' && e.state === 'running' && e['lockTokens']).map((e) => tokenKey(e.itemId, e['lockTokens'])));
  const unmatched = execs.filter((x) => Object.keys(x.tokens).length > 0 && !runningTokens.has(tokenKey(x.item, x.tokens)));
  if (unmatched.length > 0) harnessNotes.push(`${unmatched.length} journalled executions with no running event of the same tokens`);

  const failedItems = events
    .filter((e) => e.type === 'item' && e.state === 'failed')
    .map((e) => ({ id: e.itemId ?? '?', error: String(e['error'] ?? '').slice(0, 300) }));
  const byOutcome: Record<Overlap['outcome'], number> = { fenced: 0, 'lock-lost': 0, killed: 0, 'runner-died': 0, 'not-stored': 0, UNFENCED: 0 };
  for (const ov of locks.overlaps) byOutcome[ov.outcome]++;
  const kills = faultRec.filter((f) => f.kind === 'kill-runner' && (f.heldItems ?? 0) > 0);
  const resumed = kills.map((f) => f.heldResumedMs).filter((v): v is number => typeof v === 'number');
  // A worker that outlived its runner: still running a second after the runner died by itself
  // (or was killed alone, with --kill-mode runner).
  const crashedRunners = new Map(fleet.crashes.filter((c) => c.role === 'runner').map((c) => [c.pid, c.at]));
  if (o.killMode === 'runner') for (const f of faults) if (f.kind === 'kill-runner') crashedRunners.set(f.pid, f.at);
  const orphanWorkers = execs.filter((x) => {
    const died = crashedRunners.get(x.ppid);
    return died !== undefined && x.start < died && (x.end > died + 1_000 || (x.endKind === 'open' && isAlive(x.pid)));
  }).length;
  let auditProblems: string[] = [];
  if (audit) {
    try {
      const rep = JSON.parse(audit.stdout) as { intact?: boolean; problems?: unknown[]; errors?: unknown[] };
      auditProblems = [...(rep.problems ?? []), ...(rep.errors ?? [])].map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).slice(0, 10);
    } catch {
      auditProblems = [audit.stderr.trim().slice(-1000) || audit.stdout.trim().slice(-1000)];
    }
  }
  const auditVerified = audit?.code === 0;
  const unfenced = byOutcome.UNFENCED;
  const crashes: CrashReport[] = fleet.crashes.map((c) => ({
    name: c.name,
    role: c.role,
    pid: c.pid,
    atRunMs: c.at - submittedAt,
    code: c.code,
    signal: c.signal,
    stack: c.stack,
    stderrTail: c.stderrTail,
  }));

  const failures: string[] = [];
  if (lostItems.length > 0) failures.push(`${lostItems.length} lost item(s)${finalState ? '' : stoppedEarly ? ': the run deadlocked' : ': the run never ended'}`);
  if (unfenced > 0) failures.push(`${unfenced} unfenced overlap(s): a stale holder's result was recorded`);
  if (locks.tokenReuse.length > 0) failures.push(`${locks.tokenReuse.length} fencing token(s) handed to two executions`);
  if (crashes.length > 0) failures.push(`${crashes.length} process(es) crashed by themselves`);
  if (!auditVerified) failures.push(`the audit did not verify (agora audit exit ${audit?.code ?? 'not run'})`);

  const report: ChaosReport = {
    seed: o.seed,
    pass: failures.length === 0,
    failures,
    dir,
    plan: {
      items: plan.items.length,
      locks: o.locks,
      edges: plan.items.reduce((n, i) => n + i.depends_on.length, 0),
      longestChain: longestChain(plan),
      lockedItems: plan.items.filter((i) => i.resourceLocks.length > 0).length,
    },
    runId,
    runState: finalState ?? status?.state ?? null,
    durationMs: (endedAt ?? now) - submittedAt,
    ended: finalState !== null,
    stoppedEarly,
    counts: status?.counts ?? {},
    lost: lostItems.length,
    lostItems: lostItems.slice(0, 50),
    lostDiagnosis: diagnosis,
    failedItems: failedItems.slice(0, 20),
    executions: execs.length,
    overlaps: locks.overlaps.length,
    overlapsByOutcome: byOutcome,
    unfencedOverlaps: unfenced,
    overlapDetails: locks.overlaps.slice(0, 30),
    fencedEvents: events.filter((e) => e.type === 'lock' && e['action'] === 'fenced').length,
    tokenReuse: locks.tokenReuse,
    reExecutions: reexec,
    auditVerified,
    auditExit: audit?.code ?? null,
    auditProblems: auditVerified ? [] : auditProblems,
    faults: faultRec,
    recovery: {
      runnerKills: faultRec.filter((f) => f.kind === 'kill-runner').length,
      heldResumedMedianMs: median(resumed),
      heldResumedMaxMs: resumed.length > 0 ? Math.max(...resumed) : null,
      neverResumed: kills.filter((f) => f.heldResumedMs === null).length,
    },
    crashes,
    orphanWorkers,
    unhandledRedisErrorLines: fleet.records.reduce((n, r) => n + r.unhandledRedisErrors, 0),
    slowShutdown,
    skippedFaults: skipped,
    harnessNotes,
  };
  writeFileSync(path.join(dir, 'report.json'), JSON.stringify(report, null, 2));
  if (report.pass && !o.keep && existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  return report;
}
