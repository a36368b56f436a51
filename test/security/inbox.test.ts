import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { INBOX_QUEUE, ValueError, resolveInside } from '@agora/core';
import { createRedis } from '@agora/state';
import { startCluster, type TestCluster } from '../support/cluster.js';

/**
 * Trust boundary 1: the inbox. Anyone who can add a job to `_inbox` (Redis, a writable Bull
 * Board) chose the run id, and the run id became a directory the runner made and removed
 * (`rm -r` outside the data dir) and text spliced into event JSON.
 */
let cluster: TestCluster;
let outside: string;
const redis = createRedis(process.env['AGORA_TEST_REDIS_URL']!);

beforeAll(async () => {
  cluster = await startCluster({
    runners: 1,
    config: { tasks: { work: { command: [process.execPath, '-e', 'process.stdout.write("ok")'] } } },
  });
  // A directory beside the data dir, with something worth keeping in it.
  outside = mkdtempSync(path.join(os.tmpdir(), 'agora-outside-'));
  mkdirSync(path.join(outside, 'victim'));
  writeFileSync(path.join(outside, 'victim', 'keep.txt'), 'precious');
});
afterAll(async () => {
  await cluster?.close();
  rmSync(outside, { recursive: true, force: true });
  redis.disconnect();
});

async function addToInbox(jobId: string, data: unknown): Promise<{ state: string; reason: string }> {
  const inbox = new Queue(INBOX_QUEUE, { connection: redis, prefix: cluster.scheduler.store.keys.bullPrefix });
  try {
    await inbox.add('plan', data, { jobId, attempts: 3 });
    for (let i = 0; i < 200; i++) {
      const state = await inbox.getJobState(jobId);
      // Read the reason after the state: a job fetched first may predate its failure.
      if (state === 'failed' || state === 'completed') return { state, reason: (await inbox.getJob(jobId))?.failedReason ?? '' };
      await new Promise((r) => setTimeout(r, 50));
    }
    return { state: 'timeout', reason: '' };
  } finally {
    await inbox.close();
  }
}

function plan(id: string) {
  return { id, items: [{ id: 'victim', executor: 'dispatch', inputs: { task: 'work' } }] };
}

async function runKeysOf(runId: string): Promise<string[]> {
  return redis.keys(`${cluster.config.namespace}:run:*${runId.replace(/[*?[\]\\]/g, '\\$&')}*`);
}

describe('the inbox is a trust boundary', () => {
  it('an inbox job whose run id walks out of the data dir is refused, writes no run key, removes nothing', async () => {
    const rel = path.relative(path.join(cluster.config.dataDir, 'work'), outside);
    const runId = rel; // e.g. ../../agora-outside-abc: the runner's work dir would be <outside>/victim
    const r = await addToInbox('evil-path', { runId, plan: plan('p'), submittedAt: new Date().toISOString() });
    expect(r.state).toBe('failed');
    expect(r.reason).toMatch(/inbox job refused: runId: /);
    // Give a runner every chance to act on it, had it been accepted.
    await new Promise((res) => setTimeout(res, 1500));
    expect(readFileSync(path.join(outside, 'victim', 'keep.txt'), 'utf8')).toBe('precious');
    expect(await redis.keys(`${cluster.config.namespace}:run:*`)).toEqual([]);
  });

  it('a run id that would splice fields into event JSON is refused the same way', async () => {
    const runId = 'zz","forged":true,"x":"';
    const r = await addToInbox('evil-json', { runId, plan: plan('p'), submittedAt: new Date().toISOString() });
    expect(r.state).toBe('failed');
    expect(r.reason).toMatch(/runId/);
    expect(await runKeysOf('forged')).toEqual([]);
  });

  it('inbox data that is not a submission at all is refused with the reason', async () => {
    for (const [jobId, data] of [
      ['no-plan', { runId: 'rgood1', submittedAt: new Date().toISOString(), extra: 1 }],
      ['bad-time', { runId: 'rgood2', plan: plan('p'), submittedAt: 'yesterday' }],
      ['not-object', 'hello'],
    ] as const) {
      const r = await addToInbox(jobId, data);
      expect(r.state, jobId).toBe('failed');
      expect(r.reason, jobId).toMatch(/inbox job refused/);
    }
    expect(await redis.keys(`${cluster.config.namespace}:run:*rgood*`)).toEqual([]);
  });

  it('an item job whose run id leaves the data dir is refused by the runner before any fs call', async () => {
    const rel = path.relative(path.join(cluster.config.dataDir, 'work'), outside);
    const q = new Queue('default', { connection: redis, prefix: cluster.scheduler.store.keys.bullPrefix });
    try {
      await q.add('victim', { runId: rel, itemId: 'victim', executor: 'dispatch', inputs: { task: 'work' }, locks: [], deps: [] }, { jobId: 'evil-item', attempts: 3 });
      let state = '';
      for (let i = 0; i < 200 && state !== 'failed'; i++) {
        state = (await (await q.getJob('evil-item'))?.getState()) ?? '';
        await new Promise((res) => setTimeout(res, 50));
      }
      const job = await q.getJob('evil-item');
      expect(state).toBe('failed');
      expect(job?.failedReason).toMatch(/refused/);
      expect(job?.attemptsMade).toBe(1); // unrecoverable: not retried
      expect(existsSync(path.join(outside, 'victim', 'keep.txt'))).toBe(true);
    } finally {
      await q.close();
    }
  });

  it('resolveInside keeps every path built from an id under its root', () => {
    const root = path.join(os.tmpdir(), 'agora-root');
    expect(resolveInside(root, 'work', 'r1', 'a.b')).toBe(path.join(root, 'work', 'r1', 'a.b'));
    for (const bad of [['..', 'x'], ['work', '../../x'], ['/etc/passwd'], ['a/../../b']]) {
      expect(() => resolveInside(root, ...bad)).toThrow(ValueError);
    }
  });
});
