import type { Logger, StorageProvider } from '@agora/core';

export interface ExecutorContext {
  readonly namespace: string;
  readonly runId: string;
  readonly itemId: string;
  readonly inputs: Readonly<Record<string, unknown>>;
  /** resultRef of each dependency, by item id. */
  readonly deps: Readonly<Record<string, string>>;
  /** Fencing token per held lock. */
  readonly lockTokens: Readonly<Record<string, number>>;
  readonly attempt: number;
  /**
   * The item's own time limit of one try (its `timeoutMs`): the runner aborts `signal` when it
   * runs out. `dispatch` also hands it to its provider in place of the task's.
   */
  readonly timeoutMs?: number;
  /** Pinned task definition URI for `dispatch`, when the task was registered in storage. */
  readonly taskRef?: string;
  /** Target chosen by the plan or item, if any. */
  readonly target?: string;
  /**
   * Where `dispatch` stages the worker's files; default `<dataDir>/work/<runId>/<itemId>`. A
   * replay runs an item of a sealed run under that run's id, in a folder of its own.
   */
  readonly workDir?: string;
  /** Aborted on cancel and on lock loss: the executor must stop its worker. */
  readonly signal: AbortSignal;
  readonly storage: StorageProvider;
  readonly logger: Logger;
}

export interface ExecutorResult {
  /** Bytes stored as the item's artifact; its URI becomes the item's resultRef. */
  readonly output: Uint8Array | string;
  /** Extra fields for the item's `done` event (exit code, durations). Never secrets. */
  readonly fields?: Record<string, unknown>;
  /** What the worker wrote to stderr, scrubbed: stored as the item's `stderr` artifact when not empty. */
  readonly stderr?: string;
}

/**
 * Runs one item. Throws `ApplicationError` for a failure of the work itself (not retried),
 * a retryable `AgoraError` (e.g. `ProviderError`) for infrastructure failures, `CancelledError`
 * when stopped through `signal`.
 */
export interface Executor {
  readonly name: string;
  execute(ctx: ExecutorContext): Promise<ExecutorResult>;
}
