import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Docker from 'dockerode';
import { z } from 'zod';
import {
  IllegalStateError,
  ProviderError,
  fleetRunnerCount,
  fleetScaleTarget,
  parseFleetOptions,
  type FleetProvider,
  type FleetReplica,
  type FleetStatus,
  type ProviderFactoryContext,
  type ProviderHealth,
  type RunnerLaunch,
} from '@agora/core';

/** Labels that find a fleet's containers (and nothing else: never the compute provider's workers). */
export const FLEET_LABEL = 'agora.fleet';
export const FLEET_NAMESPACE_LABEL = 'agora.fleet.namespace';
/** The host name the replica's runner registers with (`AGORA_HOST`), to match its registration. */
export const FLEET_HOST_LABEL = 'agora.fleet.host';
/** Creation time in epoch ms: the engine's `Created` is in seconds, too coarse to tell the newest of a scale apart. */
export const FLEET_CREATED_LABEL = 'agora.fleet.created';

/** A container's creation time in ms: our label, else the engine's seconds. */
function createdMs(c: Docker.ContainerInfo): number {
  const ms = Number(c.Labels[FLEET_CREATED_LABEL]);
  return Number.isSafeInteger(ms) ? ms : c.Created * 1000;
}

const ulimitSchema = z.object({ Name: z.string().min(1), Soft: z.number().int(), Hard: z.number().int() }).strict();

export const dockerFleetOptionsSchema = z
  .object({
    /** The runner image (its entrypoint the agora CLI, as the project's Dockerfile makes it). A digest-pinned reference is safest. */
    image: z.string().min(1).max(1024),
    /** The container's command before the runner flags. @default ["runner"] (the image's entrypoint is the CLI) */
    command: z.array(z.string().min(1).max(4096)).min(1).max(16).default(['runner']),
    /** Extra flags of `agora runner`. @default [] */
    args: z.array(z.string().max(4096)).max(32).default([]),
    /** Unix socket of the Docker Engine API. @default a `unix://` DOCKER_HOST, else /var/run/docker.sock */
    socketPath: z.string().min(1).optional(),
    /**
     * The config file the runners read, mounted read-only at /etc/agora/ with AGORA_CONFIG set;
     * relative to the config's folder. `false`: none (the image's own AGORA_CONFIG applies).
     * @default the config file the CLI loaded, if any
     */
    configFile: z.union([z.string().min(1), z.literal(false)]).optional(),
    /** Redis as the containers reach it (another host name inside a network). @default the CLI's REDIS_URL */
    redisUrl: z.string().min(1).optional(),
    /** Plain environment variables of the runners. @default {} */
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().max(65_536)).default({}),
    /** `HostConfig.NetworkMode`: `host`, `bridge`, a network name. @default the engine's default */
    network: z.string().min(1).optional(),
    /** `HostConfig.Binds` (`host:container[:ro]`): a shared data volume, for instance. @default [] */
    binds: z.array(z.string().min(1)).max(64).default([]),
    /** `HostConfig.Ulimits`; Podman needs nofile and nproc set where raising limits is forbidden. */
    ulimits: z.array(ulimitSchema).max(16).default([
      { Name: 'nofile', Soft: 1024, Hard: 1024 },
      { Name: 'nproc', Soft: 4096, Hard: 4096 },
    ]),
    /** Restart policy: a runner that dies on an unexpected error is restarted by the engine. @default "unless-stopped" */
    restart: z.enum(['no', 'on-failure', 'unless-stopped', 'always']).default('unless-stopped'),
    /** Replicas `start` brings up. @default 1 (the count rule's default on a host) */
    replicas: z.number().int().positive().max(1000).optional(),
    /** CPUs of the engine's host for the count rule. @default the engine's NCPU */
    vcpu: z.number().int().positive().max(4096).optional(),
    /** How long a stopped container gets (SIGTERM: it hands its items back) before SIGKILL. @default 45000 */
    stopTimeoutMs: z.number().int().min(0).max(24 * 3600 * 1000).default(45_000),
  })
  .strict();

export type DockerFleetOptions = z.input<typeof dockerFleetOptionsSchema>;

const CONTAINER_CONFIG_DIR = '/etc/agora';
/** Where a replica finds the CA of a TLS Redis (this CLI's AGORA_REDIS_CA_FILE, mounted read-only). */
const CONTAINER_REDIS_CA = `${CONTAINER_CONFIG_DIR}/redis-ca.pem`;

function engineMessage(err: unknown): string {
  const e = err as { json?: { message?: string } | null; reason?: string; message?: string };
  return e.json?.message ?? e.reason ?? e.message ?? String(err);
}

function replicaState(state: string): FleetReplica['state'] {
  if (state === 'running') return 'running';
  if (state === 'created' || state === 'restarting' || state === 'configured' || state === 'initialized') return 'starting';
  if (state === 'removing' || state === 'stopping' || state === 'paused') return 'stopping';
  return 'exited';
}

/**
 * Runner replicas as containers of the runner image on one Docker engine (Docker, or Podman's
 * Docker API), found by their labels (`agora.fleet`, `agora.fleet.namespace`), so any later
 * process sees them. Each gets the Redis URL, namespace and host name in its environment, and the
 * config file mounted read-only. Scaling down stops the newest containers (SIGTERM, then the
 * engine's SIGKILL after `stopTimeoutMs`) and removes them.
 */
export class DockerFleetProvider implements FleetProvider {
  readonly name = 'docker';
  private readonly opts: z.infer<typeof dockerFleetOptionsSchema>;
  private readonly docker: Docker;
  readonly endpoint: string;
  private readonly fleetName: string;
  private readonly launch: RunnerLaunch;

  constructor(
    options: DockerFleetOptions | Readonly<Record<string, unknown>>,
    private readonly ctx: ProviderFactoryContext,
  ) {
    this.fleetName = ctx.name ?? 'docker';
    this.opts = parseFleetOptions(dockerFleetOptionsSchema, options, `fleet.${this.fleetName}`);
    if (ctx.runnerLaunch === undefined) throw new IllegalStateError('the docker fleet provider needs runnerLaunch (the Redis URL its runners use)');
    this.launch = ctx.runnerLaunch;
    const dockerHost = process.env['DOCKER_HOST'];
    const socketPath = this.opts.socketPath ?? (dockerHost?.startsWith('unix://') ? dockerHost.slice('unix://'.length) : undefined);
    if (socketPath === undefined && dockerHost) {
      this.docker = new Docker();
      this.endpoint = dockerHost;
    } else {
      this.docker = new Docker({ socketPath: socketPath ?? '/var/run/docker.sock' });
      this.endpoint = `unix://${socketPath ?? '/var/run/docker.sock'}`;
    }
  }

  async health(): Promise<ProviderHealth> {
    const details = { endpoint: this.endpoint, image: this.opts.image };
    try {
      await this.docker.ping();
    } catch (err) {
      return {
        ok: false,
        message: `Docker Engine API at ${this.endpoint} does not answer (${engineMessage(err)}): start Docker or Podman's API service, or set fleet.${this.fleetName}.options.socketPath`,
        details,
      };
    }
    try {
      await this.docker.getImage(this.opts.image).inspect();
    } catch (err) {
      return { ok: false, message: `runner image ${this.opts.image} is not on the engine at ${this.endpoint} (${engineMessage(err)}): build it (bash scripts/build-images.sh) or pull it`, details };
    }
    const file = this.configFile();
    return { ok: true, message: `runner image ${this.opts.image} on ${this.endpoint}${file ? `, config ${file}` : ''}`, details };
  }

  async start(): Promise<FleetStatus> {
    return this.scale(fleetRunnerCount(this.opts.replicas, await this.vcpu(), 'host'));
  }

  async stop(): Promise<FleetStatus> {
    return this.scale(0);
  }

  async scale(replicas: number): Promise<FleetStatus> {
    const target = fleetScaleTarget(replicas, await this.vcpu(), 'host');
    const all = await this.containers();
    // A replica whose container exited for good (restart policy exhausted or "no") is replaced.
    const dead = all.filter((c) => replicaState(c.State) === 'exited');
    await Promise.all(dead.map((c) => this.remove(c.Id)));
    const live = all.filter((c) => replicaState(c.State) !== 'exited');
    if (live.length < target) {
      for (let i = live.length; i < target; i++) await this.createReplica();
    } else if (live.length > target) {
      // The newest go first: the oldest have warmed up and are likelier to be mid-item.
      const extra = [...live].sort((a, b) => createdMs(b) - createdMs(a)).slice(0, live.length - target);
      await Promise.all(extra.map((c) => this.stopAndRemove(c.Id)));
    }
    return this.status();
  }

  async status(): Promise<FleetStatus> {
    const replicas = await this.list();
    return {
      name: this.fleetName,
      provider: this.name,
      // Every container of the fleet is one replica asked for; an exited one is a gap scale fills.
      desired: replicas.length,
      running: replicas.filter((r) => r.state === 'running').length,
      replicas,
    };
  }

  async list(): Promise<FleetReplica[]> {
    return (await this.containers()).map((c) => ({
      id: c.Id,
      state: replicaState(c.State),
      ...(c.Labels[FLEET_HOST_LABEL] !== undefined ? { host: c.Labels[FLEET_HOST_LABEL] } : {}),
      startedAt: new Date(createdMs(c)).toISOString(),
    }));
  }

  private async containers(): Promise<Docker.ContainerInfo[]> {
    try {
      const list = await this.docker.listContainers({ all: true, filters: { label: [`${FLEET_LABEL}=${this.fleetName}`, `${FLEET_NAMESPACE_LABEL}=${this.ctx.namespace}`] } });
      return list.sort((a, b) => createdMs(a) - createdMs(b) || a.Id.localeCompare(b.Id));
    } catch (err) {
      throw new ProviderError(this.name, `cannot list containers on the Docker engine at ${this.endpoint}: ${engineMessage(err)}`, { cause: err });
    }
  }

  private async vcpu(): Promise<number> {
    if (this.opts.vcpu !== undefined) return this.opts.vcpu;
    try {
      const info = (await this.docker.info()) as { NCPU?: number };
      return info.NCPU !== undefined && info.NCPU >= 1 ? info.NCPU : 1;
    } catch (err) {
      throw new ProviderError(this.name, `cannot read the CPU count of the Docker engine at ${this.endpoint}: ${engineMessage(err)}`, { cause: err });
    }
  }

  /** The host path of the config file to mount, or undefined for none. */
  private configFile(): string | undefined {
    const chosen = this.opts.configFile ?? this.launch.configFile;
    if (chosen === false || chosen === undefined) return undefined;
    return path.resolve(this.ctx.configDir, chosen);
  }

  /**
   * The host path of the CA a replica needs for a TLS Redis (`rediss://`) with a private CA: this
   * CLI's AGORA_REDIS_CA_FILE, unless `options.env` sets the variable itself (its own mount).
   * Without it the runners would trust only Node's default CAs and never reach Redis.
   */
  private redisCaFile(redisUrl: string): string | undefined {
    if (!/^rediss(\+cluster)?:/i.test(redisUrl) || this.opts.env['AGORA_REDIS_CA_FILE'] !== undefined) return undefined;
    const caFile = process.env['AGORA_REDIS_CA_FILE'];
    return caFile === undefined || caFile === '' ? undefined : path.resolve(caFile);
  }

  private async createReplica(): Promise<void> {
    const suffix = randomBytes(5).toString('hex');
    // Host names are at most 63 characters: the fleet name (<= 32) and the suffix fit.
    const host = `${this.fleetName}-${suffix}`;
    const file = this.configFile();
    const redisUrl = this.opts.redisUrl ?? this.launch.redisUrl;
    const caFile = this.redisCaFile(redisUrl);
    const binds = [
      ...this.opts.binds,
      ...(file ? [`${file}:${CONTAINER_CONFIG_DIR}/${path.basename(file)}:ro`] : []),
      ...(caFile ? [`${caFile}:${CONTAINER_REDIS_CA}:ro`] : []),
    ];
    const env: Record<string, string> = {
      ...this.opts.env,
      ...(caFile ? { AGORA_REDIS_CA_FILE: CONTAINER_REDIS_CA } : {}),
      // The Redis URL may hold a password: the environment, never argv. (`docker inspect` shows
      // the environment to whoever may use the engine, who can read the containers anyway.)
      REDIS_URL: redisUrl,
      AGORA_NAMESPACE: this.ctx.namespace,
      AGORA_HOST: host,
      AGORA_FLEET: this.fleetName,
      ...(file ? { AGORA_CONFIG: `${CONTAINER_CONFIG_DIR}/${path.basename(file)}` } : {}),
    };
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer({
        name: `agora-${this.ctx.namespace}-${this.fleetName}-${suffix}`,
        Hostname: host,
        Image: this.opts.image,
        Cmd: [...this.opts.command, ...this.opts.args],
        Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
        Labels: { [FLEET_LABEL]: this.fleetName, [FLEET_NAMESPACE_LABEL]: this.ctx.namespace, [FLEET_HOST_LABEL]: host, [FLEET_CREATED_LABEL]: String(Date.now()) },
        StopTimeout: Math.ceil(this.opts.stopTimeoutMs / 1000),
        HostConfig: {
          ...(this.opts.ulimits.length > 0 ? { Ulimits: this.opts.ulimits.map((u) => ({ ...u })) } : {}),
          ...(this.opts.network !== undefined ? { NetworkMode: this.opts.network } : {}),
          ...(binds.length > 0 ? { Binds: binds } : {}),
          RestartPolicy: { Name: this.opts.restart },
        },
      });
    } catch (err) {
      throw new ProviderError(this.name, `cannot create a runner container from ${this.opts.image} on ${this.endpoint}: ${engineMessage(err)}`, { cause: err });
    }
    try {
      await container.start();
    } catch (err) {
      // INVARIANT: a container that did not start is removed here: nothing would scale it away.
      await this.remove(container.id);
      throw new ProviderError(this.name, `cannot start a runner container from ${this.opts.image}: ${engineMessage(err)}`, { cause: err });
    }
  }

  private async stopAndRemove(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: Math.ceil(this.opts.stopTimeoutMs / 1000) });
    } catch {
      // Already stopped (304) or gone (404); anything else still ends in the forced removal below.
    }
    await this.remove(id);
  }

  private async remove(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true });
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) {
        throw new ProviderError(this.name, `cannot remove runner container ${id.slice(0, 12)}: ${engineMessage(err)}`, { cause: err });
      }
    }
  }
}
