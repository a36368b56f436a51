import { afterAll, describe, expect, it } from 'vitest';
import { createRedis, startRedisServer, type RedisServerHandle } from '@agora/state';
import { until } from '../../../test/support/index.js';

/**
 * A client disconnected while it waits to reconnect must end: BullMQ's Worker.close waits for
 * its blocking connection's 'end', and a scheduler whose close never returned stayed standby for
 * good after a Redis restart (see apps/cli/test/redis-data-loss.test.ts).
 */
const servers: RedisServerHandle[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

describe('createRedis clients', () => {
  it('end when disconnected while waiting to reconnect', async () => {
    const server = await startRedisServer({ password: 'disconnect-test-password' });
    servers.push(server);
    const client = createRedis(server.url);
    await until('ready', async () => client.status === 'ready');
    await server.stop();
    await until('reconnecting', async () => client.status === 'reconnecting', 10_000, 5);
    const pending = client.get('k').then(
      () => 'resolved',
      (err: unknown) => (err as Error).message,
    );
    const ended = new Promise<string>((resolve) => client.once('end', () => resolve('end')));
    client.disconnect();
    const outcome = await Promise.race([ended, new Promise<string>((r) => setTimeout(() => r('still waiting'), 2_000))]);
    expect(outcome).toBe('end');
    expect(client.status).toBe('end');
    // A command queued while it waited is rejected, not left pending.
    expect(await pending).toMatch(/Connection is closed/);
  });
});
