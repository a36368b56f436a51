import { z } from 'zod';

/*
 * Retry policy: how often an item is tried, how long it waits between tries, and which classes
 * of failure are worth another try. Given in a plan item, a task and the config (`runner.retry`);
 * each field falls back to the next level (item > task > config > the defaults below). The
 * scheduler resolves it once, at acceptance, into the item's job data (hashed with the rest of the
 * item's definition), so every runner applies the same policy whatever its own config says.
 */

/**
 * Classes of failure a policy may retry:
 * - `infra`: the infrastructure failed (a provider error, Redis unavailable: an `AgoraError`
 *   with `retryable: true`);
 * - `app`: the work itself failed (the worker exited non-zero: `ApplicationError`);
 * - `timeout`: the item's `timeoutMs` (or its task's) ran out and the worker was stopped.
 */
export const FAILURE_CLASSES = ['infra', 'app', 'timeout'] as const;
export type FailureClass = (typeof FAILURE_CLASSES)[number];

/**
 * Why an item runs again, as the `retry` event's `reason` and the `agora_retries_total` label:
 * a failure class, or the runner's own reasons, which every policy retries while tries are left
 * (`lock_lost`: the lock lease ran out while it ran; `fenced`: its result was refused for a
 * stale fencing token).
 */
export const RETRY_REASONS = [...FAILURE_CLASSES, 'lock_lost', 'fenced'] as const;
export type RetryReason = (typeof RETRY_REASONS)[number];

export const RETRY_LIMITS = {
  maxAttempts: 100,
  /** No back-off is longer than a day, whatever the policy's exponent makes of it. */
  maxDelayMs: 24 * 3600 * 1000,
} as const;

/** The policy when no level says otherwise: today's behaviour (infrastructure failures only). */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  attempts: 3,
  backoff: { type: 'exponential', delayMs: 1000, jitter: 0 },
  on: ['infra'],
};

const delay = z.number().int().min(0).max(RETRY_LIMITS.maxDelayMs);

/** A back-off as given: every field optional, so a level may change one field and inherit the rest. */
export const backoffSchema = z
  .strictObject({
    /** `fixed`: `delayMs` every time; `exponential`: `delayMs * 2^(try - 1)`. @default "exponential" */
    type: z.enum(['fixed', 'exponential']).optional(),
    /** The first (or every, when fixed) delay. @default 1000 */
    delayMs: delay.optional(),
    /** Upper bound of a delay, jitter included. @default 86400000 (a day) */
    maxDelayMs: delay.optional(),
    /** Fraction of each delay drawn at random: the delay lies in [d * (1 - jitter), d]. @default 0 */
    jitter: z.number().min(0).max(1).optional(),
  })
  .refine((b) => b.delayMs === undefined || b.maxDelayMs === undefined || b.maxDelayMs >= b.delayMs, {
    message: 'maxDelayMs must not be below delayMs',
    path: ['maxDelayMs'],
  });

/** A retry policy as given in an item, a task or the config: every field optional. */
export const retryPolicySchema = z.strictObject({
  /** Tries in all, the first included (1 = never retried). @default 3 */
  attempts: z.number().int().min(1).max(RETRY_LIMITS.maxAttempts).optional(),
  backoff: backoffSchema.optional(),
  /** Failure classes that are retried; any other fails the item at once. @default ["infra"] */
  on: z
    .array(z.enum(FAILURE_CLASSES))
    .max(FAILURE_CLASSES.length)
    .refine((on) => new Set(on).size === on.length, { message: 'a failure class is listed twice' })
    .optional(),
});
export type RetryPolicyInput = z.infer<typeof retryPolicySchema>;

/** A resolved policy: every field decided. What an item's job data carries. */
export const resolvedRetryPolicySchema = z.strictObject({
  attempts: z.number().int().min(1).max(RETRY_LIMITS.maxAttempts),
  backoff: z.strictObject({
    type: z.enum(['fixed', 'exponential']),
    delayMs: delay,
    maxDelayMs: delay.optional(),
    jitter: z.number().min(0).max(1),
  }),
  on: z.array(z.enum(FAILURE_CLASSES)).max(FAILURE_CLASSES.length),
});
export type RetryPolicy = z.infer<typeof resolvedRetryPolicySchema>;
export type RetryBackoff = RetryPolicy['backoff'];

/**
 * Resolves a policy from its levels, most specific first (item, task, config): each field is the
 * first level's that gives it, else the default's. `backoff` is resolved field by field too.
 */
export function resolveRetryPolicy(levels: ReadonlyArray<RetryPolicyInput | undefined>, fallback: RetryPolicy = DEFAULT_RETRY_POLICY): RetryPolicy {
  const first = <T>(pick: (l: RetryPolicyInput) => T | undefined): T | undefined => {
    for (const l of levels) {
      const v = l === undefined ? undefined : pick(l);
      if (v !== undefined) return v;
    }
    return undefined;
  };
  const maxDelayMs = first((l) => l.backoff?.maxDelayMs) ?? fallback.backoff.maxDelayMs;
  return {
    attempts: first((l) => l.attempts) ?? fallback.attempts,
    backoff: {
      type: first((l) => l.backoff?.type) ?? fallback.backoff.type,
      delayMs: first((l) => l.backoff?.delayMs) ?? fallback.backoff.delayMs,
      ...(maxDelayMs !== undefined ? { maxDelayMs } : {}),
      jitter: first((l) => l.backoff?.jitter) ?? fallback.backoff.jitter,
    },
    on: [...(first((l) => l.on) ?? fallback.on)],
  };
}

/**
 * The back-off before try `tryNumber + 1`, after `tryNumber` tries failed (1 = the first failed):
 * `delayMs` (fixed) or `delayMs * 2^(tryNumber - 1)` (exponential), capped at `maxDelayMs` (and
 * never over a day), then with `jitter` the delay is drawn from [d * (1 - jitter), d]. The same
 * function is the BullMQ back-off strategy and what the `retry` event reports, and the runner
 * hands the number it drew to BullMQ with the error, so the event tells the delay applied.
 * Requires tryNumber >= 1 and `random` in [0, 1).
 */
export function retryDelayMs(backoff: RetryBackoff, tryNumber: number, random: () => number = Math.random): number {
  const exponent = Math.max(0, Math.floor(tryNumber) - 1);
  const base = backoff.type === 'fixed' ? backoff.delayMs : backoff.delayMs * 2 ** exponent;
  const capped = Math.min(base, backoff.maxDelayMs ?? RETRY_LIMITS.maxDelayMs, RETRY_LIMITS.maxDelayMs);
  if (backoff.jitter <= 0) return Math.round(capped);
  return Math.floor(capped * (1 - backoff.jitter) + random() * capped * backoff.jitter);
}

/**
 * The config's level of the policy: `runner.retry`, with the legacy keys filling what it leaves
 * out (`runner.attempts` for `attempts`, `runner.backoffMs` for an exponential `backoff.delayMs`).
 * `runner.retry` wins where both are given.
 */
export function configRetryPolicy(runner: { readonly attempts: number; readonly backoffMs: number; readonly retry?: RetryPolicyInput | undefined }): RetryPolicy {
  return resolveRetryPolicy([runner.retry], {
    ...DEFAULT_RETRY_POLICY,
    attempts: runner.attempts,
    backoff: { ...DEFAULT_RETRY_POLICY.backoff, delayMs: Math.min(runner.backoffMs, RETRY_LIMITS.maxDelayMs) },
  });
}
