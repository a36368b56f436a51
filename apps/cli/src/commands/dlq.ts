import { isRunId, parseDeadLetterId } from '@agora/core';
import type { StoredDeadLetter } from '@agora/state';
import { CliError, EXIT, type GlobalOpts } from '../context.js';
import { withClient } from '../with-client.js';
import { counted } from '../wording.js';

function checkRun(runId: string | undefined): void {
  if (runId !== undefined && !isRunId(runId)) throw new CliError(`--run: invalid run id ${JSON.stringify(runId)}`);
}

/** A webhook delivery's id (`agora dlq deliveries`): 32 hex digits, never a valid `<runId>.<itemId>`. */
const DELIVERY_ID = /^[0-9a-f]{32}$/;

function checkId(id: string, verb: 'show' | 'replay' | 'purge'): void {
  if (parseDeadLetterId(id)) return;
  // An id copied from `agora dlq deliveries` is not mistyped: say what it is and where it belongs.
  if (DELIVERY_ID.test(id)) {
    throw new CliError(`"${id}" is a webhook delivery's id: delivery dead letters are only listed (agora dlq deliveries); ${verb} takes an item's dead letter id, <runId>.<itemId> (see agora dlq list)`);
  }
  throw new CliError(`invalid dead letter id ${JSON.stringify(id)}: expected <runId>.<itemId> (see agora dlq list)`);
}

/** One line per letter: id, error type, when, attempts, replay, the error's first line. */
function line(l: StoredDeadLetter): string {
  const error = l.error.split('\n')[0]!.slice(0, 160);
  const replay = l.replayedBy ? ` replayed by ${l.replayedBy}` : '';
  return `${l.id}  ${l.errorCode}${l.exitCode !== undefined ? ` exit ${l.exitCode}` : ''}  ${l.failedAt}  attempts ${l.attempts}${replay}  ${error}\n`;
}

/** The most letters one `agora dlq list` asks for (the SDK's bound of a list's `limit`, as `agora cache list`). */
const MAX_LIST_LIMIT = 9_999_999;

/** `agora dlq list [--run R] [--json]`: the dead letters, newest first. */
export async function dlqListCmd(opts: { run?: string; json?: boolean; limit?: string }, g: GlobalOpts): Promise<number> {
  checkRun(opts.run);
  const limit = opts.limit === undefined ? 1000 : Number(opts.limit);
  // Checked here, naming the flag: past the bound the SDK's own message ("deadLetters: limit: …") names neither.
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT || !/^[0-9]+$/.test(opts.limit ?? '1')) {
    throw new CliError(`--limit must be an integer from 1 to ${MAX_LIST_LIMIT}, got ${JSON.stringify(opts.limit)}`);
  }
  const letters = await withClient(g, (c) => c.deadLetters({ ...(opts.run !== undefined ? { runId: opts.run } : {}), limit }));
  if (opts.json) {
    process.stdout.write(JSON.stringify({ deadLetters: letters }, null, 2) + '\n');
    return EXIT.ok;
  }
  if (letters.length === 0) {
    process.stdout.write(opts.run !== undefined ? `no dead letters of run ${opts.run}\n` : 'no dead letters\n');
    return EXIT.ok;
  }
  for (const l of letters) process.stdout.write(line(l));
  return EXIT.ok;
}

/** `agora dlq show <id>`: one record as JSON. */
export async function dlqShowCmd(id: string, g: GlobalOpts): Promise<number> {
  checkId(id, 'show');
  const letter = await withClient(g, (c) => c.deadLetter(id));
  process.stdout.write(JSON.stringify(letter, null, 2) + '\n');
  return EXIT.ok;
}

/**
 * `agora dlq replay <id> | --run R [--all] [--force] [--json]`: a new run of the dead items,
 * linked to the original. Prints the new run's id (as `submit` does), or JSON with `--json`.
 */
export async function dlqReplayCmd(id: string | undefined, opts: { run?: string; all?: boolean; force?: boolean; json?: boolean }, g: GlobalOpts): Promise<number> {
  // `--all` alone is not every dead letter of the namespace (as `dlq purge --all` is): it says so
  // rather than asking for an id.
  if (opts.all && opts.run === undefined) throw new CliError('--all goes with --run <run>: every dead letter of that run, replayed or not');
  if (id === undefined && opts.run === undefined) throw new CliError('give a dead letter id (<runId>.<itemId>) or --run <run>');
  if (id !== undefined && opts.run !== undefined) throw new CliError('give either a dead letter id or --run <run>, not both');
  if (id !== undefined) checkId(id, 'replay');
  checkRun(opts.run);
  const sel = id !== undefined ? { id } : { runId: opts.run!, all: opts.all === true };
  const r = await withClient(g, (c) => c.replayDeadLetters(sel, { force: opts.force === true }));
  process.stdout.write(opts.json ? JSON.stringify(r, null, 2) + '\n' : `${r.runId}\n`);
  return EXIT.ok;
}

/** `agora dlq purge <id> | --run R | --all [--json]`: deletes records; prints how many (`{ purged }` with --json). */
export async function dlqPurgeCmd(id: string | undefined, opts: { run?: string; all?: boolean; json?: boolean }, g: GlobalOpts): Promise<number> {
  const given = [id !== undefined, opts.run !== undefined, opts.all === true].filter(Boolean).length;
  if (given !== 1) throw new CliError('give exactly one of: a dead letter id, --run <run>, --all');
  if (id !== undefined) checkId(id, 'purge');
  checkRun(opts.run);
  const sel = id !== undefined ? { id } : opts.run !== undefined ? { runId: opts.run } : { all: true as const };
  const n = await withClient(g, (c) => c.purgeDeadLetters(sel));
  if (id !== undefined && n === 0) throw new CliError(`no dead letter "${id}"`);
  process.stdout.write(opts.json ? JSON.stringify({ purged: n }) + '\n' : `purged ${counted(n, 'dead letter')}\n`);
  return EXIT.ok;
}
