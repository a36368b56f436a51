import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { DescribeTaskDefinitionCommand, DescribeTasksCommand, ECSClient, RunTaskCommand } from '@aws-sdk/client-ecs';
import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { ProviderSet, registerTask } from '@agora/registry';
import { LocalStorageProvider } from '@agora/storage-local';
import { startCluster, type TestCluster } from '../../../test/support/cluster.js';
import { ensurePodman } from '../../../test/support/podman.js';

/** The same hello-world integration on Docker (real, via Podman) and Fargate (SDK mocked). */
const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const plan = {
  id: 'hello-1',
  queue: 'default',
  items: [{ id: 'hello', executor: 'dispatch', inputs: { task: 'hello', workerInput: { name: 'agora' } }, depends_on: [], resourceLocks: [] }],
};
const clusters: TestCluster[] = [];
afterAll(async () => {
  for (const c of clusters) await c.close();
});

async function helloWorld(cluster: TestCluster, task: unknown) {
  const storage = await new ProviderSet(cluster.config).storage();
  const reg = await registerTask(storage, cluster.config.namespace, 'hello', task);
  const runId = await cluster.client.submit(plan);
  const status = await cluster.client.wait(runId);
  const events = await cluster.client.events(runId);
  const done = events.find((e) => e.itemId === 'hello' && e.state === 'done');
  const out = done ? Buffer.from(await new LocalStorageProvider({ root: path.join(cluster.dataDir, 'storage') }).get(done.resultRef!)).toString() : '';
  return { status, events, done, reg, out };
}

describe('hello-world on the docker provider (Podman Docker API)', () => {
  it('registers, dispatches into a container, exits 0', async () => {
    const podman = await ensurePodman();
    const cluster = await startCluster({
      config: {
        compute: { docker: { provider: 'docker', options: { socketPath: podman.socketPath, binds: [`${here}:${here}:ro`] } } },
        targets: { docker: { compute: 'docker' } },
        defaultTarget: 'docker',
      },
      runners: 1,
    });
    clusters.push(cluster);
    (cluster.config as { configDir: string }).configDir = here;
    const { status, done, reg, out, events } = await helloWorld(cluster, { image: podman.images.node, command: ['node', 'worker.mjs'] });
    expect(status.state, JSON.stringify(events.filter((e) => e.state === 'failed'))).toBe('succeeded');
    expect(done).toMatchObject({ exitCode: 0, target: 'docker', taskRef: reg.uri });
    expect(out).toMatch(/^hello, agora \(run r[0-9a-z]+, item hello\)\n$/);
  }, 60_000);

  it('refuses an unpinned image with a reason, as an application failure', async () => {
    const podman = await ensurePodman();
    const cluster = await startCluster({
      config: { compute: { docker: { provider: 'docker', options: { socketPath: podman.socketPath } } }, targets: { docker: { compute: 'docker' } }, defaultTarget: 'docker' },
      runners: 1,
    });
    clusters.push(cluster);
    const { status, events } = await helloWorld(cluster, { image: 'localhost/agora-test/node:latest', command: ['node', '-e', '1'] });
    expect(status.state).toBe('failed');
    const failed = events.find((e) => e.itemId === 'hello' && e.state === 'failed')!;
    expect(String(failed['error'])).toMatch(/digest|pinned|sha256/i);
    expect(failed['attempt']).toBe(1);
  }, 60_000);
});

describe('hello-world on the fargate provider (AWS SDK mocked: no ECS emulator runs here)', () => {
  const IMAGE = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello@sha256:${'a'.repeat(64)}`;
  const TASK_ARN = 'arn:aws:ecs:eu-west-1:123456789012:task/agora/0123456789abcdef0123456789abcdef';
  let ecs: AwsClientStub<ECSClient>;
  let logs: AwsClientStub<CloudWatchLogsClient>;
  beforeEach(() => {
    ecs = mockClient(ECSClient);
    logs = mockClient(CloudWatchLogsClient);
  });
  afterEach(() => {
    ecs.restore();
    logs.restore();
  });

  it('registers, dispatches as an ECS task, exits 0, with the exact requests', async () => {
    ecs.on(DescribeTaskDefinitionCommand).resolves({
      taskDefinition: {
        taskDefinitionArn: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/hello:3',
        containerDefinitions: [{ name: 'worker', image: IMAGE, logConfiguration: { logDriver: 'awslogs', options: { 'awslogs-group': '/agora/hello', 'awslogs-stream-prefix': 'agora' } } }],
      },
    });
    ecs.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN, lastStatus: 'PROVISIONING' }], failures: [] });
    ecs.on(DescribeTasksCommand).resolves({
      tasks: [{ taskArn: TASK_ARN, lastStatus: 'STOPPED', stopCode: 'EssentialContainerExited', startedAt: new Date(), stoppedAt: new Date(), containers: [{ name: 'worker', exitCode: 0, lastStatus: 'STOPPED' }] }],
    });
    logs.on(GetLogEventsCommand).resolvesOnce({ events: [{ message: 'hello, agora (fargate)', timestamp: 1 }], nextForwardToken: 'f/1' }).resolves({ events: [], nextForwardToken: 'f/1' });
    const cluster = await startCluster({
      config: {
        compute: {
          aws: { provider: 'fargate', options: { cluster: 'agora', taskDefinition: 'hello:3', containerName: 'worker', subnets: ['subnet-1'], region: 'eu-west-1', pollIntervalMs: 5, maxPollIntervalMs: 20 } },
        },
        targets: { aws: { compute: 'aws' } },
        defaultTarget: 'aws',
      },
      runners: 1,
    });
    clusters.push(cluster);
    const { status, done, out, reg } = await helloWorld(cluster, { image: IMAGE, command: ['node', 'worker.mjs'] });
    expect(status.state).toBe('succeeded');
    expect(done).toMatchObject({ exitCode: 0, target: 'aws', taskRef: reg.uri });
    expect(out).toBe('hello, agora (fargate)\n');
    const run = ecs.commandCalls(RunTaskCommand)[0]!.args[0].input;
    expect(run).toMatchObject({ cluster: 'agora', taskDefinition: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/hello:3', launchType: 'FARGATE', count: 1 });
    const override = run.overrides!.containerOverrides![0]!;
    expect(override.name).toBe('worker');
    expect(override.command).toEqual(['node', 'worker.mjs']);
    expect(override.environment).toEqual(expect.arrayContaining([{ name: 'AGORA_ITEM_ID', value: 'hello' }, { name: 'AGORA_WORKER_INPUT', value: '{"name":"agora"}' }]));
    expect(run.tags).toEqual(expect.arrayContaining([{ key: 'agora.item', value: 'hello' }]));
    expect(ecs.commandCalls(DescribeTasksCommand)[0]!.args[0].input).toEqual({ cluster: 'agora', tasks: [TASK_ARN] });
  }, 60_000);
});
