import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, cliEnv, type CliEnv } from '../../../test/support/cli.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../../../test/support/otlp.js';

/**
 * Issue 15, parts 5 and 7, against real processes: `agora serve` and `agora runner`, tracing
 * chosen by the standard OpenTelemetry variables (the config file says `none`), export OTLP/HTTP
 * to a receiver this test starts. A diamond plan's spans, received from both processes, make one
 * trace shaped like the plan; the runner logs one JSON line per item end on stderr with the
 * same trace id; the accepted and running events carry it too.
 */

const envs: CliEnv[] = [];
const receivers: OtlpReceiver[] = [];
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const e of envs) await e.close();
  for (const r of receivers) await r.close();
});

/** Starts `agora <args>`, resolving once `ready` appears; its stderr is kept. */
function startService(env: CliEnv, args: string[], ready: RegExp, extraEnv: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; stderr: () => string }> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: env.dir, env: { ...env.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  let all = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer, isErr: boolean): void => {
      all += d.toString();
      if (isErr) err += d.toString();
      if (ready.test(all)) resolve({ child, stderr: () => err });
    };
    child.stdout!.on('data', (d: Buffer) => onData(d, false));
    child.stderr!.on('data', (d: Buffer) => onData(d, true));
    child.once('exit', (code) => reject(new Error(`agora ${args.join(' ')} exited with ${code}: ${all}`)));
    setTimeout(() => reject(new Error(`agora ${args.join(' ')} not ready in 20 s: ${all}`)), 20_000).unref();
  });
}

/** SIGTERM, and the exit code once it exited (its spans are flushed on the way out). */
function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

async function until(what: string, ok: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const item = (id: string, depends_on: string[] = [], inputs: Record<string, unknown> = {}, resourceLocks: string[] = []) => ({ id, executor: 'noop', inputs, depends_on, resourceLocks });

describe('OpenTelemetry traces of agora serve and agora runner (OTEL_* variables, OTLP/HTTP)', () => {
  it('a diamond run arrives at the receiver as one trace shaped like the plan', async () => {
    const receiver = await startOtlpReceiver();
    receivers.push(receiver);
    const env = cliEnv({ queues: { default: { concurrency: 4 } }, tracing: { exporter: 'none' } });
    envs.push(env);
    Object.assign(env.env, { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'agora-e2e' });
    // The scheduler exports at once (its run span is awaited below); the runner keeps the SDK's
    // own batching, a minute: its spans can only arrive through the flush when it stops.
    const serve = await startService(env, ['serve'], /scheduler serving/, { OTEL_BSP_SCHEDULE_DELAY: '50' });
    const runner = await startService(env, ['runner', '--concurrency', '4'], /runner started/, { OTEL_BSP_SCHEDULE_DELAY: '60000' });

    // top -> (left, right) -> bottom; left and right share a lock.
    const plan = {
      id: 'diamond',
      queue: 'default',
      items: [item('top'), item('left', ['top'], { sleepMs: 100 }, ['db']), item('right', ['top'], { sleepMs: 100 }, ['db']), item('bottom', ['left', 'right'])],
    };
    const sub = env.agora(['submit', env.writeJson('plan.json', plan)]);
    expect(sub.code, sub.stderr).toBe(0);
    const runId = sub.stdout.trim();
    const watch = env.agora(['watch', runId]);
    expect(watch.code, watch.stderr).toBe(0);
    const events = watch.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; state?: string; itemId?: string; traceId?: string });
    const traceId = events.find((e) => e.type === 'run' && e.state === 'accepted')?.traceId;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(events.filter((e) => e.type === 'item' && e.state === 'running').map((e) => e.traceId)).toEqual([traceId, traceId, traceId, traceId]);

    // The run span is recorded when the scheduler hears the run end, and exported within 50 ms.
    await until('the run span', () => receiver.spans().some((s) => s.name === 'agora.run'));
    expect(receiver.spans().filter((s) => s.name === 'agora.item')).toEqual([]);
    expect(await stop(runner.child)).toBe(0);
    expect(await stop(serve.child)).toBe(0);

    expect(receiver.refused()).toEqual([]);
    const spans = receiver.spans().filter((s) => s.traceId === traceId);
    expect(receiver.spans()).toHaveLength(spans.length);
    const named = (n: string): ReceivedSpan[] => spans.filter((s) => s.name === n);
    const roots = named('agora.run');
    expect(roots).toHaveLength(1);
    const root = roots[0]!;
    // From the scheduler (agora serve); the item spans from the runner process.
    expect(root).toMatchObject({ parentSpanId: '', serviceName: 'agora-e2e', component: 'scheduler' });
    expect(root.attributes).toMatchObject({ 'agora.run_id': runId, 'agora.state': 'succeeded', 'agora.items': 4 });

    const items = named('agora.item');
    expect(items.map((s) => s.attributes['agora.item_id']).sort()).toEqual(['bottom', 'left', 'right', 'top']);
    for (const s of items) {
      const id = s.attributes['agora.item_id'] as string;
      expect(s.parentSpanId, id).toBe(root.spanId);
      expect(s).toMatchObject({ serviceName: 'agora-e2e', component: 'runner' });
      expect(s.attributes['agora.depends_on'], id).toEqual(plan.items.find((i) => i.id === id)!.depends_on);
      expect(s.attributes['agora.state'], id).toBe('done');
      // The run span starts at acceptance, before any item job exists. (It ends when the last
      // item's end was written, which may be a moment before that item's span ends.)
      expect(s.startTimeUnixNano >= root.startTimeUnixNano, `${id} starts after the run`).toBe(true);
    }
    const steps = (id: string): string[] => {
      const parent = items.find((s) => s.attributes['agora.item_id'] === id)!.spanId;
      return spans.filter((s) => s.parentSpanId === parent).map((s) => s.name).sort();
    };
    expect(steps('top')).toEqual(['provider.run', 'storage.put']);
    expect(steps('left')).toEqual(['lock.wait', 'provider.run', 'storage.put']);
    expect(steps('right')).toEqual(['lock.wait', 'provider.run', 'storage.put']);
    expect(steps('bottom')).toEqual(['provider.run', 'storage.put']);
    expect(spans).toHaveLength(1 + 4 + 8 + 2);

    // The runner's stderr: JSON lines (no TTY), one "item ended" line per item, with the trace id.
    const lines = runner
      .stderr()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const ended = lines.filter((l) => l['msg'] === 'item ended');
    expect(ended.map((l) => l['itemId']).sort()).toEqual(['bottom', 'left', 'right', 'top']);
    for (const l of ended) expect(l).toMatchObject({ level: 'info', component: 'runner', runId, queue: 'default', state: 'done', attempt: 1, traceId, durationMs: expect.any(Number) });
  });

  it('a collector that answers 500: agora serve and agora runner each warn once, naming the endpoint without its credentials', async () => {
    const receiver = await startOtlpReceiver();
    receivers.push(receiver);
    receiver.answer(500);
    const env = cliEnv({ queues: { default: { concurrency: 2 } }, tracing: { exporter: 'none' } });
    envs.push(env);
    const port = new URL(receiver.url).port;
    Object.assign(env.env, { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://agent:s3cr3t@127.0.0.1:${port}/v1/traces`, OTEL_BSP_SCHEDULE_DELAY: '50' });
    const serve = await startService(env, ['serve'], /scheduler serving/);
    const runner = await startService(env, ['runner', '--concurrency', '2'], /runner started/);
    for (const n of [1, 2]) {
      const sub = env.agora(['submit', env.writeJson(`plan${n}.json`, { id: `p${n}`, queue: 'default', items: [item('a'), item('b', ['a'])] })]);
      expect(sub.code, sub.stderr).toBe(0);
      expect(env.agora(['watch', sub.stdout.trim()]).code).toBe(0);
    }
    const failedLines = (stderr: string): Array<Record<string, unknown>> =>
      stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l['msg'] === 'span export failed');
    await until('both processes warn', () => failedLines(serve.stderr()).length > 0 && failedLines(runner.stderr()).length > 0);
    // Both runs' spans were refused (one export or more each), and logged once: a line a minute at most.
    await until('the second run\'s spans refused', () => receiver.failedAnswers() >= 3);
    expect(await stop(runner.child)).toBe(0);
    expect(await stop(serve.child)).toBe(0);
    for (const [component, p] of [['scheduler', serve], ['runner', runner]] as const) {
      expect(failedLines(p.stderr()), component).toEqual([
        expect.objectContaining({ level: 'warn', component, endpoint: `http://127.0.0.1:${port}/v1/traces`, err: expect.stringMatching(/^HTTP 500 /), failures: 1 }),
      ]);
      expect(p.stderr()).not.toContain('s3cr3t');
    }
  });
});
