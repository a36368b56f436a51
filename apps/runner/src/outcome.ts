import { AgoraError, ApplicationError, CancelledError, FencedError, coerceError, isRetryable } from '@agora/core';

/** The abort reason of an item whose runner shuts down: it goes back to the queue, not to an end. */
export const HAND_BACK = 'runner shutting down: handed back';
/** The abort reason of an item whose lock lease was lost while it ran. */
export const LOCK_LOST = 'lock lost';

/** What becomes of an item whose executor (or end) threw. */
export type Outcome =
  /** A newer fencing token was issued: the end script refused the result; the job is retried. */
  | { readonly kind: 'fenced'; readonly error: FencedError }
  /** The runner is shutting down: back to the queue, not counted as an attempt. */
  | { readonly kind: 'handBack' }
  /** The lock lease was lost while running: retried under a fresh lock. */
  | { readonly kind: 'lockLost' }
  | { readonly kind: 'cancelled'; readonly reason: string }
  /** A retryable failure with attempts left. */
  | { readonly kind: 'retry'; readonly error: Error }
  /** Failed for good. */
  | { readonly kind: 'failed'; readonly error: Error; readonly code: string; readonly exitCode?: number };

/** Classifies a failure of an item's run from the error and the reason its signal was aborted. */
export function classifyOutcome(caught: unknown, signal: AbortSignal, attempt: number, maxAttempts: number): Outcome {
  const error = coerceError(caught);
  if (error instanceof FencedError) return { kind: 'fenced', error };
  if (signal.reason === HAND_BACK) return { kind: 'handBack' };
  if (signal.reason === LOCK_LOST) return { kind: 'lockLost' };
  if (signal.aborted || error instanceof CancelledError) return { kind: 'cancelled', reason: String(signal.reason ?? error.message) };
  if (isRetryable(error) && attempt < maxAttempts) return { kind: 'retry', error };
  const exitCode = error instanceof ApplicationError ? error.exitCode : undefined;
  return { kind: 'failed', error, code: error instanceof AgoraError ? error.code : 'INTERNAL', ...(exitCode != null ? { exitCode } : {}) };
}
