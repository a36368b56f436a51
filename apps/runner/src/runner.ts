import os from 'node:os';
import { DelayedError, Queue, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import {
  AgoraError,
  ApplicationError,
  CancelledError,
  FencedError,
  coerceError,
  createLogger,
  isItemId,
  isRetryable,
  isRunId,
  isTerminalItemState,
  type AgoraConfig,
  type Logger,
} from '@agora/core';
import {
  DEP_PARK_MS,
  RUNNER_HEARTBEAT_MS,
  RunStore,
  createRedis,
  type BeginResult,
  type StartReply,
  deregisterRunner,
  itemDefinitionHash,
  parseItemJobData,
  registerRunner,
  wakeJobs,
  type ItemJobData,
  type RedisClient,
} from '@agora/state';
import { createDispatchExecutor } from './dispatch-executor.js';
import type { Executor } from './executor.js';
import type { LockHolder, LockLeaseLike, LockServiceLike } from './locking.js';
import { noopExecutor } from './noop-executor.js';
import { ProviderSet, loadTask } from '@agora/registry';
import { createLockManager, wakeTargetsOf } from '@agora/locks';

export interface RunnerOptions {
  readonly config: AgoraConfig;
  /** Items this runner runs at once, capped at the CPU count (seed 002). @default config.runner.concurrency */
  readonly concurrency?: number;
  /** Plan queues to serve. @default every queue in the config */
  readonly queues?: readonly string[];
  /** Extra executors by name (tests, plugins). */
  readonly executors?: readonly Executor[];
  readonly providers?: ProviderSet;
  readonly logger?: Logger;
  /** Shown in events (`runner` field). @default hostname:pid */
  readonly runnerId?: string;
  /** CPU count used by the cap. @default os.availableParallelism() */
  readonly cpus?: number;
  /** The host this runner reports in its registration. @default os.hostname() (or $AGORA_HOST) */
  readonly host?: string;
  /** Resource locks; required to run items that name `resourceLocks`. */
  readonly locks?: LockServiceLike;
  /**
   * A parked item (its lock busy) is woken when the lock is released; this is the fallback
   * re-check, for a wake-up lost to a crash. @default 5000
   */
  readonly lockRecheckMs?: number;
}

export interface Runner {
  readonly id: string;
  readonly concurrency: number;
  /**
   * Stops taking jobs at once and lets running items finish for `graceMs`; items still running
   * then have their workers stopped and are handed back to the queue (a `handedBack` event; the
   * start does not count against the item; its locks are released keeping its place in their
   * queues) for another runner. Never cancels an item. @default config.runner.shutdownGraceMs
   */
  close(opts?: { graceMs?: number }): Promise<void>;
  /**
   * Aborts every running item now (their providers stop the workers). For a runner about to die
   * of an unexpected error: no worker process should outlive it.
   */
  stopWorkers(reason: string): void;
}

/** seed 002: effective = max(1, min(cpus, configured)). */
export function effectiveConcurrency(configured: number, cpus: number): number {
  return Math.max(1, Math.min(cpus, configured));
}

interface RunningItem {
  readonly runId: string;
  readonly abort: AbortController;
}

/** Reported in the runner's registration. */
const RUNNER_VERSION = '0.1.0';

/** The abort reason of an item whose runner shuts down: it goes back to the queue, not to an end. */
const HAND_BACK = 'runner shutting down: handed back';

export async function createRunner(opts: RunnerOptions): Promise<Runner> {
  const { config } = opts;
  const id = (opts.runnerId ?? `${os.hostname()}:${process.pid}`).replace(/[^A-Za-z0-9._:-]/g, '_');
  const logger = opts.logger ?? createLogger({ component: 'runner', runner: id });
  const cpus = opts.cpus ?? (Number(process.env['AGORA_CPUS']) || os.availableParallelism());
  const concurrency = effectiveConcurrency(opts.concurrency ?? config.runner.concurrency, cpus);
  // Auto-pipelining batches the commands concurrent items issue in the same tick into one write;
  // only for our own clients (the workers' BullMQ connections block on BZPOPMIN).
  const redis: RedisClient = createRedis(config.redisUrl, { enableAutoPipelining: true });
  const store = new RunStore(redis, config.namespace);
  const prefix = store.keys.bullPrefix;
  const providers = opts.providers ?? new ProviderSet(config);
  const storage = await providers.storage();
  const executors = new Map<string, Executor>();
  for (const e of [noopExecutor, createDispatchExecutor({
    config,
    compute: (n) => providers.compute(n),
    credentials: (n) => providers.credentials(n),
    resolveTask: async (_name, ctx) => (ctx.taskRef ? loadTask(storage, ctx.taskRef) : null),
  }), ...(opts.executors ?? [])]) {
    executors.set(e.name, e);
  }
  // BullMQ loads its ~60 scripts onto the client it is given, and an auto-pipelined client builds a
  // pipeline object carrying every script per batch: keep BullMQ's handles on their own client.
  const queueRedis: RedisClient = createRedis(config.redisUrl);
  const running = new Map<string, RunningItem>();
  let graceOver = false;

  // Cancellation reaches every runner through pub/sub; items of the run are aborted here.
  const sub = createRedis(config.redisUrl);
  await sub.subscribe(store.keys.cancelChannel);
  sub.on('message', (_channel: string, runId: string) => {
    for (const r of running.values()) if (r.runId === runId) r.abort.abort('run cancelled');
  });

  async function finishAndRelease(
    queue: string,
    d: ItemJobData,
    state: 'done' | 'failed' | 'skipped' | 'cancelled',
    extra: { resultRef?: string; fields?: Record<string, unknown>; after?: ReadonlyArray<{ type: string } & Record<string, unknown>> },
    afterWrite?: () => Promise<void>,
  ): Promise<void> {
    const { wake } = await store.finishItem(d.runId, d.itemId, state, extra);
    await afterWrite?.();
    // Invariant: parked dependents are woken only after the state is written, so a dependent
    // never sees its dependency non-terminal. A crash in between is repaired when the job is
    // retried: beginItem then reports the item terminal and names them again (idempotent).
    if (wake.length > 0) await wakeJobs(queueHandle(queue), wake);
  }

  const queueHandles = new Map<string, Queue>();
  const queueHandle = (name: string): Queue => {
    let q = queueHandles.get(name);
    if (!q) queueHandles.set(name, (q = new Queue(name, { connection: queueRedis, prefix })));
    return q;
  };
  /** Wakes parked items whose lock turn came: their delayed jobs are promoted. */
  async function wake(targets: readonly LockHolder[]): Promise<void> {
    await Promise.all(targets.map((t) => wakeJobs(queueHandle(t.queue), [t.jobId])));
  }
  // Locks share the state client: one auto-pipelined connection batches both kinds of call.
  const locks: LockServiceLike = opts.locks ?? createLockManager({ redis, namespace: config.namespace, lockTtlMs: config.runner.lockTtlMs, logger });
  const announcedWaits = new Set<string>();
  const lockRecheckMs = opts.lockRecheckMs ?? 5000;

  /**
   * Job data is input from outside: parsed, then hashed. `beginItem` compares the hash with the
   * one registered at acceptance, so data edited since (Redis HSET, Bull Board) runs nothing and
   * the item fails with an INTEGRITY error in the record. Data that does not even parse but names
   * a valid run and item is recorded the same way (no hash can match 'unparsable'); data that
   * names no valid run cannot be recorded anywhere and is failed for good.
   */
  function readJob(job: Job): { d: ItemJobData; definitionHash: string } {
    try {
      const d = parseItemJobData(job.data);
      return { d, definitionHash: itemDefinitionHash(d) };
    } catch (err) {
      const raw = (job.data ?? {}) as { runId?: unknown; itemId?: unknown };
      if (!isRunId(raw.runId) || !isItemId(raw.itemId)) throw new UnrecoverableError(`item job ${String(job.id)} refused: ${coerceError(err).message}`);
      logger.error({ runId: raw.runId, itemId: raw.itemId, err: coerceError(err).message }, 'item job data is invalid');
      return { d: { runId: raw.runId, itemId: raw.itemId, executor: '', inputs: {}, locks: [], deps: [] }, definitionHash: 'unparsable' };
    }
  }

  const maxStarts = config.runner.attempts + config.runner.maxStalls;

  async function processItem(job: Job<ItemJobData>, token?: string): Promise<{ state: string; resultRef?: string }> {
    const { d, definitionHash } = readJob(job);
    const beginOpts = { definitionHash, maxStarts, jobId: job.id! };
    let lease: LockLeaseLike | undefined;
    let begin: BeginResult;
    if (d.locks.length > 0) {
      // One round trip, two commands: redlock's acquisition of the lock keys and, right behind it
      // on the same connection, the item start script (lock claim + begin, or a release at once
      // when the item does not run).
      const req = { names: [...d.locks], holder: { runId: d.runId, itemId: d.itemId, jobId: job.id!, queue: job.queueName } };
      let started: StartReply | undefined;
      const r = await locks.acquire(req, {
        claimWith: async (call) => {
          started = await store.startItem(d.runId, d.itemId, d.deps, id, beginOpts, call);
          return started.claim;
        },
      });
      if (!r.acquired) {
        if (r.wake?.length) await wake(r.wake);
        // A busy lock never holds a worker slot: park the job (not an attempt) until woken.
        if (!announcedWaits.has(job.id!)) {
          announcedWaits.add(job.id!);
          await store.appendEvents(d.runId, [{ type: 'lock', action: 'waiting', itemId: d.itemId, lock: r.blockedBy, position: r.position }]);
        }
        await job.moveToDelayed(Date.now() + lockRecheckMs, token);
        // A release between our try and the park found nothing to wake: look again now.
        if (await locks.isFirstAndFree(req).catch(() => false)) await wake([req.holder]);
        throw new DelayedError();
      }
      announcedWaits.delete(job.id!);
      if (!started?.begin) throw new Error(`item ${d.itemId}: locks granted without a start decision`);
      begin = started.begin;
      if (begin.kind === 'run') lease = r.lease;
      else {
        // The start script gave the locks back already: the item does not run now.
        r.lease.markReleased();
        await wake(wakeTargetsOf(started.heads));
      }
    } else {
      begin = await store.beginItem(d.runId, d.itemId, d.deps, id, beginOpts);
    }
    if (begin.kind === 'terminal') {
      if (begin.wake.length > 0) await wakeJobs(queueHandle(job.queueName), begin.wake);
      // Bull Board tells the truth: a failed item's job ends failed, not completed.
      if (begin.state === 'failed') throw new UnrecoverableError(`item ${d.itemId} of run ${d.runId} failed (see the run's events)`);
      return begin.resultRef ? { state: begin.state, resultRef: begin.resultRef } : { state: begin.state };
    }
    if (begin.kind === 'wait') {
      // Its flow-tree children ended before its other dependencies: park until the runner that
      // ends the last one wakes it. A wake that came while we were parking found nothing to
      // promote, so look again once parked.
      await job.moveToDelayed(Date.now() + DEP_PARK_MS, token);
      const [left] = await store.dependenciesLeft(d.runId, [d.itemId]);
      if (left! <= 0) await wakeJobs(queueHandle(job.queueName), [job.id!]);
      throw new DelayedError();
    }
    // Invariant: once acquired, the locks MUST be released on every path out of runItem.
    try {
      return await runItem(job, token, d, begin.attempt, begin.deps, lease);
    } finally {
      if (lease) await wake(await lease.release());
    }
  }

  async function runItem(
    job: Job<ItemJobData>,
    token: string | undefined,
    d: ItemJobData,
    attempt: number,
    deps: Record<string, string>,
    lease: LockLeaseLike | undefined,
  ): Promise<{ state: string; resultRef?: string }> {
    const lockEvents = (action: string): Array<{ type: string } & Record<string, unknown>> =>
      lease ? lease.names.map((lock) => ({ type: 'lock', action, itemId: d.itemId, lock, token: lease.tokens[lock] })) : [];
    const executor = executors.get(d.executor);
    const abort = new AbortController();
    const onLost = (): void => abort.abort('lock lost');
    lease?.lost.addEventListener('abort', onLost, { once: true });
    if (lease?.lost.aborted) onLost();
    const key = `${d.runId}/${d.itemId}`;
    running.set(key, { runId: d.runId, abort });
    // A runner that began shutting down while this item was starting hands it back at once.
    if (graceOver) abort.abort(HAND_BACK);
    const startedMs = Date.now();
    // The end: without locks, finishItem; with locks, one script that checks the fencing tokens,
    // writes the end (with a `lock released` event per lock) and releases them. A fenced holder's
    // result is refused there (a `fenced` event) and its job retried under fresh locks.
    const finish = async (state: 'done' | 'failed' | 'cancelled', extra: { resultRef?: string; fields?: Record<string, unknown> }): Promise<void> => {
      if (!lease) return finishAndRelease(job.queueName, d, state, extra);
      const end = await store.endItem(d.runId, d.itemId, state, lease.releaseWith(), extra);
      await wake(wakeTargetsOf(end.heads));
      if (end.kind === 'fenced') throw new FencedError(end.lock, end.token, end.newestToken);
      if (end.wake.length > 0) await wakeJobs(queueHandle(job.queueName), end.wake);
    };
    try {
      if (!executor) throw new ApplicationError(`no executor "${d.executor}" on runner ${id}`, null);
      const result = await executor.execute({
        namespace: config.namespace,
        runId: d.runId,
        itemId: d.itemId,
        inputs: d.inputs,
        deps,
        lockTokens: lease?.tokens ?? {},
        attempt,
        ...(d.target !== undefined ? { target: d.target } : {}),
        ...(d.taskRef !== undefined ? { taskRef: d.taskRef } : {}),
        signal: abort.signal,
        storage,
        logger,
      });
      if (abort.signal.aborted) throw new CancelledError(String(abort.signal.reason));
      const bytes = typeof result.output === 'string' ? Buffer.from(result.output) : result.output;
      // The done event records the pinned URI, so the name index may trail (deferIndex).
      const put = await storage.put(`agora://${config.namespace}/result/${d.runId}.${d.itemId}`, bytes, { deferIndex: true });
      await finish('done', { resultRef: put.uri, fields: { attempt, durationMs: Date.now() - startedMs, ...result.fields } });
      return { state: 'done', resultRef: put.uri };
    } catch (caught) {
      const err = coerceError(caught);
      if (err instanceof FencedError) {
        // The end script recorded the `fenced` event and refused the result.
        logger.warn({ runId: d.runId, itemId: d.itemId, lock: err.lock }, 'result rejected: stale fencing token');
        throw err;
      }
      if (abort.signal.reason === HAND_BACK) {
        // Hand back: the worker was stopped (the executor saw the abort); the item is queued
        // again and its job returns to wait without counting as an attempt. Locks are released
        // keeping the item's place in their queues.
        await store.handBackItem(d.runId, d.itemId, { attempt, runner: id, reason: HAND_BACK }, lockEvents('released'));
        if (lease) await wake(await lease.release({ keepPlace: true }));
        await job.moveToWait(token);
        logger.info({ runId: d.runId, itemId: d.itemId, attempt }, 'item handed back');
        throw new WaitingError();
      }
      if (abort.signal.reason === 'lock lost') {
        await store.appendEvents(d.runId, [...lockEvents('lost'), { type: 'retry', itemId: d.itemId, attempt, error: 'resource lock lost' }]);
        throw new AgoraError('LOCK', `item ${d.itemId}: resource lock lost while running; retrying under a fresh lock`, { retryable: true });
      }
      if (abort.signal.aborted || err instanceof CancelledError) {
        await finish('cancelled', { fields: { attempt, reason: String(abort.signal.reason ?? err.message) } });
        return { state: 'cancelled' };
      }
      const maxAttempts = job.opts.attempts ?? 1;
      if (isRetryable(err) && attempt < maxAttempts) {
        await store.appendEvents(d.runId, [{ type: 'retry', itemId: d.itemId, attempt, error: err.message }]);
        logger.warn({ runId: d.runId, itemId: d.itemId, attempt, err: err.message }, 'item will be retried');
        throw err;
      }
      const code = err instanceof AgoraError ? err.code : 'INTERNAL';
      const exitCode = err instanceof ApplicationError ? err.exitCode : undefined;
      await finish('failed', {
        fields: { attempt, error: err.message.slice(0, 4000), errorCode: code, ...(exitCode != null ? { exitCode } : {}) },
      });
      // The item is failed for good (recorded above): its job ends failed too, with no retry, so
      // Bull Board and BullMQ's own counts show it as it is.
      throw new UnrecoverableError(`${code}: ${err.message.slice(0, 1000)}`);
    } finally {
      lease?.lost.removeEventListener('abort', onLost);
      running.delete(key);
    }
  }

  const workerOpts = {
    prefix,
    concurrency,
    lockDuration: config.runner.jobLockMs,
    stalledInterval: config.runner.stalledIntervalMs,
    // A stalled job always goes back to wait: BullMQ's stall limit fails a job outside any
    // processor, which nothing records, and its item would stay "running" forever. The stall
    // budget is ours instead (runner.maxStalls, counted in beginItem, ending the item STALLED).
    maxStalledCount: 1_000_000,
  };
  const queueNames = opts.queues ?? Object.keys(config.queues);
  const workers: Worker[] = [];
  for (const q of queueNames) {
    const w = new Worker<ItemJobData>(q, processItem, { ...workerOpts, connection: createRedis(config.redisUrl) });
    // A job BullMQ failed outside our processor (stalled too often, or a Redis error on the
    // last attempt) must still end its item, or its dependents would wait forever.
    w.on('failed', (job, err) => {
      if (!job) return;
      const d = job.data as Partial<ItemJobData>;
      if (!isRunId(d.runId) || !isItemId(d.itemId)) return;
      // Only a job that failed for good (not one that will be retried) ends its item here.
      void job
        .isFailed()
        .then(async (final) => (final ? (await store.itemStates(d.runId!, [d.itemId!]))[0] : 'retrying'))
        .then((s) =>
          s === 'retrying' || isTerminalItemState(s) ? undefined : finishAndRelease(q, d as ItemJobData, 'failed', { fields: { error: `job failed in queue: ${err.message}`, errorCode: 'QUEUE' } }),
        )
        .catch((e: unknown) => logger.error({ runId: d.runId, itemId: d.itemId, err: coerceError(e).message }, 'could not record failed job'));
    });
    w.on('error', (err) => logger.error({ queue: q, err: err.message }, 'worker error'));
    workers.push(w);
  }

  // The fleet registry: who runs, where, with which storage (agora doctor, serve's warnings).
  const registration = {
    id,
    host: opts.host ?? process.env['AGORA_HOST'] ?? os.hostname(),
    pid: process.pid,
    version: RUNNER_VERSION,
    queues: [...queueNames],
    slots: concurrency,
    storage: config.storage.provider,
    startedAt: new Date().toISOString(),
  };
  const heartbeat = (): Promise<void> =>
    registerRunner(redis, config.namespace, registration).catch((err: unknown) => logger.warn({ err: coerceError(err).message }, 'runner heartbeat failed'));
  await heartbeat();
  const heartbeatTimer = setInterval(() => void heartbeat(), RUNNER_HEARTBEAT_MS);
  heartbeatTimer.unref();

  logger.info({ queues: queueNames, concurrency, cpus, host: registration.host, storage: registration.storage }, 'runner started');

  return {
    id,
    concurrency,
    stopWorkers(reason: string) {
      for (const r of running.values()) r.abort.abort(reason);
    },
    async close({ graceMs = config.runner.shutdownGraceMs } = {}) {
      // Stop fetching now (close() waits for active jobs); after the grace, hand back the rest.
      const closed = Promise.all(workers.map((w) => w.close()));
      const timer = setTimeout(() => {
        graceOver = true;
        if (running.size > 0) logger.info({ items: running.size, graceMs }, 'grace over: handing running items back');
        for (const r of running.values()) r.abort.abort(HAND_BACK);
      }, graceMs);
      await closed;
      clearTimeout(timer);
      clearInterval(heartbeatTimer);
      await deregisterRunner(redis, config.namespace, id).catch(() => undefined);
      for (const w of workers) await (w.opts.connection as RedisClient).quit?.().catch(() => undefined);
      for (const q of queueHandles.values()) await q.close();
      await locks.close();
      await storage.flush?.().catch((err: unknown) => logger.warn({ err: coerceError(err).message }, 'could not write the result index'));
      await sub.quit().catch(() => undefined);
      await queueRedis.quit().catch(() => undefined);
      await redis.quit().catch(() => undefined);
    },
  };
}
