import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ValueError, type NotificationProvider, type ResultSink } from '@agora/core';
import { createRedis } from '@agora/state';
import { createAgoraMetrics } from '@agora/metrics';
import {
  DeliveryDeadLetterStore,
  DeliveryQueue,
  WebhookNotificationProvider,
  WebhookResultSink,
  deliveryIdOf,
  deliveryPolicyOf,
  signatureHeader,
  startDeliveryWorker,
  verifySignature,
  type DeliveryJob,
} from '@agora/deliveries';
import { testRedisUrl, uniqueNamespace, until } from '../../../test/support/index.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../../test/support/webhook-receiver.js';

const SECRET = 'test-signing-secret-0123456789';
const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe('signature', () => {
  const body = '{"type":"item.result"}';
  it('verifies its own header and refuses a changed body, another secret and an old timestamp', () => {
    const now = Math.floor(Date.now() / 1000);
    const h = signatureHeader(SECRET, body, now);
    expect(h).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifySignature(h, body, SECRET)).toEqual({ ok: true, t: now });
    expect(verifySignature(h, `${body} `, SECRET)).toEqual({ ok: false, reason: 'signature does not match' });
    expect(verifySignature(h, body, 'another-secret-0123456789')).toEqual({ ok: false, reason: 'signature does not match' });
    expect(verifySignature(signatureHeader(SECRET, body, now - 3600), body, SECRET)).toEqual({ ok: false, reason: `timestamp ${now - 3600} is outside the tolerance` });
    expect(verifySignature('v1=abc', body, SECRET)).toEqual({ ok: false, reason: 'malformed signature header' });
  });
});

describe('webhook options', () => {
  it('reads an env: secret from the file NAME_FILE names (a mounted Docker/Kubernetes secret)', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const dir = mkdtempSync(`${(await import('node:os')).tmpdir()}/agora-hook-`);
    try {
      writeFileSync(`${dir}/secret`, `${SECRET}\n`);
      const sink = new WebhookResultSink({ url: 'https://hooks.example.com/a', secret: 'env:HOOK_SECRET' }, { HOOK_SECRET_FILE: `${dir}/secret` });
      expect(sink.endpoint.host).toBe('hooks.example.com');
      expect(() => new WebhookResultSink({ url: 'https://example.com', secret: 'env:HOOK_SECRET' }, { HOOK_SECRET: SECRET, HOOK_SECRET_FILE: `${dir}/secret` })).toThrow('both HOOK_SECRET and HOOK_SECRET_FILE are set; give one');
      // An empty secret file (a secret that was not written) is named as such, not as "not set".
      writeFileSync(`${dir}/empty`, '\n');
      expect(() => new WebhookResultSink({ url: 'https://example.com', secret: 'env:HOOK_SECRET' }, { HOOK_SECRET_FILE: `${dir}/empty` })).toThrow(
        `webhook result sink: options.secret: the file HOOK_SECRET_FILE names (${dir}/empty) is empty`,
      );
      expect(() => new WebhookResultSink({ url: 'https://example.com', secret: 'env:HOOK_SECRET' }, { HOOK_SECRET: '' })).toThrow('webhook result sink: options.secret: environment variable HOOK_SECRET is empty');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a URL that is not http(s) and names the path', () => {
    expect(() => new WebhookResultSink({ url: 'ftp://example.com/x', secret: SECRET })).toThrow(new ValueError('webhook result sink: options.url: url must be an http:// or https:// URL'));
    expect(() => new WebhookResultSink({ url: 'https://example.com/x', secret: SECRET, extra: 1 })).toThrow(/options: Unrecognized key: "extra"/);
    // What the URL parser refuses (a port over 65535, a space in the host) is the same clear problem:
    // before, a bare TypeError "Invalid URL" escaped (exit 1, neither the provider nor the option named).
    for (const url of ['http://example.com:99999/x?token=not-for-logs', 'http://exa mple.com/x', 'http://u:p@example.com:70000/']) {
      expect(() => new WebhookNotificationProvider({ url, secret: SECRET })).toThrow(new ValueError('webhook notifications: options.url: url must be an http:// or https:// URL'));
    }
    // fetch refuses a URL with credentials (every delivery would fail), and its error quoted the
    // whole URL, password included, into logs and dead letters: refused when the config loads.
    for (const url of ['http://u:passw0rd-in-url@127.0.0.1:6393/notify', 'https://token@example.com/x']) {
      let message = '';
      try {
        new WebhookResultSink({ url, secret: SECRET });
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toBe('webhook result sink: options.url: url must not hold credentials (user:password@): a receiver checks the signature, or put a token in the path or query');
    }
  });

  it('refuses a URL on a port fetch will not connect to (the Fetch standard\'s bad ports), naming it', async () => {
    // Before: accepted, and every delivery then failed with fetch's "bad port" and was dead-lettered.
    for (const [url, port] of [['http://127.0.0.1:6000/hook', '6000'], ['https://hooks.example.com:6665/x?token=t', '6665'], ['http://[::1]:10080/', '10080'], ['http://h.example.com:25', '25']] as const) {
      expect(() => new WebhookResultSink({ url, secret: SECRET }), url).toThrow(
        new ValueError(`webhook result sink: options.url: port ${port} is blocked by fetch (a "bad port" of the Fetch standard): every delivery would fail; use another port`),
      );
      expect(() => new WebhookNotificationProvider({ url, secret: SECRET }), url).toThrow(`webhook notifications: options.url: port ${port} is blocked by fetch`);
      // The list is fetch's own: Node's fetch refuses the same URL before any connection.
      await expect(fetch(url, { method: 'POST', body: '{}' }), url).rejects.toMatchObject({ cause: { message: 'bad port' } });
    }
    // A default port, and ports next to bad ones, are fine; a non-http URL is refused for its scheme only.
    for (const url of ['http://127.0.0.1/hook', 'https://hooks.example.com:443/x', 'http://127.0.0.1:6001/', 'http://127.0.0.1:8080/', 'http://127.0.0.1:10081/']) {
      expect(() => new WebhookResultSink({ url, secret: SECRET }), url).not.toThrow();
    }
    expect(() => new WebhookResultSink({ url: 'ftp://example.com:6000/x', secret: SECRET })).toThrow(new ValueError('webhook result sink: options.url: url must be an http:// or https:// URL'));
    // Port 0 parses, and every connection to it is refused.
    expect(() => new WebhookResultSink({ url: 'http://127.0.0.1:0/hook', secret: SECRET })).toThrow(new ValueError("webhook result sink: options.url: port 0 is no port a receiver listens on: every delivery would fail; give the receiver's port"));
  });

  it('reads an env: secret at construction, names a missing variable, and never echoes a secret', () => {
    const sink = new WebhookResultSink({ url: 'https://hooks.example.com/a?token=x', secret: 'env:HOOK_SECRET' }, { HOOK_SECRET: SECRET });
    expect(sink.endpoint.host).toBe('hooks.example.com');
    expect(() => new WebhookResultSink({ url: 'https://example.com', secret: 'env:HOOK_SECRET' }, {})).toThrow(
      new ValueError('webhook result sink: options.secret: environment variable HOOK_SECRET (or HOOK_SECRET_FILE) is not set'),
    );
    let thrown: unknown;
    try {
      new WebhookNotificationProvider({ url: 'https://example.com', secret: 'short-secret', events: ['run.exploded'] });
    } catch (err) {
      thrown = err;
    }
    expect(String(thrown)).toMatch(/options\.events\.0/);
    expect(String(thrown)).not.toContain('short-secret');
    expect(() => new WebhookResultSink({ url: 'https://example.com', secret: 'short-secret' })).toThrow('the secret must be 16 or more characters');
  });
});

describe('webhook answers', () => {
  it('does not read an endless answer body: the delivery ends at once, not at its timeout, and the runner\'s memory stays small', async () => {
    const { createServer } = await import('node:http');
    let sent = 0;
    const chunk = Buffer.alloc(1 << 16, 120);
    // Answers 200 and then streams a body that never ends, as fast as the client reads it.
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        const pump = (): void => {
          while (!res.destroyed && res.write(chunk)) sent += chunk.length;
        };
        res.on('drain', pump);
        pump();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const sink = new WebhookResultSink({ url: `http://127.0.0.1:${port}/flood`, secret: SECRET, timeoutMs: 10_000 });
      const t0 = Date.now();
      await sink.collect({ runId: 'r-1', itemId: 'a', state: 'done' });
      // Before, the whole body was buffered (gigabytes) until the 10 s timeout cut it off.
      expect(Date.now() - t0).toBeLessThan(3000);
      await new Promise((r) => setTimeout(r, 200));
      expect(sent).toBeLessThan(64 << 20);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('delivery queue and worker', () => {
  const redis = createRedis(testRedisUrl());
  let receiver: WebhookReceiver;
  let closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    // /flaky fails twice then succeeds; /down always fails; /gone is a 404.
    receiver = await startWebhookReceiver(SECRET, (path, seen) => (path === '/flaky' ? (seen < 2 ? 500 : 200) : path === '/down' ? 503 : path === '/gone' ? 404 : 200));
  });
  afterEach(async () => {
    for (const c of closers.reverse()) await c();
    closers = [];
  });
  afterAll(async () => {
    await receiver.close();
    await redis.quit();
  });

  /** A worker and a queue on a fresh namespace, with result sinks at the receiver's paths. */
  function start(paths: Record<string, string>, attempts = 3, backoffMs = 100) {
    const namespace = uniqueNamespace('dl');
    const sinks = new Map<string, ResultSink>(Object.entries(paths).map(([name, path]) => [name, new WebhookResultSink({ url: `${receiver.url}${path}?token=not-for-logs`, secret: SECRET, attempts, backoffMs })]));
    const metrics = createAgoraMetrics();
    const deadLetters = new DeliveryDeadLetterStore(redis, namespace);
    const worker = startDeliveryWorker({
      redisUrl: testRedisUrl(),
      namespace,
      targets: {
        resultSink: async (n) => sinks.get(n) ?? Promise.reject(new ValueError(`unknown result sink "${n}"`)),
        notification: async (n): Promise<NotificationProvider> => Promise.reject(new ValueError(`unknown notification provider "${n}"`)),
      },
      deadLetters,
      logger: silent,
      metrics,
    });
    const queue = new DeliveryQueue(redis, namespace);
    closers.push(() => queue.close(), () => worker.close());
    const send = (target: string, itemId: string) => {
      const job: DeliveryJob = { kind: 'result', target, result: { runId: 'r-1', itemId, state: 'done', resultRef: 'agora://ns/result/r-1.a/abc', exitCode: 0, attempt: 1 } };
      return queue.enqueue([{ job, policy: deliveryPolicyOf(sinks.get(target)!) }]).then(([id]) => id!);
    };
    const count = async (outcome: string) => (await metrics.registry.getSingleMetric('agora_deliveries_total')!.get()).values.find((v) => v.labels['outcome'] === outcome)?.value ?? 0;
    return { deadLetters, send, count };
  }

  it('retries 500s with growing back-off and delivers on the third try, the same delivery id on each', async () => {
    // Waits of 0.8-1 s then 1.6-2 s: wide enough apart that a busy machine's delays cannot swap them.
    const { send, count, deadLetters } = start({ flaky: '/flaky' }, 3, 1000);
    const id = await send('flaky', 'a');
    const tries = await until('third try', async () => {
      const got = receiver.received().filter((r) => r.path.startsWith('/flaky'));
      return got.length >= 3 && (await count('delivered')) === 1 ? got : null;
    });
    expect(tries.map((t) => t.status)).toEqual([500, 500, 200]);
    expect(tries.every((t) => t.signed && t.deliveryId === id && t.contentType === 'application/json')).toBe(true);
    expect(tries[2]!.body).toEqual({ type: 'item.result', runId: 'r-1', itemId: 'a', state: 'done', resultRef: 'agora://ns/result/r-1.a/abc', exitCode: 0, attempt: 1 });
    // Exponential back-off: the second wait is the longer.
    expect(tries[2]!.at - tries[1]!.at).toBeGreaterThan(tries[1]!.at - tries[0]!.at);
    expect(await count('retried')).toBe(2);
    expect(await deadLetters.list()).toEqual([]);
    // The same delivery enqueued again while its job is kept is not sent again.
    expect(await send('flaky', 'a')).toBe(id);
  });

  it('dead-letters after the last try with the host, status and tries, and no secret or token', async () => {
    const { send, deadLetters, count } = start({ down: '/down' });
    const id = await send('down', 'b');
    const [letter] = await until('dead letter', async () => {
      const l = await deadLetters.list();
      return l.length > 0 ? l : null;
    });
    expect(receiver.received().filter((r) => r.path.startsWith('/down'))).toHaveLength(3);
    expect(letter).toMatchObject({ id, kind: 'result', target: 'down', type: 'item.result', runId: 'r-1', itemId: 'b', host: new URL(receiver.url).host, status: 503, attempts: 3 });
    expect(letter!.error).toBe(`webhook to ${new URL(receiver.url).host} answered 503`);
    const stored = JSON.stringify(await deadLetters.get(id));
    expect(stored).not.toContain(SECRET);
    expect(stored).not.toContain('not-for-logs');
    expect(await count('dead')).toBe(1);
  });

  it('dead-letters a 4xx at once, without retrying', async () => {
    const { send, deadLetters } = start({ gone: '/gone' });
    const id = await send('gone', 'c');
    const letter = await until('dead letter', () => deadLetters.get(id));
    expect(letter).toMatchObject({ status: 404, attempts: 1 });
    expect(receiver.received().filter((r) => r.path.startsWith('/gone'))).toHaveLength(1);
  });

  it('a delivery whose runner was killed twice during its try is tried again, not lost', async () => {
    const { spawn } = await import('node:child_process');
    const { createServer } = await import('node:http');
    // The receiver hangs until told to answer: a runner killed meanwhile dies with its try in flight.
    let answering = false;
    const tries: number[] = [];
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        tries.push(answering ? 200 : 0);
        if (answering) res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const namespace = uniqueNamespace('dl');
    const timing = { lockMs: 500, stalledIntervalMs: 300 };
    const sinkOptions = { url, secret: SECRET, attempts: 3, backoffMs: 100, timeoutMs: 30_000 };
    // A runner's delivery worker in a process of its own, to be SIGKILLed.
    const runnerProcess = () =>
      spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { startDeliveryWorker, WebhookResultSink, DeliveryDeadLetterStore } from '@agora/deliveries';
           import { createRedis } from '@agora/state';
           const [redisUrl, namespace, options, timing] = process.argv.slice(1);
           const sink = new WebhookResultSink(JSON.parse(options));
           const silent = { debug() {}, info() {}, warn() {}, error() {} };
           startDeliveryWorker({ redisUrl, namespace, logger: silent, ...JSON.parse(timing),
             targets: { resultSink: async () => sink, notification: async () => { throw new Error('none'); } },
             deadLetters: new DeliveryDeadLetterStore(createRedis(redisUrl), namespace) });`,
          testRedisUrl(),
          namespace,
          JSON.stringify(sinkOptions),
          JSON.stringify(timing),
        ],
        { cwd: new URL('../../..', import.meta.url), stdio: 'ignore' },
      );
    const sink = new WebhookResultSink(sinkOptions);
    const queue = new DeliveryQueue(redis, namespace);
    const deadLetters = new DeliveryDeadLetterStore(redis, namespace);
    let survivor: { close(): Promise<void> } | undefined;
    try {
      const job: DeliveryJob = { kind: 'result', target: 'hook', result: { runId: 'r-1', itemId: 'twice', state: 'done' } };
      const [id] = await queue.enqueue([{ job, policy: deliveryPolicyOf(sink) }]);
      for (const n of [1, 2]) {
        const child = runnerProcess();
        await until(`try ${n} in flight`, async () => tries.length >= n, 20_000);
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
      // A third runner finds it stalled a second time. Before, BullMQ failed it then (its stall
      // limit is 1), outside any processor: no try, no dead letter, the delivery lost.
      answering = true;
      survivor = startDeliveryWorker({
        redisUrl: testRedisUrl(),
        namespace,
        logger: silent,
        ...timing,
        targets: { resultSink: async () => sink, notification: async (): Promise<NotificationProvider> => Promise.reject(new ValueError('none')) },
        deadLetters,
      });
      await until('delivered by the third runner', async () => tries.includes(200), 20_000);
      await until('its job completed', async () => (await queue.queue.getJob(id!))?.finishedOn !== undefined);
      expect(await (await queue.queue.getJob(id!))!.isCompleted()).toBe(true);
      expect(await deadLetters.list()).toEqual([]);
    } finally {
      await survivor?.close();
      await queue.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 60_000);

  it('gives every delivery its own stable id', () => {
    const job = (itemId: string): DeliveryJob => ({ kind: 'result', target: 't', result: { runId: 'r-1', itemId, state: 'done' } });
    expect(deliveryIdOf(job('a'))).toBe(deliveryIdOf(job('a')));
    expect(deliveryIdOf(job('a'))).not.toBe(deliveryIdOf(job('b')));
    expect(deliveryIdOf(job('a'))).toMatch(/^[0-9a-f]{32}$/);
  });
});
