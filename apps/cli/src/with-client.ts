import { NotFoundError } from '@agora/core';
import { AgoraClient } from '@agora/sdk';
import { CliError, resolveConfig, type GlobalOpts } from './context.js';
import { assertRedisReachable } from './redis-check.js';

/**
 * Runs `fn` with an SDK client on the config's Redis (checked reachable first, so a down Redis is
 * exit 3 with its address) and closes it. "Not found" is bad input, as for an unknown run (exit 2),
 * said without a stack.
 */
export async function withClient<T>(g: GlobalOpts, fn: (c: AgoraClient) => Promise<T>): Promise<T> {
  const config = await resolveConfig(g);
  await assertRedisReachable(config.redisUrl);
  const c = new AgoraClient({ redisUrl: config.redisUrl, namespace: config.namespace, validate: { queues: Object.keys(config.queues), targets: Object.keys(config.targets) } });
  try {
    return await fn(c);
  } catch (err) {
    if (err instanceof NotFoundError) throw new CliError(err.message);
    throw err;
  } finally {
    await c.close();
  }
}
