import { checkProviders } from '@agora/registry';
import { createRedis, liveRunners, localStorageAcrossHosts, redisSettingsReport } from '@agora/state';
import { EXIT, resolveConfig, type GlobalOpts } from '../context.js';
import { assertRedisReachable } from '../redis-check.js';

/**
 * `agora doctor`: Redis reachability and settings, then every configured provider's health.
 * Exit 1 when anything is unhealthy (a Redis setting that fails readiness, as `/readyz` fails it,
 * is unhealthy; the others are warnings), 3 when Redis cannot be reached; `--json` prints the rows.
 */
export async function doctorCmd(opts: { json?: boolean }, g: GlobalOpts): Promise<number> {
  const config = await resolveConfig(g);
  const rows: Array<{ kind: string; name: string; provider: string; ok: boolean; message: string; warning?: boolean }> = [];
  let redisDown = false;
  try {
    await assertRedisReachable(config.redisUrl, 3000);
    const r = createRedis(config.redisUrl);
    try {
      const settings = await redisSettingsReport(r, config.redis?.require);
      rows.push({ kind: 'redis', name: 'redis', provider: 'redis', ok: true, message: 'reachable' });
      // What readiness refuses (serve's and a runner's /readyz answer 503 on it) fails here too.
      if (settings.problem) rows.push({ kind: 'redis', name: 'settings', provider: 'redis', ok: false, message: settings.problem });
      for (const w of settings.warnings) rows.push({ kind: 'redis', name: 'settings', provider: 'redis', ok: true, warning: true, message: w });
      // The fleet as it registered itself: a result stored on one host's disk is lost to the others.
      const runners = await liveRunners(r, config.namespace);
      for (const run of runners) {
        rows.push({ kind: 'runner', name: run.id, provider: run.storage, ok: true, message: `host ${run.host}, queues ${run.queues.join(',')}, ${run.slots} slots, up since ${run.startedAt}` });
      }
      const split = localStorageAcrossHosts(runners);
      if (split) rows.push({ kind: 'fleet', name: 'storage', provider: 'local', ok: false, message: split });
    } finally {
      r.disconnect();
    }
  } catch (err) {
    rows.push({ kind: 'redis', name: 'redis', provider: 'redis', ok: false, message: (err as Error).message });
    redisDown = true;
  }
  rows.push(...(await checkProviders(config)));
  if (opts.json) {
    process.stdout.write(JSON.stringify({ ok: rows.every((r) => r.ok), checks: rows }, null, 2) + '\n');
  } else {
    for (const r of rows) {
      const mark = !r.ok ? 'FAIL' : r.warning ? 'warn' : 'ok  ';
      process.stdout.write(`${mark} ${`${r.kind}/${r.name}`.padEnd(24)} ${`(${r.provider})`.padEnd(14)} ${r.message}\n`);
    }
  }
  // Every verb exits 3 when the infrastructure is unavailable (the exit-code table); the rows are still printed.
  if (redisDown) return EXIT.unavailable;
  return rows.every((r) => r.ok) ? EXIT.ok : EXIT.failed;
}
