import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgoraUri } from '@agora/core';
import type { EvidenceBundle } from '@agora/evidence';
import { cliEnv } from '../../../test/support/cli.js';

/**
 * Audit findings on `agora replay`, `agora rerun`, `agora cache list` and the scheduler's
 * acceptance of merged retry policies, against `agora serve` and `agora runner` on the test
 * Redis: a run of two items whose stored plan is then deleted from storage.
 */
const env = cliEnv({
  queues: { default: { concurrency: 2 } },
  runner: { backoffMs: 200 },
  tasks: { say: { command: ['sh', '-c', 'echo said'] } },
});
const plan = {
  id: 'rp-plan',
  queue: 'default',
  items: [
    { id: 'e1', executor: 'dispatch', inputs: { task: 'say', workerInput: { n: 1 } }, depends_on: [], resourceLocks: [] },
    { id: 'e2', executor: 'dispatch', inputs: { task: 'say', workerInput: { n: 2 } }, depends_on: [], resourceLocks: [] },
  ],
};
let runId: string;
let bundle: string;
let planRef: string;

beforeAll(async () => {
  await env.start(['serve'], /scheduler serving/);
  await env.start(['runner', '--concurrency', '2'], /runner started/);
  runId = env.agora(['submit', env.writeJson('rp.json', plan)]).stdout.trim();
  expect(env.agora(['watch', runId]).code).toBe(0);
  bundle = path.join(env.dir, 'rp.bundle.json');
  const a = env.agora(['audit', runId, '--out', bundle]);
  expect(a.code, a.stderr).toBe(0);
  const events = (JSON.parse(readFileSync(bundle, 'utf8')) as EvidenceBundle).events;
  planRef = events.find((e) => e.type === 'run' && e.state === 'accepted')!['planRef'] as string;
  // The run's stored plan is gone from storage.
  const u = parseAgoraUri(planRef);
  rmSync(path.join(env.dir, '.agora', 'storage', u.namespace, u.type, 'blobs', u.contentHash!));
}, 120_000);
afterAll(() => env.close());

describe('agora replay --plan: every item of the plan is checked against the sealed inputsHash', () => {
  it('a plan whose e1 inputs were altered is refused (exit 2) with --item e2 as with --item e1; the unaltered plan replays e2 (exit 0)', () => {
    const mod = env.writeJson('rp-mod.json', { ...plan, items: plan.items.map((it) => (it.id === 'e1' ? { ...it, inputs: { task: 'say', workerInput: { n: 100 } } } : it)) });
    const e2 = env.agora(['replay', bundle, '--item', 'e2', '--plan', mod]);
    expect(e2.code, e2.stdout + e2.stderr).toBe(2);
    expect(e2.stderr).toContain('item "e1": the plan\'s inputs do not hash to the sealed inputsHash');
    expect(e2.stdout).toBe('');
    const e1 = env.agora(['replay', bundle, '--item', 'e1', '--plan', mod]);
    expect(e1.code).toBe(2);
    expect(e1.stderr).toContain('item "e1": the plan\'s inputs do not hash to the sealed inputsHash');
    // An item added to the plan is refused too.
    const extra = env.agora(['replay', bundle, '--item', 'e2', '--plan', env.writeJson('rp-extra.json', { ...plan, items: [...plan.items, { ...plan.items[0]!, id: 'e3' }] })]);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toContain(`item "e3" of the plan is not in run ${runId}`);
    const ok = env.agora(['replay', bundle, '--item', 'e2', '--plan', path.join(env.dir, 'rp.json'), '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect((JSON.parse(ok.stdout) as { counts: unknown }).counts).toEqual({ equal: 1, differs: 0, failed: 0 });
  }, 120_000);

  it('a bundle that is not JSON is named by line and column, as plan files are; one that is not an object is bad input (exit 2)', () => {
    const bad = env.agora(['replay', env.writeJson('bad.json', '{\n  "runId": "x",\n  oops\n}')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/bad\.json:3:3: invalid JSON: /);
    for (const [name, text, what] of [['null.json', 'null', 'null'], ['array.json', '[]', 'an array'], ['number.json', '7', 'a number']] as const) {
      const r = env.agora(['replay', env.writeJson(name, text)]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`${name} is not an evidence bundle: a JSON object is expected, not ${what}`);
    }
  }, 60_000);
});

describe('agora rerun of a run whose stored plan is gone', () => {
  it('exits 2 naming the plan and submits nothing', () => {
    const before = env.agora(['runs', '--json']).stdout;
    const r = env.agora(['rerun', runId]);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`cannot rerun run "${runId}": its stored plan ${planRef} cannot be read from storage`);
    expect(env.agora(['runs', '--json']).stdout).toBe(before);
  }, 60_000);
});

describe('agora cache list --limit', () => {
  it('a limit over the bound names the flag, not the SDK call', () => {
    const r = env.agora(['cache', 'list', '--limit', '99999999']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--limit must be an integer from 1 to 9999999, got "99999999"');
    expect(r.stderr).not.toContain('memoEntries');
    expect(env.agora(['cache', 'list', '--limit', '9999999']).code).toBe(0);
  }, 60_000);
});

describe('merged retry policy at acceptance', () => {
  it("an item's maxDelayMs below the config's delay (runner.backoffMs) is refused, naming the item and both values", () => {
    const p = {
      id: 'rp-retry',
      queue: 'default',
      items: [
        { id: 'fine', executor: 'noop', inputs: {}, depends_on: [], resourceLocks: [] },
        { id: 'capped', executor: 'dispatch', inputs: { task: 'say' }, depends_on: [], resourceLocks: [], retry: { backoff: { maxDelayMs: 50 } } },
      ],
    };
    // submit checks the merged policy as acceptance does (libs/registry planDeploymentProblems),
    // so the plan is refused before anything is enqueued; acceptance's own check is in
    // apps/scheduler/test (a plan that reaches it another way is rejected the same).
    const sub = env.agora(['submit', env.writeJson('rp-retry.json', p)]);
    expect(sub.code, sub.stderr).toBe(1);
    expect(sub.stderr).toContain(
      'items[1] ("capped"): retry: backoff.maxDelayMs 50 (from the item) is below backoff.delayMs 200 (from the config); the merged policy must keep maxDelayMs >= delayMs',
    );
  }, 60_000);
});
