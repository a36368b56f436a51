import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServerHandle } from '@agora/state';
import { BIN, cliEnv, type CliEnv } from '../../../test/support/cli.js';
import { metricsUrlFrom, scrape, type Scrape } from '../../../test/support/prometheus.js';
import { RETRY_REASONS } from '@agora/core';
import { COUNTER_LABEL_VALUES } from '@agora/metrics';

/**
 * Issue 15, parts 4 and 6, against real processes: `agora serve` and `agora runner` with
 * `--metrics-port 0` on the test Redis, a plan run through them, and their `/metrics` scraped
 * over HTTP and parsed by a strict Prometheus text-format parser (test/support/prometheus.ts);
 * `/healthz` and `/readyz` on the same port, with Redis up, down, and while draining.
 */

const envs: CliEnv[] = [];
const redises: RedisServerHandle[] = [];
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const e of envs) await e.close();
  for (const r of redises) await r.stop();
});

/** Starts `agora <args>`; resolves with its metrics base URL once it logged "metrics listening" and `ready`. */
function startService(env: CliEnv, args: string[], ready: RegExp): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: env.dir, env: env.env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let seen = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer): void => {
      seen += d.toString();
      const url = metricsUrlFrom(seen);
      if (url && ready.test(seen)) resolve({ child, url, output: () => seen });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`agora ${args.join(' ')} exited with ${code}: ${seen}`)));
    setTimeout(() => reject(new Error(`agora ${args.join(' ')} not ready in 20 s: ${seen}`)), 20_000).unref();
  });
}

async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: last ${JSON.stringify(v, null, 1).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function getJson(url: string): Promise<{ status: number; body: { ok?: boolean; error?: string }; ms: number }> {
  const t0 = Date.now();
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: (await res.json()) as { ok?: boolean; error?: string }, ms: Date.now() - t0 };
}

const item = (id: string, inputs: Record<string, unknown> = {}, extra: { depends_on?: string[]; resourceLocks?: string[] } = {}) => ({
  id,
  executor: 'noop',
  inputs,
  depends_on: extra.depends_on ?? [],
  resourceLocks: extra.resourceLocks ?? [],
});

/** The README's metrics table (Operating Agora → Metrics and health): name, type, label names, the label values it lists. */
function readmeMetrics(): Array<{ name: string; type: string; labels: string[]; values: Record<string, string[]> }> {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('| metric | type | labels | meaning | reported by |');
  const rows = readme.slice(start).split('\n').slice(2);
  const out = [];
  for (const row of rows) {
    if (!row.startsWith('| `agora_')) break;
    const cells = row.split(' | ').map((c) => c.replace(/^\| |\s*\|$/g, ''));
    const [name, type, labelCell] = cells as [string, string, string];
    const ticked = (s: string): string[] => [...s.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    const values: Record<string, string[]> = {};
    // `state` (`done`, `failed`, …), `queue`: a label, then the values it takes in parentheses.
    for (const m of labelCell.matchAll(/`([a-z_]+)`(?: \(([^)]*)\))?/g)) if (m[2] !== undefined && !m[2].includes("BullMQ's")) values[m[1]!] = ticked(m[2].split(':')[0]!);
    out.push({ name: ticked(name)[0]!, type, labels: ticked(labelCell.replace(/\([^)]*\)/g, '')), values });
  }
  return out;
}

describe('Prometheus metrics of agora serve and agora runner (--metrics-port 0)', () => {
  it("exports every metric of the README's table with its type and labels, each counter's series at 0 before anything ran", async () => {
    const table = readmeMetrics();
    expect(table.length).toBeGreaterThanOrEqual(17);
    // The retry reasons of the table are the runner's (libs/core), and the label values the metrics start at 0 are the table's.
    expect(table.find((m) => m.name === 'agora_retries_total')!.values['reason']).toEqual([...RETRY_REASONS]);
    expect([...COUNTER_LABEL_VALUES.retryReasons]).toEqual([...RETRY_REASONS]);
    const env = cliEnv({ queues: { default: { concurrency: 1 }, bulk: { concurrency: 1 } } });
    envs.push(env);
    const serve = await startService(env, ['serve', '--metrics-port', '0'], /scheduler serving/);
    const runner = await startService(env, ['runner', '--concurrency', '1', '--queues', 'bulk', '--metrics-port', '0'], /runner started/);
    const scrapes = { serve: await scrape(serve.url), runner: await scrape(runner.url) };
    for (const [proc, r] of Object.entries(scrapes)) {
      for (const m of table) {
        const f = r.family(m.name);
        expect(f.type, `${proc} ${m.name}`).toBe(m.type);
        for (const s of f.samples) {
          const keys = Object.keys(s.labels).filter((k) => k !== 'le');
          expect(keys.sort(), `${proc} ${s.name} labels`).toEqual([...m.labels].sort());
        }
        if (m.type !== 'counter') continue;
        // A counter shows at 0 wherever it is not counted yet: on every process, for every value the table lists.
        expect(f.samples.length, `${proc} ${m.name} has no series`).toBeGreaterThan(0);
        for (const s of f.samples) expect(s.value, `${proc} ${m.name}`).toBe(0);
        for (const [label, vals] of Object.entries(m.values)) expect(new Set(f.samples.map((s) => s.labels[label])), `${proc} ${m.name} ${label}`).toEqual(new Set(vals));
        // Queue-labelled counters: the queues this process works on (the runner serves bulk only).
        if (m.labels.includes('queue')) expect(new Set(f.samples.map((s) => s.labels['queue'])), `${proc} ${m.name} queues`).toEqual(new Set(proc === 'serve' ? ['default', 'bulk'] : ['bulk']));
      }
    }
    expect(scrapes.runner.value('agora_runner_slots', { kind: 'total' })).toBe(1);
    expect(scrapes.serve.value('agora_queue_jobs', { queue: 'bulk', state: 'waiting' })).toBe(0);
    expect(scrapes.serve.family('agora_queue_jobs').samples.length).toBe(3 * 7);
  });

  it('counts a run with successes, failures, a retry and a contended lock, as scraped and parsed', async () => {
    const env = cliEnv({ queues: { default: { concurrency: 2 } }, runner: { attempts: 2, backoffMs: 100 } });
    envs.push(env);
    const serve = await startService(env, ['serve', '--metrics-port', '0'], /scheduler serving/);
    const runner = await startService(env, ['runner', '--concurrency', '2', '--metrics-port', '0'], /runner started/);
    expect(serve.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(runner.url).not.toBe(serve.url);

    const plan = env.writeJson('plan.json', {
      id: 'metrics',
      queue: 'default',
      items: [
        item('ok1'),
        item('ok2', {}, { depends_on: ['ok1'] }),
        item('bad', { fail: true }),
        // A retryable (infrastructure) failure: retried once (attempts: 2), then failed.
        item('flaky', { fail: 'infra' }),
        // Two holders of one lock, both started at once on two slots: one waits for the other.
        item('lockA', { sleepMs: 400 }, { resourceLocks: ['db'] }),
        item('lockB', { sleepMs: 400 }, { resourceLocks: ['db'] }),
      ],
    });
    const sub = env.agora(['submit', plan]);
    expect(sub.code, sub.stderr).toBe(0);
    const runId = sub.stdout.trim();
    const watch = env.agora(['watch', runId]);
    expect(watch.code, watch.stderr).toBe(1);
    const status = JSON.parse(env.agora(['status', runId]).stdout) as { state: string; items: Array<{ id: string; state: string }> };
    expect(status.state).toBe('failed');
    const ended = (s: string): number => status.items.filter((i) => i.state === s).length;
    expect([ended('done'), ended('failed')]).toEqual([4, 2]);

    const r: Scrape = await scrape(runner.url);
    expect(r.family('agora_items_total').type).toBe('counter');
    expect(r.value('agora_items_total', { state: 'done', queue: 'default' })).toBe(ended('done'));
    expect(r.value('agora_items_total', { state: 'failed', queue: 'default' })).toBe(ended('failed'));
    expect(r.value('agora_items_total', { state: 'cancelled', queue: 'default' })).toBe(0);
    // Every attempt starts: flaky started twice.
    expect(r.value('agora_items_started_total', { queue: 'default' })).toBe(7);
    expect(r.value('agora_retries_total', { reason: 'infra' })).toBe(1);
    expect(r.total('agora_retries_total')).toBe(1);
    expect(r.family('agora_item_duration_seconds').type).toBe('histogram');
    expect(r.count('agora_item_duration_seconds', { state: 'done', queue: 'default' })).toBe(4);
    expect(r.count('agora_item_duration_seconds', { state: 'failed', queue: 'default' })).toBe(2);
    // Queue wait is observed at each item's first start.
    expect(r.count('agora_item_queue_wait_seconds', { queue: 'default' })).toBe(6);
    // Both lock holders acquired once each; the second waited behind the first's 400 ms.
    expect(r.count('agora_lock_wait_seconds')).toBe(2);
    expect(r.sum('agora_lock_wait_seconds')).toBeGreaterThan(0.2);
    expect(r.value('agora_fenced_total')).toBe(0);
    expect(r.value('agora_lock_leases_lost_total')).toBe(0);
    expect(r.value('agora_runner_slots', { kind: 'total' })).toBe(2);
    expect(r.value('agora_runner_slots', { kind: 'busy' })).toBe(0);
    // started + end per item attempt that ended, lock acquired/released, a retry, a lock waiting event.
    expect(r.value('agora_events_appended_total')).toBeGreaterThanOrEqual(7 + 6 + 1 + 1);
    // No lock is waited on any more: the collect-time gauge reports none.
    expect(r.family('agora_lock_waiters').samples).toHaveLength(0);
    // Node's own metrics come along.
    expect(r.families.has('process_cpu_user_seconds_total')).toBe(true);

    // The scheduler: the run accepted, ended failed, sealed (sealing is asynchronous to the end).
    const s = await until('the seal to be counted', () => scrape(serve.url), (x) => x.value('agora_runs_sealed_total') === 1);
    expect(s.value('agora_runs_total', { state: 'accepted' })).toBe(1);
    expect(s.value('agora_runs_total', { state: 'failed' })).toBe(1);
    expect(s.value('agora_runs_total', { state: 'rejected' })).toBe(0);
    // Queue depth per state, from BullMQ's job counts at scrape time.
    expect(s.value('agora_queue_jobs', { queue: 'default', state: 'completed' })).toBe(4);
    expect(s.value('agora_queue_jobs', { queue: 'default', state: 'failed' })).toBe(2);
    expect(s.value('agora_queue_jobs', { queue: 'default', state: 'waiting' })).toBe(0);
    expect(s.value('agora_queue_jobs', { queue: '_inbox', state: 'completed' })).toBe(1);

    for (const svc of [serve, runner]) {
      const h = await getJson(`${svc.url}/healthz`);
      expect([h.status, h.body.ok]).toEqual([200, true]);
      const ready = await getJson(`${svc.url}/readyz`);
      expect([ready.status, ready.body.ok]).toEqual([200, true]);
      expect((await fetch(`${svc.url}/nothing`)).status).toBe(404);
    }
  });

  it('/readyz answers 503 within 2 s when Redis is down, while /healthz still answers 200', async () => {
    const redis = await startRedisServer();
    redises.push(redis);
    const env = cliEnv();
    envs.push(env);
    env.env['REDIS_URL'] = redis.url;
    const runner = await startService(env, ['runner', '--concurrency', '1', '--metrics-port', '0'], /runner started/);
    expect((await getJson(`${runner.url}/readyz`)).status).toBe(200);
    await redis.stop();
    const down = await getJson(`${runner.url}/readyz`);
    expect(down.status).toBe(503);
    expect(down.body.ok).toBe(false);
    expect(down.body.error).toMatch(/cannot reach Redis|did not answer/);
    expect(down.ms).toBeLessThan(2500);
    const alive = await getJson(`${runner.url}/healthz`);
    expect([alive.status, alive.body.ok]).toEqual([200, true]);
    runner.child.kill('SIGKILL');
  });

  it('/readyz checks Redis persistence as redis.require asks, eviction always, and the providers a process needs', async () => {
    const redis = await startRedisServer();
    redises.push(redis);
    const env = cliEnv({
      redis: { require: { appendonly: true } },
      // A Docker compute provider whose socket does not exist: a runner needs it, serve does not.
      compute: { local: { provider: 'process', options: {} }, box: { provider: 'docker', options: { socketPath: `${process.cwd()}/no-such-docker.sock` } } },
    });
    envs.push(env);
    env.env['REDIS_URL'] = redis.url;
    const serve = await startService(env, ['serve', '--metrics-port', '0'], /scheduler serving/);
    const runner = await startService(env, ['runner', '--concurrency', '1', '--metrics-port', '0'], /runner started/);
    // AOF is off on this Redis, and the config requires it.
    const noAof = await getJson(`${serve.url}/readyz`);
    expect([noAof.status, noAof.body.error]).toEqual([503, expect.stringMatching(/appendonly is off/)]);
    const { Redis } = await import('ioredis');
    const admin = new Redis(redis.url);
    try {
      await admin.config('SET', 'appendonly', 'yes');
      expect((await getJson(`${serve.url}/readyz`)).status).toBe(200);
      // The runner's compute provider "box" cannot be reached.
      const sick = await getJson(`${runner.url}/readyz`);
      expect(sick.status).toBe(503);
      expect(sick.body.error).toMatch(/compute provider "box" \(docker\) is unhealthy/);
      // Eviction loses queued jobs: not ready whatever redis.require says.
      await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
      const evicting = await getJson(`${serve.url}/readyz`);
      expect([evicting.status, evicting.body.error]).toEqual([503, expect.stringMatching(/maxmemory-policy is "allkeys-lru"/)]);
    } finally {
      admin.disconnect();
    }
    for (const s of [serve, runner]) s.child.kill('SIGKILL');
  });

  it('a runner answers /readyz 503 "draining" while it hands back or finishes its items after SIGTERM', async () => {
    const env = cliEnv({ runner: { shutdownGraceMs: 20_000 } });
    envs.push(env);
    await startService(env, ['serve', '--metrics-port', '0'], /scheduler serving/);
    const runner = await startService(env, ['runner', '--concurrency', '1', '--metrics-port', '0'], /runner started/);
    const sub = env.agora(['submit', env.writeJson('slow.json', { id: 'slow', queue: 'default', items: [item('slow', { sleepMs: 4000 })] })]);
    const runId = sub.stdout.trim();
    await until('the item to run', async () => (await scrape(runner.url)).value('agora_runner_slots', { kind: 'busy' }), (n) => n === 1);
    runner.child.kill('SIGTERM');
    const r = await until('readyz to say draining', () => getJson(`${runner.url}/readyz`), (x) => x.status === 503);
    expect(r.body.error).toMatch(/draining/);
    expect((await getJson(`${runner.url}/healthz`)).status).toBe(200);
    await new Promise((res) => runner.child.once('exit', res));
    expect(JSON.parse(env.agora(['status', runId]).stdout).state).toBe('succeeded');
  });

  it('takes the port from metrics.port in the config, and refuses one out of range (exit 2)', async () => {
    const env = cliEnv({ metrics: { port: 0 } });
    envs.push(env);
    const runner = await startService(env, ['runner', '--concurrency', '1'], /runner started/);
    expect((await getJson(`${runner.url}/healthz`)).status).toBe(200);
    runner.child.kill('SIGTERM');
    const bad = cliEnv({ metrics: { port: 70000 } });
    envs.push(bad);
    const r = bad.agora(['serve']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('metrics.port');
  });

  it('refuses a bad --metrics-port before touching Redis (exit 2)', () => {
    const env = cliEnv();
    envs.push(env);
    env.env['REDIS_URL'] = 'redis://127.0.0.1:1';
    const r = env.agora(['runner', '--metrics-port', '70000']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--metrics-port must be an integer from 0 to 65535');
  });
});
