import { writeFile } from 'node:fs/promises';
import { AgoraError } from '@agora/core';
import { ProviderSet, readArtifact } from '@agora/registry';
import { CliError, EXIT, resolveConfig, type GlobalOpts } from '../context.js';

/**
 * `agora get <resultRef> [-o file]`: a result's bytes from the configured storage, its sha256
 * checked against the ref. To stdout (raw), or to a file with a line on stderr naming the hash.
 * Exit 1 when the stored bytes do not match the ref (corrupt), 2 for a bad or unknown ref.
 */
export async function getCmd(ref: string, opts: { output?: string }, g: GlobalOpts): Promise<number> {
  const config = await resolveConfig(g);
  const storage = await new ProviderSet(config).storage();
  let artifact;
  try {
    artifact = await readArtifact(storage, ref, config.namespace);
  } catch (err) {
    if (err instanceof AgoraError && err.code === 'STORAGE' && /corrupt/.test(err.message)) throw new CliError(err.message, EXIT.failed);
    throw err;
  } finally {
    await storage.flush?.();
  }
  if (opts.output === undefined) {
    process.stdout.write(artifact.bytes);
    return EXIT.ok;
  }
  await writeFile(opts.output, artifact.bytes, { mode: 0o644 });
  process.stderr.write(`${opts.output}: ${artifact.bytes.length} bytes, sha256 ${artifact.sha256} (matches the ref)\n`);
  return EXIT.ok;
}
