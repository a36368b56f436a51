import { readFile } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { fleetConfigSchema } from './fleet.js';
import { NAMESPACE_RE } from './keys.js';
import { QUEUE_NAME_RE, decodeUtf8, parsePlanText, plainSchemaWords } from './plan.js';
import { assertRedisUrl, redisClusterUrl } from './redis-url.js';
import { RETRY_LIMITS, retryPolicySchema } from './retry-policy.js';
import { resolveTracingConfig, tracingConfigSchema, type TracingConfig } from './tracing-config.js';

/**
 * Longest interval or lease a config key may give: a day. Each becomes a Node timer (a lease is
 * renewed every third of it); past 2^31-1 ms Node fires the timer after 1 ms instead, so the
 * scheduler's lease renewal spun, printing a TimeoutOverflowWarning per turn on stderr.
 */
const DAY_MS = 24 * 3600 * 1000;
/**
 * The namespace grammar, said where a namespace is refused. The problem is already prefixed with
 * its key ("namespace: …"), so the rule does not repeat it; AGORA_NAMESPACE only said "invalid".
 */
const NAMESPACE_RULE = 'use 1-32 of [a-z0-9_-], starting with a letter or digit';
const interval = (min: number) => z.number().int().min(min).max(DAY_MS, 'at most a day (86400000 ms)');

const providerRef = z
  .object({
    /** Registry alias of the provider class (e.g. "process", "docker", "fargate", "local", "s3"). */
    provider: z.string().min(1),
    options: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export const taskSchema = z
  .object({
    /** argv of the worker (process provider) or the container command. */
    command: z.array(z.string()).min(1).optional(),
    /** Container image (docker, fargate). */
    image: z.string().min(1).optional(),
    env: z.record(z.string(), z.string()).default({}),
    /** Env var name -> secret reference; resolved by the provider, never logged. */
    secretRefs: z.record(z.string(), z.string()).default({}),
    /** Default target of this task. */
    target: z.string().min(1).optional(),
    resources: z
      .object({ cpu: z.number().positive().optional(), memoryMb: z.number().int().positive().optional() })
      .strict()
      .optional(),
    /** Wall-clock limit of one attempt. @default 600000 */
    timeoutMs: z.number().int().positive().max(7 * 24 * 3600 * 1000).default(600_000),
    /** Retry policy of the task's items; each field overrides the config's (`runner.retry`), an item's overrides it. */
    retry: retryPolicySchema.optional(),
    /** Where its items' terminal results go (a name in `resultSinks`); wins over the plan's. @default the plan's, else "stdout" */
    resultSink: z.string().min(1).optional(),
    /** Memoize the task's items (an item's own `memoize` overrides it; this overrides the queue's). @default the queue's */
    memoize: z.boolean().optional(),
  })
  .strict()
  .refine((t) => t.command !== undefined || t.image !== undefined, { message: 'a task needs a command or an image' });

export type TaskDefinition = z.infer<typeof taskSchema>;

/**
 * A dashboard key as given in clear (`dashboard.apiKey`, `dashboard.adminKey`, AGORA_API_KEY,
 * AGORA_ADMIN_KEY): 16+ characters and no whitespace, so a key of spaces or a pasted line with a
 * stray blank is refused instead of accepted.
 */
export const dashboardKeySchema = z
  .string()
  .regex(/^\S{16,}$/, 'an API key must be 16 or more characters with no whitespace');

/** What a dashboard key may do: `read` (GET routes, Bull Board viewing), `submit` (submit, cancel), `admin` (Bull Board writes). */
export const dashboardScopeSchema = z.enum(['read', 'submit', 'admin']);
export type DashboardScope = z.infer<typeof dashboardScopeSchema>;

/** One entry of `dashboard.apiKeys`: the key is kept only as the hex sha256 of its UTF-8 bytes. */
export const dashboardApiKeySchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'the hex sha256 of the key (64 hex digits)')
      .transform((h) => h.toLowerCase()),
    scopes: z.array(dashboardScopeSchema).min(1),
  })
  .strict();

/** Names of result sinks and notification providers (they appear in job data and events). */
export const SINK_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const SINK_NAME_MESSAGE = 'use 1-64 of [A-Za-z0-9_-], starting with a letter or digit';
/** The result sink of items whose plan and task name none: today's behaviour, a line on the runner's stdout. */
export const DEFAULT_RESULT_SINK = 'stdout';

/** Result sink names a config offers: its own and the built-in `stdout`. */
export function resultSinkNames(cfg: { readonly resultSinks: Readonly<Record<string, unknown>> }): string[] {
  return [...new Set([DEFAULT_RESULT_SINK, ...Object.keys(cfg.resultSinks)])].sort();
}

/**
 * What a deployment with this config lets a plan name: its queues, targets and result sinks
 * (`validatePlan` options). `agora validate`, `submit` and the scheduler's acceptance check the
 * same, so they agree on every plan; the scheduler adds the executors it runs.
 */
export function configValidateOptions(cfg: Pick<AgoraConfig, 'queues' | 'targets' | 'resultSinks'>): { queues: string[]; targets: string[]; resultSinks: string[] } {
  return { queues: Object.keys(cfg.queues), targets: Object.keys(cfg.targets), resultSinks: resultSinkNames(cfg) };
}

export const configSchema = z
  .object({
    /** Prefix of every Redis key and BullMQ queue of this deployment. @default "agora" */
    namespace: z.string().regex(NAMESPACE_RE, NAMESPACE_RULE).default('agora'),
    /** @default process.env.REDIS_URL */
    redisUrl: z.string().optional(),
    redis: z
      .object({
        /**
         * Seed nodes (`host:port`) of a Redis Cluster, in place of `redisUrl` (REDIS_URL still
         * overrides it). Credentials stay out of the file: give them in REDIS_URL as
         * `redis+cluster://user:password@host1:port1,…` instead.
         */
        cluster: z
          .array(z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):\d{1,5}$/, 'a seed node is host:port'))
          .min(1)
          .max(64)
          .optional(),
        /** Reach the cluster's nodes over TLS (`rediss+cluster://`). @default false */
        tls: z.boolean().default(false),
        /**
         * What `/readyz` of `serve` and `runner` requires of Redis's own settings. Unset: eviction
         * must be off where CONFIG can be read. Set: each setting named must be readable and as
         * required (an ACL user then needs `+config|get`).
         */
        require: z
          .object({
            /** maxmemory-policy is `noeviction`. @default true */
            noeviction: z.boolean().optional(),
            /** AOF is on (`appendonly yes`). @default false */
            appendonly: z.boolean().optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    /** Where artifacts, signing keys and local state live. @default process.env.AGORA_DATA_DIR or "./.agora" */
    dataDir: z.string().optional(),
    /** Plan queues and their global concurrency (across all runners). @default { default: { concurrency: 2 } } */
    queues: z
      .record(
        z.string().regex(QUEUE_NAME_RE, 'queue names are 1-64 of [a-z0-9_-], starting with a letter or digit'),
        z
          .object({
            concurrency: z.number().int().positive().optional(),
            /**
             * Most item jobs of this queue unfinished in Redis at once (waiting, prioritized,
             * delayed, waiting for children, active). A plan that would go past it is accepted as
             * `queued` and its items are admitted in chunks as room frees. @default none: no bound
             */
            maxWaiting: z.number().int().positive().max(10_000_000).optional(),
            /** At most `max` item jobs taken from this queue per `durationMs`, across all runners (BullMQ's global rate limit). @default none */
            rateLimit: z.object({ max: z.number().int().positive(), durationMs: z.number().int().min(1).max(24 * 3600 * 1000) }).strict().optional(),
            /** Memoize the queue's items (a task's or an item's `memoize` overrides it). @default false */
            memoize: z.boolean().optional(),
          })
          .strict(),
      )
      .default({ default: { concurrency: 2 } }),
    runner: z
      .object({
        /** Items one runner runs at once, capped at the CPU count (seed 002). @default 4 */
        concurrency: z.number().int().positive().default(4),
        /** Attempts per item for infrastructure failures. @default 3 */
        attempts: z.number().int().positive().max(100).default(3),
        /** First retry back-off (exponential): `runner.retry.backoff.delayMs`'s legacy spelling, with its bounds (0 to a day). @default 1000 */
        backoffMs: z.number().int().nonnegative().max(RETRY_LIMITS.maxDelayMs).default(1000),
        /** Lease of a resource lock; extended while the item runs. @default 30000 */
        lockTtlMs: interval(1000).default(30_000),
        /** BullMQ job lock duration; a runner silent this long loses the job to another. @default 30000 */
        jobLockMs: interval(1000).default(30_000),
        /** How often stalled jobs are looked for. @default 30000 */
        stalledIntervalMs: interval(500).default(30_000),
        /** Completed item jobs kept for the dashboard. @default 10000 */
        keepCompleted: z.number().int().nonnegative().default(10_000),
        /** Failed item jobs kept for the dashboard. @default 10000 */
        keepFailed: z.number().int().nonnegative().default(10_000),
        /**
         * On SIGTERM a runner stops taking items and lets running ones finish for this long, then
         * stops their workers and hands the items back to the queue for another runner. @default 30000
         */
        shutdownGraceMs: z.number().int().nonnegative().max(24 * 3600 * 1000).default(30_000),
        /**
         * Times an item may start and never finish because its runner died (beyond its attempts)
         * before it fails with `errorCode: "STALLED"`: a worker that kills every runner it lands
         * on cannot loop forever. @default 2
         */
        maxStalls: z.number().int().nonnegative().max(100).default(2),
        /**
         * The default retry policy of every item (a task's and an item's override it field by
         * field). Its `attempts` and `backoff.delayMs` win over the legacy `attempts`/`backoffMs`.
         * @default { attempts: runner.attempts, backoff: { type: "exponential", delayMs: runner.backoffMs, jitter: 0 }, on: ["infra"] }
         */
        retry: retryPolicySchema.optional(),
      })
      .strict()
      // The config level is runner.retry over the legacy keys: a maxDelayMs below the legacy
      // backoffMs breaks the level's own rule (runner.retry's schema sees only its own delayMs),
      // and every run would be rejected at acceptance for it. Refused here, where it is written.
      .superRefine((r, ctx) => {
        const maxDelayMs = r.retry?.backoff?.maxDelayMs;
        if (maxDelayMs !== undefined && r.retry?.backoff?.delayMs === undefined && maxDelayMs < r.backoffMs) {
          ctx.addIssue({
            code: 'custom',
            path: ['retry', 'backoff', 'maxDelayMs'],
            message: `maxDelayMs ${maxDelayMs} is below runner.backoffMs ${r.backoffMs}, the config's delayMs (every run would be rejected); raise it or give runner.retry.backoff.delayMs`,
          });
        }
      })
      .prefault({}),
    scheduler: z
      .object({
        /**
         * Lease of the active scheduler in Redis (`agora serve` may run several; one acts). It is
         * renewed every third of this; a standby takes over within this long after the active one dies.
         * @default 10000
         */
        leaseMs: interval(1000).default(10_000),
        /** Lock duration of a plan being accepted (an inbox job); lost this long after its scheduler dies. @default leaseMs */
        inboxLockMs: interval(1000).optional(),
        /** How often stalled inbox jobs are looked for. @default half of inboxLockMs */
        inboxStalledIntervalMs: interval(500).optional(),
        /**
         * A running run whose event stream has not moved for this long has its unfinished items'
         * jobs looked at: an item whose job is gone from the queue (removed) or ended without
         * ending it is failed `JOB_LOST`, so the run can end. @default 60000
         */
        repairAfterMs: interval(1000).default(60_000),
      })
      .strict()
      .prefault({}),
    compute: z.record(z.string(), providerRef).default({ local: { provider: 'process', options: {} } }),
    credentials: z.record(z.string(), providerRef).default({ none: { provider: 'noop', options: {} } }),
    storage: providerRef.default({ provider: 'local', options: {} }),
    targets: z
      .record(z.string(), z.object({ compute: z.string(), credentials: z.string().optional() }).strict())
      .default({ local: { compute: 'local' } }),
    /** Target used when neither the item, the plan nor the task names one. @default "local" */
    defaultTarget: z.string().default('local'),
    tasks: z.record(z.string(), taskSchema).default({}),
    audit: z
      .object({
        /** Where sealed checkpoints are anchored: `local` (Redis) or `s3` (Object Lock, COMPLIANCE). @default { provider: "local" } */
        anchor: providerRef.default({ provider: 'local', options: {} }),
        /** Name of the signing key (created in `<dataDir>/keys/` on first use). @default "agora-<namespace>" */
        keyName: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/).optional(),
        /** A running run is checkpointed after this many new events. @default 50000 */
        checkpointEveryEvents: z.number().int().positive().default(50_000),
        /** ... or after this long with new events. @default 60000 */
        checkpointEveryMs: interval(1000).default(60_000),
      })
      .strict()
      .prefault({}),
    dashboard: z
      .object({
        /**
         * Bind address of the dashboard and API. Never empty: Node reads an empty host as every
         * interface, the opposite of the default. @default "127.0.0.1"
         */
        host: z.string().min(1, 'an address to listen on (127.0.0.1, or 0.0.0.0 for every interface), not empty').default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(3000),
        /** One key with scopes `read` + `submit`; falls back to AGORA_API_KEY. */
        apiKey: dashboardKeySchema.optional(),
        /** One key with every scope (`read`, `submit`, `admin`); falls back to AGORA_ADMIN_KEY. */
        adminKey: dashboardKeySchema.optional(),
        /** More keys, each stored as its sha256 with its scopes. @default [] */
        apiKeys: z.array(dashboardApiKeySchema).default([]),
        /** Host names (optionally `name:port`) accepted besides localhost/127.0.0.1/[::1] with the port. @default [] */
        allowedHosts: z.array(z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/)).default([]),
        /** Open SSE streams per dashboard process; more get 503. @default 1000 */
        maxSseClients: z.number().int().positive().default(1000),
      })
      .strict()
      .prefault({}),
    /**
     * Prometheus `/metrics`, `/healthz` and `/readyz` of `agora serve` and `agora runner` (the
     * dashboard serves its own on its port). Off unless a port is set here or by `--metrics-port`.
     */
    metrics: z
      .object({
        /** Port of the metrics server; 0 picks a free one (the "metrics listening" log line names it). @default none: no metrics server */
        port: z.number().int().min(0).max(65535).optional(),
        /**
         * Bind address of the metrics server; `0.0.0.0` for a Prometheus on another host. Never
         * empty: Node reads an empty host as every interface, the opposite of the default.
         * @default "127.0.0.1"
         */
        host: z.string().min(1, 'an address to listen on (127.0.0.1, or 0.0.0.0 for every interface), not empty').default('127.0.0.1'),
      })
      .strict()
      .prefault({}),
    /** Dead-letter records of items that failed for good (README "Dead letters"). */
    deadLetters: z
      .object({
        /** Records kept per namespace; the oldest are dropped past it, so the DLQ cannot grow without bound. @default 10000 */
        maxRecords: z.number().int().positive().max(10_000_000).default(10_000),
        /** Bytes kept of each of the worker's stdout and stderr (their last bytes, scrubbed). @default 4096 */
        tailBytes: z.number().int().nonnegative().max(65_536).default(4096),
      })
      .strict()
      .prefault({}),
    /**
     * Named result sinks, chosen by a plan's or a task's `resultSink` (README "Result sinks and
     * notifications"). `stdout` is built in (and may be redefined). @default {}
     */
    resultSinks: z.record(z.string().regex(SINK_NAME_RE, SINK_NAME_MESSAGE), providerRef).default({}),
    /** Named notification providers; every one is sent the run and item events its options ask for. @default {} */
    notifications: z.record(z.string().regex(SINK_NAME_RE, SINK_NAME_MESSAGE), providerRef).default({}),
    /** The memo cache of `memoize` items (README "Memoize"). */
    memo: z
      .object({
        /** Cache entries kept per namespace; past it the oldest are dropped (their items simply execute again). @default 100000 */
        maxEntries: z.number().int().positive().max(10_000_000).default(100_000),
      })
      .strict()
      .prefault({}),
    /** OpenTelemetry traces: see tracing-config.ts (the OTEL_* environment variables override it). */
    tracing: tracingConfigSchema,
    /** Runner fleets: `fleet.<name>: { provider, options, autoscale? }` (README "Fleet"). @default {} */
    fleet: fleetConfigSchema,
  })
  .strict();

export type AgoraConfigInput = z.input<typeof configSchema>;
export type AgoraConfig = z.infer<typeof configSchema> & {
  /** Directory relative paths in the config (task cwd, dataDir) are resolved against. */
  readonly configDir: string;
  readonly redisUrl: string;
  readonly dataDir: string;
  /** With the OTEL_* environment variables applied. */
  readonly tracing: TracingConfig;
};

export const CONFIG_FILE_NAMES = ['agora.config.json', 'agora.config.mjs'] as const;

/**
 * An environment variable of the config (`AGORA_CONFIG`, `AGORA_DATA_DIR`, `AGORA_NAMESPACE`), or
 * undefined when unset or empty: empty counts as unset, as for the other knobs (env files and
 * `${VAR:-}` leave names empty). An empty AGORA_DATA_DIR made the config's directory the data dir.
 */
export function configEnv(name: 'AGORA_CONFIG' | 'AGORA_DATA_DIR' | 'AGORA_NAMESPACE', env: NodeJS.ProcessEnv = process.env): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/**
 * Where the raw config holds a `"__proto__"` key. `JSON.parse` keeps one as data, but the schema's
 * copy assigns it, which sets a prototype instead: the entry would vanish silently
 * (`"queues": { "__proto__": … }` left no queue at all). Refused, as in plans. Iterative, over
 * plain objects and arrays only, each visited once (a `.mjs` config may share or cycle objects).
 */
function protoKeyPlaces(raw: unknown): string[] {
  const places: string[] = [];
  const seen = new Set<object>();
  const stack: Array<{ value: unknown; path: string }> = [{ value: raw, path: '' }];
  while (stack.length > 0 && places.length < 20) {
    const { value, path: at } = stack.pop()!;
    if (value === null || typeof value !== 'object' || seen.has(value)) continue;
    // Only data: a .mjs config may hand a provider an instance (a client, a Buffer) to keep.
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) continue;
    seen.add(value);
    for (const key of Object.keys(value)) {
      const place = Array.isArray(value) ? `${at}[${key}]` : at === '' ? key : `${at}.${key}`;
      if (key === '__proto__') places.push(`${at === '' ? '(root)' : at}: the key "__proto__" is not allowed`);
      else stack.push({ value: (value as Record<string, unknown>)[key], path: place });
    }
  }
  return places;
}

/** Why the file's value cannot be a config (it must be a plain object), or null. `undefined`: the defaults. */
function configRootProblem(raw: unknown): string | null {
  if (raw === undefined) return null;
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    const proto = Object.getPrototypeOf(raw) as unknown;
    if (proto === Object.prototype || proto === null) return null;
    if (typeof (raw as { then?: unknown }).then === 'function') return '(root): the default export is a Promise: export the settings object itself (await at the top level of the module)';
  }
  const what = raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw === 'object' ? 'an object that is not plain' : `a ${typeof raw}`;
  return `(root): a config is an object of settings ({} for the defaults), got ${what}`;
}

function crossCheck(cfg: z.infer<typeof configSchema>, targetsGiven: boolean): string[] {
  const problems: string[] = [];
  // No queue: every plan is refused ("configured: ") and runners serve nothing, in silence.
  if (Object.keys(cfg.queues).length === 0) problems.push('queues: no queue is configured; give at least one (the default is { "default": { "concurrency": 2 } })');
  // Items name their task in inputs.task, and an empty name is no name there (the runner refuses it).
  if (Object.hasOwn(cfg.tasks, '')) problems.push('tasks: a task name must not be empty');
  for (const [name, t] of Object.entries(cfg.targets)) {
    if (!(t.compute in cfg.compute)) {
      // A config that names its own compute providers but no targets still has the default
      // target, on a compute "local" it no longer has: say so, or the problem names a key the
      // file never wrote.
      const hint = targetsGiven
        ? ''
        : ` (no "targets" are given, so the default { "${name}": { "compute": "${t.compute}" } } applies: name your compute providers in "targets", e.g. { "${name}": { "compute": "${Object.keys(cfg.compute)[0] ?? 'local'}" } })`;
      problems.push(`targets.${name}.compute: unknown compute provider "${t.compute}"${hint}`);
    }
    if (t.credentials !== undefined && !(t.credentials in cfg.credentials)) {
      problems.push(`targets.${name}.credentials: unknown credentials "${t.credentials}"`);
    }
  }
  if (!(cfg.defaultTarget in cfg.targets)) problems.push(`defaultTarget: unknown target "${cfg.defaultTarget}"`);
  if (cfg.redisUrl !== undefined && cfg.redis?.cluster !== undefined) problems.push('redis.cluster: give either redisUrl or redis.cluster, not both');
  for (const [name, t] of Object.entries(cfg.tasks)) {
    if (t.target !== undefined && !(t.target in cfg.targets)) problems.push(`tasks.${name}.target: unknown target "${t.target}"`);
    if (t.resultSink !== undefined && !resultSinkNames(cfg).includes(t.resultSink)) {
      problems.push(`tasks.${name}.resultSink: unknown result sink "${t.resultSink}" (configured: ${resultSinkNames(cfg).join(', ')})`);
    }
  }
  return problems;
}

/**
 * A schema issue's message. A refused record key (a queue or sink name) is zod's bare "Invalid
 * key in record": the rule the key broke is in its inner issues ("queues.Default: Invalid key in
 * record" never said that queue names are lower case).
 */
function issueMessage(i: z.core.$ZodIssue): string {
  if (i.code !== 'invalid_key' || i.issues.length === 0) return plainSchemaWords(i.message);
  const key = i.path[i.path.length - 1];
  return `invalid name ${JSON.stringify(String(key))}: ${i.issues.map((inner) => inner.message).join('; ')}`;
}

/** Applies defaults and environment overrides to a raw config object. */
export function compileConfig(raw: unknown, source: string, configDir: string, env: NodeJS.ProcessEnv = process.env): AgoraConfig {
  // A .mjs config's getter (or proxy) that throws while it is read: a bad config file (exit 2), named.
  const read = <T>(f: () => T): T => {
    try {
      return f();
    } catch (err) {
      throw new ConfigError(source, [`could not read it: ${err instanceof Error ? err.message : String(err)}`]);
    }
  };
  // The schema takes any object without unknown own keys, so `null` (a JSON file) and a Promise
  // (a .mjs exporting one) loaded as the defaults, every setting the file meant ignored.
  const rootProblem = read(() => configRootProblem(raw));
  if (rootProblem !== null) throw new ConfigError(source, [rootProblem]);
  const proto = read(() => protoKeyPlaces(raw));
  if (proto.length > 0) throw new ConfigError(source, proto);
  const parsed = read(() => configSchema.safeParse(raw ?? {}));
  if (!parsed.success) {
    throw new ConfigError(
      source,
      parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${issueMessage(i)}`),
    );
  }
  const targetsGiven = raw !== null && typeof raw === 'object' && Object.hasOwn(raw, 'targets');
  const problems = crossCheck(parsed.data, targetsGiven);
  if (problems.length > 0) throw new ConfigError(source, problems);
  const cfg = parsed.data;
  // The file's redisUrl, when it is the one used: refused here naming the key. Checked later, a
  // bad one was reported as "REDIS_URL is not a valid Redis URL" with REDIS_URL unset.
  if (env['REDIS_URL'] === undefined && cfg.redisUrl !== undefined) {
    try {
      assertRedisUrl(cfg.redisUrl, 'redisUrl');
    } catch (err) {
      throw new ConfigError(source, [(err as Error).message]);
    }
  }
  const ns = configEnv('AGORA_NAMESPACE', env);
  if (ns !== undefined && !NAMESPACE_RE.test(ns)) throw new ConfigError('AGORA_NAMESPACE', [`invalid namespace "${ns}": ${NAMESPACE_RULE}`]);
  return {
    ...cfg,
    namespace: ns ?? cfg.namespace,
    configDir,
    redisUrl: env['REDIS_URL'] ?? cfg.redisUrl ?? (cfg.redis?.cluster ? redisClusterUrl(cfg.redis.cluster, { tls: cfg.redis.tls }) : 'redis://127.0.0.1:6379'),
    dataDir: path.resolve(configDir, configEnv('AGORA_DATA_DIR', env) ?? cfg.dataDir ?? '.agora'),
    tracing: resolveTracingConfig(cfg.tracing, env),
  };
}

/**
 * The config file of `cwd` by its default name, or undefined. Both names there is refused: the
 * `.json` used to win in silence, so a config rewritten as `.mjs` beside the old `.json` was
 * ignored, every setting it changed with it.
 */
function defaultConfigFile(cwd: string): string | undefined {
  const found = CONFIG_FILE_NAMES.map((n) => path.join(cwd, n)).filter((p) => existsSync(p));
  if (found.length > 1) {
    throw new ConfigError(cwd, [`holds both ${CONFIG_FILE_NAMES.join(' and ')}: keep one, or name the one to use with --config or AGORA_CONFIG`]);
  }
  return found[0];
}

/**
 * Loads the config: an explicit path, else `AGORA_CONFIG`, else `agora.config.json` or
 * `agora.config.mjs` in `cwd`, else defaults. A `.mjs` config's default export is the config.
 */
export async function loadConfig(explicitPath?: string, cwd: string = process.cwd()): Promise<AgoraConfig> {
  const chosen = explicitPath ?? configEnv('AGORA_CONFIG') ?? defaultConfigFile(cwd);
  if (chosen === undefined) return compileConfig({}, '(defaults)', cwd);
  const file = path.resolve(cwd, chosen);
  if (!existsSync(file)) throw new ConfigError(file, ['file does not exist']);
  // A directory would fail below as a bare EISDIR (exit 1); it is a bad config path (exit 2).
  if (statSync(file).isDirectory()) throw new ConfigError(file, ['is a directory, not a config file']);
  let raw: unknown;
  if (file.endsWith('.mjs') || file.endsWith('.js')) {
    // A fresh evaluation per load: the config may read the environment (ESM caches by URL).
    let mod: { default?: unknown };
    // Node reads a module's source with U+FFFD for bytes that are not UTF-8, in silence: refused
    // here as in a JSON config (exit 2).
    decodeUtf8(await readFile(file), file);
    try {
      mod = (await import(`${pathToFileURL(file).href}?load=${Date.now()}`)) as { default?: unknown };
    } catch (err) {
      // A syntax error or a throw while evaluating is a bad config file (exit 2), named as such.
      const e = err instanceof Error ? err : new Error(String(err));
      throw new ConfigError(file, [`could not load it: ${e.name === 'Error' ? '' : `${e.name}: `}${e.message}`]);
    }
    if (mod.default === undefined) throw new ConfigError(file, ['has no default export (export default { ... })']);
    raw = mod.default;
  } else {
    // Bytes that are not UTF-8 are refused like bad JSON (exit 2), not read as U+FFFD.
    raw = parsePlanText(decodeUtf8(await readFile(file), file), file);
  }
  return compileConfig(raw, file, path.dirname(file));
}
