import { readFileSync } from 'node:fs';

/** What /proc says of a pid: its state letter and its start time; undefined where there is no /proc. */
export function procStat(pid: number): { state: string; start: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  const start = rest[19];
  return state !== undefined && start !== undefined ? { state, start } : undefined;
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

/** Resolves once `pid` no longer runs, or with false after `ms`. Polled: the process is not our child. */
export async function waitForExit(pid: number, procStart: string | undefined, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (isRunning(pid, procStart)) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/** Sends `signal` to the process (and, for SIGKILL, its process group: it leads one, being detached). */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(sig === 'SIGKILL' ? -pid : pid, sig);
  } catch {
    // gone already
  }
}
