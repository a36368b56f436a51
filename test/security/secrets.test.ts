import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeTaskDefinitionCommand, DescribeTasksCommand, ECSClient, RunTaskCommand } from '@aws-sdk/client-ecs';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { compileConfig, createLogger, type TaskExit } from '@agora/core';
import { createScheduler } from '@agora/scheduler';
import { createRunner } from '@agora/runner';
import { AgoraClient } from '@agora/sdk';
import { createRedis } from '@agora/state';
import { createEvidence } from '@agora/evidence';
import { LocalStorageProvider } from '@agora/storage-local';
import { DockerComputeProvider } from '@agora/compute-docker';
import { FargateComputeProvider } from '@agora/compute-fargate';
import { silent } from '../support/cluster.js';
import { ensurePodman } from '../support/podman.js';
import { testRedisUrl, uniqueNamespace } from '../support/index.js';

/**
 * Item 4 of the trust-boundary issue: a secret value a worker prints (plainly, base64-encoded or
 * URL-encoded) never leaves its compute provider. SSE (`GET /api/runs/:id/events`) streams the
 * run's event stream as stored, so "absent from the events" covers SSE too.
 */

/**
 * A canary whose encodings all differ from each other: its base64 has `+` or `/` (so the
 * url-safe form differs) and padding, and URL-encoding changes it.
 */
function canary(): string {
  for (;;) {
    const c = `canary ${randomBytes(9).toString('base64')}/?&${randomBytes(4).toString('hex')}`.slice(0, 28 + (randomBytes(1)[0]! % 3));
    const b64 = Buffer.from(c).toString('base64');
    if (/[+/]/.test(b64) && b64.endsWith('=') && encodeURIComponent(c) !== c) return c;
  }
}

/** Every form the workers below print: none of them may appear anywhere after the run. */
function forms(secret: string): string[] {
  const b64 = Buffer.from(secret).toString('base64');
  const url = Buffer.from(secret).toString('base64url');
  return [secret, b64, b64.replace(/=+$/, ''), url, `${url}==`.slice(0, b64.length), encodeURIComponent(secret)];
}

/** A node worker that prints the secret in every form to stdout and stderr, then exits `code`. */
function leakyWorker(envName: string, code: number): string {
  return [
    `const s = process.env.${envName} ?? 'MISSING';`,
    `const b = Buffer.from(s);`,
    `const lines = ['plain=' + s, 'b64=' + b.toString('base64'), 'b64nopad=' + b.toString('base64').replace(/=+$/, ''),`,
    `  'b64url=' + b.toString('base64url'), 'b64urlpad=' + b.toString('base64url') + '='.repeat((4 - b.toString('base64url').length % 4) % 4),`,
    `  'uri=' + encodeURIComponent(s)].join('\\n') + '\\n';`,
    `process.stdout.write(lines); process.stderr.write(lines); process.exit(${code});`,
  ].join('\n');
}

function expectNoLeak(where: string, text: string, secret: string): void {
  for (const f of forms(secret)) expect(text.includes(f), `${where} holds the secret in the form ${JSON.stringify(f)}`).toBe(false);
}

function expectExitScrubbed(exit: TaskExit, secret: string): void {
  const stdout = Buffer.from(exit.stdout).toString('latin1');
  expectNoLeak('stdout', stdout, secret);
  expectNoLeak('stderr', exit.stderr, secret);
  expectNoLeak('providerFailureReason', exit.providerFailureReason ?? '', secret);
}

describe('secrets never leave the worker: process provider, through a real scheduler and runner', () => {
  const secret = canary();
  const envName = `AGORA_CANARY_${randomBytes(4).toString('hex').toUpperCase()}`;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'agora-secrets-'));
  const logLines: string[] = [];
  const closers: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of closers.reverse()) await c();
    delete process.env[envName];
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('the canary is absent from the events (and so SSE), the status, the sealed bundle, the artifacts and the logs', async () => {
    process.env[envName] = secret;
    const node = process.execPath;
    const config = compileConfig(
      {
        namespace: uniqueNamespace(),
        dataDir,
        compute: { local: { provider: 'process' } },
        credentials: { vault: { provider: 'env', options: { allow: [envName] } } },
        targets: { local: { compute: 'local', credentials: 'vault' } },
        tasks: {
          'leak-ok': { command: [node, '-e', leakyWorker('API_KEY', 0)], secretRefs: { API_KEY: `env:${envName}` } },
          'leak-fail': { command: [node, '-e', leakyWorker('API_KEY', 3)], secretRefs: { API_KEY: `env:${envName}` } },
        },
      },
      'test',
      dataDir,
      { REDIS_URL: testRedisUrl() },
    );
    const logger = createLogger({ component: 'runner' }, 'debug', (l) => logLines.push(l));
    const scheduler = await createScheduler({ config, logger: silent });
    closers.push(() => scheduler.close());
    const runner = await createRunner({ config, logger, runnerId: 'secrets-runner', cpus: 4 });
    closers.push(() => runner.close({ graceMs: 2000 }));
    const client = new AgoraClient({ redisUrl: config.redisUrl, namespace: config.namespace });
    closers.push(() => client.close());
    const redis = createRedis(config.redisUrl);
    closers.push(async () => void (await redis.quit()));

    const runId = await client.submit({
      id: 'leaky',
      queue: 'default',
      items: [
        { id: 'ok', executor: 'dispatch', inputs: { task: 'leak-ok' }, depends_on: [], resourceLocks: [] },
        { id: 'fail', executor: 'dispatch', inputs: { task: 'leak-fail' }, depends_on: [], resourceLocks: [] },
      ],
    });
    const status = await client.wait(runId);
    const events = await client.events(runId);
    const failed = events.find((e) => e.itemId === 'fail' && e.state === 'failed');
    const done = events.find((e) => e.itemId === 'ok' && e.state === 'done');
    // Not vacuous: the worker did get the secret and print it; what it printed was redacted.
    expect(failed?.['error']).toMatch(/worker exited with code 3: .*plain=\[REDACTED\]/s);
    expect(done?.resultRef).toBeDefined();
    const artifact = Buffer.from(await new LocalStorageProvider({ root: path.join(dataDir, 'storage') }).get(done!.resultRef!));
    expect(artifact.toString()).toContain('plain=[REDACTED]\nb64=[REDACTED]\n');

    const bundle = await createEvidence({ config, redis }).bundle(runId);
    expect(bundle.report.intact).toBe(true);
    expectNoLeak('events', JSON.stringify(events), secret);
    expectNoLeak('status', JSON.stringify(status), secret);
    expectNoLeak('sealed bundle', JSON.stringify(bundle), secret);
    expectNoLeak('artifact', artifact.toString('latin1'), secret);
    expect(logLines.length).toBeGreaterThan(0);
    expectNoLeak('runner log', logLines.join('\n'), secret);
  });
});

describe('secrets never leave the worker: docker provider against Podman', () => {
  it('stdout, stderr of a container that prints the canary in every form are scrubbed', async () => {
    const podman = await ensurePodman();
    const secret = canary();
    const lines: string[] = [];
    const provider = new DockerComputeProvider({ socketPath: podman.socketPath, network: 'none' });
    const ctx = { credentials: { kind: 'static-secrets', secrets: { 'vault:key': secret } }, logger: createLogger({}, 'debug', (l) => lines.push(l)) };
    const handle = await provider.run(
      { image: podman.images.node, command: ['node', '-e', leakyWorker('API_KEY', 4)], secretRefs: { API_KEY: 'vault:key' }, labels: { 'agora.test': 'secrets' } },
      ctx,
    );
    const exit = await provider.awaitExit(handle, ctx);
    expect(exit.exitCode).toBe(4);
    expect(Buffer.from(exit.stdout).toString()).toContain('plain=[REDACTED]\n');
    expect(exit.stderr).toContain('uri=[REDACTED]\n');
    expectExitScrubbed(exit, secret);
    expectNoLeak('provider log', lines.join('\n'), secret);
  }, 120_000);
});

describe('secrets never leave the worker: fargate provider (AWS SDK mocked)', () => {
  const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-key-AbCdEf';
  const TASK_ARN = 'arn:aws:ecs:eu-west-1:123456789012:task/agora/0123456789abcdef';
  const IMAGE = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker@sha256:${'ab'.repeat(32)}`;
  const creds = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example' };
  let ecs: AwsClientStub<ECSClient>;
  let logs: AwsClientStub<CloudWatchLogsClient>;
  let sm: AwsClientStub<SecretsManagerClient>;
  const clients = {
    ecsClient: new ECSClient({ region: 'eu-west-1', credentials: creds }),
    logsClient: new CloudWatchLogsClient({ region: 'eu-west-1', credentials: creds }),
    secretsClient: new SecretsManagerClient({ region: 'eu-west-1', credentials: creds }),
  };
  beforeEach(() => {
    ecs = mockClient(clients.ecsClient);
    logs = mockClient(clients.logsClient);
    sm = mockClient(clients.secretsClient);
  });
  afterEach(() => {
    ecs.restore();
    logs.restore();
    sm.restore();
  });

  it('log lines (GetLogEvents) holding the secret in every form come back scrubbed, and so does a stop reason', async () => {
    const secret = canary();
    ecs.on(DescribeTaskDefinitionCommand).resolves({
      taskDefinition: {
        taskDefinitionArn: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/agora-worker:7',
        executionRoleArn: 'arn:aws:iam::123456789012:role/ecsTaskExecution',
        containerDefinitions: [
          {
            name: 'worker',
            image: IMAGE,
            secrets: [{ name: 'API_KEY', valueFrom: SECRET_ARN }],
            logConfiguration: { logDriver: 'awslogs', options: { 'awslogs-group': '/agora/workers', 'awslogs-stream-prefix': 'agora' } },
          },
        ],
      },
    });
    ecs.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN, lastStatus: 'PROVISIONING' }], failures: [] });
    ecs.on(DescribeTasksCommand).resolves({
      tasks: [
        {
          taskArn: TASK_ARN,
          lastStatus: 'STOPPED',
          startedAt: new Date(),
          stoppedAt: new Date(),
          stopCode: 'EssentialContainerExited',
          stoppedReason: 'Essential container in task exited',
          containers: [{ name: 'worker', exitCode: 1 }],
        },
      ],
    });
    const b = Buffer.from(secret);
    logs
      .on(GetLogEventsCommand)
      .resolvesOnce({
        events: [
          { message: `plain=${secret}`, timestamp: 1 },
          { message: `b64=${b.toString('base64')} nopad=${b.toString('base64').replace(/=+$/, '')}`, timestamp: 2 },
          { message: `url=${b.toString('base64url')} uri=${encodeURIComponent(secret)}`, timestamp: 3 },
        ],
        nextForwardToken: 'f/1',
      })
      .resolves({ events: [], nextForwardToken: 'f/1' });
    sm.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({ SecretString: secret });
    const provider = new FargateComputeProvider({
      cluster: 'agora',
      taskDefinition: 'agora-worker:7',
      containerName: 'worker',
      subnets: ['subnet-1'],
      pollIntervalMs: 1,
      ...clients,
    });
    const ctx = {};
    const handle = await provider.run({ image: IMAGE, command: ['node', 'w.js'], secretRefs: { API_KEY: SECRET_ARN } }, ctx);
    const exit = await provider.awaitExit(handle, ctx);
    expect(exit.exitCode).toBe(1);
    expect(Buffer.from(exit.stdout).toString()).toContain('plain=[REDACTED]\n');
    expectExitScrubbed(exit, secret);

    // An infrastructure stop reason quoting the secret (ECS echoes what it was given) is scrubbed too.
    ecs.on(DescribeTasksCommand).resolves({
      tasks: [{ taskArn: TASK_ARN, lastStatus: 'STOPPED', stopCode: 'TaskFailedToStart', stoppedReason: `ResourceInitializationError: bad value ${secret}`, containers: [{ name: 'worker' }] }],
    });
    const h2 = await provider.run({ image: IMAGE, command: ['node', 'w.js'], secretRefs: { API_KEY: SECRET_ARN } }, ctx);
    const exit2 = await provider.awaitExit(h2, ctx);
    expect(exit2.providerFailureReason).toContain('[REDACTED]');
    expectExitScrubbed(exit2, secret);
  });
});
