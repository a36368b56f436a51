import { configRetryPolicy, resolveRetryPolicy, type AgoraConfig, type Plan, type RetryPolicy, type RetryPolicyInput, type StorageProvider } from '@agora/core';
import { loadTask } from '@agora/registry';

/**
 * Resolves every item's retry policy once, at acceptance: the item's fields, then its task's
 * (a dispatch item: the registered definition it was pinned to, else the config's), then the
 * config's (`runner.retry`, with the legacy `runner.attempts`/`runner.backoffMs`). The result
 * goes into the item's job data and options, so every runner applies the same policy. Items with
 * no policy of their own share one object per task.
 */
export async function resolveRetryPolicies(
  plan: Plan,
  config: AgoraConfig,
  taskRefs: ReadonlyMap<string, string>,
  storage: () => Promise<StorageProvider>,
): Promise<Map<string, RetryPolicy>> {
  const fallback = configRetryPolicy(config.runner);
  const taskPolicies = new Map<string, RetryPolicyInput | undefined>();
  const shared = new Map<string, RetryPolicy>();
  const out = new Map<string, RetryPolicy>();
  for (const it of plan.items) {
    const name = it.executor === 'dispatch' ? (it.inputs['task'] ?? it.inputs['subagent']) : undefined;
    const task = typeof name === 'string' ? name : '';
    if (task !== '' && !taskPolicies.has(task)) {
      const ref = taskRefs.get(task);
      // pinTasks has checked that the task is registered or configured, not both.
      const def = ref !== undefined ? await loadTask(await storage(), ref) : Object.hasOwn(config.tasks, task) ? config.tasks[task] : undefined;
      taskPolicies.set(task, def?.retry);
    }
    if (it.retry !== undefined) {
      out.set(it.id, resolveRetryPolicy([it.retry, taskPolicies.get(task)], fallback));
      continue;
    }
    let p = shared.get(task);
    if (p === undefined) shared.set(task, (p = resolveRetryPolicy([taskPolicies.get(task)], fallback)));
    out.set(it.id, p);
  }
  return out;
}
