import { z } from 'zod';
import { MEMO_KEY_RE, ValueError, isItemId, isRunId, keys as buildKeys, parseMemoPurgeSelector, type MemoKeys, type MemoPurgeSelector } from '@agora/core';
import type { RedisClient } from './redis.js';
import { callScript, defineScripts } from './scripts.js';

/** Entries read or purged per Redis call. */
const BATCH = 500;

/**
 * One memo-cache entry: the `done` item whose result a later item with the same key takes. The
 * hash is input from outside (anyone who reaches Redis), so entries are parsed before use; the
 * artifact is re-read (and hash-checked by storage) before any item takes it.
 */
export const memoEntrySchema = z
  .object({
    runId: z.string().refine(isRunId, 'invalid run id'),
    itemId: z.string().refine(isItemId, 'invalid item id'),
    resultRef: z.string().min(1).max(2048),
    at: z.iso.datetime({ offset: true }),
  })
  .strict();

export type MemoEntry = z.infer<typeof memoEntrySchema>;

/**
 * The memo cache of a namespace: memo key -> the earlier `done` item with that key. Bounded
 * (`memo.maxEntries`; the oldest go first). Only memoized items read or write it, so items
 * without `memoize` make no call here.
 */
export class MemoStore {
  readonly keys: MemoKeys;

  constructor(
    readonly redis: RedisClient,
    namespace: string,
    private readonly maxEntries = 100_000,
  ) {
    this.keys = buildKeys(namespace).memo;
    defineScripts(redis);
  }

  /** The entry under `key`, or null (also for an entry that does not parse: it is simply missed). */
  async get(key: string): Promise<MemoEntry | null> {
    if (!MEMO_KEY_RE.test(key)) throw new ValueError(`invalid memo key "${key}": expected 64 lowercase hex digits`);
    const text = await this.redis.hget(this.keys.entries, key);
    if (text === null) return null;
    return parseEntry(text);
  }

  /** Writes the entry (replacing one under the same key); returns how many old entries the bound dropped. */
  async put(key: string, entry: Omit<MemoEntry, 'at'>): Promise<number> {
    if (!MEMO_KEY_RE.test(key)) throw new ValueError(`invalid memo key "${key}": expected 64 lowercase hex digits`);
    const full = memoEntrySchema.parse({ ...entry, at: new Date().toISOString() });
    return Number(await callScript(this.redis, 'putMemo', [this.keys.entries, this.keys.index], [key, JSON.stringify(full), Date.now(), this.maxEntries]));
  }

  /** Drops the entry when it still names `resultRef` (whose artifact is gone). True when dropped. */
  async invalidate(key: string, resultRef: string): Promise<boolean> {
    return Number(await callScript(this.redis, 'dropMemo', [this.keys.entries, this.keys.index], [key, resultRef])) === 1;
  }

  /** Entries, newest first, at most `limit` (default 1000). */
  async list(opts: { limit?: number } = {}): Promise<Array<MemoEntry & { key: string }>> {
    const limit = Math.max(1, Math.min(opts.limit ?? 1000, 1_000_000));
    const out: Array<MemoEntry & { key: string }> = [];
    for (let start = 0; out.length < limit; start += BATCH) {
      const ids = await this.redis.zrevrange(this.keys.index, start, start + BATCH - 1);
      if (ids.length === 0) break;
      const texts = await this.redis.hmget(this.keys.entries, ...ids);
      ids.forEach((key, i) => {
        const e = texts[i] ? parseEntry(texts[i]) : null;
        if (e && out.length < limit) out.push({ key, ...e });
      });
      if (ids.length < BATCH) break;
    }
    return out;
  }

  /** Deletes the given entries, or every one (`{ all: true }`). Returns how many were deleted. */
  async purge(selector: MemoPurgeSelector): Promise<number> {
    const sel = parseMemoPurgeSelector(selector);
    // Each step one MULTI: runners record entries meanwhile (putMemo), and an entry written
    // between the count and the delete was deleted uncounted, one written between the HDEL and
    // the ZREM was left in the hash without its index entry (never listed, never evicted).
    if ('all' in sel) {
      return firstReply(await this.redis.multi().hlen(this.keys.entries).del(this.keys.entries, this.keys.index).exec());
    }
    let n = 0;
    for (let i = 0; i < sel.keys.length; i += BATCH) {
      const chunk = sel.keys.slice(i, i + BATCH);
      n += firstReply(await this.redis.multi().hdel(this.keys.entries, ...chunk).zrem(this.keys.index, ...chunk).exec());
    }
    return n;
  }
}

/** The first command's reply of a MULTI (a count); the first error of any command is thrown. */
function firstReply(res: Array<[Error | null, unknown]> | null): number {
  for (const [err] of res ?? []) if (err) throw err;
  return Number(res?.[0]?.[1] ?? 0);
}

function parseEntry(text: string): MemoEntry | null {
  try {
    const r = memoEntrySchema.safeParse(JSON.parse(text));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}
