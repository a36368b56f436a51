import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INBOX_QUEUE } from '@agora/core';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { AgoraHttpClient, IllegalStateError, NotFoundError, PlanValidationError, UnavailableError, ValueError, createAgoraClient, type AgoraApi, type AgoraEvent } from '@agora/sdk';
import { startCluster, silent, type TestCluster } from '../../../test/support/cluster.js';

/** Issue 16, part 4: the SDK over the dashboard's HTTP API returns what the Redis transport returns. */

const KEY = 'sdk-http-key-0123456789abcdef';
let cluster: TestCluster;
let dash: Dashboard;
let client: AgoraHttpClient;
const servers: http.Server[] = [];

beforeAll(async () => {
  cluster = await startCluster({ runners: 1 });
  dash = await createDashboard({ config: cluster.config, port: 0, logger: silent, apiKey: KEY });
  client = new AgoraHttpClient({ url: dash.url, apiKey: KEY });
});
afterAll(async () => {
  await client?.close();
  for (const s of servers) s.close();
  await dash?.close();
  await cluster?.close();
});

const item = (id: string, inputs: Record<string, unknown> = {}, depends_on: string[] = []): Record<string, unknown> => ({ id, executor: 'noop', inputs, depends_on, resourceLocks: [] });
const plan = { id: 'http-sdk', queue: 'default', items: [item('a'), item('b', { fail: 'no good' }, ['a']), item('c', {}, ['b'])] };

async function collect(api: AgoraApi, runId: string, from: number | { fromSeq?: number; pollMs?: number } = 0): Promise<AgoraEvent[]> {
  const out: AgoraEvent[] = [];
  for await (const e of api.watch(runId, typeof from === 'number' ? { fromSeq: from } : from)) out.push(e);
  return out;
}

/** A server on a free loopback port; `handle` answers every request. */
async function serve(handle: http.RequestListener): Promise<string> {
  const s = http.createServer(handle);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

describe('AgoraHttpClient', () => {
  it('refuses the same bad arguments as the Redis transport, with ValueError, and deletes nothing', async () => {
    // Before, the Redis transport listed, returned or (purges) deleted everything for these.
    const runId = await cluster.client.submit(plan);
    await cluster.client.wait(runId);
    const letters = (await cluster.client.deadLetters({ runId })).length;
    expect(letters).toBe(1);
    for (const [name, api] of [['redis', cluster.client], ['http', client]] as Array<[string, AgoraApi]>) {
      for (const sel of [{}, { all: false }, { id: `${runId}.b`, all: true }]) {
        await expect(api.purgeDeadLetters(sel as never), `${name} purgeDeadLetters ${JSON.stringify(sel)}`).rejects.toBeInstanceOf(ValueError);
      }
      for (const sel of [{}, { all: false }, { keys: [] }]) {
        await expect(api.purgeMemo(sel as never), `${name} purgeMemo ${JSON.stringify(sel)}`).rejects.toBeInstanceOf(ValueError);
      }
      for (const q of [{ limit: 0 }, { limit: 501 }, { limit: 1.5 }, { state: 'bogus' }, { queue: 'BAD QUEUE' }, { nope: 1 }]) {
        await expect(api.runs(q as never), `${name} runs ${JSON.stringify(q)}`).rejects.toBeInstanceOf(ValueError);
      }
      for (const limit of [0, -1, 1.5, 1e9]) {
        await expect(api.deadLetters({ limit }), `${name} deadLetters ${limit}`).rejects.toBeInstanceOf(ValueError);
        await expect(api.memoEntries({ limit }), `${name} memoEntries ${limit}`).rejects.toBeInstanceOf(ValueError);
      }
      await expect(api.item(runId, 'bad..x'), `${name} item`).rejects.toBeInstanceOf(ValueError);
      // Over Redis, -1 and 1.5 reached XREAD as stream ids (a raw ReplyError) and "2" was taken.
      for (const o of [{ fromSeq: -1 }, { fromSeq: 1.5 }, { fromSeq: '2' }, { pollMs: 0 }, { pollMs: 1.5 }]) {
        await expect(collect(api, runId, o as never), `${name} watch ${JSON.stringify(o)}`).rejects.toBeInstanceOf(ValueError);
      }
      // A replay selector is exactly { id } or { runId, all? } (null was a TypeError, { id, runId } replayed).
      for (const [sel, opts] of [[null, {}], ['x', {}], [{ id: `${runId}.b`, runId }, {}], [{ runId, all: 'yes' }, {}], [{ id: `${runId}.b` }, { force: 'yes' }], [{ id: `${runId}.b` }, null]]) {
        await expect(api.replayDeadLetters(sel as never, opts as never), `${name} replayDeadLetters ${JSON.stringify([sel, opts])}`).rejects.toBeInstanceOf(ValueError);
      }
      // A misspelt option is refused, not dropped (submit under a fresh id, every run's letters).
      await expect(api.submit(plan, { runid: 'rtypo1' } as never), `${name} submit runid`).rejects.toBeInstanceOf(ValueError);
      await expect(api.submit(plan, null as never), `${name} submit null`).rejects.toBeInstanceOf(ValueError);
      await expect(api.deadLetters({ run: runId } as never), `${name} deadLetters run`).rejects.toBeInstanceOf(ValueError);
      await expect(api.memoEntries({ lim: 1 } as never), `${name} memoEntries lim`).rejects.toBeInstanceOf(ValueError);
      await expect(collect(api, runId, { from: 2 } as never), `${name} watch from`).rejects.toBeInstanceOf(ValueError);
      await expect(api.rerun(runId, { fromfailed: true } as never), `${name} rerun fromfailed`).rejects.toBeInstanceOf(ValueError);
      // rerun's fromFailed is a boolean ("yes" was taken as false and reran everything).
      for (const o of [{ fromFailed: 'yes' }, { fromFailed: 1 }, null, { runId: 'bad id!' }]) {
        await expect(api.rerun(runId, o as never), `${name} rerun ${JSON.stringify(o)}`).rejects.toBeInstanceOf(ValueError);
      }
      // sinceMs as the text form takes it (an integer of epoch ms): 1e20 was refused by one transport only.
      for (const sinceMs of [1e20, -1, 1.5]) {
        await expect(api.runs({ sinceMs }), `${name} runs sinceMs ${sinceMs}`).rejects.toBeInstanceOf(ValueError);
      }
    }
    expect(await cluster.client.deadLetters({ runId })).toEqual([expect.not.objectContaining({ replayedBy: expect.anything() })]);
    expect((await cluster.client.deadLetters({ runId })).length).toBe(letters);
  });

  it('submits, watches, waits and reads status, runs and an item exactly as the Redis transport does', async () => {
    const runId = await client.submit(plan);
    const events = await collect(client, runId);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));
    expect(events.at(-1)).toMatchObject({ type: 'run', state: 'failed', done: 1, failed: 1, skipped: 1 });
    expect(events).toEqual(await collect(cluster.client, runId));
    // Resuming past a point yields the rest; resuming past the end yields nothing and ends.
    expect(await collect(client, runId, 3)).toEqual(events.slice(3));
    expect(await collect(client, runId, events.length)).toEqual([]);

    // wait answers with the status, which says why items did not succeed.
    const final = await client.wait(runId);
    expect(final).toEqual(await cluster.client.status(runId));
    // Over Redis too (its wait left out the items' error, errorCode and exitCode).
    expect(await cluster.client.wait(runId)).toEqual(final);
    expect(await client.status(runId)).toEqual(await cluster.client.status(runId));
    const failed = await client.item(runId, 'b');
    expect(failed).toMatchObject({ itemId: 'b', state: 'failed', error: 'no good', errorCode: 'APPLICATION', exitCode: 1, attempts: 1 });
    expect(failed).toEqual(await cluster.client.item(runId, 'b'));
    const page = await client.runs({ state: 'failed', limit: 5 });
    expect(page.runs.map((r) => r.runId)).toContain(runId);
    expect(page).toEqual(await cluster.client.runs({ state: 'failed', limit: 5 }));
  });

  it('the status of a run rejected at acceptance says why (problems) on both transports and GET /api/runs/:id', async () => {
    // An unknown task passes the Redis transport's submit; the scheduler rejects the run. Before,
    // its status had no word of why (only its run event and the console's graph held it).
    const runId = await cluster.client.submit({ id: 'ghostly', queue: 'default', items: [{ id: 'a', executor: 'dispatch', inputs: { task: 'ghost' } }] });
    const final = await cluster.client.wait(runId);
    expect(final).toMatchObject({ state: 'rejected', problems: [expect.stringContaining('ghost')] });
    const events = await cluster.client.events(runId);
    const rejected = events.find((e) => e.type === 'run' && e.state === 'rejected') as { problems: string[] } | undefined;
    expect(final).toMatchObject({ problems: rejected!.problems });
    expect(await cluster.client.status(runId)).toEqual(final);
    expect(await client.status(runId)).toEqual(final);
    expect(await client.wait(runId)).toEqual(final);
    const res = await fetch(`${dash.url}/api/runs/${runId}`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(await res.json()).toEqual(final);
    // An accepted run's status has no problems field.
    const ok = await cluster.client.submit({ id: 'fine', queue: 'default', items: [item('a')] });
    expect(await client.wait(ok)).not.toHaveProperty('problems');
  });

  it('maps refusals to the Redis transport error classes', async () => {
    // A plan that cannot be valid is refused before anything is sent.
    const selfDep = { ...plan, items: [item('a', {}, ['a'])] };
    const local = await client.submit(selfDep).catch((e: unknown) => e);
    expect(local).toBeInstanceOf(PlanValidationError);
    expect((local as PlanValidationError).problems).toEqual(['items[0] ("a"): depends_on[0]: item depends on itself']);
    // One the deployment does not serve is refused by the server (422) with its problems.
    const remote = await client.submit({ ...plan, queue: 'nowhere' }).catch((e: unknown) => e);
    expect(remote).toBeInstanceOf(PlanValidationError);
    expect((remote as PlanValidationError).problems.join('\n')).toContain('nowhere');

    const runId = 'rhttpsdk' + String(Date.now());
    expect(await client.submit(plan, { runId })).toBe(runId);
    await expect(client.submit(plan, { runId })).rejects.toThrow(IllegalStateError);
    await expect(client.submit(plan, { runId })).rejects.toThrow(`run "${runId}" already exists`);
    await client.wait(runId);
    // A misspelt parameter is refused, not ignored (it would submit under a fresh id).
    const misspelt = await fetch(`${dash.url}/api/runs?runid=${runId}x`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(plan) });
    expect(misspelt.status).toBe(400);

    await expect(client.status('rnosuchrun')).rejects.toThrow(NotFoundError);
    await expect(client.item(runId, 'zz')).rejects.toThrow(NotFoundError);
    await expect(collect(client, 'rnosuchrun')).rejects.toThrow(NotFoundError);
    // Ids become path segments: a bad one is refused before a request is made.
    await expect(client.status('../queues')).rejects.toThrow(ValueError);
    await expect(client.runs({ state: 'sideways' })).rejects.toThrow(ValueError);

    const noKey = new AgoraHttpClient({ url: dash.url, apiKey: 'wrong-key-0123456789abcdef' });
    const refused = await noKey.status(runId).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UnavailableError);
    expect(refused).toMatchObject({ code: 'UNAVAILABLE', retryable: false });
    expect((refused as Error).message).toContain('refused the API key');
    expect((refused as Error).message).not.toContain('wrong-key');
  });

  it('watch refuses an unknown run (NotFoundError) and a bad fromSeq (ValueError) on both transports', async () => {
    // Before, the Redis transport polled an unknown run forever and passed fromSeq -1 or 1.5 to
    // XREAD, which answered with a raw ReplyError.
    const runId = await cluster.client.submit(plan);
    await cluster.client.wait(runId);
    for (const [name, api] of [['redis', cluster.client], ['http', client]] as Array<[string, AgoraApi]>) {
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), 5000);
      const unknown = await (async () => {
        for await (const _ of api.watch('rnosuchrun2', { signal: ac.signal })) return 'yielded';
        return ac.signal.aborted ? 'hung' : 'ended';
      })().catch((e: unknown) => e);
      clearTimeout(timer);
      expect(unknown, `${name} watch of an unknown run`).toBeInstanceOf(NotFoundError);
      await expect(api.wait('rnosuchrun2'), `${name} wait`).rejects.toThrow(NotFoundError);
      for (const fromSeq of [-1, 1.5, Number.NaN]) {
        await expect(collect(api, runId, fromSeq), `${name} fromSeq ${fromSeq}`).rejects.toThrow(ValueError);
      }
    }
  });

  it('watch, wait and status of a submission the scheduler gave up on reject (UnavailableError, not retryable) instead of waiting forever', async () => {
    // An inbox job failed for good (here: data the scheduler refuses) records no run. Before, the
    // Redis transport's watch and wait polled it forever and status said "submitted".
    const runId = 'rgaveupon1';
    const inbox = new Queue(INBOX_QUEUE, { connection: { url: cluster.config.redisUrl }, prefix: cluster.scheduler.store.keys.bullPrefix });
    const job = await inbox.add('submission', { runId }, { jobId: runId });
    for (let i = 0; i < 200 && !(await job.isFailed()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await job.isFailed(), 'the scheduler refused the job').toBe(true);
    await inbox.close();
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 5000);
    const watched = await (async () => {
      for await (const _ of cluster.client.watch(runId, { signal: ac.signal, pollMs: 100 })) return 'yielded';
      return ac.signal.aborted ? 'hung' : 'ended';
    })().catch((e: unknown) => e);
    clearTimeout(timer);
    expect(watched).toBeInstanceOf(UnavailableError);
    expect((watched as UnavailableError).retryable).toBe(false);
    expect((watched as Error).message).toContain(`run "${runId}" was submitted but never accepted`);
    await expect(cluster.client.wait(runId)).rejects.toThrow(UnavailableError);
    await expect(cluster.client.status(runId)).rejects.toThrow(/never accepted/);
    // Over HTTP the same: the dashboard answers from the same client.
    const httpWatched = await (async () => {
      for await (const _ of client.watch(runId)) return 'yielded';
      return 'ended';
    })().catch((e: unknown) => e);
    expect(String(httpWatched)).toContain('never accepted');
    await expect(client.status(runId)).rejects.toThrow(/never accepted/);
    // Not retryable over HTTP either (the 503 said retryable: true: "try again" to a call that fails the same way).
    expect(httpWatched).toBeInstanceOf(UnavailableError);
    expect(httpWatched).toMatchObject({ retryable: false });
    const overRedis = (await cluster.client.status(runId).catch((e: unknown) => e)) as Error;
    expect(await client.status(runId).catch((e: unknown) => e)).toMatchObject({ retryable: false, message: overRedis.message });
    expect(await client.wait(runId).catch((e: unknown) => e)).toMatchObject({ retryable: false });
  });

  it('cancels a run through createAgoraClient({ http })', async () => {
    const api = createAgoraClient({ http: { url: dash.url, apiKey: KEY } });
    const runId = await api.submit({ id: 'slow', queue: 'default', items: [item('z', { sleepMs: 30_000 })] });
    for await (const e of api.watch(runId)) if (e.type === 'item' && e.state === 'running') break;
    const c = await api.cancel(runId);
    expect(c.runId).toBe(runId);
    expect((await api.wait(runId)).state).toBe('cancelled');
    await api.close();
  });

  it('wait with an aborted signal rejects with its reason over both transports (over Redis it returned a status that was not final)', async () => {
    const runId = await cluster.client.submit({ id: 'slow-wait', queue: 'default', items: [item('z', { sleepMs: 30_000 })] });
    for (const [name, api] of [['redis', cluster.client], ['http', client]] as Array<[string, AgoraApi]>) {
      const signal = AbortSignal.timeout(300);
      const err = await api.wait(runId, { signal }).catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(DOMException);
      expect((err as DOMException).name, name).toBe('TimeoutError');
    }
    await cluster.client.cancel(runId);
    expect((await client.wait(runId)).state).toBe('cancelled');
  });

  it('an abort ends a watch in the middle of a read, not when the next event comes (over Redis it waited out its blocking read)', async () => {
    // pollMs beyond the run's length: before, the Redis watch saw its signal only after XREAD
    // returned, here with the item's end 20 s later.
    const runId = await cluster.client.submit({ id: 'slow-watch', queue: 'default', items: [item('z', { sleepMs: 20_000 })] });
    for (const [name, api] of [['redis', cluster.client], ['http', client]] as Array<[string, AgoraApi]>) {
      const ac = new AbortController();
      const seen: string[] = [];
      const ended = (async () => {
        for await (const e of api.watch(runId, { signal: ac.signal, pollMs: 60_000 })) {
          seen.push(e.type === 'item' ? `item ${e.state}` : e.type);
          if (e.type === 'item' && e.state === 'running') setTimeout(() => ac.abort(), 300); // while the next read waits
        }
      })();
      await ended;
      expect(seen, name).toContain('item running');
      expect((await cluster.client.status(runId)).state, `${name}: the watch ended while the run still ran`).toBe('running');
    }
    await cluster.client.cancel(runId);
    expect((await client.wait(runId)).state).toBe('cancelled');
  });

  it('resumes a dropped event stream after the last event it yielded, without gaps or duplicates', async () => {
    const runId = await cluster.client.submit(plan);
    await cluster.client.wait(runId);
    const all = await collect(cluster.client, runId);
    // In front of the dashboard: the first stream is cut after two events; later ones pass through.
    const lastEventIds: Array<string | undefined> = [];
    const url = await serve((req, res) => {
      const last = req.headers['last-event-id'];
      lastEventIds.push(Array.isArray(last) ? last.join(',') : last);
      if (lastEventIds.length === 1) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const e of all.slice(0, 2)) res.write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
        setTimeout(() => res.destroy(), 50);
        return;
      }
      const up = http.request(`${dash.url}${req.url ?? ''}`, { headers: { ...req.headers, host: new URL(dash.url).host } }, (u) => {
        res.writeHead(u.statusCode ?? 502, u.headers);
        u.pipe(res);
      });
      up.end();
    });
    const proxied = new AgoraHttpClient({ url, apiKey: KEY });
    expect(await collect(proxied, runId)).toEqual(all);
    expect(lastEventIds).toEqual([undefined, '1']);
  });

  it('answers UnavailableError for a dashboard that is down, and for a server that is not one', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const down = new AgoraHttpClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 1500 });
    const err = await down.status('rsomething').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err).toMatchObject({ retryable: true });
    expect((err as Error).message).toContain(`could not be reached (status of run "rsomething")`);
    // watch keeps reconnecting for timeoutMs, then gives up with the same error.
    await expect(collect(down, 'rsomething')).rejects.toThrow(UnavailableError);

    // A dashboard that takes the connection and never answers: watch gives up after timeoutMs (it hung).
    const silentServer = await serve(() => undefined);
    const started = Date.now();
    const hung = await collect(new AgoraHttpClient({ url: silentServer, timeoutMs: 500 }), 'rsomething').catch((e: unknown) => e);
    expect(hung).toBeInstanceOf(UnavailableError);
    expect((hung as Error).message).toContain('did not answer within 500 ms');
    expect(Date.now() - started).toBeLessThan(5000);

    const html = await serve((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>'));
    const wrong = await new AgoraHttpClient({ url: html }).status('rsomething').catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(UnavailableError);
    expect(wrong).toMatchObject({ retryable: false });
    expect((wrong as Error).message).toContain('did not answer as an Agora dashboard');
    const shaped = await serve((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ runId: 'r1', state: 'running' })));
    await expect(new AgoraHttpClient({ url: shaped }).status('r1')).rejects.toThrow(/did not answer as an Agora dashboard.*planId: Invalid input/);
  });

  it('a 404 that is not about a run (a url with a path the dashboard does not serve, a proxy page) is UnavailableError, not NotFoundError', async () => {
    // The dashboard's own "no route": the address is wrong, the run may well exist.
    const runId = await cluster.client.submit(plan);
    const prefixed = new AgoraHttpClient({ url: `${dash.url}/agora`, apiKey: KEY });
    for (const call of [() => prefixed.status(runId), () => prefixed.wait(runId), () => prefixed.cancel(runId), () => collect(prefixed, runId)]) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnavailableError);
      expect(err).toMatchObject({ retryable: false });
      expect((err as Error).message).toMatch(/does not serve .*api\/runs.*check the url/);
    }
    // A proxy's 404 page (HTML) is not the dashboard's answer either.
    const proxy = await serve((_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<html>Not Found</html>'));
    const page = await new AgoraHttpClient({ url: proxy }).status(runId).catch((e: unknown) => e);
    expect(page).toBeInstanceOf(UnavailableError);
    expect(page).toMatchObject({ retryable: false });
    // The dashboard's 404 for an unknown run stays NotFoundError.
    await expect(client.status('rnosuchrun404')).rejects.toThrow(NotFoundError);
    await cluster.client.wait(runId);
  });

  it('refuses options it cannot use', () => {
    expect(() => new AgoraHttpClient({ url: 'ftp://example.org' })).toThrow(ValueError);
    expect(() => new AgoraHttpClient({ url: 'http://user:pw@example.org' })).toThrow('no user name or password');
    expect(() => new AgoraHttpClient({ url: 'http://127.0.0.1:1', apiKey: 'has space' })).toThrow('apiKey');
  });

  it('createAgoraClient checks its options with ValueError before connecting', () => {
    // Each was a TypeError, or silently went to the other transport / a default / dropped the option.
    const bad: unknown[] = [
      null,
      'http://127.0.0.1:1',
      { http: undefined },
      { http: null },
      { http: { url: 'http://127.0.0.1:1' }, redisUrl: 'redis://127.0.0.1:1' },
      { url: 'http://127.0.0.1:1' },
      { redisURL: 'redis://127.0.0.1:1' },
      { redisUrl: 6379 },
      { namespace: 'Bad Namespace' },
      { timeoutMs: '5' },
      // Past what a timer can wait: Node fired it after 1 ms, so every call failed at once.
      { timeoutMs: 1e12 },
      { http: { url: 'http://127.0.0.1:1', timeoutMs: 2 ** 31 } },
      { http: { url: 'http://127.0.0.1:1', apikey: KEY } },
      { http: { url: 'http://127.0.0.1:1', maxResponseBytes: '5' } },
      // `validate` took any object and dropped its fields: a typo or a string turned the local check off.
      { validate: { queuez: ['default'] } },
      { validate: { queues: 'default' } },
      { http: { url: 'http://127.0.0.1:1', validate: { targetz: ['local'] } } },
      { http: { url: 'http://127.0.0.1:1', validate: { executors: [1] } } },
    ];
    for (const o of bad) expect(() => createAgoraClient(o as never), JSON.stringify(o) ?? String(o)).toThrow(ValueError);
    expect(() => createAgoraClient({ validate: { queuez: ['default'] } } as never)).toThrow('AgoraClient options: validate: unknown field queuez (it takes executors, queues, targets, resultSinks)');
    expect(() => createAgoraClient({ http: { url: 'http://127.0.0.1:1', validate: { queues: 'default' } } } as never)).toThrow('AgoraHttpClient options: validate.queues: a list of names (strings)');
    const ok = createAgoraClient({ http: { url: 'http://127.0.0.1:1', apiKey: KEY, timeoutMs: 2 ** 31 - 1, validate: { queues: ['default'], targets: ['local'], executors: ['noop'], resultSinks: ['stdout'] } } });
    expect(ok).toBeInstanceOf(AgoraHttpClient);
  });
});
