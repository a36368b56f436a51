import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { testRedisUrl, uniqueNamespace } from './index.js';

export const BIN = fileURLToPath(new URL('../../apps/cli/dist/bin.js', import.meta.url));

export interface CliEnv {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly namespace: string;
  /** Runs `agora <args>` to completion. */
  agora(args: readonly string[], opts?: { input?: string; timeoutMs?: number }): { code: number | null; stdout: string; stderr: string };
  /** Starts a long-running verb; resolves once its ready line appears on stderr/stdout. */
  start(args: readonly string[], ready: RegExp): Promise<ChildProcess>;
  writeJson(name: string, value: unknown): string;
  close(): Promise<void>;
}

/** A temp dir with a config file, and a namespace of its own on the test Redis. */
export function cliEnv(config: Record<string, unknown> = {}): CliEnv {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-cli-'));
  const namespace = uniqueNamespace('c');
  writeFileSync(path.join(dir, 'agora.config.json'), JSON.stringify({ namespace, ...config }));
  // XDG_STATE_HOME of its own: an `agora dev` of one test never leaves its per-user pointer where another test's verbs look.
  const env = { ...process.env, REDIS_URL: testRedisUrl(), AGORA_DATA_DIR: path.join(dir, '.agora'), AGORA_LOG_LEVEL: 'info', XDG_STATE_HOME: path.join(dir, '.state') };
  const children: ChildProcess[] = [];
  return {
    dir,
    env,
    namespace,
    agora(args, opts = {}) {
      const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: 'utf8', input: opts.input ?? '', timeout: opts.timeoutMs ?? 120_000, maxBuffer: 512 * 1024 * 1024 });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    start(args, ready) {
      const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      return new Promise((resolve, reject) => {
        let seen = '';
        const onData = (d: Buffer): void => {
          seen += d.toString();
          if (ready.test(seen)) resolve(child);
        };
        child.stdout!.on('data', onData);
        child.stderr!.on('data', onData);
        child.once('exit', (code) => reject(new Error(`agora ${args.join(' ')} exited with ${code}: ${seen}`)));
        setTimeout(() => reject(new Error(`agora ${args.join(' ')} not ready in 20 s: ${seen}`)), 20_000).unref();
      });
    },
    writeJson(name, value) {
      const p = path.join(dir, name);
      writeFileSync(p, typeof value === 'string' ? value : JSON.stringify(value));
      return p;
    },
    async close() {
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((r) => {
              if (c.exitCode !== null || c.signalCode !== null) return r();
              c.once('exit', () => r());
              c.kill('SIGTERM');
              setTimeout(() => c.kill('SIGKILL'), 10_000).unref();
            }),
        ),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `agora fleet autoscale --json` running as a child: its decisions (stdout JSON lines), its stderr so far, its exit. */
export interface AutoscaleChild {
  readonly child: ChildProcess;
  lines(): Array<Record<string, unknown>>;
  stderr(): string;
  readonly exited: Promise<number | null>;
}

export function spawnAutoscale(e: { readonly dir: string; readonly env: NodeJS.ProcessEnv }): AutoscaleChild {
  const child = spawn(process.execPath, [BIN, 'fleet', 'autoscale', '--json'], { cwd: e.dir, env: e.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    lines: () => out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>),
    stderr: () => err,
    exited,
  };
}
