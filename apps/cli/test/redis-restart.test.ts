import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServerHandle } from '@agora/state';
import { AgoraClient } from '@agora/sdk';
import { cliEnv } from '../../../test/support/cli.js';

/**
 * Redis restarts (AOF on) in the middle of a run: nothing accepted is lost. The scheduler and
 * runners are real processes; they reconnect on their own.
 */
const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-aof-'));
let redis: RedisServerHandle | undefined;
const env = cliEnv({ queues: { default: { concurrency: 4 } } });
afterAll(async () => {
  await env.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('Redis restart mid-run', () => {
  it('loses no accepted plan and finishes every item', async () => {
    redis = await startRedisServer({ appendOnly: true, dir });
    const port = redis.port;
    const url = redis.url;
    Object.assign(env.env, { REDIS_URL: url });
    await env.start(['serve'], /scheduler serving/);
    await env.start(['runner', '--concurrency', '4'], /runner started/);
    await env.start(['runner', '--concurrency', '4'], /runner started/);
    const client = new AgoraClient({ redisUrl: url, namespace: env.namespace });
    const items = Array.from({ length: 40 }, (_, i) => ({
      id: `s${i}`,
      executor: 'noop',
      inputs: { sleepMs: 100 },
      depends_on: i >= 20 ? [`s${i - 20}`] : [],
      resourceLocks: [],
    }));
    const runId = await client.submit({ id: 'restart', queue: 'default', items });
    // Wait until the run is under way, then restart Redis (SIGTERM: AOF is flushed).
    for (;;) {
      const s = await client.status(runId);
      if ('counts' in s && s.counts.done >= 5) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await client.close();
    await redis.stop();
    await new Promise((r) => setTimeout(r, 500));
    redis = await startRedisServer({ appendOnly: true, dir, port });
    const after = new AgoraClient({ redisUrl: url, namespace: env.namespace });
    const status = await after.wait(runId);
    await after.close();
    expect(status.state).toBe('succeeded');
    expect(status.counts.done).toBe(40);
  }, 120_000);
});
