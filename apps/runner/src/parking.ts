import { DelayedError, type Job } from 'bullmq';

/**
 * Parks an item job that cannot run yet (its lock is busy, or a dependency outside its flow tree
 * has not ended): the job goes to delayed for `forMs` (the fallback re-check) and holds no
 * worker slot. Whoever ends what it waits for promotes it; a promotion that came while it was
 * being parked found nothing to promote, so once parked it asks `ready()` and wakes itself.
 * Always throws `DelayedError` (BullMQ's signal that the processor parked the job).
 */
export async function parkJob(job: Job, token: string | undefined, opts: { forMs: number; ready: () => Promise<boolean>; wake: () => Promise<void> }): Promise<never> {
  await job.moveToDelayed(Date.now() + opts.forMs, token);
  if (await opts.ready().catch(() => false)) await opts.wake();
  throw new DelayedError();
}
