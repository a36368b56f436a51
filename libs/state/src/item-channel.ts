import { CHANNEL_LIMITS, IllegalStateError, NotFoundError, type ChannelMessage } from '@agora/core';
import type { RedisClient } from './redis.js';
import type { RunStore } from './run-store.js';
import { callScript } from './scripts.js';

/** A message the channel took: its id in the item's channel stream and its event's seq. */
export interface SentMessage {
  readonly runId: string;
  readonly itemId: string;
  readonly messageId: string;
  readonly seq: number;
  readonly bytes: number;
  readonly sha256: string;
}

/** One message as the runner reads it back: its stream id and its JSON line. */
export interface ChannelEntry {
  readonly id: string;
  readonly line: string;
}

/** The run's six keys as every run script takes them, then the item's channel stream. */
function sendKeys(store: RunStore, runId: string, itemId: string): string[] {
  const k = store.keys.run(runId);
  return [k.meta, k.items, k.results, k.pending, k.dependents, k.events, k.channel(itemId), k.closedChannels];
}

/**
 * The runner opens an item's channel as its worker starts: messages are taken again (after
 * `closeItemChannel` of an earlier start).
 */
export async function openItemChannel(store: RunStore, runId: string, itemId: string): Promise<void> {
  await store.redis.hdel(store.keys.run(runId).closedChannels, itemId);
}

/**
 * The runner closes an item's channel once its worker has exited, before its last read: from then
 * on `send` is refused (IllegalStateError), so every message taken reaches the channel file.
 */
export async function closeItemChannel(store: RunStore, runId: string, itemId: string): Promise<void> {
  const key = store.keys.run(runId).closedChannels;
  await store.redis.multi().hset(key, itemId, new Date().toISOString()).pexpire(key, CHANNEL_LIMITS.ttlMs).exec();
}

/**
 * A send that came while the run's acceptance was still registering its items (a message sent
 * right after submit): the item may yet exist. A `NotFoundError` to a caller that does not wait;
 * the SDK's `send` waits for the acceptance and sends again.
 */
export class ItemsBeingRegisteredError extends NotFoundError {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/**
 * A send that found no record of the run: unknown, or submitted and not accepted yet (its record
 * is written by the acceptance). A `NotFoundError`; the SDK's `send` looks whether the run is
 * recorded now or on the inbox, and then waits and sends again.
 */
export class RunNotRecordedError extends NotFoundError {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/**
 * Sends an encoded message to an item (see sendMessage-8.lua): queued on the item's channel
 * stream, recorded as a `message` event, announced to the runners. The script's negative codes
 * become the errors the CLI and the HTTP API map: `NotFoundError` (no such run or item),
 * `IllegalStateError` (the item or its run has ended, or it has had `CHANNEL_LIMITS.maxMessagesPerItem`).
 */
export async function sendItemMessage(store: RunStore, runId: string, itemId: string, message: ChannelMessage): Promise<SentMessage> {
  const r = (await callScript(store.redis, 'sendMessage', sendKeys(store, runId, itemId), [
    runId,
    new Date().toISOString(),
    itemId,
    message.line,
    message.bytes,
    message.sha256,
    CHANNEL_LIMITS.maxMessagesPerItem,
    CHANNEL_LIMITS.ttlMs,
    store.keys.messageChannel,
  ])) as [number, (string | number)?];
  const code = Number(r[0]);
  if (code === -1) throw new RunNotRecordedError(`no run "${runId}"`);
  if (code === -6) throw new IllegalStateError(`run "${runId}" was rejected at acceptance (its status says why): it has no items to take messages`);
  if (code === -3) throw new NotFoundError(`run "${runId}" has no item "${itemId}"`);
  if (code === -8) throw new ItemsBeingRegisteredError(`run "${runId}" is being accepted: its item "${itemId}" is not registered yet`);
  if (code === -2) throw new IllegalStateError(`item "${itemId}" of run "${runId}" has ended (${String(r[1])}): it takes no more messages`);
  if (code === -7) throw new IllegalStateError(`run "${runId}" has ended (${String(r[1])}): item "${itemId}" takes no more messages`);
  if (code === -5) throw new IllegalStateError(`item "${itemId}" of run "${runId}" is ending (its worker has exited): it takes no more messages unless it starts again (a retry)`);
  if (code === -4) throw new IllegalStateError(`item "${itemId}" of run "${runId}" has had ${CHANNEL_LIMITS.maxMessagesPerItem} messages, the most one item may be sent`);
  return { runId, itemId, messageId: String(r[1]), seq: code, bytes: message.bytes, sha256: message.sha256 };
}

/**
 * The item's messages after `afterId` (`0-0`: from the first), oldest first, at most `count`.
 * One XREAD without BLOCK: the runner reads when told (pub/sub) and once when the item starts.
 */
export async function readItemMessages(store: RunStore, runId: string, itemId: string, afterId: string, opts: { count?: number; client?: RedisClient } = {}): Promise<ChannelEntry[]> {
  const client = opts.client ?? store.redis;
  const key = store.keys.run(runId).channel(itemId);
  const res = await client.xread('COUNT', opts.count ?? 100, 'STREAMS', key, afterId);
  const out: ChannelEntry[] = [];
  for (const [, entries] of res ?? []) {
    for (const [id, fields] of entries) {
      const i = fields.indexOf('m');
      if (i >= 0 && fields[i + 1] !== undefined) out.push({ id, line: fields[i + 1]! });
    }
  }
  return out;
}
