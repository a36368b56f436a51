import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ScriptError, ScriptRegistry } from '../src/index.js';
import { testRedisUrl } from '../../../test/support/index.js';

/** The one Lua loader both libs use: includes, fixed and variable key counts, and typed failures. */
const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-lua-'));
mkdirSync(path.join(dir, 'includes'));
writeFileSync(path.join(dir, 'includes', 'twice.lua'), 'local function twice(x) return x * 2 end\n');
writeFileSync(path.join(dir, 'double-1.lua'), "--@include twice\nreturn twice(tonumber(redis.call('GET', KEYS[1]) or ARGV[1]))\n");
writeFileSync(path.join(dir, 'count-N.lua'), 'return #KEYS\n');
writeFileSync(path.join(dir, 'refuse-0.lua'), "error('nothing here is allowed')\n");
const registry = new ScriptRegistry(pathToFileURL(dir + '/'), 'test_');
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
  it('refuses an unknown script name and a badly named file', async () => {
    await expect(registry.call(redis, 'nope', [], [])).rejects.toThrow('no Lua script named nope');
    const bad = mkdtempSync(path.join(os.tmpdir(), 'agora-lua-'));
    writeFileSync(path.join(bad, 'noKeyCount.lua'), 'return 1\n');
    expect(() => new ScriptRegistry(pathToFileURL(bad + '/'), 'x_')).toThrow(/expected <camelName>-<numKeys or N>\.lua/);
  });
});
