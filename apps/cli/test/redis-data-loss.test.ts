import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServerHandle } from '@agora/state';
import { AgoraClient } from '@agora/sdk';
import { cliEnv } from '../../../test/support/cli.js';
import { until } from '../../../test/support/index.js';

/**
 * Redis (password, no persistence) restarts and comes back empty: `agora serve` finds its lease
 * gone, stands by, and must act again (README "Scheduler failover"). It used to stay standby for
 * good, most times: stopping the lost term waited on BullMQ's Worker.close, which waited for its
 * blocking connection to end, which ioredis never did while that connection waited to reconnect.
 */
const password = 'data-loss-test-password';
let redis: RedisServerHandle | undefined;
const env = cliEnv({ queues: { default: { concurrency: 2 } }, scheduler: { leaseMs: 3000 } });
afterAll(async () => {
  await env.close();
  await redis?.stop();
});

function output(child: ChildProcess): () => string {
  let seen = '';
  child.stdout!.on('data', (d: Buffer) => (seen += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (seen += d.toString()));
  return () => seen;
}

const count = (text: string, re: RegExp): number => text.match(new RegExp(re.source, 'g'))?.length ?? 0;

describe('Redis restarted without its data', () => {
  it('the scheduler takes the lease again each time, accepts plans, and stops promptly', async () => {
    redis = await startRedisServer({ password });
    const { port, url } = redis;
    Object.assign(env.env, { REDIS_URL: url });
    const serve = await env.start(['serve'], /scheduler serving/);
    const serveLog = output(serve);
    await env.start(['runner', '--concurrency', '2'], /runner started/);
    // Several restarts: the hang depended on where the inbox worker's connection was in its
    // reconnect back-off when the lost lease was found.
    for (let i = 1; i <= 3; i++) {
      await redis.stop();
      await new Promise((r) => setTimeout(r, 2000));
      redis = await startRedisServer({ password, port });
      await until(`scheduler active again after restart ${i}`, async () => count(serveLog(), /scheduler active \(epoch/) >= i, 20_000, 100).catch(() => {
        throw new Error(`not active again after restart ${i}:\n${serveLog()}`);
      });
    }
    expect(serveLog()).toMatch(/scheduler lost its lease/);
    expect(serveLog()).not.toMatch(/did not stop within/);

    const client = new AgoraClient({ redisUrl: url, namespace: env.namespace });
    try {
      const runId = await client.submit({ id: 'after-loss', queue: 'default', items: [{ id: 'a', executor: 'noop', inputs: {}, depends_on: [], resourceLocks: [] }] });
      const status = await client.wait(runId, { signal: AbortSignal.timeout(30_000) });
      expect(status.state).toBe('succeeded');
    } finally {
      await client.close();
    }

    const t0 = Date.now();
    const exited = new Promise<number | null>((r) => serve.once('exit', (code) => r(code)));
    serve.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5_000);
  }, 120_000);
});
