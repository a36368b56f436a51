import { coerceError, type AgoraConfig } from '@agora/core';
import { checkProviders } from '@agora/registry';
import { createRedis, deniedScriptCommands, liveRunners, localStorageAcrossHosts, redisSettingsReport, type RedisClient } from '@agora/state';
import { EXIT, cliErrorMessage, exitCodeFor, isRedisPermissionError, redisPermissionMessage, resolveConfig, type GlobalOpts } from '../context.js';
import { assertRedisReachable } from '../redis-check.js';
import { counted } from '../wording.js';

type Row = { kind: string; name: string; provider: string; ok: boolean; message: string; warning?: boolean };

/**
 * `agora doctor`: Redis reachability and settings, then every configured provider's health.
 * Exit 1 when anything is unhealthy (a Redis setting that fails readiness, as `/readyz` fails it,
 * is unhealthy; the others are warnings); 3 when Redis cannot be reached or refuses this user (its
 * password, or an ACL permission doctor's reads need); 2 when the Redis settings themselves are
 * bad (an unparsable REDIS_URL, an unreadable AGORA_REDIS_CA_FILE). The rows are printed in every
 * case; `--json` prints them as JSON.
 */
export async function doctorCmd(opts: { json?: boolean }, g: GlobalOpts): Promise<number> {
  let config: AgoraConfig;
  try {
    // Found before the verb ran: an unreadable REDIS_URL_FILE, a bad AGORA_LOG_LEVEL.
    if (g.startupError !== undefined) throw g.startupError;
    config = await resolveConfig(g);
  } catch (err) {
    // Nothing else can be checked without the settings; the row is printed (JSON with --json) all the same.
    printRows([{ kind: 'config', name: g.startupError !== undefined ? 'environment' : 'config', provider: 'agora', ok: false, message: cliErrorMessage(err) }], opts.json);
    return exitCodeFor(err);
  }
  const rows: Row[] = [];
  let redisExit: number | undefined;
  try {
    await assertRedisReachable(config.redisUrl, 3000);
  } catch (err) {
    rows.push({ kind: 'redis', name: 'redis', provider: 'redis', ok: false, message: (err as Error).message });
    // Bad input (the URL, the CA file) is exit 2 as for every verb; only an unreachable Redis is 3.
    redisExit = exitCodeFor(err) === EXIT.usage ? EXIT.usage : EXIT.unavailable;
  }
  if (redisExit === undefined) {
    const r = createRedis(config.redisUrl);
    const more: Row[] = [];
    try {
      const settings = await redisSettingsReport(r, config.redis?.require);
      // What readiness refuses (serve's and a runner's /readyz answer 503 on it) fails here too.
      if (settings.problem) more.push({ kind: 'redis', name: 'settings', provider: 'redis', ok: false, message: settings.problem });
      for (const w of settings.warnings) more.push({ kind: 'redis', name: 'settings', provider: 'redis', ok: true, warning: true, message: w });
      more.push(await scriptCommandsRow(r, config.namespace));
      // The fleet as it registered itself: a result stored on one host's disk is lost to the others.
      const runners = await liveRunners(r, config.namespace);
      for (const run of runners) {
        more.push({ kind: 'runner', name: run.id, provider: run.storage, ok: true, message: `host ${run.host}, queues ${run.queues.join(',')}, ${counted(run.slots, 'slot')}, up since ${run.startedAt}` });
      }
      const split = localStorageAcrossHosts(runners);
      if (split) more.push({ kind: 'fleet', name: 'storage', provider: 'local', ok: false, message: split });
      rows.push({ kind: 'redis', name: 'redis', provider: 'redis', ok: true, message: 'reachable' }, ...more);
    } catch (err) {
      // One row for Redis: it answers, but this user may not do what Agora does (an ACL), or stopped answering.
      const message = isRedisPermissionError(err) ? `reachable, but ${redisPermissionMessage(err as Error)}` : `reachable, but reading it failed: ${cliErrorMessage(err)}`;
      rows.push({ kind: 'redis', name: 'redis', provider: 'redis', ok: false, message }, ...more);
      redisExit = exitCodeFor(err) === EXIT.usage ? EXIT.usage : EXIT.unavailable;
    } finally {
      r.disconnect();
    }
  }
  rows.push(...(await checkProviders(config)));
  printRows(rows, opts.json);
  // Every verb exits 3 when the infrastructure is unavailable, 2 on bad input (the exit-code table); the rows are still printed.
  if (redisExit !== undefined) return redisExit;
  return rows.every((r) => r.ok) ? EXIT.ok : EXIT.failed;
}

/**
 * Whether this Redis user may run every command the Redis scripts (Agora's and BullMQ's) call, as
 * a runner and a scheduler check at start, exiting 3 when not. A warning, never a failure: a user
 * that only submits and reads (deploy/redis-acl.conf's `submitter`) legitimately lacks them.
 */
async function scriptCommandsRow(r: RedisClient, namespace: string): Promise<Row> {
  const row = { kind: 'redis', name: 'script-commands', provider: 'redis', ok: true };
  const consequence = 'a runner or scheduler with this user would exit 3 (a user that only submits and reads needs none of them)';
  let denied: string[] | undefined;
  try {
    denied = await deniedScriptCommands(r, namespace);
  } catch (err) {
    // Redis' own NOPERM for the probe: this user may not run scripts at all.
    return { ...row, warning: true, message: `this user may not run Redis scripts (${coerceError(err).message}): ${consequence}` };
  }
  if (denied === undefined) return { ...row, message: 'not checked: this Redis cannot run the check (script flags need Redis 7.0+)' };
  if (denied.length === 0) return { ...row, message: "this user may run every command the Redis scripts of Agora and BullMQ call" };
  return { ...row, warning: true, message: `this user may not run ${denied.map((c) => `'${c}'`).join(', ')}, which the Redis scripts of Agora and BullMQ call: ${consequence}` };
}

/** The checks as rows for people, or as `{ ok, checks }` with --json. */
function printRows(rows: readonly Row[], json: boolean | undefined): void {
  if (json) {
    process.stdout.write(JSON.stringify({ ok: rows.every((r) => r.ok), checks: rows }, null, 2) + '\n');
    return;
  }
  for (const r of rows) {
    const mark = !r.ok ? 'FAIL' : r.warning ? 'warn' : 'ok  ';
    process.stdout.write(`${mark} ${`${r.kind}/${r.name}`.padEnd(24)} ${`(${r.provider})`.padEnd(14)} ${r.message}\n`);
  }
}
