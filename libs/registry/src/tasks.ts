import { ValueError, parseAgoraUri, sha256Hex, taskSchema, type StorageProvider, type TaskDefinition } from '@agora/core';

const TASK_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Stable bytes for a definition: keys sorted, so the same definition always hashes the same. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export function taskUri(namespace: string, name: string): string {
  if (!TASK_NAME_RE.test(name)) throw new ValueError(`invalid task name "${name}": use 1-128 of [A-Za-z0-9._-]`);
  return `agora://${namespace}/task/${name}`;
}

export interface RegisterTaskOptions {
  /**
   * The config file's tasks. A name defined there is refused: a registered task of that name
   * would shadow the config's definition for every run (the scheduler refuses plans naming such
   * a task, and the runner refuses to pick one of the two).
   */
  readonly configTasks?: Readonly<Record<string, unknown>>;
}

/**
 * Registers a task definition in storage, content-addressed. Returns its pinned URI
 * (`agora://<ns>/task/<name>/<sha256>`): a run that resolved this hash re-runs exactly it.
 */
export async function registerTask(
  storage: StorageProvider,
  namespace: string,
  name: string,
  raw: unknown,
  opts: RegisterTaskOptions = {},
): Promise<{ uri: string; contentHash: string }> {
  if (opts.configTasks && Object.hasOwn(opts.configTasks, name)) {
    throw new ValueError(
      `task "${name}" is defined in the config file; a registered task of the same name would shadow it. Register it under another name, or remove it from the config`,
    );
  }
  const parsed = taskSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ValueError(`task "${name}" is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  return storage.put(taskUri(namespace, name), Buffer.from(stableJson(parsed.data)));
}

/**
 * The sha256 of a task definition as registration stores it (its stable JSON): a configured task
 * and the same definition registered hash alike. What memo keys and reruns compare tasks by.
 */
export function taskDefinitionHash(def: TaskDefinition): string {
  return sha256Hex(Buffer.from(stableJson(def)));
}

/** The pinned URI of the latest registration of a task, or null when it was never registered. */
export async function resolveTaskRef(storage: StorageProvider, namespace: string, name: string): Promise<string | null> {
  if (!TASK_NAME_RE.test(name)) return null;
  return (await storage.resolveLatest(taskUri(namespace, name)))?.uri ?? null;
}

/** Reads a pinned task definition back (its bytes are verified against the hash by storage). */
export async function loadTask(storage: StorageProvider, uri: string): Promise<TaskDefinition> {
  const u = parseAgoraUri(uri);
  if (u.type !== 'task' || u.contentHash === undefined) throw new ValueError(`not a pinned task URI: ${uri}`);
  return taskSchema.parse(JSON.parse(Buffer.from(await storage.get(uri)).toString('utf8')));
}

/** The task a dispatch item names (`inputs.task`, or its alias `subagent`); '' for other items. */
export function taskOf(it: DispatchItems['items'][number]): string {
  const name = it.executor === 'dispatch' ? (it.inputs['task'] ?? it.inputs['subagent']) : undefined;
  return typeof name === 'string' ? name : '';
}

/** What a plan's `dispatch` items name: `inputs.task` (or its alias `subagent`). */
interface DispatchItems {
  readonly items: ReadonlyArray<{ readonly id: string; readonly executor: string; readonly inputs: Readonly<Record<string, unknown>> }>;
}

/**
 * Resolves the task each `dispatch` item names, as the scheduler does at acceptance: the hash
 * registered in storage now (pinned: retries and recoveries of the run use exactly it), or the
 * config's definition (not pinned). A task that is neither, or both (a registered task may not
 * silently shadow a configured one), and a dispatch item naming no task are problems, one per
 * task name, at its first item. Storage is read only when the plan has dispatch items, so
 * `agora validate` of a plan of `noop` items never needs it.
 */
export async function resolvePlanTasks(
  storage: () => Promise<StorageProvider>,
  config: { readonly namespace: string; readonly tasks: Readonly<Record<string, unknown>> },
  plan: DispatchItems,
): Promise<{ refs: Map<string, string>; problems: string[] }> {
  const names = new Map<string, number>();
  const problems: string[] = [];
  plan.items.forEach((it, i) => {
    if (it.executor !== 'dispatch') return;
    const n = it.inputs['task'] ?? it.inputs['subagent'];
    if (typeof n === 'string') {
      if (!names.has(n)) names.set(n, i);
    } else {
      problems.push(`items[${i}] (${JSON.stringify(it.id)}): dispatch needs inputs.task naming a task`);
    }
  });
  const refs = new Map<string, string>();
  if (names.size === 0) return { refs, problems };
  const store = await storage();
  for (const [n, i] of names) {
    const ref = await resolveTaskRef(store, config.namespace, n);
    const configured = Object.hasOwn(config.tasks, n);
    const where = `items[${i}] (${JSON.stringify(plan.items[i]!.id)})`;
    if (ref && configured) problems.push(`${where}: task ${JSON.stringify(n)} is both in the config and registered in storage; remove one of them`);
    else if (ref) refs.set(n, ref);
    else if (!configured) problems.push(`${where}: unknown task ${JSON.stringify(n)} (configured: ${Object.keys(config.tasks).join(', ') || 'none'}; none registered by that name)`);
  }
  return { refs, problems };
}
