import { DEFAULT_EXECUTORS, NotFoundError, PlanValidationError, ValueError, configValidateOptions, isTerminalRunState, validatePlan, type AgoraConfig, type Plan, type ValidateOptions } from '@agora/core';
import { AgoraClient, runsQuerySchema, type RunSummary } from '@agora/sdk';
import { ProviderSet, planDeploymentProblems } from '@agora/registry';
import { CliError, EXIT, resolveConfig, type GlobalOpts } from '../context.js';
import { parseSeq } from '../options.js';
import { readPlanFile } from '../plan-file.js';
import { WatchSummary, printable } from '../watch-summary.js';
import { assertRedisReachable } from '../redis-check.js';
import { counted } from '../wording.js';

async function client(g: GlobalOpts): Promise<{ client: AgoraClient; deployment: ValidateOptions }> {
  const config = await resolveConfig(g);
  await assertRedisReachable(config.redisUrl);
  const deployment = configValidateOptions(config);
  return { client: new AgoraClient({ redisUrl: config.redisUrl, namespace: config.namespace, validate: deployment, checkPlan: taskCheck(config) }), deployment };
}

/**
 * The task check of the scheduler's acceptance, short of the run itself: the task each `dispatch`
 * item names against the config's tasks and those registered in the config's storage (read only
 * when the plan has dispatch items), then each item's merged retry policy. So `validate` and
 * `submit` refuse what the scheduler would reject after the submission.
 */
function taskCheck(config: AgoraConfig): (plan: Plan) => Promise<string[]> {
  return (plan) => planDeploymentProblems(() => new ProviderSet(config).storage(), config, plan);
}

/**
 * `readPlanFile`, and with `--json` a plan file that cannot be read or parsed also answers
 * `{ ok: false, problems: [why] }` on stdout (still exit 2, the reason on stderr too): a script
 * reading stdout got nothing at all for malformed JSON.
 */
async function readPlanFileAnswering(file: string, opts: { json?: boolean }): Promise<unknown> {
  try {
    return await readPlanFile(file);
  } catch (err) {
    if (opts.json && err instanceof CliError) process.stdout.write(JSON.stringify({ ok: false, problems: [err.message] }) + '\n');
    throw err;
  }
}

/** `agora validate <plan>`: prints every problem; exit 1 when invalid. `--json` for scripts. */
export async function validateCmd(file: string, g: GlobalOpts, opts: { json?: boolean } = {}): Promise<number> {
  const config = await resolveConfig(g);
  const plan = await readPlanFileAnswering(file, opts);
  const schema = validatePlan(plan, { ...configValidateOptions(config), executors: DEFAULT_EXECUTORS });
  const taskProblems = schema.ok ? await taskCheck(config)(schema.plan) : [];
  const r = taskProblems.length > 0 ? { ok: false as const, problems: taskProblems } : schema;
  if (opts.json) {
    process.stdout.write(JSON.stringify(r.ok ? { ok: true, planId: r.plan.id, queue: r.plan.queue, items: r.plan.items.length } : { ok: false, problems: r.problems }) + '\n');
    return r.ok ? EXIT.ok : EXIT.failed;
  }
  if (!r.ok) {
    process.stderr.write(`${file}: plan is invalid (${counted(r.problems.length, 'problem')}):\n`);
    for (const p of r.problems) process.stderr.write(`  ${p}\n`);
    return EXIT.failed;
  }
  // Quoted as JSON: a plan id may hold any character, a terminal escape included.
  process.stdout.write(`${file}: plan ${JSON.stringify(r.plan.id)} is valid: ${counted(r.plan.items.length, 'item')} on queue "${r.plan.queue}"\n`);
  return EXIT.ok;
}

/** `agora submit <plan>`: validates, enqueues, prints the run id and returns at once. */
export async function submitCmd(file: string, g: GlobalOpts, opts: { json?: boolean } = {}): Promise<number> {
  const plan = await readPlanFileAnswering(file, opts);
  const { client: c, deployment } = await client(g);
  const invalid = (problems: readonly string[]): number => {
    if (opts.json) process.stdout.write(JSON.stringify({ ok: false, problems }) + '\n');
    else process.stderr.write(`${file}: plan is invalid, nothing was submitted:\n${problems.map((p) => `  ${p}\n`).join('')}`);
    return EXIT.failed;
  };
  try {
    const r = validatePlan(plan, deployment);
    if (!r.ok) return invalid(r.problems);
    let runId: string;
    try {
      runId = await c.submit(plan);
    } catch (err) {
      // The deployment the scheduler publishes (its executors, queues, sinks) found a problem.
      if (err instanceof PlanValidationError) return invalid(err.problems);
      throw err;
    }
    process.stdout.write(opts.json ? JSON.stringify({ runId }) + '\n' : `${runId}\n`);
    return EXIT.ok;
  } finally {
    await c.close();
  }
}

/** `agora watch <run>`: one JSON event per line until the run ends; exit 0 only if it succeeded. */
export async function watchCmd(runId: string, opts: { from?: string; json?: boolean; summary?: boolean }, g: GlobalOpts): Promise<number> {
  if (opts.json === true && opts.summary === true) throw new CliError('give --json or --summary, not both');
  // People on a terminal get a live summary; pipes, scripts and --json get the JSON lines contract.
  const summary = opts.summary === true || (opts.json !== true && process.stdout.isTTY === true) ? new WatchSummary() : undefined;
  const fromSeq = opts.from === undefined ? 0 : parseSeq(opts.from);
  const { client: c } = await client(g);
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await c.status(runId).catch((err: unknown) => {
      if (err instanceof NotFoundError) throw new CliError(`no run "${runId}"`);
      throw err;
    });
    let final: string | undefined;
    let drawn = 0;
    const draw = (): void => {
      if (!summary) return;
      // \r + erase line: redraw in place on a terminal; a forced --summary on a pipe gets one line per redraw.
      process.stdout.write(process.stdout.isTTY ? `\r\x1b[2K${summary.line(process.stdout.columns || 100)}` : `${summary.line()}\n`);
      drawn = Date.now();
    };
    // The summary counts every item from the run's first event, so it reads the events before
    // --from too and only shows nothing of them: resumed at a seq, it once said "submitted 0/0"
    // for a run that had failed, and counted only the items it had seen since.
    for await (const e of c.watch(runId, { fromSeq: summary ? 0 : fromSeq, signal: ac.signal })) {
      if (e.type === 'run' && isTerminalRunState(e.state)) final = e.state;
      if (summary) {
        const lines = summary.add(e);
        if (e.seq < fromSeq) continue;
        if (lines.length > 0) process.stdout.write((process.stdout.isTTY ? '\r\x1b[2K' : '') + lines.join('\n') + '\n');
        // At most ten redraws a second: a 10,000-item run must not flood the terminal.
        if (lines.length > 0 || Date.now() - drawn >= 100) draw();
      } else {
        process.stdout.write(JSON.stringify(e) + '\n');
      }
    }
    if (summary) {
      draw();
      if (process.stdout.isTTY) process.stdout.write('\n');
    }
    if (final === undefined) {
      const s = await c.status(runId);
      final = isTerminalRunState(s.state) ? s.state : undefined;
    }
    return final === 'succeeded' ? EXIT.ok : EXIT.failed;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await c.close();
  }
}

/** `agora status <run>`: the run's state, counts and items as JSON. */
export async function statusCmd(runId: string, g: GlobalOpts, opts: { json?: boolean } = {}): Promise<number> {
  const { client: c } = await client(g);
  try {
    const s = await c.status(runId);
    process.stdout.write((opts.json ? JSON.stringify(s) : JSON.stringify(s, null, 2)) + '\n');
    return EXIT.ok;
  } catch (err) {
    if (err instanceof NotFoundError) throw new CliError(`no run "${runId}"`);
    throw err;
  } finally {
    await c.close();
  }
}

/** `agora cancel <run>`. */
export async function cancelCmd(runId: string, g: GlobalOpts): Promise<number> {
  const { client: c } = await client(g);
  try {
    const r = await c.cancel(runId);
    process.stdout.write(JSON.stringify(r) + '\n');
    return EXIT.ok;
  } catch (err) {
    if (err instanceof NotFoundError) throw new CliError(`no run "${runId}"`);
    throw err;
  } finally {
    await c.close();
  }
}

/**
 * One runs-list row for people: a fixed-width line. The plan id may hold any character: control
 * characters are shown as U+FFFD (a newline split the row, an escape reached the terminal) and
 * it is cut at 24 code points, never inside a surrogate pair.
 */
export function runLine(r: RunSummary): string {
  const c = r.counts;
  const counts = `${c.done}/${r.total} done` + (c.failed ? `, ${c.failed} failed` : '') + (c.skipped ? `, ${c.skipped} skipped` : '') + (c.cancelled ? `, ${c.cancelled} cancelled` : '');
  const took = r.durationMs !== undefined ? `${(r.durationMs / 1000).toFixed(1)}s` : '-';
  return [r.runId.padEnd(28), r.state.padEnd(10), printable(Array.from(r.planId).slice(0, 24).join('')).padEnd(24), r.queue.padEnd(10), r.createdAt.padEnd(24), took.padStart(8), `  ${counts}`].join(' ');
}

/** `agora runs`: the newest runs, filtered; a table for people, or the page as JSON (`--json`). */
export async function runsCmd(opts: { state?: string; limit?: string; queue?: string; plan?: string; since?: string; cursor?: string; json?: boolean }, g: GlobalOpts): Promise<number> {
  const raw = Object.fromEntries(Object.entries({ state: opts.state, limit: opts.limit ?? '20', queue: opts.queue, plan: opts.plan, since: opts.since, cursor: opts.cursor }).filter(([, v]) => v !== undefined));
  const q = runsQuerySchema.safeParse(raw);
  if (!q.success) throw new CliError(q.error.issues.map((i) => `--${i.path.join('.')}: ${i.message.replace(/^\w+: /, '')}`).join('; '));
  const { plan, since, ...rest } = q.data;
  const { client: c } = await client(g);
  try {
    const page = await c.runs({ ...rest, ...(plan !== undefined ? { planId: plan } : {}), ...(since !== undefined ? { sinceMs: since } : {}) });
    if (opts.json) {
      process.stdout.write(JSON.stringify(page) + '\n');
      return EXIT.ok;
    }
    if (page.runs.length === 0) process.stdout.write('no runs\n');
    else {
      process.stdout.write(['RUN'.padEnd(28), 'STATE'.padEnd(10), 'PLAN'.padEnd(24), 'QUEUE'.padEnd(10), 'CREATED'.padEnd(24), 'TOOK'.padStart(8), '  ITEMS'].join(' ') + '\n');
      for (const r of page.runs) process.stdout.write(runLine(r) + '\n');
    }
    if (page.next) process.stdout.write(`more: agora runs --cursor ${page.next}\n`);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof ValueError) throw new CliError(`--cursor: ${err.message}`);
    throw err;
  } finally {
    await c.close();
  }
}
