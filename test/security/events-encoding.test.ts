import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { ValueError, encodeEventBody } from '@agora/core';
import { RunStore } from '@agora/state';
import { testRedisUrl, uniqueNamespace } from '../support/index.js';

/**
 * Trust boundary 2: events are encoded, never concatenated. Every value below once reached the
 * stream spliced into JSON text (Lua `..` and TypeScript fragments), where a quote closed the
 * string and the rest became fields of their own.
 */
const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
afterAll(() => redis.disconnect());

const NASTY = [
  'q"uote',
  'back\\slash\\',
  'ctl\u0000\u0001\u001f\n\r\t',
  'nonbmp\u{1F600}\u{10FFFF}',
  'zz","forged":true,"x":"',
  '\\","forged":1,"y":"\\',
];

async function newRun(ids: string[]): Promise<{ store: RunStore; runId: string }> {
  const store = new RunStore(redis, uniqueNamespace('enc'));
  const runId = 'r1';
  await store.initRun(runId, { total: ids.length, queue: 'q', planId: NASTY[4]!, fields: { submittedAt: new Date().toISOString() } });
  await store.registerItems(
    runId,
    0,
    ids.map((id, i) => ({ id, definitionHash: `d${i}`, jobId: `j${i}`, depCount: i === 0 ? 0 : 1, dependents: i === 0 ? ids.slice(1) : [], fields: { executor: NASTY[0]!, definitionHash: `d${i}`, inputsHash: 'h', ...(i === 0 ? {} : { depends_on: [ids[0]!] }) } })),
  );
  await store.markRunning(runId);
  return { store, runId };
}

function onlyKeys(e: Record<string, unknown>): string[] {
  return Object.keys(e).sort();
}

describe('events are encoded, never spliced', () => {
  it('item ids, error messages and lock names with quotes, backslashes, control and non-BMP characters parse to exactly the fields given', async () => {
    for (const nasty of NASTY) {
      // Item ids travel in comma-separated lists inside the run state (the plan's id grammar has
      // no comma), so ids here swap ',' for ';': every other byte of the attack stays.
      const id = nasty.replaceAll(',', ';');
      const dependent = `${id}-dependent`;
      const { store, runId } = await newRun([id, dependent]);
      const lockEvent = { type: 'lock', action: 'acquired', itemId: id, lock: nasty, token: 7 };
      const begin = await store.beginItem(runId, id, [], nasty, { definitionHash: 'd0', before: [lockEvent] });
      expect(begin.kind).toBe('run');
      await store.finishItem(runId, id, 'failed', { fields: { attempt: 1, error: nasty, errorCode: 'APPLICATION' }, after: [{ ...lockEvent, action: 'released' }] });
      expect(await store.beginItem(runId, dependent, [id], 'runner-1', { definitionHash: 'd1' }), JSON.stringify(nasty)).toMatchObject({ kind: 'terminal', state: 'skipped' });

      const events = await store.allEvents(runId);
      for (const e of events) {
        expect(e).not.toHaveProperty('forged');
        expect(e.runId).toBe(runId);
      }
      const accepted = events.find((e) => e.type === 'run' && e.state === 'accepted')!;
      expect(accepted.planId).toBe(NASTY[4]);
      const registered = events.filter((e) => e.type === 'item' && e.executor === NASTY[0]);
      expect(registered.map((e) => e.itemId)).toEqual([id, dependent]);
      const acquired = events.find((e) => e.type === 'lock' && e.action === 'acquired')!;
      expect(onlyKeys(acquired)).toEqual(['action', 'at', 'itemId', 'lock', 'runId', 'seq', 'token', 'type']);
      expect(acquired.lock).toBe(nasty);
      const running = events.find((e) => e.type === 'item' && e.state === 'running')!;
      expect(onlyKeys(running)).toEqual(['at', 'attempt', 'itemId', 'runId', 'runner', 'seq', 'state', 'type']);
      expect(running.runner).toBe(nasty);
      const failed = events.find((e) => e.type === 'item' && e.state === 'failed')!;
      expect(onlyKeys(failed)).toEqual(['at', 'attempt', 'error', 'errorCode', 'itemId', 'runId', 'seq', 'state', 'type']);
      expect(failed.error).toBe(nasty);
      expect(failed.itemId).toBe(id);
      // Built in Lua: the dependent is skipped naming the nasty dependency.
      const skipped = events.find((e) => e.state === 'skipped')!;
      expect(skipped.itemId).toBe(dependent);
      expect(skipped.dependency).toBe(id);
      expect(skipped.reason).toBe(`dependency ${id} ended failed`);
      expect(onlyKeys(skipped)).toEqual(['at', 'dependency', 'itemId', 'reason', 'runId', 'seq', 'state', 'type']);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));
      expect(events.at(-1)).toMatchObject({ type: 'run', state: 'failed', failed: 1, skipped: 1 });
    }
  });

  it('a cancel reason and a cancelled item with a nasty id are encoded too', async () => {
    const nasty = NASTY[4]!;
    const id = NASTY[5]!.replaceAll(',', ';');
    const { store, runId } = await newRun([id, 'b']);
    await store.cancelRun(runId, nasty);
    const events = await store.allEvents(runId);
    expect(events.find((e) => e.state === 'cancelling')?.reason).toBe(nasty);
    expect(events.find((e) => e.state === 'cancelled' && e.type === 'item' && e.itemId === id)).toBeDefined();
    for (const e of events) expect(e).not.toHaveProperty('forged');
  });

  it('a run id outside the grammar never becomes a key', async () => {
    const store = new RunStore(redis, uniqueNamespace('enc'));
    for (const bad of ['zz","forged":true,"x":"', '../../../../tmp/x', 'a:b', '']) {
      expect(() => store.keys.run(bad)).toThrow(ValueError);
      await expect(store.appendEvents(bad, [{ type: 'retry', itemId: 'x', attempt: 1, error: 'e', reason: 'infra', delayMs: 0 }])).rejects.toThrow(ValueError);
    }
  });

  it('the encoder refuses what is not an event body and makes strings sealable', () => {
    expect(() => encodeEventBody({ type: 'x', seq: 1 })).toThrow(/stream assigns it/);
    expect(() => encodeEventBody({ type: 'x', runId: 'other' })).toThrow(/stream assigns it/);
    expect(() => encodeEventBody({ type: '' })).toThrow(/type/);
    expect(() => encodeEventBody({ type: 'x', n: Number.NaN })).toThrow(/JSON cannot carry/);
    // A lone surrogate becomes U+FFFD: RFC 8785 cannot encode it, so the run could never be sealed.
    const retry = { type: 'retry', itemId: 'x', attempt: 1, reason: 'infra', delayMs: 0 };
    expect(JSON.parse(encodeEventBody({ ...retry, error: 'a\uD800b' }))).toEqual({ ...retry, error: 'a\uFFFDb' });
    // Only the vocabulary's events (libs/core events.ts): an unknown type or field is refused.
    expect(() => encodeEventBody({ type: 'x' })).toThrow(/not an event of the vocabulary/);
    expect(() => encodeEventBody({ ...retry, error: 'e', forged: true })).toThrow(/unknown field/);
  });
});
