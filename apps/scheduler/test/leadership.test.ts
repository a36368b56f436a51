import { afterAll, describe, expect, it } from 'vitest';
import { keys as keysOf } from '@agora/core';
import { createRedis } from '@agora/state';
import { LeaderLease } from '../src/leader-lease.js';
import { Leadership, type ActingTerm } from '../src/leadership.js';
import { silent } from '../../../test/support/cluster.js';
import { testRedisUrl, uniqueNamespace, until } from '../../../test/support/index.js';

const conn = createRedis(testRedisUrl());
afterAll(async () => {
  await conn.quit();
});

describe('Leadership', () => {
  it('acts again after losing its lease even when the lost term never stops, and fences that term off', async () => {
    const keys = keysOf(uniqueNamespace('lead'));
    const lease = new LeaderLease(conn, keys, 'me', 3_000);
    const started: number[] = [];
    let abandoned = 0;
    // The first term's stop hangs, as BullMQ's Worker.close did on a connection Redis dropped.
    const leadership = new Leadership(
      lease,
      silent,
      async (_epoch, term) => {
        started.push(term);
        const hung: ActingTerm = { stop: () => new Promise<void>(() => undefined), abandon: () => void abandoned++ };
        return started.length === 1 ? hung : { stop: async () => undefined };
      },
      500,
    );
    await leadership.tick();
    expect(leadership.epoch).toBe(1);
    const firstTerm = started[0]!;
    await leadership.fence(firstTerm);

    // Redis loses its data; another scheduler takes the lease, under the epoch number we had.
    await conn.del(keys.leader, keys.leaderEpoch);
    await conn.set(keys.leader, 'other', 'PX', 3_000);
    await conn.set(keys.leaderEpoch, '1');
    // The fence sees another holder under our epoch number.
    await expect(leadership.fence(firstTerm)).rejects.toThrow(/stale/);
    expect(leadership.epoch).toBeUndefined();

    // The other one goes away: we take over again, although our first term never stopped.
    await conn.del(keys.leader);
    const t0 = Date.now();
    await until(
      'active again',
      async () => {
        await leadership.tick();
        return leadership.epoch !== undefined;
      },
      5_000,
    );
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(leadership.epoch).toBe(2);
    expect(started).toHaveLength(2);
    expect(abandoned).toBe(1);
    // Work left over from the abandoned term writes nothing; the new term's passes.
    await expect(leadership.fence(firstTerm)).rejects.toThrow(/not the active one/);
    await leadership.fence(started[1]);
    await leadership.close();
    expect(await conn.get(keys.leader)).toBeNull();
  });
});
