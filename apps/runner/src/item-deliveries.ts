import { coerceError, type AgoraConfig, type DispatchResult, type Logger, type NotificationProvider, type ResultSink } from '@agora/core';
import { DeliveryQueue, deliveryPolicyOf } from '@agora/deliveries';
import type { ItemJobData, RedisClient, RunStore } from '@agora/state';
import type { ProviderSet } from '@agora/registry';

/** The end of an item as the runner wrote it: what its result sink is sent. */
export interface ItemEnd {
  readonly state: DispatchResult['state'];
  readonly resultRef?: string;
  readonly fields?: Readonly<Record<string, unknown>>;
}

/**
 * What the item lifecycle tells the deliveries: an item's end (its result, to the result sink
 * chosen at acceptance) and an item failed for good (`item.failed` notifications). The item's end
 * stands either way. `ended` throws when its result could not be enqueued (Redis refused it): the
 * caller then owes the delivery and has the item's job taken up again to re-send it (see
 * processItem). `failedForGood` does not throw: the scheduler sends `item.failed` at the run's end.
 */
export interface ItemDeliveries {
  ended(d: Pick<ItemJobData, 'runId' | 'itemId' | 'resultSink'>, end: ItemEnd): Promise<void>;
  failedForGood(d: Pick<ItemJobData, 'runId' | 'itemId'>, errorCode: string): Promise<void>;
  close(): Promise<void>;
}

/** The result an item's sink receives. */
export function dispatchResultOf(d: Pick<ItemJobData, 'runId' | 'itemId'>, end: ItemEnd): DispatchResult {
  const f = end.fields ?? {};
  return {
    runId: d.runId,
    itemId: d.itemId,
    state: end.state,
    ...(end.resultRef ? { resultRef: end.resultRef } : {}),
    ...(typeof f['exitCode'] === 'number' ? { exitCode: f['exitCode'] } : {}),
    ...(typeof f['attempt'] === 'number' ? { attempt: f['attempt'] } : {}),
    ...(typeof f['error'] === 'string' ? { error: f['error'].slice(0, 1000) } : {}),
    finishedAt: new Date().toISOString(),
  };
}

/**
 * Builds the runner's deliveries, or none when the config names no result sink and no
 * notification: then an item's end costs nothing more than today (its `item ended` line is the
 * default `stdout` sink). Every configured target is built now, so a missing `env:` secret stops
 * the runner at start, naming the variable.
 */
export async function createItemDeliveries(opts: { config: AgoraConfig; providers: ProviderSet; redis: RedisClient; store: RunStore; logger: Logger }): Promise<ItemDeliveries | undefined> {
  const { config, providers, logger } = opts;
  const sinkNames = Object.keys(config.resultSinks);
  const notificationNames = Object.keys(config.notifications);
  if (sinkNames.length === 0 && notificationNames.length === 0) return undefined;
  const sinks = new Map<string, ResultSink>();
  for (const n of sinkNames) sinks.set(n, await providers.resultSink(n));
  const notifiers: Array<[string, NotificationProvider]> = [];
  for (const n of notificationNames) notifiers.push([n, await providers.notification(n)]);
  const onFailure = notifiers.filter(([, p]) => p.accepts?.('item.failed') ?? true);
  const queue = new DeliveryQueue(opts.redis, config.namespace);
  return {
    async ended(d, end) {
      // Jobs carry a sink only when it is configured: the implicit `stdout` is today's `item ended` line.
      if (d.resultSink === undefined) return;
      const sink = sinks.get(d.resultSink);
      if (!sink) {
        logger.warn({ runId: d.runId, itemId: d.itemId, resultSink: d.resultSink }, 'result not delivered: this runner\'s config has no such result sink');
        return;
      }
      const result = dispatchResultOf(d, end);
      if (sink.delivery !== 'queued') {
        // An inline sink (stdout) writes in this process: nothing in Redis to lose or to retry.
        await sink.collect(result).catch((err: unknown) => {
          logger.warn({ runId: d.runId, itemId: d.itemId, resultSink: d.resultSink, err: coerceError(err).message }, 'result not written');
        });
        return;
      }
      try {
        await queue.enqueue([{ job: { kind: 'result', target: d.resultSink, result }, policy: deliveryPolicyOf(sink) }]);
      } catch (err) {
        // Nobody else sends a done item's result (the scheduler's catch-up at the run's end covers
        // only ends no runner wrote): the caller must see this, not a log line.
        logger.warn({ runId: d.runId, itemId: d.itemId, resultSink: d.resultSink, err: coerceError(err).message }, 'result delivery not enqueued; the item\'s job is taken up again to re-send it');
        throw err;
      }
    },
    async failedForGood(d, errorCode) {
      if (onFailure.length === 0) return;
      try {
        // Off the hot path: only failures pay this read of the run's counts.
        const run = await opts.store.runTrace(d.runId);
        // The counts the scheduler sends with every notification: the ended items by state, and the run's total.
        const notification = { type: 'item.failed' as const, runId: d.runId, itemId: d.itemId, state: 'failed', errorCode, at: new Date().toISOString(), ...(run ? { counts: { ...run.counts, total: run.total } } : {}) };
        await queue.enqueue(onFailure.map(([target, p]) => ({ job: { kind: 'notification' as const, target, notification }, policy: deliveryPolicyOf(p) })));
      } catch (err) {
        logger.warn({ runId: d.runId, itemId: d.itemId, err: coerceError(err).message }, 'item.failed notification not enqueued; the scheduler sends it when the run ends');
      }
    },
    close: () => queue.close(),
  };
}
