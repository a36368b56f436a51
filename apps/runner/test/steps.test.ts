import { describe, expect, it } from 'vitest';
import { ApplicationError, CancelledError, FencedError, ProviderError } from '@agora/core';
import { HAND_BACK, LOCK_LOST, classifyOutcome } from '../src/outcome.js';
import { ReleaseStack } from '../src/release-stack.js';

const signal = (reason?: string): AbortSignal => {
  const ac = new AbortController();
  if (reason !== undefined) ac.abort(reason);
  return ac.signal;
};

describe('classifyOutcome', () => {
  it('a stale fencing token wins over everything: the result was refused', () => {
    expect(classifyOutcome(new FencedError('db', 1, 2), signal(HAND_BACK), 1, 3).kind).toBe('fenced');
  });
  it('the abort reason decides for hand-back, lock loss and cancel', () => {
    expect(classifyOutcome(new CancelledError('x'), signal(HAND_BACK), 1, 3)).toEqual({ kind: 'handBack' });
    expect(classifyOutcome(new CancelledError('x'), signal(LOCK_LOST), 1, 3)).toEqual({ kind: 'lockLost' });
    expect(classifyOutcome(new Error('killed'), signal('run cancelled'), 1, 3)).toEqual({ kind: 'cancelled', reason: 'run cancelled' });
    expect(classifyOutcome(new CancelledError('stopped'), signal(), 1, 3)).toEqual({ kind: 'cancelled', reason: 'stopped' });
  });
  it('an infrastructure failure is retried while attempts are left, then fails with its code', () => {
    const infra = new ProviderError('docker', 'no image');
    expect(classifyOutcome(infra, signal(), 1, 3).kind).toBe('retry');
    expect(classifyOutcome(infra, signal(), 3, 3)).toMatchObject({ kind: 'failed', code: infra.code });
  });
  it('a failure of the work itself fails at once with its exit code; anything else is INTERNAL', () => {
    expect(classifyOutcome(new ApplicationError('bad input', 2), signal(), 1, 3)).toMatchObject({ kind: 'failed', code: 'APPLICATION', exitCode: 2 });
    expect(classifyOutcome(new TypeError('oops'), signal(), 1, 3)).toMatchObject({ kind: 'failed', code: 'INTERNAL' });
    expect(classifyOutcome('a string', signal(), 1, 3)).toMatchObject({ kind: 'failed', code: 'INTERNAL' });
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
