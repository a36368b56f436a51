import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * `npm run bench`'s documented flags (README Performance): a bad one is one line on stderr and
 * exit 2 before any Redis starts. Before, a bad number or an unknown flag was an uncaught error
 * with its stack (exit 1), and a misspelt `--only` scenario ran nothing and printed an empty
 * table with exit 0.
 */
const main = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'dist', 'main.js');
const bench = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 20_000 });

describe('bench arguments', () => {
  it.each([
    [['--dag', 'abc'], /bad number "abc"/],
    [['--runners', '0'], /bad number "0"/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['--chain'], /argument missing/],
    [['--only', 'chain,dags'], /--only: unknown scenario "dags" \(scenarios: independent, chain, dag,/],
  ])('%j exits 2 with one line naming the problem, no stack', (args, message) => {
    const r = bench(...args);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe('');
  });

  it('--help lists every scenario --only takes, exit 0', () => {
    const r = bench('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/scenarios: independent, chain, dag, big-plan, hot-lock, start-latency, audit/);
  });
});
