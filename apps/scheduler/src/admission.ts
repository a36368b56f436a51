import type { Queue } from 'bullmq';
import type { Plan } from '@agora/core';
import type { FlowPlan } from './flows.js';

/**
 * BullMQ states of a job that has not ended: what a queue's `maxWaiting` bounds (a paused queue's
 * jobs are in `wait` in BullMQ 6).
 */
export const UNFINISHED_JOB_STATES = ['wait', 'prioritized', 'delayed', 'waiting-children', 'active'] as const;

/** The queue's item jobs that exist and have not ended, from one `getJobCounts` (a few LLEN/ZCARD in one script). */
export async function unfinishedJobs(queue: Queue): Promise<number> {
  const counts = await queue.getJobCounts(...UNFINISHED_JOB_STATES);
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** A run whose jobs are still being admitted, kept between rounds so a round costs no re-validation. */
export interface PendingAdmission {
  readonly plan: Plan;
  readonly flows: FlowPlan;
  /** Rounds in a row that admitted nothing: the inbox job parks longer each time. */
  idleRounds: number;
}

/** The flow-building options a queue's `maxWaiting` needs, or none when it has no bound. */
export function admissionFlowOptions(maxWaiting: number | undefined): { maxTreeJobs?: number; chunkJobs?: number } {
  if (maxWaiting === undefined) return {};
  // No flow trees: every dependency is a wake edge and chunks follow the plan's topological
  // order, so the jobs admitted so far never wait on a job not yet admitted (a tree could hold
  // items on both sides of a cut). What is admitted can always finish and make room again, and a
  // chunk never outgrows the bound, so admission cannot deadlock.
  return { maxTreeJobs: 1, chunkJobs: Math.min(1000, maxWaiting) };
}

/**
 * The active scheduler's admissions under `maxWaiting`: the runs still being admitted (in
 * memory only; after a failover the next scheduler rebuilds them from the inbox job, which holds
 * the plan, and from the progress in the run hash), and one admission step at a time per queue,
 * so two runs (the inbox takes plans in parallel) never both count the same room.
 */
export class Admissions {
  private readonly pending = new Map<string, PendingAdmission>();
  private readonly gates = new Map<string, Promise<void>>();

  constructor(
    /** First park of a run's inbox job when its queue is full; doubled per idle round. @default 250 */
    readonly parkMs = 250,
    /** Longest park. @default 5000 */
    readonly maxParkMs = 5000,
    /** How long one round keeps looking for room before its inbox job parks. @default 2000 */
    readonly holdMs = 2000,
    /** Pause between looks within a round. @default 200 */
    readonly pollMs = 200,
  ) {}

  get(runId: string): PendingAdmission | undefined {
    return this.pending.get(runId);
  }

  keep(runId: string, admission: PendingAdmission): void {
    this.pending.set(runId, admission);
  }

  forget(runId: string): void {
    this.pending.delete(runId);
  }

  /** Drops every pending admission (the scheduler stopped acting; the next one rebuilds them). */
  clear(): void {
    this.pending.clear();
  }

  /** How long a run's inbox job parks after a round: longer while its rounds admit nothing. */
  parkFor(admission: PendingAdmission): number {
    return Math.min(this.maxParkMs, this.parkMs * 2 ** Math.min(admission.idleRounds, 10));
  }

  /** Runs `step` alone among the steps of `queue` in this process. */
  async exclusive<T>(queue: string, step: () => Promise<T>): Promise<T> {
    const before = this.gates.get(queue) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    const tail = before.then(() => mine);
    this.gates.set(queue, tail);
    await before;
    try {
      return await step();
    } finally {
      done();
      if (this.gates.get(queue) === tail) this.gates.delete(queue);
    }
  }
}
