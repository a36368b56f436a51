import { FlowProducer, Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { DEFAULT_EXECUTORS, INBOX_QUEUE, coerceError, createLogger, type AgoraConfig, type Logger } from '@agora/core';
import { DeadLetterStore, RunStore, assertScriptCommandsAllowed, closeGateQueueOf, createRedis, type RedisClient } from '@agora/state';
import { ProviderSet } from '@agora/registry';
import { createEvidence, createSealer } from '@agora/evidence';
import { createAgoraMetrics, type AgoraMetrics } from '@agora/metrics';
import { createAgoraTracing, type AgoraTracing } from '@agora/tracing';
import { publishDeployment, startActingTerm } from './acting.js';
import { sealerWithDeadLetters } from './dead-letters.js';
import { sealerWithDeliveries } from './run-deliveries.js';
import { acceptSubmission, type AcceptResult, type IntakeContext } from './intake.js';
import { Admissions } from './admission.js';
import { LeaderLease, LeaseLostError } from './leader-lease.js';
import { Leadership, type ActingTerm } from './leadership.js';
import { startRunSpans } from './run-spans.js';
import { createUpkeep } from './upkeep.js';

export { LeaseLostError } from './leader-lease.js';

export type { SubmissionData } from '@agora/state';

export interface SchedulerOptions {
  readonly config: AgoraConfig;
  /** Global concurrency per plan queue, overriding the config (`--concurrency default=2`). */
  readonly concurrency?: Readonly<Record<string, number>>;
  /** Executor names the runners know. @default ["dispatch", "noop"] */
  readonly executors?: readonly string[];
  /** Plans accepted in parallel. @default 2 */
  readonly inboxConcurrency?: number;
  readonly logger?: Logger;
  /** Items registered per Redis call. @default 1000 */
  readonly registerChunk?: number;
  /** Seal finished runs and checkpoint long ones. @default true */
  readonly sealing?: boolean;
  /**
   * Where the scheduler counts runs and seals, and the source of `agora_queue_jobs`.
   * @default a private registry nobody scrapes
   */
  readonly metrics?: AgoraMetrics;
  /**
   * Where the runs' root spans go (recorded when a run ends). A tracer given here is flushed on
   * close, not shut down. @default one built from `config.tracing`, shut down (flushed) on close
   */
  readonly tracing?: AgoraTracing;
}

export interface Scheduler {
  readonly store: RunStore;
  /** This scheduler's lease holder id (`host:pid:random`), as stored in the leader key. */
  readonly holder: string;
  /** Our fencing epoch while this scheduler holds the lease and acts; undefined on standby. */
  readonly epoch: number | undefined;
  /**
   * Accepts one submission directly (what the inbox worker does per job). Data that is not a
   * submission is `refused`: nothing is written under any run key. Throws `LeaseLostError`,
   * writing nothing more, when this scheduler does not hold the newest lease.
   */
  accept(data: unknown): Promise<{ state: string; problems?: readonly string[] }>;
  /** Stops acting and gives the lease up, so a standby takes over at once. */
  close(): Promise<void>;
}

/**
 * The scheduler takes plans from the inbox queue and accepts them (intake.ts: validate once, pin
 * tasks, record, register, enqueue the DAG as BullMQ flows), and seals finished runs. Several
 * may run; one acts, under a fenced lease in Redis (leadership.ts); the others stand by and take
 * over when it lapses. Only the active one runs the inbox worker and the upkeep (acting.ts).
 */
export async function createScheduler(opts: SchedulerOptions): Promise<Scheduler> {
  const { config } = opts;
  const logger = opts.logger ?? createLogger({ component: 'scheduler' });
  const redis: RedisClient = createRedis(config.redisUrl);
  // As the runner: a command only scripts call, which the Redis user may not run, is refused at start.
  await assertScriptCommandsAllowed(redis, config.namespace).catch((err: unknown) => {
    redis.disconnect();
    throw err;
  });
  const store = new RunStore(redis, config.namespace);
  const prefix = store.keys.bullPrefix;
  const producer = new FlowProducer({ connection: redis, prefix });
  const queues = new Map<string, Queue>();
  const queueFor = (name: string): Queue => queues.get(name) ?? queues.set(name, new Queue(name, { connection: redis, prefix })).get(name)!;
  const executors = opts.executors ?? DEFAULT_EXECUTORS;
  const metrics = opts.metrics ?? createAgoraMetrics();
  const tracing = opts.tracing ?? createAgoraTracing(config.tracing, { component: 'scheduler', logger });
  // Read on scrape only: one getJobCounts per queue.
  metrics.observeQueueJobs(() => Promise.all([INBOX_QUEUE, ...Object.keys(config.queues)].map(async (q) => ({ queue: q, counts: await queueFor(q).getJobCounts() }))));
  // The lease has a connection of its own, so its renewals never wait behind a large acceptance.
  const leaseConn = createRedis(config.redisUrl);
  const lease = new LeaderLease(leaseConn, store.keys, `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`, config.scheduler.leaseMs);
  const fence = (): Promise<void> => leadership.fence();
  const intake: IntakeContext = {
    config,
    logger,
    store,
    producer,
    queueFor,
    executors,
    fence,
    providers: new ProviderSet(config),
    queueNames: Object.keys(config.queues),
    registerChunk: opts.registerChunk ?? 1000,
    epoch: () => lease.epoch,
    metrics,
    admissions: new Admissions(),
  };
  const accept = (data: unknown): Promise<AcceptResult> => acceptSubmission(intake, data);
  const runDeliveries = await runEndSealer({ config, logger, redis, store, metrics, queueFor, fence, providers: intake.providers });
  const sealer = runDeliveries.sealer;
  const upkeep = createUpkeep({ config, logger, redis, store, sealer, queueFor, fence });
  const startTerm = (epoch: number, termNo: number): Promise<ActingTerm> =>
    startSchedulerTerm({ opts, redis, store, executors, queueFor, intake, sealer, metrics, tracing, sweep: upkeep.sweep, fenceTerm: (n) => leadership.fence(n) }, epoch, termNo);
  // A term that has not stopped within a lease is taken for hung (see Leadership.stopTerm).
  const leadership = new Leadership(lease, logger, startTerm, config.scheduler.leaseMs);

  await leadership.tick();
  if (leadership.epoch === undefined) logger.info({ holder: lease.holder, leader: await lease.currentHolder() }, 'scheduler standby');
  // Renewal every third of the lease: two renewals may fail before it lapses. A standby polls as
  // often, so it takes over at most a third of a lease after the old one expires.
  const tick = (): void => void leadership.tick().catch((err: unknown) => logger.warn({ err: coerceError(err).message }, 'scheduler lease step failed'));
  const leaseTimer = setInterval(tick, Math.max(100, Math.floor(config.scheduler.leaseMs / 3)));
  leaseTimer.unref();

  return {
    store,
    holder: lease.holder,
    get epoch() {
      return leadership.epoch;
    },
    accept,
    async close() {
      clearInterval(leaseTimer);
      await leadership.close();
      await leaseConn.quit().catch(() => undefined);
      await producer.close();
      // Gates handles exist where a wake was sent (intake, repair): closed with their queue.
      for (const q of queues.values()) await Promise.all([closeGateQueueOf(q), q.close()]);
      await runDeliveries.close();
      await redis.quit().catch(() => undefined);
      // Last: the root spans of runs that ended just now go out before the process exits.
      await (opts.tracing ? tracing.forceFlush() : tracing.shutdown()).catch((err: unknown) => logger.warn({ err: coerceError(err).message }, 'could not export the last spans'));
    },
  };
}

/**
 * What a run's end goes through, in order: the dead letters its runners did not write, its
 * notifications (and results of items that never ran), then its seal.
 */
async function runEndSealer(deps: {
  config: AgoraConfig;
  logger: Logger;
  redis: RedisClient;
  store: RunStore;
  metrics: AgoraMetrics;
  queueFor: (name: string) => Queue;
  fence: () => Promise<void>;
  providers: ProviderSet;
}): ReturnType<typeof sealerWithDeliveries> {
  const { config, logger, redis, store, metrics, queueFor, fence } = deps;
  const withDeadLetters = sealerWithDeadLetters(
    createSealer({ evidence: createEvidence({ config, redis, logger }), logger, fence, quiet: (err) => err instanceof LeaseLostError, onSealed: () => metrics.runsSealed.inc() }),
    { config, logger, store, deadLetters: new DeadLetterStore(redis, config.namespace), metrics, queueFor },
  );
  return sealerWithDeliveries(withDeadLetters, { config, logger, store, providers: deps.providers, redis });
}

/** What one acting term needs from its scheduler (built once by `createScheduler`). */
interface TermContext {
  readonly opts: SchedulerOptions;
  readonly redis: RedisClient;
  readonly store: RunStore;
  readonly executors: readonly string[];
  readonly queueFor: (name: string) => Queue;
  readonly intake: IntakeContext;
  readonly sealer: Parameters<typeof startActingTerm>[0]['sealer'];
  readonly metrics: AgoraMetrics;
  readonly tracing: AgoraTracing;
  readonly sweep: Parameters<typeof startActingTerm>[0]['sweep'];
  /** Throws unless term `termNo` is still the one acting (Leadership.fence). */
  readonly fenceTerm: (termNo: number) => Promise<void>;
}

/**
 * One acting term: publish the deployment, take the inbox (its acceptances fenced on this term)
 * and follow run spans. Stopped when the lease is lost, or abandoned when its stop hangs.
 */
async function startSchedulerTerm(t: TermContext, epoch: number, termNo: number): Promise<ActingTerm> {
  const { opts, intake } = t;
  const { config, logger } = intake;
  await publishDeployment({ redis: t.redis, store: t.store, config, executors: t.executors, queueFor: t.queueFor }, opts.concurrency);
  // The inbox worker's acceptances fence on this term: one left over from a term that did not
  // stop in time writes nothing once the next term (here, maybe under the same epoch) acts.
  const termIntake: IntakeContext = { ...intake, fence: () => t.fenceTerm(termNo) };
  const acceptInTerm = (data: unknown): Promise<AcceptResult> => acceptSubmission(termIntake, data);
  const term = await startActingTerm({ config, logger, store: t.store, sealer: t.sealer, metrics: t.metrics, accept: acceptInTerm, sweep: t.sweep, inboxConcurrency: opts.inboxConcurrency ?? 2, sealing: opts.sealing !== false });
  const runSpans = await startRunSpans({ config, logger, store: t.store, tracing: t.tracing }).catch(async (err: unknown) => {
    await term.stop();
    throw err;
  });
  logger.debug({ epoch }, 'acting');
  // Admissions in memory belong to this term: the next term (here or elsewhere) rebuilds them
  // from Redis. Cleared when it stops, or when it is abandoned (then not again if its stop ends
  // late, under the next term).
  let abandoned = false;
  return {
    stop: () =>
      runSpans
        .stop()
        .then(() => term.stop())
        .finally(() => {
          if (!abandoned) intake.admissions.clear();
        }),
    abandon: () => {
      abandoned = true;
      term.abandon?.();
      intake.admissions.clear();
    },
  };
}
