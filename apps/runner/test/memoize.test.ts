import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IllegalStateError, NotFoundError, agoraEventSchema, parseAgoraUri, type AgoraEvent } from '@agora/core';
import { registerTask } from '@agora/registry';
import { LocalStorageProvider } from '@agora/storage-local';
import type { RunStatus } from '@agora/state';
import { startCluster, type TestCluster } from '../../../test/support/cluster.js';

/**
 * Memoize and rerun on real parts: Redis, the scheduler, two runners and the process provider.
 * The worker is a shell that appends its item id to a counter file (the executions), then prints
 * its item id and worker input: a changed input changes its result, and so its dependents' keys.
 */
let c: TestCluster;
const scratch = mkdtempSync(path.join(os.tmpdir(), 'agora-memo-'));
const counter = path.join(scratch, 'counter.txt');
const WORKER = 'printf "%s\\n" "$AGORA_ITEM_ID" >> "$COUNTER"; printf "%s:" "$AGORA_ITEM_ID"; cat "$AGORA_WORKER_INPUT_FILE"';

beforeAll(async () => {
  writeFileSync(counter, '');
  c = await startCluster({
    runners: 2,
    config: {
      queues: { default: { concurrency: 4 } },
      tasks: {
        // Memoized at the task level; the plan's items say nothing (one says false: it always runs).
        count: { command: ['/bin/sh', '-c', WORKER], env: { COUNTER: counter }, memoize: true },
        plain: { command: ['/bin/sh', '-c', WORKER], env: { COUNTER: counter } },
      },
    },
  });
}, 60_000);
afterAll(async () => {
  await c?.close();
  rmSync(scratch, { recursive: true, force: true });
});

const executions = (): string[] => readFileSync(counter, 'utf8').split('\n').filter(Boolean);
const runsOf = (before: number): string[] => executions().slice(before).sort();

/** a -> (b, c) -> d, and e alone: memoized through their task. `x` is the input of b. */
const plan = (x: string) => ({
  id: 'memo-plan',
  items: [
    { id: 'a', executor: 'dispatch', inputs: { task: 'count', workerInput: { v: 'a' } } },
    { id: 'b', executor: 'dispatch', inputs: { task: 'count', workerInput: { v: x } }, depends_on: ['a'] },
    { id: 'c', executor: 'dispatch', inputs: { task: 'count', workerInput: { v: 'c' } }, depends_on: ['a'] },
    { id: 'd', executor: 'dispatch', inputs: { task: 'count', workerInput: { v: 'd' } }, depends_on: ['b', 'c'] },
    { id: 'e', executor: 'dispatch', inputs: { task: 'count', workerInput: { v: 'e' } } },
  ],
});

async function runOf(p: unknown): Promise<{ status: RunStatus; events: AgoraEvent[] }> {
  const runId = await c.client.submit(p);
  await c.client.wait(runId);
  const events = await c.client.events(runId);
  for (const e of events) expect(agoraEventSchema.safeParse(e).success, JSON.stringify(e)).toBe(true);
  return { status: (await c.client.status(runId)) as RunStatus, events };
}

const cachedItems = (events: readonly AgoraEvent[]): string[] => events.filter((e) => e.type === 'cached').map((e) => e.itemId!).sort();

describe('memoize', () => {
  let first: RunStatus;

  it('a second run of the same plan executes nothing: every item is cached from the first and the run succeeds', async () => {
    const n0 = executions().length;
    const one = await runOf(plan('b'));
    first = one.status;
    expect(first.state).toBe('succeeded');
    expect(runsOf(n0)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(cachedItems(one.events)).toEqual([]);

    const n1 = executions().length;
    const two = await runOf(plan('b'));
    expect(two.status.state).toBe('succeeded');
    expect(runsOf(n1)).toEqual([]);
    expect(cachedItems(two.events)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(two.status.shortcuts).toEqual({ reused: 0, cached: 5 });
    for (const it of two.status.items) {
      const was = first.items.find((i) => i.id === it.id)!;
      // The earlier item's artifact, and a marker naming it.
      expect(it).toMatchObject({ state: 'done', resultRef: was.resultRef, cachedFrom: { runId: first.runId, itemId: it.id } });
    }
    const cachedEvent = two.events.find((e) => e.type === 'cached' && e.itemId === 'd')!;
    expect(cachedEvent).toMatchObject({ from: { runId: first.runId, itemId: 'd' }, resultRef: was(first, 'd'), key: expect.stringMatching(/^[0-9a-f]{64}$/) });
    // The done event comes first and says where its result came from, with no attempt (it did not run).
    const done = two.events.find((e) => e.type === 'item' && e.state === 'done' && e.itemId === 'd')!;
    expect(done.cachedFrom).toEqual({ runId: first.runId, itemId: 'd' });
    expect(await c.client.item(two.status.runId, 'd')).toMatchObject({ state: 'done', cachedFrom: { runId: first.runId, itemId: 'd' } });
    expect(done.attempt).toBeUndefined();
    expect(done.seq).toBeLessThan(cachedEvent.seq);
  });

  it('changing one input executes exactly that item and its downstream; the rest stay cached', async () => {
    const n = executions().length;
    const three = await runOf(plan('b-changed'));
    expect(three.status.state).toBe('succeeded');
    expect(runsOf(n)).toEqual(['b', 'd']);
    expect(cachedItems(three.events)).toEqual(['a', 'c', 'e']);
  });

  it('memoize: false on an item wins over its task; an item of an unmemoized task is never cached', async () => {
    const p = {
      id: 'memo-override',
      items: [
        { id: 'off', executor: 'dispatch', inputs: { task: 'count', workerInput: { v: 'off' } }, memoize: false },
        { id: 'on', executor: 'dispatch', inputs: { task: 'plain', workerInput: { v: 'on' } }, memoize: true },
        { id: 'never', executor: 'dispatch', inputs: { task: 'plain', workerInput: { v: 'never' } } },
      ],
    };
    await runOf(p);
    const n = executions().length;
    const again = await runOf(p);
    expect(runsOf(n)).toEqual(['never', 'off']);
    expect(cachedItems(again.events)).toEqual(['on']);
  });

  it('an entry whose artifact is gone is dropped and the item executes again; agora cache lists and purges', async () => {
    const aRef = was(first, 'a');
    const u = parseAgoraUri(aRef);
    rmSync(path.join(c.dataDir, 'storage', u.namespace, 'result', 'blobs', u.contentHash!), { force: false });
    const n = executions().length;
    const four = await runOf(plan('b'));
    expect(four.status.state).toBe('succeeded');
    // a ran again and printed the same bytes, so everything after it is cached as before.
    expect(runsOf(n)).toEqual(['a']);
    expect(cachedItems(four.events)).toEqual(['b', 'c', 'd', 'e']);
    const entries = await c.client.memoEntries();
    const aEntry = entries.find((e) => e.itemId === 'a' && e.runId === four.status.runId);
    expect(aEntry, 'a memo entry now names the new run').toBeDefined();
    expect(entries.some((e) => e.resultRef === aRef && e.runId !== four.status.runId && e.itemId === 'a')).toBe(false);

    expect(await c.client.purgeMemo({ keys: [aEntry!.key] })).toBe(1);
    expect((await c.client.memoEntries()).some((e) => e.key === aEntry!.key)).toBe(false);
    expect(await c.client.purgeMemo({ all: true })).toBeGreaterThan(0);
    expect(await c.client.memoEntries()).toEqual([]);
  });
});

describe('rerun (the CLI acceptance, 100 items: test/scenarios/rerun-from-failed.test.ts)', () => {
  const reusedItems = (events: readonly AgoraEvent[]): string[] => events.filter((e) => e.type === 'reused').map((e) => e.itemId!).sort();
  const blobOf = (ref: string): string => {
    const u = parseAgoraUri(ref);
    return path.join(c.dataDir, 'storage', u.namespace, 'result', 'blobs', u.contentHash!);
  };

  it('executes an item whose task was registered anew or whose artifact is gone; --from-failed reuses every done item', async () => {
    const storage = new LocalStorageProvider({ root: path.join(c.dataDir, 'storage') });
    const def = (v: string) => ({ command: ['/bin/sh', '-c', WORKER], env: { COUNTER: counter, V: v } });
    await registerTask(storage, c.config.namespace, 'reg', def('1'));
    const p = {
      id: 'rerun-plan',
      items: [
        { id: 'p1', executor: 'dispatch', inputs: { task: 'reg', workerInput: { v: 1 } } },
        { id: 'p2', executor: 'dispatch', inputs: { task: 'plain', workerInput: { v: 2 } }, depends_on: ['p1'] },
        { id: 'p3', executor: 'dispatch', inputs: { task: 'plain', workerInput: { v: 3 } } },
      ],
    };
    const original = (await runOf(p)).status;
    expect(original.state).toBe('succeeded');

    rmSync(blobOf(was(original, 'p3')));
    // Registered anew: another hash (the worker prints the same bytes, so p1's result is unchanged).
    await registerTask(storage, c.config.namespace, 'reg', def('2'));
    const n = executions().length;
    const r = await c.client.rerun(original.runId);
    expect(r).toEqual({ runId: expect.any(String), rerunOf: original.runId, fromFailed: false });
    await c.client.wait(r.runId);
    const events = await c.client.events(r.runId);
    const rerun = (await c.client.status(r.runId)) as RunStatus;
    expect(rerun.state).toBe('succeeded');
    expect(runsOf(n)).toEqual(['p1', 'p3']);
    // p2's dependency was executed again but gave the same bytes: p2 is reused.
    expect(reusedItems(events)).toEqual(['p2']);
    expect(events.find((e) => e.type === 'reused')).toMatchObject({ itemId: 'p2', from: { runId: original.runId, itemId: 'p2' }, resultRef: was(original, 'p2') });
    expect(events.find((e) => e.type === 'run' && e.state === 'accepted')?.rerunOf).toEqual({ runId: original.runId, fromFailed: false });
    expect(rerun.items.find((i) => i.id === 'p2')).toMatchObject({ state: 'done', resultRef: was(original, 'p2'), reusedFrom: { runId: original.runId, itemId: 'p2' } });
    expect(rerun.rerunOf).toMatchObject({ runId: original.runId, fromFailed: false });
    expect(((await c.client.status(original.runId)) as RunStatus).rerunBy).toEqual([{ runId: r.runId, fromFailed: false, at: expect.any(String) }]);

    // --from-failed: every item that ended done is taken as it is, the re-registered task's too
    // (p3's bytes were stored again by the rerun, under the same hash).
    const m = executions().length;
    const ff = await c.client.rerun(original.runId, { fromFailed: true });
    expect((await c.client.wait(ff.runId)).state).toBe('succeeded');
    expect(runsOf(m)).toEqual([]);
    expect(reusedItems(await c.client.events(ff.runId))).toEqual(['p1', 'p2', 'p3']);
  });

  it('refuses a run that has not ended, and an unknown run', async () => {
    await expect(c.client.rerun('rnosuchrun')).rejects.toThrow(NotFoundError);
    const runId = await c.client.submit({ id: 'slow', items: [{ id: 's', executor: 'noop', inputs: { sleepMs: 1500 } }] });
    await expect(c.client.rerun(runId)).rejects.toThrow(IllegalStateError);
    await c.client.wait(runId);
  });
});

function was(s: RunStatus, id: string): string {
  return s.items.find((i) => i.id === id)!.resultRef!;
}
