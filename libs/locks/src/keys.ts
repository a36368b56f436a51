import { LOCK_NAME_RE, PLAN_LIMITS, ValueError, keys as coreKeys } from '@agora/core';

/**
 * Redis keys of resource locks. Every lock key of a deployment carries the hash tag
 * `{<namespace>}`, so an item's locks, however many, can be taken in one redlock call and one
 * script on Redis Cluster too (they share a slot).
 */
export interface LockKeys {
  /** The redlock resource (value = the lease's random id, PX = lease). */
  resource(name: string): string;
  /** Counter of fencing tokens. */
  token(name: string): string;
  /** Hash describing the current holder (for `agora locks`), expires with the lease. */
  holder(name: string): string;
  /** Sorted set: waiting holders by arrival time. */
  waiters(name: string): string;
  /** Sorted set: waiting holders by deadline (a waiter that stops checking in is dropped). */
  deadlines(name: string): string;
  /** Set of lock names with a holder or waiters, for listing. */
  readonly names: string;
  /** Sorted set: holder member -> its first arrival, kept while it holds (or handed back) its locks. */
  readonly arrivals: string;
}

/** A lock name a key may be built from (plan rules: see `assertLockName`). */
export function isValidLockName(name: unknown): name is string {
  return typeof name === 'string' && name.length > 0 && name.length <= PLAN_LIMITS.maxLockNameLength && LOCK_NAME_RE.test(name) && !name.split('/').some((s) => s === '' || s === '.' || s === '..');
}

export function assertLockName(name: string): void {
  if (!isValidLockName(name)) {
    throw new ValueError(`invalid lock name ${JSON.stringify(name)}: 1-${PLAN_LIMITS.maxLockNameLength} of [A-Za-z0-9._/@+=-], no empty, "." or ".." segment`);
  }
}

export function lockKeys(namespace: string): LockKeys {
  const k = coreKeys(namespace);
  const base = `${k.lockPrefix}:{${namespace}}`;
  return {
    resource: (n) => `${base}:r:${n}`,
    token: (n) => `${base}:t:${n}`,
    holder: (n) => `${base}:h:${n}`,
    waiters: (n) => `${base}:w:${n}`,
    deadlines: (n) => `${base}:d:${n}`,
    names: `${base}:names`,
    arrivals: `${base}:arrivals`,
  };
}

/**
 * The lock Lua functions (`claimLocks`, `releaseLocks`, `staleLock`, waiter helpers) for scripts
 * of other packages that claim or release locks in the same step as their own writes (the item
 * start and end scripts of libs/state). Their keys share the `{<namespace>}` tag with the run keys.
 */
export const LOCK_LUA_INCLUDES = new URL('../commands/includes/', import.meta.url);
