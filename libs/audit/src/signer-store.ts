import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IllegalStateError, coerceError, createLogger, type Logger } from '@agora/core';
import { generateNoteKey, signerFromPrivateKey, type NoteSigner } from './note-keys.js';

/**
 * The signer named `name` from `<dataDir>/keys/`, created on first use: an Ed25519 key in the
 * private key format of golang.org/x/mod/sumdb/note, in a file of mode 0600 (directory 0700).
 * Creation uses O_EXCL, so two processes starting at once end up with the same key.
 * A key file readable by group or others is refused, like ssh does: the key may have been read,
 * and whether to rotate it is the operator's call. The directory is Agora's own: one left looser
 * (made by hand, or by an older version) is tightened to 0700 with a warning, as `agora dev`
 * does with its folders; only a chmod that fails (not our directory) is refused.
 */
export async function loadOrCreateSigner(dataDir: string, name: string, opts: { logger?: Pick<Logger, 'warn'> } = {}): Promise<NoteSigner> {
  const dir = join(dataDir, 'keys');
  // encodeURIComponent keeps '/' and '..' in key names from escaping the directory.
  const file = join(dir, `${encodeURIComponent(name)}.key`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const dirMode = (await stat(dir)).mode & 0o777;
  if ((dirMode & 0o077) !== 0) {
    await chmod(dir, 0o700).catch((err: unknown) => {
      throw new IllegalStateError(`signing key directory ${dir} is accessible by group or others (mode ${dirMode.toString(8)}) and could not be tightened (${(err as NodeJS.ErrnoException).code ?? coerceError(err).message}); chmod 700 it`);
    });
    (opts.logger ?? createLogger({ component: 'audit' })).warn(
      { dir, mode: dirMode.toString(8) },
      `signing key directory ${dir} was accessible by group or others (mode ${dirMode.toString(8)}); tightened to 700`,
    );
  }
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
