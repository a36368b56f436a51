import { mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TimeoutError, ValueError } from './errors.js';

/**
 * What /proc says of a pid: its state letter, its parent and process group, and its start time
 * (clock ticks since boot); undefined where there is no /proc.
 */
export function procStat(pid: number): { state: string; ppid: number; pgid: number; start: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): ppid is field 4, pgrp field 5, starttime field 22.
  const state = rest[0];
  const start = rest[19];
  return state !== undefined && start !== undefined ? { state, ppid: Number(rest[1]), pgid: Number(rest[2]), start } : undefined;
}

/**
 * Whether the process a record names still runs. A zombie (exited, not yet reaped: the CLI that
 * spawned it may be gone and nothing reaps orphans in some containers) is not running, and a pid
 * whose start time differs from the recorded one was reused by another process.
 */
export function isRunning(pid: number, procStart: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(pid);
  if (stat === undefined) return true;
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return procStart === undefined || stat.start === procStart;
}

/** A lock file that names no process yet (created, its line not written) is trusted this long. */
const UNWRITTEN_LOCK_MS = 5_000;

/**
 * Runs `f` holding the lock file `file`: created with O_EXCL and naming this process (pid and
 * /proc start time), removed when `f` settles. A lock whose process no longer runs (it was killed
 * mid-change) is taken over; a live holder is waited for, up to `waitMs`, then a TimeoutError
 * names its pid. For changes on one host that two commands must not interleave (`agora fleet
 * scale` of one fleet: both would count the same replicas and both start the missing ones).
 */
export async function withProcessLock<T>(file: string, f: () => Promise<T>, opts: { waitMs?: number; pollMs?: number } = {}): Promise<T> {
  const waitMs = opts.waitMs ?? 120_000;
  const mine = JSON.stringify({ pid: process.pid, procStart: procStat(process.pid)?.start ?? null, at: new Date().toISOString() });
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      writeFileSync(file, mine, { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const held = readHolder(file);
    if (held === 'gone') continue;
    if (held === 'stale') {
      removeIfUnchanged(file);
      continue;
    }
    if (Date.now() > deadline) {
      throw new TimeoutError(`${file} is held by pid ${held.pid === undefined ? '?' : held.pid} (still running after ${waitMs} ms)`, waitMs);
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 100));
  }
  try {
    return await f();
  } finally {
    try {
      if (readFileSync(file, 'utf8') === mine) unlinkSync(file);
    } catch {
      // removed already (taken over as stale while we ran: only if this process was thought dead)
    }
  }
}

/** The holder a lock file names: 'gone' (no file), 'stale' (its process ended), or the live holder. */
function readHolder(file: string): 'gone' | 'stale' | { pid?: number } {
  let text: string;
  let ageMs: number;
  try {
    text = readFileSync(file, 'utf8');
    ageMs = Date.now() - statSync(file).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    // A directory or an unreadable file in its place: "gone" would retry the create at once, forever.
    throw new ValueError(`cannot use the lock file ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): remove it`);
  }
  let holder: { pid?: unknown; procStart?: unknown };
  try {
    holder = JSON.parse(text) as typeof holder;
  } catch {
    // Created but not yet written by its holder (a moment), or torn by a crash (then old).
    return ageMs > UNWRITTEN_LOCK_MS ? 'stale' : {};
  }
  if (typeof holder.pid !== 'number' || !Number.isInteger(holder.pid) || holder.pid <= 0) return 'stale';
  return isRunning(holder.pid, typeof holder.procStart === 'string' ? holder.procStart : undefined) ? { pid: holder.pid } : 'stale';
}

/** Removes a stale lock file unless another waiter already replaced it with a live one. */
function removeIfUnchanged(file: string): void {
  try {
    const before = readFileSync(file, 'utf8');
    if (readHolder(file) !== 'stale') return;
    if (readFileSync(file, 'utf8') === before) unlinkSync(file);
  } catch {
    // gone: the next try creates it
  }
}
