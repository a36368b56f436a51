import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FlowProducer, Queue, type FlowJob } from 'bullmq';
import type { Redis } from 'ioredis';
import { keys, type AgoraEvent, type PlanInput } from '@agora/core';
import { AgoraClient } from '@agora/sdk';
import { RunStore } from '@agora/state';
import { CLI, RAW_WORKER, sleep, startNode, type Proc } from './procs.js';

export interface SystemOptions {
  readonly redisUrl: string;
  readonly redis: Redis;
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
    return new Ours(opts, client, new RunStore(opts.redis, opts.namespace), scheduler, runners, dir, env);
  }

  async addRunners(): Promise<void> {
    for (let i = 0; i < this.opts.runners; i++) {
      this.runners.push(await startNode(`runner-${i}`, [CLI, 'runner', '--concurrency', String(this.opts.concurrency)], { ...this.env, AGORA_LOG_LEVEL: 'info' }, /runner started/));
    }
  }

  submit(plan: PlanInput): Promise<string> {
    return this.client.submit(plan);
  }

  /** Polls the run hash (cheap) until the run is terminal; returns its state. */
  async waitRun(runId: string, timeoutMs = 900_000): Promise<string> {
    const k = keys(this.opts.namespace).run(runId).meta;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const st = await this.opts.redis.hget(k, 'state');
      if (st === 'succeeded' || st === 'failed' || st === 'cancelled' || st === 'rejected') return st;
      if (Date.now() > deadline) throw new Error(`run ${runId} still ${st} after ${timeoutMs} ms`);
      await sleep(10);
    }
  }

  async waitEnqueued(runId: string, timeoutMs = 600_000): Promise<void> {
    const k = keys(this.opts.namespace).run(runId).meta;
    const deadline = Date.now() + timeoutMs;
    while (!(await this.opts.redis.hget(k, 'enqueuedAt'))) {
      if (Date.now() > deadline) throw new Error(`run ${runId} not enqueued after ${timeoutMs} ms`);
      await sleep(10);
    }
  }

  events(runId: string): Promise<AgoraEvent[]> {
    return this.store.allEvents(runId);
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
    // removeOnComplete keeps memory flat; count completions from the metrics-free counter: the
    // "completed" events stream is trimmed, so poll the queue's job counts instead.
    for (;;) {
      const c = await this.queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
      if (Object.values(c).every((v) => v === 0)) return;
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
    for (;;) {
      if ((await tree.job.getState()) === 'completed') break;
      await sleep(2);
    }
    const ms = (performance.now() - t0) / depth;
    await producer.close();
    return ms;
  }

  rss(): number {
    return Math.max(0, ...this.workers.map((w) => w.peakRssMb()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
    await this.queue.close();
  }
}
