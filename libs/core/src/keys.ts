import { ValueError } from './errors.js';
import { isItemId, isRunId } from './ids.js';

/**
 * Every Redis key and channel name is built here, except a run's own keys: libs/state builds
 * those (`stateKeys`), as the one package that names a run key or run-hash field (issue #14).
 * Nothing concatenates key strings elsewhere.
 *
 * On Redis Cluster a script may only touch keys of one slot. An item starts and ends in one
 * script each, touching its run's keys and its resource locks' keys together (issue #14: the
 * fewest commands per item), so run keys share the hash tag `{<namespace>}` with the lock keys
 * and with BullMQ's keys (prefix `{<namespace>}`): one namespace lives on one shard; a cluster
 * spreads namespaces, not the runs of one namespace (README "Scaling past one Redis").
 */
export interface Keys {
  readonly namespace: string;
  /** BullMQ `prefix` option. */
  readonly bullPrefix: string;
  /** Sorted set of run ids by submission time. */
  readonly runs: string;
  /** Set of queue names that have been used, for the dashboard. */
  readonly queues: string;
  /** Pub/sub channel: cancellation requests (message = run id). */
  readonly cancelChannel: string;
  /** Pub/sub channel: run reached a terminal state (message = run id). */
  readonly finishedChannel: string;
  /** Pub/sub channel: a message was sent to an item's channel (message = `<runId> <itemId>`). */
  readonly messageChannel: string;
  /** Prefix of resource-lock keys (libs/locks builds the rest). */
  readonly lockPrefix: string;
  /**
   * Hash the active scheduler publishes: `queues`, `targets`, `executors`, `tasks`, `resultSinks` (JSON arrays of
   * names), so clients can refuse a plan the scheduler would reject before enqueueing it.
   */
  readonly deployment: string;
  /** Hash: runner id -> its registration (JSON: host, queues, slots, storage, heartbeat). */
  readonly runners: string;
  /**
   * String: the id of the active scheduler, set with a TTL (its lease). One `{scheduler}` hash
   * tag with `leaderEpoch`, so the acquiring script touches one slot on Redis Cluster.
   */
  readonly leader: string;
  /** Counter: the scheduler fencing epoch, incremented on every lease acquisition. */
  readonly leaderEpoch: string;
  /** The dead-letter records (libs/state DeadLetterStore). */
  readonly deadLetters: DeadLetterKeys;
  /** Dead letters of webhook deliveries that failed for good (libs/deliveries). */
  readonly deliveryDeadLetters: DeliveryDeadLetterKeys;
  /** The memo cache (libs/state MemoStore). */
  readonly memo: MemoKeys;
}

/**
 * Memo-cache keys share the `{<namespace>}` hash tag, so the write script (entry, index,
 * retention trim) touches one slot on Redis Cluster.
 */
export interface MemoKeys {
  /** Hash: memo key (sha256 hex) -> entry JSON `{ runId, itemId, resultRef, at }`. */
  readonly entries: string;
  /** Sorted set: memo keys by the time they were written (ms), for the bound and the listing. */
  readonly index: string;
}

/** Keys of the delivery dead letters: one hash per delivery and an index by time. */
export interface DeliveryDeadLetterKeys {
  /** String: one record (JSON). `id` is a delivery id (32 hex digits). */
  letter(id: string): string;
  /** Sorted set: delivery ids by the time their letter was written (ms). */
  readonly index: string;
}

/** A delivery id: 32 lowercase hex digits (a truncated sha256 of what is delivered). */
export const DELIVERY_ID_RE = /^[0-9a-f]{32}$/;

/**
 * Dead-letter keys share the `{<namespace>}` hash tag with the run keys, so the write script
 * (record, index, per-run set, retention trim) touches one slot on Redis Cluster.
 */
export interface DeadLetterKeys {
  /** Prefix of every dead-letter key (the write script builds trimmed records' keys from it). */
  readonly prefix: string;
  /** Hash: one record (`record` JSON, `source`, `replay`). */
  letter(id: string): string;
  /** Sorted set: record ids by the time they were written (ms). */
  readonly index: string;
  /** Set: the record ids of one run. */
  run(runId: string): string;
}


/** The hash tag of a key (Redis Cluster computes the key's slot from it), or the key itself when it has none. */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

export const NAMESPACE_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;

export function keys(namespace: string): Keys {
  if (!NAMESPACE_RE.test(namespace)) {
    throw new Error(`invalid namespace "${namespace}": use 1-32 of [a-z0-9_-], starting with a letter or digit`);
  }
  const ns = namespace;
  return {
    namespace: ns,
    bullPrefix: `{${ns}}`,
    runs: `${ns}:runs`,
    queues: `${ns}:queues`,
    cancelChannel: `${ns}:cancel`,
    finishedChannel: `${ns}:finished`,
    messageChannel: `${ns}:messages`,
    lockPrefix: `${ns}:lock`,
    deployment: `${ns}:deployment`,
    runners: `${ns}:runners`,
    leader: `${ns}:{scheduler}:leader`,
    leaderEpoch: `${ns}:{scheduler}:epoch`,
    deadLetters: deadLetterKeys(ns),
    deliveryDeadLetters: {
      letter(id: string): string {
        if (!DELIVERY_ID_RE.test(id)) throw new ValueError(`invalid delivery id ${JSON.stringify(id)}: expected 32 hex digits`);
        return `${ns}:dlq:{${ns}}:delivery:${id}`;
      },
      index: `${ns}:dlq:{${ns}}:deliveries`,
    },
    memo: { entries: `${ns}:memo:{${ns}}:entries`, index: `${ns}:memo:{${ns}}:index` },
  };
}

/** A dead letter's id: `<runId>.<itemId>` (a run id has no '.', so the first '.' splits it). */
export function deadLetterId(runId: string, itemId: string): string {
  return `${runId}.${itemId}`;
}

/** The run and item of a dead letter's id, or null when `id` is not one. */
export function parseDeadLetterId(id: string): { runId: string; itemId: string } | null {
  const dot = id.indexOf('.');
  if (dot <= 0) return null;
  const runId = id.slice(0, dot);
  const itemId = id.slice(dot + 1);
  return isRunId(runId) && isItemId(itemId) ? { runId, itemId } : null;
}

/** `id` as a dead letter's run and item; a `ValueError` naming the grammar when it is not one. */
export function assertDeadLetterId(id: string): { runId: string; itemId: string } {
  const parsed = parseDeadLetterId(id);
  if (!parsed) throw new ValueError(`invalid dead letter id ${JSON.stringify(id.slice(0, 200))}: expected <runId>.<itemId>`);
  return parsed;
}

function deadLetterKeys(ns: string): DeadLetterKeys {
  const prefix = `${ns}:dlq:{${ns}}:`;
  return {
    prefix,
    letter(id: string): string {
      // An id becomes a key: refuse anything outside the grammar, whatever the caller checked.
      assertDeadLetterId(id);
      return `${prefix}letter:${id}`;
    },
    index: `${prefix}index`,
    run(runId: string): string {
      if (!isRunId(runId)) throw new ValueError(`invalid run id ${JSON.stringify(runId)}`);
      return `${prefix}run:${runId}`;
    },
  };
}

/** Internal BullMQ queue names. Plan queues may not start with '_'. */
export const INBOX_QUEUE = '_inbox';

/** Internal BullMQ queue of webhook deliveries (result sinks, notifications). */
export const DELIVERIES_QUEUE = '_deliveries';
