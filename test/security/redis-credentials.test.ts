import { readFileSync, readdirSync, statSync } from 'node:fs';
import { inspect } from 'node:util';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { AgoraError } from '@agora/core';
import { AgoraClient } from '@agora/sdk';
import { freePort, startRedisServer, type RedisServerHandle } from '@agora/state';
import { cliEnv, type CliEnv } from '../support/cli.js';

/**
 * Item 5 of the trust-boundary issue: a Redis password is never printed, logged or written where
 * others can read it. Passwords hold '@' (the old URL mask cut at the first '@' and showed the
 * rest) and a canary suffix, so a leak of any tail of them is caught too.
 */

const RIGHT = 'right@pw-Kq7Zr3';
const WRONG = 'wrong@pw-Xv9Lm2';
const TAILS = [RIGHT, WRONG, 'pw-Kq7Zr3', 'pw-Xv9Lm2'];
const enc = encodeURIComponent;

const servers: RedisServerHandle[] = [];
const envs: CliEnv[] = [];
afterAll(async () => {
  for (const e of envs) await e.close();
  for (const s of servers) await s.stop();
});

/** A real redis-server on a free loopback port that requires `RIGHT` (set after start, so any version of startRedisServer will do). */
async function passwordRedis(): Promise<RedisServerHandle> {
  const s = await startRedisServer();
  servers.push(s);
  const admin = new Redis(s.url, { maxRetriesPerRequest: 1 });
  await admin.config('SET', 'requirepass', RIGHT);
  admin.disconnect();
  return s;
}

function env(config: Record<string, unknown> = {}): CliEnv {
  const e = cliEnv({ queues: { default: { concurrency: 2 } }, ...config });
  envs.push(e);
  return e;
}

function expectNoSecret(text: string, secrets: readonly string[] = TAILS): void {
  for (const s of secrets) {
    expect(text, `output holds "${s}"`).not.toContain(s);
    expect(text, `output holds "${enc(s)}"`).not.toContain(enc(s));
  }
}

const plan = { id: 'cred', queue: 'default', items: [{ id: 'a', executor: 'noop', inputs: {}, depends_on: [], resourceLocks: [] }] };

/** Collects a child's stdout and stderr from now on. */
function collect(child: ChildProcess): { text: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return { text: () => out + err, stderr: () => err };
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  });
}

describe('Redis credentials are never printed', () => {
  it('redactRedisUrl hides user:pass, a password holding "@", ?password= and rediss:// passwords', async () => {
    // Imported here, so that before the fix (no such export) only this test fails.
    const { redactRedisUrl } = (await import('@agora/core')) as { redactRedisUrl?: (u: string) => string };
    expect(typeof redactRedisUrl).toBe('function');
    const r = redactRedisUrl!;
    const cases: Array<[string, string]> = [
      ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
      ['redis://:s3cret@10.0.0.5:6380/2', 'redis://***@10.0.0.5:6380/2'],
      ['redis://app:s3cret@redis.internal:6379', 'redis://app:***@redis.internal:6379'],
      ['redis://:p@ss@w0rd-tail@db.example:6379/0', 'redis://***@db.example:6379/0'],
      ['redis://:p%40ss@db.example:6379', 'redis://***@db.example:6379'],
      ['rediss://default:tls-s3cret@cache.example.com:6380', 'rediss://default:***@cache.example.com:6380'],
      ['redis://db.example:6379/1?password=q-s3cret&family=6', 'redis://db.example:6379/1?password=***&family=6'],
      ['redis://db.example:6379?username=app&password=q-s3cret', 'redis://db.example:6379?username=app&password=***'],
      // A lone user part is where people put a password without the ':'.
      ['redis://s3cret@db.example:6379', 'redis://***@db.example:6379'],
    ];
    for (const [input, shown] of cases) expect(r(input), input).toBe(shown);
    // Whatever the input, no secret survives, and nothing throws.
    for (const bad of ['redis://:s3cret@bad host:6379', 'not a url s3cret', '', 'redis://:s3cret@[::1', '/tmp/redis.sock?password=s3cret']) {
      expect(r(bad), bad).not.toContain('s3cret');
    }
  });

  it('a wrong password: serve, submit and status exit 3 with an authentication message and never print it', async () => {
    const s = await passwordRedis();
    const e = env();
    e.env['REDIS_URL'] = `redis://:${enc(WRONG)}@127.0.0.1:${s.port}`;
    const file = e.writeJson('plan.json', plan);
    for (const args of [['status', 'r0000000000abcdef'], ['submit', file], ['serve'], ['runner']]) {
      const r = e.agora(args, { timeoutMs: 30_000 });
      const out = r.stdout + r.stderr;
      expectNoSecret(out);
      expect(r.code, `${args[0]}: ${out}`).toBe(3);
      expect(out, args[0]).toMatch(/Redis authentication failed at redis:\/\/\*\*\*@127\.0\.0\.1:\d+.*\(check the password in REDIS_URL\)/);
      expect(out).not.toMatch(/Connection is closed/);
    }
    // No password at all against a Redis that needs one: the same report.
    e.env['REDIS_URL'] = s.url;
    const r = e.agora(['status', 'r0000000000abcdef']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/Redis authentication failed/);
  });

  it('the SDK with a wrong password rejects with a typed authentication error that holds no password', async () => {
    const s = await passwordRedis();
    const written: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      written.push(String(chunk));
      return orig(chunk, ...rest);
    }) as typeof process.stderr.write;
    const origError = console.error;
    console.error = (...args: unknown[]) => written.push(args.map((a) => inspect(a)).join(' '));
    try {
      const client = new AgoraClient({ redisUrl: `redis://:${enc(WRONG)}@127.0.0.1:${s.port}`, namespace: 'credsdk', timeoutMs: 1500 } as ConstructorParameters<typeof AgoraClient>[0]);
      const err = await client.status('r0000000000abcdef').then(
        () => undefined,
        (x: unknown) => x,
      );
      await client.close();
      expect(err).toBeInstanceOf(AgoraError);
      expect((err as AgoraError).code).toBe('UNAVAILABLE');
      // The same password fails the same way: not worth retrying as it is.
      expect((err as AgoraError).retryable).toBe(false);
      expect((err as Error).message).toMatch(/Redis authentication failed at redis:\/\/\*\*\*@127\.0\.0\.1:\d+.*\(check the password in REDIS_URL\)/);
      expectNoSecret(inspect(err, { depth: 10 }));
    } finally {
      process.stderr.write = orig;
      console.error = origError;
    }
    expectNoSecret(written.join(''));
  });

  it('a password rotated under a running scheduler, runner and dashboard is never printed; each report is one JSON line', async () => {
    const s = await passwordRedis();
    const e = env();
    e.env['REDIS_URL'] = `redis://:${enc(RIGHT)}@127.0.0.1:${s.port}`;
    const procs = [
      await e.start(['serve'], /scheduler serving/),
      await e.start(['runner', '--concurrency', '1'], /runner started/),
      await e.start(['dashboard', '--port', '0'], /\/queues/),
    ];
    const outs = procs.map(collect);
    const admin = new Redis(`redis://:${enc(RIGHT)}@127.0.0.1:${s.port}`, { maxRetriesPerRequest: 1 });
    await admin.config('SET', 'requirepass', 'rotated-pw-Hh5Tn8');
    admin.disconnect();
    const admin2 = new Redis(`redis://:rotated-pw-Hh5Tn8@127.0.0.1:${s.port}`, { maxRetriesPerRequest: 1 });
    await admin2.client('KILL', 'TYPE', 'normal');
    admin2.disconnect();
    await new Promise((r) => setTimeout(r, 5000));
    await Promise.all(procs.map(stop));
    for (const o of outs) {
      const text = o.text();
      expectNoSecret(text);
      expect(text).not.toMatch(/command: \{|args: \[/);
      // stderr is the log: one JSON object per line (stdout holds command output, such as the dashboard's URL).
      for (const line of o.stderr().split('\n').filter((l) => l.trim() !== '')) {
        expect(() => JSON.parse(line) as unknown, line).not.toThrow();
      }
      expect(text).toMatch(/WRONGPASS|authentication/);
    }
  }, 90_000);

  it('the unreachable-Redis message masks a password holding "@" and a ?password= parameter', async () => {
    const port = await freePort();
    const e = env();
    for (const url of [`redis://:${WRONG}@127.0.0.1:${port}/0`, `redis://127.0.0.1:${port}/0?password=${enc(WRONG)}`]) {
      e.env['REDIS_URL'] = url;
      const r = e.agora(['status', 'r0000000000abcdef']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/cannot reach Redis at redis:\/\/.*127\.0\.0\.1/);
      expectNoSecret(r.stdout + r.stderr);
    }
  });

  it('an unparsable REDIS_URL exits 2 with a clear message that does not echo it', () => {
    const e = env();
    e.env['REDIS_URL'] = `redis://:${enc(WRONG)}@bad host:6379`;
    const file = e.writeJson('plan.json', plan);
    for (const args of [['status', 'r0000000000abcdef'], ['submit', file], ['serve']]) {
      const r = e.agora(args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/REDIS_URL is not a valid Redis URL/);
      expectNoSecret(r.stdout + r.stderr);
    }
  });

  it('agora dev with an external REDIS_URL: no password on stdout/stderr or in a readable dev.json; other verbs still find Redis', async () => {
    const s = await passwordRedis();
    const e = env();
    const url = `redis://:${enc(RIGHT)}@127.0.0.1:${s.port}`;
    e.env['REDIS_URL'] = url;
    const dev = await e.start(['dev', '--runners', '0', '--port', '0'], /agora dev is up/);
    const out = collect(dev);
    const dataDir = String(e.env['AGORA_DATA_DIR']);
    const devJson = path.join(dataDir, 'dev.json');
    const text = readFileSync(devJson, 'utf8');
    expectNoSecret(text);
    expect(statSync(devJson).mode & 0o777).toBe(0o600);
    expect(text).toContain(`127.0.0.1:${s.port}`);
    assertSecretFilesPrivate(dataDir, RIGHT, devJson);
    // Another verb, without REDIS_URL, reaches the same Redis through what dev wrote.
    delete e.env['REDIS_URL'];
    const sub = e.agora(['submit', e.writeJson('plan.json', plan)]);
    expect(sub.code, sub.stderr).toBe(0);
    const st = e.agora(['status', sub.stdout.trim()]);
    expect(st.code, st.stderr).toBe(0);
    expectNoSecret(sub.stdout + sub.stderr + st.stdout + st.stderr);
    await stop(dev);
    expectNoSecret(out.text());
  }, 60_000);

  it("agora dev's private redis-server requires a random password, listens on 127.0.0.1 only, and the password is not on its command line", async () => {
    const e = env();
    delete e.env['REDIS_URL'];
    let seen = '';
    const dev = await e.start(['dev', '--runners', '0', '--port', '0'], /agora dev is up/);
    dev.stdout?.on('data', (d: Buffer) => (seen += d.toString()));
    const dataDir = String(e.env['AGORA_DATA_DIR']);
    const devText = readFileSync(path.join(dataDir, 'dev.json'), 'utf8');
    const port = Number(/127\.0\.0\.1:(\d+)/.exec(devText)?.[1]);
    expect(port).toBeGreaterThan(0);
    // Without the password Redis refuses every command.
    const anon = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    anon.on('error', () => undefined);
    await expect(anon.ping()).rejects.toThrow(/NOAUTH/);
    anon.disconnect();
    // Loopback only: every listening socket on that port is bound to 127.0.0.1.
    const listeners = listeningAddresses(port);
    expect(listeners.length).toBeGreaterThan(0);
    expect(listeners.every((a) => a === '127.0.0.1'), listeners.join(',')).toBe(true);
    // Other verbs find it (and its password) through what dev wrote.
    const sub = e.agora(['submit', e.writeJson('plan.json', plan)]);
    expect(sub.code, sub.stderr).toBe(0);
    // The password is only in private files, never in dev.json nor a process's command line.
    const password = findPassword(dataDir, port);
    expect(password.length).toBeGreaterThanOrEqual(24);
    expectNoSecret(devText, [password]);
    assertSecretFilesPrivate(dataDir, password, path.join(dataDir, 'dev.json'));
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      expect(cmdline, `pid ${pid}`).not.toContain(password);
    }
    await stop(dev);
    expectNoSecret(seen, [password]);
  }, 60_000);
});

/** Every file under `dir` that holds `secret` is mode 0600, and `forbidden` is not one of them. */
function assertSecretFilesPrivate(dir: string, secret: string, forbidden: string): void {
  const walk = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((ent) => (ent.isDirectory() ? walk(path.join(d, ent.name)) : [path.join(d, ent.name)]));
  for (const f of walk(dir)) {
    if (!readFileSync(f).includes(secret)) continue;
    expect(f).not.toBe(forbidden);
    expect(statSync(f).mode & 0o777, f).toBe(0o600);
  }
}

/** The password of the private Redis on `port`, from the private files `agora dev` wrote. */
function findPassword(dir: string, port: number): string {
  for (const name of readdirSync(dir)) {
    const f = path.join(dir, name);
    if (!statSync(f).isFile()) continue;
    const m = new RegExp(`redis://:([^@]+)@127\\.0\\.0\\.1:${port}`).exec(readFileSync(f, 'utf8'));
    if (m) return decodeURIComponent(m[1]!);
  }
  throw new Error(`no file under ${dir} names the password of the Redis on port ${port}`);
}

/** Local addresses (IPv4 dotted or IPv6 hex) of sockets listening on `port`, from /proc/net. */
function listeningAddresses(port: number): string[] {
  const out: string[] = [];
  for (const [file, v6] of [['/proc/net/tcp', false], ['/proc/net/tcp6', true]] as const) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== '0A') continue; // 0A = LISTEN
      const [addr, p] = cols[1]!.split(':');
      if (parseInt(p!, 16) !== port) continue;
      if (v6) out.push(addr!);
      else out.push(Buffer.from(addr!, 'hex').reverse().join('.'));
    }
  }
  return out;
}
