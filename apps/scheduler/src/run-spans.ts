import { coerceError, isTerminalRunState, type AgoraConfig, type Logger } from '@agora/core';
import { createRedis, type RedisClient, type RunStore } from '@agora/state';
import type { AgoraTracing } from '@agora/tracing';
import type { ActingTerm } from './leadership.js';

/**
 * The run's root span, recorded by the active scheduler when the run ends: its ids are the ones
 * chosen at acceptance (RunStore.runTrace), its start the acceptance, its end the run's end, so
 * every item span (whose parent those ids name) joins it in one trace. One span per run-end
 * message (the finished channel publishes once per run), on a connection of its own. Without a
 * tracer nothing is subscribed.
 *
 * A run that ends while no scheduler is active (a failover gap) misses its message and has no
 * root span; its item spans still share the trace id.
 */
export async function startRunSpans(ctx: {
  readonly config: AgoraConfig;
  readonly logger: Logger;
  readonly store: RunStore;
  readonly tracing: AgoraTracing;
}): Promise<ActingTerm> {
  const { tracing, store, logger } = ctx;
  if (!tracing.enabled) return { stop: () => Promise.resolve() };
  const sub: RedisClient = createRedis(ctx.config.redisUrl);
  try {
    await sub.subscribe(store.keys.finishedChannel);
  } catch (err) {
    sub.disconnect();
    throw err;
  }
  sub.on('message', (_channel: string, runId: string) => {
    void recordRunSpan(store, tracing, runId).catch((err: unknown) => logger.warn({ runId, err: coerceError(err).message }, 'could not record the run span'));
  });
  return {
    async stop() {
      await sub.quit().catch(() => undefined);
    },
  };
}

/** Reads the ended run's trace record and records its span; false when there is nothing to record. */
export async function recordRunSpan(store: RunStore, tracing: AgoraTracing, runId: string): Promise<boolean> {
  const r = await store.runTrace(runId);
  if (!r?.trace || !isTerminalRunState(r.state) || !r.finishedAt) return false;
  tracing.recordRun({
    trace: r.trace,
    runId,
    planId: r.planId,
    queue: r.queue,
    state: r.state,
    items: r.total,
    counts: r.counts,
    startTime: Date.parse(r.createdAt),
    endTime: Date.parse(r.finishedAt),
  });
  return true;
}
