import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, redactRedisUrl, type AgoraConfig } from '@agora/core';
import { checkRedisSettings, createRedis, startRedisServer, type RedisServerHandle } from '@agora/state';
import { createScheduler } from '@agora/scheduler';
import { createRunner } from '@agora/runner';
import { createDashboard } from '@agora/dashboard';
import { CliError, EXIT, devStatePath, removeDevState, resolveConfig, writeDevState, type GlobalOpts } from '../context.js';
import { parsePort } from '../options.js';
import { assertRedisReachable } from '../redis-check.js';

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

/** `agora serve`: the scheduler (inbox -> flows), until SIGINT/SIGTERM. */
export async function serveCmd(opts: { concurrency?: string[] }, g: GlobalOpts): Promise<number> {
  const config = await resolveConfig(g);
  const concurrency = parseConcurrency(opts.concurrency);
  for (const q of Object.keys(concurrency)) if (!(q in config.queues)) throw new CliError(`--concurrency names unknown queue "${q}" (configured: ${Object.keys(config.queues).join(', ')})`);
  await assertRedisReachable(config.redisUrl);
  await warnRedisSettings(config);
  const scheduler = await createScheduler({ config, concurrency });
  createLogger({ component: 'serve' }).info({ namespace: config.namespace, queues: Object.keys(config.queues) }, 'scheduler serving');
  await untilSignal();
  await scheduler.close();
  return EXIT.ok;
}

/** `agora runner`: executes items until SIGINT/SIGTERM; running items finish first. */
export async function runnerCmd(opts: { concurrency?: string; queues?: string }, g: GlobalOpts): Promise<number> {
  const config = await resolveConfig(g);
  const n = opts.concurrency === undefined ? undefined : Number(opts.concurrency);
  if (n !== undefined && (!Number.isInteger(n) || n < 1)) throw new CliError(`--concurrency expects a positive integer, got "${opts.concurrency}"`);
  const queues = opts.queues?.split(',').map((s) => s.trim()).filter(Boolean);
  for (const q of queues ?? []) if (!(q in config.queues)) throw new CliError(`--queues names unknown queue "${q}"`);
  await assertRedisReachable(config.redisUrl);
  const runner = await createRunner({ config, ...(n !== undefined ? { concurrency: n } : {}), ...(queues ? { queues } : {}) });
  await untilSignal();
  // Hand-back, never cancel: running items get runner.shutdownGraceMs to finish, then go back to the queue.
  await runner.close();
  return EXIT.ok;
}

/** `agora dashboard`: Bull Board (and the run pages/API). */
export async function dashboardCmd(opts: { port?: string; host?: string }, g: GlobalOpts): Promise<number> {
  const port = opts.port === undefined ? undefined : parsePort(opts.port);
  const config = await resolveConfig(g);
  await assertRedisReachable(config.redisUrl);
  const d = await createDashboard({ config, ...(port !== undefined ? { port } : {}), ...(opts.host ? { host: opts.host } : {}) });
  process.stdout.write(`${d.url}/queues\n`);
  await untilSignal();
  await d.close();
  return EXIT.ok;
}

const BIN = fileURLToPath(new URL('../bin.js', import.meta.url));

/**
 * `agora dev`: the embedded default. A private redis-server (when REDIS_URL is unset), the
 * scheduler, N runner processes and the dashboard, in one command; Ctrl-C stops them all.
 * The private Redis listens on 127.0.0.1 only and requires a random password, so other local
 * users cannot reach the queues; the password is written only to a 0600 file, and the Redis URL
 * is printed and logged with its password masked.
 */
export async function devCmd(opts: { runners?: string; port?: string; concurrency?: string[] }, g: GlobalOpts): Promise<number> {
  const log = createLogger({ component: 'dev' });
  let config = await resolveConfig(g);
  const runnersN = opts.runners === undefined ? 2 : Number(opts.runners);
  if (!Number.isInteger(runnersN) || runnersN < 0 || runnersN > 32) throw new CliError(`--runners expects 0..32, got "${opts.runners}"`);
  const concurrency = parseConcurrency(opts.concurrency);
  let redisServer: RedisServerHandle | undefined;
  if (process.env['REDIS_URL'] === undefined) {
    const dir = path.join(config.dataDir, 'redis');
    mkdirSync(dir, { recursive: true });
    redisServer = await startRedisServer({ appendOnly: true, dir, password: randomBytes(24).toString('base64url') });
    config = { ...config, redisUrl: redisServer.url };
    log.info({ redis: redactRedisUrl(redisServer.url), dir }, 'private redis-server started');
  } else {
    await assertRedisReachable(config.redisUrl);
  }
  const children: ChildProcess[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  let stopping = false;
  try {
    const scheduler = await createScheduler({ config, concurrency });
    cleanups.push(() => scheduler.close());
    for (let i = 0; i < runnersN; i++) {
      const child = spawn(process.execPath, [BIN, 'runner', ...(g.config ? ['--config', g.config] : [])], {
        env: { ...process.env, REDIS_URL: config.redisUrl },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      child.on('exit', (code, sig) => {
        if (!stopping) log.error({ runner: i, code, signal: sig }, 'runner process exited unexpectedly');
      });
      children.push(child);
    }
    const port = opts.port === undefined ? config.dashboard.port : Number(opts.port);
    const dashboard = await createDashboard({ config, port });
    cleanups.push(() => dashboard.close());
    writeDevState(config, config.redisUrl, `${dashboard.url}/queues`);
    process.stdout.write(
      `agora dev is up: redis=${redactRedisUrl(config.redisUrl)} dashboard=${dashboard.url}/queues runners=${runnersN} (Ctrl-C to stop; other agora verbs find this Redis through ${devStatePath(config)})\n`,
    );
    await untilSignal();
  } finally {
    stopping = true;
    removeDevState(config);
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
            setTimeout(() => c.kill('SIGKILL'), 15_000).unref();
          }),
      ),
    );
    for (const f of cleanups.reverse()) await f().catch(() => undefined);
    await redisServer?.stop();
  }
  return EXIT.ok;
}
