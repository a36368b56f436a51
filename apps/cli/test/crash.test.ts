import { afterAll, describe, expect, it } from 'vitest';
import { AgoraClient } from '@agora/sdk';
import { cliEnv } from '../../../test/support/cli.js';
import { Redis } from 'ioredis';
import { FencedError } from '@agora/core';
import { createLockManager } from '@agora/locks';

/** A runner killed with SIGKILL mid-item: another runner picks the item up; nothing is lost. */
const env = cliEnv({ queues: { default: { concurrency: 4 } }, runner: { jobLockMs: 2000, stalledIntervalMs: 1000 } });
afterAll(() => env.close());

describe('runner crash', () => {
  it('SIGKILL of the runner running an item: the item completes on the other runner', async () => {
    await env.start(['serve'], /scheduler serving/);
    const a = await env.start(['runner', '--concurrency', '2'], /runner started/);
    const b = await env.start(['runner', '--concurrency', '2'], /runner started/);
    const client = new AgoraClient({ redisUrl: String(env.env['REDIS_URL']), namespace: env.namespace });
    const runId = await client.submit({
      id: 'crash',
      queue: 'default',
      items: [
        { id: 'victim', executor: 'noop', inputs: { sleepMs: 3000 }, depends_on: [], resourceLocks: [] },
        { id: 'after', executor: 'noop', inputs: {}, depends_on: ['victim'], resourceLocks: [] },
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
    const victim = [a, b].find((p) => p.pid === pid)!;
    expect(victim).toBeDefined();
    victim.kill('SIGKILL');
    const status = await client.wait(runId);
    const events = await client.events(runId);
    await client.close();
    expect(status.state).toBe('succeeded');
    const runs = events.filter((e) => e.itemId === 'victim' && e.state === 'running');
    expect(runs).toHaveLength(2);
    expect(runs[1]!['runner']).not.toBe(holder);
    expect(events.filter((e) => e.itemId === 'victim' && e.state === 'done')).toHaveLength(1);
  }, 60_000);
});


const lockEnv = cliEnv({ queues: { default: { concurrency: 4 } }, runner: { jobLockMs: 2000, stalledIntervalMs: 1000, lockTtlMs: 2000 } });
afterAll(() => lockEnv.close());

describe('runner crash while holding a resource lock', () => {
  it('SIGKILL of the holder: the item completes on the other runner after the lease expires, with a larger token', async () => {
    await lockEnv.start(['serve'], /scheduler serving/);
    const a = await lockEnv.start(['runner', '--concurrency', '2'], /runner started/);
    const b = await lockEnv.start(['runner', '--concurrency', '2'], /runner started/);
    const client = new AgoraClient({ redisUrl: String(lockEnv.env['REDIS_URL']), namespace: lockEnv.namespace });
    const runId = await client.submit({
      id: 'crash-lock',
      queue: 'default',
      items: [{ id: 'victim', executor: 'noop', inputs: { sleepMs: 4000 }, depends_on: [], resourceLocks: ['crash/lock'] }],
    });
    let holder: string | undefined;
    for await (const e of client.watch(runId)) {
      if (e.itemId === 'victim' && e.state === 'running') {
        holder = String(e['runner']);
        break;
      }
    }
    const pid = Number(holder!.split(':').pop());
    [a, b].find((p) => p.pid === pid)!.kill('SIGKILL');
    const status = await client.wait(runId);
    const events = await client.events(runId);
    await client.close();
    expect(status.state).toBe('succeeded');
    const acquired = events.filter((e) => e.type === 'lock' && e['action'] === 'acquired').map((e) => Number(e['token']));
    expect(acquired).toHaveLength(2);
    expect(acquired[1]).toBeGreaterThan(acquired[0]!);
    const runs = events.filter((e) => e.itemId === 'victim' && e.state === 'running');
    expect(runs[1]!['runner']).not.toBe(holder);
  }, 60_000);

  it("a paused holder's late result write is rejected once a newer holder took the lock", async () => {
    // The test process plays the stale holder: it takes the lock, then freezes (no extension).
    const redis = new Redis(String(lockEnv.env['REDIS_URL']), { maxRetriesPerRequest: null });
    const stale = createLockManager({ redis, namespace: lockEnv.namespace, lockTtlMs: 1500 });
    const r = await stale.acquire({ names: ['paused/lock'], holder: { runId: 'rstale', itemId: 'old', jobId: 'old', queue: 'default' } });
    expect(r.acquired).toBe(true);
    if (!r.acquired) return;
    await stale.close();
    const client = new AgoraClient({ redisUrl: String(lockEnv.env['REDIS_URL']), namespace: lockEnv.namespace });
    const runId = await client.submit({ id: 'after-pause', queue: 'default', items: [{ id: 'fresh', executor: 'noop', inputs: {}, depends_on: [], resourceLocks: ['paused/lock'] }] });
    const status = await client.wait(runId);
    const events = await client.events(runId);
    await client.close();
    expect(status.state).toBe('succeeded');
    const token = Number(events.find((e) => e.type === 'lock' && e['action'] === 'acquired')!['token']);
    expect(token).toBe(r.lease.tokens['paused/lock']! + 1);
    // The stale holder wakes up and tries to store its result: fenced, nothing overwritten.
    await expect(r.lease.assertFresh()).rejects.toThrow(FencedError);
    redis.disconnect();
  }, 60_000);
});
