import { coerceError, type Logger } from '@agora/core';
import type { LockHolder, LockServiceLike } from './locking.js';

/** Most lock names a runner watches (the least recently noted are forgotten first). */
const MAX_WATCHED = 10_000;

/**
 * Wakes the head of a lock whose holder died. A holder's release names the waiter now at the head
 * and promotes its parked job to the front of the wait list; a holder that dies releases nothing:
 * its lease runs out and the lock stands free, kept for a head that sleeps until its fallback
 * re-check, which BullMQ's delayed-job promotion puts at the back of the wait list, behind any
 * backlog (a chaos run saw such heads wait for the whole backlog). So a runner watches the locks
 * it parked waiters on: every `everyMs` while any has waiters, one read-only script names the
 * heads of the free ones, and they are woken as a release would (`wake`: to the front). A head
 * woken twice, or one that is running already, is not promoted again (only a parked job is).
 * The watch forgets a lock once nobody waits for it.
 *
 * The runner that parked a head may have died as well as the holder; then nobody watches its lock.
 * So every `fleetEveryMs` each runner also looks at one page of all the locks in use in the
 * namespace (`sweepLockHeads`, 200 locks a page, a full pass over as many pages as it takes), and
 * wakes the heads of free ones the same way. Waking a head twice is harmless, so runners need not
 * agree on who sweeps what.
 */
export class LockHeadWatch {
  /** Lock names, the one a waiter was parked on least recently first. */
  private readonly watched = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private fleetTimer: NodeJS.Timeout | undefined;
  /** Where the fleet sweep goes on (an SSCAN cursor; '0' starts a new pass). */
  private fleetCursor = '0';
  /** The fleet sweep failed last time: its warning is logged once per outage, not every page. */
  private fleetFailing = false;
  private stopped = false;

  constructor(
    private readonly locks: Pick<LockServiceLike, 'freeLockHeads' | 'sweepLockHeads'>,
    private readonly wake: (heads: readonly LockHolder[]) => Promise<void>,
    private readonly opts: { readonly everyMs: number; readonly fleetEveryMs?: number; readonly logger: Pick<Logger, 'warn'> },
  ) {
    this.scheduleFleet();
  }

  /** A waiter was parked on `names`: watch them until nobody waits. */
  note(names: readonly string[]): void {
    if (this.stopped) return;
    for (const n of names) {
      this.watched.delete(n);
      this.watched.add(n);
    }
    while (this.watched.size > MAX_WATCHED) this.watched.delete(this.watched.keys().next().value!);
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.fleetTimer);
    this.timer = undefined;
    this.fleetTimer = undefined;
    this.watched.clear();
  }

  private scheduleFleet(): void {
    if (this.fleetTimer || this.stopped || !this.opts.fleetEveryMs) return;
    this.fleetTimer = setTimeout(() => void this.sweepFleet(), this.opts.fleetEveryMs);
    this.fleetTimer.unref();
  }

  /** One page of the fleet sweep; never throws (the page is looked at again next time). */
  async sweepFleet(): Promise<void> {
    this.fleetTimer = undefined;
    try {
      const { cursor, heads } = await this.locks.sweepLockHeads(this.fleetCursor);
      this.fleetCursor = cursor;
      this.fleetFailing = false;
      if (heads.length > 0 && !this.stopped) await this.wake(heads);
    } catch (err) {
      if (!this.fleetFailing) this.opts.logger.warn({ err: coerceError(err).message }, 'could not sweep the locks in use for free locks with waiters');
      this.fleetFailing = true;
    }
    this.scheduleFleet();
  }

  private schedule(): void {
    if (this.timer || this.stopped || this.watched.size === 0) return;
    this.timer = setTimeout(() => void this.sweep(), this.opts.everyMs);
    this.timer.unref();
  }

  /** One look at every watched lock; never throws (the heads' own fallback re-check remains). */
  async sweep(): Promise<void> {
    this.timer = undefined;
    if (this.watched.size === 0) return;
    try {
      const found = await this.locks.freeLockHeads([...this.watched]);
      const heads: LockHolder[] = [];
      for (const [name, head] of found) {
        if (head === 'idle') this.watched.delete(name);
        else if (head !== 'held') heads.push(head);
      }
      if (heads.length > 0 && !this.stopped) await this.wake(heads);
    } catch (err) {
      this.opts.logger.warn({ err: coerceError(err).message }, 'could not look for free locks with waiters');
    }
    this.schedule();
  }
}
