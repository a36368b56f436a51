import { existsSync, readFileSync } from 'node:fs';

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
