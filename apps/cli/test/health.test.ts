import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, cliEnv } from '../../../test/support/cli.js';

/** `agora <args>` without blocking this process (spawnSync would stall the test's HTTP server). */
function agoraAsync(env: ReturnType<typeof cliEnv>, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: env.dir, env: env.env, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

const envs: Array<ReturnType<typeof cliEnv>> = [];
const servers: Server[] = [];
afterAll(async () => {
  for (const e of envs) await e.close();
  for (const s of servers) await new Promise((r) => s.close(r));
});

async function statusServer(status: number): Promise<string> {
  const s = createServer((_req, res) => {
    res.statusCode = status;
    res.end();
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}/healthz`;
}

describe('agora health (the container healthcheck)', () => {
  it('is healthy when Redis answers, and exits 3 naming the reason when it does not', () => {
    const env = cliEnv();
    envs.push(env);
    const ok = env.agora(['health']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('healthy\n');
    env.env['REDIS_URL'] = 'redis://:pw@127.0.0.1:1';
    const down = env.agora(['health', '--timeout', '1000']);
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/^unhealthy: cannot reach Redis at redis:\/\/\*\*\*@127\.0\.0\.1:1/);
    expect(down.stderr).not.toContain('pw');
  });

  it('--runner needs a runner with a fresh heartbeat registered from this host', async () => {
    const env = cliEnv();
    envs.push(env);
    env.env['AGORA_HOST'] = `health-host-${env.namespace}`;
    const none = env.agora(['health', '--runner']);
    expect(none.code).toBe(3);
    expect(none.stderr).toContain(`no runner on host "health-host-${env.namespace}"`);
    const runner = await env.start(['runner', '--concurrency', '1'], /runner started/);
    expect(env.agora(['health', '--runner']).code).toBe(0);
    // Another host's healthcheck does not count this runner.
    env.env['AGORA_HOST'] = 'some-other-host';
    expect(env.agora(['health', '--runner']).code).toBe(3);
    runner.kill('SIGTERM');
    await new Promise((r) => runner.once('exit', r));
    env.env['AGORA_HOST'] = `health-host-${env.namespace}`;
    // A runner that stopped removes its registration: unhealthy at once.
    expect(env.agora(['health', '--runner']).code).toBe(3);
  });

  it('--url needs a 200, and refuses a URL that is not http://', async () => {
    const env = cliEnv();
    envs.push(env);
    expect((await agoraAsync(env, ['health', '--url', await statusServer(200)])).code).toBe(0);
    const bad = await statusServer(503);
    const r = await agoraAsync(env, ['health', '--url', bad]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`GET ${bad} answered 503`);
    // Credentials in the URL are never printed (they were, whole, in the problem and --json).
    const withCreds = bad.replace('http://', 'http://user:pw-not-for-output@');
    const masked = await agoraAsync(env, ['health', '--json', '--url', `${withCreds}?token=tok-not-for-output`]);
    expect(masked.code).toBe(3);
    expect(masked.stdout).not.toContain('pw-not-for-output');
    expect(masked.stdout).not.toContain('tok-not-for-output');
    expect(JSON.parse(masked.stdout).problems[0]).toMatch(/^GET http:\/\/user:\*\*\*@127\.0\.0\.1:\d+\/healthz\?token=\*\*\* answered 503$/);
    const closed = env.agora(['health', '--url', 'http://127.0.0.1:1/healthz', '--timeout', '1000']);
    expect(closed.code).toBe(3);
    expect(closed.stderr).toMatch(/answered an error \(connect ECONNREFUSED/);
    const notHttp = env.agora(['health', '--url', 'file:///etc/passwd']);
    expect(notHttp.code).toBe(2);
    expect(notHttp.stderr).toContain('only http:// URLs');
    // A bad --timeout is named by its flag ("timeoutMs: ... received NaN" before).
    for (const t of ['abc', '1.5', '99', '60001', '']) {
      const bad = env.agora(['health', '--timeout', t]);
      expect(bad.code, t).toBe(2);
      // One "agora:" prefix, the verb as in "agora: fleet scale: …" (before: "agora: agora health: …").
      expect(bad.stderr, t).toBe('agora: health: --timeout: must be an integer number of milliseconds from 100 to 60000\n');
    }
  });
});
