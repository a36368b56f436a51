import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { z } from 'zod';
import { AgoraError, IllegalStateError, NotFoundError, PlanValidationError, RUN_ID_RE, ValueError, deadLetterSelectorSchema, duplicateJsonKey, firstNonUtf8Byte, isItemId, isRunId, memoPurgeSelectorSchema, parseDeadLetterId, type AgoraEvent, type DashboardScope } from '@agora/core';
import type { Artifact, ItemLogs } from '@agora/registry';
import { runsQuerySchema, type AgoraClient, type ItemDetail } from '@agora/sdk';
import { RedisUnavailableError } from '@agora/state';
import { requireJsonBody } from './request-guards.js';
import type { RunEventHub } from './run-event-hub.js';

export interface ApiOptions {
  readonly client: AgoraClient;
  /** Largest request body. @default "32mb" */
  readonly bodyLimit?: string;
  /** Optional audit hook: returns the run's evidence bundle. */
  readonly audit?: (runId: string) => Promise<unknown>;
  /** An item's stored output streams, for `GET /api/runs/:id/items/:item/logs`. */
  readonly itemLogs?: (item: ItemDetail) => Promise<ItemLogs>;
  /** A result by its pinned URI, hash checked, for `GET /api/artifacts?uri=`. */
  readonly artifacts?: (uri: string) => Promise<Artifact>;
  /** The middleware that lets a request through only with `scope` (see auth.ts `requireScope`). */
  readonly authorize: (scope: DashboardScope) => RequestHandler;
  /** The process's shared run event reader, for SSE. */
  readonly events: RunEventHub;
  /** Open SSE streams; more get 503. @default 1000 */
  readonly maxSseClients?: number;
  /** How often an SSE stream with nothing to say gets a comment line. @default SSE_HEARTBEAT_MS */
  readonly sseHeartbeatMs?: number;
  /**
   * Reads a rerun's stored plan (`planRef`) before anything is submitted: throws
   * `IllegalStateError` (409) when it is gone or unusable, as `agora rerun` refuses it.
   */
  readonly rerunPlan?: (runId: string, planRef: string) => Promise<void>;
}

/**
 * An SSE stream of a run that says nothing for minutes (an item sleeping) gets a comment line
 * this often: proxies cut connections idle for 60 s (nginx's proxy_read_timeout, an AWS ALB),
 * and a client gone without a FIN is noticed only on a write, its slot of `maxSseClients` held
 * until then. Clients ignore comment lines (the SSE format).
 */
export const SSE_HEARTBEAT_MS = 15_000;

/**
 * An event seq as text: plain decimal digits, at most 15 of them so that it, and the seq after
 * it, is an exact integer. `Number()` would take "-5", "1e300", "0x10" and " 3", and Redis
 * answered the ids they made with a raw error inside a 200 stream.
 */
const seqText = z.string().regex(/^\d{1,15}$/).transform(Number);

/** Where an SSE stream starts: after `Last-Event-ID` (a browser reconnecting), else at `?from=`, else 0. */
function fromSeqOf(req: Request, res: Response): number | null {
  const last = req.get('last-event-id');
  const from = req.query['from'];
  const [name, text, offset] = last !== undefined ? ['Last-Event-ID', last, 1] : ['from', from, 0];
  if (text === undefined) return 0;
  const parsed = seqText.safeParse(text);
  if (parsed.success) return parsed.data + offset;
  const shown = typeof text === 'string' ? JSON.stringify(text.slice(0, 40)) : 'a list';
  res.status(400).json({ error: 'bad_request', message: `${name} must be an event seq (a non-negative integer), got ${shown}` });
  return null;
}

export const artifactQuery = z.object({ uri: z.string().min(1).max(1024) }).strict();

/**
 * `POST /api/runs?runId=`: submit under an id the caller chose, so a submission whose answer was
 * lost can be looked up (`GET /api/runs/:id`) instead of sent twice. Unknown parameters are
 * refused: a misspelt `runId` must not silently submit under a fresh id.
 */
export const submitQuery = z.object({ runId: z.string().regex(RUN_ID_RE).optional() }).strict();

/** The run id grammar in words, for 400 messages. */
const RUN_ID_WORDS = '1-64 of [A-Za-z0-9_-], starting with a letter or digit';

/**
 * "?x= is given more than once" for parameters repeated in the query string, or null. Express
 * makes a repeated parameter an array, and zod then said "expected string, received array".
 */
function repeatedParams(req: Request): string | null {
  const params = new URLSearchParams(req.originalUrl.split('?')[1] ?? '');
  const names = [...new Set(params.keys())].filter((k) => params.getAll(k).length > 1).map((k) => `?${k.slice(0, 40)}=`);
  return names.length === 0 ? null : `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} given more than once`;
}

/**
 * "unknown parameter ?x=" for parameters the query parser drops without a word (`__proto__`,
 * `__proto__[a]`, an empty name), or null: the routes' strict schemas never saw them, so
 * `POST /api/runs?__proto__=1` submitted though any other parameter than runId is a 400.
 */
function droppedParams(req: Request): string | null {
  const params = new URLSearchParams(req.originalUrl.split('?')[1] ?? '');
  const kept = new Set(Object.keys(req.query as object));
  // `a[b]=1` and `a[]=1` arrive as `a`.
  const names = [...new Set(params.keys())].filter((k) => !kept.has(k.split('[')[0]!)).map((k) => `?${k.slice(0, 40)}=`);
  return names.length === 0 ? null : `unknown parameter${names.length === 1 ? '' : 's'} ${names.join(', ')}`;
}

/**
 * 400 for a query parameter given twice, on every /api route (the README's rule): the routes
 * without parameters of their own took `?from=1&from=2`-style repeats of anything silently.
 * Also for a parameter the query parser dropped (`droppedParams`).
 */
export function refuseRepeatedParams(): RequestHandler {
  return (req, res, next) => {
    const refused = repeatedParams(req) ?? droppedParams(req);
    if (refused === null) return next();
    res.status(400).json({ error: 'bad_request', message: refused });
  };
}

/** The run and item ids of `/runs/:id/items/:item…`, or null after a 400. */
function itemParams(req: Request, res: Response): { runId: string; itemId: string } | null {
  const runId = runIdParam(req, res);
  if (!runId) return null;
  const itemId = String(req.params['item'] ?? '');
  if (!isItemId(itemId)) {
    res.status(400).json({ error: 'bad_request', message: `invalid item id ${shownId(itemId)}` });
    return null;
  }
  return { runId, itemId };
}

/** A refused id in a message: cut short and quoted as JSON (a 300-character id came back whole, a `"` in it unescaped). */
function shownId(id: string): string {
  return JSON.stringify(id.slice(0, 80));
}

export function runIdParam(req: Request, res: Response): string | null {
  const id = String(req.params['id'] ?? '');
  if (!isRunId(id)) {
    res.status(400).json({ error: 'bad_request', message: `invalid run id ${shownId(id)}` });
    return null;
  }
  return id;
}

export function fail(res: Response, err: unknown): void {
  if (err instanceof ValueError) {
    res.status(400).json({ error: 'bad_request', message: err.message });
  } else if (err instanceof IllegalStateError) {
    res.status(409).json({ error: 'conflict', message: err.message });
  } else if (err instanceof PlanValidationError) {
    res.status(422).json({ error: 'plan_invalid', problems: err.problems });
  } else if (err instanceof NotFoundError) {
    res.status(404).json({ error: 'not_found', message: err.message });
  } else if (err instanceof AgoraError && err.code === 'UNAVAILABLE') {
    // Redis down (the SDK's UnavailableError): the caller may retry. One a retry does not change
    // (a submission the scheduler gave up on, a password refused) says so, as the SDK does over Redis.
    // Without the Redis's address or its connection error (RedisUnavailableError.publicMessage):
    // the server's own log names them.
    const message = err instanceof RedisUnavailableError ? err.publicMessage : err.message;
    res.status(503).json({ error: 'unavailable', message, ...(err.retryable ? {} : { retryable: false }) });
  } else if (typeof res.req.next === 'function') {
    // Anything else is unexpected: the app's error middleware logs it and answers a fixed 500
    // (its message may name a server path or a dependency's internals; see http-errors.ts).
    res.req.next(err);
  } else {
    res.status(500).json({ error: 'internal', message: 'internal error (see the server log)' });
  }
}

/** `fail` for routes that read stored artifacts: a storage error there is bytes that do not hash to their ref (502). */
function failRead(res: Response, err: unknown): void {
  if (err instanceof AgoraError && err.code === 'STORAGE') res.status(502).json({ error: 'integrity', message: err.message });
  else fail(res, err);
}

/**
 * The HTTP API: `POST /api/runs` (a plan as the body; 202 with the run id), `GET /api/runs` (newest
 * first, cursor paging, filters), `GET /api/runs/:id`, `GET /api/runs/:id/items/:item`,
 * `GET /api/runs/:id/events` (Server-Sent Events, resumable with `Last-Event-ID` or `?from=`),
 * `POST /api/runs/:id/cancel`, `GET /api/runs/:id/audit`.
 */
export function createApiRouter(opts: ApiOptions): Router {
  const { client, authorize } = opts;
  const maxSseClients = opts.maxSseClients ?? 1000;
  let sseClients = 0;
  const r = express.Router();
  r.use(requireJsonBody());
  r.use(jsonBodyParser(opts.bodyLimit));

  r.post('/runs', authorize('submit'), (req, res) => {
    const repeated = repeatedParams(req);
    const q = submitQuery.safeParse(req.query);
    if (repeated !== null || !q.success) {
      const problems = repeated !== null ? [repeated] : q.error!.issues.map((i) =>
        i.code === 'unrecognized_keys'
          ? `unknown parameter${i.keys.length === 1 ? '' : 's'} ${i.keys.map((k) => `?${k.slice(0, 40)}=`).join(', ')}: the only parameter is runId=<run id> (the id to submit under)`
          : `?runId= must be a run id (${RUN_ID_WORDS}): the id to submit under`,
      );
      res.status(400).json({ error: 'bad_request', message: problems.join('; ') });
      return;
    }
    // express.json passes arrays through; an array is no more a plan than `null` is (a 400
    // there, from bodyErrors), so it is the same malformed body, not a 422 invalid plan.
    if (Array.isArray(req.body)) {
      res.status(400).json({ error: 'bad_request', message: 'a plan must be a JSON object, got an array' });
      return;
    }
    client.submit(req.body, q.data.runId !== undefined ? { runId: q.data.runId } : {}).then(
      (runId) => res.status(202).location(`/api/runs/${runId}`).json({ runId }),
      (err: unknown) => fail(res, err),
    );
  });

  r.get('/runs', authorize('read'), (req, res) => {
    const repeated = repeatedParams(req);
    if (repeated !== null) {
      res.status(400).json({ error: 'bad_request', message: repeated });
      return;
    }
    const q = runsQuerySchema.safeParse(req.query);
    if (!q.success) {
      res.status(400).json({ error: 'bad_request', message: q.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ` : '') + i.message.replace(/^\w+: /, '')).join('; ') });
      return;
    }
    const { plan, since, ...rest } = q.data;
    client.runs({ ...rest, ...(plan !== undefined ? { planId: plan } : {}), ...(since !== undefined ? { sinceMs: since } : {}) }).then(
      (page) => res.json(page),
      (err: unknown) => fail(res, err),
    );
  });

  r.get('/runs/:id/items/:item', authorize('read'), (req, res) => {
    const ids = itemParams(req, res);
    if (ids) client.item(ids.runId, ids.itemId).then((d) => res.json(d), (err: unknown) => fail(res, err));
  });

  r.post('/runs/:id/items/:item/messages', authorize('submit'), (req, res) => {
    const ids = itemParams(req, res);
    const b = ids ? bodyOf(messageBody, req, res) : null;
    if (ids && b) client.send(ids.runId, ids.itemId, b.message).then((m) => res.status(202).json(m), (err: unknown) => fail(res, err));
  });

  r.get('/runs/:id/items/:item/logs', authorize('read'), (req, res) => {
    const ids = itemParams(req, res);
    if (!ids) return;
    if (!opts.itemLogs) {
      res.status(501).json({ error: 'not_implemented', message: 'item logs are not configured on this server' });
      return;
    }
    const read = opts.itemLogs;
    client
      .item(ids.runId, ids.itemId)
      .then(async (d) => res.json({ itemId: d.itemId, state: d.state, ...(await read(d)) }))
      .catch((err: unknown) => failRead(res, err));
  });

  r.get('/artifacts', authorize('read'), (req, res) => {
    const uri = artifactQuery.safeParse(req.query);
    if (!uri.success) {
      res.status(400).json({ error: 'bad_request', message: 'pass one uri=<resultRef> (agora://<ns>/result/<name>/<sha256>), nothing else' });
      return;
    }
    if (!opts.artifacts) {
      res.status(501).json({ error: 'not_implemented', message: 'artifacts are not configured on this server' });
      return;
    }
    opts.artifacts(uri.data.uri).then(
      (a) => {
        res
          .status(200)
          .set({
            'Content-Type': 'application/octet-stream',
            'Content-Disposition': `attachment; filename="${a.name.replace(/[^A-Za-z0-9._-]/g, '_')}"`,
            // Set here, not left to Node: a HEAD (the size and digest, without the bytes) had none.
            'Content-Length': String(a.bytes.byteLength),
            'X-Agora-Sha256': a.sha256,
            // RFC 9530: the same digest in the standard header, base64.
            'Repr-Digest': `sha-256=:${Buffer.from(a.sha256, 'hex').toString('base64')}:`,
          })
          .end(Buffer.from(a.bytes));
      },
      (err: unknown) => failRead(res, err),
    );
  });

  r.get('/runs/:id', authorize('read'), (req, res) => {
    const id = runIdParam(req, res);
    if (id) client.status(id).then((s) => res.json(s), (err: unknown) => fail(res, err));
  });

  r.post('/runs/:id/cancel', authorize('submit'), (req, res) => {
    const id = runIdParam(req, res);
    // `{}` or no body: an array or a field (a reason?) was taken and ignored.
    const b = id ? bodyOf(cancelBody, req, res) : null;
    if (id && b) client.cancel(id).then((s) => res.json(s), (err: unknown) => fail(res, err));
  });

  r.get('/runs/:id/audit', authorize('read'), (req, res) => {
    const id = runIdParam(req, res);
    if (!id) return;
    if (!opts.audit) {
      res.status(501).json({ error: 'not_implemented', message: 'audit is not configured on this server' });
      return;
    }
    opts.audit(id).then((b) => res.json(b), (err: unknown) => fail(res, err));
  });

  r.get('/runs/:id/events', authorize('read'), (req, res) => {
    const id = runIdParam(req, res);
    if (!id) return;
    const fromSeq = fromSeqOf(req, res);
    if (fromSeq === null) return;
    if (sseClients >= maxSseClients) {
      res.status(503).set('Retry-After', '5').json({ error: 'unavailable', message: `this server already streams to ${maxSseClients} clients (dashboard.maxSseClients)` });
      return;
    }
    sseClients++;
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    void client
      .status(id)
      .then(
        async () => {
          res.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
          res.flushHeaders();
          const send = (e: AgoraEvent): void => {
            res.write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
          };
          const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), opts.sseHeartbeatMs ?? SSE_HEARTBEAT_MS);
          try {
            for await (const e of opts.events.watch(id, fromSeq, ac.signal)) send(e);
          } catch (err) {
            res.write(`event: error\ndata: ${JSON.stringify({ message: (err as Error).message })}\n\n`);
          } finally {
            clearInterval(heartbeat);
          }
          res.end();
        },
        (err: unknown) => fail(res, err),
      )
      .finally(() => sseClients--);
  });

  mountDeadLetterRoutes(r, client, authorize);
  mountRerunRoutes(r, client, authorize, opts.rerunPlan);

  r.use((req, res) => res.status(404).json({ error: 'not_found', message: `no route ${req.method} ${req.originalUrl.split('?')[0]}` }));
  r.use(bodyErrors());
  return r;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The API's JSON body parser: the body limit, a key given twice refused. Its errors are answered
 * by `bodyErrors`.
 */
export function jsonBodyParser(limit = '32mb'): express.RequestHandler {
  return express.json({ limit, verify: refuseDuplicateKeys });
}

/**
 * express.json's `verify`: a body with a key given twice in one object is malformed (400), as
 * `parsePlanText` refuses it for the CLI; `JSON.parse` would keep the last value in silence (a
 * plan's first `depends_on` lost). Bodies in another charset than UTF-8 or UTF-16LE/BE are not checked.
 * A UTF-8 body with a byte that is not UTF-8 is refused too (400).
 */
function refuseDuplicateKeys(_req: unknown, _res: unknown, body: Buffer, encoding: string): void {
  // Only where TextDecoder reads the bytes as body-parser's iconv does: a bare "utf-16" is
  // big-endian there unless a BOM says otherwise, little-endian to TextDecoder.
  if (!['utf-8', 'utf8', 'utf-16le', 'utf-16be'].includes(encoding.toLowerCase())) return;
  let text: string;
  if (['utf-8', 'utf8'].includes(encoding.toLowerCase())) {
    // body-parser's iconv would read a byte that is not UTF-8 as U+FFFD in silence (a plan's
    // text changed): a 400, as the CLI refuses such a plan file.
    try {
      text = strictUtf8.decode(body);
    } catch {
      const bad = firstNonUtf8Byte(body);
      throw Object.assign(new Error(`the body is not valid UTF-8: byte 0x${bad.byte} at offset ${bad.offset} (send JSON as UTF-8)`), { status: 400, type: 'entity.verify.failed' });
    }
  } else {
    try {
      text = new TextDecoder(encoding).decode(body);
    } catch {
      return;
    }
  }
  let dup: ReturnType<typeof duplicateJsonKey>;
  try {
    dup = duplicateJsonKey(text);
  } catch {
    // The scan failing is no verdict on the body (a 403 from body-parser would be wrong): parse it.
    return;
  }
  if (dup === null) return;
  const err = new Error(`malformed JSON at line ${dup.line} column ${dup.column}: the key ${JSON.stringify(dup.key)} is given twice in one object (the first value would be ignored)`);
  throw Object.assign(err, { status: 400, type: 'entity.verify.failed' });
}

/**
 * What express.json raises about the body itself (its `type`), answered here with its message,
 * which is about the body only. Any other error goes on to the app's error middleware, which
 * logs it and answers without its message (http-errors.ts).
 */
export function bodyErrors(): express.ErrorRequestHandler {
  return (err: { status?: number; message?: string; type?: string; body?: unknown } | undefined, req, res, next) => {
    const status = err?.status ?? 500;
    if (typeof err?.type !== 'string' || status >= 500) return next(err);
    let [word, message] = ['bad_request', err.message ?? 'bad request'];
    if (err.type === 'entity.too.large') word = 'too_large';
    else if (status === 415) word = 'unsupported_media_type';
    else if (err.type === 'entity.parse.failed' && typeof err.body === 'string' && !/^\s*[{[]/.test(err.body)) {
      // Valid JSON but not an object (`null`, `"x"`, `3`): express.json only takes objects and arrays.
      const what = req.method === 'POST' && req.path === '/runs' ? 'a plan' : 'the body';
      message = `${what} must be a JSON object, got ${err.body.trim().slice(0, 40)}`;
    }
    res.status(status).json({ error: word, message });
  };
}

/**
 * `POST /api/runs/:id/items/:item/messages`: `{ message }`, any JSON value (wrapped, so a bare
 * string or number can be sent: express.json takes only objects and arrays). The SDK's encoder
 * then checks its depth, its keys and its size (64 KiB as JSON).
 */
export const messageBody = z.strictObject({ message: z.unknown().refine((v) => v !== undefined, 'required: the message to send (any JSON value)') });

/** `POST /api/runs/:id/cancel` takes no fields: `{}` (or no body). */
export const cancelBody = z.strictObject({}, 'the body must be {} (or none): cancel takes no fields');

/** Bodies of the dead-letter routes (zod: an HTTP body is outside input). */
export const replayBody = z.strictObject({ force: z.boolean().optional() });
export const replayRunBody = z.strictObject({ runId: z.string().refine(isRunId, 'invalid run id'), all: z.boolean().optional(), force: z.boolean().optional() });
/** The purge selectors' own schemas (libs/core selectors.ts): the stores and the SDK parse the same. */
export const purgeBody = deadLetterSelectorSchema;
const PURGE_SHAPES = '{ "id": "<runId>.<itemId>" }, { "runId": "<run id>" } or { "all": true }';
const limitText = z.string().regex(/^[1-9][0-9]{0,6}$/, 'must be an integer from 1 to 9999999').transform(Number);
/** The query strings of `GET /api/dlq` and `GET /api/memo`: nothing else is accepted (as `/api/runs`). */
export const dlqQuery = z.strictObject({ run: z.string().refine(isRunId, 'must be a run id').optional(), limit: limitText.optional() });
export const memoQuery = z.strictObject({ limit: limitText.optional() });

/** The parsed query string, or null after answering 400 naming each bad or unknown parameter. */
function queryOf<T>(schema: z.ZodType<T>, req: Request, res: Response): T | null {
  const repeated = repeatedParams(req);
  const q = schema.safeParse(req.query);
  if (q.success && repeated === null) return q.data;
  const problems = repeated !== null ? [repeated] : q.error!.issues.map((i) =>
    i.code === 'unrecognized_keys' ? `unknown parameter${i.keys.length === 1 ? '' : 's'} ${i.keys.map((k) => `?${k}=`).join(', ')}` : `?${i.path.join('.')}= ${i.message}`,
  );
  res.status(400).json({ error: 'bad_request', message: problems.join('; ') });
  return null;
}

const issueText = (i: z.core.$ZodIssue): string => `${i.path.join('.') || 'body'}: ${i.message}`;

/**
 * The parsed body, or null after answering 400 naming the problems. For a union of body shapes
 * (`shapes`: them in words), zod says only "Invalid input": the message lists the shapes, plus
 * what is wrong when the body has the keys of exactly one of them (`{ "all": false }`).
 */
function bodyOf<T>(schema: z.ZodType<T>, req: Request, res: Response, shapes?: string): T | null {
  const r = schema.safeParse(req.body ?? {}, { reportInput: true });
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => {
    if (i.code !== 'invalid_union' || i.path.length > 0 || shapes === undefined) return issueText(i);
    // A shape fits when the body has no key it lacks and misses none it needs (a missing key's issue has no input).
    const fitting = i.errors.filter((alt) => !alt.some((a) => a.code === 'unrecognized_keys' || !('input' in a)));
    return `body must be ${shapes}${fitting.length === 1 ? ` (${fitting[0]!.map(issueText).join('; ')})` : ''}`;
  });
  res.status(400).json({ error: 'bad_request', message: problems.join('; ') });
  return null;
}

function deadLetterIdParam(req: Request, res: Response): string | null {
  const id = String(req.params['id'] ?? '');
  if (parseDeadLetterId(id) === null) {
    res.status(400).json({ error: 'bad_request', message: `invalid dead letter id ${JSON.stringify(id.slice(0, 200))}: expected <runId>.<itemId>` });
    return null;
  }
  return id;
}

/**
 * The dead-letter routes, every one behind the `admin` scope (a record holds an item's inputs and
 * its worker's output tails): `GET /api/dlq[?run=R&limit=N]`, `GET /api/dlq/:id`,
 * `POST /api/dlq/:id/replay` (`{ force? }`), `POST /api/dlq/replay` (`{ runId, all?, force? }`),
 * `POST /api/dlq/purge` (`{ id } | { runId } | { all: true }`).
 */
function mountDeadLetterRoutes(r: Router, client: AgoraClient, authorize: (scope: DashboardScope) => RequestHandler): void {
  r.get('/dlq', authorize('admin'), (req, res) => {
    const q = queryOf(dlqQuery, req, res);
    if (!q) return;
    client.deadLetters({ ...(q.run !== undefined ? { runId: q.run } : {}), ...(q.limit !== undefined ? { limit: q.limit } : {}) }).then(
      (deadLetters) => res.json({ deadLetters }),
      (err: unknown) => fail(res, err),
    );
  });

  r.post('/dlq/replay', authorize('admin'), (req, res) => {
    const b = bodyOf(replayRunBody, req, res);
    if (b) client.replayDeadLetters({ runId: b.runId, all: b.all === true }, { force: b.force === true }).then((x) => res.status(202).location(`/api/runs/${x.runId}`).json(x), (err: unknown) => fail(res, err));
  });

  r.post('/dlq/purge', authorize('admin'), (req, res) => {
    const b = bodyOf(purgeBody, req, res, PURGE_SHAPES);
    if (b) client.purgeDeadLetters(b).then((purged) => res.json({ purged }), (err: unknown) => fail(res, err));
  });

  r.get('/dlq/:id', authorize('admin'), (req, res) => {
    const id = deadLetterIdParam(req, res);
    if (id) client.deadLetter(id).then((l) => res.json(l), (err: unknown) => fail(res, err));
  });

  r.post('/dlq/:id/replay', authorize('admin'), (req, res) => {
    const id = deadLetterIdParam(req, res);
    const b = id ? bodyOf(replayBody, req, res) : null;
    if (id && b) client.replayDeadLetters({ id }, { force: b.force === true }).then((x) => res.status(202).location(`/api/runs/${x.runId}`).json(x), (err: unknown) => fail(res, err));
  });
}

/** Bodies of the rerun and memo routes (zod: an HTTP body is outside input). */
export const rerunBody = z.strictObject({ fromFailed: z.boolean().optional(), runId: z.string().refine(isRunId, 'invalid run id').optional() });
export const memoPurgeBody = memoPurgeSelectorSchema;
const MEMO_PURGE_SHAPES = '{ "keys": ["<memo key>", …] } (1-10,000 keys of 64 lowercase hex) or { "all": true }';

/**
 * `POST /api/runs/:id/rerun` (`{ fromFailed?, runId? }`, scope `submit`: it submits a run) and the
 * memo cache's `GET /api/memo[?limit=N]` and `POST /api/memo/purge` (`{ keys } | { all: true }`),
 * scope `admin` (entries name runs, items and results across the namespace).
 */
function mountRerunRoutes(r: Router, client: AgoraClient, authorize: (scope: DashboardScope) => RequestHandler, rerunPlan: ApiOptions['rerunPlan']): void {
  r.post('/runs/:id/rerun', authorize('submit'), (req, res) => {
    const id = runIdParam(req, res);
    const b = id ? bodyOf(rerunBody, req, res) : null;
    if (id && b) {
      const checkPlan = rerunPlan ? { checkPlan: (planRef: string) => rerunPlan(id, planRef) } : {};
      client.rerun(id, { fromFailed: b.fromFailed === true, ...(b.runId !== undefined ? { runId: b.runId } : {}), ...checkPlan }).then(
        (x) => res.status(202).location(`/api/runs/${x.runId}`).json(x),
        (err: unknown) => fail(res, err),
      );
    }
  });
  r.get('/memo', authorize('admin'), (req, res) => {
    const q = queryOf(memoQuery, req, res);
    if (!q) return;
    client.memoEntries(q.limit !== undefined ? { limit: q.limit } : {}).then((entries) => res.json({ entries }), (err: unknown) => fail(res, err));
  });
  r.post('/memo/purge', authorize('admin'), (req, res) => {
    const b = bodyOf(memoPurgeBody, req, res, MEMO_PURGE_SHAPES);
    if (b) client.purgeMemo(b).then((purged) => res.json({ purged }), (err: unknown) => fail(res, err));
  });
}
