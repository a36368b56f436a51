import { randomUUID } from 'node:crypto';
import {
  CloudWatchLogsClient,
  GetLogEventsCommand,
  type GetLogEventsCommandInput,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  DescribeClustersCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  RunTaskCommand,
  StopTaskCommand,
  type ContainerDefinition,
  type RunTaskCommandInput,
  type Tag,
  type Task,
  type TaskDefinition,
} from '@aws-sdk/client-ecs';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import {
  CappedBuffer,
  NO_SCRUBBER,
  OUTPUT_CAP_BYTES,
  ProviderError,
  ValueError,
  coerceError,
  createScrubber,
  type ComputeProvider,
  type Logger,
  type ProviderContext,
  type ProviderHealth,
  type Scrubber,
  type TaskExit,
  type TaskHandle,
  type TaskSpec,
} from '@agora/core';
import { assertDigestPinned, isDigestPinned } from '@agora/core';
import { stoppedOutcome, taskIdOf } from './task-exit.js';

export interface FargateComputeOptions {
  /** ECS cluster name or ARN. */
  readonly cluster: string;
  /**
   * Task definition (`family`, `family:revision` or ARN). Its container `containerName` must use a
   * digest-pinned image; secrets are declared in it (see README). A bare family is re-described
   * on every run and RunTask gets the exact revision that was checked.
   */
  readonly taskDefinition: string;
  /** The container in the task definition that runs the worker. */
  readonly containerName: string;
  /** awsvpc subnets (at least one). */
  readonly subnets: readonly string[];
  /** @default the VPC's default security group */
  readonly securityGroups?: readonly string[];
  /** Needed to pull from public registries without a NAT gateway. @default false */
  readonly assignPublicIp?: boolean;
  /** @default AWS_REGION / AWS_DEFAULT_REGION / the SDK's profile region */
  readonly region?: string;
  /** CloudWatch Logs group of the container. @default the task definition's `awslogs-group` */
  readonly logGroup?: string;
  /** awslogs stream prefix. @default the task definition's `awslogs-stream-prefix` */
  readonly logStreamPrefix?: string;
  /** First DescribeTasks poll delay; doubles up to `maxPollIntervalMs`. @default 2000 */
  readonly pollIntervalMs?: number;
  /** @default 30000 */
  readonly maxPollIntervalMs?: number;
  /** DescribeTasks errors in a row before the task counts as lost. @default 10 */
  readonly maxConsecutivePollErrors?: number;
  /** GetLogEvents tries while the log stream does not exist yet. @default 3 */
  readonly logStreamRetries?: number;
  /** RunTask `startedBy` (ListTasks can filter on it). @default 'agora' */
  readonly startedBy?: string;
  /** Per-stream capture cap. @default OUTPUT_CAP_BYTES (10 MiB) */
  readonly outputCapBytes?: number;
  /** Used when the call's `ctx.logger` is absent. @default no logging */
  readonly logger?: Logger;
  /**
   * Read the values of the task's `secretRefs` (Secrets Manager GetSecretValue, SSM GetParameter
   * with decryption) so that whatever the worker prints of them is redacted from its output.
   * The runner's AWS identity then needs read access to those secrets; without it a task with
   * secretRefs is refused before it starts. `false` skips this: output is then NOT scrubbed.
   * @default true
   */
  readonly scrubSecrets?: boolean;
  /** Injected clients (tests, custom credentials). @default new clients for `region` (secrets: the secret ARN's region) */
  readonly ecsClient?: ECSClient;
  readonly logsClient?: CloudWatchLogsClient;
  readonly secretsClient?: SecretsManagerClient;
  readonly ssmClient?: SSMClient;
}

/** The JSON-safe handle: everything `awaitExit`/`cancel` need. */
interface FargateHandle extends TaskHandle {
  readonly cluster?: string;
  readonly startedAtMs?: number;
  readonly timeoutMs?: number;
  readonly logGroup?: string;
  readonly logStream?: string;
  /** Set when no task was started: the infrastructure reason. */
  readonly failure?: string;
  readonly cancelledBeforeStart?: boolean;
  /** The task's secret refs (never values): another process collecting the handle reads them again to scrub. */
  readonly secretRefs?: Readonly<Record<string, string>>;
}

const EMPTY = Buffer.alloc(0);

interface AwsError {
  readonly name?: string;
  readonly message?: string;
  readonly $fault?: 'client' | 'server';
  readonly $retryable?: unknown;
}

/** Fargate's task sizes in CPU units (1024 = 1 vCPU). */
const FARGATE_CPU_UNITS = [256, 512, 1024, 2048, 4096, 8192, 16384];
/** ECS refuses overrides whose JSON exceeds this. */
const MAX_OVERRIDES_CHARS = 8192;
/** ECS tag limits. */
const MAX_TAGS = 50;
const TAG_CHARS_RE = /[^\p{L}\p{Z}\p{N}_.:/=+\-@]/gu;
const STARTED_BY_RE = /[^A-Za-z0-9_/-]/g;

/**
 * Runs a worker as an AWS Fargate task (seed 000): RunTask, then DescribeTasks with exponential
 * back-off until STOPPED, then the container's log stream from CloudWatch Logs. A task that
 * cannot be placed or started is an infrastructure failure (`providerFailureReason`); the
 * container's non-zero exit is the application's. Images are always digest-pinned.
 */
export class FargateComputeProvider implements ComputeProvider {
  readonly name = 'fargate';
  private readonly opts: FargateComputeOptions;
  private ecsClient: ECSClient | undefined;
  private logsClient: CloudWatchLogsClient | undefined;
  private readonly pollMs: number;
  private readonly maxPollMs: number;
  private readonly capBytes: number;
  /** Task definitions named with a revision never change: described once. */
  private readonly describedRevisions = new Map<string, Promise<TaskDefinition>>();
  private readonly inflight = new Map<string, { stop(reason: string): void; done: Promise<TaskExit> }>();
  /** Scrubbers of started tasks (their secret values), until collected. */
  private readonly scrubbers = new Map<string, Scrubber>();
  private readonly secretsClients = new Map<string, SecretsManagerClient>();
  private readonly ssmClients = new Map<string, SSMClient>();

  constructor(opts: FargateComputeOptions) {
    if (!opts.cluster) throw new ValueError('fargate provider: option "cluster" is required');
    if (!opts.taskDefinition) throw new ValueError('fargate provider: option "taskDefinition" is required');
    if (!opts.containerName) throw new ValueError('fargate provider: option "containerName" is required');
    if (!opts.subnets || opts.subnets.length === 0) throw new ValueError('fargate provider: option "subnets" needs at least one subnet (awsvpc networking)');
    this.opts = opts;
    this.ecsClient = opts.ecsClient;
    this.logsClient = opts.logsClient;
    this.pollMs = Math.max(1, opts.pollIntervalMs ?? 2000);
    this.maxPollMs = Math.max(this.pollMs, opts.maxPollIntervalMs ?? 30_000);
    this.capBytes = opts.outputCapBytes ?? OUTPUT_CAP_BYTES;
  }

  async run(spec: TaskSpec, ctx: ProviderContext): Promise<TaskHandle> {
    const logger = ctx.logger ?? this.opts.logger;
    if (spec.stdin !== undefined) throw new ValueError('fargate provider: spec.stdin is not supported (ECS has no stdin for tasks); pass input through env');
    if (spec.image !== undefined) assertDigestPinned(spec.image, this.name);
    const env = spec.env ?? {};
    for (const name of Object.keys(spec.secretRefs ?? {})) {
      if (Object.hasOwn(env, name)) throw new ValueError(`fargate provider: ${name} is set both in env and in secretRefs; a secret must come from one place only`);
    }
    const overrides = this.overrides(spec);
    const taskDef = await this.describeTaskDefinition();
    const container = this.checkTaskDefinition(taskDef, spec);
    const log = this.logLocation(container);
    // Before anything starts: a task whose output cannot be scrubbed does not run.
    const scrub = await this.scrubberFor(spec.secretRefs);

    if (ctx.signal?.aborted) return { providerTaskId: `not-started-${taskDef.family ?? 'task'}`, cancelledBeforeStart: true } satisfies FargateHandle;

    const input: RunTaskCommandInput = {
      cluster: this.opts.cluster,
      // The exact revision that was checked, even when the option names a bare family.
      taskDefinition: taskDef.taskDefinitionArn ?? this.opts.taskDefinition,
      launchType: 'FARGATE',
      count: 1,
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: [...this.opts.subnets],
          ...(this.opts.securityGroups ? { securityGroups: [...this.opts.securityGroups] } : {}),
          assignPublicIp: this.opts.assignPublicIp ? 'ENABLED' : 'DISABLED',
        },
      },
      overrides,
      tags: tagsOf(spec.labels),
      startedBy: (this.opts.startedBy ?? 'agora').replace(STARTED_BY_RE, '_').slice(0, 128),
    };
    let tasks: Task[] | undefined;
    let failures: { arn?: string | undefined; reason?: string | undefined; detail?: string | undefined }[] | undefined;
    try {
      ({ tasks, failures } = await this.ecs().send(new RunTaskCommand(input)));
    } catch (err) {
      const e = err as AwsError;
      // A request ECS rejects as malformed or forbidden fails the same way every time.
      if (e.$fault === 'client' && !e.$retryable && e.name !== 'ThrottlingException') {
        throw scrub.error(new ProviderError(this.name, `RunTask was refused: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`, { retryable: false, cause: err }));
      }
      const failure = scrub.text(`RunTask failed: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`);
      logger?.warn({ provider: this.name, cluster: this.opts.cluster, failure }, 'fargate: task could not be started');
      return { providerTaskId: `not-started-${randomUUID()}`, failure } satisfies FargateHandle;
    }
    const task = tasks?.[0];
    if (!task?.taskArn || (failures && failures.length > 0)) {
      const why = (failures ?? []).map((f) => [f.reason, f.detail, f.arn].filter(Boolean).join(' ')).join('; ') || 'RunTask returned no task';
      const failure = scrub.text(`RunTask placed no task: ${why}`);
      logger?.warn({ provider: this.name, cluster: this.opts.cluster, failure }, 'fargate: task could not be started');
      return { providerTaskId: task?.taskArn ?? `not-started-${randomUUID()}`, failure } satisfies FargateHandle;
    }
    logger?.info(
      { provider: this.name, cluster: this.opts.cluster, taskArn: task.taskArn, taskDefinition: input.taskDefinition, labels: spec.labels, envNames: Object.keys(env), envFromRefs: Object.keys(spec.secretRefs ?? {}) },
      'fargate: task started',
    );
    const taskId = taskIdOf(task.taskArn);
    if (scrub.active) this.scrubbers.set(task.taskArn, scrub);
    return {
      providerTaskId: task.taskArn,
      ...(spec.secretRefs && Object.keys(spec.secretRefs).length > 0 ? { secretRefs: { ...spec.secretRefs } } : {}),
      cluster: this.opts.cluster,
      startedAtMs: Date.now(),
      ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}),
      ...(log ? { logGroup: log.group, logStream: `${log.prefix}/${this.opts.containerName}/${taskId}` } : {}),
    } satisfies FargateHandle;
  }

  async awaitExit(handle: TaskHandle, ctx: ProviderContext): Promise<TaskExit> {
    const h = handle as FargateHandle;
    const now = new Date().toISOString();
    if (h.failure !== undefined) return { exitCode: null, startedAt: now, finishedAt: now, stdout: EMPTY, stderr: '', providerFailureReason: h.failure };
    if (h.cancelledBeforeStart) return { exitCode: null, startedAt: now, finishedAt: now, stdout: EMPTY, stderr: '', cancelled: true };
    const existing = this.inflight.get(h.providerTaskId);
    if (existing) return existing.done;
    // A cancel may come before `follow` is ready to stop (it first reads secrets to scrub with):
    // it is kept and handed over then, never dropped (a dropped one left awaitExit polling forever).
    let requestStop: ((reason: string) => void) | undefined;
    const pending: string[] = [];
    const entry = {
      stop: (reason: string) => (requestStop ? requestStop(reason) : pending.push(reason)),
      done: undefined as unknown as Promise<TaskExit>,
    };
    entry.done = this.follow(h, ctx, (fn) => {
      requestStop = fn;
      for (const r of pending.splice(0)) fn(r);
    }).finally(() => {
      this.inflight.delete(h.providerTaskId);
      this.scrubbers.delete(h.providerTaskId);
    });
    this.inflight.set(h.providerTaskId, entry);
    return entry.done;
  }

  async cancel(handle: TaskHandle, ctx: ProviderContext = {}): Promise<void> {
    const h = handle as FargateHandle;
    if (h.failure !== undefined || h.cancelledBeforeStart) return;
    const running = this.inflight.get(h.providerTaskId);
    if (running) {
      running.stop('cancelled');
      await running.done.then(
        () => undefined,
        () => undefined,
      );
      return;
    }
    this.scrubbers.delete(h.providerTaskId);
    await this.stopTask(h, 'agora: cancelled', ctx.logger ?? this.opts.logger);
  }

  async health(): Promise<ProviderHealth> {
    const details: Record<string, unknown> = { cluster: this.opts.cluster };
    const region = await this.region();
    if (!region) {
      return { ok: false, message: 'AWS region is not configured: set AWS_REGION (or the fargate provider\'s "region" option)', details };
    }
    details['region'] = region;
    const env = process.env;
    if (env['AWS_ACCESS_KEY_ID'] && !env['AWS_SECRET_ACCESS_KEY']) {
      return { ok: false, message: 'AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not', details };
    }
    if (env['AWS_SECRET_ACCESS_KEY'] && !env['AWS_ACCESS_KEY_ID']) {
      return { ok: false, message: 'AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not', details };
    }
    try {
      const creds = await withTimeout(this.ecs().config.credentials(), 5000, 'credential lookup timed out');
      if (!creds.accessKeyId) throw new Error('empty credentials');
    } catch (err) {
      const tried = env['AWS_PROFILE'] ? `profile "${env['AWS_PROFILE']}"` : 'the default credential chain';
      return {
        ok: false,
        message:
          `AWS credentials are not configured (${tried}: ${(err as Error).message}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ` +
          'or AWS_PROFILE with ~/.aws/credentials, or run with an IAM role',
        details,
      };
    }
    try {
      const out = await this.ecs().send(new DescribeClustersCommand({ clusters: [this.opts.cluster] }));
      const cluster = out.clusters?.[0];
      if (!cluster || cluster.status !== 'ACTIVE') {
        const why = out.failures?.[0]?.reason ?? cluster?.status ?? 'MISSING';
        return { ok: false, message: `ECS cluster "${this.opts.cluster}" is not usable in ${region}: ${why}`, details };
      }
      return { ok: true, message: `ECS cluster "${this.opts.cluster}" is ACTIVE in ${region}`, details: { ...details, clusterArn: cluster.clusterArn } };
    } catch (err) {
      const e = err as AwsError;
      return { ok: false, message: `DescribeClusters failed in ${region}: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`, details };
    }
  }

  private ecs(): ECSClient {
    this.ecsClient ??= new ECSClient(this.opts.region ? { region: this.opts.region } : {});
    return this.ecsClient;
  }

  private logs(): CloudWatchLogsClient {
    this.logsClient ??= new CloudWatchLogsClient(this.opts.region ? { region: this.opts.region } : {});
    return this.logsClient;
  }

  private async region(): Promise<string | undefined> {
    if (this.opts.region) return this.opts.region;
    try {
      return (await this.ecs().config.region()) || undefined;
    } catch {
      return undefined;
    }
  }

  private overrides(spec: TaskSpec): NonNullable<RunTaskCommandInput['overrides']> {
    const environment = Object.entries(spec.env ?? {}).map(([name, value]) => ({ name, value }));
    const overrides: NonNullable<RunTaskCommandInput['overrides']> = {
      containerOverrides: [
        {
          name: this.opts.containerName,
          ...(spec.command ? { command: [...spec.command] } : {}),
          ...(environment.length > 0 ? { environment } : {}),
        },
      ],
    };
    const cpu = spec.resources?.cpu;
    if (cpu !== undefined) {
      const units = Math.round(cpu * 1024);
      if (!FARGATE_CPU_UNITS.includes(units)) {
        throw new ValueError(`fargate provider: resources.cpu ${cpu} is not a Fargate size; use one of ${FARGATE_CPU_UNITS.map((u) => u / 1024).join(', ')} vCPU`);
      }
      overrides.cpu = String(units);
    }
    const memoryMb = spec.resources?.memoryMb;
    if (memoryMb !== undefined) {
      if (!Number.isInteger(memoryMb) || memoryMb < 512) throw new ValueError(`fargate provider: resources.memoryMb must be a whole number >= 512, got ${memoryMb}`);
      overrides.memory = String(memoryMb);
    }
    const size = JSON.stringify(overrides).length;
    if (size > MAX_OVERRIDES_CHARS) {
      throw new ValueError(`fargate provider: the task's command and env take ${size} characters; ECS accepts at most ${MAX_OVERRIDES_CHARS} in overrides (pass large inputs through storage)`);
    }
    return overrides;
  }

  private describeTaskDefinition(): Promise<TaskDefinition> {
    const ref = this.opts.taskDefinition;
    const cached = this.describedRevisions.get(ref);
    if (cached) return cached;
    const p = this.ecs()
      .send(new DescribeTaskDefinitionCommand({ taskDefinition: ref }))
      .then((out) => {
        if (!out.taskDefinition) throw new ProviderError(this.name, `task definition ${ref} was not found`, { retryable: false });
        return out.taskDefinition;
      })
      .catch((err: unknown) => {
        this.describedRevisions.delete(ref);
        if (err instanceof ProviderError) throw err;
        const e = err as AwsError;
        const retryable = !(e.$fault === 'client' && !e.$retryable && e.name !== 'ThrottlingException');
        throw new ProviderError(this.name, `DescribeTaskDefinition ${ref} failed: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`, { retryable, cause: err });
      });
    // A bare family may move to a new revision: only `family:revision` (or its ARN) is cached.
    if (/:\d+$/.test(ref)) this.describedRevisions.set(ref, p);
    return p;
  }

  /** The checks ECS would not do for us: pinning, and secrets that exist only in the definition. */
  private checkTaskDefinition(taskDef: TaskDefinition, spec: TaskSpec): ContainerDefinition {
    const name = taskDef.taskDefinitionArn ?? this.opts.taskDefinition;
    const container = taskDef.containerDefinitions?.find((c) => c.name === this.opts.containerName);
    if (!container) {
      const names = (taskDef.containerDefinitions ?? []).map((c) => c.name).join(', ') || 'none';
      throw new ValueError(`fargate provider: task definition ${name} has no container "${this.opts.containerName}" (it has: ${names})`);
    }
    const image = container.image ?? '';
    if (!isDigestPinned(image)) {
      throw new ValueError(
        `fargate provider: task definition ${name} runs image "${image}" in container "${this.opts.containerName}", which is not digest-pinned; ` +
          'register a revision with name@sha256:<64 hex digits> (Fargate images are always pinned)',
      );
    }
    if (spec.image !== undefined && spec.image !== image) {
      throw new ValueError(
        `fargate provider: spec.image ${spec.image} differs from the image of task definition ${name} (${image}); ` +
          'ECS cannot override a task\'s image: register a task definition revision for it',
      );
    }
    const declared = new Map((container.secrets ?? []).map((s) => [s.name, s.valueFrom]));
    const missing = Object.entries(spec.secretRefs ?? {}).filter(([env, ref]) => declared.get(env) !== ref);
    if (missing.length > 0) {
      const list = missing.map(([env, ref]) => `{ name: "${env}", valueFrom: "${ref}" }`).join(', ');
      throw new ValueError(
        `fargate provider: secretRefs must be declared in task definition ${name}, container "${this.opts.containerName}": add ${list} to its "secrets" ` +
          '(ECS injects secrets only from the task definition, through its execution role; they are never passed as overrides)',
      );
    }
    if (missing.length === 0 && Object.keys(spec.secretRefs ?? {}).length > 0 && !taskDef.executionRoleArn) {
      throw new ValueError(`fargate provider: task definition ${name} declares secrets but has no executionRoleArn; ECS needs that role to fetch them`);
    }
    return container;
  }

  private logLocation(container: ContainerDefinition): { group: string; prefix: string } | undefined {
    const awslogs = container.logConfiguration?.logDriver === 'awslogs' ? container.logConfiguration.options ?? {} : {};
    const group = this.opts.logGroup ?? awslogs['awslogs-group'];
    const prefix = this.opts.logStreamPrefix ?? awslogs['awslogs-stream-prefix'];
    return group && prefix ? { group, prefix } : undefined;
  }

  /** Polls until STOPPED (stopping the task on cancel/timeout), then reads the logs. */
  private async follow(h: FargateHandle, ctx: ProviderContext, onStopReady: (stop: (reason: string) => void) => void): Promise<TaskExit> {
    const logger = ctx.logger ?? this.opts.logger;
    let scrub = this.scrubbers.get(h.providerTaskId);
    let unscrubbable: string | undefined;
    if (!scrub) {
      // A handle started by another process: read its secrets again; output that cannot be
      // scrubbed is withheld rather than let through.
      scrub = await this.scrubberFor(h.secretRefs).catch((err: unknown) => {
        unscrubbable = coerceError(err).message;
        return NO_SCRUBBER;
      });
    }
    const cluster = h.cluster ?? this.opts.cluster;
    let stopReason: string | undefined;
    let stopSent = false;
    let wake: (() => void) | undefined;
    const stop = (reason: string): void => {
      if (stopReason !== undefined) return;
      stopReason = reason;
      wake?.();
    };
    onStopReady(stop);
    let timer: NodeJS.Timeout | undefined;
    if (h.timeoutMs !== undefined) {
      timer = setTimeout(() => stop(`timeout after ${h.timeoutMs} ms`), Math.max(0, (h.startedAtMs ?? Date.now()) + h.timeoutMs - Date.now()));
    }
    const onAbort = (): void => stop('cancelled');
    if (ctx.signal?.aborted) onAbort();
    else ctx.signal?.addEventListener('abort', onAbort, { once: true });

    try {
      let delay = this.pollMs;
      let errorsInRow = 0;
      const maxErrors = this.opts.maxConsecutivePollErrors ?? 10;
      for (;;) {
        if (stopReason !== undefined && !stopSent) {
          stopSent = await this.stopTask(h, `agora: ${stopReason}`, logger).then(
            () => true,
            () => false,
          );
          delay = this.pollMs;
        }
        let task: Task | undefined;
        try {
          const out = await this.ecs().send(new DescribeTasksCommand({ cluster, tasks: [h.providerTaskId] }));
          errorsInRow = 0;
          task = out.tasks?.[0];
          if (!task) {
            const why = out.failures?.map((f) => f.reason).join('; ') || 'not returned';
            return this.lost(h, scrub.text(`task ${h.providerTaskId} could not be described: ${why}`));
          }
        } catch (err) {
          const e = err as AwsError;
          if (++errorsInRow >= maxErrors) return this.lost(h, scrub.text(`DescribeTasks failed ${errorsInRow} times in a row: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`));
          logger?.warn({ provider: this.name, taskArn: h.providerTaskId, error: `${e.name}: ${e.message}` }, 'fargate: DescribeTasks failed; will retry');
        }
        if (task?.lastStatus === 'STOPPED') return await this.exitOf(h, task, stopReason, scrub, unscrubbable);
        if (stopReason !== undefined && !stopSent) continue;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delay);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = undefined;
        delay = Math.min(delay * 2, this.maxPollMs);
      }
    } finally {
      if (timer) clearTimeout(timer);
      ctx.signal?.removeEventListener('abort', onAbort);
    }
  }

  private lost(h: FargateHandle, reason: string): TaskExit {
    const now = new Date().toISOString();
    return { exitCode: null, startedAt: new Date(h.startedAtMs ?? Date.now()).toISOString(), finishedAt: now, stdout: EMPTY, stderr: '', providerFailureReason: reason };
  }

  private async exitOf(h: FargateHandle, task: Task, stopReason: string | undefined, scrub: Scrubber, unscrubbable: string | undefined): Promise<TaskExit> {
    const outcome = stoppedOutcome(task, this.opts.containerName);
    const startedAt = (task.startedAt ?? task.createdAt ?? new Date(h.startedAtMs ?? Date.now())).toISOString();
    const finishedAt = (task.stoppedAt ?? task.executionStoppedAt ?? new Date()).toISOString();
    if (outcome.kind === 'infrastructure') {
      return { exitCode: null, startedAt, finishedAt, stdout: EMPTY, stderr: '', providerFailureReason: scrub.text(outcome.reason) };
    }
    const stdout = new CappedBuffer(this.capBytes);
    let note = '';
    if (unscrubbable !== undefined) note += `[agora: output withheld: it could not be scrubbed of secrets (${unscrubbable})]\n`;
    // Nothing ran before the container started: there is no stream to read.
    else if (task.startedAt) note += await this.readLogs(h, stdout);
    if (outcome.kind === 'cancelled') {
      note += `[agora: worker stopped: ${stopReason ?? `by someone else (${outcome.detail})`}]\n`;
      return { exitCode: null, startedAt, finishedAt, stdout: stdout.contents(scrub), stderr: scrub.text(note), cancelled: true };
    }
    return { exitCode: outcome.exitCode, startedAt, finishedAt, stdout: stdout.contents(scrub), stderr: scrub.text(note) };
  }

  /**
   * The scrubber for a task's secret refs: each ref's value read the way ECS reads it (Secrets
   * Manager `arn:...:secret:name[:json-key[:version-stage[:version-id]]]`, else an SSM parameter
   * name or ARN). Refused (not retryable unless AWS says so) when a value cannot be read.
   */
  private async scrubberFor(secretRefs: Readonly<Record<string, string>> | undefined): Promise<Scrubber> {
    const refs = [...new Set(Object.values(secretRefs ?? {}))];
    if (refs.length === 0 || this.opts.scrubSecrets === false) return NO_SCRUBBER;
    const values: string[] = [];
    for (const ref of refs) {
      try {
        values.push(...(await this.secretValues(ref)));
      } catch (err) {
        const e = err as AwsError;
        const retryable = !(e.$fault === 'client' && !e.$retryable && e.name !== 'ThrottlingException');
        throw new ProviderError(
          this.name,
          `cannot read secret ${ref} to scrub the worker's output (${e.name ?? 'Error'}: ${e.message ?? String(err)}); ` +
            'grant the runner secretsmanager:GetSecretValue / ssm:GetParameter on it, or set the provider option scrubSecrets: false (output is then not scrubbed)',
          { retryable, cause: err },
        );
      }
    }
    return createScrubber(values);
  }

  private async secretValues(ref: string): Promise<string[]> {
    const region = ref.startsWith('arn:') ? ref.split(':')[3] : undefined;
    if (/^arn:aws[a-z-]*:secretsmanager:/.test(ref)) {
      const parts = ref.split(':');
      const [jsonKey, versionStage, versionId] = parts.slice(7);
      const out = await this.secretsClientFor(region).send(
        new GetSecretValueCommand({ SecretId: parts.slice(0, 7).join(':'), ...(versionStage ? { VersionStage: versionStage } : {}), ...(versionId ? { VersionId: versionId } : {}) }),
      );
      const whole = out.SecretString ?? (out.SecretBinary ? Buffer.from(out.SecretBinary).toString('utf8') : '');
      // A JSON secret: each field may reach the worker on its own (json-key), or the whole.
      const fields: string[] = [];
      try {
        const parsed = JSON.parse(whole) as unknown;
        if (parsed !== null && typeof parsed === 'object') {
          for (const [k, v] of Object.entries(parsed)) {
            if (jsonKey !== undefined && jsonKey !== '' && k !== jsonKey) continue;
            fields.push(typeof v === 'string' ? v : JSON.stringify(v));
          }
        }
      } catch {
        // not JSON: the whole string is the value
      }
      return [whole, ...fields];
    }
    const out = await this.ssmClientFor(region).send(new GetParameterCommand({ Name: ref, WithDecryption: true }));
    return [out.Parameter?.Value ?? ''];
  }

  private secretsClientFor(region: string | undefined): SecretsManagerClient {
    if (this.opts.secretsClient) return this.opts.secretsClient;
    const key = region ?? this.opts.region ?? '';
    let c = this.secretsClients.get(key);
    if (!c) this.secretsClients.set(key, (c = new SecretsManagerClient(key ? { region: key } : {})));
    return c;
  }

  private ssmClientFor(region: string | undefined): SSMClient {
    if (this.opts.ssmClient) return this.opts.ssmClient;
    const key = region ?? this.opts.region ?? '';
    let c = this.ssmClients.get(key);
    if (!c) this.ssmClients.set(key, (c = new SSMClient(key ? { region: key } : {})));
    return c;
  }

  /**
   * Reads the container's awslogs stream from its head into `into`; returns a note for stderr
   * when the logs are missing. awslogs merges stdout and stderr into one stream: it all lands in
   * stdout.
   */
  private async readLogs(h: FargateHandle, into: CappedBuffer): Promise<string> {
    if (!h.logGroup || !h.logStream) return '[agora: no awslogs group/prefix configured; output not captured]\n';
    const base: GetLogEventsCommandInput = { logGroupName: h.logGroup, logStreamName: h.logStream, startFromHead: true };
    let token: string | undefined;
    let notFound = 0;
    for (;;) {
      try {
        const out = await this.logs().send(new GetLogEventsCommand(token ? { ...base, nextToken: token } : base));
        for (const e of out.events ?? []) into.push(`${e.message ?? ''}\n`);
        // GetLogEvents signals the end by handing back the token it was given.
        if (!out.nextForwardToken || out.nextForwardToken === token) return '';
        token = out.nextForwardToken;
      } catch (err) {
        const e = err as AwsError;
        if (e.name === 'ResourceNotFoundException' && token === undefined && ++notFound <= (this.opts.logStreamRetries ?? 3)) {
          await new Promise((r) => setTimeout(r, this.pollMs));
          continue;
        }
        return `[agora: logs of ${h.logGroup}/${h.logStream} could not be read: ${e.name ?? 'Error'}: ${e.message ?? String(err)}]\n`;
      }
    }
  }

  private async stopTask(h: FargateHandle, reason: string, logger: Logger | undefined): Promise<void> {
    try {
      await this.ecs().send(new StopTaskCommand({ cluster: h.cluster ?? this.opts.cluster, task: h.providerTaskId, reason: reason.slice(0, 255) }));
      logger?.info({ provider: this.name, taskArn: h.providerTaskId, reason }, 'fargate: StopTask sent');
    } catch (err) {
      const e = err as AwsError;
      // Gone already (ECS forgets stopped tasks after a while): nothing left to stop.
      if (e.name === 'InvalidParameterException' && /not found/i.test(e.message ?? '')) return;
      logger?.warn({ provider: this.name, taskArn: h.providerTaskId, error: `${e.name}: ${e.message}` }, 'fargate: StopTask failed');
      throw new ProviderError(this.name, `StopTask ${h.providerTaskId} failed: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`, { cause: err });
    }
  }
}

function tagsOf(labels: Readonly<Record<string, string>> | undefined): Tag[] {
  const tags: Tag[] = Object.entries(labels ?? {})
    .filter(([k]) => !k.toLowerCase().startsWith('aws:'))
    .map(([key, value]) => ({ key: key.replace(TAG_CHARS_RE, '_').slice(0, 128), value: value.replace(TAG_CHARS_RE, '_').slice(0, 256) }));
  tags.push({ key: 'agora.managed', value: 'true' });
  return tags.slice(-MAX_TAGS);
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}
