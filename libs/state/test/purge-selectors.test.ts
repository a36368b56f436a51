import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { ValueError } from '@agora/core';
import { DeadLetterStore, MemoStore } from '@agora/state';
import { testRedisUrl, uniqueNamespace } from '../../../test/support/index.js';
import { letter } from './dead-letter-fixture.js';

const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
afterAll(() => redis.disconnect());

/**
 * A purge deletes: a selector that is not exactly one of the documented shapes must delete
 * nothing. Before, `{}` and `{ all: false }` deleted every dead letter (the selector fell through
 * to "all"), and `{ all: false }` the whole memo cache (only `'all' in sel` was tested).
 */

describe('purge selectors', () => {
  it('a dead-letter purge refuses anything but { id }, { runId } or { all: true }, deleting nothing', async () => {
    const store = new DeadLetterStore(redis, uniqueNamespace('dlq'));
    await store.put(letter('r1', 'a'), { maxRecords: 10, tailBytes: 8, source: 'runner' });
    await store.put(letter('r2', 'b'), { maxRecords: 10, tailBytes: 8, source: 'runner' });
    for (const sel of [{}, { all: false }, { all: 'yes' }, { id: 'r1.a', all: true }, { runId: '../x' }, { id: 'nodot' }, null]) {
      await expect(store.purge(sel as never), JSON.stringify(sel)).rejects.toThrow(ValueError);
    }
    await expect(store.purge({} as never)).rejects.toThrow('a dead-letter selector is { id: "<runId>.<itemId>" }, { runId } or { all: true }; got {}');
    expect(await store.count()).toBe(2);
    expect(await store.purge({ id: 'r1.a' })).toBe(1);
    expect(await store.purge({ all: true })).toBe(1);
  });

  it('a memo purge refuses anything but { keys: [...] } or { all: true }, deleting nothing', async () => {
    const store = new MemoStore(redis, uniqueNamespace('memo'));
    const key = 'a'.repeat(64);
    await store.put(key, { runId: 'r1', itemId: 'a', resultRef: 'agora://x/result/r1.a/' + 'b'.repeat(64) });
    for (const sel of [{}, { all: false }, { keys: [] }, { keys: ['nothex'] }, { keys: [key], all: true }, null]) {
      await expect(store.purge(sel as never), JSON.stringify(sel)).rejects.toThrow(ValueError);
    }
    await expect(store.purge({ keys: [key, 'XYZ'] })).rejects.toThrow('invalid memo key "XYZ" at keys[1]: expected 64 lowercase hex digits');
    expect(await store.list()).toHaveLength(1);
    expect(await store.purge({ keys: [key] })).toBe(1);
  });
});
