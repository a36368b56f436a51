import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { assertScriptCommandsAllowed, createRedis, scriptCommands, startRedisServer, type RedisServerHandle } from '@agora/state';

/**
 * The start-up check of a runner's and a scheduler's Redis user against the commands the Redis
 * scripts call (ours and BullMQ's): inside a script a refused command fails every call, which a
 * runner used to log for every job, forever. A private Redis: the users here are its own, and a
 * probe that crashed Redis (Redis 7.0's `redis.acl_check_cmd` does, for a command without its
 * keys) would take no other test with it.
 */
let server: RedisServerHandle;
let admin: Redis;
const ns = 'perm';
beforeAll(async () => {
  server = await startRedisServer({});
  admin = new Redis(server.url);
});
afterAll(async () => {
  admin?.disconnect();
  await server?.stop();
});

/** A client logged in as a fresh user with the rules of deploy/redis-acl.conf's runner, plus `extra`. */
async function clientAs(user: string, ...extra: string[]): Promise<ReturnType<typeof createRedis>> {
  await admin.acl('SETUSER', user, 'reset', 'on', '>pw', 'resetkeys', `~${ns}:*`, `~{${ns}}:*`, 'resetchannels', `&${ns}:*`, '-@all', '+@all', '-@dangerous', '+info', ...extra);
  const url = new URL(server.url);
  url.username = user;
  url.password = 'pw';
  return createRedis(url.toString());
}

describe('assertScriptCommandsAllowed', () => {
  it('knows the commands the scripts call, ours and BullMQ\'s', () => {
    const commands = scriptCommands();
    // XADD: our event appends and BullMQ's event stream; RPOPLPUSH only BullMQ's; PUBLISH only ours.
    for (const c of ['xadd', 'hset', 'zadd', 'rpoplpush', 'publish']) expect(commands).toContain(c);
    expect(commands).toEqual([...commands].sort());
  });

  it('passes the shipped runner user, runs no write and is refused nothing (its probe key and channel are the namespace\'s)', async () => {
    await admin.call('ACL', 'LOG', 'RESET');
    const r = await clientAs('runner_like');
    try {
      await assertScriptCommandsAllowed(r, ns);
    } finally {
      r.disconnect();
    }
    expect(await admin.dbsize()).toBe(0);
    // A refused key or channel is no verdict of the probe, but would fill the ACL log an operator reads.
    expect(await admin.call('ACL', 'LOG')).toEqual([]);
  });

  it('refuses a user without commands only scripts call, naming them as a NOPERM does; Redis keeps running', async () => {
    const r = await clientAs('no_script_cmds', '-xadd', '-set', '-publish');
    try {
      await expect(assertScriptCommandsAllowed(r, ns)).rejects.toThrow(
        "NOPERM this user has no permissions to run the 'publish' command, nor 'set', 'xadd', which the Redis scripts of Agora and BullMQ call: inside a script every call of it would be refused",
      );
    } finally {
      r.disconnect();
    }
    expect(await admin.ping()).toBe('PONG');
    expect(await admin.dbsize()).toBe(0);
  });

  it('a user who may not run scripts at all is refused by Redis itself (NOPERM … eval)', async () => {
    const r = await clientAs('no_eval', '-eval');
    try {
      await expect(assertScriptCommandsAllowed(r, ns)).rejects.toThrow(/NOPERM.*'eval' command/);
    } finally {
      r.disconnect();
    }
  });
});
