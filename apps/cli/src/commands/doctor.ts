import { checkProviders } from '@agora/registry';
import { checkRedisSettings, createRedis, liveRunners, localStorageAcrossHosts } from '@agora/state';
import { EXIT, resolveConfig, type GlobalOpts } from '../context.js';
import { assertRedisReachable } from '../redis-check.js';

/**
 * `agora doctor`: Redis reachability and settings, then every configured provider's health.
 * Exit 1 when anything is unhealthy; `--json` prints the rows as JSON.
 */
export async function doctorCmd(opts: { json?: boolean }, g: GlobalOpts): Promise<number> {
  const config = await resolveConfig(g);
  const rows: Array<{ kind: string; name: string; provider: string; ok: boolean; message: string; warning?: boolean }> = [];
  try {
    await assertRedisReachable(config.redisUrl, 3000);
    const r = createRedis(config.redisUrl);
    try {
      const warnings = await checkRedisSettings(r);
      rows.push({ kind: 'redis', name: 'redis', provider: 'redis', ok: true, message: 'reachable' });
      for (const w of warnings) rows.push({ kind: 'redis', name: 'settings', provider: 'redis', ok: true, warning: true, message: w });
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
  return rows.every((r) => r.ok) ? EXIT.ok : EXIT.failed;
}
