import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { OUTPUT_CAP_BYTES, ValueError, loadConfig } from '@agora/core';
import { describeComputeConformance, describeStorageConformance, workerCommand } from '@agora/conformance';
import { ProviderSet } from '@agora/registry';

/**
 * The template for a new provider: the compute and storage providers this example's
 * agora.config.json names, built through the registry exactly as a runner builds them, run the
 * conformance suites. For your provider: name it in the config, and give `specFor` and
 * `unstartable` for its backend (an image with node and `workerCommand(program)` for a container
 * backend). See README "Writing a provider".
 */
const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'agora-hello-conformance-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function providers(): Promise<{ set: ProviderSet; computeName: string; computeKind: string }> {
  const config = await loadConfig(path.join(here, 'agora.config.json'));
  const computeName = config.targets[config.defaultTarget ?? '']?.compute ?? Object.keys(config.compute)[0]!;
  return { set: new ProviderSet({ ...config, dataDir }), computeName, computeKind: config.compute[computeName]!.provider };
}

describeComputeConformance(
  'hello-world config (process)',
  async () => {
    const { set, computeName, computeKind } = await providers();
    if (computeKind !== 'process') throw new ValueError(`this harness knows how to run a worker on "process"; give specFor/unstartable for "${computeKind}"`);
    return {
      provider: await set.compute(computeName),
      // The config sets no outputCapBytes: the provider's default cap is the one tested.
      outputCapBytes: OUTPUT_CAP_BYTES,
      specFor: (program) => ({ command: workerCommand(program, process.execPath) }),
      unstartable: () => ({ command: [path.join(here, 'no-such-worker')] }),
      secretContext: (envName, value) => ({
        secretRefs: { [envName]: 'env:HELLO_SECRET' },
        ctx: { credentials: { kind: 'static-secrets', secrets: { 'env:HELLO_SECRET': value } } },
      }),
    };
  },
  {
    unsupported: {
      resources: 'a child process gets no CPU or memory limit: the host is shared as it is',
      labels: 'a child process has nowhere to carry labels',
    },
    concurrent: true,
  },
);

describeStorageConformance('hello-world config (local)', async () => {
  const { set } = await providers();
  return { provider: await set.storage(), peer: async () => (await providers()).set.storage() };
}, { unsupported: { integrity: 'this template does not reach into the store; providers/storage-local runs the case' } });
