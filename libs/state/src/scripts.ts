import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ScriptRegistry, luaCalledCommands, type ForeignIncludes } from '@agora/core';
import { LOCK_LUA_INCLUDES, lockScriptCommands } from '@agora/locks';
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
const BULLMQ_COMMANDS_DIR = path.join(path.dirname(createRequire(import.meta.url).resolve('bullmq/package.json')), 'dist', 'cjs', 'commands');

function bullmqIncludes(): ForeignIncludes {
  const dir = path.join(BULLMQ_COMMANDS_DIR, 'includes');
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

/**
 * Every Redis command called by name in the Lua scripts a runner or scheduler runs: ours (run
 * state, locks) and every script of the installed BullMQ, with their includes (its Worker, Queue
 * and FlowProducer run them by EVALSHA), lower-cased and sorted.
 */
export function scriptCommands(): string[] {
  const bullmq = [BULLMQ_COMMANDS_DIR, path.join(BULLMQ_COMMANDS_DIR, 'includes')].flatMap((dir) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.lua'))
      .map((f) => readFileSync(path.join(dir, f), 'utf8')),
  );
  return [...new Set([...registry.commands(), ...lockScriptCommands(), ...luaCalledCommands(bullmq.join('\n'))])].sort();
}

/**
 * Which of ARGV's commands the calling user may not run. Each is called on KEYS[1] (an absent
 * key of the namespace) with as few arguments as its arity allows, found by trying: Redis checks
 * a call's arity first, then the ACL, and only then refuses a write in a `no-writes` script, so
 * no write runs; a read runs on the absent key, a PUBLISH reaches a channel nobody listens on.
 * (Not `redis.acl_check_cmd`: Redis 7.0 crashes on it for a command given without its keys.)
 * Redis 7.0 words a refusal "The user executing the script can't run this command…", 7.2
 * "ACL failure in script: User … has no permissions to run the '…' command". A command this
 * Redis does not know is skipped: BullMQ calls some only on the versions that have them.
 */
const ACL_PROBE = `#!lua flags=no-writes
local denied = {}
for _, name in ipairs(ARGV) do
  local args = {}
  for n = 0, 8 do
    if n > 0 then args[n] = KEYS[1] end
    local r = redis.pcall(name, unpack(args))
    local err = type(r) == 'table' and r.err
    if not (err and string.find(string.lower(err), 'wrong number of arg', 1, true)) then
      if err and (string.find(err, "can't run this command", 1, true) or string.find(err, 'no permissions to run the', 1, true)) then
        denied[#denied + 1] = name
      end
      break
    end
  end
end
return denied
`;

/**
 * The commands our or BullMQ's scripts call that the Redis user may not run (`[]`: none), or
 * undefined when this Redis cannot be asked (before 7.0: no script flags). The probe is a script
 * itself, so a user who may not run scripts is refused by Redis here: its NOPERM … 'eval' is thrown.
 */
export async function deniedScriptCommands(redis: RedisClient, namespace: string): Promise<string[] | undefined> {
  try {
    // Named as our run keys are ("<ns>:run:{<ns>}:…"): a key and a channel (PUBLISH's) of the
    // namespace, in its hash slot, so on a Redis Cluster the node its keys live on is asked.
    return (await redis.eval(ACL_PROBE, 1, `${namespace}:{${namespace}}:acl-probe`, ...scriptCommands())) as string[];
  } catch (err) {
    if (/\bNOPERM\b/.test((err as Error).message)) throw err;
    return undefined;
  }
}

/**
 * Fails, as Redis' own NOPERM for a command run directly does (the CLI exits 3 naming the
 * command), when the Redis user may not run a command our or BullMQ's scripts call. Inside a
 * script Redis refuses such a command on every call: a runner would start, pass every direct
 * command, and then log that refusal for every job it fetched, forever. Checked once at start
 * instead (`deniedScriptCommands`); a Redis before 7.0 is not checked.
 */
export async function assertScriptCommandsAllowed(redis: RedisClient, namespace: string): Promise<void> {
  const denied = (await deniedScriptCommands(redis, namespace)) ?? [];
  if (denied.length === 0) return;
  const more = denied.length > 1 ? `, nor ${denied.slice(1).map((c) => `'${c}'`).join(', ')}` : '';
  throw new Error(`NOPERM this user has no permissions to run the '${denied[0]}' command${more}, which the Redis scripts of Agora and BullMQ call: inside a script every call of it would be refused`);
}
