import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { createLogger, type AgoraConfig, type Logger } from '@agora/core';
import { IllegalStateError } from '@agora/core';
import { RunStore, createRedis } from '@agora/state';
import { AgoraClient } from '@agora/sdk';
import { createEvidence } from '@agora/evidence';
import { createApiRouter } from './api.js';
import { requireApiKey } from './auth.js';

export interface DashboardOptions {
  readonly config: AgoraConfig;
  /** @default config.dashboard.host (127.0.0.1) */
  readonly host?: string;
  /** @default config.dashboard.port (3000); 0 picks a free port */
  readonly port?: number;
  readonly logger?: Logger;
  /** How often newly used queues are added to Bull Board. @default 5000 */
  readonly refreshMs?: number;
  /** Required on /queues and /api. @default config.dashboard.apiKey or $AGORA_API_KEY */
  readonly apiKey?: string;
  /** Evidence bundle for `GET /api/runs/:id/audit`. */
  readonly audit?: (runId: string) => Promise<unknown>;
}

export interface Dashboard {
  readonly url: string;
  readonly app: Express;
  close(): Promise<void>;
}

/**
 * Bull Board at /queues, showing every queue the deployment uses (the inbox and every plan
 * queue), so flow trees are complete. Listens on loopback unless told otherwise.
 */
export async function createDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const { config } = opts;
  const logger = opts.logger ?? createLogger({ component: 'dashboard' });
  const redis: Redis = createRedis(config.redisUrl);
  const store = new RunStore(redis, config.namespace);
  const prefix = store.keys.bullPrefix;
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath('/queues');
  const board = createBullBoard({ queues: [], serverAdapter, options: { uiConfig: { boardTitle: `Agora · ${config.namespace}` } } });
  const queues = new Map<string, Queue>();

  async function refreshQueues(): Promise<void> {
    const names = new Set([...(await redis.smembers(store.keys.queues)), ...Object.keys(config.queues)]);
    for (const name of [...names].sort()) {
      if (queues.has(name)) continue;
      const q = new Queue(name, { connection: redis, prefix });
      queues.set(name, q);
      board.addQueue(new BullMQAdapter(q, { readOnlyMode: false }));
    }
  }
  await refreshQueues();
  const timer = setInterval(() => void refreshQueues().catch((err: Error) => logger.warn({ err: err.message }, 'queue refresh failed')), opts.refreshMs ?? 5000);
  timer.unref();

  const host = opts.host ?? config.dashboard.host;
  const apiKey = opts.apiKey ?? config.dashboard.apiKey ?? process.env['AGORA_API_KEY'];
  const loopback = host === '127.0.0.1' || host === '::1' || host === 'localhost';
  if (!apiKey && !loopback) {
    throw new IllegalStateError(`refusing to serve the dashboard and API on ${host} without an API key: set dashboard.apiKey or AGORA_API_KEY (16+ characters)`);
  }
  if (apiKey !== undefined && apiKey.length < 16) throw new IllegalStateError('the API key must be at least 16 characters');
  if (!apiKey) logger.warn({ host }, 'no API key set: the dashboard and API are open to anyone who can reach this loopback address');
  const client = new AgoraClient({ redis, namespace: config.namespace, validate: { queues: Object.keys(config.queues), targets: Object.keys(config.targets) } });

  const app = express();
  app.disable('x-powered-by');
  const guard = apiKey ? requireApiKey(apiKey) : (_req: express.Request, _res: express.Response, next: express.NextFunction) => next();
  app.use('/queues', guard, serverAdapter.getRouter());
  const evidence = createEvidence({ config, redis, logger });
  app.use('/api', guard, createApiRouter({ client, audit: opts.audit ?? ((runId) => evidence.bundle(runId)) }));
  app.get('/healthz', (_req, res) => {
    redis.ping().then(
      () => res.json({ ok: true }),
      (err: Error) => res.status(503).json({ ok: false, error: err.message }),
    );
  });
  app.get('/', (_req, res) => res.redirect('/queues'));

  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(opts.port ?? config.dashboard.port, host, () => resolve(s));
    s.once('error', reject);
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.address}:${addr.port}`;
  logger.info({ url: `${url}/queues` }, 'dashboard listening');
  return {
    url,
    app,
    async close() {
      clearInterval(timer);
      await new Promise<void>((r) => server.close(() => r()));
      for (const q of queues.values()) await q.close();
      await client.close();
      await redis.quit().catch(() => undefined);
    },
  };
}
