import type { RedisClient } from './redis.js';
import { z } from 'zod';
import { keys as buildKeys } from '@agora/core';

/** How often a runner refreshes its registration. */
export const RUNNER_HEARTBEAT_MS = 5_000;
/** A registration not refreshed for this long belongs to a runner that is gone. */
export const RUNNER_STALE_MS = 3 * RUNNER_HEARTBEAT_MS;

/** What a runner says about itself, refreshed by its heartbeat. */
export const runnerRegistrationSchema = z.object({
  id: z.string(),
  host: z.string(),
  pid: z.number().int(),
  version: z.string(),
  queues: z.array(z.string()),
  slots: z.number().int(),
  /** The storage provider alias (`local`, `s3`, ...): results must be reachable by every runner. */
  storage: z.string(),
  startedAt: z.string(),
  heartbeatAt: z.string(),
});

export type RunnerRegistration = z.infer<typeof runnerRegistrationSchema>;

/** Writes (or refreshes) a runner's registration. */
export async function registerRunner(redis: RedisClient, namespace: string, reg: Omit<RunnerRegistration, 'heartbeatAt'>): Promise<void> {
  const full: RunnerRegistration = { ...reg, heartbeatAt: new Date().toISOString() };
  await redis.hset(buildKeys(namespace).runners, reg.id, JSON.stringify(full));
}

export async function deregisterRunner(redis: RedisClient, namespace: string, id: string): Promise<void> {
  await redis.hdel(buildKeys(namespace).runners, id);
}

/**
 * The runners alive now (heartbeat within `RUNNER_STALE_MS`). Registrations of runners gone
 * quiet are removed as they are found; unreadable entries are skipped.
 */
export async function liveRunners(redis: RedisClient, namespace: string, now = Date.now()): Promise<RunnerRegistration[]> {
  const key = buildKeys(namespace).runners;
  const all = await redis.hgetall(key);
  const live: RunnerRegistration[] = [];
  const stale: string[] = [];
  for (const [id, json] of Object.entries(all)) {
    let reg: RunnerRegistration | undefined;
    try {
      reg = runnerRegistrationSchema.parse(JSON.parse(json));
    } catch {
      reg = undefined;
    }
    if (reg && now - Date.parse(reg.heartbeatAt) <= RUNNER_STALE_MS) live.push(reg);
    else stale.push(id);
  }
  if (stale.length > 0) await redis.hdel(key, ...stale);
  return live.sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * The fleet problem that loses results: runners on more than one host, some of them storing
 * results on their own disk (`local` storage). A dependent on another host then finds no
 * artifact. Returns a message naming the hosts, or null when the fleet is fine.
 */
export function localStorageAcrossHosts(runners: readonly RunnerRegistration[]): string | null {
  const hosts = [...new Set(runners.map((r) => r.host))].sort();
  const local = [...new Set(runners.filter((r) => r.storage === 'local').map((r) => r.host))].sort();
  if (hosts.length < 2 || local.length === 0) return null;
  const which = local.length === hosts.length ? 'all of them store' : `the runners on ${local.join(', ')} store`;
  return `runners on ${hosts.length} hosts (${hosts.join(', ')}), and ${which} results in local storage: a dependent on another host will not find them. Use S3 storage ("storage": { "provider": "s3", ... }) for a fleet on several hosts`;
}
