/**
 * The processes under test: a private redis-server (AOF) and `agora serve` / `agora runner`
 * children, each logging to its own file. Every exit the harness did not cause is recorded as a
 * crash, with the tail of the process's stderr, because a process that dies by itself is one of
 * the things the suite exists to catch.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, readdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedisServer, type RedisServerHandle } from '@agora/state';

export const CLI = fileURLToPath(new URL('../../apps/cli/dist/bin.js', import.meta.url));

export type Role = 'redis' | 'scheduler' | 'runner';

/** One process the harness started, alive or not. */
export interface ProcRecord {
  readonly name: string;
  readonly role: Role;
  readonly pid: number;
  readonly startedAt: number;
  readonly logFile: string;
  exitedAt?: number;
  code?: number | null;
  signal?: string | null;
  /** Set before the harness signals the process: its exit is then not a crash. */
  expectedBy?: string;
  /** Last lines of stderr (and stdout), newest last. */
  readonly tail: string[];
  /** Lines `[ioredis] Unhandled error event` seen on its output. */
  unhandledRedisErrors: number;
  /** Its ready line was seen: only ready processes are picked for faults. */
  ready: boolean;
}

export interface Crash {
  readonly name: string;
  readonly role: Role;
  readonly pid: number;
  readonly at: number;
  readonly code: number | null;
  readonly signal: string | null;
  readonly stderrTail: string[];
  /** The first error with its stack frames found in the tail, if any. */
  readonly stack: string | null;
}

const TAIL_LINES = 60;

/** The first `SomethingError: ...` line and the `at ...` frames after it. */
export function extractStack(lines: readonly string[]): string | null {
  for (let i = 0; i < lines.length; i++) {
    if (!/\b(\w*Error|Exception)\b.*:/.test(lines[i]!) || lines[i]!.startsWith('{')) continue;
    const out = [lines[i]!];
    for (let j = i + 1; j < lines.length && /^\s+at |^\s*\^|^\s*$/.test(lines[j]!); j++) if (lines[j]!.trim() !== '') out.push(lines[j]!);
    // A node crash prints the source line and a caret first; the frames follow.
    if (out.length > 1 || i === lines.length - 1) return out.join('\n');
  }
  // A structured log line (JSON) saying why: keep the last error-level one.
  for (let i = lines.length - 1; i >= 0; i--) if (/"level":"error"/.test(lines[i]!)) return lines[i]!;
  return null;
}

/** pid -> parent pid of every process, from /proc. */
function parentMap(): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(e), Number(rest[1]));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Every live descendant of `pid` (children, grandchildren, ...). */
export function descendants(pid: number): number[] {
  const parents = parentMap();
  const out: number[] = [];
  const frontier = [pid];
  while (frontier.length > 0) {
    const p = frontier.pop()!;
    for (const [child, parent] of parents) {
      if (parent === p) {
        out.push(child);
        frontier.push(child);
      }
    }
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const signalQuietly = (pid: number, sig: NodeJS.Signals): void => {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
};

export interface FleetOptions {
  readonly dir: string;
  readonly logDir: string;
  readonly env: NodeJS.ProcessEnv;
  /** Called for every crash (after it is recorded), e.g. to start a replacement. */
  readonly onCrash: (crash: Crash, rec: ProcRecord) => void;
  readonly log: (msg: string) => void;
}

interface Live {
  readonly rec: ProcRecord;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
}

export class Fleet {
  readonly records: ProcRecord[] = [];
  readonly crashes: Crash[] = [];
  private readonly live = new Map<string, Live>();
  private readonly streams: WriteStream[] = [];
  private redis: RedisServerHandle | undefined;
  private redisRec: ProcRecord | undefined;
  private counter = new Map<Role, number>();
  stopping = false;
  /** Environment of the agora processes; set once Redis's URL is known. */
  env: NodeJS.ProcessEnv;

  constructor(private readonly opts: FleetOptions) {
    this.env = opts.env;
  }

  private nextName(role: Role): string {
    const n = (this.counter.get(role) ?? 0) + 1;
    this.counter.set(role, n);
    return `${role}-${n}`;
  }

  private track(rec: ProcRecord, child: ChildProcess, onLine?: (line: string) => void): Promise<void> {
    const out = createWriteStream(rec.logFile, { flags: 'a' });
    this.streams.push(out);
    const feed = (d: Buffer): void => {
      out.write(d);
      for (const line of d.toString().split('\n')) {
        if (line === '') continue;
        if (line.includes('[ioredis] Unhandled error event')) rec.unhandledRedisErrors++;
        rec.tail.push(line.length > 2000 ? line.slice(0, 2000) + '…' : line);
        if (rec.tail.length > TAIL_LINES) rec.tail.shift();
        onLine?.(line);
      }
    };
    child.stdout?.on('data', feed);
    child.stderr?.on('data', feed);
    return new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        rec.exitedAt = Date.now();
        rec.code = code;
        rec.signal = signal;
        // Let the last output drain into the tail before judging.
        setTimeout(() => {
          if (rec.expectedBy === undefined && !this.stopping) {
            const crash: Crash = {
              name: rec.name,
              role: rec.role,
              pid: rec.pid,
              at: rec.exitedAt!,
              code,
              signal,
              stderrTail: [...rec.tail].slice(-25),
              stack: extractStack(rec.tail),
            };
            this.crashes.push(crash);
            this.opts.log(`CRASH: ${rec.name} (pid ${rec.pid}) exited by itself: code=${code} signal=${signal}`);
            this.opts.onCrash(crash, rec);
          }
          resolve();
        }, 50);
      });
    });
  }

  /** Starts `agora <args>` and resolves once `ready` appears in its output. */
  async startAgora(role: 'scheduler' | 'runner', args: readonly string[], ready: RegExp): Promise<ProcRecord> {
    const name = this.nextName(role);
    const child = spawn(process.execPath, [CLI, ...args], { cwd: this.opts.dir, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const rec: ProcRecord = {
      name,
      role,
      pid: child.pid ?? -1,
      startedAt: Date.now(),
      logFile: path.join(this.opts.logDir, `${name}.log`),
      tail: [],
      unhandledRedisErrors: 0,
      ready: false,
    };
    this.records.push(rec);
    let isReady = false;
    let markReady: () => void = () => undefined;
    const readyP = new Promise<void>((r) => (markReady = r));
    const exited = this.track(rec, child, (line) => {
      if (!isReady && ready.test(line)) {
        isReady = true;
        rec.ready = true;
        markReady();
      }
    });
    this.live.set(name, { rec, child, exited });
    void exited.then(() => this.live.delete(name));
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000).unref());
    const r = await Promise.race([readyP.then(() => 'ready' as const), exited.then(() => 'exited' as const), timeout]);
    if (r !== 'ready') this.opts.log(`${name} (pid ${rec.pid}) ${r === 'exited' ? 'exited before it was ready' : 'was not ready within 30 s'}`);
    else this.opts.log(`${name} started (pid ${rec.pid})`);
    return rec;
  }

  async startRedis(opts: { port?: number; dir: string }): Promise<RedisServerHandle> {
    const handle = await startRedisServer({ appendOnly: true, dir: opts.dir, ...(opts.port !== undefined ? { port: opts.port } : {}) });
    const rec: ProcRecord = {
      name: this.nextName('redis'),
      role: 'redis',
      pid: handle.process.pid ?? -1,
      startedAt: Date.now(),
      logFile: path.join(this.opts.logDir, 'redis.log'),
      tail: [],
      unhandledRedisErrors: 0,
      ready: false,
    };
    rec.ready = true;
    this.records.push(rec);
    const exited = this.track(rec, handle.process);
    this.live.set(rec.name, { rec, child: handle.process, exited });
    void exited.then(() => this.live.delete(rec.name));
    this.redis = handle;
    this.redisRec = rec;
    return handle;
  }

  /** SIGTERM to redis-server (it writes its AOF and exits), waits for the exit. */
  async stopRedis(reason: string): Promise<void> {
    if (!this.redis || !this.redisRec) return;
    this.redisRec.expectedBy = reason;
    await this.redis.stop();
    await this.live.get(this.redisRec.name)?.exited;
  }

  /** Live processes of a role that have said they are ready. */
  alive(role: Role): ProcRecord[] {
    return [...this.live.values()].filter((l) => l.rec.role === role && l.rec.exitedAt === undefined && l.rec.ready).map((l) => l.rec);
  }

  /**
   * SIGKILLs a process and every process below it (a runner and its workers, as when its host
   * dies). The root is stopped first so it cannot spawn a worker we would miss. Returns the pids
   * killed besides the root, with the time.
   */
  async killTree(rec: ProcRecord, reason: string): Promise<{ at: number; descendants: number[] }> {
    rec.expectedBy = reason;
    signalQuietly(rec.pid, 'SIGSTOP');
    const below = descendants(rec.pid);
    for (const p of below) signalQuietly(p, 'SIGKILL');
    signalQuietly(rec.pid, 'SIGKILL');
    const at = Date.now();
    await this.live.get(rec.name)?.exited;
    return { at, descendants: below };
  }

  /** SIGKILLs only the process itself: its workers, in their own process groups, live on. */
  async killOne(rec: ProcRecord, reason: string): Promise<{ at: number; descendants: number[] }> {
    rec.expectedBy = reason;
    const below = descendants(rec.pid);
    signalQuietly(rec.pid, 'SIGKILL');
    const at = Date.now();
    await this.live.get(rec.name)?.exited;
    return { at, descendants: below };
  }

  /** SIGSTOPs a process and its descendants; returns a function that SIGCONTs them all. */
  stopTree(rec: ProcRecord): { pids: number[]; resume: () => void } {
    signalQuietly(rec.pid, 'SIGSTOP');
    const below = descendants(rec.pid);
    for (const p of below) signalQuietly(p, 'SIGSTOP');
    return {
      pids: below,
      resume: () => {
        for (const p of below) signalQuietly(p, 'SIGCONT');
        signalQuietly(rec.pid, 'SIGCONT');
      },
    };
  }

  /** SIGTERM to every agora process, then redis; SIGKILL after `graceMs`. Returns the slow ones. */
  async stopAll(graceMs: number): Promise<string[]> {
    this.stopping = true;
    const slow: string[] = [];
    const agora = [...this.live.values()].filter((l) => l.rec.role !== 'redis');
    await Promise.all(
      agora.map(async (l) => {
        l.rec.expectedBy ??= 'shutdown';
        signalQuietly(l.rec.pid, 'SIGCONT');
        signalQuietly(l.rec.pid, 'SIGTERM');
        const t = setTimeout(() => {
          slow.push(l.rec.name);
          for (const p of descendants(l.rec.pid)) signalQuietly(p, 'SIGKILL');
          signalQuietly(l.rec.pid, 'SIGKILL');
        }, graceMs);
        await l.exited;
        clearTimeout(t);
      }),
    );
    await this.stopRedis('shutdown').catch(() => undefined);
    await Promise.all(this.streams.map((s) => new Promise<void>((r) => s.end(() => r()))));
    return slow;
  }
}
