import { createLockManager } from '@agora/locks';
import { RunStore, createRedis } from '@agora/state';
import { EXIT, resolveConfig, type GlobalOpts } from '../context.js';
import { assertRedisReachable } from '../redis-check.js';

/** `agora locks [--json]`: who holds each lock (token, lease left) and who waits, in order. */
export async function locksCmd(opts: { json?: boolean }, g: GlobalOpts): Promise<number> {
  const config = await resolveConfig(g);
  await assertRedisReachable(config.redisUrl);
  const redis = createRedis(config.redisUrl);
  try {
    const store = new RunStore(redis, config.namespace);
    // A waiter whose item ended (its run was cancelled) waits for nothing: not listed.
    const locks = await createLockManager({ redis, namespace: config.namespace }).list({ ended: (w) => store.itemsEnded(w) });
    if (opts.json) {
      process.stdout.write(JSON.stringify({ locks }, null, 2) + '\n');
      return EXIT.ok;
    }
    if (locks.length === 0) {
      process.stdout.write('no locks held or awaited\n');
      return EXIT.ok;
    }
    for (const l of locks) {
      const h = l.holder
        ? `held by ${l.holder.runId}/${l.holder.itemId} token ${l.holder.token} since ${l.holder.since}, lease ${l.remainingMs} ms left`
        : 'free';
      process.stdout.write(`${l.name}: ${h}\n`);
      for (const w of l.waiters) process.stdout.write(`  ${w.position}. ${w.runId}/${w.itemId} waiting since ${w.since}\n`);
    }
    return EXIT.ok;
  } finally {
    redis.disconnect();
  }
}
