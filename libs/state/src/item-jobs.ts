import { createHash } from 'node:crypto';
import { Job, Queue } from 'bullmq';
import { z } from 'zod';
import { ITEM_TIMEOUT_MAX_MS, SINK_NAME_RE, TRACEPARENT_RE, ValueError, isItemId, isRunId, resolvedRetryPolicySchema } from '@agora/core';
import { canonicalJson } from '@agora/audit';
import type { RedisClient } from './redis.js';
import { callScript } from './scripts.js';

/**
 * How long a parked item job waits before it looks again on its own: the delay of its gate (a
 * job waiting for dependencies outside its flow tree) or of the job itself (parked on a busy
 * lock or the run's `maxParallel`). It is normally woken long before: the runner that ends its
 * last dependency wakes it (and a retried job repeats that wake; a cancelled run's remaining jobs
 * run as no-ops and wake theirs the same way), so this is only the safety net.
 */
export const DEP_PARK_MS = 10 * 60 * 1000;

/**
 * An item job waiting for dependencies outside its flow tree is held back by a *gate*: a child
 * job in the queue `<queue>.gates` (a name no plan queue can have: they allow no dot), delayed
 * by `DEP_PARK_MS`. BullMQ keeps the item job in `waiting-children` until the gate completes, so
 * Bull Board shows it as waiting for what it waits for, not as a job that "will run in 10
 * minutes". Waking promotes the gate; the runner's gate worker completes it once the item's
 * dependencies have all ended (and delays it again otherwise), and BullMQ moves the item job
 * to wait, keeping its priority.
 */
export function gateQueueName(queue: string): string {
  return `${queue}.gates`;
}

/** The gate of item job `itemJobId`; a wake entry with this suffix names a gate, not an item job. */
export function gateJobId(itemJobId: string): string {
  return `${itemJobId}${GATE_SUFFIX}`;
}

const GATE_SUFFIX = '-g';

/** What a gate job carries: whose dependencies it waits for. Parsed like any job data. */
export const gateJobDataSchema = z.object({ runId: z.string().refine(isRunId, 'invalid run id'), itemId: z.string().refine(isItemId, 'invalid item id') }).strict();
export type GateJobData = z.infer<typeof gateJobDataSchema>;

/** The gate job added with a parked item job (flow child, or added by the runner when it parks). */
export function gateJobOptions(itemJobId: string): { jobId: string; delay: number; removeOnComplete: true; removeOnFail: true; ignoreDependencyOnFailure: true } {
  // A gate that fails (it never should) still releases its item: the start script then decides.
  return { jobId: gateJobId(itemJobId), delay: DEP_PARK_MS, removeOnComplete: true, removeOnFail: true, ignoreDependencyOnFailure: true };
}

const gateQueues = new WeakMap<Queue, Queue>();

/** The `<queue>.gates` handle next to an item queue handle (same connection and prefix). */
export function gateQueueOf(queue: Queue): Queue {
  let g = gateQueues.get(queue);
  if (!g) gateQueues.set(queue, (g = new Queue(gateQueueName(queue.name), { connection: queue.opts.connection, ...(queue.opts.prefix !== undefined ? { prefix: queue.opts.prefix } : {}) })));
  return g;
}

/** Closes the gates handle made next to `queue`, if one was (with the item queue's own close). */
export async function closeGateQueueOf(queue: Queue): Promise<void> {
  const g = gateQueues.get(queue);
  gateQueues.delete(queue);
  await g?.close();
}

/**
 * Wakes parked item jobs: promotes each gate (ids from `gateJobId`) in the queue's gates queue,
 * and each other job (parked delayed on a lock or a run slot) in the queue itself. Idempotent: a
 * job that is not delayed (still held by its flow tree, already woken, running or gone) is left
 * alone.
 */
export async function wakeJobs(queue: Queue, jobIds: readonly string[]): Promise<number> {
  const results = await Promise.allSettled(
    jobIds.map((id) => new Job(id.endsWith(GATE_SUFFIX) ? gateQueueOf(queue) : queue, 'item', {}, {}, id).promote()),
  );
  return results.filter((r) => r.status === 'fulfilled').length;
}

/**
 * Wakes parked lock waiters whose turn came, each to the front of the queue's wait list: the
 * next job a worker takes (a lock is kept for its head while it waits, so a head behind a
 * backlog would leave the lock idle until the backlog drained). Returns the ids not promoted
 * (not delayed: running, woken already, not yet parked). `redis`: a client of the queue's Redis.
 */
export async function wakeLockHeads(redis: RedisClient, queue: Queue, jobIds: readonly string[]): Promise<string[]> {
  if (jobIds.length === 0) return [];
  return (await callScript(redis, 'promoteHeads', [queue.toKey('delayed')], [queue.toKey(''), ...jobIds])) as string[];
}

/**
 * What a runner needs to run one item; stored as the item job's data. Job data is input from
 * outside (anyone who reaches Redis or a writable Bull Board can edit it), so a runner parses it
 * with this schema and then checks its definition hash against the one registered at acceptance.
 */
export const itemJobDataSchema = z
  .object({
    runId: z.string().refine(isRunId, 'invalid run id'),
    itemId: z.string().refine(isItemId, 'invalid item id'),
    executor: z.string().min(1).max(128),
    inputs: z.record(z.string(), z.unknown()),
    locks: z.array(z.string().min(1).max(200)).max(32),
    deps: z.array(z.string().refine(isItemId, 'invalid dependency id')).max(1000),
    target: z.string().min(1).max(128).optional(),
    /** Pinned task definition (`agora://<ns>/task/<name>/<sha256>`) resolved at acceptance. */
    taskRef: z.string().min(1).max(512).optional(),
    /** The retry policy resolved at acceptance (item > task > config). Absent in jobs of older schedulers: the runner's config decides. */
    retry: resolvedRetryPolicySchema.optional(),
    /** The item's own wall-clock limit of one try; the runner stops the executor after it. */
    timeoutMs: z.number().int().positive().max(ITEM_TIMEOUT_MAX_MS).optional(),
    /**
     * The run's trace context (W3C `traceparent`), set at acceptance: the runner's item span is a
     * child of it. Not part of `itemDefinitionHash`: it decides nothing about what runs (an edit
     * only files the item's spans under another trace), and leaving it out keeps the definition
     * hashes, and so the audit record, the same with tracing on or off.
     */
    traceparent: z.string().regex(TRACEPARENT_RE, 'a W3C traceparent (00-<32 hex>-<16 hex>-01)').optional(),
    /** The result sink chosen at acceptance (task > plan), when not the default `stdout`. Hashed: it decides where the result goes. */
    resultSink: z.string().regex(SINK_NAME_RE).optional(),
    /**
     * Only for a memoized item: the sha256 of what decides its result apart from its dependencies
     * (executor, task definition hash, image digest, inputs; see `memoKey`). The runner adds the
     * dependencies' result hashes and looks the key up before it executes anything.
     */
    memo: z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 (64 lowercase hex)').optional(),
    /**
     * Only for an item of a rerun that ended `done` in the original run (and whose task is
     * unchanged, or the rerun is `--from-failed`): that run. The runner reuses its result when its
     * dependencies' results hash as they did there and the artifact still exists.
     */
    reuseFrom: z.string().refine(isRunId, 'invalid run id').optional(),
  })
  .strict();

export type ItemJobData = z.infer<typeof itemJobDataSchema>;

/** Parses an item job's data; `ValueError` naming the first problems when it is not one. */
export function parseItemJobData(data: unknown): ItemJobData {
  const r = itemJobDataSchema.safeParse(data);
  if (!r.success) {
    throw new ValueError(`item job data is invalid: ${r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  return r.data;
}

/** The RFC 8785 SHA-256 of an item's inputs, as the audit records it (`inputsHash`). */
export function itemInputsHash(inputs: Readonly<Record<string, unknown>>): string {
  return createHash('sha256').update(canonicalJson(inputs)).digest('hex');
}

/**
 * The sha256 of an item's definition: everything that decides what runs (executor, inputs,
 * locks, dependencies, target, pinned task, retry policy, timeout), in RFC 8785 form so key order cannot matter. The
 * inputs enter as their `itemInputsHash`, which the scheduler has already computed for the
 * record (pass it to avoid canonicalising them twice). The scheduler registers the result at
 * acceptance; `beginItem` refuses a job whose data hashes otherwise.
 */
export function itemDefinitionHash(d: ItemJobData, inputsHash: string = itemInputsHash(d.inputs)): string {
  const def = {
    runId: d.runId,
    itemId: d.itemId,
    executor: d.executor,
    inputsHash,
    locks: d.locks,
    deps: d.deps,
    target: d.target ?? null,
    taskRef: d.taskRef ?? null,
    // Only when present, so the jobs of older schedulers (without them) still hash as registered.
    ...(d.retry !== undefined ? { retry: d.retry } : {}),
    ...(d.timeoutMs !== undefined ? { timeoutMs: d.timeoutMs } : {}),
    ...(d.resultSink !== undefined ? { resultSink: d.resultSink } : {}),
    // Both decide whether the item executes: hashed, so an edit of job data cannot hand an item a result.
    ...(d.memo !== undefined ? { memo: d.memo } : {}),
    ...(d.reuseFrom !== undefined ? { reuseFrom: d.reuseFrom } : {}),
  };
  return createHash('sha256').update(canonicalJson(def)).digest('hex');
}

/**
 * The memo key of an item: sha256 over its memo base (`ItemJobData.memo`) and its dependencies'
 * result hashes by dependency id, in RFC 8785 form. Results enter by content hash only (a
 * resultRef's name differs per run; its bytes are what the worker reads).
 */
export function memoKey(base: string, deps: Readonly<Record<string, string>>): string {
  const hashes: Record<string, string> = {};
  for (const [id, ref] of Object.entries(deps)) hashes[id] = resultHashOf(ref);
  return createHash('sha256').update(canonicalJson({ base, deps: hashes })).digest('hex');
}

/** The content hash a resultRef pins (its last segment), or the ref itself when it pins none. */
export function resultHashOf(ref: string): string {
  const h = ref.slice(ref.lastIndexOf('/') + 1);
  return /^[0-9a-f]{64}$/.test(h) ? h : ref;
}

/**
 * The part of a memo key known at acceptance: executor, task definition hash, image digest (for a
 * task with an image) and the RFC 8785 hash of the inputs. `memoKey` adds the dependencies' results.
 */
export function memoBase(parts: { executor: string; taskHash: string | null; imageDigest: string | null; inputsHash: string }): string {
  return createHash('sha256').update(canonicalJson({ v: 1, executor: parts.executor, task: parts.taskHash, image: parts.imageDigest, inputs: parts.inputsHash })).digest('hex');
}
