import { describe, expect, it } from 'vitest';
import { ApplicationError, CancelledError, FencedError, ProviderError, TimeoutError, type RetryPolicy } from '@agora/core';
import { HAND_BACK, LOCK_LOST, TIMED_OUT, classifyOutcome, releaseKeepsPlace } from '../src/outcome.js';
import { ReleaseStack } from '../src/release-stack.js';

const signal = (reason?: string): AbortSignal => {
  const ac = new AbortController();
  if (reason !== undefined) ac.abort(reason);
  return ac.signal;
};

/** Today's default: three tries, infrastructure failures only. */
const infraOnly: Pick<RetryPolicy, 'attempts' | 'on'> = { attempts: 3, on: ['infra'] };

describe('classifyOutcome', () => {
  it('a stale fencing token wins over everything: the result was refused', () => {
    expect(classifyOutcome(new FencedError('db', 1, 2), signal(HAND_BACK), 1, infraOnly).kind).toBe('fenced');
  });
  it('a fenced result or a lost lock on the last try fails with its own code (FENCED, LOCK), written without the lease', () => {
    expect(classifyOutcome(new FencedError('db', 1, 2), signal(), 3, infraOnly)).toMatchObject({ kind: 'failed', code: 'FENCED', leaseGone: 'fenced' });
    expect(classifyOutcome(new CancelledError('x'), signal(LOCK_LOST), 3, infraOnly)).toMatchObject({ kind: 'failed', code: 'LOCK', leaseGone: 'lost' });
    expect(classifyOutcome(new CancelledError('x'), signal(LOCK_LOST), 2, infraOnly)).toEqual({ kind: 'lockLost' });
  });
  it('a lost or fenced lease keeps the item\'s place in its locks\' queues (it runs again, maybe already waiting elsewhere); an end does not', () => {
    const keeps = (caught: unknown, reason: string | undefined, tries: number) => releaseKeepsPlace(classifyOutcome(caught, signal(reason), tries, infraOnly));
    expect(keeps(new FencedError('db', 1, 2), undefined, 1)).toBe(true);
    expect(keeps(new CancelledError('x'), LOCK_LOST, 1)).toBe(true);
    // On the last try the item fails for good, unless its job was taken up elsewhere: that
    // attempt may already wait in the locks' queues under the same holder.
    expect(keeps(new FencedError('db', 1, 2), undefined, 3)).toBe(false);
    expect(keeps(new CancelledError('x'), LOCK_LOST, 3)).toBe(false);
    expect(releaseKeepsPlace({ kind: 'superseded', error: new FencedError('db', 1, 2) })).toBe(true);
    expect(keeps(new CancelledError('x'), HAND_BACK, 1)).toBe(true);
    expect(keeps(new ProviderError('docker', 'no image'), undefined, 1)).toBe(false);
    expect(keeps(new ApplicationError('exit 1', 1), undefined, 1)).toBe(false);
    expect(keeps(new CancelledError('stopped'), 'run cancelled', 1)).toBe(false);
  });
  it('the abort reason decides for hand-back, lock loss and cancel', () => {
    expect(classifyOutcome(new CancelledError('x'), signal(HAND_BACK), 1, infraOnly)).toEqual({ kind: 'handBack' });
    expect(classifyOutcome(new CancelledError('x'), signal(LOCK_LOST), 1, infraOnly)).toEqual({ kind: 'lockLost' });
    expect(classifyOutcome(new Error('killed'), signal('run cancelled'), 1, infraOnly)).toEqual({ kind: 'cancelled', reason: 'run cancelled' });
    expect(classifyOutcome(new CancelledError('stopped'), signal(), 1, infraOnly)).toEqual({ kind: 'cancelled', reason: 'stopped' });
  });
  it('an infrastructure failure is retried while attempts are left, then fails with its code', () => {
    const infra = new ProviderError('docker', 'no image');
    expect(classifyOutcome(infra, signal(), 1, infraOnly).kind).toBe('retry');
    expect(classifyOutcome(infra, signal(), 3, infraOnly)).toMatchObject({ kind: 'failed', code: infra.code });
  });
  it('a failure of the work itself fails at once with its exit code; anything else is INTERNAL', () => {
    expect(classifyOutcome(new ApplicationError('bad input', 2), signal(), 1, infraOnly)).toMatchObject({ kind: 'failed', code: 'APPLICATION', exitCode: 2 });
    expect(classifyOutcome(new TypeError('oops'), signal(), 1, infraOnly)).toMatchObject({ kind: 'failed', code: 'INTERNAL' });
    expect(classifyOutcome('a string', signal(), 1, infraOnly)).toMatchObject({ kind: 'failed', code: 'INTERNAL' });
  });
});

describe('classifyOutcome: the policy decides which failure classes retry', () => {
  const all: Pick<RetryPolicy, 'attempts' | 'on'> = { attempts: 3, on: ['infra', 'app', 'timeout'] };
  it('an application failure is retried when `on` lists app, and fails on the last try', () => {
    expect(classifyOutcome(new ApplicationError('exit 1', 1), signal(), 1, all)).toMatchObject({ kind: 'retry', reason: 'app' });
    expect(classifyOutcome(new ApplicationError('exit 1', 1), signal(), 3, all)).toMatchObject({ kind: 'failed', code: 'APPLICATION', exitCode: 1 });
  });
  it('an infrastructure failure fails at once when `on` leaves infra out', () => {
    expect(classifyOutcome(new ProviderError('docker', 'no image'), signal(), 1, { attempts: 3, on: ['app'] })).toMatchObject({ kind: 'failed', code: 'PROVIDER' });
  });
  it("the runner's timeout abort is a timeout failure, not a cancel: retried when listed, else failed TIMEOUT", () => {
    expect(classifyOutcome(new CancelledError('stopped'), signal(TIMED_OUT), 1, all, 500)).toMatchObject({ kind: 'retry', reason: 'timeout' });
    const failed = classifyOutcome(new CancelledError('stopped'), signal(TIMED_OUT), 1, infraOnly, 500);
    expect(failed).toMatchObject({ kind: 'failed', code: 'TIMEOUT' });
    expect(failed.kind === 'failed' && failed.error.message).toBe('timed out after 500 ms; the worker was stopped');
  });
  it("a provider's own timeout (TimeoutError, signal not aborted) is the timeout class too", () => {
    expect(classifyOutcome(new TimeoutError('worker timed out', 100), signal(), 2, all)).toMatchObject({ kind: 'retry', reason: 'timeout' });
    expect(classifyOutcome(new TimeoutError('worker timed out', 100), signal(), 1, infraOnly)).toMatchObject({ kind: 'failed', code: 'TIMEOUT' });
  });
  it('an error of no class (a bug) is never retried, whatever `on` says', () => {
    expect(classifyOutcome(new TypeError('oops'), signal(), 1, all)).toMatchObject({ kind: 'failed', code: 'INTERNAL' });
  });
});

describe('ReleaseStack', () => {
  it('releases newest first, runs every step even when one throws, and rethrows the first error met', async () => {
    const order: string[] = [];
    const stack = new ReleaseStack();
    stack.defer(() => void order.push('locks'));
    stack.defer(() => {
      order.push('listener');
      throw new Error('first');
    });
    stack.defer(async () => {
      await Promise.resolve();
      order.push('running set');
      throw new Error('second');
    });
    await expect(stack.releaseAll()).rejects.toThrow('second');
    expect(order).toEqual(['running set', 'listener', 'locks']);
    await stack.releaseAll(); // empty now: nothing runs twice
    expect(order).toHaveLength(3);
  });
});
