export * from './merkle-hasher.js';
export * from './merkle-verification-error.js';
export { MerkleTree, merkleRoot, merkleRootInPlace } from './merkle-tree.js';
export * from './merkle-proof.js';
export {
  EventValidationError,
  MAX_EVENT_DEPTH,
  SECRET_KEY_PATTERN,
  SECRET_REFERENCE_PATTERN,
  eventProblems,
  isSecretLookingKey,
  isSecretReference,
  sequenceProblems,
  validateEvent,
  validateEventSequence,
  type AuditEvent,
  type SequenceProblems,
} from './event-validation.js';
export * from './canonical-json.js';
export * from './event-hashing.js';
export {
  ALG_ED25519,
  formatVerifierKey,
  generateNoteKey,
  isValidKeyName,
  noteKeyHash,
  parseVerifierKey,
  signerFromPrivateKey,
  type NoteSigner,
  type NoteVerifier,
} from './note-keys.js';
export * from './signed-note.js';
export * from './checkpoint.js';
export * from './signer-store.js';
export * from './seal.js';
export {
  anchorContextOf,
  checkpointDigest,
  type Anchor,
  type AnchorContext,
  type AnchorRecord,
  type AnchorVerification,
  type AuditClaim,
  type AuditGuarantee,
} from './anchor.js';
export * from './local-anchor.js';
export * from './s3-object-lock-anchor.js';
export type { VerificationCheck, VerificationReport } from './verification-report.js';
export * from './verify-bundle.js';
export * from './bundle.js';
export * from './event-proof.js';
export * from './consistency.js';
