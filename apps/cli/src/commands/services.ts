import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { coerceError, createLogger, redactRedisUrl, type AgoraConfig } from '@agora/core';
import { checkRedisSettings, createRedis, redisSettingsProblem, startRedisServer, type RedisServerHandle } from '@agora/state';
import { ProviderSet, checkProviders } from '@agora/registry';
import { createScheduler } from '@agora/scheduler';
import { createRunner } from '@agora/runner';
import { createDashboard } from '@agora/dashboard';
import { Registry, collectDefaultMetrics, createAgoraMetrics, startMetricsServer, type AgoraMetrics, type MetricsServer } from '@agora/metrics';
import { CliError, EXIT, devStatePath, removeDevState, resolveConfig, userDevStatePath, writeDevState, type GlobalOpts } from '../context.js';
import { parsePort } from '../options.js';
import { assertRedisReachable } from '../redis-check.js';
import { logConsoleWarnings } from '../console-warnings.js';
import { assertNoLiveDev } from '../dev-owner.js';

/** Parses `--concurrency default=2,gpu=1` (repeatable). */
export function parseConcurrency(values: readonly string[] | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values ?? []) {
    for (const part of v.split(',')) {
      const m = /^([a-z0-9][a-z0-9_-]*)=(\d+)$/.exec(part.trim());
      if (!m || Number(m[2]) < 1) throw new CliError(`--concurrency expects queue=N with N >= 1, got "${part}"`);
      out[m[1]!] = Number(m[2]);
    }
  }
  return out;
}

/**
 * A service that hits an unexpected error logs it as one JSON line and exits 1, so its
 * supervisor (compose, systemd, `agora dev`) restarts it while BullMQ's stalled-job check moves
 * its jobs: limping on after an uncaught exception would hold jobs it can no longer finish.
 * `beforeExit` stops what must not outlive the process (a runner's workers); the exit waits a
 * moment so their SIGTERM-then-SIGKILL can land.
 */
function dieLoudlyOnUnexpectedErrors(component: string, beforeExit: () => void = () => undefined): void {
  const log = createLogger({ component });
  let dying = false;
  const die = (err: unknown, kind: string): void => {
    if (dying) return;
    dying = true;
    const e = coerceError(err);
    log.error({ kind, err: e.message, stack: e.stack }, `${component} crashed: unexpected error, exiting`);
    try {
      beforeExit();
    } finally {
      setTimeout(() => process.exit(EXIT.failed), 2500);
    }
  };
  process.on('uncaughtException', (err) => die(err, 'uncaughtException'));
  process.on('unhandledRejection', (err) => die(err, 'unhandledRejection'));
  logConsoleWarnings(log);
}

/**
 * Runs a service's shutdown, but gives up after `ms`: with Redis down, closing waits on commands
 * that never return, and a process asked to stop must stop (its supervisor is waiting; what it
 * held is recovered like after a crash). Logged when it gives up.
 */
async function closeWithin(ms: number, component: string, close: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
  const r = await Promise.race([close().then(() => 'closed' as const), gaveUp]);
  clearTimeout(timer);
  if (r === 'timeout') createLogger({ component }).warn({ waitedMs: ms }, 'could not shut down cleanly in time (Redis unreachable?); exiting anyway');
}

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

async function warnRedisSettings(config: AgoraConfig): Promise<void> {
  const r = createRedis(config.redisUrl);
  try {
    for (const w of await checkRedisSettings(r)) createLogger({ component: 'preflight' }).warn({}, w);
  } finally {
    r.disconnect();
  }
}

/**
 * The metrics of a service process: every Agora metric plus Node's own (process_*, nodejs_*),
 * on a registry of its own; the counters of `queues` (the ones it works on) start at 0.
 */
function processMetrics(queues: readonly string[]): AgoraMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return createAgoraMetrics(registry, { queues });
}

/**
 * A port already in use is the commonest start-up failure; Node's bare "listen EADDRINUSE" does
 * not say what to do. This names the flag and the config key that choose another port.
 */
async function explainPortTaken<T>(flag: string, key: string, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen();
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
    if (e.code !== 'EADDRINUSE') throw err;
    throw new CliError(`port ${e.port ?? '?'} on ${e.address ?? 'this host'} is taken (another agora process?); use ${flag} <port> or set ${key} (0 picks a free port)`, EXIT.unavailable);
  }
}

/**
 * A `metrics.host` the metrics server cannot listen on, named as the taken port is, instead of
 * Node's bare "getaddrinfo ENOTFOUND" or "listen EADDRNOTAVAIL": a name that does not resolve is
 * bad config (exit 2); an address this host does not have, or a name DNS cannot answer for now,
 * means it cannot listen there (exit 3, as for a taken port).
 */
async function explainMetricsHost<T>(host: string | undefined, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const shown = JSON.stringify(host ?? '127.0.0.1');
    const fix = 'set metrics.host to an address of this host (127.0.0.1, or 0.0.0.0 for every interface)';
    // "999.1.1.1" is no address and no name: bad config whatever DNS says (ENOTFOUND, or EAI_AGAIN offline).
    const notAnAddress = e.code === 'ENOTFOUND' || ((e.code === 'EAI_AGAIN' || e.code === 'EAI_FAIL') && host !== undefined && /^[0-9.]+$/.test(host) && isIP(host) === 0);
    if (notAnAddress) throw new CliError(`metrics.host ${shown} does not resolve to an address (getaddrinfo ENOTFOUND); ${fix}`, EXIT.usage);
    if (e.code === 'EAI_AGAIN') throw new CliError(`metrics.host ${shown} could not be resolved now (getaddrinfo EAI_AGAIN: DNS did not answer); ${fix}, or try again`, EXIT.unavailable);
    if (e.code === 'EADDRNOTAVAIL') throw new CliError(`cannot listen on metrics.host ${shown}: it is not an address of this host (EADDRNOTAVAIL); ${fix}`, EXIT.unavailable);
    throw err;
  }
}

/** Provider health is read at most this often for `/readyz` (a Docker ping or an S3 call each time would be too much for a probe every few seconds). */
const PROVIDER_HEALTH_TTL_MS = 10_000;

/**
 * The providers a process needs, as one readiness check: why one is unhealthy, or undefined.
 * `serve` needs storage only (task pinning, anchors); a runner needs every provider it may run an
 * item with. Results are kept PROVIDER_HEALTH_TTL_MS; a check still running is awaited, not doubled.
 */
function providersReadiness(config: AgoraConfig, needs: 'storage' | 'all'): () => Promise<string | undefined> {
  const set = new ProviderSet(config);
  let last: { at: number; problem: Promise<string | undefined> } | undefined;
  const probe = async (): Promise<string | undefined> => {
    const rows = needs === 'all' ? await checkProviders(config, set) : (await checkProviders({ ...config, compute: {}, credentials: {} }, set)).filter((r) => r.kind === 'storage');
    const bad = rows.find((r) => !r.ok);
    return bad ? `${bad.kind} provider "${bad.name}" (${bad.provider}) is unhealthy: ${bad.message}` : undefined;
  };
  return () => {
    if (!last || Date.now() - last.at > PROVIDER_HEALTH_TTL_MS) last = { at: Date.now(), problem: probe() };
    return last.problem;
  };
}

/**
 * Starts `/metrics`, `/healthz` and `/readyz` when a port is given (`--metrics-port`, else
 * `metrics.port`), and logs "metrics listening" with its URL. Ready means: not draining; Redis
 * answers (a fresh connection each time, so a client stuck reconnecting does not hide that Redis
 * is back, or that it is gone) with the settings `redis.require` asks for; the providers the
 * process needs are healthy.
 */
async function startServiceMetrics(
  config: AgoraConfig,
  flag: string | undefined,
  metrics: AgoraMetrics,
  component: 'serve' | 'runner',
  draining: () => boolean,
): Promise<MetricsServer | undefined> {
  const port = flag !== undefined ? Number(flag) : config.metrics.port;
  if (port === undefined) return undefined;
  const providersProblem = providersReadiness(config, component === 'serve' ? 'storage' : 'all');
  const server = await explainPortTaken('--metrics-port', 'metrics.port', () => explainMetricsHost(config.metrics.host, () => startMetricsServer({
    registry: metrics.registry,
    port,
    host: config.metrics.host,
    ready: async () => {
      if (draining()) return 'draining: shutting down';
      let settings: string | undefined;
      await assertRedisReachable(config.redisUrl, 1500, async (r) => {
        settings = await redisSettingsProblem(r, config.redis?.require);
      });
      return settings ?? (await providersProblem());
    },
  })));
  createLogger({ component }).info({ url: `${server.url}/metrics`, port: server.port }, 'metrics listening');
  return server;
}

/** `agora serve`: the scheduler (inbox -> flows), until SIGINT/SIGTERM. */
export async function serveCmd(opts: { concurrency?: string[]; metricsPort?: string }, g: GlobalOpts): Promise<number> {
  const config = await resolveConfig(g);
  const concurrency = parseConcurrency(opts.concurrency);
  for (const q of Object.keys(concurrency)) if (!(q in config.queues)) throw new CliError(`--concurrency names unknown queue "${q}" (configured: ${Object.keys(config.queues).join(', ')})`);
  await assertRedisReachable(config.redisUrl);
  await warnRedisSettings(config);
  dieLoudlyOnUnexpectedErrors('serve');
  const metrics = processMetrics(Object.keys(config.queues));
  let draining = false;
  const metricsServer = await startServiceMetrics(config, opts.metricsPort, metrics, 'serve', () => draining);
  const scheduler = await createScheduler({ config, concurrency, metrics });
  createLogger({ component: 'serve' }).info({ namespace: config.namespace, queues: Object.keys(config.queues) }, 'scheduler serving');
  await untilSignal();
  draining = true;
  await closeWithin(10_000, 'serve', () => scheduler.close());
  await metricsServer?.close();
  return EXIT.ok;
}

/** `agora runner`: executes items until SIGINT/SIGTERM; running items finish first. */
export async function runnerCmd(opts: { concurrency?: string; queues?: readonly string[]; metricsPort?: string }, g: GlobalOpts): Promise<number> {
  const config = await resolveConfig(g);
  const n = opts.concurrency === undefined ? undefined : Number(opts.concurrency);
  if (n !== undefined && (!Number.isInteger(n) || n < 1)) throw new CliError(`--concurrency expects a positive integer, got "${opts.concurrency}"`);
  // Parsed by bin.ts (parseQueueList): non-empty, no empty entries, no duplicates.
  const queues = opts.queues;
  for (const q of queues ?? []) if (!(q in config.queues)) throw new CliError(`--queues names unknown queue "${q}"`);
  // Armed before the runner exists: a fault during start-up is reported the same way.
  const started: { runner?: Awaited<ReturnType<typeof createRunner>> } = {};
  dieLoudlyOnUnexpectedErrors('runner', () => started.runner?.stopWorkers('runner crashed'));
  await assertRedisReachable(config.redisUrl);
  const metrics = processMetrics(queues ?? Object.keys(config.queues));
  let draining = false;
  const metricsServer = await startServiceMetrics(config, opts.metricsPort, metrics, 'runner', () => draining);
  const runner = (started.runner = await createRunner({ config, metrics, ...(n !== undefined ? { concurrency: n } : {}), ...(queues ? { queues } : {}) }));
  await untilSignal();
  // Not ready while draining: a load balancer or orchestrator sees it at once; /metrics stays up.
  draining = true;
  // Hand-back, never cancel: running items get runner.shutdownGraceMs to finish, then go back to the queue.
  await closeWithin(config.runner.shutdownGraceMs + 10_000, 'runner', () => runner.close());
  await metricsServer?.close();
  return EXIT.ok;
}

/** `agora dashboard`: Bull Board (and the run pages/API). */
export async function dashboardCmd(opts: { port?: string; host?: string }, g: GlobalOpts): Promise<number> {
  const port = opts.port === undefined ? undefined : parsePort(opts.port);
  // Not taken as "no --host" (the config's): an empty host is every interface to Node, so it is refused as dashboard.host is.
  if (opts.host === '') throw new CliError('--host: an address to listen on (127.0.0.1, or 0.0.0.0 for every interface), not empty', EXIT.usage);
  const config = await resolveConfig(g);
  // Its stderr is JSON lines too (README "Logs"), before its first Redis connection warns.
  logConsoleWarnings(createLogger({ component: 'dashboard' }));
  await assertRedisReachable(config.redisUrl);
  const d = await explainPortTaken('--port', 'dashboard.port', () => createDashboard({ config, ...(port !== undefined ? { port } : {}), ...(opts.host ? { host: opts.host } : {}) }));
  process.stdout.write(`${d.url}/queues\n`);
  await untilSignal();
  await closeWithin(10_000, 'dashboard', () => d.close());
  return EXIT.ok;
}

const BIN = fileURLToPath(new URL('../bin.js', import.meta.url));

/**
 * Keeps N runner processes alive for `agora dev`: one that exits while not asked to is restarted
 * with back-off (1 s, doubling to 30 s; back to 1 s once it has lived a minute), and each exit
 * and restart is logged. `stop` sends SIGTERM (the runner hands its items back) and SIGKILLs only
 * after `waitMs`.
 */
export class RunnerSupervisor {
  private readonly current: Array<ChildProcess | undefined> = [];
  private readonly backoffMs: number[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopping = false;

  constructor(
    private readonly count: number,
    private readonly spawnRunner: () => ChildProcess,
    private readonly log: ReturnType<typeof createLogger>,
  ) {}

  start(): void {
    // Ctrl-C reaches the runners too (one process group): their exits are not crashes.
    const stop = (): void => void (this.stopping = true);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    for (let i = 0; i < this.count; i++) {
      this.backoffMs[i] = 1000;
      this.launch(i);
    }
  }

  private launch(slot: number): void {
    const child = this.spawnRunner();
    const startedAt = Date.now();
    this.current[slot] = child;
    child.once('exit', (code, signal) => {
      if (this.stopping) return;
      if (Date.now() - startedAt > 60_000) this.backoffMs[slot] = 1000;
      const restartInMs = this.backoffMs[slot]!;
      this.backoffMs[slot] = Math.min(30_000, restartInMs * 2);
      this.log.error({ runner: slot, pid: child.pid, code, signal, restartInMs }, 'runner exited unexpectedly; restarting it');
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (this.stopping) return;
        this.launch(slot);
        this.log.info({ runner: slot, pid: this.current[slot]?.pid }, 'runner restarted');
      }, restartInMs);
      this.timers.add(t);
    });
  }

  async stop(waitMs: number): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearTimeout(t);
    await Promise.all(
      this.current.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (!c || c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
            setTimeout(() => c.kill('SIGKILL'), waitMs).unref();
          }),
      ),
    );
  }
}

/**
 * The folders under the data dir that `agora dev` fills with data and secrets, mode 0700 like the
 * 0600 files beside them: the private Redis' (`redis`: its AOF holds every job's data), `keys/`
 * (the signing key) and the local storage root when it is inside the data dir (every result).
 * Each is created so, and one left looser (by an older version) is tightened: dev runs every
 * process as this user. Work dirs are left alone: a container's own user may read them.
 */
function privateDevDirs(config: AgoraConfig, redis: boolean): string {
  const redisDir = path.join(config.dataDir, 'redis');
  const dirs = [...(redis ? [redisDir] : []), path.join(config.dataDir, 'keys')];
  if (config.storage.provider === 'local') {
    const root = path.resolve(config.dataDir, String(config.storage.options['root'] ?? 'storage'));
    const rel = path.relative(config.dataDir, root);
    if (rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel)) dirs.push(root);
  }
  for (const dir of dirs) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chmodSync(dir, 0o700);
    } catch (err) {
      throw new CliError(`cannot make ${dir} private (mode 0700): ${(err as NodeJS.ErrnoException).code ?? coerceError(err).message}`);
    }
  }
  return redisDir;
}

/**
 * `agora dev`: the embedded default. A private redis-server (when REDIS_URL is unset), the
 * scheduler, N runner processes and the dashboard, in one command; Ctrl-C stops them all.
 * The private Redis listens on 127.0.0.1 only and requires a random password, so other local
 * users cannot reach the queues; the password is written only to a 0600 file, and the Redis URL
 * is printed and logged with its password masked.
 */
export async function devCmd(opts: { runners?: string; port?: string; concurrency?: string[] }, g: GlobalOpts): Promise<number> {
  const log = createLogger({ component: 'dev' });
  logConsoleWarnings(log);
  let config = await resolveConfig(g);
  const runnersN = opts.runners === undefined ? 2 : Number(opts.runners);
  if (!Number.isInteger(runnersN) || runnersN < 0 || runnersN > 32) throw new CliError(`--runners expects 0..32, got "${opts.runners}"`);
  const concurrency = parseConcurrency(opts.concurrency);
  // Its runners would refuse this config at start, and be restarted for ever: refused here, once.
  const unknownProviders = new ProviderSet(config).unknownProviders();
  if (unknownProviders.length > 0) throw new CliError(unknownProviders.join('; '));
  assertNoLiveDev(devStatePath(config), config.dataDir);
  const privateRedis = process.env['REDIS_URL'] === undefined;
  const dir = privateDevDirs(config, privateRedis);
  let redisServer: RedisServerHandle | undefined;
  if (privateRedis) {
    redisServer = await startRedisServer({ appendOnly: true, dir, password: randomBytes(24).toString('base64url') });
    config = { ...config, redisUrl: redisServer.url };
    log.info({ redis: redactRedisUrl(redisServer.url), dir }, 'private redis-server started');
  } else {
    await assertRedisReachable(config.redisUrl);
  }
  const cleanups: Array<() => Promise<void>> = [];
  const runners = new RunnerSupervisor(
    runnersN,
    // N runners on one host cannot share metrics.port: each takes a free one and logs it.
    () => spawn(process.execPath, [BIN, 'runner', ...(g.config ? ['--config', g.config] : []), ...(config.metrics.port !== undefined ? ['--metrics-port', '0'] : [])], {
      env: { ...process.env, REDIS_URL: config.redisUrl },
      stdio: ['ignore', 'inherit', 'inherit'],
    }),
    log,
  );
  try {
    const scheduler = await createScheduler({ config, concurrency });
    cleanups.push(() => scheduler.close());
    runners.start();
    const port = opts.port === undefined ? config.dashboard.port : Number(opts.port);
    const dashboard = await explainPortTaken('--port', 'dashboard.port', () => createDashboard({ config, port }));
    cleanups.push(() => dashboard.close());
    writeDevState(config, config.redisUrl, `${dashboard.url}/queues`, g);
    process.stdout.write(
      `agora dev is up: redis=${redactRedisUrl(config.redisUrl)} dashboard=${dashboard.url}/queues runners=${runnersN} (Ctrl-C to stop; other agora verbs find this Redis through ${devStatePath(config)}, or from other folders through ${userDevStatePath()})\n`,
    );
    await untilSignal();
    log.info({ graceMs: config.runner.shutdownGraceMs }, 'stopping: draining runners first');
  } finally {
    removeDevState(config);
    // Runners first: they hand their items back within their own grace (plus slack for the
    // hand-back itself), while the scheduler and Redis they need are still up.
    await runners.stop(config.runner.shutdownGraceMs + 15_000);
    for (const f of cleanups.reverse()) await f().catch(() => undefined);
    await redisServer?.stop();
  }
  return EXIT.ok;
}
