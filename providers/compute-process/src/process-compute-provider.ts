import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  AgoraError,
  CHANNEL_ENV,
  CappedBuffer,
  OUTPUT_CAP_BYTES,
  procStat,
  ValueError,
  createScrubber,
  type ComputeProvider,
  type ProviderContext,
  type ProviderHealth,
  type TaskExit,
  type TaskHandle,
  type TaskSpec,
} from '@agora/core';

export interface ProcessComputeOptions {
  /** Per-stream capture cap. @default 10 MiB */
  readonly outputCapBytes?: number;
  /** Grace between SIGTERM and SIGKILL on cancel. @default 2000 */
  readonly killGraceMs?: number;
  /**
   * Start the worker with a parent-death signal (util-linux `setpriv --pdeathsig KILL`), so a
   * runner that dies without stopping its workers takes them with it. Off when setpriv is missing.
   * @default true
   */
  readonly dieWithRunner?: boolean;
  /** Environment the worker inherits besides spec.env. @default only PATH, HOME, LANG, TZ, NODE_* */
  readonly inheritEnv?: readonly string[];
}

interface Running {
  readonly child: ChildProcess;
  readonly exit: Promise<TaskExit>;
  cancelled: boolean;
  kill(): void;
}

const DEFAULT_INHERIT = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR', 'NODE_OPTIONS', 'NODE_PATH'];

/** util-linux's setpriv: sets the parent-death signal of the process it then executes. */
const SETPRIV = '/usr/bin/setpriv';

/**
 * The executable a command names, as `execvp` would find it (a path relative to `cwd`, else the
 * first match on PATH), or null when there is none: then the plain spawn reports ENOENT/EACCES.
 */
function resolveCommand(command: string, pathVar: string | undefined, cwd: string | undefined): string | null {
  const candidates = command.includes('/')
    ? [path.resolve(cwd ?? process.cwd(), command)]
    : (pathVar ?? '').split(':').filter(Boolean).map((dir) => path.join(dir, command));
  for (const c of candidates) {
    try {
      accessSync(c, fsConstants.X_OK);
      if (statSync(c).isFile()) return c;
    } catch {
      // not here
    }
  }
  return null;
}

/** A live process as /proc tells it (libs/core procStat): a zombie is dead, nothing to signal. */
interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  readonly startTime: string;
}

function readStat(pid: number): ProcStat | null {
  const st = procStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return null;
  return { pid, ppid: st.ppid, pgid: st.pgid, startTime: st.start };
}

/**
 * Every live descendant of `root` (not `root` itself), from one scan of /proc/<pid>/stat: found
 * by parent pid, recursively, so a descendant that left the worker's process group (`setsid`,
 * `detached: true`) is found as long as the tree is intact. Linux only: elsewhere (no /proc) it
 * finds none, and cancel reaches the worker's process group alone.
 */
function processDescendants(root: number): ProcStat[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const byParent = new Map<number, ProcStat[]>();
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const st = readStat(Number(e));
    if (!st) continue;
    const siblings = byParent.get(st.ppid);
    if (siblings) siblings.push(st);
    else byParent.set(st.ppid, [st]);
  }
  const found: ProcStat[] = [];
  const seen = new Set<number>([root]);
  const queue = [root];
  while (queue.length > 0) {
    for (const child of byParent.get(queue.shift()!) ?? []) {
      if (seen.has(child.pid)) continue;
      seen.add(child.pid);
      found.push(child);
      queue.push(child.pid);
    }
  }
  return found;
}

/**
 * Runs a worker as a local child process (seed 000's run/awaitExit/cancel). The worker leads its
 * own process group, and cancel (or the timeout) signals that group and, on Linux, each of the
 * worker's descendants found through /proc (also one that left the group), so it kills the whole
 * tree it spawned. A command that cannot start is an
 * infrastructure failure (`providerFailureReason`), a non-zero exit an application failure.
 */
export class ProcessComputeProvider implements ComputeProvider {
  readonly name = 'process';
  private readonly running = new Map<string, Running>();
  private readonly capBytes: number;
  private readonly graceMs: number;
  private readonly inherit: readonly string[];
  private readonly dieWithRunner: boolean;

  constructor(opts: ProcessComputeOptions = {}) {
    this.capBytes = opts.outputCapBytes ?? OUTPUT_CAP_BYTES;
    this.graceMs = opts.killGraceMs ?? 2000;
    this.inherit = opts.inheritEnv ?? DEFAULT_INHERIT;
    this.dieWithRunner = (opts.dieWithRunner ?? true) && existsSync(SETPRIV);
  }

  async run(spec: TaskSpec, ctx: ProviderContext): Promise<TaskHandle> {
    const argv = spec.command;
    if (!argv || argv.length === 0 || !argv[0]) throw new ValueError('process provider needs spec.command (argv)');
    const env: Record<string, string> = {};
    for (const k of this.inherit) {
      const v = process.env[k];
      if (v !== undefined) env[k] = v;
    }
    Object.assign(env, spec.env ?? {});
    // The worker shares the runner's filesystem: it tails the channel file where it is.
    if (spec.channel) env[CHANNEL_ENV] = spec.channel.hostPath;
    const secrets = ctx.credentials?.['secrets'] as Record<string, string> | undefined;
    for (const [name, ref] of Object.entries(spec.secretRefs ?? {})) {
      const value = secrets?.[ref];
      // The target's credentials do not serve it (none, or a kind this provider cannot use): a
      // configuration problem, so the item fails at once rather than being retried.
      if (value === undefined) throw new AgoraError('CONFIG_INVALID', `secret reference for ${name} could not be resolved by the credential provider`);
      env[name] = value;
    }
    // Whatever the worker prints of its secrets is redacted before the output leaves here.
    const scrub = createScrubber(Object.keys(spec.secretRefs ?? {}).map((name) => env[name]!));
    const startedAt = new Date().toISOString();
    const stdout = new CappedBuffer(this.capBytes);
    const stderr = new CappedBuffer(this.capBytes);
    // The worker dies with its runner: a runner SIGKILLed (or crashed past its handlers) cannot
    // stop its workers, so the kernel does it (PR_SET_PDEATHSIG through setpriv). Only the worker
    // itself is covered; what it spawned is in its process group, which cancel and hand-back kill.
    const executable = this.dieWithRunner ? resolveCommand(argv[0], env['PATH'], spec.cwd) : null;
    const [file, args] = executable ? [SETPRIV, ['--pdeathsig', 'KILL', '--', executable, ...argv.slice(1)]] : [argv[0], argv.slice(1)];
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        cwd: spec.cwd,
        env,
        detached: true, // own process group: cancel reaches grandchildren
        stdio: [spec.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
    } catch (err) {
      // Synchronous spawn failures (E2BIG, EINVAL) may quote the environment.
      throw scrub.error(err);
    }
    const id = `${process.pid}-${child.pid ?? 'x'}-${Math.random().toString(36).slice(2, 8)}`;
    child.stdout?.on('data', (d: Buffer) => stdout.push(d));
    child.stderr?.on('data', (d: Buffer) => stderr.push(d));
    if (spec.stdin !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined); // the worker may exit without reading
      child.stdin.end(spec.stdin);
    }
    let timer: NodeJS.Timeout | undefined;
    const entry: Running = {
      child,
      cancelled: false,
      exit: undefined as unknown as Promise<TaskExit>,
      kill: () => {
        if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
        const worker = child.pid;
        // The worker's process group holds what it spawned, unless a descendant left it (a new
        // session or group): those are found by walking the tree from the worker BEFORE anything
        // is signalled (a killed parent's children are re-parented, and the walk would miss them).
        // Each is remembered with its start time, so a pid reused before the SIGKILL is spared.
        const descendants = new Map<number, ProcStat>();
        const collect = (): void => {
          for (const d of processDescendants(worker)) if (!descendants.has(d.pid)) descendants.set(d.pid, d);
        };
        const signalOne = (pid: number, sig: NodeJS.Signals): void => {
          try {
            process.kill(pid, sig);
          } catch {
            // already gone
          }
        };
        const signal = (sig: NodeJS.Signals): void => {
          signalOne(-worker, sig);
          for (const d of descendants.values()) {
            const now = readStat(d.pid);
            if (!now || now.startTime !== d.startTime) continue; // gone (or its pid reused)
            // As for the worker: its own group when it leads one (it left the worker's), else itself.
            if (now.pgid === d.pid) signalOne(-d.pid, sig);
            signalOne(d.pid, sig);
          }
        };
        collect();
        signal('SIGTERM');
        setTimeout(() => {
          // What the tree spawned during the grace, while the worker still lives (once it is
          // reaped its pid may be reused: then it is not walked again).
          if (child.exitCode === null && child.signalCode === null) collect();
          signal('SIGKILL');
        }, this.graceMs).unref();
      },
    };
    (entry as { exit: Promise<TaskExit> }).exit = new Promise<TaskExit>((resolve) => {
      let spawnError: Error | undefined;
      child.once('error', (err) => {
        spawnError = err;
        // 'close' may not follow a spawn failure
        if (child.pid === undefined) finish(null, null);
      });
      const finish = (code: number | null, sig: NodeJS.Signals | null): void => {
        if (timer) clearTimeout(timer);
        const finishedAt = new Date().toISOString();
        if (spawnError && child.pid === undefined) {
          const code = (spawnError as NodeJS.ErrnoException).code;
          resolve({
            exitCode: null,
            startedAt,
            finishedAt,
            stdout: Buffer.alloc(0),
            stderr: '',
            providerFailureReason: scrub.text(
              code === 'ENOENT' ? `command not found: ${argv[0]}` : code === 'EACCES' ? `command not executable: ${argv[0]}` : `could not start ${argv[0]}: ${spawnError.message}`,
            ),
          });
          return;
        }
        resolve({
          exitCode: code,
          startedAt,
          finishedAt,
          stdout: stdout.contents(scrub),
          stderr: stderr.text(scrub) + (sig && !entry.cancelled ? `\n[agora: worker killed by ${sig}]\n` : ''),
          ...(entry.cancelled ? { cancelled: true } : {}),
        });
      };
      child.once('close', (code, sig) => finish(code, sig));
    });
    this.running.set(id, entry);
    if (spec.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        entry.cancelled = true;
        entry.kill();
      }, spec.timeoutMs);
      timer.unref();
    }
    if (ctx.signal) {
      const onAbort = (): void => {
        entry.cancelled = true;
        entry.kill();
      };
      if (ctx.signal.aborted) onAbort();
      else ctx.signal.addEventListener('abort', onAbort, { once: true });
    }
    return { providerTaskId: id, pid: child.pid ?? null };
  }

  async awaitExit(handle: TaskHandle, _ctx?: ProviderContext): Promise<TaskExit> {
    const r = this.running.get(handle.providerTaskId);
    if (!r) throw new ValueError(`unknown or already collected task ${handle.providerTaskId}`);
    try {
      return await r.exit;
    } finally {
      // Kept until collected, so a worker that exits before awaitExit is called is not lost.
      this.running.delete(handle.providerTaskId);
    }
  }

  async cancel(handle: TaskHandle, _ctx?: ProviderContext): Promise<void> {
    const r = this.running.get(handle.providerTaskId);
    if (!r) return;
    r.cancelled = true;
    r.kill();
    await r.exit;
  }

  async health(): Promise<ProviderHealth> {
    return { ok: true, message: `local processes (node ${process.version}, pid ${process.pid})` };
  }
}
