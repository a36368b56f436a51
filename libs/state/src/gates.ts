import { Job, type Queue } from 'bullmq';

/**
 * A gate is a tiny job under a dependent, in the gates queue, parked as delayed until its
 * dependency is terminal. Releasing it promotes it; the gate worker then completes it, and BullMQ
 * moves the dependent out of waiting-children once all its children are done.
 *
 * A gate parked this long is effectively parked forever; if it ever wakes on its own, the gate
 * worker re-parks it when the dependency is still not terminal.
 */
export const GATE_PARK_MS = 365 * 24 * 3600 * 1000;

export interface GateJobData {
  readonly runId: string;
  readonly dep: string;
  readonly dependent: string;
}

/**
 * Promotes parked gates. Idempotent: a gate already promoted, completed or not yet added is
 * skipped (the scheduler re-checks gates of chunks it adds after their dependency ended).
 */
export async function releaseGates(gatesQueue: Queue, gateIds: readonly string[]): Promise<number> {
  const results = await Promise.allSettled(
    gateIds.map((id) => new Job(gatesQueue, 'gate', {}, {}, id).promote()),
  );
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
  /** Gate job ids this item releases when it ends. */
  readonly gates: string[];
  readonly target?: string;
  /** Pinned task definition (`agora://<ns>/task/<name>/<sha256>`) resolved at acceptance. */
  readonly taskRef?: string;
}

