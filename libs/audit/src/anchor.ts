import { createHash } from 'node:crypto';
import { parseCheckpoint, runIdOfOrigin } from './checkpoint.js';
import { parseNote } from './signed-note.js';

/**
 * What a verified bundle lets a reader claim about the run's history.
 * - `tamper-detecting`: a change is detected by whoever holds the pinned key or can read the
 *   local anchor, but whoever controls the signing key and the anchor store could rewrite
 *   history without trace.
 * - `tamper-evident`: the checkpoint also sits in storage that nobody, including us, can
 *   rewrite before its retention ends, so a rewrite cannot be hidden.
 * - `none`: the bundle did not verify, or it did with no key pinned (it vouches only for
 *   itself: accidental corruption only).
 */
export type AuditClaim = 'none' | 'tamper-detecting' | 'tamper-evident';

/**
 * Where the checkpoint is protected. `external-immutable`: an S3 Object Lock COMPLIANCE
 * version, verified now. `local`: only our own stores (Redis, the bundle). `none`: not intact,
 * or no key pinned.
 */
export type AuditGuarantee = 'none' | 'local' | 'external-immutable';

/** Which checkpoint an anchor stores, derived from the checkpoint itself when verifying. */
export interface AnchorContext {
  readonly runId: string;
  readonly origin: string;
  readonly treeSize: number;
}

/** Where an anchor stored a checkpoint. JSON-serialisable; travels inside the bundle. */
export interface AnchorRecord {
  readonly kind: string;
  /** SHA-256 (hex) of the checkpoint text (signed note) that was stored. */
  readonly checkpointSha256: string;
  readonly anchoredAt: string;
  readonly [field: string]: unknown;
}

export interface AnchorVerification {
  /** The anchored checkpoint was read back and is byte-identical to the one presented. */
  readonly ok: boolean;
  readonly claim: AuditClaim;
  readonly guarantee: AuditGuarantee;
  /** What was compared, and what (if anything) keeps the guarantee from being stronger. */
  readonly detail: string;
}

/** Stores a signed checkpoint somewhere other than the bundle, and checks it later. */
export interface Anchor {
  readonly kind: string;
  put(checkpoint: string, ctx: AnchorContext): Promise<AnchorRecord>;
  /** Never throws for a failed check: the outcome and the reason are in the result. */
  verify(record: AnchorRecord, checkpointText: string): Promise<AnchorVerification>;
}

/** SHA-256 hex of a checkpoint's UTF-8 bytes, as recorded in {@link AnchorRecord}. */
export function checkpointDigest(checkpointText: string): string {
  return createHash('sha256').update(checkpointText, 'utf8').digest('hex');
}

/** The context a checkpoint (signed note or bare body) was anchored under. Throws if unreadable. */
export function anchorContextOf(checkpointText: string): AnchorContext {
  const body = checkpointText.includes('\n\n') ? parseNote(checkpointText).text : checkpointText;
  const cp = parseCheckpoint(body);
  return { runId: runIdOfOrigin(cp.origin), origin: cp.origin, treeSize: cp.size };
}

export function failedAnchor(detail: string): AnchorVerification {
  return { ok: false, claim: 'none', guarantee: 'none', detail };
}
