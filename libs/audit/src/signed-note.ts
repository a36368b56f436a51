import { AgoraError, ValueError } from '@agora/core';
import { isWellFormed } from './well-formed.js';
import { hex8, isValidKeyName, type NoteSigner, type NoteVerifier } from './note-keys.js';

/** Signature lines start with an em dash (U+2014) and a space. */
const SIG_PREFIX = '\u2014 ';
/** Parsing a note with more signatures than this is refused (as golang.org/x/mod/sumdb/note does). */
export const MAX_NOTE_SIGNATURES = 100;

export interface NoteSignature {
  readonly name: string;
  readonly keyHash: number;
  /** The Ed25519 signature, without the 4-byte key hash. */
  readonly signature: Buffer;
}

export interface ParsedNote {
  /** The signed text, ending with a newline. */
  readonly text: string;
  readonly signatures: readonly NoteSignature[];
}

/**
 * - `malformed`: not a C2SP signed note.
 * - `invalid-signature`: a signature by a known key (same name and key hash) does not verify.
 * - `unverified`: no signature by any of the given keys.
 */
export type NoteFailure = 'malformed' | 'invalid-signature' | 'unverified';

export class NoteVerificationError extends AgoraError {
  readonly reason: NoteFailure;
  constructor(reason: NoteFailure, message: string) {
    super('AUDIT', message);
    this.reason = reason;
  }
}

/**
 * C2SP signed-note: `text`, a blank line, then one line per signer
 * `— <name> <base64(key hash || signature)>`. The signature covers `text` exactly (its UTF-8
 * bytes, final newline included). Requires a non-empty `text` ending in a newline, with no
 * control characters other than newline.
 */
export function signNote(text: string, ...signers: NoteSigner[]): string {
  checkText(text, (m) => new ValueError(m));
  if (signers.length === 0) throw new ValueError('a note needs at least one signer');
  const msg = Buffer.from(text, 'utf8');
  let out = `${text}\n`;
  for (const s of signers) {
    if (!isValidKeyName(s.name)) throw new ValueError(`invalid signer name ${JSON.stringify(s.name)}`);
    const hash = Buffer.alloc(4);
    hash.writeUInt32BE(s.keyHash, 0);
    out += `${SIG_PREFIX}${s.name} ${Buffer.concat([hash, s.sign(msg)]).toString('base64')}\n`;
  }
  return out;
}

/** Splits a note into text and signatures without checking any signature. */
export function parseNote(note: string): ParsedNote {
  const fail = (m: string): NoteVerificationError => new NoteVerificationError('malformed', `malformed note: ${m}`);
  if (typeof note !== 'string') throw fail('not a string');
  if (!isWellFormed(note)) throw fail('not well-formed UTF-8');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0009\u000b-\u001f]/.test(note)) throw fail('control character other than newline');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw fail('no blank line before the signatures');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block === '' || !block.endsWith('\n')) throw fail('signature block must end with a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) throw fail(`more than ${MAX_NOTE_SIGNATURES} signatures`);
  const signatures = lines.map((line, i): NoteSignature => {
    if (!line.startsWith(SIG_PREFIX)) throw fail(`signature line ${i + 1} does not start with an em dash and a space`);
    const rest = line.slice(SIG_PREFIX.length);
    const space = rest.indexOf(' ');
    const name = space < 0 ? rest : rest.slice(0, space);
    const b64 = space < 0 ? '' : rest.slice(space + 1);
    const raw = Buffer.from(b64, 'base64');
    if (!isValidKeyName(name) || b64 === '' || raw.toString('base64') !== b64 || raw.length < 5) {
      throw fail(`signature line ${i + 1} is not "— <name> <base64>"`);
    }
    return { name, keyHash: raw.readUInt32BE(0), signature: Buffer.from(raw.subarray(4)) };
  });
  return { text, signatures };
}

/**
 * Opens a note against known keys, with the semantics of C2SP signed-note verifiers:
 * signatures by unknown keys are ignored; a signature by a known key (name and key hash both
 * match) that fails is an error; at least one known key must have signed.
 * Returns the text and the keys that verified.
 */
export function openNote(note: string, verifiers: readonly NoteVerifier[]): { text: string; verifiedBy: NoteVerifier[] } {
  const { text, signatures } = parseNote(note);
  const msg = Buffer.from(text, 'utf8');
  const verifiedBy: NoteVerifier[] = [];
  for (const sig of signatures) {
    const v = verifiers.find((k) => k.name === sig.name && k.keyHash === sig.keyHash);
    if (v === undefined || verifiedBy.includes(v)) continue;
    if (!v.verify(msg, sig.signature)) {
      throw new NoteVerificationError('invalid-signature', `invalid signature for key ${sig.name}+${hex8(sig.keyHash)}`);
    }
    verifiedBy.push(v);
  }
  if (verifiedBy.length === 0) {
    const seen = signatures.map((s) => `${s.name}+${hex8(s.keyHash)}`).join(', ') || 'none';
    const want = verifiers.map((k) => `${k.name}+${hex8(k.keyHash)}`).join(', ') || 'none';
    throw new NoteVerificationError('unverified', `note has no signature by a known key (signed by: ${seen}; known: ${want})`);
  }
  return { text, verifiedBy };
}

function checkText(text: string, fail: (m: string) => Error): void {
  if (typeof text !== 'string' || text === '') throw fail('note text must be a non-empty string');
  if (!text.endsWith('\n')) throw fail('note text must end with a newline');
  if (!isWellFormed(text)) throw fail('note text must be well-formed UTF-8');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text)) throw fail('note text must not contain control characters other than newline');
}
