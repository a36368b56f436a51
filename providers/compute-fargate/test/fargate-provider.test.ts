import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import {
  DescribeClustersCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  RunTaskCommand,
  StopTaskCommand,
  type Task,
  type TaskDefinition,
} from '@aws-sdk/client-ecs';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OUTPUT_CAP_BYTES, ProviderError, ValueError, truncationMarker, type TaskSpec } from '@agora/core';
import { FargateComputeProvider, stoppedOutcome, type FargateComputeOptions } from '@agora/compute-fargate';

const REGION = 'eu-west-1';
const TD_ARN = 'arn:aws:ecs:eu-west-1:123456789012:task-definition/agora-worker:7';
const IMAGE = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker@sha256:${'ab'.repeat(32)}`;
const TASK_ID = '0123456789abcdef0123456789abcdef';
const TASK_ARN = `arn:aws:ecs:eu-west-1:123456789012:task/agora/${TASK_ID}`;
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-key-AbCdEf';
const LOG_STREAM = `agora/worker/${TASK_ID}`;

function taskDefinition(over: Partial<TaskDefinition['containerDefinitions'] extends (infer C)[] | undefined ? C : never> = {}): TaskDefinition {
  return {
    taskDefinitionArn: TD_ARN,
    family: 'agora-worker',
    revision: 7,
    executionRoleArn: 'arn:aws:iam::123456789012:role/ecsTaskExecution',
    containerDefinitions: [
      {
        name: 'worker',
        image: IMAGE,
        secrets: [{ name: 'API_KEY', valueFrom: SECRET_ARN }],
        logConfiguration: { logDriver: 'awslogs', options: { 'awslogs-group': '/agora/workers', 'awslogs-stream-prefix': 'agora', 'awslogs-region': REGION } },
        ...over,
      },
    ],
  };
}

const T0 = new Date('2026-01-01T00:00:00.000Z');
const T1 = new Date('2026-01-01T00:00:30.000Z');

function stopped(over: Partial<Task> = {}, container: Record<string, unknown> = {}): Task {
  return {
    taskArn: TASK_ARN,
    lastStatus: 'STOPPED',
    desiredStatus: 'STOPPED',
    createdAt: T0,
    startedAt: T0,
    stoppedAt: T1,
    stopCode: 'EssentialContainerExited',
    stoppedReason: 'Essential container in task exited',
    containers: [{ name: 'worker', lastStatus: 'STOPPED', exitCode: 0, ...container }],
    ...over,
  };
}

const running: Task = { taskArn: TASK_ARN, lastStatus: 'RUNNING', desiredStatus: 'RUNNING', startedAt: T0 };

let ecsClient: ECSClient;
let logsClient: CloudWatchLogsClient;
let ecs: AwsClientStub<ECSClient>;
let logs: AwsClientStub<CloudWatchLogsClient>;

function provider(over: Partial<FargateComputeOptions> = {}): FargateComputeProvider {
  return new FargateComputeProvider({
    cluster: 'agora',
    taskDefinition: 'agora-worker:7',
    containerName: 'worker',
    subnets: ['subnet-1', 'subnet-2'],
    securityGroups: ['sg-1'],
    pollIntervalMs: 1,
    maxPollIntervalMs: 4,
    ecsClient,
    logsClient,
    ...over,
  });
}

const spec: TaskSpec = {
  image: IMAGE,
  command: ['node', 'worker.js'],
  env: { AGORA_RUN_ID: 'r1' },
  resources: { cpu: 0.5, memoryMb: 1024 },
  labels: { 'agora.run': 'r1', 'agora.item': 'i1' },
};

beforeEach(() => {
  ecsClient = new ECSClient({ region: REGION, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example' } });
  logsClient = new CloudWatchLogsClient({ region: REGION, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example' } });
  ecs = mockClient(ecsClient);
  logs = mockClient(logsClient);
  ecs.on(DescribeTaskDefinitionCommand).resolves({ taskDefinition: taskDefinition() });
  ecs.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN, lastStatus: 'PROVISIONING' }], failures: [] });
  logs.on(GetLogEventsCommand).resolves({ events: [], nextForwardToken: 'f/0' });
});

afterEach(() => {
  ecs.restore();
  logs.restore();
});

function inputs<T>(calls: { args: [{ input: T }] }[]): T[] {
  return calls.map((c) => c.args[0].input);
}

describe('FargateComputeProvider (contract against the AWS SDK, mocked)', () => {
  it('success: sends the exact RunTask, polls DescribeTasks until STOPPED, reads every log page', async () => {
    ecs.on(DescribeTasksCommand).resolvesOnce({ tasks: [{ ...running, lastStatus: 'PROVISIONING' }] }).resolvesOnce({ tasks: [running] }).resolves({ tasks: [stopped()] });
    logs
      .on(GetLogEventsCommand)
      .resolvesOnce({ events: [{ message: 'hello', timestamp: 1 }, { message: 'world', timestamp: 2 }], nextForwardToken: 'f/1' })
      .resolvesOnce({ events: [{ message: '{"result":42}', timestamp: 3 }], nextForwardToken: 'f/2' })
      .resolves({ events: [], nextForwardToken: 'f/2' });
    const p = provider();
    const handle = await p.run(spec, {});
    expect(handle.providerTaskId).toBe(TASK_ARN);
    const exit = await p.awaitExit(handle, {});

    expect(exit).toEqual({ exitCode: 0, startedAt: T0.toISOString(), finishedAt: T1.toISOString(), stdout: Buffer.from('hello\nworld\n{"result":42}\n'), stderr: '' });
    expect(inputs(ecs.commandCalls(DescribeTaskDefinitionCommand))).toEqual([{ taskDefinition: 'agora-worker:7' }]);
    expect(inputs(ecs.commandCalls(RunTaskCommand))).toEqual([
      {
        cluster: 'agora',
        taskDefinition: TD_ARN,
        launchType: 'FARGATE',
        count: 1,
        networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1', 'subnet-2'], securityGroups: ['sg-1'], assignPublicIp: 'DISABLED' } },
        overrides: {
          containerOverrides: [{ name: 'worker', command: ['node', 'worker.js'], environment: [{ name: 'AGORA_RUN_ID', value: 'r1' }] }],
          cpu: '512',
          memory: '1024',
        },
        tags: [
          { key: 'agora.run', value: 'r1' },
          { key: 'agora.item', value: 'i1' },
          { key: 'agora.managed', value: 'true' },
        ],
        startedBy: 'agora',
      },
    ]);
    expect(inputs(ecs.commandCalls(DescribeTasksCommand))).toEqual([
      { cluster: 'agora', tasks: [TASK_ARN] },
      { cluster: 'agora', tasks: [TASK_ARN] },
      { cluster: 'agora', tasks: [TASK_ARN] },
    ]);
    expect(inputs(logs.commandCalls(GetLogEventsCommand))).toEqual([
      { logGroupName: '/agora/workers', logStreamName: LOG_STREAM, startFromHead: true },
      { logGroupName: '/agora/workers', logStreamName: LOG_STREAM, startFromHead: true, nextToken: 'f/1' },
      { logGroupName: '/agora/workers', logStreamName: LOG_STREAM, startFromHead: true, nextToken: 'f/2' },
    ]);
    expect(ecs.commandCalls(StopTaskCommand)).toHaveLength(0);
  });

  it('polls with exponential back-off from pollIntervalMs up to maxPollIntervalMs', async () => {
    ecs.on(DescribeTasksCommand).resolvesOnce({ tasks: [running] }).resolvesOnce({ tasks: [running] }).resolvesOnce({ tasks: [running] }).resolvesOnce({ tasks: [running] }).resolves({ tasks: [stopped()] });
    const p = provider({ pollIntervalMs: 3, maxPollIntervalMs: 20 });
    const handle = await p.run(spec, {});
    const delays: number[] = [];
    const spy = vi.spyOn(globalThis, 'setTimeout');
    try {
      await p.awaitExit(handle, {});
      for (const call of spy.mock.calls) delays.push(Number(call[1]));
    } finally {
      spy.mockRestore();
    }
    expect(delays).toEqual([3, 6, 12, 20]);
    expect(ecs.commandCalls(DescribeTasksCommand)).toHaveLength(5);
  });

  it('a describe of a task definition with a revision is cached; a bare family is described every run', async () => {
    ecs.on(DescribeTasksCommand).resolves({ tasks: [stopped()] });
    const pinned = provider();
    await pinned.run(spec, {});
    await pinned.run(spec, {});
    expect(ecs.commandCalls(DescribeTaskDefinitionCommand)).toHaveLength(1);
    const family = provider({ taskDefinition: 'agora-worker' });
    await family.run(spec, {});
    await family.run(spec, {});
    expect(ecs.commandCalls(DescribeTaskDefinitionCommand)).toHaveLength(3);
    // RunTask names the revision that was checked, not the moving family.
    expect(inputs(ecs.commandCalls(RunTaskCommand)).map((i) => i.taskDefinition)).toEqual([TD_ARN, TD_ARN, TD_ARN, TD_ARN]);
  });

  it('non-zero exit: the container exit code, no providerFailureReason', async () => {
    ecs.on(DescribeTasksCommand).resolves({ tasks: [stopped({}, { exitCode: 3 })] });
    logs.on(GetLogEventsCommand).resolvesOnce({ events: [{ message: 'boom', timestamp: 1 }], nextForwardToken: 'f/1' }).resolves({ events: [], nextForwardToken: 'f/1' });
    const p = provider();
    const exit = await p.awaitExit(await p.run(spec, {}), {});
    expect(exit).toMatchObject({ exitCode: 3, stdout: Buffer.from('boom\n') });
    expect(exit.providerFailureReason).toBeUndefined();
    expect(exit.cancelled).toBeUndefined();
  });

  it('image pull failure: providerFailureReason from stopCode/stoppedReason, no exit code, no log read', async () => {
    const reason = 'CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref';
    ecs.on(DescribeTasksCommand).resolves({
      tasks: [stopped({ startedAt: undefined, stopCode: 'TaskFailedToStart', stoppedReason: reason }, { exitCode: undefined, reason })],
    });
    const p = provider();
    const exit = await p.awaitExit(await p.run(spec, {}), {});
    expect(exit.exitCode).toBeNull();
    expect(exit.providerFailureReason).toBe(`task ${TASK_ID} stopped: TaskFailedToStart: ${reason}: ${reason}`);
    expect(logs.commandCalls(GetLogEventsCommand)).toHaveLength(0);
  });

  it('capacity failure: RunTask failures become providerFailureReason; nothing is polled', async () => {
    ecs.on(RunTaskCommand).resolves({ tasks: [], failures: [{ arn: 'arn:aws:ecs:eu-west-1:123456789012:container-instance/x', reason: 'RESOURCE:ENI' }] });
    const p = provider();
    const handle = await p.run(spec, {});
    const exit = await p.awaitExit(handle, {});
    expect(exit.exitCode).toBeNull();
    expect(exit.providerFailureReason).toBe('RunTask placed no task: RESOURCE:ENI arn:aws:ecs:eu-west-1:123456789012:container-instance/x');
    expect(ecs.commandCalls(DescribeTasksCommand)).toHaveLength(0);
    await p.cancel(handle, {}); // nothing to stop
    expect(ecs.commandCalls(StopTaskCommand)).toHaveLength(0);
  });

  it('capacity failure after placement (ResourceInitializationError) is infrastructure too', async () => {
    const reason = 'ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed';
    ecs.on(DescribeTasksCommand).resolves({ tasks: [stopped({ startedAt: undefined, stopCode: 'TaskFailedToStart', stoppedReason: reason }, { exitCode: undefined })] });
    const p = provider();
    const exit = await p.awaitExit(await p.run(spec, {}), {});
    expect(exit.providerFailureReason).toContain('ResourceInitializationError');
  });

  it('RunTask throttled or failing server-side: providerFailureReason (retried); refused as invalid: a non-retryable ProviderError', async () => {
    ecs.on(RunTaskCommand).rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $fault: 'client' }));
    const p = provider();
    const exit = await p.awaitExit(await p.run(spec, {}), {});
    expect(exit.providerFailureReason).toBe('RunTask failed: ThrottlingException: Rate exceeded');

    ecs.on(RunTaskCommand).rejects(Object.assign(new Error('No Fargate configuration exists for given values: 512 CPU, 99999 memory'), { name: 'InvalidParameterException', $fault: 'client' }));
    const err = await p.run(spec, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ retryable: false, message: 'RunTask was refused: InvalidParameterException: No Fargate configuration exists for given values: 512 CPU, 99999 memory' });
  });

  it('cancel: StopTask with a reason, the pending awaitExit reports cancelled with the output so far', async () => {
    let stoppedByCall = false;
    ecs.on(StopTaskCommand).callsFake(() => {
      stoppedByCall = true;
      return { task: { taskArn: TASK_ARN } };
    });
    ecs.on(DescribeTasksCommand).callsFake(() => ({
      tasks: [stoppedByCall ? stopped({ stopCode: 'UserInitiated', stoppedReason: 'agora: cancelled' }, { exitCode: 143 }) : running],
    }));
    logs.on(GetLogEventsCommand).resolvesOnce({ events: [{ message: 'working', timestamp: 1 }], nextForwardToken: 'f/1' }).resolves({ events: [], nextForwardToken: 'f/1' });
    const p = provider();
    const handle = await p.run(spec, {});
    const exiting = p.awaitExit(handle, {});
    await waitFor(() => ecs.commandCalls(DescribeTasksCommand).length >= 2);
    await p.cancel(handle, {});
    const exit = await exiting;
    expect(exit).toMatchObject({ exitCode: null, cancelled: true, stdout: Buffer.from('working\n') });
    expect(exit.providerFailureReason).toBeUndefined();
    expect(exit.stderr).toBe('[agora: worker stopped: cancelled]\n');
    expect(inputs(ecs.commandCalls(StopTaskCommand))).toEqual([{ cluster: 'agora', task: TASK_ARN, reason: 'agora: cancelled' }]);
  });

  it('cancel through ctx.signal and by timeout send StopTask with their reasons', async () => {
    let stops = 0;
    ecs.on(StopTaskCommand).callsFake(() => {
      stops++;
      return {};
    });
    let seen = 0;
    ecs.on(DescribeTasksCommand).callsFake(() => ({ tasks: [stops > seen ? stopped({ stopCode: 'UserInitiated' }, { exitCode: 137 }) : running] }));
    const p = provider();
    const ac = new AbortController();
    const h1 = await p.run(spec, { signal: ac.signal });
    const e1 = p.awaitExit(h1, { signal: ac.signal });
    await waitFor(() => ecs.commandCalls(DescribeTasksCommand).length >= 1);
    ac.abort();
    expect(await e1).toMatchObject({ cancelled: true, exitCode: null });
    seen = stops;

    const h2 = await p.run({ ...spec, timeoutMs: 30 }, {});
    const e2 = await p.awaitExit(h2, {});
    expect(e2).toMatchObject({ cancelled: true, exitCode: null });
    expect(e2.stderr).toContain('[agora: worker stopped: timeout after 30 ms]');
    expect(inputs(ecs.commandCalls(StopTaskCommand))).toEqual([
      { cluster: 'agora', task: TASK_ARN, reason: 'agora: cancelled' },
      { cluster: 'agora', task: TASK_ARN, reason: 'agora: timeout after 30 ms' },
    ]);
  });

  it('cancel without a pending awaitExit sends StopTask; a task ECS no longer knows is fine', async () => {
    ecs.on(StopTaskCommand).resolvesOnce({}).rejects(Object.assign(new Error('The referenced task was not found.'), { name: 'InvalidParameterException', $fault: 'client' }));
    const p = provider();
    const handle = await p.run(spec, {});
    await p.cancel(handle, {});
    await p.cancel(handle, {});
    expect(inputs(ecs.commandCalls(StopTaskCommand))).toEqual([
      { cluster: 'agora', task: TASK_ARN, reason: 'agora: cancelled' },
      { cluster: 'agora', task: TASK_ARN, reason: 'agora: cancelled' },
    ]);
  });

  it('a task stopped by someone else (UserInitiated) is reported as cancelled', async () => {
    ecs.on(DescribeTasksCommand).resolves({ tasks: [stopped({ stopCode: 'UserInitiated', stoppedReason: 'Task stopped by user' }, { exitCode: 137 })] });
    const p = provider();
    const exit = await p.awaitExit(await p.run(spec, {}), {});
    expect(exit).toMatchObject({ cancelled: true, exitCode: null });
    expect(exit.stderr).toContain('by someone else (UserInitiated: Task stopped by user)');
  });

  it('refuses images that are not digest-pinned, before any RunTask', async () => {
    const p = provider();
    const unpinned = await p.run({ ...spec, image: 'worker:latest' }, {}).catch((e: unknown) => e);
    expect(unpinned).toBeInstanceOf(ValueError);
    expect((unpinned as Error).message).toContain('image "worker:latest" is not digest-pinned');

    ecs.on(DescribeTaskDefinitionCommand).resolves({ taskDefinition: taskDefinition({ image: 'worker:latest' }) });
    const { image: _image, ...noImage } = spec;
    const tdUnpinned = await provider().run(noImage, {}).catch((e: unknown) => e);
    expect(tdUnpinned).toBeInstanceOf(ValueError);
    expect((tdUnpinned as Error).message).toContain(`task definition ${TD_ARN} runs image "worker:latest" in container "worker", which is not digest-pinned`);

    ecs.on(DescribeTaskDefinitionCommand).resolves({ taskDefinition: taskDefinition() });
    const other = `worker@sha256:${'cd'.repeat(32)}`;
    const differs = await provider().run({ ...spec, image: other }, {}).catch((e: unknown) => e);
    expect(differs).toBeInstanceOf(ValueError);
    expect((differs as Error).message).toContain('ECS cannot override a task\'s image');
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(0);
  });

  it('secretRefs must be declared in the task definition; they never travel in overrides', async () => {
    ecs.on(DescribeTasksCommand).resolves({ tasks: [stopped()] });
    const secretsClient = new SecretsManagerClient({ region: REGION, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example' } });
    const sm = mockClient(secretsClient);
    sm.on(GetSecretValueCommand).resolves({ SecretString: 'the-api-key-value' });
    const p = provider({ secretsClient });
    await p.run({ ...spec, secretRefs: { API_KEY: SECRET_ARN } }, {});
    // Read only to scrub the worker's output; it never travels anywhere.
    expect(inputs(sm.commandCalls(GetSecretValueCommand))).toEqual([{ SecretId: SECRET_ARN }]);
    const sent = JSON.stringify(inputs(ecs.commandCalls(RunTaskCommand)));
    expect(sent).not.toContain('API_KEY');
    expect(sent).not.toContain(SECRET_ARN);

    const undeclared = await p.run({ ...spec, secretRefs: { DB_PASSWORD: 'arn:aws:ssm:eu-west-1:123456789012:parameter/db' } }, {}).catch((e: unknown) => e);
    expect(undeclared).toBeInstanceOf(ValueError);
    expect((undeclared as Error).message).toContain('add { name: "DB_PASSWORD", valueFrom: "arn:aws:ssm:eu-west-1:123456789012:parameter/db" } to its "secrets"');
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(1);
    sm.restore();
  });

  it('a secret that cannot be read to scrub the output refuses the task before RunTask; scrubSecrets: false skips reading', async () => {
    ecs.on(DescribeTasksCommand).resolves({ tasks: [stopped()] });
    const secretsClient = new SecretsManagerClient({ region: REGION, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example' } });
    const sm = mockClient(secretsClient);
    sm.on(GetSecretValueCommand).rejects(Object.assign(new Error('User is not authorized to perform: secretsmanager:GetSecretValue'), { name: 'AccessDeniedException', $fault: 'client' }));
    const err = await provider({ secretsClient }).run({ ...spec, secretRefs: { API_KEY: SECRET_ARN } }, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).retryable).toBe(false);
    expect((err as Error).message).toContain(`cannot read secret ${SECRET_ARN} to scrub the worker's output (AccessDeniedException: User is not authorized`);
    expect((err as Error).message).toContain('scrubSecrets: false');
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(0);

    await provider({ secretsClient, scrubSecrets: false }).run({ ...spec, secretRefs: { API_KEY: SECRET_ARN } }, {});
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(1);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    sm.restore();
  });

  it('caps the log output at 10 MiB with the marker', async () => {
    const mib = 'y'.repeat(1024 * 1024 - 1); // + "\n" per event = 1 MiB
    ecs.on(DescribeTasksCommand).resolves({ tasks: [stopped()] });
    const page = { events: Array.from({ length: 6 }, (_, i) => ({ message: mib, timestamp: i })) };
    logs.on(GetLogEventsCommand).resolvesOnce({ ...page, nextForwardToken: 'f/1' }).resolvesOnce({ ...page, nextForwardToken: 'f/2' }).resolves({ events: [], nextForwardToken: 'f/2' });
    const p = provider();
    const exit = await p.awaitExit(await p.run(spec, {}), {});
    expect(exit.stdout.length).toBe(OUTPUT_CAP_BYTES + truncationMarker(2 * 1024 * 1024).length);
    expect(Buffer.from(exit.stdout).toString('latin1').endsWith(truncationMarker(2 * 1024 * 1024))).toBe(true);
  });

  it('a log stream that never appears is noted in stderr; the exit code still stands', async () => {
    ecs.on(DescribeTasksCommand).resolves({ tasks: [stopped({}, { exitCode: 0 })] });
    logs.on(GetLogEventsCommand).rejects(Object.assign(new Error('The specified log stream does not exist.'), { name: 'ResourceNotFoundException', $fault: 'client' }));
    const p = provider({ logStreamRetries: 2 });
    const exit = await p.awaitExit(await p.run(spec, {}), {});
    expect(exit.exitCode).toBe(0);
    expect(exit.stderr).toBe(`[agora: logs of /agora/workers/${LOG_STREAM} could not be read: ResourceNotFoundException: The specified log stream does not exist.]\n`);
    expect(logs.commandCalls(GetLogEventsCommand)).toHaveLength(3);
  });

  it('a task ECS cannot describe any more is an infrastructure failure', async () => {
    ecs.on(DescribeTasksCommand).resolves({ tasks: [], failures: [{ arn: TASK_ARN, reason: 'MISSING' }] });
    const p = provider();
    const exit = await p.awaitExit(await p.run(spec, {}), {});
    expect(exit.providerFailureReason).toBe(`task ${TASK_ARN} could not be described: MISSING`);
  });

  it('refuses stdin, sizes Fargate does not offer, and overrides over 8192 characters', async () => {
    const p = provider();
    await expect(p.run({ ...spec, stdin: 'x' }, {})).rejects.toThrow(ValueError);
    await expect(p.run({ ...spec, resources: { cpu: 3 } }, {})).rejects.toThrow('resources.cpu 3 is not a Fargate size; use one of 0.25, 0.5, 1, 2, 4, 8, 16 vCPU');
    await expect(p.run({ ...spec, env: { BIG: 'x'.repeat(9000) } }, {})).rejects.toThrow(/ECS accepts at most 8192 in overrides/);
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(0);
  });
});

describe('stoppedOutcome', () => {
  it.each([
    ['SpotInterruption', 'Your Spot Task was interrupted.', 'infrastructure'],
    ['TerminationNotice', 'Task stopped because the underlying host is being retired', 'infrastructure'],
    ['ServiceSchedulerInitiated', 'Scaling activity initiated by deployment', 'infrastructure'],
    ['TaskFailedToStart', 'RESOURCE:MEMORY', 'infrastructure'],
    ['EssentialContainerExited', 'Essential container in task exited', 'exited'],
    ['UserInitiated', 'agora: cancelled', 'cancelled'],
  ] as const)('%s (%s) -> %s', (stopCode, stoppedReason, kind) => {
    expect(stoppedOutcome(stopped({ stopCode, stoppedReason }, { exitCode: 1 }), 'worker').kind).toBe(kind);
  });

  it('an OOM-killed container is the application\'s exit (137), not infrastructure', () => {
    const t = stopped({}, { exitCode: 137, reason: 'OutOfMemoryError: Container killed due to memory usage' });
    expect(stoppedOutcome(t, 'worker')).toMatchObject({ kind: 'exited', exitCode: 137 });
  });
});

describe('health', () => {
  const KEYS = ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_EC2_METADATA_DISABLED', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI'];
  const saved: Record<string, string | undefined> = {};
  beforeEach(() => {
    for (const k of KEYS) {
      saved[k] = process.env[k];
      delete process.env[k];
    }
    // No shared files and no instance metadata: only what a test puts in env counts.
    process.env['AWS_CONFIG_FILE'] = '/nonexistent/agora-aws-config';
    process.env['AWS_SHARED_CREDENTIALS_FILE'] = '/nonexistent/agora-aws-credentials';
    process.env['AWS_EC2_METADATA_DISABLED'] = 'true';
  });
  afterEach(() => {
    for (const k of KEYS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  /** Clients built like production ones (no injected credentials or region), with send mocked. */
  function bare(): FargateComputeProvider {
    const client = new ECSClient({});
    ecs = mockClient(client);
    ecs.on(DescribeClustersCommand).resolves({ clusters: [{ clusterName: 'agora', clusterArn: 'arn:aws:ecs:eu-west-1:123456789012:cluster/agora', status: 'ACTIVE' }], failures: [] });
    return provider({ ecsClient: client });
  }

  it('names AWS_REGION when no region is configured', async () => {
    const h = await bare().health();
    expect(h).toMatchObject({ ok: false, message: 'AWS region is not configured: set AWS_REGION (or the fargate provider\'s "region" option)' });
  });

  it('names AWS_ACCESS_KEY_ID when no credentials are configured', async () => {
    process.env['AWS_REGION'] = REGION;
    const h = await bare().health();
    expect(h.ok).toBe(false);
    expect(h.message).toMatch(/^AWS credentials are not configured \(the default credential chain: .*\): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE/);
  });

  it('names the missing half of a key pair', async () => {
    process.env['AWS_REGION'] = REGION;
    process.env['AWS_ACCESS_KEY_ID'] = 'AKIDEXAMPLE';
    expect(await bare().health()).toMatchObject({ ok: false, message: 'AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not' });
  });

  it('is ok with region, credentials and an ACTIVE cluster (DescribeClusters)', async () => {
    process.env['AWS_REGION'] = REGION;
    process.env['AWS_ACCESS_KEY_ID'] = 'AKIDEXAMPLE';
    process.env['AWS_SECRET_ACCESS_KEY'] = 'example';
    const p = bare();
    expect(await p.health()).toMatchObject({ ok: true, message: `ECS cluster "agora" is ACTIVE in ${REGION}` });
    expect(inputs(ecs.commandCalls(DescribeClustersCommand))).toEqual([{ clusters: ['agora'] }]);
    ecs.on(DescribeClustersCommand).resolves({ clusters: [], failures: [{ arn: 'arn:aws:ecs:eu-west-1:123456789012:cluster/agora', reason: 'MISSING' }] });
    expect(await p.health()).toMatchObject({ ok: false, message: `ECS cluster "agora" is not usable in ${REGION}: MISSING` });
  });
});

async function waitFor(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 1));
}
