import { readFileSync } from 'node:fs';
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
// What ioredis itself runs when a client that never connected is disconnected (not exported).
import { closeHandler } from 'ioredis/built/redis/event_handler.js';
import { AgoraError, UnavailableError, ValueError, assertRedisUrl, coerceError, createLogger, isRedisClusterUrl, parseRedisClusterUrl, redactRedisUrl, type Logger } from '@agora/core';

/**
 * A client of one Redis or of a Redis Cluster (`redis+cluster://…`). Both take the same commands;
 * on a cluster every script, pipeline and multi-key command must stay in one hash slot (our keys
 * are tagged for that: see libs/core/src/keys.ts).
 */
export type RedisClient = Redis | Cluster;

/** Whether `client` talks to a Redis Cluster. */
export function isRedisCluster(client: RedisClient): client is Cluster {
  return (client as Partial<Cluster>).isCluster === true;
}

/** Env var: path to a PEM file of the CA(s) that signed the Redis server's certificate. */
export const REDIS_CA_FILE_ENV = 'AGORA_REDIS_CA_FILE';

/**
 * The TLS options for `url`: for a `rediss://` URL with `AGORA_REDIS_CA_FILE` set, the server
 * certificate must chain to that CA (a private CA is the usual case for a fleet's own Redis);
 * without it, Node's default CAs. Host-name checking stays on: Node checks the certificate
 * against the URL's host. Nothing for `redis://` (the variable is ignored: the URL decides).
 * Throws `ValueError` when the CA file cannot be read.
 */
export function redisTlsOptions(url: string, env: NodeJS.ProcessEnv = process.env): Pick<RedisOptions, 'tls'> {
  if (!/^rediss(\+cluster)?:/i.test(url)) return {};
  const caFile = env[REDIS_CA_FILE_ENV];
  if (caFile === undefined || caFile === '') return { tls: {} };
  let ca: Buffer;
  try {
    ca = readFileSync(caFile);
  } catch (err) {
    throw new ValueError(`${REDIS_CA_FILE_ENV}: cannot read the CA file ${JSON.stringify(caFile)}: ${(err as Error).message}`);
  }
  // Node skips what is not a certificate and verifies against nothing: an empty file, a key or a
  // wrong path's contents would surface as "self-signed certificate" from every connection.
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ValueError(`${REDIS_CA_FILE_ENV}: the CA file ${JSON.stringify(caFile)} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  return { tls: { ca } };
}

/**
 * Reconnect delay after the `attempt`-th failure in a row: 100 ms doubling to 5 s, ±20% jitter
 * so a fleet that lost Redis together does not knock on it in step. (ioredis' default, 50 ms
 * growing by 50 ms, retries ~60 times in the first 10 s of an outage.)
 */
export function reconnectDelayMs(attempt: number): number {
  const base = Math.min(100 * 2 ** Math.min(Math.max(attempt, 1) - 1, 16), 5_000);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

const AUTH_ERROR_RE = /^(WRONGPASS|NOAUTH)\b|invalid password|invalid username-password/i;

/** Whether Redis refused our credentials (a wrong, missing or rotated password). */
export function isRedisAuthError(err: unknown): boolean {
  return err instanceof Error && AUTH_ERROR_RE.test(err.message);
}

// Redis words a command the user may not run as NOPERM when run directly; inside a script Redis 7.0
// says "The user executing the script can't run this command…", 7.2 "ACL failure in script: …".
const PERMISSION_ERROR_RE = /\bNOPERM\b|user executing the script can't run this command|ACL failure in script/;

/**
 * Whether Redis refused a command because the ACL user may not run it or touch its keys: the
 * server is up and the password right, but the user lacks a permission. A script's refusal comes
 * wrapped (`Redis script cancelRun failed: NOPERM …`, code SCRIPT); our other errors that quote
 * Redis' words have explained them already.
 */
export function isRedisPermissionError(err: unknown): err is Error {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  const ours = err instanceof AgoraError;
  return (!ours || code === 'SCRIPT') && PERMISSION_ERROR_RE.test(err.message);
}

/**
 * What a refused permission says to a person: which permission (the command, when Redis names
 * it) the Redis user lacks, and what to do. `err.message` (Redis' own words) is kept at the end.
 */
export function redisPermissionMessage(err: Error): string {
  const command = /'([^']+)' command/.exec(err.message)?.[1];
  const what = command !== undefined ? `may not run the '${command}' command` : /\bkeys\b/.test(err.message) ? 'may not access a key Agora uses' : 'lacks a permission Agora needs';
  return `the Redis user of REDIS_URL ${what} (${err.message.replace(/\.$/, '')}); grant it (ACL SETUSER) or use another user in REDIS_URL`;
}

/** What the log line and error messages show of a client: its URL, credentials replaced. */
interface ClientInfo {
  readonly shown: string;
  readonly password: string | undefined;
  lastError: Error | undefined;
}

const info = new WeakMap<RedisClient, ClientInfo>();

/**
 * Makes an error from a client safe to print, in place: ioredis attaches the failed command to
 * the error, and for AUTH that is `{ name: 'auth', args: [<password>] }`, which `console.error`
 * and `util.inspect` print whole. The same error object also rejects every queued command, so it
 * must be cleaned before any handler sees it (the 'error' event is emitted synchronously, the
 * rejections are seen a microtask later).
 */
export function sanitizeRedisError(err: unknown, password?: string): void {
  if (!(err instanceof Error)) return;
  const e = err as Error & { command?: { name?: unknown; args?: unknown } };
  if (e.command !== undefined && e.command !== null && typeof e.command === 'object') {
    e.command = { name: e.command.name, args: ['[redacted]'] };
  }
  if (password) {
    e.message = e.message.split(password).join('***');
    if (e.stack) e.stack = e.stack.split(password).join('***');
  }
}

/**
 * One line per outage rather than one per client per attempt: a process holds several clients
 * (BullMQ duplicates one per blocking worker), and each fails on every reconnect attempt. Lines
 * for one URL and kind of failure come with a doubling gap (1 s, 2 s, 4 s … 60 s) and count what
 * they stand for; the first client back says so once.
 */
interface Outage {
  readonly since: number;
  lastAt: number;
  gapMs: number;
  suppressed: number;
}
const outages = new Map<string, Outage>();
let logger: Logger | undefined;

/** Where connection reports go. @default a JSON-lines logger on stderr, component "redis" */
export function setRedisLogger(l: Logger): void {
  logger = l;
}

function log(): Logger {
  logger ??= createLogger({ component: 'redis' });
  return logger;
}

function report(client: RedisClient, err: unknown): void {
  const ci = info.get(client);
  sanitizeRedisError(err, ci?.password);
  const e = err instanceof Error ? err : new Error(String(err));
  if (ci) ci.lastError = e;
  const shown = ci?.shown ?? describeRedis(client);
  const auth = isRedisAuthError(e);
  const key = `${shown} ${auth ? 'auth' : 'connection'}`;
  const now = Date.now();
  const o = outages.get(key);
  if (o && now - o.lastAt < o.gapMs) {
    o.suppressed++;
    return;
  }
  const fields = {
    url: shown,
    err: e.message,
    ...((e as { code?: unknown }).code !== undefined ? { code: String((e as { code?: unknown }).code) } : {}),
    ...(o ? { suppressed: o.suppressed, downForMs: now - o.since } : {}),
  };
  if (o) {
    o.lastAt = now;
    o.gapMs = Math.min(o.gapMs * 2, 60_000);
    o.suppressed = 0;
  } else {
    outages.set(key, { since: now, lastAt: now, gapMs: 1_000, suppressed: 0 });
  }
  log().error(fields, auth ? 'Redis authentication failed (check the password in REDIS_URL)' : 'Redis connection failed; reconnecting');
}

function recovered(client: RedisClient): void {
  const ci = info.get(client);
  if (ci) ci.lastError = undefined;
  const shown = ci?.shown ?? describeRedis(client);
  for (const kind of ['auth', 'connection']) {
    const o = outages.get(`${shown} ${kind}`);
    if (!o) continue;
    outages.delete(`${shown} ${kind}`);
    log().info({ url: shown, downForMs: Date.now() - o.since }, 'Redis connection restored');
  }
}

/**
 * An ioredis client that reports its own connection errors: one redacted JSON line (see
 * `report`), never the failed command's arguments. 'error' events stop here and reach no other
 * listener: BullMQ re-emits a client's errors on every Queue, Worker and FlowProducer using it,
 * and one without a listener of its own prints the whole error (stack and AUTH arguments) with
 * console.error, once per client per reconnect attempt. Its duplicates (BullMQ makes one per
 * blocking worker) are reporting clients too.
 */
class ReportingRedis extends Redis {
  constructor(target: string | RedisOptions, options: RedisOptions = {}, shown?: string) {
    if (typeof target === 'string') super(target, options);
    else super(target);
    info.set(this, { shown: shown ?? redactRedisUrl(typeof target === 'string' ? target : describeRedis(this)), password: this.options.password, lastError: undefined });
    // ioredis prints an error event that has no listener; this one is never called (see emit).
    this.on('error', () => undefined);
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'error') {
      report(this, args[0]);
      return true;
    }
    if (event === 'ready') recovered(this);
    return super.emit(event, ...args);
  }

  override duplicate(override?: Partial<RedisOptions>): Redis {
    return new ReportingRedis({ ...this.options, ...override }, {}, info.get(this)?.shown);
  }

  /**
   * ioredis leaves a client that is waiting to reconnect (its socket already closed) in
   * `reconnecting` for good when it is disconnected: the retry is cancelled but the client never
   * ends, so whatever waits for its 'end' never returns. BullMQ's Worker.close waits so for its
   * blocking connection: a scheduler that lost its lease while Redis was coming back could never
   * stop its inbox worker, nor act again. Such a client is ended here the way ioredis ends one
   * that never connected (status `end`, queued commands rejected, 'close' and 'end' emitted).
   */
  override disconnect(reconnect = false): void {
    const idle = !reconnect && this.status === 'reconnecting';
    super.disconnect(reconnect);
    if (idle && this.status === 'reconnecting') closeHandler(this)();
  }
}

/**
 * The same for a Redis Cluster. Besides 'error' (the cluster as a whole: no node answers, the
 * slots cannot be read), a cluster client emits 'node error' per node and attempt; both are
 * reported the same way, redacted and once per outage. Listeners of 'node error' still run.
 */
class ReportingCluster extends Cluster {
  private readonly seeds: ClusterNode[];

  constructor(seeds: ClusterNode[], options: ClusterOptions, shown: string) {
    super(seeds, options);
    this.seeds = seeds;
    info.set(this, { shown, password: options.redisOptions?.password, lastError: undefined });
    this.on('error', () => undefined);
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'error') {
      report(this, args[0]);
      return true;
    }
    if (event === 'node error') report(this, args[0]);
    if (event === 'ready') recovered(this);
    return super.emit(event, ...args);
  }

  // BullMQ duplicates a cluster client for its blocking connections with (undefined, options).
  override duplicate(overrideStartupNodes: ClusterNode[] = [], overrideOptions: ClusterOptions = {}): Cluster {
    return new ReportingCluster(overrideStartupNodes.length > 0 ? overrideStartupNodes : this.seeds, { ...this.options, ...overrideOptions }, info.get(this)?.shown ?? 'redis+cluster://');
  }
}

/** Options that belong to the cluster client itself; the rest of a RedisOptions goes to each node's connection. */
const CLUSTER_LEVEL_OPTIONS = ['lazyConnect', 'enableAutoPipelining', 'autoPipeliningIgnoredCommands', 'enableOfflineQueue', 'enableReadyCheck', 'scripts'] as const;

/**
 * A client of the Redis Cluster that `url` (`redis+cluster://…`) names, with what `createRedis`
 * gives one Redis: BullMQ's `maxRetriesPerRequest: null` on every node, credentials and TLS on
 * every node (`rediss+cluster://`, `AGORA_REDIS_CA_FILE`), backed-off reconnects of the whole
 * cluster, redacted reporting. A lost node is not reconnected by itself: the client re-reads the
 * slots (MOVED, or the failover's new master) and connects where they now live.
 */
function createCluster(url: string, opts: RedisOptions): Cluster {
  const parsed = parseRedisClusterUrl(url);
  const clusterLevel: Partial<ClusterOptions> = {};
  const nodeLevel: Record<string, unknown> = { ...opts };
  for (const k of CLUSTER_LEVEL_OPTIONS) {
    if (k in nodeLevel) {
      (clusterLevel as Record<string, unknown>)[k] = nodeLevel[k];
      delete nodeLevel[k];
    }
  }
  const options: ClusterOptions = {
    enableReadyCheck: true,
    lazyConnect: false,
    clusterRetryStrategy: reconnectDelayMs,
    ...clusterLevel,
    redisOptions: {
      maxRetriesPerRequest: null,
      ...(parsed.username !== undefined ? { username: parsed.username } : {}),
      ...(parsed.password !== undefined ? { password: parsed.password } : {}),
      ...redisTlsOptions(url),
      ...(nodeLevel as RedisOptions),
    },
  };
  return new ReportingCluster(
    parsed.nodes.map((n) => ({ host: n.host, port: n.port })),
    options,
    redactRedisUrl(url),
  );
}

/**
 * A Redis client for our own commands, the one place clients are made. `maxRetriesPerRequest:
 * null` is what BullMQ workers require, and it keeps our commands waiting through a Redis restart
 * instead of failing (callers that must not wait forever bound their calls: see `whenReady`).
 * Reconnects back off (`reconnectDelayMs`); connection errors are reported by the client itself,
 * one redacted line at a time. A `rediss://` URL connects over TLS (see `redisTlsOptions` for the
 * CA file). A `redis+cluster://` URL gives an ioredis `Cluster` (see `createCluster`).
 * Throws `ValueError` for a URL ioredis cannot use or a CA file it cannot read.
 */
export function createRedis(url: string, opts: RedisOptions = {}): RedisClient {
  assertRedisUrl(url);
  if (isRedisClusterUrl(url)) return createCluster(url, opts);
  // TLS options are part of `options`, so duplicates (BullMQ's blocking connections) keep them.
  return new ReportingRedis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false, retryStrategy: reconnectDelayMs, ...redisTlsOptions(url), ...opts });
}

/**
 * Gives a client made elsewhere (an SDK caller's own) the same reporting: a listener that logs one
 * redacted line per outage. Its other 'error' listeners still run; errors reaching them carry no
 * command arguments. A client from `createRedis` is left as it is.
 */
export function reportRedisErrors<C extends RedisClient>(client: C): C {
  if (client instanceof ReportingRedis || client instanceof ReportingCluster || info.has(client)) return client;
  const password = isRedisCluster(client) ? client.options.redisOptions?.password : (client as Redis).options.password;
  info.set(client, { shown: describeRedis(client), password, lastError: undefined });
  client.prependListener('error', (err: unknown) => report(client, err));
  if (isRedisCluster(client)) client.prependListener('node error', (err: unknown) => report(client, err));
  client.on('ready', () => recovered(client));
  return client;
}

/** The client's address for messages: `redis://host:port/db`, credentials never included. */
export function describeRedis(client: RedisClient): string {
  const known = info.get(client);
  if (known) return known.shown;
  if (isRedisCluster(client)) {
    const o = client.options.redisOptions ?? {};
    const auth = o.password ? (o.username ? `${o.username}:***@` : '***@') : '';
    const nodes = client.nodes('master').map((n) => `${n.options.host ?? '?'}:${n.options.port ?? '?'}`);
    return `${o.tls ? 'rediss' : 'redis'}+cluster://${auth}${nodes.join(',')}`;
  }
  const o = client.options;
  if (o.path) return o.path;
  const auth = o.password ? (o.username ? `${o.username}:***@` : '***@') : '';
  return `${o.tls ? 'rediss' : 'redis'}://${auth}${o.host ?? '127.0.0.1'}:${o.port ?? 6379}${o.db ? `/${o.db}` : ''}`;
}

/** The client's last connection error since it was last ready (sanitized), if any. */
export function lastRedisError(client: RedisClient): Error | undefined {
  return info.get(client)?.lastError;
}

/**
 * The error for a call that waited `waitedMs` for `client` in vain: an authentication failure
 * when that is what the client last saw (not retryable: the same password fails the same way),
 * otherwise "did not answer".
 */
export function unavailableError(client: RedisClient, waitedMs: number, what: string): UnavailableError {
  const last = lastRedisError(client);
  const shown = describeRedis(client);
  if (last && isRedisAuthError(last)) {
    return new RedisUnavailableError(
      `Redis authentication failed at ${shown}: ${last.message.replace(/\.$/, '')} (check the password in REDIS_URL)`,
      `Redis refused the server's password (${what}); its log names the Redis`,
      false,
    );
  }
  return new RedisUnavailableError(`Redis at ${shown} did not answer within ${waitedMs} ms (${what})${last ? `: ${last.message}` : ''}`, `Redis did not answer within ${waitedMs} ms (${what})`, true);
}

/**
 * Redis away or refusing the password, as `unavailableError` tells it: `message` names the Redis
 * (host, port, user; the password masked) and the connection's last error, for the CLI and the
 * logs of the operator who runs it; `publicMessage` leaves both out, for a caller on the far side
 * of an HTTP API, who has no business learning the deployment's internal addresses.
 */
export class RedisUnavailableError extends UnavailableError {
  constructor(
    message: string,
    readonly publicMessage: string,
    retryable: boolean,
  ) {
    super(message, { retryable });
    // The class callers know (and match by name): this one only adds the public message.
    this.name = 'UnavailableError';
  }
}

/** One 'ready' listener per client, however many calls wait (more would trip Node's listener-leak warning). */
const readyWaits = new WeakMap<RedisClient, Promise<void>>();

function nextReady(client: RedisClient): Promise<void> {
  let p = readyWaits.get(client);
  if (!p) {
    p = new Promise<void>((resolve) =>
      client.once('ready', () => {
        readyWaits.delete(client);
        resolve();
      }),
    );
    readyWaits.set(client, p);
  }
  return p;
}

/**
 * Resolves once `client` is connected and ready; rejects with `signal.reason` when the signal is
 * aborted first. Waiting here, rather than letting a command sit in ioredis' offline queue, is what
 * keeps a call that gave up from running later, when Redis comes back.
 */
export function whenReady(client: RedisClient, signal: AbortSignal): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  if (client.status === 'end') return Promise.reject(new UnavailableError(`Redis client for ${describeRedis(client)} is closed`));
  const ready = nextReady(client);
  // A lazy client connects on its first command; here there is none yet.
  if (client.status === 'wait') client.connect().catch(() => undefined);
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    void ready.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

/** What readiness requires of Redis's own settings (config `redis.require`). */
export interface RedisRequirement {
  /** maxmemory-policy must be `noeviction`. @default true */
  readonly noeviction?: boolean | undefined;
  /** AOF must be on. @default false */
  readonly appendonly?: boolean | undefined;
}

/** One finding about a node's settings: which node, which setting, what to say. */
interface SettingFinding {
  readonly what: string;
  readonly setting: 'maxmemory-policy' | 'appendonly' | 'config' | 'nodes';
  readonly message: string;
}

/** One node's settings as read: the two that decide whether accepted work survives, or why not read. */
interface NodeRead {
  readonly what: string;
  readonly settings?: { readonly maxmemoryPolicy: string; readonly appendonly: boolean };
  readonly error?: unknown;
}

/** The two settings that decide whether accepted work survives: eviction policy and AOF. */
async function readNodeSettings(redis: Redis): Promise<NonNullable<NodeRead['settings']>> {
  const policy = (await redis.config('GET', 'maxmemory-policy')) as string[];
  const aof = (await redis.config('GET', 'appendonly')) as string[];
  return { maxmemoryPolicy: policy[1] ?? '', appendonly: aof[1] === 'yes' };
}

/**
 * Each node's settings, read once: the server, or on a cluster every master known to the client
 * (each holds its own share of the keys; replicas take over with their own settings, so set them
 * alike). `waitForSlots`: a cluster client not ready yet is given 5 s to learn its masters.
 */
async function readSettings(redis: RedisClient, waitForSlots: boolean): Promise<NodeRead[]> {
  if (!isRedisCluster(redis)) return [await readOne(redis, 'Redis')];
  if (waitForSlots && redis.status !== 'ready') await whenReady(redis, AbortSignal.timeout(5_000)).catch(() => undefined);
  return Promise.all(redis.nodes('master').map((n) => readOne(n, `Redis Cluster master ${n.options.host ?? '?'}:${n.options.port ?? '?'}`)));
}

async function readOne(node: Redis, what: string): Promise<NodeRead> {
  try {
    return { what, settings: await readNodeSettings(node) };
  } catch (error) {
    return { what, error };
  }
}

/** The warnings of `checkRedisSettings`, from settings read. */
function settingWarnings(nodes: readonly NodeRead[], cluster: boolean): SettingFinding[] {
  if (cluster && nodes.length === 0) return [{ what: 'Redis Cluster', setting: 'nodes', message: 'could not check the Redis Cluster settings: no master node is known yet' }];
  const out: SettingFinding[] = [];
  for (const { what, settings } of nodes) {
    if (!settings) {
      out.push({ what, setting: 'config', message: `could not read ${what} CONFIG (managed Redis?); make sure maxmemory-policy=noeviction and AOF are set` });
      continue;
    }
    if (settings.maxmemoryPolicy !== 'noeviction') {
      out.push({ what, setting: 'maxmemory-policy', message: `${what} maxmemory-policy is "${settings.maxmemoryPolicy}"; set it to "noeviction" or queued jobs can be evicted` });
    }
    if (!settings.appendonly) out.push({ what, setting: 'appendonly', message: `${what} appendonly is off; enable AOF in production so a restart loses no accepted plan` });
  }
  return out;
}

/**
 * Why the settings fall short of what readiness requires (see `redisSettingsProblem`), from
 * settings read; undefined when they do not.
 */
function settingProblem(nodes: readonly NodeRead[], required: RedisRequirement | undefined): SettingFinding | undefined {
  const noeviction = required?.noeviction ?? true;
  const appendonly = required?.appendonly ?? false;
  for (const { what, settings, error } of nodes) {
    if (!settings) {
      if (required === undefined) continue;
      return { what, setting: 'config', message: `cannot read ${what} CONFIG to check redis.require (${coerceError(error).message}); grant this user +config|get, or remove redis.require` };
    }
    if (noeviction && settings.maxmemoryPolicy !== 'noeviction') {
      return { what, setting: 'maxmemory-policy', message: `${what} maxmemory-policy is "${settings.maxmemoryPolicy}", not "noeviction": queued jobs can be evicted` };
    }
    if (appendonly && !settings.appendonly) return { what, setting: 'appendonly', message: `${what} appendonly is off, and redis.require.appendonly is true` };
  }
  return undefined;
}

/**
 * Checks the settings production needs: eviction would silently drop queue keys, and without
 * persistence a restart loses accepted plans. Returns warnings; never throws for them. On a
 * cluster every master known to the client is checked, and a warning names the node.
 */
export async function checkRedisSettings(redis: RedisClient): Promise<string[]> {
  return settingWarnings(await readSettings(redis, true), isRedisCluster(redis)).map((w) => w.message);
}

/**
 * Why Redis's settings fall short of what readiness requires, or undefined. With no explicit
 * requirement, eviction is still refused (it drops queued jobs silently) but a Redis whose CONFIG
 * this user may not read (managed Redis, an ACL user without `+config|get`) counts as fine; with
 * an explicit `redis.require`, a setting that cannot be read is a reason too: nothing is assumed.
 * On a cluster every known master is checked.
 */
export async function redisSettingsProblem(redis: RedisClient, required: RedisRequirement | undefined): Promise<string | undefined> {
  return settingProblem(await readSettings(redis, false), required)?.message;
}

/**
 * Both at once, from one read of each node (`agora doctor`): what readiness refuses, and the
 * warnings about the other settings (the one the problem names is not warned about again).
 */
export async function redisSettingsReport(redis: RedisClient, required: RedisRequirement | undefined): Promise<{ problem: string | undefined; warnings: string[] }> {
  const nodes = await readSettings(redis, true);
  const problem = settingProblem(nodes, required);
  const warnings = settingWarnings(nodes, isRedisCluster(redis)).filter((w) => !(problem && w.what === problem.what && w.setting === problem.setting));
  return { problem: problem?.message, warnings: warnings.map((w) => w.message) };
}
