import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { AgoraError, type AgoraErrorOptions } from './errors.js';

/**
 * Reads a Lua script from a package's `commands/` directory, replacing each `--@include x` line
 * with `includes/x.lua` from the same directory, or else from one of `includeDirs` (another
 * package's `includes/`, for a script that spans both packages' keys) (Redis scripts cannot load
 * one another).
 */
export function readLuaScript(commandsDir: URL, file: string, includeDirs: readonly URL[] = []): string {
  const dirs = [new URL('includes/', commandsDir), ...includeDirs];
  return readFileSync(new URL(file, commandsDir), 'utf8').replace(/^--@include (\w+)$/gm, (_, inc: string) => {
    const dir = dirs.find((d) => existsSync(new URL(`${inc}.lua`, d)));
    if (!dir) throw new Error(`${file}: no include "${inc}" in ${dirs.map((d) => d.pathname).join(', ')}`);
    return readFileSync(new URL(`${inc}.lua`, dir), 'utf8');
  });
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

/**
 * One package's Lua scripts: every `commands/<name>-<numKeys>.lua` (or `-N` for a variable key
 * count, passed first), includes resolved (`--@include`), defined once per client under
 * `<prefix><name>` (ioredis: EVALSHA with an EVAL fallback). Both libs/state and libs/locks load
 * theirs through this, and a script that fails in Redis surfaces as a `ScriptError` naming it.
 */
export class ScriptRegistry {
  private readonly scripts: ReadonlyMap<string, { readonly lua: string; readonly numberOfKeys: number | undefined }>;
  private readonly defined = new WeakSet<object>();

  constructor(
    commandsDir: URL,
    private readonly prefix: string,
    includeDirs: readonly URL[] = [],
  ) {
    const scripts = new Map<string, { lua: string; numberOfKeys: number | undefined }>();
    for (const f of readdirSync(commandsDir)) {
      if (!f.endsWith('.lua')) continue;
      const m = /^(\w+)-(\d+|N)\.lua$/.exec(f);
      if (!m) throw new Error(`bad script file name ${f}: expected <camelName>-<numKeys or N>.lua`);
      scripts.set(m[1]!, { lua: readLuaScript(commandsDir, f, includeDirs), numberOfKeys: m[2] === 'N' ? undefined : Number(m[2]) });
    }
    this.scripts = scripts;
  }

  /** Defines every script on a client (once per client). Do it before the client's first command. */
  define(client: ScriptClient): void {
    if (this.defined.has(client)) return;
    for (const [name, s] of this.scripts) {
      client.defineCommand(this.prefix + name, s.numberOfKeys === undefined ? { lua: s.lua } : { lua: s.lua, numberOfKeys: s.numberOfKeys });
    }
    this.defined.add(client);
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
