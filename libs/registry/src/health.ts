import { coerceError, type AgoraConfig, type ProviderHealth } from '@agora/core';
import { ProviderSet } from './providers.js';
import { createFleetProvider } from './fleet.js';

export interface HealthRow {
  readonly kind: 'compute' | 'credentials' | 'storage' | 'fleet' | 'resultSink' | 'notification';
  readonly name: string;
  readonly provider: string;
  readonly ok: boolean;
  readonly message: string;
}

/** How long one provider may take to load and answer `health()` before its row fails. */
export const PROVIDER_HEALTH_TIMEOUT_MS = 5000;

/**
 * One provider's health, bounded: loading it and its `health()` together get `timeoutMs`, after
 * which the row fails ("health() did not answer within N ms") and the check is abandoned. A
 * package provider's failures name the kind and the package (the package wrote the message).
 */
async function probe(kind: HealthRow['kind'], provider: string, make: () => Promise<{ health?: () => Promise<ProviderHealth> }>, timeoutMs: number): Promise<ProviderHealth> {
  const label = provider.startsWith('package:') ? `${kind} provider "${provider}": ` : '';
  let stage: 'load' | 'health' = 'load';
  const check = async (): Promise<ProviderHealth> => {
    let p: { health?: () => Promise<ProviderHealth> };
    try {
      p = await make();
    } catch (err) {
      // Loading errors of a package already name it (provider-package.ts).
      return { ok: false, message: coerceError(err).message };
    }
    if (!p.health) return { ok: true, message: 'no health check (assumed healthy)' };
    stage = 'health';
    let h: unknown;
    try {
      h = await p.health();
    } catch (err) {
      return { ok: false, message: `${label}health() failed: ${coerceError(err).message}` };
    }
    const r = h as Partial<ProviderHealth> | null;
    if (r === null || typeof r !== 'object' || typeof r.ok !== 'boolean' || typeof r.message !== 'string') {
      return { ok: false, message: `${label}health() did not return { ok: boolean, message: string }` };
    }
    return { ok: r.ok, message: r.message };
  };
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<ProviderHealth>((resolve) => {
    // Not unref'd: a health() that never settles keeps nothing else alive, and the caller awaits this row.
    timer = setTimeout(() => resolve({ ok: false, message: `${label}${stage === 'load' ? 'loading the provider' : 'health()'} did not answer within ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    return await Promise.race([check(), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Health of every provider the config names (seed 001): each check says what it verified, and
 * on failure what is missing ("AWS_REGION is not set"). Providers are probed in parallel, each
 * bounded by `timeoutMs` (default `PROVIDER_HEALTH_TIMEOUT_MS`).
 */
export async function checkProviders(config: AgoraConfig, set: ProviderSet = new ProviderSet(config), opts: { timeoutMs?: number } = {}): Promise<HealthRow[]> {
  const timeoutMs = opts.timeoutMs ?? PROVIDER_HEALTH_TIMEOUT_MS;
  const row = (kind: HealthRow['kind'], name: string, provider: string, make: () => Promise<{ health?: () => Promise<ProviderHealth> }>): Promise<HealthRow> =>
    probe(kind, provider, make, timeoutMs).then((h) => ({ kind, name, provider, ok: h.ok, message: h.message }));
  const jobs: Array<Promise<HealthRow>> = [];
  for (const [name, ref] of Object.entries(config.compute)) jobs.push(row('compute', name, ref.provider, () => set.compute(name)));
  for (const [name, ref] of Object.entries(config.credentials)) jobs.push(row('credentials', name, ref.provider, () => set.credentials(name)));
  jobs.push(row('storage', 'storage', config.storage.provider, () => set.storage()));
  // Built as a runner and the scheduler build them at start: a webhook's missing `env:` secret is named here, not only when they refuse to start.
  for (const [name, ref] of Object.entries(config.resultSinks)) jobs.push(row('resultSink', name, ref.provider, () => set.resultSink(name)));
  for (const [name, ref] of Object.entries(config.notifications)) jobs.push(row('notification', name, ref.provider, () => set.notification(name)));
  for (const [name, ref] of Object.entries(config.fleet)) {
    jobs.push(row('fleet', name, ref.provider, () => createFleetProvider(config, name, { redisUrl: config.redisUrl }, set.registry)));
  }
  return Promise.all(jobs);
}
