import { z } from 'zod';
import { ValueError } from './errors.js';
import { URI_SEGMENT_MAX, isSafeName } from './ids.js';
import type { ListNamesQuery, StorageProvider } from './providers.js';

/** Names one `listNames` call returns when the caller gives no `limit`. */
export const LIST_NAMES_DEFAULT_LIMIT = 1000;
/** The largest `limit` a caller may ask for: one page stays small enough to hold and print. */
export const LIST_NAMES_MAX_LIMIT = 10_000;

const segment = (label: string) =>
  z.string().refine((s) => isSafeName(s, URI_SEGMENT_MAX), { message: `${label}: use 1-${URI_SEGMENT_MAX} of [A-Za-z0-9._-], starting with a letter or digit, with no ".."` });

/**
 * A name prefix is the start of a name: the name characters only, so it can never step out of
 * the type's directory or key prefix ('/', '..' are refused, not matched).
 */
const prefixSchema = z
  .string()
  .max(URI_SEGMENT_MAX, `prefix: at most ${URI_SEGMENT_MAX} characters`)
  .regex(/^[A-Za-z0-9._-]*$/, 'prefix: only [A-Za-z0-9._-]')
  .refine((s) => !s.includes('..'), 'prefix: must not contain ".."');

export const listNamesQuerySchema = z.strictObject({
  namespace: segment('namespace'),
  type: segment('type'),
  prefix: prefixSchema.optional(),
  startAfter: segment('startAfter').optional(),
  limit: z.number().int().min(1).max(LIST_NAMES_MAX_LIMIT, `limit: at most ${LIST_NAMES_MAX_LIMIT}`).optional(),
});

/** A `listNames` query with its defaults applied. */
export interface CheckedListNamesQuery {
  readonly namespace: string;
  readonly type: string;
  readonly prefix: string;
  readonly startAfter: string | undefined;
  readonly limit: number;
}

/** Validates a `listNames` query (a `ValueError` naming every bad field) and applies the defaults. */
export function checkListNamesQuery(q: ListNamesQuery): CheckedListNamesQuery {
  const parsed = listNamesQuerySchema.safeParse(q);
  if (!parsed.success) {
    throw new ValueError(`invalid listNames query: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  const d = parsed.data;
  return { namespace: d.namespace, type: d.type, prefix: d.prefix ?? '', startAfter: d.startAfter, limit: d.limit ?? LIST_NAMES_DEFAULT_LIMIT };
}

/** Code-unit order, the one `listNames` promises (`Array.prototype.sort`'s default). */
function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * One page of names from every name a provider found: unique, matching the prefix, after
 * `startAfter`, sorted by code unit, at most `limit`. Providers share it so they page alike.
 */
export function pageOfNames(found: Iterable<string>, q: CheckedListNamesQuery): string[] {
  const names = new Set<string>();
  for (const n of found) {
    if (!n.startsWith(q.prefix)) continue;
    if (q.startAfter !== undefined && n <= q.startAfter) continue;
    names.add(n);
  }
  return [...names].sort(byCodeUnit).slice(0, q.limit);
}

/** Every name of a type (with a prefix), page by page: for callers that need them all. */
export async function* allNames(storage: Pick<StorageProvider, 'listNames'>, q: Omit<ListNamesQuery, 'startAfter'>): AsyncGenerator<string> {
  const limit = q.limit ?? LIST_NAMES_DEFAULT_LIMIT;
  let startAfter: string | undefined;
  for (;;) {
    const page = await storage.listNames({ ...q, limit, ...(startAfter !== undefined ? { startAfter } : {}) });
    yield* page;
    if (page.length < limit) return;
    startAfter = page[page.length - 1];
  }
}
