import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RunStore } from '@agora/state';
import { testRedisUrl, uniqueNamespace } from '../../../test/support/index.js';

/**
 * The runner crash seen in chaos runs and on a first `npm run demo` (ioredis 5.11,
 * autoPipelining.js: `results[i] is not iterable`): the first state call defined our Lua commands
 * lazily on the shared auto-pipelined client while a pipeline built in the same turn (a lock
 * call) lacked them. Scripts are now defined when the store is made.
 */
const clients: Redis[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
});

describe('state scripts on an auto-pipelined client', () => {
  it('a script called in the same turn as another command, on its first use, settles and crashes nothing', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    process.prependListener('uncaughtException', onUncaught);
    try {
      const redis = new Redis(testRedisUrl(), { enableAutoPipelining: true, maxRetriesPerRequest: null });
      clients.push(redis);
      await redis.ping();
      const store = new RunStore(redis, uniqueNamespace('ap'));
      // Same event-loop turn: a plain command opens the auto-pipeline, then the first script call.
      const plain = redis.get('agora-ap-test');
      const first = store.appendEvents('r1', [{ type: 'retry', itemId: 'x', attempt: 1, error: 'e', reason: 'infra', delayMs: 0 }]);
      const results = await Promise.allSettled([plain, first]);
      await new Promise((r) => setTimeout(r, 50));
      expect(uncaught).toEqual([]);
      expect(results).toEqual([
        { status: 'fulfilled', value: null },
        { status: 'fulfilled', value: -1 }, // no such run
      ]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});
