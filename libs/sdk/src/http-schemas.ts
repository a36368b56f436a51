import { z } from 'zod';
import { ITEM_STATES, agoraEventSchema, type AgoraEvent, type ItemState } from '@agora/core';
import { deadLetterSchema, type ItemDetail, type RunStatus, type RunsPage, type SentMessage, type StoredDeadLetter } from '@agora/state';

/**
 * The dashboard's answers as the HTTP transport accepts them. A response is input from outside:
 * each is parsed here before the client hands it on, and the schemas are typed against the Redis
 * transport's return types, so both transports return the same shapes. Unknown fields are
 * dropped (a newer server may add some); a missing or mistyped field is refused.
 */

const count = z.number().int().nonnegative();
const name = z.string().min(1).max(1024);
const time = z.string().max(64);

const replayLink = z.object({ runId: name, items: z.array(name), at: time });
const rerunLink = z.object({ runId: name, fromFailed: z.boolean(), at: time });
const origin = z.object({ runId: name, itemId: name });

const endReason = {
  error: z.string().exactOptional(),
  errorCode: z.string().exactOptional(),
  exitCode: z.number().int().exactOptional(),
  reason: z.string().exactOptional(),
};

const counts = z.object(Object.fromEntries(ITEM_STATES.map((s) => [s, count])) as Record<ItemState, typeof count>);

/** The fields a run's status and its runs-list row share. */
const runHead = {
  runId: name,
  planId: z.string().max(1024),
  queue: z.string().max(1024),
  state: name,
  createdAt: time,
  finishedAt: time.exactOptional(),
};

export const runStatusSchema: z.ZodType<RunStatus> = z.object({
  ...runHead,
  enqueuedAt: time.exactOptional(),
  cancelRequested: z.boolean(),
  total: count,
  counts,
  items: z.array(z.object({ id: name, state: name, resultRef: z.string().exactOptional(), ...endReason, reusedFrom: origin.exactOptional(), cachedFrom: origin.exactOptional() })),
  events: count,
  replayOf: replayLink.exactOptional(),
  replayedBy: z.array(replayLink).exactOptional(),
  rerunOf: rerunLink.exactOptional(),
  rerunBy: z.array(rerunLink).exactOptional(),
  shortcuts: z.object({ reused: count, cached: count }).exactOptional(),
  problems: z.array(z.string()).exactOptional(),
});

/** `POST /api/runs/:id/rerun`: the new run. */
export const rerunSchema = z.object({ runId: name, rerunOf: name, fromFailed: z.boolean() });

/** `POST /api/memo/purge`: how many entries were deleted. */
export const purgedSchema = z.object({ purged: count });

/** `GET /api/memo`: the memo cache's entries, newest first. */
export const memoEntriesSchema = z.object({ entries: z.array(z.object({ key: name, runId: name, itemId: name, resultRef: name, at: time })) });

/** `GET /api/runs/:id`: a run's status, or `submitted` while its plan waits on the inbox. */
export const clientRunStatusSchema = z.union([runStatusSchema, z.object({ runId: name, state: z.literal('submitted') })]);

/** An event as the stream holds it: the vocabulary of `@agora/core`, every variant checked. */
export const streamEventSchema = agoraEventSchema.transform((e) => e as AgoraEvent);

export const itemDetailSchema: z.ZodType<ItemDetail> = z.object({
  itemId: name,
  state: name,
  resultRef: z.string().exactOptional(),
  executor: z.string().exactOptional(),
  dependsOn: z.array(name).exactOptional(),
  resourceLocks: z.array(name).exactOptional(),
  attempts: count,
  startedAt: time.exactOptional(),
  endedAt: time.exactOptional(),
  durationMs: z.number().nonnegative().exactOptional(),
  lockTokens: z.record(z.string(), count).exactOptional(),
  ...endReason,
  logRefs: z.object({ stdout: z.string().exactOptional(), stderr: z.string().exactOptional() }).exactOptional(),
  reusedFrom: origin.exactOptional(),
  cachedFrom: origin.exactOptional(),
  retries: z.array(z.object({ attempt: count, error: z.string(), at: time })),
  events: z.array(streamEventSchema),
  eventsOmitted: count.exactOptional(),
});

const runSummary = z.object({
  ...runHead,
  durationMs: z.number().exactOptional(),
  total: count,
  counts: z.object({ done: count, failed: count, skipped: count, cancelled: count, unfinished: count }),
});

export const runsPageSchema: z.ZodType<RunsPage> = z.object({ runs: z.array(runSummary), next: z.string().min(1).max(300).exactOptional() });

export const submittedSchema = z.object({ runId: name });

export const cancelledSchema = z.object({ runId: name, state: name, running: count });

/** `POST /api/runs/:id/items/:item/messages`: the message the item's channel took. */
export const sentMessageSchema: z.ZodType<SentMessage> = z.object({ runId: name, itemId: name, messageId: name, seq: count, bytes: count, sha256: z.string().regex(/^[0-9a-f]{64}$/) });

/** The dashboard's error body: `{ error, message }`, and `problems` for a plan it refused. */
/** `retryable: false` on a 503 whose cause a retry does not change (a submission the scheduler gave up on, a Redis password refused). */
export const errorBodySchema = z.object({ error: z.string().max(64), message: z.string().max(64 * 1024).optional(), problems: z.array(z.string()).optional(), retryable: z.boolean().optional() });

/** A dead-letter record as `GET /api/dlq` and `/api/dlq/:id` answer it (the store's own schema, plus who wrote it and its replay). */
const storedDeadLetterSchema: z.ZodType<StoredDeadLetter> = z.object({
  ...deadLetterSchema.shape,
  source: z.enum(['runner', 'scheduler']),
  replayedBy: name.exactOptional(),
  replayedAt: time.exactOptional(),
});

/** `GET /api/dlq`. */
export const deadLettersSchema = z.object({ deadLetters: z.array(storedDeadLetterSchema) });

/** `GET /api/dlq/:id`. */
export const deadLetterRecordSchema = storedDeadLetterSchema;

/** `POST /api/dlq/:id/replay` and `POST /api/dlq/replay`. */
export const replayedSchema = z.object({ runId: name, letters: z.array(name), items: z.array(name) });
