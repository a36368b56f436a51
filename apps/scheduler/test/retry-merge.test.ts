import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_POLICY, type Plan } from '@agora/core';
import { retryPolicyProblems } from '../src/retry-policies.js';

/** The merged retry policy of each item obeys maxDelayMs >= delayMs, whichever levels gave them. */
const plan = (items: Array<Partial<Plan['items'][number]> & { id: string }>): Plan =>
  ({ id: 'p', queue: 'default', items: items.map((it) => ({ executor: 'dispatch', inputs: { task: 't' }, depends_on: [], resourceLocks: [], ...it })) }) as Plan;
const config = { ...DEFAULT_RETRY_POLICY, backoff: { ...DEFAULT_RETRY_POLICY.backoff, delayMs: 200 } };

describe('retryPolicyProblems', () => {
  it('names the item, both values and the level each came from; a consistent merge is no problem', () => {
    expect(retryPolicyProblems(plan([{ id: 'a', retry: { backoff: { maxDelayMs: 50 } } }, { id: 'b', retry: { backoff: { maxDelayMs: 200 } } }]), { config, tasks: {} })).toEqual([
      'items[0] ("a"): retry: backoff.maxDelayMs 50 (from the item) is below backoff.delayMs 200 (from the config); the merged policy must keep maxDelayMs >= delayMs',
    ]);
    expect(retryPolicyProblems(plan([{ id: 'a', retry: { backoff: { delayMs: 10 } } }]), { config, tasks: { t: { backoff: { maxDelayMs: 5 } } } })).toEqual([
      'items[0] ("a"): retry: backoff.maxDelayMs 5 (from task "t") is below backoff.delayMs 10 (from the item); the merged policy must keep maxDelayMs >= delayMs',
    ]);
    expect(retryPolicyProblems(plan([{ id: 'a' }]), { config, tasks: {} })).toEqual([]);
  });

  it('names at most 20 items and counts the rest', () => {
    const items = Array.from({ length: 25 }, (_, i) => ({ id: `i${i}` }));
    const problems = retryPolicyProblems(plan(items), { config, tasks: { t: { backoff: { maxDelayMs: 1 } } } });
    expect(problems).toHaveLength(21);
    expect(problems[20]).toBe('… and 5 more item(s) whose merged retry policy has backoff.maxDelayMs below backoff.delayMs');
  });
});
