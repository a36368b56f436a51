import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { AgoraError, type AgoraErrorOptions } from './errors.js';
import { hashTagOf } from './keys.js';

/**
 * Reads a Lua script from a package's `commands/` directory, replacing each `--@include x` line
 * with `includes/x.lua` from the same directory, or else from one of `includeDirs` (another
 * package's `includes/`, for a script that spans both packages' keys) (Redis scripts cannot load
 * one another).
 */
export function readLuaScript(commandsDir: URL, file: string, includeDirs: readonly URL[] = [], foreign?: ForeignIncludes): string {
  const dirs = [new URL('includes/', commandsDir), ...includeDirs];
  // Foreign functions already inlined in this script (each goes in once).
  const seen = new Set<string>();
  const inline = (text: string, from: string): string =>
    text.replace(/^--@(\w+) (\w+)$/gm, (_, source: string, name: string) => {
      if (source === 'include') {
        const dir = dirs.find((d) => existsSync(new URL(`${name}.lua`, d)));
        if (!dir) throw new Error(`${from}: no include "${name}" in ${dirs.map((d) => d.pathname).join(', ')}`);
        return inline(readFileSync(new URL(`${name}.lua`, dir), 'utf8'), `${name}.lua`);
      }
      if (!foreign || foreign.source !== source) throw new Error(`${from}: no include source "${source}" for "${name}"`);
      return foreign.read(name, seen);
    });
  return inline(readFileSync(new URL(file, commandsDir), 'utf8'), file);
}

/**
 * The Redis commands a Lua script calls by name (`redis.call('HSET', …)`, `redis.pcall`, and
 * BullMQ's `rcall("ZADD", …)`), lower-cased, sorted, each once. Inside a script Redis checks each
 * call against the calling user's ACL: a user without one of these fails the script on every
 * call, which a start-up check (libs/state `assertScriptCommandsAllowed`) catches at once.
 */
export function luaCalledCommands(lua: string): string[] {
  const found = new Set<string>();
  for (const m of lua.matchAll(/(?:\bredis\.p?call|\brcall)\(\s*["']([A-Za-z]+)["']/g)) found.add(m[1]!.toLowerCase());
  return [...found].sort();
}

/**
 * Lua functions of another package, inlined where a script says `--@<source> <name>` (libs/state
 * uses BullMQ's own functions to promote a parked job inside its end scripts). `read` returns the
 * text of `name` with what it needs, leaving out what `seen` (one set per script) already holds.
 */
export interface ForeignIncludes {
  readonly source: string;
  read(name: string, seen: Set<string>): string;
}

export interface ScriptRegistryOptions {
  /** More directories searched for `--@include x` (another package's `includes/`). */
  readonly includeDirs?: readonly URL[];
  /** Scripts that may also be sent as one call carrying many (see `callBatched`). */
  readonly batchable?: readonly string[];
  readonly foreign?: ForeignIncludes;
}

/** A client scripts can be defined on (ioredis `Redis` or `Cluster`). */
export interface ScriptClient {
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number }): void;
}

/** A Lua script failed inside Redis (a bug, or input the script refuses): named, not retried. */
export class ScriptError extends AgoraError {
  constructor(
    readonly script: string,
    message: string,
    options: AgoraErrorOptions = {},
  ) {
    super('SCRIPT', `Redis script ${script} failed: ${message}`, options);
  }
}

const BATCH_SUFFIX = 'Batch';

/** Most calls one batch script call carries (see `ScriptRegistry.callBatched`). */
const MAX_BATCH = 64;

/**
 * The batch variant of a script: its text (includes resolved) becomes the body of a function
 * whose parameters shadow the globals KEYS and ARGV, called once per call packed into this call's
 * keys and arguments. ARGV: the number of calls, then per call its key count, its argument count
 * and its arguments; KEYS: every call's keys in order. Each call runs under pcall, so one call's
 * error fails only its caller: returns per call `{ 1, result }` or `{ 0, message }`.
 */
function batchVariant(lua: string): string {
  return `local BATCH_KEYS, BATCH_ARGV = KEYS, ARGV
local function one(KEYS, ARGV)
${lua}
end
local out, ki, ai = {}, 1, 2
for c = 1, tonumber(BATCH_ARGV[1]) do
  local nk, na = tonumber(BATCH_ARGV[ai]), tonumber(BATCH_ARGV[ai + 1])
  ai = ai + 2
  local keys, args = {}, {}
  for i = 1, nk do keys[i] = BATCH_KEYS[ki + i - 1] end
  for i = 1, na do args[i] = BATCH_ARGV[ai + i - 1] end
  ki, ai = ki + nk, ai + na
  local ok, r = pcall(one, keys, args)
  if ok then out[c] = { 1, r }
  elseif type(r) == 'table' then out[c] = { 0, tostring(r.err or cjson.encode(r)) }
  else out[c] = { 0, tostring(r) } end
end
return out
`;
}

interface PendingCall {
  readonly keys: readonly string[];
  readonly args: readonly (string | number)[];
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

interface PendingBatch {
  readonly name: string;
  readonly calls: PendingCall[];
  sent: boolean;
}

/**
 * One package's Lua scripts: every `commands/<name>-<numKeys>.lua` (or `-N` for a variable key
 * count, passed first), includes resolved (`--@include`), defined once per client under
 * `<prefix><name>` (ioredis: EVALSHA with an EVAL fallback). Both libs/state and libs/locks load
 * theirs through this, and a script that fails in Redis surfaces as a `ScriptError` naming it.
 */
export class ScriptRegistry {
  private readonly scripts: ReadonlyMap<string, { readonly lua: string; readonly numberOfKeys: number | undefined }>;
  private readonly defined = new WeakSet<object>();

  /** Calls of batchable scripts waiting for the next tick, per client and group. */
  private readonly pending = new WeakMap<object, Map<string, PendingBatch>>();

  /** `opts.batchable`: each gets a `<name>Batch` variant (see `callBatched`). */
  constructor(
    commandsDir: URL,
    private readonly prefix: string,
    opts: ScriptRegistryOptions = {},
  ) {
    const { includeDirs = [], batchable = [], foreign } = opts;
    const scripts = new Map<string, { lua: string; numberOfKeys: number | undefined }>();
    for (const f of readdirSync(commandsDir)) {
      if (!f.endsWith('.lua')) continue;
      const m = /^(\w+)-(\d+|N)\.lua$/.exec(f);
      if (!m) throw new Error(`bad script file name ${f}: expected <camelName>-<numKeys or N>.lua`);
      scripts.set(m[1]!, { lua: readLuaScript(commandsDir, f, includeDirs, foreign), numberOfKeys: m[2] === 'N' ? undefined : Number(m[2]) });
    }
    for (const name of batchable) {
      const s = scripts.get(name);
      if (!s) throw new Error(`no Lua script named ${name} to batch`);
      scripts.set(name + BATCH_SUFFIX, { lua: batchVariant(s.lua), numberOfKeys: undefined });
    }
    this.scripts = scripts;
  }

  /** Every Redis command these scripts call by name (`luaCalledCommands`). */
  commands(): string[] {
    return luaCalledCommands([...this.scripts.values()].map((s) => s.lua).join('\n'));
  }

  /** Defines every script on a client (once per client). Do it before the client's first command. */
  define(client: ScriptClient): void {
    if (this.defined.has(client)) return;
    for (const [name, s] of this.scripts) {
      client.defineCommand(this.prefix + name, s.numberOfKeys === undefined ? { lua: s.lua } : { lua: s.lua, numberOfKeys: s.numberOfKeys });
    }
    this.defined.add(client);
  }

  /**
   * Calls a batchable script like `call`, except that the calls made on one client in one tick
   * (until `process.nextTick` callbacks run; up to MAX_BATCH; keys with the same hash tag, so the
   * same Cluster slot) go to Redis as one call of its batch variant: one command instead of many,
   * run in the order they were made. Each caller gets its own call's result, or its own
   * `ScriptError`. A call alone in its tick is sent as itself. Why: a runner with eight items in
   * flight starts and ends them mostly in bursts (replies read together resume their callers in
   * one tick), and every command costs the runner and Redis more than the script's work for one
   * more item. (Waiting for `setImmediate` batched a little more but added latency to every
   * lock hand-off; a microtask batched far less.)
   */
  callBatched(client: ScriptClient, name: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    if (!this.scripts.has(name + BATCH_SUFFIX)) return this.call(client, name, keys, args);
    let groups = this.pending.get(client);
    if (!groups) this.pending.set(client, (groups = new Map()));
    const group = `${name}\u0000${keys[0] === undefined ? '' : hashTagOf(keys[0])}`;
    let batch = groups.get(group);
    if (!batch) {
      const created: PendingBatch = { name, calls: [], sent: false };
      groups.set(group, created);
      process.nextTick(() => this.sendBatch(client, group, created));
      batch = created;
    }
    const target = batch;
    return new Promise((resolve, reject) => {
      target.calls.push({ keys, args, resolve, reject });
      if (target.calls.length >= MAX_BATCH) this.sendBatch(client, group, target);
    });
  }

  private sendBatch(client: ScriptClient, group: string, batch: PendingBatch): void {
    if (batch.sent) return;
    batch.sent = true;
    const groups = this.pending.get(client);
    if (groups?.get(group) === batch) groups.delete(group);
    const { calls, name } = batch;
    if (calls.length === 1) {
      const only = calls[0]!;
      this.call(client, name, only.keys, only.args).then(only.resolve, only.reject);
      return;
    }
    const keys: string[] = [];
    const args: Array<string | number> = [calls.length];
    for (const c of calls) {
      keys.push(...c.keys);
      args.push(c.keys.length, c.args.length, ...c.args);
    }
    this.call(client, name + BATCH_SUFFIX, keys, args).then(
      (reply) => {
        const results = reply as Array<[number, unknown?]>;
        calls.forEach((c, i) => {
          const r = results[i];
          if (r && Number(r[0]) === 1) c.resolve(r[1] ?? null);
          else c.reject(new ScriptError(name, String(r?.[1] ?? 'no result in the batch reply')));
        });
      },
      (err: unknown) => {
        for (const c of calls) c.reject(err);
      },
    );
  }

  /** Calls a script by its short name; an error raised in Redis becomes a `ScriptError`. */
  async call(client: ScriptClient, name: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    const s = this.scripts.get(name);
    if (!s) throw new Error(`no Lua script named ${name}`);
    this.define(client);
    const fn = (client as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[this.prefix + name]!;
    try {
      return await (s.numberOfKeys === undefined ? fn.call(client, keys.length, ...keys, ...args) : fn.call(client, ...keys, ...args));
    } catch (err) {
      // ioredis' ReplyError: the script raised an error or Redis refused it (not a connection problem).
      if (err instanceof Error && err.name === 'ReplyError') throw new ScriptError(name, err.message, { cause: err });
      throw err;
    }
  }
}
