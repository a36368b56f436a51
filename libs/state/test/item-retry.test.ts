import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '@agora/audit';
import { testRedisUrl, uniqueNamespace } from '../../../test/support/index.js';
import type { MinimalJob } from 'bullmq';
import { retryDelayMs, type RetryPolicy } from '@agora/core';
import { ITEM_BACKOFF_TYPE, RunStore, createRedis, itemBackoffStrategy, itemDefinitionHash, itemInputsHash, itemRetryJobOptions, parseItemJobData, withRetryDelay } from '@agora/state';

const policy: RetryPolicy = { attempts: 6, backoff: { type: 'exponential', delayMs: 100, maxDelayMs: 250, jitter: 0 }, on: ['app'] };
const job = (data: unknown, backoff?: unknown): MinimalJob => ({ data, opts: backoff === undefined ? {} : { backoff } }) as unknown as MinimalJob;

describe('itemBackoffStrategy: the back-off BullMQ applies to item jobs', () => {
  it("applies the delay the runner drew for the error (the one its retry event reports)", () => {
    const jittered: RetryPolicy = { ...policy, backoff: { ...policy.backoff, jitter: 1 } };
    const drawn = retryDelayMs(jittered.backoff, 2);
    const err = withRetryDelay(new Error('exit 1'), drawn);
    expect(itemBackoffStrategy(2, ITEM_BACKOFF_TYPE, err, job({ retry: jittered }))).toBe(drawn);
  });
  it("an unmarked error: the job's resolved policy, capped", () => {
    expect([1, 2, 3, 4].map((n) => itemBackoffStrategy(n, ITEM_BACKOFF_TYPE, new Error('x'), job({ retry: policy })))).toEqual([100, 200, 250, 250]);
  });
  it("a job without a (valid) policy: exponential from the job's own backoff delay", () => {
    expect(itemBackoffStrategy(3, ITEM_BACKOFF_TYPE, new Error('x'), job({ retry: { attempts: 'many' } }, { type: ITEM_BACKOFF_TYPE, delay: 10 }))).toBe(40);
    expect(itemBackoffStrategy(1, ITEM_BACKOFF_TYPE, new Error('x'), job({}, 7))).toBe(7);
  });
  it('the job options name the custom type, so BullMQ asks the strategy', () => {
    expect(itemRetryJobOptions(policy)).toEqual({ attempts: 6, backoff: { type: 'agora-retry', delay: 100 } });
  });
});

describe('the retry policy and timeout are part of the item definition', () => {
  const base = { runId: 'rabc', itemId: 'a', executor: 'noop', inputs: {}, locks: [], deps: [] };
  it('changing either changes the hash (an edited job runs nothing: INTEGRITY); a job without them hashes as before', () => {
    const legacy = itemDefinitionHash(parseItemJobData(base));
    const withPolicy = itemDefinitionHash(parseItemJobData({ ...base, retry: policy }));
    const edited = itemDefinitionHash(parseItemJobData({ ...base, retry: { ...policy, attempts: 100 } }));
    const timed = itemDefinitionHash(parseItemJobData({ ...base, retry: policy, timeoutMs: 500 }));
    expect(new Set([legacy, withPolicy, edited, timed]).size).toBe(4);
    // Data without the new fields hashes as older schedulers registered it (their definition's fields only).
    const before = { runId: 'rabc', itemId: 'a', executor: 'noop', inputsHash: itemInputsHash({}), locks: [], deps: [], target: null, taskRef: null };
    expect(legacy).toBe(createHash('sha256').update(canonicalJson(before)).digest('hex'));
  });
  it('job data with an out-of-bounds policy does not parse', () => {
    expect(() => parseItemJobData({ ...base, retry: { ...policy, attempts: 0 } })).toThrow(/retry\.attempts/);
    expect(() => parseItemJobData({ ...base, timeoutMs: -1 })).toThrow(/timeoutMs/);
  });
});

describe('RunStore.pinRetryLevels: the deployment levels of a run are pinned once', () => {
  it('a resumed acceptance (another scheduler, another config) gets the first pins; a corrupted pin is refused', async () => {
    const redis = createRedis(testRedisUrl());
    try {
      const store = new RunStore(redis, uniqueNamespace('pin'));
      const first = { config: policy, tasks: { flaky: { attempts: 9 } } };
      expect(await store.pinRetryLevels('rpin', first)).toEqual(first);
      expect(await store.pinRetryLevels('rpin', { config: { ...policy, attempts: 1 }, tasks: {} })).toEqual(first);
      await redis.hset(store.keys.run('rpin2').meta, 'retryLevels', JSON.stringify({ config: { ...policy, attempts: 1000 }, tasks: {} }));
      await expect(store.pinRetryLevels('rpin2', first)).rejects.toThrow(/pinned retry levels are invalid/);
    } finally {
      redis.disconnect();
    }
  });
});
