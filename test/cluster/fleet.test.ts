import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AgoraClient } from '@agora/sdk';
import type { AgoraEvent } from '@agora/core';
import { cliEnv } from '../support/cli.js';

/**
 * The real CLI processes (`agora serve`, two `agora runner`s, `agora audit`, `agora doctor`)
 * with REDIS_URL a `redis+cluster://` URL of the suite's 3-master cluster.
 */
const env = cliEnv({ queues: { default: { concurrency: 4 } }, runner: { jobLockMs: 2000, stalledIntervalMs: 1000 } });
afterAll(() => env.close());

let failoverRun: string | undefined;

describe('a fleet on a Redis Cluster', () => {
  it('a runner SIGKILLed mid-item: the item runs again on the other runner and the run succeeds', async () => {
    expect(env.env['REDIS_URL']).toMatch(/^redis\+cluster:\/\//);
    await env.start(['serve'], /scheduler serving/);
    const a = await env.start(['runner', '--concurrency', '2'], /runner started/);
    const b = await env.start(['runner', '--concurrency', '2'], /runner started/);
    const client = new AgoraClient({ redisUrl: String(env.env['REDIS_URL']), namespace: env.namespace });
    try {
      const runId = await client.submit({
        id: 'failover',
        queue: 'default',
        items: [
          { id: 'first', executor: 'noop', inputs: {}, depends_on: [], resourceLocks: ['db/main'] },
          { id: 'victim', executor: 'noop', inputs: { sleepMs: 3000 }, depends_on: ['first'], resourceLocks: [] },
          { id: 'side', executor: 'noop', inputs: { sleepMs: 200 }, depends_on: ['first'], resourceLocks: ['db/main'] },
          { id: 'after', executor: 'noop', inputs: {}, depends_on: ['victim', 'side'], resourceLocks: ['db/main'] },
        ],
      });
      let holder: string | undefined;
      for await (const e of client.watch(runId)) {
        if (e.itemId === 'victim' && e.state === 'running') {
          holder = String(e['runner']);
          break;
        }
      }
      const pid = Number(holder!.split(':').pop());
      const victim = [a, b].find((p) => p.pid === pid);
      expect(victim, `runner ${holder} is one of ours`).toBeDefined();
      victim!.kill('SIGKILL');
      const status = await client.wait(runId);
      const events: AgoraEvent[] = await client.events(runId);
      expect(status.state).toBe('succeeded');
      const runs = events.filter((e) => e.itemId === 'victim' && e.state === 'running');
      expect(runs).toHaveLength(2);
      expect(runs[1]!['runner']).not.toBe(holder);
      expect(events.filter((e) => e.itemId === 'victim' && e.state === 'done')).toHaveLength(1);
      const tokens = events.filter((e) => e.type === 'lock' && e['action'] === 'acquired').map((e) => Number(e['token']));
      expect(tokens).toHaveLength(3);
      expect(tokens).toEqual([...tokens].sort((x, y) => x - y));
      failoverRun = runId;
    } finally {
      await client.close();
    }
  }, 90_000);

  it('agora audit of that run: the bundle verifies offline, and a one-byte edit of an event fails it', () => {
    expect(failoverRun).toBeDefined();
    const bundleFile = path.join(env.dir, 'bundle.json');
    const r = env.agora(['audit', failoverRun!, '--out', bundleFile]);
    expect(r.code, r.stderr).toBe(0);
    const bundle = JSON.parse(readFileSync(bundleFile, 'utf8')) as { runId: string; report: { intact: boolean }; events: Array<Record<string, unknown>> };
    expect(bundle.runId).toBe(failoverRun);
    expect(bundle.report.intact).toBe(true);
    expect(bundle.events.at(-1)).toMatchObject({ type: 'run', state: 'succeeded' });
    const vkey = env.agora(['audit', 'pubkey']).stdout.trim();
    const verified = env.agora(['audit', 'verify', bundleFile, '--key', vkey]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    const edited = JSON.parse(readFileSync(bundleFile, 'utf8')) as typeof bundle;
    const done = edited.events.find((e) => e['itemId'] === 'victim' && e['state'] === 'done')!;
    done['state'] = 'dona';
    const tampered = path.join(env.dir, 'tampered.json');
    writeFileSync(tampered, JSON.stringify(edited));
    expect(env.agora(['audit', 'verify', tampered, '--key', vkey]).code).toBe(1);
  }, 60_000);

  it('agora doctor checks the settings of every master of the cluster', () => {
    const r = env.agora(['doctor', '--json']);
    const out = JSON.parse(r.stdout) as { checks: Array<{ kind: string; name: string; ok: boolean; message: string; warning?: boolean }> };
    const redis = out.checks.filter((c) => c.kind === 'redis');
    expect(redis.find((c) => c.name === 'redis')).toMatchObject({ ok: true, message: 'reachable' });
    // The suite's cluster runs without AOF: one warning per master, each naming its node.
    const aof = redis.filter((c) => c.warning && /appendonly is off/.test(c.message));
    expect(aof.map((c) => /master (127\.0\.0\.1:\d+)/.exec(c.message)?.[1]).filter(Boolean).sort()).toHaveLength(3);
    expect(new Set(aof.map((c) => c.message)).size).toBe(3);
    expect(redis.some((c) => /maxmemory-policy/.test(c.message))).toBe(false);
    // Two runners registered (one killed, whose entry goes stale later; the other live).
    expect(out.checks.filter((c) => c.kind === 'runner').length).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
