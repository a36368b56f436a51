import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv } from '../support/cli.js';

/**
 * `agora rerun --from-failed` on real processes (`agora serve`, `agora runner`, the process
 * provider): a 100-item plan (ten chains of ten) whose item i45 fails because of a file the test
 * controls. After the file is fixed, the rerun executes exactly i45 and its downstream (i55 … i95),
 * counted by the worker itself (it appends its item id to a file), reuses the other 94 results,
 * and ends succeeded; both runs link each other and both audit bundles verify.
 */
const env = cliEnv({
  queues: { default: { concurrency: 4 } },
  tasks: {
    step: {
      command: [
        '/bin/sh',
        '-c',
        'printf "%s\\n" "$AGORA_ITEM_ID" >> "$COUNTER"; if [ "$AGORA_ITEM_ID" = i45 ] && grep -q broken "$CONTROL"; then echo "broken by $CONTROL" >&2; exit 3; fi; printf "out-%s" "$AGORA_ITEM_ID"',
      ],
      env: { COUNTER: 'counter.txt', CONTROL: 'control.txt' },
    },
  },
});
const counter = path.join(env.dir, 'counter.txt');
const control = path.join(env.dir, 'control.txt');
const id = (i: number): string => `i${String(i).padStart(2, '0')}`;
const plan = {
  id: 'rerun-100',
  items: Array.from({ length: 100 }, (_, i) => ({ id: id(i), executor: 'dispatch', inputs: { task: 'step' }, depends_on: i >= 10 ? [id(i - 10)] : [] })),
};
const executions = (): string[] => readFileSync(counter, 'utf8').split('\n').filter(Boolean);

interface Status {
  runId: string;
  state: string;
  counts: Record<string, number>;
  items: Array<{ id: string; state: string; resultRef?: string; reusedFrom?: { runId: string; itemId: string } }>;
  rerunOf?: { runId: string; fromFailed: boolean };
  rerunBy?: Array<{ runId: string; fromFailed: boolean }>;
  shortcuts?: { reused: number; cached: number };
}
const json = <T>(args: string[]): T => {
  const r = env.agora(args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout) as T;
};

let failedRun: string;

beforeAll(async () => {
  writeFileSync(counter, '');
  writeFileSync(control, 'broken');
  await env.start(['serve'], /scheduler serving/);
  await env.start(['runner', '--concurrency', '4'], /runner started/);
  failedRun = env.agora(['submit', env.writeJson('plan.json', plan)]).stdout.trim();
  expect(env.agora(['watch', failedRun]).code).toBe(1);
}, 180_000);
afterAll(() => env.close());

describe('agora rerun --from-failed', () => {
  it('executes exactly the failed item and its downstream, reuses the other 94 results, and succeeds', () => {
    const before = json<Status>(['status', failedRun]);
    expect(before.counts).toMatchObject({ done: 94, failed: 1, skipped: 5 });
    expect(executions()).toHaveLength(95);

    writeFileSync(control, 'fixed');
    const r = json<{ runId: string; rerunOf: string; fromFailed: boolean }>(['rerun', failedRun, '--from-failed', '--json']);
    expect(r).toMatchObject({ rerunOf: failedRun, fromFailed: true });
    expect(env.agora(['watch', r.runId]).code).toBe(0);

    expect(executions().slice(95).sort()).toEqual(['i45', 'i55', 'i65', 'i75', 'i85', 'i95']);
    const after = json<Status>(['status', r.runId]);
    expect(after).toMatchObject({ state: 'succeeded', counts: { done: 100 }, shortcuts: { reused: 94, cached: 0 }, rerunOf: { runId: failedRun, fromFailed: true } });
    for (const it of after.items) {
      const was = before.items.find((i) => i.id === it.id)!;
      if (was.state === 'done') expect(it).toMatchObject({ resultRef: was.resultRef, reusedFrom: { runId: failedRun, itemId: it.id } });
      else expect(it.reusedFrom).toBeUndefined();
    }
    expect(json<Status>(['status', failedRun]).rerunBy).toEqual([{ runId: r.runId, fromFailed: true, at: expect.any(String) }]);

    const events = env.agora(['watch', r.runId, '--json']).stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; itemId?: string });
    expect(events.filter((e) => e.type === 'reused')).toHaveLength(94);

    // Both records verify offline: the original's stream was sealed before the rerun linked it.
    for (const run of [failedRun, r.runId]) {
      const file = path.join(env.dir, `bundle-${run}.json`);
      expect(env.agora(['audit', run, '--out', file]).code).toBe(0);
      expect(env.agora(['audit', 'verify', file]).code).toBe(0);
    }
  }, 120_000);

  it('refuses an unknown run (exit 2) and a bad run id', () => {
    expect(env.agora(['rerun', 'rnosuchrun']).code).toBe(2);
    expect(env.agora(['rerun', '../x']).code).toBe(2);
  });
});
