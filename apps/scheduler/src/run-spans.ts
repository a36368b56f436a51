import { coerceError, isTerminalRunState, type AgoraConfig, type Logger } from '@agora/core';
import { createRedis, type RedisClient, type RunStore } from '@agora/state';
import type { AgoraTracing } from '@agora/tracing';
import { oncePerRun } from './acting.js';
import type { ActingTerm } from './leadership.js';

/**
 * The run's root span, recorded by the active scheduler when the run ends: its ids are the ones
 * chosen at acceptance (RunStore.runTrace), its start the acceptance, its end the run's end, so
 * every item span (whose parent those ids name) joins it in one trace. Recorded on the run-end
 * message (the finished channel publishes once per run), on a connection of its own; `record`
 * is `runSpanRecorder`'s, which the sweep calls too for a run whose message was missed. Without a
 * tracer nothing is subscribed.
 */
export async function startRunSpans(ctx: {
  readonly config: AgoraConfig;
  readonly store: RunStore;
  readonly tracing: AgoraTracing;
  readonly record: (runId: string) => void;
}): Promise<ActingTerm> {
  const { tracing, store } = ctx;
  if (!tracing.enabled) return { stop: () => Promise.resolve() };
  const sub: RedisClient = createRedis(ctx.config.redisUrl);
  try {
    await sub.subscribe(store.keys.finishedChannel);
  } catch (err) {
    sub.disconnect();
    throw err;
  }
  sub.on('message', (_channel: string, runId: string) => ctx.record(runId));
  return {
    async stop() {
      await sub.quit().catch(() => undefined);
    },
  };
}

/**
 * Records an ended run's root span once in this process, whether its end message was heard or
 * the sweep found it (ended, not sealed yet: the message was missed while the subscriber was
 * reconnecting or no scheduler was active). In memory only: a scheduler that starts or takes over
 * records the span of every ended run its first sweep finds unsealed, so a run whose span the
 * previous scheduler recorded just before it stopped may get a second one with the same ids.
 */
export function runSpanRecorder(ctx: { readonly store: RunStore; readonly tracing: AgoraTracing; readonly logger: Logger }): (runId: string) => void {
  const { store, tracing, logger } = ctx;
  if (!tracing.enabled) return () => undefined;
  return oncePerRun((runId: string) => {
    void recordRunSpan(store, tracing, runId).catch((err: unknown) => logger.warn({ runId, err: coerceError(err).message }, 'could not record the run span'));
  });
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
