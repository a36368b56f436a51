import path from 'node:path';
import { z } from 'zod';
import {
  DEFAULT_RESULT_SINK,
  PACKAGE_PROVIDER_PREFIX,
  ProviderRegistry,
  ValueError,
  createLogger,
  envSecret,
  type AgoraConfig,
  type ComputeProvider,
  type CredentialProvider,
  type NotificationProvider,
  type ResultSink,
  type CredentialRequest,
  type ProviderFactoryContext,
  type ProviderHealth,
  type ResolvedCredentials,
  type StorageProvider,
} from '@agora/core';
import { ProcessComputeProvider } from '@agora/compute-process';
import { StdoutResultSink, WebhookNotificationProvider, WebhookResultSink } from '@agora/deliveries';
import { LocalStorageProvider } from '@agora/storage-local';
import { FileCredentialProvider } from './credentials/file-credential-provider.js';
import { StaticCredentialProvider } from './credentials/static-credential-provider.js';
import { loadProviderPackage } from './provider-package.js';

/** Credentials for targets that need none. */
export class NoopCredentialProvider implements CredentialProvider {
  readonly name = 'noop';
  async resolve() {
    return { kind: 'none' };
  }
  async health() {
    return { ok: true, message: 'no credentials needed' };
  }
}

const ENV_NAME = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'not an environment variable name');

/** Options of the `env` credential provider. */
export const envCredentialOptionsSchema = z
  .object({
    /**
     * The only variables a task may read (`secretRefs: { X: "env:NAME" }`). The runner's own
     * environment holds far more (cloud keys, REDIS_URL): nothing outside this list resolves.
     * @default []
     */
    allow: z.array(ENV_NAME).default([]),
    /** Variables `agora doctor` reports missing; allowed too. @default [] */
    required: z.array(ENV_NAME).default([]),
  })
  .strict();

export type EnvCredentialOptions = z.input<typeof envCredentialOptionsSchema>;

/**
 * Resolves secret references of the form `env:NAME` from this process's environment, for names
 * in `options.allow` only. The values reach workers through `secretRefs` only; they are never
 * logged or written to events.
 */
export class EnvCredentialProvider implements CredentialProvider {
  readonly name = 'env';
  private readonly allow: ReadonlySet<string>;
  private readonly required: readonly string[];

  /** `options` is the config's `credentials.<name>.options`, parsed here. */
  constructor(options: EnvCredentialOptions | Readonly<Record<string, unknown>> = {}) {
    const parsed = envCredentialOptionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new ValueError(`env credentials: ${parsed.error.issues.map((i) => `options${i.path.map((p) => `.${String(p)}`).join('')}: ${i.message}`).join('; ')}`);
    }
    this.allow = new Set([...parsed.data.allow, ...parsed.data.required]);
    this.required = parsed.data.required;
  }

  private allowed(): string {
    return this.allow.size > 0 ? [...this.allow].join(', ') : 'none; list the variables a task may read in options.allow';
  }

  async resolve(request: CredentialRequest = {}): Promise<ResolvedCredentials> {
    for (const ref of request.refs ?? []) {
      const name = ref.startsWith('env:') ? ref.slice('env:'.length) : undefined;
      if (name === undefined) throw new ValueError(`env credentials: "${ref}" is not an env:NAME reference`);
      if (!this.allow.has(name)) throw new ValueError(`env credentials: "${ref}" is not in options.allow (allowed: ${this.allowed()})`);
    }
    const wanted = request.refs ? request.refs.map((r) => r.slice('env:'.length)) : [...this.allow];
    const secrets: Record<string, string> = {};
    for (const name of wanted) {
      const v = envSecret(name);
      if (v !== undefined) secrets[`env:${name}`] = v;
    }
    return { kind: 'static-secrets', secrets };
  }

  async health(): Promise<ProviderHealth> {
    const missing = this.required.filter((n) => envSecret(n) === undefined);
    return missing.length === 0
      ? { ok: true, message: `environment provides ${this.required.length} required secret(s); ${this.allow.size} variable(s) allowed` }
      : { ok: false, message: `missing environment variable(s): ${missing.join(', ')}` };
  }
}

/**
 * Options a config may give the `process`, `docker` and `fargate` compute providers. The providers read
 * their options without checking them, so a typo (`socketpath`) or a mistyped value
 * (`socketPath: 5`) was dropped or surfaced as a Node error at the first call; as an unknown
 * config key, it is refused where the provider is made, naming the key.
 */
const processComputeOptionsSchema = z
  .object({
    killGraceMs: z.number().int().min(0).max(86_400_000).optional(),
    inheritEnv: z.array(ENV_NAME).optional(),
    dieWithRunner: z.boolean().optional(),
  })
  .strict();

const dockerComputeOptionsSchema = z
  .object({
    socketPath: z.string().min(1).optional(),
    allowUnpinnedImage: z.boolean().optional(),
    ulimits: z.array(z.object({ Name: z.string().min(1), Soft: z.number().int(), Hard: z.number().int() }).strict()).optional(),
    binds: z.array(z.string().min(1)).optional(),
    network: z.string().min(1).optional(),
    stopGraceMs: z.number().int().min(0).max(86_400_000).optional(),
  })
  .strict();

/** The fargate provider's options a config can give; it checks the required ones itself. */
const fargateComputeOptionsSchema = z
  .object({
    cluster: z.string().optional(),
    taskDefinition: z.string().optional(),
    containerName: z.string().optional(),
    subnets: z.array(z.string().min(1)).optional(),
    securityGroups: z.array(z.string().min(1)).optional(),
    assignPublicIp: z.boolean().optional(),
    region: z.string().min(1).optional(),
    logGroup: z.string().min(1).optional(),
    logStreamPrefix: z.string().min(1).optional(),
    pollIntervalMs: z.number().int().positive().max(86_400_000).optional(),
    maxPollIntervalMs: z.number().int().positive().max(86_400_000).optional(),
    maxConsecutivePollErrors: z.number().int().positive().optional(),
    logStreamRetries: z.number().int().min(0).optional(),
    startedBy: z.string().min(1).optional(),
    scrubSecrets: z.boolean().optional(),
  })
  .strict();

function computeOptions<T>(provider: string, schema: z.ZodType<T>, options: unknown): T {
  const parsed = schema.safeParse(options ?? {});
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) =>
    i.code === 'unrecognized_keys'
      ? `unknown option(s) ${i.keys.map((k) => `"${k}"`).join(', ')}`
      : `options${i.path.map((p) => `.${String(p)}`).join('')}: ${i.message}`,
  );
  throw new ValueError(`${provider} compute provider: ${problems.join('; ')}`);
}

/** The registry of built-in providers; optional ones load their SDKs only when used. */
export function defaultRegistry(): ProviderRegistry {
  // `package:<name>` providers: a third party's package, resolved from the config's directory.
  const r = new ProviderRegistry({ loadPackage: loadProviderPackage });
  r.register('compute', 'process', (o) => new ProcessComputeProvider(computeOptions('process', processComputeOptionsSchema, o) as ConstructorParameters<typeof ProcessComputeProvider>[0]));
  // The cloud SDKs load only when a config names these providers.
  r.register('compute', 'docker', async (o) => {
    const { DockerComputeProvider } = await import('@agora/compute-docker');
    return new DockerComputeProvider(computeOptions('docker', dockerComputeOptionsSchema, o) as ConstructorParameters<typeof DockerComputeProvider>[0]);
  });
  r.register('compute', 'fargate', async (o) => {
    const { FargateComputeProvider } = await import('@agora/compute-fargate');
    return new FargateComputeProvider(computeOptions('fargate', fargateComputeOptionsSchema, o) as unknown as ConstructorParameters<typeof FargateComputeProvider>[0]);
  });
  r.register('storage', 'local', (o, ctx) => new LocalStorageProvider({ root: path.resolve(ctx.dataDir, String(o['root'] ?? 'storage')) }));
  r.register('storage', 's3', async (o) => {
    const { S3StorageProvider } = await import('@agora/storage-s3');
    return new S3StorageProvider(o as unknown as ConstructorParameters<typeof S3StorageProvider>[0]);
  });
  r.register('credentials', 'noop', () => new NoopCredentialProvider());
  r.register('credentials', 'env', (o) => new EnvCredentialProvider(o));
  r.register('credentials', 'static', (o) => new StaticCredentialProvider(o));
  r.register('credentials', 'file', (o, ctx) => new FileCredentialProvider(o, ctx));
  r.register('credentials', 'aws', async (o) => {
    const { AwsCredentialProvider } = await import('@agora/credentials-aws');
    return new AwsCredentialProvider(o);
  });
  r.register('resultSink', 'stdout', (o) => {
    // It takes none: an option given (a typo, a webhook's url under the wrong provider) would
    // otherwise be ignored in silence, as an unknown config key never is.
    const given = Object.keys(o ?? {});
    if (given.length > 0) throw new ValueError(`stdout result sink: takes no options, got ${given.map((k) => `"${k}"`).join(', ')}`);
    return new StdoutResultSink(createLogger({ component: 'result-sink' }));
  });
  r.register('resultSink', 'webhook', (o) => new WebhookResultSink(o));
  r.register('notification', 'webhook', (o) => new WebhookNotificationProvider(o));
  // Runner fleets (README "Fleet"); docker and ecs load their SDKs only when configured.
  r.register('fleet', 'local', async (o, ctx) => {
    const { LocalFleetProvider } = await import('@agora/fleet-local');
    return new LocalFleetProvider(o, ctx);
  });
  r.register('fleet', 'docker', async (o, ctx) => {
    const { DockerFleetProvider } = await import('@agora/fleet-docker');
    return new DockerFleetProvider(o, ctx);
  });
  r.register('fleet', 'ecs', async (o, ctx) => {
    const { EcsFleetProvider } = await import('@agora/fleet-ecs');
    return new EcsFleetProvider(o, ctx);
  });
  return r;
}

/**
 * A provider's refusal of its options, with the config key it was built from in front: a runner
 * with several webhooks said "webhook result sink: options.url: …" without saying which.
 */
async function namingKey<T>(key: string, made: Promise<T>): Promise<T> {
  try {
    return await made;
  } catch (err) {
    if (err instanceof ValueError && !err.message.startsWith(`${key}:`)) throw new ValueError(`${key}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** Instantiates the providers a config names, once each, on first use. */
export class ProviderSet {
  private readonly cache = new Map<string, Promise<unknown>>();
  readonly ctx: ProviderFactoryContext;

  constructor(
    readonly config: AgoraConfig,
    readonly registry: ProviderRegistry = defaultRegistry(),
  ) {
    this.ctx = { configDir: config.configDir, dataDir: config.dataDir, namespace: config.namespace };
  }

  private once<T>(key: string, make: () => Promise<T>): Promise<T> {
    let p = this.cache.get(key) as Promise<T> | undefined;
    if (!p) {
      p = make();
      this.cache.set(key, p);
      p.catch(() => this.cache.delete(key));
    }
    return p;
  }

  /**
   * The `compute` and `credentials` entries naming a provider alias nobody registered (a typo such
   * as "proces"). Those are built on first use, so the runner started and every dispatch item
   * then failed `VALUE`; the runner asks this at start instead. Package providers resolve on use.
   */
  unknownProviders(): string[] {
    const problems: string[] = [];
    for (const kind of ['compute', 'credentials'] as const) {
      const known = this.registry.aliases(kind);
      for (const [name, ref] of Object.entries(this.config[kind])) {
        if (ref.provider.startsWith(PACKAGE_PROVIDER_PREFIX) || known.includes(ref.provider)) continue;
        problems.push(`${kind}.${name}.provider: unknown ${kind} provider "${ref.provider}" (registered: ${known.join(', ') || 'none'})`);
      }
    }
    return problems;
  }

  compute(name: string): Promise<ComputeProvider> {
    const ref = this.config.compute[name];
    if (!ref) return Promise.reject(new ValueError(`unknown compute provider "${name}"`));
    return this.once(`compute:${name}`, () => this.registry.create('compute', ref.provider, ref.options, this.ctx));
  }

  credentials(name: string): Promise<CredentialProvider> {
    const ref = this.config.credentials[name];
    if (!ref) return Promise.reject(new ValueError(`unknown credentials "${name}"`));
    return this.once(`credentials:${name}`, () => this.registry.create('credentials', ref.provider, ref.options, this.ctx));
  }

  /** A result sink by its config name; `stdout` is built in unless the config redefines it. */
  resultSink(name: string): Promise<ResultSink> {
    const ref = this.config.resultSinks[name] ?? (name === DEFAULT_RESULT_SINK ? { provider: 'stdout', options: {} } : undefined);
    if (!ref) return Promise.reject(new ValueError(`unknown result sink "${name}"`));
    return this.once(`resultSink:${name}`, () => namingKey(`resultSinks.${name}`, this.registry.create('resultSink', ref.provider, ref.options, this.ctx)));
  }

  notification(name: string): Promise<NotificationProvider> {
    const ref = this.config.notifications[name];
    if (!ref) return Promise.reject(new ValueError(`unknown notification provider "${name}"`));
    return this.once(`notification:${name}`, () => namingKey(`notifications.${name}`, this.registry.create('notification', ref.provider, ref.options, this.ctx)));
  }

  storage(): Promise<StorageProvider> {
    const ref = this.config.storage;
    return this.once('storage', () => this.registry.create('storage', ref.provider, ref.options, this.ctx));
  }
}
