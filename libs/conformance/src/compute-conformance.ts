import { createHash, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REDACTED, truncationMarker, type ComputeProvider, type ProviderContext, type TaskExit, type TaskHandle, type TaskSpec } from '@agora/core';
import { checkUnsupported, declarationTitle, type CaseInfo } from './declared-cases.js';
import type { WorkerProgram } from './worker-program.js';

/**
 * The compute contract, case by case. A provider passes every required case; it may declare an
 * optional one unsupported, with the reason (the report and the README show it). Nothing is
 * skipped silently.
 */
export const COMPUTE_CASES = {
  'exit-zero': { required: true, proves: 'a worker that exits 0 gives exitCode 0, no providerFailureReason, ISO times in order' },
  'exit-nonzero': { required: true, proves: 'a non-zero exit is the application failure: its exitCode, no providerFailureReason, awaitExit resolves' },
  'infra-failure': { required: true, proves: 'a worker that cannot start (missing command or image) gives providerFailureReason and exitCode null, never an exception' },
  'stdout-lines': { required: true, proves: 'stdout text lines (UTF-8) arrive byte for byte' },
  'stdout-bytes': { required: false, proves: 'stdout is bytes: NUL, invalid UTF-8 and no final newline arrive exactly' },
  stderr: { required: false, proves: 'stderr is captured as text, apart from stdout' },
  'output-cap': { required: false, proves: 'stdout past the cap is cut at the cap and ends with the truncation marker naming what was dropped' },
  env: { required: true, proves: 'spec.env reaches the worker; the runner\'s own environment does not' },
  'secrets-scrubbed': { required: true, proves: 'a secretRefs value reaches the worker and is redacted from its stdout and stderr' },
  resources: { required: false, proves: 'resources.cpu and resources.memoryMb are passed to the backend' },
  labels: { required: false, proves: 'spec.labels are passed to the backend (container labels, task tags)' },
  cancel: { required: true, proves: 'cancel stops a running worker: cancelled, exitCode null, no providerFailureReason; a second cancel is harmless' },
  'cancel-signal': { required: true, proves: 'aborting ctx.signal stops a running worker the same way' },
  timeout: { required: true, proves: 'a worker that outlives spec.timeoutMs is stopped and reported cancelled' },
  stdin: { required: false, proves: 'spec.stdin is written to the worker and closed' },
  concurrent: { required: true, proves: 'workers running at once keep their own output and exit codes' },
  health: { required: true, proves: 'health() answers ok with a message naming what was checked' },
} as const satisfies Record<string, CaseInfo>;
export type ComputeCase = keyof typeof COMPUTE_CASES;

/** The env var the secrets case hands its secret to (a provider whose backend declares secrets up front declares this one). */
export const CONFORMANCE_SECRET_ENV = 'CONFORMANCE_SECRET';
/** The timeout of the timeout case. */
export const CONFORMANCE_TIMEOUT_MS = 500;
/** Resources of the resources case: valid on every shipped backend (Fargate's smallest sizes). */
export const CONFORMANCE_RESOURCES = { cpu: 0.5, memoryMb: 512 } as const;

/** What the backend was asked to run, seen from the backend (container inspect, RunTask request). */
export interface ObservedTask {
  readonly labels: Readonly<Record<string, string>>;
  readonly cpu?: number | undefined;
  readonly memoryMb?: number | undefined;
}

/** What a provider's test gives the suite. */
export interface ComputeHarness {
  readonly provider: ComputeProvider;
  /** The spec that runs `program` on this backend (its command, image). The suite adds env, labels, resources, timeoutMs, stdin. */
  specFor(program: WorkerProgram): TaskSpec;
  /** A spec whose worker cannot start: a missing command or image. */
  unstartable(): TaskSpec;
  /** The `secretRefs` and context under which `envName` resolves to `value`. */
  secretContext(envName: string, value: string): { readonly secretRefs: Readonly<Record<string, string>>; readonly ctx: ProviderContext };
  /** The per-stream output cap the provider was built with (small: the case writes past it). Needed by `output-cap`. */
  readonly outputCapBytes?: number;
  /** Resolves once the worker is running, for the cases that stop one. @default resolves at once */
  untilRunning?(handle: TaskHandle): Promise<void>;
  /** What the backend was asked for, while the worker runs. Needed by `resources` and `labels`. */
  observe?(handle: TaskHandle): Promise<ObservedTask>;
  /** Called after every `run` with the exact spec: a mocked backend asserts the exact request here. */
  checkRun?(spec: TaskSpec, handle: TaskHandle): void | Promise<void>;
  /** Called after each case (e.g. to prove nothing was left running). */
  afterEach?(): void | Promise<void>;
  close?(): Promise<void>;
}

export interface ComputeConformanceOptions {
  /** Optional cases this provider cannot run, each with the reason. */
  readonly unsupported?: Readonly<Partial<Record<ComputeCase, string>>>;
  /**
   * Run the cases at once (vitest `describe.concurrent`): for backends where each worker spends
   * seconds starting (containers), so the suite takes the time of its slowest cases, not their
   * sum. The harness's `afterEach` then sees other cases' workers: check for leftovers in `close`.
   * @default false
   */
  readonly concurrent?: boolean;
}

function hangs(first: WorkerProgram['steps'] = []): WorkerProgram {
  return { steps: [...first, { op: 'hang' }] };
}

function text(b: Uint8Array): string {
  return Buffer.from(b).toString('utf8');
}

/**
 * Registers the compute conformance suite for one provider (call it at the top level of a
 * vitest file). `setup` runs once, before the cases.
 */
export function describeComputeConformance(name: string, setup: () => Promise<ComputeHarness>, opts: ComputeConformanceOptions = {}): void {
  const unsupported = checkUnsupported('compute', COMPUTE_CASES, opts.unsupported ?? {});
  const all = Object.keys(COMPUTE_CASES) as ComputeCase[];

  (opts.concurrent ? describe.concurrent : describe)(`compute conformance: ${name}`, () => {
    let h: ComputeHarness | undefined;
    const harness = (): ComputeHarness => {
      if (!h) throw new Error('the conformance harness was not set up (see the beforeAll error)');
      return h;
    };
    beforeAll(async () => {
      h = await setup();
    }, 10 * 60_000);
    afterEach(async () => {
      await h?.afterEach?.();
    });
    afterAll(async () => {
      await h?.close?.();
    });

    const spec = (program: WorkerProgram, extra: Partial<TaskSpec> = {}): TaskSpec => {
      const base = harness().specFor(program);
      const env = { ...base.env, ...extra.env };
      const labels = { ...base.labels, ...extra.labels };
      return { ...base, ...extra, ...(Object.keys(env).length > 0 ? { env } : {}), ...(Object.keys(labels).length > 0 ? { labels } : {}) };
    };
    const start = async (s: TaskSpec, ctx: ProviderContext = {}): Promise<TaskHandle> => {
      const handle = await harness().provider.run(s, ctx);
      await harness().checkRun?.(s, handle);
      return handle;
    };
    const runToExit = async (s: TaskSpec, ctx: ProviderContext = {}): Promise<TaskExit> => harness().provider.awaitExit(await start(s, ctx), ctx);
    const running = async (s: TaskSpec, ctx: ProviderContext = {}): Promise<TaskHandle> => {
      const handle = await start(s, ctx);
      await harness().untilRunning?.(handle);
      return handle;
    };
    const stopped = (exit: TaskExit): void => {
      expect(exit.cancelled).toBe(true);
      expect(exit.exitCode).toBeNull();
      expect(exit.providerFailureReason).toBeUndefined();
    };
    const needs = <K extends 'outputCapBytes' | 'observe'>(key: K, c: ComputeCase): NonNullable<ComputeHarness[K]> => {
      const v = harness()[key];
      if (v === undefined) throw new Error(`case "${c}" needs the harness's ${key}; give it, or declare "${c}" unsupported with the reason`);
      return v as NonNullable<ComputeHarness[K]>;
    };
    const when = (c: ComputeCase, fn: () => Promise<void>, o: { sequential?: boolean } = {}): void => {
      if (unsupported.has(c)) return;
      (o.sequential ? it.sequential : it)(`${c}: ${COMPUTE_CASES[c].proves}`, fn);
    };

    it.sequential(declarationTitle(unsupported, all.length), () => {
      const hh = harness();
      const missing: string[] = [];
      if (!unsupported.has('output-cap') && !(Number.isInteger(hh.outputCapBytes) && hh.outputCapBytes! >= 1024)) missing.push('output-cap needs outputCapBytes (>= 1024)');
      if (!unsupported.has('resources') && !hh.observe) missing.push('resources needs observe()');
      if (!unsupported.has('labels') && !hh.observe) missing.push('labels needs observe()');
      if (!unsupported.has('cancel') && !hh.provider.cancel) missing.push('cancel needs provider.cancel');
      if (!unsupported.has('health') && !hh.provider.health) missing.push('health needs provider.health');
      expect(missing).toEqual([]);
    });

    // First, and alone: an engine busy starting the other cases' workers may be slow to answer.
    when('health', async () => {
      // Up to three asks: a provider bounds its own health check in time (the Docker provider
      // gives the engine 5 s), and an engine on a busy test machine may miss one bound.
      let health = await harness().provider.health!();
      for (let i = 1; i < 3 && !health.ok; i++) health = await harness().provider.health!();
      expect(health.ok, health.message).toBe(true);
      expect(typeof health.message).toBe('string');
      expect(health.message.length).toBeGreaterThan(0);
    }, { sequential: true });

    when('exit-zero', async () => {
      const exit = await runToExit(spec({ steps: [{ op: 'stdout', text: 'ok\n' }] }));
      expect(exit.exitCode).toBe(0);
      expect(exit.providerFailureReason).toBeUndefined();
      expect(exit.cancelled ?? false).toBe(false);
      const [startedAt, finishedAt] = [Date.parse(exit.startedAt), Date.parse(exit.finishedAt)];
      expect(new Date(startedAt).toISOString()).toBe(exit.startedAt);
      expect(new Date(finishedAt).toISOString()).toBe(exit.finishedAt);
      expect(finishedAt).toBeGreaterThanOrEqual(startedAt);
    });

    when('exit-nonzero', async () => {
      const exit = await runToExit(spec({ steps: [{ op: 'stdout', text: 'partial\n' }, { op: 'stderr', text: 'boom\n' }], exitCode: 3 }));
      expect(exit.exitCode).toBe(3);
      expect(exit.providerFailureReason).toBeUndefined();
      expect(exit.cancelled ?? false).toBe(false);
    });

    when('infra-failure', async () => {
      const exit = await runToExit(harness().unstartable());
      expect(exit.exitCode).toBeNull();
      expect(typeof exit.providerFailureReason).toBe('string');
      expect(exit.providerFailureReason!.length).toBeGreaterThan(0);
      expect(exit.cancelled ?? false).toBe(false);
    });

    when('stdout-lines', async () => {
      // No empty line: a line-oriented log stream (awslogs) drops those.
      const lines = 'line one\nline two: grüße, 日本\nlast line\n';
      const exit = await runToExit(spec({ steps: [{ op: 'stdout', text: lines }] }));
      expect(exit.stdout).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(exit.stdout).equals(Buffer.from(lines))).toBe(true);
    });

    when('stdout-bytes', async () => {
      // Every byte value, then bytes that are not UTF-8, and no final newline.
      const bytes = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0x00])]);
      const exit = await runToExit(spec({ steps: [{ op: 'stdoutBytes', base64: bytes.toString('base64') }] }));
      expect(exit.exitCode).toBe(0);
      expect(Buffer.from(exit.stdout).toString('hex')).toBe(bytes.toString('hex'));
    });

    when('stderr', async () => {
      const exit = await runToExit(spec({ steps: [{ op: 'stdout', text: 'to stdout\n' }, { op: 'stderr', text: 'warn: grüße\n' }], exitCode: 1 }));
      expect(exit.exitCode).toBe(1);
      expect(exit.stderr).toBe('warn: grüße\n');
      expect(text(exit.stdout)).toBe('to stdout\n');
    });

    when('output-cap', async () => {
      const cap = needs('outputCapBytes', 'output-cap');
      // 1024-byte lines, so a line-oriented backend (a log stream) keeps the same byte count.
      const times = Math.ceil(cap / 1024) + 4;
      const dropped = times * 1024 - cap;
      const exit = await runToExit(spec({ steps: [{ op: 'repeat', line: 'x'.repeat(1023), times }] }));
      expect(exit.exitCode).toBe(0);
      const out = text(exit.stdout);
      const marker = truncationMarker(dropped, cap);
      expect(out.length).toBe(cap + marker.length);
      expect(out.endsWith(marker)).toBe(true);
      expect(out.slice(0, 1023)).toBe('x'.repeat(1023));
    });

    when('env', async () => {
      process.env['CONFORMANCE_RUNNER_ONLY'] = 'the runner environment must not leak';
      try {
        const exit = await runToExit(
          spec(
            { steps: [{ op: 'env', name: 'CONFORMANCE_GREETING', to: 'stdout' }, { op: 'env', name: 'CONFORMANCE_QUOTED', to: 'stdout' }, { op: 'env', name: 'CONFORMANCE_RUNNER_ONLY', to: 'stdout' }] },
            { env: { CONFORMANCE_GREETING: 'hello from the suite', CONFORMANCE_QUOTED: 'a "quoted" = value; grüße' } },
          ),
        );
        expect(exit.exitCode).toBe(0);
        expect(text(exit.stdout)).toBe('hello from the suite\na "quoted" = value; grüße\n<unset>\n');
      } finally {
        delete process.env['CONFORMANCE_RUNNER_ONLY'];
      }
    });

    when('secrets-scrubbed', async () => {
      const value = `conformance-secret-${randomBytes(8).toString('hex')}`;
      const { secretRefs, ctx } = harness().secretContext(CONFORMANCE_SECRET_ENV, value);
      const program: WorkerProgram = {
        steps: [
          { op: 'stdout', text: 'token=' },
          { op: 'env', name: CONFORMANCE_SECRET_ENV, to: 'stdout' },
          { op: 'envSha256', name: CONFORMANCE_SECRET_ENV },
          { op: 'stderr', text: 'token=' },
          { op: 'env', name: CONFORMANCE_SECRET_ENV, to: 'stderr' },
        ],
      };
      const exit = await runToExit(spec(program, { secretRefs }), ctx);
      expect(exit.exitCode).toBe(0);
      const out = text(exit.stdout);
      // The worker had the value (it printed its hash), and printed it, yet it never comes out.
      expect(out).toContain(createHash('sha256').update(value).digest('hex'));
      expect(out).toContain(`token=${REDACTED}`);
      expect(out).not.toContain(value);
      expect(exit.stderr).not.toContain(value);
    });

    when('resources', async () => {
      const observe = needs('observe', 'resources');
      const handle = await running(spec(hangs(), { resources: { ...CONFORMANCE_RESOURCES } }));
      try {
        const seen = await observe(handle);
        expect({ cpu: seen.cpu, memoryMb: seen.memoryMb }).toEqual(CONFORMANCE_RESOURCES);
      } finally {
        await harness().provider.cancel?.(handle, {});
        await harness().provider.awaitExit(handle, {});
      }
    });

    when('labels', async () => {
      const observe = needs('observe', 'labels');
      const labels = { 'agora.run': 'r-conformance', 'agora.item': 'item-1' };
      const handle = await running(spec(hangs(), { labels }));
      try {
        expect((await observe(handle)).labels).toMatchObject(labels);
      } finally {
        await harness().provider.cancel?.(handle, {});
        await harness().provider.awaitExit(handle, {});
      }
    });

    when('cancel', async () => {
      const p = harness().provider;
      const handle = await running(spec(hangs([{ op: 'stdout', text: 'started\n' }])));
      const exiting = p.awaitExit(handle, {});
      await p.cancel!(handle, {});
      stopped(await exiting);
      await p.cancel!(handle, {});
    });

    when('cancel-signal', async () => {
      const ac = new AbortController();
      const ctx: ProviderContext = { signal: ac.signal };
      const handle = await running(spec(hangs()), ctx);
      const exiting = harness().provider.awaitExit(handle, ctx);
      ac.abort();
      stopped(await exiting);
    });

    when('timeout', async () => {
      stopped(await runToExit(spec(hangs([{ op: 'stdout', text: 'started\n' }]), { timeoutMs: CONFORMANCE_TIMEOUT_MS })));
    });

    when('stdin', async () => {
      const input = 'first line\nsecond: grüße\n';
      const exit = await runToExit(spec({ steps: [{ op: 'stdin' }, { op: 'stdout', text: '<eof>\n' }] }, { stdin: input }));
      expect(exit.exitCode).toBe(0);
      expect(text(exit.stdout)).toBe(`${input}<eof>\n`);
    });

    when('concurrent', async () => {
      const tokens = [0, 1, 2].map((i) => `worker-${i}-${randomBytes(4).toString('hex')}`);
      const exits = await Promise.all(tokens.map((t, i) => runToExit(spec({ steps: [{ op: 'stdout', text: `${t}\n` }], exitCode: i }))));
      expect(exits.map((e) => [text(e.stdout), e.exitCode])).toEqual(tokens.map((t, i) => [`${t}\n`, i]));
    });

  });
}
