import { isRunId } from '@agora/core';
import { MEMO_KEY_RE } from '@agora/core';
import { CliError, EXIT, type GlobalOpts } from '../context.js';
import { withClient } from '../with-client.js';

/**
 * `agora rerun <run> [--from-failed] [--json]`: a new run of the run's plan, reusing what is
 * unchanged. Prints the new run id (as `submit` does), or `{ runId, rerunOf, fromFailed }`.
 */
export async function rerunCmd(runId: string, opts: { fromFailed?: boolean; json?: boolean }, g: GlobalOpts): Promise<number> {
  if (!isRunId(runId)) throw new CliError(`invalid run id ${JSON.stringify(runId)}`);
  const r = await withClient(g, (c) => c.rerun(runId, { fromFailed: opts.fromFailed === true }));
  process.stdout.write(opts.json ? JSON.stringify(r) + '\n' : `${r.runId}\n`);
  return EXIT.ok;
}

/** `agora cache list [--limit N] [--json]`: memo cache entries, newest first. */
export async function cacheListCmd(opts: { limit?: string; json?: boolean }, g: GlobalOpts): Promise<number> {
  const limit = opts.limit === undefined ? 1000 : Number(opts.limit);
  if (!/^[0-9]+$/.test(opts.limit ?? '1') || !Number.isSafeInteger(limit) || limit < 1) throw new CliError(`--limit must be a positive integer, got ${JSON.stringify(opts.limit)}`);
  const entries = await withClient(g, (c) => c.memoEntries({ limit }));
  if (opts.json) {
    process.stdout.write(JSON.stringify({ entries }) + '\n');
    return EXIT.ok;
  }
  if (entries.length === 0) process.stdout.write('the memo cache is empty\n');
  for (const e of entries) process.stdout.write(`${e.key}  ${e.runId}/${e.itemId}  ${e.at}  ${e.resultRef}\n`);
  return EXIT.ok;
}

/** `agora cache purge <key>... | --all`: deletes memo entries; prints how many. */
export async function cachePurgeCmd(keys: string[], opts: { all?: boolean; json?: boolean }, g: GlobalOpts): Promise<number> {
  if (keys.length === 0 && opts.all !== true) throw new CliError('give memo keys or --all');
  if (keys.length > 0 && opts.all === true) throw new CliError('give memo keys or --all, not both');
  const bad = keys.find((k) => !MEMO_KEY_RE.test(k));
  if (bad !== undefined) throw new CliError(`invalid memo key ${JSON.stringify(bad.slice(0, 80))}: expected 64 lowercase hex digits (see agora cache list)`);
  const purged = await withClient(g, (c) => c.purgeMemo(opts.all ? { all: true } : { keys }));
  process.stdout.write(opts.json ? JSON.stringify({ purged }) + '\n' : `purged ${purged}\n`);
  return EXIT.ok;
}
