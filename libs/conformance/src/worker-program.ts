import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ValueError } from '@agora/core';

/**
 * What a conformance worker does, as data: the compute suite describes every case with one of
 * these, and each provider's harness turns it into something its backend runs. A real backend
 * runs `WORKER_SOURCE` under node (`node -e WORKER_SOURCE <program JSON>`); a backend that is
 * simulated in the test (an SDK mock) plays it with `interpretWorkerProgram`, the reference.
 */
export const workerStepSchema = z.discriminatedUnion('op', [
  /** Writes UTF-8 text to stdout. */
  z.strictObject({ op: z.literal('stdout'), text: z.string() }),
  /** Writes raw bytes (base64 here) to stdout. */
  z.strictObject({ op: z.literal('stdoutBytes'), base64: z.string() }),
  /** Writes UTF-8 text to stderr. */
  z.strictObject({ op: z.literal('stderr'), text: z.string() }),
  /** Writes the value of an environment variable and "\n" (`<unset>` when absent). */
  z.strictObject({ op: z.literal('env'), name: z.string(), to: z.enum(['stdout', 'stderr']) }),
  /** Writes the sha256 (hex) of an environment variable's value and "\n" to stdout. */
  z.strictObject({ op: z.literal('envSha256'), name: z.string() }),
  /** Writes `line` + "\n" to stdout `times` times. */
  z.strictObject({ op: z.literal('repeat'), line: z.string(), times: z.number().int().min(0).max(1_000_000) }),
  /** Copies all of stdin to stdout. */
  z.strictObject({ op: z.literal('stdin') }),
  /** Never ends: the worker runs until it is stopped. Steps after it are not run. */
  z.strictObject({ op: z.literal('hang') }),
]);
export type WorkerStep = z.infer<typeof workerStepSchema>;

export const workerProgramSchema = z.strictObject({
  steps: z.array(workerStepSchema).max(64),
  /** @default 0 */
  exitCode: z.number().int().min(0).max(255).optional(),
});
export type WorkerProgram = z.infer<typeof workerProgramSchema>;

export function parseWorkerProgram(json: string): WorkerProgram {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new ValueError(`worker program is not JSON: ${(err as Error).message}`);
  }
  const parsed = workerProgramSchema.safeParse(raw);
  if (!parsed.success) throw new ValueError(`invalid worker program: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/**
 * The worker for real backends: `node -e WORKER_SOURCE '<program JSON>'` (node puts the JSON
 * in `process.argv[1]`). Plain CommonJS with no imports, so any image with node runs it. It
 * ends by setting `process.exitCode`, never `process.exit()`, so its output is flushed first.
 */
export const WORKER_SOURCE = [
  'const p = JSON.parse(process.argv[1]);',
  'const out = (b) => process.stdout.write(b), err = (b) => process.stderr.write(b);',
  '(async () => {',
  '  for (const s of p.steps) {',
  '    if (s.op === "stdout") out(s.text);',
  '    else if (s.op === "stdoutBytes") out(Buffer.from(s.base64, "base64"));',
  '    else if (s.op === "stderr") err(s.text);',
  '    else if (s.op === "env") (s.to === "stderr" ? err : out)((process.env[s.name] ?? "<unset>") + "\\n");',
  '    else if (s.op === "envSha256") out(require("crypto").createHash("sha256").update(process.env[s.name] ?? "").digest("hex") + "\\n");',
  '    else if (s.op === "repeat") { const b = Buffer.from(s.line + "\\n"); for (let i = 0; i < s.times; i++) out(b); }',
  '    else if (s.op === "stdin") { const c = []; for await (const d of process.stdin) c.push(d); out(Buffer.concat(c)); }',
  '    else if (s.op === "hang") { setInterval(() => {}, 1 << 30); return; }',
  '  }',
  '  process.exitCode = p.exitCode ?? 0;',
  '})();',
].join('\n');

/** argv that runs `program` with the node found as `node` (or the given executable). */
export function workerCommand(program: WorkerProgram, node = 'node'): string[] {
  return [node, '-e', WORKER_SOURCE, JSON.stringify(program)];
}

/** What a worker program does, played without running anything. */
export interface WorkerOutcome {
  readonly stdout: Buffer;
  readonly stderr: string;
  /** The stdout and stderr writes in the order they were made (what a merged log stream shows). */
  readonly merged: Buffer;
  /** Null when the program hangs. */
  readonly exitCode: number | null;
  readonly hangs: boolean;
}

/**
 * The reference interpreter of a worker program: what `WORKER_SOURCE` does, for simulated
 * backends (an SDK mock answering as the service would once the worker ran).
 */
export function interpretWorkerProgram(program: WorkerProgram, io: { readonly env: Readonly<Record<string, string>>; readonly stdin?: string }): WorkerOutcome {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const merged: Buffer[] = [];
  const write = (to: 'stdout' | 'stderr', b: Buffer): void => {
    (to === 'stdout' ? stdout : stderr).push(b);
    merged.push(b);
  };
  const env = (name: string): string | undefined => (Object.hasOwn(io.env, name) ? io.env[name] : undefined);
  let hangs = false;
  for (const s of program.steps) {
    if (s.op === 'stdout') write('stdout', Buffer.from(s.text));
    else if (s.op === 'stdoutBytes') write('stdout', Buffer.from(s.base64, 'base64'));
    else if (s.op === 'stderr') write('stderr', Buffer.from(s.text));
    else if (s.op === 'env') write(s.to, Buffer.from(`${env(s.name) ?? '<unset>'}\n`));
    else if (s.op === 'envSha256') write('stdout', Buffer.from(`${createHash('sha256').update(env(s.name) ?? '').digest('hex')}\n`));
    else if (s.op === 'repeat') write('stdout', Buffer.from(`${s.line}\n`.repeat(s.times)));
    else if (s.op === 'stdin') write('stdout', Buffer.from(io.stdin ?? ''));
    else {
      hangs = true;
      break;
    }
  }
  return {
    stdout: Buffer.concat(stdout),
    stderr: Buffer.concat(stderr).toString('utf8'),
    merged: Buffer.concat(merged),
    exitCode: hangs ? null : (program.exitCode ?? 0),
    hangs,
  };
}
