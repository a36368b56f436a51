import { afterAll, describe, expect, it } from 'vitest';
import { MemoStore, createRedis } from '@agora/state';
import { cliEnv } from '../../../test/support/cli.js';
import { testRedisUrl } from '../../../test/support/index.js';

/** `agora cache list|purge` against the memo cache in Redis (entries written as a runner writes them). */
const env = cliEnv({});
const redis = createRedis(testRedisUrl());
afterAll(async () => {
  redis.disconnect();
  await env.close();
});

describe('agora cache', () => {
  it('lists entries newest first, purges one by key and refuses a malformed key', async () => {
    const memo = new MemoStore(redis, env.namespace);
    const k1 = 'a'.repeat(64);
    const k2 = 'b'.repeat(64);
    await memo.put(k1, { runId: 'r1', itemId: 'x', resultRef: `agora://${env.namespace}/result/r1.x/${'c'.repeat(64)}` });
    await memo.put(k2, { runId: 'r2', itemId: 'y', resultRef: `agora://${env.namespace}/result/r2.y/${'d'.repeat(64)}` });
    const list = env.agora(['cache', 'list', '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as { entries: Array<{ key: string; runId: string }> }).entries.map((e) => e.key).sort()).toEqual([k1, k2]);
    expect(env.agora(['cache', 'purge', 'nothex']).code).toBe(2);
    expect(env.agora(['cache', 'purge', k1, '--json']).stdout.trim()).toBe('{"purged":1}');
    expect((await memo.list()).map((e) => e.key)).toEqual([k2]);
    expect(env.agora(['cache', 'purge', '--all']).stdout.trim()).toBe('purged 1');
    expect(await memo.list()).toEqual([]);
  });

  it('purge without keys or --all says what to give, and "not both" only when both are given', () => {
    const none = env.agora(['cache', 'purge']);
    expect(none.code).toBe(2);
    // Before: "give memo keys or --all, not both" though neither was given.
    expect(none.stderr.trim()).toBe('agora: give memo keys or --all');
    const both = env.agora(['cache', 'purge', 'a'.repeat(64), '--all']);
    expect(both.code).toBe(2);
    expect(both.stderr.trim()).toBe('agora: give memo keys or --all, not both');
  });

  it('keeps the cache bounded: past maxEntries the oldest entries go', async () => {
    const memo = new MemoStore(redis, `${env.namespace}b`, 2);
    for (const ch of ['1', '2', '3']) await memo.put(ch.repeat(64), { runId: `r${ch}`, itemId: 'i', resultRef: `agora://x/result/r.i/${'e'.repeat(64)}` });
    expect((await memo.list()).map((e) => e.runId)).toEqual(['r3', 'r2']);
    expect(await memo.get('1'.repeat(64))).toBeNull();
  });
});
