import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ScriptError, ScriptRegistry, luaCalledCommands } from '../src/index.js';
import { testRedisUrl } from '../../../test/support/index.js';

/** The one Lua loader both libs use: includes, fixed and variable key counts, and typed failures. */
const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-lua-'));
mkdirSync(path.join(dir, 'includes'));
writeFileSync(path.join(dir, 'includes', 'twice.lua'), 'local function twice(x) return x * 2 end\n');
writeFileSync(path.join(dir, 'double-1.lua'), "--@include twice\nreturn twice(tonumber(redis.call('GET', KEYS[1]) or ARGV[1]))\n");
writeFileSync(path.join(dir, 'count-N.lua'), 'return #KEYS\n');
writeFileSync(path.join(dir, 'refuse-0.lua'), "error('nothing here is allowed')\n");
// Adds ARGV[1] to KEYS[1] and returns { the new value, how many keys it was given }; refuses 'bad'.
writeFileSync(path.join(dir, 'step-N.lua'), "--@include twice\nif ARGV[1] == 'bad' then error('a bad step') end\nreturn { redis.call('INCRBY', KEYS[1], twice(tonumber(ARGV[1]))), #KEYS }\n");
const registry = new ScriptRegistry(pathToFileURL(dir + '/'), 'test_', { batchable: ['step'] });
const redis = new Redis(testRedisUrl());
afterAll(() => redis.disconnect());

describe('ScriptRegistry', () => {
  it('resolves includes and passes fixed and variable key counts', async () => {
    expect(await registry.call(redis, 'double', ['lua-test:absent'], [21])).toBe(42);
    expect(await registry.call(redis, 'count', ['a', 'b', 'c'], [])).toBe(3);
  });
  it('a script that fails in Redis is a ScriptError naming it (code SCRIPT, not retried)', async () => {
    const err = await registry.call(redis, 'refuse', [], []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ScriptError);
    expect(err).toMatchObject({ code: 'SCRIPT', script: 'refuse', retryable: false });
    expect((err as Error).message).toMatch(/Redis script refuse failed: .*nothing here is allowed/);
  });
  it('lists the Redis commands its scripts call by name, includes too (what a start-up ACL check asks about)', () => {
    expect(registry.commands()).toEqual(['get', 'incrby']);
    expect(luaCalledCommands('local rcall = redis.call\nrcall("ZADD", k, 1, m)\nredis.pcall( "hset" , k)\n-- redis.call(cmd, k)\nredis.call(\'GET\', k)')).toEqual(['get', 'hset', 'zadd']);
  });
  it('refuses an unknown script name and a badly named file', async () => {
    await expect(registry.call(redis, 'nope', [], [])).rejects.toThrow('no Lua script named nope');
    const bad = mkdtempSync(path.join(os.tmpdir(), 'agora-lua-'));
    writeFileSync(path.join(bad, 'noKeyCount.lua'), 'return 1\n');
    expect(() => new ScriptRegistry(pathToFileURL(bad + '/'), 'x_')).toThrow(/expected <camelName>-<numKeys or N>\.lua/);
  });
  it('sends the batchable calls of one turn as one command; each caller gets its own result or error, in call order', async () => {
    const key = `lua-test:batch:{t${process.pid}}`;
    await redis.del(key, `${key}:2`);
    const sent = vi.spyOn(redis, 'sendCommand');
    try {
      const calls = [
        registry.callBatched(redis, 'step', [key], [1]),
        registry.callBatched(redis, 'step', [key, `${key}:2`], ['bad']),
        registry.callBatched(redis, 'step', [key], [10]),
      ];
      const settled = await Promise.allSettled(calls);
      const scripts = sent.mock.calls.map(([c]) => c.name).filter((n) => n === 'evalsha' || n === 'eval');
      expect(scripts).toHaveLength(1);
      // In order: 1*2, then 10*2 on top; the refused call's keys did not leak into the others'.
      expect(settled[0]).toEqual({ status: 'fulfilled', value: [2, 1] });
      expect(settled[2]).toEqual({ status: 'fulfilled', value: [22, 1] });
      expect(settled[1]!.status).toBe('rejected');
      const err = (settled[1] as PromiseRejectedResult).reason as ScriptError;
      expect(err).toBeInstanceOf(ScriptError);
      expect(err).toMatchObject({ code: 'SCRIPT', script: 'step' });
      expect(err.message).toMatch(/a bad step/);
      // A call alone in its turn is sent as the plain script.
      sent.mockClear();
      expect(await registry.callBatched(redis, 'step', [key], [100])).toEqual([222, 1]);
      expect(sent.mock.calls.map(([c]) => c.name).filter((n) => n === 'evalsha' || n === 'eval')).toHaveLength(1);
    } finally {
      sent.mockRestore();
    }
  });
  it('only declared scripts batch; an undeclared one is called as itself', async () => {
    expect(await registry.callBatched(redis, 'double', ['lua-test:absent'], [4])).toBe(8);
    expect(() => new ScriptRegistry(pathToFileURL(dir + '/'), 'y_', { batchable: ['missing'] })).toThrow('no Lua script named missing to batch');
  });
});
