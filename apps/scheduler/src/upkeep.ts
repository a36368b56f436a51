import type { Queue } from 'bullmq';
import { coerceError, isTerminalRunState, type AgoraConfig, type Logger } from '@agora/core';
import { liveRunners, localStorageAcrossHosts, type RedisClient, type RunStore } from '@agora/state';
import type { Sealer } from '@agora/evidence';
import { repairStrandedItems } from './repair.js';

/**
 * The active scheduler's periodic sweep over the newest 1,000 runs: seal the finished ones a
 * missed pub/sub message left unsealed (and hand them to `runEnded`, which counts them and
 * records their run span unless the message did), checkpoint the running ones, repair a run
 * whose stream stopped moving (items whose jobs were lost end `JOB_LOST`), and warn, at once and
 * every 5 minutes while it lasts, about runners on several hosts with local storage.
 */
export function createUpkeep(ctx: {
  readonly config: AgoraConfig;
  readonly logger: Logger;
  readonly redis: RedisClient;
  readonly store: RunStore;
  readonly sealer: Sealer;
  /** A terminal run found unsealed (`rejected` too): what a missed run-end message would have done besides sealing. */
  runEnded(runId: string, state: string): void;
  queueFor(name: string): Queue;
  fence(): Promise<void>;
}): { sweep(): Promise<void> } {
  const { config, logger, store } = ctx;
  /** Per running run: the last event count seen and since when, to tell a stalled run. */
  const progress = new Map<string, { seq: string; since: number }>();
  let fleetWarning: { message: string; at: number } | undefined;

  async function warnAboutFleet(): Promise<void> {
    const message = localStorageAcrossHosts(await liveRunners(ctx.redis, config.namespace));
    if (!message) {
      fleetWarning = undefined;
      return;
    }
    if (fleetWarning?.message === message && Date.now() - fleetWarning.at < 300_000) return;
    fleetWarning = { message, at: Date.now() };
    logger.warn({ problem: 'local-storage-across-hosts' }, message);
  }

  /** No item is ever stranded: a run whose stream stopped moving has its items' jobs checked. */
  async function repairIfStalled(runId: string, seq: string | null, queue: string | null): Promise<void> {
    const p = progress.get(runId);
    if (!p || p.seq !== seq) {
      progress.set(runId, { seq: seq ?? '', since: Date.now() });
      return;
    }
    if (Date.now() - p.since < config.scheduler.repairAfterMs || !queue) return;
    p.since = Date.now();
    await ctx.fence();
    const ended = await repairStrandedItems(store, ctx.queueFor(queue), runId, logger).catch((err: unknown) => {
      logger.warn({ runId, err: coerceError(err).message }, 'repair of stranded items failed');
      return 0;
    });
    if (ended > 0) logger.warn({ runId, ended }, 'ended items whose jobs were lost');
  }

  return {
    async sweep() {
      await warnAboutFleet();
      const ids = await store.listRuns(1000);
      if (ids.length === 0) return;
      const looks = await store.runSummaries(ids);
      const seen = new Set<string>();
      for (let i = 0; i < ids.length; i++) {
        const runId = ids[i]!;
        const { state, seq, queue, sealed } = looks[i]!;
        if (state && isTerminalRunState(state) && !sealed) {
          ctx.runEnded(runId, state);
          ctx.sealer.seal(runId);
        } else if (state === 'running') {
          seen.add(runId);
          await ctx.sealer.checkpoint(runId);
          await repairIfStalled(runId, seq, queue);
        }
      }
      for (const id of progress.keys()) if (!seen.has(id)) progress.delete(id);
    },
  };
}
