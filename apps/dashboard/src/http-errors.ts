import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import type { Logger } from '@agora/core';

/** The `error` word of each status, as the API routes use them; others are derived from the status text. */
const ERROR_WORDS: Record<number, string> = {
  400: 'bad_request',
  403: 'forbidden',
  404: 'not_found',
  413: 'too_large',
  415: 'unsupported_media_type',
  500: 'internal',
};

/** The request path without its query string (which may carry a result ref or other caller data), cut short. */
function routeOf(req: Request): string {
  return `${req.method} ${req.originalUrl.split('?')[0]!.slice(0, 200)}`;
}

/**
 * Fixed messages: an error's own message can name a server file (ENOENT …) and is only logged.
 * The two 400s about the request's own bytes say which (both said only "bad request").
 */
function messageOf(status: number, req: Request, err?: unknown): string {
  if (status === 404) return `no route ${routeOf(req)}`;
  if (status === 400 && err instanceof URIError) return 'the path is not valid percent-encoded UTF-8 (%ff, a lone %)';
  const zlib = (err as { code?: unknown } | undefined)?.code;
  if (status === 400 && typeof zlib === 'string' && zlib.startsWith('Z_')) {
    return `the body is not valid ${(req.get('content-encoding') ?? 'compressed').trim().toLowerCase()} data (Content-Encoding)`;
  }
  if (status === 403) return `refused: ${routeOf(req)}`;
  if (status >= 500) return 'internal error; the server log has the cause';
  return (STATUS_CODES[status] ?? 'bad request').toLowerCase();
}

/** The final 404 for a path no route matched: JSON, as the /api routes answer, not Express's HTML page. */
export function notFound(): RequestHandler {
  return (req, res) => {
    res.status(404).json({ error: 'not_found', message: messageOf(404, req) });
  };
}

/**
 * The last error middleware of the app (console static files, Bull Board, the API): `{ error,
 * message }` with the error's status, never its message or stack, which Express's default page
 * shows (server paths and node_modules frames, to anonymous callers on a keyless dashboard). The
 * cause is logged: 4xx at warn, 5xx at error, with the method and path only (no headers, no query).
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  // Four parameters: that is how Express tells an error middleware.
  return (err: unknown, req, res, _next) => {
    const e = (err ?? {}) as { status?: unknown; statusCode?: unknown; message?: unknown; code?: unknown; stack?: unknown };
    const raw = Number(e.status ?? e.statusCode);
    const status = Number.isInteger(raw) && raw >= 400 && raw <= 599 ? raw : 500;
    const fields = { route: routeOf(req), status, err: String(e.message ?? err), ...(typeof e.code === 'string' ? { code: e.code } : {}) };
    // An answer already complete (a 503 sent before a late handler wrote its own) is left alone:
    // its connection may be serving the client's next request by now.
    if (res.writableEnded) {
      logger.warn({ route: fields.route, err: fields.err }, 'a late answer to a request already answered was dropped');
      return;
    }
    if (status >= 500) logger.error({ ...fields, stack: typeof e.stack === 'string' ? e.stack : undefined }, 'request failed');
    else logger.warn(fields, 'request refused');
    // Mid-answer (an SSE stream): no status can be sent any more; cut the connection as Express would.
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const word = ERROR_WORDS[status] ?? (STATUS_CODES[status] ?? 'error').toLowerCase().replace(/[^a-z]+/g, '_');
    res.status(status).json({ error: word, message: messageOf(status, req, err) });
  };
}
