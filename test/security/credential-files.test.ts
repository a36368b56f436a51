import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileConfig, createLogger } from '@agora/core';
import { createScheduler } from '@agora/scheduler';
import { createRunner } from '@agora/runner';
import { AgoraClient } from '@agora/sdk';
import { createRedis } from '@agora/state';
import { createEvidence } from '@agora/evidence';
import { LocalStorageProvider } from '@agora/storage-local';
import { silent } from '../support/cluster.js';
import { testRedisUrl, uniqueNamespace } from '../support/index.js';

/**
 * The `file` and `static` credential providers through a real scheduler, runner and process
 * worker: a value reaches the worker through `secretRefs: { X: "secret:NAME" }`, what the worker
 * prints of it is scrubbed from its artifact, its failure message, the events, the sealed bundle
 * and the runner's log; a secrets file readable by others fails the item naming its mode.
 */
describe('file and static credentials reach a process worker and nothing else', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'agora-credfiles-'));
  const closers: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of closers.reverse()) await c();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('values are handed over and scrubbed; an open file mode fails the item naming it', async () => {
    const fileSecret = `file-canary-${randomBytes(8).toString('hex')}`;
    const staticSecret = `static-canary-${randomBytes(8).toString('hex')}`;
    const openSecret = `open-canary-${randomBytes(8).toString('hex')}`;
    writeFileSync(path.join(dataDir, 'secrets.json'), JSON.stringify({ API_KEY: fileSecret }));
    chmodSync(path.join(dataDir, 'secrets.json'), 0o600);
    writeFileSync(path.join(dataDir, 'open.env'), `API_KEY=${openSecret}\n`);
    chmodSync(path.join(dataDir, 'open.env'), 0o644);

    const print = (code: number) => [process.execPath, '-e', `const s = process.env.API_KEY ?? 'MISSING'; process.stdout.write('got=' + s + '\\n'); process.stderr.write('err=' + s + '\\n'); process.exit(${code});`];
    const config = compileConfig(
      {
        namespace: uniqueNamespace(),
        dataDir,
        compute: { local: { provider: 'process' } },
        credentials: {
          files: { provider: 'file', options: { path: 'secrets.json' } },
          dev: { provider: 'static', options: { values: { API_KEY: staticSecret } } },
          open: { provider: 'file', options: { path: 'open.env' } },
        },
        targets: { local: { compute: 'local', credentials: 'files' }, dev: { compute: 'local', credentials: 'dev' }, open: { compute: 'local', credentials: 'open' } },
        tasks: {
          ok: { command: print(0), secretRefs: { API_KEY: 'secret:API_KEY' } },
          fail: { command: print(3), secretRefs: { API_KEY: 'secret:API_KEY' } },
        },
      },
      'test',
      dataDir,
      { REDIS_URL: testRedisUrl() },
    );
    const logLines: string[] = [];
    const scheduler = await createScheduler({ config, logger: silent });
    closers.push(() => scheduler.close());
    const runner = await createRunner({ config, logger: createLogger({ component: 'runner' }, 'debug', (l) => logLines.push(l)), runnerId: 'credfiles-runner', cpus: 4 });
    closers.push(() => runner.close({ graceMs: 2000 }));
    const client = new AgoraClient({ redisUrl: config.redisUrl, namespace: config.namespace });
    closers.push(() => client.close());
    const redis = createRedis(config.redisUrl);
    closers.push(async () => void (await redis.quit()));

    const item = (id: string, task: string, target: string) => ({ id, executor: 'dispatch', inputs: { task }, target, depends_on: [], resourceLocks: [] });
    const runId = await client.submit({
      id: 'credfiles',
      queue: 'default',
      items: [item('file-ok', 'ok', 'local'), item('file-fail', 'fail', 'local'), item('static-ok', 'ok', 'dev'), item('open', 'ok', 'open')],
    });
    const status = await client.wait(runId);
    const events = await client.events(runId);
    const end = (id: string) => events.find((e) => e.itemId === id && (e.state === 'done' || e.state === 'failed'));
    const storage = new LocalStorageProvider({ root: path.join(dataDir, 'storage') });
    const artifact = async (id: string) => Buffer.from(await storage.get(end(id)!.resultRef!)).toString();

    // Not vacuous: each worker got its value (not MISSING) and printed it; what left was redacted.
    expect(end('file-ok')?.state).toBe('done');
    expect(await artifact('file-ok')).toBe('got=[REDACTED]\n');
    expect(end('static-ok')?.state).toBe('done');
    expect(await artifact('static-ok')).toBe('got=[REDACTED]\n');
    expect(end('file-fail')?.['error']).toMatch(/worker exited with code 3: err=\[REDACTED\]/);
    expect(end('open')).toMatchObject({ state: 'failed' });
    expect(end('open')?.['error']).toContain(`credentials "open" refused: file credentials: ${path.join(dataDir, 'open.env')} has mode 0644, which gives group or others access`);

    const bundle = await createEvidence({ config, redis }).bundle(runId);
    expect(bundle.report.intact).toBe(true);
    for (const [where, text] of [
      ['events', JSON.stringify(events)],
      ['status', JSON.stringify(status)],
      ['sealed bundle', JSON.stringify(bundle)],
      ['runner log', logLines.join('\n')],
    ] as const) {
      for (const s of [fileSecret, staticSecret, openSecret]) expect(text.includes(s), `${where} holds a secret`).toBe(false);
    }
    expect(logLines.length).toBeGreaterThan(0);
  });
});
