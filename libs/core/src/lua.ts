import { readFileSync } from 'node:fs';

/**
 * Reads a Lua script from a package's `commands/` directory, replacing each `--@include x` line
 * with `includes/x.lua` from the same directory (Redis scripts cannot load one another).
 */
export function readLuaScript(commandsDir: URL, file: string): string {
  return readFileSync(new URL(file, commandsDir), 'utf8').replace(/^--@include (\w+)$/gm, (_, inc: string) =>
    readFileSync(new URL(`includes/${inc}.lua`, commandsDir), 'utf8'),
  );
}
