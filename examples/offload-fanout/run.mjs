// One-command scripted run of the seed-003 fan-out: starts `agora dev` (private Redis, scheduler,
// two runners, dashboard), submits plan.json, prints every event as it happens, then the results.
// Exits 0 only if the run succeeded (and, once sealed, its audit bundle verified).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = path.join(here, '..', '..', 'apps', 'cli', 'dist', 'bin.js');
const dataDir = path.join(here, '.agora');
const env = { ...process.env, AGORA_DATA_DIR: dataDir, AGORA_LOG_LEVEL: process.env.AGORA_LOG_LEVEL ?? 'warn' };
delete env.REDIS_URL; // the demo always runs on its own private Redis
const devFile = path.join(dataDir, 'dev.json');
rmSync(devFile, { force: true });

const agora = (...args) => spawnSync(process.execPath, [bin, ...args], { cwd: here, env, encoding: 'utf8' });
const dev = spawn(process.execPath, [bin, 'dev', '--port', '0'], { cwd: here, env, stdio: ['ignore', 'inherit', 'inherit'] });
let exitCode = 1;
try {
  const deadline = Date.now() + 30_000;
  while (!existsSync(devFile)) {
    if (dev.exitCode !== null) throw new Error(`agora dev exited with code ${dev.exitCode}`);
    if (Date.now() > deadline) throw new Error('agora dev did not come up within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const { dashboard } = JSON.parse(readFileSync(devFile, 'utf8'));
  const submit = agora('submit', 'plan.json');
  if (submit.status !== 0) throw new Error(`submit failed: ${submit.stderr}`);
  const runId = submit.stdout.trim();
  console.log(`\nsubmitted plan.json as run ${runId} (dashboard: ${dashboard})\n`);

  const watch = spawn(process.execPath, [bin, 'watch', runId], { cwd: here, env, stdio: ['ignore', 'pipe', 'inherit'] });
  let buf = '';
  const events = [];
  watch.stdout.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const e = JSON.parse(line);
      events.push(e);
      const what = e.itemId ? `${e.itemId.padEnd(12)} ${e.type === 'item' ? e.state : e.type + (e.action ? ' ' + e.action : '')}` : `run          ${e.state}`;
      const extra = e.resultRef ? ` ${e.resultRef}` : e.lock ? ` ${e.lock} token=${e.token}` : e.error ? ` ${e.error}` : '';
      console.log(`  #${String(e.seq).padStart(2)} ${e.at.slice(11, 23)} ${what}${extra}`);
    }
  });
  const watchCode = await new Promise((r) => watch.on('exit', r));

  const status = JSON.parse(agora('status', runId).stdout);
  console.log(`\nrun ${runId}: ${status.state}`);
  for (const it of status.items) console.log(`  ${it.id.padEnd(12)} ${it.state.padEnd(9)} ${it.resultRef ?? ''}`);

  const audit = agora('audit', runId, '--out', path.join(dataDir, `${runId}.bundle.json`));
  if (audit.status === null || audit.stderr.includes('unknown command')) {
    exitCode = watchCode;
  } else {
    const report = audit.stdout.trim() ? JSON.parse(audit.stdout) : null;
    if (report) {
      console.log(`\naudit report: intact: ${report.intact}, claim: ${report.claim}, guarantee: ${report.guarantee}`);
      for (const c of report.checks ?? []) console.log(`  ${c.ok ? 'pass' : 'FAIL'} ${c.name}${c.detail ? ` (${c.detail})` : ''}`);
      console.log(`  bundle: ${path.relative(process.cwd(), path.join(dataDir, `${runId}.bundle.json`))}`);
    }
    exitCode = watchCode === 0 && audit.status === 0 ? 0 : 1;
  }
} catch (err) {
  console.error(`demo: ${err.message}`);
} finally {
  dev.kill('SIGINT');
  await new Promise((r) => (dev.exitCode !== null ? r() : dev.on('exit', r)));
}
process.exit(exitCode);
