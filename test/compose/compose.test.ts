import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';

/**
 * The compose topology (docker-compose.yml) brought up for real under Podman with
 * podman-compose: Redis with the per-role ACL users, two schedulers, three runner containers, the
 * dashboard, and the s3 service (results and audit anchors in s3rver). A plan is submitted
 * through the dashboard's API, one runner container is SIGKILLed while it runs items, and the
 * run must still succeed with every item done. Run by `npm run test:compose`
 * (scripts/test-compose.sh builds the images offline and passes their names).
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROJECT = `agoracompose${randomBytes(3).toString('hex')}`;
const ITEMS = 30;
const SLEEP_MS = 4000;

function requireEnv(name: string): string {
  const v = process.env[name];
  // A missing part is a failure, never a skip: run this through `npm run test:compose`.
  if (v === undefined || v === '') throw new Error(`${name} is not set: run this test with npm run test:compose`);
  return v;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}
function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 180_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(cmd, [...args], { cwd: ROOT, env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
/** Progress on stderr: where the time goes when this runs for minutes. */
const step = (msg: string): void => void process.stderr.write(`[compose e2e +${((Date.now() - t0) / 1000).toFixed(1)} s] ${msg}\n`);

interface RunEvent {
  seq: number;
  type: string;
  itemId?: string;
  state?: string;
  runner?: string;
}

const env: NodeJS.ProcessEnv = { ...process.env };
const secretsDir = path.join(mkdtempSync(path.join(os.tmpdir(), 'agora-compose-')), 'secrets');
const secretFile = (name: string): string => readFileSync(path.join(secretsDir, name), 'utf8').trim();
let dashboard = '';
let apiKey = '';
const ctr = (service: string, n = 1): string => `${PROJECT}_${service}_${n}`;

async function compose(args: readonly string[], timeoutMs = 180_000): Promise<Ran> {
  return run('podman-compose', ['-p', PROJECT, '-f', path.join(ROOT, 'docker-compose.yml'), ...args], env, timeoutMs);
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(1000);
  }
}

/**
 * Reads the run's Server-Sent Events from the dashboard until the terminal run event (`onEvent`
 * returns true), then stops reading: breaking out of the loop cancels the body. (Aborting the
 * fetch from inside the loop instead left the iteration pending forever on Node 20.)
 */
async function streamEvents(runId: string, onEvent: (e: RunEvent) => boolean, signal: AbortSignal): Promise<void> {
  const res = await fetch(`${dashboard}/api/runs/${runId}/events`, { headers: { authorization: `Bearer ${apiKey}` }, signal });
  if (res.status !== 200 || !res.body) throw new Error(`events: HTTP ${res.status}`);
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body) {
    buf += decoder.decode(chunk as Uint8Array, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) !== -1) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = block.split('\n').find((l) => l.startsWith('data:'));
      if (data && onEvent(JSON.parse(data.slice(5)) as RunEvent)) return;
    }
  }
  throw new Error('the event stream ended before the run did');
}

beforeAll(async () => {
  for (const k of ['AGORA_IMAGE', 'AGORA_REDIS_IMAGE', 'AGORA_S3_IMAGE', 'CONTAINERS_CONF']) requireEnv(k);
  // The secrets as an operator makes them (scripts/compose-secrets.sh), in a directory of this run's own.
  const made = await run('bash', ['scripts/compose-secrets.sh'], { ...env, AGORA_SECRETS_DIR: secretsDir });
  if (made.code !== 0) throw new Error(`compose-secrets.sh failed (${made.code}): ${made.stderr}`);
  apiKey = secretFile('api-key');
  const port = await freePort();
  Object.assign(env, {
    AGORA_SECRETS_DIR: secretsDir,
    AGORA_DASHBOARD_PORT: String(port),
    AGORA_STORAGE: 's3',
    AGORA_ANCHOR: 's3',
    AGORA_S3_ACCESS_KEY_ID: 'S3RVER',
    AGORA_S3_SECRET_ACCESS_KEY: 'S3RVER',
    // A killed runner's jobs move to another after this (default 30 s), to keep the test short.
    AGORA_RUNNER_JOB_LOCK_MS: '8000',
  });
  dashboard = `http://127.0.0.1:${port}`;
  step(`podman-compose -p ${PROJECT} up -d`);
  const up = await compose(['up', '-d']);
  step('up');
  if (up.code !== 0) throw new Error(`podman-compose up failed (${up.code}): ${up.stderr.slice(-4000)}`);
}, 240_000);

afterAll(async () => {
  const down = await compose(['down', '-v'], 120_000);
  if (down.code !== 0) process.stderr.write(`podman-compose down: ${down.stderr.slice(-2000)}\n`);
  // podman-compose 1.0 leaves the project's network; remove it and anything else left.
  await run('podman', ['network', 'rm', '-f', `${PROJECT}_default`], env);
  const vols = await run('podman', ['volume', 'ls', '-q', '--filter', `label=io.podman.compose.project=${PROJECT}`], env);
  for (const v of vols.stdout.split('\n').filter(Boolean)) await run('podman', ['volume', 'rm', '-f', v], env);
  rmSync(path.dirname(secretsDir), { recursive: true, force: true });
}, 180_000);

describe('docker-compose.yml under Podman', () => {
  const containers = ['redis_1', 's3_1', 'scheduler_1', 'scheduler_2', 'runner_1', 'runner_2', 'runner_3', 'dashboard_1'];

  it('starts every service, and each passes its own healthcheck', async () => {
    const ps = await run('podman', ['ps', '--filter', `label=io.podman.compose.project=${PROJECT}`, '--format', '{{.Names}}'], env);
    expect(ps.stdout.split('\n').filter(Boolean).sort()).toEqual(containers.map((c) => `${PROJECT}_${c}`).sort());
    // Podman runs healthchecks on systemd timers, which this machine has not: run them here,
    // until each passes (a check right after start-up sometimes waits out its timeout).
    await Promise.all(
      containers.map((c) =>
        until(`${c} healthy`, 120_000, async () => {
          const h = await run('podman', ['healthcheck', 'run', `${PROJECT}_${c}`], env);
          if (h.code === 0) return true;
          step(`${c} not healthy yet: ${(h.stdout + h.stderr).trim().slice(0, 300)}`);
          return undefined;
        }),
      ),
    );
    step('every container healthy');
    // The image runs Node 24 as the unprivileged user `node`.
    const who = await run('podman', ['exec', ctr('runner', 1), 'node', '-e', 'process.stdout.write(`${process.version} ${process.getuid()}`)'], env);
    expect(who.stdout).toMatch(/^v24\.\d+\.\d+ 1000$/);
    // And a runner that is not running is not healthy: its check wants its own live registration.
    const other = await run('podman', ['exec', '-e', 'AGORA_HOST=not-this-container', ctr('runner', 1), 'node', '/app/apps/cli/dist/bin.js', 'health', '--runner'], env);
    expect(other.code).toBe(3);
  }, 200_000);

  it('keeps every password and the API key out of the containers\' environment (they are mounted files)', async () => {
    const secrets = ['redis-scheduler-password', 'redis-runner-password', 'redis-dashboard-password', 'redis-submitter-password', 'redis-admin-password', 'api-key'].map(secretFile);
    for (const s of secrets) expect(s).toMatch(/^[0-9a-f]{64}$/);
    for (const c of containers) {
      const inspected = await run('podman', ['inspect', '--format', '{{json .Config.Env}}', `${PROJECT}_${c}`], env);
      expect(inspected.code).toBe(0);
      for (const s of secrets) expect(inspected.stdout).not.toContain(s);
    }
    // The runner reads its password from the mounted file, readable by its own user.
    const mounted = await run('podman', ['exec', ctr('runner', 1), 'cat', '/run/secrets/redis-runner-password'], env);
    expect(mounted.stdout.trim()).toBe(secretFile('redis-runner-password'));
  }, 60_000);

  it('runs Redis with AOF, noeviction and the ACL users of deploy/redis-acl.conf', async () => {
    const cli = (...args: string[]) =>
      run('podman', ['exec', ctr('redis'), 'redis-cli', '--user', 'admin', '--pass', secretFile('redis-admin-password'), '--no-auth-warning', ...args], env);
    expect((await cli('config', 'get', 'appendonly')).stdout).toBe('appendonly\nyes\n');
    expect((await cli('config', 'get', 'maxmemory-policy')).stdout).toBe('maxmemory-policy\nnoeviction\n');
    expect((await cli('acl', 'users')).stdout.split('\n').filter(Boolean).sort()).toEqual(['admin', 'dashboard', 'default', 'runner', 'scheduler', 'submitter']);
    // The default user is off, and each service reaches Redis as its own user.
    expect((await run('podman', ['exec', ctr('redis'), 'redis-cli', 'ping'], env)).stdout).toMatch(/NOAUTH/);
    const clients = (await cli('client', 'list')).stdout;
    for (const user of ['scheduler', 'runner', 'dashboard']) expect(clients).toMatch(new RegExp(`user=${user} `));
    // The runner's user cannot touch keys outside the namespace.
    const runnerCli = await run('podman', ['exec', ctr('redis'), 'redis-cli', '--user', 'runner', '--pass', secretFile('redis-runner-password'), '--no-auth-warning', 'set', 'elsewhere', '1'], env);
    expect(runnerCli.stdout).toMatch(/NOPERM/);
  }, 60_000);

  it('runs a plan across the three runner containers and succeeds though one is killed mid-run', async () => {
    const hostOf = new Map<string, string>();
    for (const n of [1, 2, 3]) {
      const h = await run('podman', ['inspect', '--format', '{{.Config.Hostname}}', ctr('runner', n)], env);
      hostOf.set(h.stdout.trim(), ctr('runner', n));
    }
    expect(hostOf.size).toBe(3);

    const items: Array<Record<string, unknown>> = [];
    for (let i = 0; i < ITEMS; i++) items.push({ id: `sleep-${i}`, executor: 'noop', inputs: { sleepMs: SLEEP_MS, i }, depends_on: [] });
    // A worker process in a runner container that reads its dependencies' results from S3.
    items.push({ id: 'summary', executor: 'dispatch', inputs: { task: 'echo', workerInput: { items: ITEMS } }, depends_on: items.map((x) => x.id) });
    const submitted = await fetch(`${dashboard}/api/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({ id: 'compose-e2e', queue: 'default', items }),
    });
    expect(submitted.status).toBe(202);
    const { runId } = (await submitted.json()) as { runId: string };
    step(`submitted ${runId}`);

    const events: RunEvent[] = [];
    const running = new Map<string, string>(); // itemId -> runner of its latest start
    const ended = new Set<string>();
    const abort = new AbortController();
    let streamError: unknown;
    let runEnded = false;
    const stream = streamEvents(
      runId,
      (e) => {
        events.push(e);
        if (e.type === 'item' && e.itemId && e.state === 'running' && e.runner) running.set(e.itemId, e.runner);
        if (e.type === 'item' && e.itemId && (e.state === 'done' || e.state === 'failed')) ended.add(e.itemId);
        return (runEnded = e.type === 'run' && ['succeeded', 'failed', 'cancelled', 'rejected'].includes(e.state ?? ''));
      },
      abort.signal,
    ).catch((err: unknown) => {
      if (!abort.signal.aborted) streamError = err;
    });
    onTestFinished(() => abort.abort());

    const hostOfRunner = (runner: string): string => runner.slice(0, runner.lastIndexOf(':'));
    const startsBy = (): Map<string, number> => {
      const m = new Map<string, number>();
      for (const e of events) if (e.type === 'item' && e.state === 'running' && e.runner) m.set(hostOfRunner(e.runner), (m.get(hostOfRunner(e.runner)) ?? 0) + 1);
      return m;
    };
    // Kill when every runner container has started items and the victim is running some now.
    const victimHost = await until('every runner container to start items', 60_000, async () => {
      if (streamError) throw streamError;
      if (startsBy().size < 3) return undefined;
      for (const [item, runner] of running) if (!ended.has(item)) return hostOfRunner(runner);
      return undefined;
    });
    const victim = hostOf.get(victimHost);
    expect(victim, `runner host ${victimHost} is one of the compose runner containers`).toBeDefined();
    const inFlight = [...running].filter(([item, r]) => hostOfRunner(r) === victimHost && !ended.has(item)).map(([item]) => item);
    expect(inFlight.length).toBeGreaterThan(0);
    step(`killing ${victim} (running ${inFlight.join(', ')})`);
    const killed = await run('podman', ['kill', '--signal', 'KILL', victim!], env);
    step('killed');
    expect(killed.code, killed.stderr).toBe(0);
    const killedAt = Date.now();

    await until('the run to end', 150_000, async () => {
      if (streamError) throw streamError;
      return runEnded ? true : undefined;
    });
    await stream;
    step('run ended');

    const last = events[events.length - 1]!;
    expect(last).toMatchObject({ type: 'run', state: 'succeeded' });
    const status = (await (await fetch(`${dashboard}/api/runs/${runId}`, { headers: { authorization: `Bearer ${apiKey}` } })).json()) as {
      state: string;
      counts: Record<string, number>;
      items: Array<{ id: string; state: string; resultRef?: string }>;
    };
    expect(status.state).toBe('succeeded');
    expect(status.counts['done']).toBe(ITEMS + 1);
    expect(status.items.every((i) => i.state === 'done' && typeof i.resultRef === 'string')).toBe(true);
    // Every runner container took some of the plan, the killed one included.
    const starts = startsBy();
    for (const h of hostOf.keys()) expect(starts.get(h) ?? 0, `items started on ${hostOf.get(h)}`).toBeGreaterThan(0);
    // What the killed runner was running was started again elsewhere and finished there.
    for (const item of inFlight) {
      const finishers = events.filter((e) => e.itemId === item && e.state === 'running').map((e) => hostOfRunner(e.runner ?? ''));
      expect(finishers[finishers.length - 1], `${item} restarted on a live runner`).not.toBe(victimHost);
    }
    step(
      `${ITEMS + 1} items; starts per runner: ${JSON.stringify(Object.fromEntries([...starts].map(([h, n]) => [hostOf.get(h) ?? h, n])))}; killed ${victim} with ${inFlight.length} running; run ended ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill`,
    );

    // The run's record verifies, and its checkpoint was anchored in the s3 service (s3rver has no
    // Object Lock, so the guarantee is honestly `local`).
    step('audit');
    const audit = await run('podman', ['exec', ctr('dashboard'), 'node', '/app/apps/cli/dist/bin.js', 'audit', runId], env);
    expect(audit.code, audit.stderr).toBe(0);
    const bundle = JSON.parse(audit.stdout) as { anchor: { kind: string; bucket: string }; report: { intact: boolean; guarantee: string } };
    expect(bundle.anchor).toMatchObject({ kind: 's3-object-lock', bucket: 'agora-audit' });
    expect(bundle.report).toMatchObject({ intact: true, guarantee: 'local' });
  }, 300_000);
});
