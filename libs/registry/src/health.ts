import { coerceError, type AgoraConfig, type ProviderHealth } from '@agora/core';
import { ProviderSet } from './providers.js';
import { createFleetProvider } from './fleet.js';

export interface HealthRow {
  readonly kind: 'compute' | 'credentials' | 'storage' | 'fleet';
  readonly name: string;
  readonly provider: string;
  readonly ok: boolean;
  readonly message: string;
}

async function probe(make: () => Promise<{ health?: () => Promise<ProviderHealth> }>): Promise<ProviderHealth> {
  try {
    const p = await make();
    return p.health ? await p.health() : { ok: true, message: 'no health check (assumed healthy)' };
  } catch (err) {
    return { ok: false, message: coerceError(err).message };
  }
}

/**
 * Health of every provider the config names (seed 001): each check says what it verified, and
 * on failure what is missing ("AWS_REGION is not set"). Providers are probed in parallel.
 */
export async function checkProviders(config: AgoraConfig, set: ProviderSet = new ProviderSet(config)): Promise<HealthRow[]> {
  const jobs: Array<Promise<HealthRow>> = [];
  for (const [name, ref] of Object.entries(config.compute)) {
    jobs.push(probe(() => set.compute(name)).then((h) => ({ kind: 'compute', name, provider: ref.provider, ok: h.ok, message: h.message })));
  }
  for (const [name, ref] of Object.entries(config.credentials)) {
    jobs.push(probe(() => set.credentials(name)).then((h) => ({ kind: 'credentials', name, provider: ref.provider, ok: h.ok, message: h.message })));
  }
  jobs.push(probe(() => set.storage()).then((h) => ({ kind: 'storage', name: 'storage', provider: config.storage.provider, ok: h.ok, message: h.message })));
  for (const [name, ref] of Object.entries(config.fleet)) {
    const make = () => createFleetProvider(config, name, { redisUrl: config.redisUrl }, set.registry);
    jobs.push(probe(make).then((h) => ({ kind: 'fleet', name, provider: ref.provider, ok: h.ok, message: h.message })));
  }
  return Promise.all(jobs);
}
