import { z } from 'zod';
import { QUEUE_NAME_RE, RUN_STATES } from '@agora/core';

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

