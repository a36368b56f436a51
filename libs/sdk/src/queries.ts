import { z } from 'zod';
import { QUEUE_NAME_RE, RUN_STATES, ValueError } from '@agora/core';

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
    sinceMs: z.number().finite('sinceMs: epoch milliseconds').optional(),
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
