import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, cliEnv } from '../../../test/support/cli.js';
import { testRedisUrl } from '../../../test/support/index.js';

/** Secrets as files (`<NAME>_FILE`, Docker and Kubernetes secrets), through the real CLI. */
const env = cliEnv();
afterAll(() => env.close());

function agora(args: string[], vars: NodeJS.ProcessEnv): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: env.dir, env: vars, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('REDIS_URL_FILE', () => {
  it('a verb reaches Redis through the URL in the file REDIS_URL_FILE names', () => {
    const file = path.join(env.dir, 'redis-url');
    writeFileSync(file, `${testRedisUrl()}\n`, { mode: 0o600 });
    const { REDIS_URL: _unset, ...rest } = env.env;
    const r = agora(['runs', '--json'], { ...rest, REDIS_URL_FILE: file });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ runs: [] });
  });

  it('both REDIS_URL and REDIS_URL_FILE, or an unreadable file: exit 2 naming the variables, nothing else', () => {
    const file = path.join(env.dir, 'redis-url');
    const both = agora(['runs', '--json'], { ...env.env, REDIS_URL_FILE: file });
    expect(both.code).toBe(2);
    expect(both.stderr).toBe('agora: both REDIS_URL and REDIS_URL_FILE are set; give one\n');
    const { REDIS_URL: _unset, ...rest } = env.env;
    const missing = path.join(env.dir, 'missing');
    const gone = agora(['runs', '--json'], { ...rest, REDIS_URL_FILE: missing });
    expect(gone.code).toBe(2);
    expect(gone.stderr).toBe(`agora: REDIS_URL_FILE: cannot read ${missing} (ENOENT)\n`);
  });

  it('health --json and doctor --json print their JSON for an unreadable file too, with the same exit 2', () => {
    // Before: the secret was read before any verb ran, so both printed nothing on stdout.
    const { REDIS_URL: _unset, ...rest } = env.env;
    const missing = path.join(env.dir, 'missing');
    const problem = `REDIS_URL_FILE: cannot read ${missing} (ENOENT)`;
    const health = agora(['health', '--json'], { ...rest, REDIS_URL_FILE: missing });
    expect([health.code, JSON.parse(health.stdout), health.stderr]).toEqual([2, { healthy: false, problems: [problem] }, '']);
    // Without --json: the `unhealthy:` line of every bad Redis setting (an empty REDIS_URL_FILE's too).
    const text = agora(['health'], { ...rest, REDIS_URL_FILE: missing });
    expect([text.code, text.stdout, text.stderr]).toEqual([2, '', `unhealthy: ${problem}\n`]);
    // A bad option under --json is JSON too.
    const option = agora(['health', '--json', '--timeout', '5'], env.env);
    expect(option.code).toBe(2);
    expect(JSON.parse(option.stdout)).toEqual({ healthy: false, problems: ['health: --timeout: must be an integer number of milliseconds from 100 to 60000'] });
    const doctor = agora(['doctor', '--json'], { ...rest, REDIS_URL_FILE: missing });
    expect(doctor.code).toBe(2);
    expect(JSON.parse(doctor.stdout)).toEqual({ ok: false, checks: [{ kind: 'config', name: 'environment', provider: 'agora', ok: false, message: problem }] });
  });
});

describe('REDIS_PASSWORD_FILE', () => {
  it('a verb reaches Redis as the URL\'s user with the password from the file; a wrong one is refused by Redis', async () => {
    // A user of its own on the test Redis, with a password holding URL-special characters.
    const user = `agora-pw-${randomBytes(4).toString('hex')}`;
    const password = `p@ss:/${randomBytes(8).toString('hex')}%`;
    const admin = new Redis(testRedisUrl());
    await admin.call('ACL', 'SETUSER', user, 'on', `>${password}`, '~*', '&*', '+@all');
    try {
      const url = new URL(testRedisUrl());
      url.username = user;
      url.password = '';
      const file = path.join(env.dir, 'redis-password');
      writeFileSync(file, `${password}\n`, { mode: 0o600 });
      const ok = agora(['runs', '--json'], { ...env.env, REDIS_URL: url.toString(), REDIS_PASSWORD_FILE: file });
      expect(ok.code, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({ runs: [] });
      writeFileSync(file, 'not-the-password\n', { mode: 0o600 });
      const wrong = agora(['runs', '--json'], { ...env.env, REDIS_URL: url.toString(), REDIS_PASSWORD_FILE: file });
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).not.toContain('not-the-password');
      const twice = agora(['runs', '--json'], { ...env.env, REDIS_URL: `redis://${user}:x@127.0.0.1:1`, REDIS_PASSWORD_FILE: file });
      expect(twice.code).toBe(2);
      expect(twice.stderr).toBe('agora: both REDIS_PASSWORD and a password in REDIS_URL are given; give one\n');
    } finally {
      await admin.call('ACL', 'DELUSER', user);
      admin.disconnect();
    }
  });
});

describe('AGORA_API_KEY_FILE', () => {
  it('an empty key file is refused (exit 2), not taken as "no key" (the dashboard would serve its API open)', () => {
    const empty = path.join(env.dir, 'api-key-empty');
    writeFileSync(empty, '\n', { mode: 0o600 });
    for (const name of ['AGORA_API_KEY', 'AGORA_ADMIN_KEY']) {
      const r = agora(['dashboard', '--port', '0'], { ...env.env, [`${name}_FILE`]: empty });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toBe(`agora: ${name}_FILE: ${empty} is empty; it must hold the key\n`);
    }
  });
});
