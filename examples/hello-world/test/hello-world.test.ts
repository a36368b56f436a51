import path from 'node:path';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ProviderSet, registerTask } from '@agora/registry';
import { LocalStorageProvider } from '@agora/storage-local';
import { startCluster, type TestCluster } from '../../../test/support/cluster.js';

const here = path.dirname(fileURLToPath(new URL('.', import.meta.url)));
const plan = JSON.parse(readFileSync(path.join(here, 'plan.json'), 'utf8')) as { items: Array<{ id: string }> };

/** The same integration for every compute provider: register, dispatch, assert exit 0. */
async function helloWorld(cluster: TestCluster, task: unknown) {
  const storage = await new ProviderSet(cluster.config).storage();
  const reg = await registerTask(storage, cluster.config.namespace, 'hello', task);
  expect(reg.uri).toMatch(/^agora:\/\/[^/]+\/task\/hello\/[0-9a-f]{64}$/);
  const runId = await cluster.client.submit(plan);
  const status = await cluster.client.wait(runId);
  const events = await cluster.client.events(runId);
  const done = events.find((e) => e.itemId === 'hello' && e.state === 'done');
  return { status, events, done, reg, storage };
}

const clusters: TestCluster[] = [];
afterAll(async () => {
  for (const c of clusters) await c.close();
});

describe('hello-world on the process provider', () => {
  it('registers, dispatches, exits 0, and pins the task hash', async () => {
    const cluster = await startCluster({
      config: { compute: { local: { provider: 'process', options: {} } }, targets: { local: { compute: 'local' } } },
      runners: 1,
    });
    clusters.push(cluster);
    // The worker runs with the example dir as cwd (configDir); point the config there.
    (cluster.config as { configDir: string }).configDir = here;
    const { status, done, reg, events } = await helloWorld(cluster, { command: ['node', 'worker.mjs'] });
    expect(status.state).toBe('succeeded');
    expect(done).toMatchObject({ exitCode: 0, task: 'hello', taskRef: reg.uri, target: 'local' });
    expect(events.find((e) => e.itemId === 'hello' && e.state === 'queued')).toMatchObject({ taskRef: reg.uri });
    const out = Buffer.from(await new LocalStorageProvider({ root: path.join(cluster.dataDir, 'storage') }).get(done!.resultRef!)).toString();
    expect(out).toMatch(/^hello, agora \(run r[0-9a-z]+, item hello\)\n$/);
  });
});
