import { coerceError } from '@agora/core';
import type { AuditClaim, AuditGuarantee } from './anchor.js';
import { parseCheckpoint, type Checkpoint } from './checkpoint.js';
import { parseVerifierKey, type NoteVerifier } from './note-keys.js';
import { openNote, parseNote } from './signed-note.js';

/** One named check of a verification, e.g. `checkpoint.root`. */
export interface VerificationCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/**
 * The verifier's own conclusion, computed from scratch; nothing a bundle says about itself is
 * taken on trust. `intact` is true only when every check passed.
 */
export interface VerificationReport {
  readonly intact: boolean;
  readonly claim: AuditClaim;
  readonly guarantee: AuditGuarantee;
  readonly checks: readonly VerificationCheck[];
  /** Limits of what was checked (no pinned key, anchor not consulted...). */
  readonly warnings: readonly string[];
}

export function check(name: string, ok: boolean, detail: string): VerificationCheck {
  return { name, ok, detail };
}

/** A signed checkpoint read into its parts, or why it could not be. */
export type ReadCheckpoint = { ok: true; text: string; checkpoint: Checkpoint } | { ok: false; error: string };

export function readSignedCheckpoint(note: string): ReadCheckpoint {
  try {
    const { text } = parseNote(note);
    return { ok: true, text, checkpoint: parseCheckpoint(text) };
  } catch (err) {
    return { ok: false, error: coerceError(err).message };
  }
}

/** `signature`: the checkpoint note carries a valid signature by `vkey`. */
export function signatureCheck(note: string, vkey: unknown): VerificationCheck {
  let verifier: NoteVerifier;
  try {
    verifier = parseVerifierKey(vkey as string);
  } catch (err) {
    return check('signature', false, `signer key unusable: ${coerceError(err).message}`);
  }
  try {
    openNote(note, [verifier]);
    return check('signature', true, `checkpoint signed by ${verifier.name}`);
  } catch (err) {
    return check('signature', false, coerceError(err).message);
  }
}

/** `signer.pinned`: the key the document names is the one the caller trusts, and it signed. */
export function pinnedCheck(note: string, vkey: unknown, pinned: string): VerificationCheck {
  let trusted: NoteVerifier;
  try {
    trusted = parseVerifierKey(pinned);
  } catch (err) {
    return check('signer.pinned', false, `pinned key unusable: ${coerceError(err).message}`);
  }
  if (vkey !== trusted.vkey) {
    return check('signer.pinned', false, `signed by ${typeof vkey === 'string' ? vkey.split('+').slice(0, 2).join('+') : 'an unnamed key'}, expected pinned ${trusted.name}+${trusted.vkey.split('+')[1] ?? ''}`);
  }
  try {
    openNote(note, [trusted]);
    return check('signer.pinned', true, `signed by the pinned key ${trusted.name}`);
  } catch (err) {
    return check('signer.pinned', false, coerceError(err).message);
  }
}

export const NOT_PINNED_WARNING =
  'signer not pinned: the signature was checked against the key inside the document, so a rewrite re-signed with another key would pass; pass the expected key';

/** Why an intact report without a pinned key claims `none` (README tiers: accidental corruption only). */
export const UNPINNED_CLAIM_WARNING =
  'claim none: with no key pinned the bundle vouches only for itself, so this guards against accidental corruption only; pin the signer (key) for tamper-detecting';
