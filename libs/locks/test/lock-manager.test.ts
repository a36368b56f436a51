import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { FencedError, ValueError } from '@agora/core';
import { createLockManager, lockKeys, type LockHolder, type LockManager, type LockLease } from '@agora/locks';
import { testRedisUrl, uniqueNamespace } from '../../../test/support/index.js';

const clients: Redis[] = [];
const managers: LockManager[] = [];
afterAll(async () => {
  for (const m of managers) await m.close();
  for (const c of clients) c.disconnect();
});

function manager(namespace: string, opts: { lockTtlMs?: number; waiterTtlMs?: number } = {}): LockManager {
  const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  clients.push(redis);
  const m = createLockManager({ redis, namespace, ...opts });
  managers.push(m);
  return m;
}

const holder = (i: number | string): LockHolder => ({ runId: 'r1', itemId: `i${i}`, jobId: `j${i}`, queue: 'q' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Acquires like the runner does: retry while blocked (the runner parks; here we poll quickly). */
async function acquireSpin(m: LockManager, names: string[], h: LockHolder, pollMs = 2): Promise<LockLease> {
  for (;;) {
    const r = await m.acquire({ names, holder: h });
    if (r.acquired) return r.lease;
    await sleep(pollMs);
  }
}

/**
 * A namespace where `dead` was taken by a holder that then died (an 800 ms lease, never extended
 * or released) and `held` is held by a live manager, `m`.
 */
async function deadAndLiveHolders(dead: string, held: string): Promise<{ ns: string; m: LockManager }> {
  const ns = uniqueNamespace();
  const dying = manager(ns, { lockTtlMs: 800 });
  await acquireSpin(dying, [dead], holder('dead'));
  await dying.close();
  const m = manager(ns);
  await acquireSpin(m, [held], holder('alive'));
  return { ns, m };
}

describe('lock manager', () => {
  it('50 holders on one lock across 3 managers never overlap; tokens increase in acquisition order', async () => {
    const ns = uniqueNamespace();
    const ms = [manager(ns), manager(ns), manager(ns)];
    const log: Array<{ start: number; end: number; token: number }> = [];
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const lease = await acquireSpin(ms[i % 3]!, ['hot'], holder(i));
        inside++;
        maxInside = Math.max(maxInside, inside);
        const start = performance.now();
        await sleep(2);
        inside--;
        log.push({ start, end: performance.now(), token: lease.tokens['hot']! });
        await lease.release();
      }),
    );
    expect(maxInside).toBe(1);
    log.sort((a, b) => a.start - b.start);
    for (let i = 1; i < log.length; i++) {
      expect(log[i]!.start).toBeGreaterThanOrEqual(log[i - 1]!.end);
      expect(log[i]!.token).toBeGreaterThan(log[i - 1]!.token);
    }
  });

  it('disjoint locks are held at the same time', async () => {
    const m = manager(uniqueNamespace());
    const a = await m.acquire({ names: ['a'], holder: holder('a') });
    const b = await m.acquire({ names: ['b'], holder: holder('b') });
    expect(a.acquired && b.acquired).toBe(true);
  });

  it('[x, y] against [y, x] many times: no deadlock', async () => {
    const ns = uniqueNamespace();
    const m1 = manager(ns);
    const m2 = manager(ns);
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const lease = await acquireSpin(i % 2 ? m1 : m2, i % 2 ? ['x', 'y'] : ['y', 'x'], holder(i));
        expect(lease.names).toEqual(['x', 'y']);
        await sleep(1);
        await lease.release();
      }),
    );
  });

  it('serves waiters in arrival order: an early waiter beats a stream of newcomers', async () => {
    const m = manager(uniqueNamespace());
    const first = await acquireSpin(m, ['fair'], holder('first'));
    const early = await m.acquire({ names: ['fair'], holder: holder('early') });
    expect(early).toEqual({ acquired: false, blockedBy: 'fair', position: 1 });
    const later = await m.acquire({ names: ['fair'], holder: holder('late0') });
    expect(later).toMatchObject({ acquired: false, position: 2 });
    const wake = await first.release();
    expect(wake).toEqual([holder('early')]);
    // Newcomers try first, but the lock is the early waiter's.
    for (let i = 1; i < 5; i++) expect((await m.acquire({ names: ['fair'], holder: holder(`late${i}`) })).acquired).toBe(false);
    expect((await m.acquire({ names: ['fair'], holder: holder('late0') })).acquired).toBe(false);
    const got = await m.acquire({ names: ['fair'], holder: holder('early') });
    expect(got.acquired).toBe(true);
    if (got.acquired) expect(await got.lease.release()).toEqual([holder('late0')]);
  });

  it('a holder already queued skips the queue-first check on a contended lock (hand-off in one round trip)', async () => {
    const m = manager(uniqueNamespace());
    const first = await acquireSpin(m, ['handoff'], holder('first'));
    expect((await m.acquire({ names: ['handoff'], holder: holder('head') })).acquired).toBe(false);
    expect(await m.acquire({ names: ['handoff'], holder: holder('second') })).toMatchObject({ acquired: false, position: 2 });
    expect(await first.release()).toEqual([holder('head')]);
    // Arrival is kept to the millisecond and ties go by member (job 'jnewcomer' before 'jsecond'):
    // on a fast machine the release above can take under a millisecond, so wait for the clock.
    await sleep(2);
    // The lock is contended for this manager: a newcomer asks its turn first and never takes the
    // keys, so nobody is named to wake.
    expect(await m.acquire({ names: ['handoff'], holder: holder('newcomer') })).toEqual({ acquired: false, blockedBy: 'handoff', position: 3 });
    // A queued holder goes straight to the keys: not the head, it is refused by the claim, gives
    // the keys back and names the head it may have turned away.
    expect(await m.acquire({ names: ['handoff'], holder: holder('second') }, { queued: true })).toEqual({
      acquired: false,
      blockedBy: 'handoff',
      position: 2,
      wake: [holder('head')],
    });
    const got = await m.acquire({ names: ['handoff'], holder: holder('head') }, { queued: true });
    expect(got.acquired).toBe(true);
    if (got.acquired) {
      expect(got.lease.tokens['handoff']).toBe(first.tokens['handoff']! + 1);
      expect(await got.lease.release()).toEqual([holder('second')]);
    }
  });

  it('a newcomer that takes the free keys ahead of a queued waiter gives them back and wakes it', async () => {
    const ns = uniqueNamespace();
    const m = manager(ns);
    const first = await acquireSpin(m, ['gap'], holder('first'));
    expect((await m.acquire({ names: ['gap'], holder: holder('early') })).acquired).toBe(false);
    expect(await m.isFirstAndFree({ names: ['gap'], holder: holder('early') })).toBe(false);
    await first.release();
    expect(await m.isFirstAndFree({ names: ['gap'], holder: holder('early') })).toBe(true);
    // A manager in another process has no hint that the lock is busy: it takes the keys, the
    // claim refuses them, and the waiter it may have turned away is named to be woken.
    const other = manager(ns);
    const refused = await other.acquire({ names: ['gap'], holder: holder('newcomer') });
    expect(refused).toEqual({ acquired: false, blockedBy: 'gap', position: 2, wake: [holder('early')] });
    expect(await m.isFirstAndFree({ names: ['gap'], holder: holder('newcomer') })).toBe(false);
    const got = await m.acquire({ names: ['gap'], holder: holder('early') });
    expect(got.acquired).toBe(true);
    if (got.acquired) {
      expect(got.lease.tokens['gap']).toBe(first.tokens['gap']! + 1);
      expect(await got.lease.release()).toEqual([holder('newcomer')]);
    }
  });

  it('detects a lost lease, and fences the old holder once a newer token exists', async () => {
    const ns = uniqueNamespace();
    const m = manager(ns, { lockTtlMs: 600 });
    const redis = clients[clients.length - 1]!;
    const old = await acquireSpin(m, ['f'], holder('old'));
    await old.assertFresh();
    await redis.del(lockKeys(ns).resource('f')); // failover / expiry under the holder
    const next = await acquireSpin(m, ['f'], holder('new'));
    expect(next.tokens['f']).toBeGreaterThan(old.tokens['f']!);
    await expect(old.assertFresh()).rejects.toThrow(FencedError);
    await expect(old.assertFresh()).rejects.toThrow(`fencing token ${old.tokens['f']} for lock "f" is stale (newest is ${next.tokens['f']}); result rejected`);
    await new Promise<void>((resolve) => (old.lost.aborted ? resolve() : old.lost.addEventListener('abort', () => resolve())));
    expect(String(old.lost.reason)).toMatch(/^lease lost/);
    await next.release();
  });

  it('a holder that dies (no extension, no release) loses the lock when the lease expires', async () => {
    const ns = uniqueNamespace();
    const dying = manager(ns, { lockTtlMs: 800 });
    const lease = await acquireSpin(dying, ['crash'], holder('dead'));
    await dying.close(); // stops extending, like a SIGKILLed runner
    const other = manager(ns, { lockTtlMs: 800 });
    const t0 = Date.now();
    const next = await acquireSpin(other, ['crash'], holder('next'), 50);
    expect(Date.now() - t0).toBeGreaterThan(300);
    expect(next.tokens['crash']).toBe(lease.tokens['crash']! + 1);
    await expect(lease.assertFresh()).rejects.toThrow(FencedError);
  });

  it('freeLockHeads names the head of a free lock with waiters (its holder died), and says held or idle otherwise', async () => {
    const { m } = await deadAndLiveHolders('fh/a', 'fh/b');
    for (const [name, i] of [['fh/a', 1], ['fh/b', 2]] as const) {
      const r = await m.acquire({ names: [name], holder: holder(`w${i}`) });
      expect(r.acquired).toBe(false);
    }
    const before = await m.freeLockHeads(['fh/a', 'fh/b', 'fh/none']);
    expect([...before]).toEqual([['fh/a', 'held'], ['fh/b', 'held'], ['fh/none', 'idle']]);
    await sleep(900); // the dead holder's lease runs out; nobody released it
    const after = await m.freeLockHeads(['fh/a', 'fh/b']);
    expect(after.get('fh/a')).toEqual(holder('w1'));
    expect(after.get('fh/b')).toBe('held');
    await expect(m.freeLockHeads(['../x'])).rejects.toThrow(ValueError);
  });

  it('sweepLockHeads pages through every lock in use: heads of free locks, none of held ones; idle names leave the set', async () => {
    const { ns, m } = await deadAndLiveHolders('sw/dead', 'sw/held');
    const idle = await acquireSpin(m, ['sw/idle'], holder('idle'));
    await idle.release();
    for (const name of ['sw/dead', 'sw/held']) expect((await m.acquire({ names: [name], holder: holder(`w-${name}`) })).acquired).toBe(false);
    const redis = new Redis(testRedisUrl());
    clients.push(redis);
    const namesKey = lockKeys(ns).names;
    // 2,000 more idle names (SSCAN's COUNT 200 is a hint: pages of this set run over 200, and
    // each name in them must be looked at) and one no lock may be named: it is passed over.
    await redis.sadd(namesKey, ...Array.from({ length: 2000 }, (_, i) => `sw/idle${i}`), '../escape');
    const pass = async (): Promise<{ heads: LockHolder[]; pages: number }> => {
      const heads: LockHolder[] = [];
      let cursor = '0';
      let pages = 0;
      do {
        const page = await m.sweepLockHeads(cursor);
        heads.push(...page.heads);
        cursor = page.cursor;
        pages++;
      } while (cursor !== '0');
      return { heads, pages };
    };
    const before = await pass();
    expect(before.heads).toEqual([]);
    expect(before.pages).toBeGreaterThan(1);
    // Free with nobody waiting: forgotten; held, or waited for: kept; not a lock name: left alone.
    expect((await redis.smembers(namesKey)).sort()).toEqual(['../escape', 'sw/dead', 'sw/held']);
    await sleep(900); // the dead holder's lease runs out; nobody released it
    expect((await pass()).heads).toEqual([holder('w-sw/dead')]);
    await expect(m.sweepLockHeads('1; DEL x')).rejects.toThrow(ValueError);
  });

  it('drops a waiter that stopped checking in, so it cannot block the lock', async () => {
    const m = manager(uniqueNamespace(), { waiterTtlMs: 300 });
    const first = await acquireSpin(m, ['w'], holder('h'));
    expect((await m.acquire({ names: ['w'], holder: holder('ghost') })).acquired).toBe(false);
    await first.release();
    await sleep(400);
    const r = await m.acquire({ names: ['w'], holder: holder('alive') });
    expect(r.acquired).toBe(true);
  });

  it('lists holders with token and lease, and waiters in order', async () => {
    const m = manager(uniqueNamespace());
    const lease = await acquireSpin(m, ['listed/a'], { runId: 'r9', itemId: 'holder', jobId: 'jh', queue: 'q' });
    await m.acquire({ names: ['listed/a'], holder: { runId: 'r9', itemId: 'w1', jobId: 'j1', queue: 'q' } });
    await sleep(5);
    await m.acquire({ names: ['listed/a'], holder: { runId: 'r9', itemId: 'w2', jobId: 'j2', queue: 'q' } });
    const [info] = await m.list();
    expect(info).toMatchObject({ name: 'listed/a', holder: { runId: 'r9', itemId: 'holder', token: lease.tokens['listed/a'] } });
    expect(info!.remainingMs).toBeGreaterThan(0);
    expect(info!.waiters.map((w) => [w.itemId, w.position])).toEqual([['w1', 1], ['w2', 2]]);
  });

  it('rejects invalid lock names', async () => {
    const m = manager(uniqueNamespace());
    await expect(m.acquire({ names: ['../x'], holder: holder(1) })).rejects.toThrow(ValueError);
    await expect(m.acquire({ names: ['a{b}'], holder: holder(1) })).rejects.toThrow(ValueError);
    // Any character of the grammar may come first (a plan may name these).
    const lease = await acquireSpin(m, ['@scope/pkg', '.cache'], holder(2));
    expect(Object.keys(lease.tokens).sort()).toEqual(['.cache', '@scope/pkg']);
    await lease.release();
  });

  it('a holder whose runner died rejoins the queues at its old place, not at the back; a final release forgets it', async () => {
    const ns = uniqueNamespace();
    const dying = manager(ns, { lockTtlMs: 1000 });
    const other = manager(ns, { lockTtlMs: 1000 });
    const a = await dying.acquire({ names: ['keep'], holder: holder('a') });
    expect(a.acquired).toBe(true);
    await sleep(5);
    expect(await other.acquire({ names: ['keep'], holder: holder('b') })).toMatchObject({ acquired: false, position: 1 });
    await sleep(5);
    expect(await other.acquire({ names: ['keep'], holder: holder('c') })).toMatchObject({ acquired: false, position: 2 });
    // The holder's runner dies: nothing extends or releases its lease, which runs out.
    await dying.close();
    await sleep(1200);
    // Its job is retried (another runner): it arrived before b and c, so it goes first.
    const retried = await other.acquire({ names: ['keep'], holder: holder('a') });
    expect(retried.acquired).toBe(true);
    expect(await other.acquire({ names: ['keep'], holder: holder('b') })).toMatchObject({ acquired: false, position: 1 });
    // A final release forgets the arrival: a later run of the same job would queue anew.
    if (retried.acquired) await retried.lease.release();
    const k = lockKeys(ns);
    const r = clients.at(-1)!;
    expect(await r.zscore(k.arrivals, JSON.stringify(['q', 'ja', 'r1', 'ia']))).toBeNull();
  });

  it('a hand-back keeps the place: release({ keepPlace: true }) rejoins ahead of later arrivals', async () => {
    const ns = uniqueNamespace();
    const m = manager(ns);
    const a = await m.acquire({ names: ['hb'], holder: holder('a') });
    await sleep(5);
    expect(await m.acquire({ names: ['hb'], holder: holder('b') })).toMatchObject({ acquired: false, position: 1 });
    if (a.acquired) await a.lease.release({ keepPlace: true });
    // b is woken first in line, but a's remembered arrival puts it back at the head when it rejoins.
    expect(await m.acquire({ names: ['hb'], holder: holder('a') })).toMatchObject({ acquired: true });
  });

  it('a waiter dropped from one queue for a missed check-in rejoins it at its first arrival: its queues never disagree (no deadlock)', async () => {
    const ns = uniqueNamespace();
    const opts = { waiterTtlMs: 3000 };
    const [mh, m1, m2, m3] = [manager(ns, opts), manager(ns, opts), manager(ns, opts), manager(ns, opts)];
    const h = await mh.acquire({ names: ['da', 'db'], holder: holder('h') });
    expect(h.acquired).toBe(true);
    const t0 = Date.now();
    const at = (ms: number) => sleep(Math.max(0, t0 + ms - Date.now()));
    expect((await m1.acquire({ names: ['da', 'db'], holder: holder('w1') })).acquired).toBe(false);
    await at(20);
    expect((await m2.acquire({ names: ['da', 'db'], holder: holder('w2') })).acquired).toBe(false);
    // w2 checks in again before w1's deadline: both still queued everywhere.
    await at(1800);
    expect((await m2.acquire({ names: ['da', 'db'], holder: holder('w2') })).acquired).toBe(false);
    // w1 missed its check-in; a holder of 'db' alone touches that queue and drops w1 there only.
    await at(3400);
    expect((await m3.acquire({ names: ['db'], holder: holder('w3') })).acquired).toBe(false);
    // w1 checks in: it must rejoin 'db' at its first arrival, ahead of w2 as in 'da'.
    expect((await m1.acquire({ names: ['da', 'db'], holder: holder('w1') })).acquired).toBe(false);
    const k = lockKeys(ns);
    const r = clients.at(-1)!;
    const order = async (n: string) => (await r.zrange(k.waiters(n), 0, -1)).map((m) => (JSON.parse(m) as string[])[3]);
    expect(await order('da')).toEqual(['iw1', 'iw2']);
    expect((await order('db')).slice(0, 2)).toEqual(['iw1', 'iw2']);
    if (h.acquired) await h.lease.release();
    // The head of both queues goes first; before, w1 waited for w2 on 'db' and w2 for w1 on 'da'.
    expect((await m1.acquire({ names: ['da', 'db'], holder: holder('w1') })).acquired).toBe(true);
  }, 30_000);
});
