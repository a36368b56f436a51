import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../apps/cli/dist/bin.js', import.meta.url));
export const RAW_WORKER = fileURLToPath(new URL('./raw-worker.js', import.meta.url));
/** Preloaded into every child: counts the Redis commands it sends (see count-preload.ts). */
const COUNT_PRELOAD = new URL('./count-preload.js', import.meta.url).href;

/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`; 100 on Linux almost always). */
export const CLK_TCK = ((): number => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** A child process whose peak RSS, CPU time and Redis commands sent we can read while it lives. */
export interface Proc {
  readonly child: ChildProcess;
  readonly name: string;
  peakRssMb(): number;
  /** User + system CPU of the whole process (all threads) so far, in ms; NaN once it has exited. */
  cpuMs(): number;
  /** Redis commands it has sent so far (client-side count, see command-count.ts), and by kind
   * with BENCH_COMMAND_NAMES. */
  commandsSent(): Promise<{ total: number; byKind: Record<string, number> | null }>;
  stop(): Promise<void>;
}

/** utime + stime (fields 14 and 15) of /proc/<pid>/stat, in ms. Fields are read after the
 * command name's closing parenthesis, since the name may contain spaces. */
export function procCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Starts a node script; resolves once `ready` appears on its stdout/stderr. */
export function startNode(name: string, args: readonly string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', COUNT_PRELOAD, ...args], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let seen = '';
  let peak = 0;
  const sample = (): void => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]) / 1024);
    } catch {
      // exited
    }
  };
  const timer = setInterval(sample, 250);
  const proc: Proc = {
    child,
    name,
    peakRssMb: () => {
      sample();
      return Math.round(peak);
    },
    cpuMs: () => (child.pid === undefined ? NaN : procCpuMs(child.pid)),
    commandsSent: () =>
      new Promise((resolve, reject) => {
        const onMessage = (m: unknown): void => {
          const reply = m as { benchCommands?: unknown; byKind?: Record<string, number> | null } | null;
          if (typeof reply?.benchCommands !== 'number') return;
          clearTimeout(t);
          child.off('message', onMessage);
          resolve({ total: reply.benchCommands, byKind: reply.byKind ?? null });
        };
        const t = setTimeout(() => {
          child.off('message', onMessage);
          reject(new Error(`${name} did not report its Redis command count within 5 s`));
        }, 5_000);
        child.on('message', onMessage);
        child.send('bench:commands');
      }),
    async stop() {
      sample();
      clearInterval(timer);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
  return new Promise((resolve, reject) => {
    // Until ready, the output is searched for the ready line; after it, only a short tail is kept
    // (for an exit message), so the harness spends next to no CPU on a process's logs while the
    // scenarios run: it shares the machine with the processes it measures.
    let isReady = false;
    const onData = (d: Buffer): void => {
      seen += d.toString();
      if (isReady) {
        if (seen.length > 8_000) seen = seen.slice(-4_000);
        return;
      }
      if (seen.length > 100_000) seen = seen.slice(-50_000);
      if (ready.test(seen)) {
        isReady = true;
        resolve(proc);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}: ${seen.slice(-2000)}`)));
    setTimeout(() => reject(new Error(`${name} not ready within 30 s: ${seen.slice(-2000)}`)), 30_000).unref();
  });
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
