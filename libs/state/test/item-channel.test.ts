import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { CHANNEL_LIMITS, IllegalStateError, NotFoundError, encodeChannelMessage } from '@agora/core';
import { ItemsBeingRegisteredError, RunStore, readItemMessages, sendItemMessage } from '@agora/state';
import { testRedisUrl, uniqueNamespace } from '../../../test/support/index.js';

const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
afterAll(() => redis.disconnect());

/** An item's channel stream, script by script: order, re-reading, the per-item bound, expiry, the hash tag. */
async function run(): Promise<{ store: RunStore; runId: string }> {
  const store = new RunStore(redis, uniqueNamespace());
  const runId = 'r1';
  await store.initRun(runId, { total: 1, queue: 'q', planId: 'p', fields: { submittedAt: new Date().toISOString() } });
  await store.registerItems(runId, 0, [{ id: 'a', definitionHash: 'd', jobId: 'j', depCount: 0, dependents: [], fields: { executor: 'noop', definitionHash: 'd', inputsHash: 'h' } }]);
  return { store, runId };
}

describe('item channels', () => {
  it('keep messages in order, readable from the start again (a retry) or after the last one read', async () => {
    const { store, runId } = await run();
    const sent = [];
    for (const m of [{ a: 1 }, 'two', [3]]) sent.push(await sendItemMessage(store, runId, 'a', encodeChannelMessage(m)));
    const all = await readItemMessages(store, runId, 'a', '0-0');
    expect(all.map((e) => e.line)).toEqual(['{"a":1}', '"two"', '[3]']);
    expect(all.map((e) => e.id)).toEqual(sent.map((s) => s.messageId));
    expect((await readItemMessages(store, runId, 'a', all[0]!.id)).map((e) => e.line)).toEqual(['"two"', '[3]']);
    expect(await readItemMessages(store, runId, 'a', all[2]!.id)).toEqual([]);
    // The stream shares the run's hash tag (one slot on a cluster) and expires on its own.
    const key = store.keys.run(runId).channel('a');
    expect(key).toContain(`{${store.keys.namespace}}`);
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(CHANNEL_LIMITS.ttlMs - 60_000);
    expect(ttl).toBeLessThanOrEqual(CHANNEL_LIMITS.ttlMs);
  });

  it(`take at most ${CHANNEL_LIMITS.maxMessagesPerItem} messages per item; the next is refused and not recorded`, async () => {
    const { store, runId } = await run();
    const m = encodeChannelMessage(1);
    const pipe = [];
    for (let i = 0; i < CHANNEL_LIMITS.maxMessagesPerItem; i++) pipe.push(sendItemMessage(store, runId, 'a', m));
    await Promise.all(pipe);
    const seq = (await store.runProgress(runId)).events;
    await expect(sendItemMessage(store, runId, 'a', m)).rejects.toThrow(
      new IllegalStateError(`item "a" of run "${runId}" has had ${CHANNEL_LIMITS.maxMessagesPerItem} messages, the most one item may be sent`),
    );
    expect((await store.runProgress(runId)).events).toBe(seq);
    expect(await redis.xlen(store.keys.run(runId).channel('a'))).toBe(CHANNEL_LIMITS.maxMessagesPerItem);
  });

  it('refuse an ended item, writing nothing', async () => {
    const { store, runId } = await run();
    await store.finishItem(runId, 'a', 'done', { resultRef: 'agora://ns/result/a/' + '0'.repeat(64), fields: { attempt: 1, durationMs: 1 } });
    const seq = (await store.runProgress(runId)).events;
    await expect(sendItemMessage(store, runId, 'a', encodeChannelMessage({}))).rejects.toThrow(IllegalStateError);
    expect((await store.runProgress(runId)).events).toBe(seq);
    expect(await redis.exists(store.keys.run(runId).channel('a'))).toBe(0);
  });

  it('refuse an item still running in a run that has ended, saying the run ended, not the item', async () => {
    // A cancelled run's item that its runner is still stopping: the refusal said the item had
    // ended ("has ended (cancelled)"), the run's state given as the item's.
    const { store, runId } = await run();
    await redis.hset(store.keys.run(runId).meta, 'state', 'cancelled');
    await expect(sendItemMessage(store, runId, 'a', encodeChannelMessage(1))).rejects.toThrow(
      new IllegalStateError(`run "${runId}" has ended (cancelled): item "a" takes no more messages`),
    );
  });

  it('tell an item not registered yet (the acceptance still registering) from one the run has not', async () => {
    // A message sent right after submit could land between the run's record and its items' chunk:
    // 'run "…" has no item "…"' (404) for an item of the plan (seen in CI, apps/cli send.test).
    const store = new RunStore(redis, uniqueNamespace());
    const item = (id: string) => ({ id, definitionHash: 'd', jobId: `j${id}`, depCount: 0, dependents: [], fields: { executor: 'noop', definitionHash: 'd', inputsHash: 'h' } });
    await store.initRun('r3', { total: 2, queue: 'q', planId: 'p', fields: { submittedAt: new Date().toISOString() } });
    await store.registerItems('r3', 0, [item('a')]);
    const early = await sendItemMessage(store, 'r3', 'b', encodeChannelMessage(1)).catch((e: unknown) => e);
    expect(early).toBeInstanceOf(ItemsBeingRegisteredError);
    expect(early).toBeInstanceOf(NotFoundError);
    expect((early as Error).message).toBe('run "r3" is being accepted: its item "b" is not registered yet');
    await store.registerItems('r3', 1, [item('b')]);
    expect(await sendItemMessage(store, 'r3', 'b', encodeChannelMessage(1))).toMatchObject({ itemId: 'b' });
    // Every item registered: an unknown one is unknown.
    const unknown = await sendItemMessage(store, 'r3', 'zz', encodeChannelMessage(1)).catch((e: unknown) => e);
    expect(unknown).not.toBeInstanceOf(ItemsBeingRegisteredError);
    expect((unknown as Error).message).toBe('run "r3" has no item "zz"');
  });

  it('refuse a rejected run saying it was rejected, not that it has no such item', async () => {
    // A run rejected at acceptance registers no items: a message to an item its plan named was
    // refused with 'run "…" has no item "…"', as if the id were mistyped.
    const store = new RunStore(redis, uniqueNamespace());
    await store.rejectRun('r2', 'p', ['items[0] ("a"): unknown task "ghost"'], 'q');
    const seq = (await store.runProgress('r2')).events;
    await expect(sendItemMessage(store, 'r2', 'a', encodeChannelMessage(1))).rejects.toThrow(
      new IllegalStateError('run "r2" was rejected at acceptance (its status says why): it has no items to take messages'),
    );
    expect((await store.runProgress('r2')).events).toBe(seq);
  });

  it('refuse what cannot travel as one JSON line of at most 64 KiB', () => {
    expect(() => encodeChannelMessage(undefined)).toThrow('message is not JSON');
    expect(() => encodeChannelMessage({ n: 1n })).toThrow('message is not sendable: n: holds a bigint, which JSON cannot carry');
    expect(() => encodeChannelMessage('x'.repeat(CHANNEL_LIMITS.maxMessageBytes))).toThrow('over the limit of 65536 bytes');
    let deep: unknown = 0;
    for (let i = 0; i < 100; i++) deep = [deep];
    expect(() => encodeChannelMessage(deep)).toThrow('nested deeper than 64 levels');
    expect(encodeChannelMessage('line\nbreak').line).toBe('"line\\nbreak"');
  });
});
