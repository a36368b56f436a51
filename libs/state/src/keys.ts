import { INBOX_QUEUE, ValueError, isItemId, isRunId, keys, type Keys } from '@agora/core';

/**
 * A run's own keys. Built only here: the state library is the one package that names a run key
 * or a run-hash field (issue #14); every other package reads and writes runs through RunStore.
 * They share the hash tag `{<namespace>}` with the lock and BullMQ keys (libs/core keys.ts says
 * why), so an item's start and end scripts touch one Cluster slot.
 */
export interface RunKeys {
  /** Hash: the run record (state, counts, seq). */
  readonly meta: string;
  /** Hash: item id -> state. */
  readonly items: string;
  /** Hash: item id -> resultRef or error summary. */
  readonly results: string;
  /** Hash: item id -> number of dependencies not yet terminal. */
  readonly pending: string;
  /** Hash: item id -> comma-separated dependent item ids. */
  readonly dependents: string;
  /** Stream: the run's audit events, entry id `0-<seq+1>`. */
  readonly events: string;
  /** Hash: item id -> where its result came from when it did not execute (`reused`/`cached`, JSON). */
  readonly shortcuts: string;
  /** Hash: audit checkpoints and anchors. */
  readonly audit: string;
  /** Hash: item id -> when its runner closed its channel (its worker exited); cleared when it starts again. */
  readonly closedChannels: string;
  /**
   * Stream: the messages sent to one item (`agora send`), read by the runner running it. Bounded
   * (MAXLEN) and expiring (`CHANNEL_LIMITS`); the run's events record each message.
   */
  channel(itemId: string): string;
}

/** The namespace's keys (libs/core `keys`) with its runs' keys. */
export interface StateKeys extends Keys {
  run(runId: string): RunKeys;
  /**
   * String, expiring: the submission that claimed a run id (`RunStore.claimRunId`). Among the
   * inbox queue's keys, which a submitter's Redis user may write (its run keys it may only read);
   * `_claim` is no job id (a run id starts with a letter or digit) nor a BullMQ key name.
   */
  runIdClaim(runId: string): string;
}

export function stateKeys(namespace: string): StateKeys {
  const k = keys(namespace);
  const ns = k.namespace;
  return {
    ...k,
    runIdClaim(runId: string): string {
      if (!isRunId(runId)) throw new ValueError(`invalid run id ${JSON.stringify(runId)}`);
      return `${k.bullPrefix}:${INBOX_QUEUE}:_claim:${runId}`;
    },
    run(runId: string): RunKeys {
      // A run id becomes a key (and, through BullMQ job ids, more keys): refuse anything outside
      // the grammar here too, whatever the caller checked.
      if (!isRunId(runId)) throw new ValueError(`invalid run id ${JSON.stringify(runId)}`);
      const base = `${ns}:run:{${ns}}:${runId}`;
      return {
        meta: base,
        items: `${base}:items`,
        results: `${base}:results`,
        pending: `${base}:pending`,
        dependents: `${base}:dependents`,
        events: `${base}:events`,
        shortcuts: `${base}:shortcuts`,
        audit: `${base}:audit`,
        closedChannels: `${base}:channels-closed`,
        channel(itemId: string): string {
          if (!isItemId(itemId)) throw new ValueError(`invalid item id ${JSON.stringify(itemId)}`);
          return `${base}:channel:${itemId}`;
        },
      };
    },
  };
}
