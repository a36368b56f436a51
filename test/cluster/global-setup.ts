import type { TestProject } from 'vitest/node';
import { startRedisCluster, type RedisClusterHandle } from '../support/redis-cluster.js';

let cluster: RedisClusterHandle | undefined;

/**
 * The cluster suite's one Redis: a local 3-master Redis Cluster. It is handed out as `redisUrl`
 * (a `redis+cluster://` URL), so the shared helpers (`testRedisUrl`, `cliEnv`, `startCluster`)
 * put every client, scheduler, runner and CLI process of these tests on the cluster.
 */
export async function setup(project: TestProject): Promise<void> {
  cluster = await startRedisCluster({ masters: 3 });
  process.env['AGORA_TEST_REDIS_URL'] = cluster.url;
  project.provide('redisUrl', cluster.url);
}

export async function teardown(): Promise<void> {
  await cluster?.stop();
}
