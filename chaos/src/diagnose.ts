/**
 * Why items were lost, gathered while the fleet still runs (only when the run did not end):
 * the BullMQ state of each lost item's job, and the lock table (`agora locks --json`), searched
 * for a cycle of lock-queue heads each waiting for the next, which no lease expiry can break.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

export interface LockTableEntry {
  readonly name: string;
  readonly holder: { runId: string; itemId: string; token: number } | null;
  readonly waiters: ReadonlyArray<{ runId: string; itemId: string; position: number }>;
}

export interface LostDiagnosis {
  /** Lost items by the state of their BullMQ job (`missing`: no job found). */
  readonly jobStates: Record<string, number>;
  /** Up to 5 distinct reasons BullMQ gave for failing the jobs of lost items. */
  readonly failedReasons: string[];
  /** Items, each first in one lock's queue and waiting for the next item's lock: a deadlock. */
  readonly lockWaitCycle: string[] | null;
  /** Free locks whose first waiter cannot take them (it waits on another lock). */
  readonly blockedFreeLocks: number;
}

const STATES = ['active', 'wait', 'delayed', 'prioritized', 'waiting-children', 'failed', 'completed'] as const;

export async function lostJobStates(
  redis: Redis,
  prefix: string,
  queue: string,
  runId: string,
  lost: ReadonlySet<string>,
): Promise<Pick<LostDiagnosis, 'jobStates' | 'failedReasons'>> {
  const q = new Queue(queue, { connection: redis.duplicate(), prefix });
  try {
    const jobStates: Record<string, number> = {};
    const reasons = new Set<string>();
    const seen = new Set<string>();
    for (const state of STATES) {
      for (const job of await q.getJobs([state], 0, -1)) {
        const d = (job?.data ?? {}) as { runId?: string; itemId?: string };
        if (!job || d.runId !== runId || !d.itemId || !lost.has(d.itemId) || seen.has(d.itemId)) continue;
        seen.add(d.itemId);
        jobStates[state] = (jobStates[state] ?? 0) + 1;
        if (state === 'failed' && job.failedReason) reasons.add(job.failedReason.slice(0, 200));
      }
    }
    const missing = [...lost].filter((i) => !seen.has(i)).length;
    if (missing > 0) jobStates['missing'] = missing;
    return { jobStates, failedReasons: [...reasons].slice(0, 5) };
  } finally {
    await q.close();
    await (q.opts.connection as Redis).quit().catch(() => undefined);
  }
}

/**
 * A waits-for graph over the lock table: the first waiter of a free lock waits for whoever holds,
 * or is first in the queue of, each other lock it needs. A cycle is a deadlock.
 */
export function lockWaitCycle(table: readonly LockTableEntry[], locksOf: ReadonlyMap<string, readonly string[]>): { cycle: string[] | null; blockedFreeLocks: number } {
  const byName = new Map(table.map((l) => [l.name, l]));
  const firstOf = (name: string): string | undefined => {
    const l = byName.get(name);
    return l?.holder?.itemId ?? [...(l?.waiters ?? [])].sort((a, b) => a.position - b.position)[0]?.itemId;
  };
  const edges = new Map<string, Set<string>>();
  let blockedFreeLocks = 0;
  for (const l of table) {
    const head = l.holder ? undefined : [...l.waiters].sort((a, b) => a.position - b.position)[0]?.itemId;
    if (!head) continue;
    const blockers = new Set<string>();
    for (const other of locksOf.get(head) ?? []) {
      if (other === l.name) continue;
      const b = firstOf(other);
      if (b !== undefined && b !== head) blockers.add(b);
    }
    if (blockers.size > 0) {
      blockedFreeLocks++;
      edges.set(head, new Set([...(edges.get(head) ?? []), ...blockers]));
    }
  }
  // Iterative DFS for one cycle.
  const color = new Map<string, 1 | 2>();
  for (const root of edges.keys()) {
    if (color.has(root)) continue;
    const stack: Array<{ id: string; next: string[] }> = [{ id: root, next: [...(edges.get(root) ?? [])] }];
    color.set(root, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const n = top.next.pop();
      if (n === undefined) {
        color.set(top.id, 2);
        stack.pop();
        continue;
      }
      if (color.get(n) === 1) {
        const from = stack.findIndex((f) => f.id === n);
        return { cycle: [...stack.slice(from).map((f) => f.id), n], blockedFreeLocks };
      }
      if (!color.has(n)) {
        color.set(n, 1);
        stack.push({ id: n, next: [...(edges.get(n) ?? [])] });
      }
    }
  }
  return { cycle: null, blockedFreeLocks };
}
