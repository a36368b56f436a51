import { z } from 'zod';
import { QUEUE_NAME_RE, RUN_STATES, ValueError, assertDeadLetterId, assertRunId } from '@agora/core';

/** What `since` takes, in its messages. */
const SINCE_FORMS = 'since: an ISO 8601 time (2026-11-30, 2026-11-30T09:00Z, 2026-11-30T09:00:00.000+01:00) or epoch milliseconds';

/**
 * ISO 8601 calendar date with an optional time of day: the extended forms of ECMAScript's
 * date-time format, plus the basic ±hhmm offset. Date.parse alone took "1 Dec", "Nov 30 2026",
 * "2026-11-30 10:00" and "2026-02-30" (as 2 March), so a guess could silently filter by the wrong
 * day; every part is checked here instead.
 */
const ISO_TIME_RE = /^(\d{4})-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?)?$/i;

/**
 * `since` as epoch milliseconds, or undefined when it is neither epoch milliseconds (digits) nor an
 * ISO 8601 time. A time without an offset is UTC, on every machine (Date.parse read it as the
 * reader's local time, so the CLI and the server could differ).
 */
export function parseSince(text: string): number | undefined {
  if (/^\d{1,16}$/.test(text)) {
    const ms = Number(text);
    return ms <= MAX_EPOCH_MS ? ms : undefined;
  }
  const m = ISO_TIME_RE.exec(text);
  if (!m) return undefined;
  const [, y, mo, d = '01', h = '00', mi = '00', sec = '00', frac = '', zone = 'Z'] = m;
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, sec].map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate() || hour > 23 || minute > 59 || second > 59) return undefined;
  // Z, or ±hh, ±hhmm, ±hh:mm.
  const oh = zone.length > 1 ? Number(zone.slice(1, 3)) : 0;
  const om = zone.length > 3 ? Number(zone.slice(-2)) : 0;
  if (oh > 23 || om > 59) return undefined;
  const offsetMin = (zone.startsWith('-') ? -1 : 1) * (oh * 60 + om);
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, Number(frac.padEnd(3, '0').slice(0, 3)));
  const ms = utc.getTime() - offsetMin * 60_000;
  return ms >= 0 && ms <= MAX_EPOCH_MS ? ms : undefined;
}

/**
 * Whether `since` is a time whose `+hh:mm` offset lost its `+`: typed unencoded in a URL
 * (`?since=2026-11-30T10:00:00+01:00`), the query string decodes `+` to a space.
 */
function plusAsSpace(text: string): boolean {
  const at = text.lastIndexOf(' ');
  return at > 0 && parseSince(`${text.slice(0, at)}+${text.slice(at + 1)}`) !== undefined;
}

/**
 * The runs-list query as text (`GET /api/runs`, `agora runs`): every parameter once, each bounded. `since` is an ISO 8601 time or
 * epoch milliseconds (`parseSince`). Unknown parameters are refused (a typo must not silently list everything).
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
      .max(40, SINCE_FORMS)
      .transform((v, ctx) => {
        const ms = parseSince(v);
        if (ms === undefined) {
          ctx.addIssue({ code: 'custom', message: plusAsSpace(v) ? `${SINCE_FORMS}; in a URL write the offset's + as %2B (since=2026-11-30T10:00:00%2B01:00): a bare + arrives as a space` : SINCE_FORMS });
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
  throw new ValueError(`${what}: ${r.error.issues.map((i) => (i.code === 'unrecognized_keys' && i.path.length === 0 ? `unknown field${i.keys.length === 1 ? '' : 's'} ${i.keys.join(', ')}` : i.message)).join('; ')}`);
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
 * `validate` of either transport's options (`ValidateOptions`): `z.object({})` took any object
 * and dropped its fields, so a typo (`queue: [...]`) or a string for a list turned the local
 * check off in silence.
 */
const VALIDATE_LIST = 'a list of names (strings)';
export const validateOptionsSchema = z
  .strictObject(
    {
      executors: z.array(z.string(), `validate.executors: ${VALIDATE_LIST}`).optional(),
      queues: z.array(z.string(), `validate.queues: ${VALIDATE_LIST}`).optional(),
      targets: z.array(z.string(), `validate.targets: ${VALIDATE_LIST}`).optional(),
      resultSinks: z.array(z.string(), `validate.resultSinks: ${VALIDATE_LIST}`).optional(),
    },
    {
      error: (iss) =>
        iss.code === 'unrecognized_keys'
          ? `validate: unknown field${iss.keys.length === 1 ? '' : 's'} ${iss.keys.join(', ')} (it takes executors, queues, targets, resultSinks)`
          : 'validate: an object (executors, queues, targets, resultSinks)',
    },
  )
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
