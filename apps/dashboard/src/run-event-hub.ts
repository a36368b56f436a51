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
 * On a Redis Cluster one XREAD may name only streams of one hash slot, and the reader cannot
 * tell which node's connection to CLIENT UNBLOCK. There the watched streams are grouped by hash
 * tag: one group (run keys carry `{<namespace>}`: every run of a deployment) is read with a
 * blocking XREAD of at most `pollMs`, so a newly watched run joins within `pollMs`; several
 * groups (a key layout that tags runs apart) are read without blocking, one XREAD per group sent
 * together, with a `pollMs` sleep after a round that found nothing (a new watcher ends it).
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
  const reader = opts.redis.duplicate();
  let readerId: number | undefined;
  // Redis gives a connection a new id on every reconnect; CLIENT UNBLOCK needs the current one.
  const learnId = (): void => {
    reader.client('ID').then(
      (id) => (readerId = Number(id)),
      () => (readerId = undefined),
    );
  };
  // On a cluster CLIENT ID would be answered by whichever node the client picks.
  if (!cluster) reader.on('ready', learnId);
  // duplicate() copies options, not listeners. Only the message: the error object of a failed
  // AUTH carries the command and with it the password.
  reader.on('error', (err: Error) => logger.warn({ err: err.message }, 'run event reader: Redis connection error'));
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

  /** The next seq the watchers of `runId` need (Infinity when it has none left). */
  const nextOf = (runId: string): number => Math.min(...[...(watchers.get(runId) ?? [])].map((w) => w.next));

  /** One round on a cluster: one XREAD per hash tag of the watched streams (see above); the runs with news delivered. */
  async function clusterRound(): Promise<void> {
    const groups = new Map<string, string[]>();
    for (const runId of watchers.keys()) {
      if (!Number.isFinite(nextOf(runId))) continue;
      const tag = store.eventShard(runId);
      const g = groups.get(tag);
      if (g) g.push(runId);
      else groups.set(tag, [runId]);
    }
    const block = groups.size === 1;
    const found = await Promise.all(
      [...groups.values()].map((runs) =>
        store.runsWithNewEvents(
          runs.map((r) => [r, nextOf(r)] as const),
          { client: reader, ...(block ? { blockMs: pollMs } : {}) },
        ),
      ),
    );
    const news = found.flat();
    for (const runId of news) await deliver(runId);
    if (news.length > 0 || block || closed) return;
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
          await clusterRound();
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
      try {
        blockingOn = new Set(runs);
        const news = await store.runsWithNewEvents(runs.map((r) => [r, nextOf(r)] as const), { client: reader, blockMs });
        blockingOn = new Set();
        for (const runId of news) await deliver(runId);
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
    // Asked to start past the stream's end: follow from the end, yielding nothing below `fromSeq`,
    // so a run that ends first (its terminal event below `fromSeq`) still ends the stream.
    const skipBelow = next;
    if (run && next > run.events) next = run.events;

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
        if (e.seq >= skipBelow) yield e;
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
      reader.disconnect();
      await running;
    },
  };
}
