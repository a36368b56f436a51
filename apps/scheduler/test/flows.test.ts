import { describe, expect, it } from 'vitest';
import type { FlowJob } from 'bullmq';
import { validatePlan, type Plan } from '@agora/core';
import { DEP_PARK_MS, gateQueueName } from '@agora/state';
import { buildFlows, type FlowPlan } from '../src/flows.js';

const RUN = 'r0flowsunit01';

function plan(edges: Record<string, string[]>): Plan {
  const v = validatePlan({ id: 'p', items: Object.entries(edges).map(([id, deps]) => ({ id, executor: 'noop', depends_on: deps })) });
  if (!v.ok) throw new Error(v.problems.join('; '));
  return v.plan;
}

const isGate = (j: FlowJob): boolean => j.queueName.endsWith('.gates');

/** Every item job of every tree, with the item ids of its direct children (gates apart). */
function jobsOf(f: FlowPlan): Map<string, { job: FlowJob; children: string[]; gates: FlowJob[] }> {
  const out = new Map<string, { job: FlowJob; children: string[]; gates: FlowJob[] }>();
  const walk = (j: FlowJob): void => {
    const kids = j.children ?? [];
    out.set(j.name, { job: j, children: kids.filter((c) => !isGate(c)).map((c) => c.name), gates: kids.filter(isGate) });
    for (const c of kids) if (!isGate(c)) walk(c);
  };
  for (const chunk of f.chunks) for (const j of chunk.flows) walk(j);
  return out;
}

const opts = { itemJobOptions: { attempts: 3 } };

describe('buildFlows: a DAG onto BullMQ flow trees', () => {
  it('a diamond: each item is a child of its first dependent only; the other edge is a wake edge', () => {
    const f = buildFlows(plan({ a: [], b: ['a'], c: ['a'], d: ['b', 'c'] }), RUN, opts);
    const jobs = jobsOf(f);
    expect(jobs.size).toBe(4); // every item exactly once, no shared child
    expect(jobs.get('d')!.children.sort()).toEqual(['b', 'c']);
    expect(jobs.get('b')!.children).toEqual(['a']); // a's first dependent
    expect(jobs.get('c')!.children).toEqual([]); // c -> a is a wake edge
    expect([f.treeEdges, f.wakeEdges]).toEqual([3, 1]);
    // c has a dependency but no tree child: added parked behind a gate (a delayed child job in
    // the queue's gates queue, so c shows as waiting-children), to be woken when a ends.
    const [gate, ...more] = jobs.get('c')!.gates;
    expect(more).toEqual([]);
    expect(gate).toMatchObject({ queueName: gateQueueName('default'), data: { runId: RUN, itemId: 'c' } });
    expect(gate!.opts).toMatchObject({ jobId: `${String(jobs.get('c')!.job.opts?.jobId)}-g`, delay: DEP_PARK_MS });
    expect([...f.wakeJobs.entries()]).toEqual([['c', gate!.opts?.jobId]]);
    expect(jobs.get('c')!.job.opts?.delay).toBeUndefined();
    for (const id of ['a', 'b', 'd']) expect(jobs.get(id)!.gates).toEqual([]);
    expect(f.chunks.flatMap((c) => c.parked)).toEqual([{ itemId: 'c', jobId: gate!.opts?.jobId }]);
  });

  it('job ids, data and options: deterministic per run and item, locks sorted, failures do not block parents', () => {
    const v = validatePlan({ id: 'p', items: [{ id: 'x', executor: 'noop', inputs: { n: 1 }, resourceLocks: ['z', 'a'] }] });
    if (!v.ok) throw new Error('invalid');
    const a = buildFlows(v.plan, RUN, opts);
    const b = buildFlows(v.plan, RUN, opts);
    const job = jobsOf(a).get('x')!.job;
    expect(job.opts).toMatchObject({ jobId: jobsOf(b).get('x')!.job.opts?.jobId, attempts: 3, ignoreDependencyOnFailure: true });
    expect(job.data).toEqual({ runId: RUN, itemId: 'x', executor: 'noop', inputs: { n: 1 }, locks: ['a', 'z'], deps: [] });
    expect(a.definitionHashes.get('x')).toMatch(/^[0-9a-f]{64}$/);
    expect(a.definitionHashes.get('x')).toBe(b.definitionHashes.get('x'));
  });

  it('a chain longer than the height bound is cut into trees joined by wake edges, none taller than the bound', () => {
    const edges: Record<string, string[]> = {};
    for (let i = 0; i < 25; i++) edges[`n${i}`] = i === 0 ? [] : [`n${i - 1}`];
    const f = buildFlows(plan(edges), RUN, { ...opts, maxTreeHeight: 10 });
    const height = (j: FlowJob): number => 1 + Math.max(0, ...(j.children ?? []).map(height));
    const roots = f.chunks.flatMap((c) => c.flows);
    expect(Math.max(...roots.map(height))).toBeLessThanOrEqual(10);
    expect(jobsOf(f).size).toBe(25);
    expect(f.treeEdges + f.wakeEdges).toBe(24);
    expect(f.wakeEdges).toBeGreaterThanOrEqual(2);
  });

  it('a wide fan-in is split to keep trees under the size bound, and chunks hold whole trees under the chunk size', () => {
    const edges: Record<string, string[]> = {};
    const leaves = Array.from({ length: 30 }, (_, i) => `l${i}`);
    for (const l of leaves) edges[l] = [];
    edges['join'] = leaves;
    const f = buildFlows(plan(edges), RUN, { ...opts, maxTreeJobs: 8, chunkJobs: 10 });
    const size = (j: FlowJob): number => 1 + (j.children ?? []).reduce((s, c) => s + size(c), 0);
    for (const chunk of f.chunks) {
      expect(chunk.jobs).toBe(chunk.flows.reduce((s, j) => s + size(j), 0));
      expect(chunk.jobs).toBeLessThanOrEqual(10);
      for (const j of chunk.flows) expect(size(j)).toBeLessThanOrEqual(8);
    }
    expect(jobsOf(f).get('join')!.children).toHaveLength(7);
    expect([f.treeEdges, f.wakeEdges]).toEqual([7, 23]);
  });
});
