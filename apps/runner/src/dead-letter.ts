import { ApplicationError, coerceError } from '@agora/core';
import { itemInputsHash, type DeadLetter, type ItemJobData } from '@agora/state';
import type { RunnerContext } from './item-lifecycle.js';

/** What the runner knows of an item that failed for good (the `failed` outcome). */
export interface Failure {
  readonly error: Error;
  readonly code: string;
  readonly exitCode?: number;
}

/**
 * Writes the dead-letter record of an item this runner just ended `failed`: its definition from
 * the job (checked against the accepted one when it began), its dependencies' results, the error
 * and the worker's output tails. Off the hot path: only failures pay its two reads and one write.
 *
 * Written after the end, so it never names an item that did not fail; a runner that dies in
 * between leaves the record to the scheduler, which writes the missing ones (without tails) when
 * the run ends. A failure to write is logged, never thrown: the item's end is what counts.
 */
export async function recordDeadLetter(
  ctx: Pick<RunnerContext, 'store' | 'deadLetters' | 'config' | 'metrics' | 'logger'>,
  queue: string,
  d: ItemJobData,
  attempt: number,
  failure: Failure,
): Promise<void> {
  const store = ctx.deadLetters;
  if (!store) return;
  try {
    // The end may have found the item already ended (a cancel won the race): no letter then.
    const [state] = await ctx.store.itemStates(d.runId, [d.itemId]);
    if (state !== 'failed') return;
    const output = failure.error instanceof ApplicationError ? failure.error.output : undefined;
    const letter: DeadLetter = {
      id: '',
      runId: d.runId,
      itemId: d.itemId,
      queue,
      executor: d.executor,
      inputsHash: itemInputsHash(d.inputs),
      inputs: d.inputs,
      ...(d.target !== undefined ? { target: d.target } : {}),
      ...(d.taskRef !== undefined ? { taskRef: d.taskRef } : {}),
      ...(d.timeoutMs !== undefined ? { timeoutMs: d.timeoutMs } : {}),
      resourceLocks: d.locks,
      dependsOn: d.deps,
      dependencies: await ctx.store.resultRefs(d.runId, d.deps),
      attempts: attempt,
      errorCode: failure.code as DeadLetter['errorCode'],
      error: failure.error.message,
      ...(failure.exitCode !== undefined ? { exitCode: failure.exitCode } : {}),
      ...(output ? { stdoutTail: output.stdoutTail, stderrTail: output.stderrTail } : {}),
      failedAt: new Date().toISOString(),
    };
    const fresh = await store.put(letter, { source: 'runner', maxRecords: ctx.config.deadLetters.maxRecords, tailBytes: ctx.config.deadLetters.tailBytes });
    if (fresh) ctx.metrics.deadLetters.inc({ queue });
  } catch (err) {
    ctx.logger.warn({ runId: d.runId, itemId: d.itemId, err: coerceError(err).message }, 'dead letter not written; the scheduler writes it when the run ends');
  }
}
