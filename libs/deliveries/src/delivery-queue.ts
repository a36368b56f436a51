import { Queue } from 'bullmq';
import { DELIVERIES_QUEUE, keys as buildKeys } from '@agora/core';
import type { RedisClient } from '@agora/state';
import { deliveryIdOf, type DeliveryJob } from './delivery-jobs.js';
import type { DeliveryPolicy } from './webhook-providers.js';

/** Jitter of the delivery back-off: each wait is 80-100% of its exponential value, so receivers that failed together are not all retried in the same instant. */
export const DELIVERY_JITTER = 0.2;

/**
 * The durable side of deliveries: a BullMQ queue (`_deliveries`) in the namespace. A delivery is
 * safe once `enqueue` resolves: a process that dies afterwards loses nothing, since the job is in
 * Redis and any runner's delivery worker takes it. Job ids are delivery ids, so enqueuing one
 * again while its job is kept is a no-op (the scheduler's catch-up at a run's end relies on it).
 */
export class DeliveryQueue {
  readonly queue: Queue;

  constructor(connection: RedisClient, namespace: string) {
    this.queue = new Queue(DELIVERIES_QUEUE, { connection, prefix: buildKeys(namespace).bullPrefix });
  }

  /** Adds deliveries in one call (one MULTI); returns their ids. */
  async enqueue(deliveries: ReadonlyArray<{ readonly job: DeliveryJob; readonly policy: DeliveryPolicy }>): Promise<string[]> {
    if (deliveries.length === 0) return [];
    const ids = deliveries.map((d) => deliveryIdOf(d.job));
    await this.queue.addBulk(
      deliveries.map((d, i) => ({
        name: d.job.kind,
        data: d.job,
        opts: {
          jobId: ids[i]!,
          attempts: d.policy.attempts,
          backoff: { type: 'exponential', delay: d.policy.backoffMs, jitter: DELIVERY_JITTER },
          // Kept a while after the end so a repeat of the same delivery is recognised (and not sent twice).
          removeOnComplete: { age: 24 * 3600, count: 10_000 },
          removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
        },
      })),
    );
    return ids;
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
