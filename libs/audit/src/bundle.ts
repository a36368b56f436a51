import { IllegalStateError, ValueError } from '@agora/core';
import type { AnchorRecord } from './anchor.js';
import { runIdOfOrigin } from './checkpoint.js';
import { validateEventSequence, type AuditEvent } from './event-validation.js';
import type { NoteSigner } from './note-keys.js';
import { sealEvents } from './seal.js';
import { verifyBundleOffline, type AuditBundle } from './verify-bundle.js';

export interface BuildBundleInput {
  readonly runId: string;
  /** Checkpoint origin; its last path segment must be the run id (see auditOrigin). */
  readonly origin: string;
  /** The run's events in seq order, 0..n-1. */
  readonly events: readonly AuditEvent[];
  readonly signer: NoteSigner;
  /** Where the checkpoint was anchored (the anchor's put() result). */
  readonly anchorRecord?: AnchorRecord;
  /**
   * The checkpoint already produced by {@link sealEvents} for these events (e.g. the one that
   * was anchored); sealed afresh when absent. Ed25519 is deterministic, so both agree.
   */
  readonly checkpoint?: string;
}

/**
 * Assembles the evidence bundle of a run. Refuses invalid or out-of-order events, and refuses
 * to emit a bundle that does not verify against its own signer (a checkpoint or anchor record
 * that belongs to other events). The embedded report is the offline verification with the
 * signer's key pinned; verifiers recompute their own.
 */
export function buildBundle(input: BuildBundleInput): AuditBundle {
  const { runId, origin, events, signer } = input;
  validateEventSequence(events, runId);
  if (runIdOfOrigin(origin) !== runId) throw new ValueError(`origin ${origin} does not name run ${runId}`);
  const checkpoint = input.checkpoint ?? sealEvents(events, signer, origin).checkpoint;
  const draft = {
    version: 1 as const,
    runId,
    events: [...events],
    checkpoint,
    signer: { vkey: signer.vkey },
    anchor: input.anchorRecord ?? null,
  };
  const report = verifyBundleOffline(draft, { key: signer.vkey, expectedRunId: runId });
  if (!report.intact) {
    const failed = report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
    throw new IllegalStateError(`bundle for run ${runId} does not verify:\n  ${failed.join('\n  ')}`);
  }
  return { ...draft, report };
}
