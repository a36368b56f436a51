import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IllegalStateError } from '@agora/core';
import {
  CheckpointFormatError,
  NoteVerificationError,
  auditOrigin,
  formatCheckpoint,
  generateNoteKey,
  loadOrCreateSigner,
  openNote,
  parseCheckpoint,
  parseNote,
  parseVerifierKey,
  signNote,
  signerFromPrivateKey,
} from '@agora/audit';

/**
 * testdata/signed-note.json is a copy of the project's vectors/signed-note.json: the Ed25519
 * example of golang.org/x/mod/sumdb/note (PeterNeumann), reproduced with node:crypto.
 */
const vector = JSON.parse(readFileSync(new URL('./testdata/signed-note.json', import.meta.url), 'utf8')) as {
  skey: string;
  vkey: string;
  text: string;
  signatureLine: string;
};
const note = `${vector.text}\n${vector.signatureLine}`;

describe('C2SP signed note', () => {
  it('verifies the golang.org/x/mod/sumdb/note vector', () => {
    const verifier = parseVerifierKey(vector.vkey);
    expect(verifier.name).toBe('PeterNeumann');
    expect(verifier.keyHash).toBe(0xc74f20a3);
    const opened = openNote(note, [verifier]);
    expect(opened.text).toBe(vector.text);
    expect(opened.verifiedBy).toEqual([verifier]);
  });

  it('signs the vector text to the exact vector signature line (Ed25519 is deterministic)', () => {
    const signer = signerFromPrivateKey(vector.skey);
    expect(signer.vkey).toBe(vector.vkey);
    expect(signNote(vector.text, signer)).toBe(note);
  });

  it('computes the key hash as SHA-256(name || "\\n" || 0x01 || key)[0:4]', () => {
    const { vkey } = generateNoteKey('agora-test');
    const [name, hash, key] = [vkey.split('+')[0], vkey.split('+')[1], vkey.split('+').slice(2).join('+')];
    const h = createHash('sha256').update(`${name}\n`).update(Buffer.from(key, 'base64')).digest().subarray(0, 4).toString('hex');
    expect(hash).toBe(h);
  });

  it('rejects a flipped bit in the signature, a changed text, and an unknown key', () => {
    const verifier = parseVerifierKey(vector.vkey);
    const sig = Buffer.from(vector.signatureLine.slice(2 + 'PeterNeumann '.length, -1), 'base64');
    sig[10] = (sig[10] as number) ^ 1;
    const flipped = `${vector.text}\n\u2014 PeterNeumann ${sig.toString('base64')}\n`;
    expect(() => openNote(flipped, [verifier])).toThrow(expect.objectContaining({ reason: 'invalid-signature' }) as Error);
    const changed = note.replace('cryptography', 'cryptographY');
    expect(() => openNote(changed, [verifier])).toThrow(expect.objectContaining({ reason: 'invalid-signature' }) as Error);
    const other = parseVerifierKey(generateNoteKey('PeterNeumann').vkey);
    expect(() => openNote(note, [other])).toThrow(expect.objectContaining({ reason: 'unverified' }) as Error);
  });

  it('ignores signatures by unknown keys when a known key signed too', () => {
    const a = signerFromPrivateKey(generateNoteKey('a').skey);
    const b = signerFromPrivateKey(generateNoteKey('b').skey);
    const both = signNote('hello\n', a, b);
    expect(openNote(both, [parseVerifierKey(b.vkey)]).verifiedBy.map((v) => v.name)).toEqual(['b']);
  });

  it('rejects malformed notes', () => {
    const bad = [
      vector.text, // no signatures
      `${vector.text}${vector.signatureLine}`, // no blank line
      `${vector.text}\n${vector.signatureLine.trimEnd()}`, // no final newline
      `${vector.text}\n- PeterNeumann abc=\n`, // not an em dash
      `${vector.text}\n\u2014 Peter+Neumann ${vector.signatureLine.split(' ')[2] ?? ''}`, // '+' in name
      `${vector.text}\n\u2014 PeterNeumann AAAA\n`, // signature too short
      `${vector.text.replace('\n', '\t')}\n${vector.signatureLine}`, // control character
    ];
    for (const n of bad) {
      expect(() => parseNote(n), JSON.stringify(n)).toThrow(NoteVerificationError);
    }
    expect(() => signNote('no newline', signerFromPrivateKey(vector.skey))).toThrow(/end with a newline/);
  });

  it('parses verifier keys strictly', () => {
    const good = vector.vkey;
    for (const bad of [
      'PeterNeumann+c74f20a3',
      'PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
      'PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
      'PeterNeuman+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
      'PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
      'Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
    ]) {
      expect(() => parseVerifierKey(bad), bad).toThrow();
    }
    expect(parseVerifierKey(good).vkey).toBe(good);
  });
});

describe('checkpoint body', () => {
  it('is origin, size and base64 root, one per line', () => {
    const root = Buffer.alloc(32, 7);
    const text = formatCheckpoint({ origin: auditOrigin('prod', 'r0abc'), size: 42, root });
    expect(text).toBe(`agora/prod/r0abc\n42\n${root.toString('base64')}\n`);
    expect(parseCheckpoint(text)).toEqual({ origin: 'agora/prod/r0abc', size: 42, root, extensions: [] });
  });

  it('rejects malformed checkpoints', () => {
    const root = Buffer.alloc(32, 7).toString('base64');
    for (const bad of ['agora/p/r\n42\n', `agora/p/r\n042\n${root}\n`, `agora/p/r\n-1\n${root}\n`, `agora/p/r\n1\n${root}`, `agora p/r\n1\n${root}\n`, `agora/p/r\n1\n${root.slice(4)}\n`]) {
      expect(() => parseCheckpoint(bad), JSON.stringify(bad)).toThrow(CheckpointFormatError);
    }
  });
});

describe('loadOrCreateSigner', () => {
  const dirs: string[] = [];
  const tmp = async (): Promise<string> => {
    const d = await mkdtemp(join(tmpdir(), 'audit-keys-'));
    dirs.push(d);
    return d;
  };
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('creates a 0600 key on first use and returns the same key afterwards', async () => {
    const dir = await tmp();
    const first = await loadOrCreateSigner(dir, 'agora-local');
    const file = join(dir, 'keys', 'agora-local.key');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'keys'))).mode & 0o777).toBe(0o700);
    expect((await readFile(file, 'utf8')).startsWith('PRIVATE+KEY+agora-local+')).toBe(true);
    const again = await loadOrCreateSigner(dir, 'agora-local');
    expect(again.vkey).toBe(first.vkey);
    const msg = Buffer.from('checkpoint\n');
    expect(parseVerifierKey(first.vkey).verify(msg, again.sign(msg))).toBe(true);
  });

  it('gives concurrent first calls the same key', async () => {
    const dir = await tmp();
    const signers = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateSigner(dir, 'k')));
    expect(new Set(signers.map((s) => s.vkey)).size).toBe(1);
  });

  it('keeps key names from escaping the key directory', async () => {
    const dir = await tmp();
    await loadOrCreateSigner(dir, '../../evil');
    expect((await stat(join(dir, 'keys', '..%2F..%2Fevil.key'))).isFile()).toBe(true);
  });

  it('refuses a key file readable by others, and a file of another name', async () => {
    const dir = await tmp();
    await loadOrCreateSigner(dir, 'k');
    await chmod(join(dir, 'keys', 'k.key'), 0o644);
    await expect(loadOrCreateSigner(dir, 'k')).rejects.toThrow(IllegalStateError);
    await expect(loadOrCreateSigner(dir, 'k')).rejects.toThrow(/chmod 600/);
    await writeFile(join(dir, 'keys', 'j.key'), `${generateNoteKey('other').skey}\n`, { mode: 0o600 });
    await expect(loadOrCreateSigner(dir, 'j')).rejects.toThrow(/is for "other"/);
  });
});
