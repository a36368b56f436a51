import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  INBOX_QUEUE,
  IllegalStateError,
  NotFoundError,
  ValueError,
  assertValidPlan,
  isRunId,
  isTerminalRunState,
  newRunId,
  type AgoraEvent,
  type ValidateOptions,
} from '@agora/core';
import { RunStore, createRedis, type RunStatus } from '@agora/state';

export interface AgoraClientOptions {
  /** @default process.env.REDIS_URL or redis://127.0.0.1:6379 */
  readonly redisUrl?: string;
  /** An existing client to use instead of `redisUrl` (not closed by `close`). */
  readonly redis?: Redis;
  /** @default "agora" */
  readonly namespace?: string;
  /** Client-side validation; the scheduler validates again against the deployment's config. */
  readonly validate?: ValidateOptions;
}

export interface WatchOptions {
  /** Resume from this seq (inclusive). @default 0 */
  readonly fromSeq?: number;
  readonly signal?: AbortSignal;
  /** How long one blocking read waits before checking `signal`. @default 1000 */
  readonly pollMs?: number;
}

export type ClientRunStatus = RunStatus | { readonly runId: string; readonly state: 'submitted' };

/**
 * The service-side SDK: submit a plan, watch its events, read its status, cancel it. Talks to
 * Redis directly; the scheduler and runners need not be reachable over HTTP.
 */
export class AgoraClient {
  private readonly redis: Redis;
  private readonly ownsRedis: boolean;
  private readonly store: RunStore;
  private readonly inbox: Queue;
  private readonly redisUrl: string;
  private readonly validate: ValidateOptions;

  constructor(opts: AgoraClientOptions = {}) {
    this.redisUrl = opts.redisUrl ?? process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
    this.redis = opts.redis ?? createRedis(this.redisUrl);
    this.ownsRedis = opts.redis === undefined;
    this.store = new RunStore(this.redis, opts.namespace ?? 'agora');
    this.inbox = new Queue(INBOX_QUEUE, { connection: this.redis, prefix: this.store.keys.bullPrefix });
    this.validate = opts.validate ?? {};
  }

  /**
   * Validates the plan and puts it on the scheduler's inbox. Returns the run id at once; the run
   * is accepted asynchronously. Throws `PlanValidationError` (nothing enqueued) for a bad plan.
   */
  async submit(plan: unknown, opts: { runId?: string } = {}): Promise<string> {
    assertValidPlan(plan, this.validate);
    const runId = opts.runId ?? newRunId();
    if (!isRunId(runId)) throw new ValueError(`invalid run id "${runId}"`);
    await this.inbox.add(
      'plan',
      { runId, plan, submittedAt: new Date().toISOString() },
      { jobId: runId, attempts: 10, backoff: { type: 'exponential', delay: 500 }, removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 } },
    );
    return runId;
  }

  async status(runId: string): Promise<ClientRunStatus> {
    const s = await this.store.getRun(runId);
    if (s) return s;
    const job = await this.inbox.getJob(runId);
    if (job) return { runId, state: 'submitted' };
    throw new NotFoundError(`no run "${runId}"`);
  }

  /**
   * Yields the run's events in seq order, from `fromSeq`, and ends after the run's terminal
   * event. Resumable: pass the last seen seq + 1.
   */
  async *watch(runId: string, opts: WatchOptions = {}): AsyncGenerator<AgoraEvent> {
    let next = opts.fromSeq ?? 0;
    const conn = this.redis.duplicate();
    try {
      for (;;) {
        if (opts.signal?.aborted) return;
        const batch = await this.store.readEvents(runId, next, { blockMs: opts.pollMs ?? 1000, client: conn, count: 500 });
        if (batch.length === 0) {
          // A rejected or finished run whose terminal event we already passed (fromSeq beyond it).
          const state = await this.store.runState(runId);
          if (state !== null && isTerminalRunState(state)) {
            const total = Number(await this.redis.hget(this.store.keys.run(runId).meta, 'seq'));
            if (next >= total) return;
          }
          continue;
        }
        for (const e of batch) {
          yield e;
          next = e.seq + 1;
          if (e.type === 'run' && isTerminalRunState(e.state)) return;
        }
      }
    } finally {
      conn.disconnect();
    }
  }

  /** Waits for the run to end; returns its final status. */
  async wait(runId: string, opts: { signal?: AbortSignal } = {}): Promise<RunStatus> {
    for await (const _ of this.watch(runId, opts.signal ? { signal: opts.signal } : {})) {
      // drain
    }
    const s = await this.store.getRun(runId);
    if (!s) throw new NotFoundError(`no run "${runId}"`);
    return s;
  }

  /**
   * Cancels a run: items not started end `cancelled`, running ones are stopped through their
   * compute provider. Returns the run state after the request.
   */
  async cancel(runId: string): Promise<{ runId: string; state: string; running: number }> {
    const r = await this.store.cancelRun(runId, 'cancelled by client');
    if (r === -1) {
      // Not accepted yet: take it off the inbox so it never starts.
      const job = await this.inbox.getJob(runId);
      if (job && (await job.isWaiting())) {
        await job.remove();
        await this.store.rejectRun(runId, '', ['cancelled before it was accepted']);
        return { runId, state: 'rejected', running: 0 };
      }
      if (job) throw new IllegalStateError(`run "${runId}" is being accepted; cancel again in a moment`);
      throw new NotFoundError(`no run "${runId}"`);
    }
    const state = (await this.store.runState(runId)) ?? 'unknown';
    return { runId, state, running: Math.max(0, r - 1) };
  }

  /** The raw event list (for audit and debugging). */
  events(runId: string): Promise<AgoraEvent[]> {
    return this.store.allEvents(runId);
  }

  async close(): Promise<void> {
    await this.inbox.close();
    if (this.ownsRedis) await this.redis.quit().catch(() => undefined);
  }
}
