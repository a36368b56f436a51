import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgoraClient } from '@agora/sdk';
import type { AgoraEvent } from '@agora/core';
import { S3StorageProvider } from '@agora/storage-s3';
import { BIN, cliEnv, type CliEnv } from '../support/cli.js';
import { startS3rver, type S3rverHandle } from '../support/s3rver.js';

/**
 * Two hosts' worth of runners: each runner has its own data directory (its own disk) and its own
 * host name, as on two machines. A dependent item reads every dependency's result wherever that
 * ran. With local storage the dependent on one host cannot find what the other host stored (the
 * `no artifact at agora://…` seen before the registry warned about it); with S3 storage (a real
 * S3-protocol server) the same plan succeeds and the results are in the bucket.
 */
const execFileP = promisify(execFile);
const BUCKET = 'agora-fleet';
const PRODUCERS = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'];

let s3: S3rverHandle;
const envs: CliEnv[] = [];
beforeAll(async () => {
  s3 = await startS3rver([BUCKET]);
});
afterAll(async () => {
  for (const e of envs) await e.close();
  await s3.stop();
});

// Each producer sleeps so both single-slot runners take some; it prints a line naming itself.
const PRODUCE = `setTimeout(() => process.stdout.write('made by ' + JSON.parse(process.env.AGORA_WORKER_INPUT).name), 400)`;
// The consumer reads every staged dependency and fails unless each says who made it.
const CONSUME = `
const fs = require('node:fs'), path = require('node:path');
const deps = JSON.parse(fs.readFileSync(process.env.AGORA_DEPENDENCIES_FILE, 'utf8'));
const seen = Object.keys(deps).sort().map((id) => {
  const text = fs.readFileSync(path.join(process.env.AGORA_DEPS_DIR, id), 'utf8');
  if (text !== 'made by ' + id) { console.error('dependency ' + id + ' says ' + JSON.stringify(text)); process.exit(1); }
  return id;
});
process.stdout.write(JSON.stringify({ consumed: seen }));`;

function fleetEnv(storage: Record<string, unknown>): CliEnv {
  const env = cliEnv({
    queues: { default: { concurrency: 4 } },
    runner: { concurrency: 1 },
    storage,
    tasks: {
      produce: { command: [process.execPath, '-e', PRODUCE] },
      consume: { command: [process.execPath, '-e', CONSUME] },
    },
  });
  envs.push(env);
  // s3rver checks SigV4 signatures made with its fixed credentials; the provider uses the AWS default chain.
  Object.assign(env.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' });
  return env;
}

/** One `agora runner` per host: its own AGORA_HOST and its own data directory. */
async function startHosts(env: CliEnv): Promise<void> {
  for (const host of ['host-a', 'host-b']) {
    env.env['AGORA_HOST'] = host;
    env.env['AGORA_DATA_DIR'] = path.join(env.dir, host);
    await env.start(['runner'], /runner started/);
  }
  env.env['AGORA_DATA_DIR'] = path.join(env.dir, 'scheduler');
  delete env.env['AGORA_HOST'];
  await env.start(['serve'], /scheduler (serving|active)/);
}

const plan = {
  id: 'two-hosts',
  items: [
    ...PRODUCERS.map((id) => ({ id, executor: 'dispatch', inputs: { subagent: 'produce', workerInput: { name: id } } })),
    { id: 'gather', executor: 'dispatch', inputs: { subagent: 'consume' }, depends_on: PRODUCERS },
  ],
};

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

function runnersOf(events: AgoraEvent[], ids: readonly string[]): Set<string> {
  return new Set(events.filter((e) => e.type === 'item' && e.state === 'running' && ids.includes(String(e.itemId))).map((e) => String(e['runner'])));
}

describe('runners on two hosts', () => {
  it('with local storage each on its own disk, the dependent cannot read the other host\'s results (why the registry warns)', async () => {
    const env = fleetEnv({ provider: 'local', options: {} });
    await startHosts(env);
    const client = new AgoraClient({ redisUrl: String(env.env['REDIS_URL']), namespace: env.namespace });
    try {
      const runId = await client.submit(plan);
      const status = await client.wait(runId);
      const events = await client.events(runId);
      expect(runnersOf(events, PRODUCERS).size).toBe(2);
      expect(status.state).toBe('failed');
      const gather = events.find((e) => e.itemId === 'gather' && e.state === 'failed');
      expect(String(gather?.['error'])).toMatch(/no artifact at agora:\/\//);
    } finally {
      await client.close();
    }
  }, 90_000);

  it('with S3 storage (s3rver) the same plan succeeds across both hosts and every result is in the bucket', async () => {
    const env = fleetEnv({ provider: 's3', options: { bucket: BUCKET, endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1' } });
    await startHosts(env);
    const client = new AgoraClient({ redisUrl: String(env.env['REDIS_URL']), namespace: env.namespace });
    const store = new S3StorageProvider({ bucket: BUCKET, client: s3.client });
    try {
      const runId = await client.submit(plan);
      const status = await client.wait(runId);
      const events = await client.events(runId);
      expect(runnersOf(events, PRODUCERS).size).toBe(2);
      expect(status.state).toBe('succeeded');
      const results = new Map(events.filter((e) => e.type === 'item' && e.state === 'done').map((e) => [String(e.itemId), String(e['resultRef'])]));
      for (const id of PRODUCERS) expect(text(await store.get(results.get(id)!))).toBe(`made by ${id}`);
      expect(JSON.parse(text(await store.get(results.get('gather')!)))).toEqual({ consumed: [...PRODUCERS].sort() });

      // Both hosts registered S3 storage: doctor raises no fleet problem, and its S3 check passes.
      // Not env.agora(): spawnSync would block this process, where s3rver answers doctor's HeadBucket.
      const doctor = await execFileP(process.execPath, [BIN, 'doctor', '--json'], { cwd: env.dir, env: env.env }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
      const report = JSON.parse(doctor.stdout) as { checks: Array<{ kind: string; ok: boolean; message: string; name: string }> };
      const runners = report.checks.filter((c) => c.kind === 'runner');
      expect(runners).toHaveLength(2);
      expect(report.checks.filter((c) => c.kind === 'fleet')).toEqual([]);
      expect(report.checks.find((c) => c.kind === 'storage')).toMatchObject({ ok: true });
    } finally {
      await client.close();
    }
  }, 90_000);
});
