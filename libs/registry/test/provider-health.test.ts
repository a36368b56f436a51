import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileConfig } from '@agora/core';
import { ProviderSet, checkProviders, defaultRegistry } from '@agora/registry';

/**
 * `checkProviders` (what `agora doctor` prints) with package providers that misbehave: a
 * `health()` that never settles is bounded and fails its row; a `createProvider` or a `health()`
 * that throws fails its row naming the kind and the package, not only the package's message.
 */
const project = mkdtempSync(path.join(os.tmpdir(), 'agora-provider-health-'));
afterAll(() => rmSync(project, { recursive: true, force: true }));

function writePackage(name: string, source: string): void {
  const dir = path.join(project, 'node_modules', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', type: 'module', main: 'index.js' }));
  writeFileSync(path.join(dir, 'index.js'), source);
}
const compute = (health: string): string => `export function createProvider() { return { name: 'x', async run() { return {}; }, async awaitExit() { return {}; }, health: ${health} }; }`;
writePackage('agora-hang-health', compute('() => new Promise(() => {})'));
writePackage('agora-throw-health', compute(`async () => { throw new Error('token expired'); }`));
writePackage('agora-throw-create', `export function createProvider() { throw new Error('options.region is required'); }`);

const configOf = (pkg: string) => compileConfig({ namespace: 'healthtest', compute: { local: { provider: 'process' }, ext: { provider: `package:${pkg}` } } }, 'test', project, {});

describe('provider health of package providers', () => {
  it('a health() that never settles fails its row after the bound ("did not answer within N ms")', async () => {
    const config = configOf('agora-hang-health');
    const started = Date.now();
    const rows = await checkProviders(config, new ProviderSet(config), { timeoutMs: 300 });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(rows.find((r) => r.name === 'ext')).toEqual({
      kind: 'compute',
      name: 'ext',
      provider: 'package:agora-hang-health',
      ok: false,
      message: 'compute provider "package:agora-hang-health": health() did not answer within 300 ms',
    });
    // The storage row still answers.
    expect(rows.find((r) => r.kind === 'storage')?.ok).toBe(true);
  });

  it('a health() that throws: the row names the kind and the package', async () => {
    const config = configOf('agora-throw-health');
    const rows = await checkProviders(config, new ProviderSet(config), { timeoutMs: 2000 });
    expect(rows.find((r) => r.name === 'ext')?.message).toBe('compute provider "package:agora-throw-health": health() failed: token expired');
  });

  it('a createProvider that throws: the error and the row name the kind and the package', async () => {
    const err = await defaultRegistry()
      .create('compute', 'package:agora-throw-create', {}, { configDir: project, dataDir: path.join(project, '.agora'), namespace: 'healthtest' })
      .catch((e: unknown) => e);
    expect((err as Error).message).toBe('compute provider "package:agora-throw-create": createProvider() failed: options.region is required');
    const config = configOf('agora-throw-create');
    const rows = await checkProviders(config, new ProviderSet(config), { timeoutMs: 2000 });
    expect(rows.find((r) => r.name === 'ext')).toMatchObject({ ok: false, message: 'compute provider "package:agora-throw-create": createProvider() failed: options.region is required' });
  });
});

describe('the stdout result sink', () => {
  // It takes no options: one given (a typo, or a webhook's url under the wrong provider) was
  // ignored, so the sink a config named did something other than what it said.
  it('refuses any option, naming the sink and the key (a runner would exit 2)', async () => {
    const config = compileConfig({ namespace: 'sinktest', resultSinks: { audit: { provider: 'stdout', options: { url: 'http://127.0.0.1:9/x' } } } }, 'test', project, {});
    const err = await new ProviderSet(config).resultSink('audit').catch((e: unknown) => e);
    expect((err as Error).name).toBe('ValueError');
    expect((err as Error).message).toBe('resultSinks.audit: stdout result sink: takes no options, got "url"');
    // Without options, and the built-in default, it is made as before.
    const plain = compileConfig({ namespace: 'sinktest', resultSinks: { audit: { provider: 'stdout' } } }, 'test', project, {});
    expect((await new ProviderSet(plain).resultSink('audit')).delivery).toBe('inline');
    expect((await new ProviderSet(plain).resultSink('stdout')).delivery).toBe('inline');
  });
});

describe('the process, docker and fargate compute providers', () => {
  // They read their options unchecked: `socketPath: 5` reached Node as "options.path must be of
  // type string" in a doctor row about a Docker engine not answering, and a typo was dropped.
  it('refuse an unknown or mistyped option, naming it', async () => {
    const config = compileConfig(
      {
        namespace: 'computeopts',
        compute: {
          local: { provider: 'process', options: { killGraceMS: 100 } },
          box: { provider: 'docker', options: { socketPath: 5, bogus: true } },
          ok: { provider: 'process', options: { killGraceMs: 100, inheritEnv: ['PATH'], dieWithRunner: false } },
          okbox: { provider: 'docker', options: { socketPath: '/nonexistent.sock', network: 'none', binds: ['/a:/a:ro'], allowUnpinnedImage: true, ulimits: [], stopGraceMs: 1000 } },
          farg: { provider: 'fargate', options: { cluster: 'c', taskDefinition: 'td', containerName: 'w', subnets: 'subnet-1', scrubSecrets: 'no', bogus: 1 } },
          okfarg: { provider: 'fargate', options: { cluster: 'c', taskDefinition: 'td:1', containerName: 'w', subnets: ['subnet-1'], region: 'eu-west-1', scrubSecrets: false, pollIntervalMs: 5 } },
        },
      },
      'test',
      project,
      {},
    );
    const set = new ProviderSet(config);
    const local = await set.compute('local').catch((e: unknown) => e);
    expect((local as Error).name).toBe('ValueError');
    expect((local as Error).message).toBe('process compute provider: unknown option(s) "killGraceMS"');
    const box = await set.compute('box').catch((e: unknown) => e);
    expect((box as Error).name).toBe('ValueError');
    expect((box as Error).message).toMatch(/^docker compute provider: /);
    expect((box as Error).message).toContain('options.socketPath: ');
    expect((box as Error).message).toContain('unknown option(s) "bogus"');
    const farg = await set.compute('farg').catch((e: unknown) => e);
    expect((farg as Error).name).toBe('ValueError');
    expect((farg as Error).message).toMatch(/^fargate compute provider: /);
    for (const part of ['options.subnets: ', 'options.scrubSecrets: ', 'unknown option(s) "bogus"']) expect((farg as Error).message).toContain(part);
    // The documented options are taken.
    expect((await set.compute('okfarg')).name).toBe('fargate');
    expect((await set.compute('ok')).name).toBe('process');
    expect((await set.compute('okbox')).name).toBe('docker');
  });
});
