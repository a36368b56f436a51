import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TimeoutError, ValueError, isRunning, procStat, withProcessLock } from '../src/index.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A pid that ran and is gone: a child that exited (and was reaped). */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

describe('withProcessLock', () => {
  it('refuses a directory in the lock file\'s place at once, naming it (it spun forever, retrying the create)', async () => {
    const file = path.join(dir, 'is-a-dir.lock');
    mkdirSync(file);
    let ran = false;
    const started = Date.now();
    const err = await withProcessLock(file, async () => void (ran = true), { waitMs: 2000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValueError);
    expect((err as Error).message).toBe(`cannot use the lock file ${file} (EISDIR): remove it`);
    expect(ran).toBe(false);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('serialises two holders: the second starts only after the first ended, and the file is gone after', async () => {
    const file = path.join(dir, 'a', 'fleet.lock');
    const order: string[] = [];
    const hold = (name: string) => withProcessLock(file, async () => {
      order.push(`${name} in`);
      expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ pid: process.pid, procStart: procStat(process.pid)!.start });
      await sleep(150);
      order.push(`${name} out`);
      return name;
    }, { pollMs: 10 });
    expect(await Promise.all([hold('first'), hold('second')])).toEqual(['first', 'second']);
    expect(order).toEqual(['first in', 'first out', 'second in', 'second out']);
    expect(existsSync(file)).toBe(false);
  });

  it('releases the lock when the change throws', async () => {
    const file = path.join(dir, 'throws.lock');
    await expect(withProcessLock(file, async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(existsSync(file)).toBe(false);
  });

  it('takes over a lock whose process is gone (killed mid-change), and one torn long ago', async () => {
    const file = path.join(dir, 'stale.lock');
    const pid = deadPid();
    expect(isRunning(pid, undefined)).toBe(false);
    writeFileSync(file, JSON.stringify({ pid, procStart: '1', at: new Date().toISOString() }));
    expect(await withProcessLock(file, async () => 'taken', { waitMs: 1000 })).toBe('taken');
    writeFileSync(file, '{"pid":');
    const old = new Date(Date.now() - 60_000);
    utimesSync(file, old, old);
    expect(await withProcessLock(file, async () => 'taken again', { waitMs: 1000 })).toBe('taken again');
  });

  it('waits for a live holder, then fails naming its pid; a pid reused by another process is not the holder', async () => {
    const file = path.join(dir, 'live.lock');
    // Our parent runs, with its own start time: a live holder.
    const parent = process.ppid;
    writeFileSync(file, JSON.stringify({ pid: parent, procStart: procStat(parent)?.start ?? null }));
    const t0 = Date.now();
    const err = await withProcessLock(file, async () => 'never', { waitMs: 300, pollMs: 20 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toBe(`${file} is held by pid ${parent} (still running after 300 ms)`);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    // The same pid with another start time: the holder died and the pid was reused.
    writeFileSync(file, JSON.stringify({ pid: parent, procStart: 'not-its-start' }));
    expect(await withProcessLock(file, async () => 'reused', { waitMs: 300 })).toBe('reused');
  });
});
