import type { FlowProducer, Queue } from 'bullmq';
import { coerceError, formatTraceparent, itemJobId, newTraceContext, configValidateOptions, validatePlan, submittedQueueOf, type AgoraConfig, type Logger, type Plan, type TraceContext } from '@agora/core';
import { itemInputsHash, submissionProblems, wakeJobs, type RegisteredItem, type RetryLevels, type RunStore, type SubmissionData } from '@agora/state';
import { resolvePlanTasks, type ProviderSet } from '@agora/registry';
import type { AgoraMetrics } from '@agora/metrics';
import { buildFlows, type FlowPlan } from './flows.js';
import { admissionFlowOptions, unfinishedJobs, type Admissions, type PendingAdmission } from './admission.js';
import { resolveRetryPolicies, retryLevels, retryPolicyProblems } from './retry-policies.js';
import { endStandIns, replayProblems, replaySubmission } from './replay.js';
import { resolveResultSinks } from './result-sinks.js';
import { memoBases, planTasks, taskHashes } from './memoize.js';
import { notePlan, reuseCandidates, rerunSubmission } from './rerun.js';
import { recordPlan } from './plan-record.js';

/** What the intake needs from its scheduler. */
export interface IntakeContext {
  readonly config: AgoraConfig;
  readonly logger: Logger;
  readonly store: RunStore;
  readonly providers: ProviderSet;
  readonly producer: FlowProducer;
  queueFor(name: string): Queue;
  /** Plan queues of this deployment. */
  readonly queueNames: readonly string[];
  /** Executor names the runners know. */
  readonly executors: readonly string[];
  /** Items registered per Redis call. */
  readonly registerChunk: number;
  /** Throws `LeaseLostError` unless this scheduler holds the newest lease: before every write. */
  fence(): Promise<void>;
  /** The epoch of the lease this scheduler acts under. */
  epoch(): number | undefined;
  readonly metrics: AgoraMetrics;
  /** Runs being admitted under their queue's `maxWaiting`. */
  readonly admissions: Admissions;
}

/**
 * `parkMs`: the run's jobs are not all admitted yet (its queue's `maxWaiting`); its inbox job
 * parks this long and the next round resumes the admission.
 */
export type AcceptResult = { state: string; problems?: readonly string[]; parkMs?: number };

/**
 * Accepts one submission: read it, check the plan once (validate, hash inputs, pin tasks), record
 * the run, register its items, enqueue its flows. Every step is idempotent and records its
 * progress in the run hash, so an acceptance cut short (a crash, a lost lease) resumes where it
 * stopped when the inbox job is retried. Data that is not a submission is `refused`, nothing
 * written under any run key.
 */
export async function acceptSubmission(ctx: IntakeContext, data: unknown): Promise<AcceptResult> {
  await ctx.fence();
  const envelope = submissionProblems(data);
  if (envelope.length > 0) {
    // Not a submission: its run id cannot be trusted as a key, so nothing is recorded under one.
    ctx.logger.warn({ problems: envelope }, 'inbox job refused');
    return { state: 'refused', problems: envelope };
  }
  const sub = data as SubmissionData;
  const admitting = ctx.admissions.get(sub.runId);
  if (admitting) return admitRound(ctx, sub.runId, admitting);
  const started = Date.now();
  const checked = await checkPlan(ctx, sub);
  if ('problems' in checked) {
    await ctx.fence();
    await ctx.store.rejectRun(sub.runId, checked.planId, checked.problems, checked.queue);
    ctx.metrics.runs.inc({ state: 'rejected' });
    ctx.logger.warn({ runId: sub.runId, problems: checked.problems.length }, 'plan rejected');
    return { state: 'rejected', problems: checked.problems };
  }
  const { plan, inputsHashes } = checked;
  const planRef = await recordPlan(await ctx.providers.storage(), ctx.config.namespace, sub.runId, plan);
  const recorded = await recordRun(ctx, sub, plan, checked.taskRefs, planRef);
  if ('state' in recorded) return recorded;
  const maxWaiting = ctx.config.queues[plan.queue]?.maxWaiting;
  // Task hashes (recorded with the plan, compared by reruns) and what memoize and a rerun put in the jobs.
  const tasks = await planTasks(plan, ctx.config, recorded.taskRefs, () => ctx.providers.storage());
  const hashes = taskHashes(tasks);
  const memo = memoBases(plan, ctx.config, tasks, inputsHashes, ctx.logger);
  const reuse = await reuseCandidates(ctx, sub, plan, hashes);
  // The check read the tasks' retry levels already; read again only for other pins (a resumed acceptance's).
  const levels = sameRefs(recorded.taskRefs, checked.taskRefs) ? checked.retryLevels : await retryLevels(plan, ctx.config, recorded.taskRefs, () => ctx.providers.storage());
  await ctx.fence();
  const retryPolicies = resolveRetryPolicies(plan, await ctx.store.pinRetryLevels(sub.runId, levels));
  const flows = buildFlows(plan, sub.runId, {
    itemJobOptions: itemJobOptions(ctx.config),
    taskRefs: recorded.taskRefs,
    inputsHashes,
    retryPolicies,
    resultSinks: checked.resultSinks,
    ...(memo.size > 0 ? { memoBases: memo } : {}),
    ...(reuse.size > 0 ? { reuseFrom: reuse } : {}),
    ...admissionFlowOptions(maxWaiting),
    ...(recorded.trace ? { traceparent: formatTraceparent(recorded.trace) } : {}),
  });
  await breathe();
  await registerItems(ctx, sub.runId, plan, flows, recorded, inputsHashes, checked.resultSinks);
  if (plan.maxParallel !== undefined) {
    // Before any job is added: the first start already counts against it.
    await ctx.fence();
    await ctx.store.setMaxParallel(sub.runId, plan.maxParallel);
  }
  // A replay's stand-ins end done before any job is added (their dependents find them ended).
  await endStandIns(ctx, sub);
  if (sub.rerun) {
    await ctx.fence();
    await ctx.store.noteRerun(sub.runId, sub.rerun);
  }
  if (maxWaiting !== undefined) {
    await notePlan(ctx, sub.runId, planRef, hashes);
    ctx.metrics.runs.inc({ state: 'accepted' });
    ctx.logger.info({ runId: sub.runId, planId: plan.id, items: plan.items.length, chunks: flows.chunks.length, maxWaiting, ms: Date.now() - started }, 'run accepted, admitting');
    return admitRound(ctx, sub.runId, { plan, flows, idleRounds: 0 });
  }
  await enqueueFlows(ctx, sub.runId, plan, flows, recorded.flowChunks);
  // After the jobs are added (the items are running already): what `agora rerun` reads back.
  await notePlan(ctx, sub.runId, planRef, hashes);
  // An acceptance resumed after a crash or a lost lease counts again here (rare; counters are per process).
  ctx.metrics.runs.inc({ state: 'accepted' });
  ctx.logger.info(
    { runId: sub.runId, planId: plan.id, items: plan.items.length, wakeEdges: flows.wakeEdges, chunks: flows.chunks.length, ms: Date.now() - started, traceId: recorded.trace?.traceId },
    'run accepted',
  );
  return { state: 'running' };
}

/**
 * Lets timers run between the long synchronous steps of a large acceptance (validation, hashing,
 * flow building: seconds for 100,000 items), so the lease is renewed meanwhile: a scheduler that
 * blocked past its lease on every attempt would hand a large plan back and forth.
 */
const breathe = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The job options of every item job (each item's resolved retry policy then sets its attempts and back-off). */
function itemJobOptions(config: AgoraConfig) {
  return {
    attempts: config.runner.attempts,
    backoff: { type: 'exponential', delay: config.runner.backoffMs },
    removeOnComplete: { count: config.runner.keepCompleted },
    removeOnFail: { count: config.runner.keepFailed },
  } as const;
}

/**
 * Validates the plan once (the schema, the DAG, names this deployment knows), canonicalises and
 * hashes every item's inputs (RFC 8785: what the record proves ran), and pins its tasks. Any
 * problem rejects the whole plan before anything is enqueued.
 */
async function checkPlan(
  ctx: IntakeContext,
  sub: SubmissionData,
): Promise<{ plan: Plan; inputsHashes: Map<string, string>; taskRefs: Map<string, string>; retryLevels: RetryLevels; resultSinks: Map<string, string> } | { planId: string; queue: string; problems: string[] }> {
  // A rerun's plan is the original's, read back from storage.
  const rerun = await rerunSubmission(ctx, sub);
  if ('problems' in rerun) return { planId: '', queue: '', problems: rerun.problems };
  // A replay's items take back what their dead letters do not record (retry, priority, memoize).
  const loaded = { sub: await replaySubmission(ctx, rerun.sub) };
  const v = validatePlan(loaded.sub.plan, { ...configValidateOptions(ctx.config), executors: ctx.executors, queues: ctx.queueNames });
  if (!v.ok) {
    const rawId = (loaded.sub.plan as { id?: unknown } | null)?.id;
    return { planId: typeof rawId === 'string' ? rawId.slice(0, 128).toWellFormed() : '', queue: submittedQueueOf(loaded.sub.plan), problems: [...v.problems] };
  }
  const plan = v.plan;
  await breathe();
  const inputsHashes = new Map<string, string>();
  const problems: string[] = [];
  for (let i = 0; i < plan.items.length; i++) {
    const it = plan.items[i]!;
    if (i % 2000 === 1999) await breathe();
    try {
      inputsHashes.set(it.id, itemInputsHash(it.inputs));
    } catch (err) {
      problems.push(`items[${i}] (${JSON.stringify(it.id)}): inputs cannot be canonicalised (RFC 8785): ${coerceError(err).message}`);
    }
  }
  const pins = await pinTasks(ctx, plan);
  problems.push(...pins.problems);
  problems.push(...(await replayProblems(ctx, sub, plan)));
  // Each item's merged retry policy (item > task > config) must obey what each level obeys alone.
  const levels = problems.length === 0 ? await retryLevels(plan, ctx.config, pins.refs, () => ctx.providers.storage()) : undefined;
  if (levels) problems.push(...retryPolicyProblems(plan, levels));
  const sinks = problems.length > 0 ? undefined : await resolveResultSinks(plan, ctx.config, pins.refs, () => ctx.providers.storage());
  problems.push(...(sinks?.problems ?? []));
  return problems.length > 0 || !sinks || !levels ? { planId: plan.id, queue: submittedQueueOf(plan), problems } : { plan, inputsHashes, taskRefs: pins.refs, retryLevels: levels, resultSinks: sinks.sinks };
}

/** Whether two task pin maps pin the same tasks to the same refs. */
function sameRefs(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

/**
 * Pins each dispatch item's task to the hash registered in storage now, so retries and
 * recoveries of this run use exactly the definition it was accepted with (seed 000's
 * resolveByHash); tasks only in the config file are not pinned. An unknown task, or one both
 * registered and configured, is a problem: the run is rejected, before any lock is taken. The
 * CLI's `validate` and `submit` run the same check (libs/registry `resolvePlanTasks`).
 */
export function pinTasks(ctx: Pick<IntakeContext, 'config' | 'providers'>, plan: Plan): Promise<{ refs: Map<string, string>; problems: string[] }> {
  return resolvePlanTasks(() => ctx.providers.storage(), ctx.config, plan);
}

/**
 * Records the run (or finds it, on a resumed acceptance) with its task pins (stored once, so a
 * resumed acceptance uses the same ones) and the epoch of the scheduler working on it. Returns
 * how far an earlier attempt got, or the run's state when there is nothing left to do.
 */
async function recordRun(
  ctx: IntakeContext,
  sub: SubmissionData,
  plan: Plan,
  pins: Map<string, string>,
  planRef?: string,
): Promise<{ registered: number; flowChunks: number; taskRefs: Map<string, string>; trace?: TraceContext } | { state: string }> {
  await ctx.fence();
  // The run's trace is decided here, once (a resumed acceptance gets the first one back), with
  // or without a tracer: its id also ties the run's events and log lines together.
  const init = await ctx.store.initRun(sub.runId, {
    total: plan.items.length,
    queue: plan.queue,
    planId: plan.id,
    fields: {
      submittedAt: sub.submittedAt,
      ...(sub.replay ? { replayOf: { runId: sub.replay.runId, items: sub.replay.items } } : {}),
      ...(planRef ? { planRef } : {}),
      ...(sub.rerun ? { rerunOf: { runId: sub.rerun.runId, fromFailed: sub.rerun.fromFailed } } : {}),
    },
    trace: newTraceContext(),
  });
  if (init.state !== 'accepted' && init.state !== 'running' && init.state !== 'queued') return { state: init.state };
  await ctx.fence();
  const taskRefs = await ctx.store.pinTaskRefs(sub.runId, pins);
  await ctx.store.noteSchedulerEpoch(sub.runId, ctx.epoch() ?? 0);
  if (init.registered > 0 || init.flowChunks > 0) {
    ctx.logger.info({ runId: sub.runId, registeredChunks: init.registered, flowChunks: init.flowChunks, epoch: ctx.epoch() }, 'acceptance resumed');
  }
  return { registered: init.registered, flowChunks: init.flowChunks, taskRefs, ...(init.trace ? { trace: init.trace } : {}) };
}

/**
 * Registers the items in chunks (from the first chunk not yet registered): dependency counters and
 * dependents lists for the run-state cascade, each item's definition hash (what a runner is held
 * to) and its first event.
 */
async function registerItems(
  ctx: IntakeContext,
  runId: string,
  plan: Plan,
  flows: FlowPlan,
  recorded: { registered: number; taskRefs: Map<string, string> },
  inputsHashes: Map<string, string>,
  resultSinks: ReadonlyMap<string, string> = new Map(),
): Promise<void> {
  const { registerChunk } = ctx;
  const dependents = new Map<string, string[]>();
  for (const it of plan.items) for (const d of it.depends_on) (dependents.get(d) ?? dependents.set(d, []).get(d)!).push(it.id);
  const taskField = (it: Plan['items'][number]): { taskRef?: string } => {
    const n = it.executor === 'dispatch' ? (it.inputs['task'] ?? it.inputs['subagent']) : undefined;
    const ref = typeof n === 'string' ? recorded.taskRefs.get(n) : undefined;
    return ref ? { taskRef: ref } : {};
  };
  for (let c = recorded.registered; c * registerChunk < plan.items.length; c++) {
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
        // The inputs themselves stay out of the stream (size, and secrets must never be copied
        // there); their RFC 8785 hash proves which inputs ran, given the plan.
        inputsHash: inputsHashes.get(it.id)!,
        ...(it.depends_on.length > 0 ? { depends_on: it.depends_on } : {}),
        ...(it.resourceLocks.length > 0 ? { resourceLocks: it.resourceLocks } : {}),
        ...taskField(it),
        ...(resultSinks.has(it.id) ? { resultSink: resultSinks.get(it.id)! } : {}),
      },
    }));
    await ctx.fence();
    await ctx.store.registerItems(runId, c, reg);
  }
}

/**
 * Adds the item jobs chunk by chunk (from the first chunk not yet added). Lone jobs (no children)
 * go through Queue.addBulk, which skips the flow machinery; trees through the flow producer. Each
 * is one MULTI, and job ids make a repeat after a crash a no-op.
 */
async function enqueueFlows(ctx: IntakeContext, runId: string, plan: Plan, flows: FlowPlan, fromChunk: number): Promise<void> {
  await ctx.fence();
  await ctx.store.markRunning(runId);
  const queue = ctx.queueFor(plan.queue);
  for (let c = fromChunk; c < flows.chunks.length; c++) await addChunk(ctx, runId, queue, flows.chunks[c]!, c);
  await ctx.fence();
  await ctx.store.markEnqueued(runId, flows.chunks.length);
}

/** Adds one chunk of a run's item jobs and records it (`flowChunks`: chunks added so far). */
async function addChunk(ctx: IntakeContext, runId: string, queue: Queue, chunk: FlowPlan['chunks'][number], c: number): Promise<void> {
  const lone = chunk.flows.filter((f) => !f.children?.length);
  const trees = chunk.flows.filter((f) => f.children?.length);
  // Checked before each chunk: an old scheduler must not re-add jobs that ran and were removed
  // since (a job id only makes a repeat a no-op while the job is kept).
  await ctx.fence();
  if (lone.length > 0) await queue.addBulk(lone.map((f) => ({ name: f.name, data: f.data as unknown, opts: f.opts ?? {} })));
  if (trees.length > 0) await ctx.producer.addBulk(trees);
  // A parked job added after its last dependency ended was not there to be woken by the runner
  // that ended it: wake those here. (Runner: write state, then wake; we: add, then read.)
  if (chunk.parked.length > 0) {
    const left = await ctx.store.dependenciesLeft(runId, chunk.parked.map((p) => p.itemId));
    const ready = chunk.parked.filter((_, i) => left[i]! <= 0);
    if (ready.length > 0) await wakeJobs(queue, ready.map((p) => p.jobId));
  }
  await ctx.store.markRunning(runId, c + 1);
}

/**
 * One round of admission under the queue's `maxWaiting`: while the queue's unfinished item jobs
 * plus the next chunk fit, the chunk is added (the run becomes `running` with its first one;
 * `queued` when even that has no room); otherwise it looks again every `pollMs` for up to
 * `holdMs`. The room is counted once per chunk (one `getJobCounts`), never per item. What is
 * left waits for the next round: the inbox job parks (`parkMs`) and takes no inbox slot
 * meanwhile. Progress is the run's `flowChunks`, so a round after a failover resumes where the
 * last one stopped.
 */
async function admitRound(ctx: IntakeContext, runId: string, admission: PendingAdmission): Promise<AcceptResult> {
  const { plan, flows } = admission;
  const maxWaiting = ctx.config.queues[plan.queue]?.maxWaiting ?? Number.MAX_SAFE_INTEGER;
  const queue = ctx.queueFor(plan.queue);
  const { admissions } = ctx;
  const until = Date.now() + admissions.holdMs;
  let admitted = false;
  for (;;) {
    await ctx.fence();
    const progress = await ctx.store.flowProgress(runId);
    if (!progress || (progress.state !== 'accepted' && progress.state !== 'queued' && progress.state !== 'running')) {
      // Cancelled (or gone) while queued: nothing more is added.
      admissions.forget(runId);
      return { state: progress?.state ?? 'unknown' };
    }
    let next = progress.flowChunks;
    const full = await admissions.exclusive(plan.queue, async () => {
      for (; next < flows.chunks.length; next++) {
        const chunk = flows.chunks[next]!;
        const waiting = await unfinishedJobs(queue);
        // An empty queue always takes the next chunk, even one larger than the bound (the config
        // changed since the chunks were cut): admission never stops for good.
        if (waiting > 0 && waiting + chunk.jobs > maxWaiting) {
          await ctx.fence();
          if (next === 0 && (await ctx.store.markQueued(runId, { maxWaiting, waiting }))) ctx.logger.info({ runId, waiting, maxWaiting }, 'run queued: its queue is full');
          return true;
        }
        await ctx.fence();
        if (next === progress.flowChunks) await ctx.store.markRunning(runId);
        await addChunk(ctx, runId, queue, chunk, next);
        admitted = true;
      }
      return false;
    });
    if (!full) {
      await ctx.fence();
      await ctx.store.markEnqueued(runId, flows.chunks.length);
      admissions.forget(runId);
      ctx.logger.info({ runId, chunks: flows.chunks.length }, 'run admitted in full');
      return { state: 'running' };
    }
    if (Date.now() + admissions.pollMs > until) break;
    await new Promise((resolve) => setTimeout(resolve, admissions.pollMs));
  }
  admission.idleRounds = admitted ? 0 : admission.idleRounds + 1;
  admissions.keep(runId, admission);
  return { state: (await ctx.store.runState(runId)) ?? 'unknown', parkMs: admissions.parkFor(admission) };
}
