import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { AgoraHttpClient, PlanValidationError } from '@agora/sdk';
import { startCluster, silent, type TestCluster } from '../../../test/support/cluster.js';

/**
 * A plan naming an executor a runner plugs in (published by the scheduler) is accepted through
 * the HTTP API. Before the fix the dashboard's client checked the built-in executor list
 * (dispatch, noop) before the deployment's, and answered 422 "unknown executor".
 */

const KEY = 'custom-exec-key-0123456789abcdef';
let cluster: TestCluster;
let dash: Dashboard;
beforeAll(async () => {
  cluster = await startCluster({ runners: 1, executors: [{ name: 'shout', execute: async (ctx) => ({ output: String(ctx.inputs['word']).toUpperCase() }) }] });
  dash = await createDashboard({ config: cluster.config, port: 0, logger: silent, apiKey: KEY });
});
afterAll(async () => {
  await dash?.close();
  await cluster?.close();
});

const post = (plan: unknown) =>
  fetch(`${dash.url}/api/runs`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(plan) });

describe('POST /api/runs with a plugged-in executor', () => {
  it('accepts an executor the deployment publishes, and still refuses one nobody runs', async () => {
    // The scheduler publishes its deployment (executors included) when it starts acting.
    const res = await post({ id: 'custom', items: [{ id: 'a', executor: 'shout', inputs: { word: 'hi' } }] });
    expect(res.status, await res.clone().text()).toBe(202);
    const { runId } = (await res.json()) as { runId: string };
    expect((await cluster.client.wait(runId)).state).toBe('succeeded');
    const refused = await post({ id: 'nobody', items: [{ id: 'a', executor: 'whisper' }] });
    expect(refused.status).toBe(422);
    expect(((await refused.json()) as { problems: string[] }).problems[0]).toContain('unknown executor "whisper" (known: dispatch, noop, shout)');
  });

  it('the SDK over HTTP submits it too, as over Redis (its local check refused any executor but dispatch and noop)', async () => {
    const http = new AgoraHttpClient({ url: dash.url, apiKey: KEY });
    const runId = await http.submit({ id: 'custom-http', items: [{ id: 'a', executor: 'shout', inputs: { word: 'yo' } }] });
    expect((await http.wait(runId)).state).toBe('succeeded');
    // The deployment still decides: an executor nobody runs is refused by the server (422).
    const refused = await http.submit({ id: 'nobody', items: [{ id: 'a', executor: 'whisper' }] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PlanValidationError);
    expect((refused as PlanValidationError).problems[0]).toContain('unknown executor "whisper" (known: dispatch, noop, shout)');
    // A caller's own list is still checked locally.
    const http2 = new AgoraHttpClient({ url: dash.url, apiKey: KEY, validate: { executors: ['noop'] } });
    await expect(http2.submit({ id: 'own-list', items: [{ id: 'a', executor: 'shout' }] })).rejects.toThrow('unknown executor "shout" (known: noop)');
    await http.close();
  });
});
