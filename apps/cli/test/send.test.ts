import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IllegalStateError, NotFoundError, ValueError, agoraEventSchema, type AgoraEvent } from '@agora/core';
import { LocalStorageProvider } from '@agora/storage-local';
import { AgoraClient } from '@agora/sdk';
import { CHANNEL_WORKER } from '../../../test/support/channel-worker.js';
import { cliEnv } from '../../../test/support/cli.js';
import { testRedisUrl, until } from '../../../test/support/index.js';

/**
 * Issue 17, part 3: `agora send` puts messages into an item's channel, on real `serve` and
 * `runner` processes and the process provider. The worker tails `$AGORA_CHANNEL` and prints the
 * messages it read as its result.
 */
const env = cliEnv({ queues: { default: { concurrency: 2 } }, tasks: { listen: { command: [process.execPath, 'listen.cjs'], timeoutMs: 60_000 } } });
const client = new AgoraClient({ redisUrl: testRedisUrl(), namespace: env.namespace });
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
const send = (...args: string[]): ReturnType<typeof env.agora> => env.agora(['send', ...args]);
/** The body of the first message: it must never appear in the record. */
const FIRST_BODY = { hello: 'channel-body-7f3a' };
let runId: string;

beforeAll(async () => {
  writeFileSync(path.join(env.dir, 'listen.cjs'), CHANNEL_WORKER);
  await env.start(['serve'], /scheduler serving/);
  await env.start(['runner', '--concurrency', '2'], /runner started/);
}, 60_000);
afterAll(async () => {
  await client.close();
  await env.close();
});

describe('agora send: messages into an item (process provider)', () => {
  it('reach a running item, and an item not started yet when it starts, in order; the items end done with them', async () => {
    runId = await client.submit({
      id: 'chat',
      items: [
        { id: 'first', executor: 'dispatch', inputs: { task: 'listen' } },
        { id: 'second', executor: 'dispatch', inputs: { task: 'listen', workerInput: { messages: 2 } }, depends_on: ['first'] },
      ],
    });
    // `second` cannot start before `first` ends, and `first` waits for a message: these two are
    // sent to `second` before it starts.
    await until('second registered', async () => (await client.item(runId, 'second').catch(() => null))?.state === 'waiting');
    const one = send(runId, 'second', '{"n":1}');
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout.trim()).toMatch(/^\d+-\d+$/);
    const two = send(runId, 'second', `@${env.writeJson('two.json', '"two"\n')}`, '--json');
    expect(two.code, two.stderr).toBe(0);
    expect(JSON.parse(two.stdout)).toEqual({ runId, itemId: 'second', messageId: expect.stringMatching(/^\d+-\d+$/), seq: expect.any(Number), bytes: 5, sha256: sha('"two"') });
    expect((await client.item(runId, 'second')).state).toBe('waiting');

    // `first` is running and its channel is open (the file exists): this one goes to a live worker.
    const channelFile = path.join(String(env.env['AGORA_DATA_DIR']), 'work', runId, 'first', 'channel', 'messages.jsonl');
    await until('first has its channel open', async () => existsSync(channelFile));
    const three = send(runId, 'first', JSON.stringify(FIRST_BODY));
    expect(three.code, three.stderr).toBe(0);

    expect((await client.wait(runId)).state).toBe('succeeded');
    const storage = new LocalStorageProvider({ root: path.join(String(env.env['AGORA_DATA_DIR']), 'storage') });
    const results: Record<string, unknown> = {};
    for (const i of (await client.wait(runId)).items) results[i.id] = JSON.parse(Buffer.from(await storage.get(String(i.resultRef))).toString());
    const result = (item: string): unknown => results[item];
    expect(result('first')).toEqual([FIRST_BODY]);
    expect(result('second')).toEqual([{ n: 1 }, 'two']);
  });

  it('refuses a message to an ended item (exit 2), to an unknown run or item, and a malformed or oversized one', async () => {
    const ended = send(runId, 'first', '{}');
    expect(ended.code).toBe(2);
    expect(ended.stderr).toContain(`item "first" of run "${runId}" has ended (done): it takes no more messages`);
    const badJson = send(runId, 'second', '{"a":');
    expect([badJson.code, badJson.stderr]).toEqual([2, 'agora: message:1:6: invalid JSON: ValueExpected\n']);
    // A message file that is not UTF-8: before, its 0xe9 was sent as U+FFFD.
    const latin1 = env.writeJson('latin1-message.json', '');
    writeFileSync(latin1, Buffer.from([0x22, 0x63, 0x61, 0x66, 0xe9, 0x22]));
    const notUtf8 = send(runId, 'second', `@${latin1}`);
    expect([notUtf8.code, notUtf8.stderr]).toEqual([2, `agora: ${latin1}:1: not valid UTF-8: byte 0xe9 at offset 4 (save the file as UTF-8)\n`]);
    // The CLI hands these to the SDK, whose errors it prints with exit 2 (as above).
    await expect(client.send(runId, 'ghost', {})).rejects.toThrow(new NotFoundError(`run "${runId}" has no item "ghost"`));
    await expect(client.send('r0000000000deadbeef', 'first', {})).rejects.toThrow(new NotFoundError('no run "r0000000000deadbeef"'));
    await expect(client.send(runId, 'second', 'x'.repeat(70_000))).rejects.toThrow(new ValueError('message is 70002 bytes as JSON, over the limit of 65536 bytes'));
    await expect(client.send(runId, '../first', {})).rejects.toThrow(new ValueError('invalid item id "../first"'));
    await expect(client.send(runId, 'second', undefined)).rejects.toThrow(ValueError);
  });

  it('reads an @file that is a pipe (bash\'s @<(cmd), a FIFO) no further than the limit: an endless one is refused, not read until memory runs out', () => {
    // Before, only a regular file's size was checked: a pipe (size 0) was read whole, so
    // `agora send … @/dev/zero` or an endless @<(cmd) grew without bound and never answered.
    const fifo = path.join(env.dir, 'endless.fifo');
    execFileSync('mkfifo', [fifo]);
    const writer = spawn('sh', ['-c', `exec "${process.execPath}" -e "setInterval(() => process.stdout.write('[' + '1,'.repeat(32768)), 10)" > "${fifo}"`], { stdio: 'ignore' });
    try {
      const r = env.agora(['send', 'r0000000000deadbeef', 'a', `@${fifo}`], { timeoutMs: 20_000 });
      expect([r.code, r.stderr]).toEqual([2, `agora: ${fifo}: over the limit of 65536 bytes\n`]);
    } finally {
      writer.kill('SIGKILL');
    }
  });

  it('a message sent right after submit, while the run still waits on the inbox, waits for its acceptance and reaches the item', async () => {
    // Before, the run had no record yet for the few milliseconds of its acceptance: "no run" (exit 2, 404).
    const eager = await client.submit({ id: 'eager', items: [{ id: 'now', executor: 'dispatch', inputs: { task: 'listen' } }] });
    const sent = await client.send(eager, 'now', { early: true });
    expect(sent).toMatchObject({ runId: eager, itemId: 'now', bytes: 14 });
    const done = await client.wait(eager);
    expect(done.state).toBe('succeeded');
    const storage = new LocalStorageProvider({ root: path.join(String(env.env['AGORA_DATA_DIR']), 'storage') });
    expect(JSON.parse(Buffer.from(await storage.get(String(done.items[0]!.resultRef))).toString())).toEqual([{ early: true }]);
    // No scheduler takes this namespace's plans: the wait is bounded by the client's timeout and says why.
    const unserved = new AgoraClient({ redisUrl: testRedisUrl(), namespace: `${env.namespace}x`, timeoutMs: 400 });
    try {
      const stuck = await unserved.submit({ id: 'stuck', items: [{ id: 'a', executor: 'noop' }] });
      await expect(unserved.send(stuck, 'a', 1)).rejects.toThrow(new IllegalStateError(`run "${stuck}" is submitted and not accepted yet (is a scheduler running?): send the message again once it is`));
      await expect(unserved.send('r0000000000deadbeef', 'a', 1)).rejects.toThrow(new NotFoundError('no run "r0000000000deadbeef"'));
    } finally {
      await unserved.close();
    }
  });

  it('a start after a runner died gets each message once: the channel file a dead runner left is started afresh', async () => {
    const run = await client.submit({
      id: 'afresh',
      items: [
        { id: 'blocker', executor: 'dispatch', inputs: { task: 'listen' } },
        { id: 'late', executor: 'dispatch', inputs: { task: 'listen' }, depends_on: ['blocker'] },
      ],
    });
    await until('late registered', async () => (await client.item(run, 'late').catch(() => null))?.state === 'waiting');
    // What a runner SIGKILLed mid-item leaves in the data dir (runners of one host share it, as
    // under `agora dev`): the channel file of its start, holding the messages it had delivered.
    const leftover = path.join(String(env.env['AGORA_DATA_DIR']), 'work', run, 'late', 'channel', 'messages.jsonl');
    mkdirSync(path.dirname(leftover), { recursive: true });
    writeFileSync(leftover, '{"delivered":"by the dead start"}\n');
    await client.send(run, 'late', { fresh: 1 });
    await client.send(run, 'blocker', 'go');
    const done = await client.wait(run);
    expect(done.state).toBe('succeeded');
    const storage = new LocalStorageProvider({ root: path.join(String(env.env['AGORA_DATA_DIR']), 'storage') });
    const late = done.items.find((i) => i.id === 'late')!;
    // Before, the file was appended to: the worker read the dead start's line first.
    expect(JSON.parse(Buffer.from(await storage.get(String(late.resultRef))).toString())).toEqual([{ fresh: 1 }]);
  });

  it('records each message as a `message` event (its size and sha256, never its body); the sealed bundle verifies', () => {
    const bundleFile = path.join(env.dir, 'bundle.json');
    const audit = env.agora(['audit', runId, '--out', bundleFile]);
    expect(audit.code, audit.stdout + audit.stderr).toBe(0);
    const bundle = JSON.parse(readFileSync(bundleFile, 'utf8')) as { events: AgoraEvent[]; report: { intact: boolean } };
    expect(bundle.report.intact).toBe(true);
    for (const e of bundle.events) expect(agoraEventSchema.safeParse(e).success, JSON.stringify(e)).toBe(true);
    const messages = bundle.events.filter((e) => e.type === 'message');
    expect(messages.map(({ itemId, bytes, sha256 }) => ({ itemId, bytes, sha256 }))).toEqual([
      { itemId: 'second', bytes: 7, sha256: sha('{"n":1}') },
      { itemId: 'second', bytes: 5, sha256: sha('"two"') },
      { itemId: 'first', bytes: JSON.stringify(FIRST_BODY).length, sha256: sha(JSON.stringify(FIRST_BODY)) },
    ]);
    // Each message is recorded before the item it was sent to ends.
    const endSeq = (item: string): number => bundle.events.find((e) => e.itemId === item && e.state === 'done')!.seq;
    for (const m of messages) expect(m.seq).toBeLessThan(endSeq(m.itemId!));
    expect(JSON.stringify(bundle.events)).not.toContain(FIRST_BODY.hello);
  });
});
