import type { Queue } from 'bullmq';
import type { Logger } from '@agora/core';
import { wakeJobs, type RunStore } from '@agora/state';

/** BullMQ job states in which a job will still run (or is running) and so will end its item. */
const LIVE_JOB_STATES = new Set(['waiting', 'wait', 'active', 'delayed', 'prioritized', 'waiting-children', 'paused']);

/**
 * Ends the items of a run whose BullMQ job can no longer end them: the job was removed (Bull
 * Board "clean", an admin, a retention setting), failed for good outside any processor, or
 * completed without the item's end being written. Each such item ends `failed` with
 * `errorCode: "JOB_LOST"`, which skips its dependents and lets the run end, instead of leaving
 * it `queued` or `running` forever. Items registered without a job id (runs accepted before job
 * ids were recorded) are left alone. Returns how many items were ended.
 *
 * Only for a run whose jobs were all added (`enqueuedAt`) and that has stopped making progress:
 * the caller decides when a run counts as stalled.
 */
export async function repairStrandedItems(
  store: RunStore,
  queue: Queue,
  runId: string,
  logger: Pick<Logger, 'warn'>,
): Promise<number> {
  // Until every job was added (enqueuedAt), an absent job may simply not be added yet.
  const run = await store.getRun(runId, { items: false });
  if (!run?.enqueuedAt || run.state !== 'running') return 0;
  const open = (await store.unfinishedItems(runId)).filter((i): i is { itemId: string; state: string; jobId: string } => i.jobId !== null);
  let ended = 0;
  for (let at = 0; at < open.length; at += 500) {
    const batch = open.slice(at, at + 500);
    const states = await Promise.all(batch.map((i) => queue.getJobState(i.jobId)));
    for (let j = 0; j < batch.length; j++) {
      const jobState = states[j]!;
      if (LIVE_JOB_STATES.has(jobState)) continue;
      const { itemId, jobId } = batch[j]!;
      const why = jobState === 'unknown' ? 'its job is gone from the queue (removed)' : `its job ended ${jobState} without ending the item`;
      const r = await store.finishItem(runId, itemId, 'failed', { fields: { errorCode: 'JOB_LOST', error: `item ${itemId}: ${why}; ended so the run can finish`, jobId } });
      if (r.moved === 'moved') {
        ended++;
        logger.warn({ runId, itemId, jobId, jobState }, 'ended an item whose job was lost');
      }
      if (r.wake.length > 0) await wakeJobs(queue, r.wake);
    }
  }
  return ended;
}
