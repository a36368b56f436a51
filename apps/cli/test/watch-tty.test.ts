import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import type { AgoraEvent } from '@agora/core';
import { WatchSummary } from '../src/watch-summary.js';
import { BIN, cliEnv, type CliEnv } from '../../../test/support/cli.js';

/**
 * Issue 16, part 3: `agora watch` on a terminal shows a live summary (counts by state, a progress
 * bar, failures as they happen) and JSON lines when piped or with --json.
 */

const envs: CliEnv[] = [];
afterAll(async () => {
  for (const e of envs) await e.close();
});

const ev = (seq: number, body: Record<string, unknown>): AgoraEvent => ({ seq, runId: 'r1', at: new Date(0).toISOString(), ...body }) as unknown as AgoraEvent;

describe('WatchSummary', () => {
  it('counts items by their latest state, draws the bar from ended items, and reports each failure once', () => {
    const s = new WatchSummary();
    expect(s.add(ev(0, { type: 'run', state: 'accepted', planId: 'p', queue: 'default', items: 4, submittedAt: new Date(0).toISOString() }))).toEqual([]);
    for (const id of ['a', 'b', 'c', 'd']) s.add(ev(1, { type: 'item', itemId: id, state: 'queued' }));
    s.add(ev(2, { type: 'item', itemId: 'a', state: 'running' }));
    s.add(ev(3, { type: 'item', itemId: 'a', state: 'done' }));
    s.add(ev(4, { type: 'item', itemId: 'b', state: 'running' }));
    expect(s.line()).toMatch(/^accepted\s+\[#{6}\.{18}\] 1\/4 {2}running 1 {2}done 1$/);
    expect(s.add(ev(5, { type: 'item', itemId: 'b', state: 'failed', errorCode: 'APPLICATION', exitCode: 3, error: 'worker exited with code 3: boom\nmore' }))).toEqual([
      '✗ b failed APPLICATION (exit 3): worker exited with code 3: boom',
    ]);
    s.add(ev(6, { type: 'item', itemId: 'c', state: 'skipped' }));
    s.add(ev(7, { type: 'item', itemId: 'd', state: 'skipped' }));
    s.add(ev(8, { type: 'run', state: 'failed', done: 1, failed: 1, skipped: 2, cancelled: 0 }));
    expect(s.line()).toBe('failed     [########################] 4/4  done 1  failed 1  skipped 2');
  });
});

describe('WatchSummary on a terminal', () => {
  it('prints a failure\'s error and a rejection\'s problems without their control characters', () => {
    // Before: a worker's stderr holding ESC[2J or a carriage return went to the terminal as is
    // (clearing the screen, overwriting the summary line).
    const s = new WatchSummary();
    const [failure] = s.add(ev(0, { type: 'item', itemId: 'b', state: 'failed', errorCode: 'APPLICATION', error: 'boom \u001b[2J\u001b]0;pwned\u0007 \rdone' }));
    expect(failure).toBe('✗ b failed APPLICATION: boom \ufffd[2J\ufffd]0;pwned\ufffd \ufffddone');
    const [rejected] = new WatchSummary().add(ev(0, { type: 'run', state: 'rejected', planId: 'p', problems: ['unknown task "\u001b[31mx"'] }));
    expect(rejected).toBe('rejected: unknown task "\ufffd[31mx"');
  });
});

describe('agora watch for people', () => {
  it('on a terminal prints the summary and failures, not JSON; piped or with --json prints JSON lines', async () => {
    const e = cliEnv();
    envs.push(e);
    await e.start(['serve'], /scheduler serving/);
    await e.start(['runner', '--concurrency', '2'], /runner started/);
    const plan = { id: 'tty', items: [{ id: 'ok', executor: 'noop' }, { id: 'bad', executor: 'noop', inputs: { fail: 'it broke' } }, { id: 'after', executor: 'noop', depends_on: ['bad'] }] };
    const runId = e.agora(['submit', e.writeJson('plan.json', plan)]).stdout.trim();
    // util-linux `script` gives the verb a pseudo-terminal, as a person's shell would.
    const quoted = [process.execPath, BIN, 'watch', runId].map((a) => `'${a}'`).join(' ');
    const tty = spawnSync('script', ['-qfec', quoted, '/dev/null'], { cwd: e.dir, env: { ...e.env, COLUMNS: '120' }, encoding: 'utf8', timeout: 60_000 });
    expect(tty.status, tty.stderr).toBe(1);
    expect(tty.stdout).toContain('✗ bad failed APPLICATION (exit 1): it broke');
    expect(tty.stdout).toMatch(/failed\s+\[#{24}\] 3\/3 {2}done 1 {2}failed 1 {2}skipped 1/);
    expect(tty.stdout).not.toContain('"type":"item"');
    const piped = e.agora(['watch', runId]);
    expect(piped.code).toBe(1);
    const lines = piped.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; state?: string });
    expect(lines.at(-1)).toMatchObject({ type: 'run', state: 'failed' });
    const forced = spawnSync('script', ['-qfec', `${quoted} --json`, '/dev/null'], { cwd: e.dir, env: e.env, encoding: 'utf8', timeout: 60_000 });
    expect(forced.stdout).toContain('"type":"run"');
    const summary = e.agora(['watch', runId, '--summary']);
    expect(summary.stdout.trim().split('\n').at(-1)).toMatch(/^failed\s+\[#+\] 3\/3/);
    // Resumed with --from, the summary still counts the run from its start (before: "submitted
    // [....] 0/0" past the last event, "0/1 running 1" mid-stream), and prints no failure line of
    // the events before the resume point.
    const events = lines.length;
    const past = e.agora(['watch', runId, '--summary', '--from', String(events + 5)]);
    expect(past.code).toBe(1);
    expect(past.stdout.trim().split('\n')).toEqual([expect.stringMatching(/^failed\s+\[#{24}\] 3\/3 {2}done 1 {2}failed 1 {2}skipped 1$/)]);
    const last = e.agora(['watch', runId, '--summary', '--from', String(events - 1)]);
    expect(last.stdout).not.toContain('✗');
    expect(last.stdout.trim().split('\n').every((l) => /^failed\s+\[#{24}\] 3\/3/.test(l)), last.stdout).toBe(true);
    expect(e.agora(['watch', runId, '--summary', '--json']).code).toBe(2);
  }, 90_000);
});
