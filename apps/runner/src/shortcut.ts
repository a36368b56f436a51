import { NotFoundError, StorageError, coerceError, parseAgoraUri, type EventBody } from '@agora/core';
import { memoKey, resultHashOf, type ItemJobData } from '@agora/state';
import type { RunnerContext } from './item-lifecycle.js';

/** An item that need not execute: where its result comes from. */
export interface Shortcut {
  readonly kind: 'reused' | 'cached';
  readonly resultRef: string;
  readonly from: { readonly runId: string; readonly itemId: string };
  /** The memo key it matched (`cached`). */
  readonly key?: string;
}

/** What the check found: a shortcut, or none (and the memo key to record the result under, for a memoized item). */
export type ShortcutCheck = { readonly hit: Shortcut } | { readonly hit?: undefined; readonly memoKey?: string };

type Ctx = Pick<RunnerContext, 'store' | 'storage' | 'config' | 'logger' | 'memo'>;

/**
 * Before a rerun's or a memoized item executes, with its dependencies' results known: can it take
 * a result computed before? A rerun's item takes its original's when that ended `done` and each
 * dependency's result now hashes as it did there; a memoized item takes the memo cache's entry
 * for its key. Either way the artifact must still be in storage (read back, hash-checked): a
 * memo entry whose artifact is gone is dropped, and the item executes. Only items whose job data
 * carries `reuseFrom` or `memo` come here, so other items make no extra Redis call.
 */
export async function findShortcut(ctx: Ctx, d: ItemJobData, deps: Readonly<Record<string, string>>): Promise<ShortcutCheck> {
  if (d.reuseFrom !== undefined) {
    const hit = await reusable(ctx, d, d.reuseFrom, deps);
    if (hit) return { hit };
  }
  if (d.memo === undefined || !ctx.memo) return {};
  const key = memoKey(d.memo, deps);
  const entry = await ctx.memo.get(key);
  if (!entry || !ownResult(ctx, entry.resultRef)) return { memoKey: key };
  const present = await artifactPresent(ctx, entry.resultRef);
  if (present === 'gone') {
    await ctx.memo.invalidate(key, entry.resultRef);
    ctx.logger.info({ runId: d.runId, itemId: d.itemId, key, resultRef: entry.resultRef }, 'memo entry dropped: its artifact is gone');
  }
  if (present !== 'present') return { memoKey: key };
  return { hit: { kind: 'cached', resultRef: entry.resultRef, from: { runId: entry.runId, itemId: entry.itemId }, key } };
}

/** The original's result of a rerun's item, when nothing it depends on changed and its artifact is there. */
async function reusable(ctx: Ctx, d: ItemJobData, from: string, deps: Readonly<Record<string, string>>): Promise<Shortcut | null> {
  const [own, ...was] = await ctx.store.statesAndResults(from, [d.itemId, ...d.deps]);
  if (own?.state !== 'done' || !own.resultRef || !ownResult(ctx, own.resultRef)) return null;
  for (let i = 0; i < d.deps.length; i++) {
    const now = deps[d.deps[i]!];
    const then = was[i]?.resultRef;
    if (now === undefined || !then || resultHashOf(now) !== resultHashOf(then)) return null;
  }
  if ((await artifactPresent(ctx, own.resultRef)) !== 'present') return null;
  return { kind: 'reused', resultRef: own.resultRef, from: { runId: from, itemId: d.itemId } };
}

/** A result of this namespace pinned by hash: the only refs an item may take (records are Redis input). */
function ownResult(ctx: Pick<Ctx, 'config'>, ref: string): boolean {
  try {
    const u = parseAgoraUri(ref);
    return u.namespace === ctx.config.namespace && u.type === 'result' && u.contentHash !== undefined;
  } catch {
    return false;
  }
}

/**
 * Whether the artifact can be read and hashes to its ref. `gone`: not found or corrupt (never
 * taken, and its memo entry is dropped); `unknown`: storage failed otherwise (the item executes,
 * the entry stays).
 */
async function artifactPresent(ctx: Pick<Ctx, 'storage' | 'logger'>, ref: string): Promise<'present' | 'gone' | 'unknown'> {
  try {
    await ctx.storage.get(ref);
    return 'present';
  } catch (err) {
    if (err instanceof NotFoundError || (err instanceof StorageError && !err.retryable)) return 'gone';
    ctx.logger.warn({ resultRef: ref, err: coerceError(err).message }, 'could not check an artifact: the item executes');
    return 'unknown';
  }
}

/** The end of an item that did not execute: `done` with its marker, then its `reused` / `cached` event. */
export function shortcutEnd(itemId: string, hit: Shortcut): { resultRef: string; fields: Record<string, unknown>; after: EventBody[] } {
  const from = { runId: hit.from.runId, itemId: hit.from.itemId };
  return hit.kind === 'reused'
    ? { resultRef: hit.resultRef, fields: { reusedFrom: from }, after: [{ type: 'reused', itemId, from, resultRef: hit.resultRef }] }
    : { resultRef: hit.resultRef, fields: { cachedFrom: from }, after: [{ type: 'cached', itemId, key: hit.key!, from, resultRef: hit.resultRef }] };
}

/** Records an executed memoized item's result under its key; a failure only costs a later execution. */
export async function rememberResult(ctx: Pick<Ctx, 'memo' | 'logger'>, key: string, d: Pick<ItemJobData, 'runId' | 'itemId'>, resultRef: string): Promise<void> {
  try {
    await ctx.memo?.put(key, { runId: d.runId, itemId: d.itemId, resultRef });
  } catch (err) {
    ctx.logger.warn({ runId: d.runId, itemId: d.itemId, err: coerceError(err).message }, 'could not write the memo entry');
  }
}
