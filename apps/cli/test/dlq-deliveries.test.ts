import { afterAll, describe, expect, it } from 'vitest';
import { DeliveryDeadLetterStore, type DeliveryDeadLetter } from '@agora/deliveries';
import { createRedis } from '@agora/state';
import { cliEnv } from '../../../test/support/cli.js';
import { testRedisUrl } from '../../../test/support/index.js';

/** `agora dlq deliveries` reads the delivery dead letters the delivery worker writes. */
const env = cliEnv();
const redis = createRedis(testRedisUrl());

afterAll(async () => {
  await redis.quit();
  await env.close();
});

describe('agora dlq deliveries', () => {
  it('lists none, then the records newest first, as text and JSON; refuses a bad --limit', async () => {
    expect(env.agora(['dlq', 'deliveries'])).toMatchObject({ code: 0, stdout: 'no delivery dead letters\n' });
    const store = new DeliveryDeadLetterStore(redis, env.namespace);
    const letter = (id: string, status?: number): DeliveryDeadLetter => ({
      id,
      kind: 'notification',
      target: 'ops',
      type: 'run.failed',
      runId: 'r-1',
      host: 'hooks.example.com',
      ...(status !== undefined ? { status } : {}),
      error: status !== undefined ? `webhook to hooks.example.com answered ${status}` : 'webhook to hooks.example.com failed: fetch failed',
      attempts: 8,
      failedAt: '2030-01-01T00:00:00.000Z',
    });
    await store.put(letter('a'.repeat(32), 503), 10);
    await new Promise((r) => setTimeout(r, 5));
    await store.put(letter('b'.repeat(32)), 10);
    const text = env.agora(['dlq', 'deliveries']);
    expect(text.code).toBe(0);
    expect(text.stdout.split('\n').filter(Boolean)).toEqual([
      `${'b'.repeat(32)}  notification:ops  run.failed r-1  hooks.example.com  no answer  attempts 8  2030-01-01T00:00:00.000Z  webhook to hooks.example.com failed: fetch failed`,
      `${'a'.repeat(32)}  notification:ops  run.failed r-1  hooks.example.com  503  attempts 8  2030-01-01T00:00:00.000Z  webhook to hooks.example.com answered 503`,
    ]);
    const json = env.agora(['dlq', 'deliveries', '--json', '--limit', '1']);
    expect(JSON.parse(json.stdout)).toEqual({ deliveries: [letter('b'.repeat(32))] });
    // The same words as agora dlq list and agora cache list, with the range README gives.
    for (const bad of ['x', '0', '1.5', '99999999999']) {
      expect(env.agora(['dlq', 'deliveries', '--limit', bad])).toMatchObject({ code: 2, stderr: `agora: --limit must be an integer from 1 to 9999999, got "${bad}"\n` });
    }
    // A provider's error with line breaks stays on its letter's line.
    await store.put({ ...letter('c'.repeat(32)), error: 'receiver said:\nno\r\nthanks' }, 10);
    const lines = env.agora(['dlq', 'deliveries', '--limit', '1']).stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/receiver said: no thanks$/);
  });

  it('show, replay and purge given a delivery id (from agora dlq deliveries) say what it is, not only that it is malformed', () => {
    // A user copying an id from `agora dlq deliveries` into `agora dlq show` was told only
    // "expected <runId>.<itemId>", as if the id were mistyped.
    const id = 'd'.repeat(32);
    for (const argv of [['dlq', 'show', id], ['dlq', 'replay', id], ['dlq', 'purge', id]]) {
      const r = env.agora(argv);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`"${id}" is a webhook delivery's id: delivery dead letters are only listed (agora dlq deliveries); ${argv[1]} takes an item's dead letter id, <runId>.<itemId> (see agora dlq list)`);
    }
  });
});
