import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { BIN, cliEnv } from '../../../test/support/cli.js';

const env = cliEnv({ queues: { default: { concurrency: 2 } } });
afterAll(() => env.close());

const item = (id: string, extra: Record<string, unknown> = {}) => ({ id, executor: 'noop', inputs: {}, depends_on: [], resourceLocks: [], ...extra });

describe('agora validate', () => {
  it('prints the cycle path and exits 1', () => {
    const f = env.writeJson('cycle.json', { id: 'p', queue: 'default', items: [item('a', { depends_on: ['b'] }), item('b', { depends_on: ['c'] }), item('c', { depends_on: ['a'] })] });
    const r = env.agora(['validate', f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cycle: a -> b -> c -> a');
  });

  it.each([
    ['duplicate id', [item('a'), item('a')], 'items[1] ("a"): duplicate item id (first used by items[0])'],
    ['unknown dependency', [item('a', { depends_on: ['ghost'] })], 'items[0] ("a"): depends_on[0]: unknown item "ghost"'],
    ['self-dependency', [item('a', { depends_on: ['a'] })], 'items[0] ("a"): depends_on[0]: item depends on itself'],
    ['unknown executor', [item('a', { executor: 'warp' })], 'items[0] ("a"): unknown executor "warp" (known: dispatch, noop)'],
    ['bad lock name', [item('a', { resourceLocks: ['a//b'] })], 'items[0] ("a"): resourceLocks[0]: invalid lock name "a//b": has an empty, "." or ".." path segment'],
    ['empty plan', [], 'items: plan is empty: it has no items'],
    ['oversized inputs', [item('a', { inputs: { x: 'y'.repeat(70_000) } })], 'items[0] ("a"): inputs are 70008 bytes, over the limit of 65536 bytes'],
  ])('rejects %s with a message naming the item', (_name, items, message) => {
    const f = env.writeJson('bad.json', { id: 'p', queue: 'default', items });
    const r = env.agora(['validate', f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
  });

  it('rejects an unknown queue', () => {
    const f = env.writeJson('q.json', { id: 'p', queue: 'nope', items: [item('a')] });
    const r = env.agora(['validate', f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('queue: unknown queue "nope" (configured: default)');
  });

  it('lists all problems at once', () => {
    const f = env.writeJson('many.json', { id: 'p', queue: 'default', items: [item('a', { executor: 'x' }), item('b', { depends_on: ['zz'] })] });
    const r = env.agora(['validate', f]);
    expect(r.stderr).toContain('2 problems');
  });

  it('gives malformed JSON a parse error with line and column, exit 2', () => {
    const f = env.writeJson('broken.json', '{\n  "id": "p",\n  "items": [\n    { "id": "a" "executor": "noop" }\n  ]\n}');
    const r = env.agora(['validate', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('broken.json:4:17: invalid JSON: CommaExpected');
  });

  it('refuses a plan file that is not valid UTF-8, naming the file, line and byte, exit 2', () => {
    // Before: the 0xe9 (Latin-1 "é") was read as U+FFFD and the plan was valid (exit 0), its id changed.
    const f = env.writeJson('latin1.json', '');
    writeFileSync(f, Buffer.concat([Buffer.from('{"id": "p",\n "queue": "default", "items": [{"id": "caf'), Buffer.from([0xe9]), Buffer.from('", "executor": "noop"}]}')]));
    for (const verb of ['validate', 'submit']) {
      const r = env.agora([verb, f]);
      expect([r.code, r.stdout], verb).toEqual([2, '']);
      expect(r.stderr, verb).toContain(`${f}:2: not valid UTF-8: byte 0xe9 at offset 54 (save the file as UTF-8)`);
    }
    // A config file so: exit 2 before any verb runs, naming it.
    const cfg = env.writeJson('latin1.config.json', '');
    writeFileSync(cfg, Buffer.concat([Buffer.from('{"namespace": "caf'), Buffer.from([0xe9]), Buffer.from('"}')]));
    const c = env.agora(['-c', cfg, 'validate', env.writeJson('fine.json', { id: 'p', queue: 'default', items: [item('a')] })]);
    expect([c.code, c.stdout]).toEqual([2, '']);
    expect(c.stderr).toContain(`${cfg}:1: not valid UTF-8: byte 0xe9 at offset 18`);
    const stdin = spawnSync(process.execPath, [BIN, 'validate', '-'], { cwd: env.dir, env: env.env, input: readFileSync(f), encoding: 'utf8' });
    expect([stdin.status, stdin.stderr]).toEqual([2, 'agora: <stdin>:2: not valid UTF-8: byte 0xe9 at offset 54 (save the file as UTF-8)\n']);
  });

  it('accepts a valid plan and says so', () => {
    const f = env.writeJson('ok.json', { id: 'p', queue: 'default', items: [item('a'), item('b', { depends_on: ['a'] })] });
    const r = env.agora(['validate', f]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('plan "p" is valid: 2 items on queue "default"');
  });

  it('counts in the number the noun takes: 1 item, 2 items, 1 problem (before: "1 items")', async () => {
    const one = env.agora(['validate', env.writeJson('one.json', { id: 'one', queue: 'default', items: [item('a')] })]);
    expect([one.code, one.stdout.split(': ').slice(1).join(': ')]).toEqual([0, 'plan "one" is valid: 1 item on queue "default"\n']);
    const bad = env.agora(['validate', env.writeJson('one-bad.json', { id: 'p', queue: 'default', items: [item('a', { depends_on: ['a'] })] })]);
    expect(bad.stderr).toContain('plan is invalid (1 problem):');
    const { counted } = await import('../src/wording.js');
    expect([0, 1, 2].map((n) => counted(n, 'item'))).toEqual(['0 items', '1 item', '2 items']);
    expect(counted(1, 'byte')).toBe('1 byte');
    expect(counted(3, 'entry', 'entries')).toBe('3 entries');
  });

  it('prints a valid plan\'s id quoted as JSON, never a control character in it raw', () => {
    // Before: a plan id holding ESC[2J was written to the terminal as is.
    const f = env.writeJson('esc.json', { id: 'p\u001b[2J', queue: 'default', items: [item('a')] });
    const r = env.agora(['validate', f]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('plan "p\\u001b[2J" is valid: 1 item on queue "default"');
    expect(r.stdout).not.toContain('\u001b');
  });

  it('submit refuses an invalid plan and enqueues nothing', () => {
    const f = env.writeJson('bad-submit.json', { id: 'p', queue: 'default', items: [item('a', { depends_on: ['a'] })] });
    const r = env.agora(['submit', f]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('nothing was submitted');
  });

  it('exits 3 with a clear message when Redis is unreachable', () => {
    const f = env.writeJson('ok2.json', { id: 'p', queue: 'default', items: [item('a')] });
    const r = env.agora(['submit', f], {});
    expect(r.code).toBe(0);
    const bad = { ...env.env, REDIS_URL: 'redis://127.0.0.1:1' };
    const res = spawnAgora(['status', 'r1'], bad, env.dir);
    expect(res.code).toBe(3);
    expect(res.stderr).toContain('cannot reach Redis at redis://127.0.0.1:1');
  });

  it('refuses a REDIS_URL naming a database the Redis does not have (exit 2), instead of using database 0', () => {
    // Before, ioredis logged the refused SELECT and went on in database 0: the plan was submitted
    // into another deployment's keys and the verb exited 0.
    const f = env.writeJson('ok3.json', { id: 'p', queue: 'default', items: [item('a')] });
    const url = new URL(env.env['REDIS_URL']!);
    url.pathname = '/99';
    const res = spawnAgora(['submit', f], { ...env.env, REDIS_URL: url.toString() }, env.dir);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('REDIS_URL names database 99, which the Redis at');
  });
});

function spawnAgora(args: string[], e: NodeJS.ProcessEnv, cwd: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, env: e, encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}
