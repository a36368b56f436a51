import { z } from 'zod';
import { ITEM_ERROR_CODES, NotFoundError, deadLetterId, isItemId, isRunId, parseDeadLetterSelector, type DeadLetterSelector, keys as buildKeys, type DeadLetterKeys } from '@agora/core';
import type { RedisClient } from './redis.js';
import { callScript, defineScripts } from './scripts.js';

/** Longest error message a record keeps (the item's failed event keeps the same). */
export const DEAD_LETTER_ERROR_MAX = 4000;
/** Largest inputs (as JSON) a record keeps; a plan's item inputs are at most 64 KiB already. */
export const DEAD_LETTER_INPUTS_MAX_BYTES = 64 * 1024;
/** Letters read or purged per Redis call. */
const BATCH = 500;

const isoTime = z.iso.datetime({ offset: true });

/**
 * A dead-letter record: an item that failed for good, with what it takes to look into it and to
 * run it again. Inputs are kept (bounded) because a replay runs them again; tails are the worker's
 * last output, scrubbed of secret values by the compute provider and the dispatch executor.
 */
export const deadLetterSchema = z
  .object({
    id: z.string(),
    runId: z.string().refine(isRunId, 'invalid run id'),
    itemId: z.string().refine(isItemId, 'invalid item id'),
    /** The plan queue it ran on. */
    queue: z.string().min(1),
    executor: z.string().min(1),
    /** RFC 8785 sha256 of the inputs, as the run's events record it. */
    inputsHash: z.string().min(1),
    /**
     * The inputs that ran; absent when they are unknown (the job's data was gone or did not hash
     * to the accepted inputs) or too large. Such a letter cannot be replayed.
     */
    inputs: z.record(z.string(), z.unknown()).optional(),
    /** Why `inputs` is absent. */
    inputsMissing: z.string().optional(),
    /** The compute target named by the item or its plan. */
    target: z.string().min(1).optional(),
    /** The task definition pinned when the run was accepted (a replay pins afresh). */
    taskRef: z.string().min(1).optional(),
    /** The item's own time limit of one try (its plan's `timeoutMs`): a replay keeps it. */
    timeoutMs: z.number().int().positive().optional(),
    resourceLocks: z.array(z.string()),
    dependsOn: z.array(z.string()),
    /** resultRef of each dependency (all ended `done` for an item that ran). */
    dependencies: z.record(z.string(), z.string()),
    /** How many times the item started (0 when it never did). */
    attempts: z.number().int().nonnegative(),
    /** The error's type: the failed event's `errorCode`. */
    errorCode: z.enum(ITEM_ERROR_CODES),
    error: z.string().max(DEAD_LETTER_ERROR_MAX),
    exitCode: z.number().int().optional(),
    stdoutTail: z.string().optional(),
    stderrTail: z.string().optional(),
    failedAt: isoTime,
  })
  .strict();

export type DeadLetter = z.infer<typeof deadLetterSchema>;

/** A record as stored: who wrote it, and the replay that ran it again, if any. */
export type StoredDeadLetter = DeadLetter & {
  readonly source: 'runner' | 'scheduler';
  readonly replayedBy?: string;
  readonly replayedAt?: string;
};

/** Cuts text to its last `maxBytes` bytes of UTF-8 (never splitting a character). */
export function tailOf(text: string, maxBytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return text;
  let start = buf.length - maxBytes;
  // Skip UTF-8 continuation bytes so the tail starts on a character.
  while (start < buf.length && (buf[start]! & 0xc0) === 0x80) start++;
  return buf.subarray(start).toString('utf8');
}

/**
 * Holds a record to its bounds: the error message, each tail (`tailBytes`), the inputs (dropped
 * when over `DEAD_LETTER_INPUTS_MAX_BYTES`, saying so).
 */
export function boundDeadLetter(letter: DeadLetter, tailBytes: number): DeadLetter {
  const out: DeadLetter = { ...letter, error: letter.error.slice(0, DEAD_LETTER_ERROR_MAX) };
  if (letter.stdoutTail !== undefined) out.stdoutTail = tailOf(letter.stdoutTail, tailBytes);
  if (letter.stderrTail !== undefined) out.stderrTail = tailOf(letter.stderrTail, tailBytes);
  if (letter.inputs !== undefined && Buffer.byteLength(JSON.stringify(letter.inputs)) > DEAD_LETTER_INPUTS_MAX_BYTES) {
    delete out.inputs;
    out.inputsMissing = `inputs over ${DEAD_LETTER_INPUTS_MAX_BYTES} bytes were not kept`;
  }
  return out;
}

/**
 * The dead-letter queue in Redis: one hash per record (`<ns>:dlq:{<ns>}:letter:<runId>.<itemId>`),
 * an index by time and a set per run, all under the namespace hash tag. The id is the run and
 * item, so writing a record twice is a no-op; past `maxRecords` the oldest records are dropped.
 */
export class DeadLetterStore {
  private readonly keys: DeadLetterKeys;

  constructor(
    readonly redis: RedisClient,
    namespace: string,
  ) {
    this.keys = buildKeys(namespace).deadLetters;
    defineScripts(redis);
  }

  /**
   * Writes a record unless one exists for its run and item (a runner's replaces a scheduler's,
   * see putDeadLetter-3.lua). True when it is new: count it then.
   */
  async put(letter: DeadLetter, opts: { source: 'runner' | 'scheduler'; maxRecords: number; tailBytes: number }): Promise<boolean> {
    const bounded = deadLetterSchema.parse(boundDeadLetter({ ...letter, id: deadLetterId(letter.runId, letter.itemId) }, opts.tailBytes));
    const r = await callScript(this.redis, 'putDeadLetter', [this.keys.letter(bounded.id), this.keys.index, this.keys.run(bounded.runId)], [
      bounded.id,
      JSON.stringify(bounded),
      opts.source,
      Date.now(),
      opts.maxRecords,
      this.keys.prefix,
    ]);
    return Number(r) === 1;
  }

  /** Whether a record exists for each of the ids (in order). */
  async exist(ids: readonly string[]): Promise<boolean[]> {
    const out: boolean[] = [];
    for (let at = 0; at < ids.length; at += BATCH) {
      const batch = ids.slice(at, at + BATCH);
      const found = await Promise.all(batch.map((id) => this.redis.exists(this.keys.letter(id))));
      out.push(...found.map((n) => n === 1));
    }
    return out;
  }

  /** One record, or null. */
  async get(id: string): Promise<StoredDeadLetter | null> {
    // keys.letter refuses an id outside the grammar (assertDeadLetterId).
    const h = await this.redis.hgetall(this.keys.letter(id));
    return decode(h);
  }

  /** One record; `NotFoundError` when there is none. */
  async require(id: string): Promise<StoredDeadLetter> {
    const l = await this.get(id);
    if (!l) throw new NotFoundError(`no dead letter "${id}"`);
    return l;
  }

  /** Records newest first: all of them, or one run's (`runId`); at most `limit`. */
  async list(opts: { runId?: string; limit?: number } = {}): Promise<StoredDeadLetter[]> {
    const limit = opts.limit ?? 1000;
    const ids = opts.runId !== undefined ? await this.idsOfRun(opts.runId) : await this.redis.zrevrange(this.keys.index, 0, limit - 1);
    const letters = await this.read(ids);
    letters.sort((a, b) => b.failedAt.localeCompare(a.failedAt) || a.id.localeCompare(b.id));
    return letters.slice(0, limit);
  }

  /** The ids of one run's records. */
  async idsOfRun(runId: string): Promise<string[]> {
    return (await this.redis.smembers(this.keys.run(runId))).sort();
  }

  /** How many records there are. */
  async count(): Promise<number> {
    return this.redis.zcard(this.keys.index);
  }

  /**
   * Marks letters replayed by `runId`, all or none: refused (`{ replayed }`, the ids already
   * replayed) unless `force`; `NotFoundError` when one does not exist.
   */
  async markReplayed(ids: readonly string[], runId: string, opts: { force?: boolean } = {}): Promise<{ ok: true } | { ok: false; replayed: string[] }> {
    const r = (await callScript(this.redis, 'markDeadLetters', ids.map((id) => this.keys.letter(id)), [runId, new Date().toISOString(), opts.force ? '1' : '0'])) as number[];
    const [code, ...rest] = r.map(Number);
    if (code === 1) return { ok: true };
    if (code === -1) throw new NotFoundError(`no dead letter "${ids[(rest[0] ?? 1) - 1] ?? ''}"`);
    return { ok: false, replayed: rest.map((i) => ids[i - 1]!) };
  }

  /** Undoes `markReplayed` by `runId` (its submission failed). */
  async unmarkReplayed(ids: readonly string[], runId: string): Promise<void> {
    await callScript(this.redis, 'unmarkDeadLetters', ids.map((id) => this.keys.letter(id)), [runId]);
  }

  /** Deletes the selected records; returns how many there were. */
  async purge(selector: DeadLetterSelector): Promise<number> {
    const sel = parseDeadLetterSelector(selector);
    const ids = 'id' in sel ? [sel.id] : 'runId' in sel ? await this.idsOfRun(sel.runId) : await this.redis.zrange(this.keys.index, 0, -1);
    let n = 0;
    for (let at = 0; at < ids.length; at += BATCH) {
      const batch = ids.slice(at, at + BATCH);
      n += Number(await callScript(this.redis, 'purgeDeadLetters', [this.keys.index, ...batch.map((id) => this.keys.letter(id))], [this.keys.prefix, ...batch]));
    }
    return n;
  }

  private async read(ids: readonly string[]): Promise<StoredDeadLetter[]> {
    const out: StoredDeadLetter[] = [];
    for (let at = 0; at < ids.length; at += BATCH) {
      const batch = ids.slice(at, at + BATCH);
      const hashes = await Promise.all(batch.map((id) => this.redis.hgetall(this.keys.letter(id))));
      for (const h of hashes) {
        const l = decode(h);
        if (l) out.push(l);
      }
    }
    return out;
  }
}

/** A stored hash as a record; null for a missing one (trimmed or purged meanwhile). */
function decode(h: Record<string, string>): StoredDeadLetter | null {
  if (!h['record']) return null;
  const letter = deadLetterSchema.parse(JSON.parse(h['record']));
  return {
    ...letter,
    source: h['source'] === 'runner' ? 'runner' : 'scheduler',
    ...(h['replayedBy'] ? { replayedBy: h['replayedBy'] } : {}),
    ...(h['replayedAt'] ? { replayedAt: h['replayedAt'] } : {}),
  };
}
