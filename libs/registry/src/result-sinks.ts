import { DEFAULT_RESULT_SINK, resultSinkNames, type AgoraConfig, type Plan, type StorageProvider } from '@agora/core';
import { loadTask, taskOf } from './tasks.js';

/**
 * Each item's result sink, resolved once at acceptance: its task's `resultSink` (the registered
 * definition it was pinned to, else the config's), else the plan's, else `stdout`. Only items
 * whose sink is configured in `resultSinks` are in the map: the implicit `stdout` is today's
 * behaviour and costs the runner nothing. A name the config does not know is a problem (the run
 * is rejected); config tasks are checked when the config loads.
 */
export async function resolveResultSinks(
  plan: Plan,
  config: AgoraConfig,
  taskRefs: ReadonlyMap<string, string>,
  storage: () => Promise<StorageProvider>,
): Promise<{ sinks: Map<string, string>; problems: string[] }> {
  const known = resultSinkNames(config);
  const byTask = new Map<string, string | undefined>();
  const problems: string[] = [];
  const sinks = new Map<string, string>();
  for (const [i, it] of plan.items.entries()) {
    const task = taskOf(it);
    if (task !== '' && !byTask.has(task)) {
      const ref = taskRefs.get(task);
      const def = ref !== undefined ? await loadTask(await storage(), ref) : Object.hasOwn(config.tasks, task) ? config.tasks[task] : undefined;
      byTask.set(task, def?.resultSink);
      if (def?.resultSink !== undefined && !known.includes(def.resultSink)) {
        // Named with the first item that uses the task, as every plan problem names its item.
        problems.push(`items[${i}] (${JSON.stringify(it.id)}): task ${JSON.stringify(task)}: unknown result sink ${JSON.stringify(def.resultSink)} (configured: ${known.join(', ')})`);
      }
    }
    const name = (task !== '' ? byTask.get(task) : undefined) ?? plan.resultSink ?? DEFAULT_RESULT_SINK;
    if (Object.hasOwn(config.resultSinks, name)) sinks.set(it.id, name);
  }
  return { sinks, problems };
}
