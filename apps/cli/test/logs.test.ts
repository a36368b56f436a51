import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { compileConfig } from '@agora/core';
import { cliEnv } from '../../../test/support/cli.js';
import { silent } from '../../../test/support/cluster.js';

/**
 * Issue 16, parts 1 and 3: an item's output streams are stored as artifacts by the runner (so it
 * works on every provider), scrubbed, and read back with `agora logs <run> <item>` and
 * `GET /api/runs/:id/items/:item/logs`, on real `serve` and `runner` processes.
 */
const secret = `logs-canary-${randomBytes(9).toString('hex')}`;
const envName = `AGORA_LOGS_CANARY_${randomBytes(3).toString('hex').toUpperCase()}`;
process.env[envName] = secret;
const KEY = 'logs-test-key-0123456789abcdef';

const env = cliEnv({
  queues: { default: { concurrency: 2 } },
  credentials: { vault: { provider: 'env', options: { allow: [envName] } } },
  targets: { local: { compute: 'local', credentials: 'vault' } },
  tasks: { talk: { command: [process.execPath, 'worker.cjs'], secretRefs: { API_KEY: `env:${envName}` } } },
});

/** Prints to both streams (the secret too); exits with the code its input names. */
const WORKER = `
const fs = require('node:fs');
const input = JSON.parse(fs.readFileSync(process.env.AGORA_WORKER_INPUT_FILE, 'utf8'));
if (input.pad) process.stdout.write('x'.repeat(input.pad));
process.stdout.write('result of ' + input.name + '\\n');
process.stderr.write('progress of ' + input.name + ', key=' + process.env.API_KEY + '\\n');
process.exitCode = input.exit; // not process.exit(): it would drop output still queued for a pipe
`;

let dash: Dashboard;
let runId: string;
beforeAll(async () => {
  writeFileSync(path.join(env.dir, 'worker.cjs'), WORKER);
  await env.start(['serve'], /scheduler serving/);
  await env.start(['runner', '--concurrency', '2'], /runner started/);
  const sub = env.agora([
    'submit',
    env.writeJson('plan.json', {
      id: 'logs',
      items: [
        { id: 'fine', executor: 'dispatch', inputs: { task: 'talk', workerInput: { name: 'fine', exit: 0 } } },
        { id: 'broken', executor: 'dispatch', inputs: { task: 'talk', workerInput: { name: 'broken', exit: 4 } } },
        { id: 'quiet', executor: 'noop', inputs: {} },
        { id: 'loud', executor: 'dispatch', inputs: { task: 'talk', workerInput: { name: 'loud', exit: 3, pad: 300_000 } } },
      ],
    }),
  ]);
  expect(sub.code, sub.stderr).toBe(0);
  runId = sub.stdout.trim();
  env.agora(['watch', runId]);
  // The dashboard in this process, on the same config file, Redis and data dir as the processes.
  const config = compileConfig(JSON.parse(readFileSync(path.join(env.dir, 'agora.config.json'), 'utf8')), 'test', env.dir, env.env);
  dash = await createDashboard({ config, port: 0, logger: silent, apiKey: KEY });
}, 90_000);
afterAll(async () => {
  await dash?.close();
  await env.close();
});

interface Logs {
  state: string;
  stdout?: { ref: string; text: string; bytes: number; truncated: boolean };
  stderr?: { ref: string; text: string; bytes: number; truncated: boolean };
}

describe('item logs', () => {
  it('agora logs prints each stream of a done and a failed dispatch item, scrubbed; a noop item has none', () => {
    const fine = env.agora(['logs', runId, 'fine']);
    expect(fine.code, fine.stderr).toBe(0);
    expect(fine.stdout).toContain('== stdout (15 bytes) ==\nresult of fine\n');
    expect(fine.stdout).toContain('progress of fine, key=[REDACTED]');
    const broken = JSON.parse(env.agora(['logs', runId, 'broken', '--json']).stdout) as Logs;
    expect(broken.state).toBe('failed');
    expect(broken.stdout?.text).toBe('result of broken\n');
    expect(broken.stderr?.text).toContain('progress of broken, key=[REDACTED]');
    expect(broken.stdout?.ref).toMatch(new RegExp(`^agora://${env.namespace}/stdout/${runId}\\.broken/[0-9a-f]{64}$`));
    for (const out of [fine.stdout, JSON.stringify(broken)]) expect(out).not.toContain(secret);
    expect(env.agora(['logs', runId, 'quiet']).stdout).toContain('no output stored (executor "noop" keeps none)');
    expect(env.agora(['logs', runId, 'nope']).code).toBe(2);
  });

  it('GET /api/runs/:id/items/:item/logs returns the same, behind the read scope', async () => {
    const res = await fetch(`${dash.url}/api/runs/${runId}/items/broken/logs`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Logs & { itemId: string };
    expect(body).toMatchObject({ itemId: 'broken', state: 'failed', stdout: { text: 'result of broken\n', truncated: false } });
    expect(JSON.stringify(body)).not.toContain(secret);
    // The stored stream is downloadable as an artifact too (hash checked).
    const art = await fetch(`${dash.url}/api/artifacts?uri=${encodeURIComponent(body.stderr!.ref)}`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(await art.text()).toContain('progress of broken');
    // A failed item keeps the last 1 MiB of each stream, as a done one does (it kept 64 KiB, and said
    // nothing was cut); the answer holds the last 256 KiB and says the rest was left out.
    const loud = (await (await fetch(`${dash.url}/api/runs/${runId}/items/loud/logs`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as Logs;
    expect(loud).toMatchObject({ state: 'failed', stdout: { bytes: 300_000 + 'result of loud\n'.length, truncated: true } });
    expect(loud.stdout!.text).toHaveLength(256 * 1024);
    expect(loud.stdout!.text.endsWith('xxresult of loud\n')).toBe(true);
    expect((await fetch(`${dash.url}/api/runs/${runId}/items/broken/logs`)).status).toBe(401);
    expect((await fetch(`${dash.url}/api/runs/${runId}/items/nope/logs`, { headers: { authorization: `Bearer ${KEY}` } })).status).toBe(404);
  });
});
