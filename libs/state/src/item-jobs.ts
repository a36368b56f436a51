import { Job, type Queue } from 'bullmq';

/**
 * How long an item job that waits for dependencies outside its flow tree stays parked (delayed)
 * before it looks again on its own. It is normally woken long before: the runner that ends its
 * last dependency promotes it (and a retried job repeats that wake; a cancelled run's remaining
 * jobs run as no-ops and wake theirs the same way), so this is only the safety net.
 */
export const DEP_PARK_MS = 10 * 60 * 1000;

/**
 * Promotes parked (delayed) item jobs so they run now. Idempotent: a job that is not delayed
 * (still held by its flow tree, already woken, running or gone) is left alone.
 */
export async function wakeJobs(queue: Queue, jobIds: readonly string[]): Promise<number> {
  const results = await Promise.allSettled(jobIds.map((id) => new Job(queue, 'item', {}, {}, id).promote()));
  return results.filter((r) => r.status === 'fulfilled').length;
}

/** What a runner needs to run one item; stored as the item job's data. */
export interface ItemJobData {
  readonly runId: string;
  readonly itemId: string;
  readonly executor: string;
  readonly inputs: Record<string, unknown>;
  readonly locks: readonly string[];
  readonly deps: readonly string[];
  readonly target?: string;
  /** Pinned task definition (`agora://<ns>/task/<name>/<sha256>`) resolved at acceptance. */
  readonly taskRef?: string;
}
