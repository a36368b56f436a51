import { describe, expect, it } from 'vitest';
import type { LockHolder } from '../src/locking.js';
import { LockHeadWatch } from '../src/lock-head-watch.js';

const holder = (i: number): LockHolder => ({ queue: 'q', jobId: `j${i}`, runId: 'r1', itemId: `i${i}` });

/** The watch against a scripted lock service: each sweep answers from `answers`, in turn. */
function watchWith(answers: Array<Map<string, LockHolder | 'held' | 'idle'> | Error>, pages: Array<{ cursor: string; heads: LockHolder[] } | Error> = []) {
  const asked: string[][] = [];
  const cursors: string[] = [];
  const woken: LockHolder[][] = [];
  const warned: string[] = [];
  const watch = new LockHeadWatch(
    {
      freeLockHeads: async (names) => {
        asked.push([...names]);
        const a = answers.shift();
        if (a instanceof Error) throw a;
        return a ?? new Map();
      },
      sweepLockHeads: async (cursor) => {
        cursors.push(cursor);
        const p = pages.shift();
        if (p instanceof Error) throw p;
        return p ?? { cursor: '0', heads: [] };
      },
    },
    async (heads) => void woken.push([...heads]),
    { everyMs: 60_000, logger: { warn: (_o: unknown, msg: string) => void warned.push(msg) } },
  );
  return { watch, asked, cursors, woken, warned };
}

describe('LockHeadWatch', () => {
  it('wakes the heads of free locks, keeps watching held ones and forgets a lock nobody waits for', async () => {
    const { watch, asked, woken } = watchWith([
      new Map<string, LockHolder | 'held' | 'idle'>([['a', holder(1)], ['b', 'held'], ['c', 'idle']]),
      new Map<string, LockHolder | 'held' | 'idle'>([['a', 'idle'], ['b', 'held']]),
    ]);
    watch.note(['a', 'b']);
    watch.note(['c']);
    await watch.sweep();
    expect(asked[0]).toEqual(['a', 'b', 'c']);
    expect(woken).toEqual([[holder(1)]]);
    await watch.sweep();
    expect(asked[1]).toEqual(['a', 'b']);
    expect(woken).toHaveLength(1);
    await watch.sweep();
    expect(asked[2]).toEqual(['b']);
    watch.stop();
  });

  it('never throws: a failed look is logged and the next one still comes; after stop, nothing is watched', async () => {
    const { watch, asked, warned } = watchWith([new Error('connection lost')]);
    watch.note(['a']);
    await expect(watch.sweep()).resolves.toBeUndefined();
    expect(warned).toEqual(['could not look for free locks with waiters']);
    watch.stop();
    watch.note(['b']);
    await watch.sweep();
    expect(asked).toEqual([['a']]);
  });

  it('a lock noted again moves to the newest end (the oldest are forgotten first when too many)', async () => {
    const { watch, asked } = watchWith([]);
    watch.note(['a', 'b']);
    watch.note(['a']);
    await watch.sweep();
    expect(asked[0]).toEqual(['b', 'a']);
    watch.stop();
  });

  it('the fleet sweep pages through every lock in use, wakes the heads it is given and starts over at the end', async () => {
    const { watch, cursors, woken, warned, asked } = watchWith([], [
      { cursor: '17', heads: [holder(1), holder(2)] },
      new Error('connection lost'),
      new Error('connection lost'),
      { cursor: '0', heads: [] },
      { cursor: '5', heads: [holder(3)] },
      new Error('connection lost'),
    ]);
    for (let i = 0; i < 6; i++) await watch.sweepFleet();
    // A failed page is asked for again; the pass starts over after the last page.
    expect(cursors).toEqual(['0', '17', '17', '17', '0', '5']);
    expect(woken).toEqual([[holder(1), holder(2)], [holder(3)]]);
    // One warning per outage, not one per page.
    expect(warned).toEqual(['could not sweep the locks in use for free locks with waiters', 'could not sweep the locks in use for free locks with waiters']);
    // Nothing noted: the per-runner watch asked nothing meanwhile.
    expect(asked).toEqual([]);
    watch.stop();
  });
});
