import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** BullMQ job states reported by `agora_queue_jobs` (BullMQ 5 counts a paused queue's jobs as waiting: no paused state). */
export const QUEUE_JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const;

/** Queue depth per state, as a collect-time source returns it. */
export type QueueJobCounts = ReadonlyArray<{ readonly queue: string; readonly counts: Readonly<Record<string, number>> }>;

/** Waiters per lock, as a collect-time source returns it. */
export type LockWaiterCounts = ReadonlyArray<{ readonly lock: string; readonly waiters: number }>;

/**
 * Collect-time gauges ask their source on each scrape, never on the item path. A source that
 * fails or takes longer than this leaves the gauge empty for that scrape rather than failing it.
 */
const SOURCE_TIMEOUT_MS = 1500;

/** At most this many locks are reported by `agora_lock_waiters` (the ones with most waiters): label cardinality stays bounded. */
export const MAX_LOCK_SERIES = 100;

/** Buckets in seconds for item durations and waits: 5 ms to 30 min. */
const ITEM_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800];

/**
 * Every Agora metric, on one registry. A process owns one instance (and a runner or scheduler
 * built in-process gets its own unless given one), so several runners in a test never share a
 * series. Only counters and histograms are touched per item; the gauges that need Redis
 * (`agora_queue_jobs`, `agora_lock_waiters`) read their sources when scraped.
 */
export interface AgoraMetrics {
  readonly registry: Registry;
  /** `agora_items_total{state,queue}`: items ended by this process, by end state. */
  readonly itemsEnded: Counter<'state' | 'queue'>;
  /** `agora_items_started_total{queue}`: item starts (a retried item starts again). */
  readonly itemsStarted: Counter<'queue'>;
  /** `agora_item_duration_seconds{state,queue}`: start to end of an item's attempt that ended it. */
  readonly itemDuration: Histogram<'state' | 'queue'>;
  /** `agora_item_queue_wait_seconds{queue}`: the job's creation to the item's first start. */
  readonly itemQueueWait: Histogram<'queue'>;
  /** `agora_lock_wait_seconds`: first refusal to acquisition of an item's resource locks (0 when free at once). */
  readonly lockWait: Histogram;
  /** `agora_fenced_total`: results refused for a stale fencing token. */
  readonly fenced: Counter;
  /** `agora_lock_leases_lost_total`: lock leases lost while an item ran. */
  readonly leasesLost: Counter;
  /** `agora_retries_total{reason}`: attempts that will be retried. */
  readonly retries: Counter<'reason'>;
  /** `agora_runs_total{state}`: runs accepted, rejected and ended (succeeded, failed, cancelled) as the scheduler saw them. */
  readonly runs: Counter<'state'>;
  /** `agora_events_appended_total`: events this process's steps appended to run streams. */
  readonly eventsAppended: Counter;
  /** `agora_runs_sealed_total`: runs this process sealed. */
  readonly runsSealed: Counter;
  /** `agora_runner_slots{kind}`: `busy` items running now, `total` slots. */
  readonly runnerSlots: Gauge<'kind'>;
  /** `agora_dead_letters_total{queue}`: dead-letter records this process wrote (new ones only). */
  readonly deadLetters: Counter<'queue'>;
  /** `agora_deliveries_total{kind,outcome}`: webhook delivery tries of results and notifications (`delivered`, `retried`, `dead`). */
  readonly deliveries: Counter<'kind' | 'outcome'>;
  /** `agora_items_not_executed_total{kind,queue}`: items this process ended `done` without executing them: `reused` (a rerun) or `cached` (memoize). */
  readonly itemsNotExecuted: Counter<'kind' | 'queue'>;
  /** Sets the source of `agora_queue_jobs{queue,state}` (BullMQ job counts, read on scrape). */
  observeQueueJobs(source: () => Promise<QueueJobCounts>): void;
  /** Sets the source of `agora_lock_waiters{lock}` (read on scrape; the top MAX_LOCK_SERIES locks). */
  observeLockWaiters(source: () => Promise<LockWaiterCounts>): void;
}

async function withinTimeout<T>(p: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), SOURCE_TIMEOUT_MS)));
  try {
    return await Promise.race([p.catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The label values each labelled counter can take (the README's metrics table). Their series are
 * made at 0 when the metrics are created, so every process shows every counter (a runner's on
 * `serve`, a failure count before the first failure) rather than a bare TYPE line: a dashboard
 * or an alert on `rate(...)` sees a series from the first scrape. `reason` is libs/core's
 * RETRY_REASONS (a test checks they agree; this library depends on prom-client only).
 */
export const COUNTER_LABEL_VALUES = {
  itemStates: ['done', 'failed', 'cancelled', 'skipped'],
  runStates: ['accepted', 'rejected', 'succeeded', 'failed', 'cancelled'],
  retryReasons: ['infra', 'app', 'timeout', 'lock_lost', 'fenced'],
  deliveryKinds: ['result', 'notification'],
  deliveryOutcomes: ['delivered', 'retried', 'dead'],
  notExecutedKinds: ['reused', 'cached'],
} as const;

export interface AgoraMetricsOptions {
  /** The queues this process works on: their `queue`-labelled counters start at 0. @default none */
  readonly queues?: readonly string[];
}

/** Creates the metrics on `registry` (default: a new private one). */
export function createAgoraMetrics(registry: Registry = new Registry(), opts: AgoraMetricsOptions = {}): AgoraMetrics {
  const registers = [registry];
  let queueJobs: (() => Promise<QueueJobCounts>) | undefined;
  let lockWaiters: (() => Promise<LockWaiterCounts>) | undefined;
  new Gauge({
    name: 'agora_queue_jobs',
    help: 'Jobs in each BullMQ queue by state, read when scraped',
    labelNames: ['queue', 'state'],
    registers,
    async collect() {
      this.reset();
      const counts = queueJobs ? await withinTimeout(queueJobs()) : undefined;
      for (const q of counts ?? []) for (const [state, n] of Object.entries(q.counts)) this.set({ queue: q.queue, state }, n);
    },
  });
  new Gauge({
    name: 'agora_lock_waiters',
    help: `Items waiting for each resource lock, read when scraped (the ${MAX_LOCK_SERIES} locks with most waiters)`,
    labelNames: ['lock'],
    registers,
    async collect() {
      this.reset();
      const locks = lockWaiters ? await withinTimeout(lockWaiters()) : undefined;
      const top = [...(locks ?? [])].sort((a, b) => b.waiters - a.waiters).slice(0, MAX_LOCK_SERIES);
      for (const l of top) this.set({ lock: l.lock }, l.waiters);
    },
  });
  const metrics: AgoraMetrics = {
    registry,
    itemsEnded: new Counter({ name: 'agora_items_total', help: 'Items ended, by end state and queue', labelNames: ['state', 'queue'], registers }),
    itemsStarted: new Counter({ name: 'agora_items_started_total', help: 'Item starts (each attempt), by queue', labelNames: ['queue'], registers }),
    itemDuration: new Histogram({ name: 'agora_item_duration_seconds', help: 'Start to end of the attempt that ended an item', labelNames: ['state', 'queue'], buckets: ITEM_BUCKETS, registers }),
    itemQueueWait: new Histogram({ name: 'agora_item_queue_wait_seconds', help: "An item job's creation to the item's first start", labelNames: ['queue'], buckets: ITEM_BUCKETS, registers }),
    lockWait: new Histogram({ name: 'agora_lock_wait_seconds', help: "First refusal to acquisition of an item's resource locks (0 when free at once)", buckets: ITEM_BUCKETS, registers }),
    fenced: new Counter({ name: 'agora_fenced_total', help: 'Results refused for a stale fencing token', registers }),
    leasesLost: new Counter({ name: 'agora_lock_leases_lost_total', help: 'Resource lock leases lost while an item ran', registers }),
    retries: new Counter({ name: 'agora_retries_total', help: 'Item attempts that will be retried, by reason', labelNames: ['reason'], registers }),
    runs: new Counter({ name: 'agora_runs_total', help: 'Runs accepted, rejected and ended, by state', labelNames: ['state'], registers }),
    eventsAppended: new Counter({ name: 'agora_events_appended_total', help: "Events this process's steps appended to run streams", registers }),
    runsSealed: new Counter({ name: 'agora_runs_sealed_total', help: 'Runs sealed by this process', registers }),
    runnerSlots: new Gauge({ name: 'agora_runner_slots', help: 'Runner item slots: busy now, and total', labelNames: ['kind'], registers }),
    deadLetters: new Counter({ name: 'agora_dead_letters_total', help: 'Dead-letter records written (items that failed for good), by queue', labelNames: ['queue'], registers }),
    deliveries: new Counter({ name: 'agora_deliveries_total', help: 'Webhook delivery tries (result sinks, notifications), by kind and outcome', labelNames: ['kind', 'outcome'], registers }),
    itemsNotExecuted: new Counter({ name: 'agora_items_not_executed_total', help: 'Items ended done without executing: reused (a rerun) or cached (memoize), by queue', labelNames: ['kind', 'queue'], registers }),
    observeQueueJobs(source) {
      queueJobs = source;
    },
    observeLockWaiters(source) {
      lockWaiters = source;
    },
  };
  const v = COUNTER_LABEL_VALUES;
  for (const state of v.runStates) metrics.runs.inc({ state }, 0);
  for (const reason of v.retryReasons) metrics.retries.inc({ reason }, 0);
  for (const kind of v.deliveryKinds) for (const outcome of v.deliveryOutcomes) metrics.deliveries.inc({ kind, outcome }, 0);
  for (const queue of new Set(opts.queues ?? [])) {
    for (const state of v.itemStates) metrics.itemsEnded.inc({ state, queue }, 0);
    metrics.itemsStarted.inc({ queue }, 0);
    metrics.deadLetters.inc({ queue }, 0);
    for (const kind of v.notExecutedKinds) metrics.itemsNotExecuted.inc({ kind, queue }, 0);
  }
  return metrics;
}
