import { DescribeServicesCommand, DescribeTasksCommand, ECSClient, ListTasksCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProviderError, ValueError } from '@agora/core';
import { EcsFleetProvider, type EcsFleetOptions } from '@agora/fleet-ecs';

const REGION = 'eu-west-1';
const CLUSTER = 'agora';
const SERVICE = 'agora-runners';
const T0 = new Date('2026-01-01T00:00:00.000Z');
const taskArn = (n: number): string => `arn:aws:ecs:eu-west-1:123456789012:task/agora/${String(n).padStart(32, '0')}`;

let client: ECSClient;
let ecs: AwsClientStub<ECSClient>;

function provider(over: Partial<EcsFleetOptions> = {}): EcsFleetProvider {
  return new EcsFleetProvider({ cluster: CLUSTER, service: SERVICE, region: REGION, ...over }, { name: 'cloud' }, { ecs: client });
}

function inputs<T>(calls: { args: [{ input: T }] }[]): T[] {
  return calls.map((c) => c.args[0].input);
}

beforeEach(() => {
  client = new ECSClient({ region: REGION, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example' } });
  ecs = mockClient(client);
  ecs.on(UpdateServiceCommand).resolves({});
  ecs.on(DescribeServicesCommand).resolves({ services: [{ serviceName: SERVICE, status: 'ACTIVE', desiredCount: 3, runningCount: 2, pendingCount: 1 }], failures: [] });
  ecs.on(ListTasksCommand).resolves({ taskArns: [taskArn(1), taskArn(2), taskArn(3)] });
  ecs.on(DescribeTasksCommand).resolves({
    tasks: [
      { taskArn: taskArn(1), lastStatus: 'RUNNING', healthStatus: 'HEALTHY', startedAt: T0 },
      { taskArn: taskArn(2), lastStatus: 'RUNNING', healthStatus: 'UNHEALTHY', startedAt: T0 },
      { taskArn: taskArn(3), lastStatus: 'PENDING', healthStatus: 'UNKNOWN' },
    ],
  });
});

afterEach(() => {
  ecs.restore();
});

describe('EcsFleetProvider (contract against the AWS SDK, mocked)', () => {
  it('scale sends exactly UpdateService { cluster, service, desiredCount }, then reads the service and its tasks', async () => {
    const status = await provider().scale(3);
    expect(inputs(ecs.commandCalls(UpdateServiceCommand))).toEqual([{ cluster: CLUSTER, service: SERVICE, desiredCount: 3 }]);
    expect(inputs(ecs.commandCalls(DescribeServicesCommand))).toEqual([{ cluster: CLUSTER, services: [SERVICE] }]);
    expect(inputs(ecs.commandCalls(ListTasksCommand))).toEqual([{ cluster: CLUSTER, serviceName: SERVICE, maxResults: 100 }]);
    expect(inputs(ecs.commandCalls(DescribeTasksCommand))).toEqual([{ cluster: CLUSTER, tasks: [taskArn(1), taskArn(2), taskArn(3)] }]);
    // desired and running are the service's counts; healthy leaves out the task ECS calls UNHEALTHY and the one not running.
    expect(status).toMatchObject({ name: 'cloud', provider: 'ecs', desired: 3, running: 2, healthy: 1 });
    expect(status.replicas.map((r) => r.state)).toEqual(['running', 'running', 'starting']);
    expect(status.replicas[0]).toMatchObject({ id: taskArn(1), startedAt: T0.toISOString() });
  });

  it('stop sets desiredCount 0; start asks for options.replicas', async () => {
    await provider({ replicas: 4 }).start();
    await provider().stop();
    expect(inputs(ecs.commandCalls(UpdateServiceCommand)).map((i) => i.desiredCount)).toEqual([4, 0]);
  });

  it('with options.vcpu the count rule caps the count, and start defaults to one per vCPU', async () => {
    await provider({ vcpu: 2 }).scale(5);
    await provider({ vcpu: 2 }).start();
    await provider().start();
    expect(inputs(ecs.commandCalls(UpdateServiceCommand)).map((i) => i.desiredCount)).toEqual([2, 2, 1]);
  });

  it('refuses a count past maxReplicas or not a non-negative integer, before any request', async () => {
    await expect(provider({ maxReplicas: 10 }).scale(11)).rejects.toThrow(new ValueError('11 replicas exceed fleet.cloud.options.maxReplicas (10)'));
    await expect(provider().scale(-1)).rejects.toBeInstanceOf(ValueError);
    await expect(provider().scale(1.5)).rejects.toBeInstanceOf(ValueError);
    expect(ecs.calls()).toHaveLength(0);
  });

  it('follows ListTasks pages and describes tasks 100 at a time', async () => {
    const arns = Array.from({ length: 150 }, (_, i) => taskArn(i));
    ecs.on(ListTasksCommand).resolvesOnce({ taskArns: arns.slice(0, 100), nextToken: 'p2' }).resolvesOnce({ taskArns: arns.slice(100) });
    ecs.on(DescribeTasksCommand).callsFake((input: { tasks: string[] }) => ({ tasks: input.tasks.map((t) => ({ taskArn: t, lastStatus: 'RUNNING' })) }));
    const list = await provider().list();
    expect(list).toHaveLength(150);
    expect(inputs(ecs.commandCalls(ListTasksCommand))).toEqual([
      { cluster: CLUSTER, serviceName: SERVICE, maxResults: 100 },
      { cluster: CLUSTER, serviceName: SERVICE, maxResults: 100, nextToken: 'p2' },
    ]);
    expect(inputs(ecs.commandCalls(DescribeTasksCommand)).map((i) => i.tasks?.length)).toEqual([100, 50]);
  });

  it('health: ACTIVE service is healthy; a missing service and a DRAINING one are named', async () => {
    expect(await provider().health()).toMatchObject({ ok: true, message: `ECS service "${SERVICE}" is ACTIVE in cluster "${CLUSTER}" (desired 3, running 2)` });
    ecs.on(DescribeServicesCommand).resolves({ services: [], failures: [{ arn: SERVICE, reason: 'MISSING' }] });
    expect(await provider().health()).toMatchObject({ ok: false, message: `ECS service "${SERVICE}" in cluster "${CLUSTER}": MISSING` });
    ecs.on(DescribeServicesCommand).resolves({ services: [{ serviceName: SERVICE, status: 'DRAINING' }] });
    expect(await provider().health()).toMatchObject({ ok: false, message: `ECS service "${SERVICE}" is DRAINING, not ACTIVE` });
  });

  it('an SDK failure becomes a ProviderError naming the call', async () => {
    ecs.on(UpdateServiceCommand).rejects(Object.assign(new Error('User is not authorized to perform: ecs:UpdateService'), { name: 'AccessDeniedException' }));
    const err = await provider().scale(2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as Error).message).toBe('UpdateService failed: AccessDeniedException: User is not authorized to perform: ecs:UpdateService');
  });

  it('rejects unknown options with their path', () => {
    expect(() => new EcsFleetProvider({ cluster: CLUSTER, service: SERVICE, desired: 3 }, { name: 'cloud' })).toThrow(/fleet\.cloud\.options: Unrecognized key/);
  });
});

describe('EcsFleetProvider without AWS setup (fails fast, naming what is missing)', () => {
  const KEYS = ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_EC2_METADATA_DISABLED', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI'];
  const saved = new Map<string, string | undefined>();
  beforeEach(() => {
    for (const k of KEYS) {
      saved.set(k, process.env[k]);
      delete process.env[k];
    }
    process.env['AWS_CONFIG_FILE'] = '/nonexistent/agora-aws-config';
    process.env['AWS_SHARED_CREDENTIALS_FILE'] = '/nonexistent/agora-aws-credentials';
    process.env['AWS_EC2_METADATA_DISABLED'] = 'true';
  });
  afterEach(() => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('names the region, then the credentials, and sends nothing', async () => {
    const bare = (over: Partial<EcsFleetOptions> = {}): EcsFleetProvider => {
      const c = new ECSClient(over.region ? { region: over.region } : {});
      ecs = mockClient(c);
      return new EcsFleetProvider({ cluster: CLUSTER, service: SERVICE, ...over }, { name: 'cloud' }, { ecs: c });
    };
    expect(await bare().health()).toMatchObject({ ok: false, message: 'DescribeServices: AWS region is not configured: set AWS_REGION (or fleet.cloud.options.region)' });
    const noCreds = bare({ region: REGION });
    const err = await noCreds.scale(1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as Error).message).toMatch(/^UpdateService: AWS credentials are not configured \(the default chain found none: .*\): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
    expect(ecs.calls()).toHaveLength(0);
  });
});
