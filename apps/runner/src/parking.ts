import { DelayedError, WaitingChildrenError, type Job, type Queue } from 'bullmq';
import { gateJobOptions, type GateJobData } from '@agora/state';

interface Recheck {
  /** Whether what the job waits for is there now (its dependencies ended, a slot is free). */
  ready: () => Promise<boolean>;
  /** Wakes the parked job (promotes it, or its gate). */
  wake: () => Promise<void>;
}

/**
 * Parks an item job that cannot run yet (its lock is busy, or the run's `maxParallel` items are
 * running): the job goes to delayed for `forMs` (the fallback re-check) and holds no worker slot.
 * Whoever ends what it waits for promotes it; a promotion that came while it was being parked
 * found nothing to promote, so once parked it asks `ready()` and wakes itself.
 * Always throws `DelayedError` (BullMQ's signal that the processor parked the job).
 */
export async function parkJob(job: Job, token: string | undefined, opts: Recheck & { forMs: number }): Promise<never> {
  await job.moveToDelayed(Date.now() + opts.forMs, token);
  if (await opts.ready().catch(() => false)) await opts.wake();
  throw new DelayedError();
}

/**
 * Parks an item job whose flow-tree children ended before its other dependencies: adds its gate
 * (a child job in `<queue>.gates`, see libs/state `gateQueueName`) and moves the job to
 * `waiting-children`, where Bull Board shows it waiting, until the runner ending its last
 * dependency wakes the gate. The same re-check as `parkJob` covers a wake that came before the
 * gate was there. Always throws BullMQ's signal that the processor parked the job.
 */
export async function parkBehindGate(job: Job, token: string | undefined, gates: Queue, data: GateJobData, opts: Recheck): Promise<never> {
  const jobId = job.id!;
  await gates.add('gate', data, { ...gateJobOptions(jobId), parent: { id: jobId, queue: job.queueQualifiedName } });
  if (!(await job.moveToWaitingChildren(token ?? ''))) {
    // The gate completed already (woken between the start script and the add): run at once.
    await job.moveToDelayed(Date.now(), token);
    throw new DelayedError();
  }
  if (await opts.ready().catch(() => false)) await opts.wake();
  throw new WaitingChildrenError();
}
