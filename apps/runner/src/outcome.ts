import {
  AgoraError,
  ApplicationError,
  CancelledError,
  FencedError,
  TimeoutError,
  coerceError,
  isRetryable,
  type FailureClass,
  type RetryPolicy,
} from '@agora/core';

/** The abort reason of an item whose runner shuts down: it goes back to the queue, not to an end. */
export const HAND_BACK = 'runner shutting down: handed back';
/** The abort reason of an item whose lock lease was lost while it ran. */
export const LOCK_LOST = 'lock lost';
/** The abort reason of an item that ran out of its `timeoutMs`: a `timeout` failure, not a cancel. */
export const TIMED_OUT = 'item timed out';
/** The abort reason of an item whose run was cancelled: it ends `cancelled`. */
export const RUN_CANCELLED = 'run cancelled';

/** What becomes of an item whose executor (or end) threw. */
export type Outcome =
  /** A newer fencing token was issued: the end script refused the result; the job is retried. */
  | { readonly kind: 'fenced'; readonly error: FencedError }
  /** The runner is shutting down: back to the queue, not counted as an attempt. */
  | { readonly kind: 'handBack' }
  /** The lock lease was lost while running: retried under a fresh lock. */
  | { readonly kind: 'lockLost' }
  | { readonly kind: 'cancelled'; readonly reason: string }
  /** A failure of a class its policy retries, with tries left. */
  | { readonly kind: 'retry'; readonly error: Error; readonly reason: FailureClass }
  /**
   * Failed for good. `leaseGone`: its result was fenced or its lock lost on its last try, so its
   * end is written without the lease (a fencing check would refuse it again).
   */
  | { readonly kind: 'failed'; readonly error: Error; readonly code: string; readonly exitCode?: number; readonly leaseGone?: 'fenced' | 'lost' }
  /**
   * A `failed` with `leaseGone` whose BullMQ job is no longer this attempt's (its runner was
   * paused past the job's lock and the job was taken up elsewhere): that attempt decides the end,
   * this one writes none. Never returned by `classifyOutcome` (it takes a look at the job).
   */
  | { readonly kind: 'superseded'; readonly error: Error };

/**
 * The failure class of an error: `timeout` (the item's time ran out: the runner's abort, or the
 * provider's own timeout), `infra` (a retryable error), `app` (the work itself failed), or none
 * (a bug or a refusal: never retried).
 */
export function failureClass(error: Error): FailureClass | null {
  if (error instanceof AgoraError && error.code === 'TIMEOUT') return 'timeout';
  if (isRetryable(error)) return 'infra';
  if (error instanceof ApplicationError) return 'app';
  return null;
}

/**
 * Classifies a failure of an item's run from the error and the reason its signal was aborted.
 * `tries` counts this try (BullMQ's attemptsMade + 1: hand-backs and stalls are not tries);
 * the policy retries a failure of a class it lists while `tries < attempts`.
 */
export function classifyOutcome(
  caught: unknown,
  signal: AbortSignal,
  tries: number,
  policy: Pick<RetryPolicy, 'attempts' | 'on'>,
  timeoutMs?: number,
): Outcome {
  let error = coerceError(caught);
  // Lock loss and fencing are retried under every policy while tries are left; on the last try
  // the item fails with their own codes (FENCED, LOCK), not as a job BullMQ failed.
  const triesLeft = tries < policy.attempts;
  if (error instanceof FencedError) return triesLeft ? { kind: 'fenced', error } : { kind: 'failed', error, code: error.code, leaseGone: 'fenced' };
  if (signal.reason === HAND_BACK) return { kind: 'handBack' };
  if (signal.reason === LOCK_LOST) {
    if (triesLeft) return { kind: 'lockLost' };
    return { kind: 'failed', error: new AgoraError('LOCK', 'resource lock lost while running, on its last try'), code: 'LOCK', leaseGone: 'lost' };
  }
  if (signal.reason === TIMED_OUT) {
    error = new TimeoutError(`timed out after ${timeoutMs ?? '?'} ms; the worker was stopped`, timeoutMs ?? null, { cause: error });
  } else if (signal.aborted || error instanceof CancelledError) {
    return { kind: 'cancelled', reason: String(signal.reason ?? error.message) };
  }
  const cls = failureClass(error);
  if (cls !== null && policy.on.includes(cls) && triesLeft) return { kind: 'retry', error, reason: cls };
  const exitCode = error instanceof ApplicationError ? error.exitCode : undefined;
  return { kind: 'failed', error, code: error instanceof AgoraError ? error.code : 'INTERNAL', ...(exitCode != null ? { exitCode } : {}) };
}

/**
 * Whether the item's locks are released keeping its place in their queues (its remembered
 * arrival), rather than as a final release. A lost or fenced lease means the item runs again, and
 * another attempt of the same job may already wait in those queues under the same holder (its
 * runner was paused past the job's lock and the job was taken up elsewhere): forgetting the
 * arrival would send that attempt to the back of a hot lock's queue. A hand-back keeps it too.
 * An item ended for good (done, failed, cancelled) needs its place no more.
 */
export function releaseKeepsPlace(outcome: Outcome): boolean {
  return outcome.kind === 'fenced' || outcome.kind === 'lockLost' || outcome.kind === 'handBack' || outcome.kind === 'superseded';
}
