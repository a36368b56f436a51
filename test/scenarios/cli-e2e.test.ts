import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv } from '../support/cli.js';

/** The real processes: `agora serve` and two `agora runner`s, driven through the CLI. */
const env = cliEnv({ queues: { default: { concurrency: 2 }, bulk: { concurrency: 64 } } });

beforeAll(async () => {
  await env.start(['serve'], /scheduler serving/);
  await env.start(['runner', '--concurrency', '8'], /runner started/);
  await env.start(['runner', '--concurrency', '8'], /runner started/);
});
afterAll(() => env.close());

const item = (id: string, deps: string[] = [], inputs: Record<string, unknown> = {}) => ({ id, executor: 'noop', inputs, depends_on: deps, resourceLocks: [] });

describe('serve + two runner processes', () => {
  it('submit returns a run id at once; watch prints the contract; status and exit code agree', () => {
    const f = env.writeJson('plan.json', { id: 'p', queue: 'default', items: [item('a', [], { sleepMs: 300 }), item('b', ['a'])] });
    const t0 = Date.now();
    const sub = env.agora(['submit', f]);
    expect(sub.code).toBe(0);
    const runId = sub.stdout.trim();
    expect(runId).toMatch(/^r[0-9a-z]+$/);
    const w = env.agora(['watch', runId]);
    expect(w.code).toBe(0);
    const lines = w.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l['seq'])).toEqual(lines.map((_, i) => i));
    for (const l of lines) {
      expect(l['runId']).toBe(runId);
      expect(typeof l['type']).toBe('string');
      expect(new Date(String(l['at'])).toISOString()).toBe(l['at']);
      if (l['itemId'] !== undefined) expect(['waiting', 'queued', 'running', 'done', 'failed', 'skipped', 'cancelled']).toContain(l['state']);
    }
    const states = lines.filter((l) => l['itemId'] === 'b').map((l) => l['state']);
    expect(states).toEqual(['waiting', 'queued', 'running', 'done']);
    for (const l of lines.filter((x) => x['state'] === 'done')) expect(String(l['resultRef'])).toMatch(/^agora:\/\//);
    expect(lines[lines.length - 1]).toMatchObject({ type: 'run', state: 'succeeded' });
    expect(Date.now() - t0).toBeGreaterThan(300);
    const st = JSON.parse(env.agora(['status', runId]).stdout) as { state: string; counts: { done: number } };
    expect(st).toMatchObject({ state: 'succeeded', counts: { done: 2 } });
    // watch is resumable from a position
    const again = env.agora(['watch', runId, '--from', '3']).stdout.trim().split('\n').map((l) => JSON.parse(l) as { seq: number });
    expect(again[0]!.seq).toBe(3);
    expect(again.length).toBe(lines.length - 3);
  });

  it('a failed run makes watch exit 1 and marks the downstream skipped', () => {
    const f = env.writeJson('fail.json', { id: 'f', queue: 'default', items: [item('x', [], { fail: 'nope' }), item('y', ['x'])] });
    const runId = env.agora(['submit', f]).stdout.trim();
    const w = env.agora(['watch', runId]);
    expect(w.code).toBe(1);
    const last = JSON.parse(w.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(last).toMatchObject({ type: 'run', state: 'failed', failed: 1, skipped: 1 });
  });

  it('cancel stops a running item through its provider and ends the run cancelled', async () => {
    const f = env.writeJson('long.json', { id: 'l', queue: 'default', items: [item('sleepy', [], { sleepMs: 120_000 }), item('next', ['sleepy'])] });
    const runId = env.agora(['submit', f]).stdout.trim();
    for (let i = 0; i < 100; i++) {
      const st = JSON.parse(env.agora(['status', runId]).stdout) as { counts?: { running: number } };
      if ((st.counts?.running ?? 0) > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const c = env.agora(['cancel', runId]);
    expect(c.code).toBe(0);
    const w = env.agora(['watch', runId], { timeoutMs: 30_000 });
    expect(w.code).toBe(1);
    expect(w.stdout).toContain('"state":"cancelled"');
    const st = JSON.parse(env.agora(['status', runId]).stdout) as { state: string; items: Array<{ id: string; state: string }> };
    expect(st.state).toBe('cancelled');
    expect(Object.fromEntries(st.items.map((i) => [i.id, i.state]))).toEqual({ sleepy: 'cancelled', next: 'cancelled' });
  });

  it('status of an unknown run exits 2', () => {
    const r = env.agora(['status', 'rdoesnotexist']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no run "rdoesnotexist"');
  });

  it('runs a 10,000-item random DAG to succeeded', () => {
    let seed = 7;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const items = Array.from({ length: 10_000 }, (_, i) => {
      const deps = new Set<string>();
      if (i > 0) for (let k = 0; k < 2; k++) if (rnd() < 0.8) deps.add(`n${Math.floor(rnd() * i)}`);
      return item(`n${i}`, [...deps]);
    });
    const f = env.writeJson('big.json', { id: 'big', queue: 'bulk', items });
    const runId = env.agora(['submit', f]).stdout.trim();
    const t0 = Date.now();
    const w = env.agora(['watch', runId], { timeoutMs: 300_000 });
    console.log(`10k DAG through serve + 2 runners: ${Date.now() - t0} ms`);
    expect(w.code).toBe(0);
    const last = JSON.parse(w.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(last).toMatchObject({ type: 'run', state: 'succeeded', done: 10_000 });
  }, 320_000);
});
