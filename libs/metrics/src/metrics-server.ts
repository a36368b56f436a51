import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** `/readyz` answers within this long: a check still running then counts as not ready. */
export const READY_TIMEOUT_MS = 2000;

/** Why a process is not ready, or undefined when it is. Throwing counts as not ready. */
export type ReadinessCheck = () => Promise<string | undefined>;

export interface MetricsServerOptions {
  readonly registry: Registry;
  /** 0 picks a free port. */
  readonly port: number;
  /** @default 127.0.0.1 */
  readonly host?: string;
  readonly ready: ReadinessCheck;
}

export interface MetricsServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Runs `check`, giving up after READY_TIMEOUT_MS: the reason it is not ready, or undefined. */
export async function readiness(check: ReadinessCheck): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((r) => (timer = setTimeout(() => r(`readiness check did not answer within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS)));
  try {
    return await Promise.race([check().catch((err: unknown) => (err instanceof Error ? err.message : String(err))), late]);
  } finally {
    clearTimeout(timer);
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/**
 * A small HTTP server for a service process: `GET /metrics` (Prometheus text format),
 * `GET /healthz` (the process is alive: answers without touching Redis) and `GET /readyz`
 * (200 when `ready` finds nothing wrong, else 503 with the reason; within 2 s).
 */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    // RFC 9110: a 405 carries Allow.
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
    if (path === '/healthz') return json(res, 200, { ok: true });
    if (path === '/readyz') {
      void readiness(opts.ready).then((reason) => (reason === undefined ? json(res, 200, { ok: true }) : json(res, 503, { ok: false, error: reason })));
      return;
    }
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': opts.registry.contentType });
          res.end(text);
        },
        (err: unknown) => json(res, 500, { error: err instanceof Error ? err.message : String(err) }),
      );
      return;
    }
    json(res, 404, { error: 'not found' });
  };
  const server: Server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  return {
    url,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
