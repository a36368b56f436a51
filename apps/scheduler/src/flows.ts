import type { FlowJob, JobsOptions } from 'bullmq';
import { GATES_QUEUE, gateJobId, itemJobId, type Plan } from '@agora/core';
import { GATE_PARK_MS, type GateJobData, type ItemJobData } from '@agora/state';

export interface FlowBuildOptions {
  readonly itemJobOptions: JobsOptions;
  /** Largest flow tree added in one MULTI; bigger trees are split at an edge, which becomes a gate. @default 1000 */
  readonly maxTreeJobs?: number;
  /** Deepest flow tree (BullMQ adds a tree recursively). @default 600 */
  readonly maxTreeHeight?: number;
  /** Jobs per `addBulk` call. @default 1000 */
  readonly chunkJobs?: number;
  /** Pinned task URIs by task name, for dispatch items. */
  readonly taskRefs?: ReadonlyMap<string, string>;
}

export interface FlowChunk {
  readonly flows: FlowJob[];
  readonly jobs: number;
  /** Gates in this chunk and the item each waits for: released at once if that item already ended. */
  readonly gates: Array<{ readonly id: string; readonly dep: string }>;
}

export interface FlowPlan {
  readonly chunks: FlowChunk[];
  readonly gateCount: number;
  readonly treeEdges: number;
}

/** Deps-first topological order (the plan is validated acyclic). */
function topoOrder(depIdx: readonly number[][], n: number): number[] {
  const indeg = new Array<number>(n).fill(0);
  const out: number[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < n; i++) for (const d of depIdx[i]!) { indeg[i]!++; out[d]!.push(i); }
  const order: number[] = [];
  for (let i = 0; i < n; i++) if (indeg[i] === 0) order.push(i);
  for (let h = 0; h < order.length; h++) for (const j of out[order[h]!]!) if (--indeg[j]! === 0) order.push(j);
  return order;
}

/**
 * Maps a DAG onto BullMQ flow trees. BullMQ flows are trees: a job has one parent, and a shared
 * child under two parents is refused (bullmq #1021). So each item's first dependent takes the
 * item's job as a direct child (a tree edge, free), and every other dependent gets a gate child
 * that is released when the item ends. Trees are bounded in size and height so that no single
 * MULTI is giant and BullMQ's recursive add cannot overflow the stack; an edge cut to keep a tree
 * within bounds becomes a gate too.
 */
export function buildFlows(plan: Plan, runId: string, opts: FlowBuildOptions): FlowPlan {
  const maxJobs = opts.maxTreeJobs ?? 1000;
  const maxHeight = opts.maxTreeHeight ?? 600;
  const chunkJobs = opts.chunkJobs ?? 1000;
  const items = plan.items;
  const n = items.length;
  const index = new Map(items.map((it, i) => [it.id, i] as const));
  const depIdx = items.map((it) => it.depends_on.map((d) => index.get(d)!));
  const treeParent = new Array<number>(n).fill(-1);
  for (let j = 0; j < n; j++) for (const d of depIdx[j]!) if (treeParent[d] === -1) treeParent[d] = j;

  const order = topoOrder(depIdx, n);
  const size = new Array<number>(n).fill(1);
  const height = new Array<number>(n).fill(1);
  for (const p of order) {
    const kids = depIdx[p]!.filter((d) => treeParent[d] === p);
    let gates = depIdx[p]!.length - kids.length;
    const fits = (): boolean => {
      let s = 1 + gates;
      let h = 1;
      for (const c of kids) { s += size[c]!; h = Math.max(h, height[c]! + 1); }
      size[p] = s;
      height[p] = h;
      return s <= maxJobs && h <= maxHeight;
    };
    if (!fits()) {
      kids.sort((a, b) => size[b]! - size[a]! || height[b]! - height[a]!);
      while (kids.length > 0 && !fits()) {
        const cut = kids.shift()!;
        treeParent[cut] = -1;
        gates++;
      }
      fits();
    }
  }

  const taskRefOf = (it: Plan['items'][number]): string | undefined => {
    if (it.executor !== 'dispatch' || !opts.taskRefs) return undefined;
    const n = it.inputs['task'] ?? it.inputs['subagent'];
    return typeof n === 'string' ? opts.taskRefs.get(n) : undefined;
  };
  const data: ItemJobData[] = items.map((it) => ({
    runId,
    itemId: it.id,
    executor: it.executor,
    inputs: it.inputs,
    locks: [...it.resourceLocks].sort(),
    deps: it.depends_on,
    gates: [],
    ...(it.target !== undefined ? { target: it.target } : plan.target !== undefined ? { target: plan.target } : {}),
    ...(taskRefOf(it) !== undefined ? { taskRef: taskRefOf(it)! } : {}),
  }));
  const jobs = new Array<FlowJob | undefined>(n);
  const gatesOf: Array<Array<{ id: string; dep: string }>> = Array.from({ length: n }, () => []);
  let gateCount = 0;
  let treeEdges = 0;
  for (const p of order) {
    const children: FlowJob[] = [];
    for (const d of depIdx[p]!) {
      if (treeParent[d] === p) {
        children.push(jobs[d]!);
        treeEdges++;
      } else {
        const id = gateJobId(runId, d, p);
        data[d]!.gates.push(id);
        gatesOf[p]!.push({ id, dep: items[d]!.id });
        gateCount++;
        const gate: GateJobData = { runId, dep: items[d]!.id, dependent: items[p]!.id };
        children.push({
          name: `gate ${items[d]!.id} -> ${items[p]!.id}`,
          queueName: GATES_QUEUE,
          data: gate,
          opts: { jobId: id, delay: GATE_PARK_MS, removeOnComplete: true, removeOnFail: 1000, ignoreDependencyOnFailure: true },
        });
      }
    }
    jobs[p] = {
      name: items[p]!.id,
      queueName: plan.queue,
      data: data[p],
      opts: { ...opts.itemJobOptions, jobId: itemJobId(runId, p), ignoreDependencyOnFailure: true },
      ...(children.length > 0 ? { children } : {}),
    };
  }

  // Group whole trees into chunks; gates travel with the tree of their dependent.
  const rootOf = new Array<number>(n).fill(-1);
  for (let k = order.length - 1; k >= 0; k--) {
    const i = order[k]!;
    rootOf[i] = treeParent[i] === -1 ? i : rootOf[treeParent[i]!]!;
  }
  const treeGates = new Map<number, Array<{ id: string; dep: string }>>();
  for (let p = 0; p < n; p++) {
    if (gatesOf[p]!.length === 0) continue;
    const r = rootOf[p]!;
    let list = treeGates.get(r);
    if (!list) treeGates.set(r, (list = []));
    list.push(...gatesOf[p]!);
  }
  const chunks: FlowChunk[] = [];
  let cur: { flows: FlowJob[]; jobs: number; gates: Array<{ id: string; dep: string }> } = { flows: [], jobs: 0, gates: [] };
  for (const r of order) {
    if (treeParent[r] !== -1) continue;
    if (cur.jobs > 0 && cur.jobs + size[r]! > chunkJobs) {
      chunks.push(cur);
      cur = { flows: [], jobs: 0, gates: [] };
    }
    cur.flows.push(jobs[r]!);
    cur.jobs += size[r]!;
    const g = treeGates.get(r);
    if (g) cur.gates.push(...g);
  }
  if (cur.jobs > 0) chunks.push(cur);
  return { chunks, gateCount, treeEdges };
}
