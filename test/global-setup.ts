import type { TestProject } from 'vitest/node';
import { startRedisServer, type RedisServerHandle } from '../libs/state/src/redis-server.js';

let redis: RedisServerHandle | undefined;

/**
 * One private Redis for the whole run, on a free port. Test files isolate themselves by
 * namespace (every key and queue is prefixed by it), so files can run in parallel.
 */
export async function setup(project: TestProject): Promise<void> {
  redis = await startRedisServer();
  process.env['AGORA_TEST_REDIS_URL'] = redis.url;
  project.provide('redisUrl', redis.url);
}

export async function teardown(): Promise<void> {
  await redis?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}
