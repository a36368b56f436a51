import type { JobsOptions, MinimalJob } from 'bullmq';
import { z } from 'zod';
import { resolvedRetryPolicySchema, retryDelayMs, retryPolicySchema, type RetryBackoff, type RetryPolicy } from '@agora/core';

/**
 * The BullMQ back-off type of item jobs. It names no built-in strategy, so BullMQ asks the
 * worker's `settings.backoffStrategy` ({@link itemBackoffStrategy}): the built-in ones know
 * neither a cap (`maxDelayMs`) nor a delay drawn once and reported in the `retry` event.
 */
export const ITEM_BACKOFF_TYPE = 'agora-retry';

/** The job options a resolved policy sets on its item's job: BullMQ counts the tries. */
export function itemRetryJobOptions(policy: RetryPolicy): Pick<JobsOptions, 'attempts' | 'backoff'> {
  return { attempts: policy.attempts, backoff: { type: ITEM_BACKOFF_TYPE, delay: policy.backoff.delayMs } };
}

/** Delays the runner drew for the errors it throws to BullMQ, read back by the strategy. */
const drawn = new WeakMap<Error, number>();

/**
 * Marks `err` (about to be thrown from the processor) with the back-off the runner drew for it
 * and reported in the `retry` event, so BullMQ applies exactly that delay (a jittered delay drawn
 * twice would differ). Returns `err`.
 */
export function withRetryDelay<E extends Error>(err: E, delayMs: number): E {
  drawn.set(err, delayMs);
  return err;
}

/**
 * BullMQ's `settings.backoffStrategy` for item workers (its signature: attemptsMade counts this
 * failure, so 1 after the first try failed). The delay the runner drew for this error when it has
 * one; else (an error the runner did not mark) the same function over the job's resolved policy,
 * or an exponential back-off from the job's own `backoff.delay` for a job without one.
 */
export function itemBackoffStrategy(attemptsMade: number, _type?: string, err?: Error, job?: MinimalJob): number {
  const given = err === undefined ? undefined : drawn.get(err);
  if (given !== undefined) return given;
  const policy = resolvedRetryPolicySchema.safeParse((job?.data as { retry?: unknown } | undefined)?.retry);
  const backoff = job?.opts.backoff;
  const fallback: RetryBackoff = { type: 'exponential', delayMs: typeof backoff === 'number' ? backoff : (backoff?.delay ?? 1000), jitter: 0 };
  return retryDelayMs(policy.success ? policy.data.backoff : fallback, attemptsMade);
}

/**
 * The levels of a run's retry policies that come from the deployment rather than the plan: the
 * config's policy and each named task's own fields. Pinned in the run at acceptance
 * (`RunStore.pinRetryLevels`), so an acceptance resumed by another scheduler (whose config may
 * differ) resolves the same policies, and the definitions registered earlier still match.
 */
export const retryLevelsSchema = z.strictObject({
  config: resolvedRetryPolicySchema,
  tasks: z.record(z.string(), retryPolicySchema),
});
export type RetryLevels = z.infer<typeof retryLevelsSchema>;
