import { isTerminalRunState, type AgoraEvent, type Logger } from '@agora/core';
import { isRedisCluster, type RedisClient, type RunStore } from '@agora/state';

export interface RunEventHubOptions {
  /** The dashboard's command connection; the hub duplicates it once for its blocking reader. */
  readonly redis: RedisClient;
  readonly store: RunStore;
  readonly logger: Logger;
  /** Longest one blocking read waits before the watched set is read again. @default 1000 */
  readonly blockMs?: number;
  /** Events read per run per round. @default 500 */
  readonly batch?: number;
  /** On a Redis Cluster: how long the reader waits between rounds that found nothing. @default 200 */
  readonly pollMs?: number;
}

/**
 * Every run's events for every SSE client of this process, over one Redis connection: one
 * `XREAD BLOCK` on all watched runs' streams tells which runs have news, and each such run is
 * read once for all of its watchers. The SDK's `watch` duplicates a connection per watcher
 * (300 SSE clients were 300 Redis connections).
 *
 * On a Redis Cluster one XREAD may name only streams of one hash slot, and every run has a slot
 * of its own (`{runId}`), so there the reader polls instead: each round reads every watched run
 * without blocking (one command per run, sent together), and sleeps `pollMs` after a round that
 * found nothing. A new watcher ends the sleep. Events reach SSE clients up to `pollMs` later.
 */
export interface RunEventHub {
  /**
   * The run's events from `fromSeq`, in seq order; ends after the run's terminal event (at once
   * when `fromSeq` is already past the end of a finished run) or when `signal` aborts.
   */
  watch(runId: string, fromSeq: number, signal: AbortSignal): AsyncGenerator<AgoraEvent>;
  /** Watchers following live events now. */
  readonly size: number;
  close(): Promise<void>;
}

interface Watcher {
  /** The next seq this watcher needs. */
  next: number;
  readonly pending: AgoraEvent[];
  wake: () => void;
}

const isEnd = (e: AgoraEvent): boolean => e.type === 'run' && isTerminalRunState(e.state);

export function createRunEventHub(opts: RunEventHubOptions): RunEventHub {
  const { store, logger } = opts;
  const blockMs = opts.blockMs ?? 1000;
  const batch = opts.batch ?? 500;
  const pollMs = opts.pollMs ?? 200;
  const cluster = isRedisCluster(opts.redis);
  const watchers = new Map<string, Set<Watcher>>();
  // On a cluster the reader never blocks: the command connection does (see above).
  const reader = cluster ? opts.redis : opts.redis.duplicate();
  let readerId: number | undefined;
  // Redis gives a connection a new id on every reconnect; CLIENT UNBLOCK needs the current one.
  const learnId = (): void => {
    reader.client('ID').then(
      (id) => (readerId = Number(id)),
      () => (readerId = undefined),
    );
  };
  if (!cluster) {
    reader.on('ready', learnId);
    // duplicate() copies options, not listeners. Only the message: the error object of a failed
    // AUTH carries the command and with it the password.
    reader.on('error', (err: Error) => logger.warn({ err: err.message }, 'run event reader: Redis connection error'));
  }
  let closed = false;
  /** Runs in the read that is blocking now; a watcher of any other run cuts that read short. */
  let blockingOn: ReadonlySet<string> = new Set();
  let idle: (() => void) | undefined;

  /**
   * A new run to watch: end the current blocking read so the next one includes it. Best effort
   * (CLIENT UNBLOCK may be denied by an ACL): without it the run joins within `blockMs`.
   */
  function rearm(runId: string): void {
    idle?.();
    if (cluster || blockingOn.has(runId) || readerId === undefined) return;
    opts.redis.client('UNBLOCK', readerId).catch(() => undefined);
  }

  async function deliver(runId: string): Promise<void> {
    const set = watchers.get(runId);
    if (!set || set.size === 0) return;
    const from = Math.min(...[...set].map((w) => w.next));
    const events = await store.readEvents(runId, from, { count: batch });
    for (const w of set) {
      let added = false;
      for (const e of events) {
        if (e.seq < w.next) continue;
        w.pending.push(e);
        w.next = e.seq + 1;
        added = true;
      }
      if (added) w.wake();
    }
  }

  /** One round on a cluster: which watched runs have news (one XREAD per run's slot), each delivered; else a sleep. */
  async function pollRound(): Promise<void> {
    const runs = [...watchers.keys()];
    const news = await Promise.all(
      runs.map(async (r) => {
        const from = Math.min(...[...(watchers.get(r) ?? [])].map((w) => w.next));
        if (!Number.isFinite(from)) return false;
        const res = await reader.xread('COUNT', 1, 'STREAMS', store.keys.run(r).events, `0-${from}`);
        return res !== null && res.length > 0;
      }),
    );
    for (let i = 0; i < runs.length; i++) if (news[i]) await deliver(runs[i]!);
    if (news.some(Boolean) || closed) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((r) => {
      idle = r;
      timer = setTimeout(r, pollMs);
    });
    clearTimeout(timer);
    idle = undefined;
  }

  async function loop(): Promise<void> {
    let backoffMs = 100;
    while (!closed) {
      if (watchers.size === 0) {
        await new Promise<void>((r) => (idle = r));
        idle = undefined;
        continue;
      }
      if (cluster) {
        try {
          await pollRound();
          backoffMs = 100;
        } catch (err) {
          if (closed) return;
          logger.warn({ err: (err as Error).message, retryInMs: backoffMs }, 'run event reader failed');
          await new Promise((r) => setTimeout(r, backoffMs));
          backoffMs = Math.min(backoffMs * 2, 5000);
        }
        continue;
      }
      const runs = [...watchers.keys()];
      const streams = runs.map((r) => store.keys.run(r).events);
      // Entry ids are `0-<seq+1>`: XREAD returns entries after the id given, so `0-<next>` starts at `next`.
      const ids = runs.map((r) => `0-${Math.min(...[...watchers.get(r)!].map((w) => w.next))}`);
      try {
        blockingOn = new Set(runs);
        const res = await reader.xread('COUNT', 1, 'BLOCK', blockMs, 'STREAMS', ...streams, ...ids);
        blockingOn = new Set();
        if (res) {
          for (const [key] of res) {
            const i = streams.indexOf(key);
            if (i >= 0) await deliver(runs[i]!);
          }
        }
        backoffMs = 100;
      } catch (err) {
        blockingOn = new Set();
        if (closed) return;
        logger.warn({ err: (err as Error).message, retryInMs: backoffMs }, 'run event reader failed');
        await new Promise((r) => setTimeout(r, backoffMs));
        backoffMs = Math.min(backoffMs * 2, 5000);
      }
    }
  }
  const running = loop();

  async function* watch(runId: string, fromSeq: number, signal: AbortSignal): AsyncGenerator<AgoraEvent> {
    let next = fromSeq;
    // Catch up on the command connection (non-blocking reads), so a client resuming far back
    // does not make the shared reader re-read history for the live watchers of the same run.
    for (;;) {
      if (signal.aborted || closed) return;
      const events = await store.readEvents(runId, next, { count: batch });
      if (events.length === 0) break;
      for (const e of events) {
        yield e;
        next = e.seq + 1;
        if (isEnd(e)) return;
      }
    }
    // A finished run whose terminal event lies before `fromSeq`: nothing more will come.
    const run = await store.getRun(runId);
    if (run && isTerminalRunState(run.state) && next >= run.events) return;

    let wake = (): void => undefined;
    const w: Watcher = { next, pending: [], wake: () => wake() };
    const onAbort = (): void => w.wake();
    signal.addEventListener('abort', onAbort, { once: true });
    let set = watchers.get(runId);
    if (!set) watchers.set(runId, (set = new Set()));
    set.add(w);
    rearm(runId);
    try {
      for (;;) {
        if (signal.aborted || closed) return;
        const e = w.pending.shift();
        if (e === undefined) {
          await new Promise<void>((r) => (wake = r));
          continue;
        }
        yield e;
        if (isEnd(e)) return;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      set.delete(w);
      if (set.size === 0 && watchers.get(runId) === set) watchers.delete(runId);
    }
  }

  return {
    watch,
    get size() {
      let n = 0;
      for (const s of watchers.values()) n += s.size;
      return n;
    },
    async close() {
      closed = true;
      idle?.();
      for (const s of watchers.values()) for (const w of s) w.wake();
      if (!cluster) reader.disconnect();
      await running;
    },
  };
}
