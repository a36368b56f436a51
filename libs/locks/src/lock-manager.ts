import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import Redlock, { type Lock } from 'redlock';
import { FencedError, coerceError, type Logger } from '@agora/core';
import { assertLockName, lockKeys, type LockKeys } from './keys.js';

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
  /** Releases every lock; idempotent. Returns the waiters now first in line, to wake. */
  release(): Promise<WakeTarget[]>;
}

export type AcquireResult =
  | { readonly acquired: true; readonly lease: LockLease }
  | { readonly acquired: false; readonly blockedBy: string; readonly position: number };

export interface LockInfo {
  readonly name: string;
  readonly holder: { readonly runId: string; readonly itemId: string; readonly token: number; readonly since: string } | null;
  readonly remainingMs: number | null;
  readonly waiters: Array<{ readonly runId: string; readonly itemId: string; readonly since: string; readonly position: number }>;
}

export interface LockManagerOptions {
  readonly redis: Redis;
  readonly namespace: string;
  /** Lease length; extended every ttl/3 while held. @default 30000 */
  readonly lockTtlMs?: number;
  /** A waiter that has not checked in for this long is dropped from the queue. @default 30000 */
  readonly waiterTtlMs?: number;
  readonly logger?: Logger;
}

export interface LockManager {
  acquire(req: { names: readonly string[]; holder: LockHolder }): Promise<AcquireResult>;
  list(): Promise<LockInfo[]>;
  close(): Promise<void>;
}

const COMMANDS = new URL('../commands/', import.meta.url);
const script = (name: string): string => readFileSync(new URL(name, COMMANDS), 'utf8');

interface Scripts {
  agoraLockCheckTurn(numKeys: number, ...args: Array<string | number>): Promise<number[]>;
  agoraLockGranted(numKeys: number, ...args: Array<string | number>): Promise<number[]>;
  agoraLockReleased(numKeys: number, ...args: Array<string | number>): Promise<string[]>;
}

function memberOf(h: LockHolder): string {
  return JSON.stringify([h.queue, h.jobId, h.runId, h.itemId]);
}

function holderOf(member: string): LockHolder | null {
  try {
    const [queue, jobId, runId, itemId] = JSON.parse(member) as [string, string, string, string];
    return { queue, jobId, runId, itemId };
  } catch {
    return null;
  }
}

/**
 * Resource locks over redlock, with fencing tokens and fair (FIFO) waiting.
 *
 * An item takes all its locks at once, in sorted order, in one redlock acquisition. Before it
 * may try, it must be at the head of the wait queue of every lock it names (one arrival time for
 * all of them): newcomers cannot overtake a waiter, and holders cannot deadlock. A holder that
 * cannot go now is told which lock blocks it and its place in line; the caller parks it and
 * wakes it when the holder ahead releases (`release()` returns whom to wake).
 */
export function createLockManager(opts: LockManagerOptions): LockManager {
  const { redis } = opts;
  const ttl = opts.lockTtlMs ?? 30_000;
  const waiterTtl = opts.waiterTtlMs ?? 30_000;
  const k: LockKeys = lockKeys(opts.namespace);
  // retryCount 0: a busy lock is answered at once; the caller parks instead of spinning here.
  const redlock = new Redlock([redis], { retryCount: 0, driftFactor: 0.01 });
  redlock.on('error', () => undefined); // a lost vote is reported through acquire/extend
  const r = redis as unknown as Redis & Scripts;
  if (!('agoraLockCheckTurn' in redis)) {
    redis.defineCommand('agoraLockCheckTurn', { lua: script('checkTurn-N.lua') });
    redis.defineCommand('agoraLockGranted', { lua: script('granted-N.lua') });
    redis.defineCommand('agoraLockReleased', { lua: script('released-N.lua') });
  }
  const leases = new Set<{ timer: NodeJS.Timeout }>();

  async function acquire(req: { names: readonly string[]; holder: LockHolder }): Promise<AcquireResult> {
    const names = [...new Set(req.names)].sort();
    for (const n of names) assertLockName(n);
    if (names.length === 0) return { acquired: true, lease: emptyLease() };
    const member = memberOf(req.holder);
    const now = Date.now();
    // `now` is this holder's arrival only the first time: the queues keep the first score (NX),
    // so a parked holder keeps its place whichever runner retries it.
    const turnKeys = [k.names, ...names.flatMap((n) => [k.waiters(n), k.deadlines(n)])];
    const turn = await r.agoraLockCheckTurn(turnKeys.length, ...turnKeys, member, now, now, now + waiterTtl, ...names);
    if (turn[0] !== 0) {
      return { acquired: false, blockedBy: names[turn[0]! - 1]!, position: turn[1]! };
    }
    let lock: Lock;
    try {
      lock = await redlock.acquire(names.map((n) => k.resource(n)), ttl);
    } catch {
      // First in line, but the previous holder has not released (or its lease not expired) yet.
      return { acquired: false, blockedBy: names[0]!, position: 1 };
    }
    const grantKeys = names.flatMap((n) => [k.waiters(n), k.deadlines(n), k.token(n), k.holder(n)]);
    let tokenList: number[];
    try {
      tokenList = await r.agoraLockGranted(grantKeys.length, ...grantKeys, member, req.holder.runId, req.holder.itemId, new Date().toISOString(), ttl);
    } catch (err) {
      await lock.release().catch(() => undefined);
      throw coerceError(err);
    }
    const tokens: Record<string, number> = {};
    names.forEach((n, i) => (tokens[n] = Number(tokenList[i])));
    return { acquired: true, lease: makeLease(names, tokens, lock, member, grantKeys) };
  }

  function makeLease(names: string[], tokens: Record<string, number>, first: Lock, member: string, grantKeys: string[]): LockLease {
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
    return {
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
      async release() {
        if (released) return [];
        released = true;
        clearInterval(entry.timer);
        leases.delete(entry);
        // Both go out back to back on one connection (one round trip), in this order: the
        // release, then the look-up of who is now first. A lease already lost is safe to
        // release: redlock only deletes keys that still hold this lease's value.
        const [, heads] = await Promise.all([
          lock.release().catch(() => undefined),
          r.agoraLockReleased(grantKeys.length, ...grantKeys, member, Date.now(), ...names.map((n) => tokens[n]!)),
        ]);
        const seen = new Set<string>();
        const wake: WakeTarget[] = [];
        for (const h of heads) {
          if (!h || seen.has(h)) continue;
          seen.add(h);
          const holder = holderOf(h);
          if (holder) wake.push(holder);
        }
        return wake;
      },
    };
  }

  function emptyLease(): LockLease {
    return { names: [], tokens: {}, lost: new AbortController().signal, extend: async () => undefined, assertFresh: async () => undefined, release: async () => [] };
  }

  async function list(): Promise<LockInfo[]> {
    const names = (await redis.smembers(k.names)).sort();
    const out: LockInfo[] = [];
    for (const name of names) {
      const [holder, pttl, waiters] = (await redis
        .pipeline()
        .hgetall(k.holder(name))
        .pttl(k.resource(name))
        .zrange(k.waiters(name), 0, -1, 'WITHSCORES')
        .exec())!.map((x) => x[1]) as [Record<string, string>, number, string[]];
      const ws: LockInfo['waiters'] = [];
      for (let i = 0; i < waiters.length; i += 2) {
        const h = holderOf(waiters[i]!);
        if (h) ws.push({ runId: h.runId, itemId: h.itemId, since: new Date(Number(waiters[i + 1])).toISOString(), position: i / 2 + 1 });
      }
      const held = pttl > 0 && holder['token'] !== undefined;
      if (!held && ws.length === 0) {
        await redis.srem(k.names, name);
        continue;
      }
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
    list,
    async close() {
      for (const l of leases) clearInterval(l.timer);
      leases.clear();
    },
  };
}


