import { AgoraError } from '@agora/core';

/**
 * Why a Merkle proof was rejected.
 * - `invalid-argument`: an index, size or hash is malformed (not a safe integer, not 32 bytes).
 * - `index-out-of-range`: the leaf index is not below the tree size.
 * - `size-order`: a consistency proof from a larger tree to a smaller one.
 * - `proof-length`: the proof has the wrong number of components for its index and size.
 * - `root-mismatch`: the proof recomputes a different root than the one expected.
 * - `first-root-mismatch` / `second-root-mismatch`: the same for either side of a consistency proof.
 */
export type MerkleFailure =
  | 'invalid-argument'
  | 'index-out-of-range'
  | 'size-order'
  | 'proof-length'
  | 'root-mismatch'
  | 'first-root-mismatch'
  | 'second-root-mismatch';

/**
 * A Merkle proof failed verification. `expected` is the value the verifier was given (a root,
 * a proof length, a bound) and `computed` what the proof produced, both as printable strings
 * (hashes in hex), so a failure can be reported without re-running anything.
 */
export class MerkleVerificationError extends AgoraError {
  readonly reason: MerkleFailure;
  readonly expected: string;
  readonly computed: string;

  constructor(reason: MerkleFailure, message: string, expected: string, computed: string) {
    super('AUDIT', `${message} (expected ${expected}, computed ${computed})`);
    this.reason = reason;
    this.expected = expected;
    this.computed = computed;
  }
}
