import { z } from 'zod';
import { QUEUE_NAME_RE, RUN_STATES, ValueError, assertDeadLetterId, assertRunId } from '@agora/core';

/**
 * The runs-list query as text (`GET /api/runs`, `agora runs`): every parameter once, each bounded. `since` is an ISO time or epoch
 * milliseconds. Unknown parameters are refused (a typo must not silently list everything).
 */
export const runsQuerySchema = z
  .object({
    limit: z.string().regex(/^\d{1,3}$/, 'limit: an integer from 1 to 500').transform(Number).pipe(z.number().int().min(1, 'limit: at least 1').max(500, 'limit: at most 500')).optional(),
    cursor: z.string().min(1).max(300).optional(),
    state: z.enum(RUN_STATES).optional(),
    queue: z.string().regex(QUEUE_NAME_RE, 'queue: 1-64 of [a-z0-9_-]').optional(),
    plan: z.string().min(1).max(128).optional(),
    since: z
      .string()
      .max(40)
      .transform((v, ctx) => {
        const ms = /^\d{1,16}$/.test(v) ? Number(v) : Date.parse(v);
        if (!Number.isFinite(ms)) {
          ctx.addIssue({ code: 'custom', message: 'since: an ISO 8601 time or epoch milliseconds' });
          return z.NEVER;
        }
        return ms;
      })
      .optional(),
  })
  .strict();


/** The last instant a JavaScript Date holds. */
const MAX_EPOCH_MS = 8_640_000_000_000_000;

/**
 * The runs-list query as an SDK caller's object, held to the same bounds as the text form above,
 * so both transports refuse the same queries with `ValueError` (over HTTP the server's 400 is one).
 */
export const runsQueryObjectSchema = z
  .object({
    limit: z.number().int('limit: an integer from 1 to 500').min(1, 'limit: at least 1').max(500, 'limit: at most 500').optional(),
    cursor: z.string().min(1).max(300).optional(),
    state: z.enum(RUN_STATES, { message: `state: one of ${RUN_STATES.join(', ')}` }).optional(),
    queue: z.string().regex(QUEUE_NAME_RE, 'queue: 1-64 of [a-z0-9_-]').optional(),
    planId: z.string().min(1).max(128).optional(),
    // An integer of the text form's digits (`since=<epoch ms>`): 1e20 or -1 went to the server as
    // text it refused (or read as a year), while the Redis transport listed with them.
    sinceMs: z.number().int('sinceMs: epoch milliseconds (an integer from 0)').min(0, 'sinceMs: epoch milliseconds (an integer from 0)').max(MAX_EPOCH_MS, 'sinceMs: epoch milliseconds, at most 8640000000000000').optional(),
  })
  .strict();

/** A list call's `limit` (dead letters, memo entries): as `?limit=` of their routes, 1 to 9,999,999. */
export const listLimitSchema = z.number().int('limit: an integer from 1 to 9999999').min(1, 'limit: at least 1').max(9_999_999, 'limit: at most 9999999').optional();

/** `schema.parse` with a `ValueError` naming the problems (the SDK's error for a bad argument). */
export function checkArgument<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new ValueError(`${what}: ${r.error.issues.map((i) => (i.code === 'unrecognized_keys' ? `unknown field${i.keys.length === 1 ? '' : 's'} ${i.keys.join(', ')}` : i.message)).join('; ')}`);
}

/**
 * The longest wait a timer can take: Node sets a longer `setTimeout` or `AbortSignal.timeout` to
 * 1 ms (or throws), so a `timeoutMs` of 1e12 made every call fail at once.
 */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/** `timeoutMs` of either transport's options. */
export const timeoutMsSchema = z
  .number('timeoutMs: a positive number of milliseconds')
  .positive('timeoutMs: a positive number of milliseconds')
  .max(MAX_TIMEOUT_MS, `timeoutMs: at most ${MAX_TIMEOUT_MS} ms`)
  .optional();

/**
 * `watch`'s options, as both transports take them: `fromSeq` an event seq (over Redis -1 or 1.5
 * reached XREAD as a stream id it refused with a raw ReplyError, and "2" was taken), `pollMs` a
 * positive integer of milliseconds (0 would block Redis forever).
 */
export function checkWatchOptions(opts: { readonly fromSeq?: unknown; readonly pollMs?: unknown }): void {
  const { fromSeq, pollMs } = opts;
  if (fromSeq !== undefined && (typeof fromSeq !== 'number' || !Number.isSafeInteger(fromSeq) || fromSeq < 0)) {
    throw new ValueError(`fromSeq must be a non-negative integer, got ${shown(fromSeq)}`);
  }
  if (pollMs !== undefined && (typeof pollMs !== 'number' || !Number.isInteger(pollMs) || pollMs < 1 || pollMs > MAX_TIMEOUT_MS)) {
    throw new ValueError(`pollMs must be an integer from 1 to ${MAX_TIMEOUT_MS} (milliseconds), got ${shown(pollMs)}`);
  }
}

const replaySelectorSchema = z.union([z.strictObject({ id: z.string() }), z.strictObject({ runId: z.string(), all: z.boolean().optional() })]);
const replayOptionsSchema = z.strictObject({ force: z.boolean().optional() });

/**
 * `replayDeadLetters`' arguments: exactly `{ id }` or `{ runId, all? }`, and `{ force? }`. `null`
 * threw a TypeError, and `{ id, runId }` replayed the letter while `{ runId, all: "yes" }` was
 * taken as not all.
 */
export function checkReplayArguments(sel: unknown, opts: unknown): void {
  const s = replaySelectorSchema.safeParse(sel);
  if (!s.success) throw new ValueError(`a replay selector is { id: "<runId>.<itemId>" } or { runId, all?: boolean }; got ${shown(sel)}`);
  if ('id' in s.data) assertDeadLetterId(s.data.id);
  else assertRunId(s.data.runId);
  if (!replayOptionsSchema.safeParse(opts).success) throw new ValueError(`replay options are { force?: boolean }; got ${shown(opts)}`);
}

/**
 * `rerun`'s options: `fromFailed` a boolean (`"yes"` was taken as false, silently running
 * everything again), `runId` a run id; `null` or a string was a TypeError or ignored.
 */
export function checkRerunOptions(opts: unknown): void {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw new ValueError(`rerun options are { fromFailed?: boolean, runId? }; got ${shown(opts)}`);
  const { fromFailed, runId } = opts as { fromFailed?: unknown; runId?: unknown };
  if (fromFailed !== undefined && typeof fromFailed !== 'boolean') throw new ValueError(`rerun: fromFailed must be true or false, got ${shown(fromFailed)}`);
  if (runId !== undefined) assertRunId(runId as string);
}

/**
 * A call's options object holds only the fields it takes: `submit(plan, { runid })` (a typo)
 * submitted under a fresh id, and `deadLetters({ run })` listed every run's letters, as the HTTP
 * routes refuse `?runid=` and `?rn=`.
 */
export function checkOptionFields(opts: unknown, allowed: readonly string[], what: string): void {
  if (opts === undefined) return;
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw new ValueError(`${what}: options are an object ({ ${allowed.join(', ')} }); got ${shown(opts)}`);
  const unknown = Object.keys(opts).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw new ValueError(`${what}: unknown option${unknown.length === 1 ? '' : 's'} ${unknown.map((k) => k.slice(0, 40)).join(', ')} (it takes ${allowed.join(', ')})`);
}

/** A caller's value in a message, cut short. */
function shown(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.slice(0, 80));
  if (typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') return typeof v;
  try {
    return (JSON.stringify(v) ?? String(v)).slice(0, 120);
  } catch {
    return typeof v;
  }
}
