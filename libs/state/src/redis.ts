import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis client for our own commands. `maxRetriesPerRequest: null` is what BullMQ workers
 * require, and it keeps our commands waiting through a Redis restart instead of failing.
 */
export function createRedis(url: string, opts: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false, ...opts });
}

/**
 * Checks the settings production needs: eviction would silently drop queue keys, and without
 * persistence a restart loses accepted plans. Returns warnings; never throws for them.
 */
export async function checkRedisSettings(redis: Redis): Promise<string[]> {
  const warnings: string[] = [];
  try {
    const policy = (await redis.config('GET', 'maxmemory-policy')) as string[];
    if (policy[1] !== 'noeviction') {
      warnings.push(`Redis maxmemory-policy is "${policy[1]}"; set it to "noeviction" or queued jobs can be evicted`);
    }
    const aof = (await redis.config('GET', 'appendonly')) as string[];
    if (aof[1] !== 'yes') warnings.push('Redis appendonly is off; enable AOF in production so a restart loses no accepted plan');
  } catch {
    warnings.push('could not read Redis CONFIG (managed Redis?); make sure maxmemory-policy=noeviction and AOF are set');
  }
  return warnings;
}
