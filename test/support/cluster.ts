import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compileConfig, type AgoraConfig, type AgoraConfigInput } from '@agora/core';
import { createScheduler, type Scheduler } from '@agora/scheduler';
import { createRunner, type Executor, type Runner } from '@agora/runner';
import { AgoraClient } from '@agora/sdk';
import type { AgoraMetrics } from '@agora/metrics';
import type { AgoraTracing } from '@agora/tracing';
import { testRedisUrl, uniqueNamespace } from './index.js';

export interface TestCluster {
  readonly config: AgoraConfig;
  readonly client: AgoraClient;
  readonly scheduler: Scheduler;
  readonly runners: Runner[];
  readonly dataDir: string;
  close(): Promise<void>;
}

/** A scheduler and N in-process runners on a fresh namespace of the test Redis. */
export async function startCluster(
  opts: {
    config?: Partial<AgoraConfigInput>;
    /** A compiled config (e.g. an example's); namespace, Redis and data dir are replaced. */
    compiled?: AgoraConfig;
    dataDir?: string;
    /** A Redis of the test's own (default: the shared test Redis). */
    redisUrl?: string;
    runners?: number;
    concurrency?: number;
    executors?: Executor[];
    cpus?: number;
    /** Per runner (by index), its metrics; the scheduler's is `schedulerMetrics`. */
    metrics?: readonly AgoraMetrics[];
    schedulerMetrics?: AgoraMetrics;
    /** The scheduler's tracer (e.g. a `memory` one, to read the run spans it recorded). */
    schedulerTracing?: AgoraTracing;
  } = {},
): Promise<TestCluster> {
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'agora-test-'));
  const config: AgoraConfig = opts.compiled
    ? { ...opts.compiled, namespace: uniqueNamespace(), redisUrl: opts.redisUrl ?? testRedisUrl(), dataDir }
    : compileConfig({ namespace: uniqueNamespace(), ...opts.config, dataDir }, 'test', dataDir, { REDIS_URL: opts.redisUrl ?? testRedisUrl() });
  const scheduler = await createScheduler({ config, logger: silent, ...(opts.schedulerMetrics ? { metrics: opts.schedulerMetrics } : {}), ...(opts.schedulerTracing ? { tracing: opts.schedulerTracing } : {}), executors: ['noop', 'dispatch', ...(opts.executors ?? []).map((e) => e.name)] });
  const runners: Runner[] = [];
  for (let i = 0; i < (opts.runners ?? 2); i++) {
    runners.push(
      await createRunner({
        config,
        logger: silent,
        runnerId: `runner-${i}`,
        cpus: opts.cpus ?? 64,
        ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
        ...(opts.executors ? { executors: opts.executors } : {}),
        ...(opts.metrics?.[i] ? { metrics: opts.metrics[i] } : {}),
      }),
    );
  }
  const client = new AgoraClient({ redisUrl: config.redisUrl, namespace: config.namespace, validate: { executors: ['noop', 'dispatch', ...(opts.executors ?? []).map((e) => e.name)] } });
  return {
    config,
    client,
    scheduler,
    runners,
    dataDir,
    async close() {
      await client.close();
      await Promise.all(runners.map((r) => r.close({ graceMs: 2000 })));
      await scheduler.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** An executor (`hold`) that holds every item it runs until the test opens it (then runs later items straight through). */
export function holdExecutor(): { executor: Executor; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { executor: { name: 'hold', execute: async () => (await opened, { output: 'held' }) }, open };
}

/** Watches a run to its end: its final state and the runners its items started on. */
export async function runnersThatRan(client: Pick<AgoraClient, 'watch'>, runId: string): Promise<{ end: string | undefined; runners: Set<string> }> {
  const runners = new Set<string>();
  let end: string | undefined;
  for await (const e of client.watch(runId)) {
    if (e.type === 'item' && e.state === 'running') runners.add(e.runner);
    if (e.type === 'run' && (e.state === 'succeeded' || e.state === 'failed' || e.state === 'cancelled')) end = e.state;
  }
  return { end, runners };
}
