import { describe, expect, it } from 'vitest';
import { ConfigError, compileConfig, validatePlan } from '@agora/core';

/** The limits' inputs: a queue's maxWaiting and rateLimit in the config, a plan's maxParallel and an item's priority. */
const plan = (extra: Record<string, unknown>, itemExtra: Record<string, unknown> = {}) => ({ id: 'p', ...extra, items: [{ id: 'a', executor: 'noop', ...itemExtra }] });

describe('plan limits', () => {
  it('accepts maxParallel and priorities 1 to 100, and keeps them', () => {
    const r = validatePlan({ id: 'p', maxParallel: 3, items: [{ id: 'a', executor: 'noop', priority: 1 }, { id: 'b', executor: 'noop', priority: 100 }, { id: 'c', executor: 'noop' }] });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.plan.maxParallel).toBe(3);
    expect(r.plan.items.map((i) => i.priority)).toEqual([1, 100, undefined]);
  });

  it.each([
    ['priority 0', plan({}, { priority: 0 }), 'items[0].priority (item "a"): priority is 1 (first) to 100 (last)'],
    ['priority 101', plan({}, { priority: 101 }), 'items[0].priority (item "a"): priority is 1 (first) to 100 (last)'],
    ['priority 1.5', plan({}, { priority: 1.5 }), 'items[0].priority (item "a"): Invalid input: expected int, received number'],
    ['priority "high"', plan({}, { priority: 'high' }), 'items[0].priority (item "a"): Invalid input: expected number, received string'],
    ['maxParallel 0', plan({ maxParallel: 0 }), 'maxParallel: Too small: expected number to be >0'],
    ['maxParallel 2.5', plan({ maxParallel: 2.5 }), 'maxParallel: Invalid input: expected int, received number'],
  ])('refuses %s, naming the path', (_name, input, problem) => {
    expect(validatePlan(input)).toEqual({ ok: false, problems: [problem] });
  });
});

describe('queue limits in the config', () => {
  it('accepts maxWaiting and a rate limit per queue', () => {
    const c = compileConfig({ queues: { default: { concurrency: 2, maxWaiting: 5000, rateLimit: { max: 10, durationMs: 1000 } } } }, 'test', '/tmp', {});
    expect(c.queues['default']).toEqual({ concurrency: 2, maxWaiting: 5000, rateLimit: { max: 10, durationMs: 1000 } });
  });

  it.each([
    ['maxWaiting 0', { maxWaiting: 0 }, 'queues.default.maxWaiting: Too small: expected number to be >0'],
    ['a rate limit without durationMs', { rateLimit: { max: 1 } }, 'queues.default.rateLimit.durationMs: Invalid input: expected number, received undefined'],
    ['a rate limit with a typo', { rateLimit: { max: 1, duration: 1000, durationMs: 1000 } }, 'queues.default.rateLimit: Unrecognized key: "duration"'],
  ])('refuses %s, naming the key', (_name, q, problem) => {
    expect(() => compileConfig({ queues: { default: q } }, 'test', '/tmp', {})).toThrow(ConfigError);
    expect(() => compileConfig({ queues: { default: q } }, 'test', '/tmp', {})).toThrow(problem);
  });
});
