import { DescribeServicesCommand, DescribeTasksCommand, ECSClient, ListTasksCommand, UpdateServiceCommand, type Service, type Task } from '@aws-sdk/client-ecs';
import { z } from 'zod';
import {
  ProviderError,
  ValueError,
  fleetScaleTarget,
  parseFleetOptions,
  type FleetProvider,
  type FleetReplica,
  type FleetStatus,
  type ProviderFactoryContext,
  type ProviderHealth,
} from '@agora/core';

export const ecsFleetOptionsSchema = z
  .object({
    /** The ECS cluster (name or ARN). */
    cluster: z.string().min(1).max(2048),
    /** The ECS service whose tasks run `agora runner` (its task definition holds the image, REDIS_URL, config). */
    service: z.string().min(1).max(2048),
    /** @default AWS_REGION / AWS_DEFAULT_REGION / the SDK's profile region */
    region: z.string().min(1).max(64).optional(),
    /**
     * vCPUs of the capacity the service's runners share (EC2 container instances: their total).
     * Set, it caps the count (`max(1, min(vcpu, n))`) and is `start`'s default count; unset
     * (Fargate: every task is its own host), the count is not capped by it.
     */
    vcpu: z.number().int().positive().max(100_000).optional(),
    /** Tasks `start` asks for. @default vcpu, else 1 */
    replicas: z.number().int().positive().max(10_000).optional(),
    /** Most tasks `scale` may ask for: a typo must not start a thousand. @default 100 */
    maxReplicas: z.number().int().positive().max(10_000).default(100),
  })
  .strict();

export type EcsFleetOptions = z.input<typeof ecsFleetOptionsSchema>;

function taskState(lastStatus: string | undefined): FleetReplica['state'] {
  switch (lastStatus) {
    case 'RUNNING':
      return 'running';
    case 'PROVISIONING':
    case 'PENDING':
    case 'ACTIVATING':
      return 'starting';
    case 'DEACTIVATING':
    case 'STOPPING':
    case 'DEPROVISIONING':
      return 'stopping';
    default:
      return 'exited';
  }
}

/**
 * Runner replicas as the tasks of an ECS service: `scale` is UpdateService's `desiredCount`,
 * `status` DescribeServices (plus the tasks, for health), `list` ListTasks + DescribeTasks. ECS
 * stops a task with SIGTERM and SIGKILLs it after the task definition's `stopTimeout`: give it
 * `runner.shutdownGraceMs` plus slack, so the runner hands its items back.
 */
export class EcsFleetProvider implements FleetProvider {
  readonly name = 'ecs';
  private readonly opts: z.infer<typeof ecsFleetOptionsSchema>;
  private readonly fleetName: string;
  private client: ECSClient | undefined;

  /** `clients.ecs`: an injected client (tests, custom credentials). @default a new client for `region` */
  constructor(options: EcsFleetOptions | Readonly<Record<string, unknown>>, ctx: Pick<ProviderFactoryContext, 'name'> = {}, clients: { readonly ecs?: ECSClient } = {}) {
    this.fleetName = ctx.name ?? 'ecs';
    this.opts = parseFleetOptions(ecsFleetOptionsSchema, options, `fleet.${this.fleetName}`);
    this.client = clients.ecs;
  }

  private ecs(): ECSClient {
    this.client ??= new ECSClient(this.opts.region ? { region: this.opts.region } : {});
    return this.client;
  }

  /** Every call goes through here: a missing region or credentials is named, not an SDK stack. */
  private async send<T>(what: string, call: (c: ECSClient) => Promise<T>): Promise<T> {
    const missing = await this.missingSetup();
    if (missing !== undefined) throw new ProviderError(this.name, `${what}: ${missing}`);
    try {
      return await call(this.ecs());
    } catch (err) {
      const e = err as { name?: string; message?: string };
      throw new ProviderError(this.name, `${what} failed: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`, { cause: err });
    }
  }

  /** The first missing piece (region, then credentials) by name, or undefined when both are there. */
  private async missingSetup(): Promise<string | undefined> {
    let region: string | undefined = this.opts.region;
    if (region === undefined) {
      try {
        region = (await this.ecs().config.region()) || undefined;
      } catch {
        region = undefined;
      }
    }
    if (region === undefined) return `AWS region is not configured: set AWS_REGION (or fleet.${this.fleetName}.options.region)`;
    try {
      const creds = await this.ecs().config.credentials();
      if (!creds.accessKeyId) throw new Error('empty credentials');
    } catch (err) {
      return (
        `AWS credentials are not configured (the default chain found none: ${(err as Error).message}): set AWS_ACCESS_KEY_ID and ` +
        'AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials, or run with an IAM role'
      );
    }
    return undefined;
  }

  async health(): Promise<ProviderHealth> {
    const details = { cluster: this.opts.cluster, service: this.opts.service };
    try {
      const svc = await this.describe();
      if (svc.status !== 'ACTIVE') return { ok: false, message: `ECS service "${this.opts.service}" is ${svc.status ?? 'in an unknown state'}, not ACTIVE`, details };
      return { ok: true, message: `ECS service "${this.opts.service}" is ACTIVE in cluster "${this.opts.cluster}" (desired ${svc.desiredCount ?? 0}, running ${svc.runningCount ?? 0})`, details };
    } catch (err) {
      return { ok: false, message: (err as Error).message, details };
    }
  }

  async start(): Promise<FleetStatus> {
    return this.scale(this.opts.replicas ?? this.opts.vcpu ?? 1);
  }

  async stop(): Promise<FleetStatus> {
    return this.scale(0);
  }

  async scale(replicas: number): Promise<FleetStatus> {
    const desiredCount = fleetScaleTarget(replicas, this.opts.vcpu, 'cloud');
    if (replicas > this.opts.maxReplicas) throw new ValueError(`${replicas} replicas exceed fleet.${this.fleetName}.options.maxReplicas (${this.opts.maxReplicas})`);
    await this.send('UpdateService', (c) => c.send(new UpdateServiceCommand({ cluster: this.opts.cluster, service: this.opts.service, desiredCount })));
    return this.status();
  }

  async status(): Promise<FleetStatus> {
    const svc = await this.describe();
    const replicas = await this.list();
    return {
      name: this.fleetName,
      provider: this.name,
      desired: svc.desiredCount ?? 0,
      running: svc.runningCount ?? 0,
      // ECS replaces a task its health check calls UNHEALTHY; one without a check stays UNKNOWN.
      healthy: replicas.filter((r) => r.state === 'running' && (r as FleetReplica & { health?: string }).health !== 'UNHEALTHY').length,
      replicas,
    };
  }

  async list(): Promise<Array<FleetReplica & { health?: string }>> {
    const arns: string[] = [];
    let nextToken: string | undefined;
    // Bounded: a service has at most maxReplicas tasks we asked for (plus those draining).
    for (let page = 0; page < Math.ceil((2 * this.opts.maxReplicas) / 100) + 1; page++) {
      const out = await this.send('ListTasks', (c) =>
        c.send(new ListTasksCommand({ cluster: this.opts.cluster, serviceName: this.opts.service, maxResults: 100, ...(nextToken ? { nextToken } : {}) })),
      );
      arns.push(...(out.taskArns ?? []));
      nextToken = out.nextToken;
      if (!nextToken) break;
    }
    const tasks: Task[] = [];
    for (let i = 0; i < arns.length; i += 100) {
      const chunk = arns.slice(i, i + 100);
      const out = await this.send('DescribeTasks', (c) => c.send(new DescribeTasksCommand({ cluster: this.opts.cluster, tasks: chunk })));
      tasks.push(...(out.tasks ?? []));
    }
    return tasks.map((t) => ({
      id: t.taskArn ?? '',
      state: taskState(t.lastStatus),
      ...(t.startedAt ? { startedAt: t.startedAt.toISOString() } : {}),
      ...(t.healthStatus ? { health: t.healthStatus } : {}),
    }));
  }

  private async describe(): Promise<Service> {
    const out = await this.send('DescribeServices', (c) => c.send(new DescribeServicesCommand({ cluster: this.opts.cluster, services: [this.opts.service] })));
    const svc = out.services?.[0];
    if (svc === undefined) {
      const why = out.failures?.[0]?.reason ?? 'not returned';
      throw new ProviderError(this.name, `ECS service "${this.opts.service}" in cluster "${this.opts.cluster}": ${why}`);
    }
    return svc;
  }
}
