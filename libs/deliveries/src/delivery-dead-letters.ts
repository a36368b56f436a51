import { z } from 'zod';
import { DELIVERY_ID_RE, keys as buildKeys, type DeliveryDeadLetterKeys } from '@agora/core';
import type { RedisClient } from '@agora/state';

/** Longest error a delivery dead letter keeps. */
export const DELIVERY_ERROR_MAX = 1000;

/**
 * A delivery that failed for good: after its last try, or at once on an answer not worth
 * retrying (a 4xx). It names the target's host only: never the URL's path or query (they may
 * hold a token), never the secret.
 */
export const deliveryDeadLetterSchema = z.strictObject({
  /** The delivery id (the `X-Agora-Delivery` header the receiver saw on each try). */
  id: z.string().regex(DELIVERY_ID_RE),
  kind: z.enum(['result', 'notification']),
  /** The result sink's or notification provider's name in the config. */
  target: z.string().min(1),
  /** `item.result` or the notification's type. */
  type: z.string().min(1),
  runId: z.string().min(1),
  itemId: z.string().min(1).optional(),
  /** The host (and port) of the URL; '' when the target is unknown or not a URL. */
  host: z.string(),
  /** The last HTTP status, when there was an answer. */
  status: z.number().int().optional(),
  error: z.string().max(DELIVERY_ERROR_MAX),
  /** Tries made. */
  attempts: z.number().int().nonnegative(),
  failedAt: z.iso.datetime({ offset: true }),
});

export type DeliveryDeadLetter = z.infer<typeof deliveryDeadLetterSchema>;

/**
 * The delivery dead letters of a namespace: one JSON string per delivery and an index by time,
 * trimmed to `maxRecords` (oldest first). Its own store, not the items' DeadLetterStore: an item's
 * record is built for replaying the item (inputs, dependencies), a delivery's has none of that.
 */
export class DeliveryDeadLetterStore {
  private readonly keys: DeliveryDeadLetterKeys;

  constructor(
    private readonly redis: RedisClient,
    namespace: string,
  ) {
    this.keys = buildKeys(namespace).deliveryDeadLetters;
  }

  /** Writes (or rewrites) one record and trims the oldest past `maxRecords`. */
  async put(letter: DeliveryDeadLetter, maxRecords: number): Promise<void> {
    const record = deliveryDeadLetterSchema.parse({ ...letter, error: letter.error.slice(0, DELIVERY_ERROR_MAX) });
    await this.redis.multi().set(this.keys.letter(record.id), JSON.stringify(record)).zadd(this.keys.index, Date.now(), record.id).exec();
    const over = await this.redis.zcard(this.keys.index) - maxRecords;
    if (over > 0) {
      const old = await this.redis.zrange(this.keys.index, 0, over - 1);
      if (old.length > 0) await this.redis.multi().zrem(this.keys.index, ...old).del(...old.map((id) => this.keys.letter(id))).exec();
    }
  }

  async get(id: string): Promise<DeliveryDeadLetter | null> {
    const raw = await this.redis.get(this.keys.letter(id));
    return raw === null ? null : deliveryDeadLetterSchema.parse(JSON.parse(raw));
  }

  /** The newest `limit` records, newest first. */
  async list(limit = 50): Promise<DeliveryDeadLetter[]> {
    const ids = await this.redis.zrevrange(this.keys.index, 0, Math.max(0, limit - 1));
    if (ids.length === 0) return [];
    const raws = await Promise.all(ids.map((id) => this.redis.get(this.keys.letter(id))));
    return raws.filter((r): r is string => r !== null).map((r) => deliveryDeadLetterSchema.parse(JSON.parse(r)));
  }
}
