import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { AgoraError, DELIVERIES_QUEUE, coerceError, keys as buildKeys, type AgoraNotification, type DispatchResult, type Logger, type NotificationProvider, type ResultSink } from '@agora/core';
import { createRedis, type RedisClient } from '@agora/state';
import type { AgoraMetrics } from '@agora/metrics';
import { parseDeliveryJob, subjectOf, type DeliveryJob } from './delivery-jobs.js';
import type { DeliveryDeadLetterStore } from './delivery-dead-letters.js';

/** Where the worker finds a delivery's target by its config name (a ProviderSet does this). */
export interface DeliveryTargets {
  resultSink(name: string): Promise<ResultSink>;
  notification(name: string): Promise<NotificationProvider>;
}

export interface DeliveryWorkerOptions {
  readonly redisUrl: string;
  readonly namespace: string;
  readonly targets: DeliveryTargets;
  readonly deadLetters: DeliveryDeadLetterStore;
  /** Delivery dead letters kept (oldest dropped past it). @default 10000 */
  readonly maxDeadLetters?: number;
  readonly logger: Logger;
  readonly metrics?: Pick<AgoraMetrics, 'deliveries'>;
  /** Deliveries in flight at once in this process. @default 4 */
  readonly concurrency?: number;
  /** A worker silent this long loses its deliveries to another (the runner's `jobLockMs`). @default 30000 */
  readonly lockMs?: number;
  /** How often stalled deliveries are looked for (the runner's `stalledIntervalMs`). @default 30000 */
  readonly stalledIntervalMs?: number;
}

/**
 * One try of one delivery: the target's `collect`/`notify`. (The casts only drop zod's
 * `| undefined` from optional fields: data parsed from JSON has no undefined values.)
 */
async function tryDelivery(targets: DeliveryTargets, job: DeliveryJob, delivery: { id: string; attempt: number }): Promise<void> {
  if (job.kind === 'result') {
    const sink = await targets.resultSink(job.target);
    await sink.collect(job.result as DispatchResult, delivery);
  } else {
    const n = await targets.notification(job.target);
    await n.notify(job.notification as AgoraNotification, delivery);
  }
}

/**
 * The delivery worker (the runner starts one): takes deliveries from the `_deliveries` queue and
 * makes one try each; BullMQ retries a failed try after its back-off. After the last try, or at
 * once for an error that is not `retryable` (a 4xx answer, an unknown target, a body over the
 * limit), it writes the delivery's dead letter and fails the job for good. Job data is parsed
 * before use; data that is not a delivery is failed without a try.
 */
export function startDeliveryWorker(opts: DeliveryWorkerOptions): { readonly worker: Worker; close(): Promise<void> } {
  const { logger } = opts;
  const connection: RedisClient = createRedis(opts.redisUrl);
  const worker = new Worker(
    DELIVERIES_QUEUE,
    async (job: Job) => {
      let d: DeliveryJob;
      try {
        d = parseDeliveryJob(job.data);
      } catch (err) {
        throw new UnrecoverableError(`delivery job ${String(job.id)} refused: ${coerceError(err).message}`);
      }
      const attempt = job.attemptsMade + 1;
      const id = job.id!;
      const subject = subjectOf(d);
      try {
        await tryDelivery(opts.targets, d, { id, attempt });
        opts.metrics?.deliveries.inc({ kind: d.kind, outcome: 'delivered' });
        logger.debug({ delivery: id, target: d.target, ...subject, attempt }, 'delivered');
        return { attempt };
      } catch (err) {
        const e = coerceError(err);
        // An error that does not say (a third-party provider's) is worth another try.
        const retryable = e instanceof AgoraError ? e.retryable : true;
        const detail = e as Error & { host?: unknown; status?: unknown };
        const status = typeof detail.status === 'number' ? detail.status : undefined;
        if (retryable && attempt < (job.opts.attempts ?? 1)) {
          opts.metrics?.deliveries.inc({ kind: d.kind, outcome: 'retried' });
          logger.warn({ delivery: id, target: d.target, ...subject, attempt, status, err: e.message }, 'delivery failed; will retry');
          throw e;
        }
        // Counted before the letter is written: whoever sees the letter sees the count.
        opts.metrics?.deliveries.inc({ kind: d.kind, outcome: 'dead' });
        await opts.deadLetters
          .put(
            {
              id,
              kind: d.kind,
              target: d.target,
              ...subject,
              host: typeof detail.host === 'string' ? detail.host : '',
              ...(status !== undefined ? { status } : {}),
              error: e.message,
              attempts: attempt,
              failedAt: new Date().toISOString(),
            },
            opts.maxDeadLetters ?? 10_000,
          )
          .catch((werr: unknown) => logger.error({ delivery: id, err: coerceError(werr).message }, 'delivery dead letter not written'));
        logger.error({ delivery: id, target: d.target, ...subject, attempt, status, err: e.message }, 'delivery failed for good: dead-lettered');
        throw new UnrecoverableError(e.message);
      }
    },
    {
      connection,
      prefix: buildKeys(opts.namespace).bullPrefix,
      concurrency: opts.concurrency ?? 4,
      ...(opts.lockMs !== undefined ? { lockDuration: opts.lockMs } : {}),
      ...(opts.stalledIntervalMs !== undefined ? { stalledInterval: opts.stalledIntervalMs } : {}),
      // BullMQ fails a job that stalled twice (its runner died twice during a try) outside any
      // processor: no dead letter, nothing in `agora dlq deliveries`, the delivery silently lost.
      // A try cannot take a runner down, so a stalled delivery is simply tried again (at least
      // once, the same delivery id); its tries stay bounded by `attempts`.
      maxStalledCount: 1_000_000,
    },
  );
  worker.on('error', (err) => logger.error({ err: err.message }, 'delivery worker error'));
  return {
    worker,
    async close() {
      await worker.close();
      await connection.quit().catch(() => undefined);
    },
  };
}
