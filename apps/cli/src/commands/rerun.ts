import { AgoraError, MEMO_KEY_RE, NotFoundError, coerceError, isRunId, parseAgoraUri, type AgoraConfig } from '@agora/core';
import { ProviderSet } from '@agora/registry';
import { CliError, EXIT, resolveConfig, type GlobalOpts } from '../context.js';
import { withClient } from '../with-client.js';

/**
 * `agora rerun <run> [--from-failed] [--json]`: a new run of the run's plan, reusing what is
 * unchanged. Prints the new run id (as `submit` does), or `{ runId, rerunOf, fromFailed }`.
 */
export async function rerunCmd(runId: string, opts: { fromFailed?: boolean; json?: boolean }, g: GlobalOpts): Promise<number> {
  if (!isRunId(runId)) throw new CliError(`invalid run id ${JSON.stringify(runId)}`);
  const config = await resolveConfig(g);
  const r = await withClient(g, (c) => c.rerun(runId, { fromFailed: opts.fromFailed === true, checkPlan: (planRef) => checkStoredPlan(config, runId, planRef) }));
  process.stdout.write(opts.json ? JSON.stringify(r) + '\n' : `${r.runId}\n`);
  return EXIT.ok;
}

/**
 * The plan a rerun runs is the original's, read back from storage by the scheduler: one that is
 * gone (or corrupt: storage re-hashes it on read) would only get the new run rejected, so it is
 * read here first. Gone or unusable: exit 2 naming it; storage not answering: exit 3.
 */
async function checkStoredPlan(config: AgoraConfig, runId: string, planRef: string): Promise<void> {
  const refuse = (why: string): CliError => new CliError(`cannot rerun run "${runId}": its stored plan ${planRef} ${why}; submit its plan again`);
  let u: ReturnType<typeof parseAgoraUri>;
  try {
    u = parseAgoraUri(planRef);
  } catch (err) {
    throw refuse(`is not a storage URI: ${coerceError(err).message}`);
  }
  if (u.type !== 'plan' || u.namespace !== config.namespace || u.contentHash === undefined) throw refuse(`is not a pinned plan of namespace "${config.namespace}"`);
  try {
    await (await new ProviderSet(config).storage()).get(planRef);
  } catch (err) {
    if (err instanceof NotFoundError || (err instanceof AgoraError && !err.retryable)) throw refuse(`cannot be read from storage: ${coerceError(err).message}`);
    if (err instanceof AgoraError) throw new CliError(`cannot rerun run "${runId}": storage unavailable reading its plan ${planRef}: ${err.message}`, EXIT.unavailable);
    throw err;
  }
}

/** The most entries one `agora cache list` asks for (the SDK's bound of a list's `limit`). */
const MAX_CACHE_LIMIT = 9_999_999;

/** `agora cache list [--limit N] [--json]`: memo cache entries, newest first. */
export async function cacheListCmd(opts: { limit?: string; json?: boolean }, g: GlobalOpts): Promise<number> {
  const limit = opts.limit === undefined ? 1000 : Number(opts.limit);
  if (!/^[0-9]+$/.test(opts.limit ?? '1') || !Number.isSafeInteger(limit) || limit < 1 || limit > MAX_CACHE_LIMIT) {
    throw new CliError(`--limit must be an integer from 1 to ${MAX_CACHE_LIMIT}, got ${JSON.stringify(opts.limit)}`);
  }
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
