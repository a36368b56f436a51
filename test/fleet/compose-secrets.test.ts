import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The compose topology's secret files (README "One image, one compose file"): what
 * scripts/compose-secrets.sh writes and what deploy/redis-start.sh accepts, without containers.
 */
const root = path.join(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-compose-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const NAMES = ['redis-scheduler-password', 'redis-runner-password', 'redis-dashboard-password', 'redis-submitter-password', 'redis-admin-password', 'api-key'];

function sh(args: string[], env: NodeJS.ProcessEnv): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bash', args, { cwd: root, env: { PATH: process.env['PATH'], ...env }, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('compose secrets', () => {
  it('compose-secrets.sh writes the six files, keeps existing ones, and makes an empty one (a failed run\'s) again', () => {
    const secrets = path.join(dir, 'secrets');
    const first = sh(['scripts/compose-secrets.sh'], { AGORA_SECRETS_DIR: secrets });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe(`compose-secrets: ${secrets} has 6 secrets (6 new)\n`);
    for (const n of NAMES) expect(readFileSync(path.join(secrets, n), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(statSync(secrets).mode & 0o777).toBe(0o700);
    const kept = readFileSync(path.join(secrets, 'api-key'), 'utf8');
    rmSync(path.join(secrets, 'redis-runner-password'));
    writeFileSync(path.join(secrets, 'redis-runner-password'), '', { mode: 0o444 });
    const again = sh(['scripts/compose-secrets.sh'], { AGORA_SECRETS_DIR: secrets });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(`compose-secrets: ${secrets} has 6 secrets (1 new)\n`);
    expect(readFileSync(path.join(secrets, 'redis-runner-password'), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(readFileSync(path.join(secrets, 'api-key'), 'utf8')).toBe(kept);
  });

  it('deploy/agora.config.mjs names a knob that is not a whole number (it reached the config as NaN or 0)', () => {
    const validate = (vars: NodeJS.ProcessEnv) => {
      const r = spawnSync(process.execPath, [path.join(root, 'apps/cli/dist/bin.js'), '-c', path.join(root, 'deploy/agora.config.mjs'), 'tasks', 'list', '--json'], {
        cwd: dir,
        env: { PATH: process.env['PATH'], HOME: dir, AGORA_DATA_DIR: path.join(dir, 'data'), ...vars },
        encoding: 'utf8',
        timeout: 30_000,
      });
      return { code: r.status, stderr: r.stderr };
    };
    for (const [name, value] of [['AGORA_QUEUE_CONCURRENCY', 'abc'], ['AGORA_QUEUE_CONCURRENCY', '0'], ['AGORA_RUNNER_JOB_LOCK_MS', '30s']] as const) {
      const r = validate({ [name]: value });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`${name} must be a whole number of at least 1, got "${value}"`);
    }
  });

  it('redis-start.sh refuses an empty password file naming it, never a value', () => {
    const files = Object.fromEntries(['SCHEDULER', 'RUNNER', 'DASHBOARD', 'SUBMITTER', 'ADMIN'].map((r) => [`AGORA_REDIS_${r}_PASSWORD_FILE`, path.join(dir, `${r.toLowerCase()}-pw`)]));
    for (const f of Object.values(files)) writeFileSync(f, 'a'.repeat(32) + '\n');
    const empty = files['AGORA_REDIS_RUNNER_PASSWORD_FILE']!;
    writeFileSync(empty, '');
    const r = sh(['deploy/redis-start.sh'], { ...files, AGORA_REDIS_ACL_TEMPLATE: path.join(root, 'deploy/redis-acl.conf'), AGORA_REDIS_ACL_FILE: path.join(dir, 'users.acl') });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`redis-start: AGORA_REDIS_RUNNER_PASSWORD_FILE: ${empty} is empty (run scripts/compose-secrets.sh again)\n`);
  });
});
