import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { IllegalStateError, ValueError } from '@agora/core';

export interface RedisServerOptions {
  /** @default a free port */
  readonly port?: number;
  /** Keep an append-only file so a restart loses nothing. @default false */
  readonly appendOnly?: boolean;
  /** Directory for the AOF/RDB files. @default a new temp dir, removed on stop */
  readonly dir?: string;
  /** @default "redis-server" from PATH */
  readonly binary?: string;
  /**
   * Require this password (`requirepass`). It is handed to redis-server on its stdin, never on
   * its command line, which every local user can read. `url` then carries it.
   * @default none: any local process may connect
   */
  readonly password?: string;
  /**
   * Serve TLS only: `port` becomes the TLS port and there is no plain-text port. Clients are
   * not asked for a certificate (`--tls-auth-clients no`); they authenticate with ACL users.
   */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
  /** Load users from this ACL file (`aclfile`). @default none */
  readonly aclFile?: string;
}

export interface RedisServerHandle {
  /**
   * `redis://127.0.0.1:<port>` (`rediss://` with `tls`), with `:<password>@` when one is
   * required: keep it private.
   */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/** Asks the OS for a free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export function findRedisServer(binary = 'redis-server'): string | null {
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? binary : null;
}

/** Resolves once something listens on `127.0.0.1:<port>`; rejects after `timeoutMs`. */
export function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const sock = net.connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve();
      });
      sock.once('error', () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new IllegalStateError(`redis-server did not listen on port ${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 25);
      });
    };
    attempt();
  });
}

/**
 * Starts a private `redis-server` child on loopback. Used by `agora dev` when REDIS_URL is
 * unset and by the test setup. `noeviction` is set because evicting a queue key loses jobs.
 */
export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServerHandle> {
  const binary = opts.binary ?? 'redis-server';
  if (opts.password !== undefined && (!/^[\x21-\x7e]{16,}$/.test(opts.password) || /["\\]/.test(opts.password))) {
    throw new ValueError('the private Redis password must be 16+ printable characters without quotes or backslashes');
  }
  if (!findRedisServer(binary)) {
    throw new IllegalStateError(
      `redis-server was not found on PATH. Install it (Debian/Ubuntu: "apt-get install -y redis-server") or set REDIS_URL to a running Redis.`,
    );
  }
  const port = opts.port ?? (await freePort());
  const ownDir = opts.dir === undefined;
  // An explicit dir is the caller's: it survives stop(), so a restart on it replays the AOF.
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'agora-redis-'));
  const args = [
    // '-' reads the config from stdin first: the only place for the password.
    ...(opts.password === undefined ? [] : ['-']),
    ...(opts.tls
      ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', opts.tls.certFile, '--tls-key-file', opts.tls.keyFile, '--tls-ca-cert-file', opts.tls.caFile, '--tls-auth-clients', 'no']
      : ['--port', String(port)]),
    ...(opts.aclFile === undefined ? [] : ['--aclfile', opts.aclFile]),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', opts.appendOnly ? 'yes' : 'no',
    '--appendfsync', 'everysec',
    '--maxmemory-policy', 'noeviction',
    '--daemonize', 'no',
    '--loglevel', 'warning',
  ];
  const child = spawn(binary, args, { stdio: [opts.password === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'] });
  if (opts.password !== undefined) child.stdin?.end(`requirepass "${opts.password}"\n`);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await Promise.race([
      waitForPort(port, 10_000),
      new Promise((_, reject) =>
        child.once('exit', (code) => reject(new IllegalStateError(`redis-server exited with code ${code}: ${stderr.trim()}`))),
      ),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    url: `${opts.tls ? 'rediss' : 'redis'}://${opts.password === undefined ? '' : `:${encodeURIComponent(opts.password)}@`}127.0.0.1:${port}`,
    port,
    dir,
    process: child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(t);
      }
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
