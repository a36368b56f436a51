import { DelayedError, UnrecoverableError, WaitingError, Worker, type Job, type Queue } from 'bullmq';
import { INBOX_QUEUE, coerceError, resultSinkNames, type AgoraConfig, type Logger } from '@agora/core';
import { createRedis, type RedisClient, type RunStore } from '@agora/state';
import type { Sealer } from '@agora/evidence';
import type { AgoraMetrics } from '@agora/metrics';
import type { AcceptResult } from './intake.js';
import { LeaseLostError } from './leader-lease.js';
import type { ActingTerm } from './leadership.js';

/** What the active scheduler writes on taking the lease: queue settings and the deployment. */
export async function publishDeployment(
  ctx: { readonly redis: RedisClient; readonly store: RunStore; readonly config: AgoraConfig; readonly executors: readonly string[]; queueFor(name: string): Queue },
  concurrency: Readonly<Record<string, number>> = {},
): Promise<void> {
  const { config, store } = ctx;
  const queueNames = Object.keys(config.queues);
  for (const name of queueNames) {
    const n = concurrency[name] ?? config.queues[name]?.concurrency;
    // Global concurrency is stored on the queue in Redis, so it holds across every runner.
    if (n !== undefined) await ctx.queueFor(name).setGlobalConcurrency(n);
    else await ctx.queueFor(name).removeGlobalConcurrency();
    // The rate limit too: BullMQ counts it per queue, across every runner's worker.
    const rate = config.queues[name]?.rateLimit;
    if (rate) await ctx.queueFor(name).setGlobalRateLimit(rate.max, rate.durationMs);
    else await ctx.queueFor(name).removeGlobalRateLimit();
  }
  await ctx.redis.sadd(store.keys.queues, INBOX_QUEUE, ...queueNames);
  // What this deployment accepts, so clients refuse a plan the scheduler would reject before
  // anything is enqueued (tasks registered in storage are checked at acceptance).
  await ctx.redis.hset(store.keys.deployment, {
    queues: JSON.stringify(queueNames),
    targets: JSON.stringify(Object.keys(config.targets)),
    executors: JSON.stringify(ctx.executors),
    tasks: JSON.stringify(Object.keys(config.tasks)),
    resultSinks: JSON.stringify(resultSinkNames(config)),
    updatedAt: new Date().toISOString(),
  });
}

/** Counts an ended run in `agora_runs_total{state}` unless this process counted it already. */
export type RunEndCounter = (runId: string, state: string) => void;

/** Run ids remembered: more than a sweep looks at (1,000), so a run it sees again is not taken for new. */
const RUNS_REMEMBERED = 10_000;

/**
 * `fn`, called at most once per run id in this process, whichever of the finished channel and
 * the sweep sees the run's end first (the last 10,000 ids are remembered).
 */
export function oncePerRun<A extends unknown[]>(fn: (runId: string, ...rest: A) => void): (runId: string, ...rest: A) => void {
  const seen = new Set<string>();
  return (runId, ...rest) => {
    if (seen.has(runId)) return;
    seen.add(runId);
    // A Set iterates in insertion order: the oldest is forgotten first.
    if (seen.size > RUNS_REMEMBERED) seen.delete(seen.values().next().value!);
    fn(runId, ...rest);
  };
}

/**
 * `agora_runs_total{state="succeeded"|"failed"|"cancelled"}`, once per run in this process. A run
 * end is seen on the finished channel, or, when that message was missed (the subscriber was
 * reconnecting, no scheduler was active), by the sweep that seals it; a run both see counts once.
 * In memory only: a scheduler that starts (or takes over) counts the ended runs its first sweep
 * finds unsealed, so a run whose end a previous process counted just before it stopped may be
 * counted by both processes, never twice by one.
 */
export function runEndCounter(metrics: AgoraMetrics): RunEndCounter {
  const count = oncePerRun((_runId: string, state: string) => metrics.runs.inc({ state }));
  return (runId, state) => {
    if (isRunEnd(state)) count(runId, state);
  };
}

/**
 * A run that ran and ended: succeeded, failed, cancelled. Not `rejected`, terminal too but never
 * run (the acceptance counted it; the sweep seals it, with no end message, and must not count it).
 */
export function isRunEnd(state: string): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'cancelled';
}

/**
 * What runs only while this scheduler holds the lease: the inbox worker (one acceptance per
 * job), and, with sealing on, the seal-on-finish subscription and the upkeep sweep. A lost lease
 * during an acceptance sends its job back to the inbox for the scheduler that holds it now.
 */
export async function startActingTerm(ctx: {
  readonly config: AgoraConfig;
  readonly logger: Logger;
  readonly store: RunStore;
  readonly sealer: Sealer;
  readonly inboxConcurrency: number;
  readonly sealing: boolean;
  readonly countRunEnd: RunEndCounter;
  accept(data: unknown): Promise<AcceptResult>;
  sweep(): Promise<void>;
}): Promise<ActingTerm> {
  const { config, logger, store } = ctx;
  const inboxLockMs = config.scheduler.inboxLockMs ?? config.scheduler.leaseMs;
  const inboxConn = createRedis(config.redisUrl);
  const inbox = new Worker(
    INBOX_QUEUE,
    async (job: Job, token?: string) => {
      let r: AcceptResult;
      try {
        r = await ctx.accept(job.data);
      } catch (err) {
        if (!(err instanceof LeaseLostError)) throw err;
        // Not a failed attempt: the plan goes back to the inbox for the scheduler that holds the
        // lease now, which resumes it from the progress in the run hash. If that one already took
        // the job (its lock expired), the move is refused and nothing changes.
        if (token !== undefined) await job.moveToWait(token).catch(() => undefined);
        throw new WaitingError();
      }
      if (r.parkMs !== undefined && token !== undefined) {
        // Admitted in part (its queue's maxWaiting): the job parks, holding no inbox slot, and the
        // next round (on whichever scheduler is active then) admits more.
        await job.moveToDelayed(Date.now() + r.parkMs, token);
        throw new DelayedError();
      }
      // Shown as the failed job's reason in Bull Board; never retried.
      if (r.state === 'refused') throw new UnrecoverableError(`inbox job refused: ${(r.problems ?? []).join('; ')}`);
      return r;
    },
    {
      connection: inboxConn,
      prefix: store.keys.bullPrefix,
      concurrency: ctx.inboxConcurrency,
      // A plan whose scheduler died is found stalled within about inboxLockMs + 2 stalled
      // intervals and taken up by the next active one; acceptance resumes, so a few stalls are harmless.
      lockDuration: inboxLockMs,
      stalledInterval: config.scheduler.inboxStalledIntervalMs ?? Math.max(500, Math.floor(inboxLockMs / 2)),
      maxStalledCount: 5,
    },
  );
  inbox.on('failed', (job, err) => logger.error({ jobId: job?.id, err: coerceError(err).message }, 'accepting plan failed'));
  inbox.on('error', (err) => logger.error({ err: coerceError(err).message }, 'inbox worker error'));
  let sealSub: RedisClient | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  const stop = async (): Promise<void> => {
    if (sweepTimer) clearInterval(sweepTimer);
    await sealSub?.quit().catch(() => undefined);
    // Not forced: an acceptance in flight stops at its next fence check and returns its job.
    await inbox.close().catch((err: unknown) => logger.warn({ err: coerceError(err).message }, 'closing the inbox worker failed'));
    await inboxConn.quit().catch(() => undefined);
  };
  // The worker's connection (its blocking one is a duplicate BullMQ owns) and the subscription:
  // once cut, the worker can neither take a job nor extend the lock of one it holds, so a plan it
  // was accepting is found stalled and taken up by the next term.
  const abandon = (): void => {
    if (sweepTimer) clearInterval(sweepTimer);
    sealSub?.disconnect();
    inboxConn.disconnect();
  };
  try {
    if (ctx.sealing) {
      // A run is sealed as soon as it ends (pub/sub); the sweep catches any message missed while
      // no scheduler was active, and checkpoints long-running runs.
      sealSub = createRedis(config.redisUrl);
      await sealSub.subscribe(store.keys.finishedChannel);
      sealSub.on('message', (_c: string, runId: string) => {
        ctx.sealer.seal(runId);
        // One read per run end (never per item), for agora_runs_total{state="succeeded"|"failed"|"cancelled"}.
        void store
          .runState(runId)
          .then((state) => (state ? ctx.countRunEnd(runId, state) : undefined))
          .catch(() => undefined);
      });
      const sweep = (): void =>
        void ctx.sweep().catch((err: unknown) => {
          if (!(err instanceof LeaseLostError)) logger.warn({ err: coerceError(err).message }, 'seal sweep failed');
        });
      sweepTimer = setInterval(sweep, Math.min(5000, Math.floor(config.audit.checkpointEveryMs / 2)));
      sweepTimer.unref();
      // At once too: runs that ended while no scheduler was active are sealed without waiting.
      sweep();
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop, abandon };
}
