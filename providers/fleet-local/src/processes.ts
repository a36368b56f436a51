import { isRunning } from '@agora/core';

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
