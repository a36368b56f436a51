import type { FlowJob, JobsOptions } from 'bullmq';
import { itemJobId, type Plan, type RetryPolicy } from '@agora/core';
import { gateJobOptions, gateQueueName, itemDefinitionHash, itemRetryJobOptions, type GateJobData, type ItemJobData } from '@agora/state';

export interface FlowBuildOptions {
  readonly itemJobOptions: JobsOptions;
  /** Largest flow tree added in one MULTI; bigger trees are split at an edge, which becomes a wake edge. @default 1000 */
  readonly maxTreeJobs?: number;
  /** Deepest flow tree (BullMQ adds a tree recursively). @default 600 */
  readonly maxTreeHeight?: number;
  /** Jobs per `addBulk` call. @default 1000 */
  readonly chunkJobs?: number;
  /** Pinned task URIs by task name, for dispatch items. */
  readonly taskRefs?: ReadonlyMap<string, string>;
  /** `itemInputsHash` per item id, when the caller has them already. */
  readonly inputsHashes?: ReadonlyMap<string, string>;
  /** The resolved retry policy per item id: into its job data (hashed) and its job's attempts and back-off. */
  readonly retryPolicies?: ReadonlyMap<string, RetryPolicy>;
  /** The run's trace context (W3C traceparent), put in every item job's data (not hashed: see itemJobDataSchema). */
  readonly traceparent?: string;
  /** The result sink per item id, for items whose sink is configured (the implicit `stdout` is absent). */
  readonly resultSinks?: ReadonlyMap<string, string>;
  /** Memo base per memoized item (see `memoBases`): into its job data (hashed). */
  readonly memoBases?: ReadonlyMap<string, string>;
  /** Per item of a rerun that may reuse its result: the original run (into its job data, hashed). */
  readonly reuseFrom?: ReadonlyMap<string, string>;
}

export interface FlowChunk {
  readonly flows: FlowJob[];
  /** Item jobs in the chunk (their gates not counted). */
  readonly jobs: number;
  /**
   * Item jobs of this chunk added parked (no flow-tree child holds them back, but they have
   * dependencies), with the id of the gate that holds each: woken at once after the add if their
   * dependencies already ended.
   */
  readonly parked: Array<{ readonly itemId: string; readonly jobId: string }>;
}

export interface FlowPlan {
  readonly chunks: FlowChunk[];
  /** Dependency edges outside the flow trees: the dependent is woken when its last one ends. */
  readonly wakeEdges: number;
  readonly treeEdges: number;
  /** Gate job id per item whose job is added parked (it has dependencies but no flow-tree child): what wakes it. */
  readonly wakeJobs: ReadonlyMap<string, string>;
  /** `itemDefinitionHash` of each item's job data, registered with the run for the runner to check. */
  readonly definitionHashes: ReadonlyMap<string, string>;
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
 * item's job as a direct child (a tree edge: BullMQ holds the dependent back until it is done),
 * and every other dependency edge is a wake edge: the dependent's job is woken (promoted) by the
 * runner that ends its last dependency, and a job that starts early anyway (its tree children
 * ended first) finds dependencies left in `beginItem` and parks. An item with dependencies but no
 * tree child is added parked: with a gate child job (libs/state `gateQueueName`) that holds it in
 * `waiting-children` until it is woken. Trees are bounded in size and height so that no single MULTI is
 * giant and BullMQ's recursive add cannot overflow the stack; an edge cut to keep a tree within
 * bounds becomes a wake edge too.
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
    const fits = (): boolean => {
      // A parked item (dependencies, but no tree child) carries its gate job as a child: a level
      // more for BullMQ's recursive add. Sizes count item jobs only (what admission counts).
      let s = 1;
      let h = kids.length === 0 && depIdx[p]!.length > 0 ? 2 : 1;
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
    ...(it.target !== undefined ? { target: it.target } : plan.target !== undefined ? { target: plan.target } : {}),
    ...(taskRefOf(it) !== undefined ? { taskRef: taskRefOf(it)! } : {}),
    ...(opts.retryPolicies?.has(it.id) ? { retry: opts.retryPolicies.get(it.id)! } : {}),
    ...(it.timeoutMs !== undefined ? { timeoutMs: it.timeoutMs } : {}),
    ...(opts.traceparent !== undefined ? { traceparent: opts.traceparent } : {}),
    ...(opts.resultSinks?.has(it.id) ? { resultSink: opts.resultSinks.get(it.id)! } : {}),
    ...(opts.memoBases?.has(it.id) ? { memo: opts.memoBases.get(it.id)! } : {}),
    ...(opts.reuseFrom?.has(it.id) ? { reuseFrom: opts.reuseFrom.get(it.id)! } : {}),
  }));
  const jobs = new Array<FlowJob | undefined>(n);
  const wakeJobs = new Map<string, string>();
  const parked = new Array<boolean>(n).fill(false);
  let wakeEdges = 0;
  let treeEdges = 0;
  for (const p of order) {
    const children: FlowJob[] = [];
    for (const d of depIdx[p]!) {
      if (treeParent[d] === p) {
        children.push(jobs[d]!);
        treeEdges++;
      } else {
        wakeEdges++;
      }
    }
    parked[p] = children.length === 0 && depIdx[p]!.length > 0;
    if (parked[p]) {
      const gate: GateJobData = { runId, itemId: items[p]!.id };
      const opts = gateJobOptions(itemJobId(runId, p));
      children.push({ name: 'gate', queueName: gateQueueName(plan.queue), data: gate, opts });
      wakeJobs.set(items[p]!.id, opts.jobId);
    }
    jobs[p] = {
      name: items[p]!.id,
      queueName: plan.queue,
      data: data[p],
      opts: {
        ...opts.itemJobOptions,
        ...(data[p]!.retry ? itemRetryJobOptions(data[p]!.retry) : {}),
        jobId: itemJobId(runId, p),
        ignoreDependencyOnFailure: true,
        // BullMQ's order (1 first); kept by its promote, retry and move-back paths, so a parked item keeps its rank.
        ...(items[p]!.priority !== undefined ? { priority: items[p]!.priority } : {}),
      },
      ...(children.length > 0 ? { children } : {}),
    };
  }

  // Group whole trees into chunks.
  const rootOf = new Array<number>(n).fill(-1);
  for (let k = order.length - 1; k >= 0; k--) {
    const i = order[k]!;
    rootOf[i] = treeParent[i] === -1 ? i : rootOf[treeParent[i]!]!;
  }
  const treeParked = new Map<number, Array<{ itemId: string; jobId: string }>>();
  for (let p = 0; p < n; p++) {
    if (!parked[p]) continue;
    const r = rootOf[p]!;
    let list = treeParked.get(r);
    if (!list) treeParked.set(r, (list = []));
    list.push({ itemId: items[p]!.id, jobId: wakeJobs.get(items[p]!.id)! });
  }
  const chunks: FlowChunk[] = [];
  let cur: { flows: FlowJob[]; jobs: number; parked: Array<{ itemId: string; jobId: string }> } = { flows: [], jobs: 0, parked: [] };
  for (const r of order) {
    if (treeParent[r] !== -1) continue;
    if (cur.jobs > 0 && cur.jobs + size[r]! > chunkJobs) {
      chunks.push(cur);
      cur = { flows: [], jobs: 0, parked: [] };
    }
    cur.flows.push(jobs[r]!);
    cur.jobs += size[r]!;
    const g = treeParked.get(r);
    if (g) cur.parked.push(...g);
  }
  if (cur.jobs > 0) chunks.push(cur);
  const definitionHashes = new Map(data.map((d) => [d.itemId, itemDefinitionHash(d, opts.inputsHashes?.get(d.itemId))] as const));
  return { chunks, wakeEdges, treeEdges, wakeJobs, definitionHashes };
}
