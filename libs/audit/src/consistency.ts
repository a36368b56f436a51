import { ValueError, coerceError } from '@agora/core';
import { eventLeafHashes } from './event-hashing.js';
import type { AuditEvent } from './event-validation.js';
import { MerkleTree } from './merkle-tree.js';
import { verifyConsistency } from './merkle-proof.js';
import { check, readSignedCheckpoint, signatureCheck, type VerificationCheck } from './verification-report.js';
import { parseVerifierKey } from './note-keys.js';

/** RFC 9162 consistency proof (base64) from the first `oldSize` events to all of `events`. */
export function proveConsistency(events: readonly AuditEvent[], oldSize: number): string[] {
  if (!Number.isSafeInteger(oldSize) || oldSize < 0 || oldSize > events.length) {
    throw new ValueError(`old size ${oldSize} is out of range [0, ${events.length}]`);
  }
  return MerkleTree.fromLeafHashes(eventLeafHashes(events)).consistencyProof(oldSize).map((h) => h.toString('base64'));
}

export interface ConsistencyVerification {
  readonly ok: boolean;
  readonly checks: readonly VerificationCheck[];
}

/**
 * Checks that a later checkpoint of a run extends an earlier one (periodic checkpoints: the
 * log only grew, nothing sealed before was changed). Both are signed notes; with `key`, both
 * must be signed by it.
 */
export function checkConsistency(
  oldCheckpoint: string,
  newCheckpoint: string,
  proof: readonly string[],
  options: { key?: string } = {},
): ConsistencyVerification {
  const checks: VerificationCheck[] = [];
  const older = readSignedCheckpoint(oldCheckpoint);
  const newer = readSignedCheckpoint(newCheckpoint);
  if (!older.ok || !newer.ok) {
    const why = [!older.ok ? `old: ${older.error}` : '', !newer.ok ? `new: ${newer.error}` : ''].filter(Boolean).join('; ');
    checks.push(check('checkpoint.format', false, why));
    return { ok: false, checks };
  }
  checks.push(check('checkpoint.format', true, 'both are signed checkpoints'));
  if (options.key !== undefined) {
    let vkey = options.key;
    try {
      vkey = parseVerifierKey(options.key).vkey;
    } catch (err) {
      checks.push(check('signature', false, `key unusable: ${coerceError(err).message}`));
    }
    for (const [which, note] of [['old', oldCheckpoint], ['new', newCheckpoint]] as const) {
      const c = signatureCheck(note, vkey);
      checks.push(check('signature', c.ok, `${which}: ${c.detail}`));
    }
  }
  const a = older.checkpoint;
  const b = newer.checkpoint;
  checks.push(check('checkpoint.origin', a.origin === b.origin, a.origin === b.origin ? `same log ${a.origin}` : `origins differ: ${a.origin} vs ${b.origin}`));
  try {
    verifyConsistency(a.size, b.size, proof.map((h) => Buffer.from(h, 'base64')), a.root, b.root);
    checks.push(check('consistency', true, `tree of ${b.size} extends tree of ${a.size}`));
  } catch (err) {
    checks.push(check('consistency', false, coerceError(err).message));
  }
  return { ok: checks.every((c) => c.ok), checks };
}
