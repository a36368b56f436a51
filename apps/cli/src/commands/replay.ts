import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { AgoraError, NotFoundError, StorageError, ValueError, coerceError, createLogger, decodeUtf8, hostCpus, isItemId, parsePlanText, type LogLevel, type Plan } from '@agora/core';
import { verifyEvidence } from '@agora/evidence';
import { ProviderSet, loadTask } from '@agora/registry';
import { itemInputsHash } from '@agora/state';
import {
  createDispatchExecutor,
  effectiveConcurrency,
  isReplayable,
  loadReplayArtifacts,
  parseRecordedPlan,
  readSealedRun,
  replayItems,
  replayItemsOf,
  type MissingArtifact,
  type ReplayOutcome,
  type SealedRun,
} from '@agora/runner';
import { CliError, EXIT, resolveConfig, type GlobalOpts } from '../context.js';
import { pinnedKey, readJson } from './audit.js';
import { counted } from '../wording.js';

/** Exit codes of `agora replay` (README, Replay). */
export const REPLAY_EXIT = {
  /** Every replayed item produced its sealed result's bytes. */
  equal: EXIT.ok,
  /** Some item produced other bytes, or failed. */
  differs: EXIT.failed,
  /** Bad usage or input: unreadable bundle, an item that cannot be replayed, a plan that does not match. */
  usage: EXIT.usage,
  /** Storage (or another provider) did not answer. */
  unavailable: EXIT.unavailable,
  /** The bundle does not verify: nothing is run. */
  unverified: 4,
  /** A pinned task definition, a dependency's result or the run's plan is gone from storage: nothing is run. */
  missing: 5,
  /** Interrupted (SIGINT): running workers were stopped. */
  interrupted: 130,
} as const;

const optsSchema = z
  .object({
    json: z.boolean().optional(),
    item: z.array(z.string().refine(isItemId, 'not an item id')).max(10_000).optional(),
    key: z.string().optional(),
    plan: z.string().min(1).optional(),
  })
  .strict();

export type ReplayOpts = z.input<typeof optsSchema>;

/**
 * `agora replay <bundle.json> [--json] [--item <id>…] [--key vkey] [--plan plan.json]`: verifies
 * the bundle (as `agora audit verify` does), then executes its run's dispatch items again through
 * the configured compute providers, with the pinned task definitions, the recorded inputs and the
 * dependencies' sealed results, and reports per item whether the new stdout hashes to the sealed
 * result. Writes nothing to Redis or storage.
 */
export async function replayCmd(file: string | undefined, raw: ReplayOpts, g: GlobalOpts): Promise<number> {
  if (file === undefined) {
    const last = raw.item?.at(-1);
    throw new CliError(
      last === undefined
        ? 'replay: no <bundle.json>: agora replay <bundle.json> [--item <id>…] [--key vkey] [--plan plan.json] [--json]'
        : `replay: no <bundle.json>: --item takes every word after it as an item id (${JSON.stringify(last)} too); give the bundle first: agora replay <bundle.json> --item <id>`,
    );
  }
  const badItems = (raw.item ?? []).filter((id) => !isItemId(id));
  // Name the value (a comma list, a flag taken as an id), not zod's path "--item.0".
  if (badItems.length > 0) throw new CliError(`replay: ${badItems.map((id) => `--item ${JSON.stringify(id)} is not an item id`).join('; ')} (one id per word: --item a b, or --item a --item b)`);
  const parsed = optsSchema.safeParse(raw);
  if (!parsed.success) throw new CliError(`replay: ${parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const opts = parsed.data;
  const key = pinnedKey(opts.key === undefined ? {} : { key: opts.key });
  const bundle = await readBundle(file);

  const report = await verifyEvidence(bundle, key);
  for (const w of report.warnings) process.stderr.write(`agora: warning: ${w}\n`);
  if (!report.intact) {
    const why = report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join('; ');
    if (opts.json) print({ ok: false, verified: false, report });
    process.stderr.write(`agora: ${file} does not verify, nothing was replayed: ${why}\n`);
    return REPLAY_EXIT.unverified;
  }
  const b = bundle as { runId: string; events: readonly unknown[] };
  const run = usage(() => readSealedRun(b.runId, b.events));

  const config = await resolveConfig(g);
  const providers = new ProviderSet(config);
  const storage = await unavailable(() => providers.storage());
  const plan = await unavailable(() => loadPlan(run, opts.plan, () => storage.get(run.planRef!)));
  if ('missing' in plan) return refuseMissing([plan.missing], opts.json === true);
  const items = usage(() => replayItemsOf(run, plan.plan, opts.item));
  usage(() => checkPlanInputs(run, plan.plan));
  if (items.length === 0) throw new CliError(`run ${run.runId} has no dispatch item that ran and ended done: nothing to replay`);
  const { tasks, missing } = await unavailable(() => loadReplayArtifacts(storage, config, items));
  if (missing.length > 0) return refuseMissing(missing, opts.json === true);

  const logLevel = (process.env['AGORA_LOG_LEVEL'] as LogLevel | undefined) ?? 'warn';
  const logger = createLogger({ component: 'replay', runId: run.runId }, logLevel);
  const executor = createDispatchExecutor({
    config,
    compute: (n) => providers.compute(n),
    credentials: (n) => providers.credentials(n),
    resolveTask: async (_name, ctx) => (ctx.taskRef === undefined ? null : (tasks.get(ctx.taskRef) ?? loadTask(storage, ctx.taskRef))),
  });
  const stop = new AbortController();
  const onSigint = (): void => stop.abort('interrupted');
  process.once('SIGINT', onSigint);
  let outcomes: ReplayOutcome[];
  try {
    const cpus = hostCpus();
    outcomes = await replayItems(executor, run.runId, items, { config, storage, logger, signal: stop.signal, concurrency: effectiveConcurrency(config.runner.concurrency, cpus) });
  } finally {
    process.off('SIGINT', onSigint);
  }
  const counts = { equal: 0, differs: 0, failed: 0 };
  for (const o of outcomes) counts[o.status]++;
  const notReplayed = opts.item?.length ? [] : [...run.items.values()].filter((i) => i.executor === 'dispatch' && !isReplayable(i)).map((i) => ({ itemId: i.itemId, state: i.end?.state ?? 'unended' }));
  const ok = counts.differs === 0 && counts.failed === 0 && !stop.signal.aborted;
  if (opts.json) {
    print({
      ok,
      runId: run.runId,
      planId: run.planId,
      planRef: run.planRef ?? null,
      verification: { intact: true, claim: report.claim, guarantee: report.guarantee, warnings: report.warnings },
      counts,
      items: outcomes,
      notReplayed,
    });
  } else {
    process.stdout.write(table(run, outcomes, counts, notReplayed));
  }
  if (stop.signal.aborted) {
    process.stderr.write(`agora: replay interrupted: ${counted(items.length - outcomes.length, 'item')} not run\n`);
    return REPLAY_EXIT.interrupted;
  }
  return ok ? REPLAY_EXIT.equal : REPLAY_EXIT.differs;
}

/**
 * Reads the bundle: unreadable, not UTF-8 (the first bad byte named), not JSON (named by line and column, as plan files are) or not a
 * JSON object at all is bad input (exit 2); an object is for the verifier to judge (exit 4).
 */
async function readBundle(file: string): Promise<unknown> {
  // As `agora audit verify` reads one (readJson): strictly UTF-8, JSON named by line and column.
  const bundle = await readJson(file);
  if (bundle === null || typeof bundle !== 'object' || Array.isArray(bundle)) {
    throw new CliError(`${file} is not an evidence bundle: a JSON object is expected, not ${bundle === null ? 'null' : Array.isArray(bundle) ? 'an array' : `a ${typeof bundle}`}`);
  }
  return bundle;
}

/**
 * Every item of the plan, replayed or not, must be one of the run's with inputs that hash to its
 * sealed `inputsHash`, and every item of the run must be in the plan: a plan that differs
 * anywhere is not the plan the record proves ran (`replayItemsOf` checks the replayed ones).
 */
function checkPlanInputs(run: SealedRun, plan: Plan): void {
  const bad: string[] = [];
  for (const it of plan.items) {
    const sealed = run.items.get(it.id);
    if (!sealed) bad.push(`item "${it.id}" of the plan is not in run ${run.runId}`);
    else if (itemInputsHash(it.inputs) !== sealed.inputsHash) bad.push(`item "${it.id}": the plan's inputs do not hash to the sealed inputsHash ${sealed.inputsHash}`);
  }
  const inPlan = new Set(plan.items.map((it) => it.id));
  for (const id of run.items.keys()) if (!inPlan.has(id)) bad.push(`item "${id}" of run ${run.runId} is not in the plan`);
  if (bad.length === 0) return;
  const more = bad.length > 5 ? ` (and ${bad.length - 5} more)` : '';
  throw new ValueError(`the plan is not the one run ${run.runId} ran, nothing was replayed: ${bad.slice(0, 5).join('; ')}${more}`);
}

/** A bundle or plan that does not hold together is bad input (exit 2), with the reason. */
function usage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ValueError) throw new CliError(err.message, REPLAY_EXIT.usage);
    throw err;
  }
}

/** Storage that fails in a way a later try may not (a retryable error: unreachable, throttled) is unavailable (exit 3), not bad input. */
async function unavailable<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AgoraError && err.retryable) throw new CliError(`storage unavailable: ${err.message}`, REPLAY_EXIT.unavailable);
    throw err;
  }
}

/**
 * The plan holding the items' inputs: the `--plan` file when given, else the one the scheduler
 * stored at acceptance (`planRef`, read by its hash). Either is checked item by item against the
 * sealed inputs hashes later.
 */
async function loadPlan(run: SealedRun, planFile: string | undefined, read: () => Promise<Uint8Array>): Promise<{ plan: Plan } | { missing: MissingArtifact }> {
  if (planFile !== undefined) {
    let bytes: Buffer;
    try {
      bytes = await readFile(planFile);
    } catch (err) {
      throw new CliError(`cannot read --plan ${planFile}: ${(err as NodeJS.ErrnoException).code ?? coerceError(err).message}`);
    }
    return { plan: usage(() => parseRecordedPlan(parsePlanText(decodeUtf8(bytes, planFile), planFile), planFile)) };
  }
  if (run.planRef === undefined) {
    return { missing: { itemId: '*', what: 'plan', ref: '(none)', reason: `run ${run.runId} was accepted before plans were recorded; give the plan it was submitted with: --plan <file>` } };
  }
  try {
    const bytes = await read();
    return { plan: usage(() => parseRecordedPlan(JSON.parse(decodeUtf8(bytes, run.planRef!)) as unknown, run.planRef!)) };
  } catch (err) {
    if (err instanceof NotFoundError || (err instanceof StorageError && !err.retryable)) {
      return { missing: { itemId: '*', what: 'plan', ref: run.planRef, reason: coerceError(err).message } };
    }
    throw err;
  }
}

function refuseMissing(missing: readonly MissingArtifact[], json: boolean): number {
  if (json) print({ ok: false, verified: true, missing });
  const lines = missing.map((m) => `  ${m.itemId === '*' ? 'the run' : `item ${m.itemId}`}: ${m.what} ${m.ref}: ${m.reason}`);
  process.stderr.write(`agora: cannot replay, nothing was run: what the record pins is not in storage:\n${lines.join('\n')}\n`);
  return REPLAY_EXIT.missing;
}

function print(v: unknown): void {
  process.stdout.write(JSON.stringify(v) + '\n');
}

const short = (h: string | undefined): string => (h === undefined ? '-' : h.slice(0, 12));

/** The reproducibility report for people: a summary line, a row per item, and what was not replayed. */
function table(run: SealedRun, outcomes: readonly ReplayOutcome[], counts: Record<ReplayOutcome['status'], number>, notReplayed: ReadonlyArray<{ itemId: string; state: string }>): string {
  const rows = [
    ['ITEM', 'TASK', 'RESULT', 'SEALED', 'NOW', 'BYTES', 'MS'],
    ...outcomes.map((o) => [o.itemId, o.task, o.status === 'differs' ? 'DIFFERS' : o.status === 'failed' ? 'FAILED' : 'equal', short(o.sealedSha256), short(o.sha256), o.bytes === undefined ? '-' : String(o.bytes), String(o.durationMs)]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ').trimEnd());
  const out = [`replay of run ${run.runId} (plan ${run.planId}): ${counted(outcomes.length, 'item')}: ${counts.equal} equal, ${counts.differs} differ, ${counts.failed} failed`, ...lines];
  for (const o of outcomes) if (o.error !== undefined) out.push(`  ${o.itemId}: ${o.error}`);
  for (const o of outcomes) if (o.sealedTarget !== undefined && o.target !== undefined && o.target !== o.sealedTarget) out.push(`  ${o.itemId}: ran on target ${o.target}; the record names ${o.sealedTarget}`);
  for (const o of outcomes) if (o.taskRef === undefined) out.push(`  ${o.itemId}: task "${o.task}" from the config file (not pinned in the record)`);
  if (notReplayed.length > 0) out.push(`not replayed (did not end done): ${notReplayed.map((n) => `${n.itemId} (${n.state})`).join(', ')}`);
  return out.join('\n') + '\n';
}
