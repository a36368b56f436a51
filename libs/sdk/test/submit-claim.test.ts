import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { AgoraClient, IllegalStateError, UnavailableError } from '@agora/sdk';
import { testRedisUrl, uniqueNamespace } from '../../../test/support/index.js';

/**
 * A submission claims its run id before the inbox add (so that of two racing under one id exactly
 * one is accepted); when the add fails, the claim is given back: a caller told "unavailable" that
 * finds no such run may submit under the id again, as README says.
 */
const user = `agora_sdk_noscript_${randomBytes(4).toString('hex')}`;
const noDel = `agora_sdk_nodel_${randomBytes(4).toString('hex')}`;
afterAll(async () => {
  const admin = new Redis(testRedisUrl());
  await admin.acl('DELUSER', user).catch(() => undefined);
  await admin.acl('DELUSER', noDel).catch(() => undefined);
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

describe('a submission whose inbox add fails and whose claim release is lost', () => {
  it('holds its run id only for its Redis bound and some slack, not 10 minutes', async () => {
    const admin = new Redis(testRedisUrl());
    // The claim (SET) goes through; the add (a script) fails, and so does the release (DEL), as
    // when the client is closed while Redis is away.
    await admin.acl('SETUSER', noDel, 'reset', 'on', '>pw', '~*', '&*', '+@all', '-eval', '-evalsha', '-eval_ro', '-evalsha_ro', '-script', '-del', '-unlink');
    admin.disconnect();
    const url = new URL(testRedisUrl());
    url.username = noDel;
    url.password = 'pw';
    const namespace = uniqueNamespace();
    const plan = { id: 'claim', items: [{ id: 'a', executor: 'noop', inputs: {} }] };
    const refused = new AgoraClient({ redisUrl: url.toString(), namespace, timeoutMs: 1000 });
    const full = new AgoraClient({ redisUrl: testRedisUrl(), namespace });
    try {
      await expect(refused.submit(plan, { runId: 'r00claimlost1' })).rejects.toThrow(UnavailableError);
      await expect(full.status('r00claimlost1')).rejects.toThrow(/no run/);
      // Still claimed at once: said so, not as a run that exists.
      const err = await full.submit(plan, { runId: 'r00claimlost1' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IllegalStateError);
      expect((err as Error).message).toMatch(/a submission under this id is in progress \(if it failed, the id is free again within [1-6] s\)/);
      // The lost claim lapses after the refused call's bound (1 s) and its slack (5 s).
      const started = Date.now();
      let accepted: string | undefined;
      while (accepted === undefined && Date.now() - started < 15_000) {
        accepted = await full.submit(plan, { runId: 'r00claimlost1' }).catch(async (e: unknown) => {
          if (!(e instanceof IllegalStateError)) throw e;
          await new Promise((r) => setTimeout(r, 250));
          return undefined;
        });
      }
      expect(accepted).toBe('r00claimlost1');
      expect(Date.now() - started).toBeLessThan(7_000);
    } finally {
      await refused.close();
      await full.close();
    }
  }, 30_000);
});
