import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ValueError, compileConfig, type ProviderKind } from '@agora/core';
import { ProviderSet, checkProviders, defaultRegistry } from '@agora/registry';

/**
 * Third-party providers named in the config as `package:<name>`: packages the test writes into a
 * project's node_modules (ESM and CommonJS), resolved from the config's directory, imported, and
 * their objects checked against the kind's contract.
 */
const project = mkdtempSync(path.join(os.tmpdir(), 'agora-provider-pkg-'));
// The config lives one folder down: packages resolve from the config's directory up, as Node's own imports do.
const configDir = path.join(project, 'deploy');
mkdirSync(configDir);
afterAll(() => rmSync(project, { recursive: true, force: true }));

function writePackage(name: string, files: Record<string, string>, pkg: Record<string, unknown> = {}): void {
  const dir = path.join(project, 'node_modules', ...name.split('/'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', ...pkg }));
  for (const [f, text] of Object.entries(files)) writeFileSync(path.join(dir, f), text);
}

// An ESM package serving two kinds; its options pass through to the provider.
writePackage(
  '@acme/agora-vault',
  {
    'index.js': `
export const kinds = ['credentials', 'compute'];
export function createProvider(kind, options, ctx) {
  if (kind === 'credentials') {
    return {
      name: 'acme-vault',
      async resolve(request) {
        const secrets = {};
        for (const ref of request?.refs ?? []) secrets[ref] = options.prefix + ref;
        return { kind: 'static-secrets', secrets };
      },
      async health() { return { ok: true, message: 'acme vault at ' + options.address + ' for ' + ctx.namespace }; },
    };
  }
  // A half-written compute provider: no awaitExit.
  return { name: 'acme-half', async run() { return { providerTaskId: 'x' }; } };
}
`,
  },
  { type: 'module', exports: { '.': { import: './index.js' } } },
);
// A CommonJS package: module.exports arrives as the default export.
writePackage('agora-fleet-cjs', { 'main.js': `module.exports = { createProvider: (kind) => ({ name: 'cjs-' + kind, health: async () => ({ ok: true, message: 'ok' }), start() {}, stop() {}, status() {}, list() {} }) };` }, { main: 'main.js' });
writePackage('agora-no-factory', { 'index.js': 'export const something = 1;' }, { type: 'module', main: 'index.js' });

const ctx = { configDir, dataDir: path.join(project, '.agora'), namespace: 'pkgtest' };

describe('package:<name> providers', () => {
  it('a config names a credentials provider by package: resolved from the config dir, created with its options, health through checkProviders', async () => {
    const config = compileConfig(
      { namespace: 'pkgtest', credentials: { vault: { provider: 'package:@acme/agora-vault', options: { prefix: 'v:', address: 'https://vault.example' } } } },
      'test',
      configDir,
      {},
    );
    const set = new ProviderSet(config);
    const vault = await set.credentials('vault');
    expect(vault.name).toBe('acme-vault');
    expect(await vault.resolve({ refs: ['db'] })).toEqual({ kind: 'static-secrets', secrets: { db: 'v:db' } });
    const rows = await checkProviders(config, set);
    expect(rows.find((r) => r.name === 'vault')).toEqual({ kind: 'credentials', name: 'vault', provider: 'package:@acme/agora-vault', ok: true, message: 'acme vault at https://vault.example for pkgtest' });
  });

  it('an object missing a required method is refused at load, naming what is missing and what the kind needs', async () => {
    const err = await defaultRegistry().create('compute', 'package:@acme/agora-vault', {}, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValueError);
    expect((err as Error).message).toBe(
      'compute provider from package:@acme/agora-vault does not implement the compute contract: awaitExit() is missing (a compute provider has: name (string), run(), awaitExit(); optional: cancel(), health())',
    );
  });

  it('works for any kind: a CommonJS package providing a fleet provider without scale() is refused naming scale()', async () => {
    const err = await defaultRegistry()
      .create('fleet' as ProviderKind, 'package:agora-fleet-cjs', {}, ctx)
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^fleet provider from package:agora-fleet-cjs does not implement the fleet contract: scale\(\) is missing \(/);
  });

  it('names what is wrong with the package itself: not installed, no factory, another kind, not a package name', async () => {
    const r = defaultRegistry();
    const fail = (kind: string, alias: string) => r.create(kind as ProviderKind, alias, {}, ctx).catch((e: unknown) => (e as Error).message);
    expect(await fail('storage', 'package:@acme/not-installed')).toMatch(
      new RegExp(`^storage provider "package:@acme/not-installed": cannot find package "@acme/not-installed" from ${configDir} \\(install it in the project: npm install @acme/not-installed\\)`),
    );
    expect(await fail('credentials', 'package:agora-no-factory')).toBe('credentials provider "package:agora-no-factory": the package exports no createProvider(kind, options, ctx) function (its exports: something)');
    expect(await fail('storage', 'package:@acme/agora-vault')).toBe('storage provider "package:@acme/agora-vault": the package provides "credentials", "compute", not "storage"');
    for (const bad of ['../outside', 'https://evil.example/p.js', '/abs/path', 'node:fs', 'Upper']) {
      expect(await fail('credentials', `package:${bad}`)).toBe(`credentials provider "package:${bad}": "${bad}" is not an npm package name (lowercase, optionally @scope/; no paths or URLs)`);
    }
    // A Node builtin's bare name resolves to node:, not to an installed package.
    expect(await fail('credentials', 'package:fs')).toBe('credentials provider "package:fs": "fs" resolves to node:fs, not a file of an installed package');
  });
});
