import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ScriptRegistry, type ForeignIncludes } from '@agora/core';
import { LOCK_LUA_INCLUDES } from '@agora/locks';
import type { RedisClient } from './redis.js';

/**
 * The scripts of an item's start and end: a runner with several items in flight sends those made
 * in one tick (before `process.nextTick` callbacks run) as one command (see `callScriptBatched`).
 */
const ITEM_STEP_SCRIPTS = ['beginItem', 'startItem', 'finishItem', 'endItem'] as const;

/**
 * BullMQ's own Lua functions (`--@bullmq <name>` in our scripts), read from the installed bullmq
 * package with the functions they include (BullMQ's `--- @include "<name>"`), each once per
 * script. Our end scripts promote a parked job with them, so the job moves exactly as BullMQ's
 * own promote moves it (markers, priorities, a paused queue) in whatever version is installed.
 */
function bullmqIncludes(): ForeignIncludes {
  const dir = path.join(path.dirname(createRequire(import.meta.url).resolve('bullmq/package.json')), 'dist', 'cjs', 'commands', 'includes');
  const read = (name: string, seen: Set<string>): string => {
    if (seen.has(name)) return '';
    seen.add(name);
    const text = readFileSync(path.join(dir, `${name}.lua`), 'utf8');
    return text.replace(/^--- @include "(?:includes\/)?(\w+)"$/gm, (_, inc: string) => read(inc, seen));
  };
  return { source: 'bullmq', read };
}

/**
 * The run-state scripts (libs/state/commands). The item start and end scripts claim and release
 * resource locks too, with libs/locks' Lua functions, so its include directory is searched as well.
 */
const registry = new ScriptRegistry(new URL('../commands/', import.meta.url), 'agora_', {
  includeDirs: [LOCK_LUA_INCLUDES],
  batchable: ITEM_STEP_SCRIPTS,
  foreign: bullmqIncludes(),
});

/** Registers our scripts on a client (EVALSHA with automatic EVAL fallback, via ioredis). */
export function defineScripts(redis: RedisClient): void {
  registry.define(redis);
}

/** Calls a script by its short name (the file name before `-<keys>.lua`); a Redis-side failure is a `ScriptError`. */
export function callScript(redis: RedisClient, name: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  return registry.call(redis, name, keys, args);
}

/**
 * `callScript` for an item step script: calls made on one client in one tick
 * go to Redis as one call (libs/core `ScriptRegistry.callBatched`); each caller still gets
 * its own result or `ScriptError`.
 */
export function callScriptBatched(redis: RedisClient, name: (typeof ITEM_STEP_SCRIPTS)[number], keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  return registry.callBatched(redis, name, keys, args);
}
