import { DelayedError, Worker } from 'bullmq';
import { coerceError, isItemId, isRunId, isTerminalItemState } from '@agora/core';
import { DEP_PARK_MS, createRedis, gateJobDataSchema, gateQueueName, itemBackoffStrategy, type GateJobData, type ItemJobData, type RedisClient } from '@agora/state';
import { endItem, processItem, type RunnerContext } from './item-lifecycle.js';

/**
 * One BullMQ worker per plan queue, each on its own connection (a worker blocks on BZPOPMIN).
 * BullMQ's own stall limit is lifted: a job it failed for stalling too often would be failed
 * outside any processor, recorded nowhere, and its item would stay "running" forever. The stall
 * budget is ours instead (runner.maxStalls, counted by the start script, ending the item STALLED).
 */
export function startItemWorkers(ctx: RunnerContext, queueNames: readonly string[], concurrency: number): Worker[] {
  const { config, logger, store } = ctx;
  return queueNames.map((q) => {
    const w = new Worker<ItemJobData>(q, (job, token) => processItem(ctx, job, token), {
      prefix: store.keys.bullPrefix,
      concurrency,
      lockDuration: config.runner.jobLockMs,
      stalledInterval: config.runner.stalledIntervalMs,
      maxStalledCount: 1_000_000,
      // Item jobs name the `agora-retry` back-off: their policy's delay, capped and jittered.
      settings: { backoffStrategy: itemBackoffStrategy },
      connection: createRedis(config.redisUrl),
    });
    // A job BullMQ failed outside our processor (a Redis error on the last attempt) must still
    // end its item, or its dependents would wait forever. Only a job failed for good (not one
    // that will be retried) whose item is not yet ended.
    w.on('failed', (job, err) => {
      if (!job) return;
      const d = job.data as Partial<ItemJobData>;
      if (!isRunId(d.runId) || !isItemId(d.itemId)) return;
      const item = { runId: d.runId, itemId: d.itemId };
      void job
        .isFailed()
        .then(async (final) => (final ? (await store.itemStates(item.runId, [item.itemId]))[0] : 'retrying'))
        .then((s) =>
          s === 'retrying' || isTerminalItemState(s) ? undefined : endItem(ctx, q, item, 'failed', { fields: { error: `job failed in queue: ${err.message}`, errorCode: 'QUEUE' } }),
        )
        .catch((e: unknown) => logger.error({ runId: item.runId, itemId: item.itemId, err: coerceError(e).message }, 'could not record failed job'));
    });
    w.on('error', (err) => logger.error({ queue: q, err: err.message }, 'worker error'));
    return w;
  });
}

/** Closes a worker's own connection (BullMQ leaves a connection it was given open). */
export async function closeWorkerConnection(w: Worker): Promise<void> {
  await (w.opts.connection as RedisClient).quit?.().catch(() => undefined);
}

/**
 * One worker per plan queue for its gates (libs/state `gateQueueName`): a gate is promoted when
 * its item's last dependency ends, or fires on its own after `DEP_PARK_MS` (the safety net for
 * a wake lost to a crash). It completes (BullMQ then moves the item job to wait) only if the
 * item's dependencies have all ended; otherwise it is delayed again.
 */
export function startGateWorkers(ctx: Pick<RunnerContext, 'config' | 'logger' | 'store'>, queueNames: readonly string[]): Worker[] {
  const { config, logger, store } = ctx;
  return queueNames.map((q) => {
    const w = new Worker<GateJobData>(
      gateQueueName(q),
      async (job, token) => {
        const gate = gateJobDataSchema.safeParse(job.data);
        // Data that does not parse opens the gate: the item's start script checks its dependencies anyway.
        if (!gate.success) return 'open';
        // Promoted before its timer: woken by whoever saw the item's last dependency end (every
        // wake follows that check), so no second look. A gate that fired on its timer looks.
        if (Date.now() < job.timestamp + DEP_PARK_MS) return 'open';
        const [left] = await store.dependenciesLeft(gate.data.runId, [gate.data.itemId]);
        if ((left ?? 0) <= 0) return 'open';
        await job.moveToDelayed(Date.now() + DEP_PARK_MS, token);
        throw new DelayedError();
      },
      { prefix: store.keys.bullPrefix, concurrency: 16, lockDuration: config.runner.jobLockMs, connection: createRedis(config.redisUrl) },
    );
    w.on('error', (err) => logger.error({ queue: gateQueueName(q), err: err.message }, 'gate worker error'));
    return w;
  });
}
