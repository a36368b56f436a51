import { afterAll, describe, expect, it } from 'vitest';
import { cliEnv, type CliEnv } from '../../../test/support/cli.js';

/** Issue 16, part 3: `--json` on every verb that prints, each answer one parsable line. */

const envs: CliEnv[] = [];
afterAll(async () => {
  for (const e of envs) await e.close();
});

const oneJsonLine = (out: string): unknown => {
  const lines = out.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!);
};

describe('--json', () => {
  it('validate, submit, status, tasks register/list and health answer one JSON line; plain output stays for people', async () => {
    const e = cliEnv({ tasks: { local: { command: ['true'] } } });
    envs.push(e);
    const good = e.writeJson('good.json', { id: 'j', items: [{ id: 'a', executor: 'noop' }] });
    const bad = e.writeJson('bad.json', { id: 'j', items: [{ id: 'a', executor: 'noop', depends_on: ['zz'] }] });
    expect(oneJsonLine(e.agora(['validate', good, '--json']).stdout)).toEqual({ ok: true, planId: 'j', queue: 'default', items: 1 });
    const invalid = e.agora(['validate', bad, '--json']);
    expect(invalid.code).toBe(1);
    expect(oneJsonLine(invalid.stdout)).toEqual({ ok: false, problems: [expect.stringContaining('unknown item "zz"')] });
    expect(e.agora(['validate', good]).stdout).toContain('is valid: 1 item on queue');

    const refused = e.agora(['submit', bad, '--json']);
    expect(refused.code).toBe(1);
    expect(oneJsonLine(refused.stdout)).toMatchObject({ ok: false });
    const sub = oneJsonLine(e.agora(['submit', good, '--json']).stdout) as { runId: string };
    expect(sub.runId).toMatch(/^[A-Za-z0-9]/);
    const status = e.agora(['status', sub.runId, '--json']);
    expect(oneJsonLine(status.stdout)).toMatchObject({ runId: sub.runId });
    expect(e.agora(['status', sub.runId]).stdout.split('\n').length).toBeGreaterThan(3);

    const task = e.writeJson('task.json', { command: ['echo', 'hi'] });
    const reg = oneJsonLine(e.agora(['tasks', 'register', 'greet', task, '--json']).stdout) as { name: string; uri: string };
    expect(reg).toEqual({ name: 'greet', uri: expect.stringMatching(new RegExp(`^agora://${e.namespace}/task/greet/[0-9a-f]{64}$`)) });
    expect(oneJsonLine(e.agora(['tasks', 'list', '--json']).stdout)).toEqual([
      { name: 'greet', uri: reg.uri, source: 'storage' },
      { name: 'local', uri: null, source: 'config' },
    ]);

    expect(oneJsonLine(e.agora(['health', '--json']).stdout)).toEqual({ healthy: true, problems: [] });
    e.env['REDIS_URL'] = 'redis://127.0.0.1:1';
    const down = e.agora(['health', '--json', '--timeout', '500']);
    expect(down.code).toBe(3);
    expect(oneJsonLine(down.stdout)).toMatchObject({ healthy: false, problems: [expect.stringContaining('cannot reach Redis')] });
  }, 90_000);

  it('validate and submit --json answer { ok: false, problems } for a plan file that is malformed or unreadable (exit 2, stderr as before)', () => {
    const e = cliEnv();
    envs.push(e);
    const malformed = e.writeJson('malformed.json', '{"id": "j" "items": []}');
    for (const verb of ['validate', 'submit']) {
      for (const [file, why] of [[malformed, 'malformed.json:1:12: invalid JSON: CommaExpected'], ['missing.json', 'cannot read missing.json: ENOENT']] as const) {
        // Before: nothing on stdout, so a script parsing it had no answer.
        const r = e.agora([verb, file, '--json']);
        expect(r.code, `${verb} ${file}: ${r.stderr}`).toBe(2);
        expect(oneJsonLine(r.stdout)).toEqual({ ok: false, problems: [expect.stringContaining(why)] });
        expect(r.stderr).toContain(why);
        // Without --json stdout stays empty.
        expect(e.agora([verb, file]).stdout).toBe('');
      }
    }
  }, 60_000);

  it('validate and submit agree on a plan only the config or the deployment refuses; submit --json answers { ok: false, problems }', async () => {
    const e = cliEnv();
    envs.push(e);
    const sink = e.writeJson('sink.json', { id: 's', resultSink: 'nope', items: [{ id: 'a', executor: 'noop' }] });
    // Before: validate said "valid" (exit 0) and submit wrote nothing on stdout.
    const v = e.agora(['validate', sink, '--json']);
    expect(v.code).toBe(1);
    expect(oneJsonLine(v.stdout)).toEqual({ ok: false, problems: [expect.stringContaining('unknown result sink "nope"')] });
    const sub = e.agora(['submit', sink, '--json']);
    expect(sub.code).toBe(1);
    expect(oneJsonLine(sub.stdout)).toEqual({ ok: false, problems: [expect.stringContaining('unknown result sink "nope"')] });
    // An executor only the running scheduler's deployment refuses: same answer, not a bare stderr line.
    await e.start(['serve'], /scheduler serving/);
    const warp = e.writeJson('warp.json', { id: 'w', items: [{ id: 'a', executor: 'warp' }] });
    const refused = e.agora(['submit', warp, '--json']);
    expect(refused.code).toBe(1);
    expect(oneJsonLine(refused.stdout)).toEqual({ ok: false, problems: [expect.stringContaining('warp')] });
  }, 90_000);
});
