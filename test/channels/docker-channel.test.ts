import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgoraClient } from '@agora/sdk';
import { LocalStorageProvider } from '@agora/storage-local';
import { CHANNEL_WORKER } from '../support/channel-worker.js';
import { cliEnv, type CliEnv } from '../support/cli.js';
import { ensurePodman } from '../support/podman.js';
import { testRedisUrl, until } from '../support/index.js';

/**
 * Issue 17, part 3, on the Docker provider (Podman's Docker API): the runner appends each message
 * to the item's channel file on the host, and the container reads it through a read-only bind,
 * named by `AGORA_CHANNEL`. Messages go in through `agora send`.
 */
let env: CliEnv;
let client: AgoraClient;
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

beforeAll(async () => {
  const podman = await ensurePodman();
  env = cliEnv({
    queues: { default: { concurrency: 2 } },
    compute: { local: { provider: 'process' }, podman: { provider: 'docker', options: { socketPath: podman.socketPath, network: 'none' } } },
    targets: { local: { compute: 'local' }, podman: { compute: 'podman' } },
    tasks: { listen: { image: podman.images.node, command: ['node', '-e', CHANNEL_WORKER], target: 'podman', timeoutMs: 60_000 } },
  });
  client = new AgoraClient({ redisUrl: testRedisUrl(), namespace: env.namespace });
  await env.start(['serve'], /scheduler serving/);
  await env.start(['runner', '--concurrency', '2'], /runner started/);
}, 120_000);
afterAll(async () => {
  await client?.close();
  await env?.close();
});

describe('channels on the Docker provider', () => {
  it('a container reads messages sent before it started and while it runs, through a read-only AGORA_CHANNEL', async () => {
    const runId = await client.submit({
      id: 'docker-chat',
      items: [
        { id: 'first', executor: 'dispatch', inputs: { task: 'listen', workerInput: { report: true } } },
        { id: 'second', executor: 'dispatch', inputs: { task: 'listen' }, depends_on: ['first'] },
      ],
    });
    // `second` waits for `first`, which waits for its message: this one is sent before `second` starts.
    await until('second registered', async () => (await client.item(runId, 'second').catch(() => null))?.state === 'waiting');
    const early = env.agora(['send', runId, 'second', '["early", 1]']);
    expect(early.code, early.stderr).toBe(0);
    const channelFile = path.join(String(env.env['AGORA_DATA_DIR']), 'work', runId, 'first', 'channel', 'messages.jsonl');
    await until('first has its channel open', async () => existsSync(channelFile), 60_000);
    const live = env.agora(['send', runId, 'first', '--json', '{"to":"container"}']);
    expect(live.code, live.stderr).toBe(0);
    expect(JSON.parse(live.stdout)).toMatchObject({ itemId: 'first', bytes: 18, sha256: sha('{"to":"container"}') });

    const status = await client.wait(runId);
    expect(status.state).toBe('succeeded');
    const storage = new LocalStorageProvider({ root: path.join(String(env.env['AGORA_DATA_DIR']), 'storage') });
    const result = async (item: string): Promise<unknown> => JSON.parse(Buffer.from(await storage.get(String(status.items.find((i) => i.id === item)?.resultRef))).toString());
    expect(await result('first')).toEqual({ messages: [{ to: 'container' }], channel: '/run/agora/channel/messages.jsonl', writable: false });
    expect(await result('second')).toEqual([['early', 1]]);
    const events = await client.events(runId);
    expect(events.filter((e) => e.type === 'message').map((e) => e.itemId)).toEqual(['second', 'first']);
  });
});
