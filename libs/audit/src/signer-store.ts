import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IllegalStateError, coerceError } from '@agora/core';
import { generateNoteKey, signerFromPrivateKey, type NoteSigner } from './note-keys.js';

/**
 * The signer named `name` from `<dataDir>/keys/`, created on first use: an Ed25519 key in the
 * private key format of golang.org/x/mod/sumdb/note, in a file of mode 0600 (directory 0700).
 * Creation uses O_EXCL, so two processes starting at once end up with the same key.
 * A key file readable by group or others is refused, like ssh does.
 */
export async function loadOrCreateSigner(dataDir: string, name: string): Promise<NoteSigner> {
  const dir = join(dataDir, 'keys');
  // encodeURIComponent keeps '/' and '..' in key names from escaping the directory.
  const file = join(dir, `${encodeURIComponent(name)}.key`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { skey } = generateNoteKey(name);
  try {
    await writeFile(file, `${skey}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw coerceError(err);
  }
  const st = await stat(file);
  if ((st.mode & 0o077) !== 0) {
    throw new IllegalStateError(`signing key ${file} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  }
  const signer = signerFromPrivateKey((await readFile(file, 'utf8')).trim());
  if (signer.name !== name) throw new IllegalStateError(`signing key ${file} is for "${signer.name}", not "${name}"`);
  return signer;
}
