import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cliEnv } from '../support/cli.js';

/**
 * Every exit code the README documents holds: a bad flag value, a directory where a file is
 * expected, or a value out of range is "bad usage or input" (exit 2) with a message naming the
 * flag, never a stack-trace exit 1 from deep inside, and it is refused before any work is done.
 */
const env = cliEnv({ queues: { default: { concurrency: 2 } } });
let runId: string;

/** `agora <args>` with extra environment (e.g. an unreachable Redis). */
function agoraWith(extra: NodeJS.ProcessEnv, args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: env.dir, env: { ...env.env, ...extra }, encoding: 'utf8', input: '', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Redis on a port nothing listens on: a verb that gets past its option checks exits 3. */
const NO_REDIS = { REDIS_URL: 'redis://127.0.0.1:1' };

beforeAll(async () => {
  await env.start(['serve'], /scheduler serving/);
  await env.start(['runner', '--concurrency', '1'], /runner started/);
  const plan = { id: 'exit-codes', queue: 'default', items: [{ id: 'a', executor: 'noop', inputs: {}, depends_on: [], resourceLocks: [] }] };
  runId = env.agora(['submit', env.writeJson('plan.json', plan)]).stdout.trim();
  expect(env.agora(['watch', runId]).code).toBe(0);
}, 120_000);
afterAll(() => env.close());

describe('exit 2 for a bad --port', () => {
  it.each(['99999', '65536', '-1', 'abc', '1.5', '1e3', ''])('agora dashboard --port %j exits 2 naming the flag', (port) => {
    const r = env.agora(['dashboard', '--port', port], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('--port must be an integer from 0 to 65535');
    expect(r.stdout).toBe('');
  });

  it('is checked before Redis is contacted (exit 2, not 3)', () => {
    const r = agoraWith(NO_REDIS, ['dashboard', '--port', '99999']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('--port');
  });

  it('agora dev --port 99999 exits 2 before it starts anything', () => {
    const dataDir = path.join(env.dir, 'dev-data');
    const r = agoraWith({ AGORA_DATA_DIR: dataDir }, ['dev', '--port', '99999', '--runners', '0']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('--port must be an integer from 0 to 65535');
    // Nothing was started: no dev state, no private Redis directory.
    expect(existsSync(dataDir) ? readdirSync(dataDir) : []).toEqual([]);
  });
});

describe('exit 2 for a directory given as the config', () => {
  it.each([
    ['--config <dir> status <run>', (dir: string) => ['--config', dir, 'status', 'x']],
    ['-c <dir> validate plan.json', (dir: string) => ['-c', dir, 'validate', 'plan.json']],
  ])('%s exits 2 and says it is a directory', (_name, args) => {
    const dir = path.join(env.dir, 'conf-dir');
    mkdirSync(dir, { recursive: true });
    const r = env.agora(args(dir));
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`config ${dir} is invalid`);
    expect(r.stderr).toContain('is a directory, not a config file');
  });

  it('AGORA_CONFIG pointing at a directory exits 2', () => {
    const r = agoraWith({ AGORA_CONFIG: env.dir }, ['validate', 'plan.json']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('is a directory, not a config file');
  });
});

describe('exit 2 for a .mjs config that does not load', () => {
  it.each([
    ['a syntax error', 'export default { queues: {', /could not load it: SyntaxError: Unexpected end of input/],
    ['a throw', "throw new Error('boom');", /could not load it: boom/],
    ['no default export', 'export const queues = {};', /has no default export/],
  ])('%s exits 2 naming the file', (name, text, message) => {
    const file = path.join(env.dir, `bad-${name.replace(/\W+/g, '-')}.config.mjs`);
    writeFileSync(file, text);
    const r = env.agora(['--config', file, 'validate', 'plan.json']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`config ${file} is invalid`);
    expect(r.stderr).toMatch(message);
  });
});

describe('exit 2 for a bad environment knob or a stray argument', () => {
  it.each([
    [{ AGORA_LOG_LEVEL: 'bogus' }, 'AGORA_LOG_LEVEL must be one of debug, info, warn, error, silent, got "bogus"'],
    [{ AGORA_CPUS: 'abc' }, 'AGORA_CPUS must be a whole number of CPUs from 1 to 4096, got "abc"'],
    [{ AGORA_CPUS: '0' }, 'AGORA_CPUS must be a whole number'],
  ])('%j is refused before anything runs (ignored in silence before)', (extra, message) => {
    const r = agoraWith({ ...extra, ...NO_REDIS }, ['status', runId]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(message);
  });

  it('an empty knob counts as unset (env files), and agora audit pubkey takes no argument', () => {
    expect(agoraWith({ AGORA_LOG_LEVEL: '', AGORA_CPUS: '' }, ['status', runId]).code).toBe(0);
    const r = env.agora(['audit', 'pubkey', 'extra']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('unexpected arguments: extra');
  });
});

describe('exit 2 for a bad --out', () => {
  it('agora audit <run> --out <dir> exits 2 and says it is a directory', () => {
    const r = env.agora(['audit', runId, '--out', env.dir]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`--out ${env.dir} is a directory`);
    expect(r.stdout).toBe('');
  });

  it('agora audit <run> --out <missing dir>/bundle.json exits 2 naming the missing directory', () => {
    const missing = path.join(env.dir, 'no', 'such');
    const r = env.agora(['audit', runId, '--out', path.join(missing, 'bundle.json')]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`--out: directory ${missing} does not exist`);
  });

  it('is checked before Redis is contacted (exit 2, not 3)', () => {
    const r = agoraWith(NO_REDIS, ['audit', runId, '--out', env.dir]);
    expect(r.code, r.stderr).toBe(2);
  });

  it('control: --out with a file path writes the bundle and exits 0', () => {
    const f = path.join(env.dir, 'bundle.json');
    const r = env.agora(['audit', runId, '--out', f]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(f)).toBe(true);
  });
});

describe('exit 2 for a bad --from', () => {
  it.each(['1e300', '9007199254740992', '-1', 'abc', '1.5', '0x10', ''])('agora watch <run> --from %j exits 2 naming the flag', (from) => {
    const r = env.agora(['watch', runId, '--from', from]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('--from must be a non-negative integer');
    expect(r.stdout).toBe('');
  });

  it('is checked before Redis is contacted (exit 2, not 3)', () => {
    const r = agoraWith(NO_REDIS, ['watch', 'x', '--from', 'abc']);
    expect(r.code, r.stderr).toBe(2);
  });

  it('control: --from 1 resumes and exits 0 for a run that succeeded', () => {
    const r = env.agora(['watch', runId, '--from', '1']);
    expect(r.code, r.stderr).toBe(0);
    const seqs = r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq);
    expect(seqs[0]).toBe(1);
  });
});

describe('exit 2 for an unusable --key', () => {
  it('agora audit verify <bundle> --key garbage exits 2 (a bad flag, not a failed verification)', () => {
    const f = path.join(env.dir, 'for-key.json');
    expect(env.agora(['audit', runId, '--out', f]).code).toBe(0);
    const r = env.agora(['audit', 'verify', f, '--key', 'garbage']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('--key');
  });

  it('agora audit verify-proof <proof> --key garbage exits 2', () => {
    const proof = env.agora(['audit', 'prove', runId, '0']);
    expect(proof.code, proof.stderr).toBe(0);
    const r = env.agora(['audit', 'verify-proof', env.writeJson('proof.json', proof.stdout), '--key', 'garbage']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('--key');
  });
});
