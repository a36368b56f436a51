import { configRetryPolicy, resolveRetryPolicy, type AgoraConfig, type Plan, type RetryPolicy, type RetryPolicyInput, type StorageProvider } from '@agora/core';
import { resolveResultSinks } from './result-sinks.js';
import { loadTask, resolvePlanTasks, taskOf } from './tasks.js';

/**
 * The levels of a run's retry policies that come from the deployment: the config's policy and
 * each named task's own fields (what the scheduler pins in the run: `RunStore.pinRetryLevels`).
 */
export interface RetryLevels {
  readonly config: RetryPolicy;
  readonly tasks: Record<string, RetryPolicyInput>;
}

/**
 * The deployment's levels of the plan's retry policies: the config's (`runner.retry`, with the
 * legacy `runner.attempts`/`runner.backoffMs`) and, per task the plan names, its own fields (the
 * registered definition it was pinned to, else the config's). The scheduler pins them in the run
 * before resolving, so a resumed acceptance resolves the same policies.
 */
export async function retryLevels(
  plan: Plan,
  config: AgoraConfig,
  taskRefs: ReadonlyMap<string, string>,
  storage: () => Promise<StorageProvider>,
): Promise<RetryLevels> {
  const tasks: Record<string, RetryPolicyInput> = {};
  const seen = new Set<string>();
  for (const it of plan.items) {
    const task = taskOf(it);
    if (task === '' || seen.has(task)) continue;
    seen.add(task);
    const ref = taskRefs.get(task);
    // pinTasks has checked that the task is registered or configured, not both.
    const def = ref !== undefined ? await loadTask(await storage(), ref) : Object.hasOwn(config.tasks, task) ? config.tasks[task] : undefined;
    if (def?.retry !== undefined) tasks[task] = def.retry;
  }
  return { config: configRetryPolicy(config.runner), tasks };
}

/**
 * Resolves every item's retry policy once, at acceptance: the item's fields, then its task's,
 * then the config's (each field from the most specific level that gives it). The result goes
 * into the item's job data and options, so every runner applies the same policy. Items with no
 * policy of their own share one object per task.
 */
export function resolveRetryPolicies(plan: Plan, levels: RetryLevels): Map<string, RetryPolicy> {
  const shared = new Map<string, RetryPolicy>();
  const out = new Map<string, RetryPolicy>();
  for (const it of plan.items) {
    const task = taskOf(it);
    const taskLevel = Object.hasOwn(levels.tasks, task) ? levels.tasks[task] : undefined;
    if (it.retry !== undefined) {
      out.set(it.id, resolveRetryPolicy([it.retry, taskLevel], levels.config));
      continue;
    }
    let p = shared.get(task);
    if (p === undefined) shared.set(task, (p = resolveRetryPolicy([taskLevel], levels.config)));
    out.set(it.id, p);
  }
  return out;
}

/** At most this many items are named by `retryPolicyProblems`; the rest are counted. */
const MAX_RETRY_PROBLEMS = 20;

/**
 * The rule each level obeys on its own (`backoff.maxDelayMs` not below `backoff.delayMs`) checked
 * on every item's merged policy: a cap from one level and a delay from another may break it (an
 * item's `maxDelayMs: 50` under the config's `backoffMs: 200`). Each problem names the item, the
 * two values and the level each came from; the scheduler rejects the run on any.
 */
export function retryPolicyProblems(plan: Plan, levels: RetryLevels): string[] {
  const policies = resolveRetryPolicies(plan, levels);
  const problems: string[] = [];
  let more = 0;
  plan.items.forEach((it, i) => {
    const b = policies.get(it.id)?.backoff;
    if (b?.maxDelayMs === undefined || b.maxDelayMs >= b.delayMs) return;
    if (problems.length >= MAX_RETRY_PROBLEMS) return void more++;
    const task = taskOf(it);
    const taskLevel = Object.hasOwn(levels.tasks, task) ? levels.tasks[task] : undefined;
    const from = (pick: (l: RetryPolicyInput) => number | undefined): string =>
      it.retry !== undefined && pick(it.retry) !== undefined ? 'the item' : taskLevel !== undefined && pick(taskLevel) !== undefined ? `task "${task}"` : 'the config';
    problems.push(
      `items[${i}] (${JSON.stringify(it.id)}): retry: backoff.maxDelayMs ${b.maxDelayMs} (from ${from((l) => l.backoff?.maxDelayMs)}) is below backoff.delayMs ${b.delayMs} (from ${from((l) => l.backoff?.delayMs)}); the merged policy must keep maxDelayMs >= delayMs`,
    );
  });
  if (more > 0) problems.push(`… and ${more} more item(s) whose merged retry policy has backoff.maxDelayMs below backoff.delayMs`);
  return problems;
}

/**
 * What the deployment refuses in a valid plan, as the scheduler's acceptance checks it: each
 * dispatch item's task (configured or registered, not both; `resolvePlanTasks`), then each item's
 * merged retry policy (`retryPolicyProblems`) and its task's result sink (`resolveResultSinks`: a
 * registered definition may name one the config does not have). `agora validate`, `agora submit`
 * and `POST /api/runs` run it, so a plan they call valid is not rejected at acceptance for these.
 */
export async function planDeploymentProblems(storage: () => Promise<StorageProvider>, config: AgoraConfig, plan: Plan): Promise<string[]> {
  let opened: Promise<StorageProvider> | undefined;
  const store = (): Promise<StorageProvider> => (opened ??= storage());
  const tasks = await resolvePlanTasks(store, config, plan);
  if (tasks.problems.length > 0) return tasks.problems;
  const retry = retryPolicyProblems(plan, await retryLevels(plan, config, tasks.refs, store));
  if (retry.length > 0) return retry;
  return (await resolveResultSinks(plan, config, tasks.refs, store)).problems;
}
