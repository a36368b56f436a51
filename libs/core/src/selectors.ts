import { z } from 'zod';
import { ValueError } from './errors.js';
import { isRunId } from './ids.js';
import { parseDeadLetterId } from './keys.js';

/**
 * What a dead-letter or memo-cache purge deletes, as outside input (an SDK caller's object, an
 * HTTP body): parsed by one schema wherever it arrives, so `{}` or `{ all: false }` can never fall
 * through to "everything".
 */

/** Which dead letters a read or a purge is about. */
export type DeadLetterSelector = { readonly id: string } | { readonly runId: string } | { readonly all: true };

export const deadLetterSelectorSchema: z.ZodType<DeadLetterSelector> = z.union([
  z.strictObject({ id: z.string().refine((v) => parseDeadLetterId(v) !== null, 'expected <runId>.<itemId>') }),
  z.strictObject({ runId: z.string().refine(isRunId, 'invalid run id') }),
  z.strictObject({ all: z.literal(true) }),
]);

/** The selector checked, or a ValueError naming the three shapes. */
export function parseDeadLetterSelector(sel: unknown): DeadLetterSelector {
  const r = deadLetterSelectorSchema.safeParse(sel);
  if (r.success) return r.data;
  throw new ValueError(`a dead-letter selector is { id: "<runId>.<itemId>" }, { runId } or { all: true }; got ${shown(sel)}`);
}

/** A memo key: sha256, 64 lowercase hex (see `memoKey`). */
export const MEMO_KEY_RE = /^[0-9a-f]{64}$/;

/** Which memo-cache entries a purge deletes: these keys, or every one. */
export type MemoPurgeSelector = { readonly keys: readonly string[] } | { readonly all: true };

export const memoPurgeSelectorSchema: z.ZodType<MemoPurgeSelector> = z.union([
  z.strictObject({ keys: z.array(z.string().regex(MEMO_KEY_RE, 'a memo key (64 lowercase hex)')).min(1).max(10_000) }),
  z.strictObject({ all: z.literal(true) }),
]);

/** The selector checked, or a ValueError naming the two shapes (or the first bad key). */
export function parseMemoPurgeSelector(sel: unknown): MemoPurgeSelector {
  const r = memoPurgeSelectorSchema.safeParse(sel);
  if (r.success) return r.data;
  const keys: unknown = (sel as { keys?: unknown } | null)?.keys;
  const list: readonly unknown[] = Array.isArray(keys) ? keys : [];
  const bad = list.findIndex((k) => typeof k !== 'string' || !MEMO_KEY_RE.test(k));
  if (bad >= 0) throw new ValueError(`invalid memo key ${shown(list[bad])} at keys[${bad}]: expected 64 lowercase hex digits`);
  throw new ValueError(`a memo purge selector is { keys: [<memo key>, …] } (1 to 10,000 keys) or { all: true }; got ${shown(sel)}`);
}

/** A caller's value for an error message, bounded. */
function shown(v: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    text = String(v);
  }
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}
