import { IllegalStateError, coerceError } from '@agora/core';
import {
  anchorContextOf,
  checkpointDigest,
  failedAnchor,
  type Anchor,
  type AnchorContext,
  type AnchorRecord,
  type AnchorVerification,
} from './anchor.js';

/** The two Redis commands the local anchor needs (an ioredis client fits). */
export interface LocalAnchorRedis {
  hsetnx(key: string, field: string, value: string): Promise<number>;
  hget(key: string, field: string): Promise<string | null>;
}

export interface LocalAnchorOptions {
  readonly redis: LocalAnchorRedis;
  /**
   * The hash that holds a run's checkpoints, usually per run: the run's audit hash (libs/evidence
   * passes `(ctx) => store.auditKey(ctx.runId)`).
   */
  readonly key: string | ((ctx: AnchorContext) => string);
  /** The field of one checkpoint. @default ctx => `checkpoint:${ctx.treeSize}` */
  readonly field?: string | ((ctx: AnchorContext) => string);
}

export interface LocalAnchorRecord extends AnchorRecord {
  readonly kind: 'local';
  readonly key: string;
  readonly field: string;
}

/**
 * Keeps the signed checkpoint in Redis, next to the run. Claim `tamper-detecting`, guarantee
 * `local`: an edit of the events or the bundle is detected, but whoever can write this Redis
 * and holds the signing key can rewrite events, checkpoint and anchor together.
 * A field is written once (HSETNX); anchoring a different checkpoint there is refused.
 */
export class LocalAnchor implements Anchor {
  readonly kind = 'local';
  private readonly redis: LocalAnchorRedis;
  private readonly keyOf: (ctx: AnchorContext) => string;
  private readonly fieldOf: (ctx: AnchorContext) => string;

  constructor(options: LocalAnchorOptions) {
    this.redis = options.redis;
    const { key, field } = options;
    this.keyOf = typeof key === 'string' ? () => key : key;
    this.fieldOf = field === undefined ? (ctx) => `checkpoint:${ctx.treeSize}` : typeof field === 'string' ? () => field : field;
  }

  async put(checkpoint: string, ctx: AnchorContext): Promise<LocalAnchorRecord> {
    const key = this.keyOf(ctx);
    const field = this.fieldOf(ctx);
    const created = await this.redis.hsetnx(key, field, checkpoint);
    if (created === 0) {
      const existing = await this.redis.hget(key, field);
      if (existing !== checkpoint) {
        throw new IllegalStateError(`a different checkpoint is already anchored at ${key} ${field}; anchors are write-once`);
      }
    }
    return { kind: 'local', key, field, checkpointSha256: checkpointDigest(checkpoint), anchoredAt: new Date().toISOString() };
  }

  async verify(record: AnchorRecord, checkpointText: string): Promise<AnchorVerification> {
    if (record.kind !== this.kind) return failedAnchor(`anchor record is of kind "${String(record.kind)}", expected "local"`);
    let ctx: AnchorContext;
    try {
      ctx = anchorContextOf(checkpointText);
    } catch (err) {
      return failedAnchor(`checkpoint unreadable: ${coerceError(err).message}`);
    }
    // The location comes from our configuration and the signed checkpoint, not from the
    // record: a record pointing elsewhere would let a forged checkpoint vouch for itself.
    const key = this.keyOf(ctx);
    const field = this.fieldOf(ctx);
    if (record['key'] !== key || record['field'] !== field) {
      return failedAnchor(`anchor record points at ${String(record['key'])} ${String(record['field'])}, expected ${key} ${field}`);
    }
    let stored: string | null;
    try {
      stored = await this.redis.hget(key, field);
    } catch (err) {
      return failedAnchor(`local anchor unavailable: ${coerceError(err).message}`);
    }
    if (stored === null) return failedAnchor(`no checkpoint anchored at ${key} ${field}`);
    if (stored !== checkpointText) {
      return failedAnchor(
        `checkpoint anchored at ${key} ${field} differs (anchored sha256 ${checkpointDigest(stored)}, presented ${checkpointDigest(checkpointText)})`,
      );
    }
    return {
      ok: true,
      claim: 'tamper-detecting',
      guarantee: 'local',
      detail: `matches the checkpoint anchored in Redis at ${key} ${field}; whoever can write that Redis and holds the signing key could rewrite both`,
    };
  }
}
