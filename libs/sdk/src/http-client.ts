import { z } from 'zod';
import {
  IllegalStateError,
  NotFoundError,
  PlanValidationError,
  UnavailableError,
  ValueError,
  assertValidPlan,
  encodeChannelMessage,
  envSecret,
  isItemId,
  assertRunId,
  isTerminalRunState,
  assertDeadLetterId,
  type AgoraError,
  type AgoraEvent,
  type ValidateOptions,
  parseDeadLetterSelector,
  parseMemoPurgeSelector,
  type DeadLetterSelector,
  type MemoPurgeSelector,
} from '@agora/core';
import type { ItemDetail, RunStatus, RunsPage, RunsQuery, SentMessage, StoredDeadLetter } from '@agora/state';
import type { AgoraApi } from './agora-api.js';
import type { ClientRunStatus, WatchOptions } from './client.js';
import { executorsNamedIn } from './deployment.js';
import {
  cancelledSchema,
  deadLetterRecordSchema,
  deadLettersSchema,
  memoEntriesSchema,
  replayedSchema,
  purgedSchema,
  rerunSchema,
  clientRunStatusSchema,
  errorBodySchema,
  itemDetailSchema,
  runStatusSchema,
  runsPageSchema,
  sentMessageSchema,
  streamEventSchema,
  submittedSchema,
} from './http-schemas.js';
import { SseDecoder } from './sse-decoder.js';
import { checkArgument, timeoutMsSchema, validateOptionsSchema, checkOptionFields, checkReplayArguments, checkRerunOptions, checkWatchOptions, listLimitSchema, runsQueryObjectSchema } from './queries.js';
import { ABORTED, unlessAborted } from './abort.js';

export interface AgoraHttpClientOptions {
  /** The dashboard's address (`agora dashboard` prints it), e.g. `https://agora.internal:3000`; a path prefix is kept. */
  readonly url: string;
  /**
   * The API key, sent as `Authorization: Bearer <key>`: scope `read` for status, runs, item and
   * watch; `submit` for submit and cancel. Not needed when the dashboard has no key (loopback only).
   * @default process.env.AGORA_API_KEY
   */
  readonly apiKey?: string | undefined;
  /** Client-side validation before a plan is sent; the server validates it again against its deployment. */
  readonly validate?: ValidateOptions | undefined;
  /**
   * How long a call waits for the dashboard before it rejects with `UnavailableError`. `watch`
   * waits this long for each connection's headers, and goes on reconnecting (resuming after the
   * last event it yielded) until a connection has failed for this long.
   * @default 10000
   */
  readonly timeoutMs?: number | undefined;
  /** Largest response body read; a bigger one is refused. @default 67108864 (64 MiB) */
  readonly maxResponseBytes?: number | undefined;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
/** Largest single SSE event: far above any event of the vocabulary, bounded against a hostile stream. */
const MAX_EVENT_CHARS = 4 * 1024 * 1024;
/** Error bodies are read only this far. */
const MAX_ERROR_BYTES = 64 * 1024;

const optionsSchema = z.strictObject({
  url: z
    .url({ protocol: /^https?$/, error: 'url: an http:// or https:// address of the dashboard' })
    .refine((u) => !/^https?:\/\/[^/]*@/i.test(u), 'url: no user name or password in the address (pass the key as apiKey)'),
  apiKey: z.string().regex(/^\S{1,4096}$/, 'apiKey: 1-4096 characters, no whitespace').optional(),
  timeoutMs: timeoutMsSchema,
  maxResponseBytes: z.number('maxResponseBytes: a positive integer of bytes').int('maxResponseBytes: a positive integer of bytes').positive('maxResponseBytes: a positive integer of bytes').optional(),
  validate: validateOptionsSchema,
});

type Method = 'GET' | 'POST';

/**
 * `AgoraApi` over the dashboard's HTTP API, for a service that cannot reach Redis: the same
 * methods, return types and error classes as `AgoraClient`. Every response is parsed with a zod
 * schema before use. A bad plan throws `PlanValidationError` with its problems (checked here, then
 * by the server against its deployment); a bad id or argument `ValueError`; an unknown run or item
 * `NotFoundError`; a taken run id `IllegalStateError`; a dashboard that does not answer within
 * `timeoutMs`, answers 502-504, or cannot be reached `UnavailableError` (`retryable`); a key the
 * dashboard refuses (401, 403) or an answer that is not the dashboard's `UnavailableError` with
 * `retryable: false`.
 */
export class AgoraHttpClient implements AgoraApi {
  private readonly base: URL;
  private readonly apiKey: string | undefined;
  private readonly validate: ValidateOptions;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  /** Open `watch` streams, aborted by `close`. */
  private readonly streams = new Set<AbortController>();

  constructor(opts: AgoraHttpClientOptions) {
    // An empty key counts as none (an unset variable passed through), as the dashboard counts it.
    if (typeof opts !== 'object' || opts === null) throw new ValueError(`AgoraHttpClient options: an object ({ url, apiKey, … }), got ${opts === null ? 'null' : typeof opts}`);
    const apiKey = opts.apiKey || envSecret('AGORA_API_KEY') || undefined;
    const parsed = optionsSchema.safeParse({ ...opts, apiKey });
    // Strict: a misspelt option (`apikey`, `timeout`) would otherwise be dropped without a word.
    if (!parsed.success) throw new ValueError(`AgoraHttpClient options: ${parsed.error.issues.map((i) => (i.code === 'unrecognized_keys' && i.path.length === 0 ? `unknown option${i.keys.length === 1 ? '' : 's'} ${i.keys.join(', ')}` : i.message)).join('; ')}`);
    const o = parsed.data;
    // Relative request paths resolve under the base only when it ends with "/".
    this.base = new URL(o.url.endsWith('/') ? o.url : `${o.url}/`);
    this.apiKey = o.apiKey;
    this.validate = opts.validate ?? {};
    this.timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxResponseBytes = o.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  }

  /**
   * Validates the plan and sends it (`POST /api/runs`). Returns the run id once the dashboard has
   * put it on the scheduler's inbox. With `runId`, a submission whose answer was lost (an
   * `UnavailableError`) can be checked with `status(runId)` before it is sent again; a second
   * submission under it throws `IllegalStateError`.
   */
  async submit(plan: unknown, opts: { runId?: string } = {}): Promise<string> {
    checkOptionFields(opts, ['runId'], 'submit');
    // Executors only when the caller named them, as over Redis: the deployment's list (a runner's
    // plugged-in executors included) is the server's to check; the built-in default list refused them.
    assertValidPlan(plan, this.validate.executors !== undefined ? this.validate : { ...this.validate, executors: executorsNamedIn(plan) });
    if (opts.runId !== undefined) assertRunId(opts.runId);
    const query = opts.runId !== undefined ? `?runId=${encodeURIComponent(opts.runId)}` : '';
    const what = opts.runId !== undefined ? `submit of run "${opts.runId}"` : 'submit';
    const r = await this.call(what, 'POST', `api/runs${query}`, submittedSchema, JSON.stringify(plan));
    return r.runId;
  }

  async status(runId: string): Promise<ClientRunStatus> {
    return this.call(`status of run "${runId}"`, 'GET', runPath(runId), clientRunStatusSchema);
  }

  /** Runs newest first, a page at a time (`GET /api/runs`); filter by state, queue, plan id or creation time. */
  async runs(runsQuery: RunsQuery = {}): Promise<RunsPage> {
    const query = checkArgument(runsQueryObjectSchema, runsQuery, 'runs');
    const q = new URLSearchParams();
    const put = (k: string, v: string | number | undefined): void => {
      if (v !== undefined) q.set(k, String(v));
    };
    put('limit', query.limit);
    put('cursor', query.cursor);
    put('state', query.state);
    put('queue', query.queue);
    put('plan', query.planId);
    put('since', query.sinceMs);
    const text = q.toString();
    return this.call('the runs list', 'GET', `api/runs${text ? `?${text}` : ''}`, runsPageSchema);
  }

  /** One item of a run (`GET /api/runs/:id/items/:item`). */
  async item(runId: string, itemId: string): Promise<ItemDetail> {
    if (!isItemId(itemId)) throw new ValueError(`invalid item id "${String(itemId).slice(0, 80)}"`);
    return this.call(`item "${itemId}" of run "${runId}"`, 'GET', `${runPath(runId)}/items/${encodeURIComponent(itemId)}`, itemDetailSchema);
  }

  /** Cancels a run (`POST /api/runs/:id/cancel`); returns the run state after the request. */
  async cancel(runId: string): Promise<{ runId: string; state: string; running: number }> {
    return this.call(`cancel of run "${runId}"`, 'POST', `${runPath(runId)}/cancel`, cancelledSchema, '{}');
  }

  /** Reruns an ended run (`POST /api/runs/:id/rerun`, scope `submit`): see `AgoraClient.rerun`. */
  async rerun(runId: string, opts: { fromFailed?: boolean; runId?: string } = {}): Promise<{ runId: string; rerunOf: string; fromFailed: boolean }> {
    checkRerunOptions(opts);
    checkOptionFields(opts, ['fromFailed', 'runId'], 'rerun');
    if (opts.runId !== undefined) assertRunId(opts.runId);
    const body = { fromFailed: opts.fromFailed === true, ...(opts.runId !== undefined ? { runId: opts.runId } : {}) };
    return this.call(`rerun of run "${runId}"`, 'POST', `${runPath(runId)}/rerun`, rerunSchema, JSON.stringify(body));
  }

  /** Dead-letter records, newest first: all or one run's, at most `limit` (`GET /api/dlq`, scope `admin`). */
  async deadLetters(opts: { runId?: string; limit?: number } = {}): Promise<StoredDeadLetter[]> {
    checkOptionFields(opts, ['runId', 'limit'], 'deadLetters');
    if (opts.runId !== undefined) assertRunId(opts.runId);
    checkArgument(listLimitSchema, opts.limit, 'deadLetters');
    const q = new URLSearchParams();
    if (opts.runId !== undefined) q.set('run', opts.runId);
    if (opts.limit !== undefined) q.set('limit', String(opts.limit));
    const query = q.size > 0 ? `?${q.toString()}` : '';
    return (await this.call('dead letters', 'GET', `api/dlq${query}`, deadLettersSchema)).deadLetters;
  }

  /** One dead-letter record (`<runId>.<itemId>`; `GET /api/dlq/:id`, scope `admin`); `NotFoundError` when there is none. */
  async deadLetter(id: string): Promise<StoredDeadLetter> {
    assertDeadLetterId(id);
    return this.call(`dead letter "${id}"`, 'GET', `api/dlq/${encodeURIComponent(id)}`, deadLetterRecordSchema);
  }

  /**
   * Runs dead items again in a new run (`POST /api/dlq/:id/replay` for `{ id }`, `POST
   * /api/dlq/replay` for `{ runId, all? }`; scope `admin`). The same answer and errors as over
   * Redis: `IllegalStateError` for a letter replayed already (unless `force`), `NotFoundError`
   * when there is nothing to replay.
   */
  async replayDeadLetters(sel: { id: string } | { runId: string; all?: boolean }, opts: { force?: boolean } = {}): Promise<{ runId: string; letters: string[]; items: string[] }> {
    checkReplayArguments(sel, opts);
    const force = opts.force === true ? { force: true } : {};
    if ('id' in sel) {
      assertDeadLetterId(sel.id);
      return this.call(`replay of dead letter "${sel.id}"`, 'POST', `api/dlq/${encodeURIComponent(sel.id)}/replay`, replayedSchema, JSON.stringify(force));
    }
    assertRunId(sel.runId);
    const body = { runId: sel.runId, ...(sel.all === true ? { all: true } : {}), ...force };
    return this.call(`replay of run "${sel.runId}"'s dead letters`, 'POST', 'api/dlq/replay', replayedSchema, JSON.stringify(body));
  }

  /** Deletes dead letters: one (`{ id }`), a run's (`{ runId }`) or all (`{ all: true }`); `POST /api/dlq/purge`, scope `admin`. Returns how many. */
  async purgeDeadLetters(sel: DeadLetterSelector): Promise<number> {
    const checked = parseDeadLetterSelector(sel);
    return (await this.call('purge of dead letters', 'POST', 'api/dlq/purge', purgedSchema, JSON.stringify(checked))).purged;
  }

  /** The memo cache's entries, newest first (`GET /api/memo`, scope `admin`). */
  async memoEntries(opts: { limit?: number } = {}): Promise<Array<{ key: string; runId: string; itemId: string; resultRef: string; at: string }>> {
    checkOptionFields(opts, ['limit'], 'memoEntries');
    checkArgument(listLimitSchema, opts.limit, 'memoEntries');
    const q = opts.limit !== undefined ? `?limit=${encodeURIComponent(String(opts.limit))}` : '';
    return (await this.call('memo cache entries', 'GET', `api/memo${q}`, memoEntriesSchema)).entries;
  }

  /** Deletes memo-cache entries by key, or all (`POST /api/memo/purge`, scope `admin`); returns how many. */
  async purgeMemo(sel: MemoPurgeSelector): Promise<number> {
    const checked = parseMemoPurgeSelector(sel);
    return (await this.call('purge of memo cache entries', 'POST', 'api/memo/purge', purgedSchema, JSON.stringify(checked))).purged;
  }

  /**
   * Sends a message to an item (`POST /api/runs/:id/items/:item/messages`, body `{ message }`);
   * checked here first (ids, JSON, 64 KiB). The same answer and errors as over Redis.
   */
  async send(runId: string, itemId: string, message: unknown): Promise<SentMessage> {
    if (!isItemId(itemId)) throw new ValueError(`invalid item id "${String(itemId).slice(0, 80)}"`);
    const path = `${runPath(runId)}/items/${encodeURIComponent(itemId)}/messages`;
    const encoded = encodeChannelMessage(message);
    return this.call(`message to item "${itemId}" of run "${runId}"`, 'POST', path, sentMessageSchema, `{"message":${encoded.line}}`);
  }

  /**
   * Yields the run's events in seq order from `fromSeq` over Server-Sent Events
   * (`GET /api/runs/:id/events`) and ends after the run's terminal event. A dropped connection is
   * opened again after the last event yielded (`Last-Event-ID`), without gaps or duplicates, until
   * connections have failed for `timeoutMs` in a row: then `UnavailableError`. `pollMs` is the
   * Redis transport's and is not used here.
   */
  async *watch(runId: string, opts: WatchOptions = {}): AsyncGenerator<AgoraEvent> {
    const path = `${runPath(runId)}/events`;
    checkOptionFields(opts, ['fromSeq', 'signal', 'pollMs'], 'watch');
    checkWatchOptions(opts);
    let next = opts.fromSeq ?? 0;
    let failingSince: number | undefined;
    let backoffMs = 250;
    /** A connection failed: wait and go on, or give up once connections have failed for `timeoutMs`. */
    const failed = async (err: unknown): Promise<void> => {
      if (!(err instanceof UnavailableError) || !err.retryable) throw err;
      failingSince ??= Date.now();
      if (Date.now() - failingSince >= this.timeoutMs) throw err;
      await sleep(backoffMs, opts.signal);
      backoffMs = Math.min(backoffMs * 2, 2000);
    };
    for (;;) {
      if (opts.signal?.aborted) return;
      const ac = new AbortController();
      const onAbort = (): void => ac.abort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.streams.add(ac);
      try {
        const headers: Record<string, string> = { Accept: 'text/event-stream' };
        if (next > 0) headers['Last-Event-ID'] = String(next - 1);
        let res: Response;
        // Headers within timeoutMs (a dashboard that took the connection and never answered held
        // watch forever); the stream itself then lives as long as the run, so only until then.
        const headersLate = setTimeout(() => ac.abort(new DOMException(`no answer within ${this.timeoutMs} ms`, 'TimeoutError')), this.timeoutMs);
        try {
          res = await this.request(`events of run "${runId}"`, 'GET', path, { headers, signal: ac.signal });
        } catch (err) {
          if (opts.signal?.aborted) return;
          await failed(err);
          continue;
        } finally {
          clearTimeout(headersLate);
        }
        const decoder = new SseDecoder(MAX_EVENT_CHARS);
        const body = res.body;
        if (!body) throw this.protocolError(`events of run "${runId}"`, 'no body');
        const reader = body.pipeThrough(new TextDecoderStream()).getReader();
        let streamError: unknown;
        for (;;) {
          let chunk: Awaited<ReturnType<typeof reader.read>> | typeof ABORTED;
          try {
            // Raced against the signal too: the fetch's abort reaches the body through a pipe.
            chunk = await unlessAborted(reader.read(), opts.signal);
          } catch (err) {
            streamError = err;
            break;
          }
          if (chunk === ABORTED) {
            void reader.cancel().catch(() => undefined);
            return;
          }
          if (chunk.done) break;
          let messages;
          try {
            messages = decoder.push(chunk.value);
          } catch (err) {
            throw this.protocolError(`events of run "${runId}"`, (err as Error).message);
          }
          for (const m of messages) {
            if (m.event === 'error') {
              // The server's reader failed (Redis away): the stream ends; resume after what we have.
              streamError = new UnavailableError(`the dashboard could not read the events of run "${runId}": ${serverMessage(m.data)}`);
              continue;
            }
            const e = this.parseEvent(runId, m.data);
            if (e.seq < next) continue; // already yielded before a reconnect
            if (e.seq > next) throw this.protocolError(`events of run "${runId}"`, `event seq ${e.seq} where ${next} was due`);
            failingSince = undefined;
            backoffMs = 250;
            yield e;
            next = e.seq + 1;
            if (e.type === 'run' && isTerminalRunState(e.state)) return;
          }
        }
        if (opts.signal?.aborted) return;
        if (streamError !== undefined) {
          await failed(streamError instanceof UnavailableError ? streamError : this.unreachable(`events of run "${runId}"`, streamError));
          continue;
        }
        // The server ends a stream at once when the run ended before `next` (a rejected run, or a
        // resume past its terminal event); otherwise it was shutting down: connect again.
        const s = await this.status(runId);
        if (isTerminalRunState(s.state) && 'events' in s && next >= s.events) return;
        await failed(new UnavailableError(`the event stream of run "${runId}" ended before the run did`));
      } finally {
        opts.signal?.removeEventListener('abort', onAbort);
        this.streams.delete(ac);
        ac.abort();
      }
    }
  }

  /** Waits for the run to end; returns its final status. */
  async wait(runId: string, opts: { signal?: AbortSignal } = {}): Promise<RunStatus> {
    checkOptionFields(opts, ['signal'], 'wait');
    for await (const _ of this.watch(runId, opts.signal ? { signal: opts.signal } : {})) {
      // drain
    }
    opts.signal?.throwIfAborted();
    return this.call(`status of run "${runId}"`, 'GET', runPath(runId), runStatusSchema);
  }

  /** Ends the open `watch` streams. Nothing else is held between calls. */
  close(): Promise<void> {
    for (const ac of this.streams) ac.abort();
    this.streams.clear();
    return Promise.resolve();
  }

  /** One request and its JSON answer, parsed with `schema`; settles within `timeoutMs`. */
  private async call<T>(what: string, method: Method, path: string, schema: z.ZodType<T>, body?: string): Promise<T> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    const res = await this.request(what, method, path, { signal, ...(body !== undefined ? { body } : {}) });
    let text: string;
    try {
      text = await readText(res, this.maxResponseBytes);
    } catch (err) {
      throw err instanceof ValueError ? this.protocolError(what, err.message) : this.unreachable(what, err);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw this.protocolError(what, 'the body is not JSON');
    }
    const r = schema.safeParse(json);
    if (!r.success) throw this.protocolError(what, describeIssues(r.error.issues));
    return r.data;
  }

  /** Sends a request; resolves with a 2xx response, else throws the error its status maps to. */
  private async request(what: string, method: Method, path: string, init: { body?: string; headers?: Record<string, string>; signal: AbortSignal }): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json', ...init.headers };
    if (this.apiKey !== undefined) headers['Authorization'] = `Bearer ${this.apiKey}`;
    if (method === 'POST') headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      // The API never redirects; following one could carry the key elsewhere.
      res = await fetch(new URL(path, this.base), { method, headers, signal: init.signal, redirect: 'error', ...(init.body !== undefined ? { body: init.body } : {}) });
    } catch (err) {
      throw this.unreachable(what, err);
    }
    if (res.ok) return res;
    let text = '';
    try {
      text = await readText(res, MAX_ERROR_BYTES);
    } catch {
      // the status alone says enough
    }
    throw this.errorOf(what, res.status, text);
  }

  /** The error class a dashboard status stands for (the dashboard maps them the other way in apps/dashboard/src/api.ts). */
  private errorOf(what: string, status: number, text: string): AgoraError {
    let body: z.infer<typeof errorBodySchema> | undefined;
    try {
      const r = errorBodySchema.safeParse(JSON.parse(text));
      if (r.success) body = r.data;
    } catch {
      // not JSON: a proxy's page
    }
    const message = body?.message ?? `${status}${body ? ` ${body.error}` : ''}`;
    const at = `the dashboard at ${this.base.origin}`;
    switch (status) {
      case 400:
      case 413:
        return new ValueError(`${what}: ${message}`);
      case 401:
        return new UnavailableError(`${at} refused the API key (${what}): ${message}; pass apiKey (or set AGORA_API_KEY)`, { retryable: false });
      case 403:
        return new UnavailableError(`${at} refused ${what}: ${message}`, { retryable: false });
      case 404:
        // NotFoundError only for the dashboard's answer about a run, item, letter or artifact: its
        // "no route" (a url whose path it does not serve) or a proxy's page says the address is
        // wrong, not that the run is unknown (a caller would submit again a run that exists).
        if (!body) return this.protocolError(what, `404 without the dashboard's error body (check the url ${this.base.href})`);
        if (body.message?.startsWith('no route ')) return new UnavailableError(`${at} does not serve ${body.message.slice('no route '.length)} (${what}): check the url ${this.base.href}`, { retryable: false });
        return new NotFoundError(message);
      case 409:
        return new IllegalStateError(message);
      case 422:
        return body?.problems ? new PlanValidationError(body.problems) : this.protocolError(what, `422 without problems`);
      case 502:
      case 503:
      case 504:
        // Not the dashboard's trouble but the call's, as over Redis: the same words, not retryable.
        if (body?.retryable === false) return new UnavailableError(message, { retryable: false });
        return new UnavailableError(`${at} is unavailable (${what}): ${message}`);
      default:
        return new UnavailableError(`${at} answered ${status} (${what}): ${message}`, { retryable: false });
    }
  }

  private unreachable(what: string, err: unknown): UnavailableError {
    if (err instanceof DOMException && err.name === 'TimeoutError') {
      return new UnavailableError(`the dashboard at ${this.base.origin} did not answer within ${this.timeoutMs} ms (${what})`, { cause: err });
    }
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
    const detail = cause instanceof Error ? cause.message : String(cause);
    return new UnavailableError(`the dashboard at ${this.base.origin} could not be reached (${what}): ${detail}`, { cause: err });
  }

  /** An answer that is not the dashboard's API: the wrong address, or a proxy in the way. */
  private protocolError(what: string, detail: string): UnavailableError {
    return new UnavailableError(`${this.base.origin} did not answer as an Agora dashboard (${what}): ${detail}`, { retryable: false });
  }

  private parseEvent(runId: string, data: string): AgoraEvent {
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      throw this.protocolError(`events of run "${runId}"`, 'an event is not JSON');
    }
    const r = streamEventSchema.safeParse(json);
    if (!r.success) throw this.protocolError(`events of run "${runId}"`, `an event is not of the vocabulary: ${describeIssues(r.error.issues)}`);
    if (r.data.runId !== runId) throw this.protocolError(`events of run "${runId}"`, `an event of run "${r.data.runId}"`);
    return r.data;
  }
}

/** `api/runs/<id>`; the id is checked first: it becomes a path segment (".." would climb). */
function runPath(runId: string): string {
  assertRunId(runId);
  return `api/runs/${encodeURIComponent(runId)}`;
}

/** The body as text, refused past `max` bytes (a `ValueError`) without reading the rest. */
async function readText(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > max) {
    await res.body?.cancel();
    throw new ValueError(`the answer is ${declared} bytes, over the ${max} read`);
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw new ValueError(`the answer is over the ${max} bytes read`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The first few problems, each with its path; a union's are those of its first branch (a status, not `submitted`). */
function describeIssues(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): string {
  const lines: string[] = [];
  for (const i of issues.slice(0, 3)) {
    const path = [...prefix, ...i.path];
    const first = i.code === 'invalid_union' ? i.errors[0] : undefined;
    lines.push(first?.length ? describeIssues(first, path) : `${path.map(String).join('.') || 'body'}: ${i.message}`);
  }
  return lines.join('; ');
}

function serverMessage(data: string): string {
  try {
    const r = z.object({ message: z.string().max(4096) }).safeParse(JSON.parse(data));
    return r.success ? r.data.message : 'no message';
  } catch {
    return 'no message';
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
