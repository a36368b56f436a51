import { FlowProducer, Queue, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import {
  DEFAULT_EXECUTORS,
  INBOX_QUEUE,
  itemJobId,
  coerceError,
  createLogger,
  validatePlan,
  type AgoraConfig,
  type Logger,
  type Plan,
} from '@agora/core';
import { RunStore, createRedis, itemInputsHash, liveRunners, localStorageAcrossHosts, submissionProblems, wakeJobs, isRedisCluster, type RedisClient, type RegisteredItem, type SubmissionData } from '@agora/state';
import { ProviderSet, resolveTaskRef } from '@agora/registry';
import { createEvidence } from '@agora/evidence';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { isTerminalRunState } from '@agora/core';
import { buildFlows } from './flows.js';
import { repairStrandedItems } from './repair.js';
import { LeaderLease, LeaseLostError } from './leader-lease.js';

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
 * The scheduler takes plans from the inbox queue, validates them, records the run, and adds the
 * DAG as BullMQ flows. Every step is idempotent and records its progress in the run hash, so a
 * scheduler killed half-way through a plan resumes it when the inbox job is retried.
 *
 * Several schedulers may run; one acts, under a lease in Redis (`scheduler.leaseMs`). The others
 * stand by and take the lease when it expires. Only the active one runs the inbox worker and
 * seals; on losing the lease it stops both at once, and every write of an acceptance is preceded
 * by a check of the fencing epoch, so a scheduler paused past its lease writes nothing after it
 * wakes. The resolution: a scheduler resumed between its check and its write may finish that one
 * write, which the chunked, idempotent registration and the job ids make harmless.
 */
export async function createScheduler(opts: SchedulerOptions): Promise<Scheduler> {
  const { config } = opts;
  const logger = opts.logger ?? createLogger({ component: 'scheduler' });
  const redis: RedisClient = createRedis(config.redisUrl);
  const store = new RunStore(redis, config.namespace);
  const prefix = store.keys.bullPrefix;
  const connection = redis;
  const producer = new FlowProducer({ connection, prefix });
  const queues = new Map<string, Queue>();
  const queueNames = Object.keys(config.queues);
  const registerChunk = opts.registerChunk ?? 1000;
  const executors = opts.executors ?? DEFAULT_EXECUTORS;
  for (const name of queueNames) queues.set(name, new Queue(name, { connection, prefix }));

  // The lease has a connection of its own, so its renewals never wait behind a large acceptance.
  const leaseConn = createRedis(config.redisUrl);
  const lease = new LeaderLease(leaseConn, store.keys, `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`, config.scheduler.leaseMs);

  /**
   * Refuses to go on unless we hold the newest lease: called before every write of an acceptance.
   * One GET per chunk of a thousand items. A lease past its local deadline (the process was
   * paused, say) is renewed first, which fails if another scheduler took it meanwhile.
   */
  async function fence(): Promise<void> {
    const epoch = lease.epoch;
    if (epoch === undefined || closing) throw new LeaseLostError('this scheduler is not the active one (standby or stopping)');
    if (lease.expiredLocally && !(await lease.renew().catch(() => false))) {
      loseLease('lease expired and could not be renewed');
      throw new LeaseLostError(`scheduler lease of epoch ${epoch} expired and was taken over`, epoch);
    }
    const newest = await lease.newestEpoch();
    if (newest !== String(epoch) || lease.epoch !== epoch) {
      loseLease(`epoch moved to ${newest ?? 'none'}`);
      throw new LeaseLostError(`scheduler epoch ${epoch} is stale (newest is ${newest ?? 'none'}); stopped`, epoch, newest);
    }
  }

  /** What the active scheduler writes on taking the lease: queue settings and the deployment. */
  async function publishDeployment(): Promise<void> {
    for (const name of queueNames) {
      const q = queues.get(name)!;
      const n = opts.concurrency?.[name] ?? config.queues[name]?.concurrency;
      // Global concurrency is stored on the queue in Redis, so it holds across every runner.
      if (n !== undefined) await q.setGlobalConcurrency(n);
      else await q.removeGlobalConcurrency();
    }
    await redis.sadd(store.keys.queues, INBOX_QUEUE, ...queueNames);
    // What this deployment accepts, so clients refuse a plan the scheduler would reject before
    // anything is enqueued (tasks registered in storage are checked here, at acceptance).
    await redis.hset(store.keys.deployment, {
      queues: JSON.stringify(queueNames),
      targets: JSON.stringify(Object.keys(config.targets)),
      executors: JSON.stringify(executors),
      tasks: JSON.stringify(Object.keys(config.tasks)),
      updatedAt: new Date().toISOString(),
    });
  }
  const queueFor = (name: string): Queue => {
    let q = queues.get(name);
    if (!q) queues.set(name, (q = new Queue(name, { connection, prefix })));
    return q;
  };

  const itemJobOptions = {
    attempts: config.runner.attempts,
    backoff: { type: 'exponential', delay: config.runner.backoffMs },
    removeOnComplete: { count: config.runner.keepCompleted },
    removeOnFail: { count: config.runner.keepFailed },
  } as const;

  const providers = new ProviderSet(config);

  /**
   * Lets timers run between the long synchronous steps of a large acceptance (validation,
   * hashing, flow building: seconds for 100,000 items), so the lease is renewed meanwhile: a
   * scheduler that blocked past its lease on every attempt would hand a large plan back and forth.
   */
  const breathe = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  /**
   * Pins each dispatch item's task to the hash registered in storage now, so retries and
   * recoveries of this run use exactly the definition it was accepted with (seed 000's
   * resolveByHash). Tasks only in the config file are not pinned. An item whose task is neither
   * registered nor configured, or is both (a registered task may not silently shadow a
   * configured one), is a problem: the run is rejected here, before any lock is taken.
   */
  async function pinTasks(plan: Plan): Promise<{ refs: Map<string, string>; problems: string[] }> {
    const names = new Map<string, number>();
    const problems: string[] = [];
    plan.items.forEach((it, i) => {
      if (it.executor !== 'dispatch') return;
      const n = it.inputs['task'] ?? it.inputs['subagent'];
      if (typeof n === 'string') {
        if (!names.has(n)) names.set(n, i);
      } else {
        problems.push(`items[${i}] (${JSON.stringify(it.id)}): dispatch needs inputs.task naming a task`);
      }
    });
    const refs = new Map<string, string>();
    if (names.size === 0) return { refs, problems };
    const storage = await providers.storage();
    for (const [n, i] of names) {
      const ref = await resolveTaskRef(storage, config.namespace, n);
      const configured = Object.hasOwn(config.tasks, n);
      const where = `items[${i}] (${JSON.stringify(plan.items[i]!.id)})`;
      if (ref && configured) problems.push(`${where}: task "${n}" is both in the config and registered in storage; remove one of them`);
      else if (ref) refs.set(n, ref);
      else if (!configured) problems.push(`${where}: unknown task "${n}" (configured: ${Object.keys(config.tasks).join(', ') || 'none'}; none registered by that name)`);
    }
    return { refs, problems };
  }

  async function accept(data: unknown): Promise<{ state: string; problems?: readonly string[] }> {
    await fence();
    const envelope = submissionProblems(data);
    if (envelope.length > 0) {
      // Not a submission: its run id cannot be trusted as a key, so nothing is recorded under one.
      logger.warn({ problems: envelope }, 'inbox job refused');
      return { state: 'refused', problems: envelope };
    }
    const sub = data as SubmissionData;
    const { runId } = sub;
    const v = validatePlan(sub.plan, {
      executors,
      queues: queueNames,
      targets: Object.keys(config.targets),
    });
    if (!v.ok) {
      const rawId = (sub.plan as { id?: unknown } | null)?.id;
      const planId = typeof rawId === 'string' ? rawId.slice(0, 128).toWellFormed() : '';
      await fence();
      await store.rejectRun(runId, planId, v.problems);
      logger.warn({ runId, problems: v.problems.length }, 'plan rejected');
      return { state: 'rejected', problems: v.problems };
    }
    const plan: Plan = v.plan;
    const started = Date.now();
    await breathe();
    const inputsHashes = new Map<string, string>();
    const unhashable: string[] = [];
    for (let i = 0; i < plan.items.length; i++) {
      const it = plan.items[i]!;
      if (i % 2000 === 1999) await breathe();
      try {
        inputsHashes.set(it.id, itemInputsHash(it.inputs));
      } catch (err) {
        unhashable.push(`items[${i}] (${JSON.stringify(it.id)}): inputs cannot be canonicalised (RFC 8785): ${coerceError(err).message}`);
      }
    }
    const pins = await pinTasks(plan);
    const refused = [...unhashable, ...pins.problems];
    if (refused.length > 0) {
      await fence();
      await store.rejectRun(runId, plan.id, refused);
      logger.warn({ runId, problems: refused.length }, 'plan rejected');
      return { state: 'rejected', problems: refused };
    }
    await fence();
    const init = await store.initRun(runId, {
      total: plan.items.length,
      queue: plan.queue,
      planId: plan.id,
      fields: { submittedAt: sub.submittedAt },
    });
    if (init.state !== 'accepted' && init.state !== 'running') return { state: init.state };

    // Pins are stored with the run once, so an acceptance resumed after a crash uses the same ones.
    // `schedulerEpoch`: the epoch of the scheduler that last worked on the acceptance.
    const metaKey = store.keys.run(runId).meta;
    await fence();
    await redis.hsetnx(metaKey, 'taskRefs', JSON.stringify([...pins.refs]));
    await redis.hset(metaKey, 'schedulerEpoch', String(lease.epoch));
    if (init.registered > 0 || init.flowChunks > 0) logger.info({ runId, registeredChunks: init.registered, flowChunks: init.flowChunks, epoch: lease.epoch }, 'acceptance resumed');
    const taskRefs = new Map<string, string>(JSON.parse((await redis.hget(metaKey, 'taskRefs')) ?? '[]') as Array<[string, string]>);

    // Dependents lists and counters for the run-state cascade.
    const taskField = (it: Plan['items'][number]): { taskRef?: string } => {
      const n = it.executor === 'dispatch' ? (it.inputs['task'] ?? it.inputs['subagent']) : undefined;
      const ref = typeof n === 'string' ? taskRefs.get(n) : undefined;
      return ref ? { taskRef: ref } : {};
    };
    const flows = buildFlows(plan, runId, { itemJobOptions, taskRefs, inputsHashes });
    await breathe();
    const dependents = new Map<string, string[]>();
    for (const it of plan.items) for (const d of it.depends_on) (dependents.get(d) ?? dependents.set(d, []).get(d)!).push(it.id);
    for (let c = init.registered; c * registerChunk < plan.items.length; c++) {
      const slice = plan.items.slice(c * registerChunk, (c + 1) * registerChunk);
      const reg: RegisteredItem[] = slice.map((it, j) => ({
        id: it.id,
        jobId: itemJobId(runId, c * registerChunk + j),
        depCount: it.depends_on.length,
        dependents: dependents.get(it.id) ?? [],
        ...(flows.wakeJobs.has(it.id) ? { wakeJob: flows.wakeJobs.get(it.id)! } : {}),
        definitionHash: flows.definitionHashes.get(it.id)!,
        fields: {
          executor: it.executor,
          // What the runner is held to: the job's data must hash to this, or nothing runs.
          definitionHash: flows.definitionHashes.get(it.id)!,
          // The inputs themselves stay out of the stream (size, and secrets must never be
          // copied there); their RFC 8785 hash proves which inputs ran, given the plan.
          inputsHash: inputsHashes.get(it.id)!,
          ...(it.depends_on.length > 0 ? { depends_on: it.depends_on } : {}),
          ...(it.resourceLocks.length > 0 ? { resourceLocks: it.resourceLocks } : {}),
          ...taskField(it),
        },
      }));
      await fence();
      await store.registerItems(runId, c, reg);
    }

    await fence();
    await store.markRunning(runId);
    for (let c = init.flowChunks; c < flows.chunks.length; c++) {
      const chunk = flows.chunks[c]!;
      // Lone jobs (no children) go through Queue.addBulk, which skips the flow machinery; trees
      // through the flow producer. Each is one MULTI, and job ids make a repeat after a crash a no-op.
      const lone = chunk.flows.filter((f) => !f.children?.length);
      const trees = chunk.flows.filter((f) => f.children?.length);
      // Checked before each chunk: an old scheduler must not re-add jobs that ran and were
      // removed since (a job id only makes a repeat a no-op while the job is kept).
      await fence();
      if (lone.length > 0) await queueFor(plan.queue).addBulk(lone.map((f) => ({ name: f.name, data: f.data as unknown, opts: f.opts ?? {} })));
      if (trees.length > 0) await producer.addBulk(trees);
      // A parked job added after its last dependency ended was not there to be woken by the
      // runner that ended it: wake those here. (Runner: write state, then wake; we: add, then read.)
      if (chunk.parked.length > 0) {
        const left = await store.dependenciesLeft(runId, chunk.parked.map((p) => p.itemId));
        const ready = chunk.parked.filter((_, i) => left[i]! <= 0);
        if (ready.length > 0) await wakeJobs(queueFor(plan.queue), ready.map((p) => p.jobId));
      }
      await store.markRunning(runId, c + 1);
    }
    await fence();
    await redis.hset(metaKey, 'enqueuedAt', new Date().toISOString(), 'flowChunksTotal', flows.chunks.length);
    logger.info(
      { runId, planId: plan.id, items: plan.items.length, wakeEdges: flows.wakeEdges, chunks: flows.chunks.length, ms: Date.now() - started },
      'run accepted',
    );
    return { state: 'running' };
  }

  // Sealing: a run is sealed as soon as it ends (pub/sub), and a sweep catches any message
  // missed while no scheduler was active, and checkpoints long-running runs.
  const evidence = createEvidence({ config, redis, logger });
  const sealing = new Set<string>();
  const seal = (runId: string): void => {
    if (sealing.has(runId) || lease.epoch === undefined) return;
    sealing.add(runId);
    fence()
      .then(() => evidence.sealRun(runId))
      .catch((err: unknown) => {
        if (!(err instanceof LeaseLostError)) logger.error({ runId, err: coerceError(err).message }, 'sealing failed');
      })
      .finally(() => sealing.delete(runId));
  };
  /** Per running run: the last event count seen and since when, to tell a stalled run. */
  const progress = new Map<string, { seq: string; since: number }>();
  /**
   * Each run's state, event count, queue and whether it is sealed: one pipeline on one Redis. On
   * a cluster a pipeline may not span nodes; the run keys share their namespace's tag today, but
   * this read does not lean on the key layout: there the commands go out together without a
   * pipeline (still one round trip's worth of waiting).
   */
  async function lookAtRuns(ids: readonly string[]): Promise<Array<{ state: string | null; seq: string | null; queue: string | null; sealed: boolean }>> {
    if (isRedisCluster(redis)) {
      return Promise.all(
        ids.map(async (id) => {
          const [[state, seq, queue], sealed] = await Promise.all([redis.hmget(store.keys.run(id).meta, 'state', 'seq', 'queue'), redis.hexists(store.keys.run(id).audit, 'sealed')]);
          return { state: state ?? null, seq: seq ?? null, queue: queue ?? null, sealed: sealed === 1 };
        }),
      );
    }
    const pipe = redis.pipeline();
    for (const id of ids) pipe.hmget(store.keys.run(id).meta, 'state', 'seq', 'queue').hexists(store.keys.run(id).audit, 'sealed');
    const res = (await pipe.exec()) ?? [];
    return ids.map((_, i) => {
      const [state, seq, queue] = (res[2 * i]?.[1] ?? []) as Array<string | null>;
      return { state: state ?? null, seq: seq ?? null, queue: queue ?? null, sealed: res[2 * i + 1]?.[1] === 1 };
    });
  }

  async function sweep(): Promise<void> {
    await warnAboutFleet();
    const ids = await redis.zrevrange(store.keys.runs, 0, 999);
    if (ids.length === 0) return;
    const looks = await lookAtRuns(ids);
    const seen = new Set<string>();
    for (let i = 0; i < ids.length; i++) {
      const runId = ids[i]!;
      const { state, seq, queue, sealed } = looks[i]!;
      if (state && isTerminalRunState(state) && !sealed) seal(runId);
      else if (state === 'running') {
        seen.add(runId);
        await fence();
        await evidence.checkpointRun(runId).catch((err: unknown) => logger.warn({ runId, err: coerceError(err).message }, 'checkpoint failed'));
        // No item is ever stranded: a run whose stream stopped moving has its items' jobs checked.
        const p = progress.get(runId);
        if (!p || p.seq !== seq) progress.set(runId, { seq: seq ?? '', since: Date.now() });
        else if (Date.now() - p.since >= config.scheduler.repairAfterMs && queue) {
          p.since = Date.now();
          await fence();
          const ended = await repairStrandedItems(store, queueFor(queue), runId, logger).catch((err: unknown) => {
            logger.warn({ runId, err: coerceError(err).message }, 'repair of stranded items failed');
            return 0;
          });
          if (ended > 0) logger.warn({ runId, ended }, 'ended items whose jobs were lost');
        }
      }
    }
    for (const id of progress.keys()) if (!seen.has(id)) progress.delete(id);
  }

  /** Loudly, at once and every 5 minutes while it lasts: results stored where other hosts cannot read them. */
  let fleetWarning: { message: string; at: number } | undefined;
  async function warnAboutFleet(): Promise<void> {
    const message = localStorageAcrossHosts(await liveRunners(redis, config.namespace));
    if (!message) {
      fleetWarning = undefined;
      return;
    }
    if (fleetWarning?.message === message && Date.now() - fleetWarning.at < 300_000) return;
    fleetWarning = { message, at: Date.now() };
    logger.warn({ problem: 'local-storage-across-hosts' }, message);
  }

  const inboxLockMs = config.scheduler.inboxLockMs ?? config.scheduler.leaseMs;
  const inboxStalledMs = config.scheduler.inboxStalledIntervalMs ?? Math.max(500, Math.floor(inboxLockMs / 2));

  /** What runs only while this scheduler holds the lease. */
  interface Acting {
    readonly epoch: number;
    readonly inbox: Worker;
    readonly inboxConn: RedisClient;
    sealSub?: RedisClient;
    sweepTimer?: NodeJS.Timeout;
  }
  let acting: Acting | undefined;
  let stopped: Promise<void> = Promise.resolve();
  let closing = false;

  async function startActing(epoch: number): Promise<void> {
    await publishDeployment();
    const inboxConn = createRedis(config.redisUrl);
    const inbox = new Worker(
      INBOX_QUEUE,
      async (job: Job, token?: string) => {
        let r: Awaited<ReturnType<typeof accept>>;
        try {
          r = await accept(job.data);
        } catch (err) {
          if (!(err instanceof LeaseLostError)) throw err;
          // Not a failed attempt: the plan goes back to the inbox for the scheduler that holds the
          // lease now, which resumes it from the progress in the run hash. If that one already
          // took the job (its lock expired), the move is refused and nothing changes.
          if (token !== undefined) await job.moveToWait(token).catch(() => undefined);
          throw new WaitingError();
        }
        // Shown as the failed job's reason in Bull Board; never retried.
        if (r.state === 'refused') throw new UnrecoverableError(`inbox job refused: ${(r.problems ?? []).join('; ')}`);
        return r;
      },
      {
        connection: inboxConn,
        prefix,
        concurrency: opts.inboxConcurrency ?? 2,
        // A plan whose scheduler died is found stalled within about inboxLockMs + 2 stalled intervals,
        // and taken up by the next active one; acceptance resumes, so a few stalls are harmless.
        lockDuration: inboxLockMs,
        stalledInterval: inboxStalledMs,
        maxStalledCount: 5,
      },
    );
    inbox.on('failed', (job, err) => logger.error({ jobId: job?.id, err: coerceError(err).message }, 'accepting plan failed'));
    inbox.on('error', (err) => logger.error({ err: coerceError(err).message }, 'inbox worker error'));
    // Recorded at once, so a failure below (or a loss of the lease meanwhile) stops what started.
    const a: Acting = (acting = { epoch, inbox, inboxConn });
    if (opts.sealing !== false) {
      const sealSub = (a.sealSub = createRedis(config.redisUrl));
      await sealSub.subscribe(store.keys.finishedChannel);
      sealSub.on('message', (_c: string, runId: string) => seal(runId));
      const every = Math.min(5000, Math.floor(config.audit.checkpointEveryMs / 2));
      const sweepTimer = (a.sweepTimer = setInterval(
        () =>
          void sweep().catch((err: unknown) => {
            if (!(err instanceof LeaseLostError)) logger.warn({ err: coerceError(err).message }, 'seal sweep failed');
          }),
        every,
      ));
      sweepTimer.unref();
      // At once too: runs that ended while no scheduler was active are sealed without waiting.
      void sweep().catch(() => undefined);
    }
    if (acting !== a || lease.epoch !== epoch) throw new LeaseLostError(`scheduler lease of epoch ${epoch} was lost while starting`, epoch);
  }

  /**
   * Stops the inbox worker and sealing. Not awaited where it is found (inside an acceptance the
   * worker's close waits for): `stopped` settles once everything is down.
   */
  function stopActing(): void {
    const a = acting;
    acting = undefined;
    if (!a) return;
    if (a.sweepTimer) clearInterval(a.sweepTimer);
    stopped = stopped.then(async () => {
      await a.sealSub?.quit().catch(() => undefined);
      // Not forced: an acceptance in flight stops at its next fence check and returns its job.
      await a.inbox.close().catch((err: unknown) => logger.warn({ err: coerceError(err).message }, 'closing the inbox worker failed'));
      await a.inboxConn.quit().catch(() => undefined);
    });
  }

  function loseLease(reason: string): void {
    const epoch = lease.epoch ?? acting?.epoch;
    lease.drop();
    if (epoch === undefined && !acting) return;
    logger.warn({ epoch, reason, holder: lease.holder }, 'scheduler lost its lease');
    stopActing();
    if (!closing) logger.info({ holder: lease.holder }, 'scheduler standby');
  }

  let ticking = false;
  /** One lease step: renew while active, else try to take over. Never overlaps itself. */
  async function tick(): Promise<void> {
    if (ticking || closing) return;
    ticking = true;
    try {
      if (lease.epoch !== undefined) {
        let held: boolean;
        try {
          held = await lease.renew();
        } catch (err) {
          // Redis unreachable: keep acting while the lease can still be ours, not beyond.
          held = !lease.expiredLocally;
          if (!held) logger.warn({ err: coerceError(err).message }, 'scheduler lease renewal failed');
        }
        if (!held) loseLease('renewal found the lease gone or taken');
        return;
      }
      // A previous term must be fully down before a new one starts its worker.
      await stopped;
      const epoch = await lease.tryAcquire();
      if (epoch === undefined || closing) return;
      try {
        await startActing(epoch);
      } catch (err) {
        logger.error({ epoch, err: coerceError(err).message }, 'scheduler could not start acting; giving the lease up');
        stopActing();
        await lease.release().catch(() => undefined);
        return;
      }
      logger.info({ epoch, holder: lease.holder, leaseMs: lease.ttlMs }, `scheduler active (epoch ${epoch})`);
    } finally {
      ticking = false;
    }
  }

  await tick();
  if (lease.epoch === undefined) logger.info({ holder: lease.holder, leader: await lease.currentHolder() }, 'scheduler standby');
  // Renewal every third of the lease: two renewals may fail before it lapses. A standby polls as
  // often, so it takes over at most a third of a lease after the old one expires.
  const leaseTimer = setInterval(() => void tick().catch((err: unknown) => logger.warn({ err: coerceError(err).message }, 'scheduler lease step failed')), Math.max(100, Math.floor(config.scheduler.leaseMs / 3)));
  leaseTimer.unref();

  return {
    store,
    holder: lease.holder,
    get epoch() {
      return lease.epoch;
    },
    accept,
    async close() {
      closing = true;
      clearInterval(leaseTimer);
      if (lease.epoch !== undefined) logger.info({ epoch: lease.epoch, holder: lease.holder }, 'scheduler stepping down');
      stopActing();
      await stopped;
      if (lease.epoch !== undefined) await lease.release().catch(() => undefined);
      await leaseConn.quit().catch(() => undefined);
      await producer.close();
      for (const q of queues.values()) await q.close();
      await redis.quit().catch(() => undefined);
    },
  };
}
