import type { Plan } from '@agora/core';
import type { SubmissionData } from '@agora/state';
import type { IntakeContext } from './intake.js';

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
