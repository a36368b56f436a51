import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agoraEventSchema, type AgoraEvent } from '@agora/core';
import { LocalStorageProvider } from '@agora/storage-local';
import { cliEnv } from '../../../test/support/cli.js';

/**
 * Dead letters and replay through the CLI, on real processes (`agora serve`, `agora runner`): a
 * dispatch task whose behaviour a file controls fails, leaves a dead letter (scrubbed output tails,
 * dependencies' results), the file is fixed, `agora dlq replay` runs it again in a new run that
 * ends succeeded, both runs' records name each other, and both runs' audit verifies.
 */
const secret = `dlq-canary-${randomBytes(9).toString('hex')}`;
const envName = `AGORA_DLQ_CANARY_${randomBytes(3).toString('hex').toUpperCase()}`;
process.env[envName] = secret;

const env = cliEnv({
  queues: { default: { concurrency: 4 } },
  credentials: { vault: { provider: 'env', options: { allow: [envName] } } },
  targets: { local: { compute: 'local', credentials: 'vault' } },
  tasks: { flaky: { command: [process.execPath, 'worker.cjs'], secretRefs: { API_KEY: `env:${envName}` } } },
  deadLetters: { tailBytes: 256 },
});

/**
 * The task: fails (exit 3, printing the secret and a long line to both streams) unless its
 * control file says "ok"; then prints what its dependencies gave it.
 */
const WORKER = `
const fs = require('node:fs');
const path = require('node:path');
const input = JSON.parse(fs.readFileSync(process.env.AGORA_WORKER_INPUT_FILE, 'utf8'));
const mode = fs.readFileSync(input.control, 'utf8').trim();
if (mode !== 'ok') {
  process.stdout.write('x'.repeat(2000) + '\\npartial result, key=' + process.env.API_KEY + '\\n');
  process.stderr.write('y'.repeat(2000) + '\\nbroken: control says ' + mode + ', key=' + process.env.API_KEY + '\\n');
  process.exit(3);
}
const deps = JSON.parse(fs.readFileSync(process.env.AGORA_DEPENDENCIES_FILE, 'utf8'));
const got = Object.keys(deps).sort().map((d) => d + '=' + fs.readFileSync(path.join(process.env.AGORA_DEPS_DIR, d), 'utf8'));
process.stdout.write('fixed; deps: ' + got.join(' '));
`;

const control = path.join(env.dir, 'control.txt');
const plan = {
  id: 'dlq-plan',
  queue: 'default',
  items: [
    { id: 'up', executor: 'noop', inputs: { value: 'upstream' }, depends_on: [], resourceLocks: [] },
    { id: 'work', executor: 'dispatch', inputs: { task: 'flaky', workerInput: { control } }, depends_on: ['up'], resourceLocks: ['res/work'] },
    { id: 'after', executor: 'noop', inputs: {}, depends_on: ['work'], resourceLocks: [] },
  ],
};

interface Letter {
  id: string;
  runId: string;
  itemId: string;
  executor: string;
  inputsHash: string;
  inputs?: Record<string, unknown>;
  attempts: number;
  errorCode: string;
  error: string;
  exitCode?: number;
  stdoutTail?: string;
  stderrTail?: string;
  dependencies: Record<string, string>;
  dependsOn: string[];
  resourceLocks: string[];
  failedAt: string;
  source: string;
  replayedBy?: string;
}
interface Status {
  state: string;
  items: Array<{ id: string; state: string; resultRef?: string }>;
  replayOf?: { runId: string; items: string[] };
  replayedBy?: Array<{ runId: string; items: string[] }>;
}

const json = <T>(args: string[]): T => {
  const r = env.agora(args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout) as T;
};

let failedRun: string;
let letter: Letter;

beforeAll(async () => {
  writeFileSync(path.join(env.dir, 'worker.cjs'), WORKER);
  writeFileSync(control, 'broken');
  await env.start(['serve'], /scheduler serving/);
  await env.start(['runner', '--concurrency', '2'], /runner started/);
  failedRun = env.agora(['submit', env.writeJson('plan.json', plan)]).stdout.trim();
  expect(env.agora(['watch', failedRun]).code).toBe(1);
}, 120_000);
afterAll(async () => {
  await env.close();
  delete process.env[envName];
});

describe('agora dlq', () => {
  it('list --json shows the item that failed for good, with every field, tails bounded and scrubbed; the skipped dependent is not a dead letter', () => {
    const { deadLetters } = json<{ deadLetters: Letter[] }>(['dlq', 'list', '--run', failedRun, '--json']);
    expect(deadLetters.map((l) => l.id)).toEqual([`${failedRun}.work`]);
    letter = deadLetters[0]!;
    const st = json<Status>(['status', failedRun]);
    const upRef = st.items.find((i) => i.id === 'up')!.resultRef!;
    expect(letter).toMatchObject({
      runId: failedRun,
      itemId: 'work',
      executor: 'dispatch',
      inputs: { task: 'flaky', workerInput: { control } },
      attempts: 1,
      errorCode: 'APPLICATION',
      exitCode: 3,
      dependsOn: ['up'],
      dependencies: { up: upRef },
      resourceLocks: ['res/work'],
      source: 'runner',
    });
    expect(letter.inputsHash).toMatch(/^[0-9a-f]{64}$/);
    expect(Date.parse(letter.failedAt)).toBeGreaterThan(0);
    expect(letter.error).toContain('worker exited with code 3');
    // Tails: the last 256 bytes (deadLetters.tailBytes) of each stream, with the secret redacted.
    expect(letter.stdoutTail).toContain('partial result, key=[REDACTED]');
    expect(letter.stderrTail).toContain('broken: control says broken, key=[REDACTED]');
    expect(Buffer.byteLength(letter.stdoutTail!)).toBeLessThanOrEqual(256);
    expect(Buffer.byteLength(letter.stderrTail!)).toBeLessThanOrEqual(256);
    const all = env.agora(['dlq', 'list', '--json']).stdout;
    expect(all).not.toContain(secret);
    expect(env.agora(['dlq', 'show', letter.id]).stdout).not.toContain(secret);
    // The text listing: one line naming the letter and its error type.
    expect(env.agora(['dlq', 'list']).stdout).toMatch(new RegExp(`^${failedRun}\\.work  APPLICATION exit 3 `, 'm'));
  });

  it('list --limit is 1 to 9999999: outside it, or not an integer, exits 2 naming the flag and the value', () => {
    expect(env.agora(['dlq', 'list', '--limit', '9999999']).code).toBe(0);
    for (const bad of ['0', '10000000', '99999999999', '1.5', 'abc']) {
      const r = env.agora(['dlq', 'list', '--limit', bad]);
      expect([r.code, r.stderr]).toEqual([2, `agora: --limit must be an integer from 1 to 9999999, got "${bad}"\n`]);
    }
  });

  it('show prints one record; unknown and malformed ids exit 2 with a clear message', () => {
    expect(json<Letter>(['dlq', 'show', letter.id])).toMatchObject({ id: letter.id, errorCode: 'APPLICATION' });
    const unknown = env.agora(['dlq', 'show', `${failedRun}.ghost`]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(`no dead letter "${failedRun}.ghost"`);
    const bad = env.agora(['dlq', 'show', 'not-an-id']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('invalid dead letter id');
    expect(env.agora(['dlq', 'replay', `${failedRun}.ghost`]).code).toBe(2);
    expect(env.agora(['dlq', 'replay']).code).toBe(2);
  });

  it('after the cause is fixed, replay runs the item in a new run that ends succeeded, with its dependency\'s original result; both records link; both audits verify', async () => {
    writeFileSync(control, 'ok');
    const r = env.agora(['dlq', 'replay', letter.id]);
    expect(r.code, r.stderr).toBe(0);
    const replayRun = r.stdout.trim();
    expect(replayRun).toMatch(/^r[0-9a-z]+$/);
    const w = env.agora(['watch', replayRun]);
    expect(w.code, w.stdout).toBe(0);
    const events = w.stdout.trim().split('\n').map((l) => agoraEventSchema.parse(JSON.parse(l)) as AgoraEvent);

    // The new run: the dead item ran and ended done; its dependency stood in with its original result.
    const st = json<Status>(['status', replayRun]);
    const orig = json<Status>(['status', failedRun]);
    const upRef = orig.items.find((i) => i.id === 'up')!.resultRef!;
    expect(st.state).toBe('succeeded');
    expect(Object.fromEntries(st.items.map((i) => [i.id, i.state]))).toEqual({ work: 'done', up: 'done' });
    expect(st.items.find((i) => i.id === 'up')!.resultRef).toBe(upRef);
    expect(events.find((e) => e.itemId === 'up' && e.state === 'done')).toMatchObject({ resultRef: upRef, reusedFrom: { runId: failedRun, itemId: 'up' } });
    expect(events.filter((e) => e.itemId === 'up' && e.state === 'running')).toEqual([]);
    expect(events.find((e) => e.itemId === 'work' && e.state === 'done')).toMatchObject({ exitCode: 0, task: 'flaky' });

    // Both records name the link: the new run's accepted event and record, the original's record, the letter.
    expect(events[0]).toMatchObject({ type: 'run', state: 'accepted', replayOf: { runId: failedRun, items: ['work'] } });
    expect(st.replayOf).toMatchObject({ runId: failedRun, items: ['work'] });
    expect(orig.replayedBy).toEqual([expect.objectContaining({ runId: replayRun, items: ['work'] })]);
    expect(json<Letter>(['dlq', 'show', letter.id]).replayedBy).toBe(replayRun);

    // The artifact holds what the fixed worker read from its dependency: the original's bytes.
    const workRef = st.items.find((i) => i.id === 'work')!.resultRef!;
    const artifact = Buffer.from(await new LocalStorageProvider({ root: path.join(env.dir, '.agora', 'storage') }).get(workRef)).toString('utf8');
    expect(artifact).toBe('fixed; deps: up={"value":"upstream"}');

    // The original run's stream is untouched (still ends with its terminal event): both audits verify.
    for (const run of [failedRun, replayRun]) {
      const out = path.join(env.dir, `bundle-${run}.json`);
      const a = env.agora(['audit', run, '--out', out]);
      expect(a.code, a.stdout + a.stderr).toBe(0);
      const v = env.agora(['audit', 'verify', out]);
      expect(v.code, v.stdout).toBe(0);
    }
  }, 60_000);

  it('a replayed letter is refused unless --force; --run replays only letters not replayed yet', () => {
    const again = env.agora(['dlq', 'replay', letter.id]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('was replayed already; replay with force to replay it again (--force, { force: true })');
    const byRun = env.agora(['dlq', 'replay', '--run', failedRun]);
    expect(byRun.code).toBe(2);
    expect(byRun.stderr).toContain('replayed already (replay with all to replay them again: --all, { all: true })');
    const forced = env.agora(['dlq', 'replay', letter.id, '--force', '--json']);
    expect(forced.code, forced.stderr).toBe(0);
    const r = JSON.parse(forced.stdout) as { runId: string; letters: string[]; items: string[] };
    expect(r).toMatchObject({ letters: [letter.id], items: ['work'] });
    expect(env.agora(['watch', r.runId]).code).toBe(0);
    expect(json<Letter>(['dlq', 'show', letter.id]).replayedBy).toBe(r.runId);
  }, 60_000);

  it('purge deletes a run\'s letters; purging an unknown id exits 2', () => {
    const none = env.agora(['dlq', 'purge', `${failedRun}.ghost`]);
    expect(none.code).toBe(2);
    expect(env.agora(['dlq', 'purge']).code).toBe(2);
    const p = env.agora(['dlq', 'purge', '--run', failedRun, '--json']);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toBe('{"purged":1}\n');
    expect(env.agora(['dlq', 'purge', '--run', failedRun]).stdout).toBe('purged 0 dead letters\n');
    const noArgs = env.agora(['dlq', 'replay']);
    expect([noArgs.code, noArgs.stderr]).toEqual([2, 'agora: give a dead letter id (<runId>.<itemId>) or --run <run>\n']);
    // Before: 'give a dead letter id (<runId>.<itemId>) or --run <run>', silent on what --all is.
    const allAlone = env.agora(['dlq', 'replay', '--all']);
    expect([allAlone.code, allAlone.stderr]).toEqual([2, 'agora: --all goes with --run <run>: every dead letter of that run, replayed or not\n']);
    expect(json<{ deadLetters: Letter[] }>(['dlq', 'list', '--json']).deadLetters).toEqual([]);
    expect(env.agora(['dlq', 'list']).stdout).toBe('no dead letters\n');
  });

  it('a replay keeps the item\'s timeoutMs: a noop that timed out times out again instead of running to its end', () => {
    const slow = { id: 'slow', items: [{ id: 'slow', executor: 'noop', inputs: { sleepMs: 4000 }, timeoutMs: 300, retry: { attempts: 1 } }] };
    const run = env.agora(['submit', env.writeJson('slow.json', slow)]).stdout.trim();
    expect(env.agora(['watch', run]).code).toBe(1);
    expect(json<Letter & { timeoutMs?: number }>(['dlq', 'show', `${run}.slow`])).toMatchObject({ errorCode: 'TIMEOUT', timeoutMs: 300 });
    const replay = json<{ runId: string }>(['dlq', 'replay', `${run}.slow`, '--json']);
    expect(env.agora(['watch', replay.runId]).code).toBe(1);
    const status = json<{ state: string; items: Array<{ id: string; state: string; errorCode?: string }> }>(['status', replay.runId, '--json']);
    expect(status.state).toBe('failed');
    expect(status.items).toEqual([expect.objectContaining({ id: 'slow', state: 'failed', errorCode: 'TIMEOUT' })]);
  }, 60_000);
});
