import { readdirSync } from 'node:fs';
import { readLuaScript } from '@agora/core';
import { LOCK_LUA_INCLUDES } from '@agora/locks';
import type { RedisClient } from './redis.js';

const COMMANDS_DIR = new URL('../commands/', import.meta.url);


export interface ScriptDef {
  readonly name: string;
  /** Fixed key count, or undefined for a `-N` script (the caller passes the count first). */
  readonly numberOfKeys: number | undefined;
  readonly lua: string;
}

let cache: ScriptDef[] | undefined;

export function allScripts(): ScriptDef[] {
  cache ??= readdirSync(COMMANDS_DIR)
    .filter((f) => f.endsWith('.lua'))
    .map((f) => {
      const m = /^(\w+)-(\d+|N)\.lua$/.exec(f);
      if (!m) throw new Error(`bad script file name ${f}: expected <camelName>-<numKeys or N>.lua`);
      // The item start and end scripts claim and release resource locks too: libs/locks' Lua.
      return { name: `agora_${m[1]!}`, numberOfKeys: m[2] === 'N' ? undefined : Number(m[2]), lua: readLuaScript(COMMANDS_DIR, f, [LOCK_LUA_INCLUDES]) };
    });
  return cache;
}

const defined = new WeakSet<RedisClient>();

/** Registers our scripts on a client (EVALSHA with automatic EVAL fallback, via ioredis). */
export function defineScripts(redis: RedisClient): void {
  if (defined.has(redis)) return;
  for (const s of allScripts()) redis.defineCommand(s.name, s.numberOfKeys === undefined ? { lua: s.lua } : { numberOfKeys: s.numberOfKeys, lua: s.lua });
  defined.add(redis);
}

/** Calls a defined script by its short name. */
export function callScript(redis: RedisClient, name: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  defineScripts(redis);
  const fn = (redis as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[`agora_${name}`];
  if (!fn) throw new Error(`no Lua script named ${name}`);
  const def = allScripts().find((s) => s.name === `agora_${name}`);
  return def?.numberOfKeys === undefined ? fn.call(redis, keys.length, ...keys, ...args) : fn.call(redis, ...keys, ...args);
}
