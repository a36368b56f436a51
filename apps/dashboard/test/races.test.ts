import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { AgoraClient, AgoraHttpClient, IllegalStateError } from '@agora/sdk';
import { startCluster, silent, type TestCluster } from '../../../test/support/cluster.js';
import { until } from '../../../test/support/index.js';

/**
 * State-changing operations fired at once, as retrying, concurrent production clients do, over
 * both transports (SDK over Redis, HTTP): each keeps its documented guarantee.
 */
const KEY = 'race-key-0123456789abcdef';
const ADMIN = 'race-admin-0123456789abcdef';
const N = 10;
let cluster: TestCluster;
let dash: Dashboard;
let http: AgoraHttpClient;
let admin: AgoraHttpClient;
/** A second SDK client over Redis (a second process's connection). */
let other: AgoraClient;
let ended: string;

const noop = (id: string, inputs: Record<string, unknown>, deps: string[] = []) => ({ id, executor: 'noop', inputs, depends_on: deps, resourceLocks: [] });

beforeAll(async () => {
  cluster = await startCluster({ runners: 1 });
  dash = await createDashboard({ config: cluster.config, port: 0, logger: silent, apiKey: KEY, adminKey: ADMIN });
  http = new AgoraHttpClient({ url: dash.url, apiKey: KEY });
  admin = new AgoraHttpClient({ url: dash.url, apiKey: ADMIN });
  other = new AgoraClient({ redisUrl: cluster.config.redisUrl, namespace: cluster.config.namespace });
  ended = await cluster.client.submit({ id: 'race-rerun', items: [noop('a', { v: 1 }), noop('b', { fail: 'no' }, ['a'])] });
  expect((await cluster.client.wait(ended)).state).toBe('failed');
});
afterAll(async () => {
  await other?.close();
  await admin?.close();
  await http?.close();
  await dash?.close();
  await cluster?.close();
});

/** Which of the settled calls were fulfilled, and that every other one is IllegalStateError. */
function oneAccepted<T>(settled: PromiseSettledResult<T>[]): T[] {
  const rejected = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
  for (const r of rejected) expect(r.reason, String(r.reason)).toBeInstanceOf(IllegalStateError);
  return settled.filter((s): s is PromiseFulfilledResult<T> => s.status === 'fulfilled').map((s) => s.value);
}

/** Every transport in turn: SDK over Redis, a second SDK client, HTTP. */
const clients = (): Array<Pick<AgoraClient, 'submit' | 'rerun'>> => [cluster.client, other, http];

describe('concurrent state changes', () => {
  it(`submit of one explicit run id from both transports at once (x${N}): exactly one accepted, the rest IllegalStateError`, async () => {
    for (let round = 0; round < 3; round++) {
      const runId = `race-submit-${round}`;
      const plan = { id: 'race-submit', items: [noop('a', { v: round })] };
      const settled = await Promise.allSettled(Array.from({ length: N }, (_, i) => clients()[i % 3]!.submit(plan, { runId })));
      expect(oneAccepted(settled), `round ${round}`).toEqual([runId]);
      expect((await cluster.client.wait(runId)).state).toBe('succeeded');
    }
  });

  it(`rerun under one explicit new run id, ${N} at once over both transports: exactly one rerun, linked once`, async () => {
    for (let round = 0; round < 3; round++) {
      const newId = `race-rerun-${round}`;
      const settled = await Promise.allSettled(Array.from({ length: N }, (_, i) => clients()[i % 3]!.rerun(ended, { runId: newId, fromFailed: true })));
      expect(oneAccepted(settled), `round ${round}`).toEqual([{ runId: newId, rerunOf: ended, fromFailed: true }]);
      const s = await cluster.client.wait(newId);
      expect(s.rerunOf).toMatchObject({ runId: ended, fromFailed: true });
    }
    const original = (await cluster.client.status(ended)) as { rerunBy?: Array<{ runId: string }> };
    expect(original.rerunBy?.map((l) => l.runId).sort()).toEqual(['race-rerun-0', 'race-rerun-1', 'race-rerun-2']);
  });

  it(`${N} reruns of one ended run at once (new ids): ${N} distinct runs, each whole and linked`, async () => {
    const before = ((await cluster.client.status(ended)) as { rerunBy?: unknown[] }).rerunBy?.length ?? 0;
    const results = await Promise.all(Array.from({ length: N }, (_, i) => clients()[i % 3]!.rerun(ended)));
    expect(new Set(results.map((r) => r.runId)).size).toBe(N);
    for (const r of results) {
      const s = await cluster.client.wait(r.runId);
      expect(s.state).toBe('failed');
      expect(s.rerunOf).toMatchObject({ runId: ended });
      expect(s.items.map((i) => i.id).sort()).toEqual(['a', 'b']);
    }
    await until('every rerun linked', async () => (((await cluster.client.status(ended)) as { rerunBy?: unknown[] }).rerunBy?.length ?? 0) === before + N);
  });

  it(`${N} replays of one dead letter at once without force: exactly one replay run`, async () => {
    const runId = await cluster.client.submit({ id: 'race-dlq', items: [noop('up', { v: 1 }), noop('x', { fail: 'dead' }, ['up'])] });
    expect((await cluster.client.wait(runId)).state).toBe('failed');
    const [letter] = await until('the letter', async () => {
      const l = await cluster.client.deadLetters({ runId });
      return l.length === 1 ? l : null;
    });
    const replayers = [cluster.client, other, admin];
    const settled = await Promise.allSettled(Array.from({ length: N }, (_, i) => replayers[i % 3]!.replayDeadLetters({ id: letter!.id })));
    const accepted = oneAccepted(settled);
    expect(accepted).toHaveLength(1);
    expect((await cluster.client.deadLetter(letter!.id)).replayedBy).toBe(accepted[0]!.runId);
    await cluster.client.wait(accepted[0]!.runId);
    const replays = (await cluster.client.runs({ limit: 500 })).runs.filter((r) => r.planId === `replay-of-${runId}`);
    expect(replays.map((r) => r.runId)).toEqual([accepted[0]!.runId]);
  });

  it(`${N} replays of one run's dead letters at once (dlq replay --run R): exactly one replay run, every letter marked by it`, async () => {
    const runId = await cluster.client.submit({ id: 'race-dlq-run', items: [noop('up', { v: 2 }), noop('x', { fail: 'dead' }, ['up']), noop('y', { fail: 'dead too' }, ['up'])] });
    expect((await cluster.client.wait(runId)).state).toBe('failed');
    await until('the letters', async () => (await cluster.client.deadLetters({ runId })).length === 2);
    const replayers = [cluster.client, other, admin];
    const settled = await Promise.allSettled(Array.from({ length: N }, (_, i) => replayers[i % 3]!.replayDeadLetters({ runId })));
    const accepted = settled.filter((s) => s.status === 'fulfilled').map((s) => s.value);
    for (const s of settled) if (s.status === 'rejected') expect(String(s.reason)).toMatch(/replayed already/);
    expect(accepted).toHaveLength(1);
    expect((await cluster.client.deadLetters({ runId })).map((l) => l.replayedBy)).toEqual([accepted[0]!.runId, accepted[0]!.runId]);
    await cluster.client.wait(accepted[0]!.runId);
    const replays = (await cluster.client.runs({ limit: 500 })).runs.filter((r) => r.planId === `replay-of-${runId}`);
    expect(replays.map((r) => r.runId)).toEqual([accepted[0]!.runId]);
  });
});

describe('concurrent state changes, at the end of a run', () => {
  it(`cancel as the run's last item ends (x${N}): one terminal state, one terminal run event, the sealed audit verifies`, async () => {
    const runs = await Promise.all(Array.from({ length: N }, (_, i) => cluster.client.submit({ id: 'race-cancel', items: [noop('only', { sleepMs: 20 + i * 3 })] })));
    await Promise.all(
      runs.map(async (runId, i) => {
        // Running, or already ended (a 20 ms item may pass between two polls).
        await until('started', async () => !['waiting', 'queued', undefined].includes((await cluster.client.item(runId, 'only').catch(() => null))?.state), 20_000, 5);
        await new Promise((r) => setTimeout(r, 15 + i * 3));
        // Either it cancels the running item or finds the run ended: never an error.
        await (i % 2 === 0 ? cluster.client : http).cancel(runId);
      }),
    );
    for (const runId of runs) {
      const s = await cluster.client.wait(runId);
      expect(['succeeded', 'cancelled']).toContain(s.state);
      const ends: string[] = [];
      for await (const e of cluster.client.watch(runId)) if (e.type === 'run' && ['succeeded', 'failed', 'cancelled'].includes(e.state)) ends.push(e.state);
      expect(ends, runId).toEqual([s.state]);
      const verdict = await until('sealed', async () => {
        const res = await fetch(`${dash.url}/api/runs/${runId}/verdict`, { headers: { authorization: `Bearer ${KEY}` } });
        return res.status === 200 ? ((await res.json()) as { intact: boolean; checks: unknown }) : null;
      });
      expect(verdict.intact, JSON.stringify(verdict.checks)).toBe(true);
    }
  });

  it('dlq purge --run R at once with dlq replay --run R: the replay either runs what it marked or is refused; nothing half-made', async () => {
    for (let round = 0; round < 5; round++) {
      const runId = await cluster.client.submit({ id: 'race-purge', items: [noop('up', { v: round }), noop('x', { fail: 'dead' }, ['up']), noop('y', { fail: 'dead too' }, ['up'])] });
      expect((await cluster.client.wait(runId)).state).toBe('failed');
      await until('letters', async () => (await cluster.client.deadLetters({ runId })).length === 2);
      const [purged, replayed] = await Promise.allSettled([admin.purgeDeadLetters({ runId }), cluster.client.replayDeadLetters({ runId })]);
      expect(purged.status, String((purged as PromiseRejectedResult).reason)).toBe('fulfilled');
      expect((purged as PromiseFulfilledResult<number>).value).toBe(2);
      expect(await cluster.client.deadLetters({ runId })).toEqual([]);
      if (replayed.status === 'fulfilled') {
        const s = await cluster.client.wait(replayed.value.runId);
        expect(s.replayOf, JSON.stringify(s)).toMatchObject({ runId });
        expect(s.items.map((i) => i.id).sort()).toEqual(['up', 'x', 'y']);
      } else {
        expect(String(replayed.reason)).toMatch(/no dead letter/);
      }
    }
  });

  it('cache purge --all while a run records its memoized items: every entry recorded is purged or listed, counted once', async () => {
    const n = 60;
    const runId = await cluster.client.submit({ id: 'race-memo', items: Array.from({ length: n }, (_, i) => ({ ...noop(`m${i}`, { v: i, tag: 'race-memo' }), memoize: true })) });
    let purged = 0;
    let done = false;
    const ended = cluster.client.wait(runId).finally(() => (done = true));
    while (!done) purged += await admin.purgeMemo({ all: true });
    expect((await ended).state).toBe('succeeded');
    const left = (await admin.memoEntries({ limit: 1000 })).filter((e) => e.runId === runId);
    expect(purged + left.length).toBe(n);
  });
});
