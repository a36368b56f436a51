import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  AgoraError,
  CONFIG_FILE_NAMES,
  configEnv,
  TimeoutError,
  ValueError,
  autoscaleDecision,
  createLogger,
  createScrubber,
  withProcessLock,
  type AgoraConfig,
  type FleetProvider,
  type FleetReplica,
  type FleetStatus,
  type RunnerLaunch,
} from '@agora/core';
import { chooseFleet, createFleetProvider } from '@agora/registry';
import { createRedis, liveRunners, queueDepth, type QueueDepth, type RunnerRegistration } from '@agora/state';
import { CliError, EXIT, cliErrorMessage, resolveConfig, type GlobalOpts } from '../context.js';
import { assertRedisReachable } from '../redis-check.js';
import { logConsoleWarnings } from '../console-warnings.js';

/** Most replicas one `scale` may ask for: a typo must not start thousands of processes. */
const MAX_SCALE = 1000;

/** `<n>` of `fleet scale`: plain decimal 0..MAX_SCALE, checked before anything is touched. */
export function parseReplicas(raw: string): number {
  const n = /^(?:0|[1-9][0-9]{0,5})$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 0 && n <= MAX_SCALE)) throw new CliError(`fleet scale: <n> must be an integer from 0 to ${MAX_SCALE}, got ${JSON.stringify(raw)}`);
  return n;
}

/** The config file this verb loaded (runners started by the fleet read the same one). */
function loadedConfigFile(config: AgoraConfig, g: GlobalOpts): string | undefined {
  const explicit = g.config ?? configEnv('AGORA_CONFIG');
  if (explicit !== undefined) return path.resolve(explicit);
  return CONFIG_FILE_NAMES.map((n) => path.join(config.configDir, n)).find((p) => existsSync(p));
}

/** A provider failure (engine unreachable, AWS refused) is infrastructure: exit 3, like Redis being down. */
async function infra<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof AgoraError && err.code === 'PROVIDER') throw new CliError(err.message, EXIT.unavailable);
    throw err;
  }
}

/**
 * Runs a change of fleet `name` (scale, start, stop, an autoscale step) holding its lock file
 * (`<dataDir>/fleet/<name>.lock`): two commands changing one fleet at once would each count the
 * same replicas and each start the missing ones. The later one waits for the first (up to two
 * minutes, then exit 1 naming its pid), then acts on what the first left.
 */
async function changingFleet<T>(config: AgoraConfig, name: string, f: () => Promise<T>): Promise<T> {
  try {
    return await withProcessLock(path.join(config.dataDir, 'fleet', `${name}.lock`), f);
  } catch (err) {
    if (err instanceof TimeoutError) throw new CliError(`fleet ${name} is being changed by another agora command: ${err.message}; try again when it ends`, EXIT.failed);
    throw err;
  }
}

async function fleets(g: GlobalOpts, only?: string): Promise<{ config: AgoraConfig; providers: Array<[string, FleetProvider]> }> {
  const config = await resolveConfig(g);
  const names = only !== undefined ? [chooseFleet(config, only)] : Object.keys(config.fleet).sort();
  if (names.length === 0) chooseFleet(config); // throws the "no fleet is configured" message
  const launch: RunnerLaunch = { redisUrl: config.redisUrl, configFile: loadedConfigFile(config, g) };
  const providers: Array<[string, FleetProvider]> = [];
  for (const n of names) providers.push([n, await createFleetProvider(config, n, launch)]);
  return { config, providers };
}

/** Whether `reg` is the registration of `replica`: same host, and same pid when the backend knows it. */
function registers(reg: RunnerRegistration, replica: FleetReplica): boolean {
  return replica.host !== undefined && reg.host === replica.host && (replica.pid === undefined || reg.pid === replica.pid);
}

/** A fleet's status with the runners registered in Redis that belong to it. */
export interface FleetReport extends FleetStatus {
  readonly healthy: number;
  /** Runner ids (`host:pid`) registered in Redis by this fleet's replicas. */
  readonly runners: readonly string[];
}

/**
 * Healthy = replicas whose runner is registered live in Redis (it started, reached Redis and
 * heartbeats), unless the backend counts health itself (ECS, whose replicas name no host).
 */
export function reportFleet(status: FleetStatus, registered: readonly RunnerRegistration[]): FleetReport {
  const mine = registered.filter((reg) => status.replicas.some((r) => r.state === 'running' && registers(reg, r)));
  const healthy = status.healthy ?? status.replicas.filter((r) => r.state === 'running' && registered.some((reg) => registers(reg, r))).length;
  return { ...status, healthy, runners: mine.map((r) => r.id) };
}

/** `agora fleet status [--provider <name>] [--json]`. */
export async function fleetStatusCmd(opts: { provider?: string; json?: boolean }, g: GlobalOpts): Promise<number> {
  const { config, providers } = await fleets(g, opts.provider);
  await assertRedisReachable(config.redisUrl);
  const redis = createRedis(config.redisUrl);
  try {
    const registered = await liveRunners(redis, config.namespace);
    const reports: FleetReport[] = [];
    for (const [, p] of providers) reports.push(reportFleet(await infra(() => p.status()), registered));
    if (opts.json) {
      process.stdout.write(JSON.stringify({ fleets: reports, registered }) + '\n');
      return EXIT.ok;
    }
    for (const f of reports) {
      process.stdout.write(`fleet ${f.name} (${f.provider}): desired ${f.desired}, running ${f.running}, healthy ${f.healthy}\n`);
      for (const r of f.replicas) process.stdout.write(`  ${r.id.length > 24 ? r.id.slice(0, 24) : r.id}  ${r.state}${r.host !== undefined ? `  host ${r.host}` : ''}${r.startedAt !== undefined ? `  since ${r.startedAt}` : ''}\n`);
    }
    process.stdout.write(`runners registered in Redis: ${registered.length}\n`);
    for (const r of registered) process.stdout.write(`  ${r.id}  slots ${r.slots}  queues ${r.queues.join(',')}  heartbeat ${r.heartbeatAt}\n`);
    return EXIT.ok;
  } finally {
    redis.disconnect();
  }
}

/** `agora fleet scale <n> [--provider <name>] [--json]`. */
export async function fleetScaleCmd(raw: string, opts: { provider?: string; json?: boolean }, g: GlobalOpts): Promise<number> {
  const n = parseReplicas(raw);
  const config = await resolveConfig(g);
  const { providers } = await fleets(g, chooseFleet(config, opts.provider));
  const [name, provider] = providers[0]!;
  const status = await changingFleet(config, name, () => infra(() => provider.scale(n)));
  if (status.desired < n) process.stderr.write(`agora fleet: asked for ${n}; fleet ${name} keeps ${status.desired} (the runner-count cap of one host: max(1, min(vcpu, n)))\n`);
  process.stdout.write(opts.json ? `${JSON.stringify(status)}\n` : `fleet ${name} (${status.provider}): desired ${status.desired}, running ${status.running}\n`);
  return EXIT.ok;
}

/** `agora fleet start|stop [--provider <name>] [--json]`. */
export async function fleetStartStopCmd(verb: 'start' | 'stop', opts: { provider?: string; json?: boolean }, g: GlobalOpts): Promise<number> {
  const config = await resolveConfig(g);
  const { providers } = await fleets(g, chooseFleet(config, opts.provider));
  const [name, provider] = providers[0]!;
  const status = await changingFleet(config, name, () => infra(() => (verb === 'start' ? provider.start() : provider.stop())));
  process.stdout.write(opts.json ? `${JSON.stringify(status)}\n` : `fleet ${name} (${status.provider}): desired ${status.desired}, running ${status.running}\n`);
  return EXIT.ok;
}

/** `agora fleet list [--provider <name>] [--json]`: every replica of every fleet (or of one). */
export async function fleetListCmd(opts: { provider?: string; json?: boolean }, g: GlobalOpts): Promise<number> {
  const { providers } = await fleets(g, opts.provider);
  const rows: Array<FleetReplica & { fleet: string; provider: string }> = [];
  for (const [name, p] of providers) for (const r of await infra(() => p.list())) rows.push({ fleet: name, provider: p.name, ...r });
  if (opts.json) {
    process.stdout.write(JSON.stringify({ replicas: rows }) + '\n');
    return EXIT.ok;
  }
  if (rows.length === 0) process.stdout.write('no replicas\n');
  for (const r of rows) process.stdout.write(`${r.fleet}\t${r.provider}\t${r.id}\t${r.state}\t${r.host ?? '-'}\t${r.startedAt ?? '-'}\n`);
  return EXIT.ok;
}

/** How long an autoscale round waits for the depth of its queues. */
const REDIS_ANSWER_MS = 5000;

/**
 * The depth of the fleet's queues, or exit 3 when Redis is away or does not answer within `ms`: BullMQ
 * waits for a lost connection to come back, and a round must fail (and SIGTERM be heard) instead.
 */
async function depthWithin(ms: number, read: () => Promise<QueueDepth>, status: () => string): Promise<QueueDepth> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CliError(`Redis did not answer within ${ms} ms (connection ${status()})`, EXIT.unavailable)), ms);
  });
  // ioredis's own words for a command given up on ("Reached the max retries per request limit") say nothing of Redis.
  const unreachable = (err: unknown): never => {
    if (/max retries per request/i.test((err as Error | undefined)?.message ?? '')) throw new CliError(`Redis is not reachable (connection ${status()})`, EXIT.unavailable);
    throw err;
  };
  try {
    return await Promise.race([read().catch(unreachable), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The password of a Redis URL (none when it has none or does not parse). */
function redisPassword(url: string): string[] {
  try {
    const p = new URL(url).password;
    return p === '' ? [] : [decodeURIComponent(p), p];
  } catch {
    return [];
  }
}

/**
 * `agora fleet autoscale [--provider <name>] [--once] [--json]`: every `autoscale.intervalMs`,
 * reads the depth of the fleet's queues and sets the replica count `autoscaleDecision` gives.
 * Run one per fleet (two would only agree, but each would scale).
 * A failed round after the first is logged (and printed as `{ fleet, error }` with --json) and
 * tried again at the next interval; the first round's failure exits with its code.
 */
export async function fleetAutoscaleCmd(opts: { provider?: string; once?: boolean; json?: boolean }, g: GlobalOpts): Promise<number> {
  const config = await resolveConfig(g);
  const name = chooseFleet(config, opts.provider);
  const bounds = config.fleet[name]!.autoscale;
  if (bounds === undefined) throw new ValueError(`fleet.${name}.autoscale is not configured: give { "min", "max", "targetWaitingPerRunner" }`);
  const queues = bounds.queues ?? Object.keys(config.queues);
  for (const q of queues) if (!(q in config.queues)) throw new ValueError(`fleet.${name}.autoscale.queues names unknown queue "${q}"`);
  const log = createLogger({ component: 'fleet-autoscale', fleet: name });
  // A controller that runs for days: its stderr is JSON lines, a client library's warning too.
  logConsoleWarnings(log);
  const { providers } = await fleets(g, name);
  const provider = providers[0]![1];
  await assertRedisReachable(config.redisUrl);
  // Commands fail once a reconnect has failed, instead of waiting for Redis (the services' clients
  // wait): a round while Redis is away is a failed round, and SIGTERM is heard between rounds.
  const redis = createRedis(config.redisUrl, { maxRetriesPerRequest: 1 });
  let stopping = false;
  const stop = (): void => void (stopping = true);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // The Redis password, should an error message quote the URL (the failed-round line must not).
  const scrubber = createScrubber(redisPassword(config.redisUrl));
  try {
    for (let round = 1; ; round++) {
      try {
        const depth = await depthWithin(REDIS_ANSWER_MS, () => queueDepth(redis, config.namespace, queues), () => redis.status);
        const { before, after } = await changingFleet(config, name, async () => {
          const now = await infra(() => provider.status());
          const desired = autoscaleDecision({ ...depth, current: now.desired }, bounds);
          return { before: now, after: desired === now.desired ? now : await infra(() => provider.scale(desired)) };
        });
        const decision = { fleet: name, waiting: depth.waiting, active: depth.active, from: before.desired, to: after.desired };
        if (opts.json) process.stdout.write(JSON.stringify(decision) + '\n');
        // The logger's bindings already name the fleet: the line carries it once.
        if (after.desired !== before.desired) log.info({ waiting: decision.waiting, active: decision.active, from: decision.from, to: decision.to }, 'fleet scaled');
      } catch (err) {
        // The first round (and --once) fails as any verb does: a misconfiguration exits at once
        // with its code. Later, the controller has worked before, so a failed round is a moment of
        // the backend (engine or AWS not answering, Redis failing over, the lock held past its
        // wait): it is reported and tried again at the next interval, as a controller does.
        if (round === 1 || opts.once) throw err;
        const error = scrubber.text(cliErrorMessage(err));
        log.warn({ round, error, nextInMs: bounds.intervalMs }, 'autoscale round failed; trying again at the next interval');
        if (opts.json) process.stdout.write(JSON.stringify({ fleet: name, error }) + '\n');
      }
      if (opts.once || stopping) return EXIT.ok;
      const end = Date.now() + bounds.intervalMs;
      while (!stopping && Date.now() < end) await new Promise((r) => setTimeout(r, Math.min(250, end - Date.now())));
      if (stopping) return EXIT.ok;
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    redis.disconnect();
  }
}
