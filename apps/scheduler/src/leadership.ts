import { coerceError, type Logger } from '@agora/core';
import { LeaseLostError, type LeaderLease } from './leader-lease.js';

/** What runs only while this scheduler holds the lease (the inbox worker, the upkeep sweep). */
export interface ActingTerm {
  /** Stops it; an acceptance in flight stops at its next fence check and returns its job. */
  stop(): Promise<void>;
  /**
   * Called when `stop()` did not finish within its bound (a close that hangs on a connection
   * Redis dropped): cuts the term's own connections, so nothing of it takes or holds a job any more.
   */
  abandon?(): void;
}

/**
 * Several schedulers may run; one acts, under a lease in Redis. `tick()` is one lease step:
 * renew while active, else try to take over and start acting (`startTerm`). On losing the lease
 * the term is stopped at once, and `fence()` — called before every write of an acceptance —
 * refuses to go on unless this scheduler holds the newest lease, so a scheduler paused past its
 * lease writes nothing after it wakes (it may finish the one write it was in: the chunked,
 * idempotent registration and the job ids make that harmless).
 */
export class Leadership {
  private term: { epoch: number; acting: ActingTerm } | undefined;
  private stopped: Promise<void> = Promise.resolve();
  /**
   * Counts terms started and stopped: a term's own fence checks it, so work left over from a
   * term that did not stop in time is refused even when the next term has the same epoch (Redis
   * lost its data and the epoch counted from 1 again).
   */
  private termNo = 0;
  private ticking = false;
  private closing = false;

  constructor(
    private readonly lease: LeaderLease,
    private readonly logger: Logger,
    private readonly startTerm: (epoch: number, term: number) => Promise<ActingTerm>,
    /** How long a term may take to stop before the next one starts without it. */
    private readonly stopBoundMs: number,
  ) {}

  get epoch(): number | undefined {
    return this.lease.epoch;
  }

  get holder(): string {
    return this.lease.holder;
  }

  /**
   * Refuses to go on unless we hold the newest lease: one GET per call. A lease past its local
   * deadline (the process was paused, say) is renewed first, which fails if another scheduler
   * took it meanwhile. `term` (from `startTerm`) also refuses work of a term that has stopped.
   */
  async fence(term?: number): Promise<void> {
    const epoch = this.lease.epoch;
    if (epoch === undefined || this.closing || (term !== undefined && term !== this.termNo)) {
      throw new LeaseLostError('this scheduler is not the active one (standby or stopping)');
    }
    if (this.lease.expiredLocally && !(await this.lease.renew().catch(() => false))) {
      this.loseLease('lease expired and could not be renewed');
      throw new LeaseLostError(`scheduler lease of epoch ${epoch} expired and was taken over`, epoch);
    }
    const { epoch: newest, holder } = await this.lease.current();
    // Another holder under our epoch number: Redis lost its data and the count started over.
    if (newest !== String(epoch) || (holder !== null && holder !== this.lease.holder) || this.lease.epoch !== epoch) {
      this.loseLease(`epoch moved to ${newest ?? 'none'}`);
      throw new LeaseLostError(`scheduler epoch ${epoch} is stale (newest is ${newest ?? 'none'}); stopped`, epoch, newest);
    }
  }

  /** One lease step: renew while active, else try to take over. Never overlaps itself. */
  async tick(): Promise<void> {
    if (this.ticking || this.closing) return;
    this.ticking = true;
    try {
      if (this.lease.epoch !== undefined) {
        let held: boolean;
        try {
          held = await this.lease.renew();
        } catch (err) {
          // Redis unreachable: keep acting while the lease can still be ours, not beyond.
          held = !this.lease.expiredLocally;
          if (!held) this.logger.warn({ err: coerceError(err).message }, 'scheduler lease renewal failed');
        }
        if (!held) this.loseLease('renewal found the lease gone or taken');
        return;
      }
      // A previous term must be fully down before a new one starts its worker.
      await this.stopped;
      const epoch = await this.lease.tryAcquire();
      if (epoch === undefined || this.closing) return;
      try {
        const acting = await this.startTerm(epoch, ++this.termNo);
        this.term = { epoch, acting };
        if (this.lease.epoch !== epoch) throw new LeaseLostError(`scheduler lease of epoch ${epoch} was lost while starting`, epoch);
      } catch (err) {
        this.logger.error({ epoch, err: coerceError(err).message }, 'scheduler could not start acting; giving the lease up');
        this.stopTerm();
        await this.lease.release().catch(() => undefined);
        return;
      }
      this.logger.info({ epoch, holder: this.lease.holder, leaseMs: this.lease.ttlMs }, `scheduler active (epoch ${epoch})`);
    } finally {
      this.ticking = false;
    }
  }

  /** Steps down: stops acting and gives the lease up, so a standby takes over at once. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.lease.epoch !== undefined) this.logger.info({ epoch: this.lease.epoch, holder: this.lease.holder }, 'scheduler stepping down');
    this.stopTerm();
    await this.stopped;
    if (this.lease.epoch !== undefined) await this.lease.release().catch(() => undefined);
  }

  private loseLease(reason: string): void {
    const epoch = this.lease.epoch ?? this.term?.epoch;
    this.lease.drop();
    if (epoch === undefined && !this.term) return;
    this.logger.warn({ epoch, reason, holder: this.lease.holder }, 'scheduler lost its lease');
    this.stopTerm();
    if (!this.closing) this.logger.info({ holder: this.lease.holder }, 'scheduler standby');
  }

  /**
   * Not awaited where it is found (inside an acceptance the worker's close waits for): `stopped`
   * settles once it is down, or once `stopBoundMs` has passed: a stop that hangs (BullMQ's
   * Worker.close waiting on a connection Redis dropped) must not keep this scheduler standby for
   * good. The term is then abandoned (its connections cut) and its leftover work is fenced off.
   */
  private stopTerm(): void {
    const term = this.term;
    this.term = undefined;
    this.termNo++;
    if (!term) return;
    this.stopped = this.stopped.then(async () => {
      let timer: NodeJS.Timeout | undefined;
      const stopping = term.acting.stop().catch((err: unknown) => this.logger.warn({ epoch: term.epoch, err: coerceError(err).message }, 'scheduler term stopped with an error'));
      const late = await Promise.race([
        stopping.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), this.stopBoundMs))),
      ]);
      clearTimeout(timer);
      if (!late) return;
      this.logger.warn({ epoch: term.epoch, boundMs: this.stopBoundMs }, `scheduler term did not stop within ${this.stopBoundMs} ms; abandoning it`);
      try {
        term.acting.abandon?.();
      } catch (err) {
        this.logger.warn({ epoch: term.epoch, err: coerceError(err).message }, 'abandoning the scheduler term failed');
      }
    });
  }
}
