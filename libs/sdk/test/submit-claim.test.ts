import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { AgoraClient, UnavailableError } from '@agora/sdk';
import { testRedisUrl, uniqueNamespace } from '../../../test/support/index.js';

/**
 * A submission claims its run id before the inbox add (so that of two racing under one id exactly
 * one is accepted); when the add fails, the claim is given back: a caller told "unavailable" that
 * finds no such run may submit under the id again, as README says.
 */
const user = `agora_sdk_noscript_${randomBytes(4).toString('hex')}`;
afterAll(async () => {
  const admin = new Redis(testRedisUrl());
  await admin.acl('DELUSER', user).catch(() => undefined);
  admin.disconnect();
});

describe('a submission whose inbox add fails', () => {
  it('gives its run id back: the same id submits afterwards', async () => {
    const admin = new Redis(testRedisUrl());
    // Every command but scripts: the claim (SET) goes through, the inbox add (a BullMQ script) fails.
    await admin.acl('SETUSER', user, 'reset', 'on', '>pw', '~*', '&*', '+@all', '-eval', '-evalsha', '-eval_ro', '-evalsha_ro', '-script');
    admin.disconnect();
    const url = new URL(testRedisUrl());
    url.username = user;
    url.password = 'pw';
    const namespace = uniqueNamespace();
    const plan = { id: 'claim', items: [{ id: 'a', executor: 'noop', inputs: {} }] };
    const refused = new AgoraClient({ redisUrl: url.toString(), namespace });
    const full = new AgoraClient({ redisUrl: testRedisUrl(), namespace });
    try {
      await expect(refused.submit(plan, { runId: 'r00claimback1' })).rejects.toThrow(UnavailableError);
      expect(await full.submit(plan, { runId: 'r00claimback1' })).toBe('r00claimback1');
      expect(await full.status('r00claimback1')).toMatchObject({ runId: 'r00claimback1' });
    } finally {
      await refused.close();
      await full.close();
    }
  });
});
