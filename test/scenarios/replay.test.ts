import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateNoteKey } from '@agora/audit';
import { parseAgoraUri } from '@agora/core';
import type { EvidenceBundle } from '@agora/evidence';
import { cliEnv } from '../support/cli.js';

/**
 * `agora replay` on real runs (`agora serve`, `agora runner`, the process provider): a sealed
 * run's dispatch items are executed again from the bundle alone (pinned task definitions, the
 * recorded plan, the dependencies' sealed results) and each new stdout hash is compared with the
 * sealed one. A counter file the worker appends to shows what ran.
 */
const env = cliEnv({
  queues: { default: { concurrency: 4 } },
  // Not pinned (a config task): prints the time, so its output never reproduces.
  tasks: { clock: { command: ['sh', '-c', 'date +%s%N'] } },
});
const counter = path.join(env.dir, 'runs.log');

/** Prints its input and what its dependencies gave it: deterministic. */
const ECHO = `
const fs = require('node:fs');
const path = require('node:path');
fs.appendFileSync(process.env.COUNTER, process.env.AGORA_ITEM_ID + '\\n');
const input = JSON.parse(fs.readFileSync(process.env.AGORA_WORKER_INPUT_FILE, 'utf8'));
const deps = JSON.parse(fs.readFileSync(process.env.AGORA_DEPENDENCIES_FILE, 'utf8'));
const got = Object.keys(deps).sort().map((d) => d + '=' + fs.readFileSync(path.join(process.env.AGORA_DEPS_DIR, d), 'utf8'));
const { AGORA_RUN_ID: run, AGORA_ITEM_ID: item, AGORA_ATTEMPT: attempt, AGORA_LOCK_TOKENS: tokens } = process.env;
process.stdout.write(JSON.stringify({ run, item, attempt, tokens, input, deps: got }));
`;

const deterministic = {
  id: 'echo-plan',
  queue: 'default',
  items: [
    { id: 'a', executor: 'dispatch', inputs: { task: 'echo', workerInput: { text: 'alpha' } }, depends_on: [], resourceLocks: [] },
    { id: 'b', executor: 'dispatch', inputs: { task: 'echo', workerInput: { text: 'beta' } }, depends_on: ['a'], resourceLocks: ['res/b'] },
    { id: 'n', executor: 'noop', inputs: { value: 1 }, depends_on: ['b'], resourceLocks: [] },
  ],
};
const timed = {
  id: 'clock-plan',
  queue: 'default',
  items: [
    { id: 't1', executor: 'dispatch', inputs: { task: 'clock' }, depends_on: [], resourceLocks: [] },
    { id: 't2', executor: 'dispatch', inputs: { task: 'clock' }, depends_on: [], resourceLocks: [] },
    { id: 's', executor: 'dispatch', inputs: { task: 'echo', workerInput: { text: 'steady' } }, depends_on: ['t1'], resourceLocks: [] },
  ],
};

interface Outcome {
  itemId: string;
  task: string;
  taskRef?: string;
  target?: string;
  sealedResultRef: string;
  sealedSha256: string;
  sha256?: string;
  status: 'equal' | 'differs' | 'failed';
  error?: string;
}
interface Report {
  ok: boolean;
  runId: string;
  planRef: string | null;
  counts: { equal: number; differs: number; failed: number };
  items: Outcome[];
  notReplayed: Array<{ itemId: string; state: string }>;
}

let echoRun: string;
let clockRun: string;
let echoBundle: string;
let clockBundle: string;
let echoRef: string;

const ranLines = (): string[] => readFileSync(counter, 'utf8').trim().split('\n');
const runAndSeal = (name: string, plan: unknown): { runId: string; bundle: string } => {
  const runId = env.agora(['submit', env.writeJson(`${name}.json`, plan)]).stdout.trim();
  expect(env.agora(['watch', runId]).code).toBe(0);
  const bundle = path.join(env.dir, `${name}.bundle.json`);
  const r = env.agora(['audit', runId, '--out', bundle]);
  expect(r.code, r.stderr).toBe(0);
  return { runId, bundle };
};
const replay = (args: string[]): { code: number | null; stdout: string; stderr: string; report?: Report } => {
  const r = env.agora(['replay', ...args]);
  let report: Report | undefined;
  if (args.includes('--json') && r.stdout.trim() !== '') report = JSON.parse(r.stdout) as Report;
  return { ...r, ...(report ? { report } : {}) };
};

beforeAll(async () => {
  writeFileSync(path.join(env.dir, 'echo.cjs'), ECHO);
  writeFileSync(counter, '');
  const reg = env.agora(['tasks', 'register', 'echo', env.writeJson('echo-task.json', { command: [process.execPath, 'echo.cjs'], env: { COUNTER: counter } }), '--json']);
  expect(reg.code, reg.stderr).toBe(0);
  echoRef = (JSON.parse(reg.stdout) as { uri: string }).uri;
  await env.start(['serve'], /scheduler serving/);
  await env.start(['runner', '--concurrency', '2'], /runner started/);
  ({ runId: echoRun, bundle: echoBundle } = runAndSeal('echo', deterministic));
  ({ runId: clockRun, bundle: clockBundle } = runAndSeal('clock', timed));
}, 120_000);
afterAll(() => env.close());

describe('agora replay', () => {
  it('a deterministic run: every dispatch item reproduces its sealed result, exit 0; the original run is untouched and no run is added', () => {
    const events = env.agora(['watch', echoRun, '--json']).stdout;
    const runs = env.agora(['runs', '--json']).stdout;
    const ranBefore = ranLines().length;

    const r = replay([echoBundle, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = r.report!;
    expect(report.ok).toBe(true);
    expect(report.runId).toBe(echoRun);
    expect(report.planRef).toMatch(new RegExp(`^agora://${env.namespace}/plan/${echoRun}/[0-9a-f]{64}$`));
    expect(report.counts).toEqual({ equal: 2, differs: 0, failed: 0 });
    expect(report.items.map((o) => [o.itemId, o.status, o.taskRef])).toEqual([
      ['a', 'equal', echoRef],
      ['b', 'equal', echoRef],
    ]);
    for (const o of report.items) {
      expect(o.sha256).toBe(o.sealedSha256);
      expect(parseAgoraUri(o.sealedResultRef).contentHash).toBe(o.sealedSha256);
      expect(o.target).toBe('local');
    }
    // The workers ran again (b with a's sealed result staged as its dependency, under the sealed
    // run's id, attempt and fencing tokens: its output prints them all)...
    expect(ranLines().slice(ranBefore).sort()).toEqual(['a', 'b']);
    // ...and nothing of the original run changed, and no run was added.
    expect(env.agora(['watch', echoRun, '--json']).stdout).toBe(events);
    expect(env.agora(['runs', '--json']).stdout).toBe(runs);

    // The table, for people.
    const t = replay([echoBundle]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toContain(`replay of run ${echoRun} (plan echo-plan): 2 items: 2 equal, 0 differ, 0 failed`);
    expect(t.stdout).toMatch(/^b\s+echo\s+equal\s+[0-9a-f]{12}\s+[0-9a-f]{12}\s/m);
  }, 120_000);

  it('a run whose worker prints the time: the clock items differ and the replay exits 1; --item picks the steady one (exit 0)', () => {
    const r = replay([clockBundle, '--json']);
    expect(r.code, r.stderr).toBe(1);
    const report = r.report!;
    expect(report.ok).toBe(false);
    expect(report.runId).toBe(clockRun);
    expect(report.counts).toEqual({ equal: 1, differs: 2, failed: 0 });
    expect(Object.fromEntries(report.items.map((o) => [o.itemId, o.status]))).toEqual({ t1: 'differs', t2: 'differs', s: 'equal' });
    const t1 = report.items.find((o) => o.itemId === 't1')!;
    expect(t1.sha256).not.toBe(t1.sealedSha256);
    // A config task: not pinned in the record, and the report says so.
    expect(t1.taskRef).toBeUndefined();

    const only = replay([clockBundle, '--item', 's', '--json']);
    expect(only.code, only.stderr).toBe(0);
    expect(only.report!.items.map((o) => [o.itemId, o.status])).toEqual([['s', 'equal']]);
  }, 120_000);

  it('refuses items that cannot be replayed, naming them (exit 2)', () => {
    const noop = replay([echoBundle, '--item', 'n']);
    expect(noop.code).toBe(2);
    expect(noop.stderr).toContain('item "n" cannot be replayed: only dispatch items that ran and ended done can be (its executor is noop)');
    const ghost = replay([echoBundle, '--item', 'ghost']);
    expect(ghost.code).toBe(2);
    expect(ghost.stderr).toContain(`item "ghost" is not in run ${echoRun}`);
    expect(replay([path.join(env.dir, 'nope.json')]).code).toBe(2);
  }, 120_000);

  it('a malformed --item names the value, and a bundle --item swallowed is named as such, not as a missing argument (exit 2)', () => {
    const commas = replay([echoBundle, '--item', 's,t1']);
    expect(commas.code).toBe(2);
    expect(commas.stderr).toContain('replay: --item "s,t1" is not an item id');
    // --item takes every word after it: the bundle given after it is one of its values.
    const after = replay(['--item', 's', echoBundle]);
    expect(after.code).toBe(2);
    expect(after.stderr).not.toMatch(/missing required argument/);
    expect(after.stderr).toContain(`replay: no <bundle.json>: --item takes every word after it as an item id ("${echoBundle}" too); give the bundle first: agora replay <bundle.json> --item <id>`);
  }, 120_000);

  it('a tampered bundle is refused with the verifier\'s reason (exit 4) and nothing runs; a bundle signed by another key than --key too', () => {
    const ranBefore = ranLines().length;
    const bundle = JSON.parse(readFileSync(echoBundle, 'utf8')) as EvidenceBundle;
    const registration = bundle.events.findIndex((e) => e.type === 'item' && e.itemId === 'a' && typeof e['inputsHash'] === 'string');
    const tampered = { ...bundle, events: bundle.events.map((e, i) => (i === registration ? { ...e, inputsHash: '0'.repeat(64) } : e)) };
    const file = env.writeJson('tampered.json', tampered);
    const r = replay([file, '--json']);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('does not verify, nothing was replayed:');
    expect(r.stderr).toContain('checkpoint.root:');
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, verified: false, report: { intact: false } });
    const otherKey = replay([echoBundle, '--key', generateNoteKey('agora-someone-else').vkey]);
    expect(otherKey.code).toBe(4);
    expect(otherKey.stderr).toContain('signer.pinned');
    expect(ranLines().length).toBe(ranBefore);
  }, 120_000);

  it('refuses when what the record pins is gone from storage (exit 5), naming it; a stored plan gone is replaced by --plan', () => {
    const ranBefore = ranLines().length;
    const blob = (ref: string): string => {
      const u = parseAgoraUri(ref);
      return path.join(env.dir, '.agora', 'storage', u.namespace, u.type, 'blobs', u.contentHash!);
    };
    // What the record pins, read from the bundle itself.
    const sealed = (JSON.parse(readFileSync(echoBundle, 'utf8')) as EvidenceBundle).events;
    const aRef = sealed.find((e) => e.type === 'item' && e.itemId === 'a' && e.state === 'done')!['resultRef'] as string;
    const planRef = sealed.find((e) => e.type === 'run' && e.state === 'accepted')!['planRef'] as string;
    const hide = (file: string, fn: () => void): void => {
      renameSync(file, `${file}.hidden`);
      try {
        fn();
      } finally {
        renameSync(`${file}.hidden`, file);
      }
    };
    hide(blob(echoRef), () => {
      const r = replay([echoBundle]);
      expect(r.code).toBe(5);
      expect(r.stderr).toContain(`item a: task ${echoRef}: no artifact at`);
      expect(r.stderr).toContain(`item b: task ${echoRef}`);
    });
    hide(blob(aRef), () => {
      const r = replay([echoBundle, '--json']);
      expect(r.code).toBe(5);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, missing: [{ itemId: 'b', what: 'dependency', ref: aRef }] });
      expect(r.stderr).toContain(`item b: dependency ${aRef}: dependency "a": no artifact at`);
    });
    hide(blob(planRef), () => {
      const r = replay([echoBundle]);
      expect(r.code).toBe(5);
      expect(r.stderr).toContain(`the run: plan ${planRef}: no artifact at`);
      expect(ranLines().length).toBe(ranBefore);
      // The plan it was submitted with stands in, checked against the sealed inputs hashes.
      const withPlan = replay([echoBundle, '--plan', path.join(env.dir, 'echo.json'), '--json']);
      expect(withPlan.code, withPlan.stderr).toBe(0);
      expect(withPlan.report!.counts.equal).toBe(2);
      const edited = { ...deterministic, items: deterministic.items.map((it) => (it.id === 'a' ? { ...it, inputs: { task: 'echo', workerInput: { text: 'other' } } } : it)) };
      const wrong = replay([echoBundle, '--plan', env.writeJson('edited.json', edited)]);
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toContain('item "a": the plan\'s inputs do not hash to the sealed inputsHash');
    });
  }, 120_000);
});
