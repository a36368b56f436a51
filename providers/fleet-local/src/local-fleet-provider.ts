import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, openSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import {
  IllegalStateError,
  ProviderError,
  ValueError,
  fleetRunnerCount,
  fleetScaleTarget,
  hostCpus,
  isRunning,
  procStat,
  parseFleetOptions,
  type FleetProvider,
  type FleetReplica,
  type FleetStatus,
  type ProviderFactoryContext,
  type ProviderHealth,
  type RunnerLaunch,
} from '@agora/core';
import { signal, waitForExit } from './processes.js';

/**
 * This process's environment for a runner, with the files it names made absolute: the runner
 * starts in the config's folder, not in this CLI's working directory, so a relative
 * `AGORA_REDIS_CA_FILE=ca.pem` or `MY_TOKEN_FILE=secrets/token` would name another file there.
 */
function inheritedEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(env)) {
    if (k.endsWith('_FILE') && v !== undefined && v !== '' && !path.isAbsolute(v)) env[k] = path.resolve(v);
  }
  return env;
}
import { ReplicaRecords, type ReplicaRecord } from './replica-records.js';

export const localFleetOptionsSchema = z
  .object({
    /**
     * argv that runs the agora CLI; `runner` and its flags are appended.
     * @default the CLI running now (`[process.execPath, process.argv[1]]`), when it is the agora CLI
     */
    command: z.array(z.string().min(1).max(4096)).min(1).max(16).optional(),
    /** Extra flags of `agora runner` (e.g. `["--concurrency", "2"]`). @default [] */
    args: z.array(z.string().max(4096)).max(32).default([]),
    /** Plain environment variables for the runners, on top of this process's. @default {} */
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().max(65_536)).default({}),
    /** Replicas `start` brings up. @default 1 (the count rule's default on a host) */
    replicas: z.number().int().positive().max(1000).optional(),
    /** CPUs of this host for the count rule. @default AGORA_CPUS, else the CPUs Node sees */
    vcpu: z.number().int().positive().max(4096).optional(),
    /** How long a stopped runner gets to hand its items back before SIGKILL. @default 45000 */
    stopTimeoutMs: z.number().int().min(0).max(24 * 3600 * 1000).default(45_000),
  })
  .strict();

export type LocalFleetOptions = z.input<typeof localFleetOptionsSchema>;

/** The agora CLI this process runs as, if it is one (`bin.js` of apps/cli, or an `agora` link). */
function currentCli(): string[] | undefined {
  const script = process.argv[1];
  if (script === undefined) return undefined;
  const base = path.basename(script);
  return base === 'agora' || (base === 'bin.js' && script.includes(`cli${path.sep}dist`)) ? [process.execPath, script] : undefined;
}

/**
 * Runner replicas as detached `agora runner` processes on this host, with the caller's config
 * and Redis. Each is recorded durably (a pid file under `<dataDir>/fleet/<name>/`), so a later
 * CLI sees, scales and stops what an earlier one started. Stopping is SIGTERM (the runner hands
 * its items back within `runner.shutdownGraceMs`), then SIGKILL after `stopTimeoutMs`.
 */
export class LocalFleetProvider implements FleetProvider {
  readonly name = 'local';
  private readonly opts: z.infer<typeof localFleetOptionsSchema>;
  private readonly records: ReplicaRecords;
  private readonly fleetName: string;
  private readonly launch: RunnerLaunch;
  private readonly vcpu: number;
  private readonly host: string;

  constructor(
    options: LocalFleetOptions | Readonly<Record<string, unknown>>,
    private readonly ctx: ProviderFactoryContext,
  ) {
    this.fleetName = ctx.name ?? 'local';
    this.opts = parseFleetOptions(localFleetOptionsSchema, options, `fleet.${this.fleetName}`);
    if (ctx.runnerLaunch === undefined) throw new IllegalStateError('the local fleet provider needs runnerLaunch (the Redis URL its runners use)');
    this.launch = ctx.runnerLaunch;
    this.records = new ReplicaRecords(ctx.dataDir, this.fleetName);
    this.vcpu = this.opts.vcpu ?? hostCpus();
    // What the runners report as their host (they read AGORA_HOST, else the host name).
    this.host = this.opts.env['AGORA_HOST'] ?? process.env['AGORA_HOST'] ?? os.hostname();
  }

  private command(): string[] {
    const cmd = this.opts.command ?? currentCli();
    if (cmd === undefined) throw new ValueError(`fleet.${this.fleetName}.options.command: not run from the agora CLI; give the argv that runs it (e.g. ["node", "/app/apps/cli/dist/bin.js"])`);
    return cmd;
  }

  async health(): Promise<ProviderHealth> {
    const details = { host: this.host, vcpu: this.vcpu, dir: this.records.dir };
    let cmd: string[];
    try {
      cmd = this.command();
    } catch (err) {
      return { ok: false, message: (err as Error).message, details };
    }
    const unreadable = this.unreadableCommandFile(cmd);
    if (unreadable !== undefined) return { ok: false, message: unreadable, details };
    try {
      this.records.ensure();
      accessSync(this.records.dir, constants.W_OK);
    } catch {
      return { ok: false, message: `cannot write ${this.records.dir} (the fleet's pid files live there)`, details };
    }
    const running = this.live().length;
    return { ok: true, message: `runs "${cmd.join(' ')} runner" on ${this.host} (vcpu ${this.vcpu}); ${running} replica(s) running`, details };
  }

  async start(): Promise<FleetStatus> {
    return this.scale(fleetRunnerCount(this.opts.replicas, this.vcpu, 'host'));
  }

  async stop(): Promise<FleetStatus> {
    return this.scale(0);
  }

  /** Why the command cannot run (its program or script, given as an absolute path, cannot be read), or undefined. */
  private unreadableCommandFile(cmd: readonly string[]): string | undefined {
    for (const file of cmd.slice(0, 2).filter((c) => path.isAbsolute(c))) {
      try {
        accessSync(file, constants.R_OK);
      } catch {
        return `cannot read ${file} (fleet.${this.fleetName}.options.command)`;
      }
    }
    return undefined;
  }

  async scale(replicas: number): Promise<FleetStatus> {
    const target = fleetScaleTarget(replicas, this.vcpu, 'host');
    // A command that cannot run is bad config: refused before anything is recorded.
    if (target > this.live().length) {
      const unreadable = this.unreadableCommandFile(this.command());
      if (unreadable !== undefined) throw new ValueError(unreadable);
    }
    this.records.writeDesired(target);
    const live = this.live();
    if (live.length < target) {
      const cmd = this.command();
      for (let i = live.length; i < target; i++) await this.spawnRunner(cmd);
    } else if (live.length > target) {
      // The newest go first: the oldest have warmed up and are likelier to be mid-item.
      const extra = [...live].sort((a, b) => b.startedAt.localeCompare(a.startedAt) || b.pid - a.pid).slice(0, live.length - target);
      await Promise.all(extra.map((r) => this.stopReplica(r)));
    }
    return this.status();
  }

  async status(): Promise<FleetStatus> {
    const replicas = await this.list();
    const running = replicas.filter((r) => r.state === 'running').length;
    return { name: this.fleetName, provider: this.name, desired: this.records.readDesired() ?? running, running, replicas };
  }

  async list(): Promise<FleetReplica[]> {
    return this.live().map((r) => ({ id: String(r.pid), state: 'running', host: r.host, pid: r.pid, startedAt: r.startedAt }));
  }

  /** The recorded replicas still running; records of those that died are cleared as found. */
  private live(): ReplicaRecord[] {
    const out: ReplicaRecord[] = [];
    for (const rec of this.records.all()) {
      if (isRunning(rec.pid, rec.procStart)) out.push(rec);
      else this.records.removeExited(rec);
    }
    return out;
  }

  private async spawnRunner(cmd: string[]): Promise<void> {
    this.records.ensure();
    const log = path.join(this.records.logsDir, `runner-${Date.now()}-${randomBytes(3).toString('hex')}.log`);
    const fd = openSync(log, 'a', 0o600);
    const [exe, ...pre] = cmd as [string, ...string[]];
    const argv = [...pre, 'runner', ...(this.launch.configFile !== undefined ? ['--config', this.launch.configFile] : []), ...this.opts.args];
    try {
      const child = spawn(exe, argv, {
        cwd: this.ctx.configDir,
        // Its own session and process group: it outlives this CLI and a Ctrl-C here.
        detached: true,
        stdio: ['ignore', fd, fd],
        env: {
          ...inheritedEnv(),
          ...this.opts.env,
          // The Redis URL may hold a password: the environment, never argv (ps shows argv).
          REDIS_URL: this.launch.redisUrl,
          AGORA_NAMESPACE: this.ctx.namespace,
          AGORA_DATA_DIR: this.ctx.dataDir,
          AGORA_FLEET: this.fleetName,
        },
      });
      const pid = await new Promise<number>((resolve, reject) => {
        child.once('spawn', () => resolve(child.pid!));
        child.once('error', (err) => reject(new ProviderError('local', `cannot start "${exe}": ${err.message}`, { cause: err })));
      });
      child.unref();
      this.records.write({ pid, host: this.host, startedAt: new Date().toISOString(), procStart: procStat(pid)?.start, log });
    } finally {
      closeSync(fd);
    }
  }

  private async stopReplica(rec: ReplicaRecord): Promise<void> {
    signal(rec.pid, 'SIGTERM');
    if (!(await waitForExit(rec.pid, rec.procStart, this.opts.stopTimeoutMs))) {
      signal(rec.pid, 'SIGKILL');
      await waitForExit(rec.pid, rec.procStart, 5000);
    }
    this.records.remove(rec);
  }
}
