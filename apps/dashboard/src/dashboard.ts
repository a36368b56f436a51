import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import { INBOX_QUEUE, configValidateOptions, createLogger, submittedQueueOf, type AgoraConfig, type Logger } from '@agora/core';
import { AgoraError, IllegalStateError, NotFoundError, UnavailableError, ValueError } from '@agora/core';
import { RunStore, createRedis, type RedisClient } from '@agora/state';
import { AgoraClient } from '@agora/sdk';
import { createEvidence, verifyEvidence } from '@agora/evidence';
import { READY_TIMEOUT_MS, createAgoraMetrics, readiness, type AgoraMetrics } from '@agora/metrics';
import { ProviderSet, planDeploymentProblems, readArtifact, readItemLogs, type Artifact } from '@agora/registry';
import { bodyErrors, createApiRouter, jsonBodyParser, refuseRepeatedParams } from './api.js';
import { buildOpenApiDocument } from './openapi.js';
import { createConsole } from './console.js';
import { authenticate, buildKeyRing, principalOf, requireScope, type ClearKey } from './auth.js';
import { checkHost, isLoopbackHost, refuseCrossSite, requireJsonBodyIfAny } from './request-guards.js';
import { errorHandler, notFound } from './http-errors.js';
import { createRunEventHub } from './run-event-hub.js';

export interface DashboardOptions {
  readonly config: AgoraConfig;
  /** @default config.dashboard.host (127.0.0.1) */
  readonly host?: string;
  /** @default config.dashboard.port (3000); 0 picks a free port */
  readonly port?: number;
  readonly logger?: Logger;
  /** How often newly used queues are added to Bull Board. @default 5000 */
  readonly refreshMs?: number;
  /** A key with scopes `read` + `submit`. @default config.dashboard.apiKey or $AGORA_API_KEY */
  readonly apiKey?: string;
  /** A key with scopes `read` + `submit` + `admin`. @default config.dashboard.adminKey or $AGORA_ADMIN_KEY */
  readonly adminKey?: string;
  /** Evidence bundle for `GET /api/runs/:id/audit`. */
  readonly audit?: (runId: string) => Promise<unknown>;
  /** A result for `GET /api/artifacts?uri=`. @default read from the config's storage provider, hash checked (libs/registry readArtifact) */
  readonly artifacts?: (uri: string) => Promise<Artifact>;
  /** Served at `/metrics` (read scope); `agora_queue_jobs` is read from this dashboard's queues. @default a registry of its own */
  readonly metrics?: AgoraMetrics;
  /** How often an idle SSE stream gets a `: keep-alive` comment line. @default 15000 (api.ts SSE_HEARTBEAT_MS) */
  readonly sseHeartbeatMs?: number;
}

export interface Dashboard {
  readonly url: string;
  readonly app: Express;
  close(): Promise<void>;
}

/** This package's version: the API document's `info.version` (dist/dashboard.js sits one folder below package.json). */
const { version: DASHBOARD_VERSION } = createRequire(import.meta.url)('../package.json') as { version: string };

/** How long a route waits for Redis before it answers 503 (README: any route, within 4 s). */
const REDIS_TIMEOUT_MS = 4000;

/**
 * 503 unavailable for a request not answered within `ms`: Bull Board's API waited for a hung
 * Redis for ever (its queues have no command timeout). Its own answer, when Redis comes back,
 * then finds the response sent and is dropped (errorHandler, headers sent).
 */
function answerWithin(ms: number, what: string): express.RequestHandler {
  return (_req, res, next) => {
    const timer = setTimeout(() => {
      if (!res.headersSent) res.status(503).json({ error: 'unavailable', message: `Redis did not answer within ${ms} ms (${what})` });
    }, ms);
    res.once('finish', () => clearTimeout(timer));
    res.once('close', () => clearTimeout(timer));
    next();
  };
}

/** A PING unanswered this long makes /healthz say so, before `readiness` gives up with a message naming no cause. */
const PING_TIMEOUT_MS = READY_TIMEOUT_MS - 250;

type RenderEngine = (file: string, options: object, done: (err: unknown, html?: string) => void) => void;

/**
 * Bull Board's page without its Google Fonts link: the CSP allows nothing outside 'self' and the
 * page falls back to sans-serif. Wraps the ejs engine Bull Board sets on its own Express app.
 */
function withoutOutsideFonts(board: express.Application): void {
  const render = (board as unknown as { engines: Record<string, RenderEngine | undefined> }).engines['.ejs'];
  if (!render) return;
  board.engine('ejs', (file, options, done) => render(file, options, (err, html) => done(err, html?.replace(/<link\b[^>]*\bhref="https:\/\/fonts\.googleapis\.com[^>]*>/g, ''))));
}

/** The first key given: the option, the config, then the environment (an empty variable counts as unset). */
function clearKey(candidates: ReadonlyArray<readonly [string, string | undefined]>): ClearKey | undefined {
  for (const [source, key] of candidates) if (key !== undefined && key !== '') return { source, key };
  return undefined;
}

/**
 * Bull Board at /queues, showing every queue the deployment uses (the inbox and every plan
 * queue), so flow trees are complete, and the HTTP API at /api. Listens on loopback unless told
 * otherwise.
 *
 * Bull Board is mounted twice on the same path: a read-only board for everyone, and a writable
 * one (built only when some key has the `admin` scope) chosen per request for an admin
 * principal. Mutating Bull Board routes also require `admin` before either board sees them, so
 * the read-only flag is a second wall, not the only one; two boards rather than one guarded
 * writable board so that viewers get a UI without buttons that can only fail.
 */
export async function createDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const { config } = opts;
  const logger = opts.logger ?? createLogger({ component: 'dashboard' });
  const host = opts.host ?? config.dashboard.host;
  // Node listens on every interface for an empty host: never what an empty setting meant.
  if (host === '') throw new ValueError('the dashboard host must be an address to listen on (127.0.0.1, or 0.0.0.0 for every interface), not empty');
  const env = process.env;
  const ring = buildKeyRing({
    apiKey: clearKey([['option apiKey', opts.apiKey], ['dashboard.apiKey', config.dashboard.apiKey], ['AGORA_API_KEY', env['AGORA_API_KEY']]]),
    adminKey: clearKey([['option adminKey', opts.adminKey], ['dashboard.adminKey', config.dashboard.adminKey], ['AGORA_ADMIN_KEY', env['AGORA_ADMIN_KEY']]]),
    apiKeys: config.dashboard.apiKeys,
  });
  const loopback = isLoopbackHost(host);
  if (ring.length === 0 && !loopback) {
    throw new IllegalStateError(`refusing to serve the dashboard and API on ${host} without an API key: set dashboard.apiKey or AGORA_API_KEY (16+ characters, no whitespace)`);
  }
  if (ring.length === 0) logger.warn({ host }, 'no API key set: the API is open to anyone who can reach this loopback address; Bull Board is read-only');

  // Connect only once the settings are known to be good: a refused start leaves nothing open.
  const redis: RedisClient = createRedis(config.redisUrl);
  const store = new RunStore(redis, config.namespace);
  const prefix = store.keys.bullPrefix;

  const title = { uiConfig: { boardTitle: `Agora · ${config.namespace}` } };
  const readOnlyAdapter = new ExpressAdapter().setBasePath('/queues');
  const readOnlyBoard = createBullBoard({ queues: [], serverAdapter: readOnlyAdapter, options: title });
  const writable = ring.some((k) => k.scopes.has('admin'));
  const writableAdapter = writable ? new ExpressAdapter().setBasePath('/queues') : undefined;
  const writableBoard = writableAdapter ? createBullBoard({ queues: [], serverAdapter: writableAdapter, options: title }) : undefined;
  const queues = new Map<string, Queue>();

  async function refreshQueues(): Promise<void> {
    const names = new Set([...(await redis.smembers(store.keys.queues)), ...Object.keys(config.queues)]);
    for (const name of [...names].sort()) {
      if (queues.has(name)) continue;
      const q = new Queue(name, { connection: redis, prefix });
      queues.set(name, q);
      readOnlyBoard.addQueue(new BullMQAdapter(q, { readOnlyMode: true }));
      writableBoard?.addQueue(new BullMQAdapter(q, { readOnlyMode: false }));
    }
  }
  await refreshQueues();
  const metrics = opts.metrics ?? createAgoraMetrics(undefined, { queues: Object.keys(config.queues) });
  // Read on scrape only: one getJobCounts per queue the dashboard shows.
  metrics.observeQueueJobs(() => Promise.all([...queues].map(async ([name, q]) => ({ queue: name, counts: await q.getJobCounts() }))));
  let closing = false;
  const timer = setInterval(() => void refreshQueues().catch((err: Error) => logger.warn({ err: err.message }, 'queue refresh failed')), opts.refreshMs ?? 5000);
  timer.unref();

  // API calls answer 503 within 5 s when Redis is down: the SDK gives up after timeoutMs.
  // Made on first use: a dashboard nobody downloads from or submits a dispatch plan to never opens its storage.
  const providers = new ProviderSet(config);
  // The task check of the scheduler's acceptance runs at submit too: an unknown task is a 422, not a rejected run.
  const client = new AgoraClient({
    redis,
    namespace: config.namespace,
    timeoutMs: REDIS_TIMEOUT_MS,
    validate: configValidateOptions(config),
    checkPlan: (plan) => planDeploymentProblems(() => providers.storage(), config, plan),
  });

  const events = createRunEventHub({ redis, store, logger });

  const app = express();
  app.disable('x-powered-by');
  let listeningPort = 0;
  app.use(checkHost({ loopback, port: () => listeningPort, allowedHosts: config.dashboard.allowedHosts }));
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          // Nothing from outside this server (the console promises no outside network). Bull Board's
          // page has inline style attributes and a <style> element; its Google Fonts link is removed.
          styleSrc: ["'self'", "'unsafe-inline'"],
          fontSrc: ["'self'"],
          imgSrc: ["'self'"],
          connectSrc: ["'self'"],
          objectSrc: ["'none'"],
          baseUri: ["'self'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
          // Served over plain HTTP on loopback: upgrading the page's own requests would break it.
          upgradeInsecureRequests: null,
        },
      },
      xFrameOptions: { action: 'deny' },
      // TLS, and so HSTS, belongs to whatever terminates it in front of this server.
      strictTransportSecurity: false,
    }),
  );
  app.use(refuseCrossSite());
  // No route serves OPTIONS (no CORS is granted): Express answered it itself, 200 text/plain
  // "GET,HEAD", on the console's routers, where every other route answered 404 JSON.
  const unserved = notFound();
  app.use((req: Request, res: Response, next: NextFunction) => (req.method === 'OPTIONS' ? unserved(req, res, next) : next()));
  const signIn = authenticate(ring);
  const readOnlyRouter = readOnlyAdapter.getRouter() as express.Application;
  const writableRouter = writableAdapter?.getRouter() as express.Application | undefined;
  for (const board of [readOnlyRouter, writableRouter]) if (board) withoutOutsideFonts(board);
  app.use(
    '/queues',
    signIn,
    requireScope('read'),
    (req: Request, res: Response, next: NextFunction) => (req.method === 'GET' || req.method === 'HEAD' ? next() : requireScope('admin')(req, res, next)),
    // A write's body, when it has one, is JSON, parsed here as the API parses it (Bull Board's own
    // parser then leaves it be): malformed JSON is our 400, not Bull Board's error shape.
    requireJsonBodyIfAny(),
    jsonBodyParser(),
    bodyErrors(),
    answerWithin(REDIS_TIMEOUT_MS, 'Bull Board'),
    (req: Request, res: Response, next: NextFunction) => {
      const router = writableRouter && principalOf(res).scopes.has('admin') ? writableRouter : readOnlyRouter;
      router(req, res, next);
    },
  );
  const evidence = createEvidence({ config, redis, logger });
  let openApi: string | undefined;
  app.get('/api/openapi.json', signIn, requireScope('read'), refuseRepeatedParams(), (_req, res) => {
    openApi ??= JSON.stringify(buildOpenApiDocument(DASHBOARD_VERSION));
    res.type('application/json').send(openApi);
  });
  // Answers within 2 s: a client that is not connected is unready at once, and a ping that
  // gets no answer (a hung Redis) is given up after PING_TIMEOUT_MS, saying so.
  const redisProblem = async (): Promise<string | undefined> => {
    if (redis.status !== 'ready') return `Redis is not connected (${redis.status})`;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<string>((r) => (timer = setTimeout(() => r(`Redis did not answer PING within ${PING_TIMEOUT_MS} ms`), PING_TIMEOUT_MS)));
    const ping = redis.ping().then(
      () => undefined,
      (err: Error) => `Redis PING failed: ${err.message}`,
    );
    return Promise.race([ping, late]).finally(() => clearTimeout(timer));
  };
  const audit =
    opts.audit ??
    (async (runId: string) => {
      // The evidence reads wait for Redis without a bound of their own (a Redis down or hung held
      // the request for ever): it must answer a PING first, as /healthz asks, else 503.
      const problem = await redisProblem();
      if (problem !== undefined) throw new UnavailableError(`${problem} (evidence of run "${runId}")`);
      return evidence.bundle(runId);
    });
  // The submissions' queue (kept for the last 1,000 submissions): only read for runs rejected at acceptance.
  const inbox = new Queue(INBOX_QUEUE, { connection: redis, prefix });
  // The badge is the verifier's word, recomputed here over the bundle against the anchor store and
  // pinned to this deployment's signing key (as `agora audit verify --key $(agora audit pubkey)`).
  const runConsole = createConsole({
    client,
    namespace: config.namespace,
    // Runs rejected before the run hash recorded the submitted queue (see RunStore.rejectRun).
    submittedQueue: async (runId) => {
      const job = await inbox.getJob(runId);
      return job ? submittedQueueOf((job.data as { plan?: unknown } | undefined)?.plan) : undefined;
    },
    authorize: requireScope,
    verdict: async (runId) => verifyEvidence(await audit(runId), { expectedRunId: runId, key: (await evidence.signer()).vkey, anchor: evidence.anchor }),
  });
  app.use(
    '/api',
    signIn,
    refuseRepeatedParams(),
    runConsole.api,
    createApiRouter({
      client,
      audit,
      artifacts: opts.artifacts ?? (async (uri) => readArtifact(await providers.storage(), uri, config.namespace)),
      itemLogs: async (item) => readItemLogs(await providers.storage(), config.namespace, item),
      // The scheduler reads a rerun's plan back from storage: one gone (or corrupt) there got a
      // 202 and then a run rejected at acceptance; `agora rerun` refuses it before submitting.
      rerunPlan: async (runId, planRef) => {
        const storage = await providers.storage();
        try {
          await storage.get(planRef);
        } catch (err) {
          if (!(err instanceof AgoraError)) throw err;
          // Fixed words: a storage error's own message can name a server path.
          if (err.retryable) throw new UnavailableError(`storage did not answer reading the stored plan of run "${runId}"; try again`, { cause: err });
          const why = err instanceof NotFoundError ? 'is gone from storage' : 'cannot be read from storage (it does not hash to its ref, or storage refused it)';
          throw new IllegalStateError(`run "${runId}" cannot be rerun: its stored plan ${planRef} ${why}; submit its plan again`);
        }
      },
      authorize: requireScope,
      events,
      maxSseClients: config.dashboard.maxSseClients,
      ...(opts.sseHeartbeatMs !== undefined ? { sseHeartbeatMs: opts.sseHeartbeatMs } : {}),
    }),
  );
  const answer = (check: () => Promise<string | undefined>) => (_req: Request, res: Response): void =>
    void readiness(check).then((error) => (error === undefined ? res.json({ ok: true }) : res.status(503).json({ ok: false, error })));
  app.get('/healthz', answer(redisProblem));
  app.get('/readyz', answer(async () => (closing ? 'shutting down' : redisProblem())));
  app.get('/metrics', signIn, requireScope('read'), (_req, res) => {
    metrics.registry.metrics().then(
      (text) => res.type(metrics.registry.contentType).send(text),
      (err: Error) => res.status(500).json({ error: 'metrics', message: err.message }),
    );
  });
  app.use(['/runs', '/console'], signIn);
  app.use(runConsole.pages);
  app.get('/', (_req, res) => res.redirect('/runs'));
  // Last: JSON instead of Express's HTML pages, which show server paths and stacks.
  app.use(notFound());
  app.use(errorHandler(logger));

  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(opts.port ?? config.dashboard.port, host, () => resolve(s));
    // Node closes an idle keep-alive connection after 5 s, so a client reusing one just then
    // (its pool's own timeout is measured on a busy event loop) meets ECONNRESET. Idle
    // connections live 65 s here, past the 60 s idle timeout of common load balancers; the
    // headers timeout must exceed it. close() still closes every connection at once.
    s.keepAliveTimeout = 65_000;
    s.headersTimeout = 66_000;
    s.once('error', reject);
  });
  const addr = server.address() as AddressInfo;
  listeningPort = addr.port;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  logger.info({ url: `${url}/queues` }, 'dashboard listening');
  return {
    url,
    app,
    async close() {
      closing = true;
      clearInterval(timer);
      await events.close();
      const closed = new Promise<void>((r) => server.close(() => r()));
      // Open SSE responses would hold server.close() until their runs end.
      server.closeAllConnections();
      await closed;
      for (const q of [...queues.values(), inbox]) await q.close();
      await client.close();
      await redis.quit().catch(() => undefined);
    },
  };
}
