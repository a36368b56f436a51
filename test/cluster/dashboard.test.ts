import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { startCluster, silent, type TestCluster } from '../support/cluster.js';

/**
 * The dashboard on a Redis Cluster: its shared SSE reader reads all watched runs' streams in one
 * XREAD, which a cluster allows only within one hash slot (CROSSSLOT otherwise), and it cannot
 * CLIENT UNBLOCK its reader there (the node is not known); it groups the streams by hash tag.
 * (When run keys were tagged `{runId}` this failed: the one XREAD over two runs was refused and
 * live events stopped.)
 */
let cluster: TestCluster;
let dash: Dashboard;

beforeAll(async () => {
  cluster = await startCluster({ runners: 1 });
  dash = await createDashboard({ config: cluster.config, port: 0, logger: silent });
});
afterAll(async () => {
  await dash?.close();
  await cluster?.close();
});

/** Reads an SSE stream to its end; the data of every event, in order. */
async function readSse(url: string): Promise<Array<{ seq: number; type: string; state?: string }>> {
  const res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  expect(res.status).toBe(200);
  const out: Array<{ seq: number; type: string; state?: string }> = [];
  for (const block of (await res.text()).split('\n\n')) {
    const data = block.split('\n').find((l) => l.startsWith('data: '));
    if (data && block.includes('\nevent: ') && !block.startsWith('event: error')) out.push(JSON.parse(data.slice(6)) as (typeof out)[number]);
  }
  return out;
}

describe('dashboard on a Redis Cluster', () => {
  it('live SSE clients of six runs at once each get every event of their run, in order', async () => {
    const runIds = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        cluster.client.submit({
          id: `sse-${i}`,
          queue: 'default',
          items: [
            { id: 'a', executor: 'noop', inputs: { sleepMs: 1500 }, depends_on: [], resourceLocks: [] },
            { id: 'b', executor: 'noop', inputs: {}, depends_on: ['a'], resourceLocks: [] },
          ],
        }),
      ),
    );
    // Each stream is opened while its run is still going, so its tail comes through the shared reader.
    const streams = await Promise.all(runIds.map((id) => readSse(`${dash.url}/api/runs/${id}/events`)));
    for (let i = 0; i < runIds.length; i++) {
      const all = await cluster.client.events(runIds[i]!);
      expect(all.at(-1)).toMatchObject({ type: 'run', state: 'succeeded' });
      expect(streams[i]!.map((e) => e.seq), `run ${i}`).toEqual(all.map((e) => e.seq));
    }
  }, 90_000);

  it('/healthz answers 200 on a cluster client', async () => {
    const res = await fetch(`${dash.url}/healthz`);
    expect(res.status).toBe(200);
  });
});
