import { DelayedError, UnrecoverableError, WaitingError, type Job } from 'bullmq';
import {
  AgoraError,
  ApplicationError,
  CancelledError,
  FencedError,
  coerceError,
  configRetryPolicy,
  isItemId,
  isRunId,
  retryDelayMs,
  type AgoraConfig,
  type EventBody,
  type Logger,
  type RetryPolicy,
  type RetryReason,
  type StorageProvider,
} from '@agora/core';
import {
  DEP_PARK_MS,
  gateJobId,
  itemDefinitionHash,
  openItemChannel,
  parseItemJobData,
  withRetryDelay,
  type BeginResult,
  type DeadLetterStore,
  type ItemJobData,
  type MemoStore,
  type RunStore,
  type StartReply,
} from '@agora/state';
import { wakeTargetsOf } from '@agora/locks';
import type { AgoraMetrics } from '@agora/metrics';
import { recordDeadLetter } from './dead-letter.js';
import type { ItemDeliveries, ItemEnd } from './item-deliveries.js';
import { failureStreams, storeOutputLogs } from './output-logs.js';
import type { AgoraTracing } from '@agora/tracing';
import type { Executor } from './executor.js';
import { ItemAttemptTrace, traceIdOf } from './item-trace.js';
import type { LockLeaseLike, LockServiceLike } from './locking.js';
import { HAND_BACK, LOCK_LOST, RUN_CANCELLED, TIMED_OUT, classifyOutcome, releaseKeepsPlace, type Outcome } from './outcome.js';
import { parkBehindGate, parkJob } from './parking.js';
import type { LockHeadWatch } from './lock-head-watch.js';
import type { QueueHandles } from './queues.js';
import type { RecentCancels } from './recent-cancels.js';
import { ReleaseStack } from './release-stack.js';
import { findShortcut, rememberResult, shortcutEnd, type Shortcut } from './shortcut.js';

/** An item running on this runner: what cancellation and shutdown abort. */
export interface RunningItem {
  readonly runId: string;
  readonly abort: AbortController;
}

/** What the item lifecycle needs from its runner (built once by `createRunner`). */
export interface RunnerContext {
  readonly id: string;
  readonly config: AgoraConfig;
  readonly logger: Logger;
  readonly store: RunStore;
  readonly locks: LockServiceLike;
  readonly storage: StorageProvider;
  readonly executors: ReadonlyMap<string, Executor>;
  readonly queues: QueueHandles;
  /** Items running now, by `<runId>/<itemId>`. */
  readonly running: Map<string, RunningItem>;
  /** Runs whose cancellation this runner heard lately (an item listed as running after it is stopped at once). */
  readonly cancelledRuns: RecentCancels;
  /**
   * Jobs whose lock wait was already announced with a `lock waiting` event (announced once), with
   * when this runner first found the lock busy (for `agora_lock_wait_seconds`).
   */
  readonly announcedWaits: Map<string, number>;
  /** Counters and histograms only: nothing here may call Redis. */
  readonly metrics: AgoraMetrics;
  /** Item spans (a child of the run's span per attempt); the `none` tracer makes none. */
  readonly tracing: AgoraTracing;
  /** Most starts of one item (attempts + stalls) before it fails STALLED. */
  readonly maxStarts: number;
  /** Fallback re-check of an item parked on a busy lock. */
  readonly lockRecheckMs: number;
  /** The locks this runner parked waiters on, watched for a holder that died (see LockHeadWatch). */
  readonly lockHeads: LockHeadWatch;
  /** True once the shutdown grace is over: items starting now are handed back at once. */
  graceOver(): boolean;
  /** Where items that fail for good leave their dead-letter record (none: not written here). */
  readonly deadLetters?: DeadLetterStore;
  /** Result sinks and notifications (none: the config names neither; nothing more is done at an end). */
  readonly deliveries?: ItemDeliveries;
  /** The memo cache (none: memoized items always execute and nothing is recorded). */
  readonly memo?: MemoStore;
}

type EndState = 'done' | 'failed' | 'cancelled';
type EndFields = { resultRef?: string; fields?: Record<string, unknown>; after?: EventBody[] };

/**
 * BullMQ's processor for item jobs: read the job, start the item (claim its locks and begin, or
 * park), run it, end it. Returns the item's end; a failed item throws `UnrecoverableError` so its
 * job ends failed; a parked or handed-back job throws BullMQ's Delayed/Waiting errors.
 */
export async function processItem(ctx: RunnerContext, job: Job<ItemJobData>, token?: string): Promise<{ state: string; resultRef?: string }> {
  const owed: OwedDelivery = {};
  try {
    const out = await startAndRun(ctx, job, token, owed);
    if (owed.error === undefined) return out;
  } catch (err) {
    if (owed.error === undefined) throw err;
  }
  return parkOwingDelivery(job, token);
}

/** A result delivery the item's end could not enqueue (set by `sendEnd`). */
interface OwedDelivery { error?: unknown }

/** How long a job owing its result delivery waits before it is taken up again to re-send it. */
export const OWED_DELIVERY_RETRY_MS = 1000;

/** Tells the deliveries of an item's end; a result that could not be enqueued is owed, not thrown (the end stands). */
async function sendEnd(ctx: Pick<RunnerContext, 'deliveries'>, owed: OwedDelivery, d: ItemJobData, end: ItemEnd): Promise<void> {
  if (!ctx.deliveries) return;
  await ctx.deliveries.ended(d, end).catch((err: unknown) => {
    owed.error ??= err;
  });
}

/**
 * The item ended (its end is written) but Redis refused its result delivery. Nothing else sends a
 * done item's result, so the delivery must not be lost: the job is parked (delayed, as a lock
 * waiter is: not a try, whatever the item's retry policy has left) and its next start finds the
 * item terminal and re-sends the delivery, exactly as for a runner that died between the end and
 * the enqueue; the stable delivery id keeps a repeat from sending it twice. Not a BullMQ retry:
 * an item on its last try would end its job failed with the delivery still lost. Should Redis
 * refuse the park too, the job's lock lapses and the stall check takes it up again all the same.
 */
async function parkOwingDelivery(job: Job<ItemJobData>, token: string | undefined): Promise<never> {
  // The deliveries logged the refusal (naming the run and item).
  await job.moveToDelayed(Date.now() + OWED_DELIVERY_RETRY_MS, token);
  throw new DelayedError();
}

async function startAndRun(ctx: RunnerContext, job: Job<ItemJobData>, token: string | undefined, owed: OwedDelivery): Promise<{ state: string; resultRef?: string }> {
  const since = Date.now();
  const { d, definitionHash } = readJob(ctx, job);
  const started = await startItem(ctx, job, token, d, definitionHash);
  const { begin, lease } = started;
  if (begin.kind === 'terminal') {
    if (begin.endedNow) noteEnd(ctx.metrics, job.queueName, begin.state as EndState | 'skipped', 0);
    // Sent again when the item ended before this start too: its runner may have died between
    // writing the end and enqueueing the delivery (the job came back through the stall check).
    // The delivery id is stable, so one already enqueued is not sent twice.
    await sendEnd(ctx, owed, d, { state: begin.state as EndState | 'skipped', ...(begin.resultRef ? { resultRef: begin.resultRef } : {}) });
    await ctx.queues.wakeJobs(job.queueName, begin.wake);
    // Bull Board tells the truth: a failed item's job ends failed, not completed.
    if (begin.state === 'failed') throw new UnrecoverableError(`item ${d.itemId} of run ${d.runId} failed (see the run's events)`);
    return begin.resultRef ? { state: begin.state, resultRef: begin.resultRef } : { state: begin.state };
  }
  if (begin.kind === 'wait') {
    // Its flow-tree children ended before its other dependencies: park until the runner that
    // ends the last one wakes it.
    return parkBehindGate(job, token, ctx.queues.gates(job.queueName), { runId: d.runId, itemId: d.itemId }, {
      ready: async () => ((await ctx.store.dependenciesLeft(d.runId, [d.itemId]))[0] ?? 0) <= 0,
      wake: () => ctx.queues.wakeJobs(job.queueName, [gateJobId(job.id!)]),
    });
  }
  if (begin.kind === 'throttled') {
    // The run's maxParallel items are running: park until one of them ends and names this job.
    return parkJob(job, token, {
      forMs: DEP_PARK_MS,
      ready: () => ctx.store.slotReady(d.runId, d.itemId),
      wake: () => ctx.queues.wakeJobs(job.queueName, [job.id!]),
    });
  }
  // A rerun's or a memoized item may take a result computed before (see findShortcut); others go straight on.
  let memoKey: string | undefined;
  if (d.reuseFrom !== undefined || d.memo !== undefined) {
    const check = await findShortcut(ctx, d, begin.deps).catch(async (err: unknown) => {
      if (lease) await ctx.queues.wakeHolders(await lease.release());
      throw err;
    });
    if (check.hit) return endShortcut(ctx, job.queueName, d, check.hit, lease, owed);
    memoKey = check.memoKey;
  }
  return runItem(ctx, job, token, d, begin, lease, owed, { since: started.waitedSince ?? since, ...(lease ? { locksAt: Date.now() } : {}), ...(memoKey ? { memoKey } : {}) });
}

/** Ends an item that did not execute with the result it takes (its locks, if any, released by the end). */
async function endShortcut(ctx: RunnerContext, queue: string, d: ItemJobData, hit: Shortcut, lease: LockLeaseLike | undefined, owed: OwedDelivery): Promise<{ state: string; resultRef: string }> {
  const ended = shortcutEnd(d.itemId, hit);
  try {
    await endItem(ctx, queue, d, 'done', ended, lease);
  } finally {
    if (lease) await ctx.queues.wakeHolders(await lease.release());
  }
  // The result it took goes to the item's sink like any other done item's.
  await sendEnd(ctx, owed, d, { state: 'done', resultRef: hit.resultRef, fields: ended.fields });
  await ctx.store.noteShortcut(d.runId, d.itemId, hit.kind, hit.from);
  ctx.metrics.itemsNotExecuted.inc({ kind: hit.kind, queue });
  ctx.metrics.eventsAppended.inc();
  return { state: 'done', resultRef: hit.resultRef };
}

/**
 * Job data is input from outside: parsed, then hashed. The start compares the hash with the one
 * registered at acceptance, so data edited since (Redis HSET, Bull Board) runs nothing and the
 * item fails with an INTEGRITY error in the record. Data that does not even parse but names a
 * valid run and item is recorded the same way (no hash can match 'unparsable'); data that names
 * no valid run cannot be recorded anywhere and is failed for good.
 */
export function readJob(ctx: Pick<RunnerContext, 'logger'>, job: Job): { d: ItemJobData; definitionHash: string } {
  try {
    const d = parseItemJobData(job.data);
    return { d, definitionHash: itemDefinitionHash(d) };
  } catch (err) {
    const raw = (job.data ?? {}) as { runId?: unknown; itemId?: unknown };
    if (!isRunId(raw.runId) || !isItemId(raw.itemId)) throw new UnrecoverableError(`item job ${String(job.id)} refused: ${coerceError(err).message}`);
    ctx.logger.error({ runId: raw.runId, itemId: raw.itemId, err: coerceError(err).message }, 'item job data is invalid');
    return { d: { runId: raw.runId, itemId: raw.itemId, executor: '', inputs: {}, locks: [], deps: [] }, definitionHash: 'unparsable' };
  }
}

/**
 * The start. Without locks: one `beginItem` script. With locks: one round trip, two commands —
 * redlock's acquisition of the lock keys and, right behind it on the same connection, the item
 * start script (lock claim + begin; the locks go straight back when the item does not run). A
 * busy lock parks the job (it holds no worker slot) until the holder ahead releases.
 */
async function startItem(
  ctx: RunnerContext,
  job: Job<ItemJobData>,
  token: string | undefined,
  d: ItemJobData,
  definitionHash: string,
): Promise<{ begin: BeginResult; lease?: LockLeaseLike; waitedSince?: number }> {
  // The stall budget is on top of the item's own tries (its resolved policy's attempts).
  const maxStarts = d.retry ? d.retry.attempts + ctx.config.runner.maxStalls : ctx.maxStarts;
  const traceId = traceIdOf(d);
  const beginOpts = { definitionHash, maxStarts, jobId: job.id!, ...(traceId ? { fields: { traceId } } : {}) };
  if (d.locks.length === 0) return { begin: await ctx.store.beginItem(d.runId, d.itemId, d.deps, ctx.id, beginOpts) };
  const req = { names: [...d.locks], holder: { runId: d.runId, itemId: d.itemId, jobId: job.id!, queue: job.queueName } };
  let reply: StartReply | undefined;
  const r = await ctx.locks.acquire(req, {
    queued: activatedBeforeThisTry(job),
    claimWith: async (call) => {
      reply = await ctx.store.startItem(d.runId, d.itemId, d.deps, ctx.id, beginOpts, call);
      return reply.claim;
    },
  });
  if (!r.acquired) {
    if (r.wake?.length) await ctx.queues.wakeHolders(r.wake);
    if (!ctx.announcedWaits.has(job.id!)) {
      ctx.announcedWaits.set(job.id!, Date.now());
      ctx.metrics.eventsAppended.inc();
      await ctx.store.appendEvents(d.runId, [{ type: 'lock', action: 'waiting', itemId: d.itemId, lock: r.blockedBy, position: r.position }]);
    }
    ctx.lockHeads.note(req.names);
    return parkJob(job, token, { forMs: ctx.lockRecheckMs, ready: () => ctx.locks.isFirstAndFree(req), wake: () => ctx.queues.wakeHolders([req.holder]) });
  }
  const waitingSince = ctx.announcedWaits.get(job.id!);
  ctx.announcedWaits.delete(job.id!);
  // A wait that began on another runner (the job was parked there) is not seen here: it counts from this runner's first refusal.
  ctx.metrics.lockWait.observe(waitingSince === undefined ? 0 : (Date.now() - waitingSince) / 1000);
  if (!reply?.begin) throw new Error(`item ${d.itemId}: locks granted without a start decision`);
  if (reply.begin.kind === 'run') return { begin: reply.begin, lease: r.lease, ...(waitingSince !== undefined ? { waitedSince: waitingSince } : {}) };
  // The start script gave the locks back already: the item does not run now.
  r.lease.markReleased();
  await ctx.queues.wakeHolders(wakeTargetsOf(reply.heads));
  return { begin: reply.begin };
}

/**
 * Whether this job was taken by a worker before in its current try: it was parked (on a lock,
 * behind its gate, for a slot) or its runner died. BullMQ counts every activation in
 * `attemptsStarted` and every finished try in `attemptsMade`. A parked lock waiter is already in
 * the locks' queues, so its start skips the newcomers' queue-first check (one round trip less
 * per hand-off; see libs/locks `AcquireOptions.queued`).
 */
export function activatedBeforeThisTry(job: Pick<Job, 'attemptsStarted' | 'attemptsMade'>): boolean {
  return job.attemptsStarted > job.attemptsMade + 1;
}

/** Runs a begun item through its executor, stores its result and ends it, whatever happens. */
async function runItem(
  ctx: RunnerContext,
  job: Job<ItemJobData>,
  token: string | undefined,
  d: ItemJobData,
  begin: Extract<BeginResult, { kind: 'run' }>,
  lease: LockLeaseLike | undefined,
  owed: OwedDelivery,
  timing: { since: number; locksAt?: number; memoKey?: string },
): Promise<{ state: string; resultRef?: string }> {
  const { attempt } = begin;
  noteStart(ctx.metrics, job, attempt, lease?.names.length ?? 0);
  const held = new ReleaseStack();
  const abort = new AbortController();
  // Invariant: once acquired, the locks are released on every path out (a no-op after the end
  // script released them). How is decided by the outcome (see releaseKeepsPlace).
  const release = { keepPlace: false };
  if (lease) held.defer(async () => ctx.queues.wakeHolders(await lease.release(release)));
  const onLost = (): void => abort.abort(LOCK_LOST);
  if (lease) {
    lease.lost.addEventListener('abort', onLost, { once: true });
    held.defer(() => lease.lost.removeEventListener('abort', onLost));
    if (lease.lost.aborted) onLost();
  }
  const key = `${d.runId}/${d.itemId}`;
  ctx.running.set(key, { runId: d.runId, abort });
  ctx.metrics.runnerSlots.set({ kind: 'busy' }, ctx.running.size);
  held.defer(() => {
    ctx.running.delete(key);
    ctx.metrics.runnerSlots.set({ kind: 'busy' }, ctx.running.size);
  });
  // A run cancelled while this item was starting: the cancel was published before it was listed.
  if (ctx.cancelledRuns.has(d.runId)) abort.abort(RUN_CANCELLED);
  // A runner that began shutting down while this item was starting hands it back at once.
  if (ctx.graceOver()) abort.abort(HAND_BACK);
  // The item's own time limit stops its executor like a cancel, but ends as a `timeout` failure.
  // BullMQ keeps renewing the job lock meanwhile: the processor is still running.
  if (d.timeoutMs !== undefined) {
    const timer = setTimeout(() => abort.abort(TIMED_OUT), d.timeoutMs);
    held.defer(() => clearTimeout(timer));
  }
  const startedMs = Date.now();
  const traced = new ItemAttemptTrace(ctx.logger, ctx.tracing, { runner: ctx.id, queue: job.queueName, d, attempt, startedMs, ...timing });
  const end = async (state: EndState, fields: EndFields, withLease = true): Promise<void> => {
    await endItem(ctx, job.queueName, d, state, fields, withLease ? lease : undefined);
    // Only when the config names sinks or notifications: the default end awaits nothing more.
    await sendEnd(ctx, owed, d, { state, ...(fields.resultRef !== undefined ? { resultRef: fields.resultRef } : {}), ...(fields.fields ? { fields: fields.fields } : {}) });
    ctx.metrics.itemDuration.observe({ state, queue: job.queueName }, (Date.now() - startedMs) / 1000);
    traced.ended(state, typeof fields.fields?.['error'] === 'string' ? fields.fields['error'] : undefined);
  };
  try {
    const executor = ctx.executors.get(d.executor);
    if (!executor) throw new ApplicationError(`no executor "${d.executor}" on runner ${ctx.id}`, null);
    const result = await traced.step('provider.run', () => executor.execute({
      namespace: ctx.config.namespace,
      runId: d.runId,
      itemId: d.itemId,
      inputs: d.inputs,
      deps: begin.deps,
      lockTokens: lease?.tokens ?? {},
      attempt,
      ...(d.timeoutMs !== undefined ? { timeoutMs: d.timeoutMs } : {}),
      ...(d.target !== undefined ? { target: d.target } : {}),
      ...(d.taskRef !== undefined ? { taskRef: d.taskRef } : {}),
      signal: abort.signal,
      storage: ctx.storage,
      logger: ctx.logger,
    }), () => abort.signal.reason === HAND_BACK);
    if (abort.signal.aborted) throw new CancelledError(String(abort.signal.reason));
    const bytes = typeof result.output === 'string' ? Buffer.from(result.output) : result.output;
    // The done event records the pinned URI, so the name index may trail (deferIndex).
    const put = await traced.step('storage.put', () => ctx.storage.put(`agora://${ctx.config.namespace}/result/${d.runId}.${d.itemId}`, bytes, { deferIndex: true }));
    const logRefs = result.stderr ? await storeOutputLogs({ storage: ctx.storage, namespace: ctx.config.namespace, logger: ctx.logger }, d.runId, d.itemId, { stderr: result.stderr }) : undefined;
    await end('done', { resultRef: put.uri, fields: { attempt, durationMs: Date.now() - startedMs, ...result.fields, ...(logRefs ? { logRefs } : {}) } });
    if (timing.memoKey !== undefined) await rememberResult(ctx, timing.memoKey, d, put.uri);
    return { state: 'done', resultRef: put.uri };
  } catch (caught) {
    return await settleFailure(ctx, job, token, d, attempt, caught, abort.signal, lease, release, end).catch((thrown: unknown) => {
      traced.thrown(thrown);
      throw thrown;
    });
  } finally {
    traced.finish();
    await held.releaseAll();
  }
}

/** What a throw from the executor (or from the end) becomes: see `classifyOutcome`. */
async function settleFailure(
  ctx: RunnerContext,
  job: Job<ItemJobData>,
  token: string | undefined,
  d: ItemJobData,
  attempt: number,
  caught: unknown,
  signal: AbortSignal,
  lease: LockLeaseLike | undefined,
  release: { keepPlace: boolean },
  end: (state: EndState, fields: EndFields, withLease?: boolean) => Promise<void>,
): Promise<{ state: string }> {
  // BullMQ's count: hand-backs and stalls are not tries (starts beyond them are the stall budget).
  const tries = job.attemptsMade + 1;
  const policy = retryPolicyOf(ctx, d);
  const outcome = await unlessSuperseded(classifyOutcome(caught, signal, tries, policy, d.timeoutMs), job, token, ctx.config.runner.jobLockMs);
  release.keepPlace = releaseKeepsPlace(outcome);
  const lockEvents = (action: string): EventBody[] =>
    lease ? lease.names.map((lock) => ({ type: 'lock', action, itemId: d.itemId, lock, token: lease.tokens[lock] })) : [];
  // The back-off BullMQ will apply before the next try, drawn once: reported in the event and
  // handed to BullMQ's strategy with the error (see withRetryDelay).
  const delayMs = retryDelayMs(policy.backoff, tries);
  const retryEvent = (reason: RetryReason, error: string): EventBody => ({ type: 'retry', itemId: d.itemId, attempt, error, reason, delayMs });
  if (outcome.kind === 'retry' || outcome.kind === 'lockLost' || outcome.kind === 'fenced') {
    // Tried again after the back-off: its channel, closed as the worker exited, takes messages
    // meanwhile (the next start reads them from the first). One refused instead says so.
    await openItemChannel(ctx.store, d.runId, d.itemId).catch(() => undefined);
  }
  // Lock loss and fencing come here only while tries are left (classifyOutcome); on the last try
  // they are `failed` (codes FENCED and LOCK).
  switch (outcome.kind) {
    case 'fenced':
      // The end script recorded the `fenced` event and refused the result.
      noteFenced(ctx, d, outcome.error);
      await ctx.store.appendEvents(d.runId, [retryEvent('fenced', outcome.error.message)]);
      ctx.metrics.retries.inc({ reason: 'fenced' });
      ctx.metrics.eventsAppended.inc();
      throw withRetryDelay(outcome.error, delayMs);
    case 'handBack':
      // The worker was stopped (the executor saw the abort); the item is queued again and its job
      // returns to wait without counting as an attempt. Locks are released keeping the item's
      // place in their queues.
      await ctx.store.handBackItem(d.runId, d.itemId, { attempt, runner: ctx.id, reason: HAND_BACK }, lockEvents('released'));
      ctx.metrics.eventsAppended.inc(1 + (lease?.names.length ?? 0));
      if (lease) await ctx.queues.wakeHolders(await lease.release({ keepPlace: true }));
      await job.moveToWait(token);
      ctx.logger.info({ runId: d.runId, itemId: d.itemId, attempt }, 'item handed back');
      throw new WaitingError();
    case 'lockLost':
      await ctx.store.appendEvents(d.runId, [...lockEvents('lost'), retryEvent('lock_lost', 'resource lock lost')]);
      ctx.metrics.leasesLost.inc();
      ctx.metrics.retries.inc({ reason: 'lock_lost' });
      ctx.metrics.eventsAppended.inc(1 + (lease?.names.length ?? 0));
      throw withRetryDelay(new AgoraError('LOCK', `item ${d.itemId}: resource lock lost while running; retrying under a fresh lock`, { retryable: true }), delayMs);
    case 'cancelled':
      await end('cancelled', { fields: { attempt, reason: outcome.reason } });
      return { state: 'cancelled' };
    case 'retry':
      await ctx.store.appendEvents(d.runId, [retryEvent(outcome.reason, outcome.error.message.slice(0, 4000))]);
      ctx.metrics.retries.inc({ reason: outcome.reason });
      ctx.metrics.eventsAppended.inc();
      ctx.logger.warn({ runId: d.runId, itemId: d.itemId, attempt, reason: outcome.reason, delayMs, err: outcome.error.message }, 'item will be retried');
      throw withRetryDelay(outcome.error, delayMs);
    case 'superseded':
      // This attempt's failure goes to BullMQ, which refuses its token; the other attempt ends it.
      if (outcome.error instanceof FencedError) noteFenced(ctx, d, outcome.error);
      ctx.logger.warn({ runId: d.runId, itemId: d.itemId, attempt }, 'lease gone and the job taken up elsewhere: this attempt writes no end');
      throw outcome.error;
    case 'failed': {
      if (outcome.leaseGone === 'fenced' && outcome.error instanceof FencedError) noteFenced(ctx, d, outcome.error);
      if (outcome.leaseGone === 'lost') {
        await ctx.store.appendEvents(d.runId, lockEvents('lost'));
        ctx.metrics.leasesLost.inc();
        ctx.metrics.eventsAppended.inc(lease?.names.length ?? 0);
      }
      const streams = failureStreams(outcome.error);
      const logRefs = streams ? await storeOutputLogs({ storage: ctx.storage, namespace: ctx.config.namespace, logger: ctx.logger }, d.runId, d.itemId, streams) : undefined;
      await end('failed', {
        fields: {
          attempt,
          error: outcome.error.message.slice(0, 4000),
          errorCode: outcome.code,
          ...(outcome.exitCode != null ? { exitCode: outcome.exitCode } : {}),
          ...(logRefs ? { logRefs } : {}),
        },
      }, outcome.leaseGone === undefined);
      await recordDeadLetter(ctx, job.queueName, d, attempt, outcome);
      if (ctx.deliveries) await ctx.deliveries.failedForGood(d, outcome.code);
      // The item is failed for good (recorded above): its job ends failed too, with no retry, so
      // Bull Board and BullMQ's own counts show it as it is.
      throw new UnrecoverableError(`${outcome.code}: ${outcome.error.message.slice(0, 1000)}`);
    }
  }
}

/**
 * A stale holder (its lease fenced or lost on the last try) ends the item only while its BullMQ
 * job is still its own: when the job was taken up elsewhere (this runner was paused past the job's
 * lock), that attempt decides the end. `extendLock` answers 1 only to the job's current holder.
 */
async function unlessSuperseded(outcome: Outcome, job: Job<ItemJobData>, token: string | undefined, jobLockMs: number): Promise<Outcome> {
  if (outcome.kind !== 'failed' || outcome.leaseGone === undefined || token === undefined) return outcome;
  return (await job.extendLock(token, jobLockMs)) === 1 ? outcome : { kind: 'superseded', error: outcome.error };
}

/**
 * The end. Without locks: `finishItem`. With locks: one script that checks the fencing tokens,
 * writes the end (with a `lock released` event per lock) and releases them; a fenced holder's
 * result is refused there (a `fenced` event) and its job retried under fresh locks.
 * Invariant: parked dependents are woken only after the state is written, so a dependent never
 * sees its dependency non-terminal. A crash in between is repaired when the job is retried: the
 * start then reports the item terminal and names them again (idempotent).
 */
export async function endItem(
  ctx: Pick<RunnerContext, 'store' | 'queues' | 'metrics'>,
  queue: string,
  d: Pick<ItemJobData, 'runId' | 'itemId'>,
  state: EndState,
  fields: EndFields,
  lease?: LockLeaseLike,
): Promise<void> {
  // The end script promotes the jobs it wakes itself; `wake` and the heads name only those it could not.
  if (!lease) {
    const { moved, wake } = await ctx.store.finishItem(d.runId, d.itemId, state, { ...fields, promoteIn: queue });
    if (moved === 'moved') noteEnd(ctx.metrics, queue, state, 0);
    await ctx.queues.wakeJobs(queue, wake);
    return;
  }
  const ended = await ctx.store.endItem(d.runId, d.itemId, state, lease.releaseWith(), { ...fields, promoteIn: queue });
  await ctx.queues.wakeHolders(wakeTargetsOf(ended.heads));
  if (ended.kind === 'fenced') {
    ctx.metrics.eventsAppended.inc();
    throw new FencedError(ended.lock, ended.token, ended.newestToken);
  }
  if (ended.moved === 'moved') noteEnd(ctx.metrics, queue, state, lease.names.length);
  await ctx.queues.wakeJobs(queue, ended.wake);
}

/** A result refused on a stale fencing token (the end script recorded the `fenced` event). */
function noteFenced(ctx: Pick<RunnerContext, 'metrics' | 'logger'>, d: Pick<ItemJobData, 'runId' | 'itemId'>, error: FencedError): void {
  ctx.metrics.fenced.inc();
  ctx.logger.warn({ runId: d.runId, itemId: d.itemId, lock: error.lock }, 'result rejected: stale fencing token');
}

/** A start: the `running` event and a `lock acquired` event per lock. Queue wait only on the first attempt (a retry's wait is its back-off). */
function noteStart(metrics: AgoraMetrics, job: Job, attempt: number, locks: number): void {
  metrics.itemsStarted.inc({ queue: job.queueName });
  metrics.eventsAppended.inc(1 + locks);
  if (attempt === 1 && job.timestamp > 0) metrics.itemQueueWait.observe({ queue: job.queueName }, Math.max(0, Date.now() - job.timestamp) / 1000);
}

/** An end this runner wrote: the item event and a `lock released` event per lock. */
function noteEnd(metrics: AgoraMetrics, queue: string, state: EndState | 'skipped', locks: number): void {
  metrics.itemsEnded.inc({ state, queue });
  metrics.eventsAppended.inc(1 + locks);
}

/**
 * The item's retry policy: the one resolved at acceptance and carried (hashed) in its job data;
 * for a job of an older scheduler without one, this runner's config level.
 */
function retryPolicyOf(ctx: Pick<RunnerContext, 'config'>, d: ItemJobData): RetryPolicy {
  return d.retry ?? configRetryPolicy(ctx.config.runner);
}
