import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRedisServer } from '@agora/state';
import { cliEnv } from '../../../test/support/cli.js';
import { ensurePodman } from '../../../test/support/podman.js';

const envs: Array<ReturnType<typeof cliEnv>> = [];
afterAll(async () => {
  for (const e of envs) await e.close();
});

describe('agora doctor', () => {
  it('reports every configured provider and names the missing credential', async () => {
    const podman = await ensurePodman();
    const env = cliEnv({
      compute: {
        local: { provider: 'process' },
        containers: { provider: 'docker', options: { socketPath: podman.socketPath } },
        aws: { provider: 'fargate', options: { cluster: 'agora', taskDefinition: 'w:1', containerName: 'worker', subnets: ['subnet-1'] } },
      },
      credentials: { none: { provider: 'noop' }, apikeys: { provider: 'env', options: { required: ['AGORA_TEST_NOT_SET_KEY'] } } },
      targets: { local: { compute: 'local' } },
    });
    envs.push(env);
    for (const k of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_PROFILE']) delete env.env[k];
    const r = env.agora(['doctor', '--json']);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ kind: string; name: string; provider: string; ok: boolean; message: string }> };
    const by = (name: string) => out.checks.find((c) => c.name === name)!;
    expect(by('redis').ok).toBe(true);
    expect(by('local')).toMatchObject({ kind: 'compute', provider: 'process', ok: true });
    expect(by('containers')).toMatchObject({ kind: 'compute', provider: 'docker', ok: true });
    expect(by('aws')).toMatchObject({ kind: 'compute', provider: 'fargate', ok: false });
    expect(by('aws').message).toMatch(/AWS_REGION/);
    expect(by('apikeys')).toMatchObject({ kind: 'credentials', ok: false, message: 'missing environment variable(s): AGORA_TEST_NOT_SET_KEY' });
    expect(by('storage')).toMatchObject({ kind: 'storage', provider: 'local', ok: true });
    const text = env.agora(['doctor']).stdout;
    expect(text).toMatch(/^FAIL compute\/aws +\(fargate\) +.*AWS_REGION/m);
  }, 60_000);

  it('checks result sinks and notifications: a webhook whose env: secret is not set fails its row, naming the variable', async () => {
    const hook = (secret: string) => ({ provider: 'webhook', options: { url: 'https://hooks.example.com/agora?token=not-for-doctor', secret } });
    const env = cliEnv({
      compute: { local: { provider: 'process' } },
      resultSinks: { ci: hook('env:AGORA_TEST_UNSET_HOOK_SECRET'), log: { provider: 'stdout' } },
      notifications: { ops: hook('a-literal-secret-0123456789') },
    });
    envs.push(env);
    delete env.env['AGORA_TEST_UNSET_HOOK_SECRET'];
    const r = env.agora(['doctor', '--json']);
    expect(r.code).toBe(1);
    const checks = (JSON.parse(r.stdout) as { checks: Array<{ kind: string; name: string; provider: string; ok: boolean; message: string }> }).checks;
    const by = (name: string) => checks.find((c) => c.name === name)!;
    expect(by('ci')).toMatchObject({ kind: 'resultSink', provider: 'webhook', ok: false });
    expect(by('ci').message).toContain('environment variable AGORA_TEST_UNSET_HOOK_SECRET (or AGORA_TEST_UNSET_HOOK_SECRET_FILE) is not set');
    expect(by('log')).toMatchObject({ kind: 'resultSink', provider: 'stdout', ok: true });
    expect(by('ops')).toMatchObject({ kind: 'notification', provider: 'webhook', ok: true });
    expect(by('ops').message).toContain('hooks.example.com');
    // The host only: the query's token and the secret are never printed.
    expect(r.stdout).not.toContain('not-for-doctor');
    expect(r.stdout).not.toContain('a-literal-secret');
    expect(env.agora(['doctor']).stdout).toMatch(/^FAIL resultSink\/ci +\(webhook\) +.*AGORA_TEST_UNSET_HOOK_SECRET/m);
  }, 60_000);

  it('fails a webhook on a port fetch refuses (a bad port) naming the config key, and a runner does not start with it (exit 2)', async () => {
    // Before: doctor said "ok", the runner started, and every delivery was dead-lettered ("bad port").
    const env = cliEnv({
      compute: { local: { provider: 'process' } },
      resultSinks: { ci: { provider: 'webhook', options: { url: 'http://127.0.0.1:6000/hook', secret: 'a-literal-secret-0123456789' } } },
      notifications: { ops: { provider: 'webhook', options: { url: 'https://hooks.example.com:6667/x', secret: 'a-literal-secret-0123456789' } } },
    });
    envs.push(env);
    const blocked = (key: string, kind: string, port: number) => `${key}: webhook ${kind}: options.url: port ${port} is blocked by fetch (a "bad port" of the Fetch standard): every delivery would fail; use another port`;
    const r = env.agora(['doctor', '--json']);
    expect(r.code).toBe(1);
    const checks = (JSON.parse(r.stdout) as { checks: Array<{ kind: string; name: string; ok: boolean; message: string }> }).checks;
    expect(checks.find((c) => c.name === 'ci')).toMatchObject({ kind: 'resultSink', ok: false, message: blocked('resultSinks.ci', 'result sink', 6000) });
    expect(checks.find((c) => c.name === 'ops')).toMatchObject({ kind: 'notification', ok: false, message: blocked('notifications.ops', 'notifications', 6667) });
    const runner = env.agora(['runner'], { timeoutMs: 30_000 });
    expect(runner.code).toBe(2);
    expect(runner.stderr).toContain(blocked('resultSinks.ci', 'result sink', 6000));
    const serve = env.agora(['serve'], { timeoutMs: 30_000 });
    expect(serve.code).toBe(2);
    expect(serve.stderr).toContain('is blocked by fetch');
  }, 60_000);

  it('exits 0 when everything is healthy, and names an unreachable Docker engine', async () => {
    const env = cliEnv({ compute: { local: { provider: 'process' } } });
    envs.push(env);
    expect(env.agora(['doctor']).code).toBe(0);
    const bad = cliEnv({ compute: { local: { provider: 'process' }, d: { provider: 'docker', options: { socketPath: '/nonexistent/docker.sock' } } } });
    envs.push(bad);
    const r = bad.agora(['doctor', '--json']);
    expect(r.code).toBe(1);
    const d = (JSON.parse(r.stdout) as { checks: Array<{ name: string; ok: boolean; message: string }> }).checks.find((c) => c.name === 'd')!;
    expect(d.ok).toBe(false);
    expect(d.message).toContain('/nonexistent/docker.sock');
  }, 60_000);

  it('fails on a Redis setting readiness refuses (as /readyz does), and exits 3 when Redis is down', async () => {
    const server = await startRedisServer();
    try {
      const r = new Redis(server.url);
      await r.config('SET', 'maxmemory-policy', 'allkeys-lru');
      r.disconnect();
      const env = cliEnv({ compute: { local: { provider: 'process' } } });
      envs.push(env);
      env.env['REDIS_URL'] = server.url;
      const out = env.agora(['doctor', '--json']);
      // Before: a "warn" row and exit 0, while serve's and a runner's /readyz answered 503.
      expect(out.code).toBe(1);
      const checks = (JSON.parse(out.stdout) as { checks: Array<{ name: string; ok: boolean; message: string }> }).checks;
      expect(checks.find((c) => c.name === 'settings' && !c.ok)?.message).toMatch(/maxmemory-policy is "allkeys-lru", not "noeviction"/);
      expect(checks.filter((c) => /maxmemory-policy/.test(c.message))).toHaveLength(1);
      await server.stop();
      const down = env.agora(['doctor']);
      expect(down.code).toBe(3);
      expect(down.stdout).toMatch(/^FAIL redis\/redis/m);
    } finally {
      await server.stop();
    }
  }, 60_000);
});
