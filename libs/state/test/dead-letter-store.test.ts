import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { keys } from '@agora/core';
import { DeadLetterStore, tailOf } from '@agora/state';
import { testRedisUrl, uniqueNamespace } from '../../../test/support/index.js';
import { letter } from './dead-letter-fixture.js';

const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
afterAll(() => redis.disconnect());

/** The dead-letter store's bounds and idempotence, against a real Redis. */
const opts = { maxRecords: 3, tailBytes: 8 };

describe('DeadLetterStore', () => {
  it('writes a record once per run and item; a runner\'s record replaces a scheduler\'s, nothing else replaces one', async () => {
    const store = new DeadLetterStore(redis, uniqueNamespace('dlq'));
    expect(await store.put(letter('r1', 'a', { error: 'from the scheduler' }), { ...opts, source: 'scheduler' })).toBe(true);
    expect(await store.put(letter('r1', 'a', { error: 'again' }), { ...opts, source: 'scheduler' })).toBe(false);
    expect((await store.require('r1.a')).error).toBe('from the scheduler');
    expect(await store.put(letter('r1', 'a', { error: 'from the runner' }), { ...opts, source: 'runner' })).toBe(false);
    expect(await store.require('r1.a')).toMatchObject({ error: 'from the runner', source: 'runner' });
    expect(await store.put(letter('r1', 'a', { error: 'late scheduler' }), { ...opts, source: 'scheduler' })).toBe(false);
    expect((await store.require('r1.a')).error).toBe('from the runner');
    expect(await store.count()).toBe(1);
  });

  it('keeps at most maxRecords: the oldest go, from the index and their run\'s set', async () => {
    const ns = uniqueNamespace('dlq');
    const store = new DeadLetterStore(redis, ns);
    for (const [run, item] of [['r1', 'a'], ['r1', 'b'], ['r2', 'a'], ['r2', 'b'], ['r3', 'a']] as const) {
      await store.put(letter(run, item), { ...opts, source: 'runner' });
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await store.count()).toBe(3);
    expect((await store.list()).map((l) => l.id).sort()).toEqual(['r2.a', 'r2.b', 'r3.a']);
    expect(await store.idsOfRun('r1')).toEqual([]);
    expect(await store.get('r1.a')).toBeNull();
    expect(await redis.exists(keys(ns).deadLetters.letter('r1.a'), keys(ns).deadLetters.run('r1'))).toBe(0);
    expect(await store.purge({ all: true })).toBe(3);
    expect(await store.count()).toBe(0);
  });

  it('bounds a record: tails to their last tailBytes (whole characters), oversized inputs dropped saying so', async () => {
    const store = new DeadLetterStore(redis, uniqueNamespace('dlq'));
    await store.put(letter('r1', 'a', { stdoutTail: 'abcdefghijklmnop', stderrTail: 'xxxxxxx€€€', inputs: { big: 'z'.repeat(70_000) } }), { ...opts, source: 'runner' });
    const l = await store.require('r1.a');
    expect(l.stdoutTail).toBe('ijklmnop');
    expect(l.stderrTail).toBe('€€');
    expect(l.inputs).toBeUndefined();
    expect(l.inputsMissing).toMatch(/inputs over 65536 bytes/);
    expect(tailOf('aé', 1)).toBe('');
  });

  it('marks letters replayed all or none; unmark undoes only its own run\'s mark', async () => {
    const store = new DeadLetterStore(redis, uniqueNamespace('dlq'));
    await store.put(letter('r1', 'a'), { ...opts, source: 'runner' });
    await store.put(letter('r1', 'b'), { ...opts, source: 'runner' });
    expect(await store.markReplayed(['r1.a'], 'rnew1')).toEqual({ ok: true });
    expect(await store.markReplayed(['r1.a', 'r1.b'], 'rnew2')).toEqual({ ok: false, replayed: ['r1.a'] });
    expect((await store.require('r1.b')).replayedBy).toBeUndefined();
    await expect(store.markReplayed(['r1.b', 'r1.zz'], 'rnew2')).rejects.toThrow('no dead letter "r1.zz"');
    expect(await store.markReplayed(['r1.a', 'r1.b'], 'rnew3', { force: true })).toEqual({ ok: true });
    await store.unmarkReplayed(['r1.a', 'r1.b'], 'rnew1');
    expect((await store.require('r1.a')).replayedBy).toBe('rnew3');
    await store.unmarkReplayed(['r1.a', 'r1.b'], 'rnew3');
    // The forced replay's failed submission gives back the mark it replaced (r1.b had none).
    expect((await store.require('r1.a')).replayedBy).toBe('rnew1');
    expect((await store.require('r1.b')).replayedBy).toBeUndefined();
    await expect(store.get('bad id')).rejects.toThrow('invalid dead letter id');
  });
});
