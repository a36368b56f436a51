import { coerceError, isTerminalRunState, type AgoraConfig, type AgoraEvent, type AgoraNotification, type Logger, type NotificationProvider, type NotificationType } from '@agora/core';
import { DeliveryQueue, deliveryPolicyOf, type DeliveryJob, type DeliveryPolicy } from '@agora/deliveries';
import type { ProviderSet } from '@agora/registry';
import type { RedisClient, RunStore } from '@agora/state';
import type { Sealer } from '@agora/evidence';

export interface RunDeliveriesContext {
  readonly config: AgoraConfig;
  readonly logger: Logger;
  readonly store: RunStore;
  readonly providers: ProviderSet;
  readonly redis: RedisClient;
}

type Enqueued = { job: DeliveryJob; policy: DeliveryPolicy };

/**
 * What a run's end sends: its `run.<state>` notification to every provider that wants it, and,
 * for a run that did not succeed, what no runner sent: results of items ended without running
 * (cancelled in the queue by a cancel, failed `JOB_LOST`/`QUEUE`/`STALLED`/`INTEGRITY`,
 * skipped) and `item.failed` for items whose runner died before sending it. Delivery ids are
 * stable, so a delivery a runner already enqueued (and whose job is still kept) is not sent again.
 */
export async function runEndDeliveries(ctx: RunDeliveriesContext, runId: string, notifiers: ReadonlyArray<readonly [string, NotificationProvider]>): Promise<Enqueued[]> {
  const run = await ctx.store.runTrace(runId);
  if (!run || !isTerminalRunState(run.state) || run.state === 'rejected') return [];
  const counts = { ...run.counts, total: run.total };
  const at = run.finishedAt ?? new Date().toISOString();
  const out: Enqueued[] = [];
  const notify = (n: AgoraNotification): void => {
    for (const [target, p] of notifiers) if (p.accepts?.(n.type) ?? true) out.push({ job: { kind: 'notification', target, notification: n }, policy: deliveryPolicyOf(p) });
  };
  notify({ type: `run.${run.state}` as NotificationType, runId, state: run.state, at, counts });
  // A succeeded run's items all ended done, each by the runner that ran it: nothing to catch up.
  if (run.state === 'succeeded') return out;
  const wantsFailures = notifiers.some(([, p]) => p.accepts?.('item.failed') ?? true);
  const hasSinks = Object.keys(ctx.config.resultSinks).length > 0;
  if (!wantsFailures && !hasSinks) return out;
  const sinkOf = new Map<string, string>();
  for (const e of await ctx.store.allEvents(runId)) {
    if (e.type !== 'item') continue;
    if ((e.state === 'waiting' || e.state === 'queued') && e.resultSink !== undefined) sinkOf.set(e.itemId, e.resultSink);
    if (e.state === 'failed') notify({ type: 'item.failed', runId, itemId: e.itemId, state: 'failed', errorCode: e.errorCode, at: e.at, counts });
    const sink = sinkOf.get(e.itemId);
    if (sink !== undefined && endedWithoutRunning(e)) {
      const p = await ctx.providers.resultSink(sink).catch(() => undefined);
      // Inline sinks (stdout) write in the runner's process at the item's end; they are not caught up here.
      if (p?.delivery !== 'queued') continue;
      const state = e.state as 'failed' | 'skipped' | 'cancelled';
      out.push({
        job: { kind: 'result', target: sink, result: { runId, itemId: e.itemId, state, finishedAt: e.at, ...('error' in e && typeof e.error === 'string' ? { error: e.error.slice(0, 1000) } : {}) } },
        policy: deliveryPolicyOf(p),
      });
    }
  }
  return out;
}

/** An end a runner did not write after running the item (those carry the attempt): a cancel's, a repair's, a start's. */
function endedWithoutRunning(e: Extract<AgoraEvent, { type: 'item' }>): boolean {
  if (e.state !== 'failed' && e.state !== 'skipped' && e.state !== 'cancelled') return false;
  return !('attempt' in e) || e.attempt === undefined;
}

/**
 * The sealer, enqueueing a finished run's deliveries before sealing it: like the dead letters,
 * once per run end (the finished message, or the sweep's catch-up of runs still unsealed), so a
 * run whose end no active scheduler saw gets its notifications when the sweep finds it. A
 * failure to enqueue is logged and the run is sealed anyway. Without notifications or result
 * sinks in the config it is the sealer itself: no read more per run.
 */
export async function sealerWithDeliveries(inner: Sealer, ctx: RunDeliveriesContext): Promise<{ sealer: Sealer; close(): Promise<void> }> {
  const names = Object.keys(ctx.config.notifications);
  if (names.length === 0 && Object.keys(ctx.config.resultSinks).length === 0) return { sealer: inner, close: async () => undefined };
  // Built now: a missing `env:` secret stops the scheduler at start, naming the variable.
  const notifiers: Array<readonly [string, NotificationProvider]> = [];
  for (const n of names) notifiers.push([n, await ctx.providers.notification(n)] as const);
  for (const n of Object.keys(ctx.config.resultSinks)) await ctx.providers.resultSink(n);
  const queue = new DeliveryQueue(ctx.redis, ctx.config.namespace);
  const sending = new Set<string>();
  return {
    sealer: {
      seal(runId) {
        if (sending.has(runId)) return;
        sending.add(runId);
        runEndDeliveries(ctx, runId, notifiers)
          .then((d) => queue.enqueue(d))
          .catch((err: unknown) => ctx.logger.warn({ runId, err: coerceError(err).message }, 'enqueueing the run\'s deliveries failed'))
          .finally(() => {
            sending.delete(runId);
            inner.seal(runId);
          });
      },
      checkpoint: (runId) => inner.checkpoint(runId),
    },
    close: () => queue.close(),
  };
}
