import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { ValueError } from '@agora/core';
import { isWellFormed } from './well-formed.js';

/** Signature algorithm byte of C2SP signed-note for Ed25519. */
export const ALG_ED25519 = 0x01;

const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A public key that can check note signatures (C2SP signed-note "verifier key"). */
export interface NoteVerifier {
  readonly name: string;
  /** First 4 bytes of SHA-256(name || "\n" || 0x01 || public key), big-endian. */
  readonly keyHash: number;
  /** `<name>+<hex key hash>+<base64(0x01 || public key)>`. */
  readonly vkey: string;
  readonly publicKey: Buffer;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/** A private key that signs notes. Never logged, never serialised except to its key file. */
export interface NoteSigner {
  readonly name: string;
  readonly keyHash: number;
  /** The verifier key string of the matching public key: give this to whoever verifies. */
  readonly vkey: string;
  sign(message: Uint8Array): Buffer;
}

/**
 * C2SP signed-note key names: non-empty, well-formed UTF-8, no Unicode spaces, no '+'.
 * (They appear in `+`-separated key strings and space-separated signature lines.)
 */
export function isValidKeyName(name: string): boolean {
  return typeof name === 'string' && name !== '' && isWellFormed(name) && !/[\s\u0085+]/u.test(name);
}

/** Key hash of C2SP signed-note: big-endian uint32 of SHA-256(name || 0x0A || alg || key)[0:4]. */
export function noteKeyHash(name: string, algAndKey: Uint8Array): number {
  return createHash('sha256').update(name, 'utf8').update('\n').update(algAndKey).digest().readUInt32BE(0);
}

export function formatVerifierKey(name: string, publicKey: Uint8Array): string {
  if (!isValidKeyName(name)) throw new ValueError(`invalid key name ${JSON.stringify(name)}: no spaces or '+' allowed`);
  if (publicKey.length !== 32) throw new ValueError(`Ed25519 public key must be 32 bytes, got ${publicKey.length}`);
  const algAndKey = Buffer.concat([Buffer.from([ALG_ED25519]), publicKey]);
  return `${name}+${hex8(noteKeyHash(name, algAndKey))}+${algAndKey.toString('base64')}`;
}

/**
 * Parses a verifier key `<name>+<8 hex digits>+<base64(0x01 || 32-byte Ed25519 key)>` and
 * checks that the hash matches the name and key. Throws ValueError naming what is wrong.
 */
export function parseVerifierKey(vkey: string): NoteVerifier {
  if (typeof vkey !== 'string') throw new ValueError('verifier key must be a string');
  const [name, hash16, key64] = chop(vkey, 2);
  if (name === undefined || hash16 === undefined || key64 === undefined) {
    throw new ValueError('verifier key must look like <name>+<hash>+<base64 key>');
  }
  if (!isValidKeyName(name)) throw new ValueError(`verifier key has an invalid name ${JSON.stringify(name)}`);
  if (!/^[0-9a-f]{8}$/.test(hash16)) throw new ValueError('verifier key hash must be 8 lowercase hex digits');
  const algAndKey = strictBase64(key64, 'verifier key');
  if (algAndKey[0] !== ALG_ED25519) throw new ValueError(`unsupported verifier key algorithm ${algAndKey[0] ?? 'none'} (only Ed25519 = 1)`);
  if (algAndKey.length !== 33) throw new ValueError(`Ed25519 verifier key must be 32 bytes, got ${algAndKey.length - 1}`);
  const keyHash = noteKeyHash(name, algAndKey);
  if (hex8(keyHash) !== hash16) throw new ValueError(`verifier key hash ${hash16} does not match its name and key (${hex8(keyHash)})`);
  const publicKey = Buffer.from(algAndKey.subarray(1));
  const keyObject = ed25519PublicKey(publicKey);
  return {
    name,
    keyHash,
    vkey,
    publicKey,
    verify(message, signature) {
      if (signature.length !== 64) return false;
      return verify(null, message, keyObject, signature);
    },
  };
}

/**
 * A signer from a private key string `PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>`, the
 * format of golang.org/x/mod/sumdb/note, so keys move between the two tool sets.
 */
export function signerFromPrivateKey(skey: string): NoteSigner {
  const [priv, key, name, hash16, key64] = chop(skey, 4);
  if (priv !== 'PRIVATE' || key !== 'KEY' || name === undefined || hash16 === undefined || key64 === undefined) {
    throw new ValueError('private key must look like PRIVATE+KEY+<name>+<hash>+<base64 key>');
  }
  if (!isValidKeyName(name)) throw new ValueError(`private key has an invalid name ${JSON.stringify(name)}`);
  if (!/^[0-9a-f]{8}$/.test(hash16)) throw new ValueError('private key hash must be 8 lowercase hex digits');
  const algAndSeed = strictBase64(key64, 'private key');
  if (algAndSeed[0] !== ALG_ED25519 || algAndSeed.length !== 33) throw new ValueError('private key must be an Ed25519 seed (0x01 || 32 bytes)');
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, algAndSeed.subarray(1)]),
    format: 'der',
    type: 'pkcs8',
  });
  const publicKey = publicKeyBytes(createPublicKey(privateKey));
  const vkey = formatVerifierKey(name, publicKey);
  if (vkey.split('+')[1] !== hash16) throw new ValueError('private key hash does not match its name and key');
  return {
    name,
    keyHash: Number.parseInt(hash16, 16),
    vkey,
    sign(message) {
      return sign(null, message, privateKey);
    },
  };
}

/** A fresh Ed25519 key pair as a private key string and its verifier key string. */
export function generateNoteKey(name: string): { skey: string; vkey: string } {
  if (!isValidKeyName(name)) throw new ValueError(`invalid key name ${JSON.stringify(name)}: no spaces or '+' allowed`);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  if (typeof jwk.d !== 'string') throw new ValueError('node:crypto did not export the Ed25519 seed');
  const seed = Buffer.from(jwk.d, 'base64url');
  const vkey = formatVerifierKey(name, publicKeyBytes(publicKey));
  const hash16 = vkey.split('+')[1] as string;
  const skey = `PRIVATE+KEY+${name}+${hash16}+${Buffer.concat([Buffer.from([ALG_ED25519]), seed]).toString('base64')}`;
  return { skey, vkey };
}

function ed25519PublicKey(raw: Buffer): KeyObject {
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  } catch (err) {
    throw new ValueError('verifier key is not a valid Ed25519 public key', { cause: err });
  }
}

function publicKeyBytes(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new ValueError('not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

/** Splits on the first `n` '+' only: base64 may itself contain '+'. */
function chop(s: string, n: number): (string | undefined)[] {
  const parts: (string | undefined)[] = [];
  let rest = s;
  for (let i = 0; i < n; i++) {
    const at = rest.indexOf('+');
    if (at < 0) return [...parts, rest];
    parts.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  return [...parts, rest];
}

/** Node's base64 decoder skips junk; keys must round-trip exactly. */
export function strictBase64(s: string, what: string): Buffer {
  const buf = Buffer.from(s, 'base64');
  if (s === '' || buf.toString('base64') !== s) throw new ValueError(`${what} is not canonical base64`);
  return buf;
}

export function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}
