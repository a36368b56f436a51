import { ValueError } from '@agora/core';
import { HASH_SIZE } from './merkle-hasher.js';
import { isWellFormed } from './well-formed.js';

/** A C2SP tlog-checkpoint body: the state of a log (here: one run's event stream). */
export interface Checkpoint {
  /** Names the log: `agora/<namespace>/<runId>` for a run. */
  readonly origin: string;
  /** Number of leaves (events). */
  readonly size: number;
  /** MTH of the first `size` leaves. */
  readonly root: Buffer;
  /** Optional extension lines, kept verbatim. */
  readonly extensions: readonly string[];
}

export class CheckpointFormatError extends ValueError {}

/** The origin of a run's audit log: names the deployment (namespace) and the run. */
export function auditOrigin(namespace: string, runId: string): string {
  const origin = `agora/${namespace}/${runId}`;
  checkOrigin(origin);
  return origin;
}

/** The run an origin names (its last path segment). */
export function runIdOfOrigin(origin: string): string {
  return origin.slice(origin.lastIndexOf('/') + 1);
}

/**
 * `<origin>\n<size>\n<base64 root>\n` plus extension lines (C2SP tlog-checkpoint).
 * Requires an origin without spaces or '+', a safe non-negative size, a 32-byte root.
 */
export function formatCheckpoint(cp: { origin: string; size: number; root: Uint8Array; extensions?: readonly string[] }): string {
  checkOrigin(cp.origin);
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) throw new CheckpointFormatError(`checkpoint size ${cp.size} is not a non-negative integer`);
  if (cp.root.length !== HASH_SIZE) throw new CheckpointFormatError(`checkpoint root must be ${HASH_SIZE} bytes, got ${cp.root.length}`);
  const ext = cp.extensions ?? [];
  for (const line of ext) {
    if (line === '' || /[\n\r]/.test(line)) throw new CheckpointFormatError('checkpoint extension lines must be non-empty single lines');
  }
  return [cp.origin, String(cp.size), Buffer.from(cp.root).toString('base64'), ...ext].map((l) => `${l}\n`).join('');
}

/** Parses a checkpoint body (the text of a signed note, not the signatures). */
export function parseCheckpoint(text: string): Checkpoint {
  if (typeof text !== 'string' || !text.endsWith('\n')) throw new CheckpointFormatError('checkpoint must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  const [origin, size, root, ...extensions] = lines;
  if (origin === undefined || size === undefined || root === undefined) {
    throw new CheckpointFormatError('checkpoint needs origin, size and root lines');
  }
  checkOrigin(origin);
  if (!/^(?:0|[1-9][0-9]*)$/.test(size) || !Number.isSafeInteger(Number(size))) {
    throw new CheckpointFormatError(`checkpoint size line ${JSON.stringify(size.slice(0, 40))} is not a decimal integer`);
  }
  const rootBytes = Buffer.from(root, 'base64');
  if (rootBytes.length !== HASH_SIZE || rootBytes.toString('base64') !== root) {
    throw new CheckpointFormatError(`checkpoint root line is not the base64 of a ${HASH_SIZE}-byte hash`);
  }
  if (extensions.some((l) => l === '')) throw new CheckpointFormatError('checkpoint has an empty extension line');
  return { origin, size: Number(size), root: rootBytes, extensions };
}

function checkOrigin(origin: string): void {
  if (origin === '' || !isWellFormed(origin) || /[\s+]/u.test(origin)) {
    throw new CheckpointFormatError(`checkpoint origin ${JSON.stringify(origin.slice(0, 80))} must be non-empty, without spaces or '+'`);
  }
}
