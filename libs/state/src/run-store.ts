import { isRedisCluster, type RedisClient } from './redis.js';
import { ITEM_STATES, ValueError, encodeEventBody, isItemId, isRunId, formatTraceparent, hashTagOf, isTerminalItemState, parseTraceparent, type AgoraEvent, type EventBody, type ItemState, type TraceContext } from '@agora/core';
import { stateKeys, type StateKeys } from './keys.js';
import type { LockClaimCall, LockReleaseCall } from '@agora/locks';
import { callScript, callScriptBatched, defineScripts } from './scripts.js';
import { retryLevelsSchema, type RetryLevels } from './item-retry.js';
import { PLAN_REF, RERUN_BY, RERUN_OF, TASK_HASHES, parseShortcut, rerunLinks, type PlanRecord, type RerunLink, type Shortcut } from './rerun-record.js';

export interface RunStatus {
  readonly runId: string;
  readonly planId: string;
  readonly queue: string;
  readonly state: string;
  readonly createdAt: string;
  readonly finishedAt?: string;
  /** When the scheduler finished adding every item job. */
  readonly enqueuedAt?: string;
  readonly cancelRequested: boolean;
  readonly total: number;
  readonly counts: Record<ItemState, number>;
  /** `error`/`errorCode`/`exitCode`/`reason`: why an item ended failed, skipped or cancelled (status only). */
  readonly items: Array<{ id: string; state: string; resultRef?: string } & EndReason & Shortcut>;
  readonly events: number;
  /** Only for a rerun: the run it reruns. */
  readonly rerunOf?: RerunLink;
  /** Only for a run that was rerun: each rerun, oldest first. */
  readonly rerunBy?: RerunLink[];
  /** Items that ended `done` without executing, when any did: taken from another run (`reused`) or from the memo cache (`cached`). */
  readonly shortcuts?: { readonly reused: number; readonly cached: number };
  /** Only for a replay of dead letters: the run (and its items) this run runs again. */
  readonly replayOf?: ReplayLink;
  /** Only for a run whose dead letters were replayed: each replay, oldest first. */
  readonly replayedBy?: ReplayLink[];
  /** Only for a run rejected at acceptance (status only): why, the problems of its `rejected` run event. */
  readonly problems?: string[];
}

/** One end of a replay's link: the other run, the items run again, and when it was accepted. */
export interface ReplayLink {
  readonly runId: string;
  readonly items: readonly string[];
  readonly at: string;
}

/** Run-hash fields of the replay links (one per replay on the original: no read-modify-write). */
const REPLAY_OF = 'replayOf';
const REPLAYED_BY = 'replayedBy:';
/**
 * How long a run id claim lasts when the claimant names no bound (`claimRunId`'s `ttlMs`): past
 * a submission's default Redis bound (10 s), by which its inbox job exists or it has given up.
 */
const RUN_ID_CLAIM_MS = 30_000;

export type BeginResult =
  /** Already ended (or ended now: cancelled, skipped); `wake` are parked dependents' job ids. */
  /** `endedNow`: this start ended the item (skipped, cancelled, failed STALLED/INTEGRITY), so the caller counts the end. */
  | { readonly kind: 'terminal'; readonly state: string; readonly resultRef: string; readonly wake: string[]; readonly endedNow: boolean }
  /** Dependencies outside the item's flow tree have not all ended: park the job until woken. */
  | { readonly kind: 'wait'; readonly left: number }
  /** The run's `maxParallel` items are running: park the job until one of them ends and wakes it. */
  | { readonly kind: 'throttled'; readonly running: number }
  /** Run it: `attempt` is how many times the item has started, this time included. */
  | { readonly kind: 'run'; readonly attempt: number; readonly deps: Record<string, string> };

/** What the item start script did: the lock claim's own output, and the begin decision when granted. */
export interface StartReply {
  /** As libs/locks' claim: `[0, ...tokens]` granted, `[-1, ...]` keys not ours, `[index, position]` refused. */
  readonly claim: number[];
  /** The begin decision (only when the claim was granted). */
  readonly begin?: BeginResult;
  /** Lock waiters (members) now first in line: set when the locks were released in the same step (the item did not run). */
  readonly heads: string[];
}

/**
 * What writing an item's end did: `moved` (it ended now), `already` (it had ended before: a
 * repeat, e.g. a retried job; nothing appended) or `unknown` (no such item in the run).
 */
export type EndOutcome = 'moved' | 'already' | 'unknown';

/** What an item's end records, and where the jobs it wakes wait. */
export interface EndOptions {
  readonly resultRef?: string;
  readonly fields?: Record<string, unknown>;
  readonly after?: readonly EventBody[];
  /**
   * The item's queue: the end script then promotes the parked jobs it wakes itself (dependents'
   * gates, slot waiters, lock waiters), and returns only those it could not. Without it, it
   * returns them all and the caller promotes them.
   */
  readonly promoteIn?: string;
}

/** A run's trace context and the facts its root span carries (`RunStore.runTrace`). */
export interface RunTraceRecord {
  readonly state: string;
  readonly trace?: TraceContext;
  readonly createdAt: string;
  readonly finishedAt?: string;
  readonly planId: string;
  readonly queue: string;
  readonly total: number;
  readonly counts: { readonly done: number; readonly failed: number; readonly skipped: number; readonly cancelled: number };
}

/** What cancelling a run did: no such run, already ended, or cancelling with this many items running. */
export type CancelOutcome = { readonly kind: 'unknown' } | { readonly kind: 'ended' } | { readonly kind: 'cancelling'; readonly running: number };

/** The scripts' end codes (1 | 0 | -1), decoded in one place. */
function endOutcome(code: unknown): EndOutcome {
  const n = Number(code);
  return n === 1 ? 'moved' : n === 0 ? 'already' : 'unknown';
}

export type EndReply =
  | { readonly kind: 'ended'; readonly moved: EndOutcome; readonly wake: string[]; readonly heads: string[] }
  /** A newer fencing token was issued for `lock`: nothing was recorded but the `fenced` event. */
  | { readonly kind: 'fenced'; readonly lock: string; readonly token: number; readonly newestToken: number; readonly heads: string[] };

export interface RegisteredItem {
  readonly id: string;
  readonly depCount: number;
  readonly dependents: readonly string[];
  /** The item's job id when it is added parked (no flow-tree child holds it back, but it has dependencies). */
  readonly wakeJob?: string;
  /** `itemDefinitionHash` of the item's job data: what `beginItem` checks a job against. */
  readonly definitionHash: string;
  /** The item's BullMQ job id (for `strandedItems`: an item whose job vanished). */
  readonly jobId: string;
  /** Extra fields for the item's first event (executor, locks, dependencies). */
  readonly fields: Record<string, unknown>;
}

export interface BeginOptions {
  definitionHash: string;
  /** Most starts allowed before the item fails STALLED (attempts + stalls). @default 5 */
  maxStarts?: number;
  /** Extra fields of the running event. */
  fields?: Record<string, unknown>;
  jobId?: string;
}

function decodeBegin(r: readonly string[]): BeginResult {
  if (r[0] === 'terminal' || r[0] === 'ended') return { kind: 'terminal', state: r[1] ?? 'unknown', resultRef: r[2] ?? '', wake: r.slice(3), endedNow: r[0] === 'ended' };
  if (r[0] === 'wait') return { kind: 'wait', left: Number(r[1]) };
  if (r[0] === 'throttled') return { kind: 'throttled', running: Number(r[1]) };
  const refs: Record<string, string> = {};
  for (let i = 2; i + 1 < r.length; i += 2) refs[r[i]!] = r[i + 1]!;
  return { kind: 'run', attempt: Number(r[1]), deps: refs };
}

/**
 * The run state in Redis: run hash, item-state hash, results, dependency counters and the event
 * stream. Every write that changes a state also appends its event, in the same Lua script, so the
 * stream and the state can never disagree.
 */
export class RunStore {
  readonly keys: StateKeys;

  constructor(
    readonly redis: RedisClient,
    namespace: string,
  ) {
    this.keys = stateKeys(namespace);
    // Defined now, before any command: on an auto-pipelined client, a script defined lazily in
    // the same event-loop turn as a pipeline that was already built (a lock call, say) is missing
    // from that pipeline; ioredis then queues one callback more than it gets results and throws
    // `results[i] is not iterable` as an uncaught exception, killing the runner.
    defineScripts(redis);
  }

  private runKeys(runId: string): string[] {
    const k = this.keys.run(runId);
    return [k.meta, k.items, k.results, k.pending, k.dependents, k.events];
  }

  /**
   * Records the run once (see initRun-6.lua). `trace` is the run's trace context proposed now: it
   * is stored (and its `traceId` put on the accepted event) only when the run is new; the result's
   * `trace` is the one in force, so an acceptance resumed after a crash keeps the first one.
   */
  async initRun(
    runId: string,
    init: { total: number; queue: string; planId: string; fields: Record<string, unknown>; trace?: TraceContext },
  ): Promise<{ registered: number; flowChunks: number; state: string; trace?: TraceContext }> {
    const at = new Date().toISOString();
    const traceFields = init.trace ? { traceId: init.trace.traceId } : {};
    const body = encodeEventBody({ type: 'run', state: 'accepted', planId: init.planId, queue: init.queue, items: init.total, ...init.fields, ...traceFields });
    const args = [runId, at, init.total, init.queue, init.planId, body, init.trace ? formatTraceparent(init.trace) : ''];
    const r = (await callScript(this.redis, 'initRun', this.runKeys(runId), args)) as [number, number, string, string, string];
    // Indexed at its createdAt, to the ms: the run list's order and cursor are the time the run
    // shows (a resumed acceptance keeps the first one: the script returns the stored time).
    await this.redis.zadd(this.keys.runs, Date.parse(r[4] || at), runId);
    const trace = parseTraceparent(r[3]);
    return { registered: r[0], flowChunks: r[1], state: r[2], ...(trace ? { trace } : {}) };
  }

  /**
   * What the run's root span is built from when the run has ended: its trace context (absent for
   * a run accepted without one), state, acceptance and end times, plan, queue and counts. Null
   * for an unknown run.
   */
  async runTrace(runId: string): Promise<RunTraceRecord | null> {
    const f = await this.redis.hmget(this.keys.run(runId).meta, 'state', 'traceparent', 'createdAt', 'finishedAt', 'planId', 'queue', 'total', 'n_done', 'n_failed', 'n_skipped', 'n_cancelled');
    const [state, traceparent, createdAt, finishedAt, planId, queue, total, done, failed, skipped, cancelled] = f;
    if (!state) return null;
    const trace = parseTraceparent(traceparent);
    return {
      state,
      ...(trace ? { trace } : {}),
      createdAt: createdAt ?? '',
      ...(finishedAt ? { finishedAt } : {}),
      planId: planId ?? '',
      queue: queue ?? '',
      total: Number(total ?? 0),
      counts: { done: Number(done ?? 0), failed: Number(failed ?? 0), skipped: Number(skipped ?? 0), cancelled: Number(cancelled ?? 0) },
    };
  }

  async registerItems(runId: string, chunkIndex: number, items: readonly RegisteredItem[]): Promise<number> {
    const args: (string | number)[] = [runId, new Date().toISOString(), chunkIndex];
    for (const it of items) {
      // The same rule as the script's: an item with dependencies starts "waiting".
      const body = encodeEventBody({ type: 'item', itemId: it.id, state: it.depCount > 0 ? 'waiting' : 'queued', ...it.fields });
      args.push(it.id, it.depCount, it.dependents.join(','), it.wakeJob ?? '', it.definitionHash, it.jobId, body);
    }
    return callScript(this.redis, 'registerItems', this.runKeys(runId), args) as Promise<number>;
  }

  async markRunning(runId: string, flowChunks = -1): Promise<boolean> {
    return (await callScript(this.redis, 'markRunning', this.runKeys(runId), [runId, new Date().toISOString(), flowChunks])) === 1;
  }

  /**
   * Takes an item job: ends it at once when terminal, cancelled, a dependency failed, or its
   * definition is not the one registered at acceptance (`definitionHash`, from
   * `itemDefinitionHash` of the job's data); otherwise marks it running. `opts.before` are events
   * appended just before `running` (lock acquisitions), `opts.fields` extra fields of the running
   * event.
   */
  async beginItem(
    runId: string,
    itemId: string,
    deps: readonly string[],
    runner: string,
    opts: BeginOptions & { before?: readonly EventBody[] },
  ): Promise<BeginResult> {
    const r = (await callScriptBatched(this.redis, 'beginItem', this.runKeys(runId), [
      ...this.beginArgs(runId, itemId, deps, runner, opts),
      ...(opts.before ?? []).map(encodeEventBody),
    ])) as string[];
    return decodeBegin(r);
  }

  private beginArgs(runId: string, itemId: string, deps: readonly string[], runner: string, opts: BeginOptions): Array<string | number> {
    const running = encodeEventBody({ type: 'item', itemId, state: 'running', runner, ...opts.fields });
    return [runId, new Date().toISOString(), itemId, deps.join(','), opts.definitionHash, this.keys.finishedChannel, running, opts.jobId ?? '', opts.maxStarts ?? 5];
  }

  /**
   * `beginItem` for an item with resource locks, in the same script as the claim of its locks
   * (sent right behind redlock's acquisition): see startItem-N.lua. The running event gets the
   * `lockTokens` and is preceded by a `lock acquired` event per lock. An item that does not run
   * gives its locks back in the same step (`heads`: the waiters to wake).
   */
  async startItem(runId: string, itemId: string, deps: readonly string[], runner: string, opts: BeginOptions, claim: LockClaimCall): Promise<StartReply> {
    const r = (await callScriptBatched(this.redis, 'startItem', [...this.runKeys(runId), ...claim.keys], [
      ...this.beginArgs(runId, itemId, deps, runner, opts),
      claim.member,
      claim.arrival,
      claim.now,
      claim.deadline,
      claim.since,
      claim.ttlMs,
      claim.value,
      ...claim.names,
    ])) as [number[], string[], string[]];
    const [claimed, begin, heads] = r;
    return { claim: claimed.map(Number), ...(begin.length > 0 ? { begin: decodeBegin(begin) } : {}), heads };
  }

  /**
   * `finishItem` for an item that held resource locks, in one script with the fencing check and
   * the release of its locks: see endItem-N.lua. A fenced holder records nothing but the
   * `fenced` event.
   */
  async endItem(
    runId: string,
    itemId: string,
    state: 'done' | 'failed' | 'skipped' | 'cancelled',
    release: LockReleaseCall,
    opts: EndOptions = {},
  ): Promise<EndReply> {
    const body = encodeEventBody({ type: 'item', itemId, state, ...(opts.resultRef ? { resultRef: opts.resultRef } : {}), ...opts.fields });
    const r = (await callScriptBatched(this.redis, 'endItem', [...this.runKeys(runId), ...release.keys], [
      runId,
      new Date().toISOString(),
      itemId,
      state,
      opts.resultRef ?? '',
      body,
      this.keys.finishedChannel,
      release.value,
      release.now,
      release.forget,
      ...this.promoteArgs(opts.promoteIn),
      release.names.length,
      ...release.tokens,
      ...release.names,
      ...(opts.after ?? []).map(encodeEventBody),
    ])) as [string, ...unknown[]];
    if (r[0] === 'fenced') {
      return { kind: 'fenced', lock: String(r[1]), token: Number(r[2]), newestToken: Number(r[3]), heads: r[4] as string[] };
    }
    return { kind: 'ended', moved: endOutcome(r[1]), wake: r[2] as string[], heads: r[3] as string[] };
  }

  /**
   * The end scripts' promote arguments (see libs/state/commands/includes/promote.lua): the BullMQ
   * prefix and the item's queue, or '' (promote nothing) when no queue is given. BullMQ's keys
   * share the run keys' hash tag by construction (libs/core keys.ts), so the same Cluster slot.
   */
  private promoteArgs(queue: string | undefined): [string, string] {
    return queue === undefined ? ['', ''] : [this.keys.bullPrefix, queue];
  }

  /**
   * Ends an item. `moved` says whether it ended now (see `EndOutcome`); `wake`
   * are the job ids of parked dependents whose last dependency this was (named again on a repeat).
   */
  async finishItem(
    runId: string,
    itemId: string,
    state: 'done' | 'failed' | 'skipped' | 'cancelled',
    opts: EndOptions = {},
  ): Promise<{ moved: EndOutcome; wake: string[] }> {
    const body = encodeEventBody({ type: 'item', itemId, state, ...(opts.resultRef ? { resultRef: opts.resultRef } : {}), ...opts.fields });
    const r = (await callScriptBatched(this.redis, 'finishItem', this.runKeys(runId), [
      runId,
      new Date().toISOString(),
      itemId,
      state,
      opts.resultRef ?? '',
      body,
      this.keys.finishedChannel,
      ...this.promoteArgs(opts.promoteIn),
      ...(opts.after ?? []).map(encodeEventBody),
    ])) as [number, ...string[]];
    return { moved: endOutcome(r[0]), wake: r.slice(1) as string[] };
  }

  /**
   * Puts a running item back to `queued` with a `handedBack` event (its runner is shutting down
   * and returns the job to the queue). True when it was running.
   */
  async handBackItem(runId: string, itemId: string, fields: { attempt: number; runner: string; reason: string }, after: readonly EventBody[] = []): Promise<boolean> {
    const body = encodeEventBody({ type: 'handedBack', itemId, state: 'queued', ...fields });
    return (await callScript(this.redis, 'handBackItem', this.runKeys(runId), [runId, new Date().toISOString(), itemId, body, ...after.map(encodeEventBody)])) === 1;
  }

  /** Appends events (each `{ type, ...fields }`); returns the seq of the last one. */
  async appendEvents(runId: string, events: readonly EventBody[]): Promise<number> {
    return callScript(this.redis, 'appendEvent', this.runKeys(runId), [runId, new Date().toISOString(), ...events.map(encodeEventBody)]) as Promise<number>;
  }

  /** Requests the run's cancellation: see `CancelOutcome`. */
  async cancelRun(runId: string, reason?: string): Promise<CancelOutcome> {
    const code = Number(await callScript(this.redis, 'cancelRun', this.runKeys(runId), [
      runId,
      new Date().toISOString(),
      this.keys.finishedChannel,
      this.keys.cancelChannel,
      encodeEventBody({ type: 'run', state: 'cancelling', ...(reason ? { reason } : {}) }),
    ]));
    // The script's codes: -1 no such run, 0 already terminal, otherwise 1 + items still running.
    return code < 0 ? { kind: 'unknown' } : code === 0 ? { kind: 'ended' } : { kind: 'cancelling', running: code - 1 };
  }

  /**
   * Records a run rejected at acceptance. `queue` is the one its submitted plan named (see
   * `submittedQueueOf`), kept on the run so the listing, status and graph show it as they show an
   * accepted run's; `""` records none.
   */
  async rejectRun(runId: string, planId: string, problems: readonly string[], queue = ''): Promise<boolean> {
    const body = encodeEventBody({ type: 'run', state: 'rejected', planId, problems });
    const at = new Date().toISOString();
    const r = await callScript(this.redis, 'rejectRun', this.runKeys(runId), [runId, at, planId, body, queue]);
    await this.redis.zadd(this.keys.runs, Date.parse(at), runId);
    return r === 1;
  }

  async getRun(runId: string, opts: { items?: boolean } = {}): Promise<RunStatus | null> {
    const k = this.keys.run(runId);
    const pipe = this.redis.pipeline().hgetall(k.meta);
    if (opts.items !== false) pipe.hgetall(k.items).hgetall(k.results).hgetall(k.shortcuts);
    const res = (await pipe.exec()) ?? [];
    const meta = (res[0]?.[1] ?? {}) as Record<string, string>;
    if (!meta['state']) return null;
    const items = (res[1]?.[1] ?? {}) as Record<string, string>;
    const results = (res[2]?.[1] ?? {}) as Record<string, string>;
    const shortcuts = (res[3]?.[1] ?? {}) as Record<string, string>;
    const counts = Object.fromEntries(ITEM_STATES.map((s) => [s, 0])) as Record<ItemState, number>;
    const list: RunStatus['items'] = [];
    const taken = { reused: 0, cached: 0 };
    for (const [id, state] of Object.entries(items)) {
      if (state in counts) counts[state as ItemState]++;
      const ref = results[id];
      const marker = state === 'done' && shortcuts[id] ? parseShortcut(shortcuts[id]) : {};
      if (marker.reusedFrom) taken.reused++;
      if (marker.cachedFrom) taken.cached++;
      list.push(ref ? { id, state, resultRef: ref, ...marker } : { id, state });
    }
    return {
      runId,
      planId: meta['planId'] ?? '',
      queue: meta['queue'] ?? '',
      state: meta['state'],
      createdAt: meta['createdAt'] ?? '',
      ...(meta['finishedAt'] ? { finishedAt: meta['finishedAt'] } : {}),
      ...(meta['enqueuedAt'] ? { enqueuedAt: meta['enqueuedAt'] } : {}),
      cancelRequested: meta['cancelRequested'] === '1',
      total: Number(meta['total'] ?? 0),
      counts,
      items: list,
      events: Number(meta['seq'] ?? 0),
      ...replayLinks(meta),
      ...rerunLinks(meta),
      ...(taken.reused + taken.cached > 0 ? { shortcuts: taken } : {}),
    };
  }

  /**
   * Records where the run's accepted plan is stored (`planRef`, a pinned `plan` artifact) and the
   * hash of each task definition it was accepted with (name -> sha256), once: what a rerun reads
   * back. Idempotent (a resumed acceptance keeps the first).
   */
  async notePlan(runId: string, rec: { planRef: string; taskHashes: Readonly<Record<string, string>> }): Promise<void> {
    const meta = this.keys.run(runId).meta;
    await this.redis.hsetnx(meta, PLAN_REF, rec.planRef);
    await this.redis.hsetnx(meta, TASK_HASHES, JSON.stringify(rec.taskHashes));
  }

  /** The run's state, stored plan and task hashes (see `notePlan`); null for an unknown run. */
  async planRecord(runId: string): Promise<PlanRecord | null> {
    const [state, planRef, taskHashes] = await this.redis.hmget(this.keys.run(runId).meta, 'state', PLAN_REF, TASK_HASHES);
    if (!state) return null;
    let hashes: Record<string, string> = {};
    try {
      const v = JSON.parse(taskHashes ?? '{}') as unknown;
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) hashes = Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'));
    } catch {
      // an unreadable record pins nothing: every task counts as changed
    }
    return { state, ...(planRef ? { planRef } : {}), taskHashes: hashes };
  }

  /**
   * Records both ends of a rerun at its acceptance, like `noteReplay`: the new run names the
   * original, the original names the new run (in its record: its stream is sealed). Idempotent.
   */
  async noteRerun(runId: string, of: { runId: string; fromFailed: boolean }): Promise<void> {
    const at = new Date().toISOString();
    await this.redis.hsetnx(this.keys.run(runId).meta, RERUN_OF, JSON.stringify({ runId: of.runId, fromFailed: of.fromFailed, at }));
    await this.redis.hsetnx(this.keys.run(of.runId).meta, `${RERUN_BY}${runId}`, JSON.stringify({ fromFailed: of.fromFailed, at }));
  }

  /** Marks an item that ended `done` without executing (status shows `reusedFrom` / `cachedFrom`). */
  async noteShortcut(runId: string, itemId: string, kind: 'reused' | 'cached', from: { runId: string; itemId: string }): Promise<void> {
    await this.redis.hset(this.keys.run(runId).shortcuts, itemId, JSON.stringify({ kind, runId: from.runId, itemId: from.itemId }));
  }

  /** Each item's state and resultRef in one run (nulls for unknown ones): one round trip. */
  async statesAndResults(runId: string, ids: readonly string[]): Promise<Array<{ state: string | null; resultRef: string | null }>> {
    if (ids.length === 0) return [];
    const k = this.keys.run(runId);
    const res = (await this.redis.pipeline().hmget(k.items, ...ids).hmget(k.results, ...ids).exec()) ?? [];
    const states = (res[0]?.[1] ?? []) as Array<string | null>;
    const refs = (res[1]?.[1] ?? []) as Array<string | null>;
    return ids.map((_, i) => ({ state: states[i] ?? null, resultRef: refs[i] ?? null }));
  }

  /**
   * Records both ends of a replay at its acceptance: the new run names the original and the
   * items it runs again, and the original names the new run. Idempotent (a resumed acceptance
   * writes the same fields). The original's stream is not touched: a finished run's stream is
   * closed and sealed (appendEvent refuses), so the link lives in its record.
   */
  async noteReplay(runId: string, of: { runId: string; items: readonly string[] }): Promise<void> {
    const at = new Date().toISOString();
    await this.redis.hsetnx(this.keys.run(runId).meta, REPLAY_OF, JSON.stringify({ runId: of.runId, items: of.items, at }));
    await this.redis.hsetnx(this.keys.run(of.runId).meta, `${REPLAYED_BY}${runId}`, JSON.stringify({ items: of.items, at }));
  }

  /** The resultRef of each of the items that has one. */
  async resultRefs(runId: string, ids: readonly string[]): Promise<Record<string, string>> {
    if (ids.length === 0) return {};
    const refs = await this.redis.hmget(this.keys.run(runId).results, ...ids);
    const out: Record<string, string> = {};
    ids.forEach((id, i) => {
      const r = refs[i];
      if (r) out[id] = r;
    });
    return out;
  }

  /** The BullMQ job id each item was registered with (null for one without). */
  async itemJobIds(runId: string, ids: readonly string[]): Promise<Array<string | null>> {
    if (ids.length === 0) return [];
    return this.redis.hmget(this.keys.run(runId).pending, ...ids.map((id) => `job:${id}`));
  }

  /**
   * Pins the run's task definitions once (an acceptance resumed after a crash keeps the first
   * pins) and returns the pins in force: task name -> pinned URI.
   */
  async pinTaskRefs(runId: string, refs: ReadonlyMap<string, string>): Promise<Map<string, string>> {
    const meta = this.keys.run(runId).meta;
    await this.redis.hsetnx(meta, 'taskRefs', JSON.stringify([...refs]));
    return new Map(JSON.parse((await this.redis.hget(meta, 'taskRefs')) ?? '[]') as Array<[string, string]>);
  }

  /**
   * Pins the deployment's levels of the run's retry policies once, like its task pins, and
   * returns the levels in force (parsed: the run hash is outside input).
   */
  async pinRetryLevels(runId: string, levels: RetryLevels): Promise<RetryLevels> {
    const meta = this.keys.run(runId).meta;
    await this.redis.hsetnx(meta, 'retryLevels', JSON.stringify(levels));
    const stored = retryLevelsSchema.safeParse(JSON.parse((await this.redis.hget(meta, 'retryLevels')) ?? 'null'));
    if (!stored.success) throw new ValueError(`run ${runId}: its pinned retry levels are invalid: ${stored.error.issues[0]?.message ?? ''}`);
    return stored.data;
  }

  /** Records the epoch of the scheduler working on the run's acceptance (for the record and for failover tests). */
  async noteSchedulerEpoch(runId: string, epoch: number): Promise<void> {
    await this.redis.hset(this.keys.run(runId).meta, 'schedulerEpoch', String(epoch));
  }

  /**
   * Records the plan's `maxParallel` with the run, before any of its jobs is added: from then on
   * the start and end scripts count its running items against it. Idempotent.
   */
  async setMaxParallel(runId: string, maxParallel: number): Promise<void> {
    await this.redis.hset(this.keys.run(runId).meta, 'maxParallel', String(maxParallel));
  }

  /**
   * For a job parked for a slot (`throttled`): true when it should look again now, because an
   * end already named it (its mark is gone) or a slot is free. One round trip.
   */
  async slotReady(runId: string, itemId: string): Promise<boolean> {
    const k = this.keys.run(runId);
    const [mark, [cap, running]] = await Promise.all([this.redis.hget(k.pending, `slot:${itemId}`), this.redis.hmget(k.meta, 'maxParallel', 'nRunning')]);
    return mark === null || Number(running ?? 0) < Number(cap ?? 0);
  }

  /**
   * Marks a registered run `queued`: its queue's `maxWaiting` has no room for its first chunk of
   * jobs (`waiting`: the queue's unfinished item jobs seen). True when it moved (once).
   */
  async markQueued(runId: string, fields: { maxWaiting: number; waiting: number }): Promise<boolean> {
    const body = encodeEventBody({ type: 'run', state: 'queued', ...fields });
    return (await callScript(this.redis, 'markQueued', this.runKeys(runId), [runId, new Date().toISOString(), body])) === 1;
  }

  /** The run's state and how many of its flow chunks were added (admission progress), or null for an unknown run. */
  async flowProgress(runId: string): Promise<{ state: string; flowChunks: number } | null> {
    const [state, flowChunks] = await this.redis.hmget(this.keys.run(runId).meta, 'state', 'flowChunks');
    return state ? { state, flowChunks: Number(flowChunks ?? 0) } : null;
  }

  /** Records that every item job of the run has been added (`enqueuedAt` in the status). */
  async markEnqueued(runId: string, flowChunksTotal: number): Promise<void> {
    await this.redis.hset(this.keys.run(runId).meta, 'enqueuedAt', new Date().toISOString(), 'flowChunksTotal', flowChunksTotal);
  }

  /**
   * For the scheduler's sweep: each run's state, event count (`seq`), queue, and whether it is
   * sealed. One pipeline on one Redis; on a cluster the commands go out together unpipelined (a
   * pipeline may not span nodes, and this read does not lean on the key layout).
   */
  async runSummaries(ids: readonly string[]): Promise<Array<{ state: string | null; seq: string | null; queue: string | null; sealed: boolean }>> {
    if (isRedisCluster(this.redis)) {
      return Promise.all(
        ids.map(async (id) => {
          const k = this.keys.run(id);
          const [[state, seq, queue], sealed] = await Promise.all([this.redis.hmget(k.meta, 'state', 'seq', 'queue'), this.redis.hexists(k.audit, 'sealed')]);
          return { state: state ?? null, seq: seq ?? null, queue: queue ?? null, sealed: sealed === 1 };
        }),
      );
    }
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hmget(this.keys.run(id).meta, 'state', 'seq', 'queue').hexists(this.keys.run(id).audit, 'sealed');
    const res = (await pipe.exec()) ?? [];
    return ids.map((_, i) => {
      const [state, seq, queue] = (res[2 * i]?.[1] ?? []) as Array<string | null>;
      return { state: state ?? null, seq: seq ?? null, queue: queue ?? null, sealed: res[2 * i + 1]?.[1] === 1 };
    });
  }

  /** The run's state and event count (`seq`: the next event's seq), or nulls for an unknown run. */
  async runProgress(runId: string): Promise<{ state: string | null; events: number }> {
    const [state, seq] = await this.redis.hmget(this.keys.run(runId).meta, 'state', 'seq');
    return { state: state ?? null, events: Number(seq ?? 0) };
  }

  /**
   * Claims a run id for one submission before it is put on the inbox: of submissions racing under
   * one id (two clients, two transports, retries), exactly one gets `true`. BullMQ answers an add
   * under a taken job id with success, and the creation time read back to tell them apart is the
   * same for two adds in one millisecond. The claim expires: once the inbox job exists (and then
   * the run), those say the id is taken. So it only has to outlast its submission's call (`ttlMs`:
   * the caller's Redis bound and some slack); longer, a claim whose release was lost (the client
   * closed while Redis was away) would refuse the caller's own resubmission, after its status said
   * "no run", for nothing. An add that still lands after the claim expired is harmless: a later
   * claimant's add then finds its job (read back: another creation time) or finds it first.
   */
  async claimRunId(runId: string, ttlMs: number = RUN_ID_CLAIM_MS): Promise<boolean> {
    return (await this.redis.set(this.keys.runIdClaim(runId), '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')) === 'OK';
  }

  /** How long the claim on `runId` has left, in ms (0: none, or it has no expiry). */
  async runIdClaimMs(runId: string): Promise<number> {
    return Math.max(0, await this.redis.pttl(this.keys.runIdClaim(runId)));
  }

  /** Gives a claim back when its submission failed (a retry under the same id may then claim it). */
  async releaseRunId(runId: string): Promise<void> {
    await this.redis.del(this.keys.runIdClaim(runId));
  }

  /**
   * The deployment the active scheduler published, and whether `runId` exists, in one round trip:
   * a pipeline on one Redis; on a cluster two commands at once (the keys are in different slots).
   */
  async deploymentAndRunExists(runId: string): Promise<[Record<string, string>, boolean]> {
    const k = this.keys;
    if (isRedisCluster(this.redis)) {
      const [hash, n] = await Promise.all([this.redis.hgetall(k.deployment), this.redis.exists(k.run(runId).meta)]);
      return [hash, n === 1];
    }
    const res = (await this.redis.pipeline().hgetall(k.deployment).exists(k.run(runId).meta).exec()) ?? [];
    return [(res[0]?.[1] ?? {}) as Record<string, string>, res[1]?.[1] === 1];
  }

  /** The run's audit hash (checkpoints, the seal, local anchors): for libs/evidence and the local anchor. */
  auditKey(runId: string): string {
    return this.keys.run(runId).audit;
  }

  /** A field of the run's audit hash: `sealed` (the seal record) or `periodic` (checkpoints so far), as JSON. */
  async auditRecord(runId: string, field: 'sealed' | 'periodic'): Promise<string | null> {
    return this.redis.hget(this.keys.run(runId).audit, field);
  }

  /**
   * Writes the run's seal once (the first sealer wins: concurrent sealers produce the same
   * checkpoint). True when this call wrote it.
   */
  async recordSeal(runId: string, seal: string): Promise<boolean> {
    return (await this.redis.hsetnx(this.keys.run(runId).audit, 'sealed', seal)) === 1;
  }

  /** Replaces the run's list of periodic checkpoints. */
  async recordCheckpoints(runId: string, checkpoints: string): Promise<void> {
    await this.redis.hset(this.keys.run(runId).audit, 'periodic', checkpoints);
  }

  /**
   * The shard of a run's event stream (its hash tag): on a cluster, only streams of one shard can
   * be read in one XREAD (see `runsWithNewEvents`).
   */
  eventShard(runId: string): string {
    return hashTagOf(this.keys.run(runId).events);
  }

  /**
   * Which of the runs have an event at or after their cursor (the next seq wanted): one XREAD
   * (COUNT 1) over their streams, blocking up to `blockMs` when given (on a dedicated connection:
   * XREAD BLOCK holds it). On a cluster the runs must share one `eventShard`.
   */
  async runsWithNewEvents(cursors: ReadonlyArray<readonly [runId: string, next: number]>, opts: { client?: RedisClient; blockMs?: number } = {}): Promise<string[]> {
    if (cursors.length === 0) return [];
    const client = opts.client ?? this.redis;
    const streams = cursors.map(([r]) => this.keys.run(r).events);
    // Entry ids are `0-<seq+1>`: XREAD returns entries after the id given, so `0-<next>` starts at `next`.
    const ids = cursors.map(([, next]) => `0-${next}`);
    const res =
      opts.blockMs !== undefined
        ? await client.xread('COUNT', 1, 'BLOCK', opts.blockMs, 'STREAMS', ...streams, ...ids)
        : await client.xread('COUNT', 1, 'STREAMS', ...streams, ...ids);
    return (res ?? []).map(([key]) => cursors[streams.indexOf(key)]?.[0]).filter((r): r is string => r !== undefined);
  }

  async runState(runId: string): Promise<string | null> {
    return this.redis.hget(this.keys.run(runId).meta, 'state');
  }

  /** Which of these runs have had a cancel requested (one round trip; Cluster-safe: one key per command). */
  async cancelsRequested(runIds: readonly string[]): Promise<Set<string>> {
    if (runIds.length === 0) return new Set();
    const pipe = this.redis.pipeline();
    for (const id of runIds) pipe.hget(this.keys.run(id).meta, 'cancelRequested');
    const res = (await pipe.exec()) ?? [];
    return new Set(runIds.filter((_, i) => res[i]?.[1] === '1'));
  }

  /** Per item, how many of its dependencies have not ended yet (0 for an item without any). */
  async dependenciesLeft(runId: string, ids: readonly string[]): Promise<number[]> {
    if (ids.length === 0) return [];
    return (await this.redis.hmget(this.keys.run(runId).pending, ...ids)).map((v) => Number(v ?? 0));
  }

  /** The items not yet ended, each with its BullMQ job id (when it was registered with one). */
  async unfinishedItems(runId: string): Promise<Array<{ itemId: string; state: string; jobId: string | null }>> {
    const k = this.keys.run(runId);
    const items = await this.redis.hgetall(k.items);
    const open = Object.entries(items).filter(([, st]) => !isTerminalItemState(st));
    if (open.length === 0) return [];
    const jobs = await this.redis.hmget(k.pending, ...open.map(([id]) => `job:${id}`));
    return open.map(([itemId, state], i) => ({ itemId, state, jobId: jobs[i] ?? null }));
  }

  /**
   * For each item, whether it has ended (a terminal state). Items of no valid or known run are not
   * ended. For listings of lock waiters: a cancel ends a parked waiter's item at once, but it
   * leaves the lock queues only when its job wakes (see libs/locks `ListOptions.ended`).
   */
  async itemsEnded(refs: ReadonlyArray<{ readonly runId: string; readonly itemId: string }>): Promise<boolean[]> {
    const byRun = new Map<string, number[]>();
    refs.forEach((r, i) => {
      if (!isRunId(r.runId) || !isItemId(r.itemId)) return;
      const at = byRun.get(r.runId);
      if (at) at.push(i);
      else byRun.set(r.runId, [i]);
    });
    const out = refs.map(() => false);
    for (const [runId, at] of byRun) {
      const states = await this.itemStates(runId, at.map((i) => refs[i]!.itemId));
      at.forEach((i, j) => (out[i] = isTerminalItemState(states[j])));
    }
    return out;
  }

  async itemStates(runId: string, ids: readonly string[]): Promise<Array<string | null>> {
    if (ids.length === 0) return [];
    return this.redis.hmget(this.keys.run(runId).items, ...ids);
  }

  /**
   * Events with seq >= fromSeq, oldest first. With `blockMs`, waits up to that long for new
   * events when there are none (use a dedicated connection: XREAD BLOCK holds it).
   */
  async readEvents(runId: string, fromSeq: number, opts: { blockMs?: number; count?: number; client?: RedisClient } = {}): Promise<AgoraEvent[]> {
    const client = opts.client ?? this.redis;
    const key = this.keys.run(runId).events;
    const count = opts.count ?? 1000;
    const res =
      opts.blockMs !== undefined
        ? await client.xread('COUNT', count, 'BLOCK', opts.blockMs, 'STREAMS', key, `0-${fromSeq}`)
        : await client.xread('COUNT', count, 'STREAMS', key, `0-${fromSeq}`);
    if (!res) return [];
    const out: AgoraEvent[] = [];
    for (const [, entries] of res) {
      for (const [, fields] of entries) {
        const i = fields.indexOf('e');
        if (i >= 0) out.push(JSON.parse(fields[i + 1]!) as AgoraEvent);
      }
    }
    return out;
  }

  /** All events of a run, in seq order. */
  async allEvents(runId: string): Promise<AgoraEvent[]> {
    const out: AgoraEvent[] = [];
    for await (const batch of this.eventBatches(runId)) out.push(...batch);
    return out;
  }

  /** The run's whole stream, 10,000 events per read: the one paging loop of every full read. */
  private async *eventBatches(runId: string): AsyncGenerator<AgoraEvent[]> {
    for (let from = 0; ; ) {
      const batch = await this.readEvents(runId, from, { count: 10_000 });
      if (batch.length === 0) return;
      yield batch;
      from = batch[batch.length - 1]!.seq + 1;
    }
  }

  async listRuns(limit = 50): Promise<string[]> {
    return this.redis.zrevrange(this.keys.runs, 0, limit - 1);
  }

  /**
   * A page of runs, newest first, for `GET /api/runs` and `agora runs`. Filters are applied to
   * each run's hash as the index is walked, so a selective filter reads more of it: at most
   * `RUNS_SCAN_MAX` index entries per page (the page then comes back short, with a `next` cursor
   * to go on from). The cursor names the last run looked at (`<createdMs>.<runId>`), so runs
   * created meanwhile never shift a page.
   */
  async runsPage(q: RunsQuery = {}): Promise<RunsPage> {
    const limit = Math.max(1, Math.min(q.limit ?? 50, 500));
    let max = '+inf';
    let after: string | undefined;
    if (q.cursor !== undefined) {
      const m = /^(\d{1,16})\.(.+)$/.exec(q.cursor);
      if (!m) throw new ValueError(`bad cursor "${q.cursor.slice(0, 60)}": pass back the "next" of a previous page`);
      max = m[1]!;
      after = m[2]!;
    }
    const min = q.sinceMs !== undefined ? String(q.sinceMs) : '-inf';
    const runs: RunSummary[] = [];
    let scanned = 0;
    /** The last index entry this page covers: the cursor of the next one. */
    let last: { id: string; score: string } | undefined;
    let exhausted = false;
    /** A run past the page matches too: only then is there a next page (never one that turns out empty). */
    let more = false;
    while (!more && scanned < RUNS_SCAN_MAX) {
      // Ties at the cursor's millisecond come in reverse id order: skip those up to the cursor's run.
      const batch = await this.redis.zrevrangebyscore(this.keys.runs, max, min, 'WITHSCORES', 'LIMIT', 0, 200 + (after ? 200 : 0));
      const entries: Array<{ id: string; score: string }> = [];
      for (let i = 0; i + 1 < batch.length; i += 2) entries.push({ id: batch[i]!, score: batch[i + 1]! });
      const fresh = after === undefined ? entries : entries.filter((e) => e.score !== max || e.id < after!);
      if (fresh.length === 0) {
        exhausted = true;
        break;
      }
      const metas = await this.runMetas(fresh.map((e) => e.id));
      for (let i = 0; i < fresh.length && scanned < RUNS_SCAN_MAX; i++) {
        const summary = summarizeRun(fresh[i]!.id, metas[i]!);
        if (summary && matches(summary, q)) {
          if (runs.length === limit) {
            more = true;
            break;
          }
          runs.push(summary);
        }
        scanned++;
        last = fresh[i]!;
      }
      max = last!.score;
      after = last!.id;
    }
    return exhausted || !last ? { runs } : { runs, next: `${last.score}.${last.id}` };
  }

  /**
   * One item of a run as its events tell it: state, attempts, timings, lock tokens, the error and
   * exit code of a failure, its retries. Reads the run's stream (the events are the record; no
   * other place holds them per item), so it costs O(events of the run); null for an unknown item.
   */
  async itemDetail(runId: string, itemId: string): Promise<ItemDetail | null> {
    const k = this.keys.run(runId);
    const [state, resultRef] = await Promise.all([this.redis.hget(k.items, itemId), this.redis.hget(k.results, itemId)]);
    if (state === null) return null;
    // Every event of the item is folded (an item's own events are bounded: at most 1,000
    // messages, and its starts), so its end is told even when only the newest are returned.
    const mine: AgoraEvent[] = [];
    for await (const batch of this.eventBatches(runId)) {
      for (const e of batch) if ((e as { itemId?: string }).itemId === itemId) mine.push(e);
    }
    return describeItem(itemId, state, resultRef, mine);
  }

  /**
   * Why each item that did not end `done` ended as it did (error, code, exit code, or the skip or
   * cancel reason), from the run's events: one pass over the stream, so the caller asks only when
   * the run's counts show such items.
   */
  async endReasons(runId: string): Promise<Map<string, EndReason>> {
    const out = new Map<string, EndReason>();
    for await (const batch of this.eventBatches(runId)) {
      for (const raw of batch) {
        const e = raw as unknown as Record<string, unknown>;
        if (e['type'] !== 'item' || !['failed', 'skipped', 'cancelled'].includes(String(e['state']))) continue;
        const r: Record<string, unknown> = {};
        for (const f of ['error', 'errorCode', 'exitCode', 'reason'] as const) if (e[f] !== undefined) r[f] = e[f];
        out.set(String(e['itemId']), r as EndReason);
      }
    }
    return out;
  }

  /**
   * Why a run was rejected at acceptance: the problems of its `rejected` run event (its only
   * event, or nearly), all of them as recorded; `[]` when there is none.
   */
  async rejectionProblems(runId: string): Promise<string[]> {
    for await (const batch of this.eventBatches(runId)) {
      for (const e of batch) if (e.type === 'run' && e.state === 'rejected') return [...e.problems];
    }
    return [];
  }

  /**
   * The run's dependency graph with each item's state, for the console's DAG: the item-state hash
   * and the dependents lists written at registration (no pass over the stream). `seq` is the
   * run's event count read before the states, so replaying events from it onto the states
   * (`GET /api/runs/:id/events?from=seq`) misses no change. Null for an unknown run.
   */
  async runGraph(runId: string): Promise<RunGraph | null> {
    const k = this.keys.run(runId);
    const res = (await this.redis.pipeline().hmget(k.meta, 'state', 'seq', 'total', 'planId', 'queue', 'createdAt', 'finishedAt').hgetall(k.items).hgetall(k.dependents).exec()) ?? [];
    const [state, seq, total, planId, queue, createdAt, finishedAt] = (res[0]?.[1] ?? []) as Array<string | null>;
    if (!state) return null;
    const states = (res[1]?.[1] ?? {}) as Record<string, string>;
    const dependents = (res[2]?.[1] ?? {}) as Record<string, string>;
    const dependsOn = new Map<string, string[]>();
    for (const [id, csv] of Object.entries(dependents)) {
      // Item ids never hold ',' (the safe-name grammar), so the list splits exactly.
      for (const d of csv.split(',')) if (d !== '') (dependsOn.get(d) ?? dependsOn.set(d, []).get(d)!).push(id);
    }
    return {
      runId,
      state,
      planId: planId ?? '',
      queue: queue ?? '',
      createdAt: createdAt ?? '',
      ...(finishedAt ? { finishedAt } : {}),
      seq: Number(seq ?? 0),
      total: Number(total ?? 0),
      items: Object.entries(states).map(([id, s]) => ({ id, state: s, dependsOn: dependsOn.get(id) ?? [] })),
    };
  }

  /** Each run's hash, in one pipeline (on a cluster, the commands at once: the run keys may sit on different nodes across namespaces). */
  private async runMetas(ids: readonly string[]): Promise<Array<Record<string, string>>> {
    if (isRedisCluster(this.redis)) return Promise.all(ids.map((id) => this.redis.hgetall(this.keys.run(id).meta)));
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hgetall(this.keys.run(id).meta);
    const res = (await pipe.exec()) ?? [];
    return ids.map((_, i) => (res[i]?.[1] ?? {}) as Record<string, string>);
  }
}

/** Why an item ended failed, skipped or cancelled (the fields of its end event). */
export interface EndReason {
  readonly error?: string;
  readonly errorCode?: string;
  readonly exitCode?: number;
  readonly reason?: string;
}

/** Most events of one item `itemDetail` returns, the newest (a lock-contended item with many retries is still bounded). */
export const ITEM_EVENTS_MAX = 1_000;

/** `GET /api/runs/:id/items/:item`: one item's life, read from its events. */
export interface ItemDetail {
  readonly itemId: string;
  readonly state: string;
  readonly resultRef?: string;
  readonly executor?: string;
  readonly dependsOn?: string[];
  readonly resourceLocks?: string[];
  /** Starts so far (a retry, a stall and a hand-back each start again). */
  readonly attempts: number;
  /** The first start, and the end. */
  readonly startedAt?: string;
  readonly endedAt?: string;
  readonly durationMs?: number;
  /** Fencing token per lock, as granted to the last start. */
  readonly lockTokens?: Record<string, number>;
  readonly error?: string;
  readonly errorCode?: string;
  readonly exitCode?: number;
  /** Why the item was skipped or cancelled. */
  readonly reason?: string;
  /** Where the worker's output streams were stored (`agora logs`, `GET …/logs`). */
  readonly logRefs?: { readonly stdout?: string; readonly stderr?: string };
  /** A `done` item that did not execute: the run and item whose result it took (a rerun's or replay's reuse, a memo hit). */
  readonly reusedFrom?: { readonly runId: string; readonly itemId: string };
  readonly cachedFrom?: { readonly runId: string; readonly itemId: string };
  readonly retries: Array<{ readonly attempt: number; readonly error: string; readonly at: string }>;
  /**
   * The item's newest events, oldest first (at most ITEM_EVENTS_MAX). The fields above are told
   * from all of them.
   */
  readonly events: AgoraEvent[];
  /** How many older events `events` leaves out (absent when none). */
  readonly eventsOmitted?: number;
}

function describeItem(itemId: string, state: string, resultRef: string | null, events: readonly AgoraEvent[]): ItemDetail {
  type Loose = Record<string, unknown> & { type: string; at: string; state?: string; action?: string };
  let attempts = 0;
  let startedAt: string | undefined;
  let endedAt: string | undefined;
  let lockTokens: Record<string, number> | undefined;
  const out: Record<string, unknown> = {};
  const retries: Array<{ attempt: number; error: string; at: string }> = [];
  for (const raw of events) {
    const e = raw as unknown as Loose;
    if (e.type === 'item' && (e.state === 'waiting' || e.state === 'queued') && typeof e['executor'] === 'string') {
      out['executor'] = e['executor'];
      if (Array.isArray(e['depends_on'])) out['dependsOn'] = e['depends_on'];
      if (Array.isArray(e['resourceLocks'])) out['resourceLocks'] = e['resourceLocks'];
    } else if (e.type === 'item' && e.state === 'running') {
      attempts = Math.max(attempts, Number(e['attempt'] ?? 0));
      startedAt ??= e.at;
      if (e['lockTokens'] && typeof e['lockTokens'] === 'object') lockTokens = e['lockTokens'] as Record<string, number>;
    } else if (e.type === 'item' && e.state !== undefined && isTerminalItemState(e.state)) {
      endedAt = e.at;
      // reusedFrom / cachedFrom: a `done` that took an earlier result, as the run's status marks it.
      for (const f of ['error', 'errorCode', 'exitCode', 'reason', 'logRefs', 'reusedFrom', 'cachedFrom'] as const) if (e[f] !== undefined) out[f] = e[f];
    } else if (e.type === 'retry') {
      retries.push({ attempt: Number(e['attempt'] ?? 0), error: String(e['error'] ?? ''), at: e.at });
    }
  }
  const durationMs = startedAt && endedAt ? Date.parse(endedAt) - Date.parse(startedAt) : undefined;
  return {
    itemId,
    state,
    ...(resultRef ? { resultRef } : {}),
    ...out,
    attempts,
    ...(startedAt ? { startedAt } : {}),
    ...(endedAt ? { endedAt } : {}),
    ...(durationMs !== undefined && Number.isFinite(durationMs) ? { durationMs } : {}),
    ...(lockTokens ? { lockTokens } : {}),
    retries,
    events: events.slice(-ITEM_EVENTS_MAX),
    ...(events.length > ITEM_EVENTS_MAX ? { eventsOmitted: events.length - ITEM_EVENTS_MAX } : {}),
  } as ItemDetail;
}

/** Most index entries `runsPage` reads for one page. */
export const RUNS_SCAN_MAX = 5_000;

export interface RunsQuery {
  /** Page size, 1-500. @default 50 */
  readonly limit?: number | undefined;
  /** The `next` of the previous page. */
  readonly cursor?: string | undefined;
  readonly state?: string | undefined;
  readonly queue?: string | undefined;
  readonly planId?: string | undefined;
  /** Only runs created at or after this time (ms since the epoch). */
  readonly sinceMs?: number | undefined;
}

/** One row of the runs list: what the run's hash says, without reading its items. */
export interface RunSummary extends Pick<RunStatus, 'runId' | 'planId' | 'queue' | 'state' | 'createdAt' | 'finishedAt' | 'total'> {
  /** finishedAt - createdAt, once the run ended. */
  readonly durationMs?: number;
  /** Ended items by state, and `unfinished` (not yet ended). */
  readonly counts: { readonly done: number; readonly failed: number; readonly skipped: number; readonly cancelled: number; readonly unfinished: number };
}

export interface RunsPage {
  readonly runs: RunSummary[];
  /** Pass as `cursor` for the next page; absent on the last page. */
  readonly next?: string;
}

function summarizeRun(runId: string, meta: Record<string, string>): RunSummary | undefined {
  if (!meta['state']) return undefined; // indexed, but its hash expired or was never written
  const n = (f: string): number => Number(meta[f] ?? 0);
  const createdAt = meta['createdAt'] ?? '';
  const finishedAt = meta['finishedAt'];
  const durationMs = finishedAt && createdAt ? Date.parse(finishedAt) - Date.parse(createdAt) : undefined;
  return {
    runId,
    planId: meta['planId'] ?? '',
    queue: meta['queue'] ?? '',
    state: meta['state'],
    createdAt,
    ...(finishedAt ? { finishedAt } : {}),
    ...(durationMs !== undefined && Number.isFinite(durationMs) ? { durationMs } : {}),
    total: n('total'),
    counts: { done: n('n_done'), failed: n('n_failed'), skipped: n('n_skipped'), cancelled: n('n_cancelled'), unfinished: Math.max(0, n('total') - n('terminal')) },
  };
}

function matches(r: RunSummary, q: RunsQuery): boolean {
  return (q.state === undefined || r.state === q.state) && (q.queue === undefined || r.queue === q.queue) && (q.planId === undefined || r.planId === q.planId);
}

/** The replay links of a run hash (see `RunStore.noteReplay`); unreadable fields are left out. */
function replayLinks(meta: Record<string, string>): { replayOf?: ReplayLink; replayedBy?: ReplayLink[] } {
  const parse = (text: string): { runId?: unknown; items?: unknown; at?: unknown } | null => {
    try {
      const v = JSON.parse(text) as unknown;
      return v !== null && typeof v === 'object' ? (v as { runId?: unknown; items?: unknown; at?: unknown }) : null;
    } catch {
      return null;
    }
  };
  const link = (runId: unknown, v: { items?: unknown; at?: unknown } | null): ReplayLink | null =>
    v && typeof runId === 'string' && Array.isArray(v.items) && typeof v.at === 'string' ? { runId, items: v.items.map(String), at: v.at } : null;
  const out: { replayOf?: ReplayLink; replayedBy?: ReplayLink[] } = {};
  if (meta[REPLAY_OF]) {
    const v = parse(meta[REPLAY_OF]);
    const l = link(v?.runId, v);
    if (l) out.replayOf = l;
  }
  const by: ReplayLink[] = [];
  for (const [k, text] of Object.entries(meta)) {
    if (!k.startsWith(REPLAYED_BY)) continue;
    const l = link(k.slice(REPLAYED_BY.length), parse(text));
    if (l) by.push(l);
  }
  if (by.length > 0) out.replayedBy = by.sort((a, b) => a.at.localeCompare(b.at));
  return out;
}

/** A run's items, each with its state and the items it depends on (`RunStore.runGraph`). */
export interface RunGraph {
  readonly runId: string;
  readonly state: string;
  readonly planId: string;
  readonly queue: string;
  readonly createdAt: string;
  readonly finishedAt?: string;
  /** Events in the run's stream when the states were read: resume the stream from here. */
  readonly seq: number;
  /** Items in the plan (those registered so far are in `items`). */
  readonly total: number;
  readonly items: ReadonlyArray<{ readonly id: string; readonly state: string; readonly dependsOn: readonly string[] }>;
}
