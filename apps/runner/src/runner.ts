import os from 'node:os';
import { ValueError, coerceError, createLogger, hostCpus, type AgoraConfig, type Logger, type StorageProvider } from '@agora/core';
import { DeadLetterStore, MemoStore, RunStore, assertScriptCommandsAllowed, createRedis, type RedisClient } from '@agora/state';
import { ProviderSet, loadTask } from '@agora/registry';
import { createLockManager } from '@agora/locks';
import { createAgoraMetrics, type AgoraMetrics } from '@agora/metrics';
import { createAgoraTracing, type AgoraTracing } from '@agora/tracing';
import { createChannelHub, parseMessageNotice, type ChannelHub } from './channel-hub.js';
import { createDispatchExecutor } from './dispatch-executor.js';
import type { Executor } from './executor.js';
import type { RunnerContext } from './item-lifecycle.js';
import type { LockServiceLike } from './locking.js';
import { LockHeadWatch } from './lock-head-watch.js';
import { noopExecutor } from './noop-executor.js';
import { HAND_BACK, RUN_CANCELLED } from './outcome.js';
import { QueueHandles } from './queues.js';
import { RecentCancels } from './recent-cancels.js';
import { startRegistration } from './registration.js';
import { closeWorkerConnection, startGateWorkers, startItemWorkers } from './workers.js';
import { startRunnerDeliveries } from './runner-deliveries.js';

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
  /**
   * Where the runner counts items, lock waits, retries and its slots. Give each runner in one
   * process its own (`createAgoraMetrics()`): `agora_runner_slots` is one runner's.
   * @default a private registry nobody scrapes
   */
  readonly metrics?: AgoraMetrics;
  /**
   * Where item spans go. A tracer given here is flushed on close, not shut down.
   * @default one built from `config.tracing`, shut down (flushed) on close
   */
  readonly tracing?: AgoraTracing;
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

/** Reported in the runner's registration. */
const RUNNER_VERSION = '0.1.0';

/** How often a runner looks for free locks its parked waiters wait for (a holder died). */
const LOCK_HEAD_WATCH_MS = 1000;
/** How often a runner looks at one page of every lock in use (a holder and a head's runner died). */
const LOCK_FLEET_SWEEP_MS = 2000;

/**
 * The runner's providers. A compute or credentials provider nobody registered is refused at start
 * (exit 2), where it failed every dispatch item once the runner was up.
 */
function runnerProviders(opts: RunnerOptions, config: AgoraConfig): ProviderSet {
  const providers = opts.providers ?? new ProviderSet(config);
  const unknown = providers.unknownProviders();
  if (unknown.length > 0) throw new ValueError(unknown.join('; '));
  return providers;
}

/**
 * A runner: BullMQ workers on the plan queues whose processor is the item lifecycle
 * (item-lifecycle.ts), with cancellation over pub/sub, a fleet registration, and a graceful close
 * that hands unfinished items back to the queue.
 */
export async function createRunner(opts: RunnerOptions): Promise<Runner> {
  const { config } = opts;
  const id = (opts.runnerId ?? `${os.hostname()}:${process.pid}`).replace(/[^A-Za-z0-9._:-]/g, '_');
  const logger = opts.logger ?? createLogger({ component: 'runner', runner: id });
  const cpus = opts.cpus ?? hostCpus();
  const concurrency = effectiveConcurrency(opts.concurrency ?? config.runner.concurrency, cpus);
  const providers = runnerProviders(opts, config);
  const redis = await connectCommands(config);
  const store = new RunStore(redis, config.namespace);
  const storage = await providers.storage();
  const queueRedis: RedisClient = createRedis(config.redisUrl);
  let graceOver = false;
  const metrics = opts.metrics ?? createAgoraMetrics();
  const tracing = opts.tracing ?? createAgoraTracing(config.tracing, { component: 'runner', logger });
  const deliveries = await startRunnerDeliveries({ config, providers, redis: queueRedis, store, logger, metrics });
  const channels = createChannelHub(store, logger);
  const locks = opts.locks ?? createLockManager({ redis, namespace: config.namespace, lockTtlMs: config.runner.lockTtlMs, logger });
  const queues = new QueueHandles(queueRedis, store.keys.bullPrefix);
  const ctx: RunnerContext = {
    id, config, logger, store, storage,
    executors: executorsFor(config, providers, storage, opts.executors, channels),
    locks,
    queues,
    running: new Map(),
    cancelledRuns: new RecentCancels(),
    announcedWaits: new Map(),
    metrics,
    tracing,
    maxStarts: config.runner.attempts + config.runner.maxStalls,
    lockRecheckMs: opts.lockRecheckMs ?? 5000,
    lockHeads: new LockHeadWatch(locks, (heads) => queues.wakeHolders(heads), { everyMs: LOCK_HEAD_WATCH_MS, fleetEveryMs: LOCK_FLEET_SWEEP_MS, logger }),
    graceOver: () => graceOver,
    deadLetters: new DeadLetterStore(redis, config.namespace),
    ...(deliveries ? { deliveries: deliveries.items } : {}),
    memo: new MemoStore(redis, config.namespace, config.memo.maxEntries),
  };
  const sub = await listenForNotices(config, store, ctx, channels, logger);
  const queueNames = opts.queues ?? Object.keys(config.queues);
  // One worker per queue, each with `concurrency` slots, and one for each queue's gates.
  metrics.runnerSlots.set({ kind: 'total' }, concurrency * queueNames.length);
  metrics.runnerSlots.set({ kind: 'busy' }, 0);
  metrics.observeLockWaiters(async () => (await ctx.locks.list({ ended: (w) => store.itemsEnded(w) })).map((l) => ({ lock: l.name, waiters: l.waiters.length })));
  const workers = [...startGateWorkers(ctx, queueNames), ...startItemWorkers(ctx, queueNames, concurrency)];
  const host = opts.host ?? process.env['AGORA_HOST'] ?? os.hostname();
  const storageKind = config.storage.provider;
  const registration = await startRegistration(redis, config.namespace, { id, host, pid: process.pid, version: RUNNER_VERSION, queues: [...queueNames], slots: concurrency, storage: storageKind, startedAt: new Date().toISOString() }, logger);
  logger.info({ queues: queueNames, concurrency, cpus, host, storage: storageKind }, 'runner started');

  return {
    id,
    concurrency,
    stopWorkers(reason: string) {
      for (const r of ctx.running.values()) r.abort.abort(reason);
    },
    async close({ graceMs = config.runner.shutdownGraceMs } = {}) {
      // Stop fetching now (close() waits for active jobs); after the grace, hand back the rest.
      const closed = Promise.all(workers.map((w) => w.close()));
      const timer = setTimeout(() => {
        graceOver = true;
        if (ctx.running.size > 0) logger.info({ items: ctx.running.size, graceMs }, 'grace over: handing running items back');
        for (const r of ctx.running.values()) r.abort.abort(HAND_BACK);
      }, graceMs);
      await closed;
      clearTimeout(timer);
      await registration.stop();
      ctx.lockHeads.stop();
      for (const w of workers) await closeWorkerConnection(w);
      await ctx.queues.close();
      await deliveries?.close();
      await ctx.locks.close();
      await storage.flush?.().catch((err: unknown) => logger.warn({ err: coerceError(err).message }, 'could not write the result index'));
      for (const c of [sub, queueRedis, redis]) await c.quit().catch(() => undefined);
      // Last: every item has ended or been handed back, so its span is ended and goes out now.
      await (opts.tracing ? tracing.forceFlush() : tracing.shutdown()).catch((err: unknown) => logger.warn({ err: coerceError(err).message }, 'could not export the last spans'));
    },
  };
}

/**
 * The runner's command connection. Auto-pipelining batches the commands concurrent items issue in
 * the same tick into one write; locks share this client, so a lock call and a state script travel
 * together. A Redis user that may not run a command only our or BullMQ's scripts call would pass
 * every direct command and then fail each job's script: refused now, as a direct NOPERM is.
 */
async function connectCommands(config: AgoraConfig): Promise<RedisClient> {
  const redis: RedisClient = createRedis(config.redisUrl, { enableAutoPipelining: true });
  await assertScriptCommandsAllowed(redis, config.namespace).catch((err: unknown) => {
    redis.disconnect();
    throw err;
  });
  return redis;
}

/**
 * The runner's pub/sub. Cancellation reaches every runner this way: items of the run are aborted
 * here. So do notices of messages sent to items (channels): the open ones are read here.
 */
async function listenForNotices(config: AgoraConfig, store: RunStore, items: Pick<RunnerContext, 'running' | 'cancelledRuns'>, channels: ChannelHub, logger: Logger): Promise<RedisClient> {
  const sub = createRedis(config.redisUrl);
  await sub.subscribe(store.keys.cancelChannel, store.keys.messageChannel);
  sub.on('message', (channel: string, text: string) => {
    if (channel === store.keys.messageChannel) {
      const m = parseMessageNotice(text);
      if (m) channels.notify(m.runId, m.itemId);
      return;
    }
    stopRun(items, text);
  });
  // Pub/sub drops what is published while the connection is down: on every reconnect (the first
  // connect is behind us: subscribe answered), read every open channel again and ask whether the
  // runs of the items running here were cancelled meanwhile.
  sub.on('ready', () => {
    channels.resync();
    const runIds = [...new Set([...items.running.values()].map((r) => r.runId))];
    store
      .cancelsRequested(runIds)
      .then((cancelled) => {
        for (const runId of cancelled) stopRun(items, runId);
      })
      .catch((err: unknown) => logger.warn({ err: coerceError(err).message }, 'could not check for cancels missed while reconnecting'));
  });
  return sub;
}

/** A run was cancelled: stop its items running here, and those listed from now on (see RecentCancels). */
function stopRun(items: Pick<RunnerContext, 'running' | 'cancelledRuns'>, runId: string): void {
  items.cancelledRuns.heard(runId);
  for (const r of items.running.values()) if (r.runId === runId) r.abort.abort(RUN_CANCELLED);
}

/** The built-in executors (noop, dispatch) and any extra ones, by name. */
function executorsFor(config: AgoraConfig, providers: ProviderSet, storage: StorageProvider, extra: readonly Executor[] = [], channels?: ChannelHub): Map<string, Executor> {
  const dispatch = createDispatchExecutor({
    config,
    ...(channels ? { openChannel: (runId: string, itemId: string, file: string) => channels.open(runId, itemId, file) } : {}),
    compute: (n) => providers.compute(n),
    credentials: (n) => providers.credentials(n),
    resolveTask: async (_name, ctx) => (ctx.taskRef ? loadTask(storage, ctx.taskRef) : null),
  });
  return new Map([noopExecutor, dispatch, ...extra].map((e) => [e.name, e]));
}
