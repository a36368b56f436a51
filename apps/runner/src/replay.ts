import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import {
  NotFoundError,
  StorageError,
  ValueError,
  coerceError,
  itemEventSchema,
  parseAgoraUri,
  planSchema,
  resolveInside,
  runEventSchema,
  sha256Hex,
  type AgoraConfig,
  type Logger,
  type Plan,
  type StorageProvider,
  type TaskDefinition,
} from '@agora/core';
import { loadTask } from '@agora/registry';
import { itemInputsHash } from '@agora/state';
import type { Executor, ExecutorContext } from './executor.js';

/*
 * Replay: the dispatch items of a sealed run executed again, one by one, outside any run, to see
 * whether each produces the same bytes. What the record pins is taken from storage by its hash
 * (the task definitions, the dependencies' results, the plan holding the inputs) and every input
 * is checked against the hash the record sealed for it; nothing is written to Redis, so the
 * original run, its state and its record stay as they are, and no dependency runs again.
 */

/** What the sealed record says about one item. */
export interface SealedItem {
  readonly itemId: string;
  readonly executor: string;
  /** RFC 8785 sha256 of the inputs, from the item's first event. */
  readonly inputsHash: string;
  /** The task definition pinned at acceptance (dispatch of a registered task). */
  readonly taskRef?: string;
  readonly dependsOn: readonly string[];
  /** How the item ended, when it did. */
  readonly end?: SealedEnd;
}

export interface SealedEnd {
  readonly state: string;
  readonly resultRef?: string;
  readonly attempt?: number;
  readonly task?: string;
  readonly target?: string;
  /** A stand-in of a dead-letter replay: it did not run in this run. */
  readonly reused: boolean;
  /** The fencing tokens the ending attempt held, from its `running` event. */
  readonly lockTokens: Readonly<Record<string, number>>;
}

/** A sealed run, as far as replay reads it. */
export interface SealedRun {
  readonly runId: string;
  readonly planId: string;
  /** The accepted plan in storage (runs accepted before plans were recorded have none). */
  readonly planRef?: string;
  readonly items: ReadonlyMap<string, SealedItem>;
}

/**
 * Reads the run, its items' registrations and their ends from a bundle's events (which the
 * caller has verified). Only the events replay reads are parsed, each with the event vocabulary:
 * a malformed one is a `ValueError` naming its seq.
 */
export function readSealedRun(runId: string, events: readonly unknown[]): SealedRun {
  let accepted: { planId: string; planRef?: string } | undefined;
  const reg = new Map<string, { executor: string; inputsHash: string; taskRef?: string; dependsOn: readonly string[] }>();
  const ends = new Map<string, Omit<SealedEnd, 'lockTokens'>>();
  const tokens = new Map<string, Map<number, Readonly<Record<string, number>>>>();
  events.forEach((raw, i) => {
    const head = raw as { type?: unknown; state?: unknown; seq?: unknown };
    const where = `event seq ${typeof head.seq === 'number' ? head.seq : i}`;
    const parse = <T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> } } }): T => {
      const r = schema.safeParse(raw);
      if (!r.success) throw new ValueError(`${where}: not an event replay can read: ${r.error.issues.slice(0, 3).map((x) => `${x.path.join('.') || '(root)'}: ${x.message}`).join('; ')}`);
      return r.data;
    };
    if (head.type === 'run' && head.state === 'accepted') {
      const e = parse(runEventSchema);
      if (e.state === 'accepted') accepted = { planId: e.planId, ...(e.planRef !== undefined ? { planRef: e.planRef } : {}) };
      return;
    }
    if (head.type !== 'item') return;
    const e = parse(itemEventSchema);
    if ((e.state === 'waiting' || e.state === 'queued') && e.executor !== undefined && e.inputsHash !== undefined) {
      reg.set(e.itemId, { executor: e.executor, inputsHash: e.inputsHash, ...(e.taskRef !== undefined ? { taskRef: e.taskRef } : {}), dependsOn: e.state === 'waiting' ? e.depends_on : [] });
    } else if (e.state === 'running') {
      (tokens.get(e.itemId) ?? tokens.set(e.itemId, new Map()).get(e.itemId)!).set(e.attempt, e.lockTokens ?? {});
    } else if (e.state === 'done') {
      ends.set(e.itemId, {
        state: 'done',
        resultRef: e.resultRef,
        reused: e.reusedFrom !== undefined,
        ...(e.attempt !== undefined ? { attempt: e.attempt } : {}),
        ...(e.task !== undefined ? { task: e.task } : {}),
        ...(e.target !== undefined ? { target: e.target } : {}),
      });
    } else if (e.state === 'failed' || e.state === 'skipped' || e.state === 'cancelled') {
      ends.set(e.itemId, { state: e.state, reused: false });
    }
  });
  if (!accepted) throw new ValueError(`run ${runId}: the record has no accepted event`);
  const items = new Map<string, SealedItem>();
  for (const [itemId, r] of reg) {
    const end = ends.get(itemId);
    const lockTokens = end?.attempt !== undefined ? (tokens.get(itemId)?.get(end.attempt) ?? {}) : {};
    items.set(itemId, { itemId, ...r, ...(end ? { end: { ...end, lockTokens } } : {}) });
  }
  return { runId, planId: accepted.planId, ...(accepted.planRef !== undefined ? { planRef: accepted.planRef } : {}), items };
}

/** Whether the record holds a result of the item's own execution to compare with. */
export function isReplayable(item: SealedItem): boolean {
  return item.executor === 'dispatch' && item.end?.state === 'done' && !item.end.reused && item.end.resultRef !== undefined;
}

/** One item to execute again, with everything it ran with. */
export interface ReplayItem {
  readonly itemId: string;
  readonly inputs: Readonly<Record<string, unknown>>;
  readonly taskName: string;
  readonly taskRef?: string;
  /** The item's or the plan's target: the dispatch executor routes exactly as it did. */
  readonly target?: string;
  readonly timeoutMs?: number;
  readonly attempt: number;
  readonly lockTokens: Readonly<Record<string, number>>;
  /** Each dependency's sealed resultRef. */
  readonly deps: Readonly<Record<string, string>>;
  readonly sealedResultRef: string;
  readonly sealedSha256: string;
  readonly sealedTarget?: string;
}

/** Parses a plan read back from storage or a file (the shape; it was validated at acceptance). */
export function parseRecordedPlan(raw: unknown, source: string): Plan {
  const r = planSchema.safeParse(raw);
  if (!r.success) throw new ValueError(`${source} is not a plan: ${r.error.issues.slice(0, 3).map((x) => `${x.path.join('.') || '(root)'}: ${x.message}`).join('; ')}`);
  return r.data;
}

/**
 * Joins the record and the plan into the items to replay (`only`: these ids, else every
 * replayable item). Every item's inputs must hash to the sealed `inputsHash`, and every
 * dependency must have ended `done` with a result: otherwise a `ValueError` naming the item.
 */
export function replayItemsOf(run: SealedRun, plan: Plan, only?: readonly string[]): ReplayItem[] {
  if (plan.id !== run.planId) throw new ValueError(`the plan is "${plan.id}", but run ${run.runId} ran plan "${run.planId}"`);
  const byId = new Map(plan.items.map((it) => [it.id, it] as const));
  const ids = only && only.length > 0 ? [...new Set(only)] : [...run.items.values()].filter(isReplayable).map((i) => i.itemId);
  return ids.map((id) => {
    const sealed = run.items.get(id);
    if (!sealed) throw new ValueError(`item "${id}" is not in run ${run.runId}`);
    if (!isReplayable(sealed)) {
      const why = sealed.executor !== 'dispatch' ? `its executor is ${sealed.executor}` : sealed.end?.reused ? 'it stood in for a result of another run' : `it ended ${sealed.end?.state ?? 'without an end'}`;
      throw new ValueError(`item "${id}" cannot be replayed: only dispatch items that ran and ended done can be (${why})`);
    }
    const it = byId.get(id);
    if (!it) throw new ValueError(`item "${id}" is not in plan "${plan.id}"`);
    if (itemInputsHash(it.inputs) !== sealed.inputsHash) throw new ValueError(`item "${id}": the plan's inputs do not hash to the sealed inputsHash ${sealed.inputsHash}`);
    const taskName = typeof it.inputs['task'] === 'string' ? it.inputs['task'] : typeof it.inputs['subagent'] === 'string' ? it.inputs['subagent'] : undefined;
    if (taskName === undefined) throw new ValueError(`item "${id}": its inputs name no task`);
    const deps: Record<string, string> = {};
    for (const dep of sealed.dependsOn) {
      const ref = run.items.get(dep)?.end?.resultRef;
      if (ref === undefined) throw new ValueError(`item "${id}": its dependency "${dep}" has no sealed result`);
      deps[dep] = ref;
    }
    const end = sealed.end!;
    const resultRef = end.resultRef!;
    const sealedSha256 = parseAgoraUri(resultRef).contentHash;
    if (sealedSha256 === undefined) throw new ValueError(`item "${id}": its sealed resultRef ${resultRef} pins no hash`);
    const target = it.target ?? plan.target;
    return {
      itemId: id,
      inputs: it.inputs,
      taskName,
      ...(sealed.taskRef !== undefined ? { taskRef: sealed.taskRef } : {}),
      ...(target !== undefined ? { target } : {}),
      ...(it.timeoutMs !== undefined ? { timeoutMs: it.timeoutMs } : {}),
      attempt: end.attempt ?? 1,
      lockTokens: end.lockTokens,
      deps,
      sealedResultRef: resultRef,
      sealedSha256,
      ...(end.target !== undefined ? { sealedTarget: end.target } : {}),
    };
  });
}

/** An artifact replay needs that storage no longer has (or holds corrupt). */
export interface MissingArtifact {
  readonly itemId: string;
  readonly what: 'task' | 'dependency' | 'plan';
  readonly ref: string;
  readonly reason: string;
}

/** Whether a storage failure means the artifact is not usable (gone, corrupt), rather than storage being down. */
function isMissing(err: unknown): boolean {
  return err instanceof NotFoundError || (err instanceof StorageError && !err.retryable);
}

/**
 * Loads every pinned task definition the items need and checks every dependency result is still
 * in storage (reads it, so its hash is checked), before anything runs. Returns the definitions by
 * ref and what is missing; a task that is not pinned must still be in the config.
 */
export async function loadReplayArtifacts(
  storage: StorageProvider,
  config: Pick<AgoraConfig, 'tasks'>,
  items: readonly ReplayItem[],
): Promise<{ tasks: Map<string, TaskDefinition>; missing: MissingArtifact[] }> {
  const tasks = new Map<string, TaskDefinition>();
  const missing: MissingArtifact[] = [];
  const seen = new Map<string, string | null>();
  const probe = async (ref: string, read: () => Promise<void>): Promise<string | null> => {
    if (!seen.has(ref)) {
      try {
        await read();
        seen.set(ref, null);
      } catch (err) {
        if (!isMissing(err)) throw err;
        seen.set(ref, coerceError(err).message);
      }
    }
    return seen.get(ref)!;
  };
  for (const it of items) {
    if (it.taskRef !== undefined) {
      const ref = it.taskRef;
      const reason = await probe(ref, async () => void tasks.set(ref, await loadTask(storage, ref)));
      if (reason !== null) missing.push({ itemId: it.itemId, what: 'task', ref, reason });
    } else if (!Object.hasOwn(config.tasks, it.taskName)) {
      missing.push({ itemId: it.itemId, what: 'task', ref: it.taskName, reason: `task "${it.taskName}" was not pinned (a config task) and the config no longer defines it` });
    }
    for (const [dep, ref] of Object.entries(it.deps)) {
      const reason = await probe(ref, async () => void (await storage.get(ref)));
      if (reason !== null) missing.push({ itemId: it.itemId, what: 'dependency', ref, reason: `dependency "${dep}": ${reason}` });
    }
  }
  return { tasks, missing };
}

export type ReplayStatus = 'equal' | 'differs' | 'failed';

/** One item's line of the reproducibility report. */
export interface ReplayOutcome {
  readonly itemId: string;
  readonly task: string;
  /** The pinned definition it ran; absent for a task taken from the config (not pinned). */
  readonly taskRef?: string;
  /** The target the executor routed to now, and the one the record names. */
  readonly target?: string;
  readonly sealedTarget?: string;
  readonly sealedResultRef: string;
  readonly sealedSha256: string;
  /** sha256 of the new stdout, as the runner would store it. */
  readonly sha256?: string;
  readonly bytes?: number;
  readonly status: ReplayStatus;
  /** Why it failed (the executor's message: scrubbed of secrets). */
  readonly error?: string;
  readonly durationMs: number;
}

export interface ReplayRunOptions {
  readonly config: AgoraConfig;
  readonly storage: StorageProvider;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  /** Items executed at once. @default 1 */
  readonly concurrency?: number;
  /** Called as each item ends (a live report). */
  readonly onOutcome?: (o: ReplayOutcome) => void;
}

/**
 * Executes each item through `executor` (the dispatch executor, with the pinned definitions) under
 * the sealed run's id, item id, attempt and lock tokens, each in a work dir of its own below
 * `<dataDir>/work/replay-<random>` (removed at the end), and compares the sha256 of its stdout with
 * the sealed result's. Outcomes in the items' order.
 */
export async function replayItems(executor: Executor, runId: string, items: readonly ReplayItem[], opts: ReplayRunOptions): Promise<ReplayOutcome[]> {
  const workRoot = resolveInside(opts.config.dataDir, 'work', `replay-${randomBytes(6).toString('hex')}`);
  const outcomes = new Array<ReplayOutcome>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length && !opts.signal.aborted) {
      const i = next++;
      const o = await replayItem(executor, runId, items[i]!, workRoot, opts);
      outcomes[i] = o;
      opts.onOutcome?.(o);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 1, items.length)) }, lane));
  } finally {
    await rm(workRoot, { recursive: true, force: true }).catch(() => undefined);
  }
  return outcomes.filter((o) => o !== undefined);
}

async function replayItem(executor: Executor, runId: string, it: ReplayItem, workRoot: string, opts: ReplayRunOptions): Promise<ReplayOutcome> {
  const ctx: ExecutorContext = {
    namespace: opts.config.namespace,
    runId,
    itemId: it.itemId,
    inputs: it.inputs,
    deps: it.deps,
    lockTokens: it.lockTokens,
    attempt: it.attempt,
    ...(it.timeoutMs !== undefined ? { timeoutMs: it.timeoutMs } : {}),
    ...(it.taskRef !== undefined ? { taskRef: it.taskRef } : {}),
    ...(it.target !== undefined ? { target: it.target } : {}),
    workDir: resolveInside(workRoot, it.itemId),
    signal: opts.signal,
    storage: opts.storage,
    logger: opts.logger,
  };
  const base = {
    itemId: it.itemId,
    task: it.taskName,
    ...(it.taskRef !== undefined ? { taskRef: it.taskRef } : {}),
    ...(it.sealedTarget !== undefined ? { sealedTarget: it.sealedTarget } : {}),
    sealedResultRef: it.sealedResultRef,
    sealedSha256: it.sealedSha256,
  };
  const started = Date.now();
  try {
    const result = await executor.execute(ctx);
    // The bytes the runner stores as the result (item-lifecycle): a string as UTF-8.
    const bytes = typeof result.output === 'string' ? Buffer.from(result.output) : result.output;
    const sha256 = sha256Hex(bytes);
    const target = result.fields?.['target'];
    return {
      ...base,
      ...(typeof target === 'string' ? { target } : {}),
      sha256,
      bytes: bytes.byteLength,
      status: sha256 === it.sealedSha256 ? 'equal' : 'differs',
      durationMs: Date.now() - started,
    };
  } catch (err) {
    return { ...base, status: 'failed', error: coerceError(err).message, durationMs: Date.now() - started };
  }
}
