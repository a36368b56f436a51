import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describeDockerFleet } from '../support/docker-fleet.js';

/**
 * Slow scenario: `agora fleet scale 3` with the project's runner image, built offline by
 * scripts/build-images.sh (cached by input hash; a source change costs a compile in the image).
 * The image's entrypoint is the CLI, so the containers run the provider's default command
 * (`runner`), with the config file mounted at /etc/agora and REDIS_URL in their environment.
 */
const SCRIPT = fileURLToPath(new URL('../../scripts/build-images.sh', import.meta.url));

function buildImage(): Promise<string> {
  return new Promise((resolve, reject) => {
    // A tag of its own: `latest` belongs to whoever runs the compose topology on this engine.
    const env = { ...process.env, AGORA_IMAGE_TAG: process.env['AGORA_IMAGE_TAG'] ?? 'fleet-scenario' };
    execFile('bash', [SCRIPT, '--env'], { env, timeout: 30 * 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`scripts/build-images.sh failed: ${err.message}\n${stderr}`));
      const m = /^export AGORA_IMAGE=(\S+)$/m.exec(stdout);
      if (!m) return reject(new Error(`scripts/build-images.sh printed no AGORA_IMAGE:\n${stdout}`));
      resolve(m[1]!.replace(/^'|'$/g, ''));
    });
  });
}

describeDockerFleet('DockerFleetProvider (the project image, localhost/agora/agora)', {
  async options() {
    return { image: await buildImage(), env: { AGORA_LOG_LEVEL: 'warn' } };
  },
});
