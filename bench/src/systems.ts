import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FlowProducer, Queue, type FlowJob } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AgoraEvent, PlanInput } from '@agora/core';
import { AgoraClient } from '@agora/sdk';
import { RunStore } from '@agora/state';
import type { CostProcs } from './cost.js';
import { CLI, RAW_WORKER, sleep, startNode, type Proc } from './procs.js';

export interface SystemOptions {
  readonly redisUrl: string;
  readonly redis: Redis;
  /**
   * The harness's watching connection (polls, event reads, INFO): its commands are excluded from
   * the systems' command counts, so every wait goes through it, never through `redis`.
   */
  readonly probe: Redis;
  readonly namespace: string;
  readonly runners: number;
  /** Per runner (and per raw worker) process. */
  readonly concurrency: number;
  /** Start runners (false: measure a plan waiting in Redis). @default true */
  readonly startRunners?: boolean;
}

/** Our system: `agora serve` plus N `agora runner` processes, driven through the SDK. */
export class Ours {
  private constructor(
    readonly opts: SystemOptions,
    readonly client: AgoraClient,
    /** Reads through the probe connection (not counted as our system's commands). */
    readonly store: RunStore,
    readonly scheduler: Proc,
    readonly runners: Proc[],
    private readonly dir: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  static async start(opts: SystemOptions): Promise<Ours> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-bench-'));
    const total = opts.runners * opts.concurrency;
    const config = path.join(dir, 'agora.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        namespace: opts.namespace,
        queues: { bench: { concurrency: total } },
        runner: { concurrency: opts.concurrency, keepCompleted: 1000, keepFailed: 1000 },
      }),
    );
    const env = {
      ...process.env,
      REDIS_URL: opts.redisUrl,
      AGORA_CONFIG: config,
      AGORA_DATA_DIR: path.join(dir, 'data'),
      AGORA_LOG_LEVEL: 'warn',
      // The seed-002 cap is max(1, min(cpus, configured)); for no-op items the CPU count is not
      // the limit, and raw BullMQ gets the same per-process concurrency, so lift the cap alike.
      AGORA_CPUS: String(opts.concurrency),
    };
    const prof = process.env['BENCH_PROF_DIR'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_PROF_DIR']}`] : [];
    const scheduler = await startNode('scheduler', [...prof, CLI, 'serve'], { ...env, AGORA_LOG_LEVEL: 'info' }, /scheduler serving/);
    const runners: Proc[] = [];
    if (opts.startRunners !== false) {
      for (let i = 0; i < opts.runners; i++) {
        runners.push(await startNode(`runner-${i}`, [...prof, CLI, 'runner', '--concurrency', String(opts.concurrency)], { ...env, AGORA_LOG_LEVEL: 'info' }, /runner started/));
      }
    }
    const client = new AgoraClient({ redis: opts.redis, namespace: opts.namespace });
    return new Ours(opts, client, new RunStore(opts.probe, opts.namespace), scheduler, runners, dir, env);
  }

  async addRunners(): Promise<void> {
    for (let i = 0; i < this.opts.runners; i++) {
      this.runners.push(await startNode(`runner-${i}`, [CLI, 'runner', '--concurrency', String(this.opts.concurrency)], { ...this.env, AGORA_LOG_LEVEL: 'info' }, /runner started/));
    }
  }

  submit(plan: PlanInput): Promise<string> {
    return this.client.submit(plan);
  }

  /** Polls the run state (one HGET) until the run is terminal; returns its state. */
  async waitRun(runId: string, timeoutMs = 900_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const st = await this.store.runState(runId);
      if (st === 'succeeded' || st === 'failed' || st === 'cancelled' || st === 'rejected') return st;
      if (Date.now() > deadline) throw new Error(`run ${runId} still ${st} after ${timeoutMs} ms`);
      await sleep(10);
    }
  }

  async waitEnqueued(runId: string, timeoutMs = 600_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await this.store.getRun(runId, { items: false }))?.enqueuedAt === undefined) {
      if (Date.now() > deadline) throw new Error(`run ${runId} not enqueued after ${timeoutMs} ms`);
      await sleep(10);
    }
  }

  events(runId: string): Promise<AgoraEvent[]> {
    return this.store.allEvents(runId);
  }

  costProcs(): CostProcs {
    return { runners: this.runners, scheduler: this.scheduler };
  }

  /**
   * `n` one-item plans, one after another: each submitted, then its item's `running` event
   * awaited (a blocking read of the run's event stream) before the next. Per plan: from `submit`
   * returning to the `at` of the item's running event, i.e. when the runner recorded the start
   * (runner and harness share this machine's clock; `at` has ms resolution, so does `Date.now()`
   * here), and, for comparison, to when a watcher blocked on the stream received it. Waits for
   * every run to end before returning (their completion is part of the measured cost).
   */
  async startLatency(n: number): Promise<{ started: number[]; observed: number[] }> {
    const started: number[] = [];
    const observed: number[] = [];
    const runIds: string[] = [];
    for (let i = 0; i < n; i++) {
      const runId = await this.submit({ id: 'start', queue: 'bench', items: [{ id: 's', executor: 'noop', inputs: {}, depends_on: [] }] });
      const t0 = Date.now();
      runIds.push(runId);
      let from = 0;
      const deadline = t0 + 60_000;
      for (;;) {
        const batch = await this.store.readEvents(runId, from, { blockMs: 1000, client: this.opts.probe });
        const seenAt = Date.now();
        const running = batch.find((e) => e.type === 'item' && e.state === 'running');
        if (running) {
          started.push(Date.parse(running.at) - t0);
          observed.push(seenAt - t0);
          break;
        }
        if (batch.some((e) => e.type === 'run' && (e.state === 'failed' || e.state === 'rejected' || e.state === 'cancelled'))) {
          throw new Error(`start-latency run ${runId} ended without running: ${JSON.stringify(batch)}`);
        }
        if (batch.length > 0) from = batch[batch.length - 1]!.seq + 1;
        if (Date.now() > deadline) throw new Error(`start-latency run ${runId}: no running event within 60 s`);
      }
    }
    for (const runId of runIds) {
      const st = await this.waitRun(runId);
      if (st !== 'succeeded') throw new Error(`start-latency run ${runId} ended ${st}`);
    }
    return { started, observed };
  }

  rss(): { scheduler: number; runner: number } {
    return { scheduler: this.scheduler.peakRssMb(), runner: Math.max(0, ...this.runners.map((r) => r.peakRssMb())) };
  }

  async stop(): Promise<void> {
    await Promise.all(this.runners.map((r) => r.stop()));
    await this.scheduler.stop();
    await this.client.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Raw BullMQ on the same Redis: N worker processes with the same concurrency, a no-op processor. */
export class Raw {
  private constructor(
    readonly opts: SystemOptions,
    readonly prefix: string,
    readonly queue: Queue,
    readonly workers: Proc[],
  ) {}

  static async start(opts: SystemOptions): Promise<Raw> {
    const prefix = `{${opts.namespace}}`;
    const queue = new Queue('raw', { connection: opts.redis, prefix });
    const workers: Proc[] = [];
    for (let i = 0; i < opts.runners; i++) {
      workers.push(await startNode(`raw-${i}`, [RAW_WORKER, opts.redisUrl, prefix, 'raw', String(opts.concurrency)], process.env, /raw worker ready/));
    }
    return new Raw(opts, prefix, queue, workers);
  }

  costProcs(): CostProcs {
    return { runners: this.workers };
  }

  /** Adds n independent jobs with addBulk and waits until all completed; returns seconds. */
  async independent(n: number): Promise<number> {
    const t0 = performance.now();
    for (let i = 0; i < n; i += 1000) {
      const batch = Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({ name: 'job', data: { i: i + k }, opts: { removeOnComplete: 1000 } }));
      await this.queue.addBulk(batch);
    }
    await this.waitCompleted(n);
    return (performance.now() - t0) / 1000;
  }

  private async waitCompleted(n: number): Promise<void> {
    // removeOnComplete keeps memory flat and the "completed" events stream is trimmed, so poll
    // the queue's lists instead, with plain commands on the probe (getJobCounts is a script, whose
    // inner calls would blur the server-side cross-check of the command count).
    const probe = this.opts.probe;
    for (;;) {
      const res = await probe
        .pipeline()
        .llen(this.queue.toKey('wait'))
        .llen(this.queue.toKey('active'))
        .zcard(this.queue.toKey('delayed'))
        .zcard(this.queue.toKey('prioritized'))
        .zcard(this.queue.toKey('waiting-children'))
        .exec();
      if ((res ?? []).every(([err, v]) => err === null && Number(v) === 0)) return;
      await sleep(10);
    }
    void n;
  }

  /** A `depth`-deep BullMQ flow (each job the only child of the next); returns ms per hop. */
  async chain(depth: number): Promise<number> {
    const producer = new FlowProducer({ connection: this.opts.redis, prefix: this.prefix });
    let node: FlowJob | undefined;
    for (let i = 0; i < depth; i++) {
      node = { name: `c${i}`, queueName: 'raw', data: {}, ...(node ? { children: [node] } : {}) };
    }
    const t0 = performance.now();
    const tree = await producer.add(node!);
    const completed = this.queue.toKey('completed');
    for (;;) {
      if ((await this.opts.probe.zscore(completed, tree.job.id!)) !== null) break;
      await sleep(2);
    }
    const ms = (performance.now() - t0) / depth;
    await producer.close();
    return ms;
  }

  /**
   * Raw BullMQ's add-to-active time: `n` jobs, one after another, each `Queue.add`ed and its
   * completion awaited (a blocking read of the queue's events stream) before the next. Per job:
   * from `add` returning to the worker's processor starting, the processor's own timestamp
   * (`performance.timeOrigin + performance.now()`, sub-ms, same machine clock as here) returned
   * as the job's result.
   */
  async startLatency(n: number): Promise<number[]> {
    const probe = this.opts.probe;
    const eventsKey = this.queue.toKey('events');
    const last = (await probe.xrevrange(eventsKey, '+', '-', 'COUNT', 1))[0];
    let lastId = last ? last[0] : '0-0';
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const job = await this.queue.add('start', { i }, { removeOnComplete: 1000 });
      const t0 = performance.timeOrigin + performance.now();
      const deadline = Date.now() + 60_000;
      let startedAt: number | undefined;
      while (startedAt === undefined) {
        const res = await probe.xread('COUNT', 100, 'BLOCK', 1000, 'STREAMS', eventsKey, lastId);
        for (const [, entries] of res ?? []) {
          for (const [id, fields] of entries) {
            lastId = id;
            const f = new Map<string, string>();
            for (let k = 0; k + 1 < fields.length; k += 2) f.set(fields[k]!, fields[k + 1]!);
            if (f.get('event') === 'completed' && f.get('jobId') === job.id) {
              startedAt = (JSON.parse(f.get('returnvalue') ?? '{}') as { startedAt?: number }).startedAt;
              if (startedAt === undefined) throw new Error(`raw job ${job.id} returned no startedAt`);
            }
          }
        }
        if (startedAt === undefined && Date.now() > deadline) throw new Error(`raw job ${job.id} not completed within 60 s`);
      }
      out.push(startedAt - t0);
    }
    return out;
  }

  rss(): number {
    return Math.max(0, ...this.workers.map((w) => w.peakRssMb()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
    await this.queue.close();
  }
}
