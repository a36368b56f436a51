import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliEnv } from '../../../test/support/cli.js';

/**
 * `agora doctor` with package providers that misbehave (README "Provider packages"): a health()
 * that never settles is bounded (PROVIDER_HEALTH_TIMEOUT_MS, 5 s) and fails its row; a
 * createProvider or a health() that throws fails its row naming the kind and the package.
 */
const env = cliEnv({
  compute: {
    local: { provider: 'process' },
    hang: { provider: 'package:agora-hang-health' },
    broken: { provider: 'package:agora-throw-create' },
  },
  credentials: { vault: { provider: 'package:agora-throw-health' } },
});
function writePackage(name: string, source: string): void {
  const dir = path.join(env.dir, 'node_modules', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', type: 'module', main: 'index.js' }));
  writeFileSync(path.join(dir, 'index.js'), source);
}
writePackage('agora-hang-health', `export function createProvider() { return { name: 'hang', async run() { return {}; }, async awaitExit() { return {}; }, health: () => new Promise(() => {}) }; }`);
writePackage('agora-throw-create', `export function createProvider() { throw new Error('options.region is required'); }`);
writePackage('agora-throw-health', `export function createProvider() { return { name: 'vault', async resolve() { return { kind: 'none' }; }, async health() { throw new Error('token expired'); } }; }`);
afterAll(() => env.close());

describe('agora doctor and misbehaving provider packages', () => {
  it('ends (exit 1) with a FAIL row per package provider naming the kind and the package', () => {
    const started = Date.now();
    const r = env.agora(['doctor'], { timeoutMs: 30_000 });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(r.stdout).toMatch(/^FAIL compute\/hang .* compute provider "package:agora-hang-health": health\(\) did not answer within 5000 ms$/m);
    expect(r.stdout).toMatch(/^FAIL compute\/broken .* compute provider "package:agora-throw-create": createProvider\(\) failed: options\.region is required$/m);
    expect(r.stdout).toMatch(/^FAIL credentials\/vault .* credentials provider "package:agora-throw-health": health\(\) failed: token expired$/m);
    expect(r.stdout).toMatch(/^ok {3}compute\/local /m);
  }, 60_000);
});
