import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedis, liveRunners, localStorageAcrossHosts, type RunnerRegistration } from '@agora/state';
import { cliEnv, type CliEnv } from '../support/cli.js';

/**
 * Runners on several hosts: each registers itself with a heartbeat; `doctor` and `serve` say
 * loudly when runners on different hosts keep results on their own disks (local storage), where
 * a dependent on another host cannot read them.
 */
const envs: CliEnv[] = [];
afterAll(async () => {
  for (const e of envs) await e.close();
});

function reg(id: string, host: string, storage: string): RunnerRegistration {
  const now = new Date().toISOString();
  return { id, host, pid: 1, version: '0', queues: ['default'], slots: 1, storage, startedAt: now, heartbeatAt: now };
}

describe('the runner registry', () => {
  it('names the problem only for several hosts with local storage', () => {
    expect(localStorageAcrossHosts([reg('a', 'h1', 'local'), reg('b', 'h1', 'local')])).toBeNull();
    expect(localStorageAcrossHosts([reg('a', 'h1', 's3'), reg('b', 'h2', 's3')])).toBeNull();
    expect(localStorageAcrossHosts([reg('a', 'h1', 's3'), reg('b', 'h2', 'local')])).toMatch(/^runners on 2 hosts \(h1, h2\), and the runners on h2 store results in local storage/);
    expect(localStorageAcrossHosts([reg('a', 'h1', 'local'), reg('b', 'h2', 'local')])).toMatch(/^runners on 2 hosts \(h1, h2\), and all of them store results in local storage/);
  });

  it('runners on two hosts with local storage: registered with heartbeats, doctor fails naming it, serve warns; a stopped runner leaves the registry', async () => {
    const env = cliEnv();
    envs.push(env);
    const started: ChildProcess[] = [];
    for (const host of ['host-a', 'host-b']) {
      env.env['AGORA_HOST'] = host;
      started.push(await env.start(['runner'], /runner started/));
    }
    delete env.env['AGORA_HOST'];
    const redis = createRedis(String(env.env['REDIS_URL']));
    try {
      const live = await liveRunners(redis, env.namespace);
      expect(live.map((r) => [r.host, r.storage, r.queues])).toEqual([
        ['host-a', 'local', ['default']],
        ['host-b', 'local', ['default']],
      ]);
      const doctor = env.agora(['doctor', '--json']);
      expect(doctor.code).toBe(1);
      const report = JSON.parse(doctor.stdout) as { checks: Array<{ kind: string; name: string; ok: boolean; message: string }> };
      expect(report.checks.filter((c) => c.kind === 'runner')).toHaveLength(2);
      expect(report.checks.find((c) => c.kind === 'fleet')).toMatchObject({ ok: false, message: expect.stringMatching(/host-a, host-b.*Use S3 storage/) });

      const serve = await env.start(['serve'], /local storage: a dependent on another host will not find them/);
      expect(serve.pid).toBeGreaterThan(0);

      // A runner that stops leaves the registry at once (not only when its heartbeat goes stale).
      started[1]!.kill('SIGTERM');
      await new Promise((r) => started[1]!.once('exit', r));
      expect((await liveRunners(redis, env.namespace)).map((r) => r.host)).toEqual(['host-a']);
    } finally {
      redis.disconnect();
    }
  }, 60_000);
});
