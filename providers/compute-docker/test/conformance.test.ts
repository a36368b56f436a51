import { randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import { expect } from 'vitest';
import { describeComputeConformance, workerCommand } from '@agora/conformance';
import { DockerComputeProvider, MANAGED_LABEL } from '@agora/compute-docker';
import { ensurePodman } from '../../../test/support/podman.js';

/**
 * The compute contract on containers through a real Docker Engine API (Podman's). Every case
 * runs the one node test image, all cases at once; containers carry this file's label, so a
 * container left behind fails the file.
 */
describeComputeConformance('docker', async () => {
  const env = await ensurePodman();
  const docker = new Docker({ socketPath: env.socketPath });
  const outputCapBytes = 64 * 1024;
  const fileLabel = randomBytes(6).toString('hex');
  // network "none": no case needs one, and making one per container costs time. Stop grace 0:
  // node as PID 1 ignores SIGTERM, so a grace would only delay every stop by its length.
  const provider = new DockerComputeProvider({ socketPath: env.socketPath, network: 'none', stopGraceMs: 0, outputCapBytes });
  const inspect = (id: string) => docker.getContainer(id).inspect();
  return {
    provider,
    outputCapBytes,
    specFor: (program) => ({ image: env.images.node, command: workerCommand(program), labels: { 'agora.conformance': fileLabel } }),
    unstartable: () => ({ image: env.images.node.replace(/@sha256:.*/, `@sha256:${'0'.repeat(64)}`), command: ['true'], labels: { 'agora.conformance': fileLabel } }),
    secretContext: (envName, value) => ({
      secretRefs: { [envName]: 'conformance:secret' },
      ctx: { credentials: { kind: 'static-secrets', secrets: { 'conformance:secret': value } } },
    }),
    untilRunning: async (handle) => {
      for (;;) {
        const info = await inspect(handle.providerTaskId);
        if (info.State.Running) return;
        if (info.State.Status === 'exited') throw new Error(`container ${handle.providerTaskId} exited before it was seen running`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    observe: async (handle) => {
      const info = await inspect(handle.providerTaskId);
      return {
        labels: info.Config.Labels,
        cpu: info.HostConfig.NanoCpus ? info.HostConfig.NanoCpus / 1e9 : undefined,
        memoryMb: info.HostConfig.Memory ? info.HostConfig.Memory / 1024 / 1024 : undefined,
      };
    },
    // Cases run at once (each container takes seconds to start), so leftovers are looked for
    // once all are done: awaitExit removes its container on every path (exit, cancel, timeout,
    // failed start), so none may remain.
    close: async () => {
      const left = await docker.listContainers({ all: true, filters: { label: [`${MANAGED_LABEL}=true`, `agora.conformance=${fileLabel}`] } });
      for (const c of left) await docker.getContainer(c.Id).remove({ force: true });
      expect(left.map((c) => `${c.Id} ${c.State} ${JSON.stringify(c.Labels)}`)).toEqual([]);
    },
  };
}, { concurrent: true });
