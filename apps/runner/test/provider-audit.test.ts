import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AgoraError,
  OUTPUT_CAP_BYTES,
  compileConfig,
  truncationMarker,
  type AgoraEvent,
  type ComputeProvider,
  type StorageProvider,
  type TaskExit,
} from '@agora/core';
import { createDispatchExecutor, type ExecutorContext } from '@agora/runner';
import { startCluster, silent, type TestCluster } from '../../../test/support/cluster.js';

/**
 * Audit findings of the dispatch executor: credential refusals are not retried, a provider's exit
 * is checked and capped whatever the provider did, and the run's work folder does not outlive it.
 */
const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-provider-audit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 1024 * 1024;

describe('credential refusals fail the item at once (cluster)', () => {
  let cluster: TestCluster;
  const ranMarker = path.join(dir, 'worker-ran');

  beforeAll(async () => {
    const secrets = path.join(dir, 'secrets.json');
    writeFileSync(secrets, JSON.stringify({ HAVE: 'have-value' }), { mode: 0o600 });
    const touch = [process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(ranMarker)}, 'ran')`];
    cluster = await startCluster({
      runners: 1,
      concurrency: 2,
      config: {
        compute: { local: { provider: 'process' }, typo: { provider: 'process', options: { killGraceMS: 100 } } },
        credentials: { f: { provider: 'file', options: { path: secrets } }, badenv: { provider: 'env', options: { allow: 'SEC' } } },
        targets: { local: { compute: 'local', credentials: 'f' }, bare: { compute: 'local' }, typo: { compute: 'typo' }, badenv: { compute: 'local', credentials: 'badenv' } },
        tasks: {
          typo: { command: touch, target: 'typo' },
          badenv: { command: touch, target: 'badenv', secretRefs: { SEC: 'env:SEC' } },
          nope: { command: touch, secretRefs: { SEC: 'secret:NOPE' } },
          bare: { command: touch, target: 'bare', secretRefs: { SEC: 'secret:HAVE' } },
          ok: { command: [process.execPath, '-e', 'process.stdout.write("ok")'], secretRefs: { SEC: 'secret:HAVE' } },
        },
      },
    });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  async function run(items: unknown[]) {
    const runId = await cluster.client.submit({ id: `audit-${Math.random().toString(36).slice(2, 8)}`, items } as never);
    const status = await cluster.client.wait(runId);
    const events = (await cluster.client.events(runId)) as AgoraEvent[];
    const of = (itemId: string) => ({
      retries: events.filter((e) => e.type === 'retry' && e.itemId === itemId),
      starts: events.filter((e) => e.type === 'item' && e.itemId === itemId && e.state === 'running').length,
      end: events.find((e) => e.type === 'item' && e.itemId === itemId && (e.state === 'done' || e.state === 'failed')) as Record<string, unknown> | undefined,
    });
    return { runId, status, of };
  }

  it('a ref the file provider does not serve: failed at once with CONFIG_INVALID although retry lists app and infra; no worker ran', async () => {
    const retry = { attempts: 3, on: ['app', 'infra'], backoff: { type: 'fixed', delayMs: 20 } };
    const r = await run([
      { id: 'nope', executor: 'dispatch', inputs: { task: 'nope' }, retry },
      { id: 'bare', executor: 'dispatch', inputs: { task: 'bare' }, retry },
    ]);
    expect(r.status.state).toBe('failed');
    for (const id of ['nope', 'bare']) {
      expect(r.of(id).retries, id).toEqual([]);
      expect(r.of(id).starts, id).toBe(1);
      expect(r.of(id).end, id).toMatchObject({ state: 'failed', errorCode: 'CONFIG_INVALID', attempt: 1 });
    }
    expect(r.of('nope').end?.['error']).toBe('item nope: credentials "f" refused: file credentials: "secret:NOPE" names no value (holds: HAVE)');
    expect(r.of('bare').end?.['error']).toMatch(/^item bare: process refused the task: secret reference for SEC could not be resolved/);
    expect(existsSync(ranMarker)).toBe(false);
  });

  // A provider that refuses its options failed the item as a bare ValueError ("VALUE"), naming
  // neither the item nor the config key, unlike a credential refusal.
  it('a compute or credential provider that refuses its options: CONFIG_INVALID naming the item and the key, at once; no worker ran', async () => {
    const retry = { attempts: 3, on: ['app', 'infra'], backoff: { type: 'fixed', delayMs: 20 } };
    const r = await run([
      { id: 'typo', executor: 'dispatch', inputs: { task: 'typo' }, retry },
      { id: 'badenv', executor: 'dispatch', inputs: { task: 'badenv' }, retry },
    ]);
    for (const id of ['typo', 'badenv']) {
      expect(r.of(id).retries, id).toEqual([]);
      expect(r.of(id).end, id).toMatchObject({ state: 'failed', errorCode: 'CONFIG_INVALID', attempt: 1 });
    }
    expect(r.of('typo').end?.['error']).toBe('item typo: compute "typo" could not be made: process compute provider: unknown option(s) "killGraceMS"');
    expect(r.of('badenv').end?.['error']).toMatch(/^item badenv: credentials "badenv" could not be made: env credentials: options\.allow: /);
    expect(existsSync(ranMarker)).toBe(false);
  });

  it('no empty run folder is left under <dataDir>/work after a run (done and failed items)', async () => {
    const r = await run([
      { id: 'a', executor: 'dispatch', inputs: { task: 'ok' } },
      { id: 'b', executor: 'dispatch', inputs: { task: 'ok' } },
      { id: 'c', executor: 'dispatch', inputs: { task: 'nope' } },
    ]);
    expect(r.of('a').end).toMatchObject({ state: 'done' });
    expect(r.of('b').end).toMatchObject({ state: 'done' });
    const work = path.join(cluster.dataDir, 'work');
    expect(existsSync(path.join(work, r.runId))).toBe(false);
    expect(existsSync(work) ? readdirSync(work) : []).toEqual([]);
  });
});

/** A compute provider package whose awaitExit returns what a test gives it. */
function fakeCompute(exit: () => unknown): ComputeProvider {
  return {
    name: 'acme-compute',
    async run() {
      return { providerTaskId: 't1' };
    },
    async awaitExit() {
      return exit() as TaskExit;
    },
  };
}

function executorWith(compute: ComputeProvider, dataDir: string) {
  const config = compileConfig({ namespace: 'audit', dataDir, tasks: { t: { command: ['true'] } } }, 'test', dataDir, { REDIS_URL: 'redis://127.0.0.1:1' });
  expect(config.dataDir).toBe(dataDir);
  return createDispatchExecutor({
    config,
    compute: async () => compute,
    credentials: async () => {
      throw new Error('no credentials in this test');
    },
  });
}

function ctxFor(runId: string, itemId: string): ExecutorContext {
  return {
    namespace: 'audit',
    runId,
    itemId,
    inputs: { task: 't' },
    deps: {},
    lockTokens: {},
    attempt: 1,
    signal: new AbortController().signal,
    storage: {} as StorageProvider,
    logger: silent,
  };
}

const base = { exitCode: 0, startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:00:01.000Z', stderr: '' };

describe('dispatch executor: what a compute provider returns is checked and capped', () => {
  it('caps 12 MiB of stdout and 11 MiB of stderr at OUTPUT_CAP_BYTES with the truncation marker', async () => {
    const dataDir = mkdtempSync(path.join(dir, 'data-'));
    const stdout = Buffer.alloc(12 * MiB, 97);
    const stderr = 'e'.repeat(11 * MiB);
    const ex = executorWith(fakeCompute(() => ({ ...base, stdout, stderr })), dataDir);
    const result = await ex.execute(ctxFor('run-cap', 'item-1'));
    const out = Buffer.from(result.output as Uint8Array);
    const marker = truncationMarker(2 * MiB, OUTPUT_CAP_BYTES);
    expect(out.length).toBe(OUTPUT_CAP_BYTES + Buffer.byteLength(marker));
    expect(out.subarray(0, OUTPUT_CAP_BYTES).equals(stdout.subarray(0, OUTPUT_CAP_BYTES))).toBe(true);
    expect(out.subarray(OUTPUT_CAP_BYTES).toString()).toBe(marker);
    expect(result.stderr).toBe('e'.repeat(OUTPUT_CAP_BYTES) + truncationMarker(1 * MiB, OUTPUT_CAP_BYTES));
  });

  it("leaves output alone that is within the cap, or that the provider capped itself (the process provider's)", async () => {
    const dataDir = mkdtempSync(path.join(dir, 'data-'));
    const capped = Buffer.concat([Buffer.alloc(OUTPUT_CAP_BYTES, 98), Buffer.from(truncationMarker(5, OUTPUT_CAP_BYTES))]);
    const ex = executorWith(fakeCompute(() => ({ ...base, stdout: capped, stderr: 'small' })), dataDir);
    const result = await ex.execute(ctxFor('run-capped', 'item-1'));
    expect(Buffer.from(result.output as Uint8Array).equals(capped)).toBe(true);
    expect(result.stderr).toBe('small');
  });

  it('a malformed exit (null; no stdout) fails the item naming the provider and the problem, not as a TypeError, not retried', async () => {
    const dataDir = mkdtempSync(path.join(dir, 'data-'));
    const nullExit = await executorWith(fakeCompute(() => null), dataDir)
      .execute(ctxFor('run-null', 'item-1'))
      .catch((e: unknown) => e);
    expect(nullExit).toBeInstanceOf(AgoraError);
    expect(nullExit).not.toBeInstanceOf(TypeError);
    expect((nullExit as AgoraError).code).toBe('PROVIDER');
    expect((nullExit as AgoraError).retryable).toBe(false);
    expect((nullExit as Error).message).toBe('item item-1: compute provider "acme-compute" returned a malformed exit from awaitExit: expected an object (a TaskExit), got null');

    const noStdout = await executorWith(fakeCompute(() => ({ ...base })), dataDir)
      .execute(ctxFor('run-nostdout', 'item-1'))
      .catch((e: unknown) => e);
    expect((noStdout as AgoraError).code).toBe('PROVIDER');
    expect((noStdout as AgoraError).retryable).toBe(false);
    expect((noStdout as Error).message).toMatch(/^item item-1: compute provider "acme-compute" returned a malformed exit from awaitExit: stdout: expected bytes/);
  });
});

describe('dispatch executor: the run folder under <dataDir>/work', () => {
  it('is removed with its last item work dir, and kept while another item of the run uses it', async () => {
    const dataDir = mkdtempSync(path.join(dir, 'data-'));
    const ex = executorWith(fakeCompute(() => ({ ...base, stdout: Buffer.from('x') })), dataDir);
    await ex.execute(ctxFor('run-a', 'item-1'));
    expect(existsSync(path.join(dataDir, 'work', 'run-a'))).toBe(false);

    const sibling = path.join(dataDir, 'work', 'run-b', 'item-2');
    mkdirSync(sibling, { recursive: true });
    await ex.execute(ctxFor('run-b', 'item-1'));
    expect(existsSync(path.join(dataDir, 'work', 'run-b', 'item-1'))).toBe(false);
    expect(existsSync(sibling)).toBe(true);
  });
});
