import { ValueError, coerceError } from '@agora/core';
import { runIdOfOrigin } from './checkpoint.js';
import { eventLeafHash } from './canonical-json.js';
import { eventLeafHashes } from './event-hashing.js';
import { describeValue, eventProblems, type AuditEvent } from './event-validation.js';
import { MerkleTree } from './merkle-tree.js';
import { verifyInclusion } from './merkle-proof.js';
import { MerkleVerificationError } from './merkle-verification-error.js';
import {
  NOT_PINNED_WARNING,
  check,
  pinnedCheck,
  readSignedCheckpoint,
  signatureCheck,
  type VerificationCheck,
} from './verification-report.js';
import type { AuditBundle } from './verify-bundle.js';

/** Proof that one event is part of a signed checkpoint, verifiable without the other events. */
export interface EventProof {
  readonly runId: string;
  readonly event: AuditEvent;
  readonly leafIndex: number;
  readonly treeSize: number;
  /** RFC 9162 inclusion path, base64, from the leaf's sibling upwards. */
  readonly proof: readonly string[];
  readonly checkpoint: string;
  readonly signer: { readonly vkey: string };
}

export interface EventProofVerification {
  readonly ok: boolean;
  readonly checks: readonly VerificationCheck[];
  readonly warnings: readonly string[];
}

export type ProofSource = Pick<AuditBundle, 'runId' | 'events' | 'checkpoint' | 'signer'>;

/**
 * Inclusion proof of event `seq` of a bundle (or of events with their checkpoint and signer).
 * Throws if the checkpoint does not commit to exactly these events.
 */
export function proveEvent(source: ProofSource, seq: number): EventProof {
  const { events } = source;
  const event = events[seq];
  if (!Number.isSafeInteger(seq) || event === undefined) throw new ValueError(`no event with seq ${seq} (run has ${events.length})`);
  if (event.seq !== seq) throw new ValueError(`events[${seq}] has seq ${describeValue(event.seq)}; events must be in seq order`);
  const read = readSignedCheckpoint(source.checkpoint);
  if (!read.ok) throw new ValueError(`checkpoint unreadable: ${read.error}`);
  const tree = MerkleTree.fromLeafHashes(eventLeafHashes(events));
  const root = tree.root();
  if (read.checkpoint.size !== tree.size) {
    throw new MerkleVerificationError('root-mismatch', 'checkpoint is for another number of events', String(read.checkpoint.size), String(tree.size));
  }
  if (!root.equals(read.checkpoint.root)) {
    throw new MerkleVerificationError('root-mismatch', 'checkpoint does not commit to these events', read.checkpoint.root.toString('hex'), root.toString('hex'));
  }
  return {
    runId: source.runId,
    event,
    leafIndex: seq,
    treeSize: tree.size,
    proof: tree.inclusionProof(seq).map((h) => h.toString('base64')),
    checkpoint: source.checkpoint,
    signer: { vkey: source.signer.vkey },
  };
}

/**
 * Checks an {@link EventProof}: signature on the checkpoint (and the pinned key, if given),
 * the event itself, that leaf index and tree size are the signed ones, and the RFC 9162
 * inclusion of the event's leaf hash under the signed root.
 */
export function verifyEventProof(doc: unknown, options: { key?: string; expectedRunId?: string } = {}): EventProofVerification {
  const checks: VerificationCheck[] = [];
  const warnings: string[] = [];
  const schema = proofSchemaProblems(doc);
  checks.push(check('schema', schema.length === 0, schema.length === 0 ? 'event proof' : schema.join('; ')));
  if (schema.length > 0) return { ok: false, checks, warnings };
  const p = doc as EventProof;
  const runId = options.expectedRunId ?? p.runId;
  if (options.expectedRunId !== undefined) {
    checks.push(check('run-id', p.runId === runId, p.runId === runId ? `proof is for run ${runId}` : `proof is for run ${JSON.stringify(p.runId)}, expected ${JSON.stringify(runId)}`));
  }
  const problems = eventProblems(p.event);
  checks.push(check('event.valid', problems.length === 0, problems.length === 0 ? 'event is valid' : problems.join('; ')));
  checks.push(check('event.run-id', p.event.runId === runId, `event runId ${JSON.stringify(p.event.runId)}, run ${JSON.stringify(runId)}`));
  checks.push(check('event.seq', p.event.seq === p.leafIndex, `event seq ${describeValue(p.event.seq)}, leaf index ${p.leafIndex}`));

  const read = readSignedCheckpoint(p.checkpoint);
  if (!read.ok) {
    checks.push(check('checkpoint.format', false, read.error));
  } else {
    const cp = read.checkpoint;
    checks.push(check('checkpoint.format', true, 'C2SP signed note over a tlog-checkpoint body'));
    const originRun = runIdOfOrigin(cp.origin);
    checks.push(check('checkpoint.origin', originRun === runId, `origin ${cp.origin}, run ${runId}`));
    checks.push(check('checkpoint.size', cp.size === p.treeSize, `checkpoint tree size ${cp.size}, proof says ${p.treeSize}`));
    // Index and size are taken from the signed checkpoint, never from the proof alone: with a
    // smaller size, an interior node's path would verify as if it were a leaf's.
    try {
      const proof = p.proof.map((h) => Buffer.from(h, 'base64'));
      verifyInclusion(p.leafIndex, cp.size, eventLeafHash(p.event), proof, cp.root);
      checks.push(check('inclusion', true, `event is leaf ${p.leafIndex} of the ${cp.size} under the signed root`));
    } catch (err) {
      checks.push(check('inclusion', false, coerceError(err).message));
    }
  }
  checks.push(signatureCheck(p.checkpoint, p.signer.vkey));
  if (options.key !== undefined) checks.push(pinnedCheck(p.checkpoint, p.signer.vkey, options.key));
  else warnings.push(NOT_PINNED_WARNING);
  return { ok: checks.every((c) => c.ok), checks, warnings };
}

function proofSchemaProblems(d: unknown): string[] {
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return [`proof must be an object, got ${describeValue(d)}`];
  const o = d as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof o['runId'] !== 'string') problems.push('runId must be a string');
  if (typeof o['event'] !== 'object' || o['event'] === null || Array.isArray(o['event'])) problems.push('event must be an object');
  if (!Number.isSafeInteger(o['leafIndex']) || (o['leafIndex'] as number) < 0) problems.push('leafIndex must be a non-negative integer');
  if (!Number.isSafeInteger(o['treeSize']) || (o['treeSize'] as number) < 0) problems.push('treeSize must be a non-negative integer');
  if (!Array.isArray(o['proof']) || !o['proof'].every((h) => typeof h === 'string')) problems.push('proof must be an array of base64 strings');
  if (typeof o['checkpoint'] !== 'string') problems.push('checkpoint must be a string');
  const signer = o['signer'];
  if (typeof signer !== 'object' || signer === null || typeof (signer as Record<string, unknown>)['vkey'] !== 'string') {
    problems.push('signer.vkey must be a string');
  }
  return problems;
}
