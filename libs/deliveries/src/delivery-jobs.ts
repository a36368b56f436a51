import { createHash } from 'node:crypto';
import { z } from 'zod';
import { NOTIFICATION_TYPES, SINK_NAME_RE, ValueError, isItemId, isRunId } from '@agora/core';

const isoTime = z.iso.datetime({ offset: true });
const runId = z.string().refine(isRunId, 'invalid run id');
const itemId = z.string().refine(isItemId, 'invalid item id');
const target = z.string().regex(SINK_NAME_RE, 'invalid sink or notification name');

/** An item's terminal result as a delivery job carries it (`DispatchResult`). */
export const dispatchResultSchema = z.strictObject({
  runId,
  itemId,
  state: z.enum(['done', 'failed', 'cancelled', 'skipped']),
  resultRef: z.string().min(1).max(1024).optional(),
  error: z.string().max(1000).optional(),
  exitCode: z.number().int().optional(),
  attempt: z.number().int().nonnegative().optional(),
  finishedAt: isoTime.optional(),
});

/** A notification as a delivery job carries it (`AgoraNotification`). */
export const notificationSchema = z.strictObject({
  type: z.enum(NOTIFICATION_TYPES),
  runId,
  state: z.string().min(1).max(32),
  at: isoTime,
  counts: z.record(z.string().max(32), z.number().int().nonnegative()).optional(),
  itemId: itemId.optional(),
  errorCode: z.string().max(64).optional(),
});

/**
 * A delivery job's data. Job data is input from outside (anyone who reaches Redis can edit it):
 * the worker parses it with this schema. It names its target by config name only: the URL and
 * the secret stay in each process's config, never in Redis.
 */
export const deliveryJobSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('result'), target, result: dispatchResultSchema }),
  z.strictObject({ kind: z.literal('notification'), target, notification: notificationSchema }),
]);

export type DeliveryJob = z.infer<typeof deliveryJobSchema>;

export function parseDeliveryJob(data: unknown): DeliveryJob {
  const r = deliveryJobSchema.safeParse(data);
  if (!r.success) throw new ValueError(`delivery job data is invalid: ${r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

/**
 * A delivery's id: the same for every try and every repeat of one delivery (a result of one item
 * to one sink; one event of one run or item to one notification target). It is the BullMQ job id
 * (so a repeat enqueued while the job is kept is a no-op), the `X-Agora-Delivery` header, and the
 * dead letter's id.
 */
export function deliveryIdOf(job: DeliveryJob): string {
  const parts =
    job.kind === 'result'
      ? ['result', job.target, job.result.runId, job.result.itemId]
      : ['notification', job.target, job.notification.type, job.notification.runId, job.notification.itemId ?? ''];
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

/** What a delivery is about, for logs and dead letters. */
export function subjectOf(job: DeliveryJob): { type: string; runId: string; itemId?: string } {
  if (job.kind === 'result') return { type: 'item.result', runId: job.result.runId, itemId: job.result.itemId };
  const n = job.notification;
  return { type: n.type, runId: n.runId, ...(n.itemId !== undefined ? { itemId: n.itemId } : {}) };
}
