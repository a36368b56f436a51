import { writeFile } from 'node:fs/promises';
import { AgoraError, NotFoundError, coerceError } from '@agora/core';
import { ProviderSet, readArtifact, readItemLogs } from '@agora/registry';
import { AgoraClient } from '@agora/sdk';
import { CliError, EXIT, resolveConfig, type GlobalOpts } from '../context.js';
import { checkOutputFile } from '../options.js';
import { assertRedisReachable } from '../redis-check.js';
import { counted } from '../wording.js';

/**
 * `agora get <resultRef> [-o file]`: a result's bytes from the configured storage, its sha256
 * checked against the ref. To stdout (raw), or to a file with a line on stderr naming the hash.
 * Exit 1 when the stored bytes do not match the ref (corrupt), 2 for a bad or unknown ref or an
 * `-o` that cannot be written (a directory, a missing directory).
 */
export async function getCmd(ref: string, opts: { output?: string }, g: GlobalOpts): Promise<number> {
  const config = await resolveConfig(g);
  if (opts.output !== undefined) await checkOutputFile(opts.output, '-o');
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
  const out = opts.output;
  // 0600 when created, as in storage: a result may be sensitive (an existing file keeps its mode).
  await writeFile(out, artifact.bytes, { mode: 0o600 }).catch((err: unknown) => {
    // Checked above, but the directory can change under us (or is not writable): a bad -o, exit 2.
    throw new CliError(`cannot write -o ${out}: ${(err as NodeJS.ErrnoException).code ?? coerceError(err).message}`);
  });
  process.stderr.write(`${opts.output}: ${counted(artifact.bytes.length, 'byte')}, sha256 ${artifact.sha256} (matches the ref)\n`);
  return EXIT.ok;
}

/**
 * `agora logs <run> <item> [--json]`: what the item's worker printed, as the runner stored it
 * (scrubbed, the last 1 MiB of each stream; a done dispatch item's stdout is its result), each
 * stream hash checked. People get each stream under a header; `--json` prints one object.
 */
export async function logsCmd(runId: string, itemId: string, opts: { json?: boolean }, g: GlobalOpts): Promise<number> {
  const config = await resolveConfig(g);
  await assertRedisReachable(config.redisUrl);
  const client = new AgoraClient({ redisUrl: config.redisUrl, namespace: config.namespace });
  const storage = await new ProviderSet(config).storage();
  try {
    let item;
    try {
      item = await client.item(runId, itemId);
    } catch (err) {
      if (err instanceof NotFoundError) throw new CliError(err.message);
      throw err;
    }
    const logs = await readItemLogs(storage, config.namespace, item);
    if (opts.json) {
      process.stdout.write(JSON.stringify({ runId, itemId, state: item.state, ...logs }) + '\n');
      return EXIT.ok;
    }
    if (!logs.stdout && !logs.stderr) {
      process.stdout.write(`${itemId} (${item.state}): no output stored${item.executor && item.executor !== 'dispatch' ? ` (executor "${item.executor}" keeps none)` : ''}\n`);
      return EXIT.ok;
    }
    for (const stream of ['stdout', 'stderr'] as const) {
      const s = logs[stream];
      if (!s) continue;
      process.stdout.write(`== ${stream} (${counted(s.bytes, 'byte')}${s.truncated ? ', last ones shown' : ''}) ==\n${s.text}${s.text.endsWith('\n') || s.text === '' ? '' : '\n'}`);
    }
    return EXIT.ok;
  } finally {
    await client.close();
    await storage.flush?.();
  }
}
