import { afterAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../support/cluster.js';

/**
 * Item 10 (first half) of the trust-boundary issue: a `dispatch` item with 1,000 dependencies (the
 * documented maximum) runs. Inline, AGORA_DEPENDENCIES is ~150 KiB, past the kernel's 128 KiB
 * limit for one environment string, and the spawn failed with E2BIG; large values now reach the
 * worker as files named in the environment.
 */
let cluster: TestCluster | undefined;
afterAll(async () => cluster?.close());

/** Prints what the worker saw: dependency count, where they came from, and its input size. */
const WORKER = `
const fs = require('node:fs');
const env = process.env;
const deps = JSON.parse(env.AGORA_DEPENDENCIES_FILE ? fs.readFileSync(env.AGORA_DEPENDENCIES_FILE, 'utf8') : env.AGORA_DEPENDENCIES);
const input = JSON.parse(env.AGORA_WORKER_INPUT_FILE ? fs.readFileSync(env.AGORA_WORKER_INPUT_FILE, 'utf8') : env.AGORA_WORKER_INPUT);
const staged = fs.readdirSync(env.AGORA_DEPS_DIR).length;
process.stdout.write(JSON.stringify({
  deps: Object.keys(deps).length, refs: Object.values(deps).filter((r) => r.startsWith('agora://')).length, staged,
  inlineDeps: env.AGORA_DEPENDENCIES !== undefined, inlineInput: env.AGORA_WORKER_INPUT !== undefined,
  inlineMatchesFile: env.AGORA_DEPENDENCIES === undefined || env.AGORA_DEPENDENCIES === fs.readFileSync(env.AGORA_DEPENDENCIES_FILE, 'utf8'),
  inputPad: (input.pad ?? '').length,
}));
`;

describe('documented limits work', () => {
  it('a dispatch item depending on 1,000 noop items succeeds and its worker sees all 1,000 dependencies', async () => {
    cluster = await startCluster({
      config: {
        queues: { default: { concurrency: 64 } },
        compute: { local: { provider: 'process' } },
        targets: { local: { compute: 'local' } },
        tasks: { count: { command: [process.execPath, '-e', WORKER] } },
      },
      runners: 1,
      concurrency: 32,
    });
    const noops = Array.from({ length: 1000 }, (_, i) => ({ id: `dependency-number-${String(i).padStart(4, '0')}`, executor: 'noop', inputs: {}, depends_on: [], resourceLocks: [] }));
    const runId = await cluster.client.submit({
      id: 'wide-fan-in',
      queue: 'default',
      items: [
        ...noops,
        // 60 KB of worker input: also past the inline threshold, so it goes by file too.
        { id: 'fan-in', executor: 'dispatch', inputs: { task: 'count', workerInput: { pad: 'x'.repeat(60_000) } }, depends_on: noops.map((n) => n.id), resourceLocks: [] },
        { id: 'small', executor: 'dispatch', inputs: { task: 'count', workerInput: { pad: 'y' } }, depends_on: noops.slice(0, 2).map((n) => n.id), resourceLocks: [] },
      ],
    });
    const status = await cluster.client.wait(runId);
    const events = await cluster.client.events(runId);
    expect(status.state, JSON.stringify(events.filter((e) => e.state === 'failed' || e.type === 'retry').slice(0, 3))).toBe('succeeded');
    const read = async (id: string): Promise<Record<string, unknown>> => {
      const ref = status.items.find((i) => i.id === id)?.resultRef;
      const { LocalStorageProvider } = await import('@agora/storage-local');
      const bytes = await new LocalStorageProvider({ root: `${cluster!.dataDir}/storage` }).get(ref!);
      return JSON.parse(Buffer.from(bytes).toString()) as Record<string, unknown>;
    };
    expect(await read('fan-in')).toEqual({ deps: 1000, refs: 1000, staged: 1000, inlineDeps: false, inlineInput: false, inlineMatchesFile: true, inputPad: 60_000 });
    // Small values are still inline as well (existing workers keep working).
    expect(await read('small')).toEqual({ deps: 2, refs: 2, staged: 2, inlineDeps: true, inlineInput: true, inlineMatchesFile: true, inputPad: 1 });
  }, 180_000);
});
