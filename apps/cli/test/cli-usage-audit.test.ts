import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, cliEnv, type CliEnv } from '../../../test/support/cli.js';

/**
 * Findings of the audit of the documented CLI: `--json` on the verbs that print JSON anyway,
 * `runner --queues` refusing an empty list or entry, and a reader of stdout that goes away
 * (`agora runs | head -n1`) ending the verb quietly with exit 0 instead of an EPIPE stack.
 */
const envs: CliEnv[] = [];
afterAll(async () => {
  for (const e of envs) await e.close();
});
const env = (config: Record<string, unknown> = {}): CliEnv => {
  const e = cliEnv(config);
  envs.push(e);
  return e;
};

/** Runs `agora <args>` with its stdout closed by the reader before anything is written. */
function withReaderGone(e: CliEnv, args: readonly string[], timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: e.dir, env: e.env, stdio: ['ignore', 'pipe', 'pipe'] });
    // The reader goes away: the pipe's only read end is closed, so the verb's next write fails with EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`agora ${args.join(' ')} still running after ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      // Let the last of stderr arrive.
      setTimeout(() => resolve({ code, signal, stderr }), 50);
    });
  });
}

describe('audit of the documented CLI', () => {
  it('tasks show and dlq show take --json and print the same JSON as without it', () => {
    const e = env({ tasks: { local: { command: ['true'] } } });
    const plain = e.agora(['tasks', 'show', 'local']);
    expect(plain.code, plain.stderr).toBe(0);
    const json = e.agora(['tasks', 'show', 'local', '--json']);
    // Before: "error: unknown option '--json'", exit 2.
    expect(json.stderr).not.toMatch(/unknown option/);
    expect(json).toEqual(plain);
    expect(JSON.parse(json.stdout)).toEqual({ source: 'config', definition: expect.objectContaining({ command: ['true'] }) });

    const id = 'r00mx3hprt31be7d95e.nope';
    const dPlain = e.agora(['dlq', 'show', id]);
    const dJson = e.agora(['dlq', 'show', id, '--json']);
    expect(dJson.stderr).not.toMatch(/unknown option/);
    expect(dJson).toEqual(dPlain);
    expect(e.agora(['dlq', 'show', '--help']).stdout).toContain('--json');
    expect(e.agora(['tasks', 'show', '--help']).stdout).toContain('--json');
  });

  it('runner --queues refuses an empty list or an empty entry (exit 2) and serves a name given twice once', async () => {
    const e = env({ queues: { default: {}, other: {} } });
    for (const [raw, message] of [
      ['', '--queues needs at least one queue name'],
      [' , ', '--queues needs at least one queue name'],
      ['default,,default', '--queues has an empty queue name in "default,,default"'],
      ['default,', '--queues has an empty queue name'],
    ] as const) {
      // Before: '' started a runner serving no queue (it never returned here).
      const r = e.agora(['runner', '--queues', raw], { timeoutMs: 20_000 });
      expect(r.code, `--queues ${JSON.stringify(raw)}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(message);
    }
    expect(e.agora(['runner', '--queues', 'default,nope'], { timeoutMs: 20_000 }).stderr).toContain('--queues names unknown queue "nope"');
    // Before: "queues":["default","default"].
    await e.start(['runner', '--queues', 'default, other,default'], /"queues":\["default","other"\]/);
  }, 90_000);

  it('runner and dev refuse a compute or credentials provider nobody registered (exit 2), naming the key', () => {
    const e = env({ compute: { local: { provider: 'proces' } }, credentials: { none: { provider: 'nop' } } });
    for (const verb of [['runner'], ['dev', '--runners', '0', '--port', '0']]) {
      // Before: the runner started (and dev's runners with it), and every dispatch item then failed
      // VALUE "unknown compute provider"; only doctor said so.
      const r = e.agora(verb, { timeoutMs: 20_000 });
      expect(r.code, `${verb.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain('compute.local.provider: unknown compute provider "proces" (registered: docker, fargate, process)');
      expect(r.stderr).toContain('credentials.none.provider: unknown credentials provider "nop"');
    }
  }, 90_000);

  it('a reader of stdout that goes away ends runs and watch quietly with exit 0, not an EPIPE stack', async () => {
    const e = env();
    await e.start(['serve'], /scheduler serving/);
    const plan = e.writeJson('plan.json', { id: 'p', items: [{ id: 'a', executor: 'noop' }] });
    const runIds: string[] = [];
    for (let i = 0; i < 3; i++) runIds.push(e.agora(['submit', plan]).stdout.trim());
    // Accepted (no runner: the runs stay open, so watch keeps following).
    for (let tries = 0; ; tries++) {
      const page = JSON.parse(e.agora(['runs', '--json']).stdout) as { runs: unknown[] };
      if (page.runs.length === 3) break;
      if (tries > 100) throw new Error('runs not accepted');
      await new Promise((r) => setTimeout(r, 100));
    }

    // Before: "Unhandled 'error' event ... write EPIPE" with a stack, exit 1.
    for (const args of [['runs'], ['runs', '--json'], ['watch', runIds[0]!, '--json'], ['watch', runIds[0]!]]) {
      const r = await withReaderGone(e, args);
      expect({ args, code: r.code, signal: r.signal }).toEqual({ args, code: 0, signal: null });
      expect(r.stderr).not.toMatch(/EPIPE|Unhandled|\n\s+at /);
    }
    // A verb that failed for another reason still says so.
    const bad = await withReaderGone(e, ['runs', '--limit', '0']);
    expect(bad.code).toBe(2);
  }, 90_000);

  it('a runner whose log reader goes away stops as on SIGTERM: its running item is handed back, exit 0', async () => {
    const e = env({ runner: { shutdownGraceMs: 200 } });
    e.env['AGORA_CPUS'] = '2';
    await e.start(['serve'], /scheduler serving/);
    const runner = await e.start(['runner', '--concurrency', '2'], /runner started/);
    const exited = new Promise<number | null>((resolve) => runner.once('exit', (code) => resolve(code)));
    const slow = e.agora(['submit', e.writeJson('slow.json', { id: 'slow', items: [{ id: 's', executor: 'noop', inputs: { sleepMs: 60_000 } }] })]).stdout.trim();
    for (let tries = 0; ; tries++) {
      const status = JSON.parse(e.agora(['status', slow, '--json']).stdout || '{}') as { items?: Array<{ state: string }> };
      if (status.items?.[0]?.state === 'running') break;
      if (tries > 100) throw new Error('the slow item never started');
      await new Promise((r) => setTimeout(r, 100));
    }
    // The reader of its logs goes away (`agora runner 2>&1 | head -n2`): the next log line, the
    // quick run's "item ended", meets EPIPE. Before: an unhandled 'error' event, exit 1, the slow
    // item left active for the stalled-job check.
    runner.stderr!.destroy();
    runner.stdout!.destroy();
    e.agora(['submit', e.writeJson('quick.json', { id: 'quick', items: [{ id: 'q', executor: 'noop' }] })]);
    expect(await exited).toBe(0);
    // Ended by a cancel (no runner is left to run it), so watch prints every event and returns.
    expect(e.agora(['cancel', slow]).code).toBe(0);
    const events = e.agora(['watch', slow, '--json']).stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; itemId?: string });
    expect(events.filter((ev) => ev.type === 'handedBack').map((ev) => ev.itemId)).toEqual(['s']);
  }, 90_000);
});
