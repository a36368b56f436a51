import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServerHandle } from '@agora/state';
import { cliEnv, type CliEnv, spawnAutoscale } from '../../../test/support/cli.js';
import { testRedisUrl, until } from '../../../test/support/index.js';

/**
 * Operations audit: exit codes and messages of doctor, health, the services' metrics server, an
 * ACL user without permissions, the runs cursor and the fleet autoscaler's log line.
 */

const envs: CliEnv[] = [];
const aclUsers: string[] = [];
afterAll(async () => {
  for (const e of envs) await e.close();
  if (aclUsers.length > 0) {
    const r = new Redis(testRedisUrl());
    for (const u of aclUsers) await r.acl('DELUSER', u);
    r.disconnect();
  }
});

/** A CLI env whose REDIS_URL logs in as a fresh ACL user (password "pw") with these rules; removed after the file. */
async function envAsAclUser(prefix: string, ...rules: string[]): Promise<CliEnv> {
  const user = `${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = new Redis(testRedisUrl());
  await admin.acl('SETUSER', user, 'reset', 'on', '>pw', ...rules);
  admin.disconnect();
  aclUsers.push(user);
  const url = new URL(testRedisUrl());
  url.username = user;
  url.password = 'pw';
  const e = env();
  e.env['REDIS_URL'] = url.toString();
  return e;
}

function env(config: Record<string, unknown> = {}): CliEnv {
  const e = cliEnv(config);
  envs.push(e);
  return e;
}

describe('doctor and health: bad Redis settings are exit 2, an unreachable Redis 3', () => {
  it('an unparsable REDIS_URL exits 2 (doctor still prints its rows; health says why)', () => {
    const e = env();
    e.env['REDIS_URL'] = 'http://u:pw@h';
    const doctor = e.agora(['doctor']);
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(2);
    expect(doctor.stdout).toMatch(/^FAIL redis\/redis .*not a valid Redis URL/m);
    expect(doctor.stdout).not.toContain('pw');
    const health = e.agora(['health']);
    expect(health.code, health.stderr).toBe(2);
    expect(health.stderr).toContain('unhealthy: REDIS_URL is not a valid Redis URL');
    expect(e.agora(['health', '--json']).code).toBe(2);
  });

  it('an unreadable AGORA_REDIS_CA_FILE exits 2, as for runs', () => {
    const e = env();
    e.env['REDIS_URL'] = 'rediss://127.0.0.1:1';
    e.env['AGORA_REDIS_CA_FILE'] = '/nonexistent/ca.pem';
    for (const verb of ['doctor', 'health', 'runs']) {
      const r = e.agora([verb]);
      expect(r.code, `${verb}: ${r.stdout}${r.stderr}`).toBe(2);
      expect(r.stdout + r.stderr).toContain('AGORA_REDIS_CA_FILE: cannot read the CA file');
    }
  });

  it('an empty REDIS_URL_FILE exits 2', () => {
    const e = env();
    delete e.env['REDIS_URL'];
    const file = path.join(e.dir, 'redis-url');
    writeFileSync(file, '');
    e.env['REDIS_URL_FILE'] = file;
    for (const verb of ['health', 'doctor']) {
      const r = e.agora([verb]);
      expect(r.code, `${verb}: ${r.stdout}${r.stderr}`).toBe(2);
      // Named: before, only "REDIS_URL is not a valid Redis URL (it is empty)", a variable this user never set.
      expect(r.stdout + r.stderr, verb).toContain('REDIS_URL, or the file REDIS_URL_FILE names, holds nothing');
    }
  });

  it('rediss:// to a Redis without TLS (the handshake times out) says to check the port speaks TLS, exit 3', () => {
    // Before: "connect ETIMEDOUT. Start one (e.g. \"agora dev\") or set REDIS_URL", about a Redis that is running.
    const e = env();
    e.env['REDIS_URL'] = testRedisUrl().replace(/^redis:/, 'rediss:');
    const r = e.agora(['runs']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/cannot reach Redis at rediss:\/\/.*ETIMEDOUT.*A rediss:\/\/ URL speaks TLS, and nothing answered the TLS handshake: is that port serving TLS\? A Redis without TLS takes redis:\/\//);
  }, 30_000);

  it('a Redis that does not answer is still exit 3', () => {
    const e = env();
    e.env['REDIS_URL'] = 'redis://127.0.0.1:1';
    expect(e.agora(['doctor']).code).toBe(3);
    const health = e.agora(['health']);
    expect(health.code).toBe(3);
    expect(health.stderr).toContain('cannot reach Redis at redis://127.0.0.1:1');
  });
});

describe('metrics.host the metrics server cannot listen on', () => {
  it('names the setting: exit 2 when it does not resolve, 3 when it is not an address of this host (as a taken port)', () => {
    const e = env({ metrics: { port: 0, host: '999.1.1.1' } });
    for (const verb of ['runner', 'serve']) {
      const r = e.agora([verb], { timeoutMs: 30_000 });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('agora: metrics.host "999.1.1.1" does not resolve to an address');
    }
    const e2 = env({ metrics: { port: 0, host: '10.255.255.1' } });
    const r = e2.agora(['runner'], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain('agora: cannot listen on metrics.host "10.255.255.1"');
    expect(r.stderr).not.toMatch(/agora: listen EADDRNOTAVAIL/);
  }, 60_000);

  it('refuses an empty metrics.host (exit 2): Node would listen on every interface, the opposite of the default 127.0.0.1', () => {
    const e = env({ metrics: { port: 0, host: '' } });
    for (const verb of ['runner', 'serve']) {
      const r = e.agora([verb], { timeoutMs: 30_000 });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('metrics.host: an address to listen on (127.0.0.1, or 0.0.0.0 for every interface), not empty');
      expect(r.stderr).not.toContain('metrics listening');
    }
  });
});

describe('dashboard.host', () => {
  it('refuses an empty dashboard.host or --host (exit 2): Node would listen on every interface, the opposite of the default 127.0.0.1', () => {
    // With a key: without one a non-loopback host is refused anyway.
    const e = env({ dashboard: { port: 0, host: '', apiKey: 'k'.repeat(24) } });
    const r = e.agora(['dashboard'], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('dashboard.host: an address to listen on (127.0.0.1, or 0.0.0.0 for every interface), not empty');
    expect(r.stdout).not.toContain('/queues');
    const flag = env({ dashboard: { port: 0, apiKey: 'k'.repeat(24) } }).agora(['dashboard', '--host', ''], { timeoutMs: 30_000 });
    expect(flag.code, flag.stderr).toBe(2);
    expect(flag.stderr).toContain('--host: an address to listen on');
    expect(flag.stdout).not.toContain('/queues');
  });
});

describe('a Redis ACL user without a permission', () => {
  it('locks, runs and doctor exit 3 saying which command the Redis user may not run; doctor has one redis row', async () => {
    // Enough to connect and ping (ioredis' ready check reads INFO), nothing Agora reads.
    const e = await envAsAclUser('agora_noperm', '+ping', '+auth', '+hello', '+info', '+client', '+select');
    for (const verb of ['locks', 'runs']) {
      const r = e.agora([verb]);
      expect(r.code, `${verb}: ${r.stderr}`).toBe(3);
      expect(r.stderr).toMatch(/^agora: the Redis user of REDIS_URL may not run the '\w+' command \(NOPERM/);
    }
    const doctor = e.agora(['doctor', '--json']);
    expect(doctor.code, doctor.stdout).toBe(3);
    const checks = (JSON.parse(doctor.stdout) as { checks: Array<{ kind: string; name: string; ok: boolean; message: string }> }).checks;
    const redisRows = checks.filter((c) => c.kind === 'redis' && c.name === 'redis');
    expect(redisRows).toHaveLength(1);
    expect(redisRows[0]).toMatchObject({ ok: false });
    expect(redisRows[0]!.message).toMatch(/^reachable, but the Redis user of REDIS_URL may not run the '\w+' command/);
  });

  it('a verb whose Redis script the user may not run on its keys (cancel, send with a read-only user) exits 3 with the same explanation, not 2', async () => {
    // Reads every key, writes none (the submitter's rights on run records).
    const e = await envAsAclUser('agora_readonly', '%R~*', '&*', '+@all');
    for (const verb of [['cancel', 'r00000000000000000000'], ['send', 'r00000000000000000000', 'a', '{}']]) {
      const r = e.agora(verb);
      expect(r.code, `${verb[0]}: ${r.stderr}`).toBe(3);
      expect(r.stderr).toMatch(/^agora: the Redis user of REDIS_URL may not access a key Agora uses \(.*NOPERM/);
    }
  });
});

describe('a Redis ACL user without a command only the Redis scripts call', () => {
  it('a runner and a scheduler exit 3 at start naming the command, instead of failing every job\'s script forever', async () => {
    // XADD is called only inside scripts (ours and BullMQ's): every direct command at start
    // passed, and the runner then logged "ERR The user executing the script can't run this
    // command" for every job it fetched, forever (exit 3 is what a direct NOPERM gives).
    const e = await envAsAclUser('agora_noxadd', '~*', '&*', '+@all', '-@dangerous', '+info', '-xadd');
    for (const verb of ['runner', 'serve']) {
      const r = e.agora([verb], { timeoutMs: 20_000 });
      expect(r.code, `${verb}: ${r.stderr}`).toBe(3);
      expect(r.stderr).toContain("agora: the Redis user of REDIS_URL may not run the 'xadd' command (NOPERM this user has no permissions to run the 'xadd' command, which the Redis scripts of Agora and BullMQ call");
    }
  });
});

describe('agora doctor: the commands only the Redis scripts call', () => {
  type Check = { kind: string; name: string; ok: boolean; warning?: boolean; message: string };
  const scriptRow = (e: CliEnv): { code: number | null; row: Check | undefined; text: string } => {
    const r = e.agora(['doctor', '--json']);
    const row = (JSON.parse(r.stdout) as { checks: Check[] }).checks.find((c) => c.kind === 'redis' && c.name === 'script-commands');
    return { code: r.code, row, text: e.agora(['doctor']).stdout };
  };

  it('warns (not FAIL) naming the commands a user may not run, and that a runner or scheduler with it would exit 3; ok otherwise', async () => {
    // Before, doctor said nothing: a runner with this user exits 3 at start (see above).
    const e = await envAsAclUser('agora_doc_noxadd', '~*', '&*', '+@all', '-@dangerous', '+info', '-xadd', '-rpoplpush');
    const denied = scriptRow(e);
    expect(denied.row, JSON.stringify(denied)).toMatchObject({ ok: true, warning: true });
    expect(denied.row!.message).toBe("this user may not run 'rpoplpush', 'xadd', which the Redis scripts of Agora and BullMQ call: a runner or scheduler with this user would exit 3 (a user that only submits and reads needs none of them)");
    expect(denied.text).toMatch(/^warn redis\/script-commands\s+\(redis\)\s+this user may not run 'rpoplpush', 'xadd'/m);
    // A warning only: what else doctor sees of this user decides the exit (its CONFIG reads are refused: warnings too).
    expect(denied.code, denied.text).toBe(0);

    const noEval = await envAsAclUser('agora_doc_noeval', '~*', '&*', '+@all', '-@dangerous', '+info', '-eval');
    const refused = scriptRow(noEval);
    expect(refused.row, JSON.stringify(refused)).toMatchObject({ ok: true, warning: true });
    expect(refused.row!.message).toMatch(/^this user may not run Redis scripts \(NOPERM [^()]*'eval' command\): a runner or scheduler with this user would exit 3/);

    const fine = scriptRow(env());
    expect(fine.row, JSON.stringify(fine)).toEqual({ kind: 'redis', name: 'script-commands', provider: 'redis', ok: true, message: 'this user may run every command the Redis scripts of Agora and BullMQ call' });
    expect(fine.code, fine.text).toBe(0);
  });
});

describe('agora runs --limit: a next cursor only when there are more runs', () => {
  it('one run and --limit 1: no "more:" line and no next; two runs: the cursor leads to the second, which is the last page', async () => {
    const e = env();
    await e.start(['serve'], /scheduler serving/);
    const submit = (id: string): string => {
      const r = e.agora(['submit', e.writeJson(`${id}.json`, { id, items: [{ id: 'a', executor: 'noop' }] })]);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.trim();
    };
    const page = (args: string[] = []) => JSON.parse(e.agora(['runs', '--json', ...args]).stdout) as { runs: Array<{ runId: string }>; next?: string };
    const first = submit('first');
    await until('the run is recorded', async () => page().runs.length === 1);
    const one = page(['--limit', '1']);
    expect(one.runs.map((r) => r.runId)).toEqual([first]);
    expect(one.next).toBeUndefined();
    const table = e.agora(['runs', '--limit', '1']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).not.toContain('more:');

    const second = submit('second');
    await until('both runs are recorded', async () => page().runs.length === 2);
    const p1 = page(['--limit', '1']);
    expect(p1.runs.map((r) => r.runId)).toEqual([second]);
    expect(p1.next).toBeDefined();
    const p2 = page(['--limit', '1', '--cursor', p1.next!]);
    expect(p2.runs.map((r) => r.runId)).toEqual([first]);
    expect(p2.next).toBeUndefined();
  }, 60_000);
});

describe('agora fleet autoscale', () => {
  it('Redis going away after the first round is a failed round ({ fleet, error }), not a hang: SIGTERM still stops it, and it decides again once Redis is back', async () => {
    // Its own Redis: this one is stopped and started again.
    let redis: RedisServerHandle | undefined = await startRedisServer();
    const port = redis.port;
    const e = env({ fleet: { loc: { provider: 'local', autoscale: { min: 0, max: 1, intervalMs: 1000 } } } });
    e.env['REDIS_URL'] = redis.url;
    const { child, lines, stderr, exited } = spawnAutoscale(e);
    try {
      await until('the first decision', async () => lines().length >= 1, 30_000, 100);
      expect(lines()[0]).toEqual({ fleet: 'loc', waiting: 0, active: 0, from: 0, to: 0 });
      await redis.stop();
      redis = undefined;
      await until('a round failed on Redis', async () => lines().some((l) => 'error' in l), 20_000, 100);
      redis = await startRedisServer({ port });
      const failedAt = lines().findIndex((l) => 'error' in l);
      expect(lines()[failedAt]).toEqual({ fleet: 'loc', error: expect.stringMatching(/^Redis (is not reachable|did not answer within 5000 ms) \(connection \w+\)$/) as unknown });
      await until('a decision once Redis is back', async () => lines().slice(failedAt).some((l) => 'to' in l), 30_000, 100);
      expect(child.exitCode, stderr()).toBeNull();
      // Redis away again: SIGTERM during the outage ends it (no round waits for Redis forever).
      await redis.stop();
      redis = undefined;
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      child.kill('SIGTERM');
      await redis?.stop();
    }
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running 10 s after SIGTERM'), 10_000))]);
    if (code === 'still running 10 s after SIGTERM') child.kill('SIGKILL');
    expect(code, stderr()).toBe(0);
  }, 120_000);

  it('the "fleet scaled" log line names the fleet once', () => {
    const e = env({ fleet: { loc: { provider: 'local', options: { vcpu: 2, args: ['--concurrency', '1'], stopTimeoutMs: 20_000 }, autoscale: { min: 1, max: 1 } } } });
    try {
      const r = e.agora(['fleet', 'autoscale', '--once'], { timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      const line = r.stderr.split('\n').find((l) => l.includes('"fleet scaled"'));
      expect(line, r.stderr).toBeDefined();
      expect(line!.match(/"fleet":/g)).toHaveLength(1);
      expect(JSON.parse(line!)).toMatchObject({ fleet: 'loc', from: 0, to: 1 });
    } finally {
      e.agora(['fleet', 'stop'], { timeoutMs: 60_000 });
    }
  }, 120_000);
});
