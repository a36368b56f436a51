import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliEnv, type CliEnv } from '../../../test/support/cli.js';

/** Issue 16, part 3: `agora runs` lists runs for people (a table) and for scripts (`--json`); `agora get` downloads a result. */

const envs: CliEnv[] = [];
afterAll(async () => {
  for (const e of envs) await e.close();
});

describe('a runs-list row', () => {
  it('shows a plan id\'s control characters as U+FFFD and cuts it between code points', async () => {
    // Before: a plan id holding a newline split the row in two, and an escape went to the terminal.
    const { runLine } = await import('../src/commands/runs.js');
    const row = (planId: string) =>
      runLine({ runId: 'r1', planId, queue: 'default', state: 'succeeded', createdAt: new Date(0).toISOString(), total: 1, counts: { done: 1, failed: 0, skipped: 0, cancelled: 0, unfinished: 0 } } as never);
    const odd = row('a\nb\u001b[2J');
    expect(odd).not.toContain('\n');
    expect(odd).not.toContain('\u001b');
    expect(odd).toContain('a\ufffdb\ufffd[2J');
    expect(row('😀'.repeat(30))).toContain('😀'.repeat(24) + ' ');
    expect(row('😀'.repeat(30))).not.toContain('\ufffd');
  });
});

describe('agora runs', () => {
  it('prints the newest runs as a table, filters by state, pages with --cursor, and prints JSON with --json', async () => {
    const e = cliEnv();
    envs.push(e);
    await e.start(['serve'], /scheduler serving/);
    await e.start(['runner', '--concurrency', '2'], /runner started/);
    expect(e.agora(['runs']).stdout).toBe('no runs\n');
    const ids: string[] = [];
    for (const [id, fail] of [['first', false], ['second', true], ['third', false]] as const) {
      const sub = e.agora(['submit', e.writeJson(`${id}.json`, { id, items: [{ id: 'a', executor: 'noop', inputs: fail ? { fail: 'nope' } : {} }] })]);
      expect(sub.code, sub.stderr).toBe(0);
      ids.push(sub.stdout.trim());
      e.agora(['watch', ids.at(-1)!]);
    }
    const table = e.agora(['runs']);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^RUN\s+STATE\s+PLAN\s+QUEUE\s+CREATED\s+TOOK\s+ITEMS$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual([...ids].reverse());
    expect(lines[2]).toMatch(/failed\s+second\s+default/);
    expect(lines[2]).toContain('0/1 done, 1 failed');

    const failed = JSON.parse(e.agora(['runs', '--state', 'failed', '--json']).stdout) as { runs: Array<{ runId: string }>; next?: string };
    expect(failed.runs.map((r) => r.runId)).toEqual([ids[1]]);
    const page1 = JSON.parse(e.agora(['runs', '--limit', '2', '--json']).stdout) as { runs: Array<{ runId: string }>; next?: string };
    expect(page1.runs.map((r) => r.runId)).toEqual([ids[2], ids[1]]);
    const page2 = JSON.parse(e.agora(['runs', '--limit', '2', '--json', '--cursor', page1.next!]).stdout) as { runs: Array<{ runId: string }>; next?: string };
    expect(page2.runs.map((r) => r.runId)).toEqual([ids[0]]);
    expect(e.agora(['runs', '--limit', '2']).stdout).toContain(`more: agora runs --cursor ${page1.next!}`);

    // agora get: the result's bytes, hash checked against the ref.
    const ref = (JSON.parse(e.agora(['status', ids[0]!]).stdout) as { items: Array<{ resultRef: string }> }).items[0]!.resultRef;
    const hash = ref.split('/').at(-1)!;
    const got = e.agora(['get', ref]);
    expect(got.code, got.stderr).toBe(0);
    expect(createHash('sha256').update(got.stdout).digest('hex')).toBe(hash);
    const out = path.join(e.dir, 'result.json');
    const toFile = e.agora(['get', ref, '-o', out]);
    expect(toFile.code, toFile.stderr).toBe(0);
    expect(toFile.stderr).toContain(`sha256 ${hash} (matches the ref)`);
    expect(readFileSync(out, 'utf8')).toBe(got.stdout);
    // An -o that cannot be written is bad usage (2), never the "corrupt" exit 1, and says why.
    const toDir = e.agora(['get', ref, '-o', e.dir]);
    expect([toDir.code, toDir.stderr]).toEqual([2, `agora: -o ${e.dir} is a directory; give a file path\n`]);
    const toNowhere = e.agora(['get', ref, '-o', path.join(e.dir, 'missing', 'r.json')]);
    expect(toNowhere.code).toBe(2);
    expect(toNowhere.stderr).toContain(`directory ${path.join(e.dir, 'missing')} does not exist`);
    expect(e.agora(['get', ref.replace(hash, 'f'.repeat(64))]).code).toBe(2);
    expect(e.agora(['get', 'agora://elsewhere/result/x/' + hash]).code).toBe(2);
    writeFileSync(path.join(String(e.env['AGORA_DATA_DIR']), 'storage', e.namespace, 'result', 'blobs', hash), 'tampered');
    const corrupt = e.agora(['get', ref]);
    expect(corrupt.code).toBe(1);
    expect(corrupt.stderr).toContain('corrupt');
  }, 90_000);

  it('refuses a bad filter with exit 2 naming the flag', () => {
    const e = cliEnv();
    envs.push(e);
    const r = e.agora(['runs', '--state', 'sideways']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--state');
    const l = e.agora(['runs', '--limit', '9999']);
    expect(l.code).toBe(2);
    expect(l.stderr).toContain('--limit');
    // Not an ISO 8601 time: refused before Redis is asked, never guessed at by Date.parse.
    for (const since of ['Nov 30 2026', '2026-11-30 10:00', '2026-02-30']) {
      const s = e.agora(['runs', '--since', since]);
      expect([s.code, s.stdout], since).toEqual([2, '']);
      expect(s.stderr, since).toContain('--since: an ISO 8601 time');
    }
  });
});

describe('agora status', () => {
  it('of a rejected run says why: its problems', () => {
    // No scheduler: a run cancelled while it waits on the inbox is recorded rejected, with why.
    const e = cliEnv();
    envs.push(e);
    const sub = e.agora(['submit', e.writeJson('early.json', { id: 'early', items: [{ id: 'a', executor: 'noop' }] })]);
    expect(sub.code, sub.stderr).toBe(0);
    const runId = sub.stdout.trim();
    expect(e.agora(['cancel', runId]).stdout).toContain('"rejected"');
    for (const args of [['status', runId], ['status', runId, '--json']]) {
      const st = e.agora(args);
      expect(st.code, st.stderr).toBe(0);
      expect(JSON.parse(st.stdout), args.join(' ')).toMatchObject({ runId, state: 'rejected', problems: ['cancelled before it was accepted'] });
    }
  });
});
