import { stat } from 'node:fs/promises';
import path from 'node:path';
import { CliError } from './context.js';

/*
 * Loaded by bin.ts itself: keep it free of heavy imports (verbs load on use).
 *
 * Option values are checked here, at the edge, before a verb reads its config or contacts
 * Redis: a bad flag is "bad usage" (exit 2) whatever the state of the deployment, and it must
 * not surface later as a RangeError from `listen`, a Redis "Invalid stream ID" or an EISDIR
 * (all exit 1). `Number()` alone is not a check: it reads "1e300", "0x10" and "" as numbers.
 */

const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

/** A TCP port, 0..65535 (0: any free port), in plain decimal. */
export function parsePort(raw: string, flag = '--port'): number {
  const n = DECIMAL.test(raw) ? Number(raw) : NaN;
  if (!(n >= 0 && n <= 65535)) throw new CliError(`${flag} must be an integer from 0 to 65535, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * `--queues a,b`: plan queue names, comma-separated, spaces around a name ignored. An empty list
 * (`--queues ''`) or an empty entry (`a,,b`, `a,`) is refused: it would start a runner that serves
 * nothing, or hide a typo. A name given twice counts once (order of first mention kept).
 */
export function parseQueueList(raw: string, flag = '--queues'): string[] {
  const names = raw.split(',').map((s) => s.trim());
  if (names.every((n) => n === '')) throw new CliError(`${flag} needs at least one queue name (comma-separated), got ${JSON.stringify(raw)}`);
  if (names.includes('')) throw new CliError(`${flag} has an empty queue name in ${JSON.stringify(raw)}; give names separated by single commas`);
  return [...new Set(names)];
}

/** An event seq: a non-negative safe integer, in plain decimal. */
export function parseSeq(raw: string, flag = '--from'): number {
  const n = DECIMAL.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n)) throw new CliError(`${flag} must be a non-negative integer (an event seq), got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * A file the verb will write: not a directory, and in a directory that exists (checked before
 * the work that produces the content, so a typo does not cost a sealing).
 */
export async function checkOutputFile(file: string, flag = '--out'): Promise<void> {
  const target = await stat(file).catch(() => undefined);
  if (target?.isDirectory()) throw new CliError(`${flag} ${file} is a directory; give a file path`);
  const dir = path.dirname(path.resolve(file));
  const parent = await stat(dir).catch(() => undefined);
  if (parent === undefined) throw new CliError(`${flag}: directory ${dir} does not exist`);
  if (!parent.isDirectory()) throw new CliError(`${flag}: ${dir} is not a directory`);
}
