import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

/** URL of the Redis started by the global setup. */
export function testRedisUrl(): string {
  return inject('redisUrl');
}

/** A fresh namespace per test: every key and queue of the test lives under it. */
export function uniqueNamespace(prefix = 't'): string {
  return `${prefix}${randomBytes(5).toString('hex')}`;
}

/**
 * Polls `f` until it gives a truthy value and returns it; throws naming `what` after `ms`. For
 * conditions the system reaches on its own time (a record written after a run ends, a sample).
 */
export async function until<T>(what: string, f: () => Promise<T | null | undefined | false>, ms = 20_000, everyMs = 50): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not reached in ${ms} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
