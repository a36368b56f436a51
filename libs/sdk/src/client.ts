import { Queue } from 'bullmq';
import { z } from 'zod';
import {
  IllegalStateError,
  INBOX_QUEUE,
  NAMESPACE_RE,
  NotFoundError,
  PlanValidationError,
  UnavailableError,
  ValueError,
  assertValidPlan,
  encodeChannelMessage,
  envRedisUrl,
  isItemId,
  assertRunId,
  isTerminalRunState,
  newRunId,
  assertDeadLetterId,
  submittedQueueOf,
  type AgoraEvent,
  type Plan,
  type ValidateOptions,
  parseDeadLetterSelector,
  parseMemoPurgeSelector,
  type DeadLetterSelector,
  type MemoPurgeSelector,
} from '@agora/core';
import {
  DeadLetterStore,
  MemoStore,
  RunStore,
  createRedis,
  isRedisPermissionError,
  redisPermissionMessage,
  sendItemMessage,
  ItemsBeingRegisteredError,
  RunNotRecordedError,
  reportRedisErrors,
  unavailableError,
  whenReady,
  type ItemDetail,
  type MemoEntry,
  type RedisClient,
  type RunGraph,
  type RunStatus,
  type RunsPage,
  type RunsQuery,
  type SentMessage,
  type StoredDeadLetter,
} from '@agora/state';
import { deploymentValidation, executorsNamedIn, parseDeployment } from './deployment.js';
import { MAX_TIMEOUT_MS, checkArgument, timeoutMsSchema, validateOptionsSchema, checkOptionFields, checkReplayArguments, checkRerunOptions, checkWatchOptions, listLimitSchema, runsQueryObjectSchema } from './queries.js';
import { buildReplayPlan, type ReplayPlan } from './replay-plan.js';
import { ABORTED, unlessAborted } from './abort.js';

/** How often `send` looks whether a run just submitted was accepted. */
const SEND_ACCEPTANCE_POLL_MS = 50;

export interface AgoraClientOptions {
  /** @default process.env.REDIS_URL or redis://127.0.0.1:6379 */
  readonly redisUrl?: string;
  /** An existing client to use instead of `redisUrl` (not closed by `close`). */
  readonly redis?: RedisClient;
  /** @default "agora" */
  readonly namespace?: string;
  /**
   * Client-side validation. When the active scheduler has published its deployment (queues,
   * targets, executors), plans are also checked against that, so nothing is enqueued that the
   * scheduler would reject; it validates again at acceptance (tasks included).
   */
  readonly validate?: ValidateOptions;
  /**
   * Checks of a valid plan that need more than the plan and the deployment's lists, run before
   * anything is enqueued; problems reject the submission with `PlanValidationError` like any
   * other. The CLI and the HTTP API pass the task check of the scheduler's acceptance here
   * (`resolvePlanTasks` of `@agora/registry`: every dispatch item's task configured or registered
   * in storage, not both), so an unknown task is refused at submit, not only at acceptance.
   */
  readonly checkPlan?: (plan: Plan) => Promise<readonly string[]>;
  /**
   * How long a call waits for Redis before it rejects with `UnavailableError` (code
   * `UNAVAILABLE`). Without a bound, a call made while Redis is down or refusing our password
   * would never settle: clients keep commands queued through a restart. `watch` allows each of
   * its blocking reads `pollMs` more.
   * @default 10000
   */
  readonly timeoutMs?: number;
}

export interface WatchOptions {
  /** Resume from this seq (inclusive). @default 0 */
  readonly fromSeq?: number;
  readonly signal?: AbortSignal;
  /** How long one blocking read waits before checking `signal`. @default 1000 */
  readonly pollMs?: number;
}

export type ClientRunStatus = RunStatus | { readonly runId: string; readonly state: 'submitted' };

const DEFAULT_TIMEOUT_MS = 10_000;
/**
 * A run id claim outlasts its submission's Redis bound (`timeoutMs`) by this much (RunStore
 * `claimRunId`): it covers the add and its read-back, which end within the bound or are given up.
 */
const RUN_ID_CLAIM_SLACK_MS = 5_000;

/** `AgoraClientOptions` as outside input: every field of its type, nothing else. */
const clientOptionsSchema = z.strictObject(
  {
    redisUrl: z.string('redisUrl: a Redis URL (redis://…, rediss://…)').optional(),
    redis: z.custom<RedisClient>((v) => typeof v === 'object' && v !== null, 'redis: an ioredis client').optional(),
    namespace: z.string().regex(NAMESPACE_RE, 'namespace: 1-32 of [a-z0-9_-], starting with a letter or digit').optional(),
    validate: validateOptionsSchema,
    checkPlan: z.custom<(plan: Plan) => Promise<readonly string[]>>((v) => typeof v === 'function', 'checkPlan: a function').optional(),
    timeoutMs: timeoutMsSchema,
  },
  'options: an object ({ redisUrl, namespace, … })',
);

/**
 * The service-side SDK: submit a plan, watch its events, read its status, cancel it. Talks to
 * Redis directly; the scheduler and runners need not be reachable over HTTP. Every call settles
 * within `timeoutMs` when Redis does not answer: it rejects with `UnavailableError`.
 */
export class AgoraClient {
  private readonly redis: RedisClient;
  private readonly ownsRedis: boolean;
  private readonly store: RunStore;
  private readonly inbox: Queue;
  private readonly validate: ValidateOptions;
  private readonly checkPlan: ((plan: Plan) => Promise<readonly string[]>) | undefined;
  private readonly timeoutMs: number;
  private readonly dlq: DeadLetterStore;

  constructor(opts: AgoraClientOptions = {}) {
    // Before anything connects: a bad option is the caller's mistake (ValueError), not a TypeError
    // from deep inside, and a misspelt one (`redisURL`) must not silently fall back to a default.
    checkArgument(clientOptionsSchema, opts, 'AgoraClient options');
    const redisUrl = opts.redisUrl ?? envRedisUrl() ?? 'redis://127.0.0.1:6379';
    this.redis = opts.redis ? reportRedisErrors(opts.redis) : createRedis(redisUrl);
    this.ownsRedis = opts.redis === undefined;
    this.store = new RunStore(this.redis, opts.namespace ?? 'agora');
    this.inbox = new Queue(INBOX_QUEUE, { connection: this.redis, prefix: this.store.keys.bullPrefix });
    this.dlq = new DeadLetterStore(this.redis, opts.namespace ?? 'agora');
    // BullMQ re-emits connection trouble here; the client has reported it already (createRedis).
    this.inbox.on('error', () => undefined);
    this.validate = opts.validate ?? {};
    this.checkPlan = opts.checkPlan;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /**
   * Runs `fn` once `client` is ready, and settles within `ms`: with `fn`'s outcome, or with an
   * `UnavailableError`. `fn` receives `live()`, which throws once the call has given up: call it
   * before each write, so a call that timed out while Redis was away does not write when it
   * comes back (a caller told "unavailable" may submit again).
   */
  private async bounded<T>(what: string, fn: (live: () => void) => Promise<T>, opts: { client?: RedisClient; ms?: number } = {}): Promise<T> {
    const client = opts.client ?? this.redis;
    // pollMs + timeoutMs may pass what a timer can wait (then Node fires it after 1 ms).
    const ms = Math.min(opts.ms ?? this.timeoutMs, MAX_TIMEOUT_MS);
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = unavailableError(client, ms, what);
        ac.abort(err);
        reject(err);
      }, ms);
    });
    const work = (async () => {
      await whenReady(client, ac.signal);
      return fn(() => ac.signal.throwIfAborted());
    })();
    // The loser of the race must not surface later as an unhandled rejection.
    work.catch(() => undefined);
    try {
      return await Promise.race([work, expired]);
    } catch (err) {
      // A Redis user without a permission (an ACL): an Agora error saying which, not ioredis'
      // ReplyError or a script's wrapper; not retryable, as the HTTP transport's 403.
      if (isRedisPermissionError(err)) throw new UnavailableError(redisPermissionMessage(err), { retryable: false, cause: err });
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Validates the plan and puts it on the scheduler's inbox. Returns the run id at once; the run
   * is accepted asynchronously. Throws `PlanValidationError` (nothing enqueued) for a bad plan,
   * also one the deployment does not serve (unknown queue, target or executor);
   * `IllegalStateError` when `runId` is already taken; `UnavailableError` when Redis does not
   * answer within `timeoutMs` (then check `status(runId)` before submitting again).
   */
  async submit(plan: unknown, opts: { runId?: string } = {}): Promise<string> {
    checkOptionFields(opts, ['runId'], 'submit');
    return this.enqueue(plan, opts.runId ?? newRunId());
  }

  /** `submit`, with the replay link of `replayDeadLetters` in the submission when given. */
  private async enqueue(plan: unknown, runId: string, replay?: ReplayPlan['replay']): Promise<string> {
    // The caller's own lists first, before any Redis call. Executors only when the caller named
    // them: otherwise the deployment's published list decides (below), so an executor a runner
    // plugs in is not refused by the built-in default list.
    const valid = assertValidPlan(plan, this.validate.executors !== undefined ? this.validate : { ...this.validate, executors: executorsNamedIn(plan) });
    assertRunId(runId);
    // Outside the Redis bound below: this check reads storage, not Redis.
    const problems = this.checkPlan ? await this.checkPlan(valid) : [];
    if (problems.length > 0) throw new PlanValidationError([...problems]);
    return this.bounded(`submit of run "${runId}"`, async (live) => {
      const [hash, taken] = await this.store.deploymentAndRunExists(runId);
      const deployment = parseDeployment(hash);
      assertValidPlan(plan, deploymentValidation(this.validate, deployment));
      if (taken || (await this.inbox.getJob(runId))) throw new IllegalStateError(`run "${runId}" already exists; submit under a new run id`);
      await this.addToInbox(runId, live, (submittedAt) => ({ runId, plan, submittedAt, ...(replay ? { replay } : {}) }), 'submit');
      return runId;
    });
  }

  /**
   * Puts a submission (or a rerun) on the scheduler's inbox under `runId`, once: of submissions
   * racing under one id (two clients, two transports, retries) only the one that claims it
   * (`claimRunId`) adds a job; the others, and one whose add BullMQ answered for an earlier job
   * under the id (an add under a taken job id succeeds, keeping the first: its creation time is
   * read back, one field, not the plan), get `IllegalStateError`. When the call has given up
   * (`live`) or the add fails, the claim is given back, so a caller told "unavailable" that finds
   * no such run may submit under the id again (an add whose answer was lost left its job, which
   * keeps the id taken).
   */
  private async addToInbox(runId: string, live: () => void, data: (submittedAt: string) => Record<string, unknown>, verb: 'submit' | 'rerun'): Promise<void> {
    const taken = (): IllegalStateError => new IllegalStateError(`run "${runId}" already exists; ${verb} under a new run id`);
    const claimMs = Math.min(this.timeoutMs, MAX_TIMEOUT_MS) + RUN_ID_CLAIM_SLACK_MS;
    if (!(await this.store.claimRunId(runId, claimMs))) {
      // No run and no inbox job (checked just before): another call holds the claim, or one that
      // failed left it behind, its release lost; then it lapses on its own.
      const left = await this.store.runIdClaimMs(runId);
      throw new IllegalStateError(`run "${runId}" already exists: a submission under this id is in progress${left > 0 ? ` (if it failed, the id is free again within ${Math.ceil(left / 1000)} s)` : ''}; ${verb} under a new run id`);
    }
    const now = Date.now();
    try {
      live();
      await this.inbox.add('plan', data(new Date(now).toISOString()), {
        jobId: runId,
        timestamp: now,
        attempts: 10,
        backoff: { type: 'exponential', delay: 500 },
        removeOnComplete: { count: 1000 },
        removeOnFail: { count: 1000 },
      });
    } catch (err) {
      await this.store.releaseRunId(runId).catch(() => undefined);
      throw err;
    }
    const storedAt = await this.redis.hget(this.inbox.toKey(runId), 'timestamp');
    if (storedAt !== null && Number(storedAt) !== now) throw taken();
  }

  async status(runId: string): Promise<ClientRunStatus> {
    return this.bounded(`status of run "${runId}"`, async () => {
      const s = await this.runStatus(runId);
      if (s) return s;
      const job = await this.inbox.getJob(runId);
      if (job && (await job.isFailed()) && (await this.store.runState(runId)) === null) throw acceptanceFailed(runId, job.failedReason);
      if (job) return { runId, state: 'submitted' as const };
      throw new NotFoundError(`no run "${runId}"`);
    });
  }

  /** Runs newest first, a page at a time; filter by state, queue, plan id or creation time. */
  async runs(query: RunsQuery = {}): Promise<RunsPage> {
    const q = checkArgument(runsQueryObjectSchema, query, 'runs');
    return this.bounded('the runs list', () => this.store.runsPage(q));
  }

  /** One item of a run: state, attempts, timings, lock tokens, error and exit code, retries, its events. */
  async item(runId: string, itemId: string): Promise<ItemDetail> {
    assertRunId(runId);
    if (!isItemId(itemId)) throw new ValueError(`invalid item id "${String(itemId).slice(0, 80)}"`);
    return this.bounded(`item "${itemId}" of run "${runId}"`, async () => {
      const d = await this.store.itemDetail(runId, itemId);
      if (d) return d;
      throw new NotFoundError((await this.store.runProgress(runId)).state === null ? `no run "${runId}"` : `run "${runId}" has no item "${itemId}"`);
    });
  }

  /**
   * Yields the run's events in seq order, from `fromSeq`, and ends after the run's terminal
   * event. Resumable: pass the last seen seq + 1. Throws `UnavailableError` when a read gets no
   * answer within `pollMs` + `timeoutMs`.
   */
  async *watch(runId: string, opts: WatchOptions = {}): AsyncGenerator<AgoraEvent> {
    checkOptionFields(opts, ['fromSeq', 'signal', 'pollMs'], 'watch');
    checkWatchOptions(opts);
    let next = opts.fromSeq ?? 0;
    const pollMs = opts.pollMs ?? 1000;
    assertRunId(runId);
    const conn = reportRedisErrors(this.redis.duplicate());
    try {
      for (;;) {
        if (opts.signal?.aborted) return;
        const from = next;
        // Each wait races the signal: an abort ends the watch at once, not after the blocking read.
        const batch = await unlessAborted(
          this.bounded(`events of run "${runId}"`, () => this.store.readEvents(runId, from, { blockMs: pollMs, client: conn, count: 500 }), {
            client: conn,
            ms: pollMs + this.timeoutMs,
          }),
          opts.signal,
        );
        if (batch === ABORTED) return;
        if (batch.length === 0) {
          // A rejected or finished run whose terminal event we already passed (fromSeq beyond it).
          const done = await unlessAborted(this.bounded(`state of run "${runId}"`, async () => {
            const state = await this.store.runState(runId);
            if (state === null) {
              // Not recorded: a submission the scheduler has not accepted yet is waited for; a run
              // nobody submitted is NotFoundError, as over HTTP (before, this polled forever).
              // Read again after the inbox: an acceptance may have recorded it in between.
              const job = await this.inbox.getJob(runId);
              if ((await this.store.runState(runId)) !== null) return false;
              if (!job) throw new NotFoundError(`no run "${runId}"`);
              // A submission the scheduler gave up on (its tries spent, or data it refused) is never
              // recorded: waiting for it would be forever.
              if (await job.isFailed()) throw acceptanceFailed(runId, job.failedReason);
              return false;
            }
            if (!isTerminalRunState(state)) return false;
            return next >= (await this.store.runProgress(runId)).events;
          }), opts.signal);
          if (done === ABORTED || done) return;
          continue;
        }
        for (const e of batch) {
          yield e;
          next = e.seq + 1;
          if (e.type === 'run' && isTerminalRunState(e.state)) return;
        }
      }
    } finally {
      conn.disconnect();
    }
  }

  /** Waits for the run to end; returns its final status. */
  async wait(runId: string, opts: { signal?: AbortSignal } = {}): Promise<RunStatus> {
    checkOptionFields(opts, ['signal'], 'wait');
    for await (const _ of this.watch(runId, opts.signal ? { signal: opts.signal } : {})) {
      // drain
    }
    // Aborted: the run has not ended, so there is no final status to return (as over HTTP).
    opts.signal?.throwIfAborted();
    return this.bounded(`status of run "${runId}"`, async () => {
      // As `status` answers it (and `wait` over HTTP): with why items did not succeed.
      const s = await this.runStatus(runId);
      if (!s) throw new NotFoundError(`no run "${runId}"`);
      return s;
    });
  }

  /** The run's status with why items did not succeed (or why it was rejected), or null for a run with no record. */
  private async runStatus(runId: string): Promise<RunStatus | null> {
    const s = await this.store.getRun(runId);
    // A rejected run has no items to say it with: its reason is the problems of its run event.
    if (s?.state === 'rejected') return { ...s, problems: await this.store.rejectionProblems(runId) };
    // Say why items did not succeed: worth one pass over the events only when some did not.
    if (!s || s.counts.failed + s.counts.skipped + s.counts.cancelled === 0) return s;
    const why = await this.store.endReasons(runId);
    return { ...s, items: s.items.map((i) => ({ ...i, ...why.get(i.id) })) };
  }

  /**
   * Cancels a run: items not started end `cancelled`, running ones are stopped through their
   * compute provider. Returns the run state after the request.
   */
  async cancel(runId: string): Promise<{ runId: string; state: string; running: number }> {
    return this.bounded(`cancel of run "${runId}"`, async (live) => {
      const r = await this.store.cancelRun(runId, 'cancelled by client');
      if (r.kind === 'unknown') {
        // Not accepted yet: take it off the inbox so it never starts.
        const job = await this.inbox.getJob(runId);
        if (job && (await job.isWaiting())) {
          live();
          await job.remove();
          await this.store.rejectRun(runId, '', ['cancelled before it was accepted'], submittedQueueOf((job.data as { plan?: unknown } | undefined)?.plan));
          return { runId, state: 'rejected', running: 0 };
        }
        if (job) throw new IllegalStateError(`run "${runId}" is being accepted; cancel again in a moment`);
        throw new NotFoundError(`no run "${runId}"`);
      }
      const state = (await this.store.runState(runId)) ?? 'unknown';
      return { runId, state, running: r.kind === 'cancelling' ? r.running : 0 };
    });
  }

  /**
   * Sends a message (any JSON value, at most 64 KiB as JSON) to an item of a run: its worker
   * reads it as one JSON line from the file named by `AGORA_CHANNEL`. An item that has not
   * started yet gets it when it starts, after any sent before it, in order. Each message is a
   * `message` event of the run (its size and SHA-256, not the body). Throws `ValueError` for a
   * bad id or message, `NotFoundError` for an unknown run or item, `IllegalStateError` when the
   * item has ended (or has had its 1,000 messages), or when a run just submitted was not accepted
   * within `timeoutMs` (until then the message waits for the acceptance).
   */
  async send(runId: string, itemId: string, message: unknown): Promise<SentMessage> {
    assertRunId(runId);
    if (!isItemId(itemId)) throw new ValueError(`invalid item id "${String(itemId).slice(0, 80)}"`);
    const encoded = encodeChannelMessage(message);
    const what = `message to item "${itemId}" of run "${runId}"`;
    // A run submitted a moment ago waits on the scheduler's inbox until it is accepted (usually
    // milliseconds): its items are not started, so the message waits for the acceptance, as the
    // README promises a message sent before the item starts, instead of "no run".
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      try {
        return await this.bounded(what, () => sendItemMessage(this.store, runId, itemId, encoded));
      } catch (err) {
        // Not accepted yet, or accepted and still registering its items (ItemsBeingRegisteredError).
        const accepting = err instanceof ItemsBeingRegisteredError || (err instanceof RunNotRecordedError && (await this.bounded(`run "${runId}"`, () => this.submittedOrRecorded(runId))));
        if (!accepting) throw err;
        if (Date.now() >= deadline) {
          throw new IllegalStateError(`run "${runId}" is submitted and not accepted yet (is a scheduler running?): send the message again once it is`);
        }
        await new Promise((r) => setTimeout(r, SEND_ACCEPTANCE_POLL_MS));
      }
    }
  }

  /**
   * After a send found no record of the run: whether it is on the scheduler's inbox, or has been
   * recorded since (its acceptance began between the send and this look; the inbox job may be gone
   * already). Either way the send is worth trying again; an unknown run is neither.
   */
  private async submittedOrRecorded(runId: string): Promise<boolean> {
    return (await this.inbox.getJob(runId)) !== undefined || (await this.store.runState(runId)) !== null;
  }

  /**
   * Dead-letter records, newest first: all of them or one run's (`runId`), at most `limit`
   * (default 1000). Records hold inputs and output tails: an admin's view.
   */
  async deadLetters(opts: { runId?: string; limit?: number } = {}): Promise<StoredDeadLetter[]> {
    checkOptionFields(opts, ['runId', 'limit'], 'deadLetters');
    if (opts.runId !== undefined) assertRunId(opts.runId);
    checkArgument(listLimitSchema, opts.limit, 'deadLetters');
    return this.bounded('dead letters', () => this.dlq.list(opts));
  }

  /** One dead-letter record (`<runId>.<itemId>`); `NotFoundError` when there is none. */
  async deadLetter(id: string): Promise<StoredDeadLetter> {
    assertDeadLetterId(id);
    return this.bounded(`dead letter "${id}"`, () => this.dlq.require(id));
  }

  /**
   * Runs dead items again in a new run linked to the original (see `buildReplayPlan`): one
   * letter (`{ id }`), or a run's letters (`{ runId }`: those not replayed yet; with `all`, every
   * one). The letters are marked replayed by the new run before it is submitted (unmarked when
   * the submission fails). A letter already replayed is refused (`IllegalStateError`) unless
   * `force`; `NotFoundError` when there is nothing to replay.
   */
  async replayDeadLetters(sel: { id: string } | { runId: string; all?: boolean }, opts: { force?: boolean } = {}): Promise<{ runId: string; letters: string[]; items: string[] }> {
    checkReplayArguments(sel, opts);
    const letters = await this.bounded('dead letters to replay', async () => {
      if ('id' in sel) return [await this.dlq.require(sel.id)];
      assertRunId(sel.runId);
      const all = await this.dlq.list({ runId: sel.runId, limit: Number.MAX_SAFE_INTEGER });
      const chosen = sel.all ? all : all.filter((l) => l.replayedBy === undefined);
      if (chosen.length === 0) throw new NotFoundError(all.length === 0 ? `no dead letters of run "${sel.runId}"` : `every dead letter of run "${sel.runId}" was replayed already (replay with all to replay them again: --all, { all: true })`);
      return chosen.sort((a, b) => a.itemId.localeCompare(b.itemId));
    });
    const { plan, replay } = buildReplayPlan(letters);
    const runId = newRunId();
    const ids = letters.map((l) => l.id);
    const force = opts.force === true || ('all' in sel && sel.all === true);
    const marked = await this.bounded('marking dead letters replayed', () => this.dlq.markReplayed(ids, runId, { force }));
    if (!marked.ok) {
      const by = letters.filter((l) => marked.replayed.includes(l.id)).map((l) => `"${l.id}" (by run ${l.replayedBy ?? '?'})`);
      throw new IllegalStateError(`dead letter ${by.join(', ')} was replayed already; replay with force to replay it again (--force, { force: true })`);
    }
    try {
      await this.enqueue(plan, runId, replay);
    } catch (err) {
      await this.bounded('unmarking dead letters', () => this.dlq.unmarkReplayed(ids, runId)).catch(() => undefined);
      throw err;
    }
    return { runId, letters: ids, items: replay.items };
  }

  /** Deletes dead letters: one (`{ id }`), a run's (`{ runId }`) or all (`{ all: true }`). Returns how many. */
  async purgeDeadLetters(sel: DeadLetterSelector): Promise<number> {
    const checked = parseDeadLetterSelector(sel);
    return this.bounded('purge of dead letters', () => this.dlq.purge(checked));
  }

  /**
   * Reruns an ended run: a new run of its accepted plan (read back from storage by the scheduler)
   * in which each item that ended `done` there takes its result again, without executing, when
   * its task definition is unchanged and its dependencies' results hash as they did (a `reused`
   * event); everything else executes. `fromFailed`: every item that ended `done` is reused
   * whatever its task definition now (only what failed, was skipped or cancelled executes, and
   * what depends on a result that changed). Both runs link each other (`rerunOf` / `rerunBy` in
   * their status). `NotFoundError` for an unknown run; `IllegalStateError` for one that has not
   * ended, was rejected, or has no stored plan. `checkPlan`: called with the run's stored plan
   * (`planRef`) once the run is known to be rerunnable and before anything is submitted (the SDK
   * has no storage; a caller that has, such as the CLI, reads the plan there and throws when it
   * is gone, so no run is submitted that the scheduler would reject).
   */
  async rerun(runId: string, opts: { fromFailed?: boolean; runId?: string; checkPlan?: (planRef: string) => Promise<void> } = {}): Promise<{ runId: string; rerunOf: string; fromFailed: boolean }> {
    checkRerunOptions(opts);
    checkOptionFields(opts, ['fromFailed', 'runId', 'checkPlan'], 'rerun');
    assertRunId(runId);
    const newId = opts.runId ?? newRunId();
    assertRunId(newId);
    const fromFailed = opts.fromFailed === true;
    const rerunnable = async (): Promise<string> => {
      const rec = await this.store.planRecord(runId);
      if (!rec) {
        if (await this.inbox.getJob(runId)) throw new IllegalStateError(`run "${runId}" is submitted and not accepted yet; only a run that ended can be rerun`);
        throw new NotFoundError(`no run "${runId}"`);
      }
      if (rec.state !== 'succeeded' && rec.state !== 'failed' && rec.state !== 'cancelled') throw new IllegalStateError(`run "${runId}" is ${rec.state}; only a run that ended (succeeded, failed or cancelled) can be rerun`);
      if (rec.planRef === undefined) throw new IllegalStateError(`run "${runId}" has no stored plan (it was accepted before plans were stored); submit its plan again`);
      return rec.planRef;
    };
    if (opts.checkPlan) {
      // Outside the Redis bound: the caller's storage takes the time it takes.
      const planRef = await this.bounded(`rerun of run "${runId}"`, rerunnable);
      await opts.checkPlan(planRef);
    }
    return this.bounded(`rerun of run "${runId}"`, async (live) => {
      await rerunnable();
      if ((await this.store.runState(newId)) !== null || (await this.inbox.getJob(newId))) throw new IllegalStateError(`run "${newId}" already exists; rerun under a new run id`);
      // The plan is left out: the scheduler runs the original's, as it was accepted.
      await this.addToInbox(newId, live, (submittedAt) => ({ runId: newId, plan: null, submittedAt, rerun: { runId, fromFailed } }), 'rerun');
      return { runId: newId, rerunOf: runId, fromFailed };
    });
  }

  /** The memo cache's entries, newest first (at most `limit`, default 1000): an admin's view. */
  async memoEntries(opts: { limit?: number } = {}): Promise<Array<MemoEntry & { key: string }>> {
    checkOptionFields(opts, ['limit'], 'memoEntries');
    checkArgument(listLimitSchema, opts.limit, 'memoEntries');
    return this.bounded('memo cache entries', () => new MemoStore(this.redis, this.store.keys.namespace).list(opts));
  }

  /** Deletes memo-cache entries by key, or every one; returns how many. Their items execute again next time. */
  async purgeMemo(sel: MemoPurgeSelector): Promise<number> {
    const checked = parseMemoPurgeSelector(sel);
    return this.bounded('purge of memo cache entries', () => new MemoStore(this.redis, this.store.keys.namespace).purge(checked));
  }

  /** The run's items with their states and dependencies (the console's DAG); `NotFoundError` for an unknown run. */
  async graph(runId: string): Promise<RunGraph> {
    return this.bounded(`graph of run "${runId}"`, async () => {
      const g = await this.store.runGraph(runId);
      if (g) return g;
      throw new NotFoundError(`no run "${runId}"`);
    });
  }

  /** The raw event list (for audit and debugging). */
  events(runId: string): Promise<AgoraEvent[]> {
    return this.bounded(`events of run "${runId}"`, () => this.store.allEvents(runId));
  }

  /** Closes what the client opened; settles within `timeoutMs` even when Redis is down. */
  async close(): Promise<void> {
    const closing = this.inbox.close();
    closing.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closing, new Promise<void>((r) => (timer = setTimeout(r, this.timeoutMs)))]);
    clearTimeout(timer);
    if (!this.ownsRedis) return;
    if (this.redis.status === 'ready') {
      const quitting = this.redis.quit().catch(() => undefined);
      await Promise.race([quitting, new Promise<void>((r) => (timer = setTimeout(r, this.timeoutMs)))]);
      clearTimeout(timer);
    }
    // QUIT waits in the offline queue while Redis is away; stop reconnecting instead.
    this.redis.disconnect();
  }
}

/**
 * A submission whose inbox job failed for good: the scheduler refused its data or spent its tries
 * accepting it (see its log), so no run was recorded and nothing ran. Not retryable as it is:
 * submit the plan again, under a new run id.
 */
function acceptanceFailed(runId: string, reason: string | undefined): UnavailableError {
  return new UnavailableError(`run "${runId}" was submitted but never accepted: the scheduler gave up on it (${(reason ?? 'no reason recorded').slice(0, 500)}); nothing ran, submit it again`, { retryable: false });
}
