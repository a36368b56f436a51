import { coerceError, planSchema, type Plan } from '@agora/core';
import type { SubmissionData } from '@agora/state';
import type { IntakeContext } from './intake.js';
import { readStoredPlan } from './rerun.js';

/** What a dead letter does not record of a replayed item and its plan, taken from the original's stored plan. */
const ITEM_POLICY_FIELDS = ['retry', 'priority', 'memoize'] as const;
const PLAN_POLICY_FIELDS = ['maxParallel', 'resultSink'] as const;

/**
 * A replay's plan is built from dead letters, which hold each item as its job ran it (executor,
 * inputs, dependencies, locks, target, time limit) but not what only the plan said: the item's own
 * `retry`, `priority` and `memoize`, and the plan's `maxParallel` and `resultSink`. This puts them
 * back from the original run's stored plan (`planRef`), each only where the submission does not
 * give it, so a replayed item retries, ranks, memoizes and delivers as it did. A stand-in runs
 * nothing and takes none. An original without a readable stored plan (accepted before plans were
 * stored, or its artifact gone) leaves the submission as it is, with a warning: the letters alone
 * still replay, under the task's and the config's policies.
 */
export async function replaySubmission(ctx: Pick<IntakeContext, 'store' | 'providers' | 'config' | 'logger'>, sub: SubmissionData): Promise<SubmissionData> {
  const replay = sub.replay;
  const submitted = sub.plan;
  if (!replay || typeof submitted !== 'object' || submitted === null || Array.isArray(submitted)) return sub;
  const items = (submitted as { items?: unknown }).items;
  if (!Array.isArray(items)) return sub;
  const rec = await ctx.store.planRecord(replay.runId);
  if (rec?.planRef === undefined) {
    if (rec) ctx.logger.warn({ runId: sub.runId, replayOf: replay.runId }, 'replay: the original run has no stored plan; its items\' own retry, priority and memoize are not kept');
    return sub;
  }
  let original: Plan;
  try {
    const parsed = planSchema.safeParse(await readStoredPlan(ctx, rec.planRef));
    if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? 'not a plan');
    original = parsed.data;
  } catch (err) {
    ctx.logger.warn({ runId: sub.runId, replayOf: replay.runId, err: coerceError(err).message }, 'replay: the original run\'s plan cannot be read; its items\' own retry, priority and memoize are not kept');
    return sub;
  }
  const replayed = new Set(replay.items);
  const byId = new Map(original.items.map((i) => [i.id, i] as const));
  const plan: Record<string, unknown> = { ...(submitted as Record<string, unknown>) };
  for (const f of PLAN_POLICY_FIELDS) if (plan[f] === undefined && original[f] !== undefined) plan[f] = original[f];
  plan.items = items.map((raw: unknown) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
    const it = raw as Record<string, unknown>;
    const was = typeof it.id === 'string' && replayed.has(it.id) ? byId.get(it.id) : undefined;
    if (!was) return raw;
    const out: Record<string, unknown> = { ...it };
    for (const f of ITEM_POLICY_FIELDS) if (out[f] === undefined && was[f] !== undefined) out[f] = was[f];
    return out;
  });
  return { ...sub, plan };
}

/**
 * A replay of dead letters is a plan of the dead items plus one stand-in per dependency that is
 * not run again: a `noop` item with nothing in it, ended `done` at acceptance with the result the
 * dependency had in the original run (`replay.given`). This checks the submission against the
 * original run's record: the replayed items are its items, and each stand-in's result is exactly
 * the one its item ended `done` with there. An admin's replay cannot give an item a result the
 * original run did not produce. Each problem rejects the plan, as any plan problem does.
 */
export async function replayProblems(ctx: Pick<IntakeContext, 'store'>, sub: SubmissionData, plan: Plan): Promise<string[]> {
  const replay = sub.replay;
  if (!replay) return [];
  const problems: string[] = [];
  const original = await ctx.store.getRun(replay.runId);
  if (!original) return [`replay: no run "${replay.runId}" to replay`];
  const inOriginal = new Map(original.items.map((i) => [i.id, i] as const));
  const planItems = new Map(plan.items.map((i) => [i.id, i] as const));
  const replayed = new Set(replay.items);
  for (const id of replay.items) {
    if (!planItems.has(id)) problems.push(`replay.items: "${id}" is not an item of the plan`);
    if (!inOriginal.has(id)) problems.push(`replay.items: "${id}" is not an item of run ${replay.runId}`);
  }
  for (const [id, ref] of Object.entries(replay.given)) {
    const it = planItems.get(id);
    const was = inOriginal.get(id);
    if (replayed.has(id)) problems.push(`replay.given: "${id}" is replayed, it cannot also stand in`);
    if (!it) problems.push(`replay.given: "${id}" is not an item of the plan`);
    else if (it.executor !== 'noop' || Object.keys(it.inputs).length > 0 || it.depends_on.length > 0 || it.resourceLocks.length > 0 || it.target !== undefined) {
      problems.push(`replay.given: stand-in "${id}" must be a noop item with no inputs, dependencies, locks or target`);
    }
    if (was?.state !== 'done' || was.resultRef !== ref) problems.push(`replay.given: "${id}" did not end done with that result in run ${replay.runId}`);
  }
  for (const id of planItems.keys()) {
    if (!replayed.has(id) && !Object.hasOwn(replay.given, id)) problems.push(`replay: plan item "${id}" is neither replayed nor a stand-in`);
  }
  return problems;
}

/**
 * After the items are registered and before any job is added: ends each stand-in `done` with its
 * original result (a `done` event with `reusedFrom`), so its dependents begin with that result and
 * its own job, when a runner takes it, finds it ended. Then records the link on both runs.
 * Idempotent: a resumed acceptance finds the stand-ins ended and the links written.
 */
export async function endStandIns(ctx: Pick<IntakeContext, 'store' | 'fence'>, sub: SubmissionData): Promise<void> {
  const replay = sub.replay;
  if (!replay) return;
  for (const [itemId, resultRef] of Object.entries(replay.given)) {
    await ctx.fence();
    await ctx.store.finishItem(sub.runId, itemId, 'done', { resultRef, fields: { reusedFrom: { runId: replay.runId, itemId } } });
    // Status marks it as it marks a rerun's reused item (reusedFrom, shortcuts.reused).
    await ctx.store.noteShortcut(sub.runId, itemId, 'reused', { runId: replay.runId, itemId });
  }
  await ctx.fence();
  await ctx.store.noteReplay(sub.runId, { runId: replay.runId, items: replay.items });
}
