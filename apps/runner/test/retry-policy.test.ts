import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itemJobId, keys, type AgoraEvent, type PlanInput } from '@agora/core';
import { createRedis } from '@agora/state';
import { registerTask } from '@agora/registry';
import { LocalStorageProvider } from '@agora/storage-local';
import { startCluster, type TestCluster } from '../../../test/support/cluster.js';
import { testRedisUrl } from '../../../test/support/index.js';

/**
 * Retry policies against real parts: a scheduler and a runner on the test Redis, `dispatch`
 * items run by the process provider. The worker's behaviour is controlled by files: it counts
 * its starts in a counter file and fails (exit 1, or sleeps when asked) while the count is at most
 * `fails`, then succeeds.
 */
const WORKER = `
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
const input = JSON.parse(readFileSync(process.env.AGORA_WORKER_INPUT_FILE, 'utf8'));
const n = (existsSync(input.counter) ? Number(readFileSync(input.counter, 'utf8')) : 0) + 1;
writeFileSync(input.counter, String(n));
if (n <= input.fails) {
  if (input.sleepMs) {
    writeFileSync(input.counter + '.pid', String(process.pid));
    await new Promise((r) => setTimeout(r, input.sleepMs));
  }
  process.stderr.write('failing try ' + n + '\\n');
  process.exit(1);
}
process.stdout.write('ok after ' + n);
`;

const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-retry-'));
const script = path.join(dir, 'worker.mjs');
const redis = createRedis(testRedisUrl());
let cluster: TestCluster;
let counters = 0;

/** A dispatch item of `task` whose worker fails `fails` times (sleeping `sleepMs` first, if given). */
function flaky(id: string, task: string, fails: number, extra: Record<string, unknown> = {}, sleepMs?: number) {
  const counter = path.join(dir, `counter-${++counters}`);
  return { id, executor: 'dispatch', inputs: { task, workerInput: { counter, fails, ...(sleepMs ? { sleepMs } : {}) } }, ...extra };
}

async function run(plan: PlanInput) {
  const runId = await cluster.client.submit(plan);
  const status = await cluster.client.wait(runId);
  const events = (await cluster.client.events(runId)) as AgoraEvent[];
  const of = (itemId: string) => ({
    retries: events.filter((e) => e.type === 'retry' && e.itemId === itemId),
    starts: events.filter((e) => e.type === 'item' && e.itemId === itemId && e.state === 'running').length,
    end: events.find((e) => e.type === 'item' && e.itemId === itemId && (e.state === 'done' || e.state === 'failed')),
  });
  return { runId, status, events, of };
}

beforeAll(async () => {
  writeFileSync(script, WORKER);
  const command = [process.execPath, script];
  cluster = await startCluster({
    runners: 1,
    concurrency: 4,
    config: {
      queues: { default: { concurrency: 4 } },
      runner: {
        // The legacy spelling says 9 tries; runner.retry wins: 2.
        attempts: 9,
        backoffMs: 5000,
        retry: { attempts: 2, on: ['app'], backoff: { type: 'fixed', delayMs: 20 } },
      },
      tasks: {
        plain: { command },
        flaky: { command, retry: { attempts: 5, backoff: { type: 'exponential', delayMs: 20 } } },
        jittery: { command, retry: { attempts: 4, backoff: { type: 'exponential', delayMs: 600, maxDelayMs: 900, jitter: 0.5 } } },
        slow: { command, timeoutMs: 3000 },
      },
    },
  });
});
afterAll(async () => {
  await cluster?.close();
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

describe('retry policy: which failures run again, how often, after how long', () => {
  it('an app failure retried by its task policy (on: [app] from the config): done after N+1 tries, N retry events with reason and delay', async () => {
    const r = await run({ id: 'n-plus-one', items: [flaky('f', 'flaky', 2)] });
    expect(r.status.state).toBe('succeeded');
    const f = r.of('f');
    expect(f.starts).toBe(3);
    expect(f.end).toMatchObject({ state: 'done', attempt: 3 });
    expect(f.retries.map((e) => [e.attempt, e.reason, e.delayMs])).toEqual([
      [1, 'app', 20],
      [2, 'app', 40],
    ]);
    expect(f.retries[0]?.error).toMatch(/worker exited with code 1: failing try 1/);
  });

  it('item > task > config: three plans, each decided by the most specific level', async () => {
    // Config level only (runner.retry: 2 tries, winning over runner.attempts 9): fails on the 2nd.
    const config = await run({ id: 'config-level', items: [flaky('c', 'plain', 2)] });
    expect(config.status.state).toBe('failed');
    expect(config.of('c').end).toMatchObject({ state: 'failed', errorCode: 'APPLICATION', attempt: 2, exitCode: 1 });
    expect(config.of('c').retries.map((e) => [e.reason, e.delayMs])).toEqual([['app', 20]]);
    // The task's 5 tries override the config's 2.
    const task = await run({ id: 'task-level', items: [flaky('t', 'flaky', 2)] });
    expect(task.status.state).toBe('succeeded');
    expect(task.of('t').starts).toBe(3);
    // The item's 1 try overrides the task's 5; its other fields still come from below.
    const item = await run({ id: 'item-level', items: [flaky('i', 'flaky', 2, { retry: { attempts: 1 } })] });
    expect(item.status.state).toBe('failed');
    expect(item.of('i').starts).toBe(1);
    expect(item.of('i').retries).toEqual([]);
    expect(item.of('i').end).toMatchObject({ errorCode: 'APPLICATION', attempt: 1 });
  });

  it("a registered task's policy applies like a configured one's (resolved from the pinned definition)", async () => {
    const storage = new LocalStorageProvider({ root: `${cluster.dataDir}/storage` });
    await registerTask(storage, cluster.config.namespace, 'stored', { command: [process.execPath, script], retry: { attempts: 4, backoff: { delayMs: 30 } } });
    const r = await run({ id: 'registered', items: [flaky('g', 'stored', 3)] });
    expect(r.status.state).toBe('succeeded');
    // attempts 4 and delayMs 30 from the stored task; type fixed and on: [app] from the config.
    expect(r.of('g').retries.map((e) => [e.reason, e.delayMs])).toEqual([['app', 30], ['app', 30], ['app', 30]]);
  });

  it('on: [infra] does not retry an app failure; the policy is part of the hashed definition', async () => {
    const r = await run({ id: 'infra-only', items: [flaky('x', 'flaky', 1, { retry: { on: ['infra'] } })] });
    expect(r.status.state).toBe('failed');
    expect(r.of('x').retries).toEqual([]);
    expect(r.of('x').end).toMatchObject({ errorCode: 'APPLICATION', attempt: 1 });
    const job = await redis.hgetall(`${keys(cluster.config.namespace).bullPrefix}:default:${itemJobId(r.runId, 0)}`);
    expect(JSON.parse(job['data']!).retry).toEqual({ attempts: 5, backoff: { type: 'exponential', delayMs: 20, jitter: 0 }, on: ['infra'] });
    expect(JSON.parse(job['opts']!)).toMatchObject({ attempts: 5, backoff: { type: 'agora-retry', delay: 20 } });
  });

  it('maxDelayMs and jitter: each delay lies in its bounds, and BullMQ applied the one the event reports', async () => {
    const runId = await cluster.client.submit({ id: 'jitter', items: [flaky('j', 'jittery', 3, { retry: { on: ['app'] } })] });
    // While the job waits out a back-off, BullMQ's job hash holds the delay it applied (reset to 0
    // when promoted): read it with the try count in one MULTI whenever the job is in the delayed set.
    const bull = `${keys(cluster.config.namespace).bullPrefix}:default`;
    const jobKey = `${bull}:${itemJobId(runId, 0)}`;
    const applied = new Map<number, number>();
    let ended = false;
    const watching = (async () => {
      while (!ended) {
        const replies = await redis.multi().zscore(`${bull}:delayed`, itemJobId(runId, 0)).hget(jobKey, 'delay').hget(jobKey, 'atm').exec();
        const [score, delay, tries] = (replies ?? []).map(([, v]) => v as string | null);
        if (score != null && delay != null && tries != null) applied.set(Number(tries), Number(delay));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const status = await cluster.client.wait(runId);
    ended = true;
    await watching;
    expect(status.state).toBe('succeeded');
    const retries = ((await cluster.client.events(runId)) as AgoraEvent[]).filter((e) => e.type === 'retry');
    const delays = retries.map((e) => e.delayMs!);
    expect(delays).toHaveLength(3);
    // 600, 1200 -> capped 900, 2400 -> capped 900; jitter 0.5 draws from [d / 2, d].
    const tops = [600, 900, 900];
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(tops[i]! / 2);
      expect(d).toBeLessThanOrEqual(tops[i]!);
    });
    // Each back-off seen (hundreds of ms each: at least one is) is exactly the drawn one.
    expect(applied.size).toBeGreaterThan(0);
    for (const [tries, delay] of applied) expect(delay, `after try ${tries}`).toBe(delays[tries - 1]);
  });
});

describe('timeoutMs: the runner stops a try that runs too long', () => {
  it('a sleeping worker is killed at the item timeout; retried when on lists timeout, then done', async () => {
    const r = await run({ id: 'timeout-retried', items: [flaky('s', 'plain', 1, { timeoutMs: 3000, retry: { on: ['timeout'] } }, 120_000)] });
    expect(r.status.state).toBe('succeeded');
    expect(r.of('s').retries.map((e) => [e.reason, e.delayMs])).toEqual([['timeout', 20]]);
    expect(r.of('s').end).toMatchObject({ state: 'done', attempt: 2 });
    const pid = Number(readFileSync(path.join(dir, `counter-${counters}.pid`), 'utf8'));
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  });

  it('failed with errorCode TIMEOUT at once when on leaves timeout out: item timeout (dispatch, noop) and task timeout', async () => {
    const r = await run({
      id: 'timeout-failed',
      items: [
        flaky('item-limit', 'plain', 5, { timeoutMs: 3000 }, 120_000),
        { id: 'noop-limit', executor: 'noop', inputs: { sleepMs: 120_000 }, timeoutMs: 300 },
        flaky('task-limit', 'slow', 5, {}, 120_000),
      ],
    });
    expect(r.status.state).toBe('failed');
    for (const id of ['item-limit', 'noop-limit', 'task-limit']) {
      expect(r.of(id).retries, id).toEqual([]);
      expect(r.of(id).end, id).toMatchObject({ state: 'failed', errorCode: 'TIMEOUT', attempt: 1 });
    }
    expect(r.of('noop-limit').end?.error).toBe('timed out after 300 ms; the worker was stopped');
    expect(r.of('task-limit').end?.error).toMatch(/^item task-limit: worker timed out after 3000 ms/);
    expect(r.events.some((e) => e.type === 'item' && e.state === 'cancelled')).toBe(false);
  });
});
