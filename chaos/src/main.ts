/**
 * `npm run chaos`: a locked DAG run on real processes while runners are killed and paused, the
 * active scheduler is killed and Redis is restarted. Prints what was lost, what overlapped and
 * whether it was fenced, what ran twice, whether the audit verifies and how fast each fault was
 * recovered from; exits 1 unless nothing was lost, no stale result was stored, no process
 * crashed by itself and the audit verified. See chaos/README.md.
 */
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import { runChaos, type ChaosReport } from './run.js';

const options = {
  items: { type: 'string', default: '1000' },
  seed: { type: 'string' },
  runs: { type: 'string', default: '1' },
  json: { type: 'boolean', default: false },
  keep: { type: 'boolean', default: false },
  locks: { type: 'string', default: '20' },
  edges: { type: 'string' },
  runners: { type: 'string', default: '3' },
  'lease-ms': { type: 'string', default: '3000' },
  'pause-ms': { type: 'string', default: '9000' },
  'fault-window-s': { type: 'string', default: '60' },
  'deadline-s': { type: 'string', default: '360' },
  'kill-mode': { type: 'string', default: 'tree' },
  'no-faults': { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;
const { values } = (() => {
  try {
    return parseArgs({ options });
  } catch (err) {
    // An unknown flag, a flag without its value, "--seed -1" (read as a flag): node's own
    // message, as one line and exit 2 like the checks below, not an uncaught error's stack.
    process.stderr.write(`chaos: ${(err as Error).message} (npm run chaos -- --help)\n`);
    return process.exit(2);
  }
})();

if (values.help) {
  process.stdout.write(`usage: npm run chaos -- [--items N] [--seed S] [--runs K] [--json] [--keep]
       [--locks N] [--edges N] [--runners N] [--lease-ms MS] [--pause-ms MS]
       [--fault-window-s S] [--deadline-s S] [--kill-mode tree|runner] [--no-faults]
Runs K chaos runs (seeds S, S+1, ...); exits 1 if any fails. See chaos/README.md.
`);
  process.exit(0);
}

function int(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`chaos: --${name} expects an integer >= ${min}, got "${v}"\n`);
    process.exit(2);
  }
  return n;
}

const items = int('items', values.items, 2);
const seed = values.seed === undefined ? randomInt(1, 2 ** 31 - 1) : int('seed', values.seed, 0);
const runs = int('runs', values.runs, 1);
const killMode = values['kill-mode'];
if (killMode !== 'tree' && killMode !== 'runner') {
  process.stderr.write(`chaos: --kill-mode expects tree or runner, got "${killMode}"\n`);
  process.exit(2);
}
const log = (msg: string): void => {
  process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};

const fmtMs = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : `${(v / 1000).toFixed(1)} s`);

function human(r: ChaosReport): string {
  const out: string[] = [];
  const row = (k: string, v: unknown): void => void out.push(`  ${k.padEnd(34)} ${String(v)}`);
  out.push(`chaos run, seed ${r.seed}: ${r.pass ? 'PASS' : 'FAIL'}`);
  row('plan', `${r.plan.items} items (${r.plan.lockedItems} locked), ${r.plan.locks} locks, ${r.plan.edges} edges, longest chain ${r.plan.longestChain}`);
  row('run', `${r.runId ?? '-'} ${r.runState ?? '-'} after ${fmtMs(r.durationMs)}${r.ended ? '' : ' (did not end)'}`);
  if (r.stoppedEarly) row('stopped early', r.stoppedEarly);
  row('item states', Object.entries(r.counts).filter(([, n]) => n > 0).map(([k, n]) => `${k}=${n}`).join(' ') || '-');
  row('lost items', r.lost + (r.lost > 0 ? `: ${r.lostItems.slice(0, 8).map((i) => `${i.id}(${i.state})`).join(' ')}${r.lost > 8 ? ' …' : ''}` : ''));
  if (r.lostDiagnosis) {
    const d = r.lostDiagnosis;
    row('  their jobs in BullMQ', Object.entries(d.jobStates).map(([k, n]) => `${k}=${n}`).join(' ') || '-');
    if (d.failedReasons.length > 0) row('  BullMQ failed them with', d.failedReasons.join(' | '));
    row('  lock-queue deadlock', d.lockWaitCycle ? d.lockWaitCycle.join(' -> ') : `none found (${d.blockedFreeLocks} free locks whose first waiter waits elsewhere)`);
  }
  row('worker executions', r.executions);
  row('lock overlaps', `${r.overlaps} (${Object.entries(r.overlapsByOutcome).filter(([, n]) => n > 0).map(([k, n]) => `${k}=${n}`).join(' ') || 'none'})`);
  row('unfenced overlaps', r.unfencedOverlaps);
  row('fenced events', r.fencedEvents);
  row('fencing tokens reused', r.tokenReuse.length);
  row('items run again after finishing', `${r.reExecutions.items} items, ${r.reExecutions.extra} extra runs (${r.reExecutions.afterRecorded} started after the result was recorded)`);
  row('audit verifies', r.auditVerified ? 'yes' : `NO (exit ${r.auditExit ?? '-'})`);
  row('crashed by themselves', r.crashes.length + (r.crashes.length > 0 ? `: ${r.crashes.map((c) => `${c.name}@${fmtMs(c.atRunMs)}`).join(' ')}` : ''));
  row('workers outliving their runner', r.orphanWorkers);
  row('[ioredis] Unhandled error lines', r.unhandledRedisErrorLines);
  row('runner-kill recovery', `median ${fmtMs(r.recovery.heldResumedMedianMs)}, max ${fmtMs(r.recovery.heldResumedMaxMs)} over ${r.recovery.runnerKills} kills${r.recovery.neverResumed ? `, ${r.recovery.neverResumed} never` : ''}`);
  if (r.failedItems.length > 0) row('failed items', r.failedItems.slice(0, 5).map((f) => `${f.id}: ${f.error.slice(0, 100)}`).join(' | '));
  if (r.slowShutdown.length > 0) row('slow to stop on SIGTERM', r.slowShutdown.join(' '));
  out.push('  faults (t after submission; resumed = until every item the runner held ran again or ended; next done = until the next item was recorded done):');
  out.push(`    ${'t'.padStart(6)}  ${'fault'.padEnd(15)} ${'target'.padEnd(12)} ${'held'.padStart(4)} ${'resumed'.padStart(8)} ${'next done'.padStart(9)}  note`);
  for (const f of r.faults) {
    out.push(
      `    ${fmtMs(f.atRunMs).padStart(6)}  ${f.kind.padEnd(15)} ${f.target.padEnd(12)} ${String(f.heldItems ?? '').padStart(4)} ${(f.heldResumedMs === undefined ? '' : f.heldResumedMs === null ? 'never' : fmtMs(f.heldResumedMs)).padStart(8)} ${fmtMs(f.nextDoneMs).padStart(9)}  ${[f.note, f.enqueuedAfterMs !== undefined ? `plan enqueued ${fmtMs(f.enqueuedAfterMs)} later` : '', f.workersKilled ? `${f.workersKilled} worker(s) killed` : ''].filter(Boolean).join('; ')}`,
    );
  }
  for (const ov of r.overlapDetails.slice(0, 10)) {
    out.push(`  overlap on ${ov.lock}: ${ov.stale.item}#${ov.stale.attempt} token ${ov.stale.token} vs ${ov.fresh.item}#${ov.fresh.attempt} token ${ov.fresh.token}, ${ov.overlapMs} ms, stale result: ${ov.outcome}`);
  }
  for (const c of r.crashes) {
    out.push(`  crash ${c.name} (pid ${c.pid}) at ${fmtMs(c.atRunMs)}: code=${c.code} signal=${c.signal}`);
    out.push(...(c.stack ?? c.stderrTail.slice(-10).join('\n')).split('\n').map((l) => `      ${l}`));
  }
  for (const n of r.skippedFaults) out.push(`  fault skipped: ${n}`);
  for (const n of r.harnessNotes) out.push(`  harness note: ${n}`);
  if (!r.pass) {
    out.push(`  FAILED: ${r.failures.join('; ')}`);
    out.push(`  logs, journal, plan, config and report.json: ${r.dir}`);
  } else if (values.keep) {
    out.push(`  kept: ${r.dir}`);
  }
  return out.join('\n');
}

const reports: ChaosReport[] = [];
for (let k = 0; k < runs; k++) {
  const r = await runChaos({
    seed: seed + k,
    items,
    locks: int('locks', values.locks, 1),
    edges: values.edges === undefined ? Math.round(items * 0.7) : int('edges', values.edges, 0),
    runners: int('runners', values.runners, 1),
    schedulers: 2,
    runnerConcurrency: 2,
    leaseMs: int('lease-ms', values['lease-ms'], 1000),
    pauseMs: int('pause-ms', values['pause-ms'], 0),
    faultWindowMs: int('fault-window-s', values['fault-window-s'], 0) * 1000,
    deadlineMs: int('deadline-s', values['deadline-s'], 10) * 1000,
    killMode,
    noFaults: values['no-faults'],
    keep: values.keep,
    log,
  });
  reports.push(r);
  if (!values.json) process.stdout.write(human(r) + '\n');
  if (!r.pass && !values.json) {
    // The last stderr lines of every process that crashed are above; the rest are in the logs.
    log(`run with seed ${r.seed} failed; logs in ${r.dir}`);
  }
  const { overlapDetails: _d, ...line } = r;
  process.stdout.write(JSON.stringify({ chaos: line }) + '\n');
}
const failed = reports.filter((r) => !r.pass);
if (runs > 1) log(`${runs - failed.length}/${runs} runs passed${failed.length ? `; failed seeds: ${failed.map((r) => r.seed).join(', ')}` : ''}`);
process.exit(failed.length === 0 ? 0 : 1);
