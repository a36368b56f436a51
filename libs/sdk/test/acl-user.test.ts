import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { AgoraClient, UnavailableError } from '@agora/sdk';
import { testRedisUrl, uniqueNamespace } from '../../../test/support/index.js';

/**
 * A client whose Redis user lacks a permission (an ACL) is told so as an Agora error, as the HTTP
 * transport answers a refused scope (UnavailableError, not retryable), naming the command. Before,
 * runs() rejected with ioredis' raw ReplyError and cancel with a script wrapper (code SCRIPT).
 */
const user = `agora_sdk_noperm_${randomBytes(4).toString('hex')}`;
afterAll(async () => {
  const admin = new Redis(testRedisUrl());
  await admin.acl('DELUSER', user).catch(() => undefined);
  admin.disconnect();
});

describe('AgoraClient as a Redis user without a permission', () => {
  it('rejects with UnavailableError (not retryable) naming the command, for direct commands and scripts alike', async () => {
    const admin = new Redis(testRedisUrl());
    // Enough to connect (ioredis' ready check reads INFO), nothing Agora reads or writes.
    await admin.acl('SETUSER', user, 'reset', 'on', '>pw', '~*', '&*', '+ping', '+auth', '+hello', '+info', '+client', '+select');
    admin.disconnect();
    const url = new URL(testRedisUrl());
    url.username = user;
    url.password = 'pw';
    const client = new AgoraClient({ redisUrl: url.toString(), namespace: uniqueNamespace() });
    try {
      for (const [what, call] of [
        ['runs', () => client.runs()],
        ['cancel', () => client.cancel('r00nopermrun1')],
        ['status', () => client.status('r00nopermrun1')],
      ] as Array<[string, () => Promise<unknown>]>) {
        const err = await call().catch((e: unknown) => e);
        expect(err, what).toBeInstanceOf(UnavailableError);
        expect((err as UnavailableError).retryable, what).toBe(false);
        expect((err as Error).message, what).toMatch(/^the Redis user of REDIS_URL may not run the '\w+' command \(/);
      }
    } finally {
      await client.close();
    }
  });
});
