import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import Redlock, { type Lock } from 'redlock';
import { FencedError, ScriptRegistry, ValueError, coerceError, type Logger } from '@agora/core';
import { assertLockName, isValidLockName, lockKeys, type LockKeys } from './keys.js';

export interface LockHolder {
  readonly runId: string;
  readonly itemId: string;
  readonly jobId: string;
  readonly queue: string;
}

/** A waiter to wake because the lock it waits for was released. */
export type WakeTarget = LockHolder;

export interface LockLease {
  readonly names: readonly string[];
  /** Fencing token per lock, strictly increasing per lock name across all holders. */
  readonly tokens: Readonly<Record<string, number>>;
  /** Aborted (with a reason) when the lease is lost: an extension failed or the key changed hands. */
  readonly lost: AbortSignal;
  /** Extends the lease now (the manager also does it every ttl/3 while held). */
  extend(): Promise<void>;
  /** Throws `FencedError` if a newer token was issued for any of the locks. */
  assertFresh(): Promise<void>;
  /**
   * Hands the release to a script of the caller that releases in the same step as its own writes
   * (libs/state's item end: fencing check, state, release): returns what that script needs and
   * marks the lease released (extension stops; `release()` becomes a no-op). Decode the heads the
   * script returns with `wakeTargetsOf`.
   */
  releaseWith(opts?: { keepPlace?: boolean }): LockReleaseCall;
  /** Marks the lease released by a script of the caller (the item start released it at once). */
  markReleased(): void;
  /**
   * Releases every lock; idempotent. Returns the waiters now first in line, to wake. With
   * `keepPlace` (an item handed back to the queue, to run again) the holder's arrival is kept,
   * so it rejoins the queues where it stood.
   */
  release(opts?: { keepPlace?: boolean }): Promise<WakeTarget[]>;
}

/**
 * The lock part of a script that claims an item's locks and does more in the same step (libs/state's
 * item start): the keys and arguments of `claimLocks` in libs/locks/commands/includes/claim.lua.
 */
export interface LockClaimCall {
  /** The names set, the arrivals zset, then per lock: resource, waiters, deadlines, token, holder. */
  readonly keys: readonly string[];
  readonly member: string;
  readonly arrival: number;
  readonly now: number;
  readonly deadline: number;
  readonly since: string;
  readonly ttlMs: number;
  /** The redlock lease value the claim recognises the keys by. */
  readonly value: string;
  readonly names: readonly string[];
}

/** The lock part of a script that releases an item's locks in the same step as its own writes. */
export interface LockReleaseCall {
  /** The arrivals zset, then per lock: resource, waiters, deadlines, token, holder. */
  readonly keys: readonly string[];
  readonly value: string;
  readonly now: number;
  /** The member whose remembered arrival is forgotten ('' keeps it: a hand-back). */
  readonly forget: string;
  readonly tokens: readonly number[];
  readonly names: readonly string[];
}

/**
 * Sends the claim in a script of the caller's instead of the lock manager's own `claim-N.lua`,
 * and returns the claim's part of that script's output (the same shape).
 */
export type ClaimWith = (call: LockClaimCall) => Promise<number[]>;

export interface AcquireOptions {
  /** Send the claim inside a script of the caller (see `ClaimWith`). */
  readonly claimWith?: ClaimWith;
  /**
   * The holder already waits in these locks' queues: it was parked on them and is being tried
   * again, normally because a release named it the head. It skips the queue-first check that a
   * newcomer to a contended lock makes. Safe either way: a holder that is not the head is still
   * refused by the claim, gives the keys back and wakes the head (one extra hand-off round).
   */
  readonly queued?: boolean;
}

export type AcquireResult =
  | { readonly acquired: true; readonly lease: LockLease }
  | {
      readonly acquired: false;
      readonly blockedBy: string;
      readonly position: number;
      /** Waiters to wake: a refused claim held the keys for a moment and may have turned them away. */
      readonly wake?: WakeTarget[];
    };

export interface LockInfo {
  readonly name: string;
  readonly holder: { readonly runId: string; readonly itemId: string; readonly token: number; readonly since: string } | null;
  readonly remainingMs: number | null;
  readonly waiters: Array<{ readonly runId: string; readonly itemId: string; readonly since: string; readonly position: number }>;
}

export interface ListOptions {
  /**
   * Which of these waiters' items have ended: those are not listed (nor counted in the positions).
   * A cancel ends a parked waiter's item at once, but the waiter leaves the lock queues only when
   * its job wakes (its start finds the item ended and gives its place up); it blocks nobody
   * meanwhile, as the holder's release wakes it and it hands straight on. Its place is kept in
   * Redis rather than taken away here, so the queue order every runner sees stays as it was.
   */
  readonly ended?: (waiters: ReadonlyArray<{ readonly runId: string; readonly itemId: string }>) => Promise<readonly boolean[]>;
}

export interface LockManagerOptions {
  readonly redis: Redis | Cluster;
  readonly namespace: string;
  /** Lease length; extended every ttl/3 while held. @default 30000 */
  readonly lockTtlMs?: number;
  /** A waiter that has not checked in for this long is dropped from the queue. @default 30000 */
  readonly waiterTtlMs?: number;
  readonly logger?: Logger;
}

export interface LockManager {
  acquire(req: { names: readonly string[]; holder: LockHolder }, opts?: AcquireOptions): Promise<AcquireResult>;
  /**
   * True when every lock is free and the holder is first in line (or not queued): a parked
   * holder asks this after parking, so a release that came while it was parking is not missed.
   */
  isFirstAndFree(req: { names: readonly string[]; holder: LockHolder }): Promise<boolean>;
  /**
   * For each of `names`: the head waiter to wake when the lock is free while holders wait for it
   * (its holder died: a release would have named the head), `held`, or `idle` (nobody waits).
   */
  freeLockHeads(names: readonly string[]): Promise<Map<string, WakeTarget | 'held' | 'idle'>>;
  /**
   * One page of a sweep over every lock in use in the namespace (SSCAN from `cursor`; '0' starts
   * a pass, and is returned when the pass is complete): the head waiters of the free locks among
   * them, to wake, as `freeLockHeads` names them for the locks a runner watches. Locks that are
   * free with nobody waiting leave the set of names in use.
   */
  sweepLockHeads(cursor: string): Promise<{ cursor: string; heads: WakeTarget[] }>;
  list(opts?: ListOptions): Promise<LockInfo[]>;
  close(): Promise<void>;
}

/** Redlock whose next lease value can be chosen by the caller (so a script sent with it can recognise the keys). */
class ValueRedlock extends Redlock {
  nextValue: string | undefined;
  protected override _random(): string {
    return this.nextValue ?? super._random();
  }
}

/** Locks one `freeHeads` script call looks at. */
const FREE_HEADS_PER_CALL = 200;

/** How long a lock seen busy keeps newcomers on the queue-first path. */
const CONTENDED_HINT_MS = 5_000;

/** The lock scripts (libs/locks/commands), through the one script loader of libs/core. */
const scripts = new ScriptRegistry(new URL('../commands/', import.meta.url), 'agoraLock_');

/** The Redis commands the lock scripts call (for a start-up check of the Redis user's ACL). */
export function lockScriptCommands(): string[] {
  return scripts.commands();
}

function memberOf(h: LockHolder): string {
  return JSON.stringify([h.queue, h.jobId, h.runId, h.itemId]);
}

/** The holders to wake among the head members a release script returned ('' = none; deduplicated). */
export function wakeTargetsOf(heads: readonly string[]): WakeTarget[] {
  const seen = new Set<string>();
  const wake: WakeTarget[] = [];
  for (const h of heads) {
    if (!h || seen.has(h)) continue;
    seen.add(h);
    const holder = holderOf(h);
    if (holder) wake.push(holder);
  }
  return wake;
}

/**
 * The holder a queue member names (see `memberOf`), or null when it names none. Members are read
 * back from Redis and their queue and job id are used to promote jobs, so each part is checked.
 */
function holderOf(member: string): LockHolder | null {
  let parts: unknown;
  try {
    parts = JSON.parse(member);
  } catch {
    return null;
  }
  if (!Array.isArray(parts) || parts.length !== 4 || !parts.every((p) => typeof p === 'string' && p.length > 0 && p.length <= 512)) return null;
  const [queue, jobId, runId, itemId] = parts as [string, string, string, string];
  return { queue, jobId, runId, itemId };
}

/**
 * Resource locks over redlock, with fencing tokens and fair (FIFO) waiting.
 *
 * An item takes all its locks at once, in sorted order, in one redlock acquisition. It keeps
 * them only if it is at the head of the wait queue of every lock it names, or the queues are
 * empty (checked in the same script that issues the fencing tokens, so the uncontended path costs
 * two scripts; on a lock seen busy lately a holder first checks its place in the queues, so only
 * the head touches the keys): newcomers cannot overtake a waiter, and, with one arrival time for all of a
 * holder's queues, holders cannot deadlock. A holder that cannot go now is queued and told which
 * lock blocks it and its place in line; the caller parks it and wakes it when the holder ahead
 * releases (`release()` returns whom to wake).
 */
export function createLockManager(opts: LockManagerOptions): LockManager {
  const { redis } = opts;
  const ttl = opts.lockTtlMs ?? 30_000;
  const waiterTtl = opts.waiterTtlMs ?? 30_000;
  const k: LockKeys = lockKeys(opts.namespace);
  // retryCount 0: a busy lock is answered at once; the caller parks instead of spinning here.
  const redlock = new ValueRedlock([redis], { retryCount: 0, driftFactor: 0.01 });
  redlock.on('error', () => undefined); // a lost vote is reported through acquire/extend
  scripts.define(redis);
  const call = <T>(name: 'checkTurn' | 'claim' | 'released' | 'freeHeads', keys: readonly string[], args: ReadonlyArray<string | number>): Promise<T> =>
    scripts.call(redis, name, keys, args) as Promise<T>;
  const leases = new Set<{ timer: NodeJS.Timeout }>();

  /** Lock names this process saw busy lately (a hint for the acquisition path, never for safety). */
  const contendedUntil = new Map<string, number>();
  const isContended = (n: string): boolean => (contendedUntil.get(n) ?? 0) > Date.now();
  const markContended = (names: readonly string[]): void => {
    if (contendedUntil.size > 10_000) contendedUntil.clear();
    const until = Date.now() + CONTENDED_HINT_MS;
    for (const n of names) contendedUntil.set(n, until);
  };

  async function acquire(req: { names: readonly string[]; holder: LockHolder }, acquireOpts: AcquireOptions = {}): Promise<AcquireResult> {
    const names = [...new Set(req.names)].sort();
    for (const n of names) assertLockName(n);
    if (names.length === 0) return { acquired: true, lease: emptyLease() };
    const member = memberOf(req.holder);
    const now = Date.now();
    // Join the queues (the first arrival is kept, NX, so a parked holder keeps its place
    // whichever runner retries it) and learn where we stand.
    const checkTurn = async (): Promise<AcquireResult | null> => {
      const turnKeys = [k.names, k.arrivals, ...names.flatMap((n) => [k.waiters(n), k.deadlines(n)])];
      const turn = await call<number[]>('checkTurn', turnKeys, [member, now, now, now + waiterTtl, ...names]);
      return turn[0] === 0 ? null : { acquired: false, blockedBy: names[turn[0]! - 1]!, position: turn[1]! };
    };
    // On a lock seen contended lately, a newcomer touches the redlock keys only once it is the
    // head of the queue: a crowd of newcomers taking them for a moment (to be refused by the
    // claim) would starve the head. A holder already queued (parked, now woken as the head) goes
    // straight on: asking first would add a round trip to every hand-off (see AcquireOptions).
    if (!acquireOpts.queued && names.some(isContended)) {
      const blocked = await checkTurn();
      if (blocked) return blocked;
    }
    // redlock sends its acquisition before its first await, so the claim queued right after it
    // on this (auto-pipelined) client runs right after it in Redis: one round trip for both. The
    // claim recognises the keys by the lease value, which we choose. Should the order ever not
    // hold, the claim sees keys that are not ours and is simply sent again.
    // 122 random bits from node's buffered CSPRNG pool (randomBytes would enter the kernel per call).
    const value = randomUUID();
    const claimKeys = [k.names, k.arrivals, ...names.flatMap((n) => [k.resource(n), k.waiters(n), k.deadlines(n), k.token(n), k.holder(n)])];
    const since = new Date(now).toISOString();
    const { claimWith } = acquireOpts;
    const sendClaim = (): Promise<number[]> =>
      claimWith
        ? claimWith({ keys: claimKeys, member, arrival: now, now, deadline: now + waiterTtl, since, ttlMs: ttl, value, names })
        : call<number[]>('claim', claimKeys, [member, now, now, now + waiterTtl, req.holder.runId, req.holder.itemId, since, ttl, value, ...names]);
    redlock.nextValue = value;
    const locking = redlock.acquire(names.map((n) => k.resource(n)), ttl).catch(() => null);
    redlock.nextValue = undefined;
    const [lock, first] = await Promise.all([locking, sendClaim().catch((err: unknown) => coerceError(err))]);
    let claim = first;
    if (lock && Array.isArray(claim) && claim[0] === -1) claim = await sendClaim().catch((err: unknown) => coerceError(err));
    if (!Array.isArray(claim)) {
      if (lock) await releaseKeys(names, value, names.map(() => '')).catch(() => undefined);
      throw claim;
    }
    if (!lock) {
      markContended(names);
      // Held by someone else. (A claim that saw our keys although redlock reported failure
      // cannot happen on one Redis; give anything it granted straight back.)
      if (claim[0] !== -1) {
        await releaseKeys(names, value, claim[0] === 0 ? claim.slice(1) : names.map(() => '')).catch(() => undefined);
        return { acquired: false, blockedBy: names[0]!, position: 1 };
      }
      return { acquired: false, blockedBy: names[Math.max(1, claim[1]!) - 1]!, position: claim[2]! };
    }
    if (claim[0] !== 0) {
      markContended(names);
      // Not our turn: give the keys back, and wake the heads (their own try may have met our
      // short hold, and nobody else would wake them).
      const wake = await releaseKeys(names, value, names.map(() => ''));
      return { acquired: false, blockedBy: names[claim[0]! - 1]!, position: claim[1]!, wake };
    }
    const tokens: Record<string, number> = {};
    names.forEach((n, i) => (tokens[n] = Number(claim[i + 1])));
    return { acquired: true, lease: makeLease(names, tokens, lock, member) };
  }

  /**
   * Deletes the redlock keys still holding `value`, forgets the holder (and, given `forget`, the
   * arrival it would rejoin with), returns whom to wake.
   */
  async function releaseKeys(names: readonly string[], value: string, tokens: readonly (number | string)[], forget = ''): Promise<WakeTarget[]> {
    const keys = releaseKeysOf(names);
    return wakeTargetsOf(await call<string[]>('released', keys, [value, Date.now(), forget, ...tokens.map(String)]));
  }

  function releaseKeysOf(names: readonly string[]): string[] {
    return [k.arrivals, ...names.flatMap((n) => [k.resource(n), k.waiters(n), k.deadlines(n), k.token(n), k.holder(n)])];
  }

  async function isFirstAndFree(req: { names: readonly string[]; holder: LockHolder }): Promise<boolean> {
    const names = [...new Set(req.names)].sort();
    if (names.length === 0) return true;
    const member = memberOf(req.holder);
    const p = redis.pipeline().exists(...names.map((n) => k.resource(n)));
    for (const n of names) p.zrank(k.waiters(n), member);
    const res = (await p.exec()) ?? [];
    if (res.some(([err]) => err)) return false;
    const [held, ...ranks] = res.map(([, v]) => v as number | null);
    return held === 0 && ranks.every((rank) => rank === null || rank === 0);
  }

  /**
   * The `freeHeads` answer for each of `names`, in order, at most FREE_HEADS_PER_CALL locks a
   * call (a script runs alone in Redis, however many locks are asked about).
   */
  async function headsOf(names: readonly string[]): Promise<string[]> {
    const heads: string[] = [];
    for (let at = 0; at < names.length; at += FREE_HEADS_PER_CALL) {
      const batch = names.slice(at, at + FREE_HEADS_PER_CALL);
      const answers = await call<string[]>('freeHeads', [k.names, ...batch.flatMap((n) => [k.resource(n), k.waiters(n)])], batch);
      batch.forEach((_, i) => heads.push(answers[i] ?? ''));
    }
    return heads;
  }

  async function freeLockHeads(names: readonly string[]): Promise<Map<string, WakeTarget | 'held' | 'idle'>> {
    const unique = [...new Set(names)];
    for (const n of unique) assertLockName(n);
    const heads = await headsOf(unique);
    const out = new Map<string, WakeTarget | 'held' | 'idle'>();
    // '-': nobody waits; '': held; else the head member (one that names no holder counts as held).
    unique.forEach((n, i) => out.set(n, heads[i] === '-' ? 'idle' : (heads[i] && holderOf(heads[i])) || 'held'));
    return out;
  }

  async function sweepLockHeads(cursor: string): Promise<{ cursor: string; heads: WakeTarget[] }> {
    if (!/^[0-9]{1,20}$/.test(cursor)) throw new ValueError(`a lock sweep cursor is a decimal SSCAN cursor, got ${JSON.stringify(cursor.slice(0, 40))}`);
    const [next, found] = await redis.sscan(k.names, cursor, 'COUNT', FREE_HEADS_PER_CALL);
    // Names come from Redis: one that is not a lock name (written by hand) is passed over, not
    // used in a key. COUNT is a hint: a page can hold more names than one call looks at, and
    // every one of them is looked at (the cursor moves past them all).
    const names = [...new Set(found)].filter(isValidLockName);
    return { cursor: next, heads: wakeTargetsOf((await headsOf(names)).map((h) => (h === '-' ? '' : h))) };
  }

  function makeLease(names: string[], tokens: Record<string, number>, first: Lock, member: string): LockLease {
    let lock = first;
    let released = false;
    const ac = new AbortController();
    const entry = { timer: undefined as unknown as NodeJS.Timeout };
    const extend = async (): Promise<void> => {
      if (released || ac.signal.aborted) return;
      try {
        lock = await lock.extend(ttl);
        const p = redis.pipeline();
        for (const n of names) p.pexpire(k.holder(n), ttl);
        await p.exec();
      } catch (err) {
        ac.abort(`lease lost: ${coerceError(err).message}`);
        clearInterval(entry.timer);
        leases.delete(entry);
        opts.logger?.warn({ locks: names }, 'resource lock lease lost');
      }
    };
    entry.timer = setInterval(() => void extend(), Math.max(100, Math.floor(ttl / 3)));
    entry.timer.unref();
    leases.add(entry);
    const markReleased = (): void => {
      released = true;
      clearInterval(entry.timer);
      leases.delete(entry);
    };
    return {
      markReleased,
      releaseWith({ keepPlace = false } = {}) {
        markReleased();
        return { keys: releaseKeysOf(names), value: lock.value, now: Date.now(), forget: keepPlace ? '' : member, tokens: names.map((n) => tokens[n]!), names };
      },
      names,
      tokens,
      lost: ac.signal,
      extend,
      async assertFresh() {
        const newest = await redis.mget(...names.map((n) => k.token(n)));
        names.forEach((n, i) => {
          const latest = Number(newest[i]);
          if (latest !== tokens[n]) throw new FencedError(n, tokens[n]!, latest);
        });
      },
      async release({ keepPlace = false } = {}) {
        if (released) return [];
        markReleased();
        // One script: delete the keys if they still hold this lease's value (a lost lease is
        // safe to release, like redlock's own release), then look up who is now first.
        return releaseKeys(names, lock.value, names.map((n) => tokens[n]!), keepPlace ? '' : member);
      },
    };
  }

  function emptyLease(): LockLease {
    return {
      names: [],
      tokens: {},
      lost: new AbortController().signal,
      extend: async () => undefined,
      assertFresh: async () => undefined,
      release: async () => [],
      releaseWith: () => ({ keys: [k.arrivals], value: '', now: Date.now(), forget: '', tokens: [], names: [] }),
      markReleased: () => undefined,
    };
  }

  async function list(opts: ListOptions = {}): Promise<LockInfo[]> {
    const names = (await redis.smembers(k.names)).sort();
    type Queued = { runId: string; itemId: string; since: string };
    const inUse: Array<{ name: string; holder: Record<string, string>; pttl: number; held: boolean; queued: Queued[] }> = [];
    for (const name of names) {
      const [holder, pttl, waiters] = (await redis
        .pipeline()
        .hgetall(k.holder(name))
        .pttl(k.resource(name))
        .zrange(k.waiters(name), 0, -1, 'WITHSCORES')
        .exec())!.map((x) => x[1]) as [Record<string, string>, number, string[]];
      const queued: Queued[] = [];
      for (let i = 0; i < waiters.length; i += 2) {
        const h = holderOf(waiters[i]!);
        if (h) queued.push({ runId: h.runId, itemId: h.itemId, since: new Date(Number(waiters[i + 1])).toISOString() });
      }
      const held = pttl > 0 && holder['token'] !== undefined;
      if (!held && queued.length === 0) {
        await redis.srem(k.names, name);
        continue;
      }
      inUse.push({ name, holder, pttl, held, queued });
    }
    // Which waiters' items ended: asked once for every lock's waiters, not once per lock.
    const allQueued = inUse.flatMap((l) => l.queued);
    const ended = opts.ended && allQueued.length > 0 ? await opts.ended(allQueued) : [];
    const out: LockInfo[] = [];
    let at = 0;
    for (const { name, holder, pttl, held, queued } of inUse) {
      const first = at;
      at += queued.length;
      const ws: LockInfo['waiters'] = queued.filter((_, i) => !ended[first + i]).map((w, i) => ({ ...w, position: i + 1 }));
      if (!held && ws.length === 0) continue;
      out.push({
        name,
        holder: held ? { runId: holder['runId'] ?? '', itemId: holder['itemId'] ?? '', token: Number(holder['token']), since: holder['since'] ?? '' } : null,
        remainingMs: held ? pttl : null,
        waiters: ws,
      });
    }
    return out;
  }

  return {
    acquire,
    isFirstAndFree,
    freeLockHeads,
    sweepLockHeads,
    list,
    async close() {
      for (const l of leases) clearInterval(l.timer);
      leases.clear();
    },
  };
}


