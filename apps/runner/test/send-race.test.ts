import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IllegalStateError } from '@agora/sdk';
import { startCluster, type TestCluster } from '../../../test/support/cluster.js';
import { until } from '../../../test/support/index.js';

/**
 * `send` to an item at the moment it ends (its worker exits while messages keep coming): each
 * message is either accepted and written to the item's channel file, or refused with
 * IllegalStateError; never accepted and dropped. The worker leaves behind a watcher that holds the
 * channel file open past the worker's exit and the work dir's removal, and copies what the runner
 * wrote into it (an unlinked file stays readable through an open descriptor).
 */
let c: TestCluster;
const scratch = mkdtempSync(path.join(os.tmpdir(), 'agora-send-race-'));
const WATCHER = `
const fs = require('node:fs');
const fd = fs.openSync(process.argv[1], 'r');
process.stdout.write('open\\n');
setTimeout(() => { fs.writeFileSync(process.argv[2], fs.readFileSync(fd, 'utf8')); }, 1500);
`;
const WORKER = `
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const file = process.env.AGORA_CHANNEL;
const out = JSON.parse(process.env.AGORA_WORKER_INPUT || '{}').out;
const tick = () => {
  if (fs.readFileSync(file, 'utf8').includes('\\n')) {
    const w = spawn(process.execPath, ['-e', ${JSON.stringify(WATCHER)}, file, out], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    w.stdout.once('data', () => { w.unref(); w.stdout.destroy(); process.stdout.write('bye'); process.exit(0); });
    return;
  }
  setTimeout(tick, 5);
};
tick();
`;

/** Fails its first try at once; a later one prints the first message of its channel. */
const AGAIN = `
const fs = require('node:fs');
if (process.env.AGORA_ATTEMPT === '1') process.exit(1);
const tick = () => {
  const text = fs.readFileSync(process.env.AGORA_CHANNEL, 'utf8');
  if (text.includes('\\n')) { process.stdout.write(text.split('\\n')[0]); process.exit(0); }
  setTimeout(tick, 20);
};
tick();
`;

beforeAll(async () => {
  writeFileSync(path.join(scratch, 'worker.cjs'), WORKER);
  writeFileSync(path.join(scratch, 'again.cjs'), AGAIN);
  c = await startCluster({
    runners: 1,
    config: {
      tasks: {
        listen: { command: [process.execPath, path.join(scratch, 'worker.cjs')], timeoutMs: 30_000 },
        again: { command: [process.execPath, path.join(scratch, 'again.cjs')], timeoutMs: 30_000, retry: { attempts: 2, on: ['app'], backoff: { type: 'fixed', delayMs: 1500 } } },
      },
    },
  });
}, 60_000);
afterAll(async () => {
  await c?.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('send at the moment the item ends', () => {
  it('every accepted message reached the channel file; the others were refused with IllegalStateError', async () => {
    for (let round = 0; round < 3; round++) {
      const out = path.join(scratch, `file-${round}.jsonl`);
      const runId = await c.client.submit({ id: 'send-race', items: [{ id: 'l', executor: 'dispatch', inputs: { task: 'listen', workerInput: { out } } }] });
      await until('running', async () => (await c.client.item(runId, 'l').catch(() => null))?.state === 'running', 20_000, 5);
      const accepted: number[] = [];
      let refused = 0;
      // Sends, ten at a time, until the item has ended: the first ones end the worker.
      for (let n = 0; refused === 0; n += 10) {
        const settled = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => c.client.send(runId, 'l', { n: n + i })));
        await new Promise((r) => setTimeout(r, 5));
        settled.forEach((s, i) => {
          if (s.status === 'fulfilled') accepted.push(n + i);
          else {
            expect(s.reason).toBeInstanceOf(IllegalStateError);
            // The item ended or is ending, not the most messages one item may be sent.
            expect(String(s.reason)).toMatch(/has ended|is ending/);
            refused++;
          }
        });
      }
      expect((await c.client.wait(runId)).state).toBe('succeeded');
      const text = await until('the watcher copied the file', async () => {
        try {
          return readFileSync(out, 'utf8');
        } catch {
          return null;
        }
      });
      const inFile = text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { n: number }).n);
      expect(inFile, `round ${round}`).toEqual(accepted);
    }
  });

  it('a message sent while the item waits out its retry back-off is taken, and its next try reads it', async () => {
    const runId = await c.client.submit({ id: 'send-retry', items: [{ id: 'r', executor: 'dispatch', inputs: { task: 'again' } }] });
    await until('the retry', async () => (await c.client.item(runId, 'r').catch(() => null))?.events.some((e) => e.type === 'retry'), 20_000, 20);
    await c.client.send(runId, 'r', { between: 'tries' });
    const s = await c.client.wait(runId);
    expect(s.state).toBe('succeeded');
    const storage = await import('@agora/storage-local').then((m) => new m.LocalStorageProvider({ root: path.join(c.dataDir, 'storage') }));
    const ref = s.items.find((i) => i.id === 'r')!.resultRef!;
    expect(JSON.parse(Buffer.from(await storage.get(ref)).toString())).toEqual({ between: 'tries' });
  });
});
