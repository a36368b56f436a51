import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { CHANNEL_LIMITS, decodeUtf8, isItemId, isRunId, parseChannelMessageText } from '@agora/core';
import { AgoraClient } from '@agora/sdk';
import { CliError, EXIT, resolveConfig, type GlobalOpts } from '../context.js';
import { assertRedisReachable } from '../redis-check.js';

/**
 * Reads a stream no further than twice the message limit (a message is at most 64 KiB as JSON;
 * the text may be spaced out more): past it, the read stops and the message is refused.
 */
async function readCapped(stream: AsyncIterable<unknown>, source: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stream) {
    size += (c as Buffer).length;
    if (size > 2 * CHANNEL_LIMITS.maxMessageBytes) throw new CliError(`${source}: over the limit of ${CHANNEL_LIMITS.maxMessageBytes} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * The message argument of `agora send`: JSON text, or `@file` (a JSON file; `@-` reads stdin).
 * A regular file's size is checked before it is read; any file is read no further than the
 * limit, since a pipe (`@<(cmd)`, a FIFO, `/dev/stdin`) has no size to check first.
 */
async function messageText(arg: string): Promise<{ text: string | Buffer; source: string }> {
  if (!arg.startsWith('@')) return { text: arg, source: 'message' };
  const file = arg.slice(1);
  if (file === '') throw new CliError('@: name a JSON file after the @ (or @- for stdin)');
  try {
    if (file === '-') return { text: await readCapped(process.stdin, '<stdin>'), source: '<stdin>' };
    const { size } = await stat(file);
    if (size > 2 * CHANNEL_LIMITS.maxMessageBytes) throw new CliError(`${file}: ${size} bytes, over the limit of ${CHANNEL_LIMITS.maxMessageBytes} bytes`);
    const stream = createReadStream(file);
    try {
      return { text: await readCapped(stream, file), source: file };
    } finally {
      stream.destroy();
    }
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * `agora send <run> <item> <json|@file>`: one message to the item's channel. Prints the message
 * id (`--json`: the whole answer). Exit 2 for a bad id or message, an unknown run or item, or an
 * item that has ended.
 */
export async function sendCmd(runId: string, itemId: string, arg: string, g: GlobalOpts, opts: { json?: boolean } = {}): Promise<number> {
  if (!isRunId(runId)) throw new CliError(`invalid run id "${String(runId).slice(0, 80)}"`);
  if (!isItemId(itemId)) throw new CliError(`invalid item id "${String(itemId).slice(0, 80)}"`);
  const { text, source } = await messageText(arg);
  let message: unknown;
  try {
    // A file's bytes that are not UTF-8 are refused (exit 2), not read as U+FFFD.
    message = parseChannelMessageText(typeof text === 'string' ? text : decodeUtf8(text, source), source);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const config = await resolveConfig(g);
  await assertRedisReachable(config.redisUrl);
  const client = new AgoraClient({ redisUrl: config.redisUrl, namespace: config.namespace });
  // The SDK's errors (NotFoundError, IllegalStateError, ValueError) name the run and item; bin.ts exits 2 on them.
  try {
    const sent = await client.send(runId, itemId, message);
    process.stdout.write(opts.json ? JSON.stringify(sent) + '\n' : `${sent.messageId}\n`);
    return EXIT.ok;
  } finally {
    await client.close();
  }
}
