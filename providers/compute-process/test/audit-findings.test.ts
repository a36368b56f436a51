import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ProcessComputeProvider } from '@agora/compute-process';

const node = process.execPath;
const p = new ProcessComputeProvider({ killGraceMs: 300 });
const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-audit-tree-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Alive and not a zombie (an orphan's zombie lingers until PID 1 reaps it). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The live processes whose argv contains `marker` (a unique sleep duration). */
function withMarker(marker: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (argv.includes(marker) && alive(Number(e))) pids.push(Number(e));
    } catch {
      // gone
    }
  }
  return pids;
}

/**
 * A worker that starts `sh -c 'sleep M & sleep M'` in a session of its own (`detached: true`): a
 * new process group, which a kill of the worker's group does not reach. It writes the shell's pid
 * once both sleeps run, then waits.
 */
function detachedTreeWorker(marker: string, pidFile: string, ignoreTerm = false): string[] {
  const script = `
const { spawn } = require('node:child_process');
const fs = require('node:fs');
${ignoreTerm ? "process.on('SIGTERM', () => {});" : ''}
const c = spawn('sh', ['-c', 'sleep ${marker} & sleep ${marker}; true'], { detached: true, stdio: 'ignore' });
const wait = () => {
  const n = fs.readdirSync('/proc').filter((e) => /^\\d+$/.test(e)).filter((e) => { try { return fs.readFileSync('/proc/' + e + '/cmdline', 'utf8').split('\\0').includes('${marker}'); } catch { return false; } }).length;
  if (n >= 2) fs.writeFileSync(${JSON.stringify(pidFile)}, String(c.pid)); else setTimeout(wait, 20);
};
wait();
setInterval(() => {}, 1000);
`;
  return [node, '-e', script];
}

async function waitFor(file: string): Promise<number> {
  for (let i = 0; i < 400 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 25));
  return Number(readFileSync(file, 'utf8'));
}

async function gone(pids: number[]): Promise<number[]> {
  for (let i = 0; i < 40; i++) {
    const left = pids.filter(alive);
    if (left.length === 0) return [];
    await new Promise((r) => setTimeout(r, 50));
  }
  return pids.filter(alive);
}

let n = 0;
const uniqueMarker = (): string => `${300 + (process.pid % 1000)}.${String(++n).padStart(3, '0')}${Math.floor(Math.random() * 1000)}`;

describe('process provider: cancel and timeout reach detached descendants (Linux /proc)', () => {
  it('cancel kills a descendant that left the worker\'s process group (its own session) and what it spawned', async () => {
    const marker = uniqueMarker();
    const pidFile = path.join(dir, `sh-${n}.pid`);
    const h = await p.run({ command: detachedTreeWorker(marker, pidFile) }, {});
    const sh = await waitFor(pidFile);
    const sleeps = withMarker(marker);
    expect(sleeps.length).toBeGreaterThanOrEqual(2);
    expect(alive(sh)).toBe(true);
    await p.cancel(h);
    const exit = await p.awaitExit(h);
    expect(exit.cancelled).toBe(true);
    expect(await gone([sh, ...sleeps])).toEqual([]);
    expect(withMarker(marker)).toEqual([]);
  });

  it('a timeout kills them too, also when the worker ignores SIGTERM (SIGKILL after the grace)', async () => {
    const marker = uniqueMarker();
    const pidFile = path.join(dir, `sh-${n}.pid`);
    const h = await p.run({ command: detachedTreeWorker(marker, pidFile, true), timeoutMs: 1500 }, {});
    const sh = await waitFor(pidFile);
    const sleeps = withMarker(marker);
    expect(sleeps.length).toBeGreaterThanOrEqual(2);
    const exit = await p.awaitExit(h);
    expect(exit.cancelled).toBe(true);
    expect(await gone([sh, ...sleeps])).toEqual([]);
    expect(withMarker(marker)).toEqual([]);
  });
});
