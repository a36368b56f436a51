import type { AgoraConfig, Logger } from '@agora/core';
import { DeliveryDeadLetterStore, startDeliveryWorker } from '@agora/deliveries';
import type { AgoraMetrics } from '@agora/metrics';
import type { ProviderSet } from '@agora/registry';
import type { RedisClient, RunStore } from '@agora/state';
import { createItemDeliveries, type ItemDeliveries } from './item-deliveries.js';

/**
 * The runner's part in deliveries: telling them of item ends, and the delivery worker that POSTs
 * what is queued (results and notifications, whichever process enqueued them). None of it when
 * the config names no result sink and no notification.
 */
export async function startRunnerDeliveries(opts: {
  config: AgoraConfig;
  providers: ProviderSet;
  redis: RedisClient;
  store: RunStore;
  logger: Logger;
  metrics: AgoraMetrics;
}): Promise<{ items: ItemDeliveries; close(): Promise<void> } | undefined> {
  const items = await createItemDeliveries(opts);
  if (!items) return undefined;
  const { config, providers } = opts;
  const worker = startDeliveryWorker({
    redisUrl: config.redisUrl,
    namespace: config.namespace,
    targets: { resultSink: (n) => providers.resultSink(n), notification: (n) => providers.notification(n) },
    deadLetters: new DeliveryDeadLetterStore(opts.redis, config.namespace),
    maxDeadLetters: config.deadLetters.maxRecords,
    lockMs: config.runner.jobLockMs,
    stalledIntervalMs: config.runner.stalledIntervalMs,
    logger: opts.logger,
    metrics: opts.metrics,
  });
  return {
    items,
    async close() {
      // Deliveries in flight finish (each try is bounded by its timeout); queued ones wait in Redis.
      await worker.close();
      await items.close();
    },
  };
}
