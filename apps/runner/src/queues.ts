import { Queue } from 'bullmq';
import { closeGateQueueOf, gateQueueOf, wakeJobs, wakeLockHeads, type RedisClient } from '@agora/state';
import type { LockHolder } from './locking.js';

/**
 * The runner's handles on plan queues, for waking parked jobs (promoting their delayed jobs):
 * dependents whose last dependency ended, and lock waiters whose turn came. On a client of their
 * own: BullMQ loads its ~60 scripts onto the client it is given, and an auto-pipelined client
 * builds a pipeline object carrying every script per batch.
 */
export class QueueHandles {
  private readonly handles = new Map<string, Queue>();

  constructor(
    private readonly connection: RedisClient,
    private readonly prefix: string,
  ) {}

  queue(name: string): Queue {
    let q = this.handles.get(name);
    if (!q) this.handles.set(name, (q = new Queue(name, { connection: this.connection, prefix: this.prefix })));
    return q;
  }

  /** The gates queue next to a plan queue (see libs/state `gateQueueName`). */
  gates(name: string): Queue {
    return gateQueueOf(this.queue(name));
  }

  /** Promotes parked jobs of one queue (a job no longer parked is left alone). */
  async wakeJobs(queue: string, jobIds: readonly string[]): Promise<void> {
    if (jobIds.length > 0) await wakeJobs(this.queue(queue), jobIds);
  }

  /**
   * Promotes lock waiters whose turn came, each in its own queue, to the front of its wait list
   * (libs/state `wakeLockHeads`: the lock stays idle until its head runs). A holder that cannot
   * be promoted is not parked: its own re-check after parking finds its turn. Never throws, as
   * `wakeJobs` does not: a wake lost to a Redis error is made up by the parked job's re-check.
   */
  async wakeHolders(targets: readonly LockHolder[]): Promise<void> {
    const byQueue = new Map<string, string[]>();
    for (const t of targets) {
      const ids = byQueue.get(t.queue);
      if (ids) ids.push(t.jobId);
      else byQueue.set(t.queue, [t.jobId]);
    }
    await Promise.allSettled([...byQueue].map(([queue, ids]) => wakeLockHeads(this.connection, this.queue(queue), ids)));
  }

  async close(): Promise<void> {
    for (const q of this.handles.values()) await Promise.all([closeGateQueueOf(q), q.close()]);
  }
}
