import { coerceError, type Logger } from '@agora/core';
import type { Evidence } from './evidence.js';

/**
 * Seals finished runs for the active scheduler: each run at most once at a time, and only after
 * `fence()` says this process still acts (a scheduler that lost its lease seals nothing; the
 * new one's sweep finds the run unsealed). Sealing is idempotent, so a repeat is harmless.
 */
export interface Sealer {
  /** Starts sealing `runId` unless it is being sealed already; errors are logged, not thrown. */
  seal(runId: string): void;
  /** Checkpoints a running run if enough happened since its last checkpoint (behind the fence). */
  checkpoint(runId: string): Promise<void>;
}

export function createSealer(opts: {
  readonly evidence: Evidence;
  readonly logger: Logger;
  /** Throws unless this process may write the record now (the scheduler's lease fence). */
  fence(): Promise<void>;
  /** Errors that only mean "not the active scheduler any more": not logged. */
  quiet?(err: unknown): boolean;
  /** Called after each run this sealer sealed: wrote the seal of, not found sealed (for `agora_runs_sealed_total`). */
  onSealed?(runId: string): void;
}): Sealer {
  const { evidence, logger } = opts;
  const sealing = new Set<string>();
  const quiet = opts.quiet ?? (() => false);
  return {
    seal(runId) {
      if (sealing.has(runId)) return;
      sealing.add(runId);
      opts
        .fence()
        .then(() => evidence.sealRunOnce(runId))
        .then(({ wrote }) => (wrote ? opts.onSealed?.(runId) : undefined))
        .catch((err: unknown) => {
          if (!quiet(err)) logger.error({ runId, err: coerceError(err).message }, 'sealing failed');
        })
        .finally(() => sealing.delete(runId));
    },
    async checkpoint(runId) {
      await opts.fence();
      await evidence.checkpointRun(runId).catch((err: unknown) => logger.warn({ runId, err: coerceError(err).message }, 'checkpoint failed'));
    },
  };
}
