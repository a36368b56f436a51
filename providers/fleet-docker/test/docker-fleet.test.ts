import { fileURLToPath } from 'node:url';
import { describeDockerFleet } from '../../../test/support/docker-fleet.js';
import { ensurePodman } from '../../../test/support/podman.js';

/**
 * The docker fleet provider against Podman with the offline node test image: the repository is
 * bind-mounted read-only at its own path and each container runs its `agora runner` (built by
 * `tsc -b`), so no image build is needed. test/scenarios/fleet-docker-image.test.ts runs the
 * same with the project's own image.
 */
const REPO = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');

describeDockerFleet('DockerFleetProvider (node test image, repository bind-mounted)', {
  async options() {
    const podman = await ensurePodman();
    return {
      image: podman.images.node,
      command: ['node', `${REPO}/apps/cli/dist/bin.js`, 'runner'],
      binds: [`${REPO}:${REPO}:ro`],
      env: { AGORA_DATA_DIR: '/tmp/agora-data', AGORA_LOG_LEVEL: 'warn' },
    };
  },
});
