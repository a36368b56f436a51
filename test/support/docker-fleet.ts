import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgoraClient } from '@agora/sdk';
import { createRedis, liveRunners } from '@agora/state';
import { cliEnv, type CliEnv } from './cli.js';
import { runnersThatRan } from './cluster.js';
import { until } from './index.js';
import { ensurePodman } from './podman.js';

/** What a Docker fleet test varies: the runner image and how the container runs `agora runner`. */
export interface DockerFleetCase {
  /** Options of `fleet.docker` besides socketPath and the defaults the test sets. */
  options(): Promise<Record<string, unknown>>;
}

interface Report {
  fleets: Array<{ desired: number; running: number; healthy: number; runners: string[]; replicas: Array<{ id: string; host?: string }> }>;
}

/**
 * `agora fleet scale 3` on the docker provider against Podman: three runner containers that
 * reach the test's Redis (host network), register, take items, and `scale 1` removes two.
 */
export function describeDockerFleet(title: string, c: DockerFleetCase): void {
  let env: CliEnv;
  let docker: Docker;
  let client: AgoraClient;

  const status = (): Report => {
    const r = env.agora(['fleet', 'status', '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Report;
  };
  const containers = (): Promise<Docker.ContainerInfo[]> =>
    docker.listContainers({ all: true, filters: { label: [`agora.fleet.namespace=${env.namespace}`] } });

  beforeAll(async () => {
    const podman = await ensurePodman();
    docker = new Docker({ socketPath: podman.socketPath });
    env = cliEnv({
      queues: { default: { concurrency: 6 } },
      runner: { shutdownGraceMs: 2000 },
      fleet: {
        docker: {
          provider: 'docker',
          // network host: the containers reach the test's Redis on 127.0.0.1. vcpu 4: this 2-core
          // host's cap would keep 2 of the 3 asked for.
          options: { socketPath: podman.socketPath, network: 'host', vcpu: 4, args: ['--concurrency', '1'], stopTimeoutMs: 20_000, ...(await c.options()) },
        },
      },
    });
    await env.start(['serve'], /scheduler serving/);
    client = new AgoraClient({ redisUrl: String(env.env['REDIS_URL']), namespace: env.namespace });
  }, 15 * 60_000);

  afterAll(async () => {
    if (env) env.agora(['fleet', 'stop'], { timeoutMs: 90_000 });
    // Whatever the verb left: no container outlives the file.
    if (docker && env) for (const ct of await containers()) await docker.getContainer(ct.Id).remove({ force: true });
    await client?.close();
    await env?.close();
  }, 120_000);

  describe(title, () => {
    it('scale 3 runs three runner containers that register and take items; scale 1 removes two', async () => {
      const scaled = env.agora(['fleet', 'scale', '3'], { timeoutMs: 180_000 });
      expect(scaled.code, scaled.stderr).toBe(0);
      expect(scaled.stdout).toBe('fleet docker (docker): desired 3, running 3\n');
      const up = await containers();
      expect(up.map((ct) => ct.State)).toEqual(['running', 'running', 'running']);
      expect(up.every((ct) => ct.Labels['agora.fleet'] === 'docker')).toBe(true);

      const redis = createRedis(String(env.env['REDIS_URL']));
      try {
        await until('three runner containers registered', async () => (await liveRunners(redis, env.namespace)).length === 3, 120_000, 250);
      } finally {
        redis.disconnect();
      }
      const healthy = status();
      const fleet = healthy.fleets[0]!;
      expect(fleet).toMatchObject({ desired: 3, running: 3, healthy: 3 });
      // Each runner registered under its container's host name.
      expect(new Set(fleet.runners.map((id) => id.split(':')[0])).size).toBe(3);
      expect(fleet.runners.map((id) => id.split(':')[0]).sort()).toEqual(fleet.replicas.map((r) => r.host).sort());

      const runId = await client.submit({ id: 'docker-fleet', items: Array.from({ length: 6 }, (_, i) => ({ id: `i${i}`, executor: 'noop', inputs: { sleepMs: 1500 } })) });
      const { end, runners } = await runnersThatRan(client, runId);
      expect(end).toBe('succeeded');
      expect([...runners].sort()).toEqual([...fleet.runners].sort());

      const down = env.agora(['fleet', 'scale', '1'], { timeoutMs: 120_000 });
      expect(down.code, down.stderr).toBe(0);
      expect(down.stdout).toBe('fleet docker (docker): desired 1, running 1\n');
      const left = await containers();
      expect(left).toHaveLength(1);
      // The oldest container stays (creation order in ms: the engine's Created is in seconds).
      expect(left[0]!.Id).toBe([...up].sort((a, b) => Number(a.Labels['agora.fleet.created']) - Number(b.Labels['agora.fleet.created']))[0]!.Id);
    }, 10 * 60_000);
  });
}
