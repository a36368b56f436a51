import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValueError, compileConfig } from '@agora/core';
import { ProviderSet } from '@agora/registry';
import { startCluster, type TestCluster } from '../support/cluster.js';

/**
 * Item 13 of the trust-boundary issue: the `env` credential provider resolves only the variables
 * named in its `options.allow` list. Before, any task could read any variable of the runner's
 * environment (AWS_SECRET_ACCESS_KEY, REDIS_URL) through `secretRefs: { X: "env:NAME" }`.
 */
const saved: Record<string, string | undefined> = {};
beforeEach(() => {
  for (const k of ['MY_TOKEN', 'AWS_SECRET_ACCESS_KEY']) saved[k] = process.env[k];
  process.env['MY_TOKEN'] = 'my-token-value';
  process.env['AWS_SECRET_ACCESS_KEY'] = 'aws-secret-that-must-stay-put';
});
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

function providers(options: Record<string, unknown>): ProviderSet {
  return new ProviderSet(compileConfig({ credentials: { vault: { provider: 'env', options } } }, 'test', '/tmp', {}));
}

describe('the env credential provider and its allow list', () => {
  it('resolves an allowed variable and nothing else: the resolved map holds only the allow list', async () => {
    const creds = await (await providers({ allow: ['MY_TOKEN'] }).credentials('vault')).resolve({ refs: ['env:MY_TOKEN'] });
    expect(creds).toEqual({ kind: 'static-secrets', secrets: { 'env:MY_TOKEN': 'my-token-value' } });
    const all = await (await providers({ allow: ['MY_TOKEN'] }).credentials('vault')).resolve();
    expect(all).toEqual({ kind: 'static-secrets', secrets: { 'env:MY_TOKEN': 'my-token-value' } });
    expect(JSON.stringify(all)).not.toContain('aws-secret-that-must-stay-put');
  });

  it('an unlisted name is an error that names the allow list', async () => {
    const err = await (await providers({ allow: ['MY_TOKEN'] }).credentials('vault')).resolve({ refs: ['env:AWS_SECRET_ACCESS_KEY'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValueError);
    expect((err as Error).message).toBe('env credentials: "env:AWS_SECRET_ACCESS_KEY" is not in options.allow (allowed: MY_TOKEN)');
    const none = await (await providers({}).credentials('vault')).resolve({ refs: ['env:REDIS_URL'] }).catch((e: unknown) => e);
    expect((none as Error).message).toBe('env credentials: "env:REDIS_URL" is not in options.allow (allowed: none; list the variables a task may read in options.allow)');
  });

  it('refuses malformed options (a variable name that is not one)', async () => {
    const err = await providers({ allow: ['NOT A NAME'] }).credentials('vault').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValueError);
    expect((err as Error).message).toMatch(/^env credentials: options\.allow\.0: /);
  });
});

describe('through a real run', () => {
  let cluster: TestCluster | undefined;
  afterAll(async () => cluster?.close());

  it('a task asking for AWS_SECRET_ACCESS_KEY through env: fails naming the allow list; an allowed one runs', async () => {
    const print = (name: string) => [process.execPath, '-e', `process.stdout.write(String(process.env.${name}))`];
    cluster = await startCluster({
      config: {
        compute: { local: { provider: 'process' } },
        credentials: { vault: { provider: 'env', options: { allow: ['MY_TOKEN'] } } },
        targets: { local: { compute: 'local', credentials: 'vault' } },
        tasks: {
          steal: { command: print('X'), secretRefs: { X: 'env:AWS_SECRET_ACCESS_KEY' } },
          fair: { command: print('X'), secretRefs: { X: 'env:MY_TOKEN' } },
        },
      },
      runners: 1,
    });
    const runId = await cluster.client.submit({
      id: 'steal',
      queue: 'default',
      items: [
        { id: 'steal', executor: 'dispatch', inputs: { task: 'steal' }, depends_on: [], resourceLocks: [] },
        { id: 'fair', executor: 'dispatch', inputs: { task: 'fair' }, depends_on: [], resourceLocks: [] },
      ],
    });
    const status = await cluster.client.wait(runId);
    const events = await cluster.client.events(runId);
    const failed = events.find((e) => e.itemId === 'steal' && e.state === 'failed');
    expect(failed?.['error']).toContain('"env:AWS_SECRET_ACCESS_KEY" is not in options.allow (allowed: MY_TOKEN)');
    expect(status.items.find((i) => i.id === 'fair')?.state).toBe('done');
    expect(JSON.stringify(events)).not.toContain('aws-secret-that-must-stay-put');
  });
});
