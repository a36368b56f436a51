import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { costBetween, snapshot } from '../../bench/src/cost.js';
import { testRedisUrl, uniqueNamespace } from '../support/index.js';

/**
 * The bench's per-item cost (bench/src/cost.ts) against a real Redis: the server's own CPU
 * (INFO cpu) and, with BENCH_COMMANDSTATS, the commands it ran per item, scripts' calls included.
 */
const redis = new Redis(testRedisUrl());
afterAll(() => redis.quit());

// Enough work inside one script that the server's CPU counter (ms resolution) has to move.
const BUSY = `for i = 1, tonumber(ARGV[1]) do redis.call('INCR', KEYS[1]) end return 1`;

describe('bench cost snapshots', () => {
  it('charge the Redis server CPU spent between them to the items, and name the commands run', async () => {
    const key = `${uniqueNamespace('bench')}:n`;
    const before = process.env['BENCH_COMMANDSTATS'];
    process.env['BENCH_COMMANDSTATS'] = '1';
    try {
      const a = await snapshot(redis, { runners: [] });
      await redis.eval(BUSY, 1, key, 200_000);
      const b = await snapshot(redis, { runners: [] });
      expect(Number.isFinite(a.redisCpuMs)).toBe(true);
      expect(b.redisCpuMs).toBeGreaterThan(a.redisCpuMs);
      const cost = costBetween(a, b, 100, false);
      expect(cost.redisCpuMsPerItem).toBeCloseTo((b.redisCpuMs - a.redisCpuMs) / 100, 9);
      // 200,000 INCRs inside the script, over 100 items; other test files share this Redis, so at least.
      const incr = cost.serverCommandsPerItem?.find(([name]) => name === 'incr');
      expect(incr?.[1]).toBeGreaterThanOrEqual(2_000);
      expect(cost.serverCommandsPerItem?.[0]?.[1]).toBeGreaterThanOrEqual(incr?.[1] ?? Infinity);
    } finally {
      if (before === undefined) delete process.env['BENCH_COMMANDSTATS'];
      else process.env['BENCH_COMMANDSTATS'] = before;
      await redis.del(key);
    }
  });
});
