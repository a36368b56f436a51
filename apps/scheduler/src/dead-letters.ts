import type { Queue } from 'bullmq';
import { coerceError, isTerminalRunState, type AgoraConfig, type AgoraEvent, type Logger } from '@agora/core';
import { itemInputsHash, parseItemJobData, type DeadLetter, type DeadLetterStore, type RunStore } from '@agora/state';
import type { Sealer } from '@agora/evidence';
import type { AgoraMetrics } from '@agora/metrics';

export interface DeadLetterContext {
  readonly config: AgoraConfig;
  readonly logger: Logger;
  readonly store: RunStore;
  readonly deadLetters: DeadLetterStore;
  readonly metrics: AgoraMetrics;
  queueFor(name: string): Queue;
}

/** What an item's registration event says about it. */
interface Registration {
  readonly executor: string;
  readonly inputsHash: string;
  readonly dependsOn: readonly string[];
  readonly resourceLocks: readonly string[];
  readonly taskRef?: string;
}

/**
 * Writes the dead letters a finished run is missing: items failed by the start script
 * (`STALLED`, `INTEGRITY`), by the repair (`JOB_LOST`), by BullMQ (`QUEUE`), or by a runner that
 * died between ending the item and writing its record. Built from the run's events (the failed
 * event, the registration) and its record (dependencies' results); the inputs come from the
 * item's job when it is still kept and its inputs hash to the accepted ones (so data edited in
 * Redis is never recorded as what ran). No output tails: only the runner saw them. Records that
 * exist are left alone. Returns how many were written.
 */
export async function collectDeadLetters(ctx: DeadLetterContext, runId: string): Promise<number> {
  const run = await ctx.store.getRun(runId, { items: false });
  // Only a failed or cancelled run can hold failed items; a succeeded one cannot.
  if (!run || !isTerminalRunState(run.state) || run.state === 'succeeded' || run.state === 'rejected') return 0;
  const events = await ctx.store.allEvents(runId);
  const registered = new Map<string, Registration>();
  const starts = new Map<string, number>();
  const failed: Array<Extract<AgoraEvent, { type: 'item'; state: 'failed' }>> = [];
  for (const e of events) {
    if (e.type !== 'item') continue;
    if ((e.state === 'waiting' || e.state === 'queued') && e.executor !== undefined && e.inputsHash !== undefined) {
      registered.set(e.itemId, {
        executor: e.executor,
        inputsHash: e.inputsHash,
        dependsOn: e.state === 'waiting' ? e.depends_on : [],
        resourceLocks: e.resourceLocks ?? [],
        ...(e.taskRef !== undefined ? { taskRef: e.taskRef } : {}),
      });
    } else if (e.state === 'running') {
      starts.set(e.itemId, (starts.get(e.itemId) ?? 0) + 1);
    } else if (e.state === 'failed') {
      failed.push(e);
    }
  }
  if (failed.length === 0) return 0;
  const ids = failed.map((e) => `${runId}.${e.itemId}`);
  const exists = await ctx.deadLetters.exist(ids);
  const missing = failed.filter((_, i) => !exists[i]);
  if (missing.length === 0) return 0;
  const jobIds = await ctx.store.itemJobIds(runId, missing.map((e) => e.itemId));
  const queue = ctx.queueFor(run.queue);
  let written = 0;
  for (let i = 0; i < missing.length; i++) {
    const e = missing[i]!;
    const reg = registered.get(e.itemId);
    if (!reg) continue;
    const job = await jobInputs(queue, jobIds[i] ?? null, reg.inputsHash);
    const letter: DeadLetter = {
      id: '',
      runId,
      itemId: e.itemId,
      queue: run.queue,
      executor: reg.executor,
      inputsHash: reg.inputsHash,
      ...job,
      ...(reg.taskRef !== undefined ? { taskRef: reg.taskRef } : {}),
      resourceLocks: [...reg.resourceLocks],
      dependsOn: [...reg.dependsOn],
      dependencies: await ctx.store.resultRefs(runId, reg.dependsOn),
      attempts: e.attempt ?? starts.get(e.itemId) ?? 0,
      errorCode: e.errorCode,
      error: e.error,
      ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}),
      failedAt: e.at,
    };
    if (await ctx.deadLetters.put(letter, { source: 'scheduler', maxRecords: ctx.config.deadLetters.maxRecords, tailBytes: ctx.config.deadLetters.tailBytes })) {
      written++;
      ctx.metrics.deadLetters.inc({ queue: run.queue });
    }
  }
  if (written > 0) ctx.logger.info({ runId, written }, 'dead letters written for items that failed without one');
  return written;
}

/** The item's inputs, target and time limit from its job, when the job is kept and its inputs are the accepted ones. */
async function jobInputs(queue: Queue, jobId: string | null, inputsHash: string): Promise<Pick<DeadLetter, 'inputs' | 'inputsMissing' | 'target' | 'timeoutMs'>> {
  if (jobId === null) return { inputsMissing: 'the item was registered without a job id' };
  const job = await queue.getJob(jobId).catch(() => undefined);
  if (!job) return { inputsMissing: `its job ${jobId} is no longer kept in the queue` };
  try {
    const d = parseItemJobData(job.data);
    if (itemInputsHash(d.inputs) !== inputsHash) return { inputsMissing: 'its job data does not hash to the accepted inputs (edited after acceptance)' };
    return { inputs: d.inputs, ...(d.target !== undefined ? { target: d.target } : {}), ...(d.timeoutMs !== undefined ? { timeoutMs: d.timeoutMs } : {}) };
  } catch (err) {
    return { inputsMissing: `its job data is not an item's: ${coerceError(err).message}` };
  }
}

/**
 * The sealer, collecting a finished run's missing dead letters before sealing it: both happen
 * once per run end (the finished message, or the sweep's catch-up of unsealed runs), so a run
 * whose end was missed gets its letters when the sweep seals it. A collection that fails is
 * logged and the run is sealed anyway.
 */
export function sealerWithDeadLetters(inner: Sealer, ctx: DeadLetterContext): Sealer {
  const collecting = new Set<string>();
  return {
    seal(runId) {
      if (collecting.has(runId)) return;
      collecting.add(runId);
      collectDeadLetters(ctx, runId)
        .catch((err: unknown) => ctx.logger.warn({ runId, err: coerceError(err).message }, 'collecting dead letters failed'))
        .finally(() => {
          collecting.delete(runId);
          inner.seal(runId);
        });
    },
    checkpoint: (runId) => inner.checkpoint(runId),
  };
}
