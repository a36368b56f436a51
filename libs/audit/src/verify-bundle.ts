import { coerceError } from '@agora/core';
import { checkpointDigest, type Anchor, type AnchorRecord, type AnchorVerification, type AuditClaim, type AuditGuarantee } from './anchor.js';
import { runIdOfOrigin } from './checkpoint.js';
import { eventsMerkleRoot } from './event-hashing.js';
import { describeValue, sequenceProblems, type AuditEvent } from './event-validation.js';
import { parseVerifierKey, type NoteVerifier } from './note-keys.js';
import { openNote } from './signed-note.js';
import {
  NOT_PINNED_WARNING,
  UNPINNED_CLAIM_WARNING,
  check,
  pinnedCheck,
  readSignedCheckpoint,
  signatureCheck,
  type VerificationCheck,
  type VerificationReport,
} from './verification-report.js';

export const BUNDLE_VERSION = 1;

/** An evidence bundle: everything needed to verify one run's history offline. */
export interface AuditBundle {
  readonly version: 1;
  readonly runId: string;
  /** The run's events, exactly as sealed, in seq order. */
  readonly events: readonly AuditEvent[];
  /** The signed checkpoint (C2SP signed note over a tlog-checkpoint body). */
  readonly checkpoint: string;
  readonly signer: { readonly vkey: string };
  readonly anchor: AnchorRecord | null;
  /** The builder's own verification; informative only, a verifier recomputes it. */
  readonly report: VerificationReport;
  /**
   * Earlier signed checkpoints of the same run (`@agora/evidence` adds them), each with its
   * consistency proof to the seal. Absent from bundles built by {@link buildBundle}.
   */
  readonly checkpoints?: readonly PeriodicCheckpoint[];
}

/** A periodic checkpoint: a signed state of the run's log before it was sealed. */
export interface PeriodicCheckpoint {
  readonly size: number;
  /** A signed note, like the seal, over an earlier tree of the same log. */
  readonly checkpoint: string;
  /** RFC 9162 consistency proof (base64) from this checkpoint's tree to the seal's. */
  readonly consistency: readonly string[];
}

export interface VerifyBundleOptions {
  /** The run the bundle must be for (a bundle of another run is then refused). */
  readonly expectedRunId?: string;
  /** Verifier key (`name+hash+key`) the checkpoint must be signed with. */
  readonly key?: string;
  /** Consult this anchor's store: required for `external-immutable`. */
  readonly anchor?: Anchor;
}

/**
 * Verifies a bundle from scratch: events, order, run, checkpoint, root, signature, pinned
 * key, anchor. Takes `unknown` because bundles arrive as parsed JSON from anywhere.
 */
export async function verifyBundle(bundle: unknown, options: VerifyBundleOptions = {}): Promise<VerificationReport> {
  const offline = offlineChecks(bundle, options);
  const pinned = options.key !== undefined;
  if (offline.schemaFailed) return finish(offline.checks, offline.warnings, undefined, pinned);
  let anchorResult: AnchorVerification | undefined;
  const b = bundle as AuditBundle;
  if (options.anchor !== undefined) {
    const anchor = options.anchor;
    if (b.anchor === null || b.anchor === undefined) {
      offline.checks.push(check('anchor', false, `no anchor record, but a ${anchor.kind} anchor was required`));
    } else if (b.anchor.kind !== anchor.kind) {
      offline.checks.push(check('anchor', false, `anchor record is of kind "${b.anchor.kind}", expected "${anchor.kind}"`));
    } else if (b.anchor.checkpointSha256 !== checkpointDigest(b.checkpoint)) {
      offline.checks.push(check('anchor', false, 'anchor record is for a different checkpoint'));
    } else {
      try {
        anchorResult = await anchor.verify(b.anchor, b.checkpoint);
      } catch (err) {
        anchorResult = { ok: false, claim: 'none', guarantee: 'none', detail: `anchor verification failed: ${coerceError(err).message}` };
      }
      offline.checks.push(check('anchor', anchorResult.ok, anchorResult.detail));
    }
  } else {
    offline.checks.push(offlineAnchorCheck(b));
  }
  return finish(offline.checks, offline.warnings, anchorResult, pinned);
}

/** {@link verifyBundle} without consulting an anchor store (synchronous). */
export function verifyBundleOffline(bundle: unknown, options: Omit<VerifyBundleOptions, 'anchor'> = {}): VerificationReport {
  const offline = offlineChecks(bundle, options);
  if (!offline.schemaFailed) offline.checks.push(offlineAnchorCheck(bundle as AuditBundle));
  return finish(offline.checks, offline.warnings, undefined, options.key !== undefined);
}

function offlineChecks(
  bundle: unknown,
  options: VerifyBundleOptions,
): { checks: VerificationCheck[]; warnings: string[]; schemaFailed: boolean } {
  const checks: VerificationCheck[] = [];
  const warnings: string[] = [];
  const schema = bundleSchemaProblems(bundle);
  checks.push(check('schema', schema.length === 0, schema.length === 0 ? 'bundle version 1' : schema.join('; ')));
  if (schema.length > 0) return { checks, warnings, schemaFailed: true };
  const b = bundle as AuditBundle;

  if (options.expectedRunId !== undefined) {
    const ok = b.runId === options.expectedRunId;
    checks.push(check('run-id', ok, ok ? `bundle is for run ${b.runId}` : `bundle is for run ${JSON.stringify(b.runId)}, expected ${JSON.stringify(options.expectedRunId)}`));
  }
  const runId = options.expectedRunId ?? b.runId;

  const seq = sequenceProblems(b.events, runId);
  checks.push(summary('events.valid', seq.invalid, `${b.events.length} events are valid`));
  checks.push(summary('events.seq-contiguous', seq.seq, `seq runs 0..${b.events.length - 1} without gaps`));
  checks.push(summary('events.run-id', seq.runId, `every event is for run ${runId}`));

  const read = readSignedCheckpoint(b.checkpoint);
  if (!read.ok) {
    checks.push(check('checkpoint.format', false, read.error));
    for (const name of ['checkpoint.origin', 'checkpoint.size', 'checkpoint.root']) checks.push(check(name, false, 'checkpoint unreadable'));
  } else {
    const cp = read.checkpoint;
    checks.push(check('checkpoint.format', true, 'C2SP signed note over a tlog-checkpoint body'));
    const originRun = runIdOfOrigin(cp.origin);
    checks.push(
      check('checkpoint.origin', originRun === runId, originRun === runId ? `origin ${cp.origin} names run ${runId}` : `origin ${cp.origin} names run ${originRun}, expected ${runId}`),
    );
    checks.push(
      check(
        'checkpoint.size',
        cp.size === b.events.length,
        cp.size === b.events.length ? `tree size ${cp.size} = number of events` : `checkpoint tree size is ${cp.size}, bundle has ${b.events.length} events`,
      ),
    );
    checks.push(rootCheck(b.events, cp.root));
  }

  checks.push(signatureCheck(b.checkpoint, b.signer.vkey));
  if (options.key !== undefined) checks.push(pinnedCheck(b.checkpoint, b.signer.vkey, options.key));
  else warnings.push(NOT_PINNED_WARNING);
  // Every signature is checked, not only the seal's: a periodic checkpoint is evidence of its
  // own (what the log held at that time), so one whose signature fails is a forgery or damage,
  // whether or not a key was pinned. Without a pinned key the bundle's own key is all there is.
  if (b.checkpoints !== undefined) {
    checks.push(periodicSignatureCheck(b.checkpoints, options.key ?? b.signer.vkey));
    checks.push(periodicSizeCheck(b.checkpoints, b.events.length));
  }
  if (options.anchor === undefined) {
    if (b.anchor === null || b.anchor === undefined) warnings.push('no anchor: the checkpoint exists only in this bundle');
    // Said so a CLI user can act on it: `audit verify` (and `replay`) have no anchor to pass.
    else warnings.push(`anchor not consulted: the ${b.anchor.kind} anchor record was only matched against the checkpoint; pass the anchor to verify it (agora audit <run> reads it from the deployment's Redis; an offline agora audit verify cannot)`);
  }
  return { checks, warnings, schemaFailed: false };
}

function rootCheck(events: readonly AuditEvent[], root: Buffer): VerificationCheck {
  let computed: Buffer;
  try {
    computed = eventsMerkleRoot(events, { validate: false });
  } catch (err) {
    return check('checkpoint.root', false, `cannot recompute the root: ${coerceError(err).message}`);
  }
  return computed.equals(root)
    ? check('checkpoint.root', true, `Merkle root ${root.toString('base64')} recomputed from the events`)
    : check('checkpoint.root', false, `events hash to root ${computed.toString('base64')}, checkpoint says ${root.toString('base64')}`);
}

/** `checkpoints.signature`: every periodic checkpoint carries a valid signature by `vkey`. */
function periodicSignatureCheck(history: readonly PeriodicCheckpoint[], vkey: string): VerificationCheck {
  let verifier: NoteVerifier;
  try {
    verifier = parseVerifierKey(vkey);
  } catch (err) {
    return check('checkpoints.signature', false, `key unusable: ${coerceError(err).message}`);
  }
  const problems: string[] = [];
  history.forEach((c, i) => {
    try {
      openNote(c.checkpoint, [verifier]);
    } catch (err) {
      problems.push(`checkpoints[${i}] (size ${c.size}): ${coerceError(err).message}`);
    }
  });
  return summary('checkpoints.signature', problems, `${history.length} periodic checkpoint(s) signed by ${verifier.name}`);
}

/**
 * `checkpoints.size`: every periodic checkpoint's `size` is the tree size its signed note
 * commits to, and that tree is no larger than the bundle's events (a periodic checkpoint is a
 * prefix of the sealed log). The consistency proof is checked against the signed sizes, so an
 * edited `size` would otherwise go unnoticed while misreporting which prefix was checkpointed.
 */
function periodicSizeCheck(history: readonly PeriodicCheckpoint[], eventCount: number): VerificationCheck {
  const problems: string[] = [];
  history.forEach((c, i) => {
    const read = readSignedCheckpoint(c.checkpoint);
    if (!read.ok) {
      problems.push(`checkpoints[${i}] (size ${c.size}): tree size unreadable: ${read.error}`);
      return;
    }
    const signed = read.checkpoint.size;
    if (signed !== c.size) problems.push(`checkpoints[${i}] (size ${c.size}): its signed tree size is ${signed}`);
    else if (signed > eventCount) problems.push(`checkpoints[${i}] (size ${c.size}): tree size ${signed} exceeds the bundle's ${eventCount} events`);
  });
  return summary('checkpoints.size', problems, `${history.length} periodic checkpoint size(s) match their signed tree sizes, within the ${eventCount} events`);
}

function offlineAnchorCheck(b: AuditBundle): VerificationCheck {
  if (b.anchor === null || b.anchor === undefined) return check('anchor', true, 'no anchor record');
  const ok = b.anchor.checkpointSha256 === checkpointDigest(b.checkpoint);
  return check('anchor', ok, ok ? `${b.anchor.kind} anchor record matches the checkpoint (store not consulted)` : 'anchor record is for a different checkpoint');
}

/**
 * The tiers (README, "Tiers"): not intact, or intact with no key pinned, claims nothing
 * (`none` / `none`): a bundle that vouches only for itself detects accidental corruption only,
 * since anyone who can edit it can re-seal and re-sign it with a key of their own. With the
 * signer pinned it is `tamper-detecting` / `local`, and `tamper-evident` /
 * `external-immutable` when an S3 Object Lock anchor was consulted and fully verified.
 */
function finish(checks: VerificationCheck[], warnings: string[], anchor: AnchorVerification | undefined, pinned: boolean): VerificationReport {
  const intact = checks.every((c) => c.ok);
  let claim: AuditClaim = 'none';
  let guarantee: AuditGuarantee = 'none';
  if (intact && !pinned) {
    warnings = [...warnings, UNPINNED_CLAIM_WARNING];
  } else if (intact) {
    const external = anchor?.ok === true && anchor.guarantee === 'external-immutable';
    claim = external ? 'tamper-evident' : 'tamper-detecting';
    guarantee = external ? 'external-immutable' : 'local';
  }
  return { intact, claim, guarantee, checks, warnings };
}

function summary(name: string, problems: readonly string[], okDetail: string): VerificationCheck {
  if (problems.length === 0) return check(name, true, okDetail);
  const shown = problems.slice(0, 5).join('; ');
  return check(name, false, problems.length > 5 ? `${shown}; and ${problems.length - 5} more` : shown);
}

function bundleSchemaProblems(b: unknown): string[] {
  if (typeof b !== 'object' || b === null || Array.isArray(b)) return [`bundle must be an object, got ${describeValue(b)}`];
  const o = b as Record<string, unknown>;
  const problems: string[] = [];
  if (o['version'] !== BUNDLE_VERSION) problems.push(`version must be ${BUNDLE_VERSION}, got ${describeValue(o['version'])}`);
  if (typeof o['runId'] !== 'string' || o['runId'] === '') problems.push('runId must be a non-empty string');
  if (!Array.isArray(o['events'])) problems.push('events must be an array');
  if (typeof o['checkpoint'] !== 'string') problems.push('checkpoint must be a string');
  const signer = o['signer'];
  if (typeof signer !== 'object' || signer === null || typeof (signer as Record<string, unknown>)['vkey'] !== 'string') {
    problems.push('signer.vkey must be a string');
  }
  const anchor = o['anchor'];
  if (anchor !== null && anchor !== undefined) {
    const a = anchor as Record<string, unknown>;
    if (typeof anchor !== 'object' || typeof a['kind'] !== 'string' || typeof a['checkpointSha256'] !== 'string') {
      problems.push('anchor must be null or a record with kind and checkpointSha256');
    }
  }
  problems.push(...periodicSchemaProblems(o['checkpoints']));
  return problems;
}

/** `checkpoints` is optional, but when present every entry is checked: none is skipped. */
function periodicSchemaProblems(history: unknown): string[] {
  if (history === undefined) return [];
  if (!Array.isArray(history)) return [`checkpoints must be an array, got ${describeValue(history)}`];
  const problems: string[] = [];
  history.forEach((c: unknown, i) => {
    const e = (typeof c === 'object' && c !== null && !Array.isArray(c) ? c : {}) as Record<string, unknown>;
    const size = e['size'];
    const proof = e['consistency'];
    if (!Number.isSafeInteger(size) || (size as number) < 0) problems.push(`checkpoints[${i}].size must be a non-negative integer`);
    if (typeof e['checkpoint'] !== 'string') problems.push(`checkpoints[${i}].checkpoint must be a string`);
    if (!Array.isArray(proof) || !proof.every((h) => typeof h === 'string')) problems.push(`checkpoints[${i}].consistency must be an array of base64 strings`);
  });
  return problems;
}
