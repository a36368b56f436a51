import { IllegalStateError } from '@agora/core';
import type { StoredDeadLetter } from '@agora/state';

/** A replay's plan and the link the scheduler checks (the submission's `replay`). */
export interface ReplayPlan {
  readonly plan: {
    id: string;
    queue: string;
    items: Array<{ id: string; executor: string; inputs: Record<string, unknown>; depends_on: string[]; resourceLocks: string[]; target?: string; timeoutMs?: number }>;
  };
  readonly replay: { runId: string; items: string[]; given: Record<string, string> };
}

/**
 * The plan that runs dead letters of one run again: each dead item as it was accepted (executor,
 * inputs, dependencies, locks, target, time limit; its task is pinned afresh, so a fixed task definition is
 * the one that runs), their dependencies among themselves kept, and one stand-in per dependency
 * not run again: a `noop` item that the scheduler ends `done` at acceptance with the resultRef
 * the dead letter recorded for it. Throws `IllegalStateError` for a letter that cannot be
 * replayed (its inputs were not recorded, a dependency has no recorded result).
 */
export function buildReplayPlan(letters: readonly StoredDeadLetter[]): ReplayPlan {
  const first = letters[0];
  if (!first) throw new IllegalStateError('no dead letters to replay');
  const replayed = new Set(letters.map((l) => l.itemId));
  const given: Record<string, string> = {};
  const items: ReplayPlan['plan']['items'] = [];
  for (const l of letters) {
    if (l.runId !== first.runId) throw new IllegalStateError(`dead letters of two runs (${first.runId}, ${l.runId}) cannot be replayed together`);
    if (l.inputs === undefined) throw new IllegalStateError(`dead letter "${l.id}" cannot be replayed: its inputs were not recorded (${l.inputsMissing ?? 'unknown'}); submit its plan again`);
    for (const dep of l.dependsOn) {
      if (replayed.has(dep)) continue;
      const ref = l.dependencies[dep];
      if (ref === undefined) throw new IllegalStateError(`dead letter "${l.id}" cannot be replayed: its dependency "${dep}" has no recorded result (it did not end done)`);
      given[dep] = ref;
    }
    items.push({
      id: l.itemId,
      executor: l.executor,
      inputs: l.inputs,
      depends_on: [...l.dependsOn],
      resourceLocks: [...l.resourceLocks],
      ...(l.target !== undefined ? { target: l.target } : {}),
      ...(l.timeoutMs !== undefined ? { timeoutMs: l.timeoutMs } : {}),
    });
  }
  for (const dep of Object.keys(given).sort()) items.push({ id: dep, executor: 'noop', inputs: {}, depends_on: [], resourceLocks: [] });
  return {
    plan: { id: `replay-of-${first.runId}`, queue: first.queue, items },
    replay: { runId: first.runId, items: letters.map((l) => l.itemId), given },
  };
}
