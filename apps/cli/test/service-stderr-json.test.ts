import { spawn, spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, cliEnv } from '../../../test/support/cli.js';

/**
 * A service's stderr is one JSON object per line (README "Logs"), also for a library's console
 * warning: given a password for a Redis whose default user needs none, ioredis printed a raw
 * "[WARN] This Redis server's `default` user does not require a password…" per connection.
 */
const env = cliEnv();
// A fleet that an idle autoscaler keeps at 0: no runner is started.
const fleetEnv = cliEnv({ fleet: { loc: { provider: 'local', autoscale: { min: 0, max: 1 } } } });
afterAll(async () => {
  await env.close();
  await fleetEnv.close();
});

describe('service stderr', () => {
  it.each([
    ['runner', ['runner'], /runner started/],
    ['dashboard', ['dashboard', '--port', '0'], /dashboard listening/],
  ])('a %s given a needless Redis password logs the client warning as JSON, like every other line', async (_name, argv, started) => {
    const url = new URL(String(env.env['REDIS_URL']));
    url.password = 'not-needed-pw';
    const child = spawn(process.execPath, [BIN, ...argv], { cwd: env.dir, env: { ...env.env, REDIS_URL: url.toString() }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${String(started)} in 20 s: ${stderr}`)), 20_000);
      child.stderr!.on('data', () => {
        if (started.test(stderr)) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    await new Promise((r) => setTimeout(r, 1000));
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    const lines = stderr.split('\n').filter((l) => l.trim() !== '');
    for (const l of lines) expect(() => JSON.parse(l), l).not.toThrow();
    const warned = lines.map((l) => JSON.parse(l) as { source?: string; msg?: string; level?: string }).filter((l) => l.source === 'console');
    expect(warned.length).toBeGreaterThan(0);
    expect(warned[0]).toMatchObject({ level: 'warn' });
    expect(warned[0]!.msg).toMatch(/does not require a password/);
    expect(stderr).not.toContain('not-needed-pw');
  }, 60_000);

  it('a verb (agora runs) given a needless Redis password logs the warning as JSON too, not a raw "[WARN]" line', () => {
    const url = new URL(String(env.env['REDIS_URL']));
    url.password = 'not-needed-pw';
    const r = spawnSync(process.execPath, [BIN, 'runs', '--json'], { cwd: env.dir, env: { ...env.env, REDIS_URL: url.toString() }, encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(() => JSON.parse(r.stdout)).not.toThrow();
    expect(r.stderr).not.toMatch(/^\[WARN\]/m);
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(JSON.parse(l) as { source?: string; msg?: string }, l).toMatchObject({ source: 'console', msg: expect.stringMatching(/does not require a password/) });
    expect(r.stderr).not.toContain('not-needed-pw');
  });

  it('the fleet autoscaler (a long-running controller) logs the client warning as JSON too', () => {
    const url = new URL(String(fleetEnv.env['REDIS_URL']));
    url.password = 'not-needed-pw';
    const r = spawnSync(process.execPath, [BIN, 'fleet', 'autoscale', '--once', '--json'], { cwd: fleetEnv.dir, env: { ...fleetEnv.env, REDIS_URL: url.toString() }, encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ fleet: 'loc', from: 0, to: 0 });
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(JSON.parse(l), l).toMatchObject({ level: 'warn', source: 'console', component: 'fleet-autoscale' });
    expect(r.stderr).not.toContain('not-needed-pw');
  }, 60_000);
});
