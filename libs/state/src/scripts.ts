import { ScriptRegistry } from '@agora/core';
import { LOCK_LUA_INCLUDES } from '@agora/locks';
import type { RedisClient } from './redis.js';

/**
 * The scripts of an item's start and end: a runner with several items in flight sends those made
 * in the same turn of the event loop as one command (see `callScriptBatched`).
 */
const ITEM_STEP_SCRIPTS = ['beginItem', 'startItem', 'finishItem', 'endItem'] as const;

/**
 * The run-state scripts (libs/state/commands). The item start and end scripts claim and release
 * resource locks too, with libs/locks' Lua functions, so its include directory is searched as well.
 */
const registry = new ScriptRegistry(new URL('../commands/', import.meta.url), 'agora_', [LOCK_LUA_INCLUDES], ITEM_STEP_SCRIPTS);

/** Registers our scripts on a client (EVALSHA with automatic EVAL fallback, via ioredis). */
export function defineScripts(redis: RedisClient): void {
  registry.define(redis);
}

/** Calls a script by its short name (the file name before `-<keys>.lua`); a Redis-side failure is a `ScriptError`. */
export function callScript(redis: RedisClient, name: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  return registry.call(redis, name, keys, args);
}

/**
 * `callScript` for an item step script: calls made on one client in the same turn of the event
 * loop go to Redis as one call (libs/core `ScriptRegistry.callBatched`); each caller still gets
 * its own result or `ScriptError`.
 */
export function callScriptBatched(redis: RedisClient, name: (typeof ITEM_STEP_SCRIPTS)[number], keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  return registry.callBatched(redis, name, keys, args);
}
