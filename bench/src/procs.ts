import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../apps/cli/dist/bin.js', import.meta.url));
export const RAW_WORKER = fileURLToPath(new URL('./raw-worker.js', import.meta.url));

/** A child process whose peak RSS we can read while it lives. */
export interface Proc {
  readonly child: ChildProcess;
  readonly name: string;
  peakRssMb(): number;
  stop(): Promise<void>;
}

/** Starts a node script; resolves once `ready` appears on its stdout/stderr. */
export function startNode(name: string, args: readonly string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<Proc> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
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
    const onData = (d: Buffer): void => {
      seen += d.toString();
      if (seen.length > 100_000) seen = seen.slice(-50_000);
      if (ready.test(seen)) resolve(proc);
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
