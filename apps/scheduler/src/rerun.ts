import { coerceError, parseAgoraUri, type Plan } from '@agora/core';
import type { SubmissionData } from '@agora/state';
import type { IntakeContext } from './intake.js';
import { taskNameOf } from './memoize.js';

/**
 * Notes with the run what `agora rerun` reads back: the accepted plan's pinned URI (stored by
 * `recordPlan` before the run was recorded; also the accepted event's `planRef`) and the task
 * definition hashes its items ran with.
 */
export async function notePlan(ctx: Pick<IntakeContext, 'store' | 'fence'>, runId: string, planRef: string, hashes: Record<string, string>): Promise<void> {
  await ctx.fence();
  await ctx.store.notePlan(runId, { planRef, taskHashes: hashes });
}

/**
 * A rerun runs the original's accepted plan, read back from storage (hash-checked there): the
 * submission's own `plan` is ignored, so a rerun cannot change what runs. Problems (no such run,
 * not ended, no stored plan) reject the new run.
 */
export async function rerunSubmission(ctx: Pick<IntakeContext, 'store' | 'providers' | 'config'>, sub: SubmissionData): Promise<{ sub: SubmissionData } | { problems: string[] }> {
  const rerun = sub.rerun;
  if (!rerun) return { sub };
  const rec = await ctx.store.planRecord(rerun.runId);
  if (!rec) return { problems: [`rerun: no run "${rerun.runId}"`] };
  if (rec.state !== 'succeeded' && rec.state !== 'failed' && rec.state !== 'cancelled') return { problems: [`rerun: run "${rerun.runId}" is ${rec.state}; only an ended run can be rerun`] };
  if (rec.planRef === undefined) return { problems: [`rerun: run "${rerun.runId}" has no stored plan (accepted before plans were stored); submit its plan again`] };
  try {
    return { sub: { ...sub, plan: await readStoredPlan(ctx, rec.planRef) } };
  } catch (err) {
    return { problems: [`rerun: the plan of run "${rerun.runId}" cannot be read: ${coerceError(err).message}`] };
  }
}

/**
 * A run's accepted plan, read back from storage by its pinned `planRef` (the storage checks the
 * bytes against the hash the ref pins). Parsed JSON, not yet validated. Throws when the ref is not
 * a pinned plan of this namespace or the artifact cannot be read.
 */
export async function readStoredPlan(ctx: Pick<IntakeContext, 'providers' | 'config'>, planRef: string): Promise<unknown> {
  const u = parseAgoraUri(planRef);
  if (u.type !== 'plan' || u.namespace !== ctx.config.namespace || u.contentHash === undefined) throw new Error(`not a pinned plan of this namespace: ${planRef}`);
  const bytes = await (await ctx.providers.storage()).get(planRef);
  return JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
}

/**
 * The items of a rerun that may take their result from the original run: those that ended `done`
 * there with a result, whose task definition hashes as it did then (any task, `fromFailed`). Their
 * runner still checks, at the item's start, that the dependencies' results hash as they did in
 * the original and that the artifact exists; the rest execute. The plan is the original's, so
 * inputs, executor and dependencies are the same by construction.
 */
export async function reuseCandidates(ctx: Pick<IntakeContext, 'store'>, sub: SubmissionData, plan: Plan, hashes: Readonly<Record<string, string>>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const rerun = sub.rerun;
  if (!rerun) return out;
  const [original, rec] = await Promise.all([ctx.store.getRun(rerun.runId), ctx.store.planRecord(rerun.runId)]);
  if (!original || !rec) return out;
  const done = new Set(original.items.filter((i) => i.state === 'done' && i.resultRef !== undefined).map((i) => i.id));
  for (const it of plan.items) {
    if (!done.has(it.id)) continue;
    const task = taskNameOf(it);
    if (!rerun.fromFailed && task !== '' && (hashes[task] === undefined || rec.taskHashes[task] !== hashes[task])) continue;
    out.set(it.id, rerun.runId);
  }
  return out;
}
