import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { AgoraClient } from '@agora/sdk';
import type { AgoraEvent } from '@agora/core';
import { cliEnv, type CliEnv } from '../support/cli.js';

/**
 * A fleet survives restarts: a runner sent SIGTERM stops taking items, lets running ones finish
 * within its grace, then hands the rest back to the queue for another runner; it never cancels
 * them. An item whose runners keep dying ends STALLED instead of staying "running" forever.
 */
const envs: CliEnv[] = [];
afterAll(async () => {
  for (const e of envs) await e.close();
});

function exited(p: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve({ code: p.exitCode, signal: p.signalCode });
  return new Promise((r) => p.once('exit', (code, signal) => r({ code, signal })));
}

async function until(client: AgoraClient, runId: string, cond: (events: AgoraEvent[]) => boolean, ms = 30_000): Promise<AgoraEvent[]> {
  const end = Date.now() + ms;
  for (;;) {
    const events = await client.events(runId);
    if (cond(events)) return events;
    if (Date.now() > end) throw new Error(`condition not reached in ${ms} ms; last events: ${JSON.stringify(events.slice(-5))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('hand-back on SIGTERM', () => {
  it('four long items on a runner sent SIGTERM are handed back after the grace and finish on another runner, attempts right, locks re-taken', async () => {
    const env = cliEnv({ queues: { default: { concurrency: 8 } }, runner: { shutdownGraceMs: 1000, concurrency: 4 } });
    envs.push(env);
    env.env['AGORA_CPUS'] = '4'; // four at once on this two-core machine (the cap is min(cpus, concurrency))
    await env.start(['serve'], /scheduler (serving|active)/);
    const first = await env.start(['runner', '--concurrency', '4'], /runner started/);
    const client = new AgoraClient({ redisUrl: String(env.env['REDIS_URL']), namespace: env.namespace });
    try {
      const items = ['a', 'b', 'c', 'd'].map((id) => ({ id, executor: 'noop', inputs: { sleepMs: 6000 }, resourceLocks: [`hb/${id}`] }));
      const runId = await client.submit({ id: 'hand-back', items: [...items, { id: 'after', executor: 'noop', depends_on: ['a', 'b', 'c', 'd'] }] });
      await until(client, runId, (ev) => ev.filter((e) => e.type === 'item' && e.state === 'running').length === 4);
      const t0 = Date.now();
      first.kill('SIGTERM');
      const exit = await exited(first);
      const shutdownMs = Date.now() - t0;
      expect(exit).toEqual({ code: 0, signal: null });
      expect(shutdownMs).toBeLessThan(6000); // the grace (1 s), not the items' 6 s
      await env.start(['runner', '--concurrency', '4'], /runner started/);
      const status = await client.wait(runId);
      const events = await client.events(runId);
      expect(status.state).toBe('succeeded');
      for (const id of ['a', 'b', 'c', 'd']) {
        const mine = events.filter((e) => e.itemId === id);
        expect(mine.filter((e) => e.type === 'handedBack'), JSON.stringify(mine.map((e) => [e.type, e.state, e['action'], e['attempt'], e['reason'] ?? e['error']]))).toHaveLength(1);
        expect(mine.find((e) => e.type === 'handedBack')).toMatchObject({ state: 'queued', attempt: 1 });
        expect(mine.filter((e) => e.type === 'item' && e.state === 'running').map((e) => e['attempt'])).toEqual([1, 2]);
        expect(mine.some((e) => e.state === 'cancelled' || e.state === 'failed')).toBe(false);
        const tokens = mine.filter((e) => e.type === 'lock' && e['action'] === 'acquired').map((e) => Number(e['token']));
        expect(tokens).toHaveLength(2);
        expect(tokens[1]).toBeGreaterThan(tokens[0]!);
        expect(mine.filter((e) => e.type === 'lock' && e['action'] === 'released'), JSON.stringify(mine)).toHaveLength(2);
      }
      expect(events.filter((e) => e.type === 'retry')).toEqual([]);
    } finally {
      await client.close();
    }
  }, 90_000);

  it('an item whose runner is killed every time it runs ends STALLED after its budget, and the run ends', async () => {
    // attempts 1 + maxStalls 1: the item may start twice; a third start fails it.
    const env = cliEnv({ runner: { attempts: 1, maxStalls: 1, jobLockMs: 1000, stalledIntervalMs: 500 } });
    envs.push(env);
    await env.start(['serve'], /scheduler (serving|active)/);
    const client = new AgoraClient({ redisUrl: String(env.env['REDIS_URL']), namespace: env.namespace });
    try {
      const runId = await client.submit({
        id: 'stalls',
        items: [
          { id: 'doomed', executor: 'noop', inputs: { sleepMs: 60_000 } },
          { id: 'child', executor: 'noop', depends_on: ['doomed'] },
        ],
      });
      for (let start = 1; start <= 2; start++) {
        const runner = await env.start(['runner'], /runner started/);
        await until(client, runId, (ev) => ev.filter((e) => e.itemId === 'doomed' && e.state === 'running').length === start);
        runner.kill('SIGKILL');
        await exited(runner);
      }
      await env.start(['runner'], /runner started/);
      const status = await client.wait(runId);
      const events = await client.events(runId);
      expect(status.state).toBe('failed');
      expect(events.filter((e) => e.itemId === 'doomed' && e.state === 'running').map((e) => e['attempt'])).toEqual([1, 2]);
      expect(events.find((e) => e.itemId === 'doomed' && e.state === 'failed')).toMatchObject({ errorCode: 'STALLED' });
      expect(events.find((e) => e.itemId === 'child')?.state).toBeDefined();
      expect(events.filter((e) => e.itemId === 'child').at(-1)?.state).toBe('skipped');
    } finally {
      await client.close();
    }
  }, 90_000);
});
