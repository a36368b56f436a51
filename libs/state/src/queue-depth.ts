import { Queue } from 'bullmq';
import { keys as buildKeys } from '@agora/core';
import type { RedisClient } from './redis.js';

/** The work in the plan queues now: item jobs ready to start and item jobs running. */
export interface QueueDepth {
  /** Ready to start (`wait`, `prioritized`). Delayed jobs are not counted: they are parked on dependencies or backing off. */
  readonly waiting: number;
  readonly active: number;
}

/** Sums the depth of the named plan queues (one `getJobCounts` each): what the fleet autoscaler reads. */
export async function queueDepth(redis: RedisClient, namespace: string, queueNames: readonly string[]): Promise<QueueDepth> {
  const prefix = buildKeys(namespace).bullPrefix;
  let waiting = 0;
  let active = 0;
  for (const name of queueNames) {
    const queue = new Queue(name, { connection: redis, prefix });
    try {
      const c = await queue.getJobCounts('wait', 'prioritized', 'active');
      waiting += (c['wait'] ?? 0) + (c['prioritized'] ?? 0);
      active += c['active'] ?? 0;
    } finally {
      // The connection is the caller's: close the queue without closing it.
      await queue.close();
    }
  }
  return { waiting, active };
}
