import { afterAll, describe, expect, it } from 'vitest';
import { AgoraClient } from '@agora/sdk';
import { cliEnv } from '../../../test/support/cli.js';

/** A runner killed with SIGKILL mid-item: another runner picks the item up; nothing is lost. */
const env = cliEnv({ queues: { default: { concurrency: 4 } }, runner: { jobLockMs: 2000, stalledIntervalMs: 1000 } });
afterAll(() => env.close());

describe('runner crash', () => {
  it('SIGKILL of the runner running an item: the item completes on the other runner', async () => {
    await env.start(['serve'], /scheduler serving/);
    const a = await env.start(['runner', '--concurrency', '2'], /runner started/);
    const b = await env.start(['runner', '--concurrency', '2'], /runner started/);
    const client = new AgoraClient({ redisUrl: String(env.env['REDIS_URL']), namespace: env.namespace });
    const runId = await client.submit({
      id: 'crash',
      queue: 'default',
      items: [
        { id: 'victim', executor: 'noop', inputs: { sleepMs: 3000 }, depends_on: [], resourceLocks: [] },
        { id: 'after', executor: 'noop', inputs: {}, depends_on: ['victim'], resourceLocks: [] },
      ],
    });
    let holder: string | undefined;
    for await (const e of client.watch(runId)) {
      if (e.itemId === 'victim' && e.state === 'running') {
        holder = String(e['runner']);
        break;
      }
    }
    const pid = Number(holder!.split(':').pop());
    const victim = [a, b].find((p) => p.pid === pid)!;
    expect(victim).toBeDefined();
    victim.kill('SIGKILL');
    const status = await client.wait(runId);
    const events = await client.events(runId);
    await client.close();
    expect(status.state).toBe('succeeded');
    const runs = events.filter((e) => e.itemId === 'victim' && e.state === 'running');
    expect(runs).toHaveLength(2);
    expect(runs[1]!['runner']).not.toBe(holder);
    expect(events.filter((e) => e.itemId === 'victim' && e.state === 'done')).toHaveLength(1);
  }, 60_000);
});
