import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Docker from 'dockerode';
import {
  CHANNEL_ENV,
  CappedBuffer,
  OUTPUT_CAP_BYTES,
  ValueError,
  createScrubber,
  staticSecretValues,
  type ComputeProvider,
  type Logger,
  type ProviderContext,
  type ProviderHealth,
  type Scrubber,
  type TaskExit,
  type TaskHandle,
  type TaskSpec,
} from '@agora/core';
import { assertDigestPinned } from '@agora/core';
import { DockerLogDemuxer } from './log-demux.js';
import { resolveSecretRefs } from './secret-refs.js';

export interface DockerUlimit {
  readonly Name: string;
  readonly Soft: number;
  readonly Hard: number;
}

export interface DockerComputeOptions {
  /**
   * Unix socket of the Docker Engine API (Docker or `podman system service`).
   * @default the path of a `unix://` DOCKER_HOST; with a tcp/ssh DOCKER_HOST, dockerode's own
   *   DOCKER_HOST/DOCKER_TLS_VERIFY/DOCKER_CERT_PATH handling; otherwise /var/run/docker.sock
   */
  readonly socketPath?: string;
  /** Accept images that are not `name@sha256:<digest>` (development only). @default false */
  readonly allowUnpinnedImage?: boolean;
  /**
   * `HostConfig.Ulimits` of every container. Podman fills in its own defaults for nofile and
   * nproc when a client passes some ulimits but not those two, and sandboxes that forbid raising
   * limits then refuse to start the container; so both are set. `[]` leaves ulimits to the engine.
   * @default [{ Name: 'nofile', Soft: 1024, Hard: 1024 }, { Name: 'nproc', Soft: 4096, Hard: 4096 }]
   */
  readonly ulimits?: readonly DockerUlimit[];
  /**
   * `HostConfig.Binds` (`host:container[:ro]`). Workers that read files of the deployment (task
   * scripts, staged dependency artifacts) get them mounted at the same paths, so `spec.cwd` and
   * the paths in AGORA_DEPS_DIR mean the same inside. @default none
   */
  readonly binds?: readonly string[];
  /** `HostConfig.NetworkMode` (e.g. `none`, `bridge`, a network name). @default the engine's default */
  readonly network?: string;
  /** Used when the call's `ctx.logger` is absent. @default no logging */
  readonly logger?: Logger;
  /** Time a stopped worker gets between SIGTERM and SIGKILL (rounded up to seconds). @default 2000 */
  readonly stopGraceMs?: number;
  /** Per-stream capture cap. @default OUTPUT_CAP_BYTES (10 MiB) */
  readonly outputCapBytes?: number;
}

export const DEFAULT_ULIMITS: readonly DockerUlimit[] = Object.freeze([
  { Name: 'nofile', Soft: 1024, Hard: 1024 },
  { Name: 'nproc', Soft: 4096, Hard: 4096 },
]);

/**
 * Where an item's channel folder is bound (read-only) inside the container; `AGORA_CHANNEL` names
 * the file in it. A folder, not the file: a bind of a single file pins its inode at start.
 */
export const CHANNEL_MOUNT_DIR = '/run/agora/channel';

/** Label put on every container this provider creates, so strays can be found and swept. */
export const MANAGED_LABEL = 'agora.managed';

/** The JSON-safe handle: everything `awaitExit`/`cancel` need, so it survives a hand-over. */
interface DockerHandle extends TaskHandle {
  /** Epoch ms at which the container was started (the timeout counts from here). */
  readonly startedAtMs?: number;
  readonly timeoutMs?: number;
  /** Set when the worker never ran: the infrastructure reason. */
  readonly failure?: string;
  /** The signal was aborted before anything was created. */
  readonly cancelledBeforeStart?: boolean;
  /** The task's secret refs (never values): another process collecting the handle re-resolves them to scrub. */
  readonly secretRefs?: Readonly<Record<string, string>>;
}

const EMPTY = Buffer.alloc(0);

interface InFlight {
  readonly done: Promise<TaskExit>;
  stop(reason: string): void;
}

/** docker-modem's connection settings (dockerode types the modem loosely). */
interface ModemFields {
  readonly socketPath?: string;
  readonly host?: string;
  readonly port?: number | string;
  readonly protocol?: string;
  readonly version?: string;
  readonly headers?: Record<string, string>;
  readonly ca?: string | Buffer;
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
}

interface EngineError {
  readonly statusCode?: number;
  readonly json?: { message?: string } | null;
  readonly reason?: string;
  readonly message?: string;
  readonly code?: string;
}

/** dockerode's typings omit the per-call options its methods accept (abortSignal). */
type WithSignal<R> = (opts: { abortSignal: AbortSignal }) => Promise<R>;

/**
 * Runs a worker as a container through the Docker Engine API (seed 000's run/awaitExit/cancel).
 * A container that cannot be created or started is an infrastructure failure
 * (`providerFailureReason`); a non-zero exit is the application's. `awaitExit` removes the
 * container on every path; `cancel` and the timeout stop it first.
 */
export class DockerComputeProvider implements ComputeProvider {
  readonly name = 'docker';
  private readonly docker: Docker;
  /** Where the engine is, for messages. */
  readonly endpoint: string;
  private readonly allowUnpinned: boolean;
  private readonly ulimits: readonly DockerUlimit[];
  private readonly network: string | undefined;
  private readonly binds: readonly string[];
  private readonly logger: Logger | undefined;
  private readonly stopGraceSec: number;
  private readonly capBytes: number;
  private readonly inflight = new Map<string, InFlight>();
  /** Hijacked stdin sockets, closed once their container is collected. */
  private readonly stdinSockets = new Map<string, Duplex>();
  /** Scrubbers of started containers (their secret values), until collected. */
  private readonly scrubbers = new Map<string, Scrubber>();

  constructor(opts: DockerComputeOptions = {}) {
    const dockerHost = process.env['DOCKER_HOST'];
    if (opts.socketPath !== undefined) {
      this.docker = new Docker({ socketPath: opts.socketPath });
      this.endpoint = `unix://${opts.socketPath}`;
    } else if (dockerHost?.startsWith('unix://')) {
      this.docker = new Docker({ socketPath: dockerHost.slice('unix://'.length) });
      this.endpoint = dockerHost;
    } else if (dockerHost) {
      this.docker = new Docker();
      this.endpoint = dockerHost;
    } else {
      this.docker = new Docker({ socketPath: '/var/run/docker.sock' });
      this.endpoint = 'unix:///var/run/docker.sock';
    }
    this.allowUnpinned = opts.allowUnpinnedImage ?? false;
    this.ulimits = opts.ulimits ?? DEFAULT_ULIMITS;
    this.network = opts.network;
    this.binds = opts.binds ?? [];
    this.logger = opts.logger;
    this.stopGraceSec = Math.max(0, Math.ceil((opts.stopGraceMs ?? 2000) / 1000));
    this.capBytes = opts.outputCapBytes ?? OUTPUT_CAP_BYTES;
  }

  async run(spec: TaskSpec, ctx: ProviderContext): Promise<TaskHandle> {
    const logger = ctx.logger ?? this.logger;
    const image = spec.image;
    if (!image) throw new ValueError('docker provider needs spec.image');
    if (!this.allowUnpinned) assertDigestPinned(image, this.name);
    const secrets = resolveSecretRefs(this.name, spec.secretRefs, spec.env, ctx.credentials);
    const scrub = createScrubber(Object.values(secrets));
    const hostConfig = this.hostConfig(spec);
    const labels = { ...spec.labels, [MANAGED_LABEL]: 'true' };
    const env: Record<string, string> = { ...spec.env, ...secrets };
    if (spec.channel) env[CHANNEL_ENV] = path.posix.join(CHANNEL_MOUNT_DIR, path.basename(spec.channel.hostPath));
    const timeout = spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {};

    if (ctx.signal?.aborted) return { providerTaskId: `not-started-${randomUUID()}`, cancelledBeforeStart: true } satisfies DockerHandle;

    let container: Docker.Container;
    try {
      container = await this.docker.createContainer({
        Image: image,
        ...(spec.command ? { Cmd: [...spec.command] } : {}),
        Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
        Labels: labels,
        HostConfig: hostConfig,
        // The worker's cwd only means something inside when a bind brings that path in.
        ...(spec.cwd !== undefined && this.binds.some((b) => spec.cwd!.startsWith(b.split(':')[1] ?? '\0')) ? { WorkingDir: spec.cwd } : {}),
        ...(spec.stdin !== undefined ? { OpenStdin: true, StdinOnce: true, AttachStdin: true } : {}),
      });
    } catch (err) {
      const failure = scrub.text(this.describeCreateFailure(image, err));
      logger?.warn({ provider: this.name, image, labels, failure }, 'docker: container could not be created');
      return { providerTaskId: `not-created-${randomUUID()}`, failure } satisfies DockerHandle;
    }

    const id = container.id;
    try {
      const stdin = spec.stdin !== undefined ? await this.attachStdin(container) : undefined;
      await container.start();
      const startedAtMs = Date.now();
      if (stdin && spec.stdin !== undefined) {
        this.stdinSockets.set(id, stdin);
        // EOF after the bytes: with StdinOnce the engine then closes the worker's stdin.
        stdin.end(spec.stdin);
      }
      logger?.info(
        { provider: this.name, containerId: id, image, labels, envNames: Object.keys(spec.env ?? {}), envFromRefs: Object.keys(secrets) },
        'docker: container started',
      );
      if (scrub.active) this.scrubbers.set(id, scrub);
      const refs = spec.secretRefs && Object.keys(spec.secretRefs).length > 0 ? { secretRefs: { ...spec.secretRefs } } : {};
      return { providerTaskId: id, startedAtMs, ...timeout, ...refs } satisfies DockerHandle;
    } catch (err) {
      this.closeStdin(id);
      // INVARIANT: a container that did not start is removed here; nothing else will see it.
      await this.removeQuietly(container, logger);
      const failure = scrub.text(`container could not be started from image ${image}: ${engineMessage(err)}`);
      logger?.warn({ provider: this.name, containerId: id, image, labels, failure }, 'docker: container could not be started');
      return { providerTaskId: id, failure } satisfies DockerHandle;
    }
  }

  async awaitExit(handle: TaskHandle, ctx: ProviderContext): Promise<TaskExit> {
    const h = handle as DockerHandle;
    const now = new Date().toISOString();
    if (h.failure !== undefined) {
      return { exitCode: null, startedAt: now, finishedAt: now, stdout: EMPTY, stderr: '', providerFailureReason: h.failure };
    }
    if (h.cancelledBeforeStart) return { exitCode: null, startedAt: now, finishedAt: now, stdout: EMPTY, stderr: '', cancelled: true };
    const existing = this.inflight.get(h.providerTaskId);
    if (existing) return existing.done;

    let stopRequest: ((reason: string) => void) | undefined;
    const pending: string[] = [];
    const entry: InFlight = {
      stop: (reason) => (stopRequest ? stopRequest(reason) : pending.push(reason)),
      done: undefined as unknown as Promise<TaskExit>,
    };
    // A handle started by another process: its secrets are resolved again from the refs.
    const scrub = this.scrubbers.get(h.providerTaskId) ?? createScrubber(staticSecretValues(h.secretRefs, ctx.credentials));
    (entry as { done: Promise<TaskExit> }).done = this.collect(h, ctx, scrub, (fn) => {
      stopRequest = fn;
      for (const r of pending.splice(0)) fn(r);
    }).finally(() => {
      this.inflight.delete(h.providerTaskId);
      this.scrubbers.delete(h.providerTaskId);
    });
    this.inflight.set(h.providerTaskId, entry);
    return entry.done;
  }

  async cancel(handle: TaskHandle, ctx: ProviderContext = {}): Promise<void> {
    const h = handle as DockerHandle;
    if (h.failure !== undefined || h.cancelledBeforeStart) return;
    const running = this.inflight.get(h.providerTaskId);
    if (running) {
      // awaitExit owns the container: it stops it, keeps the output and removes it.
      running.stop('cancelled');
      await running.done.then(
        () => undefined,
        () => undefined,
      );
      return;
    }
    const container = this.docker.getContainer(h.providerTaskId);
    await this.stopQuietly(container, ctx.logger ?? this.logger);
    await this.removeQuietly(container, ctx.logger ?? this.logger);
    this.closeStdin(h.providerTaskId);
    this.scrubbers.delete(h.providerTaskId);
  }

  async health(): Promise<ProviderHealth> {
    try {
      const ping = this.docker.ping.bind(this.docker) as unknown as WithSignal<unknown>;
      const version = this.docker.version.bind(this.docker) as unknown as WithSignal<Docker.DockerVersion>;
      await ping({ abortSignal: AbortSignal.timeout(5000) });
      // The ping is the check; the version only names the engine. Podman gathers host facts for
      // /version and may take seconds when busy: an engine that answered is healthy all the same.
      const v = await version({ abortSignal: AbortSignal.timeout(5000) }).catch((err: unknown) => err as Error);
      if (v instanceof Error) {
        return { ok: true, message: `Docker Engine API at ${this.endpoint} answers (its version was not read: ${engineMessage(v)})`, details: { endpoint: this.endpoint } };
      }
      return {
        ok: true,
        message: `Docker Engine API at ${this.endpoint} answers (${v.Components?.[0]?.Name ?? 'engine'} ${v.Version}, API ${v.ApiVersion})`,
        details: { endpoint: this.endpoint, version: v.Version, apiVersion: v.ApiVersion },
      };
    } catch (err) {
      return {
        ok: false,
        message:
          `Docker Engine API at ${this.endpoint} does not answer (${engineMessage(err)}): start Docker, or Podman's API ` +
          `service (bash scripts/podman-setup.sh), or point the provider at the right socket (socketPath option or DOCKER_HOST)`,
        details: { endpoint: this.endpoint },
      };
    }
  }

  private hostConfig(spec: TaskSpec): Docker.HostConfig {
    const hc: Docker.HostConfig = {};
    if (this.ulimits.length > 0) hc.Ulimits = this.ulimits.map((u) => ({ ...u }));
    if (this.network !== undefined) hc.NetworkMode = this.network;
    if (this.binds.length > 0) hc.Binds = [...this.binds];
    // The runner appends to the channel file on the host; the worker only reads it.
    if (spec.channel) {
      const dir = path.dirname(spec.channel.hostPath);
      // A bind is `host:container:options`: a ':' in the host path would shift its fields.
      if (dir.includes(':')) throw new ValueError(`docker provider: the channel folder ${JSON.stringify(dir)} holds a ':', which a bind cannot carry (move dataDir)`);
      hc.Binds = [...(hc.Binds ?? []), `${dir}:${CHANNEL_MOUNT_DIR}:ro`];
    }
    const cpu = spec.resources?.cpu;
    if (cpu !== undefined) {
      if (!Number.isFinite(cpu) || cpu <= 0) throw new ValueError(`docker provider: resources.cpu must be a positive number of CPUs, got ${cpu}`);
      hc.NanoCpus = Math.round(cpu * 1e9);
    }
    const memoryMb = spec.resources?.memoryMb;
    if (memoryMb !== undefined) {
      // Below ~6 MiB Docker refuses to create the container; say so before the engine does.
      if (!Number.isFinite(memoryMb) || memoryMb < 6) throw new ValueError(`docker provider: resources.memoryMb must be at least 6, got ${memoryMb}`);
      hc.Memory = Math.round(memoryMb * 1024 * 1024);
    }
    return hc;
  }

  private describeCreateFailure(image: string, err: unknown): string {
    const e = err as EngineError;
    if (e.statusCode === 404) {
      return `image ${image} is not present on the engine at ${this.endpoint} (${engineMessage(err)}); this provider does not pull: pull or load the image first`;
    }
    return `container could not be created from image ${image} on ${this.endpoint}: ${engineMessage(err)}`;
  }

  /**
   * Attaches to stdin before start, so no byte can be missed. Not through dockerode: docker-modem
   * either sends its options as the request body (which the engine then hands the worker as
   * its first stdin bytes) or, with an empty body, never flushes the request at all.
   */
  private attachStdin(container: Docker.Container): Promise<Duplex> {
    const modem = this.docker.modem as unknown as ModemFields;
    if (modem.protocol === 'ssh') return Promise.reject(new ValueError('docker provider: spec.stdin is not supported over an ssh DOCKER_HOST'));
    const path = `${modem.version ? `/${modem.version}` : ''}/containers/${encodeURIComponent(container.id)}/attach?stream=1&stdin=1&stdout=0&stderr=0`;
    const common = { path, method: 'POST', headers: { ...modem.headers, Connection: 'Upgrade', Upgrade: 'tcp' } };
    return new Promise<Duplex>((resolve, reject) => {
      const req = modem.socketPath
        ? httpRequest({ ...common, socketPath: modem.socketPath })
        : modem.protocol === 'https'
          ? httpsRequest({ ...common, host: modem.host, port: modem.port, ca: modem.ca, cert: modem.cert, key: modem.key })
          : httpRequest({ ...common, host: modem.host, port: modem.port });
      req.on('upgrade', (_res, socket) => {
        socket.on('error', () => undefined); // the worker may exit without reading its stdin
        socket.resume(); // nothing is expected back; never let it fill a buffer
        resolve(socket);
      });
      req.on('response', (res) => {
        res.resume();
        reject(Object.assign(new Error(`attach to stdin answered HTTP ${res.statusCode} instead of upgrading`), { statusCode: res.statusCode }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  private closeStdin(id: string): void {
    this.stdinSockets.get(id)?.destroy();
    this.stdinSockets.delete(id);
  }

  /**
   * Waits for the container, gathers its state and output, and removes it.
   * INVARIANT: the container is removed before this returns, whatever happened.
   */
  private async collect(h: DockerHandle, ctx: ProviderContext, scrub: Scrubber, onStopReady: (stop: (reason: string) => void) => void): Promise<TaskExit> {
    const logger = ctx.logger ?? this.logger;
    const id = h.providerTaskId;
    const container = this.docker.getContainer(id);
    let stopReason: string | undefined;
    let stoppedByUs = false;
    let stopping: Promise<void> = Promise.resolve();
    const stop = (reason: string): void => {
      if (stopReason !== undefined) return;
      stopReason = reason;
      stopping = this.stopQuietly(container, logger).then((stopped) => {
        stoppedByUs = stopped;
      });
    };
    onStopReady(stop);
    let timer: NodeJS.Timeout | undefined;
    if (h.timeoutMs !== undefined) {
      const left = Math.max(0, (h.startedAtMs ?? Date.now()) + h.timeoutMs - Date.now());
      timer = setTimeout(() => stop(`timeout after ${h.timeoutMs} ms`), left);
    }
    const onAbort = (): void => stop('cancelled');
    if (ctx.signal?.aborted) onAbort();
    else ctx.signal?.addEventListener('abort', onAbort, { once: true });

    const fallbackStart = new Date(h.startedAtMs ?? Date.now()).toISOString();
    try {
      const waitError = await this.waitForExit(container);
      await stopping;
      let info: Docker.ContainerInspectInfo;
      try {
        info = await container.inspect();
      } catch (err) {
        const finishedAt = new Date().toISOString();
        if (stopReason !== undefined) {
          return { exitCode: null, startedAt: fallbackStart, finishedAt, stdout: EMPTY, stderr: `[agora: worker stopped: ${stopReason}]\n`, cancelled: true };
        }
        return {
          exitCode: null,
          startedAt: fallbackStart,
          finishedAt,
          stdout: EMPTY,
          stderr: '',
          providerFailureReason: scrub.text(`container ${id} was lost while running: ${engineMessage(waitError ?? err)}`),
        };
      }
      const stdout = new CappedBuffer(this.capBytes);
      const stderr = new CappedBuffer(this.capBytes);
      let logsNote = '';
      try {
        await this.readLogs(id, stdout, stderr);
      } catch (err) {
        logsNote = scrub.text(`[agora: output could not be read from the engine: ${engineMessage(err)}]\n`);
      }
      const state = info.State;
      const startedAt = engineTime(state.StartedAt) ?? fallbackStart;
      // Podman may stamp a very short run's end a few ms before its start.
      const finishedAt = maxIso(startedAt, engineTime(state.FinishedAt) ?? new Date().toISOString());
      const cancelled = stopReason !== undefined && stoppedByUs;
      let note = logsNote;
      if (cancelled) note += `[agora: worker stopped: ${stopReason}]\n`;
      else if (state.OOMKilled) {
        const mem = info.HostConfig?.Memory ? ` (limit ${Math.round(info.HostConfig.Memory / 1024 / 1024)} MiB)` : '';
        note += `[agora: worker killed: out of memory${mem}]\n`;
      }
      const exit: TaskExit = {
        exitCode: cancelled ? null : state.ExitCode,
        startedAt,
        finishedAt,
        stdout: stdout.contents(scrub),
        stderr: stderr.text(scrub) + note,
        ...(cancelled ? { cancelled: true } : {}),
      };
      logger?.info(
        { provider: this.name, containerId: id, exitCode: exit.exitCode, cancelled, truncated: stdout.truncated || stderr.truncated },
        'docker: container exited',
      );
      return exit;
    } finally {
      if (timer) clearTimeout(timer);
      ctx.signal?.removeEventListener('abort', onAbort);
      this.closeStdin(id);
      await this.removeQuietly(container, logger);
    }
  }

  /** Returns undefined once the container is not running, or the error that stopped the wait. */
  private async waitForExit(container: Docker.Container): Promise<unknown> {
    // A dropped connection is not an exit: wait again while the container still runs.
    for (let attempt = 0; ; attempt++) {
      try {
        await container.wait();
        return undefined;
      } catch (err) {
        if ((err as EngineError).statusCode === 404 || attempt >= 3) return err;
        const running = await container.inspect().then(
          (i) => i.State.Running,
          () => false,
        );
        if (!running) return err;
        await new Promise((r) => setTimeout(r, 250 * (attempt + 1)));
      }
    }
  }

  /**
   * Streams the finished container's logs through the demuxer into the capped buffers. Read
   * after exit without `follow`: Podman's follow mode can end before the last lines are read.
   */
  private async readLogs(id: string, stdout: CappedBuffer, stderr: CappedBuffer): Promise<void> {
    const stream = await new Promise<Readable>((resolve, reject) =>
      this.docker.modem.dial(
        {
          path: `/containers/${encodeURIComponent(id)}/logs?`,
          method: 'GET',
          options: { stdout: true, stderr: true, follow: false },
          isStream: true,
          statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
        },
        (err, s) => (err ? reject(err) : resolve(s as Readable)),
      ),
    );
    await pipeline(stream, new DockerLogDemuxer(stdout, stderr));
  }

  /** True when this call stopped a running container; false when it was not running (or gone). */
  private async stopQuietly(container: Docker.Container, logger: Logger | undefined): Promise<boolean> {
    try {
      await container.stop({ t: this.stopGraceSec });
      return true;
    } catch (err) {
      const code = (err as EngineError).statusCode;
      if (code === 304 || code === 404) return false;
      logger?.warn({ provider: this.name, containerId: container.id, error: engineMessage(err) }, 'docker: stop failed; killing');
      try {
        await container.kill();
        return true;
      } catch {
        return false;
      }
    }
  }

  private async removeQuietly(container: Docker.Container, logger: Logger | undefined): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await container.remove({ force: true, v: true });
        return;
      } catch (err) {
        if ((err as EngineError).statusCode === 404) return;
        if (attempt === 2) {
          logger?.error({ provider: this.name, containerId: container.id, error: engineMessage(err) }, `docker: container could not be removed; remove containers labelled ${MANAGED_LABEL}=true by hand`);
          return;
        }
        await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
      }
    }
  }
}

/** The engine's own words, without docker-modem's "(HTTP code N) reason -" prefix. */
function engineMessage(err: unknown): string {
  const e = (err ?? {}) as EngineError;
  const text = e.json?.message ?? e.message ?? String(err);
  const msg = text.replace(/^\(HTTP code \d+\)\s*[^-]*-\s*/, '').trim();
  if (e.statusCode !== undefined) return `${msg} (HTTP ${e.statusCode})`;
  return e.code && !msg.includes(e.code) ? `${msg} (${e.code})` : msg;
}

function maxIso(a: string, b: string): string {
  return Date.parse(b) >= Date.parse(a) ? b : a;
}

/** Engine timestamps are RFC 3339 with nanoseconds; the zero time means "never". */
function engineTime(value: string | undefined): string | undefined {
  if (!value || value.startsWith('0001-')) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}
