/**
 * The chaos task's worker (task `work`, process provider). It journals its own view of what it
 * held: one JSON line when it starts and one when it ends, each a single O_APPEND write, so lines
 * from concurrent workers never interleave. The harness reads the journal to find two workers
 * that held the same lock at once; it trusts nothing the system under test says about that.
 *
 * Env (set by the runner): AGORA_RUN_ID, AGORA_ITEM_ID, AGORA_ATTEMPT, AGORA_LOCK_TOKENS
 * (JSON lock -> fencing token). Env (set by the task): CHAOS_JOURNAL, CHAOS_SEED.
 */
import { createHash } from 'node:crypto';
import { openSync, writeSync } from 'node:fs';
import { hash32 } from './prng.js';

export interface JournalLine {
  readonly ev: 'start' | 'end';
  readonly run: string;
  readonly item: string;
  readonly attempt: number;
  readonly pid: number;
  /** The runner that spawned this worker. */
  readonly ppid: number;
  readonly tokens: Record<string, number>;
  /** ms since the epoch */
  readonly start: number;
  readonly end: number | null;
  /** Set when the worker was told to stop (SIGTERM from its runner) before it finished. */
  readonly signal?: string;
}

const env = process.env;
const journal = env['CHAOS_JOURNAL'];
if (!journal) {
  process.stderr.write('chaos worker: CHAOS_JOURNAL is not set\n');
  process.exit(64);
}
const item = env['AGORA_ITEM_ID'] ?? '';
const base = {
  run: env['AGORA_RUN_ID'] ?? '',
  item,
  attempt: Number(env['AGORA_ATTEMPT'] ?? 0),
  pid: process.pid,
  ppid: process.ppid,
  tokens: JSON.parse(env['AGORA_LOCK_TOKENS'] ?? '{}') as Record<string, number>,
};
const fd = openSync(journal, 'a');
const write = (line: JournalLine): void => {
  writeSync(fd, JSON.stringify(line) + '\n');
};
const start = Date.now();
write({ ev: 'start', ...base, start, end: null });

process.once('SIGTERM', () => {
  write({ ev: 'end', ...base, start, end: Date.now(), signal: 'SIGTERM' });
  process.exit(143);
});

// 50-400 ms, the same for a given seed, item and attempt.
const sleepMs = 50 + (hash32(`${env['CHAOS_SEED'] ?? ''}:${item}:${base.attempt}`) % 351);
setTimeout(() => {
  write({ ev: 'end', ...base, start, end: Date.now() });
  // Deterministic: every execution of an item produces the same artifact.
  process.stdout.write(JSON.stringify({ item, digest: createHash('sha256').update(item).digest('hex') }) + '\n');
}, sleepMs);
