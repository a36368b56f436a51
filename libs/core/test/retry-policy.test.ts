import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RETRY_POLICY,
  RETRY_LIMITS,
  compileConfig,
  configRetryPolicy,
  resolveRetryPolicy,
  retryDelayMs,
  validatePlan,
  type RetryBackoff,
} from '@agora/core';

const DAY = 24 * 3600 * 1000;

describe('retryDelayMs: the back-off before the next try', () => {
  it('fixed: delayMs every time; exponential: delayMs * 2^(tries - 1)', () => {
    const fixed: RetryBackoff = { type: 'fixed', delayMs: 250, jitter: 0 };
    expect([1, 2, 5].map((n) => retryDelayMs(fixed, n))).toEqual([250, 250, 250]);
    const exp: RetryBackoff = { type: 'exponential', delayMs: 100, jitter: 0 };
    expect([1, 2, 3, 4].map((n) => retryDelayMs(exp, n))).toEqual([100, 200, 400, 800]);
  });

  it('maxDelayMs caps exponential delays', () => {
    const capped: RetryBackoff = { type: 'exponential', delayMs: 100, maxDelayMs: 300, jitter: 0 };
    expect([1, 2, 3, 4, 10].map((n) => retryDelayMs(capped, n))).toEqual([100, 200, 300, 300, 300]);
  });

  it('without maxDelayMs no delay exceeds a day, even at the 100th try', () => {
    const exp: RetryBackoff = { type: 'exponential', delayMs: 1000, jitter: 0 };
    expect(retryDelayMs(exp, 100)).toBe(RETRY_LIMITS.maxDelayMs);
    expect(RETRY_LIMITS.maxDelayMs).toBe(DAY);
  });

  it('jitter draws the delay from [d * (1 - jitter), d], after the cap', () => {
    const b: RetryBackoff = { type: 'exponential', delayMs: 1000, maxDelayMs: 3000, jitter: 0.5 };
    // The extremes of the random draw: 0 gives the floor, just under 1 the capped delay.
    expect(retryDelayMs(b, 1, () => 0)).toBe(500);
    expect(retryDelayMs(b, 1, () => 0.999999)).toBe(999);
    expect(retryDelayMs(b, 5, () => 0)).toBe(1500);
    expect(retryDelayMs(b, 5, () => 0.999999)).toBe(2999);
    for (let i = 0; i < 1000; i++) {
      const tries = 1 + (i % 6);
      const d = retryDelayMs(b, tries);
      const top = Math.min(1000 * 2 ** (tries - 1), 3000);
      expect(d).toBeGreaterThanOrEqual(top / 2);
      expect(d).toBeLessThanOrEqual(top);
    }
    const full: RetryBackoff = { type: 'fixed', delayMs: 800, jitter: 1 };
    for (let i = 0; i < 200; i++) expect(retryDelayMs(full, 1)).toBeLessThanOrEqual(800);
  });
});

describe('resolveRetryPolicy: item > task > config, field by field', () => {
  const config = configRetryPolicy({ attempts: 4, backoffMs: 50 });
  it('the config level alone is the legacy keys with today\'s defaults', () => {
    expect(config).toEqual({ attempts: 4, backoff: { type: 'exponential', delayMs: 50, jitter: 0 }, on: ['infra'] });
    expect(configRetryPolicy({ attempts: 3, backoffMs: 1000 })).toEqual(DEFAULT_RETRY_POLICY);
  });
  it('runner.retry wins over the legacy runner.attempts/backoffMs', () => {
    expect(configRetryPolicy({ attempts: 4, backoffMs: 50, retry: { attempts: 7, backoff: { delayMs: 5 } } })).toMatchObject({ attempts: 7, backoff: { delayMs: 5 } });
  });
  it('each field comes from the most specific level that gives it', () => {
    const task = { attempts: 5, on: ['app' as const], backoff: { type: 'fixed' as const, delayMs: 20 } };
    const item = { backoff: { delayMs: 10, jitter: 0.2 } };
    expect(resolveRetryPolicy([item, task], config)).toEqual({ attempts: 5, backoff: { type: 'fixed', delayMs: 10, jitter: 0.2 }, on: ['app'] });
    expect(resolveRetryPolicy([undefined, task], config)).toEqual({ attempts: 5, backoff: { type: 'fixed', delayMs: 20, jitter: 0 }, on: ['app'] });
    expect(resolveRetryPolicy([{ attempts: 1, on: [] }, task], config)).toMatchObject({ attempts: 1, on: [] });
  });
  it('a config with runner.retry compiles; a bad one names the key', () => {
    expect(compileConfig({ runner: { retry: { on: ['app', 'timeout'] } } }, 'test', '/tmp').runner.retry).toEqual({ on: ['app', 'timeout'] });
    expect(() => compileConfig({ runner: { retry: { attempts: 0 } } }, 'test', '/tmp')).toThrow(/runner\.retry\.attempts/);
    expect(() => compileConfig({ tasks: { t: { command: ['x'], retry: { on: ['crash'] } } } }, 'test', '/tmp')).toThrow(/tasks\.t\.retry\.on\.0/);
  });
  it('a config level whose maxDelayMs is below its own delayMs (runner.backoffMs) is refused at load, naming both keys', () => {
    expect(() => compileConfig({ runner: { backoffMs: 200, retry: { backoff: { maxDelayMs: 50 } } } }, 'test', '/tmp')).toThrow(
      /runner\.retry\.backoff\.maxDelayMs: maxDelayMs 50 is below runner\.backoffMs 200/,
    );
    expect(() => compileConfig({ runner: { retry: { backoff: { maxDelayMs: 999 } } } }, 'test', '/tmp')).toThrow(/below runner\.backoffMs 1000/);
    // runner.retry's own delayMs wins over backoffMs: then only it counts.
    expect(compileConfig({ runner: { backoffMs: 200, retry: { backoff: { delayMs: 10, maxDelayMs: 50 } } } }, 'test', '/tmp').runner.retry?.backoff?.maxDelayMs).toBe(50);
    expect(compileConfig({ runner: { backoffMs: 50, retry: { backoff: { maxDelayMs: 50 } } } }, 'test', '/tmp').runner.backoffMs).toBe(50);
  });
  it('runner.backoffMs, the legacy spelling of backoff.delayMs, has its bounds: 0 to a day; more is refused, not cut to a day', () => {
    expect(compileConfig({ runner: { backoffMs: 86_400_000 } }, 'test', '/tmp').runner.backoffMs).toBe(86_400_000);
    expect(compileConfig({ runner: { backoffMs: 0 } }, 'test', '/tmp').runner.backoffMs).toBe(0);
    expect(() => compileConfig({ runner: { backoffMs: 86_400_001 } }, 'test', '/tmp')).toThrow(/runner\.backoffMs: Too big: expected number to be <=86400000/);
    expect(() => compileConfig({ runner: { backoffMs: -1 } }, 'test', '/tmp')).toThrow(/runner\.backoffMs/);
  });
});

describe('plan validation of retry policies and timeouts names the item', () => {
  const plan = (items: unknown[]) => ({ id: 'p', items });
  it('accepts a full policy and a timeout', () => {
    const r = validatePlan(plan([{ id: 'a', executor: 'noop', timeoutMs: 500, retry: { attempts: 4, backoff: { type: 'fixed', delayMs: 10, maxDelayMs: 20, jitter: 0.5 }, on: ['app', 'timeout'] } }]));
    expect(r.problems).toEqual([]);
  });
  it('refuses out-of-bounds fields, unknown classes and fields, each naming the item', () => {
    const r = validatePlan(
      plan([
        { id: 'many', executor: 'noop', retry: { attempts: 101 } },
        { id: 'zero', executor: 'noop', retry: { attempts: 0 } },
        { id: 'long', executor: 'noop', retry: { backoff: { delayMs: DAY + 1 } } },
        { id: 'jitter', executor: 'noop', retry: { backoff: { jitter: 1.5 } } },
        { id: 'class', executor: 'noop', retry: { on: ['infra', 'crash'] } },
        { id: 'twice', executor: 'noop', retry: { on: ['app', 'app'] } },
        { id: 'cap', executor: 'noop', retry: { backoff: { delayMs: 100, maxDelayMs: 50 } } },
        { id: 'typo', executor: 'noop', retry: { attempt: 3 } },
        { id: 'slow', executor: 'noop', timeoutMs: 0 },
      ]),
    );
    expect(r.problems).toEqual([
      expect.stringMatching(/^items\[0\]\.retry\.attempts \(item "many"\): Too big: expected number to be <=100/),
      expect.stringMatching(/^items\[1\]\.retry\.attempts \(item "zero"\): Too small/),
      expect.stringMatching(/^items\[2\]\.retry\.backoff\.delayMs \(item "long"\): Too big: expected number to be <=86400000/),
      expect.stringMatching(/^items\[3\]\.retry\.backoff\.jitter \(item "jitter"\): Too big: expected number to be <=1/),
      expect.stringMatching(/^items\[4\]\.retry\.on\[1\] \(item "class"\): Invalid option: expected one of "infra"\|"app"\|"timeout"/),
      'items[5].retry.on (item "twice"): a failure class is listed twice',
      'items[6].retry.backoff.maxDelayMs (item "cap"): maxDelayMs must not be below delayMs',
      expect.stringMatching(/^items\[7\]\.retry \(item "typo"\): Unrecognized key: "attempt"/),
      expect.stringMatching(/^items\[8\]\.timeoutMs \(item "slow"\): Too small/),
    ]);
  });
});
