import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { cliEnv } from '../../../test/support/cli.js';

// A config task, and a task registered in storage (the env's local data dir): `validate` and
// `submit` check a dispatch item's task as the scheduler's acceptance does.
const env = cliEnv({ queues: { default: { concurrency: 1 } }, tasks: { configured: { command: ['true'] } } });
afterAll(() => env.close());

const plan = (task: string) => ({ id: 'p', queue: 'default', items: [{ id: 'a', executor: 'dispatch', inputs: { task }, depends_on: [], resourceLocks: [] }] });

describe('agora validate / submit: the task a dispatch item names', () => {
  beforeAll(() => {
    const def = env.writeJson('task.json', { command: ['echo', 'hi'] });
    const r = env.agora(['tasks', 'register', 'registered', def]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('refuses a task neither configured nor registered, naming both lists', () => {
    const r = env.agora(['validate', env.writeJson('ghost.json', plan('ghost'))]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('items[0] ("a"): unknown task "ghost" (configured: configured; none registered by that name)');
    const j = env.agora(['validate', '--json', env.writeJson('ghost.json', plan('ghost'))]);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toEqual({ ok: false, problems: ['items[0] ("a"): unknown task "ghost" (configured: configured; none registered by that name)'] });
  });

  it('tasks register refuses a definition file that is not UTF-8 (exit 2), naming it', () => {
    // Before: the 0xe9 was stored as U+FFFD in the task's command.
    const def = env.writeJson('latin1-task.json', '');
    writeFileSync(def, Buffer.concat([Buffer.from('{"command": ["echo", "caf'), Buffer.from([0xe9]), Buffer.from('"]}')]));
    const r = env.agora(['tasks', 'register', 'latin1', def]);
    expect([r.code, r.stdout, r.stderr]).toEqual([2, '', `agora: ${def}:1: not valid UTF-8: byte 0xe9 at offset 25 (save the file as UTF-8)\n`]);
  });

  it('accepts a configured task and a registered one', () => {
    for (const task of ['configured', 'registered']) {
      const r = env.agora(['validate', env.writeJson(`${task}.json`, plan(task))]);
      expect(r.code, r.stderr).toBe(0);
    }
  });

  it('submit refuses an unknown task with the same problem and enqueues nothing', () => {
    const r = env.agora(['submit', '--json', env.writeJson('ghost-submit.json', plan('ghost'))]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({ ok: false, problems: ['items[0] ("a"): unknown task "ghost" (configured: configured; none registered by that name)'] });
    const runs = env.agora(['runs', '--json']);
    expect(runs.code, runs.stderr).toBe(0);
    expect(JSON.parse(runs.stdout).runs).toEqual([]);
  });

  it('refuses an item whose merged retry policy the scheduler would reject (maxDelayMs below the config\'s delay)', () => {
    // Before: validate and submit said the plan was valid, and the scheduler rejected the run at
    // acceptance ("the merged policy must keep maxDelayMs >= delayMs").
    const p = { id: 'p', queue: 'default', items: [{ id: 'a', executor: 'noop', inputs: {}, retry: { backoff: { maxDelayMs: 10 } } }] };
    const problem = 'items[0] ("a"): retry: backoff.maxDelayMs 10 (from the item) is below backoff.delayMs 1000 (from the config); the merged policy must keep maxDelayMs >= delayMs';
    const v = env.agora(['validate', '--json', env.writeJson('retry.json', p)]);
    expect(v.code, v.stderr).toBe(1);
    expect(JSON.parse(v.stdout)).toEqual({ ok: false, problems: [problem] });
    const s = env.agora(['submit', '--json', env.writeJson('retry.json', p)]);
    expect(s.code, s.stderr).toBe(1);
    expect(JSON.parse(s.stdout)).toEqual({ ok: false, problems: [problem] });
    // Under the cap the same plan is valid.
    expect(env.agora(['validate', env.writeJson('retry-ok.json', { ...p, items: [{ ...p.items[0], retry: { backoff: { maxDelayMs: 1000 } } }] })]).code).toBe(0);
  });

  it('refuses a registered task whose result sink the config does not have, as acceptance does', () => {
    // Before: registration took the definition, validate and submit called the plan valid, and
    // the scheduler rejected the run at acceptance.
    const def = env.writeJson('sinky-task.json', { command: ['true'], resultSink: 'nowhere' });
    expect(env.agora(['tasks', 'register', 'sinky', def]).code).toBe(0);
    // Named with its item, as every problem is (it named only the task).
    const problem = 'items[0] ("a"): task "sinky": unknown result sink "nowhere" (configured: stdout)';
    const v = env.agora(['validate', '--json', env.writeJson('sinky.json', plan('sinky'))]);
    expect(v.code, v.stderr).toBe(1);
    expect(JSON.parse(v.stdout)).toEqual({ ok: false, problems: [problem] });
    const s = env.agora(['submit', '--json', env.writeJson('sinky.json', plan('sinky'))]);
    expect(s.code, s.stderr).toBe(1);
    expect(JSON.parse(s.stdout)).toEqual({ ok: false, problems: [problem] });
  });

  it('a plan of noop items never reads storage (validate works with the storage unreachable)', () => {
    const unreachable = cliEnv({ storage: { provider: 's3', options: { bucket: 'bkt', endpoint: 'http://127.0.0.1:1', region: 'us-east-1', forcePathStyle: true } } });
    try {
      const ok = unreachable.agora(['validate', unreachable.writeJson('noop.json', { id: 'p', queue: 'default', items: [{ id: 'a', executor: 'noop', inputs: {}, depends_on: [], resourceLocks: [] }] })]);
      expect(ok.code, ok.stderr).toBe(0);
    } finally {
      void unreachable.close();
    }
  });
});
