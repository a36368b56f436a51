import { FencedError, coerceError, parseTraceparent, type Logger } from '@agora/core';
import type { ItemJobData } from '@agora/state';
import { NOOP_ITEM_SPAN, type AgoraTracing, type ItemSpan, type ItemStep } from '@agora/tracing';
import { UnrecoverableError, WaitingError } from 'bullmq';

/** The trace id a job's data carries (set at acceptance), for the running event and the log line. */
export function traceIdOf(d: Pick<ItemJobData, 'traceparent'>): string | undefined {
  return parseTraceparent(d.traceparent)?.traceId;
}

/**
 * One attempt of an item on this runner, as observed from outside the item lifecycle: its span
 * (a child of the run's span, named in the job's `traceparent`) with a child per step, and the
 * one log line of its end. With the `none` tracer no span object is made: `enabled` is checked
 * once and the shared no-op span stands in.
 */
export class ItemAttemptTrace {
  readonly traceId: string | undefined;
  private readonly span: ItemSpan;
  private outcome: { state: string; error?: string } | undefined;
  private finished = false;

  constructor(
    private readonly logger: Logger,
    tracing: AgoraTracing,
    private readonly facts: {
      readonly runner: string;
      readonly queue: string;
      readonly d: ItemJobData;
      readonly attempt: number;
      /** When the attempt began: the first refusal of its locks on this runner, else its start (epoch ms). */
      readonly since: number;
      /** When its locks were granted (epoch ms), for an item with locks. */
      readonly locksAt?: number;
      /** When it was marked running (epoch ms): the log line's duration counts from here, like the done event's. */
      readonly startedMs: number;
    },
  ) {
    const { d } = facts;
    const parent = parseTraceparent(d.traceparent);
    this.traceId = parent?.traceId;
    this.span = tracing.enabled
      ? tracing.startItem(parent, {
          runId: d.runId,
          itemId: d.itemId,
          queue: facts.queue,
          attempt: facts.attempt,
          executor: d.executor,
          runner: facts.runner,
          dependsOn: d.deps,
          locks: d.locks,
          startTime: facts.since,
        })
      : NOOP_ITEM_SPAN;
    if (facts.locksAt !== undefined) this.span.step('lock.wait', facts.since).end({ endTime: facts.locksAt });
  }

  /**
   * Runs one step under its own child span, failed when it throws, unless `stoppedByUs` says
   * the runner stopped it on purpose (a hand-back at shutdown: the step did not fail).
   */
  async step<T>(name: ItemStep, run: () => Promise<T>, stoppedByUs: () => boolean = () => false): Promise<T> {
    const s = this.span.step(name);
    try {
      const r = await run();
      s.end();
      return r;
    } catch (err) {
      s.end(stoppedByUs() ? {} : { error: coerceError(err).message });
      throw err;
    }
  }

  /** The item's end was written by this runner: the one log line per item end (info). */
  ended(state: 'done' | 'failed' | 'cancelled', error?: string): void {
    this.outcome = error !== undefined ? { state, error } : { state };
    const { d, queue, attempt, startedMs } = this.facts;
    this.logger.info({ runId: d.runId, itemId: d.itemId, queue, state, attempt, durationMs: Date.now() - startedMs, traceId: this.traceId }, 'item ended');
  }

  /**
   * The attempt left by a throw without ending the item (or after its end: a failed item's job
   * is failed with UnrecoverableError): names what happens next on the span.
   */
  thrown(err: unknown): void {
    if (this.outcome) return;
    // A hand-back is not a failure (the item is queued again, its try not counted): no error
    // status, and not BullMQ's internal "bullmq:movedToWait" as a message.
    if (err instanceof WaitingError) {
      this.outcome = { state: 'handedBack' };
      return;
    }
    const state = err instanceof FencedError ? 'fenced' : err instanceof UnrecoverableError ? 'failed' : 'retry';
    this.outcome = { state, error: coerceError(err).message };
  }

  /** Ends the span (once), with the outcome recorded. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.span.end(this.outcome ?? { state: 'unknown' });
  }
}
