import { spawnSync } from 'node:child_process';
import { chmodSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BIN } from '../../../test/support/cli.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * README "CLI": after `npm run build`, `npx agora …` runs from the repo root. npx runs the root
 * package's bin, `apps/cli/dist/bin.js`, as a program, so it must be executable; tsc writes it
 * 0644 and `npm ci` (run before any build) cannot mark a file that does not exist yet.
 */
describe('npx agora', () => {
  it('runs after npm run build, whatever mode tsc left the bin in', () => {
    // As a fresh clone has it: tsc wrote the file without the execute bits.
    chmodSync(BIN, statSync(BIN).mode & ~0o111);
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
    expect(build.status, build.stderr).toBe(0);
    // Before: "sh: 1: agora: Permission denied", exit 126.
    const r = spawnSync('npx', ['--no-install', 'agora', '--version'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect({ code: r.status, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  }, 320_000);
});
