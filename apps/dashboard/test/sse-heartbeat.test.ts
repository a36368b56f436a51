import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { AgoraHttpClient, type AgoraEvent } from '@agora/sdk';
import { startCluster, silent, type TestCluster } from '../../../test/support/cluster.js';
import { until } from '../../../test/support/index.js';

/**
 * An SSE stream of a run with nothing to say (an item sleeping) gets comment lines, so a proxy
 * does not cut it as idle and a client gone without a FIN is noticed on the next write. Before,
 * nothing was written between events.
 */
const KEY = 'sse-heartbeat-key-0123456789abcdef';
let cluster: TestCluster;
let dash: Dashboard;
beforeAll(async () => {
  cluster = await startCluster({ runners: 1 });
  dash = await createDashboard({ config: cluster.config, port: 0, logger: silent, apiKey: KEY, sseHeartbeatMs: 200 });
});
afterAll(async () => {
  await dash?.close();
  await cluster?.close();
});

describe('SSE heartbeat', () => {
  it('writes a comment line while the run is quiet, which clients skip', async () => {
    const runId = await cluster.client.submit({ id: 'sse-heartbeat', items: [{ id: 'a', executor: 'noop', inputs: { sleepMs: 1500 } }] });
    await until('running', async () => (await cluster.client.status(runId)).state === 'running');
    const res = await fetch(`${dash.url}/api/runs/${runId}/events`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(res.status).toBe(200);
    const body = await res.text();
    const beats = body.split('\n\n').filter((m) => m === ': keep-alive');
    // 1.5 s of sleep at one comment per 200 ms.
    expect(beats.length).toBeGreaterThanOrEqual(3);
    // The events are all there, in order, and the SDK's reader skips the comments.
    const seqs = [...body.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(seqs).toEqual(seqs.map((_, i) => i));
    const viaSdk: AgoraEvent[] = [];
    for await (const e of new AgoraHttpClient({ url: dash.url, apiKey: KEY }).watch(runId)) viaSdk.push(e);
    expect(viaSdk.map((e) => e.seq)).toEqual(seqs);
    expect(viaSdk.at(-1)).toMatchObject({ type: 'run', state: 'succeeded' });
  });
});
