import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { AgoraClient, NotFoundError } from '@agora/sdk';
import { RunStore } from '@agora/state';
import { testRedisUrl, uniqueNamespace } from '../../../test/support/index.js';

/**
 * `send` right after `submit` waits for the run's acceptance, as README promises a message sent
 * before its item starts: also while the acceptance has recorded the run but not yet registered
 * the item (before, that window answered `run "…" has no item "…"`; seen in CI's send test).
 */
const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
afterAll(() => redis.disconnect());

const item = (id: string) => ({ id, definitionHash: 'd', jobId: `j${id}`, depCount: 0, dependents: [], fields: { executor: 'noop', definitionHash: 'd', inputsHash: 'h' } });

describe('send while the run is being accepted', () => {
  it('waits for the item to be registered and delivers, rather than saying the run has no such item', async () => {
    const namespace = uniqueNamespace();
    const store = new RunStore(redis, namespace);
    await store.initRun('racc1', { total: 2, queue: 'default', planId: 'p', fields: { submittedAt: new Date().toISOString() } });
    await store.registerItems('racc1', 0, [item('a')]);
    const client = new AgoraClient({ redisUrl: testRedisUrl(), namespace, timeoutMs: 5000 });
    try {
      const sending = client.send('racc1', 'b', { early: true });
      await new Promise((r) => setTimeout(r, 300));
      await store.registerItems('racc1', 1, [item('b')]);
      expect(await sending).toMatchObject({ runId: 'racc1', itemId: 'b' });
      // Once every item is registered, an item the plan does not have is not found at once.
      await expect(client.send('racc1', 'nope', 1)).rejects.toThrow(new NotFoundError('run "racc1" has no item "nope"'));
    } finally {
      await client.close();
    }
  });
});
