import { readdirSync } from 'node:fs';
import { readLuaScript } from '@agora/core';
import type { RedisClient } from './redis.js';

const COMMANDS_DIR = new URL('../commands/', import.meta.url);


export interface ScriptDef {
  readonly name: string;
  readonly numberOfKeys: number;
  readonly lua: string;
}

let cache: ScriptDef[] | undefined;

export function allScripts(): ScriptDef[] {
  cache ??= readdirSync(COMMANDS_DIR)
    .filter((f) => f.endsWith('.lua'))
    .map((f) => {
      const m = /^(\w+)-(\d+)\.lua$/.exec(f);
      if (!m) throw new Error(`bad script file name ${f}: expected <camelName>-<numKeys>.lua`);
      return { name: `agora_${m[1]!}`, numberOfKeys: Number(m[2]), lua: readLuaScript(COMMANDS_DIR, f) };
    });
  return cache;
}

const defined = new WeakSet<RedisClient>();

/** Registers our scripts on a client (EVALSHA with automatic EVAL fallback, via ioredis). */
export function defineScripts(redis: RedisClient): void {
  if (defined.has(redis)) return;
  for (const s of allScripts()) redis.defineCommand(s.name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
  defined.add(redis);
}

/** Calls a defined script by its short name. */
export function callScript(redis: RedisClient, name: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  defineScripts(redis);
  const fn = (redis as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[`agora_${name}`];
  if (!fn) throw new Error(`no Lua script named ${name}`);
  return fn.call(redis, ...keys, ...args);
}
