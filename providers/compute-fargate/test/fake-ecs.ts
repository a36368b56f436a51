import { randomBytes } from 'node:crypto';
import { CloudWatchLogsClient, GetLogEventsCommand, type GetLogEventsCommandInput } from '@aws-sdk/client-cloudwatch-logs';
import {
  DescribeClustersCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  RunTaskCommand,
  StopTaskCommand,
  type DescribeTasksCommandInput,
  type RunTaskCommandInput,
  type StopTaskCommandInput,
  type Task,
  type TaskDefinition,
} from '@aws-sdk/client-ecs';
import { GetSecretValueCommand, SecretsManagerClient, type GetSecretValueCommandInput } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { interpretWorkerProgram, parseWorkerProgram, type WorkerOutcome } from '@agora/conformance';

export const REGION = 'eu-west-1';
export const CLUSTER = 'agora';
export const CONTAINER = 'worker';
export const TD_REF = 'agora-worker:7';
export const TD_ARN = 'arn:aws:ecs:eu-west-1:123456789012:task-definition/agora-worker:7';
export const IMAGE = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker@sha256:${'ab'.repeat(32)}`;
export const LOG_GROUP = '/agora/workers';
export const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:conformance-AbCdEf';
/** A task whose command is this plays the registry losing the image: the task never starts. */
export const UNPULLABLE = 'agora-conformance-unpullable';
/** Log events per GetLogEvents page (small, so the output-cap case reads several pages). */
const LOG_PAGE = 25;

interface FakeTask {
  readonly arn: string;
  readonly id: string;
  readonly input: RunTaskCommandInput;
  readonly outcome: WorkerOutcome | 'unpullable';
  readonly startedAt: Date;
  stopReason: string | undefined;
  describes: number;
}

/**
 * A fake ECS (with its CloudWatch Logs and Secrets Manager) behind aws-sdk-client-mock: RunTask
 * "runs" the conformance worker program found in the container override's command with the
 * reference interpreter, DescribeTasks answers RUNNING once then STOPPED as ECS words it,
 * StopTask stops, GetLogEvents pages through the worker's output one event per line (awslogs
 * merges stderr into the same stream and drops empty lines). Every request it is sent is checked
 * against the exact shape the provider must send; `violations` lists those that were not.
 */
export function startFakeEcs(secretDeclaredAs: string) {
  const ecsClient = new ECSClient({ region: REGION, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example' } });
  const logsClient = new CloudWatchLogsClient({ region: REGION, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example' } });
  const secretsClient = new SecretsManagerClient({ region: REGION, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example' } });
  const ecs = mockClient(ecsClient);
  const logs = mockClient(logsClient);
  const secrets = mockClient(secretsClient);
  const tasks = new Map<string, FakeTask>();
  const secretValues = new Map<string, string>();
  const violations: string[] = [];
  const expectShape = (what: string, got: unknown, want: unknown): void => {
    if (JSON.stringify(got) !== JSON.stringify(want)) violations.push(`${what}: sent ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  };

  const taskDefinition: TaskDefinition = {
    taskDefinitionArn: TD_ARN,
    family: 'agora-worker',
    revision: 7,
    executionRoleArn: 'arn:aws:iam::123456789012:role/ecsTaskExecution',
    containerDefinitions: [
      {
        name: CONTAINER,
        image: IMAGE,
        secrets: [{ name: secretDeclaredAs, valueFrom: SECRET_ARN }],
        logConfiguration: { logDriver: 'awslogs', options: { 'awslogs-group': LOG_GROUP, 'awslogs-stream-prefix': 'agora', 'awslogs-region': REGION } },
      },
    ],
  };

  ecs.on(DescribeTaskDefinitionCommand).callsFake(async (input: unknown) => {
    expectShape('DescribeTaskDefinition', input, { taskDefinition: TD_REF });
    return { taskDefinition };
  });
  ecs.on(DescribeClustersCommand).callsFake(async (input: unknown) => {
    expectShape('DescribeClusters', input, { clusters: [CLUSTER] });
    return { clusters: [{ clusterArn: `arn:aws:ecs:${REGION}:123456789012:cluster/${CLUSTER}`, clusterName: CLUSTER, status: 'ACTIVE' }], failures: [] };
  });
  ecs.on(RunTaskCommand).callsFake(async (input: RunTaskCommandInput) => {
    const id = randomBytes(16).toString('hex');
    const arn = `arn:aws:ecs:${REGION}:123456789012:task/${CLUSTER}/${id}`;
    const override = input.overrides?.containerOverrides?.[0];
    const command = override?.command ?? [];
    let outcome: FakeTask['outcome'];
    if (command[0] === UNPULLABLE) outcome = 'unpullable';
    else {
      // ECS injects the task definition's secrets (through the execution role) next to the overrides.
      const env: Record<string, string> = Object.fromEntries((override?.environment ?? []).map((e) => [e.name ?? '', e.value ?? '']));
      for (const s of taskDefinition.containerDefinitions![0]!.secrets ?? []) {
        const v = secretValues.get(s.valueFrom!);
        if (v !== undefined) env[s.name!] = v;
      }
      outcome = interpretWorkerProgram(parseWorkerProgram(command[3] ?? ''), { env });
    }
    tasks.set(arn, { arn, id, input, outcome, startedAt: new Date(), stopReason: undefined, describes: 0 });
    return { tasks: [{ taskArn: arn, lastStatus: 'PROVISIONING' }], failures: [] };
  });
  ecs.on(DescribeTasksCommand).callsFake(async (input: DescribeTasksCommandInput) => {
    const arn = input.tasks?.[0] ?? '';
    expectShape('DescribeTasks', input, { cluster: CLUSTER, tasks: [arn] });
    const t = tasks.get(arn);
    if (!t) return { tasks: [], failures: [{ arn, reason: 'MISSING' }] };
    return { tasks: [describe(t)], failures: [] };
  });
  ecs.on(StopTaskCommand).callsFake(async (input: StopTaskCommandInput) => {
    const t = tasks.get(input.task ?? '');
    expectShape('StopTask', { cluster: input.cluster, task: input.task }, { cluster: CLUSTER, task: t?.arn });
    if (!/^agora: (cancelled|timeout after \d+ ms)$/.test(input.reason ?? '')) violations.push(`StopTask: reason ${JSON.stringify(input.reason)}`);
    if (t) t.stopReason ??= input.reason;
    return { task: t ? describe(t) : undefined };
  });
  logs.on(GetLogEventsCommand).callsFake(async (input: GetLogEventsCommandInput) => {
    const t = [...tasks.values()].find((x) => input.logStreamName === `agora/${CONTAINER}/${x.id}`);
    const { nextToken, ...rest } = input;
    expectShape('GetLogEvents', rest, { logGroupName: LOG_GROUP, logStreamName: `agora/${CONTAINER}/${t?.id ?? '?'}`, startFromHead: true });
    if (!t || t.outcome === 'unpullable') throw Object.assign(new Error('The specified log stream does not exist.'), { name: 'ResourceNotFoundException' });
    const lines = t.outcome.merged.toString('utf8').split('\n').filter((l) => l.length > 0);
    const from = nextToken ? Number(nextToken.slice(2)) : 0;
    const to = Math.min(lines.length, from + LOG_PAGE);
    return { events: lines.slice(from, to).map((message, i) => ({ message, timestamp: from + i })), nextForwardToken: `f/${to}` };
  });
  secrets.on(GetSecretValueCommand).callsFake(async (input: GetSecretValueCommandInput) => {
    expectShape('GetSecretValue', input, { SecretId: SECRET_ARN });
    const v = secretValues.get(input.SecretId ?? '');
    if (v === undefined) throw Object.assign(new Error('Secrets Manager can\'t find the specified secret.'), { name: 'ResourceNotFoundException' });
    return { ARN: SECRET_ARN, SecretString: v };
  });

  /** ECS's words for a task's state: RUNNING at the first describe, then how it ended. */
  function describe(t: FakeTask): Task {
    t.describes++;
    const base = { taskArn: t.arn, createdAt: t.startedAt, taskDefinitionArn: TD_ARN };
    if (t.outcome === 'unpullable') {
      const reason = 'CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref: not found';
      return { ...base, lastStatus: 'STOPPED', desiredStatus: 'STOPPED', stopCode: 'TaskFailedToStart', stoppedReason: reason, stoppedAt: new Date(), containers: [{ name: CONTAINER, lastStatus: 'STOPPED', reason }] };
    }
    if (t.stopReason !== undefined) {
      return { ...base, startedAt: t.startedAt, stoppedAt: new Date(), lastStatus: 'STOPPED', desiredStatus: 'STOPPED', stopCode: 'UserInitiated', stoppedReason: t.stopReason, containers: [{ name: CONTAINER, lastStatus: 'STOPPED', exitCode: 137 }] };
    }
    if (t.outcome.hangs || t.describes < 2) return { ...base, startedAt: t.startedAt, lastStatus: 'RUNNING', desiredStatus: 'RUNNING' };
    return {
      ...base,
      startedAt: t.startedAt,
      stoppedAt: new Date(Math.max(Date.now(), t.startedAt.getTime())),
      lastStatus: 'STOPPED',
      desiredStatus: 'STOPPED',
      stopCode: 'EssentialContainerExited',
      stoppedReason: 'Essential container in task exited',
      containers: [{ name: CONTAINER, lastStatus: 'STOPPED', exitCode: t.outcome.exitCode ?? 0 }],
    };
  }

  return {
    ecsClient,
    logsClient,
    secretsClient,
    violations,
    /** The RunTask request that started a task. */
    runTaskInput: (arn: string): RunTaskCommandInput | undefined => tasks.get(arn)?.input,
    /** Makes Secrets Manager hold `value` for the declared secret. */
    setSecret: (value: string): void => void secretValues.set(SECRET_ARN, value),
    restore: (): void => {
      ecs.restore();
      logs.restore();
      secrets.restore();
    },
  };
}
