/** Run-hash fields of reruns (RunStore is their one reader and writer). */
export const PLAN_REF = 'planRef';
export const TASK_HASHES = 'taskHashes';
export const RERUN_OF = 'rerunOf';
/** One field per rerun on the original (`rerunBy:<runId>`): no read-modify-write. */
export const RERUN_BY = 'rerunBy:';

/** One end of a rerun's link: the other run, whether it ran only what did not end done, and when it was accepted. */
export interface RerunLink {
  readonly runId: string;
  readonly fromFailed: boolean;
  readonly at: string;
}

/** What a rerun reads of its original (`RunStore.planRecord`). */
export interface PlanRecord {
  readonly state: string;
  /** The accepted plan, stored as a pinned artifact (absent for runs accepted before plans were stored). */
  readonly planRef?: string;
  /** sha256 of each task definition the run was accepted with, by task name. */
  readonly taskHashes: Readonly<Record<string, string>>;
}

/** Where an item's result came from when it did not execute (status items). */
export interface Shortcut {
  readonly reusedFrom?: { readonly runId: string; readonly itemId: string };
  readonly cachedFrom?: { readonly runId: string; readonly itemId: string };
}

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A `shortcuts` hash value as a status marker; an unreadable one marks nothing. */
export function parseShortcut(text: string): Shortcut {
  const v = parseObject(text);
  if (!v || typeof v['runId'] !== 'string' || typeof v['itemId'] !== 'string') return {};
  const from = { runId: v['runId'], itemId: v['itemId'] };
  return v['kind'] === 'reused' ? { reusedFrom: from } : v['kind'] === 'cached' ? { cachedFrom: from } : {};
}

/** The rerun links of a run hash (see `RunStore.noteRerun`); unreadable fields are left out. */
export function rerunLinks(meta: Record<string, string>): { rerunOf?: RerunLink; rerunBy?: RerunLink[] } {
  const link = (runId: unknown, v: Record<string, unknown> | null): RerunLink | null =>
    v && typeof runId === 'string' && typeof v['at'] === 'string' ? { runId, fromFailed: v['fromFailed'] === true, at: v['at'] } : null;
  const out: { rerunOf?: RerunLink; rerunBy?: RerunLink[] } = {};
  if (meta[RERUN_OF]) {
    const v = parseObject(meta[RERUN_OF]);
    const l = link(v?.['runId'], v);
    if (l) out.rerunOf = l;
  }
  const by: RerunLink[] = [];
  for (const [k, text] of Object.entries(meta)) {
    if (!k.startsWith(RERUN_BY)) continue;
    const l = link(k.slice(RERUN_BY.length), parseObject(text));
    if (l) by.push(l);
  }
  if (by.length > 0) out.rerunBy = by.sort((a, b) => a.at.localeCompare(b.at));
  return out;
}
