import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * `npm run chaos`'s flags (README Failure and recovery, chaos/README.md): a bad one exits 2 naming
 * it before anything starts. Before, an unknown flag or a flag without its value was an uncaught
 * error with node's stack (exit 1), while a bad number already was a clean exit 2.
 */
const main = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'chaos', 'dist', 'main.js');
const chaos = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 20_000 });

describe('chaos arguments', () => {
  it.each([
    [['--bogus'], /^chaos: Unknown option '--bogus'/],
    [['--items'], /^chaos: Option '--items <value>' argument missing/],
    [['--items', 'abc'], /^chaos: --items expects an integer >= 2, got "abc"/],
  ])('%j exits 2 naming the problem, no stack', (args, message) => {
    const r = chaos(...args);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at |node:internal/);
    expect(r.stdout).toBe('');
  });
});
