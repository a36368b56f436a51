import type { Rng } from './prng.js';

export interface ChaosPlanItem {
  readonly id: string;
  readonly executor: 'dispatch';
  readonly inputs: { readonly task: string };
  readonly depends_on: string[];
  readonly resourceLocks: string[];
}

export interface ChaosPlan {
  readonly id: string;
  readonly queue: string;
  readonly items: ChaosPlanItem[];
}

export interface PlanShape {
  readonly items: number;
  /** Distinct lock names; every item takes 0-2 of them, so each is hot. */
  readonly locks: number;
  /** Dependency edges, each from an item to an earlier one (so the graph is a DAG). */
  readonly edges: number;
}

export const itemId = (i: number): string => `i${String(i).padStart(5, '0')}`;
export const lockName = (i: number): string => `hot/${String(i).padStart(2, '0')}`;

/** A locked random DAG of `dispatch` items running task `task`, the same for the same seed. */
export function generatePlan(rng: Rng, shape: PlanShape, planId: string, task: string): ChaosPlan {
  const locks = Array.from({ length: shape.locks }, (_, i) => lockName(i));
  const items: ChaosPlanItem[] = [];
  for (let i = 0; i < shape.items; i++) {
    const n = rng.int(0, 2);
    const mine = new Set<string>();
    while (mine.size < Math.min(n, locks.length)) mine.add(rng.pick(locks));
    items.push({ id: itemId(i), executor: 'dispatch', inputs: { task }, depends_on: [], resourceLocks: [...mine].sort() });
  }
  const seen = new Set<string>();
  const maxEdges = (shape.items * (shape.items - 1)) / 2;
  const want = Math.min(shape.edges, maxEdges);
  while (seen.size < want) {
    const to = rng.int(1, shape.items - 1);
    const from = rng.int(0, to - 1);
    const key = `${to}<${from}`;
    if (seen.has(key)) continue;
    seen.add(key);
    items[to]!.depends_on.push(itemId(from));
  }
  return { id: planId, queue: 'default', items };
}

/** Edges on the longest dependency chain: the run's critical path, for the report. */
export function longestChain(plan: ChaosPlan): number {
  const depth = new Map<string, number>();
  let max = 0;
  // Items only depend on earlier ones, so one pass in order is a topological pass.
  for (const it of plan.items) {
    const d = it.depends_on.reduce((m, dep) => Math.max(m, (depth.get(dep) ?? 0) + 1), 0);
    depth.set(it.id, d);
    max = Math.max(max, d);
  }
  return max;
}
