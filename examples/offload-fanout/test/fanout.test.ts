import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@agora/core';
import { LocalStorageProvider } from '@agora/storage-local';
import { startCluster, type TestCluster } from '../../../test/support/cluster.js';
import { ensurePodman } from '../../../test/support/podman.js';

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const clusters: TestCluster[] = [];
afterAll(async () => {
  for (const c of clusters) await c.close();
});

/** The seed-003 fan-out with the example's own config, on the target the env selects. */
async function fanout(target: 'local' | 'docker', env: Record<string, string> = {}) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'agora-fanout-'));
  const saved = { ...process.env };
  Object.assign(process.env, { AGORA_DATA_DIR: dataDir, AGORA_EXAMPLE_TARGET: target, ...env });
  const config = await loadConfig(path.join(here, 'agora.config.mjs'));
  process.env = saved;
  const cluster = await startCluster({ compiled: config, dataDir, runners: 2 });
  clusters.push(cluster);
  const plan = (await import(path.join(here, 'plan.json'), { with: { type: 'json' } })).default as { items: unknown[] };
  const runId = await cluster.client.submit(plan);
  const status = await cluster.client.wait(runId);
  const events = await cluster.client.events(runId);
  const storage = new LocalStorageProvider({ root: path.join(dataDir, 'storage') });
  const artifact = async (id: string) => Buffer.from(await storage.get(status.items.find((i) => i.id === id)!.resultRef!)).toString();
  return { status, events, artifact, cleanup: () => rmSync(dataDir, { recursive: true, force: true }) };
}

describe('offload-fanout example', () => {
  it('runs on local processes: three real diffs, then verify applies them', async () => {
    const { status, events, artifact } = await fanout('local');
    expect(status.state).toBe('succeeded');
    expect(await artifact('edit-alpha')).toContain('+++ b/fixture/alpha.ts\n');
    expect(await artifact('edit-alpha')).toContain('+const greeting = "hello";');
    const verified = JSON.parse(await artifact('verify')) as { verified: number };
    expect(verified.verified).toBe(3);
    // verify started only after all three edits were done
    const seqOf = (id: string, state: string) => events.find((e) => e.itemId === id && e.state === state)!.seq;
    for (const e of ['edit-alpha', 'edit-beta', 'edit-shared']) expect(seqOf(e, 'done')).toBeLessThan(seqOf('verify', 'running'));
    expect(events.filter((e) => e.state === 'done').every((e) => e['target'] === 'local')).toBe(true);
  });

  it('runs with its workers in Docker containers when the target is switched to docker', async () => {
    const podman = await ensurePodman();
    const { status, events, artifact } = await fanout('docker', { DOCKER_HOST: `unix://${podman.socketPath}`, AGORA_WORKER_IMAGE: podman.images.node });
    expect(status.state, JSON.stringify(events.filter((e) => e.state === 'failed'))).toBe('succeeded');
    expect(events.filter((e) => e.state === 'done').map((e) => e['target'])).toEqual(['docker', 'docker', 'docker', 'docker']);
    expect(await artifact('edit-beta')).toContain('+++ b/fixture/beta.ts\n');
    expect((JSON.parse(await artifact('verify')) as { verified: number }).verified).toBe(3);
  }, 120_000);
});
