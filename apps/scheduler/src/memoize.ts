import { isDigestPinned, parseAgoraUri, type AgoraConfig, type Logger, type Plan, type StorageProvider, type TaskDefinition } from '@agora/core';
import { loadTask, taskDefinitionHash } from '@agora/registry';
import { memoBase } from '@agora/state';

/** The task a dispatch item names (`task`, or its alias `subagent`); '' for other items. */
export function taskNameOf(it: Plan['items'][number]): string {
  const name = it.executor === 'dispatch' ? (it.inputs['task'] ?? it.inputs['subagent']) : undefined;
  return typeof name === 'string' ? name : '';
}

/** A task the plan names: its definition and the hash of it (the pin's, or the configured one's). */
export interface PlanTask {
  readonly def: TaskDefinition;
  readonly hash: string;
}

/**
 * The definition and hash of every task the plan names: the registered one it was pinned to
 * (hash = the pin's content hash), else the configured one (hash of its stable JSON, as
 * registration would store it). pinTasks has checked that each is one or the other.
 */
export async function planTasks(plan: Plan, config: AgoraConfig, taskRefs: ReadonlyMap<string, string>, storage: () => Promise<StorageProvider>): Promise<Map<string, PlanTask>> {
  const out = new Map<string, PlanTask>();
  for (const it of plan.items) {
    const name = taskNameOf(it);
    if (name === '' || out.has(name)) continue;
    const ref = taskRefs.get(name);
    if (ref !== undefined) {
      out.set(name, { def: await loadTask(await storage(), ref), hash: parseAgoraUri(ref).contentHash ?? '' });
    } else if (Object.hasOwn(config.tasks, name)) {
      const def = config.tasks[name]!;
      out.set(name, { def, hash: taskDefinitionHash(def) });
    }
  }
  return out;
}

/** name -> task hash, as a run records it (`RunStore.notePlan`). */
export function taskHashes(tasks: ReadonlyMap<string, PlanTask>): Record<string, string> {
  return Object.fromEntries([...tasks].map(([n, t]) => [n, t.hash]));
}

/**
 * Which items are memoized (the most specific level that says: item, then task, then queue), and
 * the memo base of each (see `memoBase`). A task whose image is not digest-pinned is never
 * memoized: its tag can be moved to other bytes, so an equal key would not mean an equal run.
 */
export function memoBases(plan: Plan, config: AgoraConfig, tasks: ReadonlyMap<string, PlanTask>, inputsHashes: ReadonlyMap<string, string>, logger: Logger): Map<string, string> {
  const out = new Map<string, string>();
  const queueLevel = config.queues[plan.queue]?.memoize;
  const unpinned = new Set<string>();
  for (const it of plan.items) {
    const name = taskNameOf(it);
    const task = name === '' ? undefined : tasks.get(name);
    if (!(it.memoize ?? task?.def.memoize ?? queueLevel ?? false)) continue;
    const image = task?.def.image;
    if (image !== undefined && !isDigestPinned(image)) {
      unpinned.add(name);
      continue;
    }
    out.set(
      it.id,
      memoBase({ executor: it.executor, taskHash: task?.hash ?? null, imageDigest: image !== undefined ? image.slice(image.lastIndexOf('@') + 1) : null, inputsHash: inputsHashes.get(it.id)! }),
    );
  }
  if (unpinned.size > 0) logger.warn({ planId: plan.id, tasks: [...unpinned] }, 'memoize ignored: the task image is not digest-pinned');
  return out;
}
