import { open, type FileHandle } from 'node:fs/promises';
import { coerceError, type Logger } from '@agora/core';
import { closeItemChannel, openItemChannel, readItemMessages, type RunStore } from '@agora/state';

/** An item's open channel: messages keep reaching its file until it is closed. */
export interface ItemChannel {
  /**
   * Once the worker has exited: refuses further messages (`send` says the item is ending), reads
   * what was sent until then into the file, stops delivery and closes the file.
   */
  close(): Promise<void>;
}

/**
 * Delivers the messages sent to running items (`agora send`) into their channel files, one JSON
 * line per message, in the order they were sent. One per runner. Costs nothing while no message
 * is sent: the runner's one pub/sub connection hears of each message (`notify`), and each item
 * pays one read of its channel stream when it starts (messages sent before it started).
 */
export interface ChannelHub {
  /**
   * Creates `file` and delivers the item's messages into it from the first: those sent so far at
   * once, later ones as they are sent. Only the file can fail this; a read Redis refuses is tried
   * again shortly (a message is delivered late, never lost).
   */
  open(runId: string, itemId: string, file: string): Promise<ItemChannel>;
  /** A message was sent to the item (the pub/sub message): read its channel if it is open here. */
  notify(runId: string, itemId: string): void;
  /** Reads every open channel again: after the pub/sub connection was lost, notices may be missing. */
  resync(): void;
}

/** Entries read per XREAD. */
const READ_BATCH = 100;
/** Wait before a failed read is tried again. */
const RETRY_MS = 1000;

interface OpenChannel {
  readonly runId: string;
  readonly itemId: string;
  readonly file: FileHandle;
  /** The last entry written to the file: reads go on after it, so no message is written twice. */
  lastId: string;
  /** Reads run one after another (a notice during a read queues one more). */
  chain: Promise<void>;
  retry: NodeJS.Timeout | undefined;
  closed: boolean;
}

export function createChannelHub(store: RunStore, logger: Logger): ChannelHub {
  const open_ = new Map<string, OpenChannel>();
  const keyOf = (runId: string, itemId: string): string => `${runId}\n${itemId}`;

  /** Appends every entry after `lastId` to the file. */
  async function drain(ch: OpenChannel): Promise<void> {
    for (;;) {
      if (ch.closed) return;
      const batch = await readItemMessages(store, ch.runId, ch.itemId, ch.lastId, { count: READ_BATCH });
      if (batch.length === 0 || ch.closed) return;
      // One write per batch: a worker tailing the file sees whole lines in order.
      await ch.file.appendFile(batch.map((e) => `${e.line}\n`).join(''));
      ch.lastId = batch[batch.length - 1]!.id;
      if (batch.length < READ_BATCH) return;
    }
  }

  function pull(ch: OpenChannel): Promise<void> {
    ch.chain = ch.chain.then(
      () => drain(ch),
      () => undefined,
    ).catch((err: unknown) => {
      logger.warn({ runId: ch.runId, itemId: ch.itemId, err: coerceError(err).message }, 'channel: could not read messages; trying again');
      if (!ch.closed && ch.retry === undefined) {
        ch.retry = setTimeout(() => {
          ch.retry = undefined;
          void pull(ch);
        }, RETRY_MS);
        ch.retry.unref();
      }
    });
    return ch.chain;
  }

  return {
    async open(runId, itemId, path) {
      // Truncated: every start delivers from the first message, so a file left by an earlier start
      // (its runner killed before it removed the work dir; runners of one host share the data dir)
      // must not keep the lines it had delivered, or the worker would read them twice.
      const file = await open(path, 'w', 0o644);
      const ch: OpenChannel = { runId, itemId, file, lastId: '0-0', chain: Promise.resolve(), retry: undefined, closed: false };
      // In the map before the first read: a notice that arrives meanwhile queues a second read.
      open_.set(keyOf(runId, itemId), ch);
      // Taken again (an earlier start of the item closed it), sent with the first read: one round
      // trip (a message sent before the open is in the stream the read covers, or was refused).
      await Promise.all([
        openItemChannel(store, runId, itemId).catch((err: unknown) => logger.warn({ runId, itemId, err: coerceError(err).message }, 'channel: could not open it for messages; sends are refused')),
        pull(ch),
      ]);
      let closing: Promise<void> | undefined;
      return {
        close() {
          closing ??= closeChannel(ch);
          return closing;
        },
      };
    },
    notify(runId, itemId) {
      const ch = open_.get(keyOf(runId, itemId));
      if (ch) void pull(ch);
    },
    resync() {
      for (const ch of open_.values()) void pull(ch);
    },
  };

  /**
   * Refuses messages from now on (the worker is gone: one taken after the last read would reach
   * no file, accepted and lost), then reads what was sent until then into the file and closes it.
   */
  async function closeChannel(ch: OpenChannel): Promise<void> {
    const { runId, itemId, file } = ch;
    try {
      await closeItemChannel(store, runId, itemId);
    } catch (err) {
      logger.warn({ runId, itemId, err: coerceError(err).message }, 'channel: could not close it; messages sent just now may not reach the file');
    }
    // The last read (a failed one is logged by pull).
    await pull(ch);
    ch.closed = true;
    if (open_.get(keyOf(runId, itemId)) === ch) open_.delete(keyOf(runId, itemId));
    clearTimeout(ch.retry);
    await ch.chain;
    await file.close().catch(() => undefined);
  }
}

/** The pub/sub message of a sent message (`<runId> <itemId>`), or null when it is not one. */
export function parseMessageNotice(text: string): { runId: string; itemId: string } | null {
  const sp = text.indexOf(' ');
  return sp > 0 ? { runId: text.slice(0, sp), itemId: text.slice(sp + 1) } : null;
}
