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
