/**
 * The runner's view of resource locks (implemented by @agora/locks). Kept structural so the
 * runner can be tested against any implementation that keeps the contract.
 */
export interface LockHolder {
  readonly runId: string;
  readonly itemId: string;
  readonly jobId: string;
  readonly queue: string;
}

export interface LockLeaseLike {
  readonly names: readonly string[];
  /** Fencing token per lock: strictly increasing per lock name. */
  readonly tokens: Readonly<Record<string, number>>;
  /** Aborted when the lease is lost (expired, taken, Redis failover). */
  readonly lost: AbortSignal;
  /** Throws `FencedError` when a newer token was issued for any of the locks. */
  assertFresh(): Promise<void>;
  /**
   * Releases every lock (idempotent); returns the waiters to wake. `keepPlace`: the item goes back
   * to the queue (hand-back) and rejoins the lock queues where it stood.
   */
  release(opts?: { keepPlace?: boolean }): Promise<LockHolder[]>;
}

export type AcquireResult =
  | { readonly acquired: true; readonly lease: LockLeaseLike }
  | { readonly acquired: false; readonly blockedBy: string; readonly position: number; readonly wake?: LockHolder[] };

export interface LockServiceLike {
  acquire(req: { names: string[]; holder: LockHolder }): Promise<AcquireResult>;
  /** True when the locks are free and the holder is first in line: re-checked after parking. */
  isFirstAndFree(req: { names: string[]; holder: LockHolder }): Promise<boolean>;
  close(): Promise<void>;
}
