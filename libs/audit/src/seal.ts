import type { AuditEvent } from './event-validation.js';
import { eventsMerkleRoot } from './event-hashing.js';
import { formatCheckpoint } from './checkpoint.js';
import { signNote } from './signed-note.js';
import type { NoteSigner } from './note-keys.js';

export interface SealResult {
  /** MTH over the events' canonical JSON. */
  readonly root: Buffer;
  readonly size: number;
  /** The checkpoint as a signed note (C2SP tlog-checkpoint body + signature line). */
  readonly checkpoint: string;
}

/**
 * Seals events as they are: validates and canonicalises each, builds the Merkle root, and signs
 * a checkpoint for `origin`. Checks event contents but not their order or run id (the bundle
 * builder does); the hot path of sealing a run, timed by the benchmark.
 */
export function sealEvents(events: readonly AuditEvent[], signer: NoteSigner, origin: string): SealResult {
  const root = eventsMerkleRoot(events);
  const checkpoint = signNote(formatCheckpoint({ origin, size: events.length, root }), signer);
  return { root, size: events.length, checkpoint };
}
