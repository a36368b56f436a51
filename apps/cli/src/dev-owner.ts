import { isRunning } from '@agora/core';
import { CliError, readDevState } from './context.js';

/**
 * `dev.json` of a data dir names the `agora dev` that owns it (its pid). A second `agora dev` on
 * the same data dir would start a second redis-server on the same AOF (both appending to one
 * file: diverged histories merged on the next start) and, when it stopped, remove the first one's
 * pointer files, leaving the other verbs unable to find the Redis still running. Refused instead.
 */
export function devOwnerOf(stateFile: string): { pid: number; dashboard?: string } | undefined {
  const state = readDevState(stateFile);
  if (!state || typeof state.pid !== 'number' || !Number.isInteger(state.pid) || state.pid <= 0) return undefined;
  // A dev that died without removing dev.json leaves a pid another process may have taken since.
  if (state.pid === process.pid || !isRunning(state.pid, typeof state.procStart === 'string' ? state.procStart : undefined)) return undefined;
  return typeof state.dashboard === 'string' ? { pid: state.pid, dashboard: state.dashboard } : { pid: state.pid };
}

/** Throws (exit 2) when a live `agora dev` owns the data dir whose `dev.json` is `stateFile`. */
export function assertNoLiveDev(stateFile: string, dataDir: string): void {
  const owner = devOwnerOf(stateFile);
  if (owner) {
    throw new CliError(`agora dev is already running on the data dir ${dataDir} (pid ${owner.pid}${owner.dashboard ? `, ${owner.dashboard}` : ''}): use it, stop it first, or give this one another dataDir`);
  }
}
