import { createHash } from 'node:crypto';
import { ValueError } from './errors.js';
import { parsePlanText, planValueProblems } from './plan.js';

/**
 * Channels: messages into a running item. A message is any JSON value; it travels as one line of
 * JSON text (`JSON.stringify` never emits a raw newline), which is what the worker reads from
 * the file named by `AGORA_CHANNEL` and what the `message` event's `bytes` and `sha256` describe.
 */
export const CHANNEL_LIMITS = {
  /** Largest message, as its JSON line in UTF-8 (the newline not counted). */
  maxMessageBytes: 64 * 1024,
  /**
   * Most messages one item may be sent over its life. Each is also an event of the run, so this
   * bounds what one item adds to the record; the channel stream's MAXLEN is the same number.
   */
  maxMessagesPerItem: 1_000,
  /**
   * The channel stream expires this long after its last message: it is refreshed by every send,
   * so a stream outlives the item it fed (a retry reads it again from the start) and is gone
   * once nobody writes to it. A week, the longest `timeoutMs` of an item.
   */
  ttlMs: 7 * 24 * 3600 * 1000,
} as const;

/** A message ready to send: its JSON line, the line's size in bytes and its SHA-256 (hex). */
export interface ChannelMessage {
  readonly line: string;
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * Encodes a message for an item's channel, refusing what could not travel as one JSON line:
 * `undefined`, a function or bigint (no JSON), nesting deeper than `PLAN_LIMITS.maxDepth`, a lone
 * surrogate, a `"__proto__"` key (the same walk as a plan's values), or more than
 * `CHANNEL_LIMITS.maxMessageBytes`. Throws `ValueError` naming the problem.
 */
export function encodeChannelMessage(message: unknown): ChannelMessage {
  const problems = planValueProblems(message).map((p) => p.replace(/^plan(?=[:.[]|$)/, 'message'));
  if (problems.length > 0) throw new ValueError(`message is not sendable: ${problems.join('; ')}`);
  let line: string | undefined;
  try {
    line = JSON.stringify(message) as string | undefined;
  } catch (err) {
    throw new ValueError(`message is not JSON: ${(err as Error).message}`);
  }
  if (line === undefined) throw new ValueError('message is not JSON: give a JSON value (object, array, string, number, boolean or null)');
  const bytes = Buffer.byteLength(line);
  if (bytes > CHANNEL_LIMITS.maxMessageBytes) throw new ValueError(`message is ${bytes} bytes as JSON, over the limit of ${CHANNEL_LIMITS.maxMessageBytes} bytes`);
  return { line, bytes, sha256: createHash('sha256').update(line).digest('hex') };
}

/**
 * Parses a message given as JSON text (the CLI's argument or file), with the size checked before
 * parsing and the plan parser's rules (line and column of a syntax error, the depth limit).
 */
export function parseChannelMessageText(text: string, source = 'message'): unknown {
  const bytes = Buffer.byteLength(text);
  // Room for whitespace around a value at the limit; the encoded line is checked again.
  if (bytes > 2 * CHANNEL_LIMITS.maxMessageBytes) throw new ValueError(`${source}: ${bytes} bytes, over the limit of ${CHANNEL_LIMITS.maxMessageBytes} bytes`);
  return parsePlanText(text, source);
}
